"""Typed JST request and response bodies for the endpoints the scenarios use (§5).

Responses tolerate unknown fields (JST adds fields; custom fields vary per merchant) and
keep them reachable through ``model_extra``. Quantities and money may arrive as
``"2.0000"`` strings (§8), so they are Decimal. Requests drop None fields when sent.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _decimal(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))  # 2.1 stays 2.1, not 2.100000000000000088817841970012523
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not a number: {value!r}") from None


def _text(value: Any) -> Any:
    # JST ids are numbers on some endpoints and strings on others; we key on text.
    return str(value) if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else value


def _quantity(value: Any) -> Any:
    # JST leaves quantities it does not track empty or null: that is none of them.
    parsed = _decimal(value)
    return Decimal(0) if parsed is None else parsed


Qty = Annotated[Decimal, BeforeValidator(_quantity)]
Money = Annotated[Decimal | None, BeforeValidator(_decimal)]
Text = Annotated[str, BeforeValidator(_text)]


class JstRecord(BaseModel):
    """A record JST returns: extra fields kept, nothing required beyond the key fields."""

    # defer_build: each model is built when first used, not at import; a request uses a few of them.
    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True, defer_build=True)


class JstRequest(BaseModel):
    """A body we send: typos are ours, so unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


# --- 5.1 sales outbound ----------------------------------------------------------------
class OutboundItem(JstRecord):
    ioi_id: int | None = None
    sku_id: str
    qty: Qty
    name: str | None = None
    properties_value: str | None = None
    sale_price: Money = None
    sale_amount: Money = None
    i_id: str | None = None
    oi_id: int | None = None
    outer_oi_id: str | None = None
    raw_so_id: str | None = None
    combine_sku_id: str | None = None
    is_gift: bool | None = None


class SalesOutbound(JstRecord):
    io_id: int
    o_id: int | None = None
    so_id: str | None = None
    shop_id: int | None = None
    status: str
    modified: str | None = None
    io_date: str | None = None
    wms_co_id: int | None = None
    l_id: str | None = None
    lc_id: str | None = None
    logistics_company: str | None = None
    receiver_state: str | None = None
    receiver_city: str | None = None
    receiver_district: str | None = None
    receiver_address: str | None = None
    receiver_name: str | None = None
    receiver_mobile: str | None = None
    pay_amount: Money = None
    freight: Money = None
    ts: int = 0
    items: list[OutboundItem] = []


class WmsSentItem(JstRequest):
    sku_id: str
    sn_list: list[str] | None = None


class WmsSent(JstRequest):
    """One row of /open/orders/wms/sent/upload (a JSON array)."""

    io_id: int
    lc_id: str
    l_id: str
    lc_name: str | None = None
    wms_co_id: int | None = None
    is_un_lid: bool | None = None
    items: list[WmsSentItem] | None = None


# --- 5.2 / 5.3 orders ------------------------------------------------------------------
class OrderItem(JstRecord):
    sku_id: str
    qty: Qty
    price: Money = None
    amount: Money = None
    outer_oi_id: str | None = None
    oi_id: int | None = None
    refund_status: str | None = None
    shop_sku_id: str | None = None
    i_id: str | None = None
    properties_value: str | None = None


class Order(JstRecord):
    o_id: int
    so_id: str | None = None
    shop_id: int | None = None
    status: str
    shop_status: str | None = None
    order_date: str | None = None
    send_date: str | None = None
    modified: str | None = None
    l_id: str | None = None
    lc_id: str | None = None
    logistics_company: str | None = None
    wms_co_id: int | None = None
    pay_amount: Money = None
    paid_amount: Money = None
    ts: int = 0
    items: list[OrderItem] = []


class OrderUploadItem(JstRequest):
    sku_id: Annotated[str, Field(max_length=40)]
    shop_sku_id: str
    amount: Decimal
    base_price: Decimal
    qty: int
    name: str
    outer_oi_id: Annotated[str, Field(max_length=50)]
    properties_value: str | None = None
    price: Decimal | None = None
    pic: str | None = None
    refund_status: Literal["waiting", "success", "closed"] | None = None
    is_gift: bool | None = None


class OrderPay(JstRequest):
    outer_pay_id: str
    pay_date: str
    payment: str
    seller_account: str
    buyer_account: str
    amount: Decimal


class OrderUpload(JstRequest):
    """One order of /open/jushuitan/orders/upload (a JSON array). Re-upload = update."""

    shop_id: int
    so_id: Annotated[str, Field(max_length=50)]
    order_date: str
    shop_status: Literal["WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS",
                         "TRADE_FINISHED", "TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"]
    shop_buyer_id: str
    receiver_address: str
    receiver_name: str
    pay_amount: Decimal
    freight: Decimal = Decimal(0)
    receiver_state: str | None = None
    receiver_city: str | None = None
    receiver_district: str | None = None
    receiver_phone: str | None = None
    receiver_mobile: str | None = None
    buyer_message: str | None = None
    remark: str | None = None
    shop_modified: str | None = None
    wms_co_id: int | None = None
    labels: str | None = None
    l_id: str | None = None
    lc_id: str | None = None
    logistics_company: str | None = None
    items: list[OrderUploadItem]
    pay: OrderPay | None = None


class UploadResult(JstRecord):
    """One row's answer of a batch upload (orders, after-sales)."""

    issuccess: bool = False
    msg: str | None = None
    o_id: int | None = None
    so_id: str | None = None
    as_id: int | None = None
    outer_as_id: str | None = None


class OrderCancel(JstRequest):
    o_ids: Annotated[list[int], Field(min_length=1, max_length=50)]
    cancel_type: str  # values undocumented (§8): free text as ShopeX sends
    remark: str | None = None


# --- 5.4 logistics ---------------------------------------------------------------------
class LogisticItem(JstRecord):
    sku_id: str
    qty: Qty
    outer_oi_id: str | None = None
    raw_so_id: str | None = None
    refund_status: str | None = None


class LogisticOrder(JstRecord):
    o_id: int
    so_id: str | None = None
    shop_id: int | None = None
    send_date: str | None = None
    lc_id: str | None = None
    l_id: str | None = None
    logistics_company: str | None = None
    ts: int = 0
    items: list[LogisticItem] = []


# --- 5.6 / 5.7 inventory ---------------------------------------------------------------
class Inventory(JstRecord):
    sku_id: str
    i_id: str | None = None
    name: str | None = None
    qty: Qty = Decimal(0)
    virtual_qty: Qty = Decimal(0)
    purchase_qty: Qty = Decimal(0)
    in_qty: Qty = Decimal(0)
    return_qty: Qty = Decimal(0)
    order_lock: Qty = Decimal(0)
    pick_lock: Qty = Decimal(0)
    defective_qty: Qty = Decimal(0)
    allocate_qty: Qty = Decimal(0)  # 调拨在途: shipped transfers not yet received here
    lock_qty: Qty = Decimal(0)
    min_qty: Qty = Decimal(0)
    max_qty: Qty = Decimal(0)
    customize_qty_1: Qty = Decimal(0)
    customize_qty_2: Qty = Decimal(0)
    customize_qty_3: Qty = Decimal(0)
    modified: str | None = None
    ts: int = 0

    def formula_values(self) -> dict[str, Decimal]:
        """The fields StockFormula may use (stock_formula.INVENTORY_FIELDS)."""
        from ...stock_formula import INVENTORY_FIELDS

        return {name: getattr(self, name) for name in INVENTORY_FIELDS}


class StockItem(JstRequest):
    sku_id: str
    qty: int
    batch_id: str | None = None
    produced_date: str | None = None
    expiration_date: str | None = None


class InventoryV2Upload(JstRequest):
    """/open/jushuitan/inventoryv2/upload: ``so_id`` unique, the first success wins."""

    wms_co_id: int
    type: Literal["check", "adjust"] = "check"
    so_id: str
    is_confirm: bool = True
    warehouse: int = 1
    remark: str | None = None
    items: Annotated[list[StockItem], Field(min_length=1, max_length=500)]


# --- 5.9 other in/out ------------------------------------------------------------------
class OtherInOutItemUpload(JstRequest):
    sku_id: str
    qty: Annotated[int, Field(gt=0)]
    sale_price: Decimal | None = None
    remark: str | None = None


class OtherInOutUpload(JstRequest):
    type: Literal["in", "out"]
    external_id: str
    wms_co_id: int
    warehouse: int = 1
    is_confirm: bool = False
    excute_confirming: bool = False  # JST's own spelling
    remark: Annotated[str, Field(min_length=1)]
    receiver_name: str | None = None
    receiver_mobile: str | None = None
    receiver_address: str | None = None
    items: Annotated[list[OtherInOutItemUpload], Field(min_length=1, max_length=1000)]


class InOutItem(JstRecord):
    sku_id: str
    qty: Qty
    ioi_id: int | None = None
    i_id: str | None = None


class OtherInOut(JstRecord):
    io_id: int
    status: str
    type: str | None = None
    so_id: str | None = None
    io_date: str | None = None
    wms_co_id: int | None = None
    wh_id: int | None = None
    modified: str | None = None
    ts: int = 0
    items: list[InOutItem] = []


# --- transfers (调拨单): not in the project's JST reference; field names from one public SDK ---
class TransferUpload(JstRequest):
    """库存调拨上传（跨仓调拨）: goods from ``go_co_id`` (part ``warehouse``) to ``link_co_id``
    (part ``link_warehouse``); ``so_id`` is the merchant's number."""

    so_id: str
    go_co_id: int
    warehouse: int = 1
    link_co_id: int
    link_warehouse: int = 1
    is_confirm: bool = False
    remark: str | None = None
    items: Annotated[list[OtherInOutItemUpload], Field(min_length=1, max_length=1000)]


class Transfer(JstRecord):
    """调拨单查询 row: ``wms_co_id`` sends, ``link_wms_co_id`` receives."""

    io_id: int
    status: str
    so_id: str | None = None
    io_date: str | None = None
    wms_co_id: int | None = None
    link_wms_co_id: int | None = None
    modified: str | None = None
    ts: int = 0
    items: list[InOutItem] = []


# --- 5.10 after-sales ------------------------------------------------------------------
class AfterSaleItemUpload(JstRequest):
    sku_id: str
    qty: int
    amount: Decimal
    type: Literal["退货", "换货", "其它", "补发"] = "退货"
    outer_oi_id: str | None = None
    name: str | None = None
    properties_value: str | None = None


class AfterSaleUpload(JstRequest):
    shop_id: int
    outer_as_id: str
    so_id: str
    type: str = "普通退货"
    shop_status: Literal["WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS",
                         "SELLER_REFUSE_BUYER", "CLOSED", "SUCCESS"] = "WAIT_SELLER_CONFIRM_GOODS"
    good_status: Literal["BUYER_NOT_RECEIVED", "BUYER_RECEIVED", "BUYER_RETURNED_GOODS", "SELLER_RECEIVED"] = "BUYER_RETURNED_GOODS"
    question_type: str = "其它"
    total_amount: Decimal
    refund: Decimal
    payment: Decimal = Decimal(0)
    warehouse_type: int | None = None
    wms_co_id: int | None = None
    logistics_company: str | None = None
    l_id: str | None = None
    remark: str | None = None
    items: Annotated[list[AfterSaleItemUpload], Field(min_length=1)]


class AfterSaleReceived(JstRecord):
    io_id: int
    o_id: int | None = None
    so_id: str | None = None
    as_id: int | None = None
    outer_as_id: str | None = None
    status: str | None = None
    io_date: str | None = None
    wms_co_id: int | None = None
    modified: str | None = None
    ts: int = 0
    items: list[InOutItem] = []


# --- 5.8 items, 5.11 base data ---------------------------------------------------------
class Sku(JstRecord):
    sku_id: str
    i_id: str | None = None
    name: str | None = None
    properties_value: str | None = None
    sku_code: str | None = None
    brand: str | None = None
    sale_price: Money = None
    cost_price: Money = None
    market_price: Money = None
    category: str | None = None
    enabled: int | None = None
    labels: str | None = None
    modified: str | None = None


class MallItemSku(JstRecord):
    sku_id: str
    sale_price: Money = None
    cost_price: Money = None
    market_price: Money = None
    properties_value: str | None = None
    enabled: int | None = None


class MallItem(JstRecord):
    i_id: str
    name: str | None = None
    brand: str | None = None
    c_name: str | None = None
    modified: str | None = None
    skus: list[MallItemSku] = []


class Shop(JstRecord):
    shop_id: int
    shop_name: str | None = None
    shop_site: str | None = None
    co_id: int | None = None

    @property
    def is_self_mall(self) -> bool:
        return "自有商城" in (self.shop_site or "")


class WmsPartner(JstRecord):
    wms_co_id: int
    name: str | None = None
    co_id: int | None = None
    is_main: bool | None = None
    status: str | None = None


class LogisticsCompany(JstRecord):
    lc_id: Text
    lc_name: str | None = None
    modified: str | None = None
