"""One authenticated 店+ call: bearer key, X-Ent-Id, Idempotency-Key, the {code, msg, data}
envelope, and errors that say whether to retry.

``PosClient.request(method, path, body, idempotency_key=...)`` returns ``data`` of a
``code == 0`` answer. Secrets (the api_key) never enter a log line or an exception
message: errors carry the method, path, HTTP status, the store's code and its msg,
scrubbed of every known secret value.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from ...observability import logger
from ...redaction import redact_text
from .errors import PosPermanentError, PosTransientError, classify

# Explicit: connect fails fast; a 500-item stock PUT or product batch may take a while.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
MAX_ERROR_TEXT = 300


@functools.cache
def shared_http_client() -> httpx.Client:
    """One connection pool per container, reused by every tenant's client."""
    return httpx.Client(timeout=DEFAULT_TIMEOUT)


@dataclass(frozen=True)
class PosCredentials:
    base_url: str
    ent_id: str
    api_key: str = field(repr=False)


class PosClient:
    def __init__(self, credentials: PosCredentials, *, http: httpx.Client | None = None,
                 timeout: httpx.Timeout | float | None = None) -> None:
        self.credentials = credentials
        self.ent_id = credentials.ent_id
        self.base_url = credentials.base_url.rstrip("/")
        self.http = http or shared_http_client()
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT

    def request(self, method: str, path: str, body: Any = None, *, idempotency_key: str,
                params: Mapping[str, Any] | None = None) -> Any:
        """One call; the ``data`` of a ``code == 0`` answer, or a PosPermanentError / PosTransientError."""
        return self.data_of(method, path, self.send(method, path, body, idempotency_key=idempotency_key,
                                                    params=params))

    def send(self, method: str, path: str, body: Any = None, *, idempotency_key: str,
             params: Mapping[str, Any] | None = None) -> httpx.Response:
        """The call without reading its answer (``data_of`` does): a paging reader fetches the
        next page while the caller parses this one. Transport failures: PosTransientError."""
        headers = {
            "Authorization": f"Bearer {self.credentials.api_key}",
            "X-Ent-Id": self.ent_id,
            "Idempotency-Key": idempotency_key,
            "Accept": "application/json",
        }
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = self.http.request(method, url, content=content, headers=headers,
                                         params={k: v for k, v in (params or {}).items() if v is not None},
                                         timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise PosTransientError(f"店+ {method} {path} timed out ({type(exc).__name__})",
                                    method=method, path=path) from None
        except httpx.TransportError as exc:
            raise PosTransientError(f"店+ {method} {path} unreachable ({type(exc).__name__}: {self._scrub(str(exc))})",
                                    method=method, path=path) from None
        return response

    def data_of(self, method: str, path: str, response: httpx.Response) -> Any:
        status = response.status_code
        answer: Any = None
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        if isinstance(answer, dict) and "code" in answer:
            code, msg = _int(answer.get("code")), self._scrub(str(answer.get("msg") or ""))[:MAX_ERROR_TEXT]
        else:
            code, msg = None, self._scrub(response.text[:MAX_ERROR_TEXT]) if status >= 400 else ""
        if status >= 400 or (code is not None and code != 0):
            error = classify(method, path, status, code, msg, _retry_after(response))
            logger.warning("店+ call failed", extra={"ent_id": self.ent_id, "method": method, "path": path,
                                                    "status": status, "code": code, "retryable": error.retryable})
            raise error
        if code is None:
            # A 2xx without our envelope comes from something in between (a proxy, a login page).
            raise PosTransientError(f"店+ {method} {path} answered HTTP {status} without the {{code, msg, data}} envelope",
                                    method=method, path=path, status=status)
        return answer.get("data")

    def _scrub(self, text: str) -> str:
        return redact_text(text, [self.credentials.api_key])


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime
        from datetime import datetime, timezone

        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def _int(code: Any) -> int:
    try:
        return int(code)
    except (TypeError, ValueError):
        return -1


__all__ = ["DEFAULT_TIMEOUT", "PosClient", "PosCredentials", "PosPermanentError", "PosTransientError",
           "shared_http_client"]
