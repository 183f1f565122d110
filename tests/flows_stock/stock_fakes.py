"""In-memory JST and 店+ for the stock flows, with the behaviour that matters here:
versions (店+ keeps the higher one), Idempotency-Keys, JST's unique so_id (code 160 on a
repeat), ts cursors, and faults on demand."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from o2o_bridge.connectors.jushuitan.errors import JstPermanentError, JstTransientError
from o2o_bridge.connectors.jushuitan.models import Inventory
from o2o_bridge.connectors.jushuitan.paging import TsScan
from o2o_bridge.connectors.store.errors import PosTransientError
from o2o_bridge.connectors.store.models import StockRow, StoreStock, StoreStockItem, WarehouseStock
from o2o_bridge.tenant import parse_tenant

DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"


def demo_tenant(**stock: Any):
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc["stock"].update(stock)
    if doc["stock"].get("master") == "erp" or stock.pop("store_warehouses", False):
        pass
    return parse_tenant(doc)


def tenant_with(mutate) -> Any:
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    mutate(doc)
    return parse_tenant(doc)


class Crash(BaseException):
    """The Lambda dies here (not an error a flow would catch)."""


class Faults:
    """``transient_rate``: share of calls failing with a retryable error (seeded);
    ``script``: {call name: [exception or None per call]} for exact scenarios."""

    def __init__(self, transient_rate: float = 0.0, seed: int = 7) -> None:
        self.transient_rate = transient_rate
        self.random = random.Random(seed)
        self.script: dict[str, list[Any]] = {}

    def check(self, name: str, transient: type[Exception]) -> None:
        planned = self.script.get(name)
        if planned:
            fault = planned.pop(0)
            if fault is not None:
                raise fault
        if self.transient_rate and self.random.random() < self.transient_rate:
            raise transient(f"fake {name}: temporarily unavailable")


def modified_at(second: int) -> str:
    base = datetime(2026, 11, 30, 8, 0, 0)
    return (base + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S")


class FakeJst:
    def __init__(self) -> None:
        self.inventory: dict[tuple[int, str], dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # so_id -> the first upload (JST keeps it)
        self.upload_calls: list[str] = []
        self.reads = 0
        self.faults = Faults()
        self.after_upload: list[Any] = []  # per upload: exception raised after JST took it
        self._ts = itertools.count(5000)

    def set(self, wms: int, sku: str, *, second: int = 0, **fields: Any) -> dict[str, Any]:
        row = self.inventory.setdefault((wms, sku), {"sku_id": sku})
        row.update(fields, modified=modified_at(second), ts=next(self._ts))
        return row

    def scan_inventory(self, *, start_ts: int, wms_co_id: int | None = None) -> TsScan:
        self.reads += 1
        self.faults.check("scan_inventory", JstTransientError)
        rows = [Inventory.model_validate(r) for (w, _), r in self.inventory.items()
                if (wms_co_id is None or w == wms_co_id) and r["ts"] >= start_ts]
        return TsScan(rows, max([start_ts, *(r.ts for r in rows)]), 1)

    def inventory_of(self, sku_ids, *, wms_co_id=None):
        self.reads += 1
        self.faults.check("inventory_of", JstTransientError)
        return [Inventory.model_validate(r) for (w, s), r in self.inventory.items()
                if s in set(sku_ids) and (wms_co_id is None or w == wms_co_id)]

    def upload_inventory(self, *, wms_co_id, so_id_prefix, items, type="check", remark=None, riders=None):
        assert 1 <= len(items) <= 500 and type == "check"
        if riders is not None:  # written with the upload's grant, before the upload goes out (it may fail after)
            riders.send_apart()
        self.faults.check("upload_inventory", JstTransientError)
        so_id = f"{so_id_prefix}-1"
        self.upload_calls.append(so_id)
        if so_id in self.uploads:
            raise JstPermanentError(f"JST /open/jushuitan/inventoryv2/upload answered code 160: 外部单号so_id={so_id}已存在",
                                    path="/open/jushuitan/inventoryv2/upload", code=160,
                                    jst_msg=f"外部单号so_id={so_id}已存在")
        self.uploads[so_id] = {"wms_co_id": wms_co_id, "items": [(i.sku_id, i.qty) for i in items]}
        for item in items:
            self.set(wms_co_id, item.sku_id, qty=item.qty)
        if self.after_upload:
            fault = self.after_upload.pop(0)
            if fault is not None:
                raise fault
        return [{"code": 0, "issuccess": True, "data": {"data": {"so_id": so_id}}}]

    def qty(self, wms: int, sku: str) -> int | None:
        row = self.inventory.get((wms, sku))
        return None if row is None else row.get("qty")

    def items_uploaded(self) -> int:
        return sum(len(u["items"]) for u in self.uploads.values())


class FakeStore:
    def __init__(self) -> None:
        self.warehouse: dict[tuple[str, str], tuple[int, int]] = {}
        self.stores: dict[tuple[str, str], tuple[int, int]] = {}
        self.store_codes = {"S001", "S002"}
        self.keys: dict[str, Any] = {}
        self.p6_calls: list[str] = []  # Idempotency-Keys, repeats included
        self.p6_effects = 0  # calls that were not a repeated key
        self.faults = Faults()
        self._clock = itertools.count(1)
        self.updated: dict[tuple[str, str], int] = {}

    def set_warehouse_stock(self, warehouse_code, items, *, business_key=None):
        self.faults.check("set_warehouse_stock", PosTransientError)
        key = f"stock:{warehouse_code}:{business_key}"
        self.p6_calls.append(key)
        if key in self.keys:
            return self.keys[key]
        self.p6_effects += 1
        target = self.stores if warehouse_code in self.store_codes else self.warehouse
        applied = 0
        for level in items:
            cell = (warehouse_code, level.sku_id)
            if cell not in target or level.version > target[cell][1]:
                target[cell] = (level.qty, level.version)
                self.updated[cell] = next(self._clock)
                applied += 1
        answer = WarehouseStock(warehouse_code=warehouse_code, applied=applied, stale=len(items) - applied)
        self.keys[key] = answer
        return answer

    def set_store(self, store: str, sku: str, qty: int, version: int | None = None) -> dict[str, Any]:
        old = self.stores.get((store, sku))
        version = version if version is not None else (old[1] + 1 if old else 1)
        self.stores[(store, sku)] = (qty, version)
        self.updated[(store, sku)] = next(self._clock)
        return {"sku_id": sku, "qty": qty, "version": version}

    def store_stock(self, store_code, sku_ids):
        self.faults.check("store_stock", PosTransientError)
        items = [StoreStockItem(sku_id=s, qty=self.stores.get((store_code, s), (0, 0))[0],
                                version=self.stores.get((store_code, s), (0, 0))[1]) for s in sku_ids]
        return StoreStock(store_code=store_code, items=items)

    def scan_stock(self, *, updated_since=None, limit=200, order=None, sku_after=None, sku_until=None,
                   quantities_only=False):
        """P8 as the 店+ sandbox pages it: by update time, or ``order="sku"`` by (SKU, store)
        from after ``sku_after`` up to ``sku_until``; ``scans`` counts the scans, ``crash_after_rows``
        crashes a scan after that many rows (a crash mid-read)."""
        self.faults.check("scan_stock", PosTransientError)
        self.scans = getattr(self, "scans", 0) + 1
        at = datetime(2026, 11, 30, tzinfo=timezone.utc)
        if order == "sku":
            cells = sorted((kv for kv in self.stores.items() if (sku_after is None or kv[0][1] > sku_after)
                            and (sku_until is None or kv[0][1] <= sku_until)),
                           key=lambda kv: (kv[0][1], kv[0][0]))
        else:
            cells = sorted(self.stores.items(), key=lambda kv: self.updated.get(kv[0], 0))
        for count, ((store, sku), (qty, version)) in enumerate(cells):
            if count == getattr(self, "crash_after_rows", None):
                self.crash_after_rows = None
                raise Crash()
            self.rows_served = getattr(self, "rows_served", 0) + 1
            yield (store, sku, qty) if quantities_only else StockRow(store_code=store, sku_id=sku, qty=qty,
                                                                     version=version, updated_at=at)
