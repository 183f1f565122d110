"""旺店通 failures in the bridge's vocabulary: each one says whether retrying can help.

The 企业版 answers every call with HTTP 200 and a JSON ``code`` (0 = success) and
``message``. Its error codes are not published, so which failure is which is data
(``ErrorPolicy``): code sets a deployment may fill in, and phrases of the message that the
旺店通 family is known to use ("超过每分钟最大调用频率限制" for a rate limit, "时间戳" for a
timestamp outside the 5-minute skew, "签名" for a bad sign). Anything not recognised is
permanent, with 旺店通's own message, so nothing is retried blindly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import PermanentError, TransientError


class WdtError:
    """Mixin with what 旺店通 said; ``code`` is None for transport failures."""

    code: int | None = None
    api: str = ""
    wdt_message: str = ""


class WdtPermanentError(PermanentError, WdtError):
    """旺店通 refused the call for a reason retrying cannot fix (bad data, unknown shop...)."""

    def __init__(self, message: str, *, api: str = "", code: int | None = None, wdt_message: str = "") -> None:
        super().__init__(message)
        self.api, self.code, self.wdt_message = api, code, wdt_message


class WdtAuthError(WdtPermanentError):
    """Sign, sid, appkey or permission: an operator must fix the tenant's 旺店通 section."""


class WdtTransientError(TransientError, WdtError):
    """HTTP 5xx, a timeout, a dropped connection, a garbled answer, a busy server."""

    def __init__(self, message: str, *, api: str = "", code: int | None = None, wdt_message: str = "",
                 retry_after_seconds: float | None = None) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.api, self.code, self.wdt_message = api, code, wdt_message


class WdtRateLimited(WdtTransientError):
    """Too many calls: wait (the 旺店通 family advises minutes, not seconds)."""


class WdtTimestampRefused(WdtTransientError):
    """The request's timestamp is outside the server's 5-minute window: our clock is off.
    The client re-signs with the server's time once; a repeat is retried later."""

    server_date: str | None = None  # the answer's HTTP Date header: the server's clock


class WdtDuplicate(WdtPermanentError):
    """The document's ``outer_no`` is already booked: the push was done before."""


@dataclass(frozen=True)
class ErrorPolicy:
    """Which non-zero answers mean what (tenant option ``wangdiantong.errors``)."""

    rate_limit_codes: frozenset[int] = frozenset()
    transient_codes: frozenset[int] = frozenset()
    auth_codes: frozenset[int] = frozenset()
    timestamp_codes: frozenset[int] = frozenset()
    duplicate_codes: frozenset[int] = frozenset()
    rate_limit_phrases: tuple[str, ...] = ("频率", "并发次数", "too frequent", "rate limit")
    transient_phrases: tuple[str, ...] = ("系统繁忙", "服务器繁忙", "稍后重试", "busy", "timeout")
    timestamp_phrases: tuple[str, ...] = ("时间戳", "timestamp")
    duplicate_phrases: tuple[str, ...] = ("已存在", "重复", "already exists")
    auth_phrases: tuple[str, ...] = ("签名", "sign error", "invalid sign", "appkey", "卖家账号", "权限", "白名单")
    rate_limit_retry_after_seconds: float = 60.0
    transient_retry_after_seconds: float | None = None

    def classify(self, api: str, code: int, message: str) -> Exception:
        text = f"旺店通 {api} answered code {code}: {message}"
        lowered = message.lower()

        def said(phrases: tuple[str, ...]) -> bool:
            return any(p.lower() in lowered for p in phrases)

        args = {"api": api, "code": code, "wdt_message": message}
        if code in self.rate_limit_codes or said(self.rate_limit_phrases):
            return WdtRateLimited(text, retry_after_seconds=self.rate_limit_retry_after_seconds, **args)
        if code in self.timestamp_codes or said(self.timestamp_phrases):
            return WdtTimestampRefused(text, retry_after_seconds=1.0, **args)
        if code in self.transient_codes or said(self.transient_phrases):
            return WdtTransientError(text, retry_after_seconds=self.transient_retry_after_seconds, **args)
        if code in self.duplicate_codes or said(self.duplicate_phrases):
            return WdtDuplicate(text, **args)
        if code in self.auth_codes or said(self.auth_phrases):
            return WdtAuthError(text, **args)
        return WdtPermanentError(text, **args)


def error_policy_from(options: object | None) -> ErrorPolicy:
    """The policy of a tenant's ``wangdiantong.errors`` options (code sets added to the
    defaults' phrases)."""
    if options is None:
        return ErrorPolicy()
    return ErrorPolicy(
        rate_limit_codes=frozenset(getattr(options, "rate_limit_codes", ())),
        transient_codes=frozenset(getattr(options, "transient_codes", ())),
        auth_codes=frozenset(getattr(options, "auth_codes", ())),
        timestamp_codes=frozenset(getattr(options, "timestamp_codes", ())),
        duplicate_codes=frozenset(getattr(options, "duplicate_codes", ())),
    )
