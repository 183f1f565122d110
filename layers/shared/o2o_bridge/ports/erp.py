"""The Erp port: what only the tenant's ERP does, whoever its warehouse is. JST implements it
today (connectors/jushuitan/erp.py); 旺店通 will.

- S4: the stores' stock, aggregated, becomes the stock of the ERP's virtual warehouse for the
  stores (JST's 店加线下仓) by stock counts.
- S4e: when the ERP is stock master, the stock it holds for the store warehouses (a
  StockSource, as the warehouse is for its own).

Exactly once: ``upload_store_stock`` is keyed by ``upload_id``: the ERP refuses or ignores a
second upload with the same id, and the adapter answers such a repeat as success, so a retry
after a lost answer counts the stock once. Reads have no effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from .warehouse import SkuQty, StockSource


@dataclass(frozen=True)
class ErpInfo:
    system: str                      # "jst", "wdt": how timelines name it
    virtual_warehouse: str           # where store stock is counted (JST: the 店加线下仓's wms_co_id)
    max_stock_items_per_upload: int  # a stock count carries at most this many SKUs
    calls_per_second: int            # what the tenant's ERP app may call, for parallel uploads


class Erp(StockSource, Protocol):
    """Stock: ``stock_locations`` lists the store warehouses the ERP holds stock for."""

    info: ErpInfo

    def upload_store_stock(self, upload_id: str, items: Sequence[SkuQty], *, remark: str) -> bool:
        """Count ``items`` (≤ ``info.max_stock_items_per_upload``) into the virtual warehouse:
        the quantity given replaces the ERP's. Once per ``upload_id``; returns True when the ERP
        had taken this upload before (a repeat), False when it took it now."""
