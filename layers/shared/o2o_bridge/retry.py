"""Retry envelopes and the retry flow.

A downstream call that fails transiently becomes a ``RetryEnvelope`` on the retry
queue; ``retry_worker`` runs it again with exponential backoff and counts attempts.
Permanent failures, exhausted attempts and unknown commands become a ``DeadLetter`` on
the DLQ, carrying the reason, so `o2o dlq list` can say why and `o2o dlq replay` can
re-drive it. Envelopes carry ids and business data only: never a secret.
"""


import random
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import PermanentError, TransientError
from .ports import CommandQueue, RecordRepository, Timeline
from .redaction import redact_text, secret_keys_in
# The registry lives in a module without pydantic (wiring.py builds it from the flows' steps).
from .retry_commands import CommandRegistry
from .tenant import Tenant, TenantRepository

SQS_MAX_DELAY_SECONDS = 900
# A payload may name, under this key, the records ``[[kind, key], ...]`` its command reads first
# (a queued stock flush: its marker and levels, stock_sync._queue_flush): a worker without the
# tenant cached reads them with the tenant in one request (TenantRepository.get_with_records) and
# the command's RecordRepository answers them from there (remember_read).
READ_AHEAD = "reads"
READ_AHEAD_MAX = 99  # with the tenant's item: one BatchGetItem (the rest the command reads itself)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class RetryEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    command: str = Field(min_length=1)
    ent_id: str | None = None
    payload: dict[str, Any] = {}
    trace_key: str | None = None
    attempts: int = Field(default=0, ge=0, description="failed attempts so far")
    first_failed_at: datetime | None = None
    last_error: str | None = None
    replays: int = 0

    @field_validator("payload")
    @classmethod
    def _no_secrets(cls, payload: dict[str, Any]) -> dict[str, Any]:
        suspicious = secret_keys_in(payload)
        if suspicious:
            raise ValueError(
                "a retry payload must not carry secrets (the worker loads them from the tenant); "
                f"remove: {', '.join(suspicious)}"
            )
        return payload

    def failed(self, error: str) -> "RetryEnvelope":
        return self.model_copy(
            update={
                "attempts": self.attempts + 1,
                "first_failed_at": self.first_failed_at or _now(),
                "last_error": error,
            }
        )

    def replayed(self) -> "RetryEnvelope":
        return self.model_copy(update={"attempts": 0, "replays": self.replays + 1})


class DeadLetter(BaseModel):
    envelope: RetryEnvelope | None
    reason: str
    # Only for a message that was not a readable envelope (kept, redacted, for inspection).
    raw_body: str | None = None
    error_type: str
    dead_lettered_at: datetime = Field(default_factory=_now)


class CommandContext(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    envelope: RetryEnvelope
    tenant: Tenant | None
    # The records read with the tenant (READ_AHEAD): what was asked for, and what was found.
    read_ahead: tuple[list[tuple[str, str]], dict[tuple[str, str], Any]] | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return self.envelope.payload


def _read_ahead(envelope: RetryEnvelope) -> list[tuple[str, str]]:
    """The records the envelope's payload names under READ_AHEAD (what is not a pair of texts is
    passed over: the command reads what it needs anyway)."""
    named = envelope.payload.get(READ_AHEAD)
    if not isinstance(named, list):
        return []
    wanted = [(pair[0], pair[1]) for pair in named
              if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)]
    return list(dict.fromkeys(wanted))[:READ_AHEAD_MAX]


def backoff_seconds(attempts: int, base: int, rand: Callable[[], float] = random.random) -> int:
    """Exponential backoff with jitter (50-100 % of base * 2^(attempts-1)), capped at SQS's 900 s."""
    ceiling = min(SQS_MAX_DELAY_SECONDS, base * 2 ** max(attempts - 1, 0))
    return max(0, min(SQS_MAX_DELAY_SECONDS, int(ceiling * (0.5 + rand() / 2))))


CHAIN_KIND = "retry.next"  # one per (envelope, replay, attempt) whose next attempt was queued
CHAIN_MEMORY_DAYS = 15  # longer than any retry chain runs (attempts x the longest SQS delay)


class RetryRunner:
    """The retry flow: run one envelope's command and decide what happens on failure."""

    def __init__(
        self,
        registry: CommandRegistry,
        queue: CommandQueue,
        tenants: TenantRepository,
        timeline: Timeline,
        *,
        max_attempts: int,
        base_delay_seconds: int,
        no_delay: bool = False,
        rand: Callable[[], float] = random.random,
        records: "RecordRepository | None" = None,
    ) -> None:
        self.registry = registry
        self.records = records
        self.queue = queue
        self.tenants = tenants
        self.timeline = timeline
        self.max_attempts = max_attempts
        self.base_delay_seconds = base_delay_seconds
        self.no_delay = no_delay
        self.rand = rand

    def run(self, envelope: RetryEnvelope) -> str:
        """Returns what happened: ``done``, ``retrying`` or ``dead-lettered``."""
        command = self.registry.get(envelope.command)
        if command is None:
            return self._dead_letter(
                envelope, f"no flow handles retry command {envelope.command!r} (not implemented yet?)", "UnknownCommand"
            )
        tenant = None
        read_ahead = None
        if envelope.ent_id is not None:
            wanted = _read_ahead(envelope)
            if wanted:
                tenant, found = self.tenants.get_with_records(envelope.ent_id, wanted)
                read_ahead = (wanted, found) if found is not None and tenant is not None else None
            else:
                tenant = self.tenants.get(envelope.ent_id)
            if tenant is None:
                return self._dead_letter(envelope, f"tenant {envelope.ent_id!r} is not registered", "UnknownTenant")
        secrets = tenant.inline_secrets() if tenant else []
        try:
            command(CommandContext(envelope=envelope, tenant=tenant, read_ahead=read_ahead))
        except PermanentError as exc:
            return self._dead_letter(envelope, redact_text(str(exc), secrets), type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - transient and unexpected errors are retried, then dead-lettered
            error = f"{type(exc).__name__}: {redact_text(str(exc), secrets)}"
            failed = envelope.failed(error)
            if failed.attempts >= self.max_attempts:
                return self._dead_letter(failed, f"gave up after {failed.attempts} attempts; last error: {error}", type(exc).__name__)
            delay = 0 if self.no_delay else backoff_seconds(failed.attempts, self.base_delay_seconds, self.rand)
            if isinstance(exc, TransientError) and exc.retry_after_seconds and not self.no_delay:
                delay = max(delay, min(SQS_MAX_DELAY_SECONDS, int(exc.retry_after_seconds)))
            if not self._first_to_schedule(failed):
                return "retrying"  # this very attempt ran before and queued its next one: no second chain
            self.queue.enqueue(failed, delay)
            self._record(failed, "retry.scheduled", {"attempt": failed.attempts, "delay_seconds": delay, "error": error}, "warning")
            return "retrying"
        # Only a retry's success is a step of its own: work queued to run here (a stock flush, a
        # nightly chunk) that succeeds at its first run has no earlier failure to close, and its
        # flow records what it did; a "retry.succeeded" there would tell of a retry that never was.
        if envelope.attempts or envelope.replays:
            self._record(envelope, "retry.succeeded",
                         {"attempts_before": envelope.attempts, **({"replays": envelope.replays} if envelope.replays else {})})
        return "done"

    def _first_to_schedule(self, failed: RetryEnvelope) -> bool:
        """Whether no delivery of this attempt has queued the next one yet. SQS delivers a
        message again when the invocation that held it ended without an answer (a timeout
        mid-batch): without this, both deliveries would queue a next attempt and the envelope's
        retries would run as two chains from then on. One conditional write per failure."""
        if self.records is None:
            return True
        key = f"{failed.id}:{failed.replays}:{failed.attempts}"
        return self.records.put(failed.ent_id or "-", CHAIN_KIND, key, {"command": failed.command},
                                ttl_days=CHAIN_MEMORY_DAYS) is not None

    def _dead_letter(self, envelope: RetryEnvelope, reason: str, error_type: str) -> str:
        self.queue.dead_letter(DeadLetter(envelope=envelope, reason=reason, error_type=error_type))
        self._record(envelope, "retry.dead_lettered", {"reason": reason}, "error")
        return "dead-lettered"

    def _record(self, envelope: RetryEnvelope, step: str, detail: dict[str, Any], level: str = "info") -> None:
        if envelope.trace_key:
            self.timeline.record(
                envelope.trace_key, envelope.ent_id or "-", step, {"command": envelope.command, **detail}, level=level
            )


def enqueue_retry(
    queue: CommandQueue,
    *,
    command: str,
    ent_id: str | None,
    payload: dict[str, Any],
    error: Exception,
    trace_key: str | None = None,
    base_delay_seconds: int = 30,
    known_secrets: list[str] | None = None,
) -> RetryEnvelope:
    """A flow's first attempt failed transiently: queue it for the retry worker."""
    envelope = RetryEnvelope(command=command, ent_id=ent_id, payload=payload, trace_key=trace_key).failed(
        f"{type(error).__name__}: {redact_text(str(error), known_secrets or [])}"
    )
    queue.enqueue(envelope, backoff_seconds(1, base_delay_seconds))
    return envelope
