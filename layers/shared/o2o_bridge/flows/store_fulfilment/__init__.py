"""S1, S1r, S1c: online orders fulfilled by stores (线上订单线下发货 / 门店自提), over the Erp port
(ports/erp.py: the ERP assigns online outbounds to the stores' warehouse) and the store
system (P1, P2).

1. ``scan``: ``poll_jst_outbound`` (every 2 minutes) confirms what the stores finished, then
   reads the outbounds the ERP assigned to the stores, a page at a time by cursor. A waiting
   outbound is remembered and dispatched; a cancelled one cancels what was dispatched.
2. ``dispatch``: route the outbound (``routing.route_outbound``, once per route number) and
   create the store's fulfilment order (P1, Idempotency-Key from io_id, store and route
   number); the fulfilment is linked to the outbound's route.
3. ``store_events`` + ``confirmations``: the store ships (``fulfilment.shipped``) or the
   customer picks up (``fulfilment.picked_up``): the confirmation waits
   (``s1.confirm.pending``) for the next poll, which confirms what waits in the ERP, as many
   outbounds a call as the ERP takes, once per outbound. A refused outbound is parked; the
   others in its call are confirmed.
4. ``store_events``: the store rejects (``fulfilment.rejected``): the order is routed again
   without every store that rejected it (``out_of_stock`` also marks the SKUs unavailable at
   that store for the day). With no store left the order is parked as an exception.
5. ``cancels``: the ERP voided the outbound: the store's order is cancelled (P2).

``order`` holds each outbound's state (record ``s1.order``) as a small model, ``Order``, whose
named transitions (``park``, ``dispatch_to``, ``reject``, ``confirm``, ``cancel_by_erp``,
``route_again_by_hand``) are the only way it changes; ``exceptions`` the parked and stuck
orders an operator sees (`o2o exceptions list`); ``rerouting`` what re-routes them (by hand,
or the healing run of flows/healing.py).

Every call to the ERP or 店+ runs in a step started with ``kit.attempt``: a transient failure
queues the step for the retry worker (wiring.py lists the steps). Effects are
``kit.effect_once``.
"""

from .. import ledger_facts  # noqa: F401 - the facts module its steps write with, as s1.ledger_facts (tests patch it)
from .cancels import cancel_at_store, cancel_outbound
from .confirmations import (PENDING_CONFIRM_KIND, TIME_MARGIN_SECONDS, confirm_outbound, confirm_pending,
                            queue_confirmation)
from .dispatch import FULFILMENT, OUTBOUND_ROUTE, create_at_store, dispatch, fulfilment_order, to_route, \
    upgrade_reservations
from .exceptions import (DISPATCH_COMMANDS, EXCEPTION_KIND, EXCEPTION_METRIC, exceptions_to_show, open_exceptions, park,
                         resolve_exception, stuck_orders)
from .order import ORDER_KIND, ORDER_TTL_DAYS, ROUTING_KIND, Order, OrderChanged, change_order, load_order, \
    order_from_outbound
from .rerouting import reroute_by_hand
from .scan import CURSOR, handle_outbound, handle_outbound_again, poll_jst_outbound
from .store_events import on_fulfilment_picked_up, on_fulfilment_rejected, on_fulfilment_shipped, store_rejected

__all__ = [
    "CURSOR", "DISPATCH_COMMANDS", "EXCEPTION_KIND", "EXCEPTION_METRIC", "FULFILMENT", "ORDER_KIND", "ORDER_TTL_DAYS",
    "OUTBOUND_ROUTE", "Order", "OrderChanged", "PENDING_CONFIRM_KIND", "ROUTING_KIND", "TIME_MARGIN_SECONDS",
    "cancel_at_store", "cancel_outbound", "change_order", "confirm_outbound", "confirm_pending", "create_at_store",
    "dispatch", "exceptions_to_show", "fulfilment_order", "handle_outbound", "handle_outbound_again", "load_order",
    "on_fulfilment_picked_up", "on_fulfilment_rejected", "on_fulfilment_shipped", "open_exceptions",
    "order_from_outbound", "park", "poll_jst_outbound", "queue_confirmation", "reroute_by_hand", "resolve_exception",
    "store_rejected", "stuck_orders", "to_route", "upgrade_reservations",
]
