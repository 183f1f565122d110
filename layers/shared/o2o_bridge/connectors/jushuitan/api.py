"""The typed JST adapter: one method per endpoint the scenarios use (implements ports.JstApi).

Query methods hide the paging rules of ``paging``; upload methods cut their input into
batches of the documented maximum (``BATCH_LIMITS``, configurable where the sources are
unsure) and return one result per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from pydantic import BaseModel

from ...shanghai_time import to_jst_text
from . import models as m
from .client import JstClient
from .errors import JstPermanentError
from ..paging import key_or_malformed, read_rows
from .paging import TsPage, TsScan, batches, iter_ts_pages, keep_latest, pages_by_index, scan_by_ts, split_window

R = TypeVar("R", bound=BaseModel)



@dataclass(frozen=True)
class Limits:
    """Page sizes (§4 table) and upload batch sizes; the uncertain ones (§8) may be overridden."""

    outbound_page: int = 50
    order_page: int = 100
    inventory_page: int = 100
    sku_page: int = 50
    skus_per_id_query: int = 20  # /open/sku/query sku_ids
    mall_item_page: int = 50
    other_inout_page: int = 50
    aftersale_page: int = 50
    logistic_page: int = 50
    logistics_company_page: int = 50
    shop_page: int = 100
    wms_partner_page: int = 30
    orders_upload_batch: int = 50       # only a 2019 old-API model says 50 (§5.3)
    aftersale_upload_batch: int = 50    # no maximum known (§8): kept as small as orders
    wms_sent_upload_batch: int = 50
    cancel_batch: int = 50
    inventory_items: int = 500
    other_inout_items: int = 1000
    so_ids_per_query: int = 20          # order query / logistic query
    o_ids_per_query: int = 20           # order query by JST o_id
    outbound_ids_per_query: int = 50
    inventory_skus_per_query: int = 100


def _when(value: datetime) -> str:
    # JST reads date-times as Asia/Shanghai wall time (§3 practical rules).
    return to_jst_text(value)


def _records(data: Any, list_key: str, model: type[R]) -> tuple[list[R], bool]:
    data = data or {}
    rows = data.get(list_key) or []
    return [model.model_validate(row) for row in rows], bool(data.get("has_next"))


def _records_or_malformed(path: str, key_field: str) -> Callable[[Any, str, type[R]], tuple[list[Any], bool]]:
    """``_records`` for a poll: a row the model refuses becomes a ``MalformedRow`` (the poll parks
    it and goes on) instead of failing the whole page and stopping the poll at it."""

    def read(data: Any, list_key: str, model: type[R]) -> tuple[list[Any], bool]:
        data = data or {}
        return read_rows(f"JST {path}", data.get(list_key) or [], model, key_field), bool(data.get("has_next"))

    return read


def _or_malformed(key: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``keep_latest``'s ``key`` for rows that may hold ``MalformedRow``s (each kept by its own key)."""
    from ...ports import MalformedRow

    return lambda record: ("malformed", record.key) if isinstance(record, MalformedRow) else key(record)


@dataclass
class JstApiAdapter:
    client: JstClient
    limits: Limits = field(default_factory=Limits)

    # --- raw ------------------------------------------------------------------------------
    def call(self, path: str, biz: Any = None) -> Any:
        return self.client.call(path, biz, raw=True)

    # --- generic shapes -------------------------------------------------------------------
    def _ts_fetch(self, path: str, model: type[R], list_key: str, *, biz: dict[str, Any], page_size: int,
                  cursor_field: str = "start_ts", read: Callable[..., tuple[list[Any], bool]] = _records,
                  ) -> Callable[[int], tuple[list[R], bool]]:
        def fetch(cursor: int):
            body = {**biz, "page_index": 1, "page_size": page_size, cursor_field: cursor}
            if cursor_field == "start_ts":
                body["is_get_total"] = False  # JST: no totals on a ts scan
            return read(self.client.call(path, body), list_key, model)

        return fetch

    def _ts_scan(self, path: str, model: type[R], list_key: str, *, biz: dict[str, Any], start_ts: int,
                 page_size: int, key: Callable[[R], Any], cursor_field: str = "start_ts",
                 read: Callable[..., tuple[list[Any], bool]] = _records) -> TsScan:
        fetch = self._ts_fetch(path, model, list_key, biz=biz, page_size=page_size, cursor_field=cursor_field,
                               read=read)
        return scan_by_ts(fetch, start_ts=start_ts, key=key)

    def _window_scan(self, path: str, model: type[R], list_key: str, *, biz: dict[str, Any], begin: datetime,
                     end: datetime, page_size: int, key: Callable[[R], Any],
                     max_span: timedelta = timedelta(days=7),
                     read: Callable[..., tuple[list[Any], bool]] = _records) -> list[R]:
        found: list[R] = []
        for start, stop in split_window(begin, end, max_span):
            window = {**biz, "modified_begin": _when(start), "modified_end": _when(stop), "page_size": page_size}
            found.extend(pages_by_index(lambda i, window=window: read(
                self.client.call(path, {**window, "page_index": i}), list_key, model)))
        return keep_latest(found, key, lambda r: getattr(r, "ts", 0) or 0)

    def _list_all(self, path: str, model: type[R], list_key: str, page_size: int, biz: dict[str, Any] | None = None,
                  read: Callable[..., tuple[list[Any], bool]] = _records) -> list[R]:
        return list(pages_by_index(lambda i: read(
            self.client.call(path, {**(biz or {}), "page_index": i, "page_size": page_size}), list_key, model)))

    def _upload_rows(self, path: str, rows: Sequence[BaseModel], size: int) -> list[m.UploadResult]:
        results: list[m.UploadResult] = []
        for chunk in batches(rows, size):
            data = self.client.call(path, list(chunk)) or {}
            results.extend(m.UploadResult.model_validate(r) for r in (data.get("datas") or []))
        return results

    # --- 5.1 sales outbound (S1) ----------------------------------------------------------
    def scan_sales_outbounds(self, *, start_ts: int, wms_co_id: int | None = None, status: str | None = None,
                             shop_id: int | None = None) -> TsScan:
        biz = {k: v for k, v in {"wms_co_id": wms_co_id, "status": status, "shop_id": shop_id}.items() if v is not None}
        return self._ts_scan("/open/orders/out/simple/query", m.SalesOutbound, "datas", biz=biz, start_ts=start_ts,
                             page_size=self.limits.outbound_page, key=lambda r: r.io_id)

    def iter_sales_outbound_pages(self, *, start_ts: int, wms_co_id: int | None = None, status: str | None = None,
                                  shop_id: int | None = None) -> Iterator[TsPage]:
        """The same scan one page (one JST call) at a time, fetched as the caller asks."""
        biz = {k: v for k, v in {"wms_co_id": wms_co_id, "status": status, "shop_id": shop_id}.items() if v is not None}
        path = "/open/orders/out/simple/query"
        fetch = self._ts_fetch(path, m.SalesOutbound, "datas", biz=biz, page_size=self.limits.outbound_page,
                               read=_records_or_malformed(path, "io_id"))
        return iter_ts_pages(fetch, start_ts=start_ts, key=lambda r: getattr(r, "io_id", None) or r.key)

    def sales_outbounds_by_ids(self, io_ids: Sequence[int]) -> list[m.SalesOutbound]:
        found: list[m.SalesOutbound] = []
        for chunk in batches(list(io_ids), self.limits.outbound_ids_per_query):
            found.extend(self._list_all("/open/orders/out/simple/query", m.SalesOutbound, "datas",
                                        self.limits.outbound_page, {"io_ids": chunk}))
        return keep_latest(found, lambda r: r.io_id, lambda r: r.ts)

    def upload_wms_sent(self, rows: Sequence[m.WmsSent]) -> list[Any]:
        answers = []
        for chunk in batches(list(rows), self.limits.wms_sent_upload_batch):
            answers.append(self.client.call("/open/orders/wms/sent/upload", list(chunk)))
        return answers

    # --- 5.2 / 5.3 / 5.5 orders (S2) -------------------------------------------------------
    def upload_orders(self, orders: Sequence[m.OrderUpload]) -> list[m.UploadResult]:
        return self._upload_rows("/open/jushuitan/orders/upload", list(orders), self.limits.orders_upload_batch)

    def query_orders(self, *, shop_id: int, so_ids: Sequence[str]) -> list[m.Order]:
        found: list[m.Order] = []
        for chunk in batches(list(so_ids), self.limits.so_ids_per_query):
            found.extend(self._list_all("/open/orders/single/query", m.Order, "orders", self.limits.order_page,
                                        {"shop_id": shop_id, "so_ids": chunk}))
        return keep_latest(found, lambda r: r.o_id, lambda r: r.ts)

    def orders_by_ids(self, o_ids: Sequence[int]) -> list[m.Order]:
        """Orders of any shop by JST o_id (the order of an outbound)."""
        found: list[m.Order] = []
        for chunk in batches(sorted(set(o_ids)), self.limits.o_ids_per_query):
            found.extend(self._list_all("/open/orders/single/query", m.Order, "orders", self.limits.order_page,
                                        {"o_ids": [str(o_id) for o_id in chunk]}))
        return keep_latest(found, lambda r: r.o_id, lambda r: r.ts)

    def query_orders_changed(self, *, shop_id: int, begin: datetime, end: datetime, status: str) -> list[m.Order]:
        """S2x: the shop's orders in ``status`` modified in [begin, end] (a row that cannot be read
        is a ``MalformedRow`` keyed by its so_id)."""
        return self._window_scan("/open/orders/single/query", m.Order, "orders",
                                 biz={"shop_id": shop_id, "status": status, "date_type": 0}, begin=begin, end=end,
                                 page_size=self.limits.order_page, key=_or_malformed(lambda r: r.o_id),
                                 read=_records_or_malformed("/open/orders/single/query", "so_id"))

    def scan_orders(self, *, shop_id: int, start_ts: int) -> TsScan:
        return self._ts_scan("/open/orders/single/query", m.Order, "orders", biz={"shop_id": shop_id},
                             start_ts=start_ts, page_size=self.limits.order_page, key=lambda r: r.o_id)

    def cancel_orders(self, o_ids: Sequence[int], *, cancel_type: str, remark: str | None = None) -> list[Any]:
        answers = []
        for chunk in batches(list(o_ids), self.limits.cancel_batch):
            answers.append(self.client.call("/open/jushuitan/orderbyoid/cancel",
                                            m.OrderCancel(o_ids=chunk, cancel_type=cancel_type, remark=remark)))
        return answers

    # --- 5.4 logistics (S2x) ---------------------------------------------------------------
    def query_logistics(self, *, shop_id: int, begin: datetime, end: datetime) -> list[m.LogisticOrder]:
        return self._window_scan("/open/logistic/query", m.LogisticOrder, "orders", biz={"shop_id": shop_id},
                                 begin=begin, end=end, page_size=self.limits.logistic_page,
                                 key=_or_malformed(lambda r: (r.o_id, r.l_id)),
                                 read=_records_or_malformed("/open/logistic/query", "so_id"))

    def logistics_of(self, *, shop_id: int, so_ids: Sequence[str]) -> list[m.LogisticOrder]:
        """The parcels JST holds for these orders (a push names them; this is what JST says)."""
        found: list[m.LogisticOrder] = []
        for chunk in batches(list(so_ids), self.limits.so_ids_per_query):
            found.extend(self._list_all("/open/logistic/query", m.LogisticOrder, "orders", self.limits.logistic_page,
                                        {"shop_id": shop_id, "so_ids": chunk}))
        return keep_latest(found, lambda r: (r.o_id, r.l_id), lambda r: r.ts)

    # --- 5.6 / 5.7 inventory (S3, S4) --------------------------------------------------------
    def scan_inventory(self, *, start_ts: int, wms_co_id: int | None = None) -> TsScan:
        biz = {"wms_co_id": wms_co_id} if wms_co_id is not None else {}
        return self._ts_scan("/open/inventory/query", m.Inventory, "inventorys", biz=biz, start_ts=start_ts,
                             page_size=self.limits.inventory_page, key=key_or_malformed("sku_id"), cursor_field="ts",
                             read=_records_or_malformed("/open/inventory/query", "sku_id"))

    def inventory_of(self, sku_ids: Sequence[str], *, wms_co_id: int | None = None) -> list[m.Inventory]:
        found: list[m.Inventory] = []
        for chunk in batches(list(sku_ids), self.limits.inventory_skus_per_query):
            biz: dict[str, Any] = {"sku_ids": ",".join(chunk)}
            if wms_co_id is not None:
                biz["wms_co_id"] = wms_co_id
            found.extend(self._list_all("/open/inventory/query", m.Inventory, "inventorys",
                                        self.limits.inventory_page, biz))
        return keep_latest(found, lambda r: r.sku_id, lambda r: r.ts)

    def upload_inventory(self, *, wms_co_id: int, so_id_prefix: str, items: Sequence[m.StockItem],
                         type: str = "check", remark: str | None = None, riders: Any = None) -> list[Any]:
        """One inventoryv2 upload per 500 items; ``so_id`` = prefix-1, prefix-2... (unique per upload).
        ``riders`` (ports.GrantRiders) go with the first upload's rate-limit grant."""
        answers = []
        for number, chunk in enumerate(batches(list(items), self.limits.inventory_items), start=1):
            body = m.InventoryV2Upload(wms_co_id=wms_co_id, type=type, so_id=f"{so_id_prefix}-{number}",
                                       items=chunk, remark=remark)
            answers.append(self.client.call("/open/jushuitan/inventoryv2/upload", body, raw=True,
                                            **({"riders": riders} if riders is not None and number == 1 else {})))
        return answers

    # --- 5.9 other in/out (S5, S6) -----------------------------------------------------------
    def upload_other_inout(self, doc: m.OtherInOutUpload) -> Any:
        if len(doc.items) > self.limits.other_inout_items:
            raise JstPermanentError(f"other in/out {doc.external_id} has {len(doc.items)} lines; JST takes at most "
                                    f"{self.limits.other_inout_items} (split the document)")
        return self.client.call("/open/jushuitan/otherinout/upload", doc)

    def query_other_inout(self, *, io_ids: Sequence[int] = (), so_ids: Sequence[str] = (),
                          wms_co_id: int | None = None) -> list[m.OtherInOut]:
        found: list[m.OtherInOut] = []
        for field_name, ids in (("io_ids", list(io_ids)), ("so_ids", list(so_ids))):
            for chunk in batches(ids, 50) if ids else ():
                biz: dict[str, Any] = {field_name: chunk}
                if wms_co_id is not None:
                    biz["wms_co_id"] = wms_co_id
                found.extend(self._list_all("/open/other/inout/query", m.OtherInOut, "datas",
                                            self.limits.other_inout_page, biz,
                                            read=_records_or_malformed("/open/other/inout/query", "io_id")))
        return keep_latest(found, key_or_malformed("io_id"), lambda r: r.ts)

    def scan_other_inout(self, *, start_ts: int, wms_co_id: int | None = None) -> TsScan:
        biz = {"wms_co_id": wms_co_id} if wms_co_id is not None else {}
        return self._ts_scan("/open/other/inout/query", m.OtherInOut, "datas", biz=biz, start_ts=start_ts,
                             page_size=self.limits.other_inout_page, key=lambda r: r.io_id)

    # --- transfers (配货 as a 调拨单, the tenant's choice) ---------------------------------------
    def upload_transfer(self, doc: m.TransferUpload, *, path: str) -> list[dict[str, Any]]:
        """One transfer; answers ``[{so_id, io_id}]`` (``path``: the tenant's, as JST's is unsure)."""
        data = self.client.call(path, [doc]) or {}
        return [row for row in (data.get("datas") or []) if isinstance(row, dict)]

    def query_transfers(self, *, path: str, io_ids: Sequence[int] = (), so_ids: Sequence[str] = ()) -> list[m.Transfer]:
        found: list[m.Transfer] = []
        for field_name, ids in (("io_ids", [str(i) for i in io_ids]), ("so_ids", list(so_ids))):
            for chunk in batches(ids, 50) if ids else ():
                found.extend(self._list_all(path, m.Transfer, "datas", self.limits.other_inout_page,
                                            {field_name: chunk}))
        return keep_latest(found, lambda r: r.io_id, lambda r: r.ts)

    # --- 5.10 after-sales (S2r, S2x) -----------------------------------------------------------
    def upload_aftersales(self, rows: Sequence[m.AfterSaleUpload]) -> list[m.UploadResult]:
        return self._upload_rows("/open/aftersale/upload", list(rows), self.limits.aftersale_upload_batch)

    def query_aftersale_received(self, *, begin: datetime, end: datetime,
                                 shop_id: int | None = None) -> list[m.AfterSaleReceived]:
        biz = {"shop_id": shop_id} if shop_id is not None else {}
        return self._window_scan("/open/aftersale/received/query", m.AfterSaleReceived, "datas", biz=biz,
                                 begin=begin, end=end, page_size=self.limits.aftersale_page,
                                 key=key_or_malformed("io_id"),
                                 read=_records_or_malformed("/open/aftersale/received/query", "so_id"))

    def aftersale_received_of(self, *, so_ids: Sequence[str] = (), as_ids: Sequence[int] = (),
                              shop_id: int | None = None) -> list[m.AfterSaleReceived]:
        """The receipt documents JST holds for these after-sales (by as_id) or orders (by so_id)."""
        found: list[m.AfterSaleReceived] = []
        for field_name, ids in (("as_ids", list(as_ids)), ("so_ids", list(so_ids))):
            for chunk in batches(ids, 50) if ids else ():
                biz: dict[str, Any] = {field_name: chunk}
                if shop_id is not None:
                    biz["shop_id"] = shop_id
                found.extend(self._list_all("/open/aftersale/received/query", m.AfterSaleReceived, "datas",
                                            self.limits.aftersale_page, biz))
        return sorted(keep_latest(found, lambda r: r.io_id, lambda r: r.ts), key=lambda r: r.ts)

    # --- 5.8 items (S7) ---------------------------------------------------------------------
    def query_skus(self, *, begin: datetime, end: datetime) -> list[m.Sku]:
        return self._window_scan("/open/sku/query", m.Sku, "datas", biz={}, begin=begin, end=end,
                                 page_size=self.limits.sku_page, key=key_or_malformed("sku_id"),
                                 read=_records_or_malformed("/open/sku/query", "sku_id"))

    def query_mall_items(self, *, begin: datetime, end: datetime) -> list[m.MallItem]:
        return self._window_scan("/open/mall/item/query", m.MallItem, "datas", biz={}, begin=begin, end=end,
                                 page_size=self.limits.mall_item_page, key=key_or_malformed("i_id"),
                                 read=_records_or_malformed("/open/mall/item/query", "i_id"))

    def skus_by_ids(self, sku_ids: Sequence[str]) -> list[m.Sku]:
        """/open/sku/query by sku_ids (≤ 20 a call): the SKU fields a style query does not return
        (条形码 sku_code, labels, custom fields other_1..10)."""
        found: list[m.Sku] = []
        for chunk in batches(list(dict.fromkeys(sku_ids)), self.limits.skus_per_id_query):
            found.extend(self._list_all("/open/sku/query", m.Sku, "datas", self.limits.sku_page,
                                        {"sku_ids": ",".join(chunk)}))
        return keep_latest(found, lambda r: r.sku_id, lambda r: 0)

    # --- 5.11 base data (doctor) ------------------------------------------------------------
    def query_shops(self, shop_ids: Iterable[int] = ()) -> list[m.Shop]:
        ids = list(shop_ids)
        return self._list_all("/open/shops/query", m.Shop, "datas", self.limits.shop_page,
                              {"shop_ids": ids} if ids else None)

    def query_warehouses(self) -> list[m.WmsPartner]:
        return self._list_all("/open/wms/partner/query", m.WmsPartner, "datas", self.limits.wms_partner_page)

    def query_logistics_companies(self, wms_co_id: int | None = None) -> list[m.LogisticsCompany]:
        return self._list_all("/open/logisticscompany/query", m.LogisticsCompany, "datas",
                              self.limits.logistics_company_page,
                              {"wms_co_id": wms_co_id} if wms_co_id is not None else None)
