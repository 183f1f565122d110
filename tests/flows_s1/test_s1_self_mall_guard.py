"""The guide's 派单策略 rule: a 自有商城 order found in 店加线下仓 never reaches a store."""

import pytest

from o2o_bridge.errors import UnprocessableRequest
from o2o_bridge.flows import store_fulfilment as s1

SELF_MALL = 133242  # the demo tenant's self_mall_shop_id


def test_a_self_mall_outbound_in_the_offline_warehouse_is_parked_with_its_reason_and_counted(world):
    world.jst.add(710001, shop_id=SELF_MALL)
    world.jst.add(710002)  # an ordinary platform order behind it still goes to a store
    summary = s1.poll_jst_outbound(world.ctx)
    assert summary["refused"] == 1 and summary["dispatched"] == 1
    assert world.store.live(710001) == []
    assert world.order(710001)["status"] == "exception"
    [parked] = [e for e in s1.open_exceptions(world.ctx) if e["io_id"] == "710001"]
    assert parked["kind"] == "self_mall_order"
    assert "订单分配策略" in parked["reason"] and "133242" in parked["reason"]
    assert world.ctx.metric.values.get("FulfilmentExceptions") == 1  # the metric the alarm watches
    assert world.store.live(710002)


def test_reading_it_again_parks_it_once_and_routes_nothing(world):
    world.jst.add(710001, shop_id=SELF_MALL)
    for _ in range(3):
        s1.poll_jst_outbound(world.ctx)
        world.ctx.cursors.cursors.clear()
    world.drain()
    assert world.store.created == [] and world.ctx.metric.values.get("FulfilmentExceptions") == 1


def test_an_operator_cannot_reroute_it_to_a_store(world):
    world.jst.add(710001, shop_id=SELF_MALL)
    s1.poll_jst_outbound(world.ctx)
    with pytest.raises(UnprocessableRequest, match="自有商城"):
        s1.reroute_by_hand(world.ctx, "710001", store_code="S001")
    assert world.store.created == []
