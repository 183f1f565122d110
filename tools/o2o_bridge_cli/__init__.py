"""The `o2o` command: operate the bridge (operations-contract.md).

Each subcommand lives in its own module with a ``register(commands)`` function; this one
only finds them and builds the parser (a new command is a new module, nothing else). Errors the
operator can fix print one clear line on stderr and exit 2; checks that fail exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from ..errors import BridgeError


# The order `o2o --help` lists them in; modules not named here follow alphabetically.
_FIRST = ("local", "tenant", "invoke", "jst", "trace", "dlq")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="o2o", description="Operate the o2o-bridge (JST <-> 店+).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    for name in [n for n in _FIRST if n in found] + sorted(set(found) - set(_FIRST)):
        module = importlib.import_module(f"{__name__}.{name}")
        if hasattr(module, "register"):
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
