"""Which store fulfils an online order (S1): ``route_outbound``.

Candidates are the tenant's stores that can serve the order's delivery (ship, or pickup
when the order asks for it). Each filter drops stores with a reason a person can read:
the receiver's region, stores that already rejected the order, the day's capacity, SKUs
a store said it is out of, and the store's stock of every line (P7). The survivors are
ranked by the tenant's ``routing.order_by`` (priority, then stock left). When none is
left the tenant's fallback store (指定下单店仓) takes it, unless it rejected the order too.

Daily capacity is counted per store per Asia/Shanghai day with conditional writes, so
concurrent Lambdas never give a store more than its capacity: on the store's record of what
orders hold there (reservations.py), so a dispatch takes its slot and its lines in one write.
What a store said it is out of is one record per store and day: every record routing reads is
named by the store and the day, not by the order's SKUs, so a flow can read them in the same
batch as the order (``records_read``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import TransientError
from . import pickup
from ..shanghai_time import shanghai_day as business_day

if TYPE_CHECKING:
    from ..tenant import Store
    from .kit import FlowContext

# The SKUs a store said it is out of, one record per store and day (key <store>:<day>, data
# {"skus": {sku_id: io_id}}): named without the order's SKUs, so read with the order (rerouting.py).
UNAVAILABLE_KIND = "s1.out_of_stock"
OLD_UNAVAILABLE_KIND = "s1.unavailable"  # the layout before, key <store>:<sku_id>: o2o maintenance reservations


@dataclass(frozen=True)
class Line:
    sku_id: str
    qty: int


@dataclass(frozen=True)
class OrderToRoute:
    io_id: str
    delivery: str  # "express" or "pickup"
    province: str
    city: str
    lines: tuple[Line, ...]
    pickup_store: str | None = None  # the store the customer chose for 门店自提 (flows/pickup.py)


@dataclass
class Decision:
    store_code: str | None
    why: str
    ranked: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    fallback: bool = False
    # The P7 stock read per store (before reservations), for the reservation the dispatch takes.
    stock: dict[str, dict[str, int]] = field(default_factory=dict)

    def detail(self) -> dict[str, Any]:
        return {"store": self.store_code, "why": self.why, "ranked": self.ranked, "dropped": self.dropped,
                "fallback": self.fallback}


def shanghai_day(ctx: "FlowContext") -> str:
    return business_day(ctx.now())


def _place(name: str | None) -> str:
    # 上海市 / 上海, 江苏省 / 江苏 name the same place in tenant files and JST addresses.
    text = (name or "").strip()
    for suffix in ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"):
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def covers_region(store: "Store", province: str, city: str) -> bool:
    if not store.regions:
        return True  # a store without regions serves everywhere
    places = {_place(province), _place(city)} - {""}
    return any(_place(region) in places for region in store.regions)


# --- capacity ---------------------------------------------------------------------------
# The outbounds counted against a store's capacity of the day are kept on the store's record of
# what orders hold there (reservations.py: ``slots``), so a dispatch takes its slot and its lines
# in one write. Before, they were a record per store and day (OLD_CAPACITY_KIND, key <store>:<day>).
OLD_CAPACITY_KIND = "s1.capacity"
ONE_BATCH = 100  # keys a BatchGetItem reads


def capacity_used(ctx: "FlowContext", store_code: str, day: str) -> list[str]:
    from . import reservations

    return reservations.slots_of(ctx, store_code, day)


# --- SKUs a store said it is out of -------------------------------------------------------

def mark_unavailable(ctx: "FlowContext", store_code: str, sku_ids: Iterable[str], io_id: str) -> None:
    """A store rejected ``io_id`` as out of stock: skip it for these SKUs for the rest of the day
    (its P7 stock may lag behind what is on the shelf). One record per store and day."""
    key = f"{store_code}:{shanghai_day(ctx)}"
    for _ in range(20):
        current = ctx.records.get(ctx.ent_id, UNAVAILABLE_KIND, key)
        marked = dict(current.data.get("skus", {})) if current else {}
        if all(sku in marked for sku in sku_ids):
            return
        marked.update({sku: io_id for sku in sku_ids if sku not in marked})
        if ctx.records.put(ctx.ent_id, UNAVAILABLE_KIND, key, {"skus": marked},
                           expected_version=current.version if current else None, ttl_days=2):
            return
    raise TransientError(f"the SKUs store {store_code} is out of are contended; try again")


def unavailable_skus(ctx: "FlowContext", store_code: str, sku_ids: Iterable[str]) -> list[str]:
    record = ctx.records.get(ctx.ent_id, UNAVAILABLE_KIND, f"{store_code}:{shanghai_day(ctx)}")
    marked = record.data.get("skus", {}) if record else {}
    return [sku_id for sku_id in sku_ids if sku_id in marked]


def upgrade_marks(ctx: "FlowContext", *, dry_run: bool = False) -> dict[str, int]:
    """Today's out-of-stock marks and capacity slots of the layout before (``OLD_UNAVAILABLE_KIND``,
    key ``<store>:<sku>``; ``OLD_CAPACITY_KIND``, key ``<store>:<day>``) moved into their store's
    records, the old ones deleted (an older day's decides nothing any more: deleted too). Safe to
    run twice."""
    from . import reservations

    today = shanghai_day(ctx)
    summary = {"old_marks": 0, "marks_moved": 0, "old_slots": 0, "slots_moved": 0}
    for record in ctx.records.list(ctx.ent_id, OLD_UNAVAILABLE_KIND):
        store_code, _, sku_id = record.key.partition(":")
        summary["old_marks"] += 1
        if record.data.get("day") == today and sku_id:
            summary["marks_moved"] += 1
            if not dry_run:
                mark_unavailable(ctx, store_code, [sku_id], str(record.data.get("io_id", "")))
        if not dry_run:
            ctx.records.delete(ctx.ent_id, OLD_UNAVAILABLE_KIND, record.key, expected_version=record.version)
    for record in ctx.records.list(ctx.ent_id, OLD_CAPACITY_KIND):
        store_code, _, day = record.key.rpartition(":")
        summary["old_slots"] += 1
        if day >= today:
            for io_id in record.data.get("io_ids", []):
                summary["slots_moved"] += 1
                if not dry_run:  # counted as it was: no capacity check
                    reservations.take(ctx, store_code, str(io_id), day=day, capacity=math.inf)
        if not dry_run:
            ctx.records.delete(ctx.ent_id, OLD_CAPACITY_KIND, record.key, expected_version=record.version)
    return summary


# --- the decision -------------------------------------------------------------------------

def _filtered_out(store: "Store", order: OrderToRoute, rejected: set[str], tenant: Any) -> str | None:
    """Why ``store`` may not take ``order`` before any record or its stock is read (None: it may)."""
    if order.delivery == "pickup" and not store.pickup:
        return "does not serve store pickup"
    if order.pickup_store and not pickup.same_city(tenant, order.pickup_store, store):
        return f"not in {pickup.city_of(tenant, order.pickup_store)}, the chosen store's city"
    if order.delivery == "express" and not store.ship:
        return "does not ship orders"
    if not order.pickup_store and not covers_region(store, order.province, order.city):
        # (a chosen pickup store replaces the delivery region: the customer comes to the store)
        return f"region {'/'.join(store.regions)} does not cover {order.province} {order.city}"
    if store.code in rejected:
        return "rejected this order before"
    return None


def store_records(ctx: "FlowContext", store: "Store", day: str, io_id: str | None = None) -> list[tuple[str, str]]:
    """What routing reads of one store, as (kind, key), named by the store, day and order alone: the
    SKUs it said it is out of that day, its record of what orders hold there and its day's capacity,
    and (given ``io_id``) what that order holds there itself: the hold there reads it, and a
    dispatch run again after a crash finds its own hold, which is not another order's."""
    from . import reservations

    keys = [(UNAVAILABLE_KIND, f"{store.code}:{day}")]
    if ctx.tenant.order_centre.reserve_stock:
        keys += reservations.records_of(ctx, [store.code], io_id)
    elif store.daily_capacity is not None:
        keys.append((reservations.RESERVATION_KIND, store.code))
    return keys


def records_read(ctx: "FlowContext", order: OrderToRoute | None, *,
                 rejected_by: Iterable[str] = (), io_id: str | None = None) -> list[tuple[str, str]]:
    """The records ``route_outbound`` and the hold at the store it picks read, as (kind, key): the
    day's capacity, the SKUs marked unavailable and what orders hold, of every store that passes
    the filters read from the tenant alone (and the fallback store's). A flow reads them in one
    batch (``records.prefetch``) before it routes. ``order`` None: every store's (the keys name no
    SKU, so a flow that has not read its order yet reads them with it, naming its ``io_id``)."""
    tenant, rejected, day = ctx.tenant, set(rejected_by), shanghai_day(ctx)
    io_id = order.io_id if order is not None else io_id
    wanted: list[tuple[str, str]] = []
    for store in tenant.stores:
        if order is not None and _filtered_out(store, order, rejected, tenant) is not None:
            continue
        wanted.extend(store_records(ctx, store, day, io_id))
    fallback = next((s for s in tenant.stores if s.code == tenant.routing.fallback_store), None)
    if fallback is not None and fallback.code not in rejected:  # it takes what no store passed
        wanted.extend(store_records(ctx, fallback, day, io_id))
    return list(dict.fromkeys(wanted))


def route_outbound(ctx: "FlowContext", order: OrderToRoute, *, rejected_by: Iterable[str] = ()) -> Decision:
    """The store that should fulfil ``order`` (or None), with the reason each other store was dropped.

    Reads stock (P7) of the stores that passed every other filter; a transient failure there
    propagates so the caller's step is retried as a whole."""
    tenant = ctx.tenant
    options = tenant.routing
    rejected = set(rejected_by)
    day = shanghai_day(ctx)
    # One batch for what the stores' filters and the hold read (nothing when a flow read it already).
    ctx.records.prefetch(ctx.ent_id, records_read(ctx, order, rejected_by=rejected)[:ONE_BATCH])
    dropped: dict[str, str] = {}
    survivors: list["Store"] = []
    for store in tenant.stores:
        if (why := _filtered_out(store, order, rejected, tenant)) is not None:
            dropped[store.code] = why
        elif store.daily_capacity is not None and \
                len(used := capacity_used(ctx, store.code, day)) >= store.daily_capacity \
                and order.io_id not in used:
            dropped[store.code] = f"daily capacity {store.daily_capacity} reached for {day}"
        elif marked := unavailable_skus(ctx, store.code, [line.sku_id for line in order.lines]):
            dropped[store.code] = f"said it is out of {', '.join(marked)} today"
        else:
            survivors.append(store)

    from . import reservations

    balance: dict[str, int] = {}
    seen: dict[str, dict[str, int]] = {}
    if options.check_stock:
        needed: dict[str, int] = {}
        for line in order.lines:
            needed[line.sku_id] = needed.get(line.sku_id, 0) + line.qty
        kept = []
        for store in survivors:
            stock = ctx.store.store_stock(store.code, list(needed))
            seen[store.code] = {item.sku_id: item.qty for item in stock.items}
            # What other dispatched orders hold there is not for this one (reservations.py).
            on_hand = reservations.available(ctx, store.code, seen[store.code], excluding=order.io_id)
            safety = store.safety_stock if store.safety_stock is not None else tenant.stock.safety_stock
            short = [f"{sku} has {on_hand.get(sku, 0) - safety}, needs {qty}" for sku, qty in needed.items()
                     if on_hand.get(sku, 0) - safety < qty]
            if short:
                dropped[store.code] = "stock: " + "; ".join(short)
                continue
            balance[store.code] = min((on_hand.get(sku, 0) - safety - qty for sku, qty in needed.items()), default=0)
            kept.append(store)
        survivors = kept

    def rank(store: "Store") -> tuple:
        keys = {"priority": store.priority, "stock": -balance.get(store.code, 0)}
        return (*(keys[name] for name in options.order_by), store.code)

    ranked = [store.code for store in sorted(survivors, key=rank)]
    if order.pickup_store in ranked:  # the customer's choice first, the same city's others after it
        ranked = [order.pickup_store, *(code for code in ranked if code != order.pickup_store)]
    if ranked:
        return Decision(ranked[0], f"first of {len(ranked)} eligible store(s) by {', '.join(options.order_by)}",
                        ranked, dropped, stock=seen)
    fallback = options.fallback_store if options.fallback_store in {s.code for s in tenant.stores} else None
    unfit = _fallback_unfit(ctx, order, fallback, day) if fallback else None
    if unfit:
        return Decision(None, f"no store is left; the fallback store {fallback} {unfit}", [], dropped)
    if fallback and fallback not in rejected:
        return Decision(fallback, "no store passed the filters: the fallback store (指定下单店仓) takes it",
                        [], dropped, fallback=True, stock=seen)
    why = "no store is left" + (f" (the fallback store {fallback} rejected it too)" if fallback else
                                " and no fallback store is configured")
    return Decision(None, why, [], dropped, stock=seen)



def _fallback_unfit(ctx: "FlowContext", order: OrderToRoute, code: str, day: str) -> str | None:
    """Why the fallback store may not take ``order`` (None: it may): it must serve the delivery,
    stay in the chosen store's city for a pickup, and have capacity left like any other store."""
    store = next(s for s in ctx.tenant.stores if s.code == code)
    if order.delivery == "pickup" and not store.pickup:
        return "does not serve store pickup"
    if order.delivery == "express" and not store.ship:
        return "does not ship orders"
    if order.pickup_store and not pickup.same_city(ctx.tenant, order.pickup_store, store):
        return f"is not in {pickup.city_of(ctx.tenant, order.pickup_store)}, the chosen store's city"
    if store.daily_capacity is not None:
        used = capacity_used(ctx, store.code, day)
        if len(used) >= store.daily_capacity and order.io_id not in used:
            return f"reached its daily capacity {store.daily_capacity} for {day}"
    return None
