"""The attacks of issue #12, each replayed against the real handlers (moto for DynamoDB and
SQS): every one is refused, in the caller's format, and leaves both tables and both queues
exactly as they were. Attacks 7-9 (secrets at rest, IAM, per-tenant timelines) are proved
where they live: tests/unit/test_secret_references.py, tests/jst/test_tokens_dynamo.py,
tests/unit/test_redaction.py, tests/template/test_least_privilege.py,
tests/unit/test_state_store.py."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from handlers import answer, sample_event
from o2o_bridge.connectors.store.inbound import sign as sign_event

from .conftest import REFUSED, push, signed, snapshot

def url_query(route: str, storage_code: str = "133242", **extra) -> dict:
    """A callback URL's query as `o2o tenant urls --reveal-token` prints it: its own token."""
    from o2o_bridge.connectors.jushuitan.push import url_token

    return {"entId": "10010", "storageCode": storage_code, **extra,
            "token": url_token("demo-callback-token", ent_id="10010", route=route, storage_code=storage_code)}


def stock_body(modified: str, qty=5) -> dict:
    return {"datas": [{"sku_id": "TS001-WHT-M", "qty": qty, "modified": modified}]}


def now_jst() -> str:
    return datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")


ATTACK_1 = {
    "a 2017 ts with a new body on the stock route":
        ("stock_callback", signed("inventory.upload", storage_code="10000", type="2", ts=1500000000),
         stock_body("2026-12-01 10:00:00")),
    "another warehouse's storageCode pasted into a signed stock URL":
        ("stock_callback", {**signed("inventory.upload", storage_code="10000", type="2"), "storageCode": "10001"},
         stock_body("2026-12-01 10:00:00")),
    "a captured logistics push replayed on the cancel route with a forged so_id":
        ("cancel_callback", signed("logistics.upload"), {"so_id": "ANY-ORDER"}),
    "the delivery URL (its own token) seen once, used on the cancel route with a forged so_id":
        ("cancel_callback", url_query("delivery"), {"so_id": "ANY-ORDER"}),
    "one warehouse's stock URL used with another warehouse's storageCode":
        ("stock_callback", {**url_query("stock", "10000", type="2"), "storageCode": "10001"},
         stock_body("2026-12-01 10:00:00")),
    "a captured stock push replayed on the delivery route":
        ("delivery_callback", signed("inventory.upload"), {"so_id": "X", "l_id": "L", "lc_id": "SF",
                                                          "items": [{"sku_id": "A", "qty": 1}]}),
}


@pytest.mark.parametrize("attack", list(ATTACK_1))
def test_attack_1_a_captured_push_is_bound_to_its_route_tenant_and_time(bridge, attack):
    function, query, body = ATTACK_1[attack]
    before = snapshot(bridge)
    assert push(function, query, body) == REFUSED
    assert snapshot(bridge) == before


def test_attack_2_a_2099_stock_version_is_refused_and_pins_nothing(bridge):
    before = snapshot(bridge)
    code, reply = push("stock_callback", signed("inventory.upload", storage_code="10000", type="2"),
                       stock_body("2099-12-31 23:59:59", qty=0))
    assert code == 400 and "2099-12-31 23:59:59 is later than now" in reply["msg"]
    assert snapshot(bridge) == before


def test_attack_3_strangers_cannot_tell_unknown_tenants_from_wrong_credentials(bridge):
    before = snapshot(bridge)
    strangers = [
        {"entId": "99999", "storageCode": "133242", "token": "demo-callback-token"},  # unknown tenant
        {"entId": "10010", "storageCode": "555", "token": "demo-callback-token"},  # foreign storageCode
        {"entId": "10010", "storageCode": "133242", "token": "guessed"},  # wrong token
        {**signed("logistics.upload"), "sign": "0" * 32},  # wrong signature
        {**signed("logistics.upload"), "entId": "99999"},  # unknown tenant, signed
    ]
    answers = {json.dumps(push("delivery_callback", q, {"so_id": "X"}), ensure_ascii=False) for q in strangers}
    assert answers == {json.dumps(REFUSED, ensure_ascii=False)}
    assert snapshot(bridge) == before


@pytest.mark.parametrize("occurred_at", ["2001-01-01T00:00:00+08:00", "2099-01-01T00:00:00+08:00"])
def test_attack_4_a_store_event_outside_the_window_is_refused(bridge, occurred_at):
    body = {"event_id": f"evt-old-{occurred_at[:4]}", "ent_id": "10010", "type": "order.cancelled",
            "occurred_at": occurred_at, "data": {"order_no": "SO1", "reason": "r"}}
    raw = json.dumps(body)
    event = sample_event("pos_events", body=raw)
    event["headers"].update({"x-o2o-event-id": body["event_id"], "x-o2o-signature": sign_event("demo-webhook-secret", raw.encode())})
    before = snapshot(bridge)
    code, reply = answer("pos_events", event)
    assert code == 422 and reply["msg"].startswith("occurred_at:")
    assert snapshot(bridge) == before


@pytest.mark.parametrize("query, body, status", [
    (None, '{"so_id":' * 50000 + "1" + "}" * 50000, 400),  # deep nesting: RecursionError, now a 400
    (None, "[" * 100000, 400),
    (None, "x" * (2 * 1024 * 1024), 400),  # larger than the bodies JST sends
    ("non-ASCII sign", '{"so_id": "X"}', 401),
])
def test_attack_5_malformed_bodies_and_signs_are_4xx_never_500(bridge, query, body, status):
    q = {**signed("logistics.upload"), "sign": "签名" * 16} if query else {
        "entId": "10010", "storageCode": "133242", "token": "demo-callback-token"}
    before = snapshot(bridge)
    code, reply = push("delivery_callback", q, body)
    assert code == status and reply["code"] == status
    assert snapshot(bridge) == before


def test_attack_6_a_null_quantity_is_refused_and_named(bridge):
    before = snapshot(bridge)
    code, reply = push("stock_callback", signed("inventory.upload", storage_code="10000", type="2"),
                       {"datas": [{"sku_id": "TS001-WHT-M", "qty": None, "modified": now_jst()}]})
    assert code == 400 and "datas[0].qty" in reply["msg"] and "quantity is required" in reply["msg"]
    assert snapshot(bridge) == before


ROUTE_PUSHES = {  # route URL -> (function, method, storageCode, extra query)
    "/jushuitan/delivery_callback": ("delivery_callback", "logistics.upload", "133242", {}),
    "/jushuitan/cancel_callback": ("cancel_callback", "order.cancel", "133242", {}),
    "/jushuitan/cancal_callback": ("cancel_callback", "order.cancel", "133242", {}),
    "/jushuitan/return_goods_callback": ("return_goods_callback", "refund.goods", "133242", {}),
    "/jushuitan/stock_callback": ("stock_callback", "inventory.upload", "10000", {"type": "2"}),
}
MALFORMED = {
    "not JSON": "{so_id: oops",
    "not an object": '["so_id"]',
    "nested too deep": '{"a":' * 40 + "1" + "}" * 40,
    "a form without biz": "so_id=1",
    "empty": "",
    "the fields of no push": '{"hello": "world"}',
    "lists where objects belong": '{"so_id": ["x"], "l_id": {}, "lc_id": 1, "items": [1], "outer_as_id": [], '
                                  '"datas": [1]}',
}


@pytest.mark.parametrize("path", list(ROUTE_PUSHES))
def test_attack_5_on_every_jst_route_a_malformed_authenticated_body_is_400_and_writes_nothing(bridge, path):
    function, method, storage, extra = ROUTE_PUSHES[path]
    before = snapshot(bridge)
    for case, body in MALFORMED.items():
        code, reply = push(function, signed(method, storage_code=storage, **extra), body, path=path)
        assert code == 400 and reply["code"] == 400 and reply["msg"], (case, reply)
    assert snapshot(bridge) == before
