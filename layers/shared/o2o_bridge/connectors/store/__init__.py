"""The 店+ store-system adapter: P1–P14 of the store contract (docs/openapi/pos-api.yaml) behind the ``StoreSystem`` port.

- ``client``: one authenticated call (bearer key, X-Ent-Id, Idempotency-Key, envelope, errors)
- ``api``: ``StoreSystemApi``, the typed P1–P14 methods, P6 chunking, P8 paging
- ``models``: pydantic request / answer models
- ``idempotency``: the Idempotency-Key scheme
- ``errors``: PosPermanentError / PosTransientError and their subclasses
- ``factory``: ``store_system_for_tenant(tenant)``
"""

from .errors import (
    PosAuthError, PosConflict, PosIdempotencyConflict, PosNotFound, PosPermanentError, PosRateLimited,
    PosTransientError,
)

# The HTTP client (httpx) and the P1-P14 models load when first named: /pos/events only checks
# a signature and reads an event, and should not pay for them at a cold start.
_LAZY = {"StoreSystemApi": "api", "chunks": "api", "PosClient": "client", "PosCredentials": "client"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PosAuthError", "PosClient", "PosConflict", "PosCredentials", "PosIdempotencyConflict", "PosNotFound",
    "PosPermanentError", "PosRateLimited", "PosTransientError", "StoreSystemApi", "chunks",
]
