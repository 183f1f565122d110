"""The sandbox's in-memory 旺店通 company: base data, goods, stock per warehouse, trades,
refunds, stock-in / stock-out / 盘点 documents, and the call log.

Every read or change happens under ``state.lock`` (an RLock); endpoint and admin code take
it for the whole call, so each call is atomic like an ERP transaction. Times are
``yyyy-MM-dd HH:mm:ss`` Asia/Shanghai wall time; ``modified`` is set on every change.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

__all__ = ["Settings", "WdtState", "CST", "fmt_time", "parse_time", "STOCKIN_TYPES", "STOCKOUT_TYPES"]

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# Document type codes and names (the answers' codes are not published: these are the
# sandbox's, matching the bridge's default exclusions: 4 盘盈 / 盘亏, 1 销售).
STOCKIN_TYPES = {"1": "采购入库", "2": "调拨入库", "3": "初始化入库", "4": "盘盈入库", "5": "生产入库",
                 "6": "其他入库", "7": "JIT退货入库", "8": "预入库", "9": "销售退货入库"}
STOCKOUT_TYPES = {"1": "销售出库", "2": "调拨出库", "3": "采购退货出库", "4": "盘亏出库", "5": "生产出库",
                  "7": "其他出库"}
DONE = "80"  # 已完成


def fmt_time(dt: datetime) -> str:
    return dt.astimezone(CST).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(str(text).strip(), TIME_FORMAT).replace(tzinfo=CST)


def qty_text(value: Any) -> str:
    """Quantities as the 企业版 writes them: "12.0000"."""
    return f"{Decimal(str(value)):.4f}"


@dataclass
class Settings:
    """What the reference leaves uncertain, as settings."""

    timestamp_tolerance_s: int = 300
    max_page_size: int = 100
    trade_window_minutes: int = 60
    stock_window_days: int = 30
    document_window_days: int = 30
    goods_window_days: int = 30
    trades_per_push: int = 50
    refunds_per_push: int = 10
    push_platform_ids: list[str] = field(default_factory=lambda: ["0", "127"])  # 自有, 其它
    duplicate_outer_no: str = "error"  # "error" (code 2010) or "return_existing"
    max_document_lines: int = 1000  # lines of one 其他入库 / 其他出库 / 盘点 (not published)
    max_calls_kept: int = 10_000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class WdtState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    # -- clock -------------------------------------------------------------------------
    def time(self) -> float:
        return time.time() + self.clock_offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), CST)

    def now_str(self) -> str:
        return fmt_time(self.now())

    def touch(self, doc: dict) -> dict:
        doc["modified"] = self.now_str()
        return doc

    # -- reset and seed ------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.settings = Settings()
            self.clock_offset = 0.0
            self.accounts: dict[tuple[str, str], str] = {}  # (sid, appkey) -> appsecret
            self.shops: dict[str, dict] = {}
            self.warehouses: dict[str, dict] = {}
            self.logistics: dict[str, dict] = {}
            self.goods_classes: dict[str, dict] = {}
            self.goods: dict[str, dict] = {}  # goods_no -> goods with spec_list
            self.stock: dict[tuple[str, str], dict] = {}  # (warehouse_no, spec_no) -> row
            self.trades: dict[tuple[str, str], dict] = {}  # (shop_no, tid) -> trade
            self.refunds: dict[tuple[str, str], dict] = {}  # (shop_no, refund_no) -> refund
            self.stockins: dict[str, dict] = {}  # order_no -> document
            self.stockouts: dict[str, dict] = {}
            self.pd_orders: dict[str, dict] = {}
            self.calls: list[dict] = []
            self._seq = itertools.count(1)
            self._no = itertools.count(1)

    def next_no(self, prefix: str) -> str:
        return f"{prefix}{self.now().strftime('%Y%m%d')}{next(self._no):05d}"

    def seed(self, *, accounts=(), settings: dict | None = None, shops=(), warehouses=(), logistics=(),
             goods_classes=(), goods=(), stock=()) -> dict:
        """Add (or replace, by key) base data, goods and stock; returns a count per collection."""
        with self.lock:
            if settings:
                self.configure(**settings)
            for a in accounts:
                self.accounts[(a["sid"], a["appkey"])] = a["appsecret"]
            for s in shops:
                self.shops[str(s["shop_no"])] = self.touch({"shop_no": str(s["shop_no"]), "shop_name": s.get("shop_name", ""),
                                                            "platform_id": str(s.get("platform_id", "127")),
                                                            "sub_platform_id": str(s.get("sub_platform_id", "0")),
                                                            "is_disabled": int(s.get("is_disabled", 0)),
                                                            "warehouse_no": str(s.get("warehouse_no", ""))})
            for w in warehouses:
                self.warehouses[str(w["warehouse_no"])] = self.touch({
                    "warehouse_no": str(w["warehouse_no"]), "name": w.get("name", ""), "type": str(w.get("type", "1")),
                    "is_disabled": int(w.get("is_disabled", 0))})
            for lg in logistics:
                self.logistics[str(lg["logistics_no"])] = self.touch({
                    "logistics_no": str(lg["logistics_no"]), "logistics_name": lg.get("logistics_name", ""),
                    "logistics_type": str(lg.get("logistics_type", "1")),
                    "is_support_cod": int(lg.get("is_support_cod", 0)), "is_disabled": int(lg.get("is_disabled", 0))})
            for c in goods_classes:
                self.goods_classes[str(c["class_id"])] = {"class_id": str(c["class_id"]), "class_name": c.get("class_name", ""),
                                                          "parent_id": str(c.get("parent_id", "0"))}
            for g in goods:
                self.put_goods(g)
            for row in stock:
                self.set_stock(row["warehouse_no"], row["spec_no"], row.get("stock_num", 0))
            return self.counts()

    def counts(self) -> dict:
        return {name: len(getattr(self, name)) for name in (
            "shops", "warehouses", "logistics", "goods_classes", "goods", "stock", "trades", "refunds",
            "stockins", "stockouts", "pd_orders")}

    def configure(self, **settings: Any) -> Settings:
        with self.lock:
            unknown = set(settings) - set(Settings.__dataclass_fields__)
            if unknown:
                raise ValueError(f"unknown settings: {sorted(unknown)}")
            values = self.settings.to_dict()
            values.update(settings)
            self.settings = Settings(**values)
            return self.settings

    # -- goods and stock ---------------------------------------------------------------------
    def put_goods(self, g: dict) -> dict:
        """Create or update a 货品 with its specs (an ERP user editing 货品档案)."""
        with self.lock:
            now = self.now_str()
            old = self.goods.get(str(g["goods_no"]))
            row = {"goods_no": str(g["goods_no"]), "goods_name": g.get("goods_name", old and old["goods_name"] or ""),
                   "class_name": g.get("class_name", old and old["class_name"] or ""),
                   "brand_name": g.get("brand_name", old and old["brand_name"] or ""),
                   "unit_name": g.get("unit_name", "件"), "created": old["created"] if old else g.get("created", now),
                   "spec_list": []}
            specs = {s["spec_no"]: s for s in (old or {}).get("spec_list", [])}
            for s in g.get("spec_list", []):
                base = specs.get(str(s["spec_no"]), {})
                specs[str(s["spec_no"])] = {
                    "spec_no": str(s["spec_no"]), "spec_name": s.get("spec_name", base.get("spec_name", "")),
                    "spec_code": s.get("spec_code", base.get("spec_code", "")),
                    "barcode": s.get("barcode", base.get("barcode", "")),
                    "retail_price": f"{Decimal(str(s.get('retail_price', base.get('retail_price', 0)))):.4f}",
                    "deleted": int(s.get("deleted", 0))}
            row["spec_list"] = list(specs.values())
            self.touch(row)
            if g.get("modified"):
                row["modified"] = g["modified"]
            self.goods[row["goods_no"]] = row
            return copy.deepcopy(row)

    def spec(self, spec_no: str) -> tuple[dict, dict] | None:
        for g in self.goods.values():
            for s in g["spec_list"]:
                if s["spec_no"] == spec_no:
                    return g, s
        return None

    def set_stock(self, warehouse_no: str, spec_no: str, stock_num: Any) -> dict:
        with self.lock:
            row = self.stock.setdefault((str(warehouse_no), str(spec_no)),
                                        {"warehouse_no": str(warehouse_no), "spec_no": str(spec_no)})
            row["stock_num"] = Decimal(str(stock_num))
            return dict(self.touch(row))

    def add_stock(self, warehouse_no: str, spec_no: str, delta: Any) -> dict:
        with self.lock:
            current = self.stock.get((str(warehouse_no), str(spec_no)), {}).get("stock_num", Decimal(0))
            return self.set_stock(warehouse_no, spec_no, current + Decimal(str(delta)))

    # -- documents -----------------------------------------------------------------------------
    def add_document(self, direction: str, *, warehouse_no: str, order_type: str, lines: list[dict],
                     outer_no: str = "", remark: str = "", status: str = DONE, order_no: str | None = None) -> dict:
        """A stock-in ("in") or stock-out ("out") document; a 已完成 one has moved the stock."""
        with self.lock:
            types = STOCKIN_TYPES if direction == "in" else STOCKOUT_TYPES
            order_type = str(order_type)
            if order_type not in types:  # a type name given
                order_type = next((k for k, v in types.items() if v == order_type), None) or order_type
            if order_type not in types:
                raise ValueError(f"unknown {direction} document type {order_type!r}: one of {types}")
            if str(warehouse_no) not in self.warehouses:
                raise LookupError(f"no warehouse {warehouse_no}")
            prefix = "RK" if direction == "in" else "CK"
            doc = {"order_no": order_no or self.next_no(prefix), "order_type": order_type,
                   "order_type_name": types[order_type], "warehouse_no": str(warehouse_no), "status": status,
                   "outer_no": outer_no, "remark": remark, "created": self.now_str(),
                   "details_list": [{"spec_no": str(line["spec_no"]), "goods_count": qty_text(line["num"]),
                                     "goods_name": (self.spec(str(line["spec_no"])) or ({}, {}))[0].get("goods_name", "")}
                                    for line in lines]}
            self.touch(doc)
            (self.stockins if direction == "in" else self.stockouts)[doc["order_no"]] = doc
            if status == DONE:
                sign = 1 if direction == "in" else -1
                for line in lines:
                    self.add_stock(warehouse_no, line["spec_no"], sign * Decimal(str(line["num"])))
            return copy.deepcopy(doc)

    def find_outer(self, direction: str, outer_no: str) -> dict | None:
        docs = self.stockins if direction == "in" else self.stockouts
        return next((d for d in docs.values() if outer_no and d["outer_no"] == outer_no), None)

    def record_call(self, entry: dict) -> None:
        with self.lock:
            entry = {"seq": next(self._seq), "at": self.now_str(), **entry}
            self.calls.append(entry)
            overflow = len(self.calls) - self.settings.max_calls_kept
            if overflow > 0:
                del self.calls[:overflow]

    def snapshot(self, collection: str | None = None) -> Any:
        with self.lock:
            names = ["shops", "warehouses", "logistics", "goods_classes", "goods", "stock", "trades", "refunds",
                     "stockins", "stockouts", "pd_orders", "calls"]
            if collection is not None and collection not in names:
                raise LookupError(f"unknown collection {collection!r}: one of {names}")

            def plain(value: Any) -> Any:
                if isinstance(value, dict):
                    return {str(k): plain(v) for k, v in value.items()}
                if isinstance(value, list):
                    return [plain(v) for v in value]
                if isinstance(value, Decimal):
                    return qty_text(value)
                return value

            def rows(name: str) -> list:  # each collection as a list of its records
                value = getattr(self, name)
                return plain(list(value.values()) if isinstance(value, dict) else value)

            if collection:
                return rows(collection)
            return {name: rows(name) for name in names if name != "calls"}
