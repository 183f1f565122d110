"""JST wire models <-> the bridge's terms (ports/warehouse.py, ports/erp.py): one function per
record shape, no calls. The JST rules that have no meaning elsewhere live here: the 自有商城
upload shape, after-sale type names, other in/out statuses and type names, stock versions."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

from ...ports.warehouse import (DocumentState, OrderCancelled, ReturnReceived, Shipment, ShippedLine, SkuQty,
                                StockLevel, StoreOrder, ReturnRequest)
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
        pay=jst.OrderPay(outer_pay_id=f"{order.order_no}-PAY", pay_date=paid_at, payment="店+",
                         seller_account=tenant.name, buyer_account=receiver.mobile, amount=order.pay_amount),
    )


def aftersale_upload(tenant: "Tenant", request: ReturnRequest) -> "jst.AfterSaleUpload":
    from . import models as jst

    total = sum((line.amount for line in request.lines), Decimal(0))
    kind = request.kind if request.kind in JST_AFTERSALE_TYPES else AFTERSALE_TYPES.get(request.kind, "普通退货")
    return jst.AfterSaleUpload(
        shop_id=tenant.jushuitan.self_mall_shop_id, outer_as_id=request.return_no, so_id=request.order_no,
        type=kind, total_amount=total, refund=total, wms_co_id=tenant.jushuitan.return_wms_co_id,
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


def cancelled(order: "jst.Order") -> OrderCancelled | None:
    if order.status != "Cancelled" or not order.so_id:
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


def is_other_inout_type(jst_type: str | None, direction: str) -> bool:
    """The query names types in Chinese: 其它出库 (out), 其它退货 / 其它进仓 (in)."""
    if not jst_type or jst_type in ("in", "out"):
        return jst_type in (None, "", direction)
    return ("出" in jst_type) == (direction == "out")


# --- stock ---------------------------------------------------------------------------------------


def jst_version(modified: str | None, ts: int | None = 0) -> int:
    """A JST level's version: its ``modified`` second (Asia/Shanghai), then JST's ts within
    that second. A push carries no ts: within one second the pulled row wins over it."""
    if not modified:
        return int(ts or 0) % 1000
    moment = from_jst_text(modified)
    if moment is None:
        raise ValueError(f"JST modified time {modified!r} is not yyyy-MM-dd HH:mm:ss")
    return int(moment.timestamp()) * 1000 + int(ts or 0) % 1000


def stock_level(row: "jst.Inventory") -> StockLevel:
    return StockLevel(row.sku_id, row.formula_values(), jst_version(row.modified, row.ts))
