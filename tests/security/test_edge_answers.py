"""Authentication comes first and says nothing: on every public route that authenticates a
caller by tenant (the five JST callback URLs and /qimen/callback), an unknown tenant, a wrong
token, a wrong signature and a foreign storageCode get one status and one body, whether the
tenant's secrets are inline or Secrets Manager references, before the body is read, with
nothing written. Refusals are answered at one deadline after the request began; accepted
pushes never wait.
/pos/events keeps the store contract's 404 for an unknown tenant (docs/security.md says why).

Times are not asserted here (bench/edge_timing.py prints them); the waiting is watched
through the module's own sleep."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from handlers import answer, invoke, sample_event
from o2o_bridge import refusal_time, runtime
from o2o_bridge.connectors.jushuitan.push import url_token
from o2o_bridge.connectors.store.inbound import sign as sign_event
from o2o_bridge.tenant import parse_tenant
from qimen_wms import CLOUD, api_event, answer_of, delivery_confirm, signed_query as qimen_query

from .conftest import REFUSED, demo_doc, push, signed, snapshot

TOKEN_TENANT, SIGN_TENANT, QIMEN_TENANT = "10041", "10042", "10043"
SM = "secretsmanager:o2o/tenants/{}/edge#{}"


@pytest.fixture(scope="module")
def edge(bridge):
    """Besides the demo tenant (every secret inline): tenants whose callback secrets are in
    Secrets Manager, one on the token path, one with a partner key, one cloud warehouse."""
    import yaml

    secrets = boto3.client("secretsmanager")
    for ent_id, values in {TOKEN_TENANT: {"callback_token": "sm-callback-token"},
                           SIGN_TENANT: {"partner_key": "sm-partner-key"},
                           QIMEN_TENANT: {"app_secret": "sm-qimen-secret"}}.items():
        secrets.create_secret(Name=f"o2o/tenants/{ent_id}/edge", SecretString=json.dumps(values))
    store = runtime.state_store()
    for ent_id, callback in ((TOKEN_TENANT, {"token_ref": SM.format(TOKEN_TENANT, "callback_token"),
                                             "tenant_wide_token": False}),
                             (SIGN_TENANT, {"partner_key_ref": SM.format(SIGN_TENANT, "partner_key")})):
        doc = demo_doc()
        doc["ent_id"] = ent_id
        doc["jushuitan"]["callback"] = callback
        store.put(parse_tenant(doc))
    cloud = yaml.safe_load(CLOUD.read_text(encoding="utf-8"))
    cloud["ent_id"] = QIMEN_TENANT
    cloud["qimen"]["app_secret_ref"] = SM.format(QIMEN_TENANT, "app_secret")
    del cloud["qimen"]["app_secret"]
    store.put(parse_tenant(cloud))
    return bridge


# route URL -> (function, push method, storageCode of the demo tenant, extra query)
JST_ROUTES = {
    "/jushuitan/delivery_callback": ("delivery_callback", "logistics.upload", "133242", {}),
    "/jushuitan/cancel_callback": ("cancel_callback", "order.cancel", "133242", {}),
    "/jushuitan/cancal_callback": ("cancel_callback", "order.cancel", "133242", {}),
    "/jushuitan/return_goods_callback": ("return_goods_callback", "refund.goods", "133242", {}),
    "/jushuitan/stock_callback": ("stock_callback", "inventory.upload", "10000", {"type": "2"}),
}
ROUTE_NAMES = {"delivery_callback": "delivery", "cancel_callback": "cancel", "return_goods_callback": "return_goods",
               "stock_callback": "stock"}


def strangers(path: str) -> dict[str, dict]:
    function, method, storage, extra = JST_ROUTES[path]

    def token(ent_id: str, secret: str, storage_code: str = storage) -> dict:
        return {"entId": ent_id, "storageCode": storage_code, **extra,
                "token": url_token(secret, ent_id=ent_id, route=ROUTE_NAMES[function], storage_code=storage_code)}

    return {
        "unknown tenant, signed": signed(method, ent_id="99999", storage_code=storage, **extra),
        "unknown tenant, URL token": token("99999", "demo-callback-token"),
        "wrong sign (inline key)": signed(method, storage_code=storage, partner_key="guess", **extra),
        "wrong sign (key in Secrets Manager)": signed(method, ent_id=SIGN_TENANT, storage_code=storage,
                                                      partner_key="guess", **extra),
        "wrong token (inline)": {"entId": "10010", "storageCode": storage, **extra, "token": "guess"},
        "wrong token (in Secrets Manager)": token(TOKEN_TENANT, "guess"),
        "foreign storageCode, signed": signed(method, storage_code="555", **extra),
        "foreign storageCode, its own URL token": token(TOKEN_TENANT, "sm-callback-token", storage_code="555"),
    }


@pytest.mark.parametrize("path", list(JST_ROUTES))
def test_every_jst_route_answers_every_stranger_alike_and_writes_nothing(edge, path):
    function, method, storage, extra = JST_ROUTES[path]
    before = snapshot(edge)
    answers = {case: push(function, query, "{not json", path=path) for case, query in strangers(path).items()}
    assert {json.dumps(a, ensure_ascii=False) for a in answers.values()} == {json.dumps(REFUSED, ensure_ascii=False)}, answers
    assert snapshot(edge) == before
    # The same tenants' genuine credentials pass authentication: the body is judged next (400),
    # so the refusals above are the credentials', not a secret that could not be read.
    genuine = {
        "sign from Secrets Manager": signed(method, ent_id=SIGN_TENANT, storage_code=storage,
                                            partner_key="sm-partner-key", **extra),
        "URL token from Secrets Manager": {"entId": TOKEN_TENANT, "storageCode": storage, **extra, "token": url_token(
            "sm-callback-token", ent_id=TOKEN_TENANT, route=ROUTE_NAMES[function], storage_code=storage)},
    }
    for case, query in genuine.items():
        code, reply = push(function, query, "{not json", path=path)
        assert code == 400 and reply["msg"].startswith("body is not valid JSON"), (case, reply)
    assert snapshot(edge) == before


def test_the_qimen_edge_answers_every_stranger_alike_and_writes_nothing(edge):
    body = delivery_confirm("SO-EDGE", "M-EDGE", [("SF1", {"TS001-WHT-M": 1})])
    calls = {
        "unknown tenant": qimen_query("deliveryorder.confirm", body, ent_id="99999"),
        "wrong sign (inline secret)": qimen_query("deliveryorder.confirm", body, secret="guess"),
        "wrong sign (secret in Secrets Manager)": qimen_query("deliveryorder.confirm", body, ent_id=QIMEN_TENANT,
                                                              secret="guess"),
        "signed with another tenant's secret": qimen_query("deliveryorder.confirm", body, ent_id=QIMEN_TENANT),
        "a tenant without 奇门": qimen_query("deliveryorder.confirm", body, ent_id="10010"),
    }
    before = snapshot(edge)
    answers = {}
    for case, query in calls.items():
        result = invoke("qimen_callback", api_event(query, body))
        answers[case] = (result["statusCode"], result["body"])
    assert len(set(answers.values())) == 1, answers
    status, text = next(iter(answers.values()))
    assert status == 200 and "<code>sign-check-failure</code>" in text
    assert snapshot(edge) == before
    # the tenant's real secret from Secrets Manager passes the sign; the next check speaks
    genuine = answer_of(invoke("qimen_callback", api_event(
        qimen_query("deliveryorder.confirm", body, ent_id=QIMEN_TENANT, secret="sm-qimen-secret", customer_id="X"),
        body)))
    assert genuine["code"] == "invalid-customer-id"


def test_pos_events_keeps_the_contracts_404_for_an_unknown_tenant_and_401_for_a_bad_signature(edge):
    # The store system is one party that knows its merchants; its contract asks for the 404.
    def post(ent_id: str, secret: str) -> tuple[int, dict]:
        body = json.dumps({"event_id": "evt-edge", "ent_id": ent_id, "type": "order.cancelled",
                           "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                           "data": {"order_no": "SO1", "reason": "r"}})
        event = sample_event("pos_events", body=body)
        event["headers"].update({"x-o2o-event-id": "evt-edge", "x-o2o-signature": sign_event(secret, body.encode())})
        return answer("pos_events", event)

    before = snapshot(edge)
    assert post("99999", "guess")[0] == 404
    assert post("10010", "guess")[0] == 401
    assert snapshot(edge) == before


# --- the refusal deadline ------------------------------------------------------------------
@pytest.fixture
def waits(monkeypatch):
    """The deadline back on (the test suite switches it off), its waits recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setenv("O2O_REFUSAL_DEADLINE_MS", "250")
    monkeypatch.setattr(refusal_time, "_sleep", slept.append)
    return slept


def test_a_refusal_waits_for_the_deadline_and_an_accepted_push_does_not_wait(edge, waits):
    function, method, storage, extra = JST_ROUTES["/jushuitan/delivery_callback"]
    assert push(function, signed(method, partner_key="guess"), "{}") == REFUSED
    assert push(function, signed(method, ent_id="99999"), "{}") == REFUSED
    assert len(waits) == 2 and all(0 < wait <= 0.25 for wait in waits)
    waits.clear()
    assert push(function, signed(method), "{not json")[0] == 400  # authenticated, then the body
    assert waits == []
    body = delivery_confirm("SO-EDGE", "M-EDGE", [("SF1", {"TS001-WHT-M": 1})])
    invoke("qimen_callback", api_event(qimen_query("deliveryorder.confirm", body, ent_id="99999"), body))
    assert len(waits) == 1


@pytest.fixture
def clock(monkeypatch):
    """The module's clocks under the test's hand: [monotonic, wall]; waits recorded."""
    now, slept = [100.0, 1_800_000_000.0], []
    monkeypatch.setattr(refusal_time, "_clock", lambda: now[0])
    monkeypatch.setattr(refusal_time, "_wall", lambda: now[1])
    monkeypatch.setattr(refusal_time, "_sleep", slept.append)
    yield now, slept
    refusal_time.request_ended()


def refuse_after(now: list[float], work: float) -> None:
    with pytest.raises(PermissionError), refusal_time.refusals_answered_at_deadline(PermissionError, seconds=0.25):
        now[0] += work
        now[1] += work
        raise PermissionError


def test_every_refusal_is_answered_at_the_deadline_after_the_request_began_whatever_its_work(clock):
    now, slept = clock
    for before_auth, work in ((0.0, 0.01), (0.05, 0.01), (0.0, 0.2), (0.12, 0.1)):
        refusal_time.request_began({})
        now[0] += before_auth  # routing and reading the query, before authentication
        now[1] += before_auth
        started = now[0] - before_auth
        refuse_after(now, work)
        assert started + before_auth + work + slept[-1] == pytest.approx(started + 0.25)
        refusal_time.request_ended()
    with pytest.raises(KeyError), refusal_time.refusals_answered_at_deadline(PermissionError, seconds=0.25):
        raise KeyError("not a refusal: answered as it is")
    assert len(slept) == 4


def test_the_request_begins_when_api_gateway_received_it_if_the_clocks_agree(clock):
    now, slept = clock
    received = {"requestContext": {"timeEpoch": int((now[1] - 0.1) * 1000)}}  # a cold start took 100 ms
    refusal_time.request_began(received)
    refuse_after(now, 0.05)
    assert slept == [pytest.approx(0.1)]
    for implausible in (now[1] - 3600, now[1] + 60):  # a replayed sample event, a clock ahead
        refusal_time.request_began({"requestContext": {"timeEpoch": int(implausible * 1000)}})
        refuse_after(now, 0.05)
        assert slept[-1] == pytest.approx(0.2)


def test_a_refusal_past_its_deadline_is_answered_when_done_and_logged(clock, caplog):
    now, slept = clock
    refusal_time.request_began({})
    with caplog.at_level("WARNING"):
        refuse_after(now, 0.4)
    assert slept == [] and "refusal past its deadline" in caplog.text


@pytest.mark.parametrize("value", ["-1", "abc", "5001"])
def test_a_bad_deadline_setting_is_a_configuration_error(monkeypatch, value):
    from o2o_bridge.errors import ConfigurationError

    monkeypatch.setenv("O2O_REFUSAL_DEADLINE_MS", value)
    with pytest.raises(ConfigurationError, match="O2O_REFUSAL_DEADLINE_MS"):
        refusal_time.refusal_deadline_seconds()


def test_a_stranger_pays_the_secret_read_a_tenant_pays_once_per_cache_period(edge, monkeypatch):
    """As deployed (O2O_STAND_IN_SECRET_READS): an unknown entId costs one Secrets Manager read under
    its own path per cache period, as a tenant's reference costs one; both then come from cache."""
    from botocore.client import BaseClient

    read: list[str] = []
    original = BaseClient._make_api_call

    def watched(client, operation, params):
        if operation == "GetSecretValue":
            read.append(params["SecretId"])
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", watched)
    monkeypatch.setenv("O2O_STAND_IN_SECRET_READS", "true")
    monkeypatch.setattr(refusal_time, "_STAND_IN_READS", {})
    runtime.secret_resolver().clear_cache()  # a new cache period: nothing read yet
    function, method, storage, extra = JST_ROUTES["/jushuitan/delivery_callback"]
    for _ in range(2):
        assert push(function, signed(method, ent_id="99998", partner_key="guess"), "{}") == REFUSED
        assert push(function, signed(method, ent_id=SIGN_TENANT, partner_key="guess"), "{}") == REFUSED
    assert read == ["o2o/tenants/99998/stand-in", f"o2o/tenants/{SIGN_TENANT}/edge"]
    body = delivery_confirm("SO-EDGE", "M-EDGE", [("SF1", {"TS001-WHT-M": 1})])
    read.clear()
    for ent_id in ("99997", "10010"):  # unknown, and a tenant without 奇门
        invoke("qimen_callback", api_event(qimen_query("deliveryorder.confirm", body, ent_id=ent_id), body))
    assert read == ["o2o/tenants/99997/stand-in", "o2o/tenants/10010/stand-in"]
