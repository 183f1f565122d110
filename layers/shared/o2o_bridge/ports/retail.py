"""What the store-retail flows need from an ERP, in the bridge's own terms.

A retailer whose ERP keeps the books of its stores (旺店通 ERP 企业版 today:
connectors/wangdiantong) receives the stores' sales and store documents, and sends its own
stock documents, products and stock to the stores. The flows (store sales W1, store
documents W3, ERP documents W2, products W4, stock W5) speak these terms only; a connector
maps them to its API. Quantities are whole units (the store system counts pieces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, Sequence

if TYPE_CHECKING:
    from .state import MalformedRow


@dataclass(frozen=True)
class SaleLine:
    line_no: str
    sku_id: str
    qty: int
    price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class StoreSale:
    """A completed store sale (零售单): what the ERP books as an order of the POS shop."""

    sale_no: str
    store_code: str
    sold_at: datetime
    payment: str  # cash | card | wechat | alipay | other
    lines: tuple[SaleLine, ...]
    total: Decimal
    member_mobile: str | None = None

    @property
    def cash(self) -> bool:
        return self.payment == "cash"

    @classmethod
    def from_event(cls, data: Any) -> "StoreSale":
        """From a ``sale.completed`` event's data (fields of the store contract)."""
        return cls(sale_no=str(data.sale_no), store_code=str(data.store_code), sold_at=data.sold_at,
                   payment=str(data.payment),
                   lines=tuple(SaleLine(str(i.line_no), str(i.sku_id), int(i.qty), Decimal(str(i.price)),
                                        Decimal(str(i.amount))) for i in data.items),
                   total=Decimal(str(data.total_amount)), member_mobile=getattr(data, "member_mobile", None))

    def to_record(self) -> dict[str, Any]:
        return {"sale_no": self.sale_no, "store_code": self.store_code, "sold_at": self.sold_at.isoformat(),
                "payment": self.payment, "total": str(self.total), "member_mobile": self.member_mobile,
                "lines": [[l.line_no, l.sku_id, l.qty, str(l.price), str(l.amount)] for l in self.lines]}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "StoreSale":
        return cls(sale_no=data["sale_no"], store_code=data["store_code"],
                   sold_at=datetime.fromisoformat(data["sold_at"]), payment=data["payment"],
                   total=Decimal(data["total"]), member_mobile=data.get("member_mobile"),
                   lines=tuple(SaleLine(n, s, int(q), Decimal(p), Decimal(a)) for n, s, q, p, a in data["lines"]))


@dataclass(frozen=True)
class SkuQty:
    sku_id: str
    qty: int


@dataclass(frozen=True)
class StockCount:
    """A store's approved stock count (盘点): the counted quantities replace the ERP's."""

    count_no: str
    store_code: str
    lines: tuple[SkuQty, ...]


@dataclass(frozen=True)
class GoodsMovement:
    """Goods into (``in``) or out of (``out``) a store's warehouse that the store booked:
    a return to stock, 冲单, 采购入库, 入库单导入, 换货出库, 出库开单."""

    doc_no: str
    store_code: str
    direction: str  # in | out
    kind: str       # the store's reason, e.g. refund, purchase_in, exchange_out
    lines: tuple[SkuQty, ...]
    remark: str = ""


@dataclass(frozen=True)
class SaleBooking:
    """What became of one sale sent to the ERP."""

    sale_no: str
    booked: bool
    reason: str = ""


@dataclass(frozen=True)
class ErpDocumentLine:
    sku_id: str
    qty: int
    name: str = ""


@dataclass(frozen=True)
class ErpDocument:
    """A stock document the ERP made for a store's warehouse (调拨入库, 其他出库, ...)."""

    doc_no: str
    direction: str  # in | out
    doc_type: str   # the ERP's name of its type
    store_code: str
    lines: tuple[ErpDocumentLine, ...]
    remark: str = ""
    modified: str = ""


@dataclass(frozen=True)
class RetailProduct:
    """One SKU of the ERP's product master, with what the store system takes (P9)."""

    spu_code: str
    sku_code: str
    name: str
    spec_name: str = ""
    barcode: str = ""
    retail_price: Decimal | None = None
    category: str = ""
    brand: str = ""
    created: str = ""
    modified: str = ""


@dataclass(frozen=True)
class ErpStock:
    store_code: str
    sku_id: str
    qty: int
    modified: str = ""


class RetailErp(Protocol):
    """connectors/wangdiantong/retail.py implements it over the 企业版 API; tests use an
    in-memory fake. Errors are TransientError (retry later) or PermanentError."""

    def book_sales(self, sales: Sequence[StoreSale]) -> list[SaleBooking]:
        """Book each sale once (its sale_no is its key at the ERP: a repeat changes nothing).
        A sale the ERP refuses comes back with ``booked`` False and the reason; the others
        are booked."""

    def book_count(self, count: StockCount) -> str:
        """Book a stock count at the store's warehouse; the ERP's document no."""

    def book_movement(self, movement: GoodsMovement) -> str:
        """Book goods in or out of the store's warehouse, keyed by the store's document no.;
        the ERP's document no. (a repeat returns the first one's, or ``already booked``)."""

    def documents(self, begin: datetime, end: datetime) -> list["ErpDocument | MalformedRow"]:
        """The ERP's stock documents of the stores' warehouses modified in [begin, end] that
        go to the stores: never the ones the bridge booked itself, nor the excluded types. One
        that cannot be read is a ``MalformedRow`` in its place (the poll parks it)."""

    def document_again(self, row: dict[str, Any]) -> "ErpDocument | None":
        """A ``MalformedRow``'s raw from ``documents`` read again (a replay after the fix): the
        document, None if it is not the stores', PermanentError if it still cannot be read."""

    def products(self, begin: datetime, end: datetime) -> list["RetailProduct | MalformedRow"]:
        """SKUs created or changed in [begin, end]; a goods row that cannot be read is a
        ``MalformedRow`` in place of its SKUs (the run parks it)."""

    def products_again(self, row: dict[str, Any]) -> list[RetailProduct]:
        """The SKUs of a ``MalformedRow``'s raw from ``products``, read again (a replay);
        PermanentError if it still cannot be read."""

    def products_of(self, sku_ids: Sequence[str]) -> list[RetailProduct]:
        """The ERP's product data of these SKUs (those it knows)."""

    def stock(self, begin: datetime, end: datetime) -> list["ErpStock | MalformedRow"]:
        """Store warehouses' stock changed in [begin, end]; a row that cannot be read is a
        ``MalformedRow`` in its place (the run parks it)."""

    def stock_again(self, row: dict[str, Any]) -> "ErpStock | None":
        """A ``MalformedRow``'s raw from ``stock`` read again (a replay): the row, None if it is no
        store's, PermanentError if it still cannot be read."""

    def set_stock(self, store_code: str, lines: Sequence[SkuQty], *, reference: str) -> str:
        """Make the ERP's stock of a store's warehouse what the store counts."""
