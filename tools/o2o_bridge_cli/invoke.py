"""`o2o invoke FUNCTION [--event FILE]`: run one handler once, in process."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BadRequest


def register(commands) -> None:
    invoke = commands.add_parser("invoke", help="run one function's handler once, in process, and print its result")
    invoke.add_argument("function", help="short name (e.g. poll_jst_outbound) or logical id")
    invoke.add_argument("--event", type=Path, help="JSON event file (schedule functions need none)")
    invoke.set_defaults(run=invoke_function)


def invoke_function(args) -> int:
    from o2o_local.stack import invoke_function as run

    event = None
    if args.event:
        try:
            event = json.loads(args.event.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadRequest(f"cannot read event {args.event}: {exc}") from None
    result = run(args.function, event)
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    return 0
