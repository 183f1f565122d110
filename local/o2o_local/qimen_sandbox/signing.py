"""The gateway's sign, written here from the published rule and not imported from the bridge,
so the sandbox checks the bridge's signing independently: upper-case MD5 of secret + the
sorted non-empty query parameters (``sign`` left out) as key+value + the raw body + secret."""

from __future__ import annotations

import hashlib
from typing import Mapping


def gateway_sign(params: Mapping[str, str], body: bytes, secret: str) -> str:
    text = "".join(key + value for key, value in sorted(params.items()) if key != "sign" and key and value)
    return hashlib.md5(secret.encode() + text.encode() + body + secret.encode()).hexdigest().upper()
