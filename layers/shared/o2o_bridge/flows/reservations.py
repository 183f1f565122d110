"""Store reservations (预订单占用可用量): an online order dispatched to a store holds its lines
there until the store ships it, the customer picks it up, or it is cancelled or rejected.

A store's stock as routing sees it, and as the bridge reports it to the ERP's 店加线下仓
(S4 events and the nightly run), is its stock minus what its dispatched orders hold, so two
orders can never both take a store's last unit: the second one's reservation is refused by a
conditional write and routing moves on to the next store.

One record per SKU and store (``reservation``, key ``<sku>|<store>``) maps each holding
order's io_id to its quantity. Reserving the same order again changes nothing; releasing it
twice (a retried step, a shipped event after a cancel) finds nothing the second time.

A release that must not read (the store's shipped or picked-up event: its "done" releases the
hold in the same request, ``release_unread``) marks the record ``let_go:<io_id>`` instead of
rewriting its map: a marked order holds nothing, and the next hold or release at that SKU and
store, which reads the record anyway, writes the map without it (a put clears the marks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..errors import TransientError
from . import routing

if TYPE_CHECKING:
    from ..tenant import Store
    from .kit import FlowContext

RESERVATION_KIND = "reservation"
RESERVATION_TTL_DAYS = 60  # an order held longer than this is long gone (pickup expiry is days)


def _key(sku_id: str, store_code: str) -> str:
    return f"{sku_id}|{store_code}"


def _needed(lines: Iterable[Any]) -> dict[str, int]:
    needed: dict[str, int] = {}
    for line in lines:
        sku, qty = (line["sku_id"], int(line["qty"])) if isinstance(line, dict) else (line.sku_id, int(line.qty))
        needed[sku] = needed.get(sku, 0) + qty
    return needed


def records_of(ctx: "FlowContext", store_code: str, sku_ids: Iterable[str]) -> list[tuple[str, str]]:
    """The (kind, key) of the reservation records of ``sku_ids`` at the store that routing and a
    hold read (none when the tenant does not reserve stock): for a flow's batch read."""
    if not ctx.tenant.order_centre.reserve_stock:
        return []
    return [(RESERVATION_KIND, _key(sku, store_code)) for sku in dict.fromkeys(sku_ids)]


LET_GO = "let_go:"  # a record's mark: the order after it holds nothing there any more (release_unread)


def _orders(record: Any) -> dict[str, Any]:
    """What the record's orders hold: its map without the orders marked let go."""
    if record is None:
        return {}
    orders = record.data.get("orders", {})
    gone = {mark[len(LET_GO):] for mark in getattr(record, "marks", ()) if mark.startswith(LET_GO)}
    return {io_id: qty for io_id, qty in orders.items() if io_id not in gone} if gone else dict(orders)


def held(ctx: "FlowContext", store_code: str, sku_id: str, *, excluding: str | None = None) -> int:
    orders = _orders(ctx.records.get(ctx.ent_id, RESERVATION_KIND, _key(sku_id, store_code)))
    return sum(int(qty) for io_id, qty in orders.items() if io_id != excluding)


def available(ctx: "FlowContext", store_code: str, on_hand: dict[str, int], *, excluding: str | None = None) -> dict[str, int]:
    """``on_hand`` (P7 stock by SKU) minus what other dispatched orders hold at the store."""
    if not ctx.tenant.order_centre.reserve_stock:
        return on_hand
    return {sku: qty - held(ctx, store_code, sku, excluding=excluding) for sku, qty in on_hand.items()}


def reserve(ctx: "FlowContext", store_code: str, io_id: str, lines: Iterable[Any], *,
            on_hand: dict[str, int] | None, safety: int = 0) -> bool:
    """Hold ``lines`` at the store for ``io_id``; False (and nothing held) when another order
    took the stock since it was read. ``on_hand`` None: no stock known (routing without the
    stock check, a store chosen by hand), the lines are held without a limit."""
    if not ctx.tenant.order_centre.reserve_stock:
        return True
    taken: list[str] = []
    for sku, qty in _needed(lines).items():
        limit = None if on_hand is None else on_hand.get(sku, 0) - safety
        if not _hold(ctx, store_code, sku, io_id, qty, limit):
            for earlier in taken:
                _let_go(ctx, store_code, earlier, io_id)
            return False
        taken.append(sku)
    return True


def _hold(ctx: "FlowContext", store_code: str, sku: str, io_id: str, qty: int, limit: int | None) -> bool:
    key = _key(sku, store_code)
    for _ in range(20):
        record = ctx.records.get(ctx.ent_id, RESERVATION_KIND, key)
        orders = _orders(record)  # written without the orders let go (the put clears their marks)
        if orders.get(io_id) == qty:
            return True
        others = sum(int(q) for other, q in orders.items() if other != io_id)
        if limit is not None and others + qty > limit:
            return False
        orders[io_id] = qty
        if ctx.records.put(ctx.ent_id, RESERVATION_KIND, key, {"store_code": store_code, "sku_id": sku,
                                                                "orders": orders},
                           expected_version=record.version if record else None, ttl_days=RESERVATION_TTL_DAYS):
            return True
    raise TransientError(f"reservations of {sku} at store {store_code} are contended; try again")


def _let_go(ctx: "FlowContext", store_code: str, sku: str, io_id: str) -> bool:
    key = _key(sku, store_code)
    for _ in range(20):
        record = ctx.records.get(ctx.ent_id, RESERVATION_KIND, key)
        orders = _orders(record)
        if record is None or io_id not in orders:
            return False
        orders.pop(io_id)
        if ctx.records.put(ctx.ent_id, RESERVATION_KIND, key, {**record.data, "orders": orders},
                           expected_version=record.version, ttl_days=RESERVATION_TTL_DAYS):
            return True
    raise TransientError(f"reservations of {sku} at store {store_code} are contended; try again")


def release(ctx: "FlowContext", store_code: str | None, io_id: str, lines: Iterable[Any]) -> int:
    """The store no longer holds ``io_id``'s lines (shipped, picked up, cancelled, rejected).
    Returns how many SKUs were let go now (0 on a repeat)."""
    if not store_code:
        return 0
    return sum(_let_go(ctx, store_code, sku, str(io_id)) for sku in _needed(lines))


def release_unread(ctx: "FlowContext", store_code: str | None, io_id: str, lines: Iterable[Any]) -> None:
    """``release`` with nothing read: each SKU's record at the store marked ``let_go:<io_id>`` in
    one write that cannot be refused (inside a "done" that holds writes, it goes with the "done").
    A record not there is written empty with the mark. For a tenant that does not reserve stock
    now (holds made before are let go all the same) the holds are read and released as before."""
    if not store_code:
        return
    if not ctx.tenant.order_centre.reserve_stock:
        release(ctx, store_code, io_id, lines)
        return
    from ..ports import TogetherWrite

    ctx.records.write_together(ctx.ent_id, [
        TogetherWrite(RESERVATION_KIND, _key(sku, store_code), {"store_code": store_code, "sku_id": sku, "orders": {}},
                      add_marks=(f"{LET_GO}{io_id}",), ttl_days=RESERVATION_TTL_DAYS)
        for sku in _needed(lines)])


def hold(ctx: "FlowContext", store: "Store", io_id: str, day: str, lines: Iterable[Any],
         on_hand: dict[str, int] | None) -> bool:
    """What dispatch takes at the store it routed to: a slot of the day's capacity and the
    order's lines. False (nothing taken) when either went to a concurrent order meanwhile."""
    lines = list(lines)
    if not routing.reserve_capacity(ctx, store, io_id, day):
        return False
    safety = store.safety_stock if store.safety_stock is not None else ctx.tenant.stock.safety_stock
    if reserve(ctx, store.code, io_id, lines, on_hand=on_hand, safety=safety):
        return True
    routing.release_capacity(ctx, store.code, io_id, day)
    return False


def by_sku_and_store(ctx: "FlowContext") -> dict[tuple[str, str], int]:
    """Every quantity held now, (sku, store) -> qty, as the stock reported to the ERP's 店加线下仓
    takes it off (empty when the tenant reports plain store stock): one read for a whole run."""
    options = ctx.tenant.order_centre
    if not (options.reserve_stock and options.report_minus_reservations):
        return {}
    held_now: dict[tuple[str, str], int] = {}
    for record in ctx.records.list(ctx.ent_id, RESERVATION_KIND):
        total = sum(int(q) for q in _orders(record).values())
        if total:
            held_now[(record.data["sku_id"], record.data["store_code"])] = total
    return held_now


def reported(ctx: "FlowContext") -> bool:
    """Whether the stock reported to the ERP's 店加线下仓 takes off what orders hold."""
    options = ctx.tenant.order_centre
    return bool(options.reserve_stock and options.report_minus_reservations)


def held_of(records: Iterable[Any]) -> dict[tuple[str, str], int]:
    """``by_sku_and_store`` over reservation records already read (the S4 flush reads only its SKUs')."""
    held_now: dict[tuple[str, str], int] = {}
    for record in records:
        total = sum(int(q) for q in _orders(record).values())
        if total:
            held_now[(record.data["sku_id"], record.data["store_code"])] = total
    return held_now


def holding(ctx: "FlowContext", store_code: str | None = None) -> list[dict[str, Any]]:
    """What is held, for an operator: one row per SKU, store and order."""
    rows = []
    for record in ctx.records.list(ctx.ent_id, RESERVATION_KIND):
        if store_code and record.data.get("store_code") != store_code:
            continue
        for io_id, qty in sorted(_orders(record).items()):
            rows.append({"store_code": record.data["store_code"], "sku_id": record.data["sku_id"], "io_id": io_id,
                         "qty": int(qty)})
    return rows
