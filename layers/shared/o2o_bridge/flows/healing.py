"""Online orders that heal on their own, pickups nobody collects, and routing asked "what if".

- ``heal_parked`` (an order-centre round): an order parked because no store could take it is
  routed again by the schedule once a store can (stock arrived, capacity freed, a hold went),
  at most ``order_centre.heal_max_attempts`` times; after that it waits for a person
  (`o2o exceptions reroute`). An attempt is spent only when routing now finds a store, so
  an order waiting for stock does not use up its attempts while nothing changed.
- ``expire_pickups`` (an order-centre round): a pickup order the customer has not collected
  ``order_centre.pickup_expiry_days`` after it reached the store becomes an exception in the
  operators' queue (`o2o exceptions list`, kind ``pickup_expired``) and a ``pickup.expired``
  fact (the pickup-summary report counts it). The store keeps the goods held until a person
  decides (the customer may still come).
- ``simulate``: what routing would decide now for an outbound, store by store, with nothing
  dispatched, reserved or counted (`o2o route simulate IO_ID`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PermanentError, TransientError, UnprocessableRequest
from . import kit, ledger_facts, reservations, routing
from .pickup_clock import PICKUP_WAITING_KIND
from . import store_fulfilment as s1

if TYPE_CHECKING:
    from .kit import FlowContext

HEAL_KIND = "s1.heal"              # key io_id: {attempts, last_at, last_outcome}
HEALABLE = ("no_store", "dispatch_refused")
TTL_DAYS = 60


# --- parked orders that heal --------------------------------------------------------------------

def heal_parked(ctx: "FlowContext") -> dict[str, int]:
    """One round over the open exceptions that may heal. An order that fails (its record cannot
    be read, the store refuses the stock read) is set aside (``kit.each_record``: parked with the
    reason, or queued when the failure is transient) and the orders after it are healed."""
    candidates = [e for e in s1.open_exceptions(ctx) if e.get("kind") in HEALABLE]
    counts = kit.each_record(ctx, candidates,
                             lambda exception: _next_round_if_busy(lambda: _heal(ctx, str(exception.get("io_id")))),
                             step=heal_order, payload_of=lambda exception: {"io_id": str(exception.get("io_id"))},
                             trace_key_of=lambda exception: str(exception.get("io_id")))
    outcomes = ("rerouted", "still_no_store", "gave_up")
    summary = {"parked": sum(counts[o] for o in outcomes), **{o: counts[o] for o in outcomes}}
    set_aside = counts["parked"] + counts["parked_before"] + counts["queued"]
    if set_aside:
        summary["set_aside"] = set_aside
    if counts["next_round"]:
        summary["next_round"] = counts["next_round"]
    ctx.metric("FulfilmentsHealed", summary["rerouted"])
    return summary


def _next_round_if_busy(heal: Callable[[], str]) -> str:
    """A round comes back to every parked order every 15 minutes: an order whose healing failed
    for now (the store busy, a rate limit) waits for the next round rather than queueing a retry
    each round while the store is down."""
    try:
        return heal()
    except TransientError:
        return "next_round"


@kit.flow_command("healing.heal_order")
def heal_order(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """One parked order healed again (`o2o dlq replay` of an order the round set aside)."""
    return {"io_id": payload["io_id"], "outcome": _heal(ctx, str(payload["io_id"]))}


def _heal(ctx: "FlowContext", io_id: str) -> str:
    limit = ctx.tenant.order_centre.heal_max_attempts
    order = s1.load_order(ctx, io_id)
    if order is None or order.status != "exception":
        return "not_parked"
    healing = ctx.records.get(ctx.ent_id, HEAL_KIND, io_id)
    attempts = int(healing.data.get("attempts", 0)) if healing else 0
    if attempts >= limit:
        return "gave_up"
    try:
        route = s1.to_route(order.data)
        rejected = [r["store_code"] for r in order.data.get("rejections", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"the order record of {io_id} cannot be read: {type(exc).__name__}: {exc}") from None
    decision = routing.route_outbound(ctx, route, rejected_by=rejected)
    if decision.store_code is None:
        return "still_no_store"
    if ctx.records.put(ctx.ent_id, HEAL_KIND, io_id,
                       {"attempts": attempts + 1, "last_at": ctx.now().isoformat(), "store": decision.store_code},
                       expected_version=healing.version if healing else None, ttl_days=TTL_DAYS) is None:
        return "taken_by_another_round"
    ctx.timeline.record(io_id, ctx.ent_id, "s1.healing", {"attempt": attempts + 1, "of": limit,
                                                           "store": decision.store_code, "why": decision.why})
    s1.reroute_by_hand(ctx, io_id)
    return "rerouted"


# --- pickups nobody collects ---------------------------------------------------------------------

def expire_pickups(ctx: "FlowContext") -> dict[str, int]:
    """One round over the waiting pickups; a marker (or its order) that cannot be read is set
    aside and the others are expired."""
    counts = kit.each_record(ctx, ctx.records.list(ctx.ent_id, PICKUP_WAITING_KIND),
                             lambda marker: _expire(ctx, marker), step=expire_pickup,
                             payload_of=lambda marker: {"io_id": marker.key}, trace_key_of=lambda marker: marker.key)
    summary = {"waiting": counts["waiting"] + counts["expired"], "expired": counts["expired"]}
    set_aside = counts["parked"] + counts["parked_before"] + counts["queued"]
    if set_aside:
        summary["set_aside"] = set_aside
    ctx.metric("PickupsExpired", summary["expired"])
    return summary


@kit.flow_command("healing.expire_pickup")
def expire_pickup(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """One waiting pickup checked again (`o2o dlq replay` of a pickup the round set aside)."""
    marker = ctx.records.get(ctx.ent_id, PICKUP_WAITING_KIND, payload["io_id"])
    return {"io_id": payload["io_id"], "outcome": _expire(ctx, marker) if marker is not None else "gone"}


def _expire(ctx: "FlowContext", marker: Any) -> str:
    days = ctx.tenant.order_centre.pickup_expiry_days
    order = s1.load_order(ctx, marker.key)
    if order is None or order.status != "dispatched" or \
            order.data.get("fulfilment_id") != marker.data.get("fulfilment_id"):
        ctx.records.delete(ctx.ent_id, PICKUP_WAITING_KIND, marker.key)  # picked up, rejected, cancelled
        return "gone"
    try:
        since = datetime.fromisoformat(marker.data["since"])
        overdue = since <= ctx.now() - timedelta(days=days)
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"the pickup clock of {marker.key} cannot be read: {type(exc).__name__}: {exc}") from None
    if not overdue:
        return "waiting"
    expired_at = since + timedelta(days=days)
    ledger_facts.pickup_expired(ctx, order.data, at=expired_at)
    s1.park(ctx, marker.key, "pickup_expired",
             f"not picked up at store {order.data.get('store_code')} within {days} day(s) of "
             f"{since.date().isoformat()}: call the customer, then cancel or keep waiting",
             store_code=order.data.get("store_code"), fulfilment_id=order.data.get("fulfilment_id"))
    ctx.records.delete(ctx.ent_id, PICKUP_WAITING_KIND, marker.key)
    return "expired"


# --- what routing would decide now ------------------------------------------------------------------

def simulate(ctx: "FlowContext", io_id: str) -> dict[str, Any]:
    """Routing's decision for ``io_id`` now, and each store's part in it. Reads only."""
    order = s1.load_order(ctx, io_id)
    if order is not None:
        data, known = order.data, True
    else:
        found = ctx.erp.find_online_outbound(io_id)
        if found is None:
            raise UnprocessableRequest(f"outbound {io_id} is neither known to the bridge nor found in the ERP")
        data, known = s1.order_from_outbound(ctx, found), False
    rejected = [r["store_code"] for r in data.get("rejections", [])]
    decision = routing.route_outbound(ctx, s1.to_route(data), rejected_by=rejected)
    needed: dict[str, int] = {}
    for item in data.get("items", []):
        needed[item["sku_id"]] = needed.get(item["sku_id"], 0) + int(item["qty"])
    stores = []
    for store in ctx.tenant.stores:
        stock = decision.stock.get(store.code)
        row: dict[str, Any] = {"store": store.code, "name": store.name}
        if store.code == decision.store_code:
            row["verdict"] = "chosen"
            row["why"] = decision.why
        elif store.code in decision.ranked:
            row["verdict"] = f"eligible (#{decision.ranked.index(store.code) + 1})"
        else:
            row["verdict"] = "dropped"
            row["why"] = decision.dropped.get(store.code, "")
        if stock is not None:
            row["stock"] = {sku: {"on_hand": stock.get(sku, 0),
                                  "held_by_others": reservations.held(ctx, store.code, sku, excluding=io_id),
                                  "needed": qty} for sku, qty in needed.items()}
        stores.append(row)
    return {"io_id": io_id, "known_to_bridge": known, "status": data.get("status") if known else "not yet seen",
            "delivery": data.get("delivery"), "region": f"{data['receiver']['province']} {data['receiver']['city']}",
            "items": needed, "decision": decision.store_code, "why": decision.why, "fallback": decision.fallback,
            "stores": stores}
