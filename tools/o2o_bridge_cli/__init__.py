"""The `o2o` command: operate the bridge.

Each subcommand lives in its own module with a ``register(commands)`` function; this one
only finds them, builds the parser and applies the conventions every command shares:

- exit 0 done, 1 failed (a check failed, or the thing asked for does not exist), 2 usage
  error (bad arguments, a bad input file, no bridge configured);
- stdout carries only the result (with ``--json``, one JSON document); logs and metrics of
  what runs in process go to stderr;
- an endpoint that does not answer (the local stack stopped, no network) or a closed pipe
  (``o2o tenant get E | head``) is one line on stderr, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from importlib import metadata
from typing import Sequence

from ..errors import BadRequest, BridgeError, ConfigurationError, UnknownTenant
from ._output import set_result_stream


def _command_modules() -> tuple:
    """Every subcommand's module, in the order `o2o --help` lists them (a new command is a new
    module and one line here)."""
    from . import (cod, dlq, exceptions, invoke, jst, ledger, local, maintenance, products, qimen, report, route, stock,
                   tenant, trace, transfers, wdt)

    return (local, tenant, invoke, jst, trace, dlq, exceptions, cod, products, qimen, report, ledger, route, stock,
            transfers, wdt, maintenance)

EXIT_DONE, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class NotFound(BridgeError):
    """The tenant, dead letter or document asked for does not exist: exit 1, one line."""


def version() -> str:
    try:
        return metadata.version("o2o-bridge")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="o2o", description="Operate the o2o-bridge (JST <-> 店+).")
    parser.add_argument("--version", action="version", version=f"o2o-bridge {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _command_modules():
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # exits 2 on a usage error, 0 for --help / --version
    results = sys.stdout
    set_result_stream(results)
    try:
        # `o2o local up` is a foreground server: its request and schedule lines are its output.
        if getattr(args, "stdout_is_log", False):
            code = int(args.run(args) or 0)
        else:
            with contextlib.redirect_stdout(sys.stderr):
                code = int(args.run(args) or 0)
        results.flush()
        return code
    except BrokenPipeError:
        return _closed_pipe(results)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure the operator can act on is one line
        line, code = describe_failure(exc)
        if line is None:
            raise
        print(f"o2o: {line}", file=sys.stderr)
        return code
    finally:
        set_result_stream(None)


def describe_failure(exc: BaseException) -> tuple[str | None, int]:
    """One line and an exit code for a failure an operator can act on; (None, 1) otherwise."""
    if isinstance(exc, (NotFound, UnknownTenant)):
        return exc.message, EXIT_FAILED
    if isinstance(exc, ConfigurationError):
        return exc.message, EXIT_USAGE
    if isinstance(exc, BadRequest):  # what the operator typed or gave is wrong
        return exc.message, EXIT_USAGE
    if isinstance(exc, BridgeError):
        return exc.message, EXIT_FAILED
    unreachable = _unreachable(exc)
    if unreachable:
        return unreachable, EXIT_FAILED
    return None, EXIT_FAILED


def _unreachable(exc: BaseException) -> str | None:
    """An endpoint that does not answer: name it and say what usually fixes it."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        if os.environ.get("AWS_ENDPOINT_URL"):
            return (f"the local stack does not answer at {url or os.environ['AWS_ENDPOINT_URL']}: "
                    "is `o2o local up` running (and AWS_ENDPOINT_URL the address it printed)?")
        return f"AWS does not answer at {url}: check the network and AWS_REGION"
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency of the layer
        return None
    if isinstance(exc, httpx.TransportError):
        try:
            where = f"{exc.request.url.scheme}://{exc.request.url.netloc.decode()}"
        except RuntimeError:  # raised before a request was attached
            where = "the remote system"
        return f"no answer from {where} ({type(exc).__name__}): is that system (or its local sandbox) running?"
    return None


def _closed_pipe(results) -> int:
    # The reader went away (`| head`): stop quietly except for one line, and keep Python's
    # final flush of stdout from raising a second time at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, results.fileno())
    except (OSError, ValueError):
        pass
    print("o2o: output closed early (broken pipe); stopped", file=sys.stderr)
    return EXIT_FAILED
