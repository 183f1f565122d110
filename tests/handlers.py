"""Call a function's real handler in process, the way the local stack does."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def sample_event(name: str, **changes: Any) -> dict[str, Any]:
    """A copy of events/<name>.json; ``body=`` / ``query=`` replace those parts."""
    event = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    event = copy.deepcopy(event)
    if "body" in changes:
        body = changes.pop("body")
        event["body"] = body if isinstance(body, str) or body is None else json.dumps(body, ensure_ascii=False)
        event["isBase64Encoded"] = False  # a replacement body is given as text
    if "query" in changes:
        query = changes.pop("query")
        event["queryStringParameters"] = query or None
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event.update(changes)
    return event


def invoke(function: str, event: dict[str, Any]) -> Any:
    from o2o_local.stack import invoke_function

    return invoke_function(function, event)


def answer(function: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = invoke(function, event)
    return result["statusCode"], json.loads(result["body"])
