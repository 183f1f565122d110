"""The functions' edges: bad input gets a clear 4xx in the caller's format and writes nothing;
paths whose flow is not built yet say so (501) instead of pretending success."""

import boto3
import pytest

from handlers import answer, invoke, sample_event
from o2o_bridge import runtime
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


@pytest.fixture
def tenant(aws):
    runtime.state_store().put(parse_tenant(demo_doc()))
    return aws


def state_items(env) -> int:
    return boto3.client("dynamodb").scan(TableName=env["STATE_TABLE"], Select="COUNT")["Count"]


def idempotency_items(env) -> int:
    return boto3.client("dynamodb").scan(TableName=env["IDEMPOTENCY_TABLE"], Select="COUNT")["Count"]


CALLBACKS = ["delivery_callback", "cancel_callback", "return_goods_callback", "stock_callback"]


@pytest.mark.parametrize(
    "changes, status, message",
    [
        ({"body": "{not json"}, 400, "body is not valid JSON"),
        ({"body": "[1, 2]"}, 400, "body must be a JSON object"),
        ({"body": ""}, 400, "empty body"),
        ({"query": {"storageCode": "133242"}}, 400, "entId is required"),
        ({"query": {"entId": "10010"}}, 400, "storageCode is required"),
        ({"query": {"entId": "99999", "storageCode": "133242"}}, 404, "unknown entId '99999'"),
        ({"query": {"entId": "10010", "storageCode": "1"}}, 403, "storageCode '1' is not tenant 10010's 自有商城 shop"),
    ],
)
def test_bad_delivery_pushes_get_a_jst_style_error_and_write_nothing(tenant, changes, status, message):
    before = state_items(tenant), idempotency_items(tenant)
    code, body = answer("delivery_callback", sample_event("delivery_callback", **changes))
    assert code == status
    assert body["code"] == status and message in body["msg"]
    assert (state_items(tenant), idempotency_items(tenant)) == before


@pytest.mark.parametrize("function", CALLBACKS)
def test_valid_pushes_are_refused_with_501_until_their_flow_exists(tenant, function):
    before = state_items(tenant)
    code, body = answer(function, sample_event(function))
    assert code == 501
    assert "not implemented yet" in body["msg"] and "issue #" in body["msg"]
    assert state_items(tenant) == before


def test_form_biz_bodies_are_read_like_json_ones(tenant):
    code, body = answer("delivery_callback", sample_event("delivery_callback_form"))
    assert code == 501


def test_stock_callback_storage_code_must_be_a_mapped_warehouse(tenant):
    code, body = answer("stock_callback", sample_event("stock_callback", query={"entId": "10010", "storageCode": "133242"}))
    assert code == 403 and "not a warehouse mapped" in body["msg"]


def test_both_cancel_routes_reach_the_cancel_callback(tenant):
    for path in ("/jushuitan/cancel_callback", "/jushuitan/cancal_callback"):
        event = sample_event("cancel_callback", rawPath=path, routeKey=f"POST {path}")
        event["requestContext"]["http"]["path"] = path
        assert answer("cancel_callback", event)[0] == 501


@pytest.mark.parametrize(
    "body, status, message",
    [
        ("nope", 422, "not valid JSON"),
        ({"event_id": "evt-0001", "type": "stock.changed", "occurred_at": "t", "data": {}}, 422, "ent_id: field required"),
        ({"event_id": "evt-0001", "ent_id": "777", "type": "stock.changed", "occurred_at": "t", "data": {}}, 404, "unknown entId"),
        # The sample's signature is for the sample's body, not this one: a forged event.
        ({"event_id": "evt-0001", "ent_id": "10010", "type": "stock.changed", "occurred_at": "t", "data": {}}, 401, "does not match"),
    ],
)
def test_bad_store_events_are_refused_with_the_contract_status(tenant, body, status, message):
    # The full edge (signatures, models, idempotency, fuzzing) is tested in tests/pos_events/.
    before = state_items(tenant), idempotency_items(tenant)
    code, answer_body = answer("pos_events", sample_event("pos_events", body=body))
    assert (code, answer_body["code"]) == (status, status) and message in answer_body["msg"]
    assert (state_items(tenant), idempotency_items(tenant)) == before


def test_store_events_are_not_acknowledged_before_their_flow_exists(tenant):
    # events/pos_events.json is signed with the demo tenant's webhook secret.
    before = state_items(tenant), idempotency_items(tenant)
    code, body = answer("pos_events", sample_event("pos_events"))
    assert code == 501 and "issue #5" in body["msg"]
    assert (state_items(tenant), idempotency_items(tenant)) == before


def test_health_answers_ok(aws):
    code, body = answer("health", sample_event("health"))
    assert code == 200 and body["status"] == "ok"


def test_poll_jst_documents_reports_each_tenant_whose_document_flows_are_not_built(tenant):
    from o2o_bridge.flows.kit import TenantFailures

    with pytest.raises(TenantFailures, match="not implemented yet"):
        invoke("poll_jst_documents", {})


@pytest.mark.parametrize("function", ["poll_jst_outbound", "pull_jst_stock", "sync_products", "nightly_stock_push"])
def test_schedule_functions_fail_loudly_until_their_flow_exists(aws, function):
    from o2o_bridge.errors import NotImplementedYet

    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        invoke(function, {})
