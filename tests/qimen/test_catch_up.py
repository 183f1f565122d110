"""Q1 catch-up: a confirm that never reached the bridge (a callback lost on the way, a WMS that
gave up re-sending) is found by asking the WMS (deliveryorder.query) and taken through the same
confirmation flow: each parcel once, whether it arrives by callback, by the catch-up or both,
in any order; the store is told of each parcel once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from o2o_bridge.connectors.qimen import ledger as qimen_ledger
from o2o_bridge.flows import cloud_warehouse, warehouse_orders

from .test_warehouse_over_sandbox import ORDER, event, shipped, world  # noqa: F401 - the fixture


def later(world, minutes: int):
    now = world.ctx.now()
    world.ctx.now = lambda: now + timedelta(minutes=minutes)


@pytest.fixture
def ordered(world):  # noqa: F811 - the fixture above
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    return world


def test_a_lost_parcel_confirm_is_caught_up_after_the_quiet_time_and_shipped_once(ordered):
    world = ordered
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}], drop=True)  # lost on the way
    assert shipped(world) == []
    assert cloud_warehouse.catch_up_deliveries(world.ctx)["due"] == 0  # not quiet long enough yet
    later(world, 61)
    summary = cloud_warehouse.catch_up_deliveries(world.ctx)
    assert (summary["asked"], summary["caught_up"]) == (1, ["WM1"])
    assert shipped(world) == [("WM1", "SF1", (("TS001-WHT-M", 1),))]
    assert "qimen.caught_up" in world.ctx.timeline.steps("WM1")
    # Asked again later: nothing new, nothing shipped twice.
    later(world, 61)
    again = cloud_warehouse.catch_up_deliveries(world.ctx)
    assert (again["asked"], again["nothing_new"], len(shipped(world))) == (1, 1, 1)


def test_a_parcel_caught_up_and_then_delivered_by_the_wms_retry_counts_once(ordered):
    world = ordered
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 2}}], drop=True)
    later(world, 61)
    cloud_warehouse.catch_up_deliveries(world.ctx)
    # The WMS re-sends its confirm after all (same outBizCode, same parcel): acknowledged, not counted.
    lost = world.wms.state.callbacks[0]
    world.wms.send_callback(lost["method"], lost["body"].encode())
    assert shipped(world) == [("WM1", "SF1", (("TS001-WHT-M", 2),))]
    assert qimen_ledger.exceptions_to_show(world.ctx) == []  # no "beyond the order" either


def test_the_lost_last_confirm_ends_the_order_and_only_the_missing_parcel_is_shipped(ordered):
    world = ordered
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])             # arrives
    world.wms.ship("WM1", [{"tracking_no": "SF2", "items": {"TS001-WHT-M": 1, "JN002-BLU-30": 1}}],
                   drop=True)                                                               # the last, lost
    later(world, 61)
    summary = cloud_warehouse.catch_up_deliveries(world.ctx)
    assert summary["caught_up"] == ["WM1"]
    assert [s[1] for s in shipped(world)] == ["SF1", "SF2"]
    assert qimen_ledger.document(world.ctx, "WM1")["final"] is True
    later(world, 120)
    assert cloud_warehouse.catch_up_deliveries(world.ctx)["due"] == 0  # done: never asked again


def test_a_wms_that_fails_the_query_is_asked_again_next_run_and_the_others_go_on(ordered):
    world = ordered
    second = {**ORDER, "order_no": "WM2"}
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", second), world.ctx)
    world.wms.ship("WM2", drop=True)
    world.wms.faults["script"].append({"method": "deliveryorder.query", "kind": "http", "times": 1})
    later(world, 61)
    first = cloud_warehouse.catch_up_deliveries(world.ctx)
    assert (first["asked"], first["failed"], first["caught_up"]) == (2, 1, ["WM2"])  # WM1, the older, failed
    later(world, 1)  # the failed one's news time did not move: it is due in the very next run
    second_run = cloud_warehouse.catch_up_deliveries(world.ctx)
    assert (second_run["asked"], second_run["failed"], second_run["nothing_new"]) == (1, 0, 1)
    assert sorted(s[0] for s in shipped(world)) == ["WM2"]


def test_an_order_the_wms_does_not_know_is_an_exception_for_a_person(ordered):
    world = ordered
    world.wms.state.documents.pop("WM1")  # e.g. the WMS purged it
    later(world, 61)
    summary = cloud_warehouse.catch_up_deliveries(world.ctx)
    assert summary["failed"] == 1
    [exception] = qimen_ledger.exceptions_to_show(world.ctx)
    assert exception["reason"] == "catch_up_refused" and "WM1" in exception["wms_message"]


def test_a_tenant_without_a_cloud_warehouse_has_nothing_to_catch_up():
    from fakes import fake_context
    from o2o_bridge.tenant import parse_tenant
    from qimen_wms import demo_doc

    assert cloud_warehouse.catch_up_deliveries(fake_context(parse_tenant(demo_doc()))) is None
