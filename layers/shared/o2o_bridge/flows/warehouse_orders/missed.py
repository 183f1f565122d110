"""S2x: what the warehouse shows but no push announced (functions/poll_jst_documents, every
15 min): parcels shipped, store orders the warehouse cancelled, return receipts, each read
over a window that overlaps the last run's. The same steps and effect keys as the pushes'
re-reads, so whichever comes second changes nothing."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Callable

from ...ports import MalformedRow
from ...ports.warehouse import OrderCancelled, ReturnReceived
from .. import kit
from .confirmations import (cancel_store_order, recheck, record_return_receipt, record_shipment, return_no_of,
                            step_for, take_confirmations, with_return_no)
from .ledger import ORDERS, RETURNS
from .requests import STORE_ORDER, warehouse_order

LOGISTICS_CURSOR = "s2x.logistics"
RECEIVED_CURSOR = "s2x.aftersale_received"
CANCELLED_CURSOR = "s2x.orders_cancelled"
# Each run starts this long before the previous run's end, so a record whose send/modified
# time lands at a window edge (or is written late) is seen at least once.
OVERLAP = timedelta(minutes=30)
FIRST_LOOKBACK = timedelta(days=1)
# Stop a scan early (cursor not advanced) when the Lambda has less than this left.
STOP_WHEN_SECONDS_LEFT = 20.0


def recover_missed_pushes(ctx: kit.FlowContext) -> dict[str, Any]:
    """Shipments, cancels and return receipts the warehouse shows but no push announced; the
    same steps and effect keys as the pushes, so whichever comes second changes nothing."""
    shipments = _recover(ctx, LOGISTICS_CURSOR, ctx.warehouse.shipments_between, _shipments_to_take, record_shipment,
                         what="shipments")
    cancels = _recover(ctx, CANCELLED_CURSOR, ctx.warehouse.cancelled_between, _cancels_to_take, cancel_store_order,
                       what="cancels")
    receipts = _recover(ctx, RECEIVED_CURSOR, ctx.warehouse.receipts_between, _receipts_to_take,
                        record_return_receipt, what="receipts")
    return {"shipments": shipments, "cancels": cancels, "return_receipts": receipts}


def _recover(ctx: kit.FlowContext, cursor_name: str, fetch: Callable[[datetime, datetime], list[Any]],
             to_take: Callable[[kit.FlowContext, list[Any]], list[Any]], step: kit.FlowStep, *,
             what: str) -> dict[str, Any]:
    cursor = ctx.cursors.get(ctx.ent_id, cursor_name)
    end = ctx.now()
    begin = (datetime.fromisoformat(cursor.value) if cursor else end - FIRST_LOOKBACK) - OVERLAP
    rows = fetch(begin, end)
    counts: Counter[str] = Counter()

    def take(confirmation: Any) -> str:
        if confirmation is None:
            return "not_ours"
        return take_confirmations(ctx, [confirmation], source="S2x")[0]["outcome"]

    # A confirmation that fails other than by a refusal (which settle parks) is set aside too,
    # and the scan goes on with the ones behind it.
    kit.each_record(ctx, to_take(ctx, rows), take, step=step,
                    payload_of=lambda confirmation: step_for(ctx, confirmation, "S2x")[2],
                    trace_key_of=lambda confirmation: step_for(ctx, confirmation, "S2x")[0],
                    counts=counts, stop=lambda: ctx.time_left() < STOP_WHEN_SECONDS_LEFT,
                    # A row the warehouse lists that cannot be read (key: its order no.): parked;
                    # its replay re-reads what the warehouse holds for that order.
                    malformed_step=recheck, malformed_payload_of=lambda row: {
                        "what": what, "order_nos": [row.key], "tracking_nos": [], "return_nos": [],
                        "warehouse_return_ids": [], "source": "S2x"})
    if not counts["stopped_early"]:
        # Moved only after every row is done, queued or set aside (parked with its reason); a
        # lost race means another run moved it, which is as good.
        ctx.cursors.advance(ctx.ent_id, cursor_name, end.isoformat(), cursor.version if cursor else None)
    return {"window": [begin.isoformat(timespec="seconds"), end.isoformat(timespec="seconds")],
            "rows": len(rows), **dict(sorted((k, v) for k, v in counts.items() if v))}


def _shipments_to_take(ctx: kit.FlowContext, shipments: list[Any]) -> list[Any]:
    return [s if isinstance(s, MalformedRow) or (s.order_no and s.tracking_no and s.carrier_code
                                                   and _is_ours(ctx, s.order_no)) else None
            for s in shipments]


def _cancels_to_take(ctx: kit.FlowContext, cancels: list[Any]) -> list[Any]:
    # Only the store orders the bridge submitted: the shop may hold orders of other origins.
    return [c if isinstance(c, MalformedRow) or (isinstance(c, OrderCancelled) and c.order_no
                                                   and _is_ours(ctx, c.order_no)) else None
            for c in cancels]


def _receipts_to_take(ctx: kit.FlowContext, receipts: list[ReturnReceived]) -> list[ReturnReceived | None]:
    # The latest receipt of each return says its state now (a confirm, cancel, re-confirm
    # history is one "received").
    latest: dict[str, ReturnReceived] = {}
    found: list[ReturnReceived | None] = []
    for receipt in receipts:
        if isinstance(receipt, MalformedRow):
            found.append(receipt)  # parked by the scan
            continue
        return_no = receipt.return_no or return_no_of(ctx, receipt.warehouse_return_id)
        if not return_no or not RETURNS.exists(ctx, return_no):
            found.append(None)
            continue
        latest[return_no] = with_return_no(receipt, return_no)
    return found + list(latest.values())


def _is_ours(ctx: kit.FlowContext, so_id: str) -> bool:
    return ORDERS.exists(ctx, so_id) or ctx.links.find(ctx.ent_id, STORE_ORDER, so_id, warehouse_order(ctx)) is not None
