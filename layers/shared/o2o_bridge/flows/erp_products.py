"""W4: the ERP's products at the store system, the guide's two ways.

Both read the ERP's product master through the Erp port (``erp.changed_products``, the read
JST's S7 uses); what differs from S7 is the 旺店通 guide's rules for what reaches the store.

- ``backfill`` (`o2o products backfill --since D` for a 旺店通 tenant; the guide's ERP商品导入
  button): the goods **created** in each window that the store system lacks become new
  products (P9 with auto_create), read in one-month windows (the button's limit). Like the
  button it does not change the products the store has, except that asking the store
  which it lacks sends the ERP's name (see erp_documents.create_missing).
- ``sync_erp_products`` (hourly ``sync_products``; the guide's 整点自动同步): products
  changed in the ERP since the last run update **only** 零售价, 货品名称 and 规格条码 of the
  products the store system already has (P9 without auto_create; the other fields are
  sent as null, which keeps the store's value). New products reach the store through the
  backfill or with the first ERP document that brings them (W2).

A batch the store refuses is parked with its reason (kit.settle) and the others go on; a goods
row that cannot be read is parked too (kit.each_record), its replay reads it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PermanentError
from ..ports.erp import ErpProduct
from ..shanghai_time import from_jst_text
from . import kit

if TYPE_CHECKING:
    from ..connectors.store import models as pos
    from .kit import FlowContext

CURSOR = "erp.products.modified"
WINDOW = timedelta(days=30)         # the guide's button: at most a month a time
OVERLAP = timedelta(minutes=10)
FIRST_LOOKBACK = timedelta(days=1)
BATCH = 100

Progress = Callable[[dict[str, Any]], None]


def sync_erp_products(ctx: "FlowContext") -> dict[str, Any]:
    end = ctx.now()
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
    begin = datetime.fromisoformat(cursor.value) - OVERLAP if cursor else end - FIRST_LOOKBACK
    found = ctx.erp.changed_products(min(begin, end), end, by_style=False)
    products = _readable(ctx, found)
    summary = _send(ctx, products, trace=f"products:{end.isoformat()[:16]}")
    summary["parked"] += len(found) - len(products)
    if not summary["parked"] and not summary["queued"]:
        ctx.cursors.advance(ctx.ent_id, CURSOR, end.isoformat(), cursor.version if cursor else None)
    return {"since": begin.isoformat(), "read": len(found), **summary}


def backfill(ctx: "FlowContext", since: datetime, *, progress: Progress | None = None) -> dict[str, Any]:
    from ..connectors.paging import split_window

    end = ctx.now()
    totals = {"windows": 0, "read": 0, "created": 0, "sent": 0, "parked": 0, "queued": 0}
    for number, (start, stop) in enumerate(split_window(since, end, WINDOW), start=1):
        new = [p for p in _readable(ctx, ctx.erp.changed_products(start, stop, by_style=False))
               if _created_within(p, start, stop)]
        result = {"sent": 0, "created": 0, "parked": 0, "queued": 0}
        for chunk_start in range(0, len(new), BATCH):
            chunk = new[chunk_start:chunk_start + BATCH]
            outcome = kit.settle(ctx, create_products, {"items": [dict(p.record) for p in chunk]},
                                 trace_key=f"backfill:{start.date()}")
            state = outcome.get("outcome")
            if state == "done":
                result["sent"] += len(chunk)
                result["created"] += len(outcome["created"])
            else:
                result["queued" if state == "queued" else "parked"] += 1
        totals["windows"] += 1
        totals["read"] += len(new)
        for key in ("created", "sent", "parked", "queued"):
            totals[key] += result[key]
        if progress:
            progress({"window": number, "begin": start.isoformat(), "end": stop.isoformat(), "new": len(new), **result})
    return totals


def _readable(ctx: "FlowContext", found: list[Any]) -> list[ErpProduct]:
    """The products read; a goods row that cannot be read is set aside (parked with the reason,
    replayed by ``update_again``) so the others go on."""
    from ..ports.state import MalformedRow

    kit.each_record(ctx, [row for row in found if isinstance(row, MalformedRow)], lambda row: "read",
                    step=update_again, payload_of=lambda row: {"row": row.raw}, trace_key_of=lambda row: row.key)
    return [p for p in found if not isinstance(p, MalformedRow)]


@kit.flow_command("erp_products.create")
def create_products(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    from .erp_documents import create_missing

    from . import cloud_warehouse
    from .erp_documents import to_store_product

    products = [ctx.erp.product_again(record) for record in payload["items"]]
    created = create_missing(ctx, products)
    # Q6: a cloud-warehouse tenant's WMS gets the same products (it upserts by item code).
    cloud_warehouse.products_to_wms(ctx, [to_store_product(p).body() for p in products])
    return {"outcome": "done", "created": created}


def _created_within(product: ErpProduct, start: datetime, stop: datetime) -> bool:
    created = from_jst_text(product.fields.get("created"))
    return created is None or start <= created <= stop


def _send(ctx: "FlowContext", products: list[ErpProduct], *, trace: str) -> dict[str, int]:
    summary = {"sent": 0, "created": 0, "updated": 0, "parked": 0, "queued": 0}
    by_sku = {p.sku_id: p for p in products}
    skus = sorted(by_sku)
    for start in range(0, len(skus), BATCH):
        items = [_item(by_sku[s]) for s in skus[start:start + BATCH]]
        outcome = kit.settle(ctx, update_products, {"items": items}, trace_key=trace)
        state = outcome.get("outcome")
        if state == "done":
            summary["sent"] += len(items)
            summary["created"] += outcome.get("created", 0)
            summary["updated"] += outcome.get("updated", 0)
        else:
            summary["queued" if state == "queued" else "parked"] += 1
    return summary


def _item(product: ErpProduct) -> dict[str, Any]:
    """The P9 item as JSON with only the three fields the hourly run updates."""
    return {"spu_code": product.style_code or product.sku_id, "sku_code": product.sku_id, "name": product.name,
            "barcode": product.barcode or None, "retail_price": str(product.retail_price)
            if product.retail_price is not None else None, "color": None, "size": None, "brand": None,
            "category": None, "cost_price": None, "tag_price": None}


@kit.flow_command("erp_products.update_again")
def update_again(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """A goods row the run could not read, read again and its SKUs updated (`o2o dlq replay`)."""
    return update_products(ctx, {"items": [_item(p) for p in ctx.erp.products_again(payload["row"])]})


@kit.flow_command("erp_products.update")
def update_products(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    from ..connectors.store import models as pos

    options = ctx.tenant.products
    batch = pos.ProductBatch(items=[pos.Product.model_validate(i) for i in payload["items"]],
                             options=pos.ProductOptions(auto_create=False,
                                                        category_once=options.category_once,
                                                        mount_category=options.mount_category,
                                                        spec_template=options.spec_template))
    results = ctx.store.upsert_products(batch).results
    refused = [f"{r.sku_code}: {r.msg or r.status}" for r in results
               if r.status not in ("created", "updated", "unchanged", "skipped")]
    if refused:
        raise PermanentError(f"the store refused {len(refused)} product(s): {'; '.join(refused[:10])}")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("created", "updated", "unchanged", "skipped")}
    if counts["created"] or counts["updated"]:
        ctx.metric("ProductsFromErp", counts["created"] + counts["updated"])
    # Q6: the products the store has (not those it skipped) go to a cloud-warehouse tenant's WMS too.
    from . import cloud_warehouse

    kept = {r.sku_code for r in results if r.status != "skipped"}
    cloud_warehouse.products_to_wms(ctx, [item for item in payload["items"] if item["sku_code"] in kept and item["name"]])
    return {"outcome": "done", **counts}
