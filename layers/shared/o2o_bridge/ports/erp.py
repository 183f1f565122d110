"""The Erp port: what the tenant's ERP does, whoever its warehouse is. JST implements it
(connectors/jushuitan/erp.py) and so does 旺店通 ERP 企业版 (connectors/wangdiantong/erp.py):
where both ERPs do the same business act, the flow is one flow over this port.

- S1: the online orders the ERP assigned to the stores' virtual warehouse (JST: sales
  outbounds of the 店加线下仓), read by cursor, and their confirmation once a store shipped
  them or the customer picked them up. (JST only: 旺店通 answers a clear configuration error.)
- S4: the stores' stock, aggregated, becomes the stock of the ERP's virtual warehouse for the
  stores (JST's 店加线下仓) by stock counts. (JST only.)
- The store's books (flows/erp_store_stock.py, W1/W3 for 旺店通): a retail sale, refund,
  count, store transfer or store document booked on the store's ERP warehouse
  (``book_store_move``, ``book_store_count``). ``info`` says when (``keeps_store_books``) and
  how (``sales_as_orders``, ``defective_stock``, ``max_document_lines``).
- S4e / W5: the stock the ERP holds for the store warehouses (a StockSource, as the
  warehouse is for its own).
- S7 / W4: the product master, SKU by SKU, by modified window.

What only 旺店通 does (store sales as orders of its POS shop, its own stock documents sent to
the stores, product data by SKU) is the small RetailErp port beside this one (ports/retail.py).

Exactly once: ``confirm_online_outbound`` may be repeated (the ERP confirms an outbound
once; a repeat after a lost answer is recognised as done, not refused); ``upload_store_stock``
is keyed by ``upload_id``: the ERP refuses or ignores a second upload with the same id, and
the adapter answers such a repeat as success, so a retry after a lost answer counts the stock
once. ``book_store_move`` / ``book_store_count`` are keyed by the store's document no. the same
way. Reads have no effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PermanentError
from datetime import datetime, timedelta
from typing import Any, Iterator, Literal, Mapping, Protocol, Sequence

from .state import GrantRiders
from .warehouse import Receiver, SkuQty, StockSource


@dataclass(frozen=True)
class OutboundLine:
    sku_id: str
    qty: int
    name: str
    price: str | None = None  # the unit price the customer paid, as text


@dataclass(frozen=True)
class OnlineOutbound:
    """An online order the ERP assigned to the stores (S1), as the last read saw it."""

    outbound_id: str             # the ERP's id of the outbound (JST io_id): the flow's key
    order_id: str                # the ERP's order (JST o_id)
    platform_order_no: str       # the platform's order no. (JST so_id)
    shop_id: str | None
    status: Literal["waiting", "cancelled", "other"]  # waiting: for a store to fulfil
    erp_status: str              # the ERP's own word for it
    position: int                # orders two readings of one outbound (JST ts)
    receiver: Receiver
    lines: tuple[OutboundLine, ...]
    labels: tuple[str, ...] = ()
    buyer_message: str | None = None
    # The order's money as text: what the customer owes in all, and what was paid online.
    pay_amount: str | None = None
    paid_amount: str | None = None
    # The ERP marks it 货到付款 (cash on delivery): the store collects what is still unpaid.
    cash_on_delivery: bool = False
    pickup_store_code: str | None = None  # the store the customer chose for 门店自提, when the ERP carries it


@dataclass(frozen=True)
class OutboundPage:
    outbounds: list[OnlineOutbound]
    next_cursor: str  # store it once this page is handled
    last: bool        # no page follows


@dataclass(frozen=True)
class OutboundConfirmation:
    """S1: a store shipped an online outbound (its carrier and tracking number) or the customer
    picked it up at the store."""

    outbound_id: str
    how: Literal["shipped", "picked_up"]
    carrier_code: str | None = None
    tracking_no: str | None = None


class ErpRefused(PermanentError):
    """The ERP refused a command for a reason a person must look at."""


@dataclass(frozen=True)
class ErpInfo:
    system: str                      # "jst", "wdt": how timelines and keys name it
    display_name: str                # "JST", "旺店通": how messages to people name it
    virtual_warehouse: str           # where store stock is counted (JST: the 店加线下仓's wms_co_id)
    max_stock_items_per_upload: int  # a stock count carries at most this many SKUs
    calls_per_second: int            # what the tenant's ERP app may call, for parallel uploads
    max_product_window: timedelta = timedelta(days=7)  # changed_products reads at most this span a call
    # A store stock move of more lines is booked as several documents ``<doc_no>-1``, ``-2``, ...
    # (0: no limit). JST's other in/out and 旺店通's 其他入库 / 其他出库 take 1000.
    max_document_lines: int = 0
    # The ERP keeps the stores' books whatever ``stock.master`` says: every store sale, refund,
    # count and store document is booked (旺店通: the guide sends every store document back).
    # False: only when the ERP owns the store stock (JST, ``stock.master: erp``).
    keeps_store_books: bool = False
    # A returned item that cannot be sold again goes to the ERP's defective stock (JST's 次品仓).
    # False: it stays in the store system, where it is only for viewing (the 旺店通 guide).
    defective_stock: bool = True
    # The ERP takes store sales as orders of its POS shop, pushed in batches by the 10-minute run
    # (旺店通 W1, ``book_store_sales``); False: each sale is a stock move out of the store's
    # warehouse, booked at once (JST's 零售单, ``book_store_move``).
    sales_as_orders: bool = False
    max_confirmations_per_call: int = 1  # confirm_online_outbounds sends at most this many outbounds a call


@dataclass(frozen=True)
class ErpProduct:
    """One SKU as the ERP's product master describes it (S7 / W4); the store's field map and the
    tenant's product options are the flow's (flows/products.py)."""

    sku_id: str
    style_code: str | None       # 货号 (the SPU)
    name: str | None
    barcode: str | None          # 国际条形码
    spec: str | None             # "白色;M": color and size in the tenant's spec template order
    color: str | None            # a color the ERP names apart from the spec, if any
    brand: str | None
    category: str | None
    cost_price: Any
    tag_price: Any
    retail_price: Any
    labels: tuple[str, ...] | None  # None: the ERP gives the SKU no labels at all
    fields: Mapping[str, Any] = field(default_factory=dict)  # every other field by the ERP's name (custom fields)
    # How to read this very product again (kept with a failure, handed to ``product_again``).
    record: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreStockMove:
    """Stock that left or came back to a store, booked in the ERP that keeps the store's books:
    a retail sale (零售单) out, a retail refund (零售退单) back in, one side of a store-to-store
    transfer (店店调拨), one of the store's own in/out documents. ``doc_no`` is the ERP's key:
    booking the same number again is a repeat, never a second document. At most
    ``ErpInfo.max_document_lines`` lines (the flow books a longer one in parts)."""

    doc_no: str
    store_code: str
    direction: Literal["out", "in"]
    # sale / refund / transfer: the till and 店店调拨; the store's own documents: reversal (冲单),
    # purchase_in (采购入库), import_in (入库单导入), exchange_out (换货出库), manual_out (出库开单).
    kind: Literal["sale", "refund", "transfer", "reversal", "purchase_in", "import_in", "exchange_out", "manual_out"]
    lines: tuple[SkuQty, ...]
    remark: str
    defective: bool = False  # refunded goods that cannot be sold again (the ERP's defective stock)


@dataclass(frozen=True)
class StoreCount:
    """An approved store stock count (盘点单): ``counted`` is what is on the shelf now."""

    count_no: str
    store_code: str
    counted: tuple[SkuQty, ...]
    remark: str


@dataclass(frozen=True)
class StoreBooking:
    document_id: str      # the ERP's number of the document it booked
    warehouse_code: str   # the ERP's warehouse of the store: re-read its stock from there
    repeated: bool = False  # the ERP held this document already (an earlier answer was lost)


class Erp(StockSource, Protocol):
    """Stock: ``stock_locations`` lists the store warehouses the ERP holds stock for."""

    info: ErpInfo

    def online_outbound_pages(self, since: str | None, *,
                              only: Literal["waiting", "cancelled"] | None = None) -> Iterator[OutboundPage]:
        """S1: the outbounds of the stores' virtual warehouse changed since the cursor, a page
        (one ERP call) at a time, each fetched only when asked for. ``only``: just the outbounds
        in that state, filtered by the ERP (the others, e.g. the ones the bridge confirmed
        itself, are never read); their pages' ``next_cursor`` is not a cursor for the whole scan."""

    def cursor_at(self, outbound_id: str) -> str | None:
        """S1: the scan cursor at this outbound as the ERP has it now (one ERP call): whatever
        changes after this reading comes after it in the scan. None when the ERP does not know it."""

    def online_outbound_again(self, row: Mapping[str, Any]) -> OnlineOutbound:
        """S1: an outbound the poll could not read (a ``MalformedRow`` it parked), read again from
        its row after the fix; PermanentError while it still cannot be read."""
    def find_online_outbound(self, outbound_id: str) -> "OnlineOutbound | None":
        """One outbound as the ERP has it now (`o2o route simulate` of one the bridge has not seen)."""

    def confirm_online_outbound(self, outbound_id: str, *, how: Literal["shipped", "picked_up"],
                                carrier_code: str | None = None, tracking_no: str | None = None) -> dict[str, Any]:
        """S1: a store shipped it (the store's ``carrier_code`` and ``tracking_no``) or the customer
        picked it up. Returns what was confirmed. ErpRefused when the ERP will not; a repeat of a
        confirmation the ERP holds is success. errors.ConfigurationError for an unmapped carrier."""

    def confirm_online_outbounds(self, confirmations: Sequence["OutboundConfirmation"]
                                 ) -> "dict[str, dict[str, Any] | PermanentError]":
        """S1: several confirmations, ``info.max_confirmations_per_call`` to an ERP call. Per
        outbound id: what was confirmed, or the PermanentError that outbound alone met (ErpRefused,
        errors.ConfigurationError); the others are confirmed all the same. A TransientError of
        the call is raised (none of them is known to be confirmed; repeating is safe)."""

    def upload_store_stock(self, upload_id: str, items: Sequence[SkuQty], *, remark: str,
                           riders: "GrantRiders | None" = None) -> bool:
        """Count ``items`` (≤ ``info.max_stock_items_per_upload``) into the virtual warehouse:
        the quantity given replaces the ERP's. Once per ``upload_id``; returns True when the ERP
        had taken this upload before (a repeat), False when it took it now. ``riders``: record
        writes sent with the upload's rate-limit grant, before the upload goes out (GrantRiders
        says what the caller learns of them)."""

    def book_store_move(self, move: StoreStockMove) -> StoreBooking:
        """ERP-owned store stock: book a store's sale / refund / transfer side on the store's
        warehouse at once (it already happened at the till). Once per ``doc_no``. ErpRefused
        for good (unknown SKU); errors.ConfigurationError for a store without an ERP warehouse."""

    def book_store_count(self, count: StoreCount) -> StoreBooking:
        """ERP-owned store stock: the store's counted quantities replace the ERP's for the SKUs
        counted, and only those. Once per ``count_no``."""

    def changed_products(self, begin: datetime, end: datetime, *, by_style: bool) -> list[ErpProduct]:
        """Products modified in [begin, end] (≤ ``info.max_product_window``), one per SKU;
        ``by_style`` reads the ERP's styles with their SKUs instead of its SKU list. A row that
        cannot be read is a ``MalformedRow`` in its place (the run parks it): JST's raw is what
        ``product_again`` reads, 旺店通's a goods row ``RetailErp.products_again`` reads."""

    def product_again(self, record: Mapping[str, Any]) -> ErpProduct:
        """The product an ``ErpProduct.record`` describes (a stored failure, sent again)."""
