"""S1 routing again: after a store's rejection (``fulfilment.rejected``, S1r, inside the event), and
the healing hooks: an operator's `o2o exceptions reroute` (and the healing run, flows/healing.py)
routes a parked or stuck order again, or retries a parked confirmation.

A rejection routed again reads, in one batch, the order and every record the rest reads: the
routing marker, the order's exception and pickup clock, and every store's out-of-stock marks of
the day and its record of capacity slots and holds (``read_with_order``). Each is named without
the order's SKUs (a store's holds and slots are one record, its marks one per day;
reservations.py, routing.py), so nothing waits for the order to be read. Then it decides the next
store; writes the first store's slot and hold released (one item), its SKUs marked, the routing
marker, the second store's slot and holds (one item), the claim of the store order's creation and the order, rejected and routed again with the
route's decision on it, in one transaction; creates the second store's order
(dispatch.create_at_store), whose "done" the link, the timeline and the order's "dispatched" go
with. Three requests; a repeat one (the batch: the order bears the rejection). Not two: the
second store's hold is written before P1, the "done" after it. A tenant with more stores than
one batch holds (about 48) reads the rest, filtered by the order, in a second."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import UnprocessableRequest
from .. import kit, ledger_facts, pickup_clock, reservations, routing
from ..kit import attempt
from ..offline_warehouse_rules import SELF_MALL_ORDER
from .confirmations import confirm_outbound
from .dispatch import create_at_store_under, dispatch, hold_routed, routed, routed_step, to_route
from .exceptions import EXCEPTION_KIND, resolve_exception
from .order import ATTEMPTS, ORDER_KIND, ORDER_TTL_DAYS, ROUTED, ROUTING_KIND, Order, OrderChanged, change_order, \
    load_order, note_routing, routed_on

if TYPE_CHECKING:
    from ...ports.state import Record
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
        _release_route(ctx, io_id, before["route_no"], before)
    ctx.timeline.record(io_id, ctx.ent_id, "s1.reroute_by_hand", {"store": store_code, "route_no": after["route_no"],
                                                                   "same_route": after is before})
    resolve_exception(ctx, io_id)
    result = attempt(ctx, dispatch, {"io_id": io_id, "route_no": after["route_no"]}, trace_key=io_id)
    order = load_order(ctx, io_id)
    return {"io_id": io_id, "status": order.status if order else None, "result": result,
            "queued_for_retry": result is None and order is not None and order.status == "routing"}


def _release_route(ctx: "FlowContext", io_id: str, route_no: int, before: dict[str, Any]) -> None:
    """A stuck route given up by hand: free the capacity its decision took at the store (kept on the
    order when a rejection routed it, else by the route's effect)."""
    result = routed_on(before, route_no)
    if result is None:
        decided = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, f"s1.route:{io_id}:{route_no}")
        result = (decided.data.get("result") or {}) if decided and decided.data.get("state") == "done" else {}
    if result.get("store_code"):
        reservations.let_go(ctx, result["store_code"], io_id, result.get("day"))


# --- a store's rejection: routed again inside the event ------------------------------------------

def outbound_of_rejection(ctx: "FlowContext", fulfilment_id: str, external_id: str,
                          store_code: str | None = None) -> str:
    """The io_id a rejection is about, from the order's own record when it names the fulfilment
    (the one it was dispatched with, or one rejected before: a repeat), which the rerouting reads
    anyway; else from the fulfilment's link (store_events.outbound_of_event), which refuses a
    fulfilment the bridge did not create. An order names a fulfilment only once it is linked (the
    link and the order's "dispatched" are written together, or the link first). With the
    rejecting ``store_code`` the order is read with what the rerouting reads (``read_with_order``)."""
    from .store_events import outbound_of_event

    if store_code is not None:
        read_with_order(ctx, external_id, store_code)
    order = load_order(ctx, external_id)
    if order is not None and (order.data.get("fulfilment_id") == fulfilment_id or
                              any(r.get("fulfilment_id") == fulfilment_id for r in order.data.get("rejections", []))):
        return external_id
    return outbound_of_event(ctx, fulfilment_id, external_id)


def read_with_order(ctx: "FlowContext", io_id: str, store_code: str) -> None:
    """One batch read (``records.prefetch``) of the order and of what the rejection's transaction
    and the dispatch after it read, every key named before the order is read: its io_id's records,
    the rejecting store's record (its capacity slots and holds) and marks, and every store's records
    routing reads (``routing.records_read`` without the order: a store the order's filters drop
    costs a read of a small or absent item). A repeat (the order bears the rejection) ends with this request."""
    today = routing.shanghai_day(ctx)
    wanted: list[tuple[str, str]] = [
        (ORDER_KIND, io_id), (ROUTING_KIND, io_id), (EXCEPTION_KIND, io_id), (pickup_clock.PICKUP_WAITING_KIND, io_id),
        (reservations.RESERVATION_KIND, store_code), (reservations.HOLD_KIND, reservations.hold_key(store_code, io_id)),
        (routing.UNAVAILABLE_KIND, f"{store_code}:{today}"), *routing.records_read(ctx, None, io_id=io_id)]
    # One request: what does not fit is read after the order, filtered by it (_read_ahead).
    ctx.records.prefetch(ctx.ent_id, list(dict.fromkeys(wanted))[:PREFETCH_MAX])


def route_again_after_rejection(ctx: "FlowContext", payload: dict[str, Any]) -> None:
    """``s1.rejected``: note the rejection (once per fulfilment), release what the order held at
    that store, and route the order again without it.

    ``out_of_stock`` marks the SKUs the store named (``sku_ids``) unavailable there for the day;
    when it named none, every SKU of the order. The rejection, the release and the marks are
    written with the order's change (``_reject_and_route``, else ``_note_rejection``), so an order
    that bears the rejection has released that store's hold: a repeat reads the order and, unless
    it is still being routed (a reroute a crash cut short: its release is made again, each part
    repeat-safe, and its dispatch run again, each step once), stops there."""
    io_id, fulfilment_id = str(payload["io_id"]), str(payload["fulfilment_id"])
    store_code, reason, named_skus = payload["store_code"], payload["reason"], payload.get("sku_ids")
    order = load_order(ctx, io_id)
    if order is None:
        return
    probe = Order(order.version, dict(order.data))
    probe.reject(store_code, fulfilment_id, reason, named_skus)
    if probe.data == order.data:  # noted before (a repeat): its release and marks went with it
        if order.status == "routing":
            _finish_cut_short(ctx, order.data, store_code, fulfilment_id, reason, named_skus)
            attempt(ctx, dispatch, {"io_id": io_id, "route_no": order.route_no}, trace_key=io_id)
        return
    _read_ahead(ctx, probe.data, store_code, reason, named_skus)
    # The ledger's fact first (keyed by the fulfilment, written once whatever repeats): a crash after
    # the order's change would otherwise leave it unwritten, the repeat stopping at the order.
    ledger_facts.rejected(ctx, order.data, store_code=store_code, fulfilment_id=fulfilment_id, reason=reason,
                          at=payload.get("at"))
    route, claim = _reject_and_route(ctx, io_id, store_code, fulfilment_id, reason, named_skus)
    if route is not None:
        # The second store's order is created under the claim taken with the route.
        attempt(ctx, create_at_store_under(claim), route, trace_key=io_id)
        return
    # No store left, a race lost, or a rejection of an older fulfilment: noted on its own, and the
    # dispatch routes (or parks) the order as it does any.
    before, after = _note_rejection(ctx, io_id, store_code, fulfilment_id, reason, named_skus)
    if after is not before and after is not None:
        _rejected_step(ctx, io_id, after, store_code, fulfilment_id, reason, named_skus)
    current = load_order(ctx, io_id)
    if current is not None and current.status == "routing":
        attempt(ctx, dispatch, {"io_id": io_id, "route_no": current.data["route_no"]}, trace_key=io_id)


def _rejected_step(ctx: "FlowContext", io_id: str, after: dict[str, Any], store_code: str, fulfilment_id: str,
                   reason: str, named_skus: list[str] | None) -> None:
    ctx.timeline.record(io_id, ctx.ent_id, "s1.store_rejected",
                        {"store": store_code, "reason": reason, "fulfilment_id": fulfilment_id,
                         **({"skus": named_skus} if named_skus else {}),
                         "route_again": after["status"] == "routing"}, level="warning")
    ctx.metric("FulfilmentRejected", 1)


class _NotRouted(Exception):
    """The reroute's joined write cannot stand as decided (the order changed, the store filled up)."""


def _reject_and_route(ctx: "FlowContext", io_id: str, store_code: str, fulfilment_id: str, reason: str,
                      named_skus: list[str] | None) -> tuple[dict[str, Any] | None, "Record | None"]:
    """The rejection of the store's current order, and the next route, in one request: the route is
    decided first (routing.py reads what ``_read_ahead`` read, and the stores' stock), then the
    routing marker, the first store's release and marks, the second store's capacity slot and
    holds, the claim of the store order's creation and, last, the order rejected and routed again
    with the route's decision on it (``Order.routed``: no effect record of the route) are one
    transaction (``records.put_joined``, the order's put conditional on the version read). The
    payload of ``create_at_store`` for that route, with the claim of its effect for it to do the
    effect under (``create_at_store_under``); None when it went another way (no store left, the
    order changed, a concurrent order took the store meanwhile: the caller notes the rejection
    alone and the dispatch routes as it does any).

    The order goes last because it carries the decision: an order that names its route's store
    holds there. Written one at a time (the in-memory store; a crash between them), what comes
    before the order is repeat-safe and taken again by the repeat, which finds the order as it
    was; should the transaction be refused, nothing is written one at a time (the slow way is
    the caller's). An order refused after the holds were taken one at a time gives them back."""
    current = load_order(ctx, io_id)
    if current is None:
        return None, None
    before = dict(current.data)
    order = Order(current.version, dict(before))
    order.reject(store_code, fulfilment_id, reason, named_skus)
    after = order.data
    if after == before or after.get("status") != "routing" or after.get("forced_store"):
        return None, None
    route_no = int(after["route_no"])
    decision = routing.route_outbound(ctx, to_route(after), rejected_by=[r["store_code"] for r in after["rejections"]])
    if decision.store_code is None:
        return None, None  # parked by the dispatch, as any order no store can take
    day = routing.shanghai_day(ctx)
    result = routed(ctx, decision, io_id, route_no, day, step=False)
    after = {**after, ROUTED: {"route_no": route_no, "store_code": result["store_code"], "day": day,
                               "at": result["at"]}}

    dispatch_key = f"s1.dispatch:{io_id}:{route_no}"
    claimed: list[Any] = []
    held: list[bool] = []

    def writes() -> None:
        if held:  # the transaction was refused: its writes are not made one at a time
            raise _NotRouted(f"outbound {io_id}: the rejection's transaction was refused")
        _alongside(ctx, io_id, before, after, store_code, reason, named_skus)
        if not hold_routed(ctx, decision, io_id, day, after["items"]):
            raise _NotRouted(f"store {decision.store_code} filled up")
        held.append(True)
        # The claim of the store's order creation (create_at_store's effect), taken with the route.
        claimed[:] = [kit.claim_effect_with(ctx, dispatch_key)]

    try:
        written, _ = ctx.records.put_joined(ctx.ent_id, ORDER_KIND, io_id, after, expected_version=current.version,
                                            ttl_days=ORDER_TTL_DAYS, writes=writes)
    except _NotRouted:
        return None, None
    claim = claimed[-1] if claimed else None
    if written is None:  # the order changed after the holds were taken one at a time: given back
        reservations.let_go(ctx, result["store_code"], io_id, day)
        kit.give_back_effect_claim(ctx, dispatch_key, claim)
        return None, None
    _rejected_step(ctx, io_id, after, store_code, fulfilment_id, reason, named_skus)
    routed_step(ctx, decision, io_id, route_no)
    return {"io_id": io_id, "route_no": route_no, "store_code": result["store_code"], "day": day,
            "at": result["at"]}, claim


def _alongside(ctx: "FlowContext", io_id: str, before: dict[str, Any], after: dict[str, Any], store_code: str,
               reason: str, named_skus: list[str] | None) -> None:
    """What a rejection changes beside the order: the new route's marker, the store's capacity slot
    and holds given back (its order was the one dispatched), its SKUs marked (``out_of_stock``)."""
    if after.get("status") == "routing":
        note_routing(ctx, io_id, after["route_no"])  # with the order: no routing order unseen
    released = _released_here(before, after, store_code)
    if released is not None:
        reservations.let_go(ctx, store_code, io_id, released.get("day"))  # one write: slot and holds
    _mark_out_of_stock(ctx, io_id, before, store_code, reason, named_skus)


def _mark_out_of_stock(ctx: "FlowContext", io_id: str, order: dict[str, Any], store_code: str, reason: str,
                       named_skus: list[str] | None) -> None:
    """An ``out_of_stock`` rejection marks the SKUs the store named unavailable there for the day;
    when it named none, every SKU of the order."""
    if reason == "out_of_stock":
        routing.mark_unavailable(ctx, store_code, named_skus or [i["sku_id"] for i in order.get("items", [])], io_id)


def _finish_cut_short(ctx: "FlowContext", data: dict[str, Any], store_code: str, fulfilment_id: str, reason: str,
                      named_skus: list[str] | None) -> None:
    """A repeat of the rejection that started the route the order is still on: what a crash may have
    left undone of it when its writes went one at a time (the release, the marks, the marker),
    made again; each finds done what is."""
    rejections = data.get("rejections") or []
    released = data.get("released") or {}
    if not rejections or rejections[-1].get("fulfilment_id") != fulfilment_id or data.get("forced_store") or \
            released.get("store_code") != store_code:
        return
    note_routing(ctx, str(data["io_id"]), data["route_no"])
    reservations.let_go(ctx, store_code, str(data["io_id"]), released.get("day"))
    _mark_out_of_stock(ctx, str(data["io_id"]), data, store_code, reason, named_skus)


def _released_here(before: dict[str, Any], after: dict[str, Any], store_code: str) -> dict[str, Any] | None:
    """The hold this rejection gives back (the store's order was the one dispatched), else None."""
    released = after.get("released") or {}
    if released.get("store_code") == store_code and before.get("status") == "dispatched" and \
            after.get("route_no") != before.get("route_no"):
        return released
    return None


def _read_ahead(ctx: "FlowContext", after: dict[str, Any], store_code: str, reason: str,
                named_skus: list[str] | None) -> None:
    """What the rejection's transaction and the dispatch after it read that ``read_with_order`` did
    not (the stores past one batch), in one batch; nothing when it read all
    (``records.prefetch`` asks only for what it does not hold)."""
    io_id = str(after["io_id"])
    wanted: list[tuple[str, str]] = [(ROUTING_KIND, io_id), (EXCEPTION_KIND, io_id)]
    released = after.get("released") or {}
    if released.get("store_code") == store_code:  # its capacity slot and lines: the store's record, its hold
        wanted += [(reservations.RESERVATION_KIND, store_code),
                   (reservations.HOLD_KIND, reservations.hold_key(store_code, io_id))]
    if reason == "out_of_stock":
        wanted.append((routing.UNAVAILABLE_KIND, f"{store_code}:{routing.shanghai_day(ctx)}"))
    if after.get("delivery") == "pickup":
        wanted.append((pickup_clock.PICKUP_WAITING_KIND, io_id))
    if after.get("status") == "routing":
        rejected = [r["store_code"] for r in after.get("rejections", [])]
        wanted.extend(routing.records_read(ctx, to_route(after), rejected_by=rejected))
    # One request: what does not fit is read when asked for, as before.
    ctx.records.prefetch(ctx.ent_id, list(dict.fromkeys(wanted))[:PREFETCH_MAX])


PREFETCH_MAX = 100  # one BatchGetItem


def _note_rejection(ctx: "FlowContext", io_id: str, store_code: str, fulfilment_id: str, reason: str,
                    named_skus: list[str] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``change_order(Order.reject)`` with what the rejection changes elsewhere written in the same
    transaction (``records.put_joined``): the routing marker of the new route, the store's capacity
    slot and holds given back, and (``out_of_stock``) its SKUs marked unavailable for the day. All
    or none: a crash leaves the order unrejected and the repeat does it all. Should the transaction
    be refused (another change of the order, of that store's capacity or holds), its writes are
    made one at a time (each repeat-safe) and the order's after them, as the store does; a refused
    order is read again and the rejection applied over it."""
    for _ in range(ATTEMPTS):
        current = load_order(ctx, io_id)
        if current is None:
            return None, None
        before = dict(current.data)
        order = Order(current.version, dict(before))
        order.reject(store_code, fulfilment_id, reason, named_skus)
        after = order.data
        if after == before:
            return before, before

        def alongside(after: dict[str, Any] = after, before: dict[str, Any] = before) -> None:
            _alongside(ctx, io_id, before, after, store_code, reason, named_skus)

        written, _ = ctx.records.put_joined(ctx.ent_id, ORDER_KIND, io_id, after, expected_version=current.version,
                                            ttl_days=ORDER_TTL_DAYS, writes=alongside)
        if written is not None:
            return before, after
    raise OrderChanged(f"outbound {io_id} kept changing under this step")
