"""Building a tenant's JST adapter from the runtime: secrets resolved, tokens and the rate
limit shared through StateTable, one httpx.Client per container."""

from __future__ import annotations

import functools
import threading
from typing import Any

from .api import JstApiAdapter
from .client import JstClient, JstCredentials
from .rate_limit import DynamoRateLimiter, DynamoSlidingLogLimiter, RateLimiter, windows_for

# ent_id -> (the tenant's jushuitan section it was built from, adapter)
_built: dict[str, tuple[Any, JstApiAdapter]] = {}
_lock = threading.Lock()


def credentials_of(tenant: Any, secrets: Any) -> JstCredentials:
    section = tenant.jushuitan
    return JstCredentials(
        base_url=section.base_url,
        app_key=section.app_key,
        app_secret=section.reveal("app_secret", secrets) or "",
        access_token=section.reveal("access_token", secrets),
        refresh_token=section.reveal("refresh_token", secrets),
    )


def limiter_for(section: Any, dynamodb: Any, table: str) -> RateLimiter:
    """The app's shared limiter, counting as the tenant's ``rate_limit.counting`` says."""
    limit = section.rate_limit
    windows = windows_for(limit.per_second, limit.per_minute)
    if limit.counting == "fixed":
        return DynamoRateLimiter(dynamodb, table, section.app_key, windows)
    return DynamoSlidingLogLimiter(dynamodb, table, section.app_key, windows, margin_seconds=limit.margin_ms / 1000)


def jst_for_tenant(tenant: Any) -> JstApiAdapter:
    """The tenant's adapter, built once per container and rebuilt when the tenant's JST
    section changes (new secret, URL or limit); tokens and counters live in StateTable, so a
    rebuild loses nothing."""
    from ... import runtime

    section = tenant.jushuitan
    with _lock:
        built = _built.get(tenant.ent_id)
        if built is None or built[0] != section:
            dynamodb, table = runtime.aws_client("dynamodb"), runtime.settings().state_table
            client = JstClient(
                tenant.ent_id,
                credentials_of(tenant, runtime.secret_resolver()),
                token_store=token_store(),
                limiter=limiter_for(section, dynamodb, table),
            )
            _built[tenant.ent_id] = (section, JstApiAdapter(client))
        return _built[tenant.ent_id][1]


def token_store() -> Any:
    """JST tokens in StateTable, encrypted with the stack's KMS key (TOKEN_KEY_ID); one store
    per container, built again only when runtime.reset() gave new settings or clients."""
    from ... import runtime

    config = runtime.settings()
    return _token_store(runtime.aws_client("dynamodb"), runtime.aws_client("kms"), config.state_table,
                        config.token_key_id)


@functools.lru_cache(maxsize=1)
def _token_store(dynamodb: Any, kms: Any, table: str, key_id: str | None) -> Any:
    from ...errors import ConfigurationError
    from .tokens import DynamoTokenStore, KmsTokenCipher

    if not key_id:
        raise ConfigurationError("TOKEN_KEY_ID is not set: JST tokens are only stored encrypted "
                                 "(template.yaml sets it to the stack's TokenKey)")
    return DynamoTokenStore(dynamodb, table, KmsTokenCipher(kms, key_id))


def forget() -> None:
    """Tests and re-bootstraps: drop every built adapter."""
    with _lock:
        _built.clear()
