"""The ts-cursor scan: the cursor moves after a page is handled, nothing at an edge or changed
mid-scan is missed or done twice, and a run short of time resumes next run."""

import pytest

from fakes import FakeTenants
from o2o_bridge.flows import kit
from o2o_bridge.flows import store_fulfilment as s1


def cursor(world):
    found = world.ctx.cursors.get("10010", s1.CURSOR)
    return int(found.value) if found else None


def test_the_cursor_stops_at_the_last_handled_outbound_and_its_edge_record_is_handled_once(world):
    first = world.jst.add(700001)
    s1.poll_jst_outbound(world.ctx)
    assert cursor(world) == first["ts"]
    # The scan's "≥" filter brings the edge record back on every run: no second order.
    for _ in range(3):
        assert s1.poll_jst_outbound(world.ctx)["read"] == 1
    assert len(world.store.created) == 1


def test_a_record_modified_at_the_cursor_edge_is_handled_once_in_its_new_state(world):
    world.jst.add(700001)
    s1.poll_jst_outbound(world.ctx)
    world.jst.set_status(700001, "Delete")  # a new ts, beyond the cursor
    s1.poll_jst_outbound(world.ctx)
    s1.poll_jst_outbound(world.ctx)
    assert len(world.store.created) == 1 and len(world.store.cancelled) == 1


def test_a_record_modified_while_the_scan_runs_is_not_missed(world):
    for io_id in range(700001, 700006):
        world.jst.add(io_id)
    # After the first page, JST voids the first outbound: it moves behind the scan's position.
    world.jst.during_scan = lambda: world.jst.set_status(700001, "Delete")
    s1.poll_jst_outbound(world.ctx)
    s1.poll_jst_outbound(world.ctx)
    assert world.order(700001)["status"] == "cancelled"
    assert sorted(f["external_id"] for f in world.store.fulfilments.values() if f["status"] == "created") == \
        ["700002", "700003", "700004", "700005"]


def pages_then_out_of_time(world, pages):
    """time_left() as a Lambda sees it: enough before each of ``pages`` pages, then nearly none."""
    fetched_before = len(world.jst.fetches)
    world.ctx.time_left = lambda: 100 if len(world.jst.fetches) - fetched_before < pages else 0


def test_a_run_short_of_time_stops_between_pages_and_the_next_run_goes_on(world):
    for io_id in range(700001, 700006):
        world.jst.add(io_id)
    pages_then_out_of_time(world, 2)  # pages of 2: the second page repeats the first's edge record
    summary = s1.poll_jst_outbound(world.ctx)
    assert summary["stopped_early"] and summary["pages"] == 2 and summary["handled"] == 3
    assert cursor(world) == world.jst.outbounds[700003]["ts"]
    assert len(world.jst.fetches) == 2  # nothing fetched that this run did not handle
    world.ctx.time_left = lambda: float("inf")
    summary = s1.poll_jst_outbound(world.ctx)
    assert not summary["stopped_early"]
    assert len(world.store.created) == 5


def test_a_backlog_longer_than_one_run_is_fetched_once_over_the_runs(make_world):
    # Stock for all 40 orders: dispatched orders hold their lines at the store until shipped.
    world = make_world(stock={store: {"SKU-RED-M": 100} for store in ("S001", "S002", "S003")})
    backlog = range(700001, 700041)  # 40 outbounds, read in pages of 2
    for io_id in backlog:
        world.jst.add(io_id)
    # After the first page, JST voids one outbound of that page: it comes back later in the scan.
    world.jst.during_scan = lambda: world.jst.set_status(700001, "Delete")
    pages_then_out_of_time(world, 15)
    first = s1.poll_jst_outbound(world.ctx)
    assert first["stopped_early"] and first["pages"] == 15
    world.ctx.time_left = lambda: float("inf")
    second = s1.poll_jst_outbound(world.ctx)
    assert not second["stopped_early"] and second["cursor_from"] == first["cursor_to"]

    # Each page was fetched once over both runs: the second run began where the first stopped.
    fetched = world.jst.fetches
    assert fetched == sorted(set(fetched)) and len(fetched) == first["pages"] + second["pages"]
    # 41 versions (40 outbounds + the voided one's new one): the first page brings 2, every later
    # page 1 new and the repeat of the previous edge, so an uninterrupted scan is 40 pages too.
    assert first["pages"] + second["pages"] == 40
    # Every version handled once: 700001 was dispatched as first read, then cancelled at its store once.
    assert sorted(int(f["external_id"]) for f in world.store.fulfilments.values() if f["status"] == "created") \
        == list(backlog)[1:]
    assert len(world.store.created) == 40 and world.store.cancelled == [world.store.created[0]]
    assert world.order(700001)["status"] == "cancelled"
    assert all(world.steps(io_id).count("s1.outbound_seen") == 1 for io_id in backlog)

    # A later run re-reads only the page at the cursor's edge, and does nothing with it.
    third = s1.poll_jst_outbound(world.ctx)
    assert third["pages"] == 1 and third["handled"] == 1 and len(world.jst.fetches) == 41
    assert len(world.store.created) == 40


def test_a_failed_scan_leaves_the_cursor_and_other_tenants_go_on(make_world):
    world = make_world()
    world.jst.add(700001)
    world.jst.faults.rate = 1.0
    broken = world.ctx.tenant.model_copy(update={"ent_id": "20020"})
    tenants = FakeTenants(world.ctx.tenant, broken)

    def build(tenant):
        if tenant.ent_id == "20020":
            return world.ctx  # this one's JST always fails
        from fakes import fake_context

        from .s1_fakes import FakeJst, FakeStore
        healthy_jst = FakeJst()
        healthy_jst.add(800001)
        ok_ctx = fake_context(tenant, jst=healthy_jst, store=FakeStore(stock={"S001": {"SKU-RED-M": 1}}))
        build.ok = ok_ctx
        return ok_ctx

    with pytest.raises(kit.TenantFailures) as failed:
        kit.run_for_tenants("poll_jst_outbound", s1.poll_jst_outbound, tenants=tenants, build=build)
    assert "20020" in str(failed.value)
    assert build.ok.store.created and cursor(world) is None
