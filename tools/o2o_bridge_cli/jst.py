"""`o2o jst call PATH [BIZ_JSON] --tenant ENT_ID`: one signed JST call with the tenant's
credentials (token renewal and the shared rate limit included); prints JST's JSON answer."""

from __future__ import annotations

import json
import sys

from ._output import add_json_flag, echo, echo_json, result_stream  # noqa: F401


def register(commands) -> None:
    jst = commands.add_parser("jst", help="talk to Jushuitan with a tenant's credentials")
    sub = jst.add_subparsers(dest="jst_command", required=True, metavar="ACTION")
    call = sub.add_parser("call", help="one signed JST call; prints the JSON answer")
    call.add_argument("path", help="endpoint path, e.g. /open/shops/query")
    call.add_argument("biz", nargs="?", default="{}", help="the biz JSON (object or array), sent exactly as given")
    call.add_argument("--tenant", required=True)
    # The answer is JSON either way; --json is accepted as on every read command.
    add_json_flag(call)
    call.set_defaults(run=jst_call)


def jst_call(args) -> int:
    from ..connectors.jushuitan.factory import jst_for_tenant
    from .tenant import stored_tenant

    try:
        biz = json.loads(args.biz)
    except ValueError as exc:
        echo(f"o2o: BIZ_JSON is not valid JSON: {exc.msg} at position {exc.pos}", file=sys.stderr)
        return 2
    if not isinstance(biz, (dict, list)):
        echo("o2o: BIZ_JSON must be a JSON object or array", file=sys.stderr)
        return 2
    tenant = stored_tenant(args.tenant)
    if tenant.jushuitan is None:
        echo(f"o2o: tenant {args.tenant}'s ERP is {tenant.erp}, not JST (use o2o wdt call)", file=sys.stderr)
        return 2
    path = args.path if args.path.startswith("/") else f"/{args.path}"
    # The text as typed is what gets signed and sent (JST signs the exact biz string).
    answer = jst_for_tenant(tenant).call(path, args.biz)
    echo_json(answer)
    return 0
