"""Pacing calls to one 旺店通 account (``wdt:<sid>:<appkey>``) across every Lambda.

The 企业版 publishes no numbers; the tenant's ``wangdiantong.rate_limit`` sets them
(default 5 a second, 300 a minute). The limiters are the bridge's shared ones
(``connectors/pacing.py``); a wait too long becomes a ``WdtRateLimited``.
"""

from __future__ import annotations

from .. import pacing
from .errors import WdtRateLimited


def _refused(message: str, retry_after_seconds: int) -> WdtRateLimited:
    return WdtRateLimited(message, retry_after_seconds=retry_after_seconds)


class _SpeaksWdt:
    label = "旺店通 account"
    refusal = staticmethod(_refused)


class InMemorySlidingLogLimiter(_SpeaksWdt, pacing.InMemorySlidingLogLimiter):
    """The sliding log in one process (tests, `o2o wdt call`, benches)."""


class DynamoSlidingLogLimiter(_SpeaksWdt, pacing.DynamoSlidingLogLimiter):
    """The sliding log shared by every container (the default)."""


class DynamoRateLimiter(_SpeaksWdt, pacing.DynamoRateLimiter):
    """Calendar windows shared by every container (``counting: fixed``)."""
