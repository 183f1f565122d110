"""Rate limit (199/200), page-size maxima and the 7-day window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from .conftest import CST, jst_time, window


def test_rate_limit_per_second_answers_199(jst, client):
    jst.rate_limit.configure(enabled=True, per_second=5, per_minute=100)
    codes = [client.call("/open/shops/query", {})["code"] for _ in range(7)]
    assert codes[:5] == [0] * 5 and codes[5:] == [199, 199]
    assert [c["code"] for c in jst.calls("/open/shops/query")][-2:] == [199, 199]


def test_rate_limit_per_minute_answers_200(jst, client):
    jst.rate_limit.configure(enabled=True, per_second=None, per_minute=3)
    codes = [client.call("/open/wms/partner/query", {})["code"] for _ in range(4)]
    assert codes == [0, 0, 0, 200]


def test_rate_limit_is_per_app_key(jst, client):
    from .conftest import Client
    jst.seed(credentials={"app_key": "other", "app_secret": "s2", "access_token": "t2"})
    jst.rate_limit.configure(enabled=True, per_second=1, per_minute=None)
    other = Client(jst.url, app_key="other", secret="s2", token="t2")
    assert client.call("/open/shops/query", {})["code"] == 0
    assert other.call("/open/shops/query", {})["code"] == 0
    assert client.call("/open/shops/query", {})["code"] == 199


PAGE_MAX = [
    ("/open/orders/out/simple/query", 50),
    ("/open/orders/single/query", 100),
    ("/open/inventory/query", 100),
    ("/open/sku/query", 50),
    ("/open/mall/item/query", 50),
    ("/open/other/inout/query", 50),
    ("/open/aftersale/received/query", 50),
    ("/open/logistic/query", 50),
    ("/open/logisticscompany/query", 50),
    ("/open/shops/query", 100),
]


@pytest.mark.parametrize("path,maximum", PAGE_MAX)
def test_page_size_maximum(client, path, maximum):
    biz = {**window(1), "page_index": 1}
    assert client.call(path, {**biz, "page_size": maximum})["code"] == 0
    body = client.call(path, {**biz, "page_size": maximum + 1})
    assert body["code"] == 140 and str(maximum) in body["msg"]


WINDOWED = ["/open/orders/out/simple/query", "/open/orders/single/query", "/open/inventory/query", "/open/sku/query",
            "/open/mall/item/query", "/open/other/inout/query", "/open/aftersale/received/query", "/open/logistic/query"]


@pytest.mark.parametrize("path", WINDOWED)
def test_seven_day_window(client, path):
    end = datetime.now(CST)
    ok = {"modified_begin": jst_time(end - timedelta(days=7)), "modified_end": jst_time(end)}
    assert client.call(path, ok)["code"] == 0
    too_long = {"modified_begin": jst_time(end - timedelta(days=7, seconds=1)), "modified_end": jst_time(end)}
    body = client.call(path, too_long)
    assert body["code"] == 140 and "7天" in body["msg"]
    assert client.call(path, {"modified_begin": jst_time(end)})["code"] == 140  # one end only
    assert client.call(path, {"modified_begin": "2026/01/01", "modified_end": "2026/01/02"})["code"] == 140


def test_inventory_ts_and_window_are_exclusive(client):
    assert client.call("/open/inventory/query", {**window(1), "ts": 1})["code"] == 140
    assert client.call("/open/inventory/query", {})["code"] == 140  # sku_ids and window both empty


def test_id_list_maximum(client):
    assert client.call("/open/orders/out/simple/query", {"so_ids": [str(i) for i in range(51)]})["code"] == 140
    assert client.call("/open/orders/single/query", {"so_ids": [str(i) for i in range(21)]})["code"] == 140
