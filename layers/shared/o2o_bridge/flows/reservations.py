"""Store reservations (预订单占用可用量): an online order dispatched to a store holds its lines
there until the store ships it, the customer picks it up, or it is cancelled or rejected.

A store's stock as routing sees it, and as the bridge reports it to the ERP's 店加线下仓
(S4 events and the nightly run), is its stock minus what its dispatched orders hold, so two
orders can never both take a store's last unit: the second one's reservation is refused by a
conditional write and routing moves on to the next store.

One record per store (``reservation``, key ``<store>``) maps each holding order's io_id to its
lines (``{sku: qty}``), and keeps the io_ids counted against the store's capacity of the day
(``slots``, routing.py), so a dispatch takes its slot and its lines in one conditional write
(``take``) and a rejection or cancel gives both back in one (``let_go``). It is named by the
store alone, so a flow reads it before it knows the order's SKUs: a rejection routed again reads
the order and every store's holds in one batch (store_fulfilment/rerouting.py). Reserving the same order again changes nothing; releasing it
twice (a retried step, a shipped event after a cancel) finds nothing the second time. A hold
takes all its lines at the store in one conditional write (on the record's version): all or none.

The record holds only what is held now: every write drops the orders let go (and the capacity
slots of earlier days: about 11 bytes an outbound counted today). Its size grows with the orders
the store holds, about 56 bytes for an order of two lines (a store holding 100 orders:
5.6 KB, which a hold or release writes whole: 6 write units, 12 in a transaction; a read of it 2
read units, where one record per SKU was a unit or two each); a store's record is kept under
DynamoDB's 400 KB item limit (``MAX_RECORD_BYTES``, some 6,000 held orders: the store then takes no
further hold, as if out of stock). Concurrent holds at a store meet on its record: each conditional
write on its version, the loser reads again (up to 20 times, then a transient error: the step is
retried).

A release that must not read (the store's shipped or picked-up event: its "done" releases the
hold in the same request, ``release_unread``) marks the record ``let_go:<io_id>`` instead of
rewriting its map: a marked order holds nothing, and the next hold or release at the store,
which reads the record anyway, writes the map without it (a put clears the marks).

Tables written before this layout hold one record per SKU and store (key ``<sku>|<store>``,
``{io_id: qty}``) and the capacity slots one per store and day: ``upgrade`` (``o2o maintenance
reservations``) moves the holds still live into the store's record and deletes the old ones
(routing.upgrade_marks the day's slots and marks); until it ran, the nightly run still counts them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import TransientError
from . import routing

if TYPE_CHECKING:
    from ..tenant import Store
    from .kit import FlowContext

RESERVATION_KIND = "reservation"
RESERVATION_TTL_DAYS = 60  # an order held longer than this is long gone (pickup expiry is days)
# A store's record stays under DynamoDB's 400 KB item limit: a store holding this much (some 6,000
# orders) takes no further hold, as if out of stock, and routing moves on to the next store.
MAX_RECORD_BYTES = 350_000


def _needed(lines: Iterable[Any]) -> dict[str, int]:
    needed: dict[str, int] = {}
    for line in lines:
        sku, qty = (line["sku_id"], int(line["qty"])) if isinstance(line, dict) else (line.sku_id, int(line.qty))
        needed[sku] = needed.get(sku, 0) + qty
    return needed


def _keys(store_codes: Iterable[str]) -> list[tuple[str, str]]:
    return [(RESERVATION_KIND, store) for store in dict.fromkeys(store_codes)]


def records_of(ctx: "FlowContext", store_codes: Iterable[str]) -> list[tuple[str, str]]:
    """The (kind, key) of the stores' reservation records that routing and a hold read (none when
    the tenant does not reserve stock): for a flow's batch read. Named by the store alone."""
    return _keys(store_codes) if ctx.tenant.order_centre.reserve_stock else []


def reported_records(ctx: "FlowContext", store_codes: Iterable[str]) -> list[tuple[str, str]]:
    """``records_of`` where the stock reported to the ERP takes off what orders hold (the S4 flush)."""
    return _keys(store_codes) if reported(ctx) else []


LET_GO = "let_go:"  # a record's mark: the order after it holds nothing there any more (release_unread)


def _old_layout(record: Any) -> bool:
    """A record of the layout before one per store: one SKU at one store, ``{io_id: qty}``."""
    return record is not None and "sku_id" in record.data


def _let_go_ids(record: Any) -> set[str]:
    """The orders the record is marked as no longer holding (``release_unread``)."""
    return {mark[len(LET_GO):] for mark in getattr(record, "marks", None) or () if mark.startswith(LET_GO)}


def _holds(record: Any) -> dict[str, dict[str, int]]:
    """What the store record's orders hold, io_id -> {sku: qty}, without the orders marked let go."""
    if record is None or _old_layout(record):
        return {}
    gone = _let_go_ids(record)
    return {io_id: dict(lines) for io_id, lines in record.data.get("orders", {}).items() if io_id not in gone}


def _old_orders(record: Any) -> dict[str, Any]:
    """An old-layout record's map (one SKU), without the orders marked let go."""
    gone = _let_go_ids(record)
    return {io_id: qty for io_id, qty in record.data.get("orders", {}).items() if io_id not in gone}


def _totals(record: Any) -> dict[tuple[str, str], int]:
    """(sku, store) -> quantity held, of one record of either layout."""
    if record is None:
        return {}
    if _old_layout(record):
        total = sum(int(q) for q in _old_orders(record).values())
        return {(record.data["sku_id"], record.data["store_code"]): total} if total else {}
    store = record.data.get("store_code") or record.key
    found: dict[tuple[str, str], int] = {}
    for lines in _holds(record).values():
        for sku, qty in lines.items():
            found[(sku, store)] = found.get((sku, store), 0) + int(qty)
    return {pair: qty for pair, qty in found.items() if qty}


def _held_in(holds: dict[str, dict[str, int]], sku_id: str, excluding: str | None = None) -> int:
    return sum(int(lines.get(sku_id, 0)) for io_id, lines in holds.items() if io_id != excluding)


def held(ctx: "FlowContext", store_code: str, sku_id: str, *, excluding: str | None = None) -> int:
    return _held_in(_holds(ctx.records.get(ctx.ent_id, RESERVATION_KIND, store_code)), sku_id, excluding)


def available(ctx: "FlowContext", store_code: str, on_hand: dict[str, int], *, excluding: str | None = None) -> dict[str, int]:
    """``on_hand`` (P7 stock by SKU) minus what other dispatched orders hold at the store."""
    if not ctx.tenant.order_centre.reserve_stock:
        return on_hand
    holds = _holds(ctx.records.get(ctx.ent_id, RESERVATION_KIND, store_code))
    return {sku: qty - _held_in(holds, sku, excluding) for sku, qty in on_hand.items()}


def slots_of(ctx: "FlowContext", store_code: str, day: str) -> list[str]:
    """The outbounds counted against the store's capacity of ``day`` (routing.capacity_used)."""
    return list(_slots(ctx.records.get(ctx.ent_id, RESERVATION_KIND, store_code)).get(day, []))


def _slots(record: Any) -> dict[str, list[str]]:
    if record is None or _old_layout(record):
        return {}
    return {day: list(io_ids) for day, io_ids in record.data.get("slots", {}).items()}


def _put(ctx: "FlowContext", store_code: str, record: Any, holds: dict[str, Any], slots: dict[str, list[str]]) -> bool:
    """The store's record written whole on the version read: its holds (without the orders let go:
    the put clears their marks) and its capacity slots of today (an earlier day's count decides
    nothing any more)."""
    today = routing.shanghai_day(ctx)
    kept = {day: io_ids for day, io_ids in slots.items() if io_ids and day >= today}
    data = {"store_code": store_code, "orders": holds, **({"slots": kept} if kept else {})}
    return ctx.records.put(ctx.ent_id, RESERVATION_KIND, store_code, data,
                           expected_version=record.version if record else None,
                           ttl_days=RESERVATION_TTL_DAYS) is not None


def take(ctx: "FlowContext", store_code: str, io_id: str, *, day: str | None = None, capacity: int | None = None,
         lines: Iterable[Any] | None = None, on_hand: dict[str, int] | None = None, safety: int = 0) -> bool:
    """What a dispatch takes at a store, in one conditional write of its record: a slot of ``day``'s
    ``capacity`` (when both are given) and ``lines`` held (when given and the tenant reserves stock;
    ``on_hand`` None: held without a limit). False, nothing written, when the day is full or
    another order took the stock since it was read. Taking again what is taken changes nothing."""
    slot = day is not None and capacity is not None
    needed = _needed(lines) if lines is not None and ctx.tenant.order_centre.reserve_stock else None
    if not slot and needed is None:
        return True
    for _ in range(20):
        record = ctx.records.get(ctx.ent_id, RESERVATION_KIND, store_code)
        holds, slots = _holds(record), _slots(record)
        changed = False
        if slot and io_id not in slots.get(day, []):
            if len(slots.get(day, [])) >= capacity:
                return False
            slots[day] = [*slots.get(day, []), io_id]
            changed = True
        if needed is not None and holds.get(io_id) != needed:
            if on_hand is not None:
                for sku, qty in needed.items():
                    if _held_in(holds, sku, io_id) + qty > on_hand.get(sku, 0) - safety:
                        return False
            holds[io_id] = needed
            if len(json.dumps(holds, ensure_ascii=False)) > MAX_RECORD_BYTES:
                return False
            changed = True
        if not changed or _put(ctx, store_code, record, holds, slots):
            return True
    raise TransientError(f"reservations at store {store_code} are contended; try again")


def give_back(ctx: "FlowContext", store_code: str | None, io_id: str, *, day: str | None = None,
              lines: bool = True) -> int:
    """What ``take`` took, in one conditional write: the order's slot of ``day`` (when given) and its
    held lines (``lines``). How many SKUs were let go now (0 on a repeat)."""
    if not store_code:
        return 0
    io_id = str(io_id)
    for _ in range(20):
        record = ctx.records.get(ctx.ent_id, RESERVATION_KIND, store_code)
        if record is None:
            return 0
        holds, slots = _holds(record), _slots(record)
        gone = holds.pop(io_id, None) if lines else None
        freed = bool(day) and io_id in slots.get(day, [])
        if freed:
            slots[day] = [i for i in slots[day] if i != io_id]
        if gone is None and not freed:
            return 0
        if _put(ctx, store_code, record, holds, slots):
            return len(gone or {})
    raise TransientError(f"reservations at store {store_code} are contended; try again")


def reserve(ctx: "FlowContext", store_code: str, io_id: str, lines: Iterable[Any], *,
            on_hand: dict[str, int] | None, safety: int = 0) -> bool:
    """Hold ``lines`` at the store for ``io_id``; False (and nothing held) when another order
    took the stock since it was read. ``on_hand`` None: no stock known (routing without the
    stock check, a store chosen by hand), the lines are held without a limit."""
    return take(ctx, store_code, io_id, lines=list(lines), on_hand=on_hand, safety=safety)


def release(ctx: "FlowContext", store_code: str | None, io_id: str) -> int:
    """The store no longer holds ``io_id``'s lines (shipped, picked up, cancelled, rejected).
    Returns how many SKUs were let go now (0 on a repeat)."""
    return give_back(ctx, store_code, io_id)


def let_go(ctx: "FlowContext", store_code: str | None, io_id: str, day: str | None) -> int:
    """The store no longer fulfils ``io_id`` (rejected, cancelled, refused): its slot of ``day`` and
    its held lines given back, in one write of the store's record."""
    return give_back(ctx, store_code, io_id, day=day)


def release_unread(ctx: "FlowContext", store_code: str | None, io_id: str) -> None:
    """``release`` with nothing read: the store's record marked ``let_go:<io_id>`` in one write
    that cannot be refused (inside a "done" that holds writes, it goes with the "done"). A record
    not there is written empty with the mark. For a tenant that does not reserve stock now (holds
    made before are let go all the same) the hold is read and released as before. (The order's
    capacity slot stays: it was fulfilled on its day.)"""
    if not store_code:
        return
    if not ctx.tenant.order_centre.reserve_stock:
        release(ctx, store_code, io_id)
        return
    from ..ports import TogetherWrite

    ctx.records.write_together(ctx.ent_id, [
        TogetherWrite(RESERVATION_KIND, store_code, {"store_code": store_code, "orders": {}},
                      add_marks=(f"{LET_GO}{io_id}",), ttl_days=RESERVATION_TTL_DAYS)])


def hold(ctx: "FlowContext", store: "Store", io_id: str, day: str, lines: Iterable[Any],
         on_hand: dict[str, int] | None) -> bool:
    """What dispatch takes at the store it routed to: a slot of the day's capacity and the
    order's lines, in one write. False (nothing taken) when either went to a concurrent order
    meanwhile."""
    safety = store.safety_stock if store.safety_stock is not None else ctx.tenant.stock.safety_stock
    return take(ctx, store.code, io_id, day=day, capacity=store.daily_capacity, lines=list(lines),
                on_hand=on_hand, safety=safety)


def by_sku_and_store(ctx: "FlowContext") -> dict[tuple[str, str], int]:
    """Every quantity held now, (sku, store) -> qty, as the stock reported to the ERP's 店加线下仓
    takes it off (empty when the tenant reports plain store stock): one read for a whole run.
    Records of the layout before one per store (not upgraded yet) count too."""
    if not reported(ctx):
        return {}
    return held_of(ctx.records.list(ctx.ent_id, RESERVATION_KIND))


def reported(ctx: "FlowContext") -> bool:
    """Whether the stock reported to the ERP's 店加线下仓 takes off what orders hold."""
    options = ctx.tenant.order_centre
    return bool(options.reserve_stock and options.report_minus_reservations)


def held_of(records: Iterable[Any]) -> dict[tuple[str, str], int]:
    """``by_sku_and_store`` over reservation records already read (the S4 flush reads only its stores')."""
    held_now: dict[tuple[str, str], int] = {}
    for record in records:
        for pair, qty in _totals(record).items():
            held_now[pair] = held_now.get(pair, 0) + qty
    return held_now


def holding(ctx: "FlowContext", store_code: str | None = None) -> list[dict[str, Any]]:
    """What is held, for an operator: one row per SKU, store and order."""
    rows = []
    for record in ctx.records.list(ctx.ent_id, RESERVATION_KIND):
        store = record.data.get("store_code") or record.key
        if store_code and store != store_code:
            continue
        if _old_layout(record):
            rows.extend({"store_code": store, "sku_id": record.data["sku_id"], "io_id": io_id, "qty": int(qty)}
                        for io_id, qty in sorted(_old_orders(record).items()))
            continue
        for io_id, lines in sorted(_holds(record).items()):
            rows.extend({"store_code": store, "sku_id": sku, "io_id": io_id, "qty": int(qty)}
                        for sku, qty in sorted(lines.items()) if int(qty))
    return sorted(rows, key=lambda row: (row["store_code"], row["sku_id"], row["io_id"]))


# --- the upgrade from one record per SKU and store ------------------------------------------------

def upgrade(ctx: "FlowContext", still_held: Callable[[str, str], bool], *, dry_run: bool = False) -> dict[str, int]:
    """Move the holds of the layout before one record per store (key ``<sku>|<store>``) into their
    store's record, then delete the old records (``o2o maintenance reservations``). Safe to run
    twice, and while the bridge runs:

    - a hold moves only while ``still_held(io_id, store)`` (the order is still at that store: not
      shipped, picked up, cancelled, rejected or routed elsewhere since), so a hold the new code
      let go (its release found nothing in the store's record) does not come back;
    - the store's record is read before the orders and written on its version, so a release made
      meanwhile (its mark raises the version) makes this read again; an order it already holds
      (held again since, or moved by an earlier run cut short) keeps what it holds;
    - the old records are deleted after the store's record is written, each on its version.

    Until it ran, routing and the S4 flush do not see the old records (the nightly run does):
    run it right after the deploy."""
    old: dict[str, list[Any]] = {}
    for record in ctx.records.list(ctx.ent_id, RESERVATION_KIND):
        if _old_layout(record):
            old.setdefault(record.data["store_code"], []).append(record)
    summary = {"old_records": sum(len(records) for records in old.values()), "moved": 0, "dropped": 0,
               "deleted": 0, "stores": len(old)}
    for store_code, records in sorted(old.items()):
        for _ in range(20):
            current = ctx.records.get(ctx.ent_id, RESERVATION_KIND, store_code)
            holds = _holds(current)
            there = set(holds)  # held since (or moved by a run cut short): kept as it is
            let_go = _let_go_ids(current)
            live: dict[str, bool] = {}
            moved = dropped = 0
            for record in records:
                for io_id, qty in _old_orders(record).items():
                    if io_id in there or not int(qty):
                        continue
                    if io_id not in live:
                        live[io_id] = io_id not in let_go and still_held(io_id, store_code)
                    if not live[io_id]:
                        dropped += 1
                        continue
                    lines = holds.setdefault(io_id, {})
                    lines[record.data["sku_id"]] = lines.get(record.data["sku_id"], 0) + int(qty)
                    moved += 1
            if dry_run or not moved or _put(ctx, store_code, current, holds, _slots(current)):
                summary["moved"] += moved
                summary["dropped"] += dropped
                break
        else:
            raise TransientError(f"reservations at store {store_code} are contended; run the upgrade again")
        if dry_run:
            continue
        for record in records:
            summary["deleted"] += bool(ctx.records.delete(ctx.ent_id, RESERVATION_KIND, record.key,
                                                          expected_version=record.version))
    return summary
