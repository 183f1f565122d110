"""The 奇门 / TOP sign, both ways (our calls to the gateway and the WMS's calls to us).

Over every request parameter but ``sign`` (system parameters and any custom query
parameter, e.g. our ``entId``), sorted by key in code-unit order, pairs with an empty key
or value left out, then the raw body exactly as sent:

- ``md5``: upper-case hex MD5 of ``secret + k1 v1 k2 v2 ... + body + secret``;
- ``hmac`` / ``hmac-sha256``: upper-case hex HMAC-MD5 / HMAC-SHA256 of ``k1 v1 ... + body``
  keyed with the secret.

The body is signed as bytes: it must be byte-identical to what goes on the wire, so a
request is serialised once and never re-formatted after signing.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Mapping

from ...shanghai_time import SHANGHAI

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # GMT+8 wall time, as the official SDKs write it


def canonical_params(params: Mapping[str, str]) -> bytes:
    """``k1v1k2v2...`` over the sorted non-empty pairs, ``sign`` excluded, as UTF-8."""
    pairs = sorted((k, v) for k, v in params.items() if k != "sign" and k and v not in (None, ""))
    return "".join(f"{k}{v}" for k, v in pairs).encode("utf-8")


def sign(params: Mapping[str, str], body: bytes | str | None, secret: str, sign_method: str = "md5") -> str:
    """The ``sign`` value for ``params`` and the raw ``body`` (None or b"" for a form call)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    payload = canonical_params(params) + (body or b"")
    key = secret.encode("utf-8")
    if sign_method == "md5":
        digest = hashlib.md5(key + payload + key).hexdigest()
    elif sign_method == "hmac":
        digest = hmac.new(key, payload, hashlib.md5).hexdigest()
    elif sign_method == "hmac-sha256":
        digest = hmac.new(key, payload, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unknown sign_method {sign_method!r}; one of {', '.join(SIGN_METHODS)}")
    return digest.upper()


def sign_matches(params: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Whether ``params['sign']`` is the sign of ``params`` and ``body`` (constant-time compare).
    An unknown ``sign_method`` never matches."""
    given = (params.get("sign") or "").strip().upper()
    method = params.get("sign_method") or "md5"
    if method not in SIGN_METHODS or not given or not secret:
        return False
    return hmac.compare_digest(sign(params, body, secret, method).encode("ascii"),
                               given.encode("utf-8", "surrogatepass"))


def timestamp_text(moment: datetime) -> str:
    """``moment`` as the ``timestamp`` parameter (GMT+8 ``yyyy-MM-dd HH:mm:ss``)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(SHANGHAI)
    return moment.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime | None:
    """A ``timestamp`` parameter as an aware datetime; None when it is not in the 奇门 format."""
    try:
        return datetime.strptime(text.strip(), TIMESTAMP_FORMAT).replace(tzinfo=SHANGHAI)
    except (ValueError, AttributeError):
        return None


def system_params(*, method: str, app_key: str, customer_id: str, timestamp: str, v: str = "2.0",
                  sign_method: str = "md5", extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The query parameters of one call, without ``sign`` (``signed_query`` adds it)."""
    return {"method": method, "app_key": app_key, "customerId": customer_id, "format": "xml",
            "sign_method": sign_method, "timestamp": timestamp, "v": v, **(extra or {})}


def signed_query(params: Mapping[str, str], body: bytes, secret: str) -> dict[str, str]:
    """``params`` plus their ``sign`` over ``body``."""
    return {**params, "sign": sign(params, body, secret, params.get("sign_method") or "md5")}
