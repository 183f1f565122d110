"""Reading a store-system event off ``POST /pos/events`` (pos-contract.md)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ..errors import UnknownTenant, UnprocessableRequest
from ..ports import TenantRepository

EVENT_TYPES = (
    "order.warehouse_requested",
    "order.cancelled",
    "return.requested",
    "fulfilment.shipped",
    "fulfilment.picked_up",
    "fulfilment.rejected",
    "transfer.submitted",
    "warehouse_return.submitted",
    "stock.changed",
)


@dataclass(frozen=True)
class PosEvent:
    event_id: str
    ent_id: str
    type: str
    occurred_at: str
    data: dict[str, Any]
    raw_body: bytes
    tenant: Any


def read_event(event: Any, tenants: TenantRepository) -> PosEvent:
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode("utf-8")
    try:
        body = json.loads(raw)
    except ValueError:
        raise UnprocessableRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise UnprocessableRequest("body must be a JSON object")
    for name in ("event_id", "ent_id", "type", "occurred_at"):
        if not isinstance(body.get(name), (str, int)) or str(body.get(name)).strip() == "":
            raise UnprocessableRequest(f"field {name} is required")
    if not isinstance(body.get("data"), dict):
        raise UnprocessableRequest("field data must be an object")
    if body["type"] not in EVENT_TYPES:
        raise UnprocessableRequest(f"field type: unknown event type {body['type']!r}")
    tenant = tenants.get(str(body["ent_id"]))
    if tenant is None:
        raise UnknownTenant(str(body["ent_id"]))
    return PosEvent(str(body["event_id"]), str(body["ent_id"]), body["type"], str(body["occurred_at"]), body["data"], raw, tenant)
