"""When a public edge answers a caller who cannot prove who they are: at one deadline.

The JST and 奇门 edges give an unknown tenant, a wrong credential and a foreign storageCode
one answer, and do the same work for each: a stand-in tenant with random credentials, tenant
lookups cached whether they find a tenant or not, and, where tenants' secrets are Secrets
Manager references (a deployed stack: ``O2O_STAND_IN_SECRET_READS``), one read under an
unknown entId's own secret path per cache period (``read_like_a_tenant``), as a tenant's
references cost.

What still differs (a tenant whose two secrets are two reads, a cold connection) is hidden by
the time: every refusal is answered at the same deadline, ``O2O_REFUSAL_DEADLINE_MS`` (default
250 ms; 0 switches it off) after the request began, whatever work it took. The request begins
when API Gateway received it (the event's ``requestContext.timeEpoch``) if the function's clock
agrees it was a moment ago, else when the handler was entered; the handler's outermost wrapper
(outermost.py) marks it. A refusal whose work outlasts the deadline cannot be answered earlier
than its work: it is answered when done and logged ("refusal past its deadline", with how late)
so the deadline can be raised. Accepted requests are never delayed. ``bench/edge_timing.py``
prints the times and the AWS calls per kind of refusal, with and without the deadline.

A refusal that waits holds its Lambda for the wait: at most the deadline per refusal, billed as
duration (docs/security.md §1 bounds the cost).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .ports import SecretResolver

DEFAULT_DEADLINE_MS = 250
MAX_DEADLINE_MS = 5000  # a refusal holds its function this long: keep it well under the timeout
DEADLINE_VARIABLE = "O2O_REFUSAL_DEADLINE_MS"


def refusal_deadline_seconds() -> float:
    """The deadline from ``O2O_REFUSAL_DEADLINE_MS`` (milliseconds after the request began)."""
    text = os.environ.get(DEADLINE_VARIABLE, "").strip()
    if not text:
        return DEFAULT_DEADLINE_MS / 1000
    if not text.isdigit() or int(text) > MAX_DEADLINE_MS:
        raise ConfigurationError(f"{DEADLINE_VARIABLE} must be a whole number of milliseconds from 0 to "
                                 f"{MAX_DEADLINE_MS}, got {text[:20]!r}")
    return int(text) / 1000


# The clocks and the wait, as module names so a test can watch the wait without waiting.
_clock: Callable[[], float] = time.monotonic
_wall: Callable[[], float] = time.time
_sleep: Callable[[float], None] = time.sleep

# When the current request began (on ``_clock``); None outside an invocation. A context
# variable: the local stack serves requests on threads of one process.
_request_began: ContextVar[float | None] = ContextVar("o2o_request_began", default=None)


def request_began(event: Any) -> None:
    """Mark the start of a request (the outermost wrapper, on entering the handler).

    API Gateway's ``requestContext.timeEpoch`` (ms) is when the caller's request arrived; the
    time between it and now (a cold start, the gateway) is counted when it is between 0 and the
    largest deadline, so a refusal from a cold container is answered at the same deadline as a
    warm one's when its start fits. Anything else (no such field, a clock that disagrees, a
    replayed sample event) counts from now."""
    now = _clock()
    already = 0.0
    epoch_ms = ((event or {}).get("requestContext") or {}).get("timeEpoch") if isinstance(event, dict) else None
    if isinstance(epoch_ms, (int, float)) and not isinstance(epoch_ms, bool):
        elapsed = _wall() - epoch_ms / 1000
        if 0 <= elapsed <= MAX_DEADLINE_MS / 1000:
            already = elapsed
    _request_began.set(now - already)


def request_ended() -> None:
    _request_began.set(None)


@contextmanager
def refusals_answered_at_deadline(refused: type[BaseException] | tuple[type[BaseException], ...], *,
                                  seconds: float | None = None) -> Iterator[None]:
    """Run the authentication steps; if they raise ``refused``, wait until the deadline
    (``seconds``, else ``refusal_deadline_seconds()``) after the request began (outside an
    invocation: after this block began) before the refusal goes on to be answered."""
    began = _request_began.get()
    if began is None:
        began = _clock()
    try:
        yield
    except refused:
        deadline = refusal_deadline_seconds() if seconds is None else seconds
        remaining = deadline - (_clock() - began)
        if remaining > 0:
            _sleep(remaining)
        elif deadline > 0:
            from .observability import logger

            logger.warning("refusal past its deadline: its time shows; raise O2O_REFUSAL_DEADLINE_MS if this repeats",
                           extra={"late_ms": round(-remaining * 1000), "deadline_ms": round(deadline * 1000)})
        raise


# entId -> when its stand-in read was made (bounded like the tenant cache).
_STAND_IN_READS: dict[str, float] = {}
STAND_IN_READ_SECONDS = 300  # the Secrets Manager resolver's cache period
STAND_IN_ENTRIES = 4096


def read_like_a_tenant(ent_id: str, resolver: "SecretResolver") -> None:
    """For an entId no tenant has (or a tenant without the section asked for): the Secrets
    Manager read a tenant's reference costs, under the entId's own path, once per cache period.
    The secret does not exist; whatever comes back is dropped and never changes the answer."""
    if os.environ.get("O2O_STAND_IN_SECRET_READS", "").lower() not in {"1", "true", "yes"}:
        return  # tenants here keep their secrets inline (local stack, tests): nothing to match
    from .tenant import tenant_secret_prefix

    now = _clock()
    made = _STAND_IN_READS.get(ent_id)
    if made is not None and now - made < STAND_IN_READ_SECONDS:
        return
    _STAND_IN_READS.pop(ent_id, None)
    while len(_STAND_IN_READS) >= STAND_IN_ENTRIES:
        del _STAND_IN_READS[next(iter(_STAND_IN_READS))]
    _STAND_IN_READS[ent_id] = now
    try:
        resolver.resolve(f"secretsmanager:{tenant_secret_prefix()}tenants/{ent_id}/stand-in")
    except Exception:  # noqa: BLE001 - not found is the expected outcome; no outcome may show
        pass
