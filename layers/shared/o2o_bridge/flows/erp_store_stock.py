"""The store's books in the tenant's ERP: what happens at the till and in the stockroom reaches
the ERP, one flow for JST and 旺店通 over the Erp port (ports/erp.py).

When: an ERP that keeps the stores' books (``erp.info.keeps_store_books``: 旺店通, whose guide
sends every store document back) books them always; JST books them when it owns the stores'
stock (``stock.master: erp``, the guide's scheme "门店库存以聚水潭为准": every store has its own
JST warehouse and the store system shows JST's figure, so every movement at the store must be
booked there, or the next stock read restores JST's older figure). Otherwise the event is
acknowledged with a timeline note and nothing is booked.

What:

- ``sale.completed``  -> a retail sale. An ERP that takes store sales as orders of its POS shop
  (``info.sales_as_orders``, 旺店通 W1) gets it from the 10-minute run (flows/store_sales.py);
  otherwise it is the guide's 零售单, a stock move out of the store's warehouse, at once.
- ``sale.refunded``   -> back into the store's warehouse (JST 零售退单; 旺店通 其他入库, the
  guide's route for a returned item). Defective goods go to the ERP's defective stock where it
  has one (``info.defective_stock``, JST's 次品仓), else they stay in the store system, where
  they are only for viewing (the 旺店通 guide), and the ERP hears nothing.
- ``stock.counted``   -> 盘点: the counted quantities replace the ERP's, for the SKUs counted.
- ``store_transfer.submitted`` -> 店店调拨, the goods left: out of the sending store's warehouse;
  they are **in transit** (a ``store_transfer.in_transit`` record, `o2o transfers in-transit`)
  and in neither store's stock, in the ERP or at the stores, so they are never counted twice;
- ``store_transfer.received`` -> the receiving store took them in: into its warehouse, with the
  quantities it received (a short or over receipt is noted on the transfer's timeline).
- ``store_document.submitted`` -> the store's own documents: 冲单 (reversal), 采购入库
  (purchase_in), 入库单导入 (import_in) in; 换货出库 (exchange_out), 出库开单 (manual_out) out.

Each document is booked exactly once (``kit.effect_once`` on the document's number, which is also
the ERP's own key, so even a lost answer is no second document), at once (it already happened at
the store). A document longer than the ERP takes (``info.max_document_lines``) is booked in parts
``<doc_no>-1``, ``-2``, ... (numbered from the event's lines, so a replay names the same parts),
each once. When the ERP owns the store stock the SKUs' stock is then read back from the ERP and
set at the store (``stock_sync.recheck_stock``), so the store shows the ERP's figure with the
ERP's version.

A document the ERP refuses for good (an unknown SKU, a store without its ERP warehouse) is
parked on the DLQ with the reason (``kit.settle``) and never holds back the ones behind it;
`o2o dlq replay` books it once the cause is fixed.
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


IN_KINDS = ("reversal", "purchase_in", "import_in")
OUT_KINDS = ("exchange_out", "manual_out")
# The store system's names of its own documents (the 旺店通 guide's words).
DOCUMENT_NAMES = {"reversal": "冲单", "purchase_in": "采购入库", "import_in": "入库单导入", "exchange_out": "换货出库",
                  "manual_out": "出库开单"}


def books_nothing(ctx: "FlowContext") -> bool:
    """The tenant's ERP keeps no books of the stores: their events are only noted on the timeline
    (events/recording.py then stores such an event as done in one write)."""
    return not (ctx.erp.info.keeps_store_books or ctx.tenant.stock.master == "erp")


def erp_books_store(ctx: "FlowContext", trace: str, event: "PosEvent") -> bool:
    if not books_nothing(ctx):
        return True
    ctx.timeline.record(trace, ctx.ent_id, "erp_store.not_booked",
                        {"event_id": event.event_id, "type": event.type,
                         "reason": "stock.master is pos: the store system owns store stock, and its stock.changed "
                                   "events feed the ERP's virtual warehouse (店加线下仓)"})
    return False


# --- the store events ----------------------------------------------------------------------------

def on_sale_completed(event: "PosEvent", ctx: "FlowContext") -> Any:
    sale = event.data
    if not erp_books_store(ctx, sale.sale_no, event):
        return None
    if ctx.erp.info.sales_as_orders:
        from ..ports.retail import StoreSale
        from .store_sales import queue_sale

        return queue_sale(ctx, StoreSale.from_event(sale))
    return book(ctx, {"doc_no": sale.sale_no, "store_code": sale.store_code, "direction": "out", "kind": "sale",
                      "lines": _lines((line.sku_id, line.qty) for line in sale.items),
                      "remark": f"零售单 {sale.sale_no} ({sale.store_code})"}, trace=sale.sale_no)


def on_sale_refunded(event: "PosEvent", ctx: "FlowContext") -> Any:
    refund = event.data
    if not erp_books_store(ctx, refund.refund_no, event):
        return None
    if refund.defective and not ctx.erp.info.defective_stock:
        ctx.timeline.record(refund.refund_no, ctx.ent_id, "refund.kept_in_store",
                            {"sale_no": str(refund.sale_no),
                             "why": f"defective goods stay in the store system: {ctx.erp.info.display_name} "
                                    "keeps no defective stock for the stores"})
        return None
    return book(ctx, {"doc_no": refund.refund_no, "store_code": refund.store_code, "direction": "in", "kind": "refund",
                      "lines": _lines((line.sku_id, line.qty) for line in refund.items), "defective": refund.defective,
                      "remark": f"零售退单 {refund.refund_no} (零售单 {refund.sale_no}, {refund.store_code})"},
                trace=refund.refund_no)


def on_stock_counted(event: "PosEvent", ctx: "FlowContext") -> Any:
    count = event.data
    if not erp_books_store(ctx, count.count_no, event):
        return None
    counted = {item.sku_id: int(item.counted_qty) for item in count.items}  # the last line of a SKU counts
    ctx.timeline.record(count.count_no, ctx.ent_id, "stock_count.received",
                        {"store_code": count.store_code, "lines": len(counted)})
    return kit.settle(ctx, book_count, {"count_no": count.count_no, "store_code": count.store_code,
                                        "counted": [[sku, qty] for sku, qty in counted.items()],
                                        "remark": f"盘点单 {count.count_no} ({count.store_code})"},
                      trace_key=count.count_no)


def on_store_transfer_submitted(event: "PosEvent", ctx: "FlowContext") -> None:
    """店店调拨, the goods left ``from_store``: booked out of its warehouse (``<doc_no>-out``) and
    in transit until ``store_transfer.received`` books them into ``to_store``'s."""
    transfer = event.data
    if not erp_books_store(ctx, transfer.doc_no, event):
        return
    lines = _lines((item.sku_id, item.qty) for item in transfer.items)
    _mark_in_transit(ctx, transfer.doc_no, {"from_store": transfer.from_store, "to_store": transfer.to_store,
                                            "items": lines, "sent_at": event.occurred_at.isoformat()})
    book(ctx, {"doc_no": f"{transfer.doc_no}-out", "store_code": transfer.from_store, "direction": "out",
               "kind": "transfer", "lines": lines, "trace": transfer.doc_no,
               "remark": f"店店调拨 {transfer.doc_no} {transfer.from_store} -> {transfer.to_store} (调出)"},
         trace=transfer.doc_no)


def on_store_transfer_received(event: "PosEvent", ctx: "FlowContext") -> None:
    """店店调拨 received at ``to_store``: what it received booked into its warehouse (``<doc_no>-in``)."""
    receipt = event.data
    if not erp_books_store(ctx, receipt.doc_no, event):
        return
    lines = _lines((item.sku_id, item.qty) for item in receipt.items)
    sent = _mark_received(ctx, receipt.doc_no, receipt.to_store, lines, receipt.received_at.isoformat())
    remark = f"店店调拨 {receipt.doc_no} -> {receipt.to_store} (调入)"
    if sent is not None:
        remark = f"店店调拨 {receipt.doc_no} {sent['from_store']} -> {receipt.to_store} (调入)"
    book(ctx, {"doc_no": f"{receipt.doc_no}-in", "store_code": receipt.to_store, "direction": "in",
               "kind": "transfer", "lines": lines, "remark": remark, "trace": receipt.doc_no}, trace=receipt.doc_no)


# --- goods in transit between two stores ---------------------------------------------------------

# Record kind, key doc_no, state in_transit (goods that left one store, not yet in the other),
# received (the receipt came before its transfer) or settled (both heard of). The last two are
# kept a while so a late or redelivered event never puts the goods in transit again.
IN_TRANSIT = "store_transfer.in_transit"
SETTLED_TTL_DAYS = 30


def in_transit(ctx: "FlowContext") -> list[dict[str, Any]]:
    """The store transfers whose goods are on the way (`o2o transfers in-transit`)."""
    return [{"doc_no": r.key, **r.data} for r in ctx.records.list(ctx.ent_id, IN_TRANSIT)
            if r.data.get("state") == "in_transit"]


def _mark_in_transit(ctx: "FlowContext", doc_no: str, transfer: dict[str, Any]) -> None:
    for _ in range(8):
        current = ctx.records.get(ctx.ent_id, IN_TRANSIT, doc_no)
        if current is not None:
            if current.data.get("state") == "received":  # the receipt came first: nothing is on the way
                ctx.records.put(ctx.ent_id, IN_TRANSIT, doc_no, {**current.data, **transfer, "state": "settled"},
                                expected_version=current.version, ttl_days=SETTLED_TTL_DAYS)
            return  # a repeated event, or settled just above
        if ctx.records.put(ctx.ent_id, IN_TRANSIT, doc_no, {**transfer, "state": "in_transit"}) is not None:
            ctx.timeline.record(doc_no, ctx.ent_id, "store_transfer.in_transit",
                                {"from_store": transfer["from_store"], "to_store": transfer["to_store"],
                                 "qty": sum(qty for _, qty in transfer["items"])})
            ctx.metric("StoreTransferInTransit", 1)
            return


def _mark_received(ctx: "FlowContext", doc_no: str, to_store: str, lines: list[list[Any]],
                   received_at: str) -> dict[str, Any] | None:
    """The transfer is no longer in transit; returns what was sent (None: not heard of yet, then
    the receipt is remembered so the late transfer does not put the goods in transit again)."""
    for _ in range(8):
        current = ctx.records.get(ctx.ent_id, IN_TRANSIT, doc_no)
        if current is None:
            if ctx.records.put(ctx.ent_id, IN_TRANSIT, doc_no, {"state": "received", "to_store": to_store,
                                                                "items": lines, "received_at": received_at},
                               ttl_days=SETTLED_TTL_DAYS) is not None:
                return None
            continue
        if current.data.get("state") != "in_transit":
            return None  # a repeated receipt
        sent = current.data
        if ctx.records.put(ctx.ent_id, IN_TRANSIT, doc_no, {**sent, "state": "settled", "received": lines,
                                                            "received_at": received_at},
                           expected_version=current.version, ttl_days=SETTLED_TTL_DAYS) is not None:
            difference = {sku: qty for sku, qty in _difference(sent["items"], lines).items() if qty}
            ctx.timeline.record(doc_no, ctx.ent_id, "store_transfer.received",
                                {"to_store": to_store, "qty": sum(qty for _, qty in lines),
                                 **({"received_minus_sent": difference} if difference else {})},
                                level="warning" if difference else "info")
            return sent
    return None


def _difference(sent: list[list[Any]], received: list[list[Any]]) -> dict[str, int]:
    delta = {sku: -int(qty) for sku, qty in sent}
    for sku, qty in received:
        delta[sku] = delta.get(sku, 0) + int(qty)
    return delta


def on_store_document_submitted(event: "PosEvent", ctx: "FlowContext") -> Any:
    """The store's own in/out documents (冲单, 采购入库, 入库单导入; 换货出库, 出库开单)."""
    from ..errors import UnprocessableRequest

    data = event.data
    kind = str(data.kind)
    direction = "in" if kind in IN_KINDS else "out" if kind in OUT_KINDS else None
    if direction is None:
        raise UnprocessableRequest(f"data.kind {kind!r} is not one of {', '.join(IN_KINDS + OUT_KINDS)}")
    if not erp_books_store(ctx, str(data.doc_no), event):
        return None
    return book(ctx, {"doc_no": str(data.doc_no), "store_code": str(data.store_code), "direction": direction,
                      "kind": kind, "lines": _lines((item.sku_id, item.qty) for item in data.items),
                      "remark": f"门店{DOCUMENT_NAMES[kind]} {data.doc_no} ({data.store_code})"}, trace=str(data.doc_no))


# --- the steps ------------------------------------------------------------------------------------

def book(ctx: "FlowContext", move: dict[str, Any], *, trace: str) -> dict[str, Any]:
    """Book now, in parts the ERP takes; each part queued on a transient failure, parked with the
    reason on a permanent one. Returns the single part's outcome, or ``{"parts": [...]}``."""
    from .store_transfers import external_id_of

    lines = move["lines"]
    size = ctx.erp.info.max_document_lines or max(len(lines), 1)
    parts = [lines[start:start + size] for start in range(0, len(lines), size)] or [lines]
    if len(parts) == 1:
        return kit.settle(ctx, book_move, move, trace_key=trace)
    names = [external_id_of(move["doc_no"], n, len(parts)) for n in range(1, len(parts) + 1)]
    ctx.timeline.record(trace, ctx.ent_id, "erp_store.split",
                        {"doc_no": move["doc_no"], "lines": len(lines), "parts": names,
                         "why": f"{ctx.erp.info.display_name} takes at most {size} lines a document"},
                        aliases=tuple(names))
    return {"parts": [kit.settle(ctx, book_move, {**move, "doc_no": name, "lines": part, "trace": trace},
                                 trace_key=trace) for name, part in zip(names, parts)]}


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
    if ctx.tenant.stock.master != "erp":  # the store system owns its stock: nothing to read back
        return booking
    # The store shows the ERP's figure: read it back now (queued when the ERP is busy).
    followed = stock_sync.recheck_stock(ctx, booking["warehouse_code"], sku_ids)
    return {**booking, "store_stock": followed}


# --- dead letters of the release before: the same documents under the names they were queued with ---


@kit.flow_command("store_documents.book_movement")
def book_movement_as_queued_before(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """A store document (a refund as ``R-<refund no.>``, a 冲单, ...) dead-lettered before the
    upgrade, booked as ``erp_store.book_move`` under the doc no. it was queued with, so its
    outer_no is the one 旺店通 may already hold (a document booked then is not booked again)."""
    return book_move(ctx, {"doc_no": payload["doc_no"], "store_code": payload["store_code"],
                           "direction": payload["direction"], "kind": payload["kind"], "lines": payload["items"],
                           "remark": payload.get("remark") or "", "defective": False})


@kit.flow_command("store_documents.book_count")
def book_count_as_queued_before(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """A 盘点 dead-lettered before the upgrade, booked as ``erp_store.book_count`` (its look-up by
    the count's key finds a 盘点 booked then)."""
    return book_count(ctx, {"count_no": payload["count_no"], "store_code": payload["store_code"],
                            "counted": payload["items"], "remark": payload.get("remark") or ""})


__all__ = ["book_count", "book_move", "books_nothing", "in_transit", "on_sale_completed", "on_sale_refunded",
           "on_stock_counted", "on_store_document_submitted", "on_store_transfer_received", "on_store_transfer_submitted"]
