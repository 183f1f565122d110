"""The cost bench's meter bills DynamoDB reads as DynamoDB does (no server: botocore's events fed by hand)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from callback_kinds import AwsMeter


@pytest.fixture
def meter():
    made = AwsMeter()
    yield made
    made.close()


def read(meter, operation, request, answer):
    """One DynamoDB read through the meter's hooks: its request, then its answer."""
    meter._before_send(SimpleNamespace(body=json.dumps(request).encode()), f"before-send.dynamodb.{operation}")
    meter._after_dynamodb(SimpleNamespace(content=json.dumps(answer).encode()), SimpleNamespace(name=operation))
    meter._after_call()
    return meter.take().rru


def item(size):
    return {"pk": {"S": "REC#1"}, "sk": {"S": "k"}, "data": {"S": "x" * size}}


def keys(n):
    return [{"pk": {"S": "REC#1"}, "sk": {"S": f"k{i}"}} for i in range(n)]


def test_a_batch_read_rounds_each_item_up_on_its_own_and_a_missing_key_costs_a_unit(meter):
    answer = {"Responses": {"state": [item(100), item(100), item(5000)]}, "UnprocessedKeys": {}}
    assert read(meter, "BatchGetItem", {"RequestItems": {"state": {"Keys": keys(4), "ConsistentRead": True}}},
                answer) == 1 + 1 + 2 + 1  # the third item spans two 4 KB units; the fourth key was not there


def test_a_batch_reads_keys_left_unprocessed_are_not_billed_and_eventual_reads_cost_half(meter):
    answer = {"Responses": {"state": [item(100)]}, "UnprocessedKeys": {"state": {"Keys": keys(2)}}}
    assert read(meter, "BatchGetItem", {"RequestItems": {"state": {"Keys": keys(3)}}}, answer) == 0.5


def test_a_transactional_read_costs_two_units_an_item_and_a_single_read_one_per_4_kb(meter):
    answer = {"Responses": [{"Item": item(100)}, {"Item": item(9000)}]}
    assert read(meter, "TransactGetItems", {"TransactItems": [{"Get": {}}, {"Get": {}}]}, answer) == 2 * (1 + 3)
    assert read(meter, "GetItem", {"Key": keys(1)[0], "ConsistentRead": True}, {"Item": item(100)}) == 1
    assert read(meter, "GetItem", {"Key": keys(1)[0]}, {"Item": item(100)}) == 0.5
