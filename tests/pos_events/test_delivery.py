"""At-least-once in, exactly-once effect: one effect per (ent_id, event_id), acknowledged only when done."""

import threading

import boto3
import pytest

from o2o_bridge.events import routes

from .conftest import EVENT_TYPES, OTHER_SECRET, fresh, request, send, table_items

OK = (200, {"code": 0, "msg": "ok"})


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_type_reaches_its_flow_once_and_a_repeat_is_acknowledged(tenants, effects, event_type):
    body = fresh(event_type)
    state_before, records_before = table_items(tenants)
    assert send(request(body)) == OK
    assert send(request(body)) == OK
    assert effects == [("10010", body["event_id"], event_type)]
    assert table_items(tenants) == (state_before, records_before + 1)


def test_the_idempotency_record_has_a_stable_prefix(tenants, effects):
    body = fresh("order.cancelled")
    before = {item["id"]["S"] for item in boto3.client("dynamodb").scan(TableName=tenants["IDEMPOTENCY_TABLE"])["Items"]}
    assert send(request(body)) == OK
    after = {item["id"]["S"] for item in boto3.client("dynamodb").scan(TableName=tenants["IDEMPOTENCY_TABLE"])["Items"]}
    (new,) = after - before
    assert new.startswith("pos_events.event#")


def test_an_event_whose_flow_refuses_its_own_repeats_keeps_no_event_record(tenants, monkeypatch):
    """stock.changed keeps each level with its version, so its flow refuses a repeat by that write
    (tests/flows_stock/test_store_to_jst.py): no event record (two writes) around it."""
    assert routes.ROUTES["stock.changed"].once_by_its_effect
    seen = []
    monkeypatch.setitem(routes.ROUTES, "stock.changed",
                        routes.Route(lambda event, ctx: seen.append(event.event_id), "test", once_by_its_effect=True))
    body = fresh("stock.changed")
    before = table_items(tenants)
    assert send(request(body)) == OK and send(request(body)) == OK
    assert seen == [body["event_id"]] * 2 and table_items(tenants) == before


def test_the_same_event_id_of_two_tenants_is_two_events(tenants, effects):
    body = fresh("stock.changed")
    assert send(request(body)) == OK
    assert send(request({**body, "ent_id": "20020"}, secret=OTHER_SECRET)) == OK
    assert [effect[0] for effect in effects] == ["10010", "20020"]


def test_a_refused_event_is_not_acknowledged_and_does_not_poison_the_retry(tenants, monkeypatch):
    body = fresh("fulfilment.shipped")  # about fulfilment F1001, which the bridge never created
    before = table_items(tenants)
    code, answer = send(request(body))
    assert code == 422 and "not a fulfilment order the bridge created" in answer["msg"]
    assert table_items(tenants) == before  # no completed (or in-progress) record left behind

    # Once the flow can take it, the store system's retry of the same event is processed.
    done = []
    monkeypatch.setitem(routes.ROUTES, "fulfilment.shipped", routes.Route(lambda event, ctx: done.append(event.event_id), "test"))
    assert send(request(body)) == OK
    assert done == [body["event_id"]]


@pytest.mark.parametrize("event_type", ["fulfilment.shipped", "fulfilment.picked_up", "fulfilment.rejected"])
def test_fulfilment_events_about_an_unknown_fulfilment_are_refused_naming_the_field(tenants, event_type):
    # The S2 types (#6) reach their flows: tests/flows_s2/test_store_events.py; S1 flows: tests/flows_s1.
    before = table_items(tenants)
    code, answer = send(request(fresh(event_type)))
    assert code == 422 and answer["msg"].startswith("data.fulfilment_id:")
    assert table_items(tenants) == before


def test_a_failing_flow_is_not_acknowledged_and_runs_again_on_retry(tenants, monkeypatch):
    from o2o_bridge.errors import TransientError

    calls = []

    def flaky(event, ctx):
        calls.append(event.event_id)
        if len(calls) == 1:
            raise TransientError("JST is down")

    monkeypatch.setitem(routes.ROUTES, "order.cancelled", routes.Route(flaky, "test"))
    body = fresh("order.cancelled")
    assert send(request(body))[0] == 503
    assert send(request(body)) == OK
    assert send(request(body)) == OK
    assert len(calls) == 2


def test_two_concurrent_deliveries_have_one_effect(tenants, monkeypatch):
    started, release = threading.Event(), threading.Event()
    effects = []

    def slow_flow(event, ctx):
        started.set()
        assert release.wait(10)
        effects.append(event.event_id)

    monkeypatch.setitem(routes.ROUTES, "stock.changed", routes.Route(slow_flow, "test"))
    body = fresh("stock.changed")
    answers = {}
    first = threading.Thread(target=lambda: answers.setdefault("first", send(request(body))))
    first.start()
    try:
        assert started.wait(10)
        # The first delivery is still running: the second is told to come back, not acknowledged.
        code, answer = send(request(body))
        assert code == 503 and "being processed by another delivery" in answer["msg"]
    finally:
        release.set()
        first.join(10)
    assert answers["first"] == OK
    assert send(request(body)) == OK  # after the first is done, a repeat is acknowledged
    assert effects == [body["event_id"]]


@pytest.mark.parametrize("event_type, jst_type", [("transfer.submitted", "out"), ("warehouse_return.submitted", "in")])
def test_store_documents_reach_jst_once_through_the_real_handler(tenants, monkeypatch, event_type, jst_type):
    # S5/S6 (#8): the event is acknowledged once its other in/out is uploaded; a repeat uploads nothing.
    from fakes import fake_context
    from flows_transfers.s5_s7_fakes import FakeJst, FakeStore
    from o2o_bridge import wiring

    contexts = []

    def context_for(tenant):
        if not contexts:
            contexts.append(fake_context(tenant, jst=FakeJst(), store=FakeStore()))
        return contexts[0]

    monkeypatch.setattr(wiring, "context_for", context_for)
    body = fresh(event_type)
    assert send(request(body)) == OK
    assert send(request({**body, "event_id": body["event_id"] + "-again"})) == OK  # same document, new delivery
    (uploaded,) = contexts[0].jst.other_inouts.values()
    assert (uploaded["so_id"], uploaded["upload_type"]) == (body["data"]["doc_no"], jst_type)
