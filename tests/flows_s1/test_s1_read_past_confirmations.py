"""A poll that has just confirmed many outbounds itself does not read them back: JST gives each
a new ts when it confirms it, so a scan from the cursor would fetch them all again (one call per
50). It reads the waiting and the cancelled outbounds since the cursor with JST's status filter,
then moves the cursor to where the last one it confirmed stands; whatever changed meanwhile, in
between its confirmations or after them, is still handled once."""

import pytest

from flows_s1.conftest import World, s1_tenant
from flows_s1.s1_fakes import FakeJst, FakeStore
from o2o_bridge import wiring
from o2o_bridge.flows import store_fulfilment as s1
from o2o_bridge.flows.store_fulfilment import scan

PLENTY = {store: {"SKU-RED-M": 10_000} for store in ("S001", "S002", "S003")}


@pytest.fixture
def world(monkeypatch):
    tenant = s1_tenant(check_stock=False)
    # Three outbounds a wms/sent/upload call, so what JST does between two calls can be tested.
    tenant = tenant.model_copy(update={"jushuitan": tenant.jushuitan.model_copy(update={"confirmations_per_call": 3})})
    world = World(tenant, FakeJst(), FakeStore(stock={k: dict(v) for k, v in PLENTY.items()}))
    monkeypatch.setattr(wiring, "context_for", lambda _tenant: world.ctx)
    monkeypatch.setattr(scan, "CATCH_UP_AFTER", 4)
    return world


@pytest.fixture
def read(monkeypatch):
    """(io_id, JST status) of every outbound the polls handle, in order."""
    seen = []
    real = scan.handle_outbound

    def handle(ctx, outbound):
        seen.append((int(outbound.outbound_id), outbound.erp_status))
        return real(ctx, outbound)

    monkeypatch.setattr(scan, "handle_outbound", handle)
    return seen


def ship(world, io_id):
    event = world.shipped(io_id, tracking=f"SF{io_id}")
    world.mark(event)
    s1.on_fulfilment_shipped(event, world.ctx)


def test_a_poll_reads_on_past_the_outbounds_it_confirmed_and_misses_nothing_that_changed_meanwhile(world, read):
    for io_id in range(700001, 700009):
        world.jst.add(io_id)
    s1.poll_jst_outbound(world.ctx)
    world.drain()
    shipped = list(range(700001, 700007))
    for io_id in shipped:
        ship(world, io_id)
    world.jst.add(700101)               # before the poll: a new outbound
    world.jst.set_status(700007, "Delete")  # and one voided at JST
    real = world.jst.upload_wms_sent
    calls = []

    def jst_changes_between_calls(rows):
        answer = real(rows)
        calls.append([row.io_id for row in rows])
        if len(calls) == 1:  # between the two calls: another new one, another voided
            world.jst.add(700102)
            world.jst.set_status(700008, "Delete")
        else:                # after the last: a third new one
            world.jst.add(700103)
        return answer

    world.jst.upload_wms_sent = jst_changes_between_calls
    read.clear()
    summary = s1.poll_jst_outbound(world.ctx)
    world.drain()

    assert len(calls) == 2 and sorted(world.jst.confirmed) == shipped
    assert summary["read_past_own_confirmations"] == 6
    # Every change of the others was handled: the new ones dispatched, the voided ones cancelled.
    assert all(world.order(io_id)["status"] == "dispatched" for io_id in (700101, 700102, 700103))
    cancelled = {world.store.fulfilments[fid]["external_id"] for fid in world.store.cancelled}
    assert cancelled == {"700007", "700008"}
    # And what this poll confirmed was not read back: at most the cursor's own edge record.
    assert len([io_id for io_id, status in read if io_id in shipped]) <= 1, read
    cursor = int(world.ctx.cursors.get(world.ctx.ent_id, s1.CURSOR).value)
    assert cursor >= world.jst.outbounds[700006]["ts"]
    read.clear()
    s1.poll_jst_outbound(world.ctx)  # the next poll: nothing confirmed comes back either
    assert not [io_id for io_id, _ in read if io_id in shipped[:-1]], read
    assert sorted(world.jst.confirmed) == shipped and sorted(world.jst.confirmed) == sorted(set(world.jst.confirmed))


def test_below_the_threshold_the_poll_reads_them_back_as_before(world, read, monkeypatch):
    monkeypatch.setattr(scan, "CATCH_UP_AFTER", 100)
    for io_id in range(700001, 700004):
        world.jst.add(io_id)
    s1.poll_jst_outbound(world.ctx)
    world.drain()
    for io_id in range(700001, 700004):
        ship(world, io_id)
    read.clear()
    summary = s1.poll_jst_outbound(world.ctx)
    assert "read_past_own_confirmations" not in summary
    assert {io_id for io_id, status in read if status == "Confirmed"} == {700001, 700002, 700003}


def test_a_run_out_of_time_while_reading_on_keeps_what_it_passed_and_the_next_run_handles_the_rest(world, read):
    for io_id in range(700001, 700007):
        world.jst.add(io_id)
    s1.poll_jst_outbound(world.ctx)
    world.drain()
    for io_id in range(700001, 700006):
        ship(world, io_id)
    world.jst.set_status(700006, "Delete")  # voided at JST before the store shipped it
    world.jst.add(700101)
    world.jst.add(700102)
    world.jst.add(700103)  # page size 2: the waiting outbounds take two pages
    before = int(world.ctx.cursors.get(world.ctx.ent_id, s1.CURSOR).value)
    # Time for the two cancelled scans and one page of waiting ones (three pages), then none.
    fetched = len(world.jst.fetches)
    world.ctx.time_left = lambda: 1e6 if len(world.jst.fetches) < fetched + 3 else 0.0
    summary = s1.poll_jst_outbound(world.ctx)
    moved = int(world.ctx.cursors.get(world.ctx.ent_id, s1.CURSOR).value)
    assert summary["stopped_early"] and "read_past_own_confirmations" not in summary
    assert before < moved < world.jst.outbounds[700103]["ts"]  # past the page it handled, not beyond
    world.ctx.time_left = lambda: float("inf")
    s1.poll_jst_outbound(world.ctx)
    world.drain()
    assert all(world.order(io_id)["status"] == "dispatched" for io_id in (700101, 700102, 700103))
    assert sorted(world.jst.confirmed) == list(range(700001, 700006))
    assert [world.store.fulfilments[fid]["external_id"] for fid in world.store.cancelled] == ["700006"]
