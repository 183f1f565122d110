"""One signed 旺店通 企业版 call: form, sign, pacing, clock skew, and errors that say
whether to retry.

``WdtClient.call("trade_push.php", {...})`` posts ``<base_url>/trade_push.php`` and returns
the whole answer of a ``code == 0`` call. Each attempt is signed at the moment it is sent
(after waiting for a rate-limit slot), so a wait never sends a stale timestamp. 旺店通
refuses a timestamp more than 5 minutes off its own clock: when it says so, the client
reads the server's time from the answer's ``Date`` header, keeps the difference as its
offset and re-signs once. Secrets never enter a log line or an error message.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping

import httpx

from ...observability import logger
from ...redaction import redact_text
from ..pacing import RateLimiter, windows_for
from .errors import ErrorPolicy, WdtPermanentError, WdtTimestampRefused, WdtTransientError
from .rate_limit import InMemorySlidingLogLimiter
from .signing import signed_form

# Explicit: connect fails fast; list queries over a busy ERP can take several seconds.
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
FORM = "application/x-www-form-urlencoded;charset=UTF-8"
MAX_SKEW_SECONDS = 300  # 旺店通's window; an offset is only learned when it refuses one


@functools.cache
def shared_http_client() -> httpx.Client:
    """One connection pool per container, reused by every tenant's client."""
    return httpx.Client(timeout=DEFAULT_TIMEOUT, headers={"Content-Type": FORM})


@dataclass(frozen=True)
class WdtCredentials:
    base_url: str
    sid: str
    appkey: str
    appsecret: str = field(repr=False)

    @property
    def account(self) -> str:
        """The key the rate limit is counted under: one seller account's one app."""
        return f"wdt:{self.sid}:{self.appkey}"


class WdtClient:
    def __init__(self, credentials: WdtCredentials, *, http: httpx.Client | None = None,
                 limiter: RateLimiter | None = None, error_policy: ErrorPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.credentials = credentials
        self.base_url = credentials.base_url.rstrip("/")
        self.http = http or shared_http_client()
        self.limiter = limiter or InMemorySlidingLogLimiter(credentials.account, windows_for(5, 300))
        self.errors = error_policy or ErrorPolicy()
        self.clock = clock
        # Seconds to add to our clock to get 旺店通's, learned from a refused timestamp.
        self.clock_offset = 0.0
        self.calls = 0  # attempts sent, for benches and `o2o wdt call`

    def timestamp(self) -> int:
        return int(self.clock() + self.clock_offset)

    def call(self, api: str, business: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST one signed call to ``api`` (e.g. ``stock_query.php``); the answer of code 0."""
        api = api if api.endswith(".php") else f"{api}.php"
        business = dict(business or {})
        try:
            return self._checked(api, *self._post(api, business))
        except WdtTimestampRefused as refused:
            if not self._learn_offset(refused.server_date):
                raise
            logger.warning("旺店通 refused our timestamp; re-signing with its clock",
                           extra={"api": api, "offset_seconds": round(self.clock_offset)})
            return self._checked(api, *self._post(api, business))

    def _learn_offset(self, date_header: str | None) -> bool:
        """Adopt the server's clock from its Date header; False if there is nothing to learn."""
        if not date_header:
            return False
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return False
        offset = server - self.clock()
        if abs(offset - self.clock_offset) < 1:
            return False  # we already use its clock: the refusal is something else
        self.clock_offset = offset
        return True

    def _post(self, api: str, business: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        c = self.credentials
        form = signed_form(sid=c.sid, appkey=c.appkey, appsecret=c.appsecret, timestamp=self.timestamp(),
                           business=business)
        url = f"{self.base_url}/{api}"
        try:
            # The call goes out at once (its slot was counted with a send allowance); its answer
            # closes it for the limiter: the ERP received it before.
            with self.limiter.calling():
                self.calls += 1
                response = self.http.post(url, data=form, headers={"Content-Type": FORM})
        except httpx.TimeoutException as exc:
            raise WdtTransientError(f"旺店通 {api} timed out ({type(exc).__name__})", api=api) from None
        except httpx.TransportError as exc:
            raise WdtTransientError(f"旺店通 {api} unreachable: {self._scrub(str(exc))}", api=api) from None
        status = response.status_code
        if status == 429:
            raise WdtTransientError(f"旺店通 {api} answered HTTP 429", api=api, retry_after_seconds=60.0)
        if status >= 500:
            raise WdtTransientError(f"旺店通 {api} answered HTTP {status}", api=api)
        if status >= 400:
            raise WdtPermanentError(f"旺店通 {api} answered HTTP {status}: {self._scrub(response.text[:200])}",
                                    api=api)
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            # A 200 that is not JSON comes from a gateway in between, not from the ERP.
            raise WdtTransientError(f"旺店通 {api} answered HTTP {status} with a non-JSON body", api=api) from None
        if not isinstance(answer, dict) or "code" not in answer:
            raise WdtTransientError(f"旺店通 {api} answered without a code", api=api)
        return answer, response.headers.get("date")

    def _checked(self, api: str, answer: dict[str, Any], server_date: str | None) -> dict[str, Any]:
        code = _int(answer.get("code"))
        if code == 0:
            return answer
        error = self.errors.classify(api, code, self._scrub(str(answer.get("message", answer.get("msg", "")))))
        if isinstance(error, WdtTimestampRefused):
            error.server_date = server_date
        raise error

    def _scrub(self, text: str) -> str:
        return redact_text(text, [self.credentials.appsecret])


def _int(code: Any) -> int:
    try:
        return int(code)
    except (TypeError, ValueError):
        return -1
