"""The 02:10 run: only what changed, in full 500-item uploads, resumable without double pushes."""

import math
import random

import pytest

from fakes import drain_retries
from o2o_bridge.flows import stock_nightly

from .stock_fakes import Crash, tenant_with

OFFLINE = 10001


def seed_stores(store, skus=1200, seed=3):
    rng = random.Random(seed)
    for n in range(skus):
        for code in ("S001", "S002"):
            store.set_store(code, f"SKU{n:05d}", rng.randint(0, 9))


def expected(store, sku):
    return sum(store.stores[(code, sku)][0] for code in ("S001", "S002"))


def all_right(jst, store, skus):
    """Every one of the first ``skus`` SKUs holds, at 店加线下仓, the sum of the stores' stock."""
    return all(jst.qty(OFFLINE, f"SKU{n:05d}") == expected(store, f"SKU{n:05d}") for n in range(skus))


def resume_after_crash(ctx, store, run_id):
    """Run ``run_id`` again after its crash, recording the store-stock reads it asks for:
    (its summary, the reads' arguments, its progress lines)."""
    asked, lines = [], []
    real_scan = store.scan_stock
    store.scan_stock = lambda **kwargs: (asked.append(kwargs), real_scan(**kwargs))[1]
    summary = stock_nightly.nightly_stock_push(ctx, run_id=run_id, fan_out=False, progress=lines.append)
    return summary, asked, lines


def change(store, share, seed=5):
    rng = random.Random(seed)
    cells = sorted(store.stores)
    changed = set()
    for cell in rng.sample(cells, int(len(cells) * share)):
        qty = store.stores[cell][0]
        store.set_store(cell[0], cell[1], qty + rng.choice([1, 2, 3]))
        changed.add(cell[1])
    return changed


def test_the_first_run_pushes_everything_the_next_only_what_changed(ctx, jst, store):
    seed_stores(store)
    first = stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert first["changed"] == 1200 and first["pushed"] == 1200 and len(jst.upload_calls) == math.ceil(1200 / 500)
    assert all_right(jst, store, 1200)

    jst.upload_calls.clear()
    quiet = stock_nightly.nightly_stock_push(ctx, run_id="20261201", fan_out=False)
    assert (quiet["changed"], quiet["pushed"], jst.upload_calls) == (0, 0, [])

    changed = change(store, 0.1)
    third = stock_nightly.nightly_stock_push(ctx, run_id="20261202", fan_out=False)
    assert third["changed"] == len(changed) == third["pushed"] == third["drift"]
    assert len(jst.upload_calls) == math.ceil(len(changed) / 500)
    assert third["rows_read"] == 2400
    assert ctx.timeline.steps("stock-nightly:20261202") == ["stock.nightly.planned", "stock.nightly.done"]
    assert ctx.metric.values["StockNightlyPushed"] == 1200 + len(changed)


def test_a_run_already_done_today_does_nothing(ctx, jst, store):
    seed_stores(store, 10)
    stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    calls = list(jst.upload_calls)
    assert stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)["state"] == "done"
    assert jst.upload_calls == calls


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_mid_run_resumes_without_pushing_a_finished_chunk_twice(ctx, jst, store, when):
    seed_stores(store, 2300)
    if when == "before":  # dies while calling JST for chunk 3
        jst.faults.script["upload_inventory"] = [None, None, Crash()]
    else:  # JST took chunk 3, the Lambda died before writing its done-marker
        jst.after_upload = [None, None, Crash()]
    with pytest.raises(Crash):  # one push at a time: chunks 1 and 2 done, then the crash
        stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False, push_workers=1)
    if when == "after":  # a real crash leaves the claim; it expires after its lease
        ctx.records.items = {k: v for k, v in ctx.records.items.items() if "chunk:00002" not in k[2]}
    lines = []
    summary = stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False, progress=lines.append)
    assert "2 of 5 chunks already pushed" in lines[0]
    assert summary["pushed"] == 2300 and len(jst.uploads) == 5  # one JST count per chunk
    assert all(jst.qty(OFFLINE, f"SKU{n:05d}") == expected(store, f"SKU{n:05d}") for n in range(2300))
    uploaded = [so_id for so_id in jst.upload_calls]
    assert len(set(uploaded)) == 5 and len(uploaded) == 5 + (1 if when == "after" else 0)


def test_a_scheduled_run_fans_out_chunks_and_the_last_one_closes_the_run(ctx, jst, store):
    seed_stores(store, 1100)
    started = stock_nightly.nightly_stock_push(ctx, run_id="20261130")
    assert started["state"] == "pushing" and len(ctx.queue.queued) == 3 and jst.upload_calls == []
    # A Scheduler retry of the same night queues the chunks again: they are done once.
    stock_nightly.nightly_stock_push(ctx, run_id="20261130")
    drain_retries(ctx)
    assert len(jst.uploads) == 3
    status = stock_nightly.run_status(ctx, "20261130")
    assert status["state"] == "done" and status["chunks_done"] == 3 and status["pushed"] == 1100


def test_jst_as_master_sends_the_store_warehouses_to_the_stores_and_counts_drift(make_ctx, jst, store):
    def mutate(doc):
        doc["stock"]["master"] = "erp"
        doc["warehouses"] += [{"jst_wms_co_id": 20001, "pos_warehouse_code": "S001"},
                              {"jst_wms_co_id": 20002, "pos_warehouse_code": "S002"}]
    ctx = make_ctx(tenant_with(mutate))
    for n in range(700):
        jst.set(20001, f"SKU{n}", second=n, qty=n % 7)
        jst.set(20002, f"SKU{n}", second=n, qty=n % 5)
    first = stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert first["direction"] == "jst->stores" and first["changed"] == 1400
    assert store.stores[("S001", "SKU12")][0] == 12 % 7 and store.stores[("S002", "SKU12")][0] == 12 % 5
    store.set_store("S001", "SKU3", 99)  # someone changed the store's stock by hand: drift
    effects = store.p6_effects
    second = stock_nightly.nightly_stock_push(ctx, run_id="20261201", fan_out=False)
    assert (second["changed"], second["drift"], second["pushed"]) == (0, 1, 1)
    assert store.p6_effects == effects + 1


def test_a_chunk_of_an_older_run_replayed_after_a_newer_run_finished_pushes_nothing(ctx, jst, store):
    from datetime import timedelta

    seed_stores(store, 600)
    jst.faults.script["upload_inventory"] = [None, Crash()]  # the old run's second chunk never made it
    with pytest.raises(Crash):
        stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    change(store, 0.5)
    later = ctx.now() + timedelta(days=1)
    ctx.now = lambda: later
    stock_nightly.nightly_stock_push(ctx, run_id="20261201", fan_out=False)
    newest = {sku: jst.qty(OFFLINE, sku) for sku in (f"SKU{n:05d}" for n in range(600))}
    calls = len(jst.upload_calls)
    assert stock_nightly.push_chunk(ctx, "20261130", 1)["items"] == 0  # replayed from the DLQ: superseded
    assert len(jst.upload_calls) == calls
    assert {sku: jst.qty(OFFLINE, sku) for sku in newest} == newest
    assert "stock.nightly.chunk_superseded" in ctx.timeline.steps("stock-nightly:20261130")


def test_a_tenant_whose_stores_feed_nothing_pushes_nothing(make_ctx, jst, store):
    def mutate(doc):
        for s in doc["stores"]:
            s["feeds_offline"] = False
    ctx = make_ctx(tenant_with(mutate))
    seed_stores(store, 10)
    assert stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)["state"] == "skipped"
    assert jst.upload_calls == []


def test_the_nightly_run_re_sends_the_sales_return_stock_the_hourly_pull_missed(make_ctx, jst, store):
    """销退仓 (code 2) is repaired overnight as the hourly pull would send it: a level whose change
    the hourly cursor already passed reaches warehouse 2; an unchanged one is not sent again."""
    ctx = make_ctx(tenant_with(lambda d: d["stock"].update(sales_return_warehouse="2")))
    seed_stores(store, 3)
    jst.set(10000, "A", second=1, qty=4, return_qty=3)
    jst.set(10000, "B", second=2, qty=1, return_qty=0)
    ctx.cursors.advance(ctx.ent_id, "stock.inventory.10000", "999999", None)  # the hourly pull moved past them
    from o2o_bridge.flows import stock_sync

    stock_sync.pull_jst_stock(ctx)
    assert ("2", "A") not in store.warehouse

    first = stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert (store.warehouse[("2", "A")][0], store.warehouse[("2", "B")][0]) == (3, 0)
    assert first["state"] == "done" and "stock.nightly.sales_return" in ctx.timeline.steps("stock-nightly:20261130")
    assert ("10000", "A") not in store.warehouse  # only the 销退仓 part: sellable stock stays the hourly pull's

    calls = len(store.p6_calls)
    stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)  # the same run again: not re-read
    stock_nightly.nightly_stock_push(ctx, run_id="20261201", fan_out=False)  # the next night: nothing changed
    assert len(store.p6_calls) == calls

    jst.set(10000, "A", second=9, qty=6, return_qty=1)  # JST moved two back to sellable stock
    stock_nightly.nightly_stock_push(ctx, run_id="20261202", fan_out=False)
    assert store.warehouse[("2", "A")][0] == 1


def test_without_the_option_the_nightly_run_reads_no_sales_return_stock(ctx, jst, store):
    seed_stores(store, 3)
    jst.set(10000, "A", second=1, qty=4, return_qty=3)
    stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert [key for key in store.warehouse if key[0] == "2"] == [] and jst.reads == 0


def test_what_dispatched_orders_hold_at_a_store_is_not_reported_and_comes_back_when_released(ctx, jst, store):
    from o2o_bridge.flows import reservations

    seed_stores(store, skus=600)
    stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    held_sku, other = "SKU00007", "SKU00008"
    store.set_store("S001", held_sku, 6)
    store.set_store("S002", held_sku, 5)
    assert reservations.take(ctx, "S001", "io-1", lines=[{"sku_id": held_sku, "qty": 2}])
    assert reservations.take(ctx, "S002", "io-2", lines=[{"sku_id": held_sku, "qty": 1}])

    stock_nightly.nightly_stock_push(ctx, run_id="20261201", fan_out=False)
    assert jst.qty(OFFLINE, held_sku) == expected(store, held_sku) - 3  # 2 held at S001, 1 at S002
    assert jst.qty(OFFLINE, other) == expected(store, other)

    reservations.give_back(ctx, "S001", "io-1")
    stock_nightly.nightly_stock_push(ctx, run_id="20261202", fan_out=False)
    assert jst.qty(OFFLINE, held_sku) == expected(store, held_sku) - 1
