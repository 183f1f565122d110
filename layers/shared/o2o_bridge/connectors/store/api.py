"""The StoreSystem port over HTTP: P1–P14 of the store contract (docs/openapi/pos-api.yaml) as typed methods.

Each command derives its Idempotency-Key from its business key (``idempotency.py``), so a
retry of the same action is applied once. ``set_warehouse_stock`` splits a set larger than
P6's 500 items into chunks with their own keys; ``scan_stock`` follows P8's cursor until
``next_cursor`` is null.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ValidationError

from . import idempotency
from .client import PosClient
from .errors import PosPermanentError, PosTransientError
from .models import (
    MAX_STOCK_ITEMS, CancelRequest, FulfilmentCancelled, FulfilmentCreated, FulfilmentOrder, InboundReceiptCreated,
    MemberProfile, MemberSaved, OrderCancelled, OutboundNoteBooked, ProductBatch, ProductResults, ReturnReceipt,
    ReturnReceiptDone, Shipment, ShipmentCreated, StockLevel, StockPage, StoreDocument, StoreStock,
    TransferShipped, TransferShippedDone, WarehouseReturnReceived, WarehouseReturnReceivedDone, WarehouseStock,
    WarehouseStockSet,
)

T = TypeVar("T")
A = TypeVar("A", bound=BaseModel)

MAX_SKUS_PER_READ = 100  # P7: keeps the query string well under common URL limits
DEFAULT_PAGE_SIZE = 200


def chunks(items: Sequence[T], size: int = MAX_STOCK_ITEMS) -> list[list[T]]:
    """``items`` split into lists of at most ``size``, in order."""
    if size < 1:
        raise ValueError("size must be ≥ 1")
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


_NEXT_CURSOR_VALUE = re.compile(rb'\s*:\s*(null|"(?:[^"\\]|\\.)*")')


def _raw_next_cursor(raw: bytes) -> str | None:
    """``data.next_cursor`` of a P8 answer, found without parsing the page (the last
    occurrence: it follows the items in every answer seen; a wrong guess is caught against the
    parsed page, costing only speed)."""
    at = raw.rfind(b'"next_cursor"')
    found = _NEXT_CURSOR_VALUE.match(raw, at + 13) if at > 0 and raw[at - 1:at] != b"\\" else None
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _quantities(data: Any) -> tuple[list[tuple[str, str, int]], str | None]:
    """A P8 page as ``(store_code, sku_id, qty)`` tuples and its next cursor, checked without a
    model per row (the checks StockRow would make of these three fields)."""
    try:
        cursor = data["next_cursor"]
        rows = [(item["store_code"], item["sku_id"], item["qty"]) for item in data["items"]]
    except (KeyError, TypeError):
        rows, cursor = None, None
    if rows is None or not (cursor is None or isinstance(cursor, str)) or not all(
            type(store) is str and type(sku) is str and type(qty) is int for store, sku, qty in rows):
        raise PosTransientError("店+ GET /stock answered code 0 with unreadable data (items: store_code, sku_id "
                                "must be strings and qty an integer)", method="GET", path="/stock")
    return rows, cursor


def _segment(value: Any) -> str:
    return quote(str(value), safe="")


class StoreSystemApi:
    """Implements ``o2o_bridge.ports.StoreSystem`` for one tenant."""

    def __init__(self, client: PosClient) -> None:
        self.client = client

    # --- S1: store fulfilment -------------------------------------------------------------
    def create_fulfilment_order(self, order: FulfilmentOrder, *, business_key: str | None = None) -> FulfilmentCreated:
        """P1. Key ``fulfilment:<io_id>:<store_code>``."""
        key = idempotency.key("fulfilment", business_key or f"{order.external_id}:{order.store_code}")
        return self._command("POST", "/fulfilment-orders", order, key, FulfilmentCreated)

    def cancel_fulfilment_order(self, fulfilment_id: str, reason: str, *,
                                business_key: str | None = None) -> FulfilmentCancelled:
        """P2. Key ``fulfilment-cancel:<fulfilment_id>``."""
        key = idempotency.key("fulfilment-cancel", business_key or fulfilment_id)
        return self._command("POST", f"/fulfilment-orders/{_segment(fulfilment_id)}/cancel",
                             CancelRequest(reason=reason), key, FulfilmentCancelled)

    # --- S2: store orders shipped by the warehouse ---------------------------------------
    def ship_order(self, order_no: str, shipment: Shipment, *, business_key: str | None = None) -> ShipmentCreated:
        """P3. Key ``shipment:<order_no>:<l_id>``."""
        key = idempotency.key("shipment", business_key or f"{order_no}:{shipment.tracking_no}")
        return self._command("POST", f"/orders/{_segment(order_no)}/shipments", shipment, key, ShipmentCreated)

    def cancel_order(self, order_no: str, reason: str, *, business_key: str | None = None) -> OrderCancelled:
        """P4. Key ``order-cancel:<order_no>``."""
        key = idempotency.key("order-cancel", business_key or order_no)
        return self._command("POST", f"/orders/{_segment(order_no)}/cancel", CancelRequest(reason=reason), key,
                             OrderCancelled)

    def receive_return(self, return_no: str, receipt: ReturnReceipt, *,
                       business_key: str | None = None) -> ReturnReceiptDone:
        """P5. Key ``return-receipt:<return_no>:<action>:<received_at>``."""
        key = idempotency.key("return-receipt",
                              business_key or f"{return_no}:{receipt.action}:{receipt.received_at.isoformat()}")
        return self._command("POST", f"/returns/{_segment(return_no)}/receipt", receipt, key, ReturnReceiptDone)

    # --- S3 / S4: stock -------------------------------------------------------------------
    def set_warehouse_stock(self, warehouse_code: str, items: Iterable[StockLevel], *,
                            business_key: str | None = None) -> WarehouseStock:
        """P6, split into calls of ≤ 500 items. Key ``stock:<warehouse_code>:<business key>:<part>/<parts>``.

        The chunks are deterministic for the same items in the same order, so retrying the
        whole set after a partial failure re-sends the done chunks under their first keys
        (answered from the store's idempotency record, no new effect)."""
        levels = [item if isinstance(item, StockLevel) else StockLevel.model_validate(item) for item in items]
        total = WarehouseStock(warehouse_code=warehouse_code, applied=0, stale=0)
        if not levels:
            return total
        base = business_key or idempotency.content_hash([level.body() for level in levels])
        parts = chunks(levels, MAX_STOCK_ITEMS)
        for number, part in enumerate(parts, start=1):
            suffix = f"{base}:{number}/{len(parts)}" if len(parts) > 1 else base
            key = idempotency.key("stock", warehouse_code, suffix)
            done = self._command("PUT", f"/warehouses/{_segment(warehouse_code)}/stock",
                                 WarehouseStockSet(items=part), key, WarehouseStock)
            total = total.merged(done)
        return total

    def store_stock(self, store_code: str, sku_ids: Sequence[str]) -> StoreStock:
        """P7, ``MAX_SKUS_PER_READ`` SKUs per call."""
        result = StoreStock(store_code=store_code, items=[])
        for part in chunks(list(dict.fromkeys(str(s) for s in sku_ids)), MAX_SKUS_PER_READ):
            path = f"/stores/{_segment(store_code)}/stock"
            params = {"sku_ids": ",".join(part)}
            page = self._read(path, params, StoreStock)
            result = StoreStock(store_code=store_code, items=[*result.items, *page.items])
        return result

    def stock_page(self, *, updated_since: datetime | str | None = None, cursor: str | None = None,
                   limit: int = DEFAULT_PAGE_SIZE, order: str | None = None,
                   sku_after: str | None = None, sku_until: str | None = None) -> StockPage:
        """P8, one page (``order="sku"``: by SKU, then store; ``sku_after`` starts after that SKU,
        ``sku_until`` ends after that one)."""
        since = updated_since.isoformat() if isinstance(updated_since, datetime) else updated_since
        params = {"updated_since": since, "cursor": cursor, "limit": limit, "order": order,
                  "sku_after": sku_after if cursor is None else None, "sku_until": sku_until}
        return self._read("/stock", params, StockPage)

    def scan_stock(self, *, updated_since: datetime | str | None = None, limit: int = DEFAULT_PAGE_SIZE,
                   order: str | None = None, sku_after: str | None = None, sku_until: str | None = None,
                   quantities_only: bool = False) -> Iterator[Any]:
        """P8 paging: every row changed since ``updated_since``, following the cursor to its end;
        ``order="sku"`` gives each SKU's rows together, ``sku_after`` starts after that SKU and
        ``sku_until`` ends after that one (one range of SKUs).

        ``quantities_only`` yields ``(store_code, sku_id, qty)`` tuples instead of StockRow
        models: a 1 M-row scan then spends its time on the wire, not on 1 M model objects.
        The next page is fetched while the caller works on this one."""
        if quantities_only:
            yield from self._scan_quantities(updated_since, limit, order, sku_after, sku_until)
            return
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.stock_page(updated_since=updated_since, cursor=cursor, limit=limit, order=order,
                                   sku_after=sku_after, sku_until=sku_until)
            yield from page.items
            if page.next_cursor is None:
                return
            if page.next_cursor in seen:
                raise PosPermanentError(f"店+ GET /stock repeated cursor {page.next_cursor!r}; paging stopped",
                                        method="GET", path="/stock")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    def _scan_quantities(self, updated_since: datetime | str | None, limit: int, order: str | None,
                         sku_after: str | None, sku_until: str | None) -> Iterator[tuple[str, str, int]]:
        """Pages as tuples; a thread fetches page N+1 while the caller parses page N (the store
        builds a page about as long as the bridge takes to read one). The thread only moves
        bytes: it takes the next cursor from the raw answer, and the parsed page must agree."""
        from . import stock_pages  # loaded by the first scan, not by every function's start

        since = updated_since.isoformat() if isinstance(updated_since, datetime) else updated_since
        pages: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def fetch_all() -> None:
            cursor: str | None = None
            while not stop.is_set():
                params = {"updated_since": since, "cursor": cursor, "limit": limit, "order": order,
                          "sku_after": sku_after if cursor is None else None, "sku_until": sku_until}
                present = {k: v for k, v in params.items() if v is not None}
                try:
                    response = self.client.send("GET", "/stock", None, params=present,
                                                idempotency_key=idempotency.key("read", f"/stock?{urlencode(present)}"))
                except BaseException as exc:  # handed to the reader, raised there
                    response = exc
                cursor = _raw_next_cursor(response.content) if isinstance(response, httpx.Response) else None
                while not stop.is_set():
                    try:
                        pages.put((response, cursor), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if cursor is None:
                    return

        fetcher = threading.Thread(target=fetch_all, name="p8-prefetch", daemon=True)
        fetcher.start()
        seen: set[str] = set()
        try:
            while True:
                response, expected = pages.get()
                if isinstance(response, BaseException):
                    raise response
                decoded = stock_pages.quantities(response.content) if response.status_code < 400 else None
                rows, cursor = decoded or _quantities(self.client.data_of("GET", "/stock", response))
                if cursor != expected:
                    raise PosTransientError("店+ GET /stock: the next cursor read ahead differs from the page's",
                                            method="GET", path="/stock")
                if cursor is not None:
                    if cursor in seen:
                        raise PosPermanentError(f"店+ GET /stock repeated cursor {cursor!r}; paging stopped",
                                                method="GET", path="/stock")
                    seen.add(cursor)
                yield from rows
                if cursor is None:
                    return
        finally:
            stop.set()

    # --- S7: products ----------------------------------------------------------------------
    def upsert_products(self, batch: ProductBatch, *, business_key: str | None = None) -> ProductResults:
        """P9. Key ``products:<business key>`` (default: a hash of the batch)."""
        key = idempotency.key("products", business_key or idempotency.content_hash(batch.body()))
        return self._command("POST", "/products/batch", batch, key, ProductResults)

    # --- S5 / S6: documents ----------------------------------------------------------------
    def transfer_warehouse_shipped(self, doc_no: str, shipped: TransferShipped, *,
                                   business_key: str | None = None) -> TransferShippedDone:
        """P10. Key ``transfer-shipped:<doc_no>:<jst_io_id>``."""
        key = idempotency.key("transfer-shipped", business_key or f"{doc_no}:{shipped.jst_io_id}")
        return self._command("POST", f"/transfers/{_segment(doc_no)}/warehouse-shipped", shipped, key,
                             TransferShippedDone)

    def warehouse_return_received(self, doc_no: str, received: WarehouseReturnReceived, *,
                                  business_key: str | None = None) -> WarehouseReturnReceivedDone:
        """P11. Key ``warehouse-return-received:<doc_no>:<jst_io_id>``."""
        key = idempotency.key("warehouse-return-received", business_key or f"{doc_no}:{received.jst_io_id}")
        return self._command("POST", f"/warehouse-returns/{_segment(doc_no)}/received", received, key,
                             WarehouseReturnReceivedDone)

    # --- W2: ERP documents of a store's warehouse --------------------------------------------
    def create_inbound_receipt(self, store_code: str, document: StoreDocument, *,
                               business_key: str | None = None) -> InboundReceiptCreated:
        """P12: the ERP's stock-in document becomes a pending inbound receipt at the store.
        Key ``inbound-receipt:<store_code>:<doc_no>``."""
        key = idempotency.key("inbound-receipt", business_key or f"{store_code}:{document.doc_no}")
        return self._command("POST", f"/stores/{_segment(store_code)}/inbound-receipts", document, key,
                             InboundReceiptCreated)

    def book_outbound_note(self, store_code: str, document: StoreDocument, *,
                           business_key: str | None = None) -> OutboundNoteBooked:
        """P13: the ERP's stock-out document is booked out of the store.
        Key ``outbound-note:<store_code>:<doc_no>``."""
        key = idempotency.key("outbound-note", business_key or f"{store_code}:{document.doc_no}")
        return self._command("POST", f"/stores/{_segment(store_code)}/outbound-notes", document, key,
                             OutboundNoteBooked)

    # --- member merge --------------------------------------------------------------------------
    def put_member(self, member_id: str, profile: MemberProfile, *, business_key: str | None = None) -> MemberSaved:
        """P14: the merged profile. Key ``member:<member_id>:<hash of the profile>``: the same
        profile sent again is one action, a changed profile is a new one."""
        key = idempotency.key("member", member_id, business_key or idempotency.content_hash(profile.body()))
        return self._command("PUT", f"/members/{_segment(member_id)}", profile, key, MemberSaved)

    # --- plumbing ----------------------------------------------------------------------------
    def _command(self, method: str, path: str, request: Any, key: str, answer: type[A]) -> A:
        data = self.client.request(method, path, request.body(), idempotency_key=key)
        return self._parse(method, path, data, answer)

    def _read(self, path: str, params: dict[str, Any], answer: type[A]) -> A:
        present = {k: v for k, v in params.items() if v is not None}
        key = idempotency.key("read", f"{path}?{urlencode(present)}")
        data = self.client.request("GET", path, None, idempotency_key=key, params=present)
        return self._parse("GET", path, data, answer)

    @staticmethod
    def _parse(method: str, path: str, data: Any, answer: type[A]) -> A:
        try:
            return answer.model_validate(data)
        except ValidationError as exc:
            # A success answer we cannot read: most likely a partial deployment at the store; retry.
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "data"
            raise PosTransientError(f"店+ {method} {path} answered code 0 with unreadable data ({where}: {first['msg']})",
                                    method=method, path=path) from None
