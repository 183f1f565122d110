"""Pacing calls to one JST app across every Lambda that uses it (§4 "Rate limits").

JST counts per app: 5 calls a second (code 199) and 100 a minute (code 200) by default,
per API permission package. How JST counts is not documented (JST's open-platform documentation), so the
tenant chooses with ``jushuitan.rate_limit.counting`` (see docs/jst-rate-limits.md):
``sliding`` (the default, counts per bucket in ``RATE#<app_key>`` / ``LOG`` in StateTable,
each window lengthened by the time a granted call may take to arrive, because JST counts
arrivals) never puts more than the limit into any 1 s or 60 s interval; ``fixed`` counts
calendar seconds and minutes.
The limiters themselves are the bridge's shared ones (``connectors/pacing.py``); this
module only makes them speak JST: a wait too long is a ``JstRateLimited``.
"""

from __future__ import annotations

from .. import pacing
from ..pacing import (  # noqa: F401 - the JST names of the shared pieces
    DEFAULT_MARGIN_SECONDS,
    DEFAULT_SEND_ALLOWANCE_SECONDS,
    GrantLog,
    InMemoryGrantLog,
    RateLimiter,
    Window,
    windows_for,
)
from .errors import JstRateLimited


def _refused(message: str, retry_after_seconds: int) -> JstRateLimited:
    return JstRateLimited(message, retry_after_seconds=retry_after_seconds)


class _SpeaksJst:
    label = "JST app"
    refusal = staticmethod(_refused)


class InMemoryRateLimiter(_SpeaksJst, pacing.InMemoryRateLimiter):
    """Fixed windows in one process (tests, single-process tools)."""


class DynamoRateLimiter(_SpeaksJst, pacing.DynamoRateLimiter):
    """Fixed windows shared by every container (``counting: fixed``)."""


class InMemorySlidingLogLimiter(_SpeaksJst, pacing.InMemorySlidingLogLimiter):
    """The sliding log in one process (tests, single-process tools)."""


class DynamoSlidingLogLimiter(_SpeaksJst, pacing.DynamoSlidingLogLimiter):
    """The sliding log shared by every container (the default)."""
