"""The StoreSystem port over HTTP: P1–P11 of pos-contract.md as typed methods.

Each command derives its Idempotency-Key from its business key (``idempotency.py``), so a
retry of the same action is applied once. ``set_warehouse_stock`` splits a set larger than
P6's 500 items into chunks with their own keys; ``scan_stock`` follows P8's cursor until
``next_cursor`` is null.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ValidationError

from . import idempotency
from .client import PosClient
from .errors import PosPermanentError, PosTransientError
from .models import (
    MAX_STOCK_ITEMS, CancelRequest, FulfilmentCancelled, FulfilmentCreated, FulfilmentOrder, OrderCancelled,
    ProductBatch, ProductResults, ReturnReceipt, ReturnReceiptDone, Shipment, ShipmentCreated, StockLevel,
    StockPage, StockRow, StoreStock, TransferShipped, TransferShippedDone, WarehouseReturnReceived,
    WarehouseReturnReceivedDone, WarehouseStock, WarehouseStockSet,
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
                   limit: int = DEFAULT_PAGE_SIZE) -> StockPage:
        """P8, one page."""
        since = updated_since.isoformat() if isinstance(updated_since, datetime) else updated_since
        params = {"updated_since": since, "cursor": cursor, "limit": limit}
        return self._read("/stock", params, StockPage)

    def scan_stock(self, *, updated_since: datetime | str | None = None,
                   limit: int = DEFAULT_PAGE_SIZE) -> Iterator[StockRow]:
        """P8 paging: every row changed since ``updated_since``, following the cursor to its end."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.stock_page(updated_since=updated_since, cursor=cursor, limit=limit)
            yield from page.items
            if page.next_cursor is None:
                return
            if page.next_cursor in seen:
                raise PosPermanentError(f"店+ GET /stock repeated cursor {page.next_cursor!r}; paging stopped",
                                        method="GET", path="/stock")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

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
