"""Idempotency-Key of each bridge → 店+ call: ``<action>:<business key>``.

The key is derived from the business key of the action, never from a clock or a random
number, so a retried Lambda, a replayed retry message or a concurrent duplicate sends the
same key and the store system applies the action once (the store contract, docs/openapi/pos-api.yaml):

| call | key |
|---|---|
| P1 create fulfilment | ``fulfilment:<io_id>:<store_code>`` (a re-route to the next store is a new action) |
| P2 cancel fulfilment | ``fulfilment-cancel:<fulfilment_id>`` |
| P3 shipment | ``shipment:<order_no>:<l_id>`` (l_id = tracking no.) |
| P4 cancel order | ``order-cancel:<order_no>`` |
| P5 return receipt | ``return-receipt:<return_no>:<action>:<received_at>`` |
| P6 warehouse stock | ``stock:<warehouse_code>:<business key>`` + ``:<part>/<parts>`` per chunk; without a business key, a hash of the items |
| P7 / P8 reads | ``read:<path>?<query>`` (the store system ignores keys on GET) |
| P9 products | ``products:<business key>``; without one, a hash of the batch |
| P10 transfer shipped | ``transfer-shipped:<doc_no>:<jst_io_id>`` |
| P11 return received | ``warehouse-return-received:<doc_no>:<jst_io_id>`` |
| P12 inbound receipt | ``inbound-receipt:<store_code>:<doc_no>`` (the ERP's document no.) |
| P13 outbound note | ``outbound-note:<store_code>:<doc_no>`` |
| P14 member | ``member:<member_id>:<business key>``; without one, a hash of the profile |

Callers may always pass their own business key (``business_key=``); the action prefix is
added here so two actions on one document never share a key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_KEY_LENGTH = 255


def key(action: str, *parts: Any) -> str:
    text = ":".join([action, *(str(p) for p in parts)])
    if len(text) <= MAX_KEY_LENGTH:
        return text
    # Keep it readable and bounded: the prefix plus a digest of the whole.
    return f"{text[:MAX_KEY_LENGTH - 65]}#{hashlib.sha256(text.encode()).hexdigest()}"


def content_hash(body: Any) -> str:
    """A short stable digest of a JSON body (keys sorted), for actions without a natural key."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]
