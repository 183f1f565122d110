"""What every scenario flow stands on: its ports in one context, effects done once, steps
retried through the queue, and scheduled work run tenant by tenant.

A flow is ``def flow(ctx: FlowContext, ...)``: plain Python over ``ctx``'s ports, so unit
tests build a context of in-memory fakes (tests/fakes.py ``fake_context``) and the Lambdas
get a live one from the composition root (o2o_bridge/wiring.py ``context_for``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..errors import BridgeError, PermanentError, TransientError
from ..fingerprint import digest  # noqa: F401 - the flows' kit offers it
from ..redaction import redact_text

if TYPE_CHECKING:
    from ..ports import (CommandQueue, CursorRepository, Erp, LinkRepository, RecordRepository, StoreSystem,
                         Timeline, Warehouse)
    from ..ports.retail import RetailErp
    from ..tenant import Tenant, TenantRepository

T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class FlowContext:
    """One tenant's view of the world for one piece of work."""

    tenant: "Tenant"
    warehouse: "Warehouse"
    # JST: the Erp port (S1, S4, S7). 旺店通, which keeps its stores' books: the RetailErp port
    # of the store-retail scenarios (W1-W5, ports/retail.py).
    erp: "Erp | RetailErp"
    store: "StoreSystem"
    links: "LinkRepository"
    cursors: "CursorRepository"
    records: "RecordRepository"
    timeline: "Timeline"
    queue: "CommandQueue"
    metric: Callable[[str, float], None] = lambda name, value=1: None
    now: Callable[[], datetime] = _utcnow
    # Seconds this invocation may still run; long scans stop early and resume next run.
    time_left: Callable[[], float] = lambda: float("inf")
    retry_base_delay_seconds: int = 30
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def ent_id(self) -> str:
        return self.tenant.ent_id


# --- steps that may fail transiently ------------------------------------------------------

FlowStep = Callable[[FlowContext, dict[str, Any]], Any]


def flow_command(name: str) -> Callable[[FlowStep], FlowStep]:
    """Name ``step(ctx, payload)`` as the retry command ``name``; ``attempt`` runs it first in
    line and queues it under that name. The retry worker finds it in the explicit table
    o2o_bridge/wiring.py ``retry_commands`` (a test checks every named step is there).

    The payload holds business data only (ids, quantities), never a secret: the retry
    worker rebuilds the context from the tenant."""

    def decorator(step: FlowStep) -> FlowStep:
        step.command_name = name  # type: ignore[attr-defined]
        return step

    return decorator


def attempt(ctx: FlowContext, step: FlowStep, payload: dict[str, Any], *, trace_key: str | None = None) -> Any:
    """Run a registered step now. On a transient error it goes to the retry queue (and the
    timeline says so) and ``attempt`` returns None: the work is durably queued, so the
    caller may acknowledge. Permanent errors propagate."""
    name = getattr(step, "command_name", None)
    if name is None:
        raise TypeError(f"{step.__name__} is not registered with @flow_command")
    try:
        return step(ctx, payload)
    except TransientError as exc:
        from ..retry import enqueue_retry  # the envelope models load only when something fails

        envelope = enqueue_retry(ctx.queue, command=name, ent_id=ctx.ent_id, payload=payload, error=exc,
                                 trace_key=trace_key, base_delay_seconds=ctx.retry_base_delay_seconds,
                                 known_secrets=ctx.tenant.inline_secrets())
        if trace_key:
            ctx.timeline.record(trace_key, ctx.ent_id, "retry.queued",
                                {"command": name, "retry_id": envelope.id, "error": envelope.last_error},
                                level="warning")
        ctx.metric("RetryQueued", 1)
        return None


PARKED_KIND = "parked"  # inputs already dead-lettered, so a repeat does not fill the DLQ again
PARKED_MEMORY_DAYS = 14  # SQS keeps a dead letter at most 14 days


def settle(ctx: FlowContext, step: FlowStep, payload: dict[str, Any], *, trace_key: str,
           identity_ignores: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run ``step`` so that a webhook or a poll may move on: done, queued for retry
    (transient), or parked on the DLQ with the reason (permanent: the store refused, a carrier
    is not mapped), where `o2o dlq list` shows it and `o2o dlq replay` re-runs it after the fix.

    The same input parked before is not parked again (JST re-sends pushes and polls overlap):
    the operator fixes and replays the first. ``identity_ignores`` names payload keys that do
    not make an input different (e.g. whether it came from a push or a poll)."""
    name = getattr(step, "command_name", None)
    if name is None:
        raise TypeError(f"{step.__name__} is not registered with @flow_command")
    identity = {k: v for k, v in payload.items() if k not in identity_ignores}
    marker = f"{name}:{digest(identity)}"
    earlier = ctx.records.get(ctx.ent_id, PARKED_KIND, marker)
    if earlier is not None:
        return {"outcome": "dead_lettered_before", "reason": earlier.data.get("reason")}
    try:
        result = attempt(ctx, step, payload, trace_key=trace_key)
    except PermanentError as exc:
        from ..retry import DeadLetter, RetryEnvelope

        reason = redact_text(f"{type(exc).__name__}: {exc}", ctx.tenant.inline_secrets())
        envelope = RetryEnvelope(command=name, ent_id=ctx.ent_id, payload=payload, trace_key=trace_key)
        ctx.queue.dead_letter(DeadLetter(envelope=envelope, reason=reason, error_type=type(exc).__name__))
        ctx.timeline.record(trace_key, ctx.ent_id, "dead_lettered", {"command": name, "reason": reason}, level="error")
        ctx.records.put(ctx.ent_id, PARKED_KIND, marker, {"reason": reason, "trace_key": trace_key},
                        ttl_days=PARKED_MEMORY_DAYS)
        ctx.metric("DeadLettered", 1)
        return {"outcome": "dead_lettered", "reason": reason}
    return result if result is not None else {"outcome": "queued"}


# --- effects done exactly once ---------------------------------------------------------------

EFFECT_KIND = "effect"


class EffectInProgress(TransientError):
    """Another worker holds the claim on this effect; try again after its lease."""


@dataclass(frozen=True)
class Outcome:
    result: Any
    repeated: bool  # True: done before, nothing was done now


def effect_once(ctx: FlowContext, key: str, do: Callable[[], T], *, lease_seconds: int = 120,
                ttl_days: int | None = 400) -> Outcome:
    """Do ``do()`` once per (tenant, key) across every Lambda and every replay.

    A claim with a lease is taken with a conditional write before the effect; the result is
    stored after it. A repeat gets the stored result without a second effect; a concurrent
    duplicate gets EffectInProgress (transient); a crashed claim expires after its lease.
    ``do`` must itself be idempotent downstream (an Idempotency-Key, a JST business key),
    because a crash between the effect and the "done" write re-runs it after the lease."""
    records = ctx.records
    existing = records.get(ctx.ent_id, EFFECT_KIND, key)
    now = ctx.now()
    if existing is not None:
        if existing.data.get("state") == "done":
            return Outcome(existing.data.get("result"), True)
        until = datetime.fromisoformat(existing.data["lease_until"])
        if until > now:
            raise EffectInProgress(f"{key} is being done by another worker", retry_after_seconds=(until - now).seconds + 1)
    claim = records.put(ctx.ent_id, EFFECT_KIND, key,
                        {"state": "running", "lease_until": (now + timedelta(seconds=lease_seconds)).isoformat()},
                        expected_version=existing.version if existing else None, ttl_days=ttl_days)
    if claim is None:
        raise EffectInProgress(f"{key} was claimed by another worker just now", retry_after_seconds=lease_seconds)
    try:
        result = do()
    except BaseException:
        records.delete(ctx.ent_id, EFFECT_KIND, key)
        raise
    records.put(ctx.ent_id, EFFECT_KIND, key, {"state": "done", "result": result, "done_at": ctx.now().isoformat()},
                expected_version=claim.version, ttl_days=ttl_days)
    return Outcome(result, False)


def effect_done(ctx: FlowContext, key: str) -> bool:
    record = ctx.records.get(ctx.ent_id, EFFECT_KIND, key)
    return record is not None and record.data.get("state") == "done"


# --- scheduled work over every tenant -----------------------------------------------------------


class TenantFailures(BridgeError):
    """Some tenants' scheduled work failed; the others' went on and is done."""


def for_erp(job: str, **flows: Callable[[FlowContext], dict[str, Any] | None]
            ) -> Callable[[FlowContext], dict[str, Any] | None]:
    """One scheduled job whose work depends on the tenant's ERP (e.g. nightly_stock_push:
    JST's S3/S4 or 旺店通's W5). A tenant whose ERP has no flow for the job fails loudly."""

    def flow(ctx: FlowContext) -> dict[str, Any] | None:
        chosen = flows.get(ctx.tenant.erp)
        if chosen is None:
            from ..errors import ConfigurationError

            raise ConfigurationError(f"{job} has no flow for a tenant whose ERP is {ctx.tenant.erp}")
        return chosen(ctx)

    return flow


def run_for_tenants(job: str, flow: Callable[[FlowContext], dict[str, Any] | None], *,
                    build: Callable[["Tenant"], FlowContext],
                    erp: str | None = None,
                    tenants: "TenantRepository | None" = None,
                    log: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``flow`` for every registered tenant, each on its own: one tenant's failure is
    recorded and the next goes on. Raises TenantFailures at the end if any failed (so the
    function's error alarm fires), after every tenant had its turn. With ``erp``, only the
    tenants of that ERP take part (a JST poll skips 旺店通 tenants)."""
    from .. import runtime

    tenants = tenants if tenants is not None else runtime.state_store()
    summary: dict[str, Any] = {"job": job, "tenants": {}}
    failed: list[str] = []
    for ent_id in tenants.list_ids():
        started = time.monotonic()
        tenant = tenants.get(ent_id)
        if tenant is None:
            continue
        if erp is not None and tenant.erp != erp:
            summary["tenants"][ent_id] = {"ok": True, "skipped": f"erp is {tenant.erp}"}
            continue
        try:
            result = flow(build(tenant)) or {}
            summary["tenants"][ent_id] = {"ok": True, **result, "seconds": round(time.monotonic() - started, 3)}
        except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the others
            message = f"{type(exc).__name__}: {redact_text(str(exc), tenant.inline_secrets())}"
            failed.append(ent_id)
            summary["tenants"][ent_id] = {"ok": False, "error": message}
        if log:
            log(f"{job} tenant {ent_id}", summary["tenants"][ent_id])
    if failed:
        raise TenantFailures(f"{job} failed for tenant(s) {', '.join(failed)}: "
                             + "; ".join(summary["tenants"][e]["error"] for e in failed))
    return summary
