"""Only a body signed with its own tenant's webhook secret gets past the edge; nothing is written otherwise."""

import pytest

from .conftest import DEMO_SECRET, OTHER_SECRET, fresh, request, sample_body, send, table_items


def refused(env, event, status, message):
    before = table_items(env)
    code, body = send(event)
    assert (code, body["code"]) == (status, status), body
    assert message in body["msg"]
    assert table_items(env) == before
    return body


def test_the_sample_event_is_signed_for_the_demo_tenant_but_too_old_to_replay(tenants):
    # events/pos_events.json carries a real signature: it passes the signature check, and is
    # then refused because it happened (2026-11-22) before the tenant's 24 h window.
    from handlers import sample_event

    before = table_items(tenants)
    code, body = send(sample_event("pos_events"))
    assert code == 422 and body["msg"].startswith("occurred_at: 2026-11-22T10:30:00+08:00 is older than 24 h")
    assert table_items(tenants) == before


@pytest.mark.parametrize("occurred_at, message", [
    ("2001-01-01T00:00:00+08:00", "is older than 24 h"),  # attack 4
    ("2099-01-01T00:00:00+08:00", "ahead of the bridge's clock"),
])
def test_attack_4_events_outside_the_window_are_422_with_nothing_written(tenants, occurred_at, message):
    refused(tenants, request(fresh("fulfilment.shipped", occurred_at=occurred_at)), 422, message)


def test_the_window_is_per_tenant_and_shorter_than_the_idempotency_records():
    from datetime import datetime, timedelta, timezone

    from o2o_bridge.events.models import parse_event
    from o2o_bridge.idempotency import DEFAULT_TTL_SECONDS
    from o2o_bridge.tenant import PosConfig, parse_tenant
    from o2o_bridge.connectors.store.inbound import check_window

    from .conftest import demo_doc

    longest = PosConfig.model_fields["event_max_age_hours"].metadata[-1].le
    assert longest * 3600 < DEFAULT_TTL_SECONDS  # a replay inside any window is a duplicate, never new
    doc = demo_doc()
    doc["pos"]["event_max_age_hours"] = 48
    tenant = parse_tenant(doc)
    event = parse_event(fresh("fulfilment.shipped",
                              occurred_at=(datetime.now(timezone.utc) - timedelta(hours=30)).isoformat()))
    check_window(event, tenant)  # 30 h old: inside 48 h
    with pytest.raises(Exception, match="older than 24 h"):
        check_window(event, parse_tenant(demo_doc()))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"secret": None}, "X-O2O-Signature is required"),
        ({"signature": ""}, "X-O2O-Signature is required"),
        ({"signature": "md5=abc"}, "must be sha256=<hex"),
        ({"signature": "sha256=" + "0" * 64}, "does not match"),
        ({"signature": "sha256=not-hex-at-all-\u00e9"}, "does not match"),
        ({"secret": "guessed-secret"}, "does not match"),
    ],
)
def test_unsigned_and_forged_events_are_401(tenants, changes, message):
    refused(tenants, request(sample_body("fulfilment.shipped"), **changes), 401, message)


def test_a_tampered_body_no_longer_matches_its_signature(tenants):
    event = request(sample_body("stock.changed"))
    event["body"] = event["body"].replace('"qty": 7', '"qty": 70000')
    refused(tenants, event, 401, "does not match")


def test_cross_tenant_signature_is_401(tenants):
    # Signed with tenant 20020's secret but naming tenant 10010, and the other way round.
    refused(tenants, request(sample_body("fulfilment.shipped"), secret=OTHER_SECRET), 401, "tenant 10010")
    other = dict(sample_body("fulfilment.shipped"), ent_id="20020")
    refused(tenants, request(other, secret=DEMO_SECRET), 401, "tenant 20020")


def test_each_tenant_is_verified_with_its_own_secret(tenants, effects):
    other = fresh("fulfilment.shipped", ent_id="20020")
    assert send(request(other, secret=OTHER_SECRET)) == (200, {"code": 0, "msg": "ok"})
    assert effects == [("20020", other["event_id"], "fulfilment.shipped")]


@pytest.mark.parametrize("ent_id", ["99999", "no such tenant", "x" * 500, "../10010"])
def test_unknown_tenant_is_404(tenants, ent_id):
    refused(tenants, request(dict(sample_body("order.cancelled"), ent_id=ent_id)), 404, "unknown entId")


def test_a_base64_body_is_verified_on_its_decoded_bytes(tenants, effects):
    assert send(request(fresh("order.cancelled"), base64=True))[0] == 200
    event = request(sample_body("order.cancelled"), base64=True)
    event["body"] = "%%%not base64"
    refused(tenants, event, 422, "not valid base64")


def test_the_signature_covers_the_raw_bytes_not_a_re_serialisation(tenants, effects):
    # Same JSON value, different bytes: whitespace and key order are the sender's, and signed as such.
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).isoformat()
    raw = '{ "data": {"order_no": "SO1", "reason": "r"},\n "type": "order.cancelled", "occurred_at": "%s", "ent_id": "10010", "event_id": "evt-raw" }' % now
    assert send(request(raw, event_id="evt-raw"))[0] == 200
    assert effects == [("10010", "evt-raw", "order.cancelled")]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"event_id": None}, "X-O2O-Event-Id is required"),
        ({"event_id": "evt-other"}, "does not match the body's event_id"),
    ],
)
def test_the_event_id_header_is_required_and_must_match_the_body(tenants, changes, message):
    refused(tenants, request(sample_body("stock.changed"), **changes), 422, message)


@pytest.mark.parametrize(
    "body, message",
    [
        ("", "body: required"),
        ("{not json", "body: not valid JSON"),
        ("[1, 2]", "body: must be a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # deeper than the parser's recursion limit
        ('{"event_id": "e"}', "ent_id: field required"),
        ('{"ent_id": true}', "ent_id: field required"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
def test_a_body_that_cannot_name_its_tenant_is_422(tenants, body, message):
    refused(tenants, request(body, event_id="e"), 422, message)


def test_an_oversized_body_is_refused_unread(tenants):
    body = dict(sample_body("stock.changed"))
    body["data"] = {"store_code": "S001", "items": [{"sku_id": f"SKU{i:08d}", "qty": 1, "version": 1} for i in range(30_000)]}
    refused(tenants, request(body), 422, "larger than")
