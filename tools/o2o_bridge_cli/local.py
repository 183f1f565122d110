"""`o2o local up | bootstrap | drain`: the no-Docker local stack (local/, docs/local-stack.md)."""

from __future__ import annotations


def register(commands) -> None:
    local = commands.add_parser("local", help="the local stack: moto server, HTTP API, scheduler, sandboxes")
    sub = local.add_subparsers(dest="local_command", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="start the whole local stack in the foreground")
    up.add_argument("--port", type=int, default=3000, help="HTTP API port (default 3000)")
    up.add_argument("--aws-port", type=int, default=5000, help="moto server port (default 5000)")
    up.add_argument("--no-sandboxes", action="store_true", help="do not start the JST and 店+ sandboxes")
    # The local commands print their own report and request lines: those are their output.
    up.set_defaults(stdout_is_log=True, run=lambda a: _stack().run_up(port=a.port, aws_port=a.aws_port, no_sandboxes=a.no_sandboxes))
    boot = sub.add_parser("bootstrap", help="create the tables and queues of template.yaml at AWS_ENDPOINT_URL")
    boot.set_defaults(stdout_is_log=True, run=lambda a: _stack().run_bootstrap())
    drain = sub.add_parser("drain", help="deliver every waiting queue message to its consumer function")
    drain.add_argument("--now", action="store_true", help="skip retry delays")
    drain.add_argument("--max-seconds", type=float, default=60.0)
    drain.set_defaults(stdout_is_log=True, run=lambda a: _stack().run_drain(now=a.now, max_seconds=a.max_seconds))


def _stack():
    from o2o_local import stack

    return stack
