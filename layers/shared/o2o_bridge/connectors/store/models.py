"""Typed requests and answers of the 店+ API, P1–P14 of the store contract (docs/openapi/pos-api.yaml)
(docs/openapi/pos-api.yaml is the same contract as OpenAPI 3.1).

Requests refuse unknown fields (a typo in a mapper fails in tests, not at the store);
answers ignore them (the store system may add optional fields at any time). Amounts are
Decimal and sent as decimal strings; times must carry an offset.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

__all__ = [
    "Answer", "CancelRequest", "CashOnDelivery", "FulfilmentCancelled", "FulfilmentCreated", "FulfilmentItem",
    "FulfilmentOrder", "InboundReceiptCreated", "MAX_STOCK_ITEMS", "MemberChannel", "MemberProfile", "MemberSaved",
    "OrderCancelled", "OutboundNoteBooked", "Product", "ProductBatch", "ProductOptions", "ProductResult",
    "ProductResults", "Receiver", "ReturnReceipt", "ReturnReceiptDone", "Shipment", "ShipmentCreated", "SkuQty",
    "StockLevel", "StockPage", "StockRow", "StoreDocument", "StoreStock", "StoreStockItem", "TransferShipped",
    "TransferShippedDone", "WarehouseReturnReceived", "WarehouseReturnReceivedDone", "WarehouseStock",
    "WarehouseStockResult", "WarehouseStockSet",
]

MAX_STOCK_ITEMS = 500  # P6 accepts at most this many items per call


def _as_text(value: Any) -> Any:
    # JST ids (io_id, o_id, sku ids that look numeric) arrive as ints; the store takes text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_as_text), Field(min_length=1, max_length=256)]
Qty = Annotated[int, Field(ge=1)]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), PlainSerializer(lambda d: format(d, "f"), return_type=str)]
Time = Annotated[AwareDatetime, PlainSerializer(lambda t: t.isoformat(), return_type=str)]


class _Request(BaseModel):
    # defer_build: each model is built when first used, not at import; a request uses a few of them.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    def body(self) -> dict[str, Any]:
        """The JSON body, optional fields left out when unset."""
        return self.model_dump(mode="json", exclude_none=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


# --- shared ----------------------------------------------------------------------------


class SkuQty(_Request):
    sku_id: Id
    qty: Qty


class Receiver(_Request):
    name: Id
    mobile: Id
    province: Id
    city: Id
    district: Id
    address: Id
    zip: str | None = None
    phone: str | None = None


class CancelRequest(_Request):
    """P2 and P4."""

    reason: Annotated[str, Field(min_length=1)]


# --- P1 / P2 ---------------------------------------------------------------------------


class FulfilmentItem(_Request):
    sku_id: Id
    qty: Qty
    name: str
    price: Money | None = None


class CashOnDelivery(_Request):
    """P1 ``cod``: a 货到付款 order; the store collects ``amount`` from the customer."""

    amount: Money


class FulfilmentOrder(_Request):
    """P1 body: one JST sales outbound (io_id) routed to one store.

    The optional fields are sent only when known: ``cod`` for a 货到付款 order,
    ``pickup_store_code`` the store the customer chose for 门店自提, ``placed_at`` / ``paid_at``
    the customer's order and payment times (``receiver.zip`` the postcode)."""

    external_id: Id  # JST io_id
    jst_o_id: Id
    platform_order_id: Id  # JST so_id
    store_code: Id
    delivery: Literal["express", "pickup"]
    receiver: Receiver
    items: Annotated[list[FulfilmentItem], Field(min_length=1)]
    shop_id: Id | None = None
    buyer_message: str | None = None
    remark: str | None = None
    cod: CashOnDelivery | None = None
    pickup_store_code: Id | None = None
    placed_at: Time | None = None
    paid_at: Time | None = None


class FulfilmentCreated(_Answer):
    fulfilment_id: str
    status: str | None = None


class FulfilmentCancelled(_Answer):
    fulfilment_id: str
    status: str


# --- P3 / P4 / P5 ----------------------------------------------------------------------


class Shipment(_Request):
    """P3 body: the warehouse shipped a store order (JST logistics upload)."""

    carrier_code: Id
    carrier_name: str
    tracking_no: Id  # JST l_id
    shipped_at: Time
    items: Annotated[list[SkuQty], Field(min_length=1)]


class ShipmentCreated(_Answer):
    order_no: str
    status: str
    shipment_id: str | None = None


class OrderCancelled(_Answer):
    order_no: str
    status: str


class ReturnReceipt(_Request):
    """P5 body."""

    action: Literal["confirm", "cancel"]
    received_at: Time
    items: Annotated[list[SkuQty], Field(min_length=1)]


class ReturnReceiptDone(_Answer):
    return_no: str
    status: str


# --- P6 / P7 / P8 ----------------------------------------------------------------------


class StockLevel(_Request):
    sku_id: Id
    qty: int  # absolute; 0 or negative are real levels
    version: Annotated[int, Field(ge=0)]


class WarehouseStockSet(_Request):
    """P6 body (≤ 500 items; ``StoreSystemApi.set_warehouse_stock`` splits larger sets)."""

    items: Annotated[list[StockLevel], Field(min_length=1, max_length=MAX_STOCK_ITEMS)]


class WarehouseStockResult(_Answer):
    sku_id: str
    status: Literal["applied", "stale"]
    qty: int
    version: int


class WarehouseStock(_Answer):
    warehouse_code: str
    applied: int
    stale: int
    results: list[WarehouseStockResult] = []

    def merged(self, other: "WarehouseStock") -> "WarehouseStock":
        return WarehouseStock(warehouse_code=self.warehouse_code, applied=self.applied + other.applied,
                              stale=self.stale + other.stale, results=[*self.results, *other.results])


class StoreStockItem(_Answer):
    sku_id: str
    qty: int
    version: int | None = None


class StoreStock(_Answer):
    store_code: str | None = None
    items: list[StoreStockItem]


class StockRow(_Answer):
    store_code: str
    sku_id: str
    qty: int
    version: int
    updated_at: datetime


class StockPage(_Answer):
    items: list[StockRow]
    next_cursor: str | None


# --- P9 --------------------------------------------------------------------------------


class Product(_Request):
    """One P9 item; the field map of docs/architecture.md (店+ ← JST) lives in the product flow."""

    spu_code: Id
    sku_code: Id
    barcode: str | None
    name: Annotated[str, Field(min_length=1)]
    color: str | None
    size: str | None
    brand: str | None
    category: str | None
    cost_price: Money | None
    tag_price: Money | None
    retail_price: Money | None
    attributes: dict[str, str | None] = {}

    def body(self) -> dict[str, Any]:  # the contract's fields are always sent, null included
        return self.model_dump(mode="json")


class ProductOptions(_Request):
    auto_create: bool
    category_once: bool
    mount_category: str | None
    spec_template: str | None
    # An addition to the contract: retail_price applies only when the product is created; an
    # existing product keeps the price the store set (absent = false, retail_price always applies).
    retail_price_on_create: bool = False


class ProductBatch(_Request):
    items: Annotated[list[Product], Field(min_length=1)]
    options: ProductOptions

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ProductResult(_Answer):
    sku_code: str
    status: str
    msg: str | None = None


class ProductResults(_Answer):
    results: list[ProductResult]


# --- P10 / P11 -------------------------------------------------------------------------


class TransferShipped(_Request):
    """P10 body: the JST other-outbound (type=out) of a 配货 document is confirmed."""

    jst_io_id: Id
    shipped_at: Time
    items: Annotated[list[SkuQty], Field(min_length=1)]


class TransferShippedDone(_Answer):
    doc_no: str
    status: str
    outbound_no: str | None = None
    inbound_receipt_no: str | None = None


class WarehouseReturnReceived(_Request):
    """P11 body: the JST other-inbound (type=in) of a 退仓 document is confirmed."""

    jst_io_id: Id
    received_at: Time
    items: Annotated[list[SkuQty], Field(min_length=1)]


class WarehouseReturnReceivedDone(_Answer):
    doc_no: str
    status: str
    inbound_no: str | None = None


# --- P12 / P13 -------------------------------------------------------------------------


class StoreDocument(_Request):
    """P12 / P13 body: an ERP stock-in (P12) or stock-out (P13) document of a store's warehouse."""

    doc_no: Id  # the ERP's document no.: one receipt / note per store and doc_no
    doc_type: Id  # the ERP's type, e.g. 调拨入库, 采购入库, 其他出库
    items: Annotated[list[SkuQty], Field(min_length=1)]
    remark: Annotated[str, Field(max_length=2000)] = ""


class InboundReceiptCreated(_Answer):
    doc_no: str
    store_code: str
    inbound_receipt_no: str
    status: str


class OutboundNoteBooked(_Answer):
    doc_no: str
    store_code: str
    outbound_no: str
    status: str


# --- P14 -------------------------------------------------------------------------------


class MemberChannel(_Request):
    channel: Id  # where the person is known: the store system, an online shop, ...
    external_id: Id


class MemberProfile(_Request):
    """P14 body: one merged member profile."""

    mobile: Id
    name: Id
    channels: list[MemberChannel]
    merged_from: list[Id]

    def body(self) -> dict[str, Any]:  # the empty lists are the contract's "none", always sent
        return self.model_dump(mode="json")


class MemberSaved(_Answer):
    member_id: str
    status: str
    merged_from: list[str] = []


class Answer(_Answer):
    """The envelope of every answer."""

    code: int
    msg: str = ""
    data: Any = None
