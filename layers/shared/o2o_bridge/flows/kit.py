"""What every scenario flow stands on: its ports in one context, effects done once, steps
retried through the queue, and scheduled work run tenant by tenant.

A flow is ``def flow(ctx: FlowContext, ...)``: plain Python over ``ctx``'s ports, so unit
tests build a context of in-memory fakes (tests/fakes.py ``fake_context``) and the Lambdas
get a live one from the composition root (o2o_bridge/wiring.py ``context_for``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

from ..errors import BridgeError, PermanentError, TransientError
from ..redaction import redact_text
from ..fingerprint import digest  # noqa: F401 - the flows' kit offers it
from .app_slots import erp_app_of  # noqa: F401 - which ERP app a tenant's scheduled work spends

if TYPE_CHECKING:
    from ..ports import (CommandQueue, CursorRepository, Erp, Ledger, LinkRepository, RecordRepository, StoreSystem,
                         Timeline, Warehouse)
    from ..ports.state import Record
    from ..ports.retail import RetailErp
    from ..tenant import Tenant, TenantRepository

T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _memory_ledger() -> "Ledger":
    from ..ledger import MemoryLedger

    return MemoryLedger()


@dataclass
class FlowContext:
    """One tenant's view of the world for one piece of work."""

    tenant: "Tenant"
    warehouse: "Warehouse"
    # The Erp port (JST and 旺店通); 旺店通's adapter also serves the RetailErp port (W1, W2:
    # ports/retail.py) for what only it does.
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
    # The document ledger (every business fact, once); in memory unless the Lambda wires S3.
    ledger: "Ledger" = field(default_factory=_memory_ledger)

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
        _queue_retry(ctx, name, payload, trace_key, exc)
        return None


def _queue_retry(ctx: FlowContext, name: str, payload: dict[str, Any], trace_key: str | None, exc: Exception) -> None:
    from ..retry import enqueue_retry  # the envelope models load only when something fails

    envelope = enqueue_retry(ctx.queue, command=name, ent_id=ctx.ent_id, payload=payload, error=exc,
                             trace_key=trace_key, base_delay_seconds=ctx.retry_base_delay_seconds,
                             known_secrets=ctx.tenant.inline_secrets())
    if trace_key:
        ctx.timeline.record(trace_key, ctx.ent_id, "retry.queued",
                            {"command": name, "retry_id": envelope.id, "error": envelope.last_error},
                            level="warning")
    ctx.metric("RetryQueued", 1)


PARKED_KIND = "parked"  # inputs already dead-lettered, so a repeat does not fill the DLQ again
PARKED_MEMORY_DAYS = 14  # SQS keeps a dead letter at most 14 days


def settle(ctx: FlowContext, step: FlowStep, payload: dict[str, Any], *, trace_key: str,
           identity_ignores: tuple[str, ...] = (), reads: Iterable[tuple[str, str]] = (),
           parked_first: bool = True) -> dict[str, Any]:
    """Run ``step`` so that a webhook or a poll may move on: done, queued for retry
    (transient), or parked on the DLQ with the reason (permanent: the store refused, a carrier
    is not mapped), where `o2o dlq list` shows it and `o2o dlq replay` re-runs it after the fix.

    The same input parked before is not parked again (JST re-sends pushes and polls overlap):
    the operator fixes and replays the first. ``identity_ignores`` names payload keys that do
    not make an input different (e.g. whether it came from a push or a poll). ``reads`` names
    the ``(kind, key)`` records the step reads first: they are read with the parked marker, in
    one request.

    ``parked_first=False``: the step runs without the marker read before it, and the marker is
    read only when the step fails for good (still parked once). For a step whose own claim
    refuses a repeat (a store event's effect): its happy path reads nothing, and an input parked
    before is tried again (refused again, or taken if the cause was fixed since) instead of being
    answered from the marker."""
    name = getattr(step, "command_name", None)
    if name is None:
        raise TypeError(f"{step.__name__} is not registered with @flow_command")
    marker = _parked_marker(name, payload, identity_ignores)
    if parked_first:
        ctx.records.prefetch(ctx.ent_id, [(PARKED_KIND, marker), *reads])
        earlier = ctx.records.get(ctx.ent_id, PARKED_KIND, marker)
        if earlier is not None:
            return {"outcome": "dead_lettered_before", "reason": earlier.data.get("reason")}
    try:
        result = attempt(ctx, step, payload, trace_key=trace_key)
    except PermanentError as exc:
        earlier = None if parked_first else ctx.records.get(ctx.ent_id, PARKED_KIND, marker)
        if earlier is not None:
            return {"outcome": "dead_lettered_before", "reason": earlier.data.get("reason")}
        reason = _park(ctx, name, payload, trace_key, exc, marker)
        return {"outcome": "dead_lettered", "reason": reason}
    return result if result is not None else {"outcome": "queued"}


def parked_record(step: FlowStep, payload: dict[str, Any], identity_ignores: tuple[str, ...] = ()) -> tuple[str, str]:
    """The ``(kind, key)`` of the marker ``settle`` reads for this input: to read it ahead, with others."""
    return PARKED_KIND, _parked_marker(step.command_name, payload, identity_ignores)  # type: ignore[attr-defined]


def _parked_marker(name: str, payload: dict[str, Any], identity_ignores: tuple[str, ...] = ()) -> str:
    return f"{name}:{digest({k: v for k, v in payload.items() if k not in identity_ignores})}"


def _park(ctx: FlowContext, name: str, payload: dict[str, Any], trace_key: str, exc: BaseException,
          marker: str) -> str:
    """Dead-letter ``payload`` for command ``name`` with the reason, once (the marker remembers it)."""
    from ..retry import DeadLetter, RetryEnvelope

    reason = redact_text(f"{type(exc).__name__}: {exc}", ctx.tenant.inline_secrets())[:2000]
    try:
        envelope = RetryEnvelope(command=name, ent_id=ctx.ent_id, payload=payload, trace_key=trace_key)
    except ValueError as refused:  # e.g. the record carries a field named like a secret: park what is safe
        envelope = RetryEnvelope(command=name, ent_id=ctx.ent_id, payload={"unsafe_payload_dropped": True},
                                 trace_key=trace_key)
        reason = f"{reason} (its payload was not kept: {str(refused).splitlines()[0][:200]})"
    ctx.queue.dead_letter(DeadLetter(envelope=envelope, reason=reason, error_type=type(exc).__name__))
    ctx.timeline.record(trace_key, ctx.ent_id, "dead_lettered", {"command": name, "reason": reason}, level="error")
    ctx.records.put(ctx.ent_id, PARKED_KIND, marker,
                    {"reason": reason, "trace_key": trace_key, "parked_at": ctx.now().isoformat()},
                    ttl_days=PARKED_MEMORY_DAYS)
    ctx.metric("DeadLettered", 1)
    return reason


# --- polls and scans: a record that fails is set aside, the scan goes on --------------------------


def set_aside(ctx: FlowContext, step: FlowStep, payload: dict[str, Any], *, trace_key: str,
              error: BaseException) -> str:
    """A record of a poll or scan failed while it was handled: put it where it does not block the
    records behind it, and say where. ``step`` is the registered command that handles that one
    record again from ``payload`` (business data of the record, e.g. its JST row).

    - a transient error: queued for the retry worker ("queued");
    - anything else (a permanent refusal, a malformed row, a bug): parked on the DLQ with the
      reason, once per record ("parked"; "parked_before" when an earlier run parked it), where
      `o2o dlq list` shows it and `o2o dlq replay` re-runs ``step`` after the fix.
    The scan then goes on and may move its cursor past the record: it is not lost."""
    name = getattr(step, "command_name", None)
    if name is None:
        raise TypeError(f"{step.__name__} is not registered with @flow_command")
    if isinstance(error, TransientError):
        _queue_retry(ctx, name, payload, trace_key, error)
        ctx.metric("RecordsSetAside", 1)
        return "queued"
    marker = _parked_marker(name, payload)
    if ctx.records.get(ctx.ent_id, PARKED_KIND, marker) is not None:
        return "parked_before"
    _park(ctx, name, payload, trace_key, error, marker)
    ctx.metric("RecordsSetAside", 1)
    return "parked"


R = TypeVar("R")


def each_record(ctx: FlowContext, records: Iterable[R], handle: Callable[[R], str], *, step: FlowStep,
                payload_of: Callable[[R], dict[str, Any]], trace_key_of: Callable[[R], str],
                counts: Counter | None = None, stop: Callable[[], bool] | None = None,
                malformed_step: FlowStep | None = None,
                malformed_payload_of: Callable[[Any], dict[str, Any]] | None = None) -> Counter:
    """Handle every record of a poll's page (or a scan's list) with ``handle(record) -> outcome``;
    a record that raises is ``set_aside`` and the loop goes on with the next one. Returns the
    outcomes counted (``parked``, ``queued``, whatever ``handle`` returned). A ``MalformedRow``
    (a row the connector could not read) is parked without calling ``handle``, for
    ``malformed_step`` (default ``step``) with ``malformed_payload_of(row)`` (default
    ``{"row": row.raw}``): the step that reads the row again, or reads the record afresh by its key,
    when the operator replays it. ``stop()`` is asked
    before each record (e.g. too little time left): then ``stopped_early`` is counted and the
    loop ends.

    Only a failure to set a record aside (the state table or the queues are down) stops the loop:
    then the caller must not move its cursor, and does not, because the exception propagates."""
    from ..ports import MalformedRow

    counts = counts if counts is not None else Counter()
    for record in records:
        if stop is not None and stop():
            counts["stopped_early"] += 1  # the caller keeps its cursor: the next run reads these again
            break
        try:
            if isinstance(record, MalformedRow):
                raise PermanentError(f"a row from {record.source} cannot be read: {record.problem}")
            outcome = handle(record)
        except Exception as exc:  # noqa: BLE001 - one record must not stop the ones behind it
            if isinstance(record, MalformedRow):
                payload = malformed_payload_of(record) if malformed_payload_of else {"row": record.raw}
                outcome = set_aside(ctx, malformed_step or step, payload, trace_key=record.key, error=exc)
            else:
                outcome = set_aside(ctx, step, payload_of(record), trace_key=trace_key_of(record), error=exc)
        counts[outcome] += 1
    return counts


def records_in_pages(ctx: FlowContext, kind: str, *, page_size: int = 100) -> Iterator[Any]:
    """Every record of ``kind`` in key order, read ``page_size`` at a time (``records.list_page``):
    a reader of a kind that grows with the orders (what waits after a sale) holds one page."""
    after = ""
    while True:
        page = ctx.records.list_page(ctx.ent_id, kind, after=after, limit=page_size)
        yield from page
        if len(page) < page_size:
            return
        after = page[-1].key


# --- effects done exactly once ---------------------------------------------------------------

EFFECT_KIND = "effect"

# How long a claim holds. A claim must outlast everything its holder can still do, or a second
# worker takes over while the first is still calling. A Lambda cannot outlive its timeout, so
# the lease is the invocation's remaining time (every HTTP client call runs inside it: the JST
# and 店+ clients' timeouts and retries end before the function's does) plus a margin for
# clocks that differ between containers and for a request still in flight when the holder is
# stopped. Outside Lambda (the CLI, local runs) nothing stops the holder, so it gets the
# longest any Lambda may run.
LEASE_MARGIN_SECONDS = 15
LEASE_WITHOUT_DEADLINE_SECONDS = 900


class EffectInProgress(TransientError):
    """Another worker holds the claim on this effect; try again after its lease."""


class EffectLeaseLost(TransientError):
    """This worker did the effect after its lease ran out and another worker has claimed the
    effect since; that worker's "done" is the one that counts (the downstream business key
    keeps the second call from doubling the effect). The step is retried and then finds it done."""


@dataclass(frozen=True)
class Outcome:
    result: Any
    repeated: bool  # True: done before (or by another worker), nothing here counts as the effect
    # True: this worker called too, after its lease ran out; the result is the other worker's.
    late: bool = False


def lease_seconds_for(ctx: FlowContext) -> float:
    left = ctx.time_left()
    if left == float("inf") or left > LEASE_WITHOUT_DEADLINE_SECONDS:
        left = LEASE_WITHOUT_DEADLINE_SECONDS
    return max(left, 0) + LEASE_MARGIN_SECONDS


def effect_once(ctx: FlowContext, key: str, do: Callable[[], T], *, ttl_days: int | None = 400,
                book: Callable[[T], Any] | None = None,
                closing: Callable[[T], tuple[str, str, dict[str, Any], int | None, int | None] | None] | None = None,
                taken: "Record | None" = None) -> Outcome:
    """Do ``do()`` once per (tenant, key) across every Lambda and every replay.

    See ``once``; the lease is ``lease_seconds_for(ctx)``. ``book(result)``: the effect's
    bookkeeping (its ledger, links, the timeline steps that say it happened), written with the
    "done" in one request; see ``once``. ``taken``: the claim on ``key`` that ``claim_effect_with``
    wrote with an earlier block of this piece of work, handed down by the caller: the effect is done
    under it, nothing is claimed again."""
    return once(ctx.records, ctx.ent_id, key, do, lease_seconds=lease_seconds_for(ctx), now=ctx.now,
                ttl_days=ttl_days, metric=ctx.metric, book=book, taken=taken, closing=closing)


def claim_effect_with(ctx: FlowContext, key: str, *, ttl_days: int | None = 400) -> "Record | None":
    """Inside a joined block (``records.put_joined``'s ``writes``): the claim ``effect_once`` would
    take on ``key`` (a "running" record with the same lease, only if the key is unused), written
    with the block, so the step that does the effect next claims nothing. Once the block is
    written, the caller hands it to that step, for its ``effect_once(..., taken=claim)``; one not
    handed on (the block refused, the step not run) is an ordinary claim: taken over after its
    lease. None when the key is in use (the effect's ``effect_once`` then answers it as usual)."""
    running = {"state": "running",
               "lease_until": (ctx.now() + timedelta(seconds=lease_seconds_for(ctx))).isoformat()}
    claim, _ = ctx.records.put_or_current(ctx.ent_id, EFFECT_KIND, key, running, ttl_days=ttl_days)
    return claim


def give_back_effect_claim(ctx: FlowContext, key: str, claim: "Record | None", *,
                           ttl_days: int | None = 400) -> None:
    """A claim ``claim_effect_with`` wrote on ``key`` (None: none) whose effect this piece of work
    will not do after all: released, as ``once`` releases a claim whose effect failed."""
    if claim is not None and not _release(ctx.records, ctx.ent_id, key, claim.version, "not done", ttl_days):
        ctx.metric("EffectLeaseLost", 1)


def once(records: "RecordRepository", ent_id: str, key: str, do: Callable[[], T], *, lease_seconds: float,
         now: Callable[[], datetime] = _utcnow, ttl_days: int | None = 400,
         metric: Callable[[str, float], None] = lambda name, value=1: None,
         book: Callable[[T], Any] | None = None, taken: "Record | None" = None,
         closing: Callable[[T], tuple[str, str, dict[str, Any], int | None, int | None] | None] | None = None
         ) -> Outcome:
    """``do()`` once per (ent_id, key): the one mechanism behind effect_once and the DLQ replay.

    1. Claim: a conditional write (absent, released, or running past its lease) of a "running"
       record with a lease. Losing the write means another worker claimed it: EffectInProgress.
    2. ``do()``.
    3. Complete: "done" with the result, written only if the record is still this claim's
       version. If it is not (the lease ran out and another worker claimed it), nothing is
       overwritten: a "done" already there is returned as a repeat (``late``), else
       EffectLeaseLost (transient) so the step comes back and finds it done.
    On failure the claim is released the same way, only if it is still this claim's: a release
    never removes another worker's claim or "done" (see ``_release`` for why an old claim can
    never match a newer record's version).
    A repeat gets the stored result without a second effect. Requests: the claim is written
    first, with no read before it (a refused write returns the record stored now, and the
    decision is taken on that), so a first run costs two conditional writes and a repeat one.

    ``do`` must itself be idempotent downstream (an Idempotency-Key, a JST business key):
    a holder that dies between the effect and the "done" write is redone after its lease.

    ``book(result)``, when given, is the effect's bookkeeping (records, links, timeline steps),
    run after ``do()`` by the claim's owner only: its writes go with the "done" in one request
    (``records.put_joined``: all or none), so the first run costs the claim and that one request
    whatever it books, and a crash leaves either all of it or none (then the rerun after the lease
    does the effect again, downstream idempotent, and books it). It must book the same when run
    twice (the store runs it again, one write at a time, when the joined request is refused).

    ``closing(result)``, with ``book``: the document whose change says the effect happened (an
    order now "dispatched"), as ``(kind, key, data, expected_version, ttl_days)``, or None. Its
    conditional put ends the joined block instead of the "done", which goes first with ``book``'s
    writes: one request still, and when the block is written one write at a time (the joined
    request refused) the "done" and the bookkeeping come before the document's change, so a crash
    between them leaves the document as it was and the step's rerun finds the effect done and
    changes it. Whether the document's put was written the caller reads from its records."""
    started = now()
    running = {"state": "running", "lease_until": (started + timedelta(seconds=lease_seconds)).isoformat()}
    # ``taken``: the claim, written earlier with other writes by this piece of work (claim_effect_with).
    claim, existing = (taken, None) if taken is not None else \
        records.put_or_current(ent_id, EFFECT_KIND, key, running, ttl_days=ttl_days)
    if claim is None and existing is not None:
        state = existing.data.get("state")
        if state == "done":
            return Outcome(existing.data.get("result"), True)
        if state == "running":
            until = datetime.fromisoformat(existing.data["lease_until"])
            if until > started:
                raise EffectInProgress(f"{key} is being done by another worker",
                                       retry_after_seconds=int((until - started).total_seconds()) + 1)
        # Released, or its holder's lease ran out: taken over, only if nobody else did meanwhile.
        claim = records.put(ent_id, EFFECT_KIND, key, running, expected_version=existing.version, ttl_days=ttl_days)
    if claim is None:
        raise EffectInProgress(f"{key} was claimed by another worker just now", retry_after_seconds=30)
    try:
        result = do()
        ending = closing(result) if closing is not None and book is not None else None
        if ending is not None:
            # The document's change ends the block, after the "done" (see ``closing`` above).
            answered: list[Any] = [None]

            def done_then_book() -> Any:
                answered[0] = records.put(ent_id, EFFECT_KIND, key, _done(result, now),
                                          expected_version=claim.version, ttl_days=ttl_days)
                return book(result)

            close_kind, close_key, close_data, close_version, close_ttl = ending
            records.put_joined(ent_id, close_kind, close_key, close_data, expected_version=close_version,
                               ttl_days=close_ttl, writes=done_then_book)
            done = answered[0]
        elif book is not None:
            done, _ = records.put_joined(ent_id, EFFECT_KIND, key, _done(result, now), expected_version=claim.version,
                                         ttl_days=ttl_days, writes=lambda: book(result))
    except BaseException as exc:
        if not _release(records, ent_id, key, claim.version, type(exc).__name__, ttl_days):
            metric("EffectLeaseLost", 1)  # another worker took the claim over meanwhile: it is theirs
        raise
    if book is None:
        done = records.put(ent_id, EFFECT_KIND, key, _done(result, now), expected_version=claim.version,
                           ttl_days=ttl_days)
    if done is not None:
        return Outcome(result, False)
    metric("EffectLeaseLost", 1)
    current = records.get(ent_id, EFFECT_KIND, key)  # rare: the lease ran out meanwhile
    if current is not None and current.data.get("state") == "done":
        return Outcome(current.data.get("result"), True, late=True)
    raise EffectLeaseLost(f"{key}: done after this worker's lease ran out ({lease_seconds:.0f} s); another worker "
                          "holds it now and its result will count", retry_after_seconds=30)


def _done(result: Any, now: Callable[[], datetime]) -> dict[str, Any]:
    return {"state": "done", "result": result, "done_at": now().isoformat()}


def _release(records: "RecordRepository", ent_id: str, key: str, version: int, error: str,
             ttl_days: int | None) -> bool:
    """Give up this worker's claim, only if it still is this worker's. A first claim (version 1)
    is deleted: only its own claimer ever deletes a version-1 record, so no live worker can hold
    an older claim that a new record's version 1 would match, and a refused input leaves nothing
    behind. A claim taken over (version 2 and up) is marked released instead, so the versions of
    that record keep growing and a late completion of an older claim can never match them."""
    if version == 1:
        return records.delete(ent_id, EFFECT_KIND, key, expected_version=1)
    return records.put(ent_id, EFFECT_KIND, key, {"state": "released", "error": error}, expected_version=version,
                       ttl_days=ttl_days) is not None


def effect_recorded(ctx: FlowContext, key: str, result: Any, *, ttl_days: int | None = 400) -> Outcome:
    """Record as done, once per (tenant, key), an effect that has already happened: one item of
    a batched call whose answer is in hand (S1's confirmations, 50 outbounds a JST call).

    ``once`` would claim, do nothing, then complete: between its two writes there is nothing
    left to guard, so here the "done" is written at once, conditional on the key being unused
    (one write; a refused write returns the record stored now). A "done" already there is a
    repeat: its result counts, not this one. A live claim of another worker (the one-at-a-time
    path doing the same effect) is EffectInProgress, as in ``once``; a claim released, or past
    its lease, is taken over only if nobody else did meanwhile."""
    done = _done(result, ctx.now)
    written, existing = ctx.records.put_or_current(ctx.ent_id, EFFECT_KIND, key, done, ttl_days=ttl_days)
    if written is not None:
        return Outcome(result, False)
    if existing is not None:
        state = existing.data.get("state")
        if state == "done":
            return Outcome(existing.data.get("result"), True)
        if state == "running":
            until = datetime.fromisoformat(existing.data["lease_until"])
            if until > ctx.now():
                raise EffectInProgress(f"{key} is being done by another worker",
                                       retry_after_seconds=int((until - ctx.now()).total_seconds()) + 1)
        if ctx.records.put(ctx.ent_id, EFFECT_KIND, key, done, expected_version=existing.version,
                           ttl_days=ttl_days) is not None:
            return Outcome(result, False)
    raise EffectInProgress(f"{key} was claimed by another worker just now", retry_after_seconds=30)


def recorded_write(key: str, result: Any, now: Callable[[], datetime], *, ttl_days: int | None = 400) -> Any:
    """``effect_recorded``'s "done" as one write of a transaction (``records.write_together``): written
    only where the key is unused. Refused (a "done" there, another worker's claim), the caller
    records that effect with ``effect_recorded``, which decides on what is stored."""
    from ..ports import TogetherWrite

    return TogetherWrite(EFFECT_KIND, key, _done(result, now), expect_version=True, expected_version=None,
                         ttl_days=ttl_days)


def effect_done(ctx: FlowContext, key: str) -> bool:
    record = ctx.records.get(ctx.ent_id, EFFECT_KIND, key)
    return record is not None and record.data.get("state") == "done"


# --- an effect whose "done" rides in the transaction of the work it guards -----------------------
#
# ``effect_once`` claims before the work and writes "done" after it: two writes around work whose
# own last write is a transaction anyway. Where doing the work twice is harmless downstream (levels
# set absolutely under their versions, a store call under its business key), the claim is not
# needed: the effect's record is read with what the work reads first (one batch; a "done" there
# ends the work, so a repeat costs that read), and the "done" is one more item of the work's own
# transaction, conditional on the record as read. Two workers racing both do the harmless work;
# one "done" is written, the other's transaction is refused and answered as a repeat.

class RidingDone:
    """The "done" of effect ``key`` held for one work (``done_riding``, see above), handed to it as
    an argument.
    ``state``: "unread" (the work read nothing of it yet), "new" (read, not done: the work goes
    on), "repeated" (read done before), "busy" (another worker's live claim: an ``effect_once``
    of the same key), "written" (rode in the work's transaction), "refused" (the transaction was
    refused by another worker's record of the effect)."""

    def __init__(self, ctx: FlowContext, key: str, result: Any, ttl_days: int | None) -> None:
        self.ctx, self.key, self.result, self.ttl_days = ctx, key, result, ttl_days
        self.state = "unread"
        self.stored: "Record | None" = None

    @property
    def wanted(self) -> tuple[str, str]:
        """The effect's record, for the work's first batch read (``records.get_many_of``)."""
        return EFFECT_KIND, self.key

    def read(self, stored: "Record | None", *, marked: bool = False) -> bool:
        """The effect's record as the work's first read found it: True to go on, False when the
        effect is done before, or another worker's claim on it is live (an ``effect_once`` of the
        same key: ``outcome`` is EffectInProgress then, as in ``once``): the work ends there.
        ``marked``: the work's own records carry the effect's ``key`` (a work that marks its
        records instead of writing the "done": see ``answered``), so it is done before too."""
        self.stored = stored
        state = stored.data.get("state") if stored is not None else None
        if state == "done" or marked:
            self.state = "repeated"
            return False
        if state == "running" and datetime.fromisoformat(stored.data["lease_until"]) > self.ctx.now():  # type: ignore[union-attr]
            self.state = "busy"  # ``outcome`` says so after the block: nothing of the work is done here
            return False
        self.state = "new"
        return True

    def write(self) -> Any:
        """The "done" as one write of the work's transaction (``records.write_together``), over
        the record as read (absent, or released / past its lease); None when it may not ride
        (not read, or done with already)."""
        if self.state != "new":
            return None
        from ..ports import TogetherWrite

        return TogetherWrite(EFFECT_KIND, self.key, _done(self.result, self.ctx.now), expect_version=True,
                             expected_version=self.stored.version if self.stored is not None else None,
                             ttl_days=self.ttl_days)

    def answered(self, outcome: "tuple[bool, Record | None] | None") -> None:
        """What the transaction that carried ``write()`` answered for it: None (written), or its
        write's (condition failed, the record stored then). Refused by the effect's own
        condition: another worker recorded it meanwhile. A work that keeps the effect's ``key``
        on its own records instead (each of those the effect concerns, read back by ``read(...,
        marked=True)``) answers None once they are written: the effect needs no record then."""
        if outcome is None:
            self.state = "written"
        elif outcome[0]:
            self.state, self.stored = "refused", outcome[1]

    def outcome(self) -> Outcome:
        """After the block: a repeat, the "done" written with the work, or else (the work wrote no
        transaction of its own: queued, nothing new, refused; or it never read the record) the
        "done" written now, alone (``effect_recorded``, which decides on what is stored)."""
        if self.state == "busy":
            until = datetime.fromisoformat(self.stored.data["lease_until"])  # type: ignore[union-attr]
            raise EffectInProgress(f"{self.key} is being done by another worker",
                                   retry_after_seconds=max(int((until - self.ctx.now()).total_seconds()) + 1, 1))
        if self.state == "repeated":
            done = self.stored is not None and self.stored.data.get("state") == "done"
            return Outcome(self.stored.data.get("result") if done else None, True)  # type: ignore[union-attr]
        if self.state == "written":
            return Outcome(self.result, False)
        if self.state == "refused" and self.stored is not None and self.stored.data.get("state") == "done":
            return Outcome(self.stored.data.get("result"), True)
        return effect_recorded(self.ctx, self.key, self.result, ttl_days=self.ttl_days)


def done_riding(ctx: FlowContext, key: str, result: Any, *, ttl_days: int | None = 400) -> RidingDone:
    """Effect ``key`` to be done once by a work whose transaction its "done" rides in: pass the
    ``RidingDone`` to that work, and call ``outcome()`` after it. ``result``: what the "done" keeps
    (a repeat answers it)."""
    return RidingDone(ctx, key, result, ttl_days)


# --- effects whose claim and "done" live on the document's own record ------------------------------
#
# ``effect_once`` keeps an effect in a record of its own: a claim and a "done" beside the
# document's record the effect changes and the timeline item that tells it, four writes. An
# effect on one document (a parcel shipped, a cancel, a return received) can instead keep its
# claim on that document's record: the claim is one conditional write that returns the record
# (no read first; refused, it returns it too, and a mark of the effect already done refuses it),
# and the effect's "done", the record's change and its timeline step are one more. The
# guarantees are those of ``once``: only the claim's holder completes or releases, its lease
# outlasts anything it can still do, a crash is taken over after the lease and redone under
# the same downstream business key.

CLAIMS = "kit.document_claims"  # ctx.extras: the claims this piece of work holds, by (kind, key)
JOINING = "kit.joining_claims"  # ctx.extras: per thread, the claim whose "done" the others' join
TOGETHER_MAX = 25  # claims whose "done" go in one request (a transaction holds 100 items)
# Timeline steps a document's record keeps, the oldest going first: every write of the record
# bills its size (a write unit per KB), so it keeps a document's few confirmations, not a log.
STEPS_KEPT = 16


class DocumentClaim:
    """A claim on one document's record (``claim_document``), or the refusal of one (``repeated``:
    a mark in ``unless`` says the effect is done). ``data``, ``version`` and ``marks`` are the
    record's as the claim read them (with what this work's held completions add: ``joining``).
    Used as a context manager, a claim still open when the block ends (the work found nothing to
    do, or failed) is released; a nested block leaves that to the outermost."""

    def __init__(self, ctx: FlowContext, kind: str, key: str, owner: str | None, state: Any, *,
                 repeated: bool, ttl_days: int | None) -> None:
        self.ctx, self.kind, self.key, self.owner, self.ttl_days = ctx, kind, key, owner, ttl_days
        self.repeated = repeated
        self.open = owner is not None and not repeated
        self._depth = 0
        # Completions held for the claim that joins them (``joining``): (change, marks, unmark,
        # the timeline entries taken or None, its own step's entry or None, the step when the
        # entries could not be taken).
        self._ops: list[tuple[Any, tuple[str, ...], set[str], list[dict[str, Any]] | None, Any, Any]] = []
        self._joined: list["DocumentClaim"] = []
        self._read(state)

    def _close(self) -> None:
        self.open = False
        held = self.ctx.extras.get(CLAIMS, {})
        if held.get((threading.get_ident(), self.kind, self.key)) is self:
            del held[(threading.get_ident(), self.kind, self.key)]

    def _read(self, state: Any) -> None:
        self._base_data: dict[str, Any] = dict(state.data) if state is not None else {}
        self.version: int = state.version if state is not None else 0
        self._base_marks: frozenset[str] = state.marks if state is not None else frozenset()
        self._base_steps: tuple[dict[str, Any], ...] = state.steps if state is not None else ()
        self._view()

    def _composed(self) -> tuple[dict[str, Any], frozenset[str], tuple[dict[str, Any], ...], bool]:
        """The record as the held completions leave it, over the record as read."""
        data, marks, steps, with_steps = self._base_data, self._base_marks, self._base_steps, False
        for change, add, remove, entries, own, _ in self._ops:
            data = change(json.loads(json.dumps(data))) if change is not None else data
            marks = frozenset((marks | set(add)) - remove)
            if entries is not None and (entries or own):
                steps, with_steps = (steps + tuple(entries) + ((own,) if own else ()))[-STEPS_KEPT:], True
        return data, marks, steps, with_steps

    def _view(self) -> None:
        self.data, self.marks, self.steps, _ = self._composed()

    @property
    def held(self) -> bool:
        """Completed, the write held for the claim that joins it (``joining``)."""
        return bool(self._ops)

    def __enter__(self) -> "DocumentClaim":
        self._depth += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if self._depth == 0 and self.open and not self.held:
            self.release()

    def complete(self, change: Callable[[dict[str, Any]], dict[str, Any]] | None = None, *,
                 marks: Iterable[str] = (), unmark: Iterable[str] = (),
                 step: tuple[Any, ...] | None = None, steps_held: bool = False,
                 book: Callable[[], Any] | None = None) -> bool:
        """The effect is done: the record's ``change`` (applied to the data stored now), ``marks``
        added and ``unmark`` taken away, ``step`` on the document's timeline, and the claim freed,
        in one write, only if this claim still holds. True: this worker's "done" counts; False: it
        called after its lease ran out and another worker's "done" (the first of ``marks``) is
        there (a late repeat). EffectLeaseLost when neither.

        Inside another claim's ``joining`` block the write is held (the claim stays this work's,
        its ``data`` and ``marks`` showing the change) and goes with that claim's own "done", in
        one request; True is answered then (see ``joining`` for a refused joint write).
        ``steps_held``: with no ``step`` of its own, the document's steps this work holds go
        with the write all the same (none left to write when the invocation ends). ``step`` is
        ``(step, detail)`` or ``(step, detail, level)``.

        ``book()``: the effect's bookkeeping on other records (their puts, links), written with the
        "done" in one request (``records.complete(writes=...)``, as ``effect_once``'s ``book``). It
        runs before the "done" either way, so it must book the same when run twice and record no
        timeline step of the document (those go as ``step``, or are recorded before this). A
        completion with ``book`` is not held by a ``joining`` block: it is written at once."""
        if not self.open:
            raise RuntimeError(f"{self.kind} {self.key}: no open claim to complete")
        marks, unmark = tuple(marks), set(unmark)
        take_held = getattr(self.ctx.timeline, "take_held", None)
        held = (take_held(self.key, self.ctx.ent_id) if take_held is not None and (step is not None or steps_held)
                else None)
        level = step[2] if step is not None and len(step) > 2 else "info"
        entry = None if step is None else {"at": self.ctx.now().isoformat(), "step": step[0], "level": level,
                                           "detail": step[1]}
        self._ops.append((change, marks, unmark, held, entry if held is not None else None,
                          step if held is None else None))
        joiner = self.ctx.extras.get(JOINING, {}).get(threading.get_ident())
        if joiner is not None and joiner is not self and book is None:
            self._view()
            if self not in joiner._joined:
                joiner._joined.append(self)
            return True
        joined, self._joined = self._joined, []
        try:
            if joined and book is None and self._write_together(joined):
                return True
        except BaseException:
            self._joined = joined  # written alone when the joining block ends
            self._hold_again()
            raise
        for other in joined:  # refused together (or nothing to join): one by one, as without joining
            other._finish()
        return self._finish(book)

    def write(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """The record's ``change`` written now, the claim kept (for a step that reads the record
        before the claim's "done"): one write, only over the version the claim read
        (TransientError when the record changed meanwhile)."""
        if not self.open or self.held:
            raise RuntimeError(f"{self.kind} {self.key}: no open claim to write with")
        data = change(json.loads(json.dumps(self.data)))
        written = self.ctx.records.replace(self.ctx.ent_id, self.kind, self.key, data, expected_version=self.version,
                                           ttl_days=self.ttl_days)
        if written is None:
            raise TransientError(f"{self.kind} {self.key} changed while it was claimed; try again",
                                 retry_after_seconds=5)
        self._base_data, self.version = data, written.version
        self._view()

    def _write_together(self, joined: list["DocumentClaim"]) -> bool:
        """This claim's "done" with the held ones, in one request: True when written."""
        together = getattr(self.ctx.records, "complete_together", None)
        claims = [*joined, self]
        if together is None or len(claims) > TOGETHER_MAX:
            return False
        writes = []
        for claim in claims:
            data, marks, steps, with_steps = claim._composed()
            writes.append({"kind": claim.kind, "key": claim.key, "owner": claim.owner, "data": data,
                           "expected_version": claim.version, "marks": marks,
                           "steps": steps if with_steps else None, "ttl_days": claim.ttl_days})
        if not together(self.ctx.ent_id, writes):
            return False
        from ..ports import ClaimedRecord

        for claim, write in zip(claims, writes):
            claim._done(ClaimedRecord(write["data"], claim.version + 1, None, None, frozenset(write["marks"]),
                                      write["steps"] if write["steps"] is not None else claim._base_steps))
        return True

    def _done(self, state: Any) -> None:
        unheld = [step for *_, step in self._ops if step is not None]
        self._ops = []
        self._close()
        self._read(state)
        for step in unheld:
            self.ctx.timeline.record(self.key, self.ctx.ent_id, step[0], step[1],
                                     level=step[2] if len(step) > 2 else "info")

    def _finish(self, book: Callable[[], Any] | None = None) -> bool:
        """The held completions written on their own (one conditional write, again over other
        changes of the record meanwhile), with ``book``'s writes joined to the first try."""
        state = None
        for _ in range(8):  # other changes of the record meanwhile (another flow's): applied over them
            joined = {"writes": book} if book is not None else {}
            book = None  # written (or answered by what is stored) with the first try, joined or not
            try:
                data, marks, steps, with_steps = self._composed()
                ok, state = self.ctx.records.complete(self.ctx.ent_id, self.kind, self.key, owner=self.owner,
                                                      data=data, expected_version=self.version, marks=marks,
                                                      steps=steps if with_steps else None, ttl_days=self.ttl_days,
                                                      **joined)
            except BaseException:  # a kill too (in ``book``'s writes): nothing stays held for a next "done"
                self._hold_again()
                raise
            if ok:
                self._done(state)
                return True
            if state is None or state.owner != self.owner:
                break
            self._read(state)
        first = next((add[0] for _, add, *_ in self._ops if add), None)
        self._hold_again()
        self._close()
        self.ctx.metric("EffectLeaseLost", 1)
        if state is not None and first is not None and first in state.marks:
            self._read(state)
            return False
        raise EffectLeaseLost(f"{self.kind} {self.key}: done after this worker's claim ran out; another worker "
                              "holds it now and its result will count", retry_after_seconds=30)

    def _hold_again(self) -> None:
        """What this invocation held for the document, not written with it: written as before."""
        ops, self._ops = self._ops, []
        for _, _, _, entries, _, _ in ops:
            for earlier in entries or ():
                self.ctx.timeline.record(self.key, self.ctx.ent_id, earlier["step"], earlier["detail"],
                                         level=earlier.get("level", "info"))

    @contextlib.contextmanager
    def joining(self) -> Iterator["DocumentClaim"]:
        """While the block runs, the ``complete`` of other claims this work holds (the effects the
        document's news leads to, on their own documents' records) is held and written with this
        claim's own "done", in one request (all or none): the news and what it caused are recorded
        together, or neither is and the document's news is taken again after the lease (each effect
        downstream idempotent under its business key, as after any crash). Should the joint write
        be refused (a claim taken over after its lease), each is written alone, as without
        joining. Held completions this claim does not complete (it is released, or the block
        fails) are written alone when the block ends."""
        scopes: dict[int, DocumentClaim] = self.ctx.extras.setdefault(JOINING, {})
        me = threading.get_ident()
        if me in scopes:  # an outer block joins
            yield self
            return
        scopes[me] = self
        try:
            yield self
        finally:
            del scopes[me]
            joined, self._joined = self._joined, []
            for other in joined:
                if other.open and other.held:
                    other._finish()

    def release(self, *, marks: Iterable[str] = ()) -> None:
        """Give the claim up (with ``marks`` added, e.g. an input parked), only if it is still this worker's.
        A claim whose completion is held keeps it, with ``marks`` added to it."""
        if not self.open:
            return
        if self.held:
            self._ops.append((None, tuple(marks), set(), None, None, None))
            self._view()
            return
        self._close()
        added = self.marks | set(marks)
        if not self.ctx.records.release(self.ctx.ent_id, self.kind, self.key, owner=self.owner,
                                        marks=added if added != self.marks else None,
                                        created=self.version == 0 and not self.data and not self.marks):
            self.ctx.metric("EffectLeaseLost", 1)  # another worker took it over meanwhile: it is theirs
        else:
            self._base_marks = added
            self._view()


def claim_document(ctx: FlowContext, kind: str, key: str, *, unless: Iterable[str] = (),
                   ttl_days: int | None = 400) -> DocumentClaim:
    """Claim document ``key``'s record of ``kind`` for an effect on it (one conditional write that
    returns the record), unless it bears a mark of ``unless`` (then ``repeated``, nothing held).
    A claim this piece of work holds already is returned as it is (``repeated`` decided anew on
    its marks), so a push may claim before it re-reads the warehouse and the step it runs finds
    the claim held. EffectInProgress while another worker's lease runs."""
    import uuid

    unless = tuple(unless)
    # Per thread as well: a piece of work runs in one, and a context shared by threads (a test's
    # workers) must not hand one worker's claim to another.
    held: dict[tuple[int, str, str], DocumentClaim] = ctx.extras.setdefault(CLAIMS, {})
    claim = held.get((threading.get_ident(), kind, key))
    if claim is not None and claim.open:
        claim.repeated = any(mark in claim.marks for mark in unless)
        return claim
    started = ctx.now()
    owner = uuid.uuid4().hex
    until = (started + timedelta(seconds=lease_seconds_for(ctx))).timestamp()
    for _ in range(3):
        taken, state = ctx.records.claim(ctx.ent_id, kind, key, owner=owner, until=until, now=started.timestamp(),
                                         unless=unless, ttl_days=ttl_days)
        if taken:
            claim = DocumentClaim(ctx, kind, key, owner, state, repeated=False, ttl_days=ttl_days)
            held[(threading.get_ident(), kind, key)] = claim
            return claim
        if state is not None and any(mark in state.marks for mark in unless):
            return DocumentClaim(ctx, kind, key, None, state, repeated=True, ttl_days=ttl_days)
        if state is not None and state.owner is not None and state.until is not None \
                and state.until > started.timestamp():
            raise EffectInProgress(f"{kind} {key} is being changed by another worker",
                                   retry_after_seconds=int(state.until - started.timestamp()) + 1)
    raise EffectInProgress(f"{kind} {key} was claimed by another worker just now", retry_after_seconds=30)


def settle_document(ctx: FlowContext, step: FlowStep, payload: dict[str, Any], *, trace_key: str,
                    document: tuple[str, str], unless: Iterable[str] = (), repeated: Any = None,
                    identity_ignores: tuple[str, ...] = ()) -> dict[str, Any]:
    """``settle`` for a step whose effect is claimed on ``document``'s record (``claim_document``):
    the claim is taken first, one request that also says whether the effect is done (a mark of
    ``unless``: then ``repeated`` is the answer, nothing else is asked) and whether this input was
    parked before (the parked mark on the record), so no parked marker is read first. A failure
    parks the input once: the marker record as ``settle`` writes it, and its mark on the record."""
    name = getattr(step, "command_name", None)
    if name is None:
        raise TypeError(f"{step.__name__} is not registered with @flow_command")
    marker = _parked_marker(name, payload, identity_ignores)
    try:
        claim = claim_document(ctx, *document, unless=unless)
    except TransientError as exc:
        _queue_retry(ctx, name, payload, trace_key, exc)
        return {"outcome": "queued"}
    if claim.repeated:
        return repeated if repeated is not None else {"outcome": "repeated"}
    with claim:
        if f"parked:{marker}" in claim.marks:
            earlier = ctx.records.get(ctx.ent_id, PARKED_KIND, marker)
            return {"outcome": "dead_lettered_before", "reason": earlier.data.get("reason") if earlier else None}
        try:
            result = attempt(ctx, step, payload, trace_key=trace_key)
        except PermanentError as exc:
            claim.release(marks=(f"parked:{marker}",))
            reason = _park_once(ctx, name, payload, trace_key, exc, marker)
            return {"outcome": "dead_lettered", "reason": reason}
    return result if result is not None else {"outcome": "queued"}


def _park_once(ctx: FlowContext, name: str, payload: dict[str, Any], trace_key: str, exc: BaseException,
               marker: str) -> str:
    """``_park``, unless a marker says it was parked before (by ``settle``, before the record bore marks)."""
    earlier = ctx.records.get(ctx.ent_id, PARKED_KIND, marker)
    if earlier is not None:
        return str(earlier.data.get("reason"))
    return _park(ctx, name, payload, trace_key, exc, marker)


# --- scheduled work: one unit per tenant -----------------------------------------------------------
#
# A schedule fires its function once (EventBridge Scheduler, asynchronously, with no Lambda
# retries: the next firing is the retry). That invocation only fans out: one message per tenant
# on the function's own FIFO queue, in a fair order, each tenant in a message group of its own.
# The same function consumes the queue, one tenant per invocation, so each tenant has the
# function's whole timeout; a tenant that fails is logged and counted (metric
# ScheduledTenantFailed, alarmed) but its message is not failed, so it is not re-run; a run that
# crashes its invocation holds only its own tenant's group. How many tenants of one ERP app run
# at once is bounded by slots in the state table (flows/app_slots.py), not by the queue.

BRIDGE = "-"  # owner of bridge-wide cursors (not a tenant)
# A queued tenant run is started only with this much of an invocation left (a batch of more than
# one); the rest are handed back.
RUN_TIME_RESERVE_SECONDS = 10.0


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


def fair_order(ent_ids: list[str], turn: int) -> list[str]:
    """The tenants in a rotated order: each run starts one further, so no tenant is always last."""
    ordered = sorted(ent_ids)
    if not ordered:
        return ordered
    start = turn % len(ordered)
    return ordered[start:] + ordered[:start]


def next_turn(job: str, cursors: "CursorRepository") -> int:
    """This run's turn number for ``job`` (bridge-wide; a lost race only repeats a rotation)."""
    name = f"schedule.{job}.turn"
    current = cursors.get(BRIDGE, name)
    turn = int(current.value) + 1 if current else 0
    cursors.advance(BRIDGE, name, str(turn), current.version if current else None)
    return turn


def run_tenant(job: str, flow: Callable[[FlowContext], dict[str, Any] | None], tenant: "Tenant", *,
               build: Callable[["Tenant"], FlowContext] | None = None) -> dict[str, Any]:
    """One tenant's scheduled work on its own: its summary (``ok``, the flow's counts, seconds),
    or ``ok: False`` and the error (redacted). Logged as one structured line, counted on failure."""
    from ..observability import logger, metrics

    started = time.monotonic()
    try:
        if build is None:
            raise BridgeError(f"{job}: no context factory given (handlers pass wiring.context_for)")
        result = flow(build(tenant)) or {}
        summary = {"ok": True, **result, "seconds": round(time.monotonic() - started, 3)}
    except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the others
        message = f"{type(exc).__name__}: {redact_text(str(exc), tenant.inline_secrets())}"
        summary = {"ok": False, "error": message, "seconds": round(time.monotonic() - started, 3)}
        metrics.add_metric(name="ScheduledTenantFailed", unit="Count", value=1)
    (logger.info if summary["ok"] else logger.error)(
        f"{job}: tenant {tenant.ent_id} {'done' if summary['ok'] else 'failed'}",
        extra={"job": job, "ent_id": tenant.ent_id, "ok": summary["ok"], "summary": summary})
    return summary


def fan_out(job: str, run_id: str, *, tenants: "TenantRepository", cursors: "CursorRepository", queue: Any,
            erp: str | None = None) -> dict[str, Any]:
    """Queue one run per tenant of ``job`` in this run's fair order (with ``erp``, only that
    ERP's tenants: a JST poll skips 旺店通 tenants)."""
    turn = next_turn(job, cursors)
    runs: list[tuple[str, str]] = []
    for ent_id in fair_order(tenants.list_ids(), turn):
        tenant = tenants.get(ent_id)
        if tenant is None or not _of_erp(tenant, erp):
            continue
        # Its own FIFO group: the tenant's runs never overlap, and a run that crashed its
        # invocation (its message held until the visibility timeout) holds up only this tenant.
        runs.append((ent_id, f"tenant:{ent_id}"))
    queue.send(job, run_id, runs)
    from ..observability import logger

    logger.info(f"{job}: {len(runs)} tenant run(s) queued", extra={"job": job, "run_id": run_id, "turn": turn,
                                                                   "order": [e for e, _ in runs]})
    return {"job": job, "run_id": run_id, "queued": [e for e, _ in runs]}


def _of_erp(tenant: "Tenant", erp: str | None) -> bool:
    return erp is None or getattr(tenant, "erp", "jushuitan") == erp


def _run_id(event: dict[str, Any], now: datetime) -> str:
    scheduled = event.get("scheduled_time") if isinstance(event, dict) else None
    if isinstance(scheduled, str) and scheduled and not scheduled.startswith("<"):
        return scheduled  # EventBridge Scheduler's <aws.scheduler.scheduled-time>: the same on its retries
    return now.strftime("%Y-%m-%dT%H:%M:00Z")


def scheduled_job(job: str, flow: Callable[[FlowContext], dict[str, Any] | None], event: Any, *,
                  tenants: "TenantRepository | None" = None, cursors: "CursorRepository | None" = None,
                  queue: Any = None, build: Callable[["Tenant"], FlowContext] | None = None,
                  time_left: Callable[[], float] | None = None, erp: str | None = None,
                  records: "RecordRepository | None" = None, erp_app_slots: bool = True) -> dict[str, Any]:
    """The handler of a scheduled function, for the three events it gets:

    - its schedule's (``{"job", "scheduled_time"}``): fan out one run per tenant (``fan_out``);
    - its tenant-runs queue's (SQS records): run each tenant (``run_tenant``) in a slot of its ERP
      app (flows/app_slots.py); a failed tenant is not a failed message (that would re-run it);
      only a message that could not be handled at all (its tenant could not be read) is;
    - ``{"ent_id": X}`` (`o2o invoke ... --event`, an operator): run that tenant now; fails if it failed.

    With ``erp``, only the tenants of that ERP take part. ``build`` makes whatever the flow takes
    from the tenant (``wiring.context_for``: a FlowContext). ``erp_app_slots=False`` for a job
    that calls no ERP (ledger compaction): it has no ERP app's rate limit to share, so its runs
    take no slot (flows/app_slots.py) and need no state records for one."""
    from .. import runtime

    tenants = tenants if tenants is not None else runtime.state_store()
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        if records is None and erp_app_slots:
            records = runtime.records()
        return _run_queued(job, flow, event["Records"], tenants=tenants, build=build,
                           time_left=time_left or runtime.seconds_left, state=records if erp_app_slots else None)
    if isinstance(event, dict) and event.get("ent_id"):
        tenant = tenants.get(str(event["ent_id"]))
        if tenant is None:
            raise BridgeError(f"{job}: no tenant {event['ent_id']!r} is registered")
        summary = run_tenant(job, flow, tenant, build=build)
        if not summary["ok"]:
            raise TenantFailures(f"{job} failed for tenant(s) {tenant.ent_id}: {summary['error']}")
        return {"job": job, "tenants": {tenant.ent_id: summary}}
    if cursors is None:
        cursors = runtime.cursors()
    return fan_out(job, _run_id(event if isinstance(event, dict) else {}, _utcnow()), tenants=tenants,
                   cursors=cursors, queue=queue if queue is not None else runtime.tenant_runs(job), erp=erp)



def _run_queued(job: str, flow: Callable[[FlowContext], dict[str, Any] | None], messages: list[dict[str, Any]], *,
                tenants: "TenantRepository", build: Callable[["Tenant"], FlowContext] | None,
                time_left: Callable[[], float], state: "RecordRepository | None") -> dict[str, Any]:
    """Each queued tenant run in turn; with ``state`` (the ERP-app slots' records), each in a slot."""
    from ..observability import logger, metrics
    from . import app_slots

    summaries: dict[str, Any] = {}
    failed: list[dict[str, str]] = []
    handed_back = False
    for record in messages:
        if handed_back or (summaries and time_left() < RUN_TIME_RESERVE_SECONDS):
            # Each tenant has its own group, but the runs of one batch keep their order anyway.
            handed_back = True
            failed.append({"itemIdentifier": record.get("messageId", "")})
            continue
        try:
            body = json.loads(record.get("body") or "{}")
            ent_id = str(body["ent_id"])
        except (ValueError, KeyError, TypeError):
            logger.error(f"{job}: unreadable tenant-run message dropped", extra={"job": job})
            continue
        try:
            tenant = tenants.get(ent_id)
        except Exception as exc:  # noqa: BLE001 - this message only: its tenant could not be read
            # Reported failed, so it reaches TenantRunsDLQ (alarmed); it holds only its own group.
            logger.error(f"{job}: tenant {ent_id} could not be read: {type(exc).__name__}",
                         extra={"job": job, "ent_id": ent_id, "ok": False})
            failed.append({"itemIdentifier": record.get("messageId", "")})
            continue
        if tenant is None:
            logger.warning(f"{job}: tenant {ent_id} is no longer registered", extra={"job": job, "ent_id": ent_id})
            continue
        if state is None:
            summaries[ent_id] = run_tenant(job, flow, tenant, build=build)
            continue
        slot = app_slots.take(state, job, tenant, time_left=time_left, reserve_seconds=RUN_TIME_RESERVE_SECONDS)
        if slot is None:
            summaries[ent_id] = {"ok": False, "started": False,
                                 "error": f"not started: {app_slots.SLOTS_PER_ERP_APP} runs of its ERP app were "
                                          "still running; the next firing runs it"}
            metrics.add_metric(name="ScheduledTenantNotStarted", unit="Count", value=1)
            logger.warning(f"{job}: tenant {ent_id} not started", extra={"job": job, "ent_id": ent_id, "ok": False,
                                                                          "summary": summaries[ent_id]})
            continue
        try:
            summaries[ent_id] = run_tenant(job, flow, tenant, build=build)
        finally:
            app_slots.give_back(state, slot)
    return {"batchItemFailures": failed, "job": job, "tenants": summaries}


def run_for_tenants(job: str, flow: Callable[[FlowContext], dict[str, Any] | None], *, erp: str | None = None,
                    tenants: "TenantRepository | None" = None,
                    build: Callable[["Tenant"], FlowContext] | None = None, turn: int = 0) -> dict[str, Any]:
    """Every tenant's run of ``job`` in this process, one after another in the fair order of
    ``turn`` (the CLI and tests; Lambdas fan out). Raises TenantFailures at the end if any failed,
    after every tenant had its turn."""
    from .. import runtime

    tenants = tenants if tenants is not None else runtime.state_store()
    summary: dict[str, Any] = {"job": job, "tenants": {}}
    for ent_id in fair_order(tenants.list_ids(), turn):
        tenant = tenants.get(ent_id)
        if tenant is not None and _of_erp(tenant, erp):
            summary["tenants"][ent_id] = run_tenant(job, flow, tenant, build=build)
    failed = [e for e, s in summary["tenants"].items() if not s["ok"]]
    if failed:
        raise TenantFailures(f"{job} failed for tenant(s) {', '.join(failed)}: "
                             + "; ".join(summary["tenants"][e]["error"] for e in failed))
    return summary
