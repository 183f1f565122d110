"""`o2o wdt call NAME.php [BIZ_JSON] --tenant ENT_ID`: one signed 旺店通 call with the
tenant's credentials (the shared rate limit included); prints the ERP's JSON answer."""

from __future__ import annotations

import json
import sys

from ._output import add_json_flag, echo, echo_json


def register(commands) -> None:
    wdt = commands.add_parser("wdt", help="talk to 旺店通 ERP 企业版 with a tenant's credentials")
    sub = wdt.add_subparsers(dest="wdt_command", required=True, metavar="ACTION")
    call = sub.add_parser("call", help="one signed 旺店通 call; prints the JSON answer")
    call.add_argument("name", help="the interface, e.g. shop.php or stock_query.php")
    call.add_argument("biz", nargs="?", default="{}",
                      help='business parameters as a JSON object, e.g. \'{"page_no":0,"trade_list":[...]}\'; '
                           "arrays and objects are sent as JSON strings")
    call.add_argument("--tenant", required=True)
    # The answer is JSON either way; --json is accepted as on every read command.
    add_json_flag(call)
    call.set_defaults(run=wdt_call)


def wdt_call(args) -> int:
    from ..connectors.wangdiantong.factory import wdt_for_tenant
    from .tenant import stored_tenant

    try:
        biz = json.loads(args.biz)
    except ValueError as exc:
        echo(f"o2o: BIZ_JSON is not valid JSON: {exc.msg} at position {exc.pos}", file=sys.stderr)
        return 2
    if not isinstance(biz, dict):
        echo("o2o: BIZ_JSON must be a JSON object (one key per business parameter)", file=sys.stderr)
        return 2
    tenant = stored_tenant(args.tenant)
    if tenant.wangdiantong is None:
        echo(f"o2o: tenant {args.tenant}'s ERP is {tenant.erp}, not 旺店通 (use o2o jst call)", file=sys.stderr)
        return 2
    name = args.name if args.name.endswith(".php") else f"{args.name}.php"
    echo_json(wdt_for_tenant(tenant).call(name, biz))
    return 0
