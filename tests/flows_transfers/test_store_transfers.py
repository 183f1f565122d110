"""S5 配货 and S6 退仓 on in-memory JST and 店+: what the warehouse and the store see."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from fakes import drain_retries, fake_context
from flows_transfers.conftest import demo_tenant
from flows_transfers.s5_s7_fakes import FakeJst, FakeStore, Faults
from o2o_bridge.events.models import EVENT_MODELS
from o2o_bridge import wiring
from o2o_bridge.flows import kit, store_transfers


def event(event_type: str, doc_no: str, items, *, store_code="S001", remark="周末补货", event_id=None):
    return EVENT_MODELS[event_type].model_validate({
        "event_id": event_id or f"evt-{doc_no}", "ent_id": "10010", "type": event_type,
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "data": {"doc_no": doc_no, "store_code": store_code, "items": items, "remark": remark}})


def lines(count: int, qty: int = 2):
    return [{"sku_id": f"SKU-{n:05d}", "qty": qty} for n in range(count)]


@pytest.fixture
def world(tenant, monkeypatch):
    ctx = fake_context(tenant, jst=FakeJst(), store=FakeStore())
    monkeypatch.setattr(wiring, "context_for", lambda t: ctx)
    return ctx


def submit(ctx, event_type, doc_no, items, **kw):
    handler = (store_transfers.on_transfer_submitted if event_type == "transfer.submitted"
               else store_transfers.on_warehouse_return_submitted)
    handler(event(event_type, doc_no, items, **kw), ctx)


def test_a_replenishment_becomes_one_jst_other_outbound_and_is_reported_shipped_once_confirmed(world):
    submit(world, "transfer.submitted", "PH001", [{"sku_id": "TS-M", "qty": 12}, {"sku_id": "TS-L", "qty": 3}])

    (doc,) = world.jst.other_inouts.values()
    assert (doc["so_id"], doc["upload_type"], doc["wms_co_id"]) == ("PH001", "out", 10000)
    assert doc["items"] == [{"sku_id": "TS-M", "qty": 12}, {"sku_id": "TS-L", "qty": 3}]
    assert "PH001" in doc["remark"] and "周末补货" in doc["remark"]

    assert store_transfers.follow_other_inout(world)["waiting"] == 1
    assert world.store.transfers == {}  # not shipped yet

    world.jst.set_status("PH001", "Confirmed", items=[{"sku_id": "TS-M", "qty": 10}, {"sku_id": "TS-L", "qty": 3}])
    summary = store_transfers.follow_other_inout(world)
    assert summary["confirmed"] == 1 and summary["store_told"] == 1
    shipped = world.store.transfers["PH001"]
    assert shipped["jst_io_id"] == str(doc["io_id"])
    assert shipped["items"] == [{"sku_id": "TS-M", "qty": 10}, {"sku_id": "TS-L", "qty": 3}]  # what JST confirmed
    assert shipped["shipped_at"].startswith("2026-11-22T15:30:00+08:00")
    assert world.timeline.steps("PH001") == ["transfer.submitted", "jst.other_out.uploaded",
                                             "jst.other_out.confirmed", "store.transfer_shipped"]
    # Finished: nothing is followed any more, and JST is not asked.
    assert store_transfers.follow_other_inout(world) == {"open": 0, "confirmed": 0, "waiting": 0, "voided": 0,
                                                         "missing": 0, "store_told": 0, "store_refused": 0}


def test_a_return_to_warehouse_goes_in_on_the_return_warehouse_and_is_reported_received(monkeypatch):
    tenant = demo_tenant(jushuitan={"return_wms_co_id": 10005})
    ctx = fake_context(tenant, jst=FakeJst(), store=FakeStore())
    monkeypatch.setattr(wiring, "context_for", lambda t: ctx)
    submit(ctx, "warehouse_return.submitted", "TC001", [{"sku_id": "TS-M", "qty": 3}], remark="")

    (doc,) = ctx.jst.other_inouts.values()
    assert (doc["upload_type"], doc["wms_co_id"], doc["so_id"]) == ("in", 10005, "TC001")
    assert doc["remark"]  # JST refuses an empty remark
    ctx.jst.set_status("TC001")
    store_transfers.follow_other_inout(ctx)
    assert ctx.store.returns["TC001"]["items"] == [{"sku_id": "TS-M", "qty": 3}]
    assert ctx.timeline.steps("TC001")[-1] == "store.warehouse_return_received"


def test_without_a_return_warehouse_returns_go_to_the_main_warehouse(world):
    world.tenant = demo_tenant(jushuitan={"return_wms_co_id": None})
    submit(world, "warehouse_return.submitted", "TC002", [{"sku_id": "A", "qty": 1}])
    assert world.jst.by_external_id("TC002")["wms_co_id"] == 10000


def test_a_document_over_1000_lines_is_split_and_the_store_is_told_once_all_parts_are_confirmed(world):
    submit(world, "transfer.submitted", "PH-BIG", lines(2500))

    parts = {r["so_id"]: len(r["items"]) for r in world.jst.other_inouts.values()}
    assert parts == {"PH-BIG-1": 1000, "PH-BIG-2": 1000, "PH-BIG-3": 500}
    world.jst.set_status("PH-BIG-1")
    world.jst.set_status("PH-BIG-3")
    assert store_transfers.follow_other_inout(world)["store_told"] == 0
    assert world.store.transfers == {}

    world.jst.set_status("PH-BIG-2")
    assert store_transfers.follow_other_inout(world)["store_told"] == 1
    shipped = world.store.transfers["PH-BIG"]
    assert len(shipped["items"]) == 2500 and sum(i["qty"] for i in shipped["items"]) == 5000
    assert shipped["jst_io_id"] == str(world.jst.by_external_id("PH-BIG-1")["io_id"])
    told = world.timeline.entries("PH-BIG")[-1]
    assert told.step == "store.transfer_shipped" and len(told.detail["jst_io_ids"]) == 3


def test_replayed_events_upload_once(world):
    for _ in range(3):
        submit(world, "transfer.submitted", "PH002", lines(1200))
    assert sorted(world.jst.uploads) == ["PH002-1", "PH002-2"]
    for external_id in ("PH002-1", "PH002-2"):
        world.jst.set_status(external_id)
    for _ in range(3):
        store_transfers.follow_other_inout(world)
    assert list(world.store.transfers) == ["PH002"]


def test_concurrent_replays_upload_once_and_tell_the_store_once(world):
    barrier = threading.Barrier(5)
    errors = []

    def deliver():
        try:
            barrier.wait(5)
            submit(world, "transfer.submitted", "PH003", lines(1500))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    drain_retries(world)  # a duplicate that met the claim of another is queued, then finds it done
    assert sorted(world.jst.uploads) == ["PH003-1", "PH003-2"]

    world.jst.set_status("PH003-1")
    world.jst.set_status("PH003-2")
    followers = [threading.Thread(target=store_transfers.follow_other_inout, args=(world,)) for _ in range(4)]
    for t in followers:
        t.start()
    for t in followers:
        t.join(10)
    drain_retries(world)
    assert list(world.store.transfers) == ["PH003"]


def test_an_upload_whose_answer_was_lost_is_not_repeated_in_jst(world):
    world.jst.faults = Faults(lost_answers=1.0)  # JST stores the document, the answer never arrives
    submit(world, "transfer.submitted", "PH004", [{"sku_id": "A", "qty": 1}])
    assert world.jst.uploads == ["PH004"] and world.queue.queued
    world.jst.faults = Faults()
    drain_retries(world)  # the retry is answered 160 "already exists": that is success
    assert world.jst.uploads == ["PH004"]
    uploaded = [e for e in world.timeline.entries("PH004") if e.step == "jst.other_out.uploaded"]
    assert len(uploaded) == 1 and uploaded[0].detail["already_in_jst"] is True
    world.jst.set_status("PH004")
    store_transfers.follow_other_inout(world)
    assert "PH004" in world.store.transfers


@pytest.mark.parametrize("status", ["Cancelled", "Delete"])
def test_a_document_voided_in_jst_is_an_exception_and_the_store_is_not_told(world, status):
    submit(world, "transfer.submitted", "PH005", [{"sku_id": "A", "qty": 1}])
    world.jst.set_status("PH005", status)
    assert store_transfers.follow_other_inout(world)["voided"] == 1
    assert world.store.transfers == {}
    exception = world.records.get("10010", "transfer.exception", "transfer:PH005")
    assert status in exception.data["message"] and "PH005" in exception.data["message"]
    last = world.timeline.entries("PH005")[-1]
    assert (last.step, last.level) == ("transfer.exception", "error")
    # Not followed again: the next polls neither ask JST about it nor record it twice.
    assert store_transfers.follow_other_inout(world)["voided"] == 0
    assert len(world.records.get("10010", "transfer.exception", "transfer:PH005").data["problems"]) == 1


def test_a_document_jst_refuses_is_an_exception_and_a_dead_letter_and_the_event_is_acknowledged(world):
    from o2o_bridge.connectors.jushuitan.errors import JstPermanentError

    real_upload = world.jst.upload_other_inout

    def refuse(doc):
        raise JstPermanentError("JST answered code 140: 商品编码NOPE不存在", code=140)

    world.jst.upload_other_inout = refuse
    submit(world, "transfer.submitted", "PH006", [{"sku_id": "NOPE", "qty": 1}])  # returns: acknowledged
    exception = world.records.get("10010", "transfer.exception", "transfer:PH006")
    assert "不存在" in exception.data["message"]
    (letter,) = world.queue.dead  # parked at once with the reason, JST asked once
    assert letter.envelope.command == "store_transfers.upload_part" and "不存在" in letter.reason
    assert world.timeline.steps("PH006")[-1] == "dead_lettered" and world.queue.queued == []
    assert len(world.records.get("10010", "transfer.exception", "transfer:PH006").data["problems"]) == 1

    world.jst.upload_other_inout = real_upload  # the SKU is created in JST; `o2o dlq replay` runs it again
    store_transfers.upload_part(world, letter.envelope.payload)
    assert world.jst.uploads == ["PH006"]


def test_a_document_the_store_refuses_is_an_exception_asked_once_and_replayable(world):
    from o2o_bridge.connectors.store.errors import PosPermanentError

    real = world.store.transfer_warehouse_shipped

    def unknown(doc_no, shipped, *, business_key=None):
        raise PosPermanentError(f"HTTP 404: transfer {doc_no} not found", status=404)

    world.store.transfer_warehouse_shipped = unknown
    submit(world, "transfer.submitted", "PH007", [{"sku_id": "A", "qty": 1}])
    world.jst.set_status("PH007")
    assert store_transfers.follow_other_inout(world)["store_refused"] == 1
    assert "not found" in world.records.get("10010", "transfer.exception", "transfer:PH007").data["message"]
    (letter,) = world.queue.dead
    again = store_transfers.follow_other_inout(world)
    assert (again["confirmed"], again["store_refused"]) == (0, 0)  # not asked again
    assert world.queue.queued == []

    world.store.transfer_warehouse_shipped = real  # fixed at the store: `o2o dlq replay`
    store_transfers.tell_store(world, letter.envelope.payload)
    assert "PH007" in world.store.transfers
    assert world.records.list("10010", "other_inout.open") == []


def test_thirty_percent_transient_faults_converge_to_one_document_and_one_store_call_each(tenant, monkeypatch):
    jst, store = FakeJst(Faults(0.3, lost_answers=0.15, seed=11)), FakeStore(Faults(0.3, lost_answers=0.15, seed=12))
    ctx = fake_context(tenant, jst=jst, store=store)
    monkeypatch.setattr(wiring, "context_for", lambda t: ctx)
    docs = {f"PH1{n:02d}": lines(n * 150 + 1) for n in range(1, 11)}  # up to 1501 lines: some split
    returns = {f"TC1{n:02d}": lines(3) for n in range(1, 6)}
    for doc_no, items in docs.items():
        for _ in range(3):  # the store system delivers each event three times
            submit(ctx, "transfer.submitted", doc_no, items)
    for doc_no, items in returns.items():
        submit(ctx, "warehouse_return.submitted", doc_no, items)
    drain_retries(ctx)

    expected = {f"{d}-{n}" if len(i) > 1000 else d for d, i in docs.items() for n in (1, 2)} | set(returns)
    assert sorted(jst.uploads) == sorted(expected)  # each part once, despite faults and lost answers
    for external_id in expected:
        jst.set_status(external_id)
    for _ in range(30):
        try:
            store_transfers.follow_other_inout(ctx)
        except Exception:  # noqa: BLE001 - a JST query fault: the next poll tries again
            pass
        drain_retries(ctx)
        if len(store.transfers) == len(docs) and len(store.returns) == len(returns):
            break
    assert sorted(store.transfers) == sorted(docs) and sorted(store.returns) == sorted(returns)
    assert all(sum(i["qty"] for i in store.transfers[d]["items"]) == 2 * len(docs[d]) for d in docs)
    assert ctx.records.list("10010", "other_inout.open") == []
    assert jst.faults.injected > 0 and store.faults.injected > 0


def test_a_split_document_waits_for_a_part_whose_upload_is_still_queued(world):
    from o2o_bridge.connectors.jushuitan.errors import JstTransientError

    real = world.jst.upload_other_inout

    def second_part_down(doc):
        if doc.external_id.endswith("-2"):
            raise JstTransientError("JST timed out")
        return real(doc)

    world.jst.upload_other_inout = second_part_down
    submit(world, "transfer.submitted", "PH-Q", lines(1001))
    assert world.jst.uploads == ["PH-Q-1"] and len(world.queue.queued) == 1
    world.jst.set_status("PH-Q-1")
    assert store_transfers.follow_other_inout(world)["store_told"] == 0  # part 2 is not even in JST yet

    world.jst.upload_other_inout = real
    drain_retries(world)
    world.jst.set_status("PH-Q-2")
    assert store_transfers.follow_other_inout(world)["store_told"] == 1
    assert sum(i["qty"] for i in world.store.transfers["PH-Q"]["items"]) == 2002


def test_a_document_that_fails_while_followed_is_set_aside_and_the_others_are_told(world, monkeypatch):
    for doc_no in ("PH101", "PH102", "PH103"):
        submit(world, "transfer.submitted", doc_no, [{"sku_id": "TS-M", "qty": 1}])
        world.jst.set_status(doc_no, "Confirmed", items=[{"sku_id": "TS-M", "qty": 1}])
    real = store_transfers._update_part

    def update(ctx, part, **changes):
        if part.data["doc_no"] == "PH102":
            raise KeyError("confirmed_items")  # a bug while handling this one document
        return real(ctx, part, **changes)

    monkeypatch.setattr(store_transfers, "_update_part", update)
    summary = store_transfers.follow_other_inout(world)
    assert summary["parked"] == 1 and summary["store_told"] == 2
    assert sorted(world.store.transfers) == ["PH101", "PH103"]
    [letter] = world.queue.dead
    assert letter.envelope.command == "store_transfers.follow_part" and letter.envelope.payload["doc_no"] == "PH102"

    monkeypatch.setattr(store_transfers, "_update_part", real)  # fixed: replay the letter, the next poll tells
    world.queue.queued.append((letter.envelope.replayed(), 0))
    drain_retries(world)
    store_transfers.follow_other_inout(world)
    assert sorted(world.store.transfers) == ["PH101", "PH102", "PH103"]
