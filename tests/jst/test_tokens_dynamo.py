"""Rotated tokens live in StateTable (TOKEN#<ent_id>) so every container uses the new one."""

from __future__ import annotations

import threading

import boto3

from o2o_bridge import runtime
from o2o_bridge.connectors.jushuitan import factory as jst_factory
from o2o_bridge.connectors.jushuitan.tokens import TokenRecord

from .jst_fakes import ACCESS, FakeGateway, make_client, ok


def test_store_round_trip_and_conditional_write(aws):
    store = jst_factory.token_store()
    assert store.load("E1") is None
    assert store.save("E1", TokenRecord("a1", "r1", 2000.5, 1000.0), 0)
    assert not store.save("E1", TokenRecord("other", "r", None, 1.0), 0)  # someone already stored one
    record = store.load("E1")
    assert (record.access_token, record.refresh_token, record.expires_at, record.version) == ("a1", "r1", 2000.5, 1)
    assert store.save("E1", TokenRecord("a2", None, None, 1001.0), 1)
    assert not store.save("E1", TokenRecord("a3", None, None, 1002.0), 1)  # stale version loses
    assert store.load("E1").access_token == "a2"
    item = boto3.client("dynamodb").get_item(TableName=aws["STATE_TABLE"],
                                             Key={"pk": {"S": "TOKEN#E1"}, "sk": {"S": "CURRENT"}})["Item"]
    assert item["version"]["N"] == "2"


def test_concurrent_refreshes_make_one_jst_call_and_agree_on_one_token(aws, item_atomic_moto):
    """Two containers see code 100 at once: one takes the lease and refreshes, the other waits
    for the stored token and uses it (JST may invalidate a token when another is issued)."""
    import time

    gateway = FakeGateway(routes={"/open/shops/query": lambda call: ok({})})
    original = gateway._token

    def slow_token(call):
        time.sleep(0.5)  # the refresh is in flight while the second container arrives
        return original(call)

    gateway._token = slow_token
    start = threading.Barrier(2)
    results = []

    def container():
        client = make_client(gateway, store=jst_factory.token_store())
        start.wait(timeout=5)
        results.append(client.tokens.after_token_rejected(ACCESS))

    threads = [threading.Thread(target=container) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    stored = jst_factory.token_store().load("E1")
    assert len(results) == 2 and results[0] == results[1] == stored.access_token
    assert len(gateway.calls_to("/openWeb/auth/refreshToken")) == 1
    assert stored.version == 1


def test_an_abandoned_lease_does_not_block_renewal_forever(aws):
    store = jst_factory.token_store()
    assert store.claim_refresh("E1", "dead-container", now=1000.0, seconds=15)
    assert not store.claim_refresh("E1", "me", now=1010.0, seconds=15)
    assert store.claim_refresh("E1", "me", now=1016.0, seconds=15)  # expired
    assert store.claim_refresh("E1", "me", now=1017.0, seconds=15)  # my own lease again


def test_new_tokens_in_the_tenant_file_replace_the_stored_token_and_an_unchanged_file_keeps_it(aws, tmp_path, capsys,
                                                                                                 monkeypatch):
    """After the merchant re-authorises, the operator puts the new tokens in the tenant file;
    the refreshed token kept in StateTable must not silently win over them."""
    import yaml

    from pathlib import Path

    from o2o_bridge.cli import environment
    from o2o_bridge.cli import main as o2o

    monkeypatch.setattr(environment, "is_local_stack", lambda: True)  # the demo file's inline secrets

    store = jst_factory.token_store()
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml").read_text("utf-8"))
    tenant_file = tmp_path / "tenant.yaml"
    tenant_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert o2o(["tenant", "put", str(tenant_file)]) == 0
    store.save(doc["ent_id"], TokenRecord("refreshed-access", "refreshed-refresh", None, 1.0), 0)

    assert o2o(["tenant", "put", str(tenant_file)]) == 0  # the same file again: the refreshed token stays
    assert store.load(doc["ent_id"]).access_token == "refreshed-access"

    doc["jushuitan"]["access_token"], doc["jushuitan"]["refresh_token"] = "reauthorised-access", "reauthorised-refresh"
    tenant_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    capsys.readouterr()
    assert o2o(["tenant", "put", str(tenant_file)]) == 0
    assert store.load(doc["ent_id"]) is None
    out = capsys.readouterr().out
    assert "stored JST token was dropped" in out and "reauthorised" not in out

    store.save(doc["ent_id"], TokenRecord("refreshed-again", None, None, 1.0), 0)
    assert o2o(["tenant", "put", str(tenant_file), "--reset-token"]) == 0  # same values behind a ref
    assert store.load(doc["ent_id"]) is None


def test_tokens_are_encrypted_at_rest_and_bound_to_their_tenant(aws):
    """Attack 7: StateTable holds no JST token in clear; a ciphertext moved to another tenant does not open."""
    import pytest
    from botocore.exceptions import ClientError

    store = jst_factory.token_store()
    assert store.save("E1", TokenRecord("clear-access-token-1", "clear-refresh-token-1", None, 1.0), 0)
    items = boto3.client("dynamodb").scan(TableName=aws["STATE_TABLE"])["Items"]
    assert "clear-access-token-1" not in str(items) and "clear-refresh-token-1" not in str(items)
    assert jst_factory.token_store().load("E1").refresh_token == "clear-refresh-token-1"
    [item] = [i for i in items if i["pk"]["S"] == "TOKEN#E1"]
    item["pk"] = {"S": "TOKEN#E2"}
    boto3.client("dynamodb").put_item(TableName=aws["STATE_TABLE"], Item=item)
    runtime.reset()
    with pytest.raises(ClientError):
        jst_factory.token_store().load("E2")


def test_a_token_stored_in_clear_before_encryption_is_rewritten_encrypted_on_first_read(aws):
    client = boto3.client("dynamodb")
    client.put_item(TableName=aws["STATE_TABLE"], Item={
        "pk": {"S": "TOKEN#E3"}, "sk": {"S": "CURRENT"}, "access_token": {"S": "legacy-clear-access"},
        "refresh_token": {"S": "legacy-clear-refresh"}, "obtained_at": {"N": "1.0"}, "version": {"N": "4"}})
    record = jst_factory.token_store().load("E3")
    assert (record.access_token, record.refresh_token, record.version) == ("legacy-clear-access", "legacy-clear-refresh", 5)
    assert "legacy-clear" not in str(client.scan(TableName=aws["STATE_TABLE"])["Items"])
