"""Which flow handles which store event: the typed table ``ROUTES`` (event type -> the flow
function and what it does). A reader, or a code-navigation tool, goes from an event type
straight to its flow. ``dispatch.deliver`` imports this module on the first event, so a cold
start loads the flows only when an event needs them.

A type whose flow is not built yet has no function and names the issue that builds it: the
event is answered 501 (not implemented yet, issue #N) and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import NotImplementedYet
from ..flows import (cash_on_delivery, cloud_warehouse, erp_store_stock, members, stock_sync, store_fulfilment,
                     store_transfers, warehouse_orders)
from .models import EVENT_TYPES, PosEvent

if TYPE_CHECKING:
    from ..flows.kit import FlowContext


@dataclass(frozen=True)
class Route:
    flow: Callable[[PosEvent, "FlowContext"], Any] | None
    what: str
    issues: tuple[int, ...] = ()  # who builds it, while ``flow`` is None
    # When, for the tenant, the flow only records the event (a timeline note, a ledger fact):
    # then it is done in one write instead of a claim and its completion (events/recording.py).
    only_recorded_when: Callable[["FlowContext"], bool] | None = None
    # True: the flow itself keeps the event once, so it needs no record of its own
    # (events/dispatch.py): its work is one effect keyed by the event's business document, whose
    # record answers a repeat (kit.effect_once), or versioned facts whose conditional write refuses
    # a repeat in one request (a store's stock levels).
    once_by_its_effect: bool = False

    def run(self, event: PosEvent, ctx: "FlowContext") -> Any:
        if self.flow is None:
            raise NotImplementedYet(f"the {event.type} flow ({self.what})", issue=self.issues)
        return self.flow(event, ctx)


ROUTES: dict[str, Route] = {
    "fulfilment.shipped": Route(store_fulfilment.on_fulfilment_shipped, "S1, the store shipped",
                                once_by_its_effect=True),
    "fulfilment.picked_up": Route(store_fulfilment.on_fulfilment_picked_up, "S1, the customer picked up",
                                  once_by_its_effect=True),
    # The order's record notes each rejection with the release it makes, in one write: a repeat is
    # the order read (flows/store_fulfilment/rerouting.py).
    "fulfilment.rejected": Route(store_fulfilment.on_fulfilment_rejected, "S1r, re-route to the next store",
                                 once_by_its_effect=True),
    "order.warehouse_requested": Route(warehouse_orders.on_order_warehouse_requested,
                                       "S2, the warehouse is to ship a store order", once_by_its_effect=True),
    "order.cancelled": Route(warehouse_orders.on_order_cancelled, "S2, the store cancelled", once_by_its_effect=True),
    "return.requested": Route(warehouse_orders.on_return_requested, "S2r, a return to the warehouse",
                              once_by_its_effect=True),
    "stock.changed": Route(stock_sync.on_stock_changed, "S4, store stock to the ERP", once_by_its_effect=True),
    "transfer.submitted": Route(store_transfers.on_transfer_submitted, "S5, 配货 from the warehouse",
                                once_by_its_effect=True),
    "warehouse_return.submitted": Route(store_transfers.on_warehouse_return_submitted, "S6, 退仓 to the warehouse",
                                        once_by_its_effect=True),
    # The store's books in the ERP, one flow for JST (ERP-owned store stock, #14) and 旺店通 (#16).
    "sale.completed": Route(erp_store_stock.on_sale_completed, "W1, a store retail sale booked in the ERP",
                            only_recorded_when=erp_store_stock.books_nothing),
    "sale.refunded": Route(erp_store_stock.on_sale_refunded, "W3, a store retail refund booked in the ERP",
                           only_recorded_when=erp_store_stock.books_nothing),
    "stock.counted": Route(erp_store_stock.on_stock_counted, "W3, an approved store stock count (盘点) in the ERP",
                           only_recorded_when=erp_store_stock.books_nothing),
    "store_document.submitted": Route(erp_store_stock.on_store_document_submitted,
                                      "W3, a store's own in/out document in the ERP",
                                      only_recorded_when=erp_store_stock.books_nothing),
    "store_transfer.submitted": Route(erp_store_stock.on_store_transfer_submitted,
                                      "店店调拨, the goods left the sending store (in transit)",
                                      only_recorded_when=erp_store_stock.books_nothing),
    "store_transfer.received": Route(erp_store_stock.on_store_transfer_received,
                                     "店店调拨, the receiving store took the goods in",
                                     only_recorded_when=erp_store_stock.books_nothing),
    "payment.collected": Route(cash_on_delivery.on_payment_collected, "货到付款 collected at the store",
                               once_by_its_effect=True),
    "product.changed": Route(cloud_warehouse.on_product_changed, "Q6, a store's product change sent to the cloud warehouse",
                             only_recorded_when=lambda ctx: cloud_warehouse.cloud_wms(ctx) is None),
    "member.updated": Route(members.on_member_updated, "member merge, a store member changed",
                            once_by_its_effect=True),
}

assert set(ROUTES) == set(EVENT_TYPES), "every event type needs a route"
