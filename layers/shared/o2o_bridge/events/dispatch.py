"""Which flow handles which store event, and running it once per ``(ent_id, event_id)``.

``FLOWS`` is the one place a scenario plugs in: issue #5 sets the ``fulfilment.*``
entries, #6 the ``order.*`` and ``return.requested`` ones, #7 ``stock.changed``, #8
``transfer.submitted`` and ``warehouse_return.submitted``::

    FLOWS["fulfilment.shipped"] = fulfilment.on_shipped   # (event, tenant) -> None

A flow returns when its work is done or durably queued for retry; only then is the event
acknowledged and its idempotency record completed. A flow that raises (a type whose flow
is not built yet answers 501) leaves no record, so the store system's next delivery of the
same event is processed afresh.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from ..errors import NotImplementedYet, TransientError
from ..web.answers import POS_OK
from .models import EVENT_TYPES, PosEvent

if TYPE_CHECKING:
    from ..tenant import Tenant

Flow = Callable[[PosEvent, "Tenant"], Any]

IDEMPOTENCY_PREFIX = "pos_events.event"  # stable across stacks and refactors: keep it
IDEMPOTENCY_KEY = "[ent_id, event_id]"  # event_id is unique per event, per tenant


def not_built(what: str, issue: int) -> Flow:
    def flow(event: PosEvent, tenant: "Tenant") -> Any:
        raise NotImplementedYet(f"the {event.type} flow ({what})", issue=issue)

    flow.__name__ = f"not_built_issue_{issue}"
    return flow


FLOWS: dict[str, Flow] = {
    "fulfilment.shipped": not_built("S1, the store shipped", issue=5),
    "fulfilment.picked_up": not_built("S1, the customer picked up", issue=5),
    "fulfilment.rejected": not_built("S1r, re-route to the next store", issue=5),
    "order.warehouse_requested": not_built("S2, upload to the JST 自有商城 shop", issue=6),
    "order.cancelled": not_built("S2, the store cancelled", issue=6),
    "return.requested": not_built("S2r, upload the after-sale", issue=6),
    "stock.changed": not_built("S4, store stock to JST", issue=7),
    "transfer.submitted": not_built("S5, 配货 other-out in JST", issue=8),
    "warehouse_return.submitted": not_built("S6, 退仓 other-in in JST", issue=8),
}
assert set(FLOWS) == set(EVENT_TYPES), "every event type needs an entry in FLOWS"


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
        FLOWS[event.type](event, tenant)
        return dict(POS_OK)

    return run
