"""The Erp port: what only the tenant's ERP does, whoever its warehouse is. JST implements it
today (connectors/jushuitan/erp.py); 旺店通 will.

- S4: the stores' stock, aggregated, becomes the stock of the ERP's virtual warehouse for the
  stores (JST's 店加线下仓) by stock counts.
- S4e: when the ERP is stock master, the stock it holds for the store warehouses (a
  StockSource, as the warehouse is for its own).
- S7: the product master, SKU by SKU, by modified window.

Exactly once: ``upload_store_stock`` is keyed by ``upload_id``: the ERP refuses or ignores a
second upload with the same id, and the adapter answers such a repeat as success, so a retry
after a lost answer counts the stock once. Reads have no effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping, Protocol, Sequence

from .warehouse import SkuQty, StockSource


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

    def upload_store_stock(self, upload_id: str, items: Sequence[SkuQty], *, remark: str) -> bool:
        """Count ``items`` (≤ ``info.max_stock_items_per_upload``) into the virtual warehouse:
        the quantity given replaces the ERP's. Once per ``upload_id``; returns True when the ERP
        had taken this upload before (a repeat), False when it took it now."""

    def changed_products(self, begin: datetime, end: datetime, *, by_style: bool) -> list[ErpProduct]:
        """Products modified in [begin, end] (≤ ``info.max_product_window``), one per SKU;
        ``by_style`` reads the ERP's styles with their SKUs instead of its SKU list."""

    def product_again(self, record: Mapping[str, Any]) -> ErpProduct:
        """The product an ``ErpProduct.record`` describes (a stored failure, sent again)."""
