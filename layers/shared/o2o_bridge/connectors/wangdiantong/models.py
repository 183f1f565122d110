"""Typed 旺店通 企业版 request and answer bodies for the interfaces the bridge uses.

Requests refuse unknown fields (a typo in a mapper fails in tests, not at the ERP).
Answers keep unknown fields (reachable through ``model_extra``) and accept the names the
企业版 is known to use in different answers for the same thing (``order_no`` /
``stockin_no``, ``goods_count`` / ``num``...): the answers of the document and stock
queries are not published, so the names are assumptions kept tolerant on purpose.
Quantities and money arrive as decimal strings such as ``"12.0000"``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


def _decimal(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not a number: {value!r}") from None


def _quantity(value: Any) -> Any:
    parsed = _decimal(value)
    return Decimal(0) if parsed is None else parsed


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else value


def _flag(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() not in ("", "0", "false", "False")
    return bool(value)


Qty = Annotated[Decimal, BeforeValidator(_quantity)]
Money = Annotated[Decimal | None, BeforeValidator(_decimal)]
Text = Annotated[str, BeforeValidator(_text)]
OptText = Annotated[str | None, BeforeValidator(_text)]
Flag = Annotated[bool, BeforeValidator(_flag)]


class WdtRecord(BaseModel):
    """A record 旺店通 returns: extra fields kept, only the key fields required."""

    # defer_build: each model is built when first used, not at import; a request uses a few of them.
    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True, defer_build=True)


class WdtRequest(BaseModel):
    """A body we send: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


# --- trade_push.php (W1) ------------------------------------------------------------------
class TradeLine(WdtRequest):
    oid: str                       # unique per seller account
    num: Decimal
    price: Decimal
    status: int = 30               # 已付款待发货: a store sale is paid (or collected in cash)
    refund_status: int = 0
    goods_id: str                  # required; the bridge uses the SKU code
    spec_id: str = ""
    goods_no: str = ""
    spec_no: str
    goods_name: str = ""
    spec_name: str = ""
    adjust_amount: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    share_discount: Decimal = Decimal(0)
    remark: str | None = None


class Trade(WdtRequest):
    tid: str                       # the store's sale no.: 旺店通 keys the original order on it
    trade_status: int = 30
    pay_status: int = 2            # 已付款
    delivery_term: int = 1         # 1 款到发货, 2 货到付款 (a cash sale)
    trade_time: str
    pay_time: str
    buyer_nick: str
    receiver_name: str
    receiver_province: str = ""
    receiver_city: str = ""
    receiver_district: str = ""
    receiver_address: str
    receiver_mobile: str = ""
    logistics_type: str            # the tenant's 无单号 or 货到付款 logistics code
    post_amount: Decimal = Decimal(0)
    cod_amount: Decimal = Decimal(0)
    ext_cod_fee: Decimal = Decimal(0)
    other_amount: Decimal = Decimal(0)
    paid: Decimal
    buyer_message: str = ""
    seller_memo: str = ""
    warehouse_no: str | None = None  # only when the tenant says trade_push takes it
    order_list: list[TradeLine]


class TradePushAnswer(WdtRecord):
    new_count: int = 0
    chg_count: int = 0


# --- stockin_order_push.php / stockout_order_push.php / stock_sync_by_pd.php (W3, W5) ------
class StockinLine(WdtRequest):
    spec_no: str
    stockin_num: Decimal
    stockin_price: Decimal | None = None
    remark: str | None = None


class StockinInfo(WdtRequest):
    """其他入库单: ``outer_no`` is the document's key at 旺店通 (a repeat is refused, not booked)."""

    outer_no: str
    warehouse_no: str
    is_check: int = 1
    remark: str = ""
    goods_list: list[StockinLine]


class StockoutLine(WdtRequest):
    spec_no: str
    num: Decimal
    price: Decimal | None = None
    remark: str | None = None


class StockoutInfo(WdtRequest):
    """其他出库单 (``outer_no`` as for 入库)."""

    outer_no: str
    warehouse_no: str
    is_check: int = 1
    remark: str = ""
    detail_list: list[StockoutLine]


class CountLine(WdtRequest):
    """One line of a 盘点: the counted quantity overwrites the ERP's."""

    spec_no: str
    stock_num: Decimal


class CountOrder(WdtRecord):
    """A 盘点 as stock_pd_order_query.php lists it (field names assumed, kept tolerant)."""

    pd_no: Text = Field(validation_alias=AliasChoices("pd_no", "order_no"))
    warehouse_no: OptText = None
    remark: OptText = None
    modified: OptText = None


# --- base data (W6) ---------------------------------------------------------------------
class Shop(WdtRecord):
    shop_no: Text
    shop_name: OptText = None
    platform_id: OptText = None
    sub_platform_id: OptText = None
    is_disabled: Flag = False


class Warehouse(WdtRecord):
    warehouse_no: Text
    name: OptText = Field(default=None, validation_alias=AliasChoices("name", "warehouse_name"))
    type: OptText = None
    is_disabled: Flag = False


class Logistics(WdtRecord):
    logistics_no: Text = Field(validation_alias=AliasChoices("logistics_no", "logistics_code"))
    logistics_name: OptText = None
    logistics_type: OptText = None
    is_support_cod: Flag = False
    is_disabled: Flag = False


class GoodsClass(WdtRecord):
    class_id: Text
    class_name: OptText = None
    parent_id: OptText = None


# --- goods_query.php (W4) -----------------------------------------------------------------
class Spec(WdtRecord):
    spec_no: Text
    spec_name: OptText = None
    spec_code: OptText = None
    barcode: OptText = None
    retail_price: Money = None
    deleted: Flag = False


class Goods(WdtRecord):
    goods_no: Text
    goods_name: OptText = None
    class_name: OptText = None
    brand_name: OptText = None
    unit_name: OptText = None
    created: OptText = None
    modified: OptText = None
    spec_list: list[Spec] = []


# --- stock_query.php (W5) -----------------------------------------------------------------
class StockRow(WdtRecord):
    spec_no: Text
    warehouse_no: Text
    stock_num: Qty = Decimal(0)
    available: Qty = Field(default=Decimal(0), validation_alias=AliasChoices("avaliable_num", "available_num"))
    modified: OptText = None


# --- stockin_order_query.php / stockout_order_query.php (W2) -------------------------------
class DocumentLine(WdtRecord):
    spec_no: Text
    goods_name: OptText = None
    qty: Qty = Field(default=Decimal(0), validation_alias=AliasChoices("goods_count", "num", "stockin_num",
                                                                       "stockout_num"))


class StockDocument(WdtRecord):
    """A stock-in or stock-out document of a warehouse."""

    order_no: Text = Field(validation_alias=AliasChoices("order_no", "stockin_no", "stockout_no"))
    order_type: OptText = Field(default=None, validation_alias=AliasChoices("src_order_type", "order_type"))
    order_type_name: OptText = None
    warehouse_no: Text
    status: OptText = None
    outer_no: OptText = None
    remark: OptText = None
    modified: OptText = None
    details_list: list[DocumentLine] = Field(default=[], validation_alias=AliasChoices("details_list",
                                                                                     "detail_list", "goods_list"))
