"""JST request signing (JST's open-platform documentation) and the old erp321-style push sign (§6.1).

The openweb sign is MD5 over ``app_secret`` + every parameter except ``sign`` as
``name + value``, names in ascending ASCII order, lowercase hex. The biz string is signed
exactly as it is sent, so it is serialised once (``dump_biz``) and never again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping


def openweb_sign(params: Mapping[str, Any], app_secret: str, *, drop_empty: bool = False) -> str:
    """The sign of an openweb request (business or token call).

    ``drop_empty`` follows the docId=70 summary (and KOCO) that leaves out empty values;
    IEU signs every parameter. Nothing we send is empty, so both agree on our requests.
    """
    text = app_secret + "".join(
        f"{name}{params[name]}"
        for name in sorted(params)
        if name != "sign" and not (drop_empty and params[name] in (None, ""))
    )
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # JST accepts numbers; an integral Decimal goes out as an int, not "2.0000".
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")  # JST convention; callers pass Asia/Shanghai times
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot put {type(value).__name__} into a JST biz")


def dump_biz(biz: Any) -> str:
    """The biz JSON string: compact, Chinese unescaped (as IEU's golden vector B)."""
    if isinstance(biz, str):
        return biz  # already serialised: sign exactly these bytes
    if hasattr(biz, "model_dump"):
        biz = biz.model_dump(mode="python", exclude_none=True)
    elif isinstance(biz, list):
        biz = [b.model_dump(mode="python", exclude_none=True) if hasattr(b, "model_dump") else b for b in biz]
    return json.dumps(biz, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def business_params(*, app_key: str, access_token: str, biz: str, timestamp: int, app_secret: str) -> dict[str, str]:
    """The full form body of a business call, ``sign`` included."""
    params = {
        "app_key": app_key,
        "access_token": access_token,
        "timestamp": str(timestamp),
        "version": "2",
        "charset": "utf-8",
        "biz": biz,
    }
    params["sign"] = openweb_sign(params, app_secret)
    return params


def token_params(*, app_key: str, app_secret: str, timestamp: int, **fields: str) -> dict[str, str]:
    """The form body of a /openWeb/auth/* call (getInitToken, refreshToken, accessToken)."""
    params = {"app_key": app_key, "timestamp": str(timestamp), "charset": "utf-8", **fields}
    params["sign"] = openweb_sign(params, app_secret)
    return params


def legacy_push_sign(method: str, partner_id: str, params: Mapping[str, str], partner_key: str) -> str:
    """The old-API sign JST's shop pushes carry: md5(method + partnerid + k1v1k2v2... + partnerkey).

    ``params`` are the other query parameters (sign, method and partnerid excluded by
    the caller or here), in ascending key order (ShopeX ``JushuitanCheck``; NODE vector).
    """
    middle = "".join(f"{k}{params[k]}" for k in sorted(params) if k not in {"sign", "method", "partnerid"})
    return hashlib.md5(f"{method}{partner_id}{middle}{partner_key}".encode("utf-8")).hexdigest()
