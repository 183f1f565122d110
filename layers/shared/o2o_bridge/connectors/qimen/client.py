"""One signed 奇门 call: system parameters, XML body, sign, pacing, and errors that say
whether to retry.

``QimenClient.call(method, request)`` posts ``request`` (a dict or a model of models.py) as
the XML ``<request>`` document to the gateway and returns the ``<response>`` as a dict when
its ``flag`` is ``success``; otherwise it raises an error of errors.py. ``post`` makes the
same signed call with a ready body and returns what came back without judging it (``o2o
qimen call``). The gateway URL may point anywhere (production, the 联调 address, the local
sandbox). The app secret never enters a log line or an exception message.
"""

from __future__ import annotations

import functools
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Protocol

import httpx

from ...observability import logger
from ...redaction import redact_text
from .errors import ErrorPolicy, QimenPermanentError, QimenRateLimited, QimenTransientError
from .signing import signed_query, system_params, timestamp_text
from .xml_codec import CONTENT_TYPE, XmlRefused, dump_document, read_document

# Explicit: connect fails fast; a WMS behind the gateway may take a while to create a document.
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
METHOD_PREFIX = "taobao.qimen."


@functools.cache
def shared_http_client() -> httpx.Client:
    """One connection pool per container, reused by every tenant's client."""
    return httpx.Client(timeout=DEFAULT_TIMEOUT)


def full_method(method: str) -> str:
    """``deliveryorder.create`` -> ``taobao.qimen.deliveryorder.create`` (full names pass)."""
    method = method.strip()
    return method if "." in method and method.startswith(("taobao.", "qimen.")) else METHOD_PREFIX + method


class RateLimiter(Protocol):
    def acquire(self) -> Any: ...

    def calling(self) -> Any: ...


class _Unpaced:
    def acquire(self) -> None:
        return None

    @contextmanager
    def calling(self) -> Iterator[None]:
        yield None


@dataclass(frozen=True)
class QimenCredentials:
    gateway_url: str
    app_key: str
    app_secret: str = field(repr=False)
    customer_id: str
    v: str = "2.0"
    sign_method: str = "md5"


@dataclass(frozen=True)
class QimenAnswer:
    """What came back from one call, unjudged: HTTP status, the text, and the parsed document
    (None when it was not readable XML or JSON)."""

    status: int
    text: str
    document: dict[str, Any] | None
    root: str | None


class QimenClient:
    def __init__(self, credentials: QimenCredentials, *, http: httpx.Client | None = None,
                 limiter: RateLimiter | None = None, error_policy: ErrorPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.credentials = credentials
        self.http = http or shared_http_client()
        self.limiter = limiter or _Unpaced()
        self.errors = error_policy or ErrorPolicy()
        self.clock = clock

    # --- business calls -----------------------------------------------------------------
    def call(self, method: str, request: Any) -> dict[str, Any]:
        """Post ``request`` as ``<request>``; the ``<response>`` of a successful call."""
        method = full_method(method)
        answer = self.post(method, self.request_body(request))
        return self.judge(method, answer)

    @staticmethod
    def request_body(request: Any) -> bytes:
        """The exact bytes sent (and signed) for ``request``: bytes pass unchanged."""
        if isinstance(request, bytes):
            return request
        if hasattr(request, "to_xml_content"):
            request = request.to_xml_content()
        return dump_document("request", request)

    # --- transport ----------------------------------------------------------------------
    def signed_url_params(self, method: str, body: bytes) -> dict[str, str]:
        c = self.credentials
        moment = datetime.fromtimestamp(self.clock(), tz=timezone.utc)
        params = system_params(method=method, app_key=c.app_key, customer_id=c.customer_id,
                               timestamp=timestamp_text(moment), v=c.v, sign_method=c.sign_method)
        return signed_query(params, body, c.app_secret)

    def post(self, method: str, body: bytes) -> QimenAnswer:
        """One signed POST of ``body`` as it is; transport failures raise, answers are returned."""
        method = full_method(method)
        params = self.signed_url_params(method, body)
        try:
            # The call goes out at once (its slot was counted with a send allowance); its answer
            # closes it for the limiter: the gateway received it before.
            with self.limiter.calling():
                response = self.http.post(self.credentials.gateway_url, params=params, content=body,
                                          headers={"Content-Type": CONTENT_TYPE})
        except httpx.TimeoutException as exc:
            raise QimenTransientError(f"奇门 {method} timed out ({type(exc).__name__})", method=method) from None
        except httpx.TransportError as exc:
            raise QimenTransientError(f"奇门 {method} unreachable: {self._scrub(str(exc))}", method=method) from None
        text = response.text
        root, document = _read_answer(text)
        return QimenAnswer(response.status_code, text, document, root)

    def judge(self, method: str, answer: QimenAnswer) -> dict[str, Any]:
        """The ``<response>`` of a successful answer; otherwise the error that says whether to retry."""
        status = answer.status
        if status == 429:
            raise QimenRateLimited(f"奇门 {method} answered HTTP 429", method=method, retry_after_seconds=1.0)
        if status >= 500:
            raise QimenTransientError(f"奇门 {method} answered HTTP {status}", method=method)
        if status >= 400:
            raise QimenPermanentError(f"奇门 {method} answered HTTP {status}: {self._scrub(answer.text[:200])}",
                                      method=method)
        document = answer.document
        if document is None:
            # A 200 that is neither XML nor JSON comes from something in between, not the gateway.
            raise QimenTransientError(f"奇门 {method} answered HTTP {status} with an unreadable body", method=method)
        if answer.root == "error_response":
            code = str(document.get("sub_code") or document.get("code") or "")
            message = str(document.get("sub_msg") or document.get("msg") or "")
            raise self.errors.classify(method, code, self._scrub(message))
        flag = str(document.get("flag") or "").strip().lower()
        if flag == "success":
            return document
        if flag == "failure":
            raise self.errors.classify(method, str(document.get("code") or ""),
                                       self._scrub(str(document.get("message") or "")))
        raise QimenTransientError(f"奇门 {method} answered without a flag", method=method)

    def _scrub(self, text: str) -> str:
        return redact_text(text, [self.credentials.app_secret])


def _read_answer(text: str) -> tuple[str | None, dict[str, Any] | None]:
    """(root name, content) of the gateway's XML or JSON answer; (None, None) if unreadable."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return None, None
        if isinstance(data, dict) and len(data) == 1:
            (root, content), = data.items()
            if isinstance(content, dict):
                return root, content
        return ("response", data) if isinstance(data, dict) else (None, None)
    try:
        return read_document(stripped)
    except XmlRefused as exc:
        logger.info("奇门 answer unreadable", extra={"error": exc.message[:200]})
        return None, None


def answer_is_success(document: Mapping[str, Any] | None) -> bool:
    return bool(document) and str(document.get("flag", "")).lower() == "success"
