"""S4: store events are coalesced into one JST upload per window; the master decides."""

import itertools
from datetime import datetime, timezone

from fakes import drain_retries
from o2o_bridge.events.models import EVENT_MODELS
from o2o_bridge.flows import stock_sync

from .stock_fakes import tenant_with

OFFLINE = 10001
_ids = itertools.count(1)


def stock_changed(store_code, *items):
    return EVENT_MODELS["stock.changed"].model_validate({
        "event_id": f"evt-{next(_ids)}", "ent_id": "10010", "type": "stock.changed",
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "data": {"store_code": store_code, "items": [{"sku_id": s, "qty": q, "version": v} for s, q, v in items]}})


def test_many_events_make_no_jst_call_and_one_delayed_flush_uploads_the_aggregate(ctx, jst, store):
    store.set_store("S002", "A", 4, version=1)  # never announced: read once from 店+ (P7)
    for version in range(1, 6):
        stock_sync.on_stock_changed(stock_changed("S001", ("A", 10 - version, version), ("B", version, version)),
                                    ctx)
    assert jst.upload_calls == []
    assert [(e.command, delay) for e, delay in ctx.queue.queued] == [(stock_sync.FLUSH_COMMAND,
                                                                      ctx.tenant.stock.coalesce_seconds)]
    drain_retries(ctx)
    assert len(jst.upload_calls) == 1
    assert jst.qty(OFFLINE, "A") == 5 + 4 and jst.qty(OFFLINE, "B") == 5


def test_duplicate_and_stale_events_change_nothing_and_queue_nothing(ctx, jst):
    event = stock_changed("S001", ("A", 3, 7))
    stock_sync.on_stock_changed(event, ctx)
    drain_retries(ctx)
    for again in (event, stock_changed("S001", ("A", 3, 7)), stock_changed("S001", ("A", 1, 6))):
        stock_sync.on_stock_changed(again, ctx)
    assert ctx.queue.queued == []
    assert len(jst.upload_calls) == 1 and jst.qty(OFFLINE, "A") == 3


def test_safety_stock_per_store_and_per_tenant_and_never_negative(make_ctx, jst, store):
    def mutate(doc):
        doc["stock"]["safety_stock"] = 2
        doc["stores"][0]["safety_stock"] = 1
    ctx = make_ctx(tenant_with(mutate))
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 6, 1), ("B", -3, 1), ("C", 1, 1)), ctx)
    stock_sync.on_stock_changed(stock_changed("S002", ("A", 4, 1), ("B", 2, 1), ("C", 0, 1)), ctx)
    drain_retries(ctx)
    # A: (6-1) + 4 - 2 = 7; B: oversold S001 adds nothing, 2 - 2 = 0; C: 0 + 0 - 2 -> 0
    assert (jst.qty(OFFLINE, "A"), jst.qty(OFFLINE, "B"), jst.qty(OFFLINE, "C")) == (7, 0, 0)


def test_a_store_that_does_not_feed_the_offline_warehouse_is_left_out(make_ctx, jst, store):
    ctx = make_ctx(tenant_with(lambda d: d["stores"][1].update(feeds_offline=False)))
    stock_sync.on_stock_changed(stock_changed("S002", ("A", 9, 1)), ctx)
    assert ctx.queue.queued == [] and ctx.timeline.steps("stock:S002") == ["stock.changed.ignored"]
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 2, 1)), ctx)
    store.set_store("S002", "A", 9)
    drain_retries(ctx)
    assert jst.qty(OFFLINE, "A") == 2


def test_when_jst_is_the_master_store_events_are_acknowledged_with_a_note_and_not_pushed(make_ctx, jst):
    ctx = make_ctx(tenant_with(lambda d: d["stock"].update(master="erp")))
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 9, 1)), ctx)
    assert ctx.queue.queued == [] and jst.upload_calls == []
    [note] = ctx.timeline.entries("stock:S001")
    assert note.step == "stock.changed.ignored" and "stock.master is erp" in note.detail["reason"]


def test_events_during_a_flush_are_left_dirty_for_the_next_one(ctx, jst, monkeypatch):
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 5, 1)), ctx)
    real = stock_sync.offline_quantities

    def event_arrives_meanwhile(c, skus, **read):
        result = real(c, skus, **read)
        stock_sync.on_stock_changed(stock_changed("S001", ("A", 2, 2)), ctx)
        return result

    monkeypatch.setattr(stock_sync, "offline_quantities", event_arrives_meanwhile)
    envelope, _ = ctx.queue.queued.pop()
    stock_sync.flush_offline_stock(ctx, envelope.payload)
    monkeypatch.setattr(stock_sync, "offline_quantities", real)
    assert jst.qty(OFFLINE, "A") == 5 and len(ctx.queue.queued) == 1  # the new event queued a new flush
    drain_retries(ctx)
    assert jst.qty(OFFLINE, "A") == 2


def test_a_flush_retried_after_jst_took_the_upload_is_not_uploaded_twice(ctx, jst):
    from o2o_bridge.errors import TransientError

    stock_sync.on_stock_changed(stock_changed("S001", ("A", 5, 1)), ctx)
    jst.after_upload = [TransientError("connection reset after JST saved the count")]
    drain_retries(ctx)
    assert len(jst.uploads) == 1 and jst.qty(OFFLINE, "A") == 5
    assert jst.upload_calls[0] == jst.upload_calls[1]  # the retry met code 160 "already exists": done


def test_30_percent_transient_jst_faults_converge(ctx, jst):
    jst.faults.transient_rate = 0.3
    for n in range(30):
        stock_sync.on_stock_changed(stock_changed("S001", (f"SKU{n}", n, 1)), ctx)
    drain_retries(ctx)
    jst.faults.transient_rate = 0
    assert {f"SKU{n}": jst.qty(OFFLINE, f"SKU{n}") for n in range(30)} == {f"SKU{n}": n for n in range(30)}


def test_a_flush_after_the_tenant_switched_to_jst_as_master_pushes_nothing(make_ctx, jst):
    ctx = make_ctx()
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 9, 1)), ctx)
    (envelope, _), = ctx.queue.queued
    erp = make_ctx(tenant_with(lambda d: d["stock"].update(master="erp")))
    erp.records = ctx.records
    assert stock_sync.flush_offline_stock(erp, envelope.payload) == {"skus": 0, "skipped": 1}
    assert jst.upload_calls == [] and erp.timeline.steps("stock:offline") == ["stock.offline.skipped"]


def test_shuffled_store_events_end_at_the_newest_version_of_every_store_and_sku(ctx, jst):
    import random

    rng = random.Random(5)
    events = [(store, f"SKU{n}", rng.randint(0, 20), version) for store in ("S001", "S002") for n in range(15)
              for version in rng.sample(range(1, 100), 5)]
    newest = {}
    for store, sku, qty, version in events:
        if (store, sku) not in newest or version > newest[(store, sku)][1]:
            newest[(store, sku)] = (qty, version)
    for _ in range(2):  # replays too
        rng.shuffle(events)
        for store, sku, qty, version in events:
            stock_sync.on_stock_changed(stock_changed(store, (sku, qty, version)), ctx)
            if rng.random() < 0.2:
                drain_retries(ctx)
    drain_retries(ctx)
    for n in range(15):
        sku = f"SKU{n}"
        assert jst.qty(OFFLINE, sku) == newest[("S001", sku)][0] + newest[("S002", sku)][0]


def test_an_event_of_many_skus_is_recorded_48_a_write_and_one_flush_uploads_them_all(ctx, jst):
    calls = []
    real = ctx.records.write_together
    ctx.records.write_together = lambda *a, **kw: calls.append(len(a[1])) or real(*a, **kw)
    stock_sync.on_stock_changed(stock_changed("S001", *[(f"SKU{n:03d}", n, 1) for n in range(100)]), ctx)
    assert len(ctx.queue.queued) == 1 and all(size <= 99 for size in calls)
    assert ctx.timeline.steps("stock:S001") == ["stock.changed.recorded"]
    drain_retries(ctx)
    assert {jst.qty(OFFLINE, f"SKU{n:03d}") for n in range(100)} == set(range(100))


def test_a_flush_marker_of_the_release_before_is_replaced_and_a_flush_queued(ctx, jst):
    ctx.records.put("10010", stock_sync.FLUSH, "offline", {"flush_id": "old", "due": "2026-01-01T00:00:00+00:00"})
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 4, 1)), ctx)
    assert [e.command for e, _ in ctx.queue.queued] == [stock_sync.FLUSH_COMMAND]
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 3, 2)), ctx)  # rides along
    assert len(ctx.queue.queued) == 1
    drain_retries(ctx)
    assert jst.qty(OFFLINE, "A") == 3


def test_a_level_recorded_before_levels_had_a_rank_is_replaced_by_a_newer_one_only(ctx, jst):
    ctx.records.put("10010", stock_sync.STORE_LEVEL, "A|S001", {"qty": 7, "version": 5})
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 1, 4)), ctx)  # older: nothing
    assert ctx.queue.queued == []
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 2, 6)), ctx)
    drain_retries(ctx)
    assert jst.qty(OFFLINE, "A") == 2


def test_a_window_of_more_skus_than_its_marker_holds_marks_the_others_apart_and_uploads_them_all(ctx, jst, monkeypatch):
    monkeypatch.setattr(stock_sync, "_overflowing_until", {})
    count = stock_sync.MEMBERS_MAX + 15
    for n in range(count):
        stock_sync.on_stock_changed(stock_changed("S001", (f"SKU{n:03d}", n, 1)), ctx)
    assert len(ctx.queue.queued) == 1
    marker = ctx.records.get("10010", stock_sync.DIRTY, stock_sync.MARKER)
    assert stock_sync.OVERFLOW in marker.members and len(marker.members) == stock_sync.MEMBERS_MAX + 1
    drain_retries(ctx)
    assert [jst.qty(OFFLINE, f"SKU{n:03d}") for n in range(count)] == list(range(count))
    assert len(jst.upload_calls) == 1 and ctx.records.get("10010", stock_sync.DIRTY, stock_sync.MARKER).members == set()


def test_a_flush_reads_its_marker_and_the_levels_it_was_queued_for_in_one_batch(ctx, jst, store):
    store.set_store("S002", "A", 4, version=1)
    stock_sync.on_stock_changed(stock_changed("S002", ("A", 4, 1)), ctx)
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 6, 1)), ctx)
    reads = []
    real = ctx.records.get_many_of
    ctx.records.get_many_of = lambda ent, wanted: reads.append(list(wanted)) or real(ent, wanted)
    ctx.records.list = lambda *a, **kw: reads.append("list")  # no dirty mark of its own to list
    drain_retries(ctx)
    assert jst.qty(OFFLINE, "A") == 10
    [batch] = reads  # the marker with the levels (and what orders hold there), nothing read after
    assert batch[:3] == [(stock_sync.DIRTY, stock_sync.MARKER), (stock_sync.STORE_LEVEL, "A|S001"),
                         (stock_sync.STORE_LEVEL, "A|S002")]


def test_what_a_flush_sent_with_its_grant_is_the_event_paths_figure_for_the_nightly_drift(ctx, jst, store):
    """A flush that closed its window with its upload's grant keeps what it sent in one TAKEN record
    (no item a SKU): the 02:10 run reads it as what the event path last sent (no drift for it) and
    `o2o stock show` as the last event push."""
    from o2o_bridge.flows import stock_nightly

    store.set_store("S001", "A", 5, version=1)
    store.set_store("S001", "B", 2, version=1)
    store.set_store("S002", "A", 0, version=1)
    store.set_store("S002", "B", 1, version=1)
    stock_sync.on_stock_changed(stock_changed("S001", ("A", 5, 1), ("B", 2, 1)), ctx)
    stock_sync.on_stock_changed(stock_changed("S002", ("A", 0, 1), ("B", 1, 1)), ctx)
    drain_retries(ctx)
    [taken] = ctx.records.list("10010", stock_sync.TAKEN)
    assert taken.data["sent"] == {"A": 5, "B": 3} and ctx.records.list("10010", stock_sync.EVENT_PUSHED) == []
    assert stock_nightly.event_path_figures(ctx) == {"A": 5, "B": 3}
    assert stock_nightly.event_path_sent(ctx, "B")["B"][1] == 3
    first = stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert first["drift"] == 0
