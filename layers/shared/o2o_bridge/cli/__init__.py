"""The `o2o` command: operate the bridge (operations-contract.md).

Each subcommand lives in its own module; this one only builds the parser. Errors the
operator can fix print one clear line on stderr and exit 2; checks that fail exit 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import BridgeError


def _parser() -> argparse.ArgumentParser:
    from . import dlq, invoke, jst, local, tenant, trace

    parser = argparse.ArgumentParser(prog="o2o", description="Operate the o2o-bridge (JST <-> 店+).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (local, tenant, invoke, jst, trace, dlq):
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
