"""W5: at 02:10 the stores' stock is made equal in one direction, by ``stock.master``, for
only the SKUs whose stock changed since the previous run (the 旺店通 guide's 库存同步), over the
Erp port both ERPs implement.

- ``erp``: the ERP's stock of the stores' warehouses changed since the last read becomes the
  stores' stock: the same read as JST's S4e (``stock_sync.pull_jst_stock`` over every stock
  source: a cursor per warehouse, the tenant's stock formula, versions, so a later store
  change is never overwritten by an older ERP figure). A cloud WMS (``warehouse: qimen``) is
  read in the same pass (Q5). A row the ERP lists that cannot be read is parked with its reason
  and the others are applied (its replay reads that SKU afresh, ``stock_sync.reread_stock``).
- ``pos``: the store stock rows changed since the last run (P8) become one count (盘点) per
  store warehouse in the ERP (``erp.book_store_count``, keyed by the run, the store and the
  figures): the counted quantity overwrites. A cloud WMS's stock is read first, as above.

The cursor ``erp.stock.nightly`` holds the end of the last complete ``pos`` run; a run reads
from ``OVERLAP`` before it. Each store's count is done once per run (``kit.effect_once``, and
the ERP finds a count it holds by its key), so a crashed run is simply run again. A store the
ERP refuses is parked; the others go on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..ports.erp import StoreCount
from ..ports.warehouse import SkuQty
from ..shanghai_time import shanghai_day
from . import kit, stock_sync

if TYPE_CHECKING:
    from .kit import FlowContext

CURSOR = "erp.stock.nightly"
OVERLAP = timedelta(minutes=10)
FIRST_LOOKBACK = timedelta(days=1)  # a tenant's first run: the day's changes


def nightly_erp_stock(ctx: "FlowContext") -> dict[str, Any]:
    master = ctx.tenant.stock.master
    read = stock_sync.pull_jst_stock(ctx)  # the ERP's store warehouses (master erp) and a cloud WMS
    if master == "erp":
        return {"master": master, "read": read}
    end = ctx.now()
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
    begin = (datetime.fromisoformat(cursor.value) - OVERLAP) if cursor else end - FIRST_LOOKBACK
    summary = _stores_to_erp(ctx, begin, end, shanghai_day(end))
    if not summary["parked"] and not summary["queued"]:
        ctx.cursors.advance(ctx.ent_id, CURSOR, end.isoformat(), cursor.version if cursor else None)
    return {"master": master, "since": begin.isoformat(), **summary, **({"read": read} if read else {})}


def _stores_to_erp(ctx: "FlowContext", begin: datetime, end: datetime, run: str) -> dict[str, Any]:
    stores = {s.code for s in ctx.tenant.stores}
    latest: dict[tuple[str, str], tuple[int, int]] = {}
    for row in ctx.store.scan_stock(updated_since=begin):
        if row.store_code not in stores or row.updated_at > end:
            continue
        key = (row.store_code, row.sku_id)
        if key not in latest or row.version >= latest[key][1]:
            latest[key] = (row.qty, row.version)
    per_store: dict[str, list[list[Any]]] = {}
    for (store, sku), (qty, _) in sorted(latest.items()):
        per_store.setdefault(store, []).append([sku, qty])
    summary = {"stores": len(per_store), "skus": len(latest), "done": 0, "queued": 0, "parked": 0}
    for store, lines in per_store.items():
        outcome = kit.settle(ctx, count_store_stock, {"run": run, "store_code": store, "lines": lines},
                             trace_key=f"stock:{run}:{store}")
        _count(summary, outcome)
    return summary


def _count(summary: dict[str, Any], outcome: dict[str, Any]) -> None:
    state = outcome.get("outcome")
    summary["done" if state == "done" else "queued" if state == "queued" else "parked"] += 1


@kit.flow_command("erp_stock.count_store_stock")
def count_store_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    store, run = payload["store_code"], payload["run"]
    digest = kit.digest(payload["lines"])
    count = StoreCount(count_no=f"SYNC-{run}-{store}-{digest[:8]}", store_code=store,
                       counted=tuple(SkuQty(s, int(q)) for s, q in payload["lines"]),
                       remark=f"门店库存同步 {run} ({store})")
    outcome = kit.effect_once(ctx, f"erp.stock.nightly:{run}:{store}:{digest}",
                              lambda: ctx.erp.book_store_count(count).document_id)
    if not outcome.repeated:
        ctx.timeline.record(f"stock:{run}:{store}", ctx.ent_id, "erp.stock_counted",
                            {"skus": len(count.counted), "erp_document": outcome.result})
        ctx.metric("ErpStockSetFromStores", len(count.counted))
    return {"outcome": "done", "erp_document": outcome.result}
