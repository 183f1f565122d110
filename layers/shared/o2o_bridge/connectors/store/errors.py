"""店+ failures in the bridge's vocabulary: each one says whether retrying can help.

the store contract (docs/openapi/pos-api.yaml): HTTP 4xx (or ``code != 0`` with a 4xx) is permanent and carries the store
system's ``msg``; HTTP 429, 5xx, timeouts and dropped connections are transient, with
``retry_after_seconds`` from ``Retry-After`` when the store system sent one.
"""

from __future__ import annotations

from ...errors import PermanentError, TransientError


class PosError:
    """Mixin with what the store system said; ``status`` and ``code`` are None for transport failures."""

    method: str = ""
    path: str = ""
    status: int | None = None
    code: int | None = None
    pos_msg: str = ""


class PosPermanentError(PermanentError, PosError):
    """The store system refused the call; the same call cannot succeed later."""

    def __init__(self, message: str, *, method: str = "", path: str = "", status: int | None = None,
                 code: int | None = None, pos_msg: str = "") -> None:
        super().__init__(message)
        self.method, self.path, self.status, self.code, self.pos_msg = method, path, status, code, pos_msg


class PosAuthError(PosPermanentError):
    """401/403: the tenant's api_key or entId is wrong; an operator must fix the tenant."""


class PosNotFound(PosPermanentError):
    """404: unknown document, store or warehouse at the store system."""


class PosConflict(PosPermanentError):
    """409: the document's state forbids the action (e.g. cancelling a shipped order)."""


class PosIdempotencyConflict(PosPermanentError):
    """422 code 42210: the Idempotency-Key was already used with a different body (a bridge bug)."""


class PosTransientError(TransientError, PosError):
    """HTTP 5xx, a timeout, a dropped connection, a garbled answer: try again later."""

    def __init__(self, message: str, *, method: str = "", path: str = "", status: int | None = None,
                 code: int | None = None, pos_msg: str = "", retry_after_seconds: float | None = None) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.method, self.path, self.status, self.code, self.pos_msg = method, path, status, code, pos_msg


class PosRateLimited(PosTransientError):
    """HTTP 429."""


IDEMPOTENCY_KEY_REUSED = 42210


def classify(method: str, path: str, status: int, code: int | None, msg: str,
             retry_after: float | None) -> PosPermanentError | PosTransientError:
    """The error for a non-success answer (``msg`` already scrubbed of secrets)."""
    what = f"店+ {method} {path} answered HTTP {status}" + (f" code {code}" if code is not None else "")
    text = f"{what}: {msg}" if msg else what
    kwargs = dict(method=method, path=path, status=status, code=code, pos_msg=msg)
    if status == 429:
        return PosRateLimited(text, retry_after_seconds=retry_after if retry_after is not None else 1.0, **kwargs)
    if status >= 500:
        return PosTransientError(text, retry_after_seconds=retry_after, **kwargs)
    if status in (401, 403):
        return PosAuthError(text, **kwargs)
    if status == 404:
        return PosNotFound(text, **kwargs)
    if status == 409:
        return PosConflict(text, **kwargs)
    if status == 422 and code == IDEMPOTENCY_KEY_REUSED:
        return PosIdempotencyConflict(text, **kwargs)
    # Other 4xx, and a 2xx carrying code != 0 (a business refusal in the envelope).
    return PosPermanentError(text, **kwargs)
