"""ERP-owned store stock (``stock.master: erp``): what happens at the till reaches the ERP.

When the ERP owns the stores' stock (the guide's scheme "门店库存以聚水潭为准"), every store
has its own warehouse in the ERP (a ``warehouses`` row whose store-system code is the store's
code) and the store system shows the ERP's figure (S4e). So every movement at the store must
be booked in the ERP, or the next stock pull and nightly run restore the ERP's older figure
and sold units reappear on the shelf:

- ``sale.completed``  -> the guide's 零售单: stock out of the store's warehouse;
- ``sale.refunded``   -> 零售退单: stock back in (to the ERP's defective stock when the goods
  came back ``defective``);
- ``stock.counted``   -> 盘点单: the counted quantities replace the ERP's, for the SKUs counted;
- ``store_transfer.submitted`` -> 店店调拨: out of the sending store, into the receiving one.

Each is booked exactly once (``kit.effect_once`` on the document's number, which is also the
ERP's own key, so even a lost answer is no second document), at once and confirmed (it already
happened at the store). Then the SKUs' stock is read back from the ERP and set at the store
(``stock_sync.recheck_stock``), so the store shows the ERP's figure with the ERP's version.

A document the ERP refuses for good (an unknown SKU, a store without its ERP warehouse) is
parked on the DLQ with the reason (``kit.settle``) and never holds back the ones behind it;
`o2o dlq replay` books it once the cause is fixed. With ``stock.master: pos`` the store system
owns store stock and its ``stock.changed`` events feed the ERP's virtual warehouse: these
events are acknowledged with a timeline note and nothing is booked.

The ERP's documents are chosen by the connector (connectors/jushuitan/erp.py for JST).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Iterable

from ..ports.erp import StoreCount, StoreStockMove
from ..ports.warehouse import SkuQty
from . import kit, stock_sync

if TYPE_CHECKING:
    from ..events.models import PosEvent
    from .kit import FlowContext

BOOKED_METRIC = "StoreStockBooked"


def _lines(pairs: Iterable[tuple[str, int]]) -> list[list[Any]]:
    merged: dict[str, int] = {}
    for sku_id, qty in pairs:
        merged[sku_id] = merged.get(sku_id, 0) + int(qty)
    return [[sku, qty] for sku, qty in merged.items() if qty > 0]


def _erp_owns_store_stock(ctx: "FlowContext", trace: str, event: "PosEvent") -> bool:
    if ctx.tenant.stock.master == "erp":
        return True
    ctx.timeline.record(trace, ctx.ent_id, "erp_store.not_booked",
                        {"event_id": event.event_id, "type": event.type,
                         "reason": "stock.master is pos: the store system owns store stock, and its stock.changed "
                                   "events feed the ERP's virtual warehouse (店加线下仓)"})
    return False


# --- the store events ----------------------------------------------------------------------------

def on_sale_completed(event: "PosEvent", ctx: "FlowContext") -> None:
    sale = event.data
    if _erp_owns_store_stock(ctx, sale.sale_no, event):
        book(ctx, {"doc_no": sale.sale_no, "store_code": sale.store_code, "direction": "out", "kind": "sale",
                   "lines": _lines((line.sku_id, line.qty) for line in sale.items),
                   "remark": f"零售单 {sale.sale_no} ({sale.store_code})"}, trace=sale.sale_no)


def on_sale_refunded(event: "PosEvent", ctx: "FlowContext") -> None:
    refund = event.data
    if _erp_owns_store_stock(ctx, refund.refund_no, event):
        book(ctx, {"doc_no": refund.refund_no, "store_code": refund.store_code, "direction": "in", "kind": "refund",
                   "lines": _lines((line.sku_id, line.qty) for line in refund.items), "defective": refund.defective,
                   "remark": f"零售退单 {refund.refund_no} (零售单 {refund.sale_no}, {refund.store_code})"},
             trace=refund.refund_no)


def on_stock_counted(event: "PosEvent", ctx: "FlowContext") -> None:
    count = event.data
    if _erp_owns_store_stock(ctx, count.count_no, event):
        counted = {item.sku_id: int(item.counted_qty) for item in count.items}  # the last line of a SKU counts
        kit.settle(ctx, book_count, {"count_no": count.count_no, "store_code": count.store_code,
                                     "counted": [[sku, qty] for sku, qty in counted.items()],
                                     "remark": f"盘点单 {count.count_no} ({count.store_code})"},
                   trace_key=count.count_no)


def on_store_transfer_submitted(event: "PosEvent", ctx: "FlowContext") -> None:
    """店店调拨: out of ``from_store``, into ``to_store``, as two documents keyed by the transfer's
    number (``<doc_no>-out`` / ``<doc_no>-in``); the store system submits a transfer once the
    goods moved, so both are booked at once."""
    transfer = event.data
    if not _erp_owns_store_stock(ctx, transfer.doc_no, event):
        return
    lines = _lines((item.sku_id, item.qty) for item in transfer.items)
    remark = f"店店调拨 {transfer.doc_no} {transfer.from_store} -> {transfer.to_store}"
    for store, direction in ((transfer.from_store, "out"), (transfer.to_store, "in")):
        book(ctx, {"doc_no": f"{transfer.doc_no}-{direction}", "store_code": store, "direction": direction,
                   "kind": "transfer", "lines": lines, "remark": remark, "trace": transfer.doc_no},
             trace=transfer.doc_no)


# --- the steps ------------------------------------------------------------------------------------

def book(ctx: "FlowContext", move: dict[str, Any], *, trace: str) -> dict[str, Any]:
    """Book now; queued on a transient failure; parked with the reason on a permanent one."""
    return kit.settle(ctx, book_move, move, trace_key=trace)


@kit.flow_command("erp_store.book_move")
def book_move(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    move = StoreStockMove(doc_no=payload["doc_no"], store_code=payload["store_code"], direction=payload["direction"],
                          kind=payload["kind"], lines=tuple(SkuQty(sku, int(qty)) for sku, qty in payload["lines"]),
                          remark=payload["remark"], defective=bool(payload.get("defective", False)))
    outcome = kit.effect_once(ctx, f"erp_store.{move.direction}:{move.doc_no}",
                              lambda: asdict(ctx.erp.book_store_move(move)))
    return _booked(ctx, payload["doc_no"], payload, outcome, [sku for sku, _ in payload["lines"]])


@kit.flow_command("erp_store.book_count")
def book_count(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    count = StoreCount(count_no=payload["count_no"], store_code=payload["store_code"],
                       counted=tuple(SkuQty(sku, int(qty)) for sku, qty in payload["counted"]),
                       remark=payload["remark"])
    outcome = kit.effect_once(ctx, f"erp_store.count:{count.count_no}", lambda: asdict(ctx.erp.book_store_count(count)))
    return _booked(ctx, count.count_no, {**payload, "kind": "count"}, outcome, [sku for sku, _ in payload["counted"]])


def _booked(ctx: "FlowContext", doc_no: str, payload: dict[str, Any], outcome: Any, sku_ids: list[str]) -> dict[str, Any]:
    booking = outcome.result
    trace = payload.get("trace") or doc_no  # a transfer's two halves share the transfer's timeline
    if not outcome.repeated:
        ctx.timeline.record(trace, ctx.ent_id, "erp_store.booked",
                            {"kind": payload["kind"], "doc_no": doc_no, "store": payload["store_code"],
                             "erp_document": booking["document_id"], "erp_warehouse": booking["warehouse_code"],
                             "held_before": booking["repeated"]})
        ctx.metric(BOOKED_METRIC, 1)
    # The store shows the ERP's figure: read it back now (queued when the ERP is busy).
    followed = stock_sync.recheck_stock(ctx, booking["warehouse_code"], sku_ids)
    return {**booking, "store_stock": followed}


__all__ = ["book_count", "book_move", "on_sale_completed", "on_sale_refunded", "on_stock_counted",
           "on_store_transfer_submitted"]
