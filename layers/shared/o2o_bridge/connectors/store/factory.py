"""Building a tenant's store-system adapter: secrets resolved, one httpx.Client per container."""

from __future__ import annotations

import threading
from typing import Any

from .api import StoreSystemApi
from .client import PosClient, PosCredentials

# ent_id -> (the tenant's pos section it was built from, adapter)
_built: dict[str, tuple[Any, StoreSystemApi]] = {}
_lock = threading.Lock()


def credentials_of(tenant: Any, secrets: Any) -> PosCredentials:
    section = tenant.pos
    return PosCredentials(base_url=section.base_url, ent_id=tenant.ent_id,
                          api_key=section.reveal("api_key", secrets) or "")


def store_system_for_tenant(tenant: Any) -> StoreSystemApi:
    """The tenant's adapter, built once per container and rebuilt when its pos section changes."""
    from ... import runtime

    with _lock:
        built = _built.get(tenant.ent_id)
        if built is None or built[0] != tenant.pos:
            adapter = StoreSystemApi(PosClient(credentials_of(tenant, runtime.secret_resolver())))
            _built[tenant.ent_id] = (tenant.pos, adapter)
        return _built[tenant.ent_id][1]


def forget() -> None:
    """Tests and re-bootstraps: drop every built adapter."""
    with _lock:
        _built.clear()
