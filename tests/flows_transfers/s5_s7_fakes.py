"""In-memory JST and 店+ for the S5/S6/S7 flows, with fault injection.

``Faults(rate)`` makes that share of calls fail transiently; ``lost_answers`` makes that share
of *effects* happen and then fail (the answer is lost on the way back), which is what makes
exactly-once hard. Both draw from a seeded random generator so a failing test replays."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from o2o_bridge.connectors.jushuitan import models as jst
from o2o_bridge.connectors.jushuitan.errors import JstPermanentError, JstTransientError
from o2o_bridge.connectors.store import models as pos
from o2o_bridge.connectors.store.errors import PosPermanentError, PosTransientError

SHANGHAI = timezone(timedelta(hours=8))


class Faults:
    def __init__(self, rate: float = 0.0, *, lost_answers: float = 0.0, seed: int = 7) -> None:
        self.rate, self.lost_answers = rate, lost_answers
        self.random = random.Random(seed)
        self.injected = 0

    def before(self, error: type[Exception], what: str) -> None:
        if self.rate and self.random.random() < self.rate:
            self.injected += 1
            raise error(f"injected transient fault before {what}")

    def after(self, error: type[Exception], what: str) -> None:
        if self.lost_answers and self.random.random() < self.lost_answers:
            self.injected += 1
            raise error(f"injected: {what} was done but its answer was lost")


class FakeJst:
    """The JstApi methods S5–S7 use."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.lock = threading.Lock()
        self.other_inouts: dict[int, dict[str, Any]] = {}
        self.uploads: list[str] = []  # external ids JST accepted (a repeat is refused with 160)
        self.skus: dict[str, dict[str, Any]] = {}
        self.windows: list[tuple[datetime, datetime]] = []
        self.endpoints: list[str] = []  # which product endpoint each window was read from
        self._io_id = 20_000_000

    # --- S5 / S6 ---------------------------------------------------------------------------
    def upload_other_inout(self, doc: jst.OtherInOutUpload) -> Any:
        assert len(doc.items) <= 1000, "JST takes at most 1000 lines"
        self.faults.before(JstTransientError, f"upload {doc.external_id}")
        with self.lock:
            for row in self.other_inouts.values():
                if row["so_id"] == doc.external_id and row["upload_type"] == doc.type:
                    raise JstPermanentError(f"JST answered code 160: 外部单号{doc.external_id}已存在", code=160)
            self._io_id += 1
            self.other_inouts[self._io_id] = {
                "io_id": self._io_id, "so_id": doc.external_id, "upload_type": doc.type,
                "type": "其它出库" if doc.type == "out" else "其它退货", "status": "WaitConfirm",
                "wms_co_id": doc.wms_co_id, "remark": doc.remark, "io_date": None,
                "items": [{"sku_id": i.sku_id, "qty": i.qty} for i in doc.items]}
            self.uploads.append(doc.external_id)
            io_id = self._io_id
        self.faults.after(JstTransientError, f"upload {doc.external_id}")
        return {"data": {"external_id": doc.external_id, "io_id": io_id}}

    def query_other_inout(self, *, io_ids=(), so_ids=(), wms_co_id=None) -> list[jst.OtherInOut]:
        self.faults.before(JstTransientError, "other in/out query")
        with self.lock:
            rows = [r for r in self.other_inouts.values()
                    if (not io_ids or r["io_id"] in set(io_ids)) and (not so_ids or r["so_id"] in set(so_ids))
                    and (wms_co_id is None or r["wms_co_id"] == wms_co_id)]
            return [jst.OtherInOut.model_validate({k: v for k, v in r.items() if k != "upload_type"}) for r in rows]

    def by_external_id(self, external_id: str) -> dict[str, Any]:
        return next(r for r in self.other_inouts.values() if r["so_id"] == external_id)

    def set_status(self, external_id: str, status: str = "Confirmed", *, items: list | None = None) -> None:
        row = self.by_external_id(external_id)
        row["status"] = status
        if status == "Confirmed":
            row["io_date"] = "2026-11-22 15:30:00"
            if items is not None:
                row["items"] = items

    # --- S7 ---------------------------------------------------------------------------------
    def add_sku(self, sku_id: str, modified: datetime, **fields: Any) -> None:
        self.skus[sku_id] = {"sku_id": sku_id, "i_id": sku_id.split("-")[0], "name": "纯棉T恤",
                             "properties_value": "白色;M", "sku_code": f"69{abs(hash(sku_id)) % 10**11:011d}",
                             "brand": "示例", "sale_price": "99.00", "cost_price": "35", "market_price": "129",
                             "category": "T恤", "labels": "店加", "other_1": "2026", "other_2": "夏",
                             **fields, "modified": modified}

    def _in(self, begin: datetime, end: datetime, endpoint: str) -> list[dict[str, Any]]:
        assert end - begin <= timedelta(days=7), f"JST refuses a window of {end - begin}"
        self.windows.append((begin, end))
        self.endpoints.append(endpoint)
        return [s for s in self.skus.values() if begin <= s["modified"] <= end]

    @staticmethod
    def _jst_time(moment: datetime) -> str:
        return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

    def query_skus(self, *, begin: datetime, end: datetime) -> list[jst.Sku]:
        self.faults.before(JstTransientError, "sku query")
        return [jst.Sku.model_validate({**s, "modified": self._jst_time(s["modified"])}) for s in self._in(begin, end, "/open/sku/query")]

    def query_mall_items(self, *, begin: datetime, end: datetime) -> list[jst.MallItem]:
        self.faults.before(JstTransientError, "mall item query")
        styles: dict[str, dict[str, Any]] = {}
        for s in self._in(begin, end, "/open/mall/item/query"):
            style = styles.setdefault(s["i_id"], {
                "i_id": s["i_id"], "name": s["name"], "brand": s["brand"], "c_name": s["category"],
                "s_price": s["sale_price"], "market_price": s["market_price"],
                "modified": self._jst_time(s["modified"]), "skus": []})
            # As JST's 普通商品查询 answers: no 条形码, labels or custom fields (those are the SKU master's).
            style["skus"].append({"sku_id": s["sku_id"], "sale_price": s["sale_price"], "cost_price": s["cost_price"],
                                  "market_price": s["market_price"], "properties_value": s["properties_value"],
                                  "enabled": 1})
        return [jst.MallItem.model_validate(style) for style in styles.values()]

    def skus_by_ids(self, sku_ids) -> list[jst.Sku]:
        self.faults.before(JstTransientError, "sku query by ids")
        self.endpoints.append("/open/sku/query?sku_ids")
        return [jst.Sku.model_validate({**self.skus[i], "modified": self._jst_time(self.skus[i]["modified"])})
                for i in sku_ids if i in self.skus]


class FakeStore:
    """The StoreSystem methods S5–S7 use: idempotent per key, like the contract says."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.lock = threading.Lock()
        self.answers: dict[str, Any] = {}  # idempotency key -> first answer
        self.transfers: dict[str, dict[str, Any]] = {}
        self.returns: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.product_effects = 0  # items created or changed
        self.refuse_items: dict[str, str] = {}  # sku_code -> message: answered "failed"
        self.reject_batches_with: set[str] = set()  # a batch holding one of these is refused whole (422)

    def _once(self, key: str, effect):
        self.faults.before(PosTransientError, key)
        with self.lock:
            if key not in self.answers:
                self.answers[key] = effect()
            answer = self.answers[key]
        self.faults.after(PosTransientError, key)
        return answer

    def transfer_warehouse_shipped(self, doc_no, shipped: pos.TransferShipped, *, business_key=None):
        def effect():
            assert doc_no not in self.transfers, f"P10 applied twice to {doc_no}"
            self.transfers[doc_no] = shipped.body()
            return pos.TransferShippedDone(doc_no=doc_no, status="shipped", outbound_no=f"OB-{doc_no}",
                                           inbound_receipt_no=f"IR-{doc_no}")
        return self._once(f"transfer-shipped:{business_key or doc_no}", effect)

    def warehouse_return_received(self, doc_no, received: pos.WarehouseReturnReceived, *, business_key=None):
        def effect():
            assert doc_no not in self.returns, f"P11 applied twice to {doc_no}"
            self.returns[doc_no] = received.body()
            return pos.WarehouseReturnReceivedDone(doc_no=doc_no, status="received", inbound_no=f"IB-{doc_no}")
        return self._once(f"warehouse-return-received:{business_key or doc_no}", effect)

    def upsert_products(self, batch: pos.ProductBatch, *, business_key=None) -> pos.ProductResults:
        import hashlib
        import json

        body = batch.body()
        if self.reject_batches_with & {i["sku_code"] for i in body["items"]}:
            raise PosPermanentError("HTTP 422: items[..].name invalid", status=422)
        key = business_key or hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

        def effect():
            results = []
            for item in body["items"]:
                code = item["sku_code"]
                if code in self.refuse_items:
                    results.append({"sku_code": code, "status": "failed", "msg": self.refuse_items[code]})
                    continue
                existing = self.products.get(code)
                if existing is None:
                    if not body["options"]["auto_create"]:
                        results.append({"sku_code": code, "status": "skipped"})
                        continue
                    self.products[code] = {**item, "mount_category": body["options"]["mount_category"]}
                    self.product_effects += 1
                    results.append({"sku_code": code, "status": "created"})
                    continue
                # null = not given: the store keeps its own value (e.g. retail price)
                record = {**existing, **{k: v for k, v in item.items() if v is not None}}
                if body["options"]["category_once"]:
                    record["category"] = existing.get("category")
                if body["options"].get("retail_price_on_create"):
                    record["retail_price"] = existing.get("retail_price")
                if record != existing:
                    self.products[code] = record
                    self.product_effects += 1
                results.append({"sku_code": code, "status": "updated" if record != existing else "unchanged"})
            return pos.ProductResults.model_validate({"results": results})
        return self._once(f"products:{key}", effect)
