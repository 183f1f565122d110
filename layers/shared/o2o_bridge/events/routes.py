"""Which flow handles which store event: the typed table ``ROUTES`` (event type -> the flow
function and what it does). A reader, or a code-navigation tool, goes from an event type
straight to its flow. ``dispatch.deliver`` imports this module on the first event, so a cold
start loads the flows only when an event needs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..flows import stock_sync, store_fulfilment, store_transfers, warehouse_orders
from .models import EVENT_TYPES, PosEvent

if TYPE_CHECKING:
    from ..flows.kit import FlowContext


@dataclass(frozen=True)
class Route:
    flow: Callable[[PosEvent, "FlowContext"], Any]
    what: str


ROUTES: dict[str, Route] = {
    "fulfilment.shipped": Route(store_fulfilment.on_fulfilment_shipped, "S1, the store shipped"),
    "fulfilment.picked_up": Route(store_fulfilment.on_fulfilment_picked_up, "S1, the customer picked up"),
    "fulfilment.rejected": Route(store_fulfilment.on_fulfilment_rejected, "S1r, re-route to the next store"),
    "order.warehouse_requested": Route(warehouse_orders.on_order_warehouse_requested,
                                       "S2, the warehouse is to ship a store order"),
    "order.cancelled": Route(warehouse_orders.on_order_cancelled, "S2, the store cancelled"),
    "return.requested": Route(warehouse_orders.on_return_requested, "S2r, a return to the warehouse"),
    "stock.changed": Route(stock_sync.on_stock_changed, "S4, store stock to the ERP"),
    "transfer.submitted": Route(store_transfers.on_transfer_submitted, "S5, 配货 from the warehouse"),
    "warehouse_return.submitted": Route(store_transfers.on_warehouse_return_submitted, "S6, 退仓 to the warehouse"),
}

assert set(ROUTES) == set(EVENT_TYPES), "every event type needs a route"
