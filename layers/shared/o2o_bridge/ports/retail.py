"""What only 旺店通 ERP 企业版 does for the stores, in the bridge's own terms (the RetailErp port).

Where 旺店通 does what JST does (a refund, a count, a store document or a transfer booked on the
store's ERP warehouse; the stock of the store warehouses; product reads), the flow is one flow
over the Erp port (ports/erp.py) that both connectors implement. What is left here has no JST
counterpart in the bridge:

- W1: store sales become orders of the ERP's POS shop, pushed in batches by the 10-minute run
  (the flow is the one store-sale flow, flows/store_sales.py; ``ErpInfo.sales_as_orders`` sends
  it here instead of to ``book_store_move``);
- W2: the ERP's own stock documents of the store warehouses (调拨入库, 其他出库, ...) go to the
  stores as pending receipts and outbound notes, with the product data of SKUs a store lacks.

connectors/wangdiantong/erp.py implements it; tests use the sandbox or an in-memory fake.
Quantities are whole units (the store system counts pieces).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, Sequence

if TYPE_CHECKING:
    from .state import MalformedRow

from .erp import ErpProduct


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


class RetailErp(Protocol):
    """Errors are TransientError (retry later) or PermanentError."""

    def book_sales(self, sales: Sequence[StoreSale]) -> list[SaleBooking]:
        """Book each sale once (its sale_no is its key at the ERP: a repeat changes nothing).
        A sale the ERP refuses comes back with ``booked`` False and the reason; the others
        are booked."""

    def documents(self, begin: datetime, end: datetime) -> list["ErpDocument | MalformedRow"]:
        """The ERP's stock documents of the stores' warehouses modified in [begin, end] that
        go to the stores: never the ones the bridge booked itself, nor the excluded types. One
        that cannot be read is a ``MalformedRow`` in its place (the poll parks it)."""

    def document_again(self, row: dict[str, Any]) -> "ErpDocument | None":
        """A ``MalformedRow``'s raw from ``documents`` read again (a replay after the fix): the
        document, None if it is not the stores', PermanentError if it still cannot be read."""

    def products_again(self, row: dict[str, Any]) -> list[ErpProduct]:
        """W4: the SKUs of a goods row ``Erp.changed_products`` could not read (the raw of its
        ``MalformedRow``), read again (a replay); PermanentError if it still cannot be read."""

    def products_of(self, sku_ids: Sequence[str]) -> list[ErpProduct]:
        """The ERP's product data of these SKUs (those it knows)."""
