"""`o2o exceptions list [--tenant ENT_ID]` / `o2o exceptions reroute IO_ID [--tenant ENT_ID] [--store CODE]`.

Online orders no store could take (every eligible store rejected them, or none passed the
routing filters), or whose confirmation JST or the store refused, are parked as exceptions
(S1r); the FulfilmentExceptions alarm fires. An operator lists them and re-routes one by hand:
to the routing again (after stock arrived or a store was added), or to a named store. A
parked confirmation (unknown carrier, refused by JST) is retried the same way after the cause
is fixed.

The list also shows orders stuck in routing/dispatch for longer than the tenant's
``routing.stuck_after_minutes`` (default 30), kind ``stuck_routing``, with why: their dispatch
step was dead-lettered, is waiting for a retry, or is not running. ``reroute`` without
``--store`` runs their dispatch again on the same route (the same store order key, so nothing
is created twice); with ``--store`` they go to that store instead.

For a cloud-warehouse tenant (``warehouse: qimen``) it also lists the WMS's confirms beyond
the bridge's document (kind ``qimen.confirmed_beyond_plan``: the excess was not passed on to
the store) and cancels the WMS refused (kind ``qimen.cancel_refused``, typically already
shipped).
"""

from __future__ import annotations

from .. import wiring  # noqa: E402 - the composition root builds each tenant's context

import json

from ..errors import BadRequest
from ._output import add_json_flag, echo, echo_json


def register(commands) -> None:
    exceptions = commands.add_parser("exceptions", help="online orders parked for an operator (S1r), and re-routing them")
    sub = exceptions.add_subparsers(dest="exceptions_command", required=True, metavar="ACTION")
    show = sub.add_parser("list", help="every open exception (and order stuck in routing) with its reason and "
                                       "the stores that rejected it")
    show.add_argument("--tenant", metavar="ENT_ID", help="only this tenant (default: every tenant)")
    add_json_flag(show)
    show.set_defaults(run=list_exceptions)
    reroute = sub.add_parser("reroute", help="route a parked order again (or retry its parked confirmation)")
    reroute.add_argument("io_id", help="the JST sales outbound io_id")
    reroute.add_argument("--tenant", metavar="ENT_ID", help="the tenant (default: the one that knows the io_id)")
    reroute.add_argument("--store", metavar="CODE", help="send it to this store, skipping the routing filters")
    reroute.set_defaults(run=reroute_exception)


def _tenants(only: str | None):
    from .. import runtime
    from ..errors import UnknownTenant
    from .environment import use_bridge_environment

    use_bridge_environment()
    repository = runtime.state_store()
    ids = [only] if only else repository.list_ids()
    tenants = []
    for ent_id in ids:
        tenant = repository.get(ent_id)
        if tenant is None:
            raise UnknownTenant(ent_id)
        tenants.append(tenant)
    return tenants


def list_exceptions(args) -> int:
    from ..flows import store_fulfilment

    tenants = _tenants(args.tenant)
    if args.json:
        rows = [{"ent_id": tenant.ent_id, **item} for tenant in tenants
                for item in store_fulfilment.exceptions_to_show(wiring.context_for(tenant))]
        rows += [{"ent_id": tenant.ent_id, "kind": f"qimen.{row['reason']}", **row} for tenant in tenants
                 if tenant.qimen is not None for row in _cloud_warehouse_rows(tenant)]
        echo_json(rows)
        return 0
    found = 0
    for tenant in tenants:
        for item in store_fulfilment.exceptions_to_show(wiring.context_for(tenant)):
            found += 1
            rejected = ", ".join(item.get("rejected_by") or []) or "-"
            state = f" dispatch={item['dispatch_state']}" if item.get("dispatch_state") else ""
            echo(f"{item['io_id']}  tenant={tenant.ent_id} so_id={item.get('so_id') or '-'} kind={item['kind']} "
                 f"since={item.get('at', '-')[:19]} rejected_by={rejected}{state}\n    reason: {item['reason']}")
            for store, why in (item.get("dropped") or {}).items():
                echo(f"    {store}: {why}")
        if tenant.qimen is not None:
            for row in _cloud_warehouse_rows(tenant):
                found += 1
                detail = (f"excess={json.dumps(row['excess'], ensure_ascii=False)}" if row.get("excess")
                          else f"wms said: {row.get('wms_message') or '-'}")
                echo(f"{row['document']}  tenant={tenant.ent_id} kind=qimen.{row['reason']} "
                     f"since={row.get('at', '-')[:19]} store_doc={row.get('store_key') or '-'}\n    {detail}")
    echo(f"{found} open exception(s)")
    return 0


def _cloud_warehouse_rows(tenant) -> list[dict]:
    """A 奇门 WMS that confirmed more than the bridge's document, or refused a cancel."""
    from ..connectors.qimen.ledger import exceptions_to_show

    return exceptions_to_show(wiring.context_for(tenant))


def reroute_exception(args) -> int:
    from ..flows import store_fulfilment

    tenants = _tenants(args.tenant)
    known = [t for t in tenants if store_fulfilment.load_order(wiring.context_for(t), args.io_id) is not None]
    if not known:
        from . import NotFound

        raise NotFound(f"no tenant knows outbound {args.io_id}")
    if len(known) > 1:
        raise BadRequest(f"outbound {args.io_id} is known to tenants "
                                   f"{', '.join(t.ent_id for t in known)}: say which with --tenant")
    ctx = wiring.context_for(known[0])
    result = store_fulfilment.reroute_by_hand(ctx, args.io_id, store_code=args.store)
    order = store_fulfilment.load_order(ctx, args.io_id)
    if result.get("retried"):
        echo(f"retried {result['retried']} for outbound {args.io_id}: "
              + ("done" if result.get("result") else "queued for retry or parked again (see o2o trace)"))
    elif order and order.status == "dispatched":
        echo(f"outbound {args.io_id} dispatched to store {order.data['store_code']} "
              f"(fulfilment {order.data['fulfilment_id']})")
    elif order and order.status == "exception":
        echo(f"outbound {args.io_id} is parked again: no store can take it (see o2o trace {args.io_id})")
        return 1
    else:
        echo(f"outbound {args.io_id} is {order.status if order else 'unknown'}; a retry is queued")
    return 0
