"""The 02:10 run reads store stock as SKU ranges side by side (pos.parallel_reads), cut from
the last run's SKUs: the same totals and the same minimal uploads as one stream, and a crash
mid-read resumes every range after what its stored chunks cover."""

import math
import threading

import pytest

from o2o_bridge.flows import stock_nightly

from .stock_fakes import Crash, tenant_with
from .test_nightly import OFFLINE, all_right, change, resume_after_crash, seed_stores


def readers(count):
    return tenant_with(lambda doc: doc["pos"].update(parallel_reads=count))


def test_ranges_are_cut_evenly_from_the_last_runs_skus():
    snapshot = {f"SKU{n:05d}": 1 for n in range(4000)}
    assert stock_nightly.sku_ranges(snapshot, 4) == ["SKU00999", "SKU01999", "SKU02999"]
    assert stock_nightly.sku_ranges(snapshot, 1) == []
    assert stock_nightly.sku_ranges({}, 4) == []  # the first run: one stream
    assert stock_nightly.sku_ranges(snapshot, 5) == []  # under a page a range: one stream


def test_the_next_night_reads_its_ranges_side_by_side_with_the_same_totals_and_minimal_uploads(make_ctx, jst, store):
    ctx = make_ctx(readers(3))
    seed_stores(store, 3300)
    stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)  # no snapshot yet: one stream
    changed = change(store, 0.3)
    store.set_store("S001", "SKU99999", 4)  # new tonight, after every range bound: the last range reads it
    jst.upload_calls.clear()
    asked, all_reading = [], threading.Barrier(3, timeout=5)
    real_scan = store.scan_stock

    def scan(**kwargs):
        asked.append(kwargs)
        for n, row in enumerate(real_scan(**kwargs)):
            if n == 10:
                all_reading.wait()  # no range goes on until all three are reading: side by side
            yield row

    store.scan_stock = scan
    summary = stock_nightly.nightly_stock_push(ctx, run_id="20261201", fan_out=False)
    assert sorted((a["sku_after"], a["sku_until"]) for a in asked if a["sku_after"]) == [
        ("SKU01099", "SKU02199"), ("SKU02199", None)]
    assert summary["changed"] == summary["pushed"] == len(changed) + 1
    assert summary["rows_read"] == 2 * 3300 + 1
    assert len(jst.upload_calls) == math.ceil((len(changed) + 1) / 500)
    assert all_right(jst, store, 3300) and jst.qty(OFFLINE, "SKU99999") == 4


def test_a_crash_in_one_range_resumes_each_range_after_its_stored_chunks(make_ctx, jst, store):
    ctx = make_ctx(readers(2))
    seed_stores(store, 3000)
    stock_nightly.nightly_stock_push(ctx, run_id="20261130", fan_out=False)
    change(store, 0.9)
    jst.upload_calls.clear()
    store.crash_after_rows = 2500  # one range dies after 1 250 of its SKUs; chunks were cut meanwhile
    with pytest.raises(Crash):
        stock_nightly.nightly_stock_push(ctx, run_id="20261201", fan_out=False)
    assert stock_nightly.run_status(ctx, "20261201")["state"] == "planning"
    pushed_before = len(jst.upload_calls)
    assert pushed_before >= 1
    summary, asked, lines = resume_after_crash(ctx, store, "20261201")
    assert "resuming run 20261201" in lines[0]
    assert {a["sku_until"] for a in asked} == {"SKU01499", None}
    # Each range goes on from the last SKU a stored chunk covers (its own bound if none does yet).
    assert any(a["sku_after"] not in (None, "SKU01499") for a in asked)
    assert all(a["sku_after"] is None or a["sku_after"] >= "SKU01499" for a in asked if a["sku_until"] is None)
    assert summary["rows_read"] == 6000 and summary["pushed"] == summary["changed"]
    assert len(jst.upload_calls) == len(set(jst.upload_calls))  # no chunk pushed twice
    assert all_right(jst, store, 3000)
