"""`o2o transfers exceptions [--tenant ENT_ID] [--clear DOC_NO]`: 配货 / 退仓 documents (S5, S6)
that need an operator (voided or refused in JST), and forgetting one once it is settled.
`o2o transfers in-transit [--tenant ENT_ID]`: 店店调拨 goods that left one store and are not yet
received at the other (ERP-owned store stock).
`o2o transfers awaiting-receipt [--tenant ENT_ID]`: 配货 sent as JST transfers (调拨单) that JST
shipped and a person must still receive in JST, with JST's 调拨在途 of their SKUs there now."""

from __future__ import annotations

from .. import wiring  # noqa: E402 - the composition root builds each tenant's context

from ._output import add_json_flag, echo, echo_json


def register(commands) -> None:
    transfers = commands.add_parser("transfers", help="配货 / 退仓 documents (S5, S6) that need an operator")
    actions = transfers.add_subparsers(dest="action", required=True, metavar="ACTION")
    exceptions = actions.add_parser("exceptions", help="documents voided or refused in JST, with what happened")
    exceptions.add_argument("--tenant", help="one tenant's ent_id (default: every tenant)")
    exceptions.add_argument("--clear", metavar="DOC_NO", help="forget this document's exception (settled with the store)")
    add_json_flag(exceptions)
    exceptions.set_defaults(run=show_exceptions)
    moving = actions.add_parser("in-transit", help="店店调拨 goods on the way between two stores")
    moving.add_argument("--tenant", help="one tenant's ent_id (default: every tenant)")
    add_json_flag(moving)
    moving.set_defaults(run=show_in_transit)
    receipts = actions.add_parser("awaiting-receipt",
                                  help="配货 transfers JST shipped that a person must still receive in JST")
    receipts.add_argument("--tenant", help="one tenant's ent_id (default: every tenant)")
    add_json_flag(receipts)
    receipts.set_defaults(run=show_awaiting_receipt)


def _list_each_tenant(args, items_of, line_of, none_found: str) -> int:
    """What ``items_of(ctx)`` lists for each selected tenant: as JSON, or one line each."""
    from .products import selected_tenants

    found = [{"ent_id": tenant.ent_id, **item} for tenant in selected_tenants(args)
             for item in items_of(wiring.context_for(tenant))]
    if args.json:
        echo_json(found)
        return 0
    for item in found:
        echo(line_of(item))
    if not found:
        echo(none_found)
    return 0


def show_awaiting_receipt(args) -> int:
    from ..flows import store_transfers

    def line_of(item) -> str:
        lines = ", ".join(f"{sku}×{qty}" for sku, qty in item["items"].items())
        on_the_way = (f"cannot read JST now ({item['unread']})" if item["in_transit"] is None else
                      "调拨在途 there now: " + ", ".join(f"{sku} {qty}" for sku, qty in item["in_transit"].items()))
        return (f"{item['doc_no']}  tenant={item['ent_id']} store={item['store_code']} receive in JST warehouse "
                f"{item['receive_at']} since={str(item.get('shipped_at', '-'))[:19]}: {lines}; {on_the_way}")

    return _list_each_tenant(args, store_transfers.awaiting_receipt, line_of,
                             "no 配货 transfer waits to be received in JST")


def show_in_transit(args) -> int:
    from ..flows import erp_store_stock

    def line_of(item) -> str:
        lines = ", ".join(f"{sku}×{qty}" for sku, qty in item["items"])
        return (f"{item['doc_no']}  tenant={item['ent_id']} {item['from_store']} -> {item['to_store']} "
                f"since={str(item.get('sent_at', '-'))[:19]}: {lines}")

    return _list_each_tenant(args, erp_store_stock.in_transit, line_of, "no 店店调拨 goods in transit")


def show_exceptions(args) -> int:
    from ..flows import store_transfers
    from .products import selected_tenants

    found = 0
    tenants = selected_tenants(args)
    if args.json and not args.clear:
        echo_json([{"ent_id": tenant.ent_id, **item} for tenant in tenants
                   for item in store_transfers.open_exceptions(wiring.context_for(tenant))])
        return 0
    for tenant in tenants:
        ctx = wiring.context_for(tenant)
        for item in store_transfers.open_exceptions(ctx):
            if args.clear and item["doc_no"] != args.clear:
                continue
            found += 1
            if args.clear:
                ctx.records.delete(tenant.ent_id, store_transfers.EXCEPTION, f"{item['kind']}:{item['doc_no']}")
                ctx.timeline.record(item["doc_no"], tenant.ent_id, f"{item['kind']}.exception_cleared", {})
                echo(f"cleared {item['kind']} {item['doc_no']} (tenant {tenant.ent_id})")
                continue
            echo(f"{item['doc_no']}  tenant={tenant.ent_id} kind={item['kind']} since={item.get('at', '-')[:19]}")
            for problem in item.get("problems", [item.get("message")]):
                echo(f"    {problem}")
    if not found:
        echo(f"no exception for {args.clear}" if args.clear else "no 配货 / 退仓 exception")
        return 1 if args.clear else 0
    return 0
