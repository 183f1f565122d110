"""Store events that their tenant's flow only records (events/recording.py): one conditional write
stores the event as done with its answer, in the record the usual path keeps; a repeat is that
write refused; the event's timeline entry and ledger fact are there once, whichever way each
delivery went."""

from __future__ import annotations

import uuid

import boto3
import pytest

from o2o_bridge.events import routes

from .conftest import fresh, request, send, table_items

OK = (200, {"code": 0, "msg": "ok"})


class DynamoCalls:
    """DynamoDB requests of the handler, counted by botocore (outside the bridge)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, event_name: str, **_: object) -> None:
        self.names.append(event_name.rsplit(".", 1)[-1])


@pytest.fixture
def dynamo_calls():
    from o2o_bridge import runtime

    calls = DynamoCalls()
    client = runtime.aws_client("dynamodb")
    client.meta.events.register("before-send.dynamodb", calls)
    yield calls
    client.meta.events.unregister("before-send.dynamodb", calls)


def _sale() -> dict:
    body = fresh("sale.completed")
    body["data"]["sale_no"] = f"RS-{uuid.uuid4().hex[:8]}"
    return body


def _timeline(key: str) -> list[str]:
    from o2o_bridge import runtime

    return [entry.step for entry in runtime.state_store().entries(key, "10010")]


def _ledger_facts(sale_no: str) -> list[str]:
    """The sale facts a report counts (the queued ones stored by the ledger writer first)."""
    from ledger_reading import facts_read

    return [row["fact_key"] for row in facts_read("sale.completed")]


def test_a_sale_the_erp_keeps_no_books_of_is_one_write_and_its_timeline(tenants, dynamo_calls):
    assert send(request(_sale())) == OK  # a warm container: the tenant is read once a minute
    body = _sale()
    before = table_items(tenants)
    dynamo_calls.names.clear()
    assert send(request(body)) == OK
    assert dynamo_calls.names == ["PutItem", "PutItem"]  # the event done with its answer; the timeline
    assert table_items(tenants) == (before[0] + 1, before[1] + 1)
    assert _timeline(body["data"]["sale_no"]) == ["erp_store.not_booked"]

    dynamo_calls.names.clear()
    assert send(request(body)) == OK  # a repeat: the refused write brings the stored answer back
    assert dynamo_calls.names == ["PutItem"]
    assert table_items(tenants) == (before[0] + 1, before[1] + 1)
    assert _timeline(body["data"]["sale_no"]) == ["erp_store.not_booked"]


def test_the_record_is_the_one_the_usual_path_keeps(tenants, monkeypatch):
    """Delivered first the one way, then the other (the tenant's books changed in between): the
    second delivery finds the first's record and runs nothing."""
    ran: list[str] = []

    def booking(event, ctx):
        ran.append(event.event_id)

    recorded_first = _sale()
    assert send(request(recorded_first)) == OK
    monkeypatch.setitem(routes.ROUTES, "sale.completed", routes.Route(booking, "test"))  # now the usual path
    assert send(request(recorded_first)) == OK
    assert ran == []

    booked_first = _sale()
    assert send(request(booked_first)) == OK
    assert ran == [booked_first["event_id"]]
    monkeypatch.undo()  # the real route again: only recorded
    before = table_items(tenants)
    assert send(request(booked_first)) == OK
    assert ran == [booked_first["event_id"]]
    assert table_items(tenants) == before  # no timeline entry of its own either


def test_a_delivery_in_progress_the_usual_way_is_not_taken_over(tenants, monkeypatch):
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    from o2o_bridge import idempotency

    def in_progress(*args, **kwargs):
        raise IdempotencyAlreadyInProgressError("held")

    monkeypatch.setattr(idempotency, "done_once", in_progress)
    body = _sale()
    before = table_items(tenants)
    code, answer = send(request(body))
    assert code == 503
    assert table_items(tenants) == before  # not acknowledged, and its timeline entry dropped


def test_done_once_refuses_a_key_held_in_progress_by_once(tenants):
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    from o2o_bridge.idempotency import done_once, once

    record = {"ent_id": "10010", "event_id": f"e-{uuid.uuid4().hex[:8]}"}
    seen: list[object] = []

    @once("test.recorded", key="[ent_id, event_id]")
    def usual(rec):
        with pytest.raises(IdempotencyAlreadyInProgressError):
            done_once("test.recorded", rec, {"code": 0}, key="[ent_id, event_id]")
        seen.append("ran")
        return {"code": 1}

    assert usual(record) == {"code": 1}
    assert seen == ["ran"]
    assert done_once("test.recorded", record, {"code": 0}, key="[ent_id, event_id]") == {"code": 1}


def test_a_crash_before_the_write_leaves_the_event_to_its_redelivery_and_the_fact_once(tenants, monkeypatch):
    from o2o_bridge import idempotency

    class Killed(BaseException):
        pass

    real = idempotency.done_once

    def killed(*args, **kwargs):
        raise Killed

    body = _sale()
    facts_before = _ledger_facts(body["data"]["sale_no"])
    monkeypatch.setattr(idempotency, "done_once", killed)
    with pytest.raises(Killed):
        send(request(body))
    monkeypatch.setattr(idempotency, "done_once", real)
    assert send(request(body)) == OK  # the store's redelivery
    assert send(request(body)) == OK
    assert len(_ledger_facts(body["data"]["sale_no"])) == len(facts_before) + 1
    assert _timeline(body["data"]["sale_no"]) == ["erp_store.not_booked"]  # the redelivery's


def test_a_flow_that_reaches_for_more_than_a_record_goes_the_usual_way(tenants, monkeypatch):
    """A route that says "only recorded" wrongly costs a wasted run, never an effect: the run stops
    before its first write, its timeline entries are dropped, and the usual path does the work once."""
    runs: list[str] = []

    def more_than_a_record(event, ctx):
        runs.append(event.event_id)
        ctx.timeline.record("wrongly-recorded", ctx.ent_id, "step.before_the_write")
        ctx.records.put(ctx.ent_id, "test.effect", event.event_id, {"done": True})

    monkeypatch.setitem(routes.ROUTES, "store_document.submitted",
                        routes.Route(more_than_a_record, "test", only_recorded_when=lambda ctx: True))
    body = fresh("store_document.submitted")
    assert send(request(body)) == OK
    assert send(request(body)) == OK
    assert len(runs) == 3  # stopped, the usual path's; the repeat: stopped again, the usual path finds it done
    assert _timeline("wrongly-recorded").count("step.before_the_write") == 1
    item = boto3.client("dynamodb").get_item(
        TableName=tenants["STATE_TABLE"], Key={"pk": {"S": "REC#10010#test.effect"}, "sk": {"S": body["event_id"]}})
    assert "Item" in item


def test_a_refused_event_leaves_no_record(tenants):
    body = fresh("store_document.submitted")
    body["data"]["kind"] = "teleport_in"
    before = table_items(tenants)
    code, _ = send(request(body))
    assert code == 422
    assert table_items(tenants)[1] == before[1]
