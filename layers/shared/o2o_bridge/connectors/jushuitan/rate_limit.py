"""JST's pacing: the shared limiters of connectors/aws/rate_limit.py, refusing with
JstRateLimited and keyed by the JST app key (``RATE#<app_key>``), as before they were shared."""

from __future__ import annotations

from ..aws import rate_limit as _shared
from ..aws.rate_limit import (  # noqa: F401 - the names JST code and tests use
    DEFAULT_MARGIN_SECONDS,
    Grant,
    GrantLog,
    InMemoryGrantLog,
    RateLimiter,
    Window,
    windows_for,
)
from .errors import JstRateLimited


class _Jst:
    label = "JST app"
    rate_limited = JstRateLimited


class InMemoryRateLimiter(_Jst, _shared.InMemoryRateLimiter):
    pass


class DynamoRateLimiter(_Jst, _shared.DynamoRateLimiter):
    pass


class InMemorySlidingLogLimiter(_Jst, _shared.InMemorySlidingLogLimiter):
    pass


class DynamoSlidingLogLimiter(_Jst, _shared.DynamoSlidingLogLimiter):
    pass
