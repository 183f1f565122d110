"""Store events whose whole work, for their tenant, is to be recorded: done in one write.

A route names when its flow only records its event (``Route.only_recorded_when``, events/routes.py):
a sale, refund, count, store document or store transfer for a tenant whose ERP keeps no books
of the stores (``erp_store_stock.books_nothing``), a product change for a tenant without a
cloud WMS. Then the flow only notes it on the timeline (and a sale, refund or count appends its fact
to the document ledger, idempotent on the fact's key). Such an event needs no "in progress"
claim: nothing it does can happen twice. So ``deliver_recorded`` runs the flow first, then
stores the event as done with its answer in one conditional write (``idempotency.done_once``,
the very record the usual path keeps, so a delivery that goes either way finds the other's):

- happy: that write and the timeline entry, written when the invocation ends (2 requests, where
  the claim, its completion and the timeline were 3);
- a repeat: the one refused write, which brings the stored answer back; the repeat's own
  timeline entry is dropped (1 request);
- a crash before the write leaves the event free and the store's redelivery does it again (the
  ledger fact is not written twice); after it, the event is done.

The flow runs on its context with every port that could change something or call out replaced
by a guard: reads and the tenant's settings pass, anything else stops the run before it happens
(``NotRecordOnly``), its timeline entries and metrics are dropped, and the event goes the usual
way (``dispatch.deliver``). So a predicate that says "only recorded" for an event that is not
costs a wasted run, never a lost effect.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..flows.kit import FlowContext
    from ..tenant import Tenant
    from .models import PosEvent


class NotRecordOnly(BaseException):
    """The flow reached for more than a record (BaseException: no flow's error handling takes it
    for a failure of its own, to park or queue)."""


# What a recording run may use of each port: reads, the adapters' fixed description, and timeline
# notes (held apart until the event is done, dropped when it was done before). The ledger passes
# whole: a fact is written once per its key.
_ALLOWED = {
    "timeline": frozenset({"record", "entries"}),
    "records": frozenset({"get", "get_many", "list", "prefetch"}),
    "links": frozenset({"find"}),
    "cursors": frozenset({"get"}),
    "queue": frozenset(),
    "store": frozenset(),
    "erp": frozenset({"info"}),
    "warehouse": frozenset({"info"}),
}


class _Guarded:
    def __init__(self, port: Any, name: str, allowed: frozenset[str]) -> None:
        self._port, self._name, self._allowed = port, name, allowed

    def __getattr__(self, attribute: str) -> Any:
        if attribute in self._allowed:
            return getattr(self._port, attribute)
        raise NotRecordOnly(f"{self._name}.{attribute}")


def deliver_recorded(event: "PosEvent", tenant: "Tenant", *, record: dict[str, Any],
                     context_for: Callable[["Tenant"], "FlowContext"],
                     handle: Callable[["PosEvent", "FlowContext"], None],
                     answer: dict[str, Any], key_prefix: str, key: str) -> dict[str, Any] | None:
    """The answer to ``event`` when its flow only recorded it, done once (a repeat: the answer
    stored first); None when the event is to go the usual way."""
    from .routes import ROUTES

    only_recorded = ROUTES[event.type].only_recorded_when
    if only_recorded is None:
        return None
    ctx = context_for(tenant)
    if not only_recorded(ctx):
        return None
    from ..connectors.aws.held import timeline_apart
    from ..idempotency import done_once

    metrics: list[tuple[str, float]] = []
    guarded = replace(ctx, **{name: _Guarded(getattr(ctx, name), name, allowed) for name, allowed in _ALLOWED.items()},
                      metric=lambda name, value=1: metrics.append((name, value)))
    with timeline_apart() as entries:
        try:
            handle(event, guarded)
        except NotRecordOnly as reached:
            entries.drop()
            from ..observability import logger

            logger.warning("store event needs more than a record: it goes the usual way",
                           extra={"event_type": event.type, "reached": str(reached)})
            return None
        try:
            stored = done_once(key_prefix, record, answer, key=key)
        except BaseException:
            entries.drop()  # not done here (another delivery holds it, or the write failed): who does it notes it
            raise
        if stored is not None:
            entries.drop()  # a repeat: the first delivery's entries stand
            return stored
    for name, value in metrics:
        ctx.metric(name, value)
    return dict(answer)
