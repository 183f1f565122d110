"""30 % transient faults on both sides (some answers lost after the effect): once the retries
drain, every outbound reached exactly its end state, with nothing lost or done twice."""

import pytest

from o2o_bridge.errors import TransientError
from o2o_bridge.flows import store_fulfilment as s1

from .s1_fakes import Faults

SHIP, PICKUP, REJECT, CANCEL = range(4)
PLENTY = {store: {"SKU-RED-M": 100, "SKU-RED-L": 100, "SKU-BLUE-M": 100} for store in ("S001", "S002", "S003")}


def keep_polling(world, rounds=30):
    for _ in range(rounds):
        try:
            s1.poll_jst_outbound(world.ctx)
            return
        except TransientError:
            continue  # the schedule runs it again in 2 minutes
    raise AssertionError("the scan never got through")


@pytest.mark.parametrize("seed", range(1, 11))
def test_everything_converges_under_thirty_percent_faults(make_world, seed):
    # Stock for every order: dispatched orders hold their lines at the store until shipped.
    world = make_world(jst_faults=Faults(0.3, lost_answer_rate=0.1, seed=seed),
                       store_faults=Faults(0.3, lost_answer_rate=0.1, seed=seed + 100), stock=PLENTY)
    plan = {700000 + n: n % 4 for n in range(1, 9)}  # S003 (capacity 2) takes both rejected ones
    for io_id, what in plan.items():
        world.jst.add(io_id, labels="门店自提" if what == PICKUP else "")
    keep_polling(world)
    world.drain()
    assert all(world.order(io_id)["status"] == "dispatched" for io_id in plan)

    for io_id, what in plan.items():
        if what == SHIP:
            event = world.shipped(io_id)
            world.mark(event)
            s1.on_fulfilment_shipped(event, world.ctx)
        elif what == PICKUP:
            event = world.picked_up(io_id)
            world.mark(event)
            s1.on_fulfilment_picked_up(event, world.ctx)
        elif what == REJECT:
            event = world.rejected(io_id)
            world.mark(event)
            s1.on_fulfilment_rejected(event, world.ctx)
        else:
            world.jst.set_status(io_id, "Delete")
    keep_polling(world)
    world.confirm()
    world.drain()
    # The re-routed orders are shipped by their second store.
    for io_id, what in plan.items():
        if what == REJECT:
            event = world.shipped(io_id)
            world.mark(event)
            s1.on_fulfilment_shipped(event, world.ctx)
    world.confirm()
    world.drain()

    assert world.ctx.queue.dead == []
    assert world.jst.faults.injected and world.store.faults.injected
    expected_confirmed = sorted(io for io, what in plan.items() if what in (SHIP, PICKUP, REJECT))
    assert sorted(world.jst.confirmed) == expected_confirmed  # each exactly once
    for io_id, what in plan.items():
        mine = [f for f in world.store.fulfilments.values() if f["external_id"] == str(io_id)]
        assert len(mine) == (2 if what == REJECT else 1), io_id
        assert world.order(io_id)["status"] == {SHIP: "shipped", PICKUP: "picked_up", REJECT: "shipped",
                                                CANCEL: "cancelled"}[what]
    assert sorted(world.store.cancelled) == sorted(world.store.fulfilments[f]["fulfilment_id"]
                                                   for f in world.store.fulfilments
                                                   if int(world.store.fulfilments[f]["external_id"]) in
                                                   [io for io, w in plan.items() if w == CANCEL])
    assert s1.open_exceptions(world.ctx) == []
