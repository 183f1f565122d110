"""Cursor scans with records changing during the scan, and 7-day window splitting, against the sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from o2o_bridge.connectors.jushuitan import models as m
from o2o_bridge.connectors.jushuitan.errors import JstPermanentError

from .conftest import MAIN_WMS, SHOP, STORE_WMS

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))
OUTBOUNDS = "/open/orders/out/simple/query"
INVENTORY = "/open/inventory/query"
SKUS = "/open/sku/query"


def fmt(dt: datetime) -> str:
    return dt.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def test_outbound_scan_with_records_modified_during_the_scan(h):
    jst = h.jst
    ios = [jst.add_outbound(so_id=f"TB{n:04d}", shop_id=SHOP, wms_co_id=STORE_WMS,
                            items=[{"sku_id": "TS001-WHT-M", "qty": 1}])["io_id"] for n in range(120)]
    added: list[int] = []

    def change(path: str, count: int) -> None:
        if path != OUTBOUNDS:
            return
        if count == 1:    # after page 1: a record already read, one not read yet, a new one
            jst.set_outbound_status(ios[10], "Cancelled")
            jst.set_outbound_status(ios[100], "Delete")
            added.append(jst.add_outbound(so_id="TB-NEW", shop_id=SHOP, wms_co_id=STORE_WMS,
                                          items=[{"sku_id": "JN002-BLU-30", "qty": 1}])["io_id"])
        elif count == 2:  # after page 2: the same record again, and the boundary record of page 2
            jst.set_outbound_status(ios[10], "WaitConfirm")
            jst.set_outbound_status(ios[98], "Cancelled")

    h.wire.after_response.append(change)
    scan = h.api.scan_sales_outbounds(start_ts=0, wms_co_id=STORE_WMS)

    final = {ob["io_id"]: ob for ob in jst.state.snapshot("outbounds")}
    got = {r.io_id: r for r in scan.records}
    assert len(scan.records) == len(got) == 121                      # nothing missed, no duplicates
    assert set(got) == set(ios) | set(added)
    assert all(got[i].ts == final[i]["ts"] and got[i].status == final[i]["status"] for i in got)  # latest versions
    assert (got[ios[10]].status, got[ios[100]].status, got[ios[98]].status) == ("WaitConfirm", "Delete", "Cancelled")
    assert scan.next_ts == max(ob["ts"] for ob in final.values())

    sent = h.wire.biz(OUTBOUNDS)
    assert scan.pages == len(sent)
    assert {b["page_index"] for b in sent} == {1} and all(b["is_get_total"] is False for b in sent)
    cursors = [b["start_ts"] for b in sent]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    rows = [r for a in h.wire.answers(OUTBOUNDS) for r in a["data"]["datas"]]
    # The ≥ filter re-reads each page's boundary record, and modified records come back again:
    # more rows came back than records kept, and the extra ones were dropped.
    # 121 records + page 1's boundary re-read on page 2 + ios[10] and ios[98] read again after
    # their change (page 2's boundary moved away, so page 3 re-read no boundary).
    assert scan.pages == 3 and len(rows) == 121 + 1 + 2
    assert [a["data"]["has_next"] for a in h.wire.answers(OUTBOUNDS)] == [True] * (scan.pages - 1) + [False]

    # Storing next_ts and scanning again re-reads only the boundary record.
    again = h.api.scan_sales_outbounds(start_ts=scan.next_ts, wms_co_id=STORE_WMS)
    assert len(again.records) == 1 and again.records[0].ts == scan.next_ts and again.pages == 1


def test_inventory_scan_with_stock_changing_during_the_scan(make, jst):
    skus = [f"S{n:04d}" for n in range(250)]
    jst.seed(skus=[{"sku_id": s, "i_id": "S"} for s in skus],
             inventory=[{"wms_co_id": MAIN_WMS, "sku_id": s, "qty": 1} for s in skus])
    h = make()

    def change(path: str, count: int) -> None:
        if path == INVENTORY and count == 1:
            jst.set_stock(MAIN_WMS, skus[5], qty=55)       # already read
            jst.set_stock(MAIN_WMS, skus[200], qty=77)     # not read yet
            jst.set_stock(MAIN_WMS, skus[99], qty=99)      # page 1's boundary

    h.wire.after_response.append(change)
    scan = h.api.scan_inventory(start_ts=0, wms_co_id=MAIN_WMS)
    got = {r.sku_id: r for r in scan.records}
    demo = {"TS001-WHT-M", "TS001-WHT-L", "JN002-BLU-30", "JN002-BLU-32"}
    assert len(scan.records) == len(got) == 254 and set(got) == set(skus) | demo
    assert (got[skus[5]].qty, got[skus[200]].qty, got[skus[99]].qty, got[skus[6]].qty) == (55, 77, 99, 1)
    final = {r["sku_id"]: r["ts"] for r in jst.state.snapshot("inventory") if r["wms_co_id"] == MAIN_WMS}
    assert all(got[s].ts == final[s] for s in got)
    assert [b["page_index"] for b in h.wire.biz(INVENTORY)] == [1] * scan.pages


def test_a_long_range_is_split_into_7_day_windows_the_sandbox_accepts(make, jst):
    end = datetime.now(CST).replace(microsecond=0) + timedelta(minutes=1)
    begin = end - timedelta(days=20)
    edge = begin + timedelta(days=7)
    jst.seed(skus=[
        {"sku_id": "OLD-1", "i_id": "OLD", "modified": fmt(begin + timedelta(days=1))},
        {"sku_id": "EDGE-1", "i_id": "EDGE", "modified": fmt(edge)},                      # in windows 1 and 2
        {"sku_id": "MID-1", "i_id": "MID", "modified": fmt(begin + timedelta(days=10))},
        {"sku_id": "OUT-1", "i_id": "OUT", "modified": fmt(begin - timedelta(days=1))},   # before the range
        *({"sku_id": f"BULK-{n:02d}", "i_id": "BULK", "modified": fmt(begin + timedelta(days=16))} for n in range(60)),
    ])
    h = make()
    skus = h.api.query_skus(begin=begin, end=end)
    ids = [s.sku_id for s in skus]
    assert len(ids) == len(set(ids))                                       # the edge record once
    assert set(ids) == {"OLD-1", "EDGE-1", "MID-1", *(f"BULK-{n:02d}" for n in range(60)),
                        "TS001-WHT-M", "TS001-WHT-L", "JN002-BLU-30", "JN002-BLU-32"}

    sent = h.wire.biz(SKUS)
    windows = sorted({(b["modified_begin"], b["modified_end"]) for b in sent})
    assert windows == [(fmt(begin), fmt(edge)), (fmt(edge), fmt(edge + timedelta(days=7))),
                       (fmt(edge + timedelta(days=7)), fmt(end))]
    assert all(c["code"] == 0 for c in jst.calls(SKUS))                   # every window within the limit
    # The third window holds 60 bulk SKUs plus the demo ones: paged 50 + 14.
    third = [b["page_index"] for b in sent if b["modified_begin"] == fmt(edge + timedelta(days=7))]
    assert third == [1, 2]

    # The same range in one call is refused by the sandbox's limit.
    with pytest.raises(JstPermanentError) as caught:
        h.client.call(SKUS, {"page_index": 1, "page_size": 50, "modified_begin": fmt(begin), "modified_end": fmt(end)})
    assert caught.value.code == 140


def test_window_queries_follow_a_tighter_sandbox_limit_when_told(make, jst):
    # The sandbox's max_window_days is a setting; the adapter's window is a parameter of
    # _window_scan (the public methods use JST's 7 days).
    jst.configure(max_window_days=2)
    h = make()
    end = datetime.now(CST) + timedelta(minutes=1)
    rows = h.api._window_scan(SKUS, m.Sku, "datas", biz={}, begin=end - timedelta(days=5), end=end,
                              page_size=50, key=lambda r: r.sku_id, max_span=timedelta(days=2))
    assert len(rows) == 4 and len(h.wire.biz(SKUS)) == 3
    with pytest.raises(JstPermanentError) as caught:                       # a 5-day window > 2: refused
        h.api.query_skus(begin=end - timedelta(days=5), end=end)
    assert caught.value.code == 140 and "2天" in caught.value.jst_msg
