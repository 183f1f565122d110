"""`once`: a repeated business key is acknowledged with the first result and no new effect."""

import threading

import pytest

from o2o_bridge.idempotency import MissingIdempotencyKey, once


def test_same_key_runs_once_and_returns_the_first_result(aws):
    effects = []

    @once("test.effect", key="event_id")
    def apply(record):
        effects.append(record["event_id"])
        return {"applied": record["event_id"], "n": len(effects)}

    first = apply({"event_id": "e1", "payload": 1})
    assert apply({"event_id": "e1", "payload": 1}) == first
    apply({"event_id": "e2"})
    assert effects == ["e1", "e2"]


def test_composite_keys_and_missing_keys(aws):
    calls = []

    @once("test.shipment", key="[so_id, l_id]")
    def ship(record):
        calls.append(record)
        return {}

    ship({"so_id": "A", "l_id": "1"})
    ship({"so_id": "A", "l_id": "2"})
    ship({"so_id": "A", "l_id": "1"})
    assert len(calls) == 2
    with pytest.raises(MissingIdempotencyKey, match=r"test.shipment: the record has no idempotency key at '\[so_id, l_id\]'"):
        ship({"other": 1})


def test_the_key_prefix_is_stable_across_deployments(aws):
    import boto3

    @once("stable.prefix", key="id")
    def effect(record):
        return {}

    effect({"id": "x"})
    table = boto3.client("dynamodb").scan(TableName=aws["IDEMPOTENCY_TABLE"])
    assert [item["id"]["S"].split("#")[0] for item in table["Items"]] == ["stable.prefix"]
