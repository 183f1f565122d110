"""销退仓: JST's sales-return stock in the 店+ warehouse the guide codes 2.

JST keeps returned goods apart from sellable stock: every JST warehouse has a 销退仓 part
(inventory ``return_qty``; after-sales received with ``warehouse_type`` 2 land there). The
implementation guide has the merchant create a 店+ warehouse coded ``2`` for it, next to the
总仓 warehouse coded with JST's ID. With ``stock.sales_return_warehouse`` set (``"2"`` as the
guide says), the 销退仓 stock of the tenant's return warehouse (``jushuitan.return_wms_co_id``,
else the main one) reaches that 店+ warehouse on the same paths as the main stock (the hourly
pull and each 库存同步 signal), versioned the same way, as a plain count: the tenant's stock
formula is about sellable stock and does not apply to returned goods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from ..ports.warehouse import StockLevel
    from ..tenant import Tenant


def source_warehouse(tenant: "Tenant") -> str | None:
    """The warehouse whose 销退仓 feeds the store system's return warehouse (None: the option is off)."""
    if tenant.stock.sales_return_warehouse is None or tenant.jushuitan is None:  # JST's 销退仓 only
        return None
    return str(tenant.jushuitan.return_wms_co_id or tenant.jushuitan.main_wms_co_id)


def return_levels(tenant: "Tenant", warehouse_code: str, levels: Iterable["StockLevel"]) \
        -> tuple[str, list[dict[str, Any]]] | None:
    """(store-system warehouse code, levels) of the ``return_qty`` figure of ``warehouse_code``'s
    levels; None when that warehouse's 销退仓 is not shown."""
    from .stock_sync import publishable

    if source_warehouse(tenant) != str(warehouse_code):
        return None
    return tenant.stock.sales_return_warehouse, [
        {"sku_id": level.sku_id, "qty": publishable(level.figures.get("return_qty", 0)), "version": level.version}
        for level in levels]


__all__ = ["return_levels", "source_warehouse"]
