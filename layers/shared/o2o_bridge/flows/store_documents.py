"""W3: the store's own stock documents reach the ERP at once.

- ``stock.counted`` (an approved 盘点): the counted quantities replace the ERP's stock of
  the store's warehouse; the ERP books the differences itself (盘盈入库 / 盘亏出库).
- ``sale.refunded``: goods a customer returned go back into the store's warehouse as one
  other stock-in (the guide's route for a returned item, not a sales refund); a defective
  return stays in the store system (it is only for viewing there) and the ERP hears nothing.
- ``store_document.submitted``: 冲单 (reversal), 采购入库 (purchase_in), 入库单导入 (import_in)
  are other stock-ins; 换货出库 (exchange_out), 出库开单 (manual_out) other stock-outs.

Each document is booked once: ``kit.effect_once`` per document, and the ERP keys it by
the store's document no. (a repeated push is "already booked"), so a replayed event, a
crash between the booking and its record, or a retried timeout never books twice. A
refusal (an SKU the ERP lacks, a store without its warehouse) is parked with its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotImplementedYet
from ..ports.retail import GoodsMovement, SkuQty, StockCount
from . import kit

if TYPE_CHECKING:
    from ..tenant import Tenant
    from .kit import FlowContext

IN_KINDS = ("reversal", "purchase_in", "import_in")
OUT_KINDS = ("exchange_out", "manual_out")


def _context(ctx: "FlowContext", event_type: str) -> "FlowContext":
    if ctx.erp is None or ctx.tenant.erp != "wangdiantong":
        raise NotImplementedYet(f"the {event_type} flow for a tenant whose ERP is {ctx.tenant.erp}", issue=16)
    return ctx


def on_stock_counted(event, ctx: "FlowContext") -> dict[str, Any]:
    data = event.data
    ctx = _context(ctx, "stock.counted")
    payload = {"count_no": str(data.count_no), "store_code": str(data.store_code),
               "items": [[str(i.sku_id), int(i.counted_qty)] for i in data.items]}
    ctx.timeline.record(payload["count_no"], ctx.ent_id, "stock_count.received",
                        {"store_code": payload["store_code"], "lines": len(payload["items"])})
    return kit.settle(ctx, book_count, payload, trace_key=payload["count_no"])


def on_sale_refunded(event, ctx: "FlowContext") -> dict[str, Any] | None:
    data = event.data
    ctx = _context(ctx, "sale.refunded")
    refund_no = str(data.refund_no)
    if getattr(data, "defective", False):
        ctx.timeline.record(refund_no, ctx.ent_id, "refund.kept_in_store",
                            {"sale_no": str(data.sale_no), "why": "defective goods stay in the store system"})
        return None
    movement = {"doc_no": f"R-{refund_no}", "store_code": str(data.store_code), "direction": "in", "kind": "refund",
                "items": [[str(i.sku_id), int(i.qty)] for i in data.items], "remark": f"sale {data.sale_no}",
                "trace_key": refund_no}
    return kit.settle(ctx, book_movement, movement, trace_key=refund_no)


def on_store_document_submitted(event, ctx: "FlowContext") -> dict[str, Any]:
    data = event.data
    ctx = _context(ctx, "store_document.submitted")
    kind = str(data.kind)
    direction = "in" if kind in IN_KINDS else "out" if kind in OUT_KINDS else None
    if direction is None:
        from ..errors import UnprocessableRequest

        raise UnprocessableRequest(f"data.kind {kind!r} is not one of {', '.join(IN_KINDS + OUT_KINDS)}")
    doc_no = str(data.doc_no)
    movement = {"doc_no": doc_no, "store_code": str(data.store_code), "direction": direction, "kind": kind,
                "items": [[str(i.sku_id), int(i.qty)] for i in data.items], "remark": "", "trace_key": doc_no}
    return kit.settle(ctx, book_movement, movement, trace_key=doc_no)


@kit.flow_command("store_documents.book_count")
def book_count(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    count = StockCount(payload["count_no"], payload["store_code"],
                       tuple(SkuQty(sku, qty) for sku, qty in payload["items"]))
    outcome = kit.effect_once(ctx, f"erp.count:{count.store_code}:{count.count_no}", lambda: ctx.erp.book_count(count))
    if not outcome.repeated:
        ctx.timeline.record(count.count_no, ctx.ent_id, "erp.count_booked",
                            {"erp_document": outcome.result, "lines": len(count.lines)})
        ctx.metric("StoreCountBooked", 1)
    return {"outcome": "booked", "erp_document": outcome.result, "repeated": outcome.repeated}


@kit.flow_command("store_documents.book_movement")
def book_movement(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    movement = GoodsMovement(payload["doc_no"], payload["store_code"], payload["direction"], payload["kind"],
                             tuple(SkuQty(sku, qty) for sku, qty in payload["items"]), payload.get("remark", ""))
    key = f"erp.movement:{movement.direction}:{movement.doc_no}"
    outcome = kit.effect_once(ctx, key, lambda: ctx.erp.book_movement(movement))
    if not outcome.repeated:
        ctx.timeline.record(payload["trace_key"], ctx.ent_id, f"erp.stock_{movement.direction}_booked",
                            {"erp_document": outcome.result, "kind": movement.kind, "lines": len(movement.lines)})
        ctx.metric("StoreDocumentBooked", 1)
    return {"outcome": "booked", "erp_document": outcome.result, "repeated": outcome.repeated}
