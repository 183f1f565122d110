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
        # authentication first, one answer for every stranger (unknown tenant, foreign storageCode)
        ({"query": {"entId": "99999", "storageCode": "133242", "token": "demo-callback-token"}}, 401,
         "push not authenticated for this callback URL"),
        ({"query": {"entId": "10010", "storageCode": "1", "token": "demo-callback-token"}}, 401,
         "push not authenticated for this callback URL"),
    ],
)
def test_bad_delivery_pushes_get_a_jst_style_error_and_write_nothing(tenant, changes, status, message):
    before = state_items(tenant), idempotency_items(tenant)
    code, body = answer("delivery_callback", sample_event("delivery_callback", **changes))
    assert code == status
    assert body["code"] == status and message in body["msg"]
    assert (state_items(tenant), idempotency_items(tenant)) == before


# Every callback's flow is built now (#6 the S2 ones: tests/flows_s2/test_callbacks.py; #7 stock_callback).


def test_form_biz_bodies_are_read_like_json_ones(tenant):
    # The biz field is read as the JSON body: its missing l_id is named like a JSON body's.
    event = sample_event("delivery_callback_form", body="biz=%7B%22so_id%22%3A%22WM1%22%7D")
    before = state_items(tenant)
    code, body = answer("delivery_callback", event)
    assert code == 400 and "l_id" in body["msg"] and state_items(tenant) == before


def test_stock_callback_storage_code_must_be_a_mapped_warehouse(tenant):
    # the 自有商城 shop id is not a warehouse: refused like any stranger, before authentication says more
    query = {"entId": "10010", "storageCode": "133242", "type": "2", "token": "demo-callback-token"}
    code, body = answer("stock_callback", sample_event("stock_callback", query=query))
    assert code == 401 and body["msg"] == "push not authenticated for this callback URL"


def test_stock_callback_refuses_a_type_other_than_the_guides_2_and_writes_nothing(tenant):
    before = state_items(tenant)
    query = {"entId": "10010", "storageCode": "10000", "type": "1", "token": "demo-callback-token"}
    code, body = answer("stock_callback", sample_event("stock_callback", query=query))
    assert code == 400 and "type must be 2" in body["msg"] and state_items(tenant) == before


def test_both_cancel_routes_reach_the_cancel_callback(tenant):
    for path in ("/jushuitan/cancel_callback", "/jushuitan/cancal_callback"):
        # A body without its so_id: the route reaches the handler, which names the field (400).
        event = sample_event("cancel_callback", rawPath=path, routeKey=f"POST {path}", body={"remark": "x"})
        event["requestContext"]["http"]["path"] = path
        code, body = answer("cancel_callback", event)
        assert code == 400 and "so_id" in body["msg"]


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


def test_a_store_event_about_a_fulfilment_the_bridge_never_created_is_refused_and_writes_nothing(tenant):
    # events/pos_events.json, happening now, signed with the demo tenant's webhook secret; its FO700001-1 is unknown here.
    import json
    from datetime import datetime, timezone

    from o2o_bridge.connectors.store.inbound import sign

    event = sample_event("pos_events")
    raw = json.dumps({**json.loads(event["body"]), "occurred_at": datetime.now(timezone.utc).isoformat()})
    event["body"], event["headers"]["x-o2o-signature"] = raw, sign("demo-webhook-secret", raw.encode())
    before = state_items(tenant), idempotency_items(tenant)
    code, body = answer("pos_events", event)
    assert code == 422 and "FO700001-1" in body["msg"] and "not a fulfilment order the bridge created" in body["msg"]
    assert (state_items(tenant), idempotency_items(tenant)) == before


def test_health_answers_ok(aws):
    code, body = answer("health", sample_event("health"))
    assert code == 200 and body["status"] == "ok"


@pytest.fixture
def tenant_without_jst(aws):
    # A port nothing listens on (a local stack or demo may be serving the demo tenant's :8801).
    doc = demo_doc()
    doc["jushuitan"]["base_url"] = "http://127.0.0.1:9"
    runtime.state_store().put(parse_tenant(doc))
    return aws


def test_poll_jst_documents_reports_each_tenant_it_could_not_poll(tenant_without_jst):
    # Both document flows exist (#6 missed pushes, #8 other in/out); no JST answers here.
    from o2o_bridge.flows.kit import TenantFailures

    with pytest.raises(TenantFailures, match="10010.*unreachable"):
        invoke("poll_jst_documents", {})


def test_sync_products_runs_every_registered_tenant(aws):
    # No tenant registered: nothing to read, nothing failed (the flow is tested in tests/flows_products).
    result = invoke("sync_products", {})
    assert (result["job"], result["queued"], result["tenants"]) == ("sync_products", [], {})


def test_sync_products_reports_a_tenant_whose_jst_is_unreachable(tenant_without_jst):
    from o2o_bridge.flows.kit import TenantFailures

    with pytest.raises(TenantFailures, match="sync_products failed for tenant.*10010.*unreachable"):
        invoke("sync_products", {})


def test_a_stock_push_is_acknowledged_once_its_levels_are_applied_or_durably_queued(tenant):
    # No 店+ answers here (port 9): the P6 call fails transiently and goes to the retry queue (S3, #7).
    doc = demo_doc()
    doc["pos"]["base_url"] = "http://127.0.0.1:9/api"
    runtime.state_store().put(parse_tenant(doc))
    code, body = answer("stock_callback", sample_event("stock_callback"))
    assert (code, body) == (200, {"code": 0, "msg": "执行成功"})
    code, body = answer("stock_callback", sample_event("stock_callback_form"))
    assert (code, body) == (200, {"code": 0, "msg": "执行成功"})


@pytest.mark.parametrize("function", ["pull_jst_stock", "nightly_stock_push"])
def test_stock_schedules_run_every_registered_tenant(aws, function):
    # No tenant registered: nothing to do (the flows are tested in tests/flows_stock).
    result = invoke(function, {})
    assert (result["job"], result["queued"], result["tenants"]) == (function, [], {})


def test_poll_jst_outbound_runs_every_registered_tenant(aws):
    # No tenant registered: nothing to read (the S1 flow is tested in tests/flows_s1).
    result = invoke("poll_jst_outbound", {})
    assert (result["job"], result["queued"], result["tenants"]) == ("poll_jst_outbound", [], {})


def test_poll_jst_outbound_reports_a_tenant_whose_jst_is_unreachable_and_keeps_its_cursor(aws):
    from o2o_bridge.flows.kit import TenantFailures

    doc = demo_doc()  # nothing listens on port 9, even while a demo's sandboxes run on 8801/8802
    doc["jushuitan"]["base_url"], doc["pos"]["base_url"] = "http://127.0.0.1:9", "http://127.0.0.1:9/api"
    runtime.state_store().put(parse_tenant(doc))
    with pytest.raises(TenantFailures, match="poll_jst_outbound failed for tenant.*10010"):
        invoke("poll_jst_outbound", {})
    assert runtime.state_store().get_cursor("10010", "jst.sales_outbound") is None
