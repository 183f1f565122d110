"""The Erp port: what only the tenant's ERP does, whoever its warehouse is. JST implements it
today (connectors/jushuitan/erp.py); 旺店通 will.

- S1: the online orders the ERP assigned to the stores' virtual warehouse (JST: sales
  outbounds of the 店加线下仓), read by cursor, and their confirmation once a store shipped
  them or the customer picked them up.

- S4: the stores' stock, aggregated, becomes the stock of the ERP's virtual warehouse for the
  stores (JST's 店加线下仓) by stock counts.
- S4e: when the ERP is stock master, the stock it holds for the store warehouses (a
  StockSource, as the warehouse is for its own).
- S7: the product master, SKU by SKU, by modified window.

Exactly once: ``confirm_online_outbound`` may be repeated (the ERP confirms an outbound
once; a repeat after a lost answer is recognised as done, not refused); ``upload_store_stock`` is keyed by ``upload_id``: the ERP refuses or ignores a
second upload with the same id, and the adapter answers such a repeat as success, so a retry
after a lost answer counts the stock once. Reads have no effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PermanentError
from datetime import datetime, timedelta
from typing import Any, Iterator, Literal, Mapping, Protocol, Sequence

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


@dataclass(frozen=True)
class OutboundPage:
    outbounds: list[OnlineOutbound]
    next_cursor: str  # store it once this page is handled
    last: bool        # no page follows


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


class Erp(StockSource, Protocol):
    """Stock: ``stock_locations`` lists the store warehouses the ERP holds stock for."""

    info: ErpInfo

    def online_outbound_pages(self, since: str | None) -> Iterator[OutboundPage]:
        """S1: the outbounds of the stores' virtual warehouse changed since the cursor, a page
        (one ERP call) at a time, each fetched only when asked for."""

    def online_outbound_again(self, row: Mapping[str, Any]) -> OnlineOutbound:
        """S1: an outbound the poll could not read (a ``MalformedRow`` it parked), read again from
        its row after the fix; PermanentError while it still cannot be read."""

    def confirm_online_outbound(self, outbound_id: str, *, how: Literal["shipped", "picked_up"],
                                carrier_code: str | None = None, tracking_no: str | None = None) -> dict[str, Any]:
        """S1: a store shipped it (the store's ``carrier_code`` and ``tracking_no``) or the customer
        picked it up. Returns what was confirmed. ErpRefused when the ERP will not; a repeat of a
        confirmation the ERP holds is success. errors.ConfigurationError for an unmapped carrier."""

    def upload_store_stock(self, upload_id: str, items: Sequence[SkuQty], *, remark: str) -> bool:
        """Count ``items`` (≤ ``info.max_stock_items_per_upload``) into the virtual warehouse:
        the quantity given replaces the ERP's. Once per ``upload_id``; returns True when the ERP
        had taken this upload before (a repeat), False when it took it now."""

    def changed_products(self, begin: datetime, end: datetime, *, by_style: bool) -> list[ErpProduct]:
        """Products modified in [begin, end] (≤ ``info.max_product_window``), one per SKU;
        ``by_style`` reads the ERP's styles with their SKUs instead of its SKU list."""

    def product_again(self, record: Mapping[str, Any]) -> ErpProduct:
        """The product an ``ErpProduct.record`` describes (a stored failure, sent again)."""
