"""W1: the stores' retail sales (零售单) reach an ERP that takes them as orders of its POS shop
(``erp.info.sales_as_orders``: 旺店通) within 10 minutes.

- ``sale.completed`` (flows/erp_store_stock.py, the one store-sale flow) queues the sale once
  per sale no.: a replayed event, a second delivery
  or the same sale under a new event id adds nothing (``store_sale`` record per sale no.).
- ``push_store_sales`` (schedule ``push_wdt_sales``, every 10 minutes) books the queue in
  sale order, ≤ 50 sales a call (the ERP port cuts further where the ERP needs it). The sale
  no. is the order's key at the ERP, so a sale pushed again after a crash between the push
  and the bookkeeping is a change there, never a second order.
- A sale the ERP refuses for good (an unknown SKU, a store without its warehouse) is parked
  with the reason on the DLQ (kit.settle) and leaves the queue, so it never holds back the
  sales behind it; `o2o dlq replay` books it once the cause is fixed.
- A queued sale that cannot be read, or that the ERP refuses so that the whole call fails, is
  parked the same way (a refused call is split until the refused sale stands alone).
- A transient failure (rate limit, timeout) stops the run: what is booked is marked, the
  rest stays queued for the next run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, TransientError
from ..ports.retail import StoreSale
from . import kit

if TYPE_CHECKING:
    from .kit import FlowContext

SALE = "store_sale"            # one per sale no.: its data and state (queued | booked | parked)
QUEUED = "store_sale.queued"   # the queue, keyed "<sold_at UTC>#<sale_no>" so it lists in sale order
SALE_MEMORY_DAYS = 30           # a replay of an older sale would be a change at the ERP, never an order
PER_CALL = 50
PER_RUN = 2000                  # 40 calls: well inside one run at the default pace
STOP_WITH_SECONDS_LEFT = 20


def queue_sale(ctx: "FlowContext", sale: StoreSale) -> bool:
    """Queue ``sale`` for the next run; False when it was queued (or booked) before."""
    if ctx.records.get(ctx.ent_id, SALE, sale.sale_no) is not None:
        ctx.timeline.record(sale.sale_no, ctx.ent_id, "sale.repeated", {"store_code": sale.store_code})
        return False
    queue_key = f"{_sale_order(sale)}#{sale.sale_no}"
    # The queue entry first: a crash before the sale record leaves a queued sale, never a lost one.
    ctx.records.put(ctx.ent_id, QUEUED, queue_key, {"sale_no": sale.sale_no})
    created = ctx.records.put(ctx.ent_id, SALE, sale.sale_no,
                              {"state": "queued", "queue_key": queue_key, "sale": sale.to_record()},
                              ttl_days=SALE_MEMORY_DAYS)
    if created is None:
        return False
    ctx.timeline.record(sale.sale_no, ctx.ent_id, "sale.queued",
                        {"store_code": sale.store_code, "payment": sale.payment, "total": str(sale.total),
                         "lines": len(sale.lines)})
    ctx.metric("StoreSaleQueued", 1)
    return True


def _sale_order(sale: StoreSale) -> str:
    from datetime import timezone

    return sale.sold_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def push_store_sales(ctx: "FlowContext", *, per_run: int = PER_RUN) -> dict[str, Any]:
    """Book the queued sales at the ERP (the 10-minute run)."""
    summary = {"booked": 0, "parked": 0, "left": 0, "calls": 0}
    queued = ctx.records.list(ctx.ent_id, QUEUED)
    pending: list[tuple[Any, StoreSale]] = []

    def read(entry: Any) -> str:
        record = ctx.records.get(ctx.ent_id, SALE, entry.data["sale_no"])
        if record is None or record.data["state"] != "queued":  # booked or parked before a crash
            ctx.records.delete(ctx.ent_id, QUEUED, entry.key)
            return "finished"
        try:
            pending.append((record, StoreSale.from_record(record.data["sale"])))
        except Exception as exc:  # noqa: BLE001 - set aside below: the DLQ holds it now, not the queue
            _off_the_queue(ctx, entry, record)
            raise PermanentError(f"queued sale {record.key} cannot be read ({type(exc).__name__}: {exc})") from None
        return "read"

    # A queued sale that cannot be read is set aside (parked with the reason, replayable).
    unreadable = kit.each_record(ctx, queued[:per_run], read, step=push_sale,
                                 payload_of=lambda entry: {"sale_no": str(entry.data.get("sale_no"))},
                                 trace_key_of=lambda entry: str(entry.data.get("sale_no")))
    summary["parked"] += unreadable["parked"] + unreadable["parked_before"]
    for start in range(0, len(pending), PER_CALL):
        if ctx.time_left() < STOP_WITH_SECONDS_LEFT:
            summary["stopped"] = "out of time"
            break
        if not _book(ctx, pending[start:start + PER_CALL], summary):
            ctx.metric("StoreSalesPushStopped", 1)
            break
    summary["left"] = len(ctx.records.list(ctx.ent_id, QUEUED))
    if summary["booked"]:
        ctx.metric("StoreSalesBooked", summary["booked"])
    return summary


def _book(ctx: "FlowContext", chunk: list[tuple[Any, StoreSale]], summary: dict[str, Any]) -> bool:
    """Book ``chunk`` in one call. A call the ERP refuses whole is split until the sale it
    refuses stands alone and is parked; False when a transient failure stops the run."""
    try:
        bookings = ctx.erp.book_sales([sale for _, sale in chunk])
    except TransientError as exc:
        summary["stopped"] = f"{type(exc).__name__}: {exc}"
        return False
    except Exception as exc:  # noqa: BLE001 - a refusal (or a bug) of one sale must not hold back the rest
        if len(chunk) > 1:
            middle = len(chunk) // 2
            return _book(ctx, chunk[:middle], summary) and _book(ctx, chunk[middle:], summary)
        record, sale = chunk[0]
        _park(ctx, record, sale, f"{type(exc).__name__}: {exc}")
        summary["parked"] += 1
        return True
    summary["calls"] += 1
    by_sale = {b.sale_no: b for b in bookings}
    for record, sale in chunk:
        booking = by_sale.get(sale.sale_no)
        if booking is None:
            continue  # the ERP did not answer for it: it stays queued for the next run
        if booking.booked:
            _mark(ctx, record, "booked")
            summary["booked"] += 1
        else:
            _park(ctx, record, sale, booking.reason)
            summary["parked"] += 1
    return True


def _off_the_queue(ctx: "FlowContext", entry: Any, record: Any) -> None:
    ctx.records.put(ctx.ent_id, SALE, record.key, {**record.data, "state": "parked"},
                    expected_version=record.version, ttl_days=SALE_MEMORY_DAYS)
    ctx.records.delete(ctx.ent_id, QUEUED, entry.key)


def _mark(ctx: "FlowContext", record: Any, state: str, **detail: Any) -> None:
    ctx.records.put(ctx.ent_id, SALE, record.key, {**record.data, "state": state, **detail},
                    expected_version=record.version, ttl_days=SALE_MEMORY_DAYS)
    ctx.records.delete(ctx.ent_id, QUEUED, record.data["queue_key"])
    if state == "booked":
        ctx.timeline.record(record.key, ctx.ent_id, "erp.sale_booked", {"store_code": record.data["sale"]["store_code"]})


def _park(ctx: "FlowContext", record: Any, sale: StoreSale, reason: str) -> None:
    """Off the queue and onto the DLQ with the ERP's reason; a replay books it (push_sale)."""
    _mark(ctx, record, "parked", reason=reason)
    kit.settle(ctx, push_sale, {"sale_no": sale.sale_no}, trace_key=sale.sale_no)


@kit.flow_command("store_sales.push_sale")
def push_sale(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """Book one sale now (a parked sale's replay, or its first refusal's record)."""
    record = ctx.records.get(ctx.ent_id, SALE, payload["sale_no"])
    if record is None:
        raise PermanentError(f"sale {payload['sale_no']} is not known any more (older than {SALE_MEMORY_DAYS} days)")
    if record.data["state"] == "booked":
        return {"outcome": "booked before"}
    (booking,) = ctx.erp.book_sales([StoreSale.from_record(record.data["sale"])])
    if not booking.booked:
        raise PermanentError(f"the ERP refused sale {booking.sale_no}: {booking.reason}")
    ctx.records.put(ctx.ent_id, SALE, record.key, {**record.data, "state": "booked"},
                    expected_version=record.version, ttl_days=SALE_MEMORY_DAYS)
    ctx.timeline.record(record.key, ctx.ent_id, "erp.sale_booked", {"replayed": True})
    return {"outcome": "booked"}
