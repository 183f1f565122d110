"""S1 confirmations go to JST in batches (wms/sent/upload takes 50 rows a call): the poll
confirms what the stores finished before it scans, and at its end what they finished while it
scanned; an outbound JST refuses is parked and
never holds up the others of its call; a failed call leaves them all waiting; each outbound
is confirmed once."""

from o2o_bridge.errors import TransientError
from o2o_bridge.flows import store_fulfilment as s1

PLENTY = {store: {"SKU-RED-M": 10_000} for store in ("S001", "S002", "S003")}


def dispatched(world, io_ids):
    for io_id in io_ids:
        world.jst.add(io_id)
    s1.poll_jst_outbound(world.ctx)  # every page: the run has time
    world.drain()


def ship(world, io_id, carrier="SF"):
    event = world.shipped(io_id, carrier=carrier, tracking=f"SF{io_id}")
    world.mark(event)
    s1.on_fulfilment_shipped(event, world.ctx)


def test_the_poll_confirms_a_hundred_and_twenty_outbounds_in_three_calls_before_it_scans(make_world):
    world = make_world(routing={"check_stock": False}, stock=PLENTY)
    io_ids = list(range(700001, 700121))
    dispatched(world, io_ids)
    for io_id in io_ids:
        ship(world, io_id)
    assert world.jst.confirmed == []  # the events only asked
    scans = world.jst.scans
    summary = s1.poll_jst_outbound(world.ctx)
    assert summary["confirmations"] == {"calls": 3, "confirmed": 120, "refused": 0, "waiting": 0}
    assert world.jst.sent_calls == 3 and sorted(world.jst.confirmed) == io_ids
    assert all(world.order(io_id)["status"] == "shipped" for io_id in io_ids)
    assert world.jst.scans > scans  # and then it scanned
    assert s1.confirm_pending(world.ctx)["calls"] == 0  # nothing waits any more


def test_what_the_stores_ship_while_the_poll_scans_is_confirmed_at_that_polls_end(world):
    dispatched(world, [700001, 700002, 700003])
    ship(world, 700001)
    world.jst.add(700004)  # a new outbound: this poll scans and dispatches it
    scan = world.jst.iter_sales_outbound_pages

    def stores_ship_meanwhile(**kwargs):
        ship(world, 700002)
        ship(world, 700003)
        return scan(**kwargs)

    world.jst.iter_sales_outbound_pages = stores_ship_meanwhile
    summary = s1.poll_jst_outbound(world.ctx)
    # Not a poll cycle later: the one before the scan, then the two that came during it, together.
    assert summary["confirmations"] == {"calls": 2, "confirmed": 3, "refused": 0, "waiting": 0}
    assert world.jst.sent_calls == 2 and sorted(world.jst.confirmed) == [700001, 700002, 700003]
    assert summary["dispatched"] == 1
    assert world.ctx.records.list(world.ctx.ent_id, s1.PENDING_CONFIRM_KIND) == []


def test_a_refused_outbound_is_parked_and_the_rest_of_its_call_is_confirmed(world):
    dispatched(world, [700001, 700002, 700003])
    ship(world, 700001)
    ship(world, 700002, carrier="YTO")  # not in the tenant's logistics table
    ship(world, 700003)
    world.jst.set_status(700003, "Delete")  # voided at JST meanwhile: JST refuses it
    counts = s1.confirm_pending(world.ctx)
    assert counts == {"calls": 1, "confirmed": 1, "refused": 2, "waiting": 0}
    assert world.jst.confirmed == [700001] and world.order(700001)["status"] == "shipped"
    parked = {e["io_id"]: e for e in s1.open_exceptions(world.ctx)}
    assert set(parked) == {"700002", "700003"} and all(e["kind"] == "confirm_refused" for e in parked.values())
    assert "YTO" in parked["700002"]["reason"] and "Delete" in parked["700003"]["reason"]
    assert s1.confirm_pending(world.ctx)["calls"] == 0  # parked, not waiting: no call again


def test_a_failed_call_leaves_its_outbounds_waiting_and_the_next_poll_confirms_each_once(world):
    dispatched(world, [700001, 700002])
    ship(world, 700001)
    ship(world, 700002)
    real = world.jst.upload_wms_sent

    def lost_answer(rows):
        real(rows)
        raise TransientError("wms/sent/upload: the answer was lost")

    world.jst.upload_wms_sent = lost_answer
    assert s1.confirm_pending(world.ctx)["waiting"] == 2
    assert sorted(world.jst.confirmed) == [700001, 700002]  # JST has them; the bridge does not know yet
    world.jst.upload_wms_sent = real
    counts = s1.confirm_pending(world.ctx)
    assert (counts["confirmed"], counts["refused"]) == (2, 0)  # JST's "already confirmed" is success
    assert sorted(world.jst.confirmed) == [700001, 700002]
    for io_id in (700001, 700002):
        assert world.steps(io_id).count("s1.confirmed_in_jst") == 1 and world.order(io_id)["status"] == "shipped"


def test_an_event_delivered_again_while_its_confirmation_is_out_confirms_nothing_twice(world):
    dispatched(world, [700001])
    event = world.shipped(700001)
    world.mark(event)
    s1.on_fulfilment_shipped(event, world.ctx)
    real = world.jst.upload_wms_sent

    def store_sends_it_again(rows):
        s1.on_fulfilment_shipped(event, world.ctx)  # delivered again while the call is out
        return real(rows)

    world.jst.upload_wms_sent = store_sends_it_again
    s1.confirm_pending(world.ctx)
    world.jst.upload_wms_sent = real
    s1.on_fulfilment_shipped(event, world.ctx)  # and once more after it
    s1.confirm_pending(world.ctx)
    assert world.jst.confirmed == [700001] and world.steps(700001).count("s1.confirmed_in_jst") == 1
    assert world.ctx.records.list(world.ctx.ent_id, s1.PENDING_CONFIRM_KIND) == []


def test_a_failure_after_jsts_confirmation_parks_that_outbound_and_the_poll_goes_on(world, monkeypatch):
    dispatched(world, [700001, 700002])
    ship(world, 700001)
    ship(world, 700002)
    real = s1.ledger_facts.fulfilled

    def ledger_down_for_700001(ctx, data, **kwargs):
        if data.get("io_id") == "700001":
            raise RuntimeError("ledger unavailable")
        return real(ctx, data, **kwargs)

    monkeypatch.setattr(s1.ledger_facts, "fulfilled", ledger_down_for_700001)
    counts = s1.confirm_pending(world.ctx)
    assert (counts["confirmed"], counts["refused"]) == (1, 1) and sorted(world.jst.confirmed) == [700001, 700002]
    [parked] = s1.open_exceptions(world.ctx)
    assert parked["io_id"] == "700001" and "ledger unavailable" in parked["reason"]
    monkeypatch.setattr(s1.ledger_facts, "fulfilled", real)
    s1.confirm_outbound(world.ctx, parked["retry"]["payload"])  # the operator's retry: JST has it already
    assert s1.open_exceptions(world.ctx) == [] and world.order(700001)["status"] == "shipped"
    assert sorted(world.jst.confirmed) == [700001, 700002]


def test_what_waits_is_read_one_batch_at_a_time_never_the_whole_kind(make_world):
    world = make_world(routing={"check_stock": False}, stock=PLENTY)
    io_ids = list(range(700001, 700121))
    dispatched(world, io_ids)
    for io_id in io_ids:
        ship(world, io_id)
    records = world.ctx.records
    asked = []
    real_page, real_list = records.list_page, records.list

    def list_page(ent_id, kind, **kwargs):
        page = real_page(ent_id, kind, **kwargs)
        asked.append((kind, kwargs.get("limit"), len(page)))
        return page

    def whole_list(ent_id, kind, **kwargs):
        assert kind != s1.PENDING_CONFIRM_KIND, "every waiting confirmation read at once"
        return real_list(ent_id, kind, **kwargs)

    records.list_page, records.list = list_page, whole_list
    counts = s1.confirm_pending(world.ctx)
    assert counts == {"calls": 3, "confirmed": 120, "refused": 0, "waiting": 0}
    # One page per call: 50, 50, then the short one that says nothing follows.
    assert [(size, got) for kind, size, got in asked if kind == s1.PENDING_CONFIRM_KIND] == [(50, 50), (50, 50), (50, 20)]
