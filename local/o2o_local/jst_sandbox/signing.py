"""JST signatures, implemented independently from the bridge's client (reference §3, §6.1).

* openweb sign: MD5(app_secret + concat(sorted(name + value))) as 32 lowercase hex,
  over every parameter except ``sign``; values signed raw, before URL-encoding.
* old-style push sign: MD5(method + partnerid + concat(sorted key+value of the other
  signed query parameters) + partner_key), lowercase hex.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["openweb_sign", "openweb_sign_matches", "push_sign", "old_api_sign"]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def openweb_sign(params: Mapping[str, object], app_secret: str, *, drop_empty: bool = False) -> str:
    parts = [app_secret]
    for name in sorted(params):
        if name == "sign":
            continue
        value = params[name]
        if value is None:
            if drop_empty:
                continue
            value = ""
        value = str(value)
        if drop_empty and value == "":
            continue
        parts.append(name + value)
    return _md5("".join(parts))


def openweb_sign_matches(params: Mapping[str, object], app_secret: str, sign: str | None, *, mode: str = "either") -> bool:
    """mode: "all" (IEU: sign every parameter), "drop_empty" (KOCO: empty values left out) or "either"."""
    if not sign:
        return False
    candidates = []
    if mode in ("all", "either"):
        candidates.append(openweb_sign(params, app_secret))
    if mode in ("drop_empty", "either"):
        candidates.append(openweb_sign(params, app_secret, drop_empty=True))
    return any(hmac.compare_digest(c, sign.lower()) for c in candidates)


def push_sign(method: str, partnerid: str, params: Mapping[str, object], partner_key: str) -> str:
    """ShopeX ``JushuitanCheck``: method + partnerid + ksorted key+value of ``params`` + partner key.

    ``params`` are the query parameters other than method, partnerid and sign (which ones
    are included is the sandbox's ``push_sign_scope`` setting)."""
    middle = "".join(k + str(params[k]) for k in sorted(params) if k not in ("method", "partnerid", "sign"))
    return _md5(method + partnerid + middle + partner_key)


def old_api_sign(method: str, partnerid: str, token: str, ts: int | str, partner_key: str) -> str:
    """The old erp321 API sign (reference §3): method + partnerid + "token" + token + "ts" + ts + partnerkey."""
    return _md5(f"{method}{partnerid}token{token}ts{ts}{partner_key}")
