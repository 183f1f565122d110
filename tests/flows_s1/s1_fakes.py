"""In-memory JST and 店+ for the S1 flows, with the behaviour the flows rely on and fault injection.

- ``FakeJst``: sales outbounds with a rowversion ``ts`` bumped on every change, scanned with the
  real ``paging.iter_ts_pages`` / ``scan_by_ts`` (page size 2, so scans have several pages; every
  page fetched is one call, counted in ``fetches`` and subject to the faults); wms/sent/upload confirms a
  WaitConfirm outbound and refuses a repeat or a voided one, as JST does.
- ``FakeStore``: fulfilment orders with Idempotency-Key semantics (a repeated key gets the first
  answer), store stock for P7, cancel refused (409) once shipped.
- ``faults``: a seeded rate of transient failures; ``lost_answer_rate`` makes a call take effect
  and still fail (the answer is lost), so the retry must not do it twice.
"""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any

from o2o_bridge.connectors.jushuitan import models as jm
from o2o_bridge.connectors.jushuitan.errors import JstTransientError
from o2o_bridge.connectors.jushuitan.paging import iter_ts_pages, scan_by_ts
from o2o_bridge.connectors.store import models as pm
from o2o_bridge.connectors.store.errors import PosConflict, PosNotFound, PosTransientError


class Faults:
    def __init__(self, rate: float = 0.0, *, lost_answer_rate: float = 0.0, seed: int = 7) -> None:
        self.rate, self.lost_answer_rate = rate, lost_answer_rate
        self.random = random.Random(seed)
        self.injected = 0
        self.lock = threading.Lock()

    def before(self, error: type[Exception], what: str) -> None:
        with self.lock:
            fail = self.random.random() < self.rate
            if fail:
                self.injected += 1
        if fail:
            raise error(f"injected fault before {what}")

    def after(self, error: type[Exception], what: str) -> None:
        with self.lock:
            lost = self.random.random() < self.lost_answer_rate
            if lost:
                self.injected += 1
        if lost:
            raise error(f"injected fault: {what} was done but its answer was lost")


class FakeJst:
    def __init__(self, *, faults: Faults | None = None, page_size: int = 2) -> None:
        self.outbounds: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}  # o_id -> order fields an outbound may lack (is_cod...)
        self.orders_asked: list[int] = []  # every o_id read with /open/orders/single/query
        self.sent: list[dict[str, Any]] = []  # every row uploaded to wms/sent/upload
        self.confirmed: list[int] = []         # io_ids JST confirmed (one entry per real effect)
        self.sent_calls = 0                     # wms/sent/upload calls that reached JST
        self.faults = faults or Faults()
        self.page_size = page_size
        self._ts = itertools.count(1000)
        self.lock = threading.RLock()
        self.scans = 0
        self.fetches: list[int] = []  # the start_ts of every page fetched (one JST call each)
        self.during_scan = None  # a hook run once, after the next page is fetched (records changing mid-scan)

    # --- what JST's OMS does on its own ---
    def add(self, io_id: int, *, province: str = "上海市", city: str = "上海市", items=(("SKU-RED-M", 1),),
            labels: str = "", status: str = "WaitConfirm", shop_id: int = 1, **extra: Any) -> dict[str, Any]:
        with self.lock:
            row = {"io_id": io_id, "o_id": io_id + 1000, "so_id": f"SO{io_id}", "shop_id": shop_id, "status": status,
                   "wms_co_id": 10001, "receiver_name": "王小姐", "receiver_mobile": "13800000000",
                   "receiver_state": province, "receiver_city": city, "receiver_district": "静安区",
                   "receiver_address": "南京西路1号", "labels": labels, "ts": next(self._ts),
                   "items": [{"sku_id": sku, "qty": qty, "name": f"T恤 {sku}"} for sku, qty in items], **extra}
            self.outbounds[io_id] = row
            return row

    def set_status(self, io_id: int, status: str) -> None:
        with self.lock:
            self.outbounds[io_id].update(status=status, ts=next(self._ts))

    # --- JstApi ---
    def _page_fetcher(self, wms_co_id, status=None):
        def fetch(cursor):
            # One JST call (/open/orders/out/simple/query, page_index 1, start_ts=cursor).
            self.faults.before(JstTransientError, "outbound scan page")
            with self.lock:
                self.fetches.append(cursor)
                rows = sorted((r for r in self.outbounds.values()
                               if r["ts"] >= cursor and (wms_co_id is None or r["wms_co_id"] == wms_co_id)
                               and (status is None or r["status"] == status)),
                              key=lambda r: r["ts"])
                page = [jm.SalesOutbound.model_validate(r) for r in rows[:self.page_size]]
                hook, self.during_scan = self.during_scan, None
            if hook:
                hook()
            return page, len(rows) > self.page_size

        return fetch

    def _fetcher(self, wms_co_id, status):
        # JST's status filter (one status); tests that replace _page_fetcher scan unfiltered.
        return self._page_fetcher(wms_co_id) if status is None else self._page_fetcher(wms_co_id, status)

    def scan_sales_outbounds(self, *, start_ts, wms_co_id=None, status=None, shop_id=None):
        self.scans += 1
        return scan_by_ts(self._fetcher(wms_co_id, status), start_ts=start_ts, key=lambda r: r.io_id)

    def iter_sales_outbound_pages(self, *, start_ts, wms_co_id=None, status=None, shop_id=None):
        self.scans += 1
        return iter_ts_pages(self._fetcher(wms_co_id, status), start_ts=start_ts, key=lambda r: getattr(r, "io_id", None) or r.key)

    def sales_outbounds_by_ids(self, io_ids):
        self.faults.before(JstTransientError, "outbound query")
        with self.lock:
            return [jm.SalesOutbound.model_validate(self.outbounds[int(i)]) for i in io_ids if int(i) in self.outbounds]

    def orders_by_ids(self, o_ids):
        # One JST call (/open/orders/single/query by o_ids): only the orders a test gave terms.
        self.faults.before(JstTransientError, "order query")
        with self.lock:
            self.orders_asked.extend(int(o_id) for o_id in o_ids)
            return [jm.Order.model_validate({"o_id": int(o_id), "status": "WaitOuterSent", **self.orders[int(o_id)]})
                    for o_id in o_ids if int(o_id) in self.orders]

    def upload_wms_sent(self, rows):
        self.faults.before(JstTransientError, "wms/sent/upload")
        results = []
        with self.lock:
            self.sent_calls += 1
            for row in rows:
                body = row.model_dump(exclude_none=True)
                self.sent.append(body)
                ob = self.outbounds.get(row.io_id)
                if ob is None or ob["status"] != "WaitConfirm":
                    state = "不存在" if ob is None else f"状态为{ob['status']}"
                    results.append({"io_id": row.io_id, "issuccess": False, "msg": f"出库单{row.io_id}{state}"})
                    continue
                ob.update(status="Confirmed", lc_id=row.lc_id, l_id=row.l_id, ts=next(self._ts))
                self.confirmed.append(row.io_id)
                results.append({"io_id": row.io_id, "issuccess": True, "msg": "执行成功"})
        self.faults.after(JstTransientError, "wms/sent/upload")
        return [{"datas": results}]


class FakeStore:
    def __init__(self, *, faults: Faults | None = None, stock: dict[str, dict[str, int]] | None = None,
                 stores=("S001", "S002", "S003")) -> None:
        self.faults = faults or Faults()
        self.stock = stock if stock is not None else {}
        self.stores = set(stores)
        self.fulfilments: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []     # one entry per fulfilment really created
        self.cancelled: list[str] = []   # one entry per fulfilment really cancelled
        self.keys: dict[str, Any] = {}
        self.stock_reads = 0
        self._ids = itertools.count(1)
        self.lock = threading.RLock()

    def _once(self, key: str, do):
        with self.lock:
            if key in self.keys:
                return self.keys[key]
            answer = self.keys[key] = do()
            return answer

    def create_fulfilment_order(self, order: pm.FulfilmentOrder, *, business_key=None):
        self.faults.before(PosTransientError, "P1")
        if order.store_code not in self.stores:
            raise PosNotFound(f"store {order.store_code} not found")

        def create():
            fid = f"FO{next(self._ids)}"
            self.fulfilments[fid] = {**order.body(), "fulfilment_id": fid, "status": "created"}
            self.created.append(fid)
            return pm.FulfilmentCreated(fulfilment_id=fid, status="created")

        answer = self._once(f"fulfilment:{business_key or order.external_id + ':' + order.store_code}", create)
        self.faults.after(PosTransientError, "P1")
        return answer

    def cancel_fulfilment_order(self, fulfilment_id, reason, *, business_key=None):
        self.faults.before(PosTransientError, "P2")
        with self.lock:
            fulfilment = self.fulfilments[fulfilment_id]
            if fulfilment["status"] in ("shipped", "picked_up"):
                raise PosConflict(f"fulfilment {fulfilment_id} is {fulfilment['status']}", status=409,
                                  pos_msg="already shipped")
            if fulfilment["status"] != "cancelled":
                fulfilment["status"] = "cancelled"
                self.cancelled.append(fulfilment_id)
        self.faults.after(PosTransientError, "P2")
        return pm.FulfilmentCancelled(fulfilment_id=fulfilment_id, status="cancelled")

    def store_stock(self, store_code, sku_ids):
        self.faults.before(PosTransientError, "P7")
        self.stock_reads += 1
        levels = self.stock.get(store_code, {})
        return pm.StoreStock(store_code=store_code,
                             items=[pm.StoreStockItem(sku_id=s, qty=levels.get(s, 0)) for s in sku_ids])

    # --- what people at the store do ---
    def live(self, io_id) -> list[dict[str, Any]]:
        return [f for f in self.fulfilments.values() if f["external_id"] == str(io_id) and f["status"] != "cancelled"]

    def current(self, io_id) -> dict[str, Any]:
        [found] = [f for f in self.fulfilments.values() if f["external_id"] == str(io_id) and f["status"] == "created"]
        return found
