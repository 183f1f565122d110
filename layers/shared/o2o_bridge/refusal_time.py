"""How long a public edge takes to refuse a caller who cannot prove who they are.

The JST and 奇门 edges give an unknown tenant, a wrong credential and a foreign storageCode
one answer, and do the same work for each: a stand-in tenant with random credentials, tenant
lookups cached whether they find a tenant or not, and, where tenants' secrets are Secrets
Manager references (a deployed stack: ``O2O_STAND_IN_SECRET_READS``), one read under an
unknown entId's own secret path per cache period (``read_like_a_tenant``), as a tenant's
references cost. On top, a refusal leaves no sooner than a floor after authentication began
(``O2O_REFUSAL_MIN_MS``, default 250 ms; 0 switches it off), so the differences that remain
(a tenant with two secrets reads twice) are hidden while the work fits under the floor.
Accepted requests are never delayed. ``bench/edge_timing.py`` prints the times and the AWS
calls per kind of refusal, with and without the floor.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .ports import SecretResolver

DEFAULT_MIN_MS = 250
MAX_MIN_MS = 5000  # a refusal holds its function this long: keep it well under the timeout


def refusal_floor_seconds() -> float:
    """The floor from ``O2O_REFUSAL_MIN_MS`` (milliseconds)."""
    text = os.environ.get("O2O_REFUSAL_MIN_MS", "").strip()
    if not text:
        return DEFAULT_MIN_MS / 1000
    if not text.isdigit() or int(text) > MAX_MIN_MS:
        raise ConfigurationError(f"O2O_REFUSAL_MIN_MS must be a whole number of milliseconds from 0 to {MAX_MIN_MS}, "
                                 f"got {text[:20]!r}")
    return int(text) / 1000


# The clock and the wait, as module names so a test can watch the wait without waiting.
_clock: Callable[[], float] = time.monotonic
_sleep: Callable[[float], None] = time.sleep


@contextmanager
def refusals_take_at_least(refused: type[BaseException] | tuple[type[BaseException], ...], *,
                           seconds: float | None = None) -> Iterator[None]:
    """Run the authentication steps; if they raise ``refused``, wait out the rest of the floor
    (``seconds``, else ``refusal_floor_seconds()``) before the refusal goes on to be answered."""
    started = _clock()
    try:
        yield
    except refused:
        floor = refusal_floor_seconds() if seconds is None else seconds
        remaining = floor - (_clock() - started)
        if remaining > 0:
            _sleep(remaining)
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
