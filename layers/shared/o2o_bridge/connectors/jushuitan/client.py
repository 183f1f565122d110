"""One signed JST call: envelope, sign, token, pacing, and errors that say whether to retry.

``JstClient.call(path, biz)`` returns the ``data`` of a ``code == 0`` answer (the whole
answer with ``raw=True``). ``base_url`` may point anywhere (production, dev-api, the
local sandbox). Secrets never enter a log line or an exception message: errors carry the
path, JST's code and JST's message, scrubbed of every known secret value.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from ...observability import logger
from ...redaction import redact_text
from .errors import ErrorPolicy, JstAuthError, JstPermanentError, JstTransientError
from .rate_limit import InMemorySlidingLogLimiter, RateLimiter, windows_for
from .signing import business_params, dump_biz, token_params
from .tokens import InMemoryTokenStore, TokenManager, TokenPolicy, TokenStore

# Explicit: connect fails fast; JST list queries can take several seconds to answer.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
FORM = "application/x-www-form-urlencoded;charset=UTF-8"


@functools.cache
def shared_http_client() -> httpx.Client:
    """One connection pool per container, reused by every tenant's client."""
    return httpx.Client(timeout=DEFAULT_TIMEOUT, headers={"Content-Type": FORM})


@dataclass(frozen=True)
class JstCredentials:
    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)


class JstClient:
    def __init__(self, ent_id: str, credentials: JstCredentials, *, http: httpx.Client | None = None,
                 token_store: TokenStore | None = None, limiter: RateLimiter | None = None,
                 token_policy: TokenPolicy | None = None, error_policy: ErrorPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.ent_id = ent_id
        self.credentials = credentials
        self.base_url = credentials.base_url.rstrip("/")
        self.http = http or shared_http_client()
        self.limiter = limiter or InMemorySlidingLogLimiter(credentials.app_key, windows_for(5, 100))
        self.errors = error_policy or ErrorPolicy()
        self.token_policy = token_policy = token_policy or TokenPolicy()
        self.clock = clock
        self._seen_tokens: set[str] = set()  # rotated tokens, scrubbed from messages too
        self.tokens = TokenManager(
            ent_id, token_store or InMemoryTokenStore(), self,
            seed_access_token=credentials.access_token, seed_refresh_token=credentials.refresh_token,
            policy=token_policy, clock=clock,
        )

    # --- business calls --------------------------------------------------------------
    def call(self, path: str, biz: Any = None, *, raw: bool = False, riders: Any = None) -> Any:
        """POST one signed call; returns ``data`` (or the whole answer when ``raw``). ``riders``
        (ports.GrantRiders): record writes sent with this call's rate-limit grant."""
        biz_text = dump_biz({} if biz is None else biz)
        token = self.tokens.access_token()
        answer = self._business_post(path, biz_text, token, riders)
        if answer.get("code") in self.errors.token_expired_codes:
            # Once only: a token that fails again right after renewal is an auth problem.
            logger.info("JST token rejected; renewing once", extra={"path": path, "ent_id": self.ent_id})
            token = self.tokens.after_token_rejected(token)
            answer = self._business_post(path, biz_text, token)
        self._raise_for_code(path, answer)
        return answer if raw else answer.get("data")

    def _business_post(self, path: str, biz_text: str, token: str, riders: Any = None) -> dict[str, Any]:
        self._seen_tokens.add(token)
        params = business_params(app_key=self.credentials.app_key, access_token=token, biz=biz_text,
                                 timestamp=int(self.clock()), app_secret=self.credentials.app_secret)
        return self._post(path, params, riders)

    # --- token calls (TokenIssuer) ------------------------------------------------------
    def fetch_init_token(self, code: str) -> tuple[str, str | None, float | None]:
        return self._token_call("getInitToken", grant_type=self.token_policy.init_grant_type, code=code)

    def fetch_refreshed_token(self, refresh_token: str) -> tuple[str, str | None, float | None]:
        return self._token_call("refreshToken", grant_type="refresh_token", refresh_token=refresh_token, scope="all")

    def _token_call(self, action: str, **fields: str) -> tuple[str, str | None, float | None]:
        path = f"{self.token_policy.auth_path_prefix}/auth/{action}"
        params = token_params(app_key=self.credentials.app_key, app_secret=self.credentials.app_secret,
                              timestamp=int(self.clock()), **fields)
        answer = self._post(path, params)
        code = answer.get("code")
        if code != 0:
            error = self.errors.classify(path, _int(code), self._scrub(str(answer.get("msg", ""))))
            if isinstance(error, JstTransientError):
                raise error
            # A refused refresh/init token is never fixed by retrying: re-authorise the app.
            raise JstAuthError(f"JST {path} refused the token request (code {code}): "
                               f"{self._scrub(str(answer.get('msg', '')))}; check the tenant's app and tokens",
                               path=path, code=_int(code), jst_msg=self._scrub(str(answer.get("msg", ""))))
        data = answer.get("data") or {}
        if not data.get("access_token"):
            raise JstPermanentError(f"JST {path} answered code 0 without an access_token", path=path)
        self._seen_tokens.update(t for t in (data.get("access_token"), data.get("refresh_token")) if t)
        expires_in = data.get("expires_in")
        logger.info("JST token obtained", extra={"ent_id": self.ent_id, "action": action, "expires_in": expires_in})
        return data["access_token"], data.get("refresh_token"), float(expires_in) if expires_in else None

    # --- transport -----------------------------------------------------------------------
    def _post(self, path: str, params: dict[str, str], riders: Any = None) -> dict[str, Any]:
        # The request is encoded before the slot is taken (a 500-item upload is ~27 kB of form):
        # once granted, the call goes out at once (its slot was counted with a send allowance).
        request = self.http.build_request("POST", f"{self.base_url}/{path.lstrip('/')}", data=params,
                                          headers={"Content-Type": FORM})
        request.read()
        try:
            # The answer's arrival closes the call for the limiter: JST received it before.
            # Riders (the first send only: a token renewal's second send has them sent already)
            # go in the grant's request, before the call goes out.
            with (self.limiter.calling(riders) if riders is not None else self.limiter.calling()):
                response = self.http.send(request)
        except httpx.TimeoutException as exc:
            raise JstTransientError(f"JST {path} timed out ({type(exc).__name__})", path=path) from None
        except httpx.TransportError as exc:
            raise JstTransientError(f"JST {path} unreachable: {self._scrub(str(exc))}", path=path) from None
        status = response.status_code
        if status == 429:
            raise JstTransientError(f"JST {path} answered HTTP 429", path=path, retry_after_seconds=1.0)
        if status >= 500:
            raise JstTransientError(f"JST {path} answered HTTP {status}", path=path)
        if status >= 400:
            # e.g. 400 "plain HTTP sent to HTTPS port" from an egress proxy: a setup problem.
            raise JstPermanentError(f"JST {path} answered HTTP {status}: {self._scrub(response.text[:200])}", path=path)
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            # A 200 that is not JSON comes from a gateway in between, not from JST's API.
            raise JstTransientError(f"JST {path} answered HTTP {status} with a non-JSON body", path=path) from None
        if not isinstance(answer, dict) or "code" not in answer:
            raise JstTransientError(f"JST {path} answered without a code", path=path)
        return answer

    def _raise_for_code(self, path: str, answer: dict[str, Any]) -> None:
        code = _int(answer.get("code"))
        if code == 0:
            # Some uploads (inventoryv2, order sent) add a top-level issuccess that can be
            # false while code is 0: nothing was applied.
            if answer.get("issuccess") is False:
                raise JstPermanentError(f"JST {path} answered issuccess=false: {self._scrub(str(answer.get('msg', '')))}",
                                        path=path, code=0, jst_msg=self._scrub(str(answer.get("msg", ""))))
            return
        raise self.errors.classify(path, code, self._scrub(str(answer.get("msg", ""))))

    def _scrub(self, text: str) -> str:
        c = self.credentials
        known = [c.app_secret, c.access_token, c.refresh_token, *self._seen_tokens]
        return redact_text(text, [s for s in known if s])


def _int(code: Any) -> int:
    try:
        return int(code)
    except (TypeError, ValueError):
        return -1
