"""JST wire models <-> the bridge's terms (ports/warehouse.py, ports/erp.py): one function per
record shape, no calls. The JST rules that have no meaning elsewhere live here: the 自有商城
upload shape, after-sale type names, other in/out statuses and type names, stock versions."""

from __future__ import annotations

import time

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ...ports.erp import ErpProduct, OnlineOutbound, OutboundLine
from ...ports.warehouse import (DocumentState, Receiver, OrderCancelled, ReturnReceived, Shipment, ShippedLine, SkuQty,
                                StockLevel, StoreOrder, ReturnRequest, version_read_within)
from ...shanghai_time import from_jst_text, to_jst_text

if TYPE_CHECKING:
    from ...tenant import Tenant
    from . import models as jst

# The store's return types that JST knows by another name (anything else: a normal return).
AFTERSALE_TYPES = {"return": "普通退货", "refund_only": "仅退款", "exchange": "换货", "reject": "拒收退货",
                   "reship": "补发", "repair": "维修", "other": "其它"}
JST_AFTERSALE_TYPES = frozenset(AFTERSALE_TYPES.values()) | {"投诉"}
CONFIRMED = "Confirmed"
VOIDED = ("Cancelled", "Delete")  # an other in/out voided after / before taking effect


def whole(qty: Any) -> int:
    return int(Decimal(str(qty)))


def merge_skus(pairs: Iterable[tuple[str, int]]) -> tuple[SkuQty, ...]:
    merged: dict[str, int] = {}
    for sku_id, qty in pairs:
        if qty > 0:
            merged[sku_id] = merged.get(sku_id, 0) + int(qty)
    return tuple(SkuQty(sku_id, qty) for sku_id, qty in merged.items())


# --- S2: store orders --------------------------------------------------------------------------


def order_upload(tenant: "Tenant", order: StoreOrder) -> "jst.OrderUpload":
    """A store order as a paid order of the tenant's 自有商城 shop (``so_id`` = order no.,
    ``outer_oi_id`` = line no.)."""
    from . import models as jst

    paid_at = to_jst_text(order.paid_at)
    receiver = order.receiver
    return jst.OrderUpload(
        shop_id=tenant.jushuitan.self_mall_shop_id, so_id=order.order_no, order_date=paid_at,
        shop_status="WAIT_SELLER_SEND_GOODS", shop_buyer_id=receiver.mobile,
        receiver_state=receiver.province, receiver_city=receiver.city, receiver_district=receiver.district,
        receiver_address=receiver.address, receiver_name=receiver.name, receiver_mobile=receiver.mobile,
        pay_amount=order.pay_amount, freight=order.freight,
        items=[jst.OrderUploadItem(sku_id=line.sku_id, shop_sku_id=line.sku_id, name=line.name or line.sku_id,
                                   qty=line.qty, price=line.price, base_price=line.price, amount=line.amount,
                                   outer_oi_id=line.line_no) for line in order.lines],
        # With WAIT_SELLER_SEND_GOODS, JST shows the order paid only when pay.amount == pay_amount.
        **({"pay": jst.OrderPay(outer_pay_id=f"{order.order_no}-PAY", pay_date=paid_at, payment="店+",
                                seller_account=tenant.name, buyer_account=receiver.mobile, amount=order.pay_amount)}
           | _cash_on_delivery(tenant, order)),
    )


def _cash_on_delivery(tenant: "Tenant", order: StoreOrder) -> dict:
    """货到付款: paid only for what the customer paid (no pay line when nothing, so JST shows it
    unpaid), with the tenant's COD label and the amount to collect in the remark, so the warehouse
    ships it cash on delivery. JST's order upload documents no COD flag of its own."""
    if not order.cod_amount:
        return {}
    from . import models as jst

    to_collect = Decimal(order.cod_amount).quantize(Decimal("0.01"))
    paid = max(Decimal(order.pay_amount) - to_collect, Decimal(0))
    label = tenant.order_centre.cod_label
    return {
        "pay": jst.OrderPay(outer_pay_id=f"{order.order_no}-PAY", pay_date=to_jst_text(order.paid_at), payment="店+",
                            seller_account=tenant.name, buyer_account=order.receiver.mobile, amount=paid)
        if paid > 0 else None,
        "labels": label or None,
        "remark": f"货到付款 代收 {to_collect} 元",
    }


def aftersale_upload(tenant: "Tenant", request: ReturnRequest) -> "jst.AfterSaleUpload":
    from . import models as jst

    total = sum((line.amount for line in request.lines), Decimal(0))
    kind = request.kind if request.kind in JST_AFTERSALE_TYPES else AFTERSALE_TYPES.get(request.kind, "普通退货")
    return jst.AfterSaleUpload(
        shop_id=tenant.jushuitan.self_mall_shop_id, outer_as_id=request.return_no, so_id=request.order_no,
        type=kind, total_amount=total, refund=total, wms_co_id=tenant.jushuitan.return_wms_co_id,
        # Returned goods land in the 销退仓 (2) as the guide sets up, unless the tenant says otherwise.
        warehouse_type=tenant.jushuitan.aftersale_warehouse_type,
        items=[jst.AfterSaleItemUpload(sku_id=line.sku_id, qty=line.qty, amount=line.amount,
                                       outer_oi_id=line.line_no) for line in request.lines],
    )


def shipments_of_row(row: "jst.LogisticOrder") -> list[Shipment]:
    """One JST parcel; a merged order's lines carry their own so_id (``raw_so_id``)."""
    by_order: dict[str, list[ShippedLine]] = {}
    for item in row.items:
        by_order.setdefault(item.raw_so_id or row.so_id or "", []).append(
            ShippedLine(item.outer_oi_id or item.sku_id, item.sku_id, whole(item.qty)))
    return [Shipment(order_no=so_id, tracking_no=row.l_id or "", carrier_code=row.lc_id or "",
                     carrier_name=row.logistics_company, shipped_at=row.send_date or "", lines=tuple(lines))
            for so_id, lines in by_order.items()]


def cancelled(order: "jst.Order", statuses: Sequence[str] = ("Cancelled",)) -> OrderCancelled | None:
    """The order as the warehouse's cancel (S2c) when its status is one of ``statuses`` (the
    tenant's ``jushuitan.cancelled_order_statuses``); None otherwise."""
    if order.status not in statuses or not order.so_id:
        return None
    # The reason JST keeps with a cancel (the order's own remark is the buyer's, not this).
    remark = (order.model_extra or {}).get("cancel_remark") or ""
    return OrderCancelled(order.so_id, str(remark))


def return_received(row: "jst.AfterSaleReceived") -> ReturnReceived | None:
    """A receipt document: 确认收货 (Confirmed) or 取消收货 (Cancelled); anything else says nothing yet."""
    if row.status not in (CONFIRMED, "Cancelled"):
        return None
    return ReturnReceived(return_no=row.outer_as_id or "", order_no=row.so_id,
                          warehouse_return_id=str(row.as_id) if row.as_id is not None else None,
                          received=row.status == CONFIRMED, received_at=row.io_date,
                          items=merge_skus((i.sku_id, whole(i.qty)) for i in row.items))


# --- S5 / S6: other in/out ------------------------------------------------------------------------


def document_state(doc: "jst.OtherInOut") -> DocumentState:
    if doc.status == CONFIRMED:
        lines = tuple(SkuQty(i.sku_id, whole(i.qty)) for i in doc.items if i.qty > 0)
        return DocumentState(str(doc.io_id), "confirmed", doc.status, lines, doc.io_date)
    if doc.status in VOIDED:
        return DocumentState(str(doc.io_id), "voided", doc.status)
    return DocumentState(str(doc.io_id), "waiting", doc.status)


def transfer_state(doc: "jst.Transfer", id_prefix: str, *, shipped: Sequence[str],
                   voided: Sequence[str]) -> DocumentState:
    """A 配货 sent as a transfer: shipped once JST says so (one of ``shipped``, by default
    Confirmed: the goods left the warehouse)."""
    doc_id = f"{id_prefix}{doc.io_id}"
    if doc.status in shipped:
        lines = tuple(SkuQty(i.sku_id, whole(i.qty)) for i in doc.items if i.qty > 0)
        return DocumentState(doc_id, "confirmed", doc.status, lines, doc.io_date)
    if doc.status in voided:
        return DocumentState(doc_id, "voided", doc.status)
    return DocumentState(doc_id, "waiting", doc.status)


def is_other_inout_type(jst_type: str | None, direction: str) -> bool:
    """The query names types in Chinese: 其它出库 (out), 其它退货 / 其它进仓 (in)."""
    if not jst_type or jst_type in ("in", "out"):
        return jst_type in (None, "", direction)
    return ("出" in jst_type) == (direction == "out")


# --- stock ---------------------------------------------------------------------------------------


def jst_version(modified: str | None, ts: int | None = 0) -> int:
    """A JST time as a version: its ``modified`` second (Asia/Shanghai) in ms (without one, ts mod
    1000). A level read from JST orders its second by the read (``stock_level``)."""
    if not modified:
        return int(ts or 0) % 1000
    moment = from_jst_text(modified)
    if moment is None:
        raise ValueError(f"JST modified time {modified!r} is not yyyy-MM-dd HH:mm:ss")
    return int(moment.timestamp()) * 1000 + int(ts or 0) % 1000


def latest_version(clock_allowance_seconds: int, now: float | None = None) -> int:
    """The highest version a JST level may carry: now + the tenant's clock allowance
    (``stock.clock_allowance_seconds``). A later one (``modified: 2099-…``) would make every
    genuine level after it "stale" and pin the level."""
    return int((time.time() if now is None else now) + clock_allowance_seconds) * 1000 + 999


def stock_level(row: "jst.Inventory", clock_allowance_seconds: int = 300, now: float | None = None) -> StockLevel:
    """A level read at ``now`` (seconds; default: the clock). Its version is the row's modified
    second, then how far into that second it was read (``version_read_within``): JST's ts orders
    changes too but does not fit three digits (ts 5999 then 6000 within one second would read as
    999 then 0, and the later change be dropped as stale)."""
    read = time.time() if now is None else now
    version = (version_read_within(jst_version(row.modified), int(read * 1000)) if row.modified
               else jst_version(None, row.ts))
    # What JST's API answers is trusted, but its clock may run ahead: capped, never refused.
    return StockLevel(row.sku_id, row.formula_values(), min(version, latest_version(clock_allowance_seconds, read)))


# --- S7: products --------------------------------------------------------------------------------


def _extra(row: Any, name: str) -> Any:
    value = getattr(row, name, None) if name in type(row).model_fields else (row.model_extra or {}).get(name)
    return None if value == "" else value


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "")), None)


def _labels(*holders: Any) -> tuple[str, ...] | None:
    """JST's labels of the first holder that has any (a SKU's, else its style's)."""
    import re

    for holder in holders:
        labels = getattr(holder, "labels", None) or _extra(holder, "labels")
        if labels:
            values = labels if isinstance(labels, list) else re.split(r"[;；,，|/]", str(labels))
            return tuple(str(v).strip() for v in values if str(v).strip())
    return None


def _fields(*holders: Any) -> dict[str, Any]:
    """Every field of the holders by JST's name, the first non-empty one winning."""
    found: dict[str, Any] = {}
    for holder in holders:
        for name, value in {**holder.model_dump(), **(holder.model_extra or {})}.items():
            if name not in found and value not in (None, ""):
                found[name] = value
    return found


def _barcode(row: Any) -> str | None:
    value = _extra(row, "sku_code") or _extra(row, "barcode")
    return str(value) if value else None


def product_of_sku(sku: "jst.Sku") -> ErpProduct:
    """商品名称 ← name; 货号 ← i_id; 商品编码 ← sku_id; 条形码 ← sku_code; 颜色/尺码 ←
    properties_value; 品牌 ← brand; 成本价 ← cost_price; 吊牌价 ← market_price; 零售价 ← sale_price."""
    return ErpProduct(sku_id=sku.sku_id, style_code=sku.i_id or sku.sku_id, name=sku.name, barcode=_barcode(sku),
                      spec=sku.properties_value, color=_extra(sku, "color"), brand=sku.brand,
                      category=sku.category or _extra(sku, "vc_name"), cost_price=sku.cost_price,
                      tag_price=sku.market_price, retail_price=sku.sale_price, labels=_labels(sku),
                      fields=_fields(sku), record={"source": "sku", "row": sku.model_dump(mode="json")})


def product_of_style_sku(style: "jst.MallItem", sku: "jst.MallItemSku", detail: "jst.Sku | None" = None) -> ErpProduct:
    """The same map for one SKU of a style (pull SPU): the style gives name, brand and category,
    the SKU its code, spec and prices (the style's when the SKU has none); ``detail``, the SKU's
    row in the SKU master, its 条形码, labels and custom fields, which a style query leaves out."""
    only_this = style.model_copy(update={"skus": [sku]})
    holders = [h for h in (detail, sku) if h is not None]
    record = {"source": "style", "row": only_this.model_dump(mode="json")}
    if detail is not None:
        record["detail"] = detail.model_dump(mode="json")
    return ErpProduct(sku_id=sku.sku_id, style_code=style.i_id, name=style.name or _extra(sku, "name"),
                      barcode=next((b for b in map(_barcode, holders) if b), None), spec=sku.properties_value,
                      color=None, brand=style.brand,
                      category=style.c_name or _extra(sku, "category"),
                      cost_price=_first(sku.cost_price, _extra(style, "c_price")),
                      tag_price=_first(sku.market_price, _extra(style, "market_price")),
                      retail_price=_first(sku.sale_price, _extra(style, "s_price")),
                      labels=_labels(*holders, style), fields=_fields(*holders, style), record=record)


def products_of_style(style: "jst.MallItem", details: Mapping[str, "jst.Sku"] | None = None) -> list[ErpProduct]:
    return [product_of_style_sku(style, sku, (details or {}).get(sku.sku_id)) for sku in style.skus]


def product_again(record: Mapping[str, Any]) -> ErpProduct:
    from . import models as jst

    if record["source"] == "style":
        style = jst.MallItem.model_validate(record["row"])
        if not style.skus:
            raise ValueError(f"style {style.i_id} has no SKU")
        detail = jst.Sku.model_validate(record["detail"]) if record.get("detail") else None
        return product_of_style_sku(style, style.skus[0], detail)
    return product_of_sku(jst.Sku.model_validate(record["row"]))


# --- S1: sales outbounds of the 店加线下仓 ---------------------------------------------------------

WAITING = "WaitConfirm"
CANCELLED_AT_JST = ("Delete", "Cancelled")


def lacks_cod_terms(ob: "jst.SalesOutbound", cod_field: str = "is_cod") -> bool:
    """The outbound does not say whether it is 货到付款, or what was paid online: its order does
    (JST's order carries ``is_cod``, ``pay_amount`` and ``paid_amount``)."""
    extra = ob.model_extra or {}
    return ob.o_id is not None and (extra.get(cod_field) in (None, "") or extra.get("paid_amount") in (None, ""))


def online_outbound(ob: "jst.SalesOutbound", pickup_store_field: str = "pickup_store_code", *,
                    cod_field: str = "is_cod", order: "jst.Order | None" = None) -> OnlineOutbound:
    """``pickup_store_field``: the outbound field that holds the store the customer chose for
    门店自提 (JST documents none; the tenant's ``routing.pickup_store_field``); ``cod_field`` the
    one that marks 货到付款 (the tenant's ``order_centre.cod_field``), read from the outbound or,
    when the outbound lacks it, from its ``order`` (with the amounts the outbound lacks)."""
    labels = getattr(ob, "labels", None) or ""
    labels = labels if isinstance(labels, list) else [part.strip() for part in str(labels).replace("，", ",").split(",")]
    extra = ob.model_extra or {}
    city = ob.receiver_city or ""
    status = "waiting" if ob.status == WAITING else "cancelled" if ob.status in CANCELLED_AT_JST else "other"
    order_extra = (order.model_extra or {}) if order is not None else {}
    cod_flag = extra.get(cod_field)
    pay_amount, paid_amount = ob.pay_amount, extra.get("paid_amount")
    if order is not None and cod_flag in (None, ""):
        # The order's COD terms go together: its flag, what it costs and what was paid online.
        cod_flag = order_extra.get(cod_field)
        pay_amount = order.pay_amount if order.pay_amount is not None else pay_amount
        paid_amount = order.paid_amount if order.paid_amount is not None else paid_amount
    elif order is not None:
        pay_amount = order.pay_amount if pay_amount is None else pay_amount
        paid_amount = order.paid_amount if paid_amount in (None, "") else paid_amount
    return OnlineOutbound(
        outbound_id=str(ob.io_id), order_id=str(ob.o_id or ""), platform_order_no=ob.so_id or "",
        shop_id=str(ob.shop_id) if ob.shop_id is not None else None, status=status, erp_status=ob.status,
        position=ob.ts,
        receiver=Receiver(name=ob.receiver_name or "", mobile=ob.receiver_mobile or extra.get("receiver_phone") or "",
                          province=ob.receiver_state or "", city=city, district=ob.receiver_district or city,
                          address=ob.receiver_address or ""),
        lines=tuple(OutboundLine(item.sku_id, int(item.qty), item.name or item.sku_id,
                                 str(item.sale_price) if item.sale_price is not None else None)
                    for item in ob.items if item.qty > 0),
        labels=tuple(str(label) for label in labels if label), buyer_message=extra.get("buyer_message") or None,
        pay_amount=str(pay_amount) if pay_amount is not None else None,
        paid_amount=str(paid_amount) if paid_amount not in (None, "") else None,
        # JST's outbound query documents no COD flag: the field is the tenant's (order_centre.cod_field).
        cash_on_delivery=_flag(cod_flag),
        pickup_store_code=str(_extra(ob, pickup_store_field) or "").strip() or None)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return value is not None and str(value).strip().lower() in {"1", "true", "yes", "y", "是"}
