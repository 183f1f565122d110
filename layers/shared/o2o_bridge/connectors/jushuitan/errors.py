"""JST failures in the bridge's vocabulary: each one says whether retrying can help.

JST's open-platform documentation: business errors come as HTTP 200 with a non-zero ``code``. The code
sets are data (``ErrorPolicy``) because the sources disagree on 140/150 and on which
codes mean a rate limit; the defaults follow IEU and the third-party table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import PermanentError, TransientError


class JstError:
    """Mixin with what JST said; ``code`` is None for transport failures."""

    code: int | None = None
    path: str = ""
    jst_msg: str = ""


class JstPermanentError(PermanentError, JstError):
    """JST refused the call for a reason retrying cannot fix (bad data, unknown shop, ...)."""

    def __init__(self, message: str, *, path: str = "", code: int | None = None, jst_msg: str = "") -> None:
        super().__init__(message)
        self.path, self.code, self.jst_msg = path, code, jst_msg


class JstAuthError(JstPermanentError):
    """Sign, token, IP whitelist or API permission: an operator must fix the app or tenant."""


class JstTransientError(TransientError, JstError):
    """HTTP 5xx, a timeout, a dropped connection, a garbled gateway answer."""

    def __init__(self, message: str, *, path: str = "", code: int | None = None, jst_msg: str = "",
                 retry_after_seconds: float | None = None) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.path, self.code, self.jst_msg = path, code, jst_msg


class JstRateLimited(JstTransientError):
    """Code 199 (too many per second) or 200 (too many per minute)."""


@dataclass(frozen=True)
class ErrorPolicy:
    """Which non-zero codes mean what. Anything not listed is permanent with JST's message."""

    # 10 bad sign, 110 IP not whitelisted, 190 no API permission; 100 after a failed refresh;
    # 120 is a sign error in one third-party map; 150 = ISV may not refresh (IEU).
    auth_codes: frozenset[int] = frozenset({10, 100, 110, 120, 150, 190})
    token_expired_codes: frozenset[int] = frozenset({100})
    # 199: "请求频率一秒不超过5次"; 200: "一分钟不超过100次" (IEU).
    rate_limit_codes: dict[int, float] = field(default_factory=lambda: {199: 1.0, 200: 60.0})
    # Empty by default: 150/160 mean "internal error" in one table only; add them per deployment.
    transient_codes: frozenset[int] = frozenset()

    def classify(self, path: str, code: int, msg: str) -> Exception:
        text = f"JST {path} answered code {code}: {msg}"
        if code in self.rate_limit_codes:
            return JstRateLimited(text, path=path, code=code, jst_msg=msg,
                                  retry_after_seconds=self.rate_limit_codes[code])
        if code in self.transient_codes:
            return JstTransientError(text, path=path, code=code, jst_msg=msg)
        if code in self.auth_codes:
            return JstAuthError(text, path=path, code=code, jst_msg=msg)
        return JstPermanentError(text, path=path, code=code, jst_msg=msg)
