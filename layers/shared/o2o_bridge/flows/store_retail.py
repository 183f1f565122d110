"""A store's retail sales and refunds (零售单 / 零售退单), by the tenant's ERP.

For a JST tenant they matter when JST owns the stores' stock (``stock.master: erp``): they are
booked on the store's JST warehouse (flows/erp_store_stock.py). An ERP that keeps the stores'
books in its own way plugs its flow in here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import erp_store_stock

if TYPE_CHECKING:
    from ..events.models import PosEvent
    from ..tenant import Tenant


def on_sale_completed(event: "PosEvent", tenant: "Tenant") -> None:
    erp_store_stock.on_sale_completed(event, tenant)


def on_sale_refunded(event: "PosEvent", tenant: "Tenant") -> None:
    erp_store_stock.on_sale_refunded(event, tenant)
