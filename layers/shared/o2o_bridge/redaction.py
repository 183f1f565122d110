"""Keep secrets out of logs, error messages and dead letters.

Adapters should never put a secret into a message in the first place; this is the
second line of defence for text that came from somewhere else (an exception from a
library, a downstream error body echoing our request). Every secret value the process has
revealed (``remember``, called by the tenant model) is masked wherever it appears, as are mobile
numbers (personal information, not secrets, but no log needs them whole), and the
log formatter masks whole log records: the message, every ``extra=`` field (by key name and
by value) and the formatted traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable

MASK = "****"

SECRET_KEY_PATTERN = re.compile(
    r"(secret|password|passwd|api_key|apikey|access_token|refresh_token|partner_key|webhook_secret|authorization"
    r"|^token$|_token$)",
    re.IGNORECASE,
)
# Secret values revealed in this process (tenant secrets read inline or from Secrets Manager).
_REVEALED: set[str] = set()


def remember(value: str | None) -> None:
    """Mask ``value`` from now on in every redacted text of this process."""
    if value and len(value) >= 4:
        _REVEALED.add(value)

# name=value / "name": "value" / Bearer tokens in free text.
_INLINE_SECRET = re.compile(
    r"""(?P<key>(?:app_secret|access_token|refresh_token|api_key|partner_key|webhook_secret|password|token|sign)\b["']?\s*[:=]\s*["']?)(?P<value>[^\s"'&,;}]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# A mainland mobile number (a buyer's, a member's) is personal information: logs and errors keep
# only the first 3 and last 4 digits, enough to tell two apart when tracing. Not inside a longer
# run of digits (an order or waybill number).
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def redact_text(text: str, known_secrets: Iterable[str] = ()) -> str:
    """Mask known secret values, anything shaped like ``token=...`` and mobile numbers in ``text``."""
    for secret in sorted({s for s in (*known_secrets, *_REVEALED) if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _INLINE_SECRET.sub(lambda m: m.group("key") + MASK, text)
    text = _MOBILE.sub(r"\1****\2", text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)


def mask_revealed(text: str) -> str:
    """Only the secret values this process revealed masked (for text that must stay replayable)."""
    for secret in sorted(_REVEALED, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_value(value: Any, known_secrets: Iterable[str] = ()) -> Any:
    """``value`` (a log record, a dead letter) with secret-named keys masked and every string redacted."""
    if isinstance(value, dict):
        return {k: (MASK if SECRET_KEY_PATTERN.search(str(k)) and v not in (None, "") and not isinstance(v, (dict, list))
                    else redact_value(v, known_secrets)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, known_secrets) for v in value]
    if isinstance(value, str):
        return redact_text(value, known_secrets)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact_text(str(value), known_secrets)  # an exception object, a datetime: as it would be printed


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


def redacting_formatter():
    """A Powertools JSON formatter that redacts the whole record before it is written."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class RedactingFormatter(LambdaPowertoolsFormatter):
        def serialize(self, log):  # the record as a dict: message, extra fields, exception text
            return super().serialize(redact_value(log))

    return RedactingFormatter()
