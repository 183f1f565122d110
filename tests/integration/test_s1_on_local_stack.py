"""S1 end to end (#5) on the local stack: JST sandbox outbounds of the 店加线下仓, polled by the
real poll_jst_outbound through `o2o invoke`; fulfilment orders at the 店+ sandbox; the store's
events signed over HTTP to the local API; confirmations read back from the JST sandbox. Then the
same with 30 % faults injected on both sandboxes."""

from __future__ import annotations

import itertools

import pytest

from stack_world import demo_world
from o2o_bridge.cli import main as o2o

pytestmark = pytest.mark.integration

_io_ids = itertools.count(560001)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with demo_world(tmp_path_factory.mktemp("s1")) as (stack, jst, store):
        jst.seed(logistics_companies=[{"lc_id": "MDZT", "lc_name": "门店自提"}])  # routing.pickup_lc_id
        yield stack, jst, store


def outbound(jst, *, sku="SKU-RED-L", province="上海市", city="上海市", labels=""):
    io_id = next(_io_ids)
    jst.add_outbound(io_id=io_id, so_id=f"S1-IT-{io_id}", wms_co_id=10001, shop_id=10086, labels=labels,
                     receiver_name="王小姐", receiver_mobile="13800000000", receiver_state=province,
                     receiver_city=city, receiver_district="静安区", receiver_address="南京西路1号",
                     items=[{"sku_id": sku, "qty": 1, "name": "T恤"}])
    return io_id


def fulfilments(store, io_id):
    merchant = store.state.merchant("10010")
    return [f for f in merchant.fulfilments.values() if f["external_id"] == str(io_id)]


def open_fulfilment(store, io_id):
    (found,) = [f for f in fulfilments(store, io_id) if f["status"] == "created"]
    return found


def jst_outbound(jst, io_id):
    return next(o for o in jst.state.snapshot("outbounds") if o["io_id"] == io_id)


def poll_and_drain(times=1):
    for _ in range(times):
        o2o(["invoke", "poll_jst_outbound"])  # may fail under faults: the schedule runs it again
        assert o2o(["local", "drain", "--now"]) == 0


def test_ship_pickup_reject_and_cancel_on_the_sandboxes(world, capsys):
    stack, jst, store = world
    shipped, pickup, rejected, cancelled = (outbound(jst), outbound(jst, sku="SKU-BLUE-M", province="江苏省",
                                                                    city="南京市", labels="门店自提"),
                                            outbound(jst, sku="SKU-RED-M"), outbound(jst, sku="SKU-RED-M"))
    for _ in range(3):  # replays of the schedule change nothing
        poll_and_drain()
    assert [len(fulfilments(store, io)) for io in (shipped, pickup, rejected, cancelled)] == [1, 1, 1, 1]
    assert open_fulfilment(store, pickup)["store_code"] == "S002"
    assert open_fulfilment(store, pickup)["delivery"] == "pickup"

    first = open_fulfilment(store, shipped)["fulfilment_id"]
    for _ in range(3):  # the store system resends its event
        result = store.emit("fulfilment.shipped", {"fulfilment_id": first, "external_id": str(shipped),
                                                   "carrier_code": "SF", "tracking_no": "SF1400000001",
                                                   "shipped_at": "2026-11-30T10:00:00+08:00"}, event_id="evt-s1-it-1")
        assert result.status == 200, result.body
    assert store.fulfilment_event(open_fulfilment(store, pickup)["fulfilment_id"], "picked_up").status == 200
    assert store.fulfilment_event(open_fulfilment(store, rejected)["fulfilment_id"], "rejected").status == 200
    assert o2o(["local", "drain", "--now"]) == 0
    rerouted = open_fulfilment(store, rejected)
    assert rerouted["store_code"] == "S002"  # out of the region: the tenant's fallback store
    assert store.fulfilment_event(rerouted["fulfilment_id"], "shipped", tracking_no="SF1400000003").status == 200
    jst.set_outbound_status(cancelled, "Delete")
    poll_and_drain()

    assert (jst_outbound(jst, shipped)["status"], jst_outbound(jst, shipped)["l_id"]) == ("Confirmed", "SF1400000001")
    assert (jst_outbound(jst, pickup)["status"], jst_outbound(jst, pickup)["lc_id"]) == ("Confirmed", "MDZT")
    assert jst_outbound(jst, rejected)["status"] == "Confirmed"
    sent = [row["io_id"] for row in jst.state.snapshot("sent_uploads")]
    assert sorted(sent) == sorted([shipped, pickup, rejected])  # once each
    assert [f["status"] for f in fulfilments(store, cancelled)] == ["cancelled"]
    capsys.readouterr()
    assert o2o(["trace", str(rejected)]) == 0
    trace = capsys.readouterr().out
    assert "s1.routed" in trace and "rejected this order before" in trace and "s1.confirmed_in_jst" in trace


def test_thirty_percent_faults_on_both_sandboxes_converge_without_doubles(world):
    stack, jst, store = world
    plan = [outbound(jst, sku="SKU-RED-M") for _ in range(4)]
    # HTTP 5xx only: the sandbox's default JST codes 150/160 are permanent for the bridge's JST client
    # (150 is an auth code in its ErrorPolicy).
    jst.faults.configure(error_rate=0.3, http_fraction=1.0, paths=["/open/orders"], apply_effect_rate=0.3, seed=5)
    store.faults.configure(error_rate=0.3, statuses=[500, 503], apply_effect_rate=0.3, seed=5)
    try:
        poll_and_drain(times=6)
        assert all(len([f for f in fulfilments(store, io) if f["status"] == "created"]) == 1 for io in plan)
        for io_id in plan:
            fid = open_fulfilment(store, io_id)["fulfilment_id"]
            # Acknowledged: done, or durably queued when JST failed.
            assert store.fulfilment_event(fid, "shipped", tracking_no=f"SF{io_id}").status == 200
        poll_and_drain(times=4)  # each poll confirms what waits first, in one call
    finally:
        jst.faults.reset()
        store.faults.clear()
    poll_and_drain()  # what a failed poll left waiting goes with the next
    assert all(jst_outbound(jst, io)["status"] == "Confirmed" for io in plan)
    confirmed = [row for row in jst.state.snapshot("sent_uploads") if row["io_id"] in plan
                 and row.get("l_id") == f"SF{row['io_id']}"]
    assert {row["io_id"] for row in confirmed} == set(plan)
    assert all(len(fulfilments(store, io)) == 1 for io in plan)  # no second order at any store
