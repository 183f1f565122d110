"""P8 ``order=sku``, ``sku_after`` and ``sku_until`` (contract additions for the 02:10 run) and the adapter's
``quantities_only`` scan: every answer checked against pos-api.yaml."""

from __future__ import annotations

import httpx
import pytest

from o2o_bridge.connectors.store import PosClient, PosCredentials, PosPermanentError, PosTransientError, StoreSystemApi
from o2o_bridge.connectors.store.api import _raw_next_cursor

ENT = "10010"
AUTH = {"Authorization": "Bearer demo-pos-api-key", "X-Ent-Id": ENT}


def seed_grid(pos, skus=12, stores=("S001", "S002", "S003")):
    for store in reversed(stores):  # written store by store: update order is not SKU order
        pos.state.set_store_stock(ENT, store, [{"sku_id": f"K{n:03d}", "qty": n + len(store)} for n in range(skus)])
    return {(store, f"K{n:03d}"): n + len(store) for n in range(skus) for store in stores}


def test_order_sku_pages_every_row_by_sku_then_store(api, pos, recorder):
    grid = seed_grid(pos)
    others = {(store, sku) for (store, sku) in pos.state.merchant(ENT).store_stock} - set(grid)
    rows = list(api.scan_stock(limit=5, order="sku"))
    keys = [(r.sku_id, r.store_code) for r in rows]
    assert keys == sorted(keys) and len(keys) == len(grid) + len(others)
    gets = [r for r in recorder.requests if r.url.path.endswith("/stock")]
    assert all(g.url.params["order"] == "sku" for g in gets) and len(gets) == -(-len(keys) // 5)
    assert recorder.checked_answers == len(gets)  # each page valid against StockPageAnswer


def test_sku_after_starts_after_that_sku_and_quantities_only_gives_tuples(api, pos):
    grid = seed_grid(pos)
    rows = list(api.scan_stock(limit=4, order="sku", sku_after="K007", quantities_only=True))
    ours = sorted(((s, k, q) for (s, k), q in grid.items() if "K007" < k <= "K011"), key=lambda r: (r[1], r[0]))
    assert rows[:len(ours)] == ours  # then the demo merchant's own SKUs, all after K011
    assert all(type(r) is tuple and r[1] > "K011" for r in rows[len(ours):])


def test_sku_after_and_sku_until_read_one_range_of_skus_over_several_pages(api, pos, recorder):
    grid = seed_grid(pos)
    ranges = [(None, "K003"), ("K003", "K007"), ("K007", "K011")]
    read = [list(api.scan_stock(limit=4, order="sku", sku_after=a, sku_until=u, quantities_only=True))
            for a, u in ranges]
    ours = sorted(((s, k, q) for (s, k), q in grid.items()), key=lambda r: (r[1], r[0]))
    assert [row for rows in read for row in rows if row[1].startswith("K")] == ours
    assert read[1] == [r for r in ours if "K003" < r[1] <= "K007"]  # 12 rows: 3 pages, each asked up to K007
    gets = [r for r in recorder.requests if r.url.path.endswith("/stock") and r.url.params.get("sku_until") == "K007"]
    assert len(gets) == 3 and recorder.checked_answers >= len(gets)


def test_quantities_only_reads_the_same_rows_as_the_models(api, pos):
    seed_grid(pos, skus=30)
    models = {(r.store_code, r.sku_id, r.qty) for r in api.scan_stock(limit=7)}
    assert set(api.scan_stock(limit=7, quantities_only=True)) == models


def test_unknown_order_sku_after_alone_and_a_foreign_cursor_are_refused(pos):
    seed_grid(pos)
    base = pos.base_url + "/stock"
    by_time = httpx.get(base, params={"limit": 2}, headers=AUTH).json()["data"]["next_cursor"]
    cases = [{"order": "price"}, {"sku_after": "K001"}, {"sku_until": "K001"},
             {"order": "sku", "cursor": by_time, "limit": 2}]
    for params in cases:
        answer = httpx.get(base, params=params, headers=AUTH)
        assert (answer.status_code, answer.json()["code"]) == (422, 42200), params


def test_a_failing_page_mid_scan_is_raised_to_the_reader(api, pos):
    seed_grid(pos, skus=40)
    scan = api.scan_stock(limit=10, order="sku", quantities_only=True)
    first = [next(scan) for _ in range(10)]
    assert len(first) == 10
    pos.faults.configure(path="/stock", error_rate=1.0, statuses=[503], seed=7)
    try:
        with pytest.raises(PosTransientError):  # pages read ahead before the fault still arrive first
            list(scan)
    finally:
        pos.faults.clear()


def test_the_cursor_read_ahead_is_the_parsed_one():
    assert _raw_next_cursor(b'{"code":0,"data":{"items":[{"sku_id":"a\\"next_cursor\\":"}],"next_cursor":"Zm9v"}}') == "Zm9v"
    assert _raw_next_cursor(b'{"code":0,"data":{"items":[],"next_cursor": null}}') is None
    assert _raw_next_cursor(b'{"code":503,"msg":"service unavailable"}') is None


# --- the quantities scan's page decoding: the fast path reads good pages, anything else is reported ---


def scan_answering(*pages):
    """A quantities scan against a 店+ that answers ``pages`` in turn (status, JSON body)."""
    answers = iter(pages)

    def handler(request):
        status, body = next(answers)
        return httpx.Response(status, json=body)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    api = StoreSystemApi(PosClient(PosCredentials("https://pos.example.com/api", ENT, "demo-pos-api-key"), http=http))
    return api.scan_stock(limit=2, order="sku", quantities_only=True)


def page(items, cursor=None):
    return 200, {"code": 0, "msg": "ok", "data": {"items": items, "next_cursor": cursor}}


ROW = {"store_code": "S001", "sku_id": "K001", "qty": 3, "version": 2, "updated_at": "2026-12-02T02:10:00+08:00"}


def test_a_page_gives_its_rows_as_tuples_across_cursors_whatever_other_fields_it_carries():
    rows = list(scan_answering(page([ROW, {**ROW, "store_code": "S002", "extra": {"nested": [1]}}], "c1"),
                               page([{**ROW, "sku_id": "K002", "qty": 0}])))
    assert rows == [("S001", "K001", 3), ("S002", "K001", 3), ("S001", "K002", 0)]


@pytest.mark.parametrize("bad", [{"qty": "3"}, {"qty": True}, {"qty": 2.5}, {"sku_id": 7}, {"store_code": None}])
def test_a_row_with_a_wrong_type_stops_the_scan_with_what_is_wrong(bad):
    with pytest.raises(PosTransientError, match="qty an integer"):
        list(scan_answering(page([ROW, {**ROW, **bad}])))


def test_a_page_without_a_next_cursor_field_is_unreadable_not_the_end():
    status, body = page([ROW])
    del body["data"]["next_cursor"]
    with pytest.raises(PosTransientError, match="unreadable"):
        list(scan_answering((status, body)))


@pytest.mark.parametrize(("status", "code", "kind"), [(200, 10001, PosPermanentError), (503, 50300, PosTransientError),
                                                      (401, 40100, PosPermanentError)])
def test_an_error_answer_is_classified_as_on_every_other_call(status, code, kind):
    with pytest.raises(kind) as caught:
        list(scan_answering((status, {"code": code, "msg": "门店系统维护中", "data": None})))
    assert caught.value.code == code and "门店系统维护中" in str(caught.value)
