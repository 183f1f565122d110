"""An approved store stock count (盘点单), by the tenant's ERP: 旺店通 books it as a count of
the store's warehouse (W3, flows/store_documents.py); a JST tenant whose ERP owns the stores'
stock has it replace JST's figures of the SKUs counted (flows/erp_store_stock.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .kit import FlowContext


def on_stock_counted(event, ctx: "FlowContext") -> Any:
    if ctx.tenant.erp == "wangdiantong":
        from .store_documents import on_stock_counted as book_in_wdt

        return book_in_wdt(event, ctx)
    from .erp_store_stock import on_stock_counted as book_in_jst

    return book_in_jst(event, ctx)
