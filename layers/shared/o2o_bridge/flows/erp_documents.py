"""W2: the ERP's stock documents reach the stores every 10 minutes.

- ``poll_erp_documents`` (schedule ``poll_wdt_documents``) reads the stock-in and stock-out
  documents modified since the last run, starting ``overlap_minutes`` earlier (windows
  overlap, so a document written while the previous run read, or committed after it with
  an earlier modified time, is read by the next run) and ending now. The ERP port leaves
  out what the stores must not get: the bridge's own bookings (W3), the excluded types
  (JIT退货入库, 预入库, 线上销售单, 盘盈, 盘亏), warehouses that are no store's.
- Each document is delivered once (``erp_document`` record per direction and document no.,
  ``kit.effect_once``, and the store system's Idempotency-Key on the ERP's document no.): a
  stock-in becomes a pending inbound receipt (P12), a stock-out an outbound note (P13), at
  the store whose warehouse it is.
- With ``products.create_from_documents`` the document's SKUs the store does not know are
  created first (P9), from the ERP's product data; at most 5000 SKUs a document.
- A document the store refuses is parked with its reason (kit.settle), one that cannot be read
  (or fails otherwise) is set aside (kit.each_record); the others go on and the cursor moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError
from ..ports.erp import ErpProduct
from ..ports.retail import ErpDocument, ErpDocumentLine
from ..ports.state import MalformedRow
from . import kit

if TYPE_CHECKING:
    from ..connectors.store import models as pos
    from .kit import FlowContext

CURSOR = "erp.documents"
SEEN = "erp_document"            # one per "<in|out>:<doc_no>" taken care of (delivered, queued or parked)
SEEN_MEMORY_DAYS = 60
MAX_SKUS = 5000                  # the guide: a document brings at most 5000 SKUs to the store
PRODUCT_BATCH = 100
TIME_RESERVE_SECONDS = 20


def poll_erp_documents(ctx: "FlowContext") -> dict[str, Any]:
    overlap = timedelta(minutes=ctx.tenant.wangdiantong.documents.overlap_minutes)
    end = ctx.now()
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
    last_end = datetime.fromisoformat(cursor.value) if cursor else end
    begin = min(last_end, end) - overlap
    summary = {"read": 0, "delivered": 0, "seen_before": 0, "queued": 0, "parked": 0,
               "window": [begin.isoformat(), end.isoformat()]}
    documents = sorted(ctx.erp.documents(begin, end), key=lambda d: (
        ("", d.key) if isinstance(d, MalformedRow) else (d.modified or "", d.doc_no)))
    summary["read"] = len(documents)

    def take(doc: ErpDocument) -> str:
        key = f"{doc.direction}:{doc.doc_no}"
        if ctx.records.get(ctx.ent_id, SEEN, key) is not None:
            return "seen_before"
        ctx.timeline.record(doc.doc_no, ctx.ent_id, "erp_document.found",
                            {"direction": doc.direction, "type": doc.doc_type, "store_code": doc.store_code,
                             "lines": len(doc.lines)})
        outcome = kit.settle(ctx, deliver_document, _payload(doc), trace_key=doc.doc_no).get("outcome")
        ctx.records.put(ctx.ent_id, SEEN, key, {"outcome": outcome, "modified": doc.modified},
                        ttl_days=SEEN_MEMORY_DAYS)
        return "delivered" if outcome == "delivered" else "queued" if outcome == "queued" else "parked"

    # A document that fails (a row that cannot be read, a bug) is set aside; the others go on.
    counts = kit.each_record(ctx, documents, take, step=deliver_document, payload_of=_payload,
                             trace_key_of=lambda doc: doc.doc_no, malformed_step=deliver_again,
                             stop=lambda: ctx.time_left() < TIME_RESERVE_SECONDS)
    for outcome, count in counts.items():
        name = "seen_before" if outcome == "parked_before" else outcome  # set aside by an earlier run
        summary[name] = summary.get(name, 0) + count
    if counts["stopped_early"]:
        summary["stopped"] = "out of time"  # the cursor stays: the next run reads these again
        return summary
    ctx.cursors.advance(ctx.ent_id, CURSOR, end.isoformat(), cursor.version if cursor else None)
    if summary["delivered"]:
        ctx.metric("ErpDocumentsDelivered", summary["delivered"])
    return summary


def _payload(doc: ErpDocument) -> dict[str, Any]:
    return {"doc_no": doc.doc_no, "direction": doc.direction, "doc_type": doc.doc_type, "store_code": doc.store_code,
            "remark": doc.remark, "lines": [[l.sku_id, l.qty, l.name] for l in doc.lines]}


@kit.flow_command("erp_documents.deliver_again")
def deliver_again(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """A document the poll could not read, read again from its row and delivered (`o2o dlq
    replay` after the fix)."""
    doc = ctx.erp.document_again(payload["row"])
    if doc is None:
        return {"outcome": "not for the stores"}
    return deliver_document(ctx, _payload(doc))


@kit.flow_command("erp_documents.deliver")
def deliver_document(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    doc = ErpDocument(payload["doc_no"], payload["direction"], payload["doc_type"], payload["store_code"],
                      tuple(ErpDocumentLine(s, int(q), n) for s, q, n in payload["lines"]), payload.get("remark", ""))
    if len({l.sku_id for l in doc.lines}) > MAX_SKUS:
        raise PermanentError(f"{doc.doc_type} {doc.doc_no} has {len(doc.lines)} SKUs; a store document takes at "
                             f"most {MAX_SKUS}: split it in the ERP")
    key = f"store.erp_document:{doc.direction}:{doc.store_code}:{doc.doc_no}"
    outcome = kit.effect_once(ctx, key, lambda: _deliver(ctx, doc))
    if not outcome.repeated:
        step = "store.inbound_receipt_created" if doc.direction == "in" else "store.outbound_note_booked"
        ctx.timeline.record(doc.doc_no, ctx.ent_id, step, outcome.result)
    return {"outcome": "delivered", **outcome.result}


def _deliver(ctx: "FlowContext", doc: ErpDocument) -> dict[str, Any]:
    from ..connectors.store import models as pos

    created: list[str] = []
    if ctx.tenant.products.create_from_documents:
        created = create_unknown_products(ctx, [l.sku_id for l in doc.lines])
    quantities: dict[str, int] = {}
    for line in doc.lines:
        quantities[line.sku_id] = quantities.get(line.sku_id, 0) + line.qty
    document = pos.StoreDocument(doc_no=doc.doc_no, doc_type=doc.doc_type, remark=doc.remark[:2000],
                                 items=[pos.SkuQty(sku_id=s, qty=q) for s, q in quantities.items()])
    if doc.direction == "in":
        answer = ctx.store.create_inbound_receipt(doc.store_code, document)
        return {"store_code": doc.store_code, "inbound_receipt_no": answer.inbound_receipt_no,
                "products_created": created}
    answer = ctx.store.book_outbound_note(doc.store_code, document)
    return {"store_code": doc.store_code, "outbound_no": answer.outbound_no, "products_created": created}


def create_unknown_products(ctx: "FlowContext", sku_ids: list[str]) -> list[str]:
    """Create at the store the SKUs it does not know, from the ERP's product data."""
    products = ctx.erp.products_of(sorted(set(sku_ids)))
    missing_in_erp = sorted(set(sku_ids) - {p.sku_id for p in products})
    if missing_in_erp:
        raise PermanentError(f"the ERP has no product data for {', '.join(missing_in_erp[:10])}")
    return create_missing(ctx, products)


def create_missing(ctx: "FlowContext", products: list[ErpProduct]) -> list[str]:
    """Create the products the store system does not have yet; returns their SKUs.

    The store system says which it lacks when asked to update them without auto_create
    ("skipped"); that question sends the ERP's name, so a product it has gets the ERP's
    name (what the hourly update does anyway) and nothing else."""
    from ..connectors.store import models as pos

    by_sku = {p.sku_id: p for p in products}
    options = ctx.tenant.products
    unknown: list[str] = []
    skus = sorted(by_sku)
    for start in range(0, len(skus), PRODUCT_BATCH):
        chunk = skus[start:start + PRODUCT_BATCH]
        probe = pos.ProductBatch(items=[_name_only(by_sku[s]) for s in chunk], options=_options(options, create=False))
        results = ctx.store.upsert_products(probe)
        unknown.extend(r.sku_code for r in results.results if r.status == "skipped")
    for start in range(0, len(unknown), PRODUCT_BATCH):
        chunk = unknown[start:start + PRODUCT_BATCH]
        batch = pos.ProductBatch(items=[to_store_product(by_sku[s]) for s in chunk], options=_options(options, create=True))
        results = ctx.store.upsert_products(batch)
        failed = [f"{r.sku_code}: {r.msg or r.status}" for r in results.results if r.status not in ("created", "updated")]
        if failed:
            raise PermanentError(f"the store refused new products: {'; '.join(failed[:10])}")
    if unknown:
        ctx.metric("ProductsCreatedFromErp", len(unknown))
    return unknown


def _options(options: Any, *, create: bool) -> "pos.ProductOptions":
    from ..connectors.store import models as pos

    return pos.ProductOptions(auto_create=create, category_once=options.category_once,
                              mount_category=options.mount_category, spec_template=options.spec_template)


def _name_only(product: ErpProduct) -> "pos.Product":
    """A P9 item that changes nothing but the name (null keeps a field's value at the store)."""
    from ..connectors.store import models as pos

    return pos.Product(spu_code=product.style_code or product.sku_id, sku_code=product.sku_id, name=product.name,
                       barcode=None, color=None, size=None, brand=None, category=None, cost_price=None,
                       tag_price=None, retail_price=None)


def to_store_product(product: ErpProduct) -> "pos.Product":
    """An ERP product as the store system creates it (P9): the spec's name as its size."""
    from ..connectors.store import models as pos

    return pos.Product(spu_code=product.style_code or product.sku_id, sku_code=product.sku_id, name=product.name,
                       barcode=product.barcode or None, color=product.color or None, size=product.spec or None,
                       brand=product.brand or None, category=product.category or None, cost_price=None,
                       tag_price=product.tag_price, retail_price=product.retail_price)
