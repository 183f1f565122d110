"""S1 healing hooks: an operator's `o2o exceptions reroute` (and the healing run,
flows/healing.py) routes a parked or stuck order again, or retries a parked confirmation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import UnprocessableRequest
from .. import kit, reservations, routing
from ..kit import attempt
from ..offline_warehouse_rules import SELF_MALL_ORDER
from .confirmations import confirm_outbound
from .dispatch import dispatch
from .exceptions import EXCEPTION_KIND, resolve_exception
from .order import Order, change_order, load_order

if TYPE_CHECKING:
    from ..kit import FlowContext


def reroute_by_hand(ctx: "FlowContext", io_id: str, *, store_code: str | None = None) -> dict[str, Any]:
    """`o2o exceptions reroute`: route a parked (or stuck) order again, to ``store_code`` if given
    (any store of the tenant, even one that rejected it: the operator spoke to it).

    A stuck order (still routing) without ``store_code`` runs its dispatch again under the same
    route number: the same decision and the same Idempotency-Key at the store, so a store order
    created by a try whose answer was lost is found, not doubled. With ``store_code`` it gets a
    new route number (and the capacity held at the store it was routed to is given back)."""
    if store_code is not None and store_code not in {s.code for s in ctx.tenant.stores}:
        raise UnprocessableRequest(f"store {store_code} is not one of tenant {ctx.ent_id}'s stores")
    exception = ctx.records.get(ctx.ent_id, EXCEPTION_KIND, io_id)
    if exception is not None and exception.data.get("status") == "open" and exception.data.get("kind") == SELF_MALL_ORDER:
        raise UnprocessableRequest(f"outbound {io_id} is a 自有商城 order: no store may fulfil it; "
                                   "re-assign it to a warehouse in JST")
    if exception is not None and exception.data.get("status") == "open" and exception.data.get("retry"):
        retry = exception.data["retry"]
        step = {"s1.confirm_outbound": confirm_outbound}[retry["command"]]
        result = attempt(ctx, step, retry["payload"], trace_key=io_id)
        return {"io_id": io_id, "retried": retry["command"], "result": result}

    before, after = change_order(ctx, io_id, Order.route_again_by_hand, io_id, store_code)
    if before["status"] == "routing" and after["route_no"] != before["route_no"]:
        _release_route(ctx, io_id, before["route_no"])
    ctx.timeline.record(io_id, ctx.ent_id, "s1.reroute_by_hand", {"store": store_code, "route_no": after["route_no"],
                                                                   "same_route": after is before})
    resolve_exception(ctx, io_id)
    result = attempt(ctx, dispatch, {"io_id": io_id, "route_no": after["route_no"]}, trace_key=io_id)
    order = load_order(ctx, io_id)
    return {"io_id": io_id, "status": order.status if order else None, "result": result,
            "queued_for_retry": result is None and order is not None and order.status == "routing"}


def _release_route(ctx: "FlowContext", io_id: str, route_no: int) -> None:
    """A stuck route given up by hand: free the capacity its decision took at the store."""
    decided = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, f"s1.route:{io_id}:{route_no}")
    result = (decided.data.get("result") or {}) if decided and decided.data.get("state") == "done" else {}
    if result.get("store_code"):
        routing.release_capacity(ctx, result["store_code"], io_id, result.get("day"))
        order = load_order(ctx, io_id)
        reservations.release(ctx, result["store_code"], io_id, order.data.get("items", []) if order else [])
