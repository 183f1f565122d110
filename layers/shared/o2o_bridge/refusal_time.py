"""How long a public edge takes to refuse a caller who cannot prove who they are.

The JST and 奇门 edges give an unknown tenant, a wrong credential and a foreign storageCode
one answer, and do the same work for each (a stand-in tenant with random credentials, tenant
lookups cached whether they find a tenant or not). What still differs is a cold read: a known
tenant whose secrets are Secrets Manager references costs one read per secret per cache period
in each container that an unknown tenant does not, and those tens of milliseconds would tell a
stranger which merchants exist. So a refusal leaves no sooner than a floor after
authentication began (``O2O_REFUSAL_MIN_MS``, default 250 ms; 0 switches it off): every
refusal whose work fits under the floor takes the same time. Accepted requests are never
delayed. ``bench/edge_timing.py`` prints the times with and without the floor.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from .errors import ConfigurationError

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
