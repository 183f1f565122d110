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
    from ..tenant import Tenant


def source_warehouse(tenant: "Tenant") -> int | None:
    """The JST warehouse whose 销退仓 feeds the 店+ return warehouse (None: the option is off)."""
    if tenant.stock.sales_return_warehouse is None:
        return None
    return tenant.jushuitan.return_wms_co_id or tenant.jushuitan.main_wms_co_id


def return_levels(tenant: "Tenant", wms_co_id: int, rows: Iterable[Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """(店+ warehouse code, levels) from JST inventory rows of ``wms_co_id``; None when that
    warehouse's 销退仓 is not mapped."""
    from .stock_sync import jst_version, publishable

    if source_warehouse(tenant) != wms_co_id:
        return None
    return tenant.stock.sales_return_warehouse, [
        {"sku_id": row.sku_id, "qty": publishable(row.return_qty or 0), "version": jst_version(row.modified, row.ts)}
        for row in rows]


__all__ = ["return_levels", "source_warehouse"]
