"""Paging rules (ts cursor, 7-day windows, dedupe) and batch sizes, through the typed adapter."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from o2o_bridge.connectors.jushuitan import models as m
from o2o_bridge.connectors.jushuitan.api import JstApiAdapter, Limits
from o2o_bridge.connectors.jushuitan.paging import batches, keep_latest, split_window

from .jst_fakes import FakeGateway, make_client, ok

OUT = "/open/orders/out/simple/query"


def outbound(io_id: int, ts: int, status: str = "WaitConfirm") -> dict:
    return {"io_id": io_id, "ts": ts, "status": status, "so_id": f"SO{io_id}", "wms_co_id": 10001,
            "items": [{"sku_id": "A-1", "qty": "2.0000", "sale_price": "9.90"}], "some_new_field": {"x": 1}}


def test_ts_scan_keeps_the_cursor_on_page_one_and_the_latest_version_of_changed_records():
    # JST data changes between our pages: io 2 is modified (new ts 7) after page one was read.
    table = {1: outbound(1, 3), 2: outbound(2, 4), 3: outbound(3, 5)}
    served = []

    def query(call):
        biz = call.biz
        assert biz["page_index"] == 1 and biz["is_get_total"] is False and biz["page_size"] == 2
        rows = sorted((r for r in table.values() if r["ts"] >= biz["start_ts"]), key=lambda r: r["ts"])
        page = rows[:2]
        served.append([r["io_id"] for r in page])
        if len(served) == 1:
            table[2] = outbound(2, 7, status="Delete")
            table[4] = outbound(4, 6)
        return ok({"datas": page, "has_next": len(rows) > 2, "page_index": 1})

    api = JstApiAdapter(make_client(FakeGateway(routes={OUT: query})), Limits(outbound_page=2))
    scan = api.scan_sales_outbounds(start_ts=0, wms_co_id=10001, status="WaitConfirm")
    by_id = {r.io_id: r for r in scan.records}
    assert sorted(by_id) == [1, 2, 3, 4]  # nothing lost, nothing twice
    assert by_id[2].status == "Delete" and by_id[2].ts == 7  # the highest-ts version wins
    assert scan.next_ts == 7
    assert served[0] == [1, 2]


def test_ts_scan_stops_when_a_page_brings_nothing_newer():
    calls = []

    def query(call):
        calls.append(call.biz["start_ts"])
        return ok({"datas": [outbound(9, 5)], "has_next": True})  # a server that always says has_next

    scan = JstApiAdapter(make_client(FakeGateway(routes={OUT: query}))).scan_sales_outbounds(start_ts=5)
    assert calls == [5] and scan.next_ts == 5 and len(scan.records) == 1


def test_outbound_pages_are_fetched_one_at_a_time_as_the_caller_asks():
    # io 2 is modified (new ts 7) after page one was read; io 4 appears meanwhile.
    table = {1: outbound(1, 3), 2: outbound(2, 4), 3: outbound(3, 5)}
    served = []

    def query(call):
        biz = call.biz
        assert biz["page_index"] == 1 and biz["is_get_total"] is False and biz["wms_co_id"] == 10001
        rows = sorted((r for r in table.values() if r["ts"] >= biz["start_ts"]), key=lambda r: r["ts"])
        served.append(biz["start_ts"])
        if len(served) == 1:
            table[2] = outbound(2, 7, status="Delete")
            table[4] = outbound(4, 6)
        return ok({"datas": rows[:2], "has_next": len(rows) > 2, "page_index": 1})

    api = JstApiAdapter(make_client(FakeGateway(routes={OUT: query})), Limits(outbound_page=2))
    pages = api.iter_sales_outbound_pages(start_ts=0, wms_co_id=10001)
    assert served == []  # nothing is fetched before the caller asks
    first = next(pages)
    assert served == [0] and [r.io_id for r in first.records] == [1, 2] and first.next_ts == 4 and not first.last
    rest = list(pages)
    # io 2 left the cursor's edge (now ts 7) and comes again, in its new version, on the last page;
    # the repeat of io 4 at the cursor (ts 6) is dropped. Nothing lost, no version twice.
    assert served == [0, 4, 6]
    assert [[(r.io_id, r.ts) for r in p.records] for p in rest] == [[(3, 5), (4, 6)], [(2, 7)]]
    assert [p.next_ts for p in rest] == [6, 7] and [p.last for p in rest] == [False, True]


def test_a_run_that_stops_after_a_page_and_resumes_from_its_cursor_reads_each_page_once():
    table = {n: outbound(n, 100 + n) for n in range(1, 11)}
    served = []

    def query(call):
        start = call.biz["start_ts"]
        served.append(start)
        rows = sorted((r for r in table.values() if r["ts"] >= start), key=lambda r: r["ts"])
        return ok({"datas": rows[:3], "has_next": len(rows) > 3})

    api = JstApiAdapter(make_client(FakeGateway(routes={OUT: query})), Limits(outbound_page=3))
    pages = api.iter_sales_outbound_pages(start_ts=0)
    first, second = next(pages), next(pages)
    pages.close()  # out of time: the caller stores the second page's cursor and stops
    assert served == [0, 103] and second.next_ts == 105
    again = list(api.iter_sales_outbound_pages(start_ts=second.next_ts))
    handled = [r.io_id for p in (first, second, *again) for r in p.records]
    assert handled == [1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10]  # only the edge record (io 5) comes twice
    assert served == [0, 103, 105, 107, 109] and len(served) == len(set(served))
    assert again[-1].last and again[-1].next_ts == 110


def test_ts_pages_stop_on_a_page_with_nothing_newer_and_at_the_page_guard():
    from o2o_bridge.connectors.jushuitan.paging import iter_ts_pages

    stuck = list(iter_ts_pages(lambda cursor: ([outbound(9, 5)], True), start_ts=5, key=lambda r: r["io_id"],
                               ts=lambda r: r["ts"]))
    assert len(stuck) == 1 and stuck[0].last and stuck[0].next_ts == 5
    calls = []

    def endless(cursor):
        calls.append(cursor)
        return [outbound(cursor + 1, cursor + 1)], True  # always one newer record, always has_next

    guarded = list(iter_ts_pages(endless, start_ts=0, key=lambda r: r["io_id"], ts=lambda r: r["ts"], max_pages=4))
    assert len(calls) == 4 and guarded[-1].last and guarded[-1].next_ts == 4


def test_inventory_scan_uses_the_ts_field_and_inventorys_list():
    def query(call):
        assert "ts" in call.biz and "start_ts" not in call.biz and "modified_begin" not in call.biz
        return ok({"inventorys": [{"sku_id": "A", "qty": "3.0000", "order_lock": 1, "ts": 11}], "has_next": False})

    api = JstApiAdapter(make_client(FakeGateway(routes={"/open/inventory/query": query})))
    (row,) = api.scan_inventory(start_ts=10, wms_co_id=10000).records
    assert row.qty == Decimal("3") and row.formula_values()["order_lock"] == Decimal(1)


def test_a_long_range_is_split_into_windows_of_at_most_seven_days():
    begin, end = datetime(2026, 1, 1), datetime(2026, 1, 20, 12)
    windows = split_window(begin, end)
    assert windows[0][0] == begin and windows[-1][1] == end and len(windows) == 3
    assert all(stop - start <= timedelta(days=7) for start, stop in windows)
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))  # edges shared: nothing skipped
    with pytest.raises(ValueError):
        split_window(end, begin)


def test_window_queries_page_each_window_and_drop_edge_duplicates():
    seen = []

    def query(call):
        biz = call.biz
        seen.append((biz["modified_begin"], biz["modified_end"], biz["page_index"]))
        if biz["page_index"] == 1:
            # The record at the window edge comes back in both windows, newer the second time.
            return ok({"orders": [{"o_id": 1, "l_id": "SF1", "ts": len(seen), "items": []}], "has_next": True})
        return ok({"orders": [{"o_id": 2, "l_id": "SF2", "ts": 1, "items": []}], "has_next": False})

    api = JstApiAdapter(make_client(FakeGateway(routes={"/open/logistic/query": query})))
    rows = api.query_logistics(shop_id=1, begin=datetime(2026, 1, 1), end=datetime(2026, 1, 10))
    assert seen == [("2026-01-01 00:00:00", "2026-01-08 00:00:00", 1), ("2026-01-01 00:00:00", "2026-01-08 00:00:00", 2),
                    ("2026-01-08 00:00:00", "2026-01-10 00:00:00", 1), ("2026-01-08 00:00:00", "2026-01-10 00:00:00", 2)]
    assert sorted((r.o_id, r.ts) for r in rows) == [(1, 3), (2, 1)]


def test_aware_datetimes_are_sent_as_shanghai_wall_time():
    from zoneinfo import ZoneInfo

    def query(call):
        assert call.biz["modified_begin"] == "2026-01-01 08:00:00"
        return ok({"datas": [], "has_next": False})

    api = JstApiAdapter(make_client(FakeGateway(routes={"/open/aftersale/received/query": query})))
    utc = ZoneInfo("UTC")
    api.query_aftersale_received(begin=datetime(2026, 1, 1, tzinfo=utc), end=datetime(2026, 1, 2, tzinfo=utc))


def test_the_s2x_cancel_query_asks_for_one_status_in_a_modified_window_and_parks_an_unreadable_row():
    from o2o_bridge.ports import MalformedRow

    seen = []

    def query(call):
        seen.append({k: call.biz.get(k) for k in ("shop_id", "status", "date_type", "modified_begin")})
        return ok({"orders": [{"o_id": 1, "so_id": "WM1", "status": "Cancelled", "ts": 2},
                              {"o_id": "not a number", "so_id": "WM2", "status": "Cancelled"}], "has_next": False})

    api = JstApiAdapter(make_client(FakeGateway(routes={"/open/orders/single/query": query})))
    rows = api.query_orders_changed(shop_id=7, begin=datetime(2026, 1, 1), end=datetime(2026, 1, 2), status="Cancelled")
    assert seen == [{"shop_id": 7, "status": "Cancelled", "date_type": 0, "modified_begin": "2026-01-01 00:00:00"}]
    [unreadable] = [r for r in rows if isinstance(r, MalformedRow)]
    assert unreadable.key == "WM2" and [r.so_id for r in rows if not isinstance(r, MalformedRow)] == ["WM1"]


def test_keep_latest_and_batches():
    rows = [("a", 1), ("b", 5), ("a", 3), ("a", 2)]
    assert keep_latest(rows, key=lambda r: r[0], ts=lambda r: r[1]) == [("a", 3), ("b", 5)]
    assert [len(b) for b in batches(list(range(120)), 50)] == [50, 50, 20]
    with pytest.raises(ValueError):
        list(batches([1], 0))


def order(n: int) -> m.OrderUpload:
    return m.OrderUpload(shop_id=133242, so_id=f"P{n}", order_date="2026-01-01 10:00:00",
                         shop_status="WAIT_SELLER_SEND_GOODS", shop_buyer_id="b", receiver_address="上海市 南京西路 1 号",
                         receiver_name="张三", pay_amount=Decimal("19.80"),
                         items=[m.OrderUploadItem(sku_id="A-1", shop_sku_id="A-1", amount=Decimal("19.80"),
                                                  base_price=Decimal("9.90"), qty=2, name="T恤", outer_oi_id=f"P{n}-1")])


def test_uploads_fill_each_call_to_the_maximum():
    sizes = {}

    def upload(call):
        rows = call.biz
        sizes.setdefault(call.path, []).append(len(rows) if isinstance(rows, list) else len(rows["items"]))
        if call.path.endswith("orders/upload"):
            return ok({"datas": [{"so_id": r["so_id"], "o_id": i, "issuccess": True} for i, r in enumerate(rows)]})
        if call.path.endswith("inventoryv2/upload"):
            return {"code": 0, "msg": "ok", "issuccess": True, "data": {"data": {"so_id": rows["so_id"], "io_id": 1}}}
        return ok(None)

    gateway = FakeGateway(routes={"/open/jushuitan/orders/upload": upload,
                                  "/open/jushuitan/inventoryv2/upload": upload,
                                  "/open/orders/wms/sent/upload": upload,
                                  "/open/jushuitan/orderbyoid/cancel": lambda call: ok("ok")})
    api = JstApiAdapter(make_client(gateway))
    results = api.upload_orders([order(n) for n in range(120)])
    assert sizes["/open/jushuitan/orders/upload"] == [50, 50, 20] and len(results) == 120 and results[0].issuccess
    api.upload_inventory(wms_co_id=10001, so_id_prefix="STK-20260101", items=[m.StockItem(sku_id=f"S{i}", qty=i) for i in range(1201)])
    assert sizes["/open/jushuitan/inventoryv2/upload"] == [500, 500, 201]
    so_ids = [c.biz["so_id"] for c in gateway.calls_to("/open/jushuitan/inventoryv2/upload")]
    assert so_ids == ["STK-20260101-1", "STK-20260101-2", "STK-20260101-3"]
    api.upload_wms_sent([m.WmsSent(io_id=i, lc_id="SF", l_id=f"SF{i}") for i in range(51)])
    assert sizes["/open/orders/wms/sent/upload"] == [50, 1]
    api.cancel_orders(list(range(75)), cancel_type="门店取消")
    assert [len(c.biz["o_ids"]) for c in gateway.calls_to("/open/jushuitan/orderbyoid/cancel")] == [50, 25]
    first = gateway.calls_to("/open/jushuitan/orders/upload")[0].biz[0]
    assert first["pay_amount"] == 19.8 and first["items"][0]["qty"] == 2 and "pay" not in first


def test_batch_maxima_are_configurable():
    sizes = []
    gateway = FakeGateway(routes={"/open/jushuitan/orders/upload": lambda c: sizes.append(len(c.biz)) or ok({"datas": []})})
    JstApiAdapter(make_client(gateway), Limits(orders_upload_batch=20)).upload_orders([order(n) for n in range(45)])
    assert sizes == [20, 20, 5]


def test_base_data_queries_page_by_index():
    def wms(call):
        index = call.biz["page_index"]
        return ok({"datas": [{"wms_co_id": 10000 + index, "name": f"仓{index}"}], "has_next": index < 3})

    api = JstApiAdapter(make_client(FakeGateway(routes={"/open/wms/partner/query": wms})))
    assert [w.wms_co_id for w in api.query_warehouses()] == [10001, 10002, 10003]
