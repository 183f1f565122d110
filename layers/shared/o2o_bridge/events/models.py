"""The store system's events (pos-contract.md, "Store system → bridge (events)").

One model per event type, joined in a union discriminated on ``type``. Each model holds
the contract's required fields; anything else the store system adds is ignored, so a new
optional field on their side never breaks the bridge. ``parse_event`` turns a validation
failure into a 422 that names the field path (``data.items[0].qty``).
"""

from __future__ import annotations

from decimal import Decimal
import functools
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

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


class OrderWarehouseRequested(_Model):
    order_no: Text
    receiver: Receiver
    items: Annotated[list[OrderLine], Field(min_length=1)]
    pay_amount: Money
    freight: Money
    paid_at: Moment


class OrderCancelled(_Model):
    order_no: Text
    reason: Text


class ReturnRequested(_Model):
    return_no: Text
    order_no: Text
    type: Text
    items: Annotated[list[ReturnLine], Field(min_length=1)]


class FulfilmentShipped(_Model):
    fulfilment_id: Text
    external_id: Text
    carrier_code: Text
    tracking_no: Text
    shipped_at: Moment


class FulfilmentPickedUp(_Model):
    fulfilment_id: Text
    external_id: Text
    picked_up_at: Moment


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


_EVENTS = (
    OrderWarehouseRequestedEvent, OrderCancelledEvent, ReturnRequestedEvent,
    FulfilmentShippedEvent, FulfilmentPickedUpEvent, FulfilmentRejectedEvent,
    TransferSubmittedEvent, WarehouseReturnSubmittedEvent, StockChangedEvent,
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
