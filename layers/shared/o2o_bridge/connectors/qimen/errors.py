"""奇门 failures in the bridge's vocabulary: each says whether retrying can help.

Two layers can refuse a call. The gateway answers TOP-style errors (``code`` / ``msg`` /
``sub_code`` / ``sub_msg``, e.g. an invalid sign or app key, a call limit, the WMS
unreachable behind it); the WMS answers ``<response><flag>failure</flag><code>…</code>
<message>…</message></response>`` with codes of its own. Which codes mean "try again" is
not published consistently, so the sets are data (``ErrorPolicy``): the defaults follow
the TOP error list and the sub-codes integrators retry; a deployment adds its WMS's codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import PermanentError, TransientError


class QimenError:
    """Mixin with what 奇门 said; ``code`` is None for transport failures."""

    method: str = ""
    code: str | None = None
    qimen_message: str = ""


class QimenPermanentError(PermanentError, QimenError):
    """The gateway or the WMS refused the call for a reason retrying cannot fix."""

    def __init__(self, message: str, *, method: str = "", code: str | None = None, qimen_message: str = "") -> None:
        super().__init__(message)
        self.method, self.code, self.qimen_message = method, code, qimen_message


class QimenAuthError(QimenPermanentError):
    """Sign, app key, permission or timestamp: an operator must fix the tenant's 奇门 app."""


class QimenTransientError(TransientError, QimenError):
    """A timeout, HTTP 5xx, the WMS unreachable behind the gateway, a garbled answer."""

    def __init__(self, message: str, *, method: str = "", code: str | None = None, qimen_message: str = "",
                 retry_after_seconds: float | None = None) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.method, self.code, self.qimen_message = method, code, qimen_message


class QimenRateLimited(QimenTransientError):
    """The gateway's call limit (TOP code 7) or our own pacing."""


# TOP system errors (the gateway's own ``code``): 7 app call limited; 10 service unavailable;
# 15 remote service error (the WMS behind the gateway).
DEFAULT_RATE_LIMIT_CODES = {"7": 1.0, "isv.app-call-limited": 1.0, "accesscontrol.limited-by-app-access-count": 1.0}
DEFAULT_TRANSIENT_CODES = frozenset({
    "10", "15",
    "isp.remote-service-error", "isp.remote-service-timeout", "isp.remote-connection-error",
    "isp.top-remote-connection-timeout", "isp.top-remote-connection-error", "isp.unknown-error",
    "isp.service-unavailable",
})
# 11-13 insufficient permissions, 25 / sign-check-failure invalid sign, 26-28 session / app key
# missing, 29 invalid app key, 30-31 missing / invalid timestamp, 32-33 missing / invalid sign.
DEFAULT_AUTH_CODES = frozenset({
    "11", "12", "13", "25", "26", "27", "28", "29", "30", "31", "32", "33",
    "sign-check-failure", "invalid-sign", "isv.invalid-signature", "isv.appkey-not-exists",
    "isv.missing-permission", "invalid-timestamp",
})


@dataclass(frozen=True)
class ErrorPolicy:
    """Which codes mean what; anything not listed is permanent with 奇门's message."""

    auth_codes: frozenset[str] = DEFAULT_AUTH_CODES
    transient_codes: frozenset[str] = DEFAULT_TRANSIENT_CODES
    rate_limit_codes: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMIT_CODES))

    def classify(self, method: str, code: str | None, message: str) -> Exception:
        code = (code or "").strip()
        text = f"奇门 {method} answered failure (code {code or '-'}): {message}"
        if code in self.rate_limit_codes:
            return QimenRateLimited(text, method=method, code=code, qimen_message=message,
                                    retry_after_seconds=self.rate_limit_codes[code])
        if code in self.transient_codes:
            return QimenTransientError(text, method=method, code=code, qimen_message=message)
        if code in self.auth_codes:
            return QimenAuthError(text, method=method, code=code, qimen_message=message)
        return QimenPermanentError(text, method=method, code=code, qimen_message=message)
