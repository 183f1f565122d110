"""The outbound's state (flows/store_fulfilment/order.py): what each named transition does,
and that one which no longer applies (the order moved on since its step was queued) changes
nothing."""

from __future__ import annotations

import pytest

from o2o_bridge.errors import UnprocessableRequest
from o2o_bridge.flows.store_fulfilment import Order


def routing(route_no: int = 0) -> Order:
    return Order(1, {"io_id": "9", "status": "routing", "route_no": route_no, "rejections": [],
                     "store_code": None, "fulfilment_id": None, "forced_store": None})


def test_a_dispatched_order_rejected_by_its_store_is_routed_again_under_the_next_route():
    order = routing()
    order.dispatch_to(0, "S001", "F1", "2026-12-02")
    assert (order.status, order.data["store_code"], order.data["fulfilment_id"]) == ("dispatched", "S001", "F1")
    order.reject("S001", "F1", "out_of_stock", ["A"])
    assert order.still_routing(1) and order.data["store_code"] is None
    assert order.data["released"] == {"store_code": "S001", "day": "2026-12-02"}
    assert order.data["rejections"] == [{"store_code": "S001", "reason": "out_of_stock", "fulfilment_id": "F1",
                                         "sku_ids": ["A"]}]
    again = dict(order.data)
    order.reject("S001", "F1", "out_of_stock", ["A"])  # the same rejection twice: noted once
    assert order.data == again


def test_a_step_of_an_older_route_changes_nothing():
    order = routing(2)
    before = dict(order.data)
    order.park(1)
    order.dispatch_to(1, "S001", "F1", None)
    assert order.data == before
    order.park(2)
    assert order.status == "exception"


def test_the_erp_cancelling_remembers_an_unseen_outbound_and_leaves_a_shipped_one():
    unseen = Order(None, None)
    unseen.cancel_by_erp("9", "Cancelled")
    assert unseen.data == {"io_id": "9", "status": "cancelled", "jst_status": "Cancelled", "route_no": 0,
                           "rejections": []}
    order = routing()
    order.dispatch_to(0, "S001", "F1", None)
    order.cancel_by_erp("9", "Delete")
    assert (order.status, order.data["was"]) == ("cancelled", "dispatched")
    shipped = routing()
    shipped.confirm("shipped")
    shipped.cancel_by_erp("9", "Delete")
    assert shipped.status == "shipped"


def test_rerouting_by_hand_takes_a_parked_or_stuck_order_only():
    parked = routing()
    parked.park(0)
    parked.route_again_by_hand("9", "S002")
    assert parked.still_routing(1) and parked.data["forced_store"] == "S002"
    stuck = routing()
    stuck.route_again_by_hand("9", None)  # the same route runs again
    assert stuck.still_routing(0)
    shipped = routing()
    shipped.confirm("shipped")
    with pytest.raises(UnprocessableRequest, match="is shipped"):
        shipped.route_again_by_hand("9", None)
    with pytest.raises(UnprocessableRequest, match="not known"):
        Order(None, None).route_again_by_hand("9", None)
