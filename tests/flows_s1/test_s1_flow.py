"""S1 end to end on in-memory JST and 店+: poll, dispatch, ship / pick up, reject and re-route, cancel."""

import threading

import pytest

from o2o_bridge.errors import TransientError, UnprocessableRequest
from o2o_bridge.flows import routing, store_fulfilment as s1


def poll(world):
    return s1.poll_jst_outbound(world.ctx)


def test_an_outbound_is_dispatched_to_a_store_and_its_shipment_confirmed_in_jst(world):
    world.jst.add(700001)
    summary = poll(world)
    assert summary["dispatched"] == 1
    [fulfilment] = world.store.live(700001)
    assert (fulfilment["store_code"], fulfilment["delivery"], fulfilment["platform_order_id"]) == ("S001", "express", "SO700001")
    assert world.order(700001)["status"] == "dispatched"
    shipped = world.shipped(700001, carrier="SF", tracking="SF1400001")
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll
    assert world.jst.confirmed == [700001]
    assert world.jst.sent == [{"io_id": 700001, "lc_id": "SF", "l_id": "SF1400001", "lc_name": "顺丰速运",
                               "wms_co_id": 10001}]
    assert world.order(700001)["status"] == "shipped"
    steps = world.steps(700001)
    assert steps[:3] == ["s1.outbound_seen", "s1.routed", "s1.dispatched"]
    assert steps[-2:] == ["s1.store_shipped", "s1.confirmed_in_jst"]
    routed = next(e for e in world.ctx.timeline.entries("700001") if e.step == "s1.routed")
    assert routed.detail["store"] == "S001" and "S002" in routed.detail["dropped"]


def test_a_pickup_is_confirmed_with_the_tenants_pickup_logistics_and_no_tracking_number(world):
    world.jst.add(700002, labels="门店自提", items=[("SKU-RED-L", 4)], city="上海市")
    world.jst.outbounds[700002]["items"] = [{"sku_id": "SKU-RED-M", "qty": 1}]
    poll(world)
    assert world.store.current(700002)["delivery"] == "pickup"
    assert world.store.current(700002)["store_code"] == "S001"  # S003 does not serve pickups
    event = world.picked_up(700002)
    world.mark(event)
    s1.on_fulfilment_picked_up(event, world.ctx)
    world.confirm()  # the next poll
    assert world.jst.sent == [{"io_id": 700002, "lc_id": "MDZT", "l_id": "", "lc_name": "门店自提",
                               "wms_co_id": 10001, "is_un_lid": True}]
    assert world.order(700002)["status"] == "picked_up"


def test_every_input_replayed_three_times_gives_one_effect(world):
    world.jst.add(700001)
    for _ in range(3):
        poll(world)
        world.ctx.cursors.cursors.clear()  # even a lost cursor re-reads everything without a second order
    assert len(world.store.created) == 1
    shipped = world.shipped(700001)
    world.mark(shipped)
    for _ in range(3):
        s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll
    assert world.jst.confirmed == [700001] and len(world.jst.sent) == 1
    assert world.steps(700001).count("s1.confirmed_in_jst") == 1


def test_concurrent_replays_give_one_effect(world):
    for io_id in (700001, 700002, 700003):
        world.jst.add(io_id)
    gate = threading.Barrier(3)

    def run(step):
        gate.wait()
        step()

    threads = [threading.Thread(target=run, args=(lambda: poll(world),)) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    world.drain()  # the duplicates that met a claim in progress come back and find it done
    assert sorted(f["external_id"] for f in world.store.fulfilments.values()) == ["700001", "700002", "700003"]
    events = [world.shipped(io_id) for io_id in (700001, 700002, 700003)]
    for event in events:
        world.mark(event)
    for event in events:
        threads = [threading.Thread(target=run, args=(lambda e=event: s1.on_fulfilment_shipped(e, world.ctx),))
                   for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    world.drain()
    calls = world.jst.sent_calls
    world.confirm()
    assert sorted(world.jst.confirmed) == [700001, 700002, 700003]
    assert len(world.jst.sent) == 3 and world.jst.sent_calls == calls + 1  # one wms/sent/upload for the three


def test_polls_confirming_side_by_side_confirm_each_outbound_once(world):
    for io_id in (700001, 700002, 700003):
        world.jst.add(io_id)
    s1.poll_jst_outbound(world.ctx)
    world.drain()
    for io_id in (700001, 700002, 700003):
        event = world.shipped(io_id)
        world.mark(event)
        s1.on_fulfilment_shipped(event, world.ctx)
    gate = threading.Barrier(3)

    def confirm():
        gate.wait()
        try:
            s1.confirm_pending(world.ctx)
        except TransientError:
            pass  # a claim another poll holds: the next poll finds it done

    threads = [threading.Thread(target=confirm) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    world.confirm()
    assert sorted(world.jst.confirmed) == [700001, 700002, 700003]  # JST confirmed each once
    for io_id in (700001, 700002, 700003):
        assert world.steps(io_id).count("s1.confirmed_in_jst") == 1 and world.order(io_id)["status"] == "shipped"
    assert s1.open_exceptions(world.ctx) == []


def test_a_rejected_order_goes_to_the_next_store_then_to_the_exceptions(world):
    world.jst.add(700003)
    poll(world)
    assert world.store.current(700003)["store_code"] == "S001"
    rejected = world.rejected(700003, reason="out_of_stock")
    world.mark(rejected)
    for _ in range(3):  # a store resending its rejection routes the order once
        s1.on_fulfilment_rejected(rejected, world.ctx)
    assert world.store.current(700003)["store_code"] == "S003"
    assert len(world.store.created) == 2
    assert routing.unavailable_skus(world.ctx, "S001", ["SKU-RED-M"]) == ["SKU-RED-M"]
    second = world.rejected(700003, reason="damaged")
    world.mark(second)
    s1.on_fulfilment_rejected(second, world.ctx)
    s1.on_fulfilment_rejected(second, world.ctx)
    assert world.order(700003)["status"] == "exception"
    [parked] = s1.open_exceptions(world.ctx)
    assert (parked["io_id"], parked["kind"], parked["rejected_by"]) == ("700003", "no_store", ["S001", "S003"])
    assert world.ctx.metric.values["FulfilmentExceptions"] == 1
    # An operator asks S002 (out of the region) to take it.
    result = s1.reroute_by_hand(world.ctx, "700003", store_code="S002")
    assert result["status"] == "dispatched" and world.store.current(700003)["store_code"] == "S002"
    assert s1.open_exceptions(world.ctx) == []
    shipped = world.shipped(700003)
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll
    assert world.jst.confirmed == [700003]
    assert "s1.reroute_by_hand" in world.steps(700003)


def test_reroute_by_hand_without_a_store_routes_again_with_the_filters(make_world):
    world = make_world(stock={"S001": {}, "S002": {}, "S003": {}})
    world.jst.add(700009)
    poll(world)
    assert s1.open_exceptions(world.ctx)[0]["kind"] == "no_store"
    world.store.stock["S003"] = {"SKU-RED-M": 1}  # stock arrived
    assert s1.reroute_by_hand(world.ctx, "700009")["status"] == "dispatched"
    with pytest.raises(UnprocessableRequest):
        s1.reroute_by_hand(world.ctx, "700009")  # dispatched now: nothing to re-route
    with pytest.raises(UnprocessableRequest):
        s1.reroute_by_hand(world.ctx, "700009", store_code="S999")


def test_an_outbound_cancelled_at_jst_cancels_the_store_order_once(world):
    world.jst.add(700004)
    poll(world)
    fid = world.store.current(700004)["fulfilment_id"]
    world.jst.set_status(700004, "Delete")
    for _ in range(3):
        poll(world)
        world.ctx.cursors.cursors.clear()
    assert world.store.cancelled == [fid]
    assert world.order(700004)["status"] == "cancelled"
    assert "s1.cancelled_at_store" in world.steps(700004)
    # A late rejection of the cancelled order routes nothing.
    assert len(world.store.created) == 1


def test_an_outbound_cancelled_before_dispatch_is_never_sent_to_a_store(world):
    world.jst.add(700005, status="Delete")
    poll(world)
    assert world.store.created == [] and world.order(700005)["status"] == "cancelled"


def test_a_cancel_the_store_refuses_because_it_shipped_becomes_an_exception(world):
    world.jst.add(700006)
    poll(world)
    world.store.current(700006)["status"] = "shipped"
    world.jst.set_status(700006, "Delete")
    poll(world)
    [parked] = s1.open_exceptions(world.ctx)
    assert parked["kind"] == "store_cannot_cancel"


def test_jst_refusing_a_confirmation_parks_it_and_it_can_be_retried(world):
    world.jst.add(700007)
    poll(world)
    shipped = world.shipped(700007, carrier="YTO")  # not in the tenant's logistics table
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll
    [parked] = s1.open_exceptions(world.ctx)
    assert parked["kind"] == "confirm_refused" and "YTO" in parked["reason"]
    assert world.jst.sent == []
    # The operator adds the carrier, then retries the confirmation.
    tenant = world.ctx.tenant
    from o2o_bridge.tenant import LogisticsMapping
    world.ctx.tenant = tenant.model_copy(update={"logistics": [*tenant.logistics,
                                                               LogisticsMapping(jst_lc_id="YTO", pos_code="YTO", name="圆通")]})
    s1.reroute_by_hand(world.ctx, "700007")
    assert world.jst.confirmed == [700007] and s1.open_exceptions(world.ctx) == []


def test_an_event_about_a_fulfilment_the_bridge_did_not_create_is_refused_and_writes_nothing(world):
    event = world.event("fulfilment.shipped", fulfilment_id="F404", external_id="123", carrier_code="SF",
                        tracking_no="SF1", shipped_at="2026-11-30T11:00:00+08:00")
    with pytest.raises(UnprocessableRequest):
        s1.on_fulfilment_shipped(event, world.ctx)
    assert world.ctx.records.items == {} and world.ctx.timeline.items == []


def test_an_event_racing_the_link_is_told_to_come_back(world):
    world.jst.add(700008)
    world.store.faults.rate = 1.0
    poll(world)  # P7 fails: the order waits in the retry queue, not linked to any fulfilment
    event = world.event("fulfilment.shipped", fulfilment_id="FO1", external_id="700008", carrier_code="SF",
                        tracking_no="SF1", shipped_at="2026-11-30T11:00:00+08:00")
    with pytest.raises(TransientError):
        s1.on_fulfilment_shipped(event, world.ctx)


def test_a_rejection_delivered_three_times_at_once_routes_the_order_once(world):
    world.jst.add(700010)
    poll(world)
    rejected = world.rejected(700010)
    world.mark(rejected)
    gate = threading.Barrier(3)

    def deliver():
        gate.wait()
        s1.on_fulfilment_rejected(rejected, world.ctx)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    world.drain()
    assert len(world.store.created) == 2
    assert world.store.current(700010)["store_code"] == "S003"
    assert world.order(700010)["route_no"] == 1 and len(world.order(700010)["rejections"]) == 1


def test_jst_undoing_a_confirmed_shipment_is_parked_once_for_an_operator(world):
    world.jst.add(700011)
    poll(world)
    shipped = world.shipped(700011)
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll
    world.jst.set_status(700011, "Cancelled")
    for _ in range(3):
        poll(world)
        world.ctx.cursors.cursors.clear()
    [parked] = s1.open_exceptions(world.ctx)
    assert parked["kind"] == "cancelled_after_shipping"
    assert world.ctx.metric.values["FulfilmentExceptions"] == 1 and world.store.cancelled == []


def test_a_pickup_without_the_tenants_pickup_logistics_code_is_parked_not_guessed(make_world):
    world = make_world(routing={"pickup_lc_id": None})
    world.jst.add(700012, labels="门店自提")
    poll(world)
    event = world.picked_up(700012)
    world.mark(event)
    s1.on_fulfilment_picked_up(event, world.ctx)
    world.confirm()  # the next poll
    [parked] = s1.open_exceptions(world.ctx)
    assert parked["kind"] == "confirm_refused" and "pickup_lc_id" in parked["reason"]
    assert world.jst.sent == []
