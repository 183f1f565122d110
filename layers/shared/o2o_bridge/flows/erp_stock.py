"""W5: at 02:10 the stores' stock is made equal in one direction, by ``stock.master``, for
only the SKUs whose stock changed since the previous run (the guide's 库存同步).

- ``erp``: the ERP's stock of the stores' warehouses changed since the last run (by its
  modified time) becomes the stores' stock (P6 to the store's own warehouse, with the ERP's
  modified time as the version, so a later store change is never overwritten by an older
  ERP figure).
- ``pos``: the store stock rows changed since the last run (P8) become one count (盘点)
  per store warehouse in the ERP: the counted quantity overwrites.

The cursor ``erp.stock.nightly`` holds the end of the last complete run; a run reads from
``OVERLAP`` before it. Each store's part is done once per run (``kit.effect_once``) and
both directions are absolute (a repeat sets the same figures), so a crashed run is
simply run again. A store the ERP or the store system refuses is parked, and so is an ERP row
that cannot be read; the others go on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..ports.retail import SkuQty
from ..shanghai_time import from_jst_text, shanghai_day
from . import kit

if TYPE_CHECKING:
    from .kit import FlowContext

CURSOR = "erp.stock.nightly"
OVERLAP = timedelta(minutes=10)
FIRST_LOOKBACK = timedelta(days=1)  # a tenant's first run: the day's changes


def nightly_erp_stock(ctx: "FlowContext") -> dict[str, Any]:
    end = ctx.now()
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
    begin = (datetime.fromisoformat(cursor.value) - OVERLAP) if cursor else end - FIRST_LOOKBACK
    run = shanghai_day(end)
    master = ctx.tenant.stock.master
    if master == "erp":
        summary = _erp_to_stores(ctx, begin, end, run)
    else:
        summary = _stores_to_erp(ctx, begin, end, run)
    if not summary["parked"] and not summary["queued"]:
        ctx.cursors.advance(ctx.ent_id, CURSOR, end.isoformat(), cursor.version if cursor else None)
    return {"master": master, "since": begin.isoformat(), **summary}


def _erp_to_stores(ctx: "FlowContext", begin: datetime, end: datetime, run: str) -> dict[str, Any]:
    from ..ports.state import MalformedRow

    latest: dict[tuple[str, str], Any] = {}
    rows = ctx.erp.stock(begin, end)
    # A row that cannot be read is set aside (parked with the reason; its replay reads it again).
    unreadable = kit.each_record(ctx, [row for row in rows if isinstance(row, MalformedRow)], lambda row: "read",
                                 step=set_stock_row_again, payload_of=lambda row: {"run": run, "row": row.raw},
                                 trace_key_of=lambda row: f"stock:{run}:{row.key}",
                                 malformed_payload_of=lambda row: {"run": run, "row": row.raw})
    for row in rows:
        if isinstance(row, MalformedRow):
            continue
        key = (row.store_code, row.sku_id)
        if key not in latest or row.modified > latest[key].modified:
            latest[key] = row
    per_store: dict[str, list[list[Any]]] = {}
    for (store, _sku), row in sorted(latest.items()):
        per_store.setdefault(store, []).append(_level(row))
    summary = {"stores": len(per_store), "skus": len(latest), "done": 0, "queued": 0,
               "parked": unreadable["parked"] + unreadable["parked_before"]}
    for store, levels in per_store.items():
        outcome = kit.settle(ctx, set_store_stock, {"run": run, "store_code": store, "levels": levels},
                             trace_key=f"stock:{run}:{store}")
        _count(summary, outcome)
    return summary


def _level(row: Any) -> list[Any]:
    moment = from_jst_text(row.modified)
    return [row.sku_id, row.qty, int(moment.timestamp()) if moment else 0]


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


@kit.flow_command("erp_stock.set_store_stock")
def set_store_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    from ..connectors.store import models as pos

    store, run = payload["store_code"], payload["run"]

    def push() -> dict[str, Any]:
        result = ctx.store.set_warehouse_stock(
            store, [pos.StockLevel(sku_id=s, qty=q, version=v) for s, q, v in payload["levels"]],
            business_key=f"erp-nightly:{run}")
        return {"applied": result.applied, "stale": result.stale}

    outcome = kit.effect_once(ctx, f"store.stock.nightly:{run}:{store}:{kit.digest(payload['levels'])}", push)
    if not outcome.repeated:
        ctx.timeline.record(f"stock:{run}:{store}", ctx.ent_id, "store.stock_set",
                            {"skus": len(payload["levels"]), **outcome.result})
        ctx.metric("StoreStockSetFromErp", len(payload["levels"]))
    return {"outcome": "done", **outcome.result}


@kit.flow_command("erp_stock.set_stock_row_again")
def set_stock_row_again(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """A stock row the nightly run could not read, read again and set at its store (`o2o dlq
    replay`; the ERP's modified time is the version, so a newer store figure is kept)."""
    row = ctx.erp.stock_again(payload["row"])
    if row is None:
        return {"outcome": "not a store's"}
    return set_store_stock(ctx, {"run": payload["run"], "store_code": row.store_code, "levels": [_level(row)]})


@kit.flow_command("erp_stock.count_store_stock")
def count_store_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    store, run = payload["store_code"], payload["run"]
    lines = tuple(SkuQty(s, int(q)) for s, q in payload["lines"])
    outcome = kit.effect_once(ctx, f"erp.stock.nightly:{run}:{store}:{kit.digest(payload['lines'])}",
                              lambda: ctx.erp.set_stock(store, lines, reference=f"门店库存同步 {run}"))
    if not outcome.repeated:
        ctx.timeline.record(f"stock:{run}:{store}", ctx.ent_id, "erp.stock_counted",
                            {"skus": len(lines), "erp_document": outcome.result})
        ctx.metric("ErpStockSetFromStores", len(lines))
    return {"outcome": "done", "erp_document": outcome.result}
