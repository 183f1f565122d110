"""The store system's events (the store contract (docs/openapi/pos-api.yaml), "Store system → bridge (events)").

One model per event type, joined in a union discriminated on ``type``. Each model holds
the contract's required fields; anything else the store system adds is ignored, so a new
optional field on their side never breaks the bridge. ``parse_event`` turns a validation
failure into a 422 that names the field path (``data.items[0].qty``).
"""

from __future__ import annotations

from decimal import Decimal
import functools
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter,
                      ValidationError, model_validator)
from pydantic_core import PydanticCustomError

from ..errors import UnprocessableRequest


def _number_as_text(value: Any) -> Any:
    # Ids such as line_no or external_id (a JST io_id) may arrive as JSON numbers.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# The constraints go before the BeforeValidator: the other order loses the strip (pydantic 2.x).
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256), BeforeValidator(_number_as_text)]
Remark = Annotated[str, StringConstraints(max_length=2000)]
# Strict: JSON true is not a quantity of 1, and "3" is not a number in this contract.
Quantity = Annotated[int, Field(gt=0, strict=True)]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Version = Annotated[int, Field(ge=0, strict=True)]
StockQty = Annotated[int, Field(strict=True)]
CountedQty = Annotated[int, Field(ge=0, strict=True)]  # what a stock count found on the shelf; 0 is a real count
# JSON true / false only: "no" or 0 is not an answer to "is it defective?".
Flag = Annotated[bool, Field(strict=True)]
PaymentMethod = Literal["cash", "card", "wechat", "alipay", "other"]
# A time without its offset is ambiguous (Asia/Shanghai or UTC?) and JST needs the right one.
Moment = AwareDatetime


class _Model(BaseModel):
    # Unknown fields are tolerated (and dropped): the contract only ever adds optional ones.
    # defer_build: a model's validator is built when it first validates, not at import, so a
    # cold start pays only for the event types its container actually receives.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Receiver(_Model):
    name: Text
    mobile: Text
    province: Text
    city: Text
    district: Text
    address: Text


class OrderLine(_Model):
    line_no: Text
    sku_id: Text
    qty: Quantity
    price: Money
    amount: Money
    # An addition to the contract: the name JST shows on the order (the SKU code when absent).
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)] | None = None


class ReturnLine(_Model):
    line_no: Text
    sku_id: Text
    qty: Quantity
    amount: Money


class SkuQty(_Model):
    sku_id: Text
    qty: Quantity


class StockLevel(_Model):
    sku_id: Text
    qty: StockQty  # absolute store stock; may be negative when a POS oversells, the stock flow decides
    version: Version


# --- data of each event type -------------------------------------------------------


class CodToCollect(_Model):
    """An addition to the contract: the 货到付款 part of a store order, collected on delivery."""

    amount: Money


class OrderWarehouseRequested(_Model):
    order_no: Text
    receiver: Receiver
    items: Annotated[list[OrderLine], Field(min_length=1)]
    pay_amount: Money
    freight: Money
    paid_at: Moment
    cod: CodToCollect | None = None


class OrderCancelled(_Model):
    order_no: Text
    reason: Text


class ReturnRequested(_Model):
    return_no: Text
    order_no: Text
    type: Text
    items: Annotated[list[ReturnLine], Field(min_length=1)]


class CodCollected(_Model):
    """An addition to the contract: the 货到付款 amount the store collected from the customer."""

    amount: Money
    method: PaymentMethod


class FulfilmentShipped(_Model):
    fulfilment_id: Text
    external_id: Text
    carrier_code: Text
    tracking_no: Text
    shipped_at: Moment
    cod_collected: CodCollected | None = None


class FulfilmentPickedUp(_Model):
    fulfilment_id: Text
    external_id: Text
    picked_up_at: Moment
    cod_collected: CodCollected | None = None


class RejectedItem(_Model):
    sku_id: Text
    qty: Quantity | None = None  # how many the store is short of; informative only


class FulfilmentRejected(_Model):
    fulfilment_id: Text
    external_id: Text
    store_code: Text
    reason: Literal["out_of_stock", "damaged", "other"]
    # An addition to the contract: the SKUs the store cannot fulfil. With ``out_of_stock`` only
    # these are marked unavailable at the store for the day; absent, every SKU of the order is.
    items: Annotated[list[RejectedItem], Field(min_length=1)] | None = None


class TransferSubmitted(_Model):
    doc_no: Text
    store_code: Text
    items: Annotated[list[SkuQty], Field(min_length=1)]
    remark: Remark


class WarehouseReturnSubmitted(_Model):
    doc_no: Text
    store_code: Text
    items: Annotated[list[SkuQty], Field(min_length=1)]
    remark: Remark


class StockChanged(_Model):
    store_code: Text
    items: Annotated[list[StockLevel], Field(min_length=1)]


class SaleLine(_Model):
    line_no: Text
    sku_id: Text
    qty: Quantity
    price: Money
    amount: Money


class SaleCompleted(_Model):
    sale_no: Text
    store_code: Text
    sold_at: Moment
    payment: PaymentMethod
    items: Annotated[list[SaleLine], Field(min_length=1)]
    total_amount: Money
    member_id: Text | None = None
    member_mobile: Text | None = None


class SaleRefunded(_Model):
    refund_no: Text
    sale_no: Text
    store_code: Text
    refunded_at: Moment
    items: Annotated[list[ReturnLine], Field(min_length=1)]
    defective: Flag  # the goods came back defective (次品), not sellable stock


class CountedItem(_Model):
    sku_id: Text
    counted_qty: CountedQty


class StockCounted(_Model):
    count_no: Text
    store_code: Text
    approved_at: Moment
    items: Annotated[list[CountedItem], Field(min_length=1)]


class StoreDocumentSubmitted(_Model):
    doc_no: Text
    store_code: Text
    kind: Literal["exchange_out", "manual_out", "reversal", "purchase_in", "import_in"]
    items: Annotated[list[SkuQty], Field(min_length=1)]


class StoreTransferSubmitted(_Model):
    """店店调拨: the goods left ``from_store`` for ``to_store`` (they are in transit until
    ``store_transfer.received``)."""

    doc_no: Text
    from_store: Text
    to_store: Text
    items: Annotated[list[SkuQty], Field(min_length=1)]


class StoreTransferReceived(_Model):
    """店店调拨 received: ``to_store`` took in the goods of transfer ``doc_no``; ``items`` are the
    quantities it received (they may differ from what was sent)."""

    doc_no: Text
    to_store: Text
    received_at: Moment
    items: Annotated[list[SkuQty], Field(min_length=1)]


class PaymentCollected(_Model):
    """货到付款 collected at the store: for a fulfilment order (``external_id``, the JST io_id
    given in P1) or a store order (``order_no``); at least one of the two."""

    external_id: Text | None = None
    order_no: Text | None = None
    amount: Money
    method: PaymentMethod
    collected_at: Moment

    @model_validator(mode="after")
    def _names_its_order(self) -> "PaymentCollected":
        if self.external_id is None and self.order_no is None:
            raise PydanticCustomError("order_missing", "external_id or order_no is required")
        return self


class ChangedProduct(_Model):
    """The fields of a P9 item as the store system sends them back (null: the store has none)."""

    spu_code: Text
    sku_code: Text
    barcode: str | None
    name: Text
    color: str | None
    size: str | None
    brand: str | None
    category: str | None
    cost_price: Money | None
    tag_price: Money | None
    retail_price: Money | None
    attributes: dict[str, str | None]


class ProductChanged(_Model):
    items: Annotated[list[ChangedProduct], Field(min_length=1)]


class MemberUpdated(_Model):
    member_id: Text
    mobile: Text
    name: Text
    store_code: Text
    updated_at: Moment


# --- the envelope ------------------------------------------------------------------


class _Envelope(_Model):
    event_id: Text
    ent_id: Text
    occurred_at: Moment


class OrderWarehouseRequestedEvent(_Envelope):
    type: Literal["order.warehouse_requested"]
    data: OrderWarehouseRequested


class OrderCancelledEvent(_Envelope):
    type: Literal["order.cancelled"]
    data: OrderCancelled


class ReturnRequestedEvent(_Envelope):
    type: Literal["return.requested"]
    data: ReturnRequested


class FulfilmentShippedEvent(_Envelope):
    type: Literal["fulfilment.shipped"]
    data: FulfilmentShipped


class FulfilmentPickedUpEvent(_Envelope):
    type: Literal["fulfilment.picked_up"]
    data: FulfilmentPickedUp


class FulfilmentRejectedEvent(_Envelope):
    type: Literal["fulfilment.rejected"]
    data: FulfilmentRejected


class TransferSubmittedEvent(_Envelope):
    type: Literal["transfer.submitted"]
    data: TransferSubmitted


class WarehouseReturnSubmittedEvent(_Envelope):
    type: Literal["warehouse_return.submitted"]
    data: WarehouseReturnSubmitted


class StockChangedEvent(_Envelope):
    type: Literal["stock.changed"]
    data: StockChanged


class SaleCompletedEvent(_Envelope):
    type: Literal["sale.completed"]
    data: SaleCompleted


class SaleRefundedEvent(_Envelope):
    type: Literal["sale.refunded"]
    data: SaleRefunded


class StockCountedEvent(_Envelope):
    type: Literal["stock.counted"]
    data: StockCounted


class StoreDocumentSubmittedEvent(_Envelope):
    type: Literal["store_document.submitted"]
    data: StoreDocumentSubmitted


class StoreTransferSubmittedEvent(_Envelope):
    type: Literal["store_transfer.submitted"]
    data: StoreTransferSubmitted


class StoreTransferReceivedEvent(_Envelope):
    type: Literal["store_transfer.received"]
    data: StoreTransferReceived


class PaymentCollectedEvent(_Envelope):
    type: Literal["payment.collected"]
    data: PaymentCollected


class ProductChangedEvent(_Envelope):
    type: Literal["product.changed"]
    data: ProductChanged


class MemberUpdatedEvent(_Envelope):
    type: Literal["member.updated"]
    data: MemberUpdated


_EVENTS = (
    OrderWarehouseRequestedEvent, OrderCancelledEvent, ReturnRequestedEvent,
    FulfilmentShippedEvent, FulfilmentPickedUpEvent, FulfilmentRejectedEvent,
    TransferSubmittedEvent, WarehouseReturnSubmittedEvent, StockChangedEvent,
    SaleCompletedEvent, SaleRefundedEvent, StockCountedEvent, StoreDocumentSubmittedEvent,
    StoreTransferSubmittedEvent, StoreTransferReceivedEvent, PaymentCollectedEvent, ProductChangedEvent, MemberUpdatedEvent,
)
EVENT_MODELS: dict[str, type[_Envelope]] = {get_args(m.model_fields["type"].annotation)[0]: m for m in _EVENTS}
EVENT_TYPES = tuple(EVENT_MODELS)

PosEvent = Annotated[Union[_EVENTS], Field(discriminator="type")]  # type: ignore[valid-type]
@functools.cache
def _adapter() -> TypeAdapter[Any]:
    return TypeAdapter(PosEvent)  # the union's validator, built on the first event

MAX_REPORTED_ERRORS = 5


def parse_event(body: Any) -> PosEvent:
    """The typed event of a decoded body; UnprocessableRequest (422) naming each bad field."""
    try:
        return _adapter().validate_python(body)
    except ValidationError as error:
        raise UnprocessableRequest(f"malformed event: {describe(error)}") from None


def describe(error: ValidationError) -> str:
    problems = error.errors(include_url=False, include_input=False)
    lines = [f"{field_path(p['loc'], p['type'])}: {_message(p)}" for p in problems[:MAX_REPORTED_ERRORS]]
    if len(problems) > MAX_REPORTED_ERRORS:
        lines.append(f"and {len(problems) - MAX_REPORTED_ERRORS} more")
    return "; ".join(lines)


def field_path(loc: tuple[Any, ...], error_type: str = "") -> str:
    """``('fulfilment.shipped', 'data', 'items', 0, 'qty')`` → ``data.items[0].qty``."""
    if error_type in ("union_tag_invalid", "union_tag_not_found"):
        return "type"
    parts = list(loc)
    if parts and parts[0] in EVENT_MODELS:  # the discriminated union puts the tag first
        parts.pop(0)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _message(problem: dict[str, Any]) -> str:
    if problem["type"] == "union_tag_invalid":
        return f"unknown event type; expected one of {', '.join(EVENT_TYPES)}"
    if problem["type"] == "union_tag_not_found":
        return "field required"
    if problem["type"] in ("model_attributes_type", "model_type", "dict_type"):
        return "must be an object"
    return problem["msg"].removeprefix("Value error, ")
