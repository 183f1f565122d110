"""Helpers for POST /pos/events: signed requests to the real handler, table counts."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from handlers import sample_event
from o2o_bridge.events import routes
from o2o_bridge.tenant import parse_tenant
from o2o_bridge.connectors.store.inbound import sign

ROOT = Path(__file__).resolve().parents[2]
DEMO_SECRET = "demo-webhook-secret"
OTHER_SECRET = "other-webhook-secret"
EVENT_TYPES = [
    "order.warehouse_requested", "order.cancelled", "return.requested",
    "fulfilment.shipped", "fulfilment.picked_up", "fulfilment.rejected",
    "transfer.submitted", "warehouse_return.submitted", "stock.changed",
    "sale.completed", "sale.refunded", "stock.counted", "store_document.submitted", "store_transfer.submitted",
    "store_transfer.received",
    "payment.collected", "product.changed", "member.updated",
]


def demo_doc() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "local" / "tenants" / "demo.yaml").read_text(encoding="utf-8"))


def sample_body(event_type: str) -> dict[str, Any]:
    """The body of events/pos_events_<type>.json, decoded, happening now (inside the window)."""
    from datetime import datetime, timezone

    body = json.loads(sample_event("pos_events_" + event_type.replace(".", "_"))["body"])
    return {**body, "occurred_at": datetime.now(timezone.utc).isoformat()}


def fresh(event_type: str, **changes: Any) -> dict[str, Any]:
    """The sample body of ``event_type`` under a new event_id (idempotency records persist per package)."""
    import uuid

    return {**sample_body(event_type), "event_id": f"evt-{uuid.uuid4().hex[:12]}", **changes}


def request(body: Any, *, secret: str | None = DEMO_SECRET, event_id: str | None = "<body>",
            signature: str | None = None, base64: bool = False) -> dict[str, Any]:
    """An API Gateway v2 event for ``body`` (dict → JSON, str/bytes as is), signed with ``secret``."""
    raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)).encode("utf-8")
    event = sample_event("pos_events")
    headers = event["headers"]
    headers.pop("x-o2o-signature")
    headers.pop("x-o2o-event-id")
    if signature is not None:
        headers["x-o2o-signature"] = signature
    elif secret is not None:
        headers["x-o2o-signature"] = sign(secret, raw)
    if event_id == "<body>":
        event_id = body.get("event_id") if isinstance(body, dict) else "evt-x"
    if event_id is not None:
        headers["x-o2o-event-id"] = str(event_id)
    if base64 or not _is_text(raw):
        import base64 as b64

        event["body"], event["isBase64Encoded"] = b64.b64encode(raw).decode("ascii"), True
    else:
        event["body"] = raw.decode("utf-8", "surrogatepass")
    return event


def _is_text(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@functools.cache
def _template():
    from o2o_local.template import load_template

    return load_template()


def send(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The real handler's (status, body), as tests/handlers.answer but with the template parsed once."""
    from o2o_local.stack import invoke_function

    result = invoke_function("pos_events", event, template=_template())
    return result["statusCode"], json.loads(result["body"])


def table_items(env: dict[str, str]) -> tuple[int, int]:
    """(StateTable items, IdempotencyTable items)."""
    client = boto3.client("dynamodb")
    return tuple(client.scan(TableName=env[name], Select="COUNT")["Count"] for name in ("STATE_TABLE", "IDEMPOTENCY_TABLE"))  # type: ignore[return-value]


@pytest.fixture(scope="package")
def tenants():
    """moto with the template's tables, the demo tenant (10010) and a second one (20020).

    Built once for this package (building the tables is most of a test's time); each test
    uses its own event ids and compares table counts before and after, so tests stay
    independent.
    """
    from aws_setup import template_aws

    other = copy.deepcopy(demo_doc())
    other["ent_id"], other["name"] = "20020", "Other merchant"
    other["pos"]["webhook_secret"] = OTHER_SECRET
    with pytest.MonkeyPatch.context() as patch, template_aws(patch, parse_tenant(demo_doc()),
                                                              parse_tenant(other)) as names:
        yield names


@pytest.fixture
def effects(monkeypatch):
    """A test-only flow registered for every event type; returns the list of its effects."""
    done: list[tuple[str, str, str]] = []

    def record_flow(event, ctx):
        done.append((ctx.ent_id, event.event_id, event.type))

    for event_type in EVENT_TYPES:
        monkeypatch.setitem(routes.ROUTES, event_type, routes.Route(record_flow, "test"))
    return done
