"""Orders whose dispatch never finished (its retries gave up, or keep failing) stay in "routing":
they are listed after the tenant's ``routing.stuck_after_minutes`` with why, and re-routed by hand
without a second store order."""

from datetime import datetime, timedelta, timezone

from o2o_bridge.flows import routing
from o2o_bridge.flows import store_fulfilment as s1


def later(world, minutes):
    moment = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    world.ctx.now = lambda: moment


def test_an_order_whose_retries_gave_up_is_listed_after_the_configured_time_and_rerouted_once(make_world):
    world = make_world()
    world.store.faults.rate = 1.0  # 店+ is down for longer than the retries last
    world.jst.add(700001)
    assert s1.poll_jst_outbound(world.ctx)["dispatched"] == 1
    world.drain()
    assert [letter.envelope.command for letter in world.ctx.queue.dead] == ["s1.dispatch"]
    assert world.order(700001)["status"] == "routing"
    assert s1.stuck_orders(world.ctx) == []  # not yet stuck: the default is 30 minutes

    later(world, 31)
    [stuck] = s1.exceptions_to_show(world.ctx)
    assert (stuck["io_id"], stuck["kind"], stuck["dispatch_state"], stuck["so_id"]) == \
        ("700001", "stuck_routing", "dead_lettered", "SO700001")
    assert "s1.dispatch was dead-lettered" in stuck["reason"] and "no store decided yet" in stuck["reason"]
    assert s1.open_exceptions(world.ctx) == []  # nothing was parked: it is listed because it is stuck

    world.store.faults.rate = 0.0  # 店+ is back
    result = s1.reroute_by_hand(world.ctx, "700001")
    assert result["status"] == "dispatched" and len(world.store.created) == 1
    assert s1.stuck_orders(world.ctx) == []
    assert world.ctx.records.get("10010", s1.ROUTING_KIND, "700001") is None


def test_an_order_waiting_for_a_retry_is_listed_with_its_last_error_and_the_time_is_per_tenant(make_world):
    world = make_world(routing={"stuck_after_minutes": 60})
    world.jst.add(700002)
    world.store.faults.rate = 1.0
    s1.poll_jst_outbound(world.ctx)  # queued for retry, not drained yet
    later(world, 31)
    assert s1.stuck_orders(world.ctx) == []  # this tenant waits an hour
    later(world, 61)
    [stuck] = s1.stuck_orders(world.ctx)
    assert stuck["dispatch_state"] == "waiting_for_retry" and "injected fault before P7" in stuck["reason"]
    assert "after 60 min" in stuck["reason"]
    # Every poll counts them, so the FulfilmentsStuck alarm fires without anyone looking.
    assert s1.poll_jst_outbound(world.ctx)["stuck"] == 1
    assert world.ctx.metric.values["FulfilmentsStuck"] == 1


def test_rerouting_a_stuck_order_whose_store_order_was_created_unanswered_creates_no_second_one(make_world):
    world = make_world()
    world.store.faults.lost_answer_rate = 1.0  # P1 takes effect at the store, its answer never arrives
    world.jst.add(700003)
    s1.poll_jst_outbound(world.ctx)
    world.drain()
    assert len(world.store.created) == 1 and world.order(700003)["status"] == "routing"
    later(world, 45)
    [stuck] = s1.stuck_orders(world.ctx)
    assert stuck["dispatch_state"] == "dead_lettered" and "routed to store S001" in stuck["reason"]

    world.store.faults.lost_answer_rate = 0.0
    assert s1.reroute_by_hand(world.ctx, "700003")["status"] == "dispatched"
    assert len(world.store.created) == 1  # the same route and key: the store's first order is found
    assert world.order(700003)["fulfilment_id"] == world.store.created[0]


def test_a_stuck_order_sent_to_a_named_store_frees_the_capacity_of_the_store_it_was_routed_to(make_world):
    from o2o_bridge.connectors.store.errors import PosTransientError

    world = make_world()
    create = world.store.create_fulfilment_order

    def store_system_of_s003_down(order, **kwargs):
        if order.store_code == "S003":
            raise PosTransientError("S003's till is offline")
        return create(order, **kwargs)

    world.store.create_fulfilment_order = store_system_of_s003_down
    world.jst.add(700004, items=(("SKU-BLUE-M", 1),))  # in 上海 only S003 (capacity 2) has it
    s1.poll_jst_outbound(world.ctx)
    world.drain()
    day = routing.shanghai_day(world.ctx)
    assert routing.capacity_used(world.ctx, "S003", day) == ["700004"]
    later(world, 40)
    [stuck] = s1.stuck_orders(world.ctx)
    assert stuck["dispatch_state"] == "dead_lettered" and "routed to store S003" in stuck["reason"]
    assert "s1.create_at_store was dead-lettered" in stuck["reason"]

    result = s1.reroute_by_hand(world.ctx, "700004", store_code="S002")
    assert result["status"] == "dispatched" and world.store.current(700004)["store_code"] == "S002"
    assert routing.capacity_used(world.ctx, "S003", day) == []
    assert s1.stuck_orders(world.ctx) == []
