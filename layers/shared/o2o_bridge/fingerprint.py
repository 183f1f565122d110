"""One stable fingerprint of business data, for idempotency keys and markers (flows and
connectors alike)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(value: Any) -> str:
    """A short stable fingerprint of JSON-able business data (idempotency keys, markers)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:24]
