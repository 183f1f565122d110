"""Store reservations (预订单占用可用量): an online order dispatched to a store holds its lines
there until the store ships it, the customer picks it up, or it is cancelled or rejected.

A store's stock as routing sees it, and as the bridge reports it to the ERP's 店加线下仓
(S4 events and the nightly run), is its stock minus what its dispatched orders hold, so two
orders can never both take a store's last unit: the second one's reservation is refused by a
conditional write and routing moves on to the next store.

Two kinds of record, so that what a hold writes does not grow with what the store holds:

- the store's record (``reservation``, key ``<store>``): how much of each SKU its orders hold
  (``held``, one number per SKU) and the io_ids counted against its capacity of the day
  (``slots``, routing.py). Named by the store alone, so a flow reads it before it knows the
  order's SKUs: a rejection routed again reads the order and every store's record in one batch
  (store_fulfilment/rerouting.py);
- the order's hold there (``reservation_hold``, key ``<store>/<io_id>``): its lines, ``{sku: qty}``.

A dispatch takes its slot and its lines in one transaction (``take``): the store's record on the
version read and the order's hold written only where there is none (or the one read). A rejection
or cancel gives both back in one (``let_go``): the hold deleted on its version, the store's totals
lowered on theirs. So taking again what is taken changes nothing, and releasing twice (a retried
step, a shipped event after a cancel) finds no hold the second time. Concurrent holds at a store
meet on its record: the loser reads again (up to 20 times, then a transient error: the step is
retried).

A release that must not read (the store's shipped or picked-up event: its "done" releases the
hold in the same request, ``release_unread``) marks the store's record ``let_go:`` with the
order's io_id and lines instead: what a store holds is its totals less the lines of the orders
marked. The next hold or release at the store (and the confirmation poll, ``settle_let_go``, for
a store it confirmed ``SETTLE_FROM`` orders of) folds the marks in: each marked order's hold
read, deleted on its version and its lines taken off the totals, the marks dropped, in the write
it makes anyway. A mark whose hold is not there (let go before the store shipped) is dropped
with nothing taken off; until then that order's lines are taken off what the others hold too.

Tables written before this layout hold either one record per SKU and store (key
``<sku>|<store>``, ``{io_id: qty}``) or one record per store listing every held order
(``orders``, ``{io_id: {sku: qty}}``, marked ``let_go:<io_id>``). The second is read and kept
as it is: what it lists counts as held, a release finds the order there, and a hold at the store
moves the order out of it. ``upgrade`` (``o2o maintenance reservations``) moves both into holds of
their own, ``MOVE_AT_ONCE`` orders a transaction; until it ran, routing and the S4 flush do not
see the first kind (the nightly run does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import TransientError
from ..ports import TogetherWrite
from . import routing

if TYPE_CHECKING:
    from ..ports.state import Record
    from ..tenant import Store
    from .kit import FlowContext

RESERVATION_KIND = "reservation"
HOLD_KIND = "reservation_hold"
# A store's record untouched this long goes (an order held longer is long gone: pickup expiry is
# days). An order's hold does not expire: its lines are in its store's totals until it is released
# or folded in, which deletes it.
RESERVATION_TTL_DAYS = 60
# A store's record stays well under DynamoDB's 400 KB item limit: one that would grow past this
# (SKUs held and let-go marks not folded yet) takes no further hold, as if out of stock.
MAX_RECORD_BYTES = 350_000
# Let-go marks a write folds in at most: each is a hold deleted in the write's transaction
# (100 items, shared with what a rejection writes beside it); the rest wait for the next write.
FOLD_AT_ONCE = 40
# A store's marks are folded in by the confirmation poll when it confirmed this many of its orders.
SETTLE_FROM = 20
# Orders the upgrade moves in one transaction (their holds and the store's record).
MOVE_AT_ONCE = 90
TRIES = 20

LET_GO = "let_go:"  # a store record's mark: the order named after it holds nothing there any more


def _needed(lines: Iterable[Any]) -> dict[str, int]:
    needed: dict[str, int] = {}
    for line in lines:
        sku, qty = (line["sku_id"], int(line["qty"])) if isinstance(line, dict) else (line.sku_id, int(line.qty))
        needed[sku] = needed.get(sku, 0) + qty
    return needed


def hold_key(store_code: str, io_id: str) -> str:
    return f"{store_code}/{io_id}"


def records_of(ctx: "FlowContext", store_codes: Iterable[str], io_id: str | None = None) -> list[tuple[str, str]]:
    """The (kind, key) that routing and a hold read at these stores (none when the tenant does not
    reserve stock): the stores' records and, given ``io_id``, that order's holds there. For a
    flow's batch read; named without the order's SKUs."""
    if not ctx.tenant.order_centre.reserve_stock:
        return []
    stores = list(dict.fromkeys(store_codes))
    return [*((RESERVATION_KIND, store) for store in stores),
            *(((HOLD_KIND, hold_key(store, io_id)) for store in stores) if io_id is not None else ())]


def reported_records(ctx: "FlowContext", store_codes: Iterable[str]) -> list[tuple[str, str]]:
    """The stores' records where the stock reported to the ERP takes off what orders hold (the S4 flush)."""
    return [(RESERVATION_KIND, store) for store in dict.fromkeys(store_codes)] if reported(ctx) else []


def let_go_mark(io_id: str, lines: dict[str, int]) -> str:
    return LET_GO + json.dumps([io_id, lines], ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _marked(record: "Record | None") -> dict[str, dict[str, int] | None]:
    """The orders a store's record is marked as no longer holding, io_id -> their lines (None: a
    mark of the layout that listed every order, which names the io_id alone)."""
    found: dict[str, dict[str, int] | None] = {}
    for mark in getattr(record, "marks", None) or ():
        if not mark.startswith(LET_GO):
            continue
        named = mark[len(LET_GO):]
        try:
            io_id, lines = json.loads(named)
            found[str(io_id)] = {str(sku): int(qty) for sku, qty in lines.items()}
        except (ValueError, TypeError, AttributeError):
            found[named] = None
    return found


def _oldest_layout(record: "Record | None") -> bool:
    """A record of the first layout: one SKU at one store, ``{io_id: qty}``."""
    return record is not None and "sku_id" in record.data


@dataclass
class StoreHolds:
    """A store's record as read: what it says is held, without the orders marked let go."""

    record: "Record | None"
    held: dict[str, int] = field(default_factory=dict)  # totals of the orders' own holds, marked ones in
    listed: dict[str, dict[str, int]] = field(default_factory=dict)  # the listing layout's orders, unmarked
    slots: dict[str, list[str]] = field(default_factory=dict)
    marked: dict[str, dict[str, int] | None] = field(default_factory=dict)

    @classmethod
    def of(cls, record: "Record | None") -> "StoreHolds":
        if record is None or _oldest_layout(record):
            return cls(None)
        marked = _marked(record)
        return cls(record, {sku: int(qty) for sku, qty in record.data.get("held", {}).items()},
                   {io_id: dict(lines) for io_id, lines in record.data.get("orders", {}).items() if io_id not in marked},
                   {day: list(io_ids) for day, io_ids in record.data.get("slots", {}).items()}, marked)

    def off(self, folded: set[str] = frozenset()) -> dict[str, dict[str, int]]:
        """The lines of the marked orders still counted in ``held`` (not listed, not ``folded``)."""
        listing = (self.record.data.get("orders") or {}) if self.record else {}
        return {io_id: lines for io_id, lines in self.marked.items()
                if lines and io_id not in listing and io_id not in folded}

    def quantity(self, sku_id: str, *, held: dict[str, int] | None = None,
                 listed: dict[str, dict[str, int]] | None = None, folded: set[str] = frozenset()) -> int:
        """What the store's orders hold of ``sku_id`` (of ``held`` and ``listed`` as changed, with
        the marks of ``folded`` taken off them already)."""
        held, listed = self.held if held is None else held, self.listed if listed is None else listed
        own = held.get(sku_id, 0) - sum(int(lines.get(sku_id, 0)) for lines in self.off(folded).values())
        return max(own, 0) + sum(int(lines.get(sku_id, 0)) for lines in listed.values())

    def totals(self) -> dict[str, int]:
        skus = set(self.held) | {sku for lines in self.listed.values() for sku in lines}
        return {sku: qty for sku in sorted(skus) if (qty := self.quantity(sku))}


def _store(ctx: "FlowContext", store_code: str, io_id: str | None = None) -> StoreHolds:
    """The store's record; with ``io_id``, read in one batch with that order's hold there (which
    ``_own`` then finds read)."""
    if io_id is not None:
        ctx.records.prefetch(ctx.ent_id, records_of(ctx, [store_code], io_id))
    return StoreHolds.of(ctx.records.get(ctx.ent_id, RESERVATION_KIND, store_code))


def _own(ctx: "FlowContext", store: StoreHolds, store_code: str, io_id: str) -> tuple["Record | None", dict[str, int] | None]:
    """The order's hold at the store (its record, if any) and its lines (None: it holds nothing there)."""
    if io_id in store.listed:
        return None, store.listed[io_id]
    record = ctx.records.get(ctx.ent_id, HOLD_KIND, hold_key(store_code, io_id))
    if record is None or io_id in store.marked:
        return record, None
    return record, {sku: int(qty) for sku, qty in record.data.get("lines", {}).items()}


def _held_by_others(ctx: "FlowContext", store_code: str, excluding: str | None) -> Callable[[str], int]:
    """What the store's orders hold of a SKU, less what ``excluding`` holds there itself."""
    store = _store(ctx, store_code, excluding)
    mine = (_own(ctx, store, store_code, excluding)[1] if excluding is not None else None) or {}
    return lambda sku_id: store.quantity(sku_id) - int(mine.get(sku_id, 0))


def held(ctx: "FlowContext", store_code: str, sku_id: str, *, excluding: str | None = None) -> int:
    return _held_by_others(ctx, store_code, excluding)(sku_id)


def available(ctx: "FlowContext", store_code: str, on_hand: dict[str, int], *, excluding: str | None = None) -> dict[str, int]:
    """``on_hand`` (P7 stock by SKU) minus what other dispatched orders hold at the store."""
    if not ctx.tenant.order_centre.reserve_stock:
        return on_hand
    others = _held_by_others(ctx, store_code, excluding)
    return {sku: qty - others(sku) for sku, qty in on_hand.items()}


def slots_of(ctx: "FlowContext", store_code: str, day: str) -> list[str]:
    """The outbounds counted against the store's capacity of ``day`` (routing.capacity_used)."""
    return list(_store(ctx, store_code).slots.get(day, []))


# --- writing a store's holds ------------------------------------------------------------------

@dataclass
class _Change:
    """One write at a store: its record's next data and what goes with it in the transaction."""

    store_code: str
    state: StoreHolds
    held: dict[str, int]
    listed: dict[str, dict[str, int]]
    slots: dict[str, list[str]]
    dropped_marks: list[str] = field(default_factory=list)
    writes: list[TogetherWrite] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)  # orders whose let-go mark this write folds in

    @classmethod
    def at(cls, ctx: "FlowContext", store_code: str, io_id: str | None = None) -> "_Change":
        """The store's record read (with ``io_id``'s hold, in one batch), its let-go marks folded in
        (``io_id``'s first, if marked)."""
        state = _store(ctx, store_code, io_id)
        change = cls(store_code, state, dict(state.held), dict(state.listed),
                     {day: list(ids) for day, ids in state.slots.items()})
        change._fold(ctx, io_id)
        return change

    def _fold(self, ctx: "FlowContext", first: str | None) -> None:
        """Each marked order's own hold (read in one batch) deleted on its version and its lines
        taken off the totals; its mark dropped. (A listed order was left out when read.)"""
        order = sorted(self.state.marked, key=lambda io_id: io_id != first)
        folding = order[:FOLD_AT_ONCE]
        if not folding:
            return
        listed_before = (self.state.record.data.get("orders") or {}) if self.state.record else {}
        wanted = [hold_key(self.store_code, io_id) for io_id in folding if io_id not in listed_before]
        found = ctx.records.get_many(ctx.ent_id, HOLD_KIND, wanted) if wanted else {}
        for io_id in folding:
            hold = found.get(hold_key(self.store_code, io_id))
            if hold is not None:
                for sku, qty in hold.data.get("lines", {}).items():
                    self.add(sku, -int(qty))
                self.writes.append(_deleted(hold))
        self.gone = set(folding)
        self.dropped_marks = sorted(m for m in (self.state.record.marks if self.state.record else ())
                                    if m.startswith(LET_GO) and _mark_io(m) in self.gone)

    def add(self, sku: str, qty: int) -> None:
        total = self.held.get(sku, 0) + qty
        if total > 0:
            self.held[sku] = total
        else:
            self.held.pop(sku, None)

    def quantity(self, sku_id: str) -> int:
        """What the store's orders hold of ``sku_id`` after this change (marks not folded still off)."""
        return self.state.quantity(sku_id, held=self.held, listed=self.listed, folded=self.gone)

    def changed(self) -> bool:
        return bool(self.writes or self.dropped_marks) or self.held != self.state.held or \
            self.listed != self.state.listed or self.slots != self.state.slots

    def write(self, ctx: "FlowContext", *, growing: bool = False) -> bool:
        """The store's record and what goes with it, in one transaction; False when another writer
        came first (nothing written: read again). ``growing`` (a hold taken): refused with
        ``_Full`` when the record would pass MAX_RECORD_BYTES."""
        today = routing.shanghai_day(ctx)
        kept = {day: io_ids for day, io_ids in self.slots.items() if io_ids and day >= today}
        data = {"store_code": self.store_code, "held": self.held, **({"slots": kept} if kept else {}),
                **({"orders": self.listed} if self.listed else {})}
        record = self.state.record
        if growing:
            marks = (record.marks if record else frozenset()) - set(self.dropped_marks)
            if len(json.dumps(data, ensure_ascii=False)) + sum(map(len, marks)) > MAX_RECORD_BYTES:
                raise _Full(self.store_code)
        store_write = TogetherWrite(RESERVATION_KIND, self.store_code, data, expect_version=True,
                                    expected_version=record.version if record else None,
                                    ttl_days=RESERVATION_TTL_DAYS, drop_marks=tuple(self.dropped_marks))
        return ctx.records.write_together(ctx.ent_id, [store_write, *self.writes]) is None


class _Full(Exception):
    """The store's record would grow past MAX_RECORD_BYTES."""


def _deleted(hold: "Record") -> TogetherWrite:
    return TogetherWrite(HOLD_KIND, hold.key, delete=True, expect_version=True, expected_version=hold.version)


def _mark_io(mark: str) -> str:
    named = mark[len(LET_GO):]
    try:
        return str(json.loads(named)[0])
    except (ValueError, TypeError, IndexError, KeyError):
        return named


def _contended(store_code: str) -> TransientError:
    return TransientError(f"reservations at store {store_code} are contended; try again")


def take(ctx: "FlowContext", store_code: str, io_id: str, *, day: str | None = None, capacity: float | None = None,
         lines: Iterable[Any] | None = None, on_hand: dict[str, int] | None = None, safety: int = 0) -> bool:
    """What a dispatch takes at a store, in one transaction: a slot of ``day``'s ``capacity`` (when
    both are given; ``math.inf``: counted with no limit) and ``lines`` held (when given and the
    tenant reserves stock; ``on_hand`` None: held without a limit). False, nothing written, when
    the day is full or another order took the stock since it was read. Taking again what is taken changes nothing (nor does taking what the
    store has finished with: marked let go)."""
    slot = day is not None and capacity is not None
    needed = _needed(lines) if lines is not None and ctx.tenant.order_centre.reserve_stock else None
    if not slot and needed is None:
        return True
    io_id = str(io_id)
    for _ in range(TRIES):
        change = _Change.at(ctx, store_code, io_id)
        if io_id in change.gone:
            return True  # shipped or picked up there: nothing more to take
        if slot and io_id not in change.slots.get(day, []):
            if len(change.slots.get(day, [])) >= capacity:
                return False
            change.slots[day] = [*change.slots.get(day, []), io_id]
        growing = False
        if needed is not None:
            hold, mine = _own(ctx, change.state, store_code, io_id)
            if mine != needed or io_id in change.listed:
                if on_hand is not None and any(
                        change.quantity(sku) - int((mine or {}).get(sku, 0)) + qty > on_hand.get(sku, 0) - safety
                        for sku, qty in needed.items()):
                    return False
                if change.listed.pop(io_id, None) is None:  # a listed order moves out into a hold of its own
                    for sku, qty in (mine or {}).items():
                        change.add(sku, -int(qty))
                for sku, qty in needed.items():
                    change.add(sku, qty)
                change.writes.append(TogetherWrite(
                    HOLD_KIND, hold_key(store_code, io_id), {"store_code": store_code, "io_id": io_id, "lines": needed},
                    expect_version=True, expected_version=hold.version if hold is not None else None))
                growing = True
        try:
            if not change.changed() or change.write(ctx, growing=growing):
                return True
        except _Full:
            return False
    raise _contended(store_code)


def give_back(ctx: "FlowContext", store_code: str | None, io_id: str, *, day: str | None = None,
              lines: bool = True) -> int:
    """What ``take`` took, in one transaction: the order's slot of ``day`` (when given) and its held
    lines (``lines``). How many SKUs were let go now (0 on a repeat, or where the store finished
    with the order: its let-go mark is folded in)."""
    if not store_code:
        return 0
    io_id = str(io_id)
    for _ in range(TRIES):
        change = _Change.at(ctx, store_code, io_id)
        if change.state.record is None:
            return 0
        gone: dict[str, int] = {}
        if lines and io_id not in change.gone:
            if io_id in change.listed:
                gone = change.listed.pop(io_id)
            else:
                hold, mine = _own(ctx, change.state, store_code, io_id)
                if hold is not None:
                    gone = mine or {}
                    for sku, qty in gone.items():
                        change.add(sku, -int(qty))
                    change.writes.append(_deleted(hold))
        if day and io_id in change.slots.get(day, []):
            change.slots[day] = [i for i in change.slots[day] if i != io_id]
        if not change.changed():
            return 0
        if change.write(ctx):
            return len(gone)
    raise _contended(store_code)


def settle_let_go(ctx: "FlowContext", finished: dict[str, int]) -> None:
    """Fold in the let-go marks of the stores that finished this many orders (``finished``, the
    confirmation poll's count per store): a store whose orders only ship otherwise carries a mark
    per order shipped until its next hold or release. Only stores with ``SETTLE_FROM`` or more, so
    the three requests a store's fold costs (its record, the marked holds, the write) are shared
    by that many confirmations; a store whose record is contended is left to the next run."""
    codes = [code for code, count in sorted(finished.items()) if code and count >= SETTLE_FROM]
    if not codes or not ctx.tenant.order_centre.reserve_stock:
        return
    ctx.records.prefetch(ctx.ent_id, [(RESERVATION_KIND, code) for code in codes])
    for code in codes:
        refused = 0
        while refused < 3:
            change = _Change.at(ctx, code)
            if not change.dropped_marks:
                break
            if not change.write(ctx):
                refused += 1
            elif len(change.state.marked) <= len(change.gone):
                break  # all folded in: no need to read the record again


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
    its held lines given back, in one transaction."""
    return give_back(ctx, store_code, io_id, day=day)


def release_unread(ctx: "FlowContext", store_code: str | None, io_id: str, lines: Iterable[Any]) -> None:
    """``release`` with nothing read: the store's record marked let go for ``io_id`` with its
    ``lines`` (the order's, as held), in one write that cannot be refused (inside a "done" that
    holds writes, it goes with the "done"). A record not there is written empty with the mark.
    For a tenant that does not reserve stock now (holds made before are let go all the same) the
    hold is read and released as before. (The order's capacity slot stays: it was fulfilled on its
    day.)"""
    if not store_code:
        return
    if not ctx.tenant.order_centre.reserve_stock:
        release(ctx, store_code, io_id)
        return
    ctx.records.write_together(ctx.ent_id, [
        TogetherWrite(RESERVATION_KIND, store_code, {"store_code": store_code, "held": {}},
                      add_marks=(let_go_mark(str(io_id), _needed(lines)),), ttl_days=RESERVATION_TTL_DAYS)])


def hold(ctx: "FlowContext", store: "Store", io_id: str, day: str, lines: Iterable[Any],
         on_hand: dict[str, int] | None) -> bool:
    """What dispatch takes at the store it routed to: a slot of the day's capacity and the
    order's lines, in one transaction. False (nothing taken) when either went to a concurrent
    order meanwhile."""
    safety = store.safety_stock if store.safety_stock is not None else ctx.tenant.stock.safety_stock
    return take(ctx, store.code, io_id, day=day, capacity=store.daily_capacity, lines=list(lines),
                on_hand=on_hand, safety=safety)


# --- what is held, for reports and operators --------------------------------------------------

def by_sku_and_store(ctx: "FlowContext") -> dict[tuple[str, str], int]:
    """Every quantity held now, (sku, store) -> qty, as the stock reported to the ERP's 店加线下仓
    takes it off (empty when the tenant reports plain store stock): one read of the stores'
    records for a whole run. Records of the first layout (not upgraded yet) count too."""
    if not reported(ctx):
        return {}
    return held_of(ctx.records.list(ctx.ent_id, RESERVATION_KIND))


def reported(ctx: "FlowContext") -> bool:
    """Whether the stock reported to the ERP's 店加线下仓 takes off what orders hold."""
    options = ctx.tenant.order_centre
    return bool(options.reserve_stock and options.report_minus_reservations)


def held_of(records: Iterable["Record"]) -> dict[tuple[str, str], int]:
    """``by_sku_and_store`` over the stores' records already read (the S4 flush reads only its stores')."""
    held_now: dict[tuple[str, str], int] = {}
    for record in records:
        if _oldest_layout(record):
            gone = set(_marked(record))
            total = sum(int(q) for io_id, q in record.data.get("orders", {}).items() if io_id not in gone)
            pairs = {(record.data["sku_id"], record.data["store_code"]): total}
        else:
            store = record.data.get("store_code") or record.key
            pairs = {(sku, store): qty for sku, qty in StoreHolds.of(record).totals().items()}
        for pair, qty in pairs.items():
            if qty:
                held_now[pair] = held_now.get(pair, 0) + qty
    return held_now


def holding(ctx: "FlowContext", store_code: str | None = None) -> list[dict[str, Any]]:
    """What is held, for an operator: one row per SKU, store and order."""
    rows = []
    stores: dict[str, StoreHolds] = {}
    for record in ctx.records.list(ctx.ent_id, RESERVATION_KIND):
        store = record.data.get("store_code") or record.key
        if store_code and store != store_code:
            continue
        if _oldest_layout(record):
            gone = set(_marked(record))
            rows.extend({"store_code": store, "sku_id": record.data["sku_id"], "io_id": io_id, "qty": int(qty)}
                        for io_id, qty in record.data.get("orders", {}).items() if io_id not in gone and int(qty))
            continue
        stores[store] = StoreHolds.of(record)
        for io_id, lines in stores[store].listed.items():
            rows.extend({"store_code": store, "sku_id": sku, "io_id": io_id, "qty": int(qty)}
                        for sku, qty in lines.items() if int(qty))
    for hold_record in ctx.records.list(ctx.ent_id, HOLD_KIND, prefix=f"{store_code}/" if store_code else ""):
        store, io_id = hold_record.data.get("store_code"), str(hold_record.data.get("io_id"))
        if store in stores and io_id in stores[store].marked:
            continue
        rows.extend({"store_code": store, "sku_id": sku, "io_id": io_id, "qty": int(qty)}
                    for sku, qty in hold_record.data.get("lines", {}).items() if int(qty))
    return sorted(rows, key=lambda row: (row["store_code"], row["sku_id"], row["io_id"]))


# --- the upgrade from the layouts before --------------------------------------------------------

def upgrade(ctx: "FlowContext", still_held: Callable[[str, str], bool], *, dry_run: bool = False) -> dict[str, int]:
    """Move the holds of the layouts before into holds of their own (``o2o maintenance
    reservations``), ``MOVE_AT_ONCE`` orders a transaction with their store's totals, so a crash
    leaves each order either moved or not. Safe to run twice, and while the bridge runs:

    - the first layout (key ``<sku>|<store>``): a hold moves only while ``still_held(io_id, store)``
      (the order is still at that store: not shipped, picked up, cancelled, rejected or routed
      elsewhere since), so a hold the new code let go does not come back; an order that holds there
      already (held again since, or moved by an earlier run cut short) keeps what it holds. The old
      records are deleted once their orders are moved, each on its version;
    - the listing layout (``orders`` on the store's record): each order listed (and not marked let
      go) moves out of the listing into a hold of its own.

    Every write is on the version read: a release or hold made meanwhile makes it read again.
    Until it ran, routing and the S4 flush do not see the first layout (the nightly run does):
    run it right after the deploy."""
    oldest: dict[str, list["Record"]] = {}
    listing: list[str] = []
    for record in ctx.records.list(ctx.ent_id, RESERVATION_KIND):
        if _oldest_layout(record):
            oldest.setdefault(record.data["store_code"], []).append(record)
        elif record.data.get("orders") or any(lines is None for lines in _marked(record).values()):
            listing.append(record.key)
    summary = {"old_records": sum(len(records) for records in oldest.values()), "moved": 0, "dropped": 0,
               "deleted": 0, "stores": len(oldest), "listed_moved": 0}
    for store_code in sorted(set(oldest) | set(listing)):
        lines_of: dict[str, dict[str, int]] = {}
        live: dict[str, bool] = {}
        # Marked let go on the store's record (shipped since the deploy): not live any more.
        gone = set(_marked(ctx.records.get(ctx.ent_id, RESERVATION_KIND, store_code))) if oldest.get(store_code) else set()
        for record in oldest.get(store_code, []):
            for io_id, qty in record.data.get("orders", {}).items():
                if not int(qty):
                    continue
                if io_id not in live:
                    live[io_id] = io_id not in gone and still_held(io_id, store_code)
                if live[io_id]:
                    lines = lines_of.setdefault(io_id, {})
                    lines[record.data["sku_id"]] = lines.get(record.data["sku_id"], 0) + int(qty)
        summary["dropped"] += sum(1 for record in oldest.get(store_code, []) for io_id, qty in
                                  record.data.get("orders", {}).items() if int(qty) and not live.get(io_id))
        moved, listed = _move(ctx, store_code, lines_of, dry_run=dry_run)
        summary["moved"] += moved
        summary["listed_moved"] += listed
        if dry_run:
            continue
        for record in oldest.get(store_code, []):
            summary["deleted"] += bool(ctx.records.delete(ctx.ent_id, RESERVATION_KIND, record.key,
                                                          expected_version=record.version))
    return summary


def _move(ctx: "FlowContext", store_code: str, oldest: dict[str, dict[str, int]], *,
          dry_run: bool) -> tuple[int, int]:
    """``upgrade`` at one store: the first layout's live orders (``oldest``, io_id -> lines) and the
    store record's listed orders moved into holds of their own, ``MOVE_AT_ONCE`` a transaction. How
    many moved: SKU lines of the first, orders of the second."""
    pending = dict(oldest)
    moved = listed_moved = refused = 0
    while refused < TRIES:  # each write that goes through moves orders (or drops marks): it ends
        change = _Change.at(ctx, store_code)
        # A mark of the listing layout names its order alone: that order was left out when read.
        change.dropped_marks = sorted({*change.dropped_marks, *(
            mark for mark in (change.state.record.marks if change.state.record else ())
            if mark.startswith(LET_GO) and change.state.marked.get(_mark_io(mark), {}) is None)})
        batch = [*((io_id, lines, True) for io_id, lines in change.listed.items()),
                 *((io_id, lines, False) for io_id, lines in pending.items() if io_id not in change.listed)]
        batch = batch if dry_run else batch[:MOVE_AT_ONCE]
        if not batch and not change.changed():
            return moved, listed_moved
        there = ctx.records.get_many(ctx.ent_id, HOLD_KIND, [hold_key(store_code, io_id) for io_id, _, _ in batch])
        lines_now = listed_now = 0
        for io_id, lines, listed in batch:
            if listed:
                del change.listed[io_id]
            if hold_key(store_code, io_id) in there:
                continue  # held already (held again since, or moved by a run cut short): kept as it is
            for sku, qty in lines.items():
                change.add(sku, int(qty))
            change.writes.append(TogetherWrite(HOLD_KIND, hold_key(store_code, io_id),
                                               {"store_code": store_code, "io_id": io_id, "lines": lines},
                                               expect_version=True, expected_version=None))
            if listed:
                listed_now += 1
            else:
                lines_now += sum(1 for qty in lines.values() if int(qty))
        if dry_run:
            return lines_now, listed_now
        if not change.write(ctx):
            refused += 1
            continue
        moved, listed_moved = moved + lines_now, listed_moved + listed_now
        for io_id, _, _ in batch:
            pending.pop(io_id, None)
    raise TransientError(f"reservations at store {store_code} are contended; run the upgrade again")
