"""Running a store event's flow once per ``(ent_id, event_id)``.

The flow comes from the typed table ``events/routes.py`` ``ROUTES`` (imported on the first
event, so a cold start loads only what its event needs); its context from the factory the
handler passes (o2o_bridge/wiring.py ``context_for``).

A flow returns when its work is done or durably queued for retry; only then is the event
acknowledged and its idempotency record completed. A flow that raises leaves no record, so
the store system's next delivery of the same event is processed afresh. An event whose flow,
for its tenant, only records it skips the claim: its record is written once, done, after the
flow (events/recording.py).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from ..errors import TransientError
from .models import PosEvent

if TYPE_CHECKING:
    from ..flows.kit import FlowContext
    from ..tenant import Tenant

IDEMPOTENCY_PREFIX = "pos_events.event"  # stable across stacks and refactors: keep it
IDEMPOTENCY_KEY = "[ent_id, event_id]"  # event_id is unique per event, per tenant
ACKNOWLEDGED = {"code": 0, "msg": "ok"}  # the store system's success answer


# Store events whose business fact goes to the ledger (flows/retail_facts.py) once their flow has
# handled them: whatever the ERP does with the sale (books it, queues it, or has nothing to do),
# it happened at the till. An event the bridge does not handle - answered 501 because its flow
# for the tenant's ERP is not built, or failing and sent again by the store - records nothing.
RECORDED_ONCE_HANDLED = frozenset({"sale.completed", "sale.refunded", "stock.counted"})


def deliver(event: PosEvent, tenant: "Tenant", *,
            context_for: Callable[["Tenant"], "FlowContext"]) -> dict[str, Any]:
    """Run ``event``'s flow unless this ``(ent_id, event_id)`` was already done (by the event's record,
    or by the flow's own records where its route says so); the answer body."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    from .. import runtime

    from .routes import ROUTES

    if ROUTES[event.type].once_by_its_effect:
        # The flow keeps the event once by its own records (its effect's claim, a versioned fact's
        # write): a repeat is refused there and answered with the same acknowledgement (a flow
        # that raises is answered by the edge, and nothing is kept).
        _handle(event, context_for(tenant))
        return dict(ACKNOWLEDGED)
    record = {"ent_id": event.ent_id, "event_id": event.event_id, "type": event.type}
    try:
        # An event its tenant's flow only records: done in one write (events/recording.py).
        from .recording import deliver_recorded

        recorded = deliver_recorded(event, tenant, record=record, context_for=context_for, handle=_handle,
                                    answer=ACKNOWLEDGED, key_prefix=IDEMPOTENCY_PREFIX, key=IDEMPOTENCY_KEY)
        if recorded is not None:
            return recorded
        run_once = _run_once(runtime.aws_client("dynamodb"), runtime.settings().idempotency_table)
        return run_once(record, event=event, tenant=tenant, context_for=context_for)
    except IdempotencyAlreadyInProgressError:
        # Another delivery of the same event is running: not done yet, so not acknowledged.
        raise TransientError(f"event {event.event_id} is being processed by another delivery; send it again later",
                             retry_after_seconds=5) from None


@functools.lru_cache(maxsize=1)
def _run_once(client: Any, table: str) -> Callable[..., dict[str, Any]]:
    # One persistence layer per container (rebuilt only when runtime.reset() gives new clients).
    from ..idempotency import once

    @once(IDEMPOTENCY_PREFIX, key=IDEMPOTENCY_KEY)
    def run(record: dict[str, Any], *, event: PosEvent, tenant: "Tenant",
            context_for: Callable[["Tenant"], "FlowContext"]) -> dict[str, Any]:
        _handle(event, context_for(tenant))
        return dict(ACKNOWLEDGED)

    return run


def _handle(event: PosEvent, ctx: "FlowContext") -> None:
    """The event's flow, then its fact in the document ledger where it has one."""
    from .routes import ROUTES

    ROUTES[event.type].run(event, ctx)
    if event.type in RECORDED_ONCE_HANDLED:  # the document ledger's fact, whatever the ERP flow did
        from ..flows import retail_facts

        retail_facts.record(event, ctx)
