"""The store system port: what flows need from 店+ (the store contract, docs/openapi/pos-api.yaml).

Its value types are the store contract's own models (connectors/store/models.py): the bridge
defines that contract, so they are the bridge's terms, loaded only by the code that calls.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence

if TYPE_CHECKING:  # keep pydantic models out of cold starts that never need them
    from ..connectors.store import models as pos


class StoreSystem(Protocol):
    """What flows need from the 店+ store system: P1–P14 of the store contract
    (docs/openapi/pos-api.yaml). connectors/store/api.py implements it over HTTP
    (StoreSystemApi); tests use in-memory fakes.

    Exactly once: every command is idempotent at the store. The adapter derives the
    Idempotency-Key from ``business_key`` (or from the request's own document keys when it is
    None), so a flow repeating a command with the same business key is answered, not applied
    twice. Errors are connectors.store.errors classes: PosTransientError (retry later) or
    PosPermanentError (the store refused; retrying the same request will not help)."""

    # S1: store fulfilment of online orders.
    def create_fulfilment_order(self, order: "pos.FulfilmentOrder", *,
                                business_key: str | None = None) -> "pos.FulfilmentCreated": ...
    def cancel_fulfilment_order(self, fulfilment_id: str, reason: str, *,
                                business_key: str | None = None) -> "pos.FulfilmentCancelled": ...
    # S2: store orders shipped or cancelled by the warehouse / ERP; returns received.
    def ship_order(self, order_no: str, shipment: "pos.Shipment", *,
                   business_key: str | None = None) -> "pos.ShipmentCreated": ...
    def cancel_order(self, order_no: str, reason: str, *, business_key: str | None = None) -> "pos.OrderCancelled": ...
    def receive_return(self, return_no: str, receipt: "pos.ReturnReceipt", *,
                       business_key: str | None = None) -> "pos.ReturnReceiptDone": ...
    # S3 / S4: stock (P6 split into ≤ 500 items a call; P8 followed to the last cursor).
    def set_warehouse_stock(self, warehouse_code: str, items: "Iterable[pos.StockLevel]", *,
                            business_key: str | None = None) -> "pos.WarehouseStock": ...
    def store_stock(self, store_code: str, sku_ids: Sequence[str]) -> "pos.StoreStock": ...
    def scan_stock(self, *, updated_since: datetime | str | None = None, limit: int = 200,
                   order: str | None = None, sku_after: str | None = None, sku_until: str | None = None,
                   quantities_only: bool = False) -> "Iterable[pos.StockRow | tuple[str, str, int]]": ...
    # S7: product master.
    def upsert_products(self, batch: "pos.ProductBatch", *,
                        business_key: str | None = None) -> "pos.ProductResults": ...
    # S5 / S6: replenishment shipped, return-to-warehouse received.
    def transfer_warehouse_shipped(self, doc_no: str, shipped: "pos.TransferShipped", *,
                                   business_key: str | None = None) -> "pos.TransferShippedDone": ...
    def warehouse_return_received(self, doc_no: str, received: "pos.WarehouseReturnReceived", *,
                                  business_key: str | None = None) -> "pos.WarehouseReturnReceivedDone": ...
    # W2: an ERP's stock-in / stock-out documents of a store's warehouse.
    def create_inbound_receipt(self, store_code: str, document: "pos.StoreDocument", *,
                               business_key: str | None = None) -> "pos.InboundReceiptCreated": ...
    def book_outbound_note(self, store_code: str, document: "pos.StoreDocument", *,
                           business_key: str | None = None) -> "pos.OutboundNoteBooked": ...
    # Member merge: one merged profile per person.
    def put_member(self, member_id: str, profile: "pos.MemberProfile", *,
                   business_key: str | None = None) -> "pos.MemberSaved": ...
