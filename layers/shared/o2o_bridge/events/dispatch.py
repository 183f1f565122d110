"""Which flow handles which store event, and running it once per ``(ent_id, event_id)``.

``FLOWS`` is the one place a scenario plugs in. Each entry names the flow function in its
scenario module (``o2o_bridge.flows.<module>.<function>(event, tenant)``), imported on
first use so a cold start loads only what its event needs. Until the module defines the
function, the event is answered 501 naming the issue that builds it (or the issues: a store
sale reaches JST with one and 旺店通 with another).

A flow returns when its work is done or durably queued for retry; only then is the event
acknowledged and its idempotency record completed. A flow that raises (a type whose flow
is not built yet answers 501) leaves no record, so the store system's next delivery of the
same event is processed afresh.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from ..errors import TransientError
from ..web.answers import POS_OK
from .models import EVENT_TYPES, PosEvent

if TYPE_CHECKING:
    from ..tenant import Tenant

Flow = Callable[[PosEvent, "Tenant"], Any]

IDEMPOTENCY_PREFIX = "pos_events.event"  # stable across stacks and refactors: keep it
IDEMPOTENCY_KEY = "[ent_id, event_id]"  # event_id is unique per event, per tenant


# event type -> (flow module, function, what it does, the issue or issues that build it)
_ROUTES = {
    "fulfilment.shipped": ("store_fulfilment", "on_fulfilment_shipped", "S1, the store shipped", 5),
    "fulfilment.picked_up": ("store_fulfilment", "on_fulfilment_picked_up", "S1, the customer picked up", 5),
    "fulfilment.rejected": ("store_fulfilment", "on_fulfilment_rejected", "S1r, re-route to the next store", 5),
    "order.warehouse_requested": ("warehouse_orders", "on_order_warehouse_requested",
                                  "S2, upload to the JST 自有商城 shop", 6),
    "order.cancelled": ("warehouse_orders", "on_order_cancelled", "S2, the store cancelled", 6),
    "return.requested": ("warehouse_orders", "on_return_requested", "S2r, upload the after-sale", 6),
    "stock.changed": ("stock_sync", "on_stock_changed", "S4, store stock to JST", 7),
    "transfer.submitted": ("store_transfers", "on_transfer_submitted", "S5, 配货 other-out in JST", 8),
    "warehouse_return.submitted": ("store_transfers", "on_warehouse_return_submitted", "S6, 退仓 other-in in JST", 8),
    # The store's books in the ERP, one flow for JST (ERP-owned store stock, #14) and 旺店通 (#16).
    "sale.completed": ("erp_store_stock", "on_sale_completed", "W1, a store retail sale booked in the ERP", (14, 16)),
    "sale.refunded": ("erp_store_stock", "on_sale_refunded", "W3, a store retail refund booked in the ERP", (14, 16)),
    "stock.counted": ("erp_store_stock", "on_stock_counted", "W3, an approved store stock count (盘点) in the ERP",
                      (14, 16)),
    "store_document.submitted": ("erp_store_stock", "on_store_document_submitted",
                                 "W3, a store's own in/out document in the ERP", (14, 16)),
    "store_transfer.submitted": ("erp_store_stock", "on_store_transfer_submitted",
                                 "店店调拨, stock moved between two stores in the ERP", (14, 16)),
    "payment.collected": ("cash_on_delivery", "on_payment_collected", "货到付款 collected at the store", 18),
    "product.changed": ("cloud_warehouse", "on_product_changed",
                        "Q6, a store's product change sent to the cloud warehouse", 17),
    "member.updated": ("members", "on_member_updated", "member merge, a store member changed", 18),
}

def _flow(event_type: str, module: str, function: str, what: str, issue: int | tuple[int, ...]) -> Flow:
    # The flow kit and the scenario module load on the first event of the type, not at init.
    def flow(event: PosEvent, tenant: "Tenant") -> Any:
        from ..flows.kit import flow_function

        return flow_function(module, function, what=f"the {event_type} flow ({what})", issue=issue)(event, tenant)

    flow.__name__ = f"{module}.{function}"
    return flow


# The flow functions ``o2o_bridge.flows.<module>.<function>(event, tenant)``, imported on first call.
FLOWS: dict[str, Flow] = {event_type: _flow(event_type, *route) for event_type, route in _ROUTES.items()}


assert set(FLOWS) == set(EVENT_TYPES), "every event type needs an entry in FLOWS"

# Store events whose business fact goes to the ledger (flows/retail_facts.py) before their flow
# runs: a sale happened at the till whether or not the ERP flow books it (or is built yet).
RECORDED_BEFORE_THEIR_FLOW = frozenset({"sale.completed", "sale.refunded", "stock.counted"})


def deliver(event: PosEvent, tenant: "Tenant") -> dict[str, Any]:
    """Run ``event``'s flow unless this ``(ent_id, event_id)`` was already done; the answer body."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    from .. import runtime

    record = {"ent_id": event.ent_id, "event_id": event.event_id, "type": event.type}
    run_once = _run_once(runtime.aws_client("dynamodb"), runtime.settings().idempotency_table)
    try:
        return run_once(record, event=event, tenant=tenant)
    except IdempotencyAlreadyInProgressError:
        # Another delivery of the same event is running: not done yet, so not acknowledged.
        raise TransientError(f"event {event.event_id} is being processed by another delivery; send it again later",
                             retry_after_seconds=5) from None


@functools.lru_cache(maxsize=1)
def _run_once(client: Any, table: str) -> Callable[..., dict[str, Any]]:
    # One persistence layer per container (rebuilt only when runtime.reset() gives new clients).
    from ..idempotency import once

    @once(IDEMPOTENCY_PREFIX, key=IDEMPOTENCY_KEY)
    def run(record: dict[str, Any], *, event: PosEvent, tenant: "Tenant") -> dict[str, Any]:
        if event.type in RECORDED_BEFORE_THEIR_FLOW:  # the document ledger's fact, whatever the ERP flow does
            from ..flows import retail_facts

            retail_facts.record(event, tenant)
        FLOWS[event.type](event, tenant)
        return dict(POS_OK)

    return run
