"""`o2o cod list [--tenant ENT_ID] [--all] [--json]`: 货到付款 orders to look at.

A COD order is listed when the store reported a collection that differs from the amount to
collect (mismatch), a collection the bridge expected none for, or when it was shipped or picked
up ``order_centre.cod_overdue_days`` ago and its money is still not reported (overdue): what the
CodMismatch / CodOverdue alarms count. Online orders (S1) show their JST io_id; store orders the
warehouse shipped COD (S2) show as ``store order <order no.>``. ``--all`` lists every COD order the bridge knows. The
per-day reconciliation over the ledger is `o2o report cod`.
"""

from __future__ import annotations


def register(commands) -> None:
    from ._output import add_json_flag

    group = commands.add_parser("cod", help="货到付款: COD orders not collected in time or collected wrong")
    sub = group.add_subparsers(dest="cod_command", required=True, metavar="ACTION")
    show = sub.add_parser("list", help="mismatched and overdue COD orders (every one with --all)")
    show.add_argument("--tenant", metavar="ENT_ID", help="only this tenant (default: every tenant)")
    show.add_argument("--all", action="store_true", help="every COD order, collected ones too")
    add_json_flag(show)
    show.set_defaults(run=list_cod)


def list_cod(args) -> int:
    from o2o_bridge import wiring
    from o2o_bridge.flows import cash_on_delivery as cod

    from ._output import echo, echo_json
    from .exceptions import _tenants

    found = [{"ent_id": tenant.ent_id, **item} for tenant in _tenants(args.tenant)
             for item in cod.problems(wiring.context_for(tenant), include_all=args.all)]
    if args.json:
        echo_json(found)
        return 0
    for item in found:
        what = f"store order {item['order_no']}" if item.get("order_no") else item["io_id"]
        echo(f"{what}  tenant={item['ent_id']} store={item.get('store_code') or '-'} "
             f"status={item['status']} expected={item.get('expected') or '-'} "
             f"collected={item.get('collected') or '-'} missing={item['missing']} "
             f"handed_over={(item.get('handed_at') or '-')[:19]} collected_at={(item.get('collected_at') or '-')[:19]}"
             + (f" reason={item['reason']}" if item.get("reason") else ""))
    echo(f"{len(found)} COD order(s)" + ("" if args.all else " to look at"))
    return 0
