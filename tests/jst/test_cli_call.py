"""`o2o jst call`: one signed call with the stored tenant's credentials, through the real
wiring (StateTable tokens, DynamoDB rate limiter), against a fake gateway."""

from __future__ import annotations

import json

import boto3
import httpx
import pytest

from o2o_bridge import runtime
from o2o_bridge.connectors.jushuitan import client as client_module
from o2o_bridge.connectors.jushuitan import factory
from o2o_bridge.cli import main
from o2o_bridge.tenant import parse_tenant

from .jst_fakes import ACCESS, APP_KEY, APP_SECRET, REFRESH, FakeGateway, ok
from .test_doctor import tenant_doc


@pytest.fixture
def gateway(aws, monkeypatch):
    doc = tenant_doc()
    doc["jushuitan"].update(base_url="https://jst.test", app_key=APP_KEY, app_secret=APP_SECRET,
                            access_token=ACCESS, refresh_token=REFRESH)
    runtime.state_store().put(parse_tenant(doc))
    fake = FakeGateway(routes={"/open/shops/query": lambda call: ok({"datas": [{"shop_id": 133242}], "echo": call.biz})})
    http = httpx.Client(transport=httpx.MockTransport(fake))
    monkeypatch.setattr(client_module, "shared_http_client", lambda: http)
    factory.forget()
    yield fake
    factory.forget()


def test_jst_call_prints_the_answer_and_signs_the_biz_exactly_as_typed(gateway, capsys):
    typed = '{"page_index": 1,  "shop_ids": [133242], "note": "老板"}'
    assert main(["jst", "call", "/open/shops/query", typed, "--tenant", "10010"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["code"] == 0 and answer["data"]["datas"] == [{"shop_id": 133242}]
    assert gateway.calls[0].params["biz"] == typed


def test_jst_call_renews_an_expired_token_and_stores_it_for_every_lambda(gateway, capsys, aws):
    gateway.valid_tokens = {"not-ours"}
    assert main(["jst", "call", "open/shops/query", "--tenant", "10010"]) == 0
    item = boto3.client("dynamodb").get_item(TableName=aws["STATE_TABLE"],
                                             Key={"pk": {"S": "TOKEN#10010"}, "sk": {"S": "CURRENT"}})["Item"]
    assert "access-token-0002" not in str(item)  # encrypted at rest
    from o2o_bridge import runtime

    assert factory.token_store().load("10010").access_token == "access-token-0002"
    out = capsys.readouterr().out
    assert "access-token-0002" not in out and APP_SECRET not in out


def test_jst_call_errors(gateway, capsys):
    assert main(["jst", "call", "/open/shops/query", "{nope", "--tenant", "10010"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["jst", "call", "/open/shops/query", "--tenant", "nobody"]) == 1  # not found
    gateway.routes["/open/shops/query"] = lambda call: {"code": 190, "msg": "没有API权限"}
    assert main(["jst", "call", "/open/shops/query", "--tenant", "10010"]) == 1  # JST refused: failed
    err = capsys.readouterr().err
    assert "code 190" in err and "没有API权限" in err and APP_SECRET not in err
