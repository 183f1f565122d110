"""route_outbound on in-memory fakes: each filter drops a store with a reason, then rank, then fallback."""

from o2o_bridge.flows import reservations, routing
from o2o_bridge.flows.routing import Line, OrderToRoute


def order(io_id="1", *, delivery="express", province="上海市", city="上海市", lines=(("SKU-RED-M", 1),)):
    return OrderToRoute(io_id, delivery, province, city, tuple(Line(s, q) for s, q in lines))


def test_the_highest_priority_store_with_stock_in_the_region_wins(world):
    decision = routing.route_outbound(world.ctx, order())
    assert decision.store_code == "S001"
    assert decision.ranked == ["S001", "S003"]
    assert "region" in decision.dropped["S002"] and "上海市" in decision.dropped["S002"]


def test_region_names_match_with_or_without_their_suffix(world):
    # S003 lists "上海", the address says 上海市; S002 lists 江苏省, the address says 江苏.
    assert routing.route_outbound(world.ctx, order(province="江苏", city="南京")).store_code == "S002"
    assert "S003" in routing.route_outbound(world.ctx, order()).ranked


def test_a_store_short_of_any_line_is_dropped_with_the_shortfall(world):
    decision = routing.route_outbound(world.ctx, order(lines=(("SKU-RED-M", 1), ("SKU-RED-L", 4))))
    assert decision.store_code == "S003"
    assert decision.dropped["S001"] == "stock: SKU-RED-L has 3, needs 4"


def test_safety_stock_is_kept_back(make_world):
    world = make_world()
    world.ctx.tenant = world.ctx.tenant.model_copy(update={"stores": [
        world.ctx.tenant.stores[0].model_copy(update={"safety_stock": 5}), *world.ctx.tenant.stores[1:]]})
    assert routing.route_outbound(world.ctx, order()).dropped["S001"] == "stock: SKU-RED-M has 0, needs 1"


def test_stores_that_rejected_the_order_are_excluded(world):
    decision = routing.route_outbound(world.ctx, order(), rejected_by=["S001"])
    assert decision.store_code == "S003" and decision.dropped["S001"] == "rejected this order before"


def test_a_full_store_is_skipped_and_capacity_is_counted_once_per_outbound(world):
    s003 = world.ctx.tenant.stores[2]
    day = routing.shanghai_day(world.ctx)

    def take(io_id):  # a slot of the day's capacity, as a dispatch takes it (with no lines)
        return reservations.take(world.ctx, "S003", io_id, day=day, capacity=s003.daily_capacity)

    assert take("A")
    assert take("A")  # the same outbound again: still one
    assert take("B")
    assert not take("C")  # capacity 2
    decision = routing.route_outbound(world.ctx, order("C"), rejected_by=["S001"])
    assert decision.store_code is None and "daily capacity 2 reached" in decision.dropped["S003"]
    # An outbound already counted there is not turned away by its own slot.
    assert routing.route_outbound(world.ctx, order("B"), rejected_by=["S001"]).store_code == "S003"
    reservations.give_back(world.ctx, "S003", "A", day=day, lines=False)
    assert take("C")


def test_pickup_orders_go_only_to_pickup_stores(world):
    decision = routing.route_outbound(world.ctx, order(delivery="pickup", lines=(("SKU-RED-L", 4),)))
    assert decision.store_code is None
    assert decision.dropped["S003"] == "does not serve store pickup"
    assert "stock" in decision.dropped["S001"]


def test_skus_a_store_said_it_is_out_of_are_skipped_there_for_the_day(world):
    routing.mark_unavailable(world.ctx, "S001", ["SKU-RED-M"], "9")
    decision = routing.route_outbound(world.ctx, order())
    assert decision.store_code == "S003" and "SKU-RED-M" in decision.dropped["S001"]
    assert routing.route_outbound(world.ctx, order(lines=(("SKU-RED-L", 1),))).store_code == "S001"


def test_ranking_by_stock_first_prefers_the_store_with_most_left(make_world):
    world = make_world(routing={"order_by": ["stock", "priority"]})
    assert routing.route_outbound(world.ctx, order()).ranked == ["S003", "S001"]


def test_the_fallback_store_takes_what_no_store_can_unless_it_rejected_it(make_world):
    world = make_world(routing={"fallback_store": "S002"})
    decision = routing.route_outbound(world.ctx, order(lines=(("SKU-BLUE-M", 10),)))
    assert decision.store_code == "S002" and decision.fallback
    assert set(decision.dropped) == {"S001", "S002", "S003"}  # the fallback passes no filter, and needs none
    none_left = routing.route_outbound(world.ctx, order(lines=(("SKU-BLUE-M", 10),)), rejected_by=["S002"])
    assert none_left.store_code is None and "fallback store S002 rejected it too" in none_left.why


def test_without_a_fallback_nothing_left_says_so(world):
    decision = routing.route_outbound(world.ctx, order(lines=(("SKU-BLUE-M", 10),)))
    assert decision.store_code is None and "no fallback store" in decision.why


def test_stock_is_not_read_when_the_tenant_turns_the_check_off(make_world):
    world = make_world(routing={"check_stock": False})
    assert routing.route_outbound(world.ctx, order(lines=(("SKU-BLUE-M", 10),))).store_code == "S001"
    assert world.store.stock_reads == 0


def test_the_tenant_file_names_a_fallback_store_that_exists_and_routing_has_defaults():
    import pytest
    from pydantic import ValidationError

    from o2o_bridge.tenant import validation_messages

    from .conftest import s1_tenant

    assert s1_tenant().routing.order_by == ["priority", "stock"] and s1_tenant().routing.fallback_store is None
    with pytest.raises(ValidationError) as caught:
        s1_tenant(fallback_store="S999", order_by=["distance"])
    messages = validation_messages(caught.value)
    assert any(m.startswith("routing.fallback_store: S999 is not one of the tenant's stores") for m in messages)
    assert any(m.startswith("routing.order_by[0]") for m in messages)
