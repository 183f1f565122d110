"""S1 step 2: route the outbound to a store (routing.py decides, once per route number) and
create the store's fulfilment order (P1, Idempotency-Key from io_id, store and route number);
the fulfilment is linked to the outbound's route. Two steps, so that a retry repeats as few
calls as possible."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ...errors import PermanentError
from ...ports import DocumentLink
from .. import kit, ledger_facts, members, pickup, pickup_clock, reservations, routing
from ..kit import attempt, effect_once, flow_command
from .cancels import cancel_at_store
from .exceptions import park, resolve_exception
from .order import ORDER_KIND, ORDER_TTL_DAYS, Order, change_order, load_order, routing_done

if TYPE_CHECKING:
    from ...ports.state import Record
    from ..kit import FlowContext

# Links are one to one and an outbound may go to several stores in turn, so a fulfilment
# order is linked to "<io_id>#<route number>".
OUTBOUND_ROUTE, FULFILMENT = "jst_outbound_route", "pos_fulfilment"


def fulfilment_order(ctx: "FlowContext", data: dict[str, Any], store_code: str):
    """The store's P1 fulfilment order for the outbound; one the contract refuses is permanent."""
    from ...connectors.store import models as pos

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


def to_route(data: dict[str, Any]) -> routing.OrderToRoute:
    """The order as routing.py weighs it."""
    return routing.OrderToRoute(
        io_id=data["io_id"], delivery=data["delivery"], province=data["receiver"]["province"],
        city=data["receiver"]["city"],
        lines=tuple(routing.Line(i["sku_id"], i["qty"]) for i in data["items"]),
        pickup_store=data.get("pickup_store_code"))


def hold_routed(ctx: "FlowContext", decision: routing.Decision, io_id: str, day: str, items: list[Any]) -> bool:
    """Take what the store ``decision`` routed to gives the order: a slot of its day's capacity and
    the order's lines (reservations.py). False (nothing taken) when a concurrent order took either
    since the decision's reads."""
    store = next(s for s in ctx.tenant.stores if s.code == decision.store_code)
    if not decision.fallback:
        return reservations.hold(ctx, store, io_id, day, items, decision.stock.get(decision.store_code))
    # The fallback store has a capacity too; stock is not why it was chosen: its lines are held unchecked.
    return reservations.take(ctx, store.code, io_id, day=day, capacity=store.daily_capacity, lines=items)


def still_holds_at(ctx: "FlowContext", io_id: str, store_code: str) -> bool:
    """Whether the order still holds its lines at the store, by its own record: dispatched there, or
    being routed there (the route's decision, on the order or in its effect record). Shipped,
    picked up, cancelled, parked, rejected or routed elsewhere: not. (reservations.upgrade)"""
    order = load_order(ctx, io_id)
    if order is None:
        return False
    if order.status == "dispatched":
        return order.data.get("store_code") == store_code
    if order.status != "routing":
        return False
    decided = order.routed(order.route_no)
    if decided is None:  # a decision not done yet is made again by its dispatch, which holds again
        effect = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, f"s1.route:{io_id}:{order.route_no}")
        decided = (effect.data.get("result") or {}) if effect and effect.data.get("state") == "done" else {}
    return decided.get("store_code") == store_code


def upgrade_reservations(ctx: "FlowContext", *, dry_run: bool = False) -> dict[str, int]:
    """`o2o maintenance reservations`: holds and out-of-stock marks stored one per SKU (before one
    record per store, and per store and day) moved to the new records; only holds whose order
    still holds there (``still_holds_at``) move. Safe to run twice and while the bridge runs."""
    moved = reservations.upgrade(ctx, lambda io_id, store_code: still_holds_at(ctx, io_id, store_code),
                                 dry_run=dry_run)
    return {**moved, **routing.upgrade_marks(ctx, dry_run=dry_run)}


def routed(ctx: "FlowContext", decision: routing.Decision, io_id: str, route_no: int, day: str, *,
           step: bool = True) -> dict[str, Any]:
    """The route's result as its effect keeps it (``s1.route:<io_id>:<route_no>``), and its step
    (``step``; else the caller records it with ``routed_step`` once the result is kept)."""
    if step:
        routed_step(ctx, decision, io_id, route_no)
    return {"store_code": decision.store_code, "why": decision.why, "dropped": decision.dropped, "day": day,
            "at": ctx.now().isoformat()}


def routed_step(ctx: "FlowContext", decision: routing.Decision, io_id: str, route_no: int) -> None:
    ctx.timeline.record(io_id, ctx.ent_id, "s1.routed", {"route_no": route_no, **decision.detail()},
                        level="info" if decision.store_code else "warning")


@flow_command("s1.dispatch")
def dispatch(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any] | None:
    """Route the outbound (once per route number) and go on to create the store's order."""
    io_id, route_no = str(payload["io_id"]), int(payload["route_no"])
    order = load_order(ctx, io_id)
    if order is None or not order.still_routing(route_no):
        return None  # done, cancelled or routed again since this step was queued
    data = order.data

    def decide() -> dict[str, Any]:
        rejected = [r["store_code"] for r in data.get("rejections", [])]
        forced = data.get("forced_store")
        if forced:
            decision = routing.Decision(forced, "chosen by hand (o2o exceptions reroute)", [forced])
        else:
            decision = routing.route_outbound(ctx, to_route(data), rejected_by=rejected)
        day = routing.shanghai_day(ctx)
        # Filled up by a concurrent dispatch since the decision: route without it.
        while decision.store_code is not None and not forced and \
                not hold_routed(ctx, decision, io_id, day, data["items"]):
            rejected = [*rejected, decision.store_code]
            decision = routing.route_outbound(ctx, to_route(data), rejected_by=rejected)
        if decision.store_code is not None and forced:
            reservations.reserve(ctx, decision.store_code, io_id, data["items"], on_hand=None)
        return routed(ctx, decision, io_id, route_no, day)

    # A rejection routed again keeps its decision on the order, written with the holds it took
    # (rerouting.py): no effect record of the route then.
    decision = order.routed(route_no) or effect_once(ctx, f"s1.route:{io_id}:{route_no}", decide).result
    if decision["store_code"] is None:
        kind = "no_store"
        if data.get("pickup_store_code"):
            kind = pickup.PICKUP_REJECTED if data.get("rejections") else "no_pickup_store"
        park(ctx, io_id, kind, decision["why"], dropped=decision["dropped"],
             **({"pickup_store_code": data["pickup_store_code"]} if data.get("pickup_store_code") else {}))
        change_order(ctx, io_id, Order.park, route_no)
        return decision
    return attempt(ctx, create_at_store, {"io_id": io_id, "route_no": route_no, "store_code": decision["store_code"],
                                          "day": decision["day"], "at": decision.get("at")}, trace_key=io_id)


@flow_command("s1.create_at_store")
def create_at_store(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any] | None:
    """P1 at the routed store (Idempotency-Key from io_id, store and route number); link; mark dispatched."""
    return _create_at_store(ctx, payload, taken=None)


def create_at_store_under(claim: "Record | None") -> "kit.FlowStep":
    """``create_at_store`` under the claim of its effect a reroute wrote with the route
    (``kit.claim_effect_with``): nothing claimed again. Attempted under create_at_store's own
    command: a retry claims as usual (the effect failed: this claim was given back; the step failed
    before it: the claim waits out its lease, as one never handed on)."""

    @flow_command(create_at_store.command_name)  # type: ignore[attr-defined]
    def step(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any] | None:
        return _create_at_store(ctx, payload, taken=claim)

    return step


def _create_at_store(ctx: "FlowContext", payload: dict[str, Any], *, taken: "Record | None") -> dict[str, Any] | None:
    io_id, route_no, store_code = str(payload["io_id"]), int(payload["route_no"]), payload["store_code"]
    order = load_order(ctx, io_id)
    if order is None or (order.status != "cancelled" and not order.still_routing(route_no)):
        kit.give_back_effect_claim(ctx, f"s1.dispatch:{io_id}:{route_no}", taken)  # taken with a reroute: not needed
        return None

    def create() -> dict[str, Any]:
        created = ctx.store.create_fulfilment_order(fulfilment_order(ctx, order.data, store_code),
                                                    business_key=f"{io_id}:{store_code}:{route_no}")
        # The buyer joins their person's profile once the store has the order, before its "done" (a
        # crash reruns both; the join is kept once). An order a store rejected was noted by the
        # dispatch that store got: routed again, it is not noted (nor its P14 checked) again.
        if not order.data.get("rejections"):
            members.note_online_buyer(ctx, order.data)
        return {"store_code": store_code, "fulfilment_id": created.fulfilment_id, "day": payload.get("day")}

    if order.status == "cancelled" and not kit.effect_done(ctx, f"s1.dispatch:{io_id}:{route_no}"):
        reservations.let_go(ctx, store_code, io_id, payload.get("day"))
        kit.give_back_effect_claim(ctx, f"s1.dispatch:{io_id}:{route_no}", taken)
        return None  # JST cancelled it before the store heard of it
    closed: dict[str, Any] = {}

    def closing(result: dict[str, Any]) -> tuple[str, str, dict[str, Any], int | None, int | None] | None:
        # The order's "dispatched" ends the effect's joined "done" (effect_once(closing=...)).
        current = load_order(ctx, io_id)
        if current is None:
            return None
        moved = Order(current.version, dict(current.data))
        moved.dispatch_to(route_no, store_code, result["fulfilment_id"], result.get("day"))
        if moved.data == current.data:
            return None
        closed.update(before=current.data, after=moved.data)
        return ORDER_KIND, io_id, moved.data, current.version, ORDER_TTL_DAYS

    def book(result: dict[str, Any]) -> None:
        # Written with the effect's "done" (effect_once(book=...)), by its owner only: the ledger's
        # fact, the link by which the store's events find the outbound, the step that says the store
        # has it (with the steps this event held so far) and, the order changing with them, its
        # routing marker gone, its pickup clock started and its exception resolved. The order's
        # change comes last (``closing``): a crash before it reruns the step, which finds the effect
        # done (a repeat books its fact and link again, both kept once) and changes the order.
        ledger_facts.dispatched(ctx, order.data, store_code=store_code, fulfilment_id=result["fulfilment_id"],
                                route_no=route_no, at=payload.get("at"))
        ctx.links.link(DocumentLink(ctx.ent_id, FULFILMENT, result["fulfilment_id"], OUTBOUND_ROUTE,
                                    f"{io_id}#{route_no}", {"store_code": store_code}))
        ctx.timeline.record(io_id, ctx.ent_id, "s1.dispatched",
                            {"store": store_code, "fulfilment_id": result["fulfilment_id"], "route_no": route_no},
                            aliases=(result["fulfilment_id"],))
        if closed:
            routing_done(ctx, io_id, route_no)
            pickup_clock.note_dispatched(ctx, order.data, store_code=store_code,
                                         fulfilment_id=result["fulfilment_id"], at=payload.get("at"))
            resolve_exception(ctx, io_id)

    try:
        outcome = effect_once(ctx, f"s1.dispatch:{io_id}:{route_no}", create, book=book, closing=closing, taken=taken)
    except PermanentError as exc:
        reservations.let_go(ctx, store_code, io_id, payload.get("day"))
        park(ctx, io_id, "dispatch_refused", f"store {store_code}: {exc}")
        change_order(ctx, io_id, Order.park, route_no)
        return None
    result = outcome.result
    fulfilment_id = result["fulfilment_id"]
    if outcome.repeated:  # booked by the run that did it (or, before the booking joined its "done", maybe not)
        ledger_facts.dispatched(ctx, order.data, store_code=store_code, fulfilment_id=fulfilment_id,
                                route_no=route_no, at=payload.get("at"))
        ctx.links.link(DocumentLink(ctx.ent_id, FULFILMENT, fulfilment_id, OUTBOUND_ROUTE, f"{io_id}#{route_no}",
                                    {"store_code": store_code}))
    now = load_order(ctx, io_id) if closed and not outcome.repeated else None
    if now is not None and now.data == closed["after"]:  # changed with the "done": nothing left of it
        ctx.metric("FulfilmentDispatched", 1)
        return result
    pickup_clock.note_dispatched(ctx, order.data, store_code=store_code, fulfilment_id=fulfilment_id,
                                 at=payload.get("at"))
    before, after = change_order(ctx, io_id, Order.dispatch_to, route_no, store_code, fulfilment_id, result.get("day"))
    if after is not before and after is not None and after.get("fulfilment_id") == fulfilment_id:
        ctx.metric("FulfilmentDispatched", 1)
        resolve_exception(ctx, io_id)
    elif before is not None and before["status"] == "cancelled" and not before.get("fulfilment_id"):
        # JST cancelled the outbound while this step created the store's order: undo it.
        change_order(ctx, io_id, Order.note_created_while_cancelled, store_code, fulfilment_id, result.get("day"))
        attempt(ctx, cancel_at_store, {"io_id": io_id, "fulfilment_id": fulfilment_id}, trace_key=io_id)
    return result
