"""The `o2o` command: operate the bridge (docs/runbook.md).

Each subcommand lives in its own module with a ``register(commands)`` function; ``COMMANDS``
below lists them (a new command is a new module and one line there). Errors the operator can
fix print one clear line on stderr and exit 2; checks that fail exit 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import BridgeError
from . import dlq, exceptions, invoke, jst, local, products, stock, tenant, trace, transfers

# Every subcommand's module, in the order `o2o --help` lists them.
COMMANDS = (local, tenant, invoke, jst, trace, dlq, exceptions, products, stock, transfers)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="o2o", description="Operate the o2o-bridge (JST <-> 店+).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BridgeError as exc:
        print(f"o2o: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
