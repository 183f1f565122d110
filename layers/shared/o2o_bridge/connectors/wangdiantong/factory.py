"""Building a tenant's 旺店通 adapter from the runtime: the secret resolved, the rate limit
shared through StateTable, one httpx.Client per container."""

from __future__ import annotations

import threading
from typing import Any

from ..pacing import RateLimiter, windows_for
from .api import CountAnswerNames, Limits, WdtApi
from .client import WdtClient, WdtCredentials
from .errors import error_policy_from
from .rate_limit import DynamoRateLimiter, DynamoSlidingLogLimiter

_built: dict[str, tuple[Any, WdtApi]] = {}
_lock = threading.Lock()


def credentials_of(tenant: Any, secrets: Any) -> WdtCredentials:
    section = tenant.wangdiantong
    return WdtCredentials(base_url=section.base_url, sid=section.sid, appkey=section.appkey,
                          appsecret=section.reveal("appsecret", secrets) or "")


def limits_of(section: Any) -> Limits:
    names = section.count_query
    return Limits(trade_page_size=section.trade_page_size, document_lines=section.document_lines,
                  count_lines=section.count_lines,
                  count_answer=CountAnswerNames(list_keys=tuple(names.list_keys), number_fields=tuple(names.number_fields),
                                                remark_fields=tuple(names.remark_fields),
                                                warehouse_fields=tuple(names.warehouse_fields),
                                                modified_fields=tuple(names.modified_fields)))


def limiter_for(credentials: WdtCredentials, section: Any, dynamodb: Any, table: str) -> RateLimiter:
    """The account's limiter shared by every Lambda, counting as ``rate_limit.counting`` says."""
    limit = section.rate_limit
    windows = windows_for(limit.per_second, limit.per_minute)
    if limit.counting == "fixed":
        return DynamoRateLimiter(dynamodb, table, credentials.account, windows)
    return DynamoSlidingLogLimiter(dynamodb, table, credentials.account, windows,
                                   margin_seconds=limit.margin_ms / 1000)


def api_for(tenant: Any, secrets: Any, limiter: RateLimiter | None = None) -> WdtApi:
    """A tenant's adapter over the given limiter (tools and benches use an in-process one)."""
    section = tenant.wangdiantong
    credentials = credentials_of(tenant, secrets)
    client = WdtClient(credentials, limiter=limiter, error_policy=error_policy_from(section.errors))
    return WdtApi(client, limits_of(section))


def wdt_for_tenant(tenant: Any) -> WdtApi:
    """The tenant's adapter, built once per container and rebuilt when its 旺店通 section
    changes; the rate-limit log lives in StateTable, so a rebuild loses nothing."""
    from ... import runtime

    section = tenant.wangdiantong
    with _lock:
        built = _built.get(tenant.ent_id)
        if built is None or built[0] != section:
            secrets = runtime.secret_resolver()
            dynamodb, table = runtime.aws_client("dynamodb"), runtime.settings().state_table
            limiter = limiter_for(credentials_of(tenant, secrets), section, dynamodb, table)
            _built[tenant.ent_id] = (section, api_for(tenant, secrets, limiter))
        return _built[tenant.ent_id][1]


def erp_for_tenant(tenant: Any) -> Any:
    """The tenant's ERP: ports.Erp, and ports.retail.RetailErp for what only 旺店通 does."""
    from .erp import WdtErp

    return WdtErp(wdt_for_tenant(tenant), tenant)


def forget() -> None:
    """Tests and re-bootstraps: drop every built adapter."""
    with _lock:
        _built.clear()
