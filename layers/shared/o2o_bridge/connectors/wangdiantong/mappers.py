"""The bridge's retail terms to 旺店通's wire models and back.

A store sale becomes an original order (原始订单) of the tenant's POS shop, keyed by the
store's sale no. (``tid``); lines are keyed ``<sale_no>-<line_no>`` (``oid``, unique per
seller account). A cash sale is 货到付款 (``delivery_term`` 2, unpaid, ``cod_amount`` the
total) on the tenant's COD logistics: the guide's rule that the store system's cash orders
are 货到付款 orders; every other payment is paid (``delivery_term`` 1) on the 无单号
logistics, so the ERP can submit it without a tracking number.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from ...ports.erp import ErpProduct
from ...ports.retail import ErpDocument, ErpDocumentLine, StoreSale
from ...ports.warehouse import StockLevel, version_read_within
from ...shanghai_time import from_jst_text, to_jst_text
from . import models as m

UNPAID_TIME = "0000-00-00 00:00:00"

# Type names by code where an answer gives only the code (the 企业版's codes as the
# reference lists them; an answer's own type name wins).
STOCKIN_TYPE_NAMES = {"1": "采购入库", "2": "调拨入库", "4": "盘盈入库", "6": "其他入库"}
STOCKOUT_TYPE_NAMES = {"1": "销售出库", "2": "调拨出库", "4": "盘亏出库", "7": "其他出库"}


def buyer_nick(sale: StoreSale) -> str:
    """The customer the ERP files the order under: the member, else the store's walk-in customer."""
    return sale.member_mobile or f"门店{sale.store_code}"


def sale_to_trade(sale: StoreSale, section: Any, store: Any) -> m.Trade:
    when = to_jst_text(sale.sold_at)
    lines = [m.TradeLine(oid=f"{sale.sale_no}-{line.line_no}", num=Decimal(line.qty), price=line.price,
                         goods_id=line.sku_id, spec_no=line.sku_id,
                         # price x qty - discount = the line's amount (what the customer paid)
                         discount=max(line.price * line.qty - line.amount, Decimal(0)))
             for line in sale.lines]
    return m.Trade(
        tid=sale.sale_no,
        delivery_term=2 if sale.cash else 1,
        pay_status=0 if sale.cash else 2,
        trade_time=when,
        pay_time=UNPAID_TIME if sale.cash else when,
        buyer_nick=buyer_nick(sale),
        receiver_name=store.name or store.code,
        receiver_address=f"{store.name or store.code}（门店零售）",
        receiver_mobile=sale.member_mobile or "",
        logistics_type=section.cod_logistics_code if sale.cash else section.no_tracking_logistics_code,
        cod_amount=sale.total if sale.cash else Decimal(0),
        paid=sale.total,
        seller_memo=f"门店零售 {store.code} {sale.sale_no}",
        warehouse_no=store.wdt_warehouse if section.trade_warehouse_no else None,
        order_list=lines,
    )


def whole(qty: Decimal) -> int:
    """Store quantities are pieces; the ERP writes "12.0000"."""
    return int(qty.to_integral_value())


def to_document(doc: m.StockDocument, direction: str, store_code: str) -> ErpDocument:
    names = STOCKIN_TYPE_NAMES if direction == "in" else STOCKOUT_TYPE_NAMES
    doc_type = doc.order_type_name or names.get(doc.order_type or "", f"{'入库' if direction == 'in' else '出库'}{doc.order_type or ''}")
    return ErpDocument(doc_no=doc.order_no, direction=direction, doc_type=doc_type, store_code=store_code,
                       lines=tuple(ErpDocumentLine(line.spec_no, whole(line.qty), line.goods_name or "")
                                   for line in doc.details_list if whole(line.qty) > 0),
                       remark=doc.remark or "", modified=doc.modified or "")


def erp_products(goods: m.Goods) -> list[ErpProduct]:
    """Each live spec of a goods, as the ERP's product (the spec's name is its spec; 旺店通 has no
    cost or tag price on a spec, so the retail price stands for both at the store)."""
    return [erp_product_again(product_record(goods, spec)) for spec in goods.spec_list if not spec.deleted]


def product_record(goods: m.Goods, spec: m.Spec) -> dict[str, Any]:
    return {"goods_no": goods.goods_no, "goods_name": goods.goods_name, "class_name": goods.class_name,
            "brand_name": goods.brand_name, "created": goods.created, "modified": goods.modified,
            "spec_no": spec.spec_no, "spec_name": spec.spec_name, "barcode": spec.barcode,
            "retail_price": None if spec.retail_price is None else str(spec.retail_price)}


def erp_product_again(record: Mapping[str, Any]) -> ErpProduct:
    """A spec from its record (what ``erp_products`` keeps of it, or a stored failure's)."""
    price = record.get("retail_price")
    return ErpProduct(sku_id=str(record["spec_no"]), style_code=record.get("goods_no"),
                      name=record.get("goods_name") or record.get("goods_no"), barcode=record.get("barcode") or None,
                      spec=record.get("spec_name") or None, color=None, brand=record.get("brand_name") or None,
                      category=record.get("class_name") or None, cost_price=None,
                      tag_price=None if price is None else Decimal(str(price)),
                      retail_price=None if price is None else Decimal(str(price)), labels=None,
                      fields={"created": record.get("created") or "", "modified": record.get("modified") or ""},
                      record=dict(record))


def stock_version(modified: str | None, clock_allowance_seconds: int, now: datetime) -> int:
    """A level's version, read at ``now``: its modified second, then how far into that second it
    was read (``version_read_within``: 旺店通's modified time has whole seconds only, and the store
    keeps a level only for a strictly higher version), capped at now + the tenant's clock
    allowance (an ERP clock running ahead must not pin the level)."""
    read = int(now.timestamp() * 1000)
    latest = read + clock_allowance_seconds * 1000
    moment = from_jst_text(modified)
    if moment is None:
        return latest
    return min(version_read_within(int(moment.timestamp()) * 1000, read), latest)


def stock_level(row: m.StockRow, clock_allowance_seconds: int, *, now: datetime) -> StockLevel:
    """A stock row in the terms of the tenant's stock formula: ``qty`` is 库存量 (physical) and
    ``order_lock`` what orders hold of it (库存量 - 可发库存), so ``qty - order_lock`` is 可发库存."""
    held = max(row.stock_num - row.available, Decimal(0))
    return StockLevel(row.spec_no, {"qty": row.stock_num, "order_lock": held},
                      stock_version(row.modified, clock_allowance_seconds, now))
