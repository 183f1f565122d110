"""The store's retail events, by the tenant's ERP.

A 旺店通 tenant's ERP keeps the stores' books: a sale is booked as an order of the POS shop
(W1, flows/store_sales.py) and a returned item as a stock-in (W3, flows/store_documents.py).
A JST tenant books them (零售单 / 零售退单) on the store's JST warehouse when JST owns the
stores' stock (``stock.master: erp``; flows/erp_store_stock.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .kit import FlowContext


def on_sale_completed(event, ctx: "FlowContext") -> Any:
    if ctx.tenant.erp == "wangdiantong":
        from .store_sales import on_sale_completed as book_in_wdt

        return book_in_wdt(event, ctx)
    from .erp_store_stock import on_sale_completed as book_in_jst

    return book_in_jst(event, ctx)


def on_sale_refunded(event, ctx: "FlowContext") -> Any:
    if ctx.tenant.erp == "wangdiantong":
        from .store_documents import on_sale_refunded as book_in_wdt

        return book_in_wdt(event, ctx)
    from .erp_store_stock import on_sale_refunded as book_in_jst

    return book_in_jst(event, ctx)
