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
from typing import TYPE_CHECKING, Any

from ..errors import UnprocessableRequest
from . import ledger_facts, reservations, routing
from .pickup_clock import PICKUP_WAITING_KIND
from . import store_fulfilment as s1

if TYPE_CHECKING:
    from .kit import FlowContext

HEAL_KIND = "s1.heal"              # key io_id: {attempts, last_at, last_outcome}
HEALABLE = ("no_store", "dispatch_refused")
TTL_DAYS = 60


# --- parked orders that heal --------------------------------------------------------------------

def heal_parked(ctx: "FlowContext") -> dict[str, int]:
    summary = {"parked": 0, "rerouted": 0, "still_no_store": 0, "gave_up": 0}
    limit = ctx.tenant.order_centre.heal_max_attempts
    for exception in s1.open_exceptions(ctx):
        if exception.get("kind") not in HEALABLE:
            continue
        io_id = str(exception["io_id"])
        order = s1.load_order(ctx, io_id)
        if order is None or order.status != "exception":
            continue
        summary["parked"] += 1
        healing = ctx.records.get(ctx.ent_id, HEAL_KIND, io_id)
        attempts = int(healing.data.get("attempts", 0)) if healing else 0
        if attempts >= limit:
            summary["gave_up"] += 1
            continue
        decision = routing.route_outbound(ctx, s1.to_route(order.data),
                                          rejected_by=[r["store_code"] for r in order.data.get("rejections", [])])
        if decision.store_code is None:
            summary["still_no_store"] += 1
            continue
        if ctx.records.put(ctx.ent_id, HEAL_KIND, io_id,
                           {"attempts": attempts + 1, "last_at": ctx.now().isoformat(), "store": decision.store_code},
                           expected_version=healing.version if healing else None, ttl_days=TTL_DAYS) is None:
            continue  # another round took this attempt
        ctx.timeline.record(io_id, ctx.ent_id, "s1.healing", {"attempt": attempts + 1, "of": limit,
                                                               "store": decision.store_code, "why": decision.why})
        s1.reroute_by_hand(ctx, io_id)
        summary["rerouted"] += 1
    ctx.metric("FulfilmentsHealed", summary["rerouted"])
    return summary


# --- pickups nobody collects ---------------------------------------------------------------------

def expire_pickups(ctx: "FlowContext") -> dict[str, int]:
    days = ctx.tenant.order_centre.pickup_expiry_days
    oldest = ctx.now() - timedelta(days=days)
    summary = {"waiting": 0, "expired": 0}
    for marker in ctx.records.list(ctx.ent_id, PICKUP_WAITING_KIND):
        order = s1.load_order(ctx, marker.key)
        if order is None or order.status != "dispatched" or \
                order.data.get("fulfilment_id") != marker.data.get("fulfilment_id"):
            ctx.records.delete(ctx.ent_id, PICKUP_WAITING_KIND, marker.key)  # picked up, rejected, cancelled
            continue
        summary["waiting"] += 1
        if datetime.fromisoformat(marker.data["since"]) > oldest:
            continue
        expired_at = datetime.fromisoformat(marker.data["since"]) + timedelta(days=days)
        ledger_facts.pickup_expired(ctx, order.data, at=expired_at)
        s1.park(ctx, marker.key, "pickup_expired",
                 f"not picked up at store {order.data.get('store_code')} within {days} day(s) of "
                 f"{marker.data['since'][:10]}: call the customer, then cancel or keep waiting",
                 store_code=order.data.get("store_code"), fulfilment_id=order.data.get("fulfilment_id"))
        ctx.records.delete(ctx.ent_id, PICKUP_WAITING_KIND, marker.key)
        summary["expired"] += 1
    ctx.metric("PickupsExpired", summary["expired"])
    return summary


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
