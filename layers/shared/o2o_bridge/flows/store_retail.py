"""The store's retail events, by the tenant's ERP.

A 旺店通 tenant's ERP keeps the stores' books: a sale is booked as an order of the POS shop
(W1, flows/store_sales.py) and a returned item as a stock-in (W3, flows/store_documents.py).
For a JST tenant these events come with ERP-owned store stock (issue #14).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotImplementedYet

if TYPE_CHECKING:
    from .kit import FlowContext


def on_sale_completed(event, ctx: "FlowContext") -> Any:
    if ctx.tenant.erp == "wangdiantong":
        from .store_sales import on_sale_completed as book_in_wdt

        return book_in_wdt(event, ctx)
    raise NotImplementedYet(f"the sale.completed flow for a tenant whose ERP is {ctx.tenant.erp}", issue=14)


def on_sale_refunded(event, ctx: "FlowContext") -> Any:
    if ctx.tenant.erp == "wangdiantong":
        from .store_documents import on_sale_refunded as book_in_wdt

        return book_in_wdt(event, ctx)
    raise NotImplementedYet(f"the sale.refunded flow for a tenant whose ERP is {ctx.tenant.erp}", issue=14)
