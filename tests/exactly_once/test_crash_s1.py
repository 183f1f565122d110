"""S1 under crash injection: route, create at the store (P1), confirm in JST (wms/sent), cancel
at the store (P2) and re-route after a rejection, killed at every crash point; rerun and
drained, every outbound has exactly one effect on each side."""

from collections import Counter

import pytest

from flows_s1.conftest import STOCK, World, s1_tenant
from flows_s1.s1_fakes import FakeJst, FakeStore
from o2o_bridge import wiring
from o2o_bridge.flows import store_fulfilment as s1

from .harness import assert_settled, built_once, drain, every_crash

SHIPPED, CANCELLED, REJECTED = 700001, 700002, 700003


@pytest.fixture
def make_world(monkeypatch):
    def make():
        world = World(s1_tenant(), FakeJst(), FakeStore(stock={k: dict(v) for k, v in STOCK.items()}))
        for io_id in (SHIPPED, CANCELLED, REJECTED):
            world.jst.add(io_id)
        monkeypatch.setattr(wiring, "context_for", lambda tenant: world.ctx)
        return world

    return make


def once_per_world(build):
    """A store event is built once (the store re-sends the same event after a failed answer);
    kept on the world (harness.built_once), not by id(world), which a later world may reuse."""
    return built_once(build)


def store_event(kind, io_id, **extra):
    def build(world):
        event = getattr(world, kind)(io_id, **extra)
        world.mark(event)  # what the store did before telling the bridge
        handler = {"shipped": s1.on_fulfilment_shipped, "rejected": s1.on_fulfilment_rejected}[kind]
        return lambda w: handler(event, w.ctx)

    return once_per_world(build)


def poll(world):
    s1.poll_jst_outbound(world.ctx)


def jst_cancels(world):
    if world.jst.outbounds[CANCELLED]["status"] != "Delete":
        world.jst.set_status(CANCELLED, "Delete")


STEPS = [poll, lambda w: drain(w.ctx),
         store_event("shipped", SHIPPED), store_event("rejected", REJECTED, reason="damaged"), lambda w: drain(w.ctx),
         jst_cancels, poll, lambda w: drain(w.ctx)]


def check(world, run):
    created = Counter(world.store.fulfilments[fid]["external_id"] for fid in world.store.created)
    # One store order per outbound and route: the rejected one was created again at another store once.
    assert created == {str(SHIPPED): 1, str(CANCELLED): 1, str(REJECTED): 2}, created
    assert world.jst.confirmed == [SHIPPED]  # one wms/sent effect in JST
    cancelled = [world.store.fulfilments[fid]["external_id"] for fid in world.store.cancelled]
    assert cancelled == [str(CANCELLED)]  # one P2
    rerouted = [f for f in world.store.fulfilments.values() if f["external_id"] == str(REJECTED)]
    assert len({f["store_code"] for f in rerouted}) == 2
    assert world.order(SHIPPED)["status"] == "shipped" and world.order(CANCELLED)["status"] == "cancelled"
    assert world.order(REJECTED)["status"] == "dispatched"
    assert_settled(world.ctx)  # nothing queued or dead-lettered; every effect done, none left claimed
    # Only the worker whose claim the "done" is reports it: at most one entry per effect.
    steps = Counter(entry.step for entry in world.ctx.timeline.items)
    assert steps["s1.confirmed_in_jst"] <= 1 and steps["s1.cancelled_at_store"] <= 1


def test_s1_killed_at_every_crash_point_has_one_effect_on_each_side(make_world):
    points = every_crash(make_world, STEPS, check, settle=[poll])
    assert points > 40  # the scenario really crosses many calls and writes


def test_s1_reading_on_past_its_own_confirmations_killed_at_every_crash_point_has_one_effect_on_each_side(
        make_world, monkeypatch):
    # The second poll confirms SHIPPED, then reads only the waiting and the cancelled outbounds
    # (CANCELLED voided before it) and moves the cursor past SHIPPED: a kill anywhere in that
    # must neither skip the cancellation nor do anything twice.
    from o2o_bridge.flows.store_fulfilment import scan

    monkeypatch.setattr(scan, "CATCH_UP_AFTER", 1)
    points = every_crash(make_world, STEPS, check, settle=[poll])
    assert points > 40
