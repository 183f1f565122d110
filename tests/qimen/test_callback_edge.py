"""POST /qimen/callback through the real handler (moto for the tables): every refusal is
奇门 XML with HTTP 200 and writes nothing; strangers cannot tell a bad sign from an unknown
tenant."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import boto3
import pytest

from handlers import invoke
from o2o_bridge import wiring
from o2o_bridge import runtime
from o2o_bridge.connectors.qimen import signing
from o2o_bridge.tenant import parse_tenant

from qimen_wms import answer_of, api_event, cloud_doc, delivery_confirm, demo_doc, signed_query

CONFIRM = delivery_confirm("SO1", "MSG-1", [("SF100", {"SKU-A": 1})])


@pytest.fixture
def tenants(aws):
    store = runtime.state_store()
    store.put(parse_tenant(cloud_doc()))
    store.put(parse_tenant(demo_doc()))  # a tenant without a 奇门 section
    return aws


def state_items(env) -> int:
    return boto3.client("dynamodb").scan(TableName=env["STATE_TABLE"], Select="COUNT")["Count"]


def call(query, body, **kwargs) -> dict:
    return answer_of(invoke("qimen_callback", api_event(query, body, **kwargs)))


def refused(env, query, body, code, message=None, **kwargs):
    before = state_items(env)
    answer = call(query, body, **kwargs)
    assert (answer["flag"], answer["code"]) == ("failure", code), answer
    if message:
        assert message in answer["message"]
    assert state_items(env) == before, "a refused call wrote something"
    return answer


def test_bad_sign_unknown_tenant_and_tenant_without_qimen_get_one_answer(tenants):
    bad_sign = refused(tenants, {**signed_query("deliveryorder.confirm", CONFIRM), "sign": "0" * 32}, CONFIRM,
                       "sign-check-failure")
    unknown = refused(tenants, signed_query("deliveryorder.confirm", CONFIRM, ent_id="99999"), CONFIRM,
                      "sign-check-failure")
    no_section = refused(tenants, signed_query("deliveryorder.confirm", CONFIRM, ent_id="10010"), CONFIRM,
                         "sign-check-failure")
    assert bad_sign == unknown == no_section


def test_unknown_tenant_costs_the_same_sign_work_as_a_bad_sign(tenants, monkeypatch):
    computed = []
    real_sign = signing.sign

    def counting(params, body, secret, method="md5"):
        computed.append(len(body))
        return real_sign(params, body, secret, method)

    monkeypatch.setattr(signing, "sign", counting)  # both checks go through sign_matches
    call({**signed_query("deliveryorder.confirm", CONFIRM), "sign": "0" * 32}, CONFIRM)
    call(signed_query("deliveryorder.confirm", CONFIRM, ent_id="99999"), CONFIRM)
    assert computed == [len(CONFIRM), len(CONFIRM)]


def test_the_sign_covers_entid_and_the_exact_body(tenants):
    refused(tenants, signed_query("deliveryorder.confirm", CONFIRM, sign_entid=False), CONFIRM, "sign-check-failure")
    query = signed_query("deliveryorder.confirm", CONFIRM)
    refused(tenants, query, CONFIRM.replace(b"<request>", b"<request> "), "sign-check-failure")
    refused(tenants, {**query, "entId": "10020", "extra": "x"}, CONFIRM, "sign-check-failure")


def test_a_repeated_query_parameter_is_refused(tenants):
    query = signed_query("deliveryorder.confirm", CONFIRM)
    refused(tenants, query, CONFIRM, "invalid-request", "more than once",
            raw_query=urlencode(query) + "&customerId=C002")


def test_timestamp_outside_the_window_is_refused(tenants):
    old = datetime.now(timezone.utc) - timedelta(minutes=11)
    refused(tenants, signed_query("deliveryorder.confirm", CONFIRM, at=old), CONFIRM, "invalid-timestamp")
    ahead = datetime.now(timezone.utc) + timedelta(minutes=11)
    refused(tenants, signed_query("deliveryorder.confirm", CONFIRM, at=ahead), CONFIRM, "invalid-timestamp")
    query = signed_query("deliveryorder.confirm", CONFIRM)
    query["timestamp"] = "yesterday"
    query["sign"] = signing.sign({k: v for k, v in query.items() if k != "sign"}, CONFIRM, "demo-qimen-app-secret")
    refused(tenants, query, CONFIRM, "invalid-timestamp")


def test_timestamp_check_can_be_turned_off(tenants):
    doc = cloud_doc()
    doc["qimen"]["callback_max_skew_seconds"] = 0
    runtime.state_store().put(parse_tenant(doc))
    old = datetime.now(timezone.utc) - timedelta(days=2)
    answer = call(signed_query("deliveryorder.confirm", CONFIRM, at=old), CONFIRM)
    assert answer["code"] == "order-not-found"  # past the clock check; the document is unknown


def test_customer_id_must_be_the_tenants(tenants):
    refused(tenants, signed_query("deliveryorder.confirm", CONFIRM, customer_id="C002"), CONFIRM,
            "invalid-customer-id", "C002")


def test_unknown_method_is_refused_with_the_list(tenants):
    refused(tenants, signed_query("deliveryorder.create", CONFIRM), CONFIRM, "invalid-method",
            "taobao.qimen.deliveryorder.confirm")


HOSTILE = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                      b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><request><deliveryOrder><deliveryOrderCode>&c;'
                      b"</deliveryOrderCode></deliveryOrder></request>",
    "external entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       b"<request><deliveryOrder><deliveryOrderCode>&x;</deliveryOrderCode></deliveryOrder></request>",
    "malformed": b"<request><deliveryOrder></request>",
    "not xml": b'{"deliveryOrder": {}}',
    "wrong root": b"<response><flag>success</flag></response>",
    "missing code": b"<request><deliveryOrder><warehouseCode>WH01</warehouseCode><orderType>JYCK</orderType>"
                    b"</deliveryOrder></request>",
    "negative quantity": delivery_confirm("SO1", "M", [("SF1", {"SKU-A": -2})]),
    "foreign warehouse": delivery_confirm("SO1", "M", [("SF1", {"SKU-A": 1})], warehouse="WH99"),
    "deep nesting": b"<request>" + b"<deliveryOrder>" * 50 + b"</deliveryOrder>" * 50 + b"</request>",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_malformed_and_hostile_xml_is_refused_and_writes_nothing(tenants, name):
    body = HOSTILE[name]
    refused(tenants, signed_query("deliveryorder.confirm", body), body, "invalid-request")


def test_a_huge_body_is_refused_unread(tenants):
    body = b"<request>" + b"<x>1</x>" * 300_000 + b"</request>"
    refused(tenants, signed_query("deliveryorder.confirm", body), body, "invalid-request", "larger than")


def test_missing_field_is_named(tenants):
    refused(tenants, signed_query("deliveryorder.confirm", HOSTILE["missing code"]), HOSTILE["missing code"],
            "invalid-request", "deliveryOrder.deliveryOrderCode")


def test_a_confirm_of_a_document_the_bridge_did_not_create_is_refused(tenants):
    refused(tenants, signed_query("deliveryorder.confirm", CONFIRM), CONFIRM, "order-not-found", "SO1")


def test_base64_bodies_are_verified_on_their_bytes(tenants):
    refused(tenants, signed_query("deliveryorder.confirm", CONFIRM), CONFIRM, "order-not-found", base64_body=True)


def test_a_confirm_of_a_document_the_bridge_created_is_taken_once(tenants):
    from o2o_bridge.connectors.qimen import ledger as qimen_ledger
    from o2o_bridge.flows import kit

    tenant = runtime.state_store().get("10020")
    qimen_ledger.remember_document(wiring.context_for(tenant), "SO1", kind="delivery", plan={"SKU-A": 2},
                                      order_type="JYCK", store_key="SO1")
    # The store system is not running here: the parcel's P3 waits in the retry queue, durably.
    first = call(signed_query("deliveryorder.confirm", CONFIRM), CONFIRM)
    assert (first["flag"], first["code"], first["message"]) == ("success", "0", "ok")
    again = call(signed_query("deliveryorder.confirm", CONFIRM), CONFIRM)
    assert (again["flag"], again["message"]) == ("success", "taken before")
    assert qimen_ledger.document(wiring.context_for(tenant), "SO1")["confirmed"] == {"SKU-A": 1}
