"""An approved store stock count (盘点), by the tenant's ERP: 旺店通 books it as a count of
the store's warehouse (W3, flows/store_documents.py); for a JST tenant it comes with
ERP-owned store stock (issue #14)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotImplementedYet

if TYPE_CHECKING:
    from .kit import FlowContext


def on_stock_counted(event, ctx: "FlowContext") -> Any:
    if ctx.tenant.erp == "wangdiantong":
        from .store_documents import on_stock_counted as book_in_wdt

        return book_in_wdt(event, ctx)
    raise NotImplementedYet(f"the stock.counted flow for a tenant whose ERP is {ctx.tenant.erp}", issue=14)
