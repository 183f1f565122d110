"""The 店+ store-system adapter: P1–P14 of the store contract (docs/openapi/pos-api.yaml) behind the ``StoreSystem`` port.

- ``client``: one authenticated call (bearer key, X-Ent-Id, Idempotency-Key, envelope, errors)
- ``api``: ``StoreSystemApi``, the typed P1–P14 methods, P6 chunking, P8 paging
- ``models``: pydantic request / answer models
- ``idempotency``: the Idempotency-Key scheme
- ``errors``: PosPermanentError / PosTransientError and their subclasses
- ``factory``: ``store_system_for_tenant(tenant)``
"""

from .api import StoreSystemApi, chunks
from .client import PosClient, PosCredentials
from .errors import (
    PosAuthError, PosConflict, PosIdempotencyConflict, PosNotFound, PosPermanentError, PosRateLimited,
    PosTransientError,
)

__all__ = [
    "PosAuthError", "PosClient", "PosConflict", "PosCredentials", "PosIdempotencyConflict", "PosNotFound",
    "PosPermanentError", "PosRateLimited", "PosTransientError", "StoreSystemApi", "chunks",
]
