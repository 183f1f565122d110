"""The 旺店通 ERP 企业版 (``openapi2``) request sign and form.

Every parameter but ``sign`` (the public ``sid``, ``appkey``, ``timestamp`` and the
business ones) is sorted by name and written as ``LL-name:VVVV-value``: ``LL`` the name's
length in two digits, ``VVVV`` the value's length in four, both counted in characters of
the UTF-8 text (the official PHP client uses ``iconv_strlen``), not in bytes. The pieces
are joined with ``;``, the app secret is appended, and the MD5 of that in lower-case hex is
the sign. A byte-length implementation signs every Chinese value differently, so names,
addresses and remarks would be refused while ASCII-only calls pass.

Nested business values (``trade_list``, ``stockin_info``...) travel as JSON strings; they
are serialised once (``dump_value``) and that exact text is signed and sent.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping

from ...shanghai_time import to_jst_text


def pack(params: Mapping[str, str]) -> str:
    """The signed text without the secret: ``LL-name:VVVV-value`` pairs in name order."""
    pieces = []
    for name in sorted(params):
        if name == "sign":
            continue
        value = params[name]
        pieces.append(f"{len(name):02d}-{name}:{len(value):04d}-{value}")
    return ";".join(pieces)


def sign(params: Mapping[str, str], appsecret: str) -> str:
    """The ``sign`` of a request whose other form fields are ``params``."""
    return hashlib.md5((pack(params) + appsecret).encode("utf-8")).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # An integral quantity goes out as 2, not "2.0000"; money as a JSON number.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return to_jst_text(value)  # 旺店通 reads date-times as Asia/Shanghai wall time
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot put {type(value).__name__} into a 旺店通 parameter")


def dump_value(value: Any) -> str:
    """One form value as text: scalars as they are, lists / dicts / models as compact JSON
    with Chinese unescaped (the official client's ``JSON_UNESCAPED_UNICODE``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(_json_default(value))
    if isinstance(value, datetime):
        return to_jst_text(value)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="python", exclude_none=True)
    elif isinstance(value, list):
        value = [v.model_dump(mode="python", exclude_none=True) if hasattr(v, "model_dump") else v for v in value]
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def signed_form(*, sid: str, appkey: str, appsecret: str, timestamp: int, business: Mapping[str, Any]) -> dict[str, str]:
    """The whole form body of one call, ``sign`` included. Empty business values are left
    out (the official client refuses them), so what is signed is exactly what is sent."""
    form = {name: dump_value(value) for name, value in business.items() if value is not None and value != ""}
    for reserved in ("sid", "appkey", "timestamp", "sign"):
        if reserved in form:
            raise ValueError(f"{reserved} is a public parameter; it cannot be a business parameter")
    form.update(sid=sid, appkey=appkey, timestamp=str(timestamp))
    form["sign"] = sign(form, appsecret)
    return form
