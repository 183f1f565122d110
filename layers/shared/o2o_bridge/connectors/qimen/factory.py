"""Building a tenant's 奇门 client from the runtime: the app secret resolved, calls paced
through StateTable (shared with every container), one httpx.Client per container."""

from __future__ import annotations

import threading
from typing import Any

from .. import pacing as shared_limits
from .client import QimenClient, QimenCredentials
from .errors import QimenRateLimited


# ent_id -> (the tenant's qimen section it was built from, client)
_built: dict[str, tuple[Any, QimenClient]] = {}
_lock = threading.Lock()


def _refused(message: str, retry_after_seconds: int) -> QimenRateLimited:
    return QimenRateLimited(message, retry_after_seconds=retry_after_seconds)


class _SpeaksQimen:
    """The bridge's shared limiters (the same StateTable log and counters as every connector's,
    under the key ``qimen:<app_key>``), refusing with QimenRateLimited."""

    label = "奇门 app"
    refusal = staticmethod(_refused)


class DynamoSlidingLogLimiter(_SpeaksQimen, shared_limits.DynamoSlidingLogLimiter):
    pass


class DynamoRateLimiter(_SpeaksQimen, shared_limits.DynamoRateLimiter):
    pass


class InMemorySlidingLogLimiter(_SpeaksQimen, shared_limits.InMemorySlidingLogLimiter):
    pass


def limiter_key(section: Any) -> str:
    """``qimen:<app_key>``: never the same counter as a JST app that happens to share the key."""
    return f"qimen:{section.app_key}"


def credentials_of(section: Any, secrets: Any) -> QimenCredentials:
    return QimenCredentials(gateway_url=section.gateway_url, app_key=section.app_key,
                            app_secret=section.reveal("app_secret", secrets) or "", customer_id=section.customer_id,
                            v=section.v, sign_method=section.sign_method)


def limiter_for(section: Any, dynamodb: Any, table: str) -> shared_limits.RateLimiter:
    limit = section.rate_limit
    windows = shared_limits.windows_for(limit.per_second, limit.per_minute)
    if limit.counting == "fixed":
        return DynamoRateLimiter(dynamodb, table, limiter_key(section), windows)
    return DynamoSlidingLogLimiter(dynamodb, table, limiter_key(section), windows,
                                   margin_seconds=limit.margin_ms / 1000)


def qimen_for_tenant(tenant: Any) -> QimenClient:
    """The tenant's client, built once per container and rebuilt when its section changes."""
    from ...errors import ConfigurationError
    from ... import runtime

    section = tenant.qimen
    if section is None:
        raise ConfigurationError(f"tenant {tenant.ent_id} has no qimen section (warehouse: {tenant.warehouse})")
    with _lock:
        built = _built.get(tenant.ent_id)
        if built is None or built[0] != section:
            dynamodb, table = runtime.aws_client("dynamodb"), runtime.settings().state_table
            client = QimenClient(credentials_of(section, runtime.secret_resolver()),
                                 limiter=limiter_for(section, dynamodb, table))
            _built[tenant.ent_id] = (section, client)
        return _built[tenant.ent_id][1]


def forget() -> None:
    with _lock:
        _built.clear()
