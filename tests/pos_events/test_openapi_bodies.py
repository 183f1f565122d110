"""Events valid per docs/openapi/pos-api.yaml (the PosEvent_* components) are accepted by the bridge.

Bodies are generated from the OpenAPI schemas (not from the pydantic models), checked
with jsonschema, then signed and sent to the real handler: each must reach its flow (200).
This keeps the published contract and the bridge's models from drifting apart.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as event_label
from hypothesis import strategies as st

from o2o_bridge.events.models import parse_event

from .conftest import DEMO_SECRET, EVENT_TYPES, OTHER_SECRET, request, send
from .openapi_strategies import event_strategy, load_openapi, validator

DOCUMENT = load_openapi()
pytestmark = pytest.mark.skipif(DOCUMENT is None, reason="docs/openapi/pos-api.yaml is not there yet")

TENANT_SECRETS = {"10010": DEMO_SECRET, "20020": OTHER_SECRET}


def test_the_openapi_names_one_component_per_event_type():
    schemas = DOCUMENT["components"]["schemas"]
    assert {f"PosEvent_{t.replace('.', '_')}" for t in EVENT_TYPES} <= set(schemas)
    assert set(schemas["PosEvent"]["discriminator"]["mapping"]) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_sample_events_are_valid_per_the_openapi(event_type):
    from .conftest import sample_body

    validator(DOCUMENT).validate(sample_body(event_type))


BY_TYPE = {t: event_strategy(DOCUMENT, f"PosEvent_{t.replace('.', '_')}") for t in EVENT_TYPES} if DOCUMENT else {}


@st.composite
def openapi_events(draw):
    body = draw(BY_TYPE[draw(st.sampled_from(EVENT_TYPES))])
    body["ent_id"] = draw(st.sampled_from(sorted(TENANT_SECRETS)))  # a registered tenant, to be signed for
    # inside the tenant's window (the contract allows any time; the bridge refuses stale ones)
    body["occurred_at"] = (datetime.now(timezone.utc) - timedelta(seconds=draw(st.integers(0, 23 * 3600)))).isoformat()
    # An id of this test's own: the package's tables keep the records of the other tests, and a
    # generated id such as 0 may already be a done event there (then rightly acknowledged, not run).
    body["event_id"] = f"{body['event_id']}-openapi-{next(_SERIAL)}"
    return body


_SERIAL = itertools.count(1)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(body=openapi_events())
def test_every_body_valid_per_the_openapi_is_accepted(tenants, effects, body):
    validator(DOCUMENT).validate(body)
    event_label(body["type"])
    event = parse_event(body)  # the models accept what the published contract allows
    code, answer = send(request(body, secret=TENANT_SECRETS[body["ent_id"]], event_id=str(body["event_id"]).strip()))
    assert (code, answer) == (200, {"code": 0, "msg": "ok"})
    assert (event.ent_id, event.event_id) in {(e, i) for e, i, _ in effects}
