"""JST pushes: authentication (sign, token, explicit opt-out) and the four body models."""

from __future__ import annotations

import copy
import json
import time
from decimal import Decimal
from urllib.parse import quote

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from fakes import FakeTenants
from handlers import sample_event
from o2o_bridge.connectors.jushuitan.push import StockPush, url_token
from o2o_bridge.connectors.jushuitan.signing import legacy_push_sign
from o2o_bridge.errors import BadRequest, Unauthorized
from o2o_bridge.tenant import parse_tenant
from o2o_bridge.connectors.jushuitan.inbound import read_push

from .test_doctor import tenant_doc

PARTNER_KEY = "demo-partner-key"


def tenants(**callback):
    doc = tenant_doc()
    if callback:
        doc["jushuitan"]["callback"] = callback
    return FakeTenants(parse_tenant(doc))


def event(name: str, query: dict | None = None, body=None) -> APIGatewayProxyEventV2:
    changes = {}
    if query is not None:
        changes["query"] = query
    if body is not None:
        changes["body"] = body
    return APIGatewayProxyEventV2(sample_event(name, **changes))


NOW = 1763777700.0


def signed_query(method="logistics.upload", partner_key=PARTNER_KEY, *, ent_id="10010", storage_code="133242",
                 ts=NOW, **extra):
    query = {"entId": ent_id, "storageCode": storage_code, "method": method, "partnerid": "p1", "ts": str(int(ts)), **extra}
    covered = {k: v for k, v in query.items() if k not in {"method", "partnerid"}}
    query["sign"] = legacy_push_sign(method, "p1", covered, partner_key)
    return query


def read(name, query=None, body=None, *, t=None, now=NOW, **callback):
    return read_push(event(name, query, body), t or tenants(**callback), now=now)


# --- authentication ------------------------------------------------------------------------
def test_a_push_signed_over_its_route_method_tenant_and_fresh_ts_is_accepted():
    assert read("delivery_callback", signed_query(), partner_key=PARTNER_KEY).authenticated_by == "sign"
    assert read("stock_callback", signed_query("inventory.upload", storage_code="10000", type="2"),
                partner_key=PARTNER_KEY).authenticated_by == "sign"


@pytest.mark.parametrize("case, query", [
    # attack 1: a genuine signed push replayed on another route (its method names another push)
    ("logistics push on the cancel route", ("cancel_callback", signed_query("logistics.upload"))),
    ("stock push on the delivery route", ("delivery_callback", signed_query("inventory.upload"))),
    # attack 1: a sign that does not cover entId / storageCode (made for the ts only)
    ("sign over ts only", ("delivery_callback", {**signed_query(), "sign": legacy_push_sign(
        "logistics.upload", "p1", {"ts": str(int(NOW))}, PARTNER_KEY)})),
    # attack 1: another warehouse's storageCode pasted into a signed URL
    ("storageCode swapped after signing", ("stock_callback", {**signed_query("inventory.upload", storage_code="10000"),
                                                             "storageCode": "10001"})),
    # attack 1: an old ts (2017) and one far in the future
    ("2017 ts", ("delivery_callback", signed_query(ts=1500000000))),
    ("future ts", ("delivery_callback", signed_query(ts=NOW + 3600))),
    ("no ts", ("delivery_callback", {k: v for k, v in signed_query().items() if k != "ts"})),
    ("bad sign", ("delivery_callback", signed_query(partner_key="wrong"))),
    ("non-ASCII sign", ("delivery_callback", {**signed_query(), "sign": "签名" * 16})),
])
def test_a_push_whose_sign_does_not_bind_route_tenant_and_time_is_refused(case, query):
    name, q = query
    with pytest.raises(Unauthorized) as caught:
        read(name, q, partner_key=PARTNER_KEY)
    assert caught.value.status_code == 401 and caught.value.message == "push not authenticated for this callback URL"


def test_the_cancel_route_takes_its_configured_method_or_any_method_of_no_other_route():
    assert read("cancel_callback", signed_query("order.cancel"), partner_key=PARTNER_KEY).authenticated_by == "sign"
    with pytest.raises(Unauthorized):
        read("cancel_callback", signed_query("order.cancel"), partner_key=PARTNER_KEY, cancel_method="cancel.upload")
    assert read("cancel_callback", signed_query("cancel.upload"), partner_key=PARTNER_KEY,
                cancel_method="cancel.upload").authenticated_by == "sign"


def test_the_window_is_configurable_per_tenant_and_can_be_switched_off_explicitly():
    old = signed_query(ts=NOW - 1800)
    with pytest.raises(Unauthorized):
        read("delivery_callback", old, partner_key=PARTNER_KEY)
    assert read("delivery_callback", old, partner_key=PARTNER_KEY, max_age_seconds=3600).authenticated_by == "sign"
    assert read("delivery_callback", signed_query(ts=1500000000), partner_key=PARTNER_KEY,
                max_age_seconds=0).authenticated_by == "sign"
    # JST wall time and milliseconds are read too
    assert read("delivery_callback", signed_query(ts=NOW * 1000), partner_key=PARTNER_KEY).authenticated_by == "sign"


def test_two_genuine_pushes_with_one_sign_are_both_accepted():
    # The sign covers the query, not the body: two pushes of one method in one second share it.
    t = tenants(partner_key=PARTNER_KEY)
    query = signed_query()
    assert read("delivery_callback", query, t=t).authenticated_by == "sign"
    assert read("delivery_callback", query, t=t).authenticated_by == "sign"


def test_a_bad_sign_is_401_even_if_a_token_is_configured():
    with pytest.raises(Unauthorized) as caught:
        read("delivery_callback", signed_query(partner_key="wrong", token="demo-callback-token"),
             partner_key=PARTNER_KEY, token="demo-callback-token")
    assert caught.value.status_code == 401 and PARTNER_KEY not in caught.value.message


def test_the_per_tenant_token_alternative():
    # URLs set up before per-URL tokens carry the tenant's token itself: still accepted by default.
    assert read("delivery_callback", token="demo-callback-token").authenticated_by == "tenant-wide token"
    for guess in ("guess", "令牌", "demo-callback-token-"):
        with pytest.raises(Unauthorized) as caught:
            read("delivery_callback", {"entId": "10010", "storageCode": "133242", "token": guess},
                 token="demo-callback-token")
        assert "demo-callback-token" not in caught.value.message


def token_query(route: str, *, storage_code="133242", ent_id="10010", token="demo-callback-token", **extra):
    """The query of a callback URL as `o2o tenant urls --reveal-token` prints it (plus what JST adds)."""
    return {"entId": ent_id, "storageCode": storage_code, **extra,
            "token": url_token(token, ent_id=ent_id, route=route, storage_code=storage_code)}


def test_each_callback_url_carries_its_own_token_bound_to_route_tenant_and_storage_code():
    strict = {"token": "demo-callback-token", "tenant_wide_token": False}
    assert read("delivery_callback", token_query("delivery"), **strict).authenticated_by == "token"
    assert read("stock_callback", token_query("stock", storage_code="10000", type="2"), **strict).authenticated_by == "token"
    # JST's cancel push may arrive on either spelling of the URL: one route, one token
    cancal = sample_event("cancel_callback", query=token_query("cancel"))
    cancal.update(rawPath="/jushuitan/cancal_callback", routeKey="POST /jushuitan/cancal_callback")
    assert read_push(APIGatewayProxyEventV2(cancal), tenants(**strict), now=NOW).authenticated_by == "token"
    refused = {
        "the delivery URL's token on the cancel route": ("cancel_callback", token_query("delivery")),
        "one warehouse's stock token with another storageCode": (
            "stock_callback", {**token_query("stock", storage_code="10000", type="2"), "storageCode": "10001"}),
        "another tenant's URL token": ("delivery_callback", token_query("delivery", ent_id="20020")),
        "the plain tenant token once tenant_wide_token is off": (
            "delivery_callback", {"entId": "10010", "storageCode": "133242", "token": "demo-callback-token"}),
        # JST adds method and ts to its pushes: a verbatim replay of a captured old request is stale
        "a captured request replayed after the window": ("delivery_callback", token_query("delivery", ts=str(int(NOW - 3600)))),
        "a stock push's method on the delivery URL": ("delivery_callback", token_query("delivery", method="inventory.upload")),
    }
    for case, (name, query) in refused.items():
        with pytest.raises(Unauthorized) as caught:
            read(name, query, **strict)
        assert caught.value.message == "push not authenticated for this callback URL", case
    assert read("delivery_callback", token_query("delivery", ts=str(int(NOW)), method="logistics.upload"),
                **strict).authenticated_by == "token"


def test_no_credential_is_401_unless_the_tenant_opted_out_explicitly():
    bare = {"entId": "10010", "storageCode": "133242"}
    with pytest.raises(Unauthorized):
        read("delivery_callback", bare, partner_key=PARTNER_KEY, token="t0ken")
    assert read("delivery_callback", bare, allow_unsigned=True).authenticated_by == "unsigned"


def test_secrets_given_as_references_are_resolved_through_the_resolver():
    class Resolver:
        def resolve(self, reference):
            assert reference == "secretsmanager:o2o/tenants/10010/callback#token"
            return "demo-callback-token"

    push = read_push(event("delivery_callback"), tenants(token_ref="secretsmanager:o2o/tenants/10010/callback#token"),
                     secrets=Resolver())
    assert push.authenticated_by == "tenant-wide token"


# --- attack 3: strangers learn nothing --------------------------------------------------------
STRANGERS = {
    "unknown tenant": {"entId": "99999", "storageCode": "133242", "token": "demo-callback-token"},
    "wrong token": {"entId": "10010", "storageCode": "133242", "token": "guess"},
    "foreign storageCode": {"entId": "10010", "storageCode": "555", "token": "demo-callback-token"},
    "no credential": {"entId": "10010", "storageCode": "133242"},
}


def test_unknown_tenant_wrong_token_and_foreign_storage_code_look_alike_and_cost_alike(monkeypatch):
    from o2o_bridge.connectors.jushuitan import push as push_module

    calls: list[str] = []
    sign, equal, derive = push_module._expected_sign, push_module._equal, push_module.url_token
    monkeypatch.setattr(push_module, "_expected_sign", lambda *a: calls.append("sign") or sign(*a))
    monkeypatch.setattr(push_module, "url_token", lambda *a, **k: calls.append("url token") or derive(*a, **k))
    monkeypatch.setattr(push_module, "_equal", lambda *a: calls.append("compare") or equal(*a))
    t = tenants(token="demo-callback-token")
    seen = {}
    for case, query in STRANGERS.items():
        calls.clear()
        with pytest.raises(Unauthorized) as caught:
            read("delivery_callback", query, t=t)
        seen[case] = (caught.value.status_code, caught.value.message, tuple(calls))
    # and a wrong sign for a tenant with a partner key
    calls.clear()
    with pytest.raises(Unauthorized) as caught:
        read("delivery_callback", signed_query(partner_key="wrong"), partner_key=PARTNER_KEY)
    seen["wrong sign"] = (caught.value.status_code, caught.value.message, tuple(calls))
    assert len(set(seen.values())) == 1, seen
    assert next(iter(seen.values())) == (401, "push not authenticated for this callback URL", ("sign", "compare", "url token", "compare", "compare"))
    # the reasons differ only in the log
    assert {c.value.reason for c in [caught]} == {"sign does not match the partner key"}


def test_strangers_get_one_answer_through_the_real_handler_before_the_body_is_read(aws):
    from handlers import answer
    from o2o_bridge import runtime

    runtime.state_store().put(parse_tenant(tenant_doc()))
    answers = set()
    for query in [*STRANGERS.values(), signed_query(partner_key="wrong")]:
        for body in ("{not json", json.dumps({"so_id": "X"})):
            code, reply = answer("delivery_callback", sample_event("delivery_callback", query=query, body=body))
            answers.add((code, json.dumps(reply, ensure_ascii=False)))
    assert answers == {(401, json.dumps({"code": 401, "msg": "push not authenticated for this callback URL"},
                                        ensure_ascii=False))}


# --- bodies ---------------------------------------------------------------------------------
def test_the_four_sample_pushes_parse_into_their_models():
    t = tenants(token="demo-callback-token")
    delivery = read_push(event("delivery_callback"), t, storage="shop").delivery()
    assert delivery.so_id == "SO20261122001" and delivery.lc_id == "SF" and delivery.items[0].qty == Decimal(1)
    assert delivery.o_id == "880001"  # ids as text whatever JST sends
    cancel = read_push(event("cancel_callback"), t, storage="shop").cancel()
    assert cancel.so_id == "SO20261122002" and cancel.remark == "买家取消"
    returned = read_push(event("return_goods_callback"), t, storage="shop").return_goods()
    assert returned.outer_as_id == "RT20261122001" and returned.received
    stock = read_push(event("stock_callback"), t, storage="warehouse").stock()
    assert stock.datas[0].sku_id == "SKU-RED-M" and stock.datas[0].qty == Decimal(37)


def test_a_form_body_with_biz_reads_like_json():
    push = read_push(event("delivery_callback_form"), tenants(token="demo-callback-token"), storage="shop")
    assert push.delivery().l_id == "SF1400012345678"


def test_unknown_fields_are_tolerated_and_missing_ones_named():
    raw = json.loads(sample_event("delivery_callback")["body"])
    raw["brand_new_field"] = {"x": 1}
    raw["items"][0]["qty"] = "1.0000"
    t = tenants(token="demo-callback-token")
    assert read_push(event("delivery_callback", body=raw), t, storage="shop").delivery().items[0].qty == 1
    missing = copy.deepcopy(raw)
    del missing["lc_id"]
    del missing["items"][0]["sku_id"]
    with pytest.raises(BadRequest) as caught:
        read_push(event("delivery_callback", body=missing), t, storage="shop").delivery()
    assert caught.value.status_code == 400
    assert "lc_id" in caught.value.message and "items[0].sku_id" in caught.value.message


@pytest.mark.parametrize("name, body, field", [
    ("cancel_callback", {"remark": "x"}, "so_id"),
    ("return_goods_callback", {"so_id": "1"}, "outer_as_id"),
    ("stock_callback", {"datas": []}, "datas"),
    ("stock_callback", {"datas": [{"sku_id": "A"}]}, "datas[0].qty"),
])
def test_missing_required_fields_are_400_naming_the_field(name, body, field):
    storage = "warehouse" if name == "stock_callback" else "shop"
    push = read_push(event(name, body=body), tenants(token="demo-callback-token"), storage=storage)
    reader = {"cancel_callback": push.cancel, "return_goods_callback": push.return_goods, "stock_callback": push.stock}[name]
    with pytest.raises(BadRequest) as caught:
        reader()
    assert field in caught.value.message


def test_the_new_style_inventory_push_items_key_is_accepted():
    assert StockPush.model_validate({"items": [{"sku_id": "A", "qty": 2}], "msg_type": "x"}).datas[0].qty == 2


def test_cancel_of_receipt_is_not_a_receipt():
    push = read_push(event("return_goods_callback", body={"outer_as_id": "R", "so_id": "S", "action_name": "取消收货"}),
                     tenants(token="demo-callback-token"), storage="shop")
    assert not push.return_goods().received


def test_a_push_through_the_real_handler_without_credentials_is_a_401_in_jst_format(aws):
    from handlers import answer
    from o2o_bridge import runtime

    runtime.state_store().put(parse_tenant(tenant_doc()))
    code, body = answer("delivery_callback", sample_event("delivery_callback", query={"entId": "10010", "storageCode": "133242"}))
    assert code == 401 and body["code"] == 401 and "not authenticated" in body["msg"]
    form = sample_event("delivery_callback", query=signed_query(ts=time.time()))
    form["body"] = "biz=" + quote(sample_event("delivery_callback")["body"])
    form["headers"]["content-type"] = "application/x-www-form-urlencoded"
    # Authenticated: the S2d flow (#6) runs; 店+ is unreachable here, so the shipment is queued for retry.
    assert answer("delivery_callback", form) == (200, {"code": 0, "msg": "执行成功"})


# --- attacks 5 and 6: hostile bodies are a 400, a quantity is never guessed ---------------------
@pytest.mark.parametrize("body, says", [
    ("[" * 5000 + "]" * 5000, "nests deeper"),
    ("[1]", "body must be a JSON object"),
    ('{"a":' * 5000 + "1" + "}" * 5000, "nests deeper"),
    ('{"a":' * 20 + "1" + "}" * 20, "nests deeper"),
    ("x" * (1024 * 1024 + 10), "larger than"),
    ("biz=" + quote('{"so_id":' * 3000 + "1" + "}" * 3000), "nests deeper"),
])
def test_hostile_bodies_are_400_never_500(body, says):
    with pytest.raises(BadRequest) as caught:
        read("delivery_callback", body=body, token="demo-callback-token")
    assert caught.value.status_code == 400 and says in caught.value.message


def test_hostile_bodies_through_the_real_handler_answer_400_and_write_nothing(aws):
    import boto3

    from handlers import answer
    from o2o_bridge import runtime

    runtime.state_store().put(parse_tenant(tenant_doc()))
    table = runtime.settings().state_table
    before = boto3.client("dynamodb").scan(TableName=table)["Items"]
    for body in ('{"so_id":' * 100000 + "1" + "}" * 100000, "[" * 100000, "{\"so_id\": \"\\ud800\"}" + " " * 10):
        code, reply = answer("delivery_callback", sample_event("delivery_callback", body=body))
        assert code == 400 and reply["code"] == 400, reply
    code, _ = answer("delivery_callback", sample_event("delivery_callback", query={**signed_query(ts=time.time()),
                                                                                  "sign": "签名"}))
    assert code == 401
    assert boto3.client("dynamodb").scan(TableName=table)["Items"] == before


@pytest.mark.parametrize("name, body, field", [
    ("stock_callback", {"datas": [{"sku_id": "A", "qty": None, "modified": "2026-11-22 10:00:00"}]}, "datas[0].qty"),
    ("stock_callback", {"datas": [{"sku_id": "A", "qty": "", "modified": "2026-11-22 10:00:00"}]}, "datas[0].qty"),
    ("stock_callback", {"datas": [{"sku_id": "A", "modified": "2026-11-22 10:00:00"}]}, "datas[0].qty"),
    ("delivery_callback", {"so_id": "S", "l_id": "L", "lc_id": "SF", "items": [{"sku_id": "A", "qty": None}]},
     "items[0].qty"),
    ("return_goods_callback", {"outer_as_id": "R", "so_id": "S", "items": [{"sku_id": "A", "qty": None}]},
     "items[0].qty"),
])
def test_a_missing_or_null_quantity_is_refused_and_named(name, body, field):
    push = read_push(event(name, body=body), tenants(token="demo-callback-token"))
    reader = {"stock_callback": push.stock, "delivery_callback": push.delivery,
              "return_goods_callback": push.return_goods}[name]
    with pytest.raises(BadRequest) as caught:
        reader()
    message = caught.value.message
    assert field in message and ("quantity is required" in message or "Field required" in message), message


def test_attack_2_a_stock_push_modified_in_2099_is_refused_before_anything_is_read():
    push = read("stock_callback", body={"datas": [{"sku_id": "A", "qty": 0, "modified": "2099-12-31 23:59:59"}]},
                token="demo-callback-token")
    with pytest.raises(BadRequest, match="2099-12-31 23:59:59 is later than now"):
        push.named_stock()
    fresh = read("stock_callback", body={"datas": [{"sku_id": "A", "qty": 0, "modified": "2026-11-22 10:00:00"}]},
                 token="demo-callback-token")
    assert fresh.named_stock() == ("10000", ["A"])
