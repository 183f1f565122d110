"""The 02:10 run pushes while it reads (P8 in SKU order) and resumes a crashed read after the
last stored chunk, without pushing a finished chunk twice."""

import threading

import pytest

from o2o_bridge.flows import stock_nightly

from .stock_fakes import Crash
from .test_nightly import OFFLINE, all_right, change, resume_after_crash, seed_stores


def test_the_first_upload_goes_out_while_the_store_stock_is_still_being_read(ctx, jst, store):
    seed_stores(store, 2300)  # 4 600 rows; a full chunk after 1 000
    uploaded = threading.Event()
    real_upload, real_scan = jst.upload_inventory, store.scan_stock
    seen_at_first_upload = []

    def upload(**kwargs):
        if not uploaded.is_set():
            seen_at_first_upload.append(store.rows_served)
        uploaded.set()
        return real_upload(**kwargs)

    def scan(**kwargs):
        for n, row in enumerate(real_scan(**kwargs)):
            if n == 3000:  # the store is slow from here on; the run does not wait for the end
                assert uploaded.wait(2.0), "no upload before the read ended"
            yield row

    jst.upload_inventory, store.scan_stock = upload, scan
    summary = stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert seen_at_first_upload and seen_at_first_upload[0] <= 3001
    assert summary["pushed"] == 2300 and len(jst.upload_calls) == 5 and all_right(jst, store, 2300)


def test_a_crash_mid_read_resumes_after_the_last_stored_chunk(ctx, jst, store):
    seed_stores(store, 2300)
    store.crash_after_rows = 3000  # two full chunks (1 000 rows each) stored and pushed, then the crash
    with pytest.raises(Crash):
        stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert len(jst.uploads) == 2 and stock_nightly.run_status(ctx, "20261130")["state"] == "planning"
    summary, asked, lines = resume_after_crash(ctx, store, "20261130")
    assert "2 of 2 chunks planned so far already pushed" in lines[0]
    assert asked[0]["order"] == "sku" and asked[0]["sku_after"] == "SKU00999"
    assert (summary["pushed"], summary["changed"], summary["rows_read"]) == (2300, 2300, 4600)
    assert len(jst.upload_calls) == len(set(jst.upload_calls)) == 5 and all_right(jst, store, 2300)


def test_pushes_run_side_by_side_and_a_crash_among_them_still_pushes_each_chunk_once(ctx, jst, store):
    seed_stores(store, 2300)
    jst.faults.script["upload_inventory"] = [None, None, Crash()]
    with pytest.raises(Crash):
        stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)  # 5 pushes at a time
    stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert len(jst.upload_calls) == len(set(jst.upload_calls)) == 5 and all_right(jst, store, 2300)


def test_a_sku_gone_from_every_store_is_set_to_zero_once(ctx, jst, store):
    seed_stores(store, 30)
    for code in ("S001", "S002"):
        store.set_store(code, "SKU00007", 4)
    stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    assert jst.qty(OFFLINE, "SKU00007") == 8
    for code in ("S001", "S002"):
        del store.stores[(code, "SKU00007")]
    gone = stock_nightly.nightly_stock_push(ctx, run_id="20261201", fan_out=False)
    assert (gone["changed"], gone["pushed"], jst.qty(OFFLINE, "SKU00007")) == (1, 1, 0)
    calls = list(jst.upload_calls)
    quiet = stock_nightly.nightly_stock_push(ctx, run_id="20261202", fan_out=False)
    assert (quiet["changed"], jst.upload_calls) == (0, calls)


def test_a_scheduled_run_queues_chunks_while_reading_and_closes_once_all_are_in(ctx, jst, store):
    from fakes import drain_retries

    seed_stores(store, 1100)
    first = stock_nightly.nightly_stock_push(ctx, run_id="20261130")
    drain_retries(ctx)
    change(store, 0.3)
    started = stock_nightly.nightly_stock_push(ctx, run_id="20261201")
    assert started["state"] == "pushing" and started["queued"] == started["chunks"]
    drain_retries(ctx)
    status = stock_nightly.run_status(ctx, "20261201")
    assert status["state"] == "done" and status["pushed"] == started["changed"] and first["state"] == "pushing"
    assert all_right(jst, store, 1100)
