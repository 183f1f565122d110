"""Keep secrets out of logs, error messages and dead letters.

Adapters should never put a secret into a message in the first place; this is the
second line of defence for text that came from somewhere else (an exception from a
library, a downstream error body echoing our request).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable

MASK = "****"

SECRET_KEY_PATTERN = re.compile(
    r"(secret|password|passwd|api_key|apikey|access_token|refresh_token|partner_key|webhook_secret|authorization)",
    re.IGNORECASE,
)

# name=value / "name": "value" / Bearer tokens in free text.
_INLINE_SECRET = re.compile(
    r"""(?P<key>(?:app_secret|access_token|refresh_token|api_key|partner_key|webhook_secret|password|token|sign)\b["']?\s*[:=]\s*["']?)(?P<value>[^\s"'&,;}]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact_text(text: str, known_secrets: Iterable[str] = ()) -> str:
    """Mask known secret values and anything shaped like ``token=...`` in ``text``."""
    for secret in sorted({s for s in known_secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _INLINE_SECRET.sub(lambda m: m.group("key") + MASK, text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)


def secret_keys_in(value: Any, path: str = "") -> list[str]:
    """Paths of mapping keys that look like they hold a secret (for payload checks)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if SECRET_KEY_PATTERN.search(str(key)):
                found.append(here)
            found.extend(secret_keys_in(item, here))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found.extend(secret_keys_in(item, f"{path}[{index}]"))
    return found


class RedactingFilter(logging.Filter):
    """A logging filter that masks secret-shaped text in every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Format first: a secret may arrive through the arguments, not the template.
        if isinstance(record.msg, str) or record.args:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return True
            record.msg, record.args = redact_text(message), None
        return True
