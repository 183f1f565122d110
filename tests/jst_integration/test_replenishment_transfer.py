"""配货 as a JST transfer document (``jushuitan.replenishment_document: transfer``, the guide's
调拨出库单 variant) over the JST sandbox: one transfer per store document whatever is replayed
or lost, the store told once when JST ships it, its stock leaving the 总仓."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from fakes import drain_retries, fake_context
from flows_transfers.s5_s7_fakes import FakeStore
from o2o_bridge.events.models import EVENT_MODELS
from o2o_bridge import wiring
from o2o_bridge.flows import store_transfers
from o2o_bridge.tenant import parse_tenant

DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"
MAIN, OFFLINE, STORE_WMS = 10000, 10001, 10011


def transfer_tenant(mutate=None):
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc["jushuitan"]["replenishment_document"] = "transfer"
    if mutate:
        mutate(doc)
    return parse_tenant(doc)


@pytest.fixture
def make_world(h, monkeypatch):
    def build(tenant=None):
        ctx = fake_context(tenant or transfer_tenant(), jst=h.api, store=FakeStore())
        monkeypatch.setattr(wiring, "context_for", lambda t: ctx)
        return ctx

    return build


@pytest.fixture
def world(make_world):
    return make_world()


def submit(ctx, doc_no="PH-T1", items=(("TS001-WHT-M", 5),), event_id=None):
    store_transfers.on_transfer_submitted(EVENT_MODELS["transfer.submitted"].model_validate({
        "event_id": event_id or f"evt-{doc_no}", "ent_id": "10010", "type": "transfer.submitted",
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "data": {"doc_no": doc_no, "store_code": "S001", "remark": "周末补货",
                 "items": [{"sku_id": sku, "qty": qty} for sku, qty in items]}}), ctx)


def transfers(h, so_id="PH-T1"):
    return [d for d in h.jst.state.snapshot("transfers") if d["so_id"] == so_id]


def qty(h, wms, sku="TS001-WHT-M", field="qty"):
    return next((r[field] for r in h.jst.state.snapshot("inventory") if r["wms_co_id"] == wms and r["sku_id"] == sku), 0)


def test_a_replenishment_is_one_jst_transfer_to_the_stores_warehouse_and_the_store_is_told_once_shipped(h, world):
    submit(world)
    submit(world, event_id="evt-again")  # the store system sends it again
    [doc] = transfers(h)
    assert (doc["wms_co_id"], doc["link_wms_co_id"], doc["status"]) == (MAIN, OFFLINE, "Creating")
    assert [(i["sku_id"], i["qty"]) for i in doc["items"]] == [("TS001-WHT-M", 5)]
    assert "/open/jushuitan/otherinout/upload" not in h.wire.paths()  # not an other out

    assert store_transfers.follow_other_inout(world)["waiting"] == 1 and world.store.transfers == {}
    h.jst.confirm_transfer(doc["io_id"])  # JST's warehouse ships it: 调拨在途 at 店加线下仓
    assert (qty(h, MAIN), qty(h, OFFLINE, field="allocate_qty")) == (115, 5)
    summary = store_transfers.follow_other_inout(world)
    assert summary["confirmed"] == 1 and summary["store_told"] == 1
    shipped = world.store.transfers["PH-T1"]
    assert shipped["jst_io_id"] == f"allocate-{doc['io_id']}" and shipped["items"] == [{"sku_id": "TS001-WHT-M", "qty": 5}]
    assert store_transfers.follow_other_inout(world)["open"] == 0  # no longer followed
    assert len(transfers(h)) == 1


def test_with_erp_owned_store_stock_the_transfer_goes_to_the_stores_own_jst_warehouse(h, make_world):
    h.jst.seed(warehouses=[{"wms_co_id": STORE_WMS, "name": "S001 门店仓"}])
    world = make_world(transfer_tenant(lambda d: (d["stock"].update(master="erp"), d["warehouses"].append(
        {"jst_wms_co_id": STORE_WMS, "pos_warehouse_code": "S001"}))))
    submit(world)
    [doc] = transfers(h)
    assert doc["link_wms_co_id"] == STORE_WMS


def test_a_lost_upload_answer_is_recognised_by_the_transfers_number_and_never_uploaded_twice(h, world):
    h.jst.faults.add("http", path="/open/allocate/kc/upload", code=502, apply_effect=True)
    submit(world)  # JST took it, the answer was lost: queued for retry
    assert len(transfers(h)) == 1 and world.queue.queued
    drain_retries(world)
    [doc] = transfers(h)
    uploads = [p for p in h.wire.paths() if p == "/open/allocate/kc/upload"]
    assert len(uploads) == 1  # the retry found it by its number first
    [timeline] = [e for e in world.timeline.entries("PH-T1") if e.step == "jst.other_out.uploaded"]
    assert timeline.detail["io_id"] == f"allocate-{doc['io_id']}"


def test_under_30_percent_transient_faults_every_document_is_one_transfer_and_told_once(h, world):
    h.jst.faults.configure(error_rate=0.3, paths=["/open/allocate/"], apply_effect_rate=0.5, seed=11)
    numbers = [f"PH-F{n}" for n in range(8)]
    for doc_no in numbers:
        submit(world, doc_no)
    drain_retries(world)
    for _ in range(10):  # the 15-minute poll, until every shipped document is told
        for doc in h.jst.state.snapshot("transfers"):
            if doc["status"] == "Creating":
                h.jst.confirm_transfer(doc["io_id"])
        try:
            store_transfers.follow_other_inout(world)
        except Exception:  # noqa: BLE001 - a transient JST error fails the poll; the next one goes on
            pass
        drain_retries(world)
        if set(world.store.transfers) == set(numbers):
            break
    assert sorted(d["so_id"] for d in h.jst.state.snapshot("transfers")) == sorted(numbers)  # one each
    assert set(world.store.transfers) == set(numbers)  # FakeStore fails a second P10 for a document
    faulted = [c for c in h.jst.state.snapshot("calls") if c.get("fault") and c["path"].startswith("/open/allocate/")]
    assert len(faulted) >= 3  # the faults really happened


def test_a_transfer_cancelled_in_jst_is_an_exception_and_the_store_is_not_told(h, world):
    submit(world)
    [doc] = transfers(h)
    h.jst.confirm_transfer(doc["io_id"], "Cancelled")
    assert store_transfers.follow_other_inout(world)["voided"] == 1
    [exception] = store_transfers.open_exceptions(world)
    assert "voided (Cancelled)" in exception["message"] and world.store.transfers == {}


def test_the_status_that_means_shipped_is_the_tenants_to_correct(h, make_world):
    world = make_world(transfer_tenant(lambda d: d["jushuitan"].update(
        transfer_api={"shipped_statuses": ["Confirmed", "Confirming"]})))
    submit(world)
    [doc] = transfers(h)
    with h.jst.state.lock:
        h.jst.state.transfers[doc["io_id"]]["status"] = "Confirming"
    assert store_transfers.follow_other_inout(world)["confirmed"] == 1


def test_returns_to_the_warehouse_stay_other_inbound_documents(h, world):
    store_transfers.on_warehouse_return_submitted(EVENT_MODELS["warehouse_return.submitted"].model_validate({
        "event_id": "evt-TC1", "ent_id": "10010", "type": "warehouse_return.submitted",
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "data": {"doc_no": "TC-1", "store_code": "S001", "remark": "", "items": [{"sku_id": "TS001-WHT-M", "qty": 1}]}}),
        world)
    assert "/open/jushuitan/otherinout/upload" in h.wire.paths() and transfers(h, "TC-1") == []


def test_the_bridge_never_receives_the_transfer_in_jst_so_its_goods_stay_in_transit_until_a_person_does(h, world):
    before = qty(h, OFFLINE)
    submit(world)
    [doc] = transfers(h)
    h.jst.confirm_transfer(doc["io_id"])
    store_transfers.follow_other_inout(world)
    assert "PH-T1" in world.store.transfers  # the store is told and takes the goods in at 店+
    for _ in range(2):  # later polls do not receive it either: there is no JST call for it
        store_transfers.follow_other_inout(world)
    assert (qty(h, OFFLINE, field="allocate_qty"), qty(h, OFFLINE)) == (5, before)
    assert {p for p in h.wire.paths() if "allocate" in p} <= {"/open/allocate/kc/upload", "/open/allocate/query"}

    h.jst.receive_transfer(doc["io_id"])  # what doctor's `! transfer_receipt` asks someone to do in JST
    assert (qty(h, OFFLINE, field="allocate_qty"), qty(h, OFFLINE)) == (0, before + 5)


def test_what_waits_to_be_received_in_jst_is_listed_until_jst_shows_none_of_it_on_the_way(h, aws, world, capsys):
    from o2o_bridge import runtime
    from o2o_bridge.cli import main

    runtime.state_store().put(world.tenant)  # for `o2o transfers awaiting-receipt`
    submit(world)
    submit(world, "PH-T2", items=(("JN002-BLU-30", 2),))
    docs = {d["so_id"]: d for d in h.jst.state.snapshot("transfers")}
    assert store_transfers.awaiting_receipt(world) == []  # nothing shipped yet: nothing to receive
    for doc in docs.values():
        h.jst.confirm_transfer(doc["io_id"])
    store_transfers.follow_other_inout(world)
    assert set(world.store.transfers) == {"PH-T1", "PH-T2"}

    waiting = {w["doc_no"]: w for w in store_transfers.awaiting_receipt(world)}
    assert set(waiting) == {"PH-T1", "PH-T2"}
    assert (waiting["PH-T1"]["receive_at"], waiting["PH-T1"]["store_code"]) == (str(OFFLINE), "S001")
    assert waiting["PH-T1"]["in_transit"] == {"TS001-WHT-M": 5} and waiting["PH-T2"]["in_transit"] == {"JN002-BLU-30": 2}
    [note] = [e for e in world.timeline.entries("PH-T1") if e.step == "transfer.awaiting_receipt"]
    assert note.detail["receive_at"] == str(OFFLINE)

    assert main(["transfers", "awaiting-receipt", "--tenant", "10010"]) == 0
    out = capsys.readouterr().out
    assert "PH-T1  tenant=10010 store=S001 receive in JST warehouse 10001" in out and "TS001-WHT-M 5" in out

    # A person receives PH-T1 in JST: the next poll sees nothing of it on the way and lets it go.
    h.jst.receive_transfer(docs["PH-T1"]["io_id"])
    assert store_transfers.follow_receipts(world) == {"waiting": 1, "received": 1, "unread": 0}
    assert [w["doc_no"] for w in store_transfers.awaiting_receipt(world)] == ["PH-T2"]
    assert "transfer.received_in_warehouse" in world.timeline.steps("PH-T1")
    h.jst.receive_transfer(docs["PH-T2"]["io_id"])
    assert store_transfers.follow_receipts(world) == {"waiting": 0, "received": 1, "unread": 0}
    assert main(["transfers", "awaiting-receipt", "--tenant", "10010"]) == 0
    assert "no 配货 transfer waits to be received in JST" in capsys.readouterr().out


def test_an_other_out_replenishment_has_no_receiving_half_to_wait_for(h, make_world):
    world = make_world(transfer_tenant(lambda d: d["jushuitan"].update(replenishment_document="other_out")))
    submit(world)
    [doc] = [d for d in h.jst.state.snapshot("other_inouts") if d["so_id"] == "PH-T1"]
    h.jst.confirm_other_inout(doc["io_id"])
    store_transfers.follow_other_inout(world)
    assert "PH-T1" in world.store.transfers and store_transfers.awaiting_receipt(world) == []


def test_a_failed_read_of_what_is_on_the_way_keeps_the_transfer_listed_and_says_why(h, world):
    submit(world)
    [doc] = transfers(h)
    h.jst.confirm_transfer(doc["io_id"])
    store_transfers.follow_other_inout(world)
    h.jst.faults.add("jst", path="/open/inventory/query", code=140)
    assert store_transfers.follow_receipts(world) == {"waiting": 0, "received": 0, "unread": 1}
    [waiting] = store_transfers.awaiting_receipt(world)  # read again: it is still there, with its figure
    assert waiting["doc_no"] == "PH-T1" and waiting["in_transit"] == {"TS001-WHT-M": 5}
