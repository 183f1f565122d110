"""Typed 奇门 WMS documents (v 2.0): what the bridge sends (``*Create``, ``OrderCancel``,
``InventoryQuery``, ``ItemsSynchronize``) and what the WMS sends back (``*Confirm``,
``StockChangeReport``, ``InventoryReport``).

Field names are 奇门's (camelCase aliases); Python uses snake_case. Inbound documents ignore
fields the bridge does not use (WMSs send many) but require the ones it does, so a confirm
without its order code or with a negative quantity is refused by name. Quantities are whole
units; a WMS writing ``2.000`` is read as 2, ``2.5`` is refused.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


def _whole(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            return value
        if number != number.to_integral_value():
            raise ValueError(f"must be a whole number of units, got {text}")
        return int(number)
    return value


Qty = Annotated[int, BeforeValidator(_whole), Field(ge=0)]
SignedQty = Annotated[int, BeforeValidator(_whole)]
Code = Annotated[str, Field(min_length=1, max_length=128)]


def _empty_as_none(value: Any) -> Any:
    return None if value == "" else value


def _listed(value: Any) -> Any:
    """A list wrapper that arrived empty (``<orderLines/>``) reads as no lines."""
    return [] if value in ("", None) else value


class _Out(BaseModel):
    """A document the bridge writes.

    defer_build (here and in _In): a model's validator is built when it is first used, not at
    import: a callback reads one kind of confirmation and writes none of these, so a cold start
    builds the few models its request uses, not all thirty (bench/cold_start.py)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)

    def to_xml_content(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class _In(BaseModel):
    """A document the WMS writes: unknown fields are ignored, empty leaves read as absent."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore",
                              defer_build=True)


# ============================================================================ bridge -> WMS


class Contact(_Out):
    name: str
    mobile: str | None = None
    tel: str | None = None
    zip_code: str | None = None
    province: str | None = None
    city: str | None = None
    area: str | None = None
    town: str | None = None
    detail_address: str | None = None


class CreateLine(_Out):
    order_line_no: str
    owner_code: str
    item_code: str
    item_name: str | None = None
    plan_qty: int
    inventory_type: str = "ZP"
    retail_price: str | None = None
    actual_price: str | None = None


class DeliveryOrderHead(_Out):
    delivery_order_code: str
    order_type: str = "JYCK"
    warehouse_code: str
    order_flag: str | None = None          # COD for 货到付款; several flags joined with ^
    source_platform_code: str = "POS"
    create_time: str
    place_order_time: str | None = None
    pay_time: str | None = None
    total_amount: str | None = None
    freight: str | None = None
    ar_amount: str | None = None           # what the carrier collects on a COD order
    logistics_code: str | None = None
    receiver_info: Contact
    remark: str | None = None


class DeliveryOrderCreate(_Out):
    delivery_order: DeliveryOrderHead
    order_lines: list[CreateLine]


class OrderCancel(_Out):
    warehouse_code: str
    owner_code: str
    order_code: str
    order_type: str
    cancel_reason: str | None = None


class ReturnOrderHead(_Out):
    return_order_code: str
    warehouse_code: str
    order_type: str = "THRK"
    pre_delivery_order_code: str | None = None
    logistics_code: str | None = None
    express_code: str | None = None
    return_reason: str | None = None
    sender_info: Contact | None = None
    remark: str | None = None


class ReturnOrderCreate(_Out):
    return_order: ReturnOrderHead
    order_lines: list[CreateLine]


class StockoutHead(_Out):
    total_order_lines: int
    delivery_order_code: str
    order_type: str = "DBCK"
    warehouse_code: str
    create_time: str
    receiver_info: Contact
    remark: str | None = None


class StockoutCreate(_Out):
    delivery_order: StockoutHead
    order_lines: list[CreateLine]


class EntryOrderHead(_Out):
    total_order_lines: int
    entry_order_code: str
    owner_code: str
    warehouse_code: str
    order_create_time: str
    order_type: str = "DBRK"
    sender_info: Contact | None = None
    remark: str | None = None


class EntryOrderCreate(_Out):
    entry_order: EntryOrderHead
    order_lines: list[CreateLine]


class Criteria(_Out):
    warehouse_code: str
    owner_code: str
    item_code: str
    inventory_type: str = "ZP"


class DeliveryOrderQuery(_Out):
    """deliveryorder.query: one order as the WMS holds it (``page`` from 1, ``page_size`` order
    lines a page, at most 100)."""

    owner_code: str
    warehouse_code: str
    order_code: str
    page: int = 1
    page_size: int = 100


class EntryOrderQuery(_Out):
    """entryorder.query: one inbound (a 退仓, and by assumption a return) as the WMS holds it
    (``page`` from 1, ``page_size`` order lines a page, at most 100)."""

    owner_code: str
    warehouse_code: str
    entry_order_code: str
    page: int = 1
    page_size: int = 100


class InventoryQuery(_Out):
    criteria_list: list[Criteria]


class Item(_Out):
    item_code: str
    item_name: str
    bar_code: str | None = None            # several barcodes joined with ;
    sku_property: str | None = None
    color: str | None = None
    size: str | None = None
    category_name: str | None = None
    brand_name: str | None = None
    item_type: str = "ZC"
    tag_price: str | None = None
    retail_price: str | None = None
    cost_price: str | None = None
    goods_code: str | None = None           # the SPU


class ItemsSynchronize(_Out):
    action_type: Literal["add", "update"]
    warehouse_code: str
    owner_code: str
    items: list[Item]


# ============================================================================ WMS -> bridge


class ItemQty(_In):
    item_code: Code
    item_id: str | None = None
    quantity: Qty


class Package(_In):
    logistics_code: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    logistics_name: str | None = None
    express_code: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    package_code: str | None = None
    items: Annotated[list[ItemQty], BeforeValidator(_listed)] = []


class ConfirmLine(_In):
    order_line_no: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    item_code: Code
    inventory_type: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    plan_qty: Annotated[Qty | None, BeforeValidator(_empty_as_none)] = None
    actual_qty: Qty


def _confirm_type(value: Any) -> Any:
    if value in ("", None):
        return 0  # a single confirm without confirmType is the final one
    return int(value) if isinstance(value, str) and value.strip() in ("0", "1") else value


# 0 = the final confirmation, 1 = an intermediate one (more parcels / receipts to come).
ConfirmType = Annotated[Literal[0, 1], BeforeValidator(_confirm_type)]


class ConfirmedDelivery(_In):
    delivery_order_code: Code
    delivery_order_id: str | None = None
    warehouse_code: Code
    order_type: Code
    status: str | None = None
    out_biz_code: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    confirm_type: ConfirmType = 0
    order_confirm_time: str | None = None


class DeliveryOrderConfirm(_In):
    """deliveryorder.confirm and stockout.confirm: each message carries its own parcels'
    quantities (``confirmType`` 1 = more to come, 0 = the last)."""

    delivery_order: ConfirmedDelivery
    packages: Annotated[list[Package], BeforeValidator(_listed)] = []
    order_lines: Annotated[list[ConfirmLine], BeforeValidator(_listed)] = []


StockoutConfirm = DeliveryOrderConfirm


class ConfirmedReturn(_In):
    return_order_code: Code
    return_order_id: str | None = None
    warehouse_code: Code
    order_type: str | None = None
    out_biz_code: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    order_confirm_time: str | None = None


class ReturnOrderConfirm(_In):
    return_order: ConfirmedReturn
    order_lines: Annotated[list[ConfirmLine], BeforeValidator(_listed)]


class ConfirmedEntry(_In):
    entry_order_code: Code
    entry_order_id: str | None = None
    warehouse_code: Code
    entry_order_type: str | None = None
    out_biz_code: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    confirm_type: ConfirmType = 0
    status: str | None = None
    operate_time: str | None = None


class EntryOrderConfirm(_In):
    entry_order: ConfirmedEntry
    order_lines: Annotated[list[ConfirmLine], BeforeValidator(_listed)]


class StockChange(_In):
    owner_code: str | None = None
    warehouse_code: Code
    order_code: str | None = None
    order_type: str | None = None
    out_biz_code: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    item_code: Code
    inventory_type: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    quantity: SignedQty
    change_time: str | None = None


class StockChangeReport(_In):
    items: Annotated[list[StockChange], BeforeValidator(_listed), Field(min_length=1)]


class CountedItem(_In):
    item_code: Code
    inventory_type: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    quantity: SignedQty


class InventoryReport(_In):
    warehouse_code: Code
    check_order_code: Code
    owner_code: str | None = None
    check_time: str | None = None
    out_biz_code: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    items: Annotated[list[CountedItem], BeforeValidator(_listed), Field(min_length=1)]


class StockRow(_In):
    """One row of an inventory.query answer."""

    warehouse_code: str | None = None
    item_code: Code
    inventory_type: Annotated[str | None, BeforeValidator(_empty_as_none)] = None
    quantity: SignedQty
    lock_quantity: Annotated[SignedQty | None, BeforeValidator(_empty_as_none)] = None


class InventoryQueryAnswer(_In):
    items: Annotated[list[StockRow], BeforeValidator(_listed)] = []


# The calls the WMS makes to the bridge, by short method name, and the key of each message.
INBOUND_DOCUMENTS: dict[str, type[_In]] = {
    "deliveryorder.confirm": DeliveryOrderConfirm,
    "stockout.confirm": StockoutConfirm,
    "returnorder.confirm": ReturnOrderConfirm,
    "entryorder.confirm": EntryOrderConfirm,
    "stockchange.report": StockChangeReport,
    "inventory.report": InventoryReport,
}
