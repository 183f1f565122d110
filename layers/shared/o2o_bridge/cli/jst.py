"""`o2o jst call PATH [BIZ_JSON] --tenant ENT_ID` (comes with the JST client, issue #3)."""

from __future__ import annotations

from ..errors import NotImplementedYet


def register(commands) -> None:
    jst = commands.add_parser("jst", help="talk to Jushuitan with a tenant's credentials")
    sub = jst.add_subparsers(dest="jst_command", required=True, metavar="ACTION")
    call = sub.add_parser("call", help="one signed JST call; prints the JSON answer")
    call.add_argument("path")
    call.add_argument("biz", nargs="?", default="{}")
    call.add_argument("--tenant", required=True)
    call.set_defaults(run=jst_call)


def jst_call(args) -> int:
    raise NotImplementedYet("`o2o jst call` (the signed JST client)", issue=3)
