"""S1, S1r, S1c: online orders fulfilled by stores (线上订单线下发货 / 门店自提).

1. ``poll_jst_outbound`` reads the online outbounds the ERP assigned to the stores (Erp port
   ``online_outbound_pages``; JST: sales outbounds of the 店加线下仓 by ts cursor). A waiting
   outbound is remembered and dispatched; a cancelled one cancels what was dispatched. Pages
   are fetched one at a time;
   the cursor moves only after a page's outbounds are handled, and a run short of time stops
   before fetching the next page (the next run goes on from there, so a backlog is read once).
2. Dispatch routes the outbound (``routing.route_outbound``) and creates the store's
   fulfilment order (P1, Idempotency-Key from io_id, store and route number); the
   fulfilment is linked to the io_id.
3. The store ships (``fulfilment.shipped``) or the customer picks up
   (``fulfilment.picked_up``): the confirmation waits (record ``s1.confirm.pending``) for the
   next poll, which confirms what waits in the ERP before it scans, as many outbounds a call
   as the ERP takes (``erp.confirm_online_outbounds``; JST wms/sent/upload, 50 rows), once per
   outbound. A refused outbound is parked; the others in its call are confirmed.
4. The store rejects (``fulfilment.rejected``): the order is routed again without every
   store that rejected it; ``out_of_stock`` also marks unavailable at that store for the day
   the SKUs the event names (optional ``items``), or else every SKU of the order. With no
   store left the order is parked as an exception (record, metric ``FulfilmentExceptions``
   with an alarm, ``o2o exceptions``), to be re-routed by hand.

Every call to the ERP or 店+ runs in a step started with ``kit.attempt``: a transient failure
queues the step for the retry worker. State per outbound is one versioned record
(``s1.order``) changed with conditional writes; effects are ``kit.effect_once``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from pydantic import ValidationError

from ..errors import PermanentError, TransientError, UnprocessableRequest
from ..ports import DocumentLink
from . import cash_on_delivery as cod, kit, ledger_facts, members, pickup, pickup_clock, reservations, routing
from .offline_warehouse_rules import SELF_MALL_ORDER, self_mall_refusal
from .kit import FlowContext, attempt, effect_once, flow_command

if TYPE_CHECKING:
    from ..events.models import PosEvent
    from ..ports.erp import OnlineOutbound, OutboundConfirmation

CURSOR = "jst.sales_outbound"
ORDER_KIND = "s1.order"          # key io_id: the outbound's state here
EXCEPTION_KIND = "s1.exception"  # key io_id: what an operator must look at
# key io_id: an outbound being routed or dispatched (status "routing") and since when, so the
# ones stuck there (their retries gave up or keep failing) are found without reading every order.
ROUTING_KIND = "s1.routing"
# key io_id: a confirmation a store event asked for, sent to the ERP by the next poll with the
# others waiting (one ERP call per ``erp.info.max_confirmations_per_call`` outbounds).
PENDING_CONFIRM_KIND = "s1.confirm.pending"
DISPATCH_COMMANDS = ("s1.dispatch", "s1.create_at_store")
# Links are one to one and an outbound may go to several stores in turn, so a fulfilment
# order is linked to "<io_id>#<route number>".
OUTBOUND_ROUTE, FULFILMENT = "jst_outbound_route", "pos_fulfilment"
EXCEPTION_METRIC = "FulfilmentExceptions"
# Stop fetching pages with this much time left (a page of 50 outbounds, each routed and created
# at a store, must fit in it); the next run goes on from the cursor.
TIME_MARGIN_SECONDS = 20.0
ORDER_TTL_DAYS = 180


class OrderChanged(TransientError):
    """Someone else kept changing the outbound's record; the step is retried."""


# --- the outbound's record ---------------------------------------------------------------

@dataclass(frozen=True)
class Order:
    version: int
    data: dict[str, Any]

    @property
    def status(self) -> str:
        return self.data.get("status", "")


def load_order(ctx: FlowContext, io_id: str) -> Order | None:
    record = ctx.records.get(ctx.ent_id, ORDER_KIND, io_id)
    return Order(record.version, record.data) if record else None


def change_order(ctx: FlowContext, io_id: str, change: "Transition") -> \
        tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Apply ``change(current data) -> new data (None: leave it)`` with a conditional write,
    re-reading on a conflict. Returns (before, after)."""
    for _ in range(20):
        current = load_order(ctx, io_id)
        before = dict(current.data) if current else None
        after = change(dict(before) if before is not None else None)
        if after is None or after == before:
            return before, before
        if _routing(after) and not (_routing(before) and before["route_no"] == after["route_no"]):
            _note_routing(ctx, io_id, after["route_no"])  # before the order: a crash leaves no order unseen
        if ctx.records.put(ctx.ent_id, ORDER_KIND, io_id, after, expected_version=current.version if current else None,
                           ttl_days=ORDER_TTL_DAYS):
            if _routing(before) and not _routing(after):
                _routing_done(ctx, io_id, before["route_no"])
            return before, after
    raise OrderChanged(f"outbound {io_id} kept changing under this step")


def _routing(data: dict[str, Any] | None) -> bool:
    return bool(data) and data.get("status") == "routing"


def _note_routing(ctx: FlowContext, io_id: str, route_no: int) -> None:
    """Remember since when the outbound is being routed (a new route number starts the clock again)."""
    current = ctx.records.get(ctx.ent_id, ROUTING_KIND, io_id)
    if current is not None and current.data.get("route_no") == route_no:
        return
    ctx.records.put(ctx.ent_id, ROUTING_KIND, io_id,
                    {"io_id": io_id, "route_no": route_no, "since": ctx.now().isoformat()},
                    expected_version=current.version if current else None, ttl_days=ORDER_TTL_DAYS)


def _routing_done(ctx: FlowContext, io_id: str, route_no: int) -> None:
    current = ctx.records.get(ctx.ent_id, ROUTING_KIND, io_id)
    if current is not None and current.data.get("route_no", 0) <= route_no:
        ctx.records.delete(ctx.ent_id, ROUTING_KIND, io_id)


def _order_from_outbound(ctx: FlowContext, ob: "OnlineOutbound") -> dict[str, Any]:
    # Record field names are the first ones (io_id, o_id, so_id, jst_status, ts): stored orders carry them.
    # A store the customer chose (门店自提) makes it a pickup even without the pickup label.
    delivery = "pickup" if ctx.tenant.routing.pickup_label in ob.labels or ob.pickup_store_code else "express"
    receiver = ob.receiver
    return {
        "io_id": ob.outbound_id, "o_id": ob.order_id, "so_id": ob.platform_order_no,
        "shop_id": int(ob.shop_id) if ob.shop_id and ob.shop_id.isdigit() else ob.shop_id,
        "delivery": delivery, "pickup_store_code": ob.pickup_store_code, "status": "routing", "route_no": 0,
        "jst_status": ob.erp_status, "ts": ob.position,
        "receiver": {"name": receiver.name, "mobile": receiver.mobile, "province": receiver.province,
                     "city": receiver.city, "district": receiver.district, "address": receiver.address},
        "items": [{"sku_id": line.sku_id, "qty": line.qty, "name": line.name, "price": line.price} for line in ob.lines],
        "buyer_message": ob.buyer_message,
        "rejections": [], "store_code": None, "fulfilment_id": None, "forced_store": None,
    }


# --- named transitions: each takes the order's data (None: never seen) and returns the new
# data, or None to leave it as it is ----------------------------------------------------------------

Transition = Callable[[dict[str, Any] | None], dict[str, Any] | None]


def still_routing(data: dict[str, Any] | None, route_no: int) -> bool:
    return bool(data) and data["status"] == "routing" and data["route_no"] == route_no


def parked(route_no: int) -> Transition:
    """No store can take it (or the store refused it): an exception for a person."""
    return lambda d: {**d, "status": "exception"} if still_routing(d, route_no) else None


def dispatched(route_no: int, store_code: str, fulfilment_id: str, day: str | None) -> Transition:
    """The routed store has its fulfilment order."""
    def change(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if not still_routing(d, route_no):
            return None
        return {**d, "status": "dispatched", "store_code": store_code, "fulfilment_id": fulfilment_id,
                "capacity_day": day}
    return change


def created_while_cancelled(store_code: str, fulfilment_id: str, day: str | None) -> Transition:
    """The ERP cancelled while the store's order was being created: remember it, to undo it."""
    return lambda d: ({**d, "fulfilment_id": fulfilment_id, "store_code": store_code, "capacity_day": day}
                      if d and not d.get("fulfilment_id") else None)


def confirmed(status: str) -> Transition:
    """Shipped or picked up, confirmed in the ERP."""
    return lambda d: {**d, "status": status} if d and d["status"] != status else None


def rejected_by(store_code: str, fulfilment_id: str, reason: str, sku_ids: list[str] | None) -> Transition:
    """A store rejected its fulfilment order (once per fulfilment): route again without it."""
    def change(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None or any(r["fulfilment_id"] == fulfilment_id for r in d.get("rejections", [])):
            return None
        rejection = {"store_code": store_code, "reason": reason, "fulfilment_id": fulfilment_id}
        if sku_ids:
            rejection["sku_ids"] = sku_ids
        changed = {**d, "rejections": [*d.get("rejections", []), rejection]}
        if d["status"] == "dispatched" and d.get("fulfilment_id") == fulfilment_id:
            changed.update(status="routing", route_no=d["route_no"] + 1, store_code=None, fulfilment_id=None,
                           forced_store=None, released={"store_code": store_code, "day": d.get("capacity_day")})
        return changed
    return change


def cancelled_by_erp(io_id: str, erp_status: str) -> Transition:
    """The ERP voided the outbound; a never-seen one is remembered so a late dispatch does nothing."""
    def change(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return {"io_id": io_id, "status": "cancelled", "jst_status": erp_status, "route_no": 0, "rejections": []}
        if d["status"] in ("routing", "exception", "dispatched"):
            return {**d, "status": "cancelled", "jst_status": erp_status, "was": d["status"]}
        return None
    return change


def routed_again_by_hand(io_id: str, store_code: str | None) -> Transition:
    """`o2o exceptions reroute`: a parked order (or a stuck one, to another store) gets a new route."""
    def change(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            raise UnprocessableRequest(f"outbound {io_id} is not known to the bridge")
        if d["status"] not in ("exception", "routing"):
            raise UnprocessableRequest(f"outbound {io_id} is {d['status']}; only a parked or routing order is re-routed")
        if d["status"] == "routing" and store_code is None:
            return None  # stuck: the same route again
        return {**d, "status": "routing", "route_no": d["route_no"] + 1, "forced_store": store_code}
    return change


# --- 1. the poll ----------------------------------------------------------------------------

def poll_jst_outbound(ctx: FlowContext) -> dict[str, Any]:
    """Confirm what the stores finished (``confirm_pending``), then scan the stores' online
    outbounds from the stored cursor, a page at a time: fetch a
    page, handle its outbounds, move the cursor, and only then (time permitting) fetch the next.
    A run short of time stops between pages and fetched nothing it did not handle; the next run
    goes on from the cursor (re-reading only the edge record, which is handled idempotently)."""
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
    start_ts = int(cursor.value) if cursor else 0
    version = cursor.version if cursor else None
    summary: dict[str, Any] = {"cursor_from": start_ts, "pages": 0, "read": 0, "handled": 0, "dispatched": 0,
                               "cancelled": 0, "ignored": 0, "refused": 0, "stopped_early": False}
    # What the stores finished since the last poll goes to the ERP first: it waits on nothing.
    summary["confirmations"] = confirm_pending(ctx)
    position = start_ts
    pages = ctx.erp.online_outbound_pages(str(start_ts) if cursor else None)
    try:
        while True:
            if ctx.time_left() < TIME_MARGIN_SECONDS:
                summary["stopped_early"] = True  # the next run goes on from the cursor
                break
            page = next(pages, None)
            if page is None:
                break
            summary["pages"] += 1
            summary["read"] += len(page.outbounds)
            # An outbound that fails is set aside (queued or parked with its reason) and the
            # page goes on: one bad order never holds the cursor and every order behind it.
            outcomes = kit.each_record(ctx, sorted(page.outbounds, key=lambda ob: ob.position),
                                       lambda ob: handle_outbound(ctx, ob), step=handle_outbound_again,
                                       payload_of=_outbound_payload, trace_key_of=lambda ob: ob.outbound_id)
            for outcome, count in outcomes.items():
                summary[outcome] = summary.get(outcome, 0) + count
                summary["handled"] += count
            if int(page.next_cursor) > position:
                if not ctx.cursors.advance(ctx.ent_id, CURSOR, page.next_cursor, version):
                    # Another run moved the cursor meanwhile: it goes on from there.
                    summary["cursor_taken_over"] = True
                    break
                version = (version or 0) + 1
                position = int(page.next_cursor)
            if page.last:
                break
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()
    summary["cursor_to"] = position
    # Orders whose dispatch never finished would otherwise wait silently for a person to run
    # `o2o exceptions list`: counted every run, so the FulfilmentsStuck alarm can say so.
    summary["stuck"] = len(stuck_orders(ctx, explain=False))
    ctx.metric("FulfilmentsStuck", summary["stuck"])
    return summary


def handle_outbound(ctx: FlowContext, outbound: "OnlineOutbound") -> str:
    """One outbound as the scan saw it; safe to repeat (the cursor's edge record comes back)."""
    io_id = outbound.outbound_id
    if outbound.status == "waiting":
        data = {**_order_from_outbound(ctx, outbound), **cod.cod_terms(ctx, outbound)}
        refusal = self_mall_refusal(ctx.tenant, data["shop_id"])
        if refusal:
            data["status"] = "exception"
        elif load_order(ctx, io_id) is None:
            _note_routing(ctx, io_id, data["route_no"])
        if ctx.records.put(ctx.ent_id, ORDER_KIND, io_id, data, ttl_days=ORDER_TTL_DAYS):
            ctx.timeline.record(io_id, ctx.ent_id, "s1.outbound_seen",
                                {"so_id": data["so_id"], "o_id": data["o_id"], "delivery": data["delivery"],
                                 "items": [{"sku_id": i["sku_id"], "qty": i["qty"]} for i in data["items"]],
                                 "region": f"{data['receiver']['province']} {data['receiver']['city']}"},
                                aliases=tuple(a for a in (data["so_id"], data["o_id"]) if a))
        if refusal:
            _park(ctx, io_id, SELF_MALL_ORDER, refusal, shop_id=data["shop_id"])
            return "refused"
        order = load_order(ctx, io_id)
        if order is not None and order.status == "routing":
            attempt(ctx, dispatch, {"io_id": io_id, "route_no": order.data["route_no"]}, trace_key=io_id)
            return "dispatched"
        return "ignored"
    if outbound.status == "cancelled":
        return "cancelled" if cancel_outbound(ctx, io_id, jst_status=outbound.erp_status) else "ignored"
    return "ignored"  # Confirmed (by us), OuterConfirming...: nothing for the stores to do


def _outbound_payload(outbound: "OnlineOutbound") -> dict[str, Any]:
    return {"outbound": dataclasses.asdict(outbound)}


@flow_command("s1.handle_outbound")
def handle_outbound_again(ctx: FlowContext, payload: dict[str, Any]) -> str:
    """An outbound the poll set aside, handled again by the retry worker or `o2o dlq replay`:
    as the poll read it, or (a row the ERP connector could not read) read again from its row."""
    from ..ports import OnlineOutbound, OutboundLine, Receiver

    if "outbound" in payload:
        data = dict(payload["outbound"])
        outbound = OnlineOutbound(**{**data, "receiver": Receiver(**data["receiver"]),
                                     "lines": tuple(OutboundLine(**line) for line in data["lines"]),
                                     "labels": tuple(data.get("labels") or ())})
    else:
        outbound = ctx.erp.online_outbound_again(payload["row"])
    return handle_outbound(ctx, outbound)


# --- 2. dispatch ---------------------------------------------------------------------------------

def _fulfilment_order(ctx: FlowContext, data: dict[str, Any], store_code: str):
    from ..connectors.store import models as pos

    try:
        return pos.FulfilmentOrder(
            external_id=data["io_id"], jst_o_id=data["o_id"] or data["io_id"],
            platform_order_id=data["so_id"] or data["io_id"], store_code=store_code, delivery=data["delivery"],
            receiver=pos.Receiver(**{k: v or "-" for k, v in data["receiver"].items()}),
            items=[pos.FulfilmentItem(sku_id=i["sku_id"], qty=i["qty"], name=i["name"], price=i.get("price"))
                   for i in data["items"]],
            shop_id=str(data["shop_id"]) if data.get("shop_id") else None, buyer_message=data.get("buyer_message"),
            cod=pos.CashOnDelivery(amount=data["cod_amount"]) if data.get("cod_amount") else None,
            pickup_store_code=data.get("pickup_store_code"))
    except ValidationError as exc:
        raise PermanentError(f"outbound {data['io_id']} cannot become a fulfilment order: {exc}") from None


def _to_route(data: dict[str, Any]) -> routing.OrderToRoute:
    return routing.OrderToRoute(
        io_id=data["io_id"], delivery=data["delivery"], province=data["receiver"]["province"],
        city=data["receiver"]["city"],
        lines=tuple(routing.Line(i["sku_id"], i["qty"]) for i in data["items"]),
        pickup_store=data.get("pickup_store_code"))


@flow_command("s1.dispatch")
def dispatch(ctx: FlowContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Route the outbound (once per route number) and go on to create the store's order.

    Routing and creating are two steps so that each retry repeats as few calls as possible."""
    io_id, route_no = str(payload["io_id"]), int(payload["route_no"])
    order = load_order(ctx, io_id)
    if order is None or not still_routing(order.data, route_no):
        return None  # done, cancelled or routed again since this step was queued
    data = order.data
    stores = {store.code: store for store in ctx.tenant.stores}

    def decide() -> dict[str, Any]:
        rejected = [r["store_code"] for r in data.get("rejections", [])]
        forced = data.get("forced_store")
        if forced:
            decision = routing.Decision(forced, "chosen by hand (o2o exceptions reroute)", [forced])
        else:
            decision = routing.route_outbound(ctx, _to_route(data), rejected_by=rejected)
        day = routing.shanghai_day(ctx)
        while decision.store_code is not None and not forced:  # the fallback store has a capacity too
            store = stores[decision.store_code]
            if decision.fallback:  # stock is not why it was chosen: its lines are held below, unchecked
                taken = routing.reserve_capacity(ctx, store, io_id, day)
            else:
                taken = reservations.hold(ctx, store, io_id, day, data["items"], decision.stock.get(decision.store_code))
            if taken:
                break
            # Filled up by a concurrent dispatch since the decision: route without it.
            rejected = [*rejected, decision.store_code]
            decision = routing.route_outbound(ctx, _to_route(data), rejected_by=rejected)
        if decision.store_code is not None and (forced or decision.fallback):
            reservations.reserve(ctx, decision.store_code, io_id, data["items"], on_hand=None)
        ctx.timeline.record(io_id, ctx.ent_id, "s1.routed", {"route_no": route_no, **decision.detail()},
                            level="info" if decision.store_code else "warning")
        return {"store_code": decision.store_code, "why": decision.why, "dropped": decision.dropped, "day": day,
                "at": ctx.now().isoformat()}

    decision = effect_once(ctx, f"s1.route:{io_id}:{route_no}", decide).result
    if decision["store_code"] is None:
        kind = "no_store"
        if data.get("pickup_store_code"):
            kind = pickup.PICKUP_REJECTED if data.get("rejections") else "no_pickup_store"
        _park(ctx, io_id, kind, decision["why"], dropped=decision["dropped"],
              **({"pickup_store_code": data["pickup_store_code"]} if data.get("pickup_store_code") else {}))
        change_order(ctx, io_id, parked(route_no))
        return decision
    return attempt(ctx, create_at_store, {"io_id": io_id, "route_no": route_no, "store_code": decision["store_code"],
                                          "day": decision["day"], "at": decision.get("at")}, trace_key=io_id)


@flow_command("s1.create_at_store")
def create_at_store(ctx: FlowContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    """P1 at the routed store (Idempotency-Key from io_id, store and route number); link; mark dispatched."""
    io_id, route_no, store_code = str(payload["io_id"]), int(payload["route_no"]), payload["store_code"]
    order = load_order(ctx, io_id)
    if order is None or (order.status != "cancelled" and not still_routing(order.data, route_no)):
        return None

    def create() -> dict[str, Any]:
        created = ctx.store.create_fulfilment_order(_fulfilment_order(ctx, order.data, store_code),
                                                    business_key=f"{io_id}:{store_code}:{route_no}")
        return {"store_code": store_code, "fulfilment_id": created.fulfilment_id, "day": payload.get("day")}

    if order.status == "cancelled" and not kit.effect_done(ctx, f"s1.dispatch:{io_id}:{route_no}"):
        routing.release_capacity(ctx, store_code, io_id, payload.get("day"))
        reservations.release(ctx, store_code, io_id, order.data.get("items", []))
        return None  # JST cancelled it before the store heard of it
    try:
        outcome = effect_once(ctx, f"s1.dispatch:{io_id}:{route_no}", create)
    except PermanentError as exc:
        routing.release_capacity(ctx, store_code, io_id, payload.get("day"))
        reservations.release(ctx, store_code, io_id, order.data.get("items", []))
        _park(ctx, io_id, "dispatch_refused", f"store {store_code}: {exc}")
        change_order(ctx, io_id, parked(route_no))
        return None
    result = outcome.result
    fulfilment_id = result["fulfilment_id"]
    ledger_facts.dispatched(ctx, order.data, store_code=store_code, fulfilment_id=fulfilment_id, route_no=route_no,
                            at=payload.get("at"))
    pickup_clock.note_dispatched(ctx, order.data, store_code=store_code, fulfilment_id=fulfilment_id,
                                 at=payload.get("at"))
    members.note_online_buyer(ctx, order.data)
    ctx.links.link(DocumentLink(ctx.ent_id, FULFILMENT, fulfilment_id, OUTBOUND_ROUTE, f"{io_id}#{route_no}",
                                {"store_code": store_code}))

    before, after = change_order(ctx, io_id, dispatched(route_no, store_code, fulfilment_id, result.get("day")))
    if after is not before and after is not None and after.get("fulfilment_id") == fulfilment_id:
        ctx.timeline.record(io_id, ctx.ent_id, "s1.dispatched",
                            {"store": store_code, "fulfilment_id": fulfilment_id, "route_no": route_no},
                            aliases=(fulfilment_id,))
        ctx.metric("FulfilmentDispatched", 1)
        _resolve_exception(ctx, io_id)
    elif before is not None and before["status"] == "cancelled" and not before.get("fulfilment_id"):
        # JST cancelled the outbound while this step created the store's order: undo it.
        change_order(ctx, io_id, created_while_cancelled(store_code, fulfilment_id, result.get("day")))
        attempt(ctx, cancel_at_store, {"io_id": io_id, "fulfilment_id": fulfilment_id}, trace_key=io_id)
    return result


# --- 3. shipped / picked up -----------------------------------------------------------------------

def _outbound_of_event(ctx: FlowContext, fulfilment_id: str, external_id: str) -> str:
    """The io_id a store event is about; refuses a fulfilment the bridge did not create."""
    link = ctx.links.find(ctx.ent_id, FULFILMENT, fulfilment_id, OUTBOUND_ROUTE)
    if link is not None:
        io_id = link.other_key.split("#", 1)[0]
        if io_id != external_id:
            raise UnprocessableRequest(f"data.external_id: fulfilment {fulfilment_id} belongs to outbound "
                                       f"{io_id}, not {external_id}")
        return io_id
    order = load_order(ctx, external_id)
    if order is not None and order.status == "routing":
        # The fulfilment may have been created a moment ago and not linked yet.
        raise TransientError(f"fulfilment {fulfilment_id} is not linked to outbound {external_id} yet; send it again",
                             retry_after_seconds=30)
    raise UnprocessableRequest(f"data.fulfilment_id: {fulfilment_id} (outbound {external_id}) is not a fulfilment "
                               "order the bridge created")


def on_fulfilment_shipped(event: "PosEvent", ctx: "FlowContext") -> None:
    data = event.data
    io_id = _outbound_of_event(ctx, data.fulfilment_id, data.external_id)
    ctx.timeline.record(io_id, ctx.ent_id, "s1.store_shipped",
                        {"fulfilment_id": data.fulfilment_id, "carrier": data.carrier_code,
                         "tracking_no": data.tracking_no, "event_id": event.event_id})
    cod.handed_over(ctx, io_id, how="shipped", at=data.shipped_at,
                    collected=data.cod_collected)
    queue_confirmation(ctx, {"io_id": io_id, "fulfilment_id": data.fulfilment_id, "how": "shipped",
                             "carrier_code": data.carrier_code, "tracking_no": data.tracking_no,
                             "at": data.shipped_at.isoformat()})


def on_fulfilment_picked_up(event: "PosEvent", ctx: "FlowContext") -> None:
    data = event.data
    io_id = _outbound_of_event(ctx, data.fulfilment_id, data.external_id)
    ctx.timeline.record(io_id, ctx.ent_id, "s1.customer_picked_up",
                        {"fulfilment_id": data.fulfilment_id, "event_id": event.event_id})
    cod.handed_over(ctx, io_id, how="picked_up", at=data.picked_up_at,
                    collected=data.cod_collected)
    queue_confirmation(ctx, {"io_id": io_id, "fulfilment_id": data.fulfilment_id, "how": "picked_up",
                             "at": data.picked_up_at.isoformat()})


def queue_confirmation(ctx: FlowContext, payload: dict[str, Any]) -> None:
    """The store is done with the outbound: the goods left it, so the order's hold on its stock
    goes now; the confirmation waits for the next poll's batch (one conditional write; a
    repeated event finds it waiting and changes nothing)."""
    io_id = str(payload["io_id"])
    known = load_order(ctx, io_id)
    if known is not None:
        reservations.release(ctx, known.data.get("store_code"), io_id, known.data.get("items", []))
    ctx.records.put(ctx.ent_id, PENDING_CONFIRM_KIND, io_id, payload, ttl_days=ORDER_TTL_DAYS)


def confirm_pending(ctx: FlowContext) -> dict[str, Any]:
    """Confirm in the ERP what the stores finished, ``erp.info.max_confirmations_per_call``
    outbounds a call, while time is left. Each outbound is settled
    on its own: confirmed once (``effect_once`` per io_id), or parked when the ERP refuses it,
    never holding up the others of its call. A failed call leaves its outbounds waiting for
    the next poll (the ERP takes a repeated confirmation as done)."""
    size = max(1, ctx.erp.info.max_confirmations_per_call)
    counts: dict[str, Any] = {"calls": 0, "confirmed": 0, "refused": 0, "waiting": 0}
    waiting = ctx.records.list(ctx.ent_id, PENDING_CONFIRM_KIND)
    for start in range(0, len(waiting), size):
        if ctx.time_left() < TIME_MARGIN_SECONDS:
            counts["waiting"] += len(waiting) - start  # the next poll goes on
            break
        batch = waiting[start:start + size]
        try:
            results = ctx.erp.confirm_online_outbounds([_confirmation_of(r.data) for r in batch])
        except TransientError as exc:
            counts["waiting"] += len(waiting) - start
            counts["deferred"] = str(exc)
            break
        counts["calls"] += 1
        for record in batch:
            counts[_settle_confirmation(ctx, record, results.get(record.key))] += 1
    return counts


def _confirmation_of(payload: dict[str, Any]) -> "OutboundConfirmation":
    from ..ports import OutboundConfirmation

    return OutboundConfirmation(str(payload["io_id"]), payload["how"], payload.get("carrier_code"),
                                payload.get("tracking_no"))


def _settle_confirmation(ctx: FlowContext, record: Any, result: Any) -> str:
    payload = record.data
    io_id = record.key
    if isinstance(result, PermanentError) or result is None:
        reason = str(result) if result is not None else f"the {ctx.erp.info.display_name} answer did not name it"
        _park(ctx, io_id, "confirm_refused", reason, retry={"command": "s1.confirm_outbound", "payload": payload})
        outcome = "refused"
    else:
        try:
            _confirmed(ctx, payload, effect_once(ctx, f"s1.confirm:{io_id}", lambda: result))
        except TransientError:  # another worker is settling this outbound: the next poll looks again
            return "waiting"
        except Exception as exc:  # this outbound alone, parked with its reason: the others go on
            _park(ctx, io_id, "confirm_refused", f"confirmed in {ctx.erp.info.display_name}, then: {exc}",
                  retry={"command": "s1.confirm_outbound", "payload": payload})
            outcome = "refused"
        else:
            outcome = "confirmed"
    # Only the request this batch read: a store event that came meanwhile waits for the next.
    ctx.records.delete(ctx.ent_id, PENDING_CONFIRM_KIND, io_id, expected_version=record.version)
    return outcome


@flow_command("s1.confirm_outbound")
def confirm_outbound(ctx: FlowContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    """One outbound confirmed in the ERP at once, exactly once (a parked confirmation retried
    by an operator, a retry queued before confirmations were batched)."""
    io_id = str(payload["io_id"])

    def upload() -> dict[str, Any]:
        return ctx.erp.confirm_online_outbound(io_id, how=payload["how"], carrier_code=payload.get("carrier_code"),
                                               tracking_no=payload.get("tracking_no"))

    try:
        outcome = effect_once(ctx, f"s1.confirm:{io_id}", upload)
    except PermanentError as exc:
        _park(ctx, io_id, "confirm_refused", str(exc), retry={"command": "s1.confirm_outbound", "payload": payload})
        return None
    return _confirmed(ctx, payload, outcome)


def _confirmed(ctx: FlowContext, payload: dict[str, Any], outcome: Any) -> dict[str, Any]:
    """What follows the ERP's confirmation: the ledger fact, the stores' hold released, the
    outbound's status; the timeline and metric only for the first time."""
    io_id = str(payload["io_id"])
    status = payload["how"]
    known = load_order(ctx, io_id)
    ledger_facts.fulfilled(ctx, known.data if known else {"io_id": io_id}, how=status,
                           fulfilment_id=payload["fulfilment_id"], at=payload.get("at"))
    if known is not None:  # gone at the store event already; a retry queued before batching had not
        reservations.release(ctx, known.data.get("store_code"), io_id, known.data.get("items", []))
    change_order(ctx, io_id, confirmed(status))
    if not outcome.repeated:
        ctx.timeline.record(io_id, ctx.ent_id, "s1.confirmed_in_jst", {**outcome.result,
                                                                       "fulfilment_id": payload["fulfilment_id"]})
        ctx.metric("FulfilmentConfirmed", 1)
    _resolve_exception(ctx, io_id, kinds=("confirm_refused",))
    return outcome.result


# --- 4. rejected ---------------------------------------------------------------------------------

def on_fulfilment_rejected(event: "PosEvent", ctx: "FlowContext") -> None:
    data = event.data
    io_id = _outbound_of_event(ctx, data.fulfilment_id, data.external_id)
    payload = {"io_id": io_id, "fulfilment_id": data.fulfilment_id, "store_code": data.store_code,
               "reason": data.reason, "at": event.occurred_at.isoformat()}
    if data.items:  # the store named what it cannot fulfil (optional in the contract)
        payload["sku_ids"] = sorted({item.sku_id for item in data.items})
    attempt(ctx, store_rejected, payload, trace_key=io_id)


@flow_command("s1.rejected")
def store_rejected(ctx: FlowContext, payload: dict[str, Any]) -> None:
    """Note the rejection (once per fulfilment) and route the order again without that store.

    ``out_of_stock`` marks the SKUs the store named (``sku_ids``) unavailable there for the day;
    when it named none, every SKU of the order."""
    io_id, fulfilment_id = str(payload["io_id"]), str(payload["fulfilment_id"])
    store_code = payload["store_code"]
    named_skus = payload.get("sku_ids")

    before, after = change_order(ctx, io_id, rejected_by(store_code, fulfilment_id, payload["reason"], named_skus))
    if after is not before and after is not None:
        ctx.timeline.record(io_id, ctx.ent_id, "s1.store_rejected",
                            {"store": store_code, "reason": payload["reason"], "fulfilment_id": fulfilment_id,
                             **({"skus": named_skus} if named_skus else {}),
                             "route_again": after["status"] == "routing"}, level="warning")
        ctx.metric("FulfilmentRejected", 1)
    current = load_order(ctx, io_id)
    if current is None:
        return
    ledger_facts.rejected(ctx, current.data, store_code=store_code, fulfilment_id=fulfilment_id,
                          reason=payload["reason"], at=payload.get("at"))
    # The side effects are repeat-safe, so a retried step redoes them all.
    released = current.data.get("released") or {}
    if released.get("store_code") == store_code:
        routing.release_capacity(ctx, store_code, io_id, released.get("day"))
        reservations.release(ctx, store_code, io_id, current.data.get("items", []))
    if payload["reason"] == "out_of_stock":
        sku_ids = named_skus or [i["sku_id"] for i in current.data.get("items", [])]
        routing.mark_unavailable(ctx, store_code, sku_ids, io_id)
    if current.status == "routing":
        attempt(ctx, dispatch, {"io_id": io_id, "route_no": current.data["route_no"]}, trace_key=io_id)


# --- 5. cancelled at JST ----------------------------------------------------------------------

def cancel_outbound(ctx: FlowContext, io_id: str, *, jst_status: str) -> bool:
    """JST voided the outbound: stop whatever the stores were doing with it. True when it changed."""
    before, after = change_order(ctx, io_id, cancelled_by_erp(io_id, jst_status))
    if after is before:
        if before and before["status"] == "cancelled" and before.get("was") == "dispatched" \
                and before.get("fulfilment_id") and not kit.effect_done(ctx, f"s1.cancel:{before['fulfilment_id']}"):
            # A run that noted the cancel died before asking the store: ask it now (once, effect_once).
            attempt(ctx, cancel_at_store, {"io_id": io_id, "fulfilment_id": before["fulfilment_id"]}, trace_key=io_id)
            return True
        if before and before["status"] in ("shipped", "picked_up"):
            _park(ctx, io_id, "cancelled_after_shipping",
                  f"JST marked the outbound {jst_status} after the store {before['status'].replace('_', ' ')} it")
        return False
    ctx.timeline.record(io_id, ctx.ent_id, "s1.cancelled_at_jst", {"jst_status": jst_status,
                                                                   "was": (before or {}).get("status", "unseen")})
    _resolve_exception(ctx, io_id)
    if before and before["status"] == "dispatched" and before.get("fulfilment_id"):
        attempt(ctx, cancel_at_store, {"io_id": io_id, "fulfilment_id": before["fulfilment_id"],
                                       "at": ctx.now().isoformat()}, trace_key=io_id)
    return True


@flow_command("s1.cancel_at_store")
def cancel_at_store(ctx: FlowContext, payload: dict[str, Any]) -> None:
    """P2, once per fulfilment order; a store that already shipped makes it an exception."""
    from ..connectors.store.errors import PosConflict

    io_id, fulfilment_id = str(payload["io_id"]), str(payload["fulfilment_id"])
    try:
        outcome = effect_once(ctx, f"s1.cancel:{fulfilment_id}", lambda: ctx.store.cancel_fulfilment_order(
            fulfilment_id, "订单已在聚水潭取消 (the online order was cancelled)").status)
    except PosConflict as exc:
        _park(ctx, io_id, "store_cannot_cancel", f"JST cancelled the outbound but the store refused: {exc.pos_msg or exc}")
        return
    order = load_order(ctx, io_id)
    if order is not None and order.data.get("store_code"):
        routing.release_capacity(ctx, order.data["store_code"], io_id, order.data.get("capacity_day"))
        reservations.release(ctx, order.data["store_code"], io_id, order.data.get("items", []))
        ledger_facts.cancelled(ctx, order.data, fulfilment_id=fulfilment_id, at=payload.get("at"))
    if not outcome.repeated:
        ctx.timeline.record(io_id, ctx.ent_id, "s1.cancelled_at_store", {"fulfilment_id": fulfilment_id,
                                                                         "status": outcome.result})


# --- exceptions ------------------------------------------------------------------------------

def _park(ctx: FlowContext, io_id: str, kind: str, reason: str, **detail: Any) -> None:
    """Record an exception once (counted once in the metric the alarm watches)."""
    data = {"io_id": io_id, "kind": kind, "reason": reason, "status": "open", "at": ctx.now().isoformat(), **detail}
    order = load_order(ctx, io_id)
    if order is not None:
        data.update(so_id=order.data.get("so_id"), rejected_by=[r["store_code"] for r in order.data.get("rejections", [])])
    for _ in range(5):
        current = ctx.records.get(ctx.ent_id, EXCEPTION_KIND, io_id)
        if current is not None and current.data.get("status") == "open" and current.data.get("kind") == kind:
            return
        if ctx.records.put(ctx.ent_id, EXCEPTION_KIND, io_id, data,
                           expected_version=current.version if current else None, ttl_days=ORDER_TTL_DAYS):
            ctx.timeline.record(io_id, ctx.ent_id, "s1.exception", {"kind": kind, "reason": reason, **detail},
                                level="error")
            ctx.metric(EXCEPTION_METRIC, 1)
            return


def _resolve_exception(ctx: FlowContext, io_id: str, *, kinds: tuple[str, ...] | None = None) -> None:
    current = ctx.records.get(ctx.ent_id, EXCEPTION_KIND, io_id)
    if current is None or current.data.get("status") != "open" or (kinds and current.data.get("kind") not in kinds):
        return
    ctx.records.put(ctx.ent_id, EXCEPTION_KIND, io_id,
                    {**current.data, "status": "resolved", "resolved_at": ctx.now().isoformat()},
                    expected_version=current.version, ttl_days=ORDER_TTL_DAYS)


def open_exceptions(ctx: FlowContext) -> list[dict[str, Any]]:
    return [r.data for r in ctx.records.list(ctx.ent_id, EXCEPTION_KIND) if r.data.get("status") == "open"]


def stuck_orders(ctx: FlowContext, *, explain: bool = True) -> list[dict[str, Any]]:
    """Outbounds still being routed or dispatched ``routing.stuck_after_minutes`` after they
    started: their dispatch step was dead-lettered (retries gave up), is still waiting for a
    retry, or is not running at all. Shown by `o2o exceptions list`, re-routed by `reroute`.
    Without ``explain`` (the poll's count) the timelines are not read."""
    oldest = ctx.now() - timedelta(minutes=ctx.tenant.routing.stuck_after_minutes)
    stuck = []
    for marker in ctx.records.list(ctx.ent_id, ROUTING_KIND):
        since = datetime.fromisoformat(marker.data["since"])
        if since > oldest:
            continue
        order = load_order(ctx, marker.key)
        if order is None or order.status != "routing":
            continue  # left routing; the marker's removal was lost (it expires with its TTL)
        if not explain:
            stuck.append({"io_id": marker.key})
            continue
        state, why = _dispatch_state(ctx, marker.key, order.data["route_no"])
        stuck.append({"io_id": marker.key, "kind": "stuck_routing", "status": "open", "at": since.isoformat(),
                      "so_id": order.data.get("so_id"), "route_no": order.data["route_no"], "dispatch_state": state,
                      "rejected_by": [r["store_code"] for r in order.data.get("rejections", [])],
                      "reason": f"still being routed/dispatched after {ctx.tenant.routing.stuck_after_minutes} min: "
                                f"{why}"})
    return stuck


def _dispatch_state(ctx: FlowContext, io_id: str, route_no: int) -> tuple[str, str]:
    """("dead_lettered" | "waiting_for_retry" | "not_running", a sentence) from the order's timeline."""
    decided = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, f"s1.route:{io_id}:{route_no}")
    store = ((decided.data.get("result") or {}).get("store_code") if decided and decided.data.get("state") == "done"
             else None)
    where = f"routed to store {store}" if store else "no store decided yet"
    last = None
    for entry in ctx.timeline.entries(io_id, ctx.ent_id):
        if entry.step in ("retry.queued", "retry.scheduled", "retry.dead_lettered", "retry.succeeded") and \
                entry.detail.get("command") in DISPATCH_COMMANDS:
            last = entry
    if last is not None and last.step == "retry.dead_lettered":
        return "dead_lettered", f"{where}; {last.detail['command']} was dead-lettered: {last.detail.get('reason')}"
    if last is not None and last.step in ("retry.queued", "retry.scheduled"):
        attempts = last.detail.get("attempt", 1)
        return "waiting_for_retry", (f"{where}; {last.detail['command']} is waiting for retry (failed {attempts} "
                                     f"time(s), last: {last.detail.get('error')})")
    return "not_running", f"{where}; no dispatch step is running or queued for it"


def exceptions_to_show(ctx: FlowContext) -> list[dict[str, Any]]:
    """What `o2o exceptions list` prints: the parked orders, then the stuck ones."""
    return [*open_exceptions(ctx), *stuck_orders(ctx)]


def reroute_by_hand(ctx: FlowContext, io_id: str, *, store_code: str | None = None) -> dict[str, Any]:
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

    before, after = change_order(ctx, io_id, routed_again_by_hand(io_id, store_code))
    if before["status"] == "routing" and after["route_no"] != before["route_no"]:
        _release_route(ctx, io_id, before["route_no"])
    ctx.timeline.record(io_id, ctx.ent_id, "s1.reroute_by_hand", {"store": store_code, "route_no": after["route_no"],
                                                                   "same_route": after is before})
    _resolve_exception(ctx, io_id)
    result = attempt(ctx, dispatch, {"io_id": io_id, "route_no": after["route_no"]}, trace_key=io_id)
    order = load_order(ctx, io_id)
    return {"io_id": io_id, "status": order.status if order else None, "result": result,
            "queued_for_retry": result is None and order is not None and order.status == "routing"}


def _release_route(ctx: FlowContext, io_id: str, route_no: int) -> None:
    """A stuck route given up by hand: free the capacity its decision took at the store."""
    decided = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, f"s1.route:{io_id}:{route_no}")
    result = (decided.data.get("result") or {}) if decided and decided.data.get("state") == "done" else {}
    if result.get("store_code"):
        routing.release_capacity(ctx, result["store_code"], io_id, result.get("day"))
        order = load_order(ctx, io_id)
        reservations.release(ctx, result["store_code"], io_id, order.data.get("items", []) if order else [])


__all__ = ["cancel_outbound", "confirm_outbound", "dispatch", "handle_outbound", "on_fulfilment_picked_up",
           "on_fulfilment_rejected", "on_fulfilment_shipped", "open_exceptions", "poll_jst_outbound",
           "exceptions_to_show", "reroute_by_hand", "store_rejected", "stuck_orders"]
