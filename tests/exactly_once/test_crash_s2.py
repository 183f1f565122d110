"""S2 under crash injection: a store order uploaded to JST, cancelled in JST by the store,
cancelled at the store by JST (P4), shipped (P3), returned (after-sale upload) and received
(P5), plus the S2x poll; killed at every crash point, rerun and drained: one effect per side."""

from datetime import datetime, timezone

from flows_s2.conftest import World, order_requested, return_requested, store_event
from o2o_bridge.flows import warehouse_orders as s2
from o2o_bridge.connectors.jushuitan.inbound import JstPush

from .harness import assert_settled, built_once, drain, every_crash

NOW = datetime.now(timezone.utc)


def push(world, body):
    return JstPush("10010", "133242", {}, body, "", world.tenant, "token")


def upload(order_no):
    return built_once(lambda world: (lambda event: lambda w: s2.on_order_warehouse_requested(event, w.ctx))(
        order_requested(order_no)))


def store_cancels(order_no):
    return built_once(lambda world: (lambda event: lambda w: s2.on_order_cancelled(event, w.ctx))(
        store_event("order.cancelled", {"order_no": order_no, "reason": "顾客取消"})))


def jst_cancels(order_no):
    def build(world):
        world.jst.cancel_in_jst(order_no, "缺货")  # JST's own cancel, then its push
        return lambda w: s2.recheck_cancels(w.ctx, push(w, {"so_id": order_no, "remark": "缺货"}).named_cancels())

    return built_once(build)


def ships(order_no):
    def build(world):
        body = world.jst.ship(order_no, f"{order_no}-P1", [("1", "TS001-WHT-M", 2), ("2", "JN002-BLU-30", 1)], NOW)
        return lambda w: s2.recheck_shipments(w.ctx, *push(w, body).named_shipments())

    return built_once(build)


def returns(return_no, order_no):
    return built_once(lambda world: (lambda event: lambda w: s2.on_return_requested(event, w.ctx))(
        return_requested(return_no, order_no)))


def received(return_no):
    def build(world):
        body = world.jst.receive(return_no, NOW)
        return lambda w: (lambda names: s2.recheck_receipts(w.ctx, names[0], order_nos=names[1],
                                                            warehouse_return_ids=names[2]))(
            push(w, body).named_receipts())

    return built_once(build)


def poll(world):
    s2.recover_missed_pushes(world.ctx)


STEPS = [upload("WM1"), upload("WM2"), upload("WM3"), lambda w: drain(w.ctx),
         store_cancels("WM2"), jst_cancels("WM3"), lambda w: drain(w.ctx),
         ships("WM1"), returns("RT1", "WM1"), lambda w: drain(w.ctx),
         received("RT1"), lambda w: drain(w.ctx)]


def check(world, run):
    store = world.store
    assert [e[1] for e in store.of("ship")] == ["WM1"]  # one P3
    assert [e[1] for e in store.of("cancel")] == ["WM3"]  # one P4
    assert [(e[1], e[2]) for e in store.of("receipt")] == [("RT1", "confirm")]  # one P5
    jst = world.jst
    assert sorted(jst.orders) == ["WM1", "WM2", "WM3"]  # one JST order each (a repeat upload is JST's update)
    assert jst.orders["WM2"]["status"] == "Cancelled" and jst.calls.count("orderbyoid/cancel") >= 1
    assert list(jst.aftersales) == ["RT1"]
    for order_no, order in jst.orders.items():
        assert world.ctx.links.find("10010", "store_order", order_no, "jst_order").other_key == str(order["o_id"])
    assert_settled(world.ctx)  # nothing queued or dead-lettered; every effect done, none left claimed


def test_s2_killed_at_every_crash_point_has_one_effect_on_each_side(monkeypatch):
    points = every_crash(lambda: World(monkeypatch), STEPS, check, settle=[poll])
    assert points >= 30
