"""An approved store stock count (盘点单), by the tenant's ERP: for a JST tenant whose ERP owns
the stores' stock it replaces JST's figures of the SKUs counted (flows/erp_store_stock.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import erp_store_stock

if TYPE_CHECKING:
    from ..events.models import PosEvent
    from ..tenant import Tenant


def on_stock_counted(event: "PosEvent", tenant: "Tenant") -> None:
    erp_store_stock.on_stock_counted(event, tenant)
