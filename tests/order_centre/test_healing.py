"""Parked orders heal by schedule (bounded), uncollected pickups expire into a person's queue,
and `o2o route simulate` shows routing's decision without dispatching."""

from __future__ import annotations

from datetime import timedelta

from o2o_bridge.flows import healing, order_centre, reservations
from o2o_bridge.flows import store_fulfilment as s1

LAST_UNIT = {"S001": {"SKU-RED-L": 1}, "S002": {}, "S003": {}}


def test_a_parked_order_is_dispatched_by_the_schedule_once_stock_returns(make_world):
    world = make_world(stock=LAST_UNIT)
    world.jst.add(700001, items=[("SKU-RED-L", 1)])
    world.jst.add(700002, items=[("SKU-RED-L", 1)])
    s1.poll_jst_outbound(world.ctx)
    assert world.order(700002)["status"] == "exception"
    # Nothing changed: the round tries, spends no attempt, dispatches nothing.
    assert healing.heal_parked(world.ctx) == {"parked": 1, "rerouted": 0, "still_no_store": 1, "gave_up": 0}
    created = len(world.store.created)
    # The first order ships (its hold goes) and the store receives more stock.
    shipped = world.shipped(700001)
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll confirms it in JST
    world.store.stock["S001"]["SKU-RED-L"] = 1
    summary = order_centre.rounds(world.ctx)["heal_parked"]
    assert summary["rerouted"] == 1
    assert world.order(700002)["status"] == "dispatched" and len(world.store.created) == created + 1
    assert reservations.held(world.ctx, "S001", "SKU-RED-L") == 1
    assert "s1.healing" in world.steps(700002) and s1.open_exceptions(world.ctx) == []


def test_healing_stops_after_the_tenants_attempts(make_world):
    from o2o_bridge.connectors.store.errors import PosNotFound

    world = make_world()
    options = world.ctx.tenant.order_centre.model_copy(update={"heal_max_attempts": 2})
    world.ctx.tenant = world.ctx.tenant.model_copy(update={"order_centre": options})

    def refuse(order, *, business_key=None):
        raise PosNotFound(f"store {order.store_code} refuses")

    world.store.create_fulfilment_order = refuse
    world.jst.add(700001, items=[("SKU-RED-M", 1)])
    s1.poll_jst_outbound(world.ctx)
    assert s1.open_exceptions(world.ctx)[0]["kind"] == "dispatch_refused"
    rounds = [healing.heal_parked(world.ctx) for _ in range(4)]
    assert [r["rerouted"] for r in rounds] == [1, 1, 0, 0] and rounds[-1]["gave_up"] == 1
    assert world.steps(700001).count("s1.healing") == 2
    assert s1.open_exceptions(world.ctx)[0]["io_id"] == "700001"  # a person's now


def test_an_order_whose_store_is_busy_waits_for_the_next_round_and_the_others_heal(make_world):
    from o2o_bridge.connectors.store.errors import PosTransientError

    world = make_world(stock={"S001": {}, "S002": {}, "S003": {}})
    world.jst.add(700001, items=[("SKU-BUSY", 1)])
    world.jst.add(700002, items=[("SKU-RED-M", 1)])
    s1.poll_jst_outbound(world.ctx)
    world.store.stock["S001"].update({"SKU-BUSY": 2, "SKU-RED-M": 2})
    real_stock = world.store.store_stock

    def store_stock(store_code, sku_ids):
        if "SKU-BUSY" in sku_ids:
            raise PosTransientError("店+ 503: try again later", status=503)
        return real_stock(store_code, sku_ids)

    world.store.store_stock = store_stock
    summary = healing.heal_parked(world.ctx)
    assert (summary["rerouted"], summary["next_round"]) == (1, 1)
    assert world.order(700002)["status"] == "dispatched" and world.order(700001)["status"] == "exception"
    assert world.ctx.queue.queued == [] and world.ctx.queue.dead == []  # the next round is its retry
    world.store.store_stock = real_stock
    assert healing.heal_parked(world.ctx)["rerouted"] == 1 and world.order(700001)["status"] == "dispatched"


def test_an_uncollected_pickup_expires_into_the_exceptions_queue_once(make_world):
    world = make_world()
    world.jst.add(700001, labels="门店自提", items=[("SKU-RED-M", 1)])
    world.jst.add(700002, labels="门店自提", items=[("SKU-RED-M", 1)])
    s1.poll_jst_outbound(world.ctx)
    picked = world.picked_up(700002)
    world.mark(picked)
    s1.on_fulfilment_picked_up(picked, world.ctx)
    world.confirm()  # the next poll confirms it in JST
    assert healing.expire_pickups(world.ctx) == {"waiting": 1, "expired": 0}
    now = world.ctx.now()
    world.ctx.now = lambda: now + timedelta(days=7, minutes=1)
    assert healing.expire_pickups(world.ctx) == {"waiting": 1, "expired": 1}
    assert healing.expire_pickups(world.ctx) == {"waiting": 0, "expired": 0}
    [exception] = s1.open_exceptions(world.ctx)
    assert (exception["io_id"], exception["kind"], exception["store_code"]) == ("700001", "pickup_expired", "S001")
    [fact] = world.ctx.ledger.of_kind("pickup.expired")
    assert (fact.store_code, fact.delivery, fact.doc_no) == ("S001", "pickup", world.order(700001)["fulfilment_id"])
    assert world.ctx.metric.values["FulfilmentExceptions"] == 1


def test_route_simulate_shows_each_store_and_dispatches_nothing(make_world):
    world = make_world(stock=LAST_UNIT)
    world.jst.add(700001, items=[("SKU-RED-L", 1)])
    world.jst.add(700002, items=[("SKU-RED-L", 1)])
    s1.poll_jst_outbound(world.ctx)
    created = len(world.store.created)
    answer = healing.simulate(world.ctx, "700002")
    assert answer["decision"] is None and answer["status"] == "exception"
    by_store = {row["store"]: row for row in answer["stores"]}
    assert by_store["S001"]["verdict"] == "dropped" and "has 0, needs 1" in by_store["S001"]["why"]
    assert by_store["S001"]["stock"]["SKU-RED-L"] == {"on_hand": 1, "held_by_others": 1, "needed": 1}
    assert by_store["S002"]["why"].startswith("region")
    # An outbound the bridge has not seen yet is read from JST.
    world.jst.add(700003, items=[("SKU-RED-M", 1)])
    world.store.stock["S001"]["SKU-RED-M"] = 3
    fresh = healing.simulate(world.ctx, "700003")
    assert fresh["decision"] == "S001" and fresh["known_to_bridge"] is False
    assert len(world.store.created) == created and s1.load_order(world.ctx, "700003") is None


def test_o2o_route_simulate_prints_the_verdicts(make_world, aws, capsys, monkeypatch):
    from o2o_bridge import runtime
    from o2o_bridge.cli import main as o2o

    world = make_world(stock=LAST_UNIT)
    runtime.state_store().put(world.ctx.tenant)
    world.jst.add(700001, items=[("SKU-RED-L", 1)])
    assert o2o(["route", "simulate", "700001", "--tenant", "10010"]) == 0
    out = capsys.readouterr().out
    assert "S001     chosen" in out and "on hand 1, held by other orders 0, needed 1" in out
    assert "=> store S001" in out and "nothing was dispatched" in out
