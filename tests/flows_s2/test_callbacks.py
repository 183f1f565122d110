"""The three S2 callbacks through their real handlers (moto for the tables): JSON and form
``biz`` bodies, replays, and pushes that cannot prove they come from JST for this tenant."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse

import boto3
import pytest

from fakes import drain_retries
from handlers import answer, sample_event
from o2o_bridge.connectors.jushuitan.signing import legacy_push_sign


OK = (200, {"code": 0, "msg": "执行成功"})
DELIVERY = {"so_id": "WM1", "o_id": 880001, "l_id": "SF100", "lc_id": "SF", "send_date": "2026-11-22 10:15:00",
            "items": [{"sku_id": "TS001-WHT-M", "qty": 1, "outer_oi_id": "1"}]}
CANCEL = {"so_id": "WM2", "remark": "缺货"}
RECEIVED = {"outer_as_id": "RT1", "so_id": "WM1", "as_id": 990001, "action_name": "确认收货",
            "items": [{"sku_id": "TS001-WHT-M", "qty": 1}]}
BODIES = {"delivery_callback": DELIVERY, "cancel_callback": CANCEL, "return_goods_callback": RECEIVED}
KINDS = {"delivery_callback": "ship", "cancel_callback": "cancel", "return_goods_callback": "receipt"}


@pytest.fixture
def world(live_world):
    """JST holds what the pushes name: a push only makes the bridge re-read JST."""
    from datetime import datetime

    at = datetime.fromisoformat("2026-11-22T10:15:00+08:00")
    live_world.jst.ship("WM1", "SF100", [("1", "TS001-WHT-M", 1)], at)
    live_world.jst.cancel_in_jst("WM2", "缺货")
    live_world.jst.receive("RT1", at, so_id="WM1", as_id=990001, items=[{"sku_id": "TS001-WHT-M", "qty": 1}])
    return live_world


def state_items() -> int:
    import os

    return boto3.client("dynamodb").scan(TableName=os.environ["STATE_TABLE"], Select="COUNT")["Count"]


def event(function: str, body: dict | None = None, *, form: bool = False, query: dict | None = None,
          path: str | None = None) -> dict:
    text = json.dumps(BODIES[function] if body is None else body, ensure_ascii=False)
    changes = {"body": urllib.parse.urlencode({"biz": text}) if form else text}
    if query is not None:
        changes["query"] = query
    result = sample_event(function, **changes)
    result["headers"]["content-type"] = "application/x-www-form-urlencoded" if form else "application/json"
    path = path or f"/jushuitan/{function}"
    result.update(rawPath=path, routeKey=f"POST {path}")
    result["requestContext"]["http"]["path"] = path
    return result


def signed(method: str, key: str = "demo-partner-key", *, ts: float | None = None, **extra) -> dict:
    """A push signed like JST signs it: over every query parameter, our entId and storageCode too."""
    query = {"entId": "10010", "storageCode": "133242", "method": method, "partnerid": "demo-partner",
             "ts": str(int(time.time() if ts is None else ts)), **extra}
    covered = {k: v for k, v in query.items() if k not in {"method", "partnerid"}}
    query["sign"] = legacy_push_sign(method, query["partnerid"], covered, key)
    return query


@pytest.mark.parametrize("function", list(BODIES))
def test_each_callback_accepts_json_and_form_bodies_and_does_its_effect(world, function):
    assert answer(function, event(function)) == OK
    assert [e[0] for e in world.store.effects] == [KINDS[function]]
    world.store.effects.clear()
    world.store.answers.clear()
    world.ctx.records.items.clear()
    assert answer(function, event(function, form=True)) == OK
    assert [e[0] for e in world.store.effects] == [KINDS[function]]


@pytest.mark.parametrize("function", list(BODIES))
def test_each_callback_replayed_5_times_also_concurrently_is_one_effect(world, function):
    for _ in range(5):
        assert answer(function, event(function)) == OK
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(answer(function, event(function)))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [OK] * 5
    drain_retries(world.ctx)
    assert len(world.store.effects) == 1


def test_the_misspelt_cancal_route_is_the_same_callback(world):
    assert answer("cancel_callback", event("cancel_callback", path="/jushuitan/cancal_callback")) == OK
    assert world.store.of("cancel") == [("cancel", "WM2", "缺货")]


def test_a_push_signed_with_the_partner_key_is_accepted(world):
    assert answer("delivery_callback", event("delivery_callback", query=signed("logistics.upload"))) == OK


REFUSED = "push not authenticated for this callback URL"
FORGED = [
    {"entId": "10010", "storageCode": "133242", "token": "guessed"},
    {"entId": "10010", "storageCode": "133242"},
    signed("logistics.upload", key="not-the-key"),
    # another tenant's credential, or our shop under another tenant's entId: cross-tenant
    {"entId": "10010", "storageCode": "133242", "token": "other-callback-token"},
    {"entId": "20020", "storageCode": "133242", "token": "demo-callback-token"},
    {"entId": "20020", "storageCode": "555", "token": "demo-callback-token"},
    {"entId": "99999", "storageCode": "133242", "token": "demo-callback-token"},
    {"entId": "10010", "storageCode": "555", "token": "demo-callback-token"},
]
METHODS = {"delivery_callback": "logistics.upload", "cancel_callback": "order.cancel",
           "return_goods_callback": "refund.goods"}


@pytest.mark.parametrize("function", list(BODIES))
def test_forged_and_cross_tenant_pushes_are_refused_alike_in_jsts_format_with_nothing_written(world, function):
    before = state_items()
    for query in FORGED:
        assert answer(function, event(function, query=query)) == (401, {"code": 401, "msg": REFUSED}), query
    assert state_items() == before and world.store.effects == [] and world.ctx.records.items == {}


@pytest.mark.parametrize("function", list(BODIES))
def test_a_captured_signed_push_cannot_be_replayed_late_or_on_another_route(world, function):
    before = state_items()
    other = {"delivery_callback": "refund.goods", "cancel_callback": "logistics.upload",
             "return_goods_callback": "logistics.upload"}[function]
    for query in (signed(METHODS[function], ts=1500000000),  # a 2017 ts
                  signed(other),  # another route's genuine push, pasted here
                  {**signed(METHODS[function]), "storageCode": "555"}):  # storageCode changed after signing
        assert answer(function, event(function, query=query)) == (401, {"code": 401, "msg": REFUSED}), query
    assert state_items() == before and world.store.effects == [] and world.ctx.records.items == {}
    # forged body, genuine fresh sign: the answer is the flow's (#11 turns the body into a re-read)
    assert answer(function, event(function, query=signed(METHODS[function]))) == OK


def test_a_push_without_a_field_its_flow_needs_is_a_400_naming_it(world):
    for function, missing in (("delivery_callback", "l_id"), ("cancel_callback", "so_id"),
                              ("return_goods_callback", "outer_as_id")):
        body = {k: v for k, v in BODIES[function].items() if k != missing}
        code, answer_body = answer(function, event(function, body))
        assert code == 400 and missing in answer_body["msg"] and world.store.effects == []


def test_the_sample_events_are_accepted(world):
    # delivery_callback_signed: the second parcel of the same order, signed with the partner key.
    for name in ("delivery_callback", "delivery_callback_form", "delivery_callback_signed", "cancel_callback",
                 "cancel_callback_form",
                 "return_goods_callback", "return_goods_callback_form"):
        function = name.removesuffix("_form").removesuffix("_signed")
        sample = sample_event(name)
        if name.endswith("_signed"):  # its ts is long past the window: signed again, now
            query = sample["queryStringParameters"]
            sample = sample_event(name, query={**signed(query["method"], partnerid=query["partnerid"])})
        assert answer(function, sample) == OK, name


FORGED_BODIES = {  # genuine fresh sign, a body JST does not back (the sign does not cover the body)
    "delivery_callback": {**DELIVERY, "so_id": "WM9", "l_id": "FORGED-1"},
    "cancel_callback": {"so_id": "ANY-ORDER", "remark": "forged"},
    "return_goods_callback": {**RECEIVED, "outer_as_id": "RT9"},
}


@pytest.mark.parametrize("function", list(BODIES))
def test_a_forged_body_under_a_genuine_sign_is_only_a_re_read_and_changes_nothing_jst_does_not_hold(world, function):
    assert answer(function, event(function, FORGED_BODIES[function], query=signed(METHODS[function]))) == OK
    drain_retries(world.ctx)
    assert world.store.effects == []  # no shipment, cancel or receipt JST does not hold
