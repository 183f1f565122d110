"""The 旺店通 sandbox as the bridge's client meets it: sign and clock checks, page and
window limits, stateful trades, documents and stock, injected faults, admin routes."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from o2o_bridge.connectors.wangdiantong import models as m
from o2o_bridge.connectors.wangdiantong.api import Limits, WdtApi
from o2o_bridge.connectors.wangdiantong.errors import (
    WdtAuthError,
    WdtPermanentError,
    WdtRateLimited,
    WdtTimestampRefused,
    WdtTransientError,
)
from o2o_bridge.shanghai_time import SHANGHAI

from .conftest import client_for


def now() -> datetime:
    return datetime.now(SHANGHAI)


def trade(tid: str, *, logistics: str = "WDH", cash: bool = False, spec: str = "PIL-STD", num: int = 1,
          warehouse_no: str | None = "S101") -> m.Trade:
    t = now().strftime("%Y-%m-%d %H:%M:%S")
    return m.Trade(tid=tid, delivery_term=2 if cash else 1, trade_time=t, pay_time=t, buyer_nick="门店顾客",
                   receiver_name="门店顾客", receiver_address="徐家汇店", logistics_type=logistics,
                   paid=Decimal(199 * num), cod_amount=Decimal(199 * num) if cash else Decimal(0),
                   warehouse_no=warehouse_no,
                   order_list=[m.TradeLine(oid=f"{tid}-1", num=Decimal(num), price=Decimal(199), goods_id=spec,
                                           spec_no=spec)])


# --- the public parameters ---------------------------------------------------------------------
def test_the_bridges_signed_calls_are_accepted_and_a_wrong_secret_is_refused(sandbox, api):
    assert [s.shop_no for s in api.shops()] == ["POS01"]
    with pytest.raises(WdtAuthError, match="签名错误"):
        client_for(sandbox, appsecret="wrong").call("shop.php")
    with pytest.raises(WdtAuthError, match="卖家账号"):
        client_for(sandbox, appkey="other").call("shop.php")


def test_a_chinese_value_is_signed_by_character_length(sandbox, api):
    # A shop_no with Chinese characters signs differently by byte length: the sandbox checks characters.
    assert api.shops("门店POS") == []


def test_a_clock_more_than_5_minutes_off_is_refused_then_corrected_from_the_erps_date(sandbox):
    sandbox.advance_clock(900)  # the ERP's clock is 15 minutes ahead of ours
    client = client_for(sandbox)
    client.call("shop.php")
    codes = [c["code"] for c in sandbox.calls("shop.php")]
    assert codes == [1110, 0] and abs(client.clock_offset - 900) < 5


def test_without_correction_a_stale_timestamp_is_transient(sandbox):
    client = client_for(sandbox, clock=lambda: 1_000_000_000.0)
    client._learn_offset = lambda header: False  # as if the ERP sent no Date header
    with pytest.raises(WdtTimestampRefused):
        client.call("shop.php")


# --- pages and windows ---------------------------------------------------------------------------
def test_page_size_above_100_is_refused_and_pages_start_at_0(sandbox, api):
    with pytest.raises(WdtPermanentError, match="page_size"):
        api.call("warehouse_query.php", {"page_no": 0, "page_size": 101})
    sandbox.seed(warehouses=[{"warehouse_no": f"W{i:03d}", "name": f"仓{i}"} for i in range(7)])
    small = WdtApi(api.client, Limits(page_size=4))
    assert len(small.warehouses()) == 10
    pages = [c["params"]["page_no"] for c in sandbox.calls("warehouse_query.php")][-3:]
    assert pages == ["0", "1", "2"]


def test_a_trade_window_over_60_minutes_is_refused_and_the_client_splits_it(sandbox, api):
    with pytest.raises(WdtPermanentError, match="时间跨度"):
        api.call("trade_query.php", {"start_time": "2026-12-01 08:00:00", "end_time": "2026-12-01 09:00:01",
                                     "page_no": 0, "page_size": 40})
    api.push_trades("POS01", [trade("S-1")])
    found = api.query_trades(begin=now() - timedelta(hours=3), end=now() + timedelta(minutes=1), shop_no="POS01")
    assert [t.tid for t in found] == ["S-1"]  # read at a shared window edge too, kept once


def test_a_stock_window_over_30_days_is_refused(sandbox, api):
    with pytest.raises(WdtPermanentError, match="30天"):
        api.call("stock_query.php", {"start_time": "2026-10-01 00:00:00", "end_time": "2026-11-01 00:00:00"})
    rows = api.query_stock(begin=now() - timedelta(days=70), end=now() + timedelta(minutes=1), warehouse_no="S101")
    assert {(r.spec_no, r.stock_num) for r in rows} == {("PIL-STD", Decimal(8)), ("BLK-150", Decimal(3))}


# --- state --------------------------------------------------------------------------------------
def test_a_pushed_trade_is_booked_once_and_a_repeat_is_an_update(sandbox, api):
    first = api.push_trades("POS01", [trade("S-2", num=2)])
    again = api.push_trades("POS01", [trade("S-2", num=2)])
    assert (first[0].new_count, again[0].new_count, again[0].chg_count) == (1, 0, 1)
    assert len(sandbox.state.trades) == 1
    assert sandbox.state.stock[("S101", "PIL-STD")]["stock_num"] == Decimal(6)  # delivered once


def test_a_cash_sale_needs_a_cod_logistics_and_the_shop_must_accept_pushes(sandbox, api):
    with pytest.raises(WdtPermanentError, match="货到付款"):
        api.push_trades("POS01", [trade("S-3", cash=True, logistics="WDH")])
    assert api.push_trades("POS01", [trade("S-3", cash=True, logistics="HDFK")])[0].new_count == 1
    sandbox.seed(shops=[{"shop_no": "WPB", "shop_name": "微铺宝", "platform_id": "64"}])
    with pytest.raises(WdtPermanentError, match="平台不支持"):
        api.push_trades("WPB", [trade("S-4")])


def test_a_batch_over_50_trades_is_refused(sandbox, api):
    big = WdtApi(api.client, Limits(trades_per_push=51))
    with pytest.raises(WdtPermanentError, match="最多推送50"):
        big.push_trades("POS01", [trade(f"S-{i}") for i in range(51)])
    assert sandbox.state.trades == {}


def test_other_stockin_and_stockout_are_keyed_by_outer_no(sandbox, api):
    info = m.StockinInfo(outer_no="O2O-R1", warehouse_no="S101", remark="退货",
                         goods_list=[m.StockinLine(spec_no="PIL-STD", stockin_num=Decimal(2))])
    api.push_stockin(info)
    with pytest.raises(WdtPermanentError, match="已存在"):
        api.push_stockin(info)
    assert sandbox.state.stock[("S101", "PIL-STD")]["stock_num"] == Decimal(10)
    api.push_stockout(m.StockoutInfo(outer_no="O2O-X1", warehouse_no="S101",
                                     detail_list=[m.StockoutLine(spec_no="BLK-150", num=Decimal(1))]))
    outs = api.query_stockouts(begin=now() - timedelta(minutes=5), end=now() + timedelta(minutes=1))
    assert [(d.order_type, d.outer_no, d.details_list[0].qty) for d in outs] == [("7", "O2O-X1", Decimal(1))]


def test_a_count_overwrites_and_is_booked_as_gain_and_loss_documents(sandbox, api):
    answer = api.count_stock_once(warehouse_no="S101", remark="O2O-PD-1 盘点单 PD-1",
                                  lines=[m.CountLine(spec_no="PIL-STD", stock_num=Decimal(10)),
                                         m.CountLine(spec_no="BLK-150", stock_num=Decimal(1))])
    assert sandbox.state.stock[("S101", "PIL-STD")]["stock_num"] == Decimal(10)
    assert [d["order_type_name"] for d in sandbox.state.stockins.values()] == ["盘盈入库"]
    assert [d["order_type_name"] for d in sandbox.state.stockouts.values()] == ["盘亏出库"]
    # The count is listed with its remark (how the bridge finds a count it booked), by warehouse.
    (held,) = api.query_counts(begin=now() - timedelta(minutes=5), end=now() + timedelta(minutes=1), warehouse_no="S101")
    assert (held.pd_no, held.remark) == (answer["pd_no"], "O2O-PD-1 盘点单 PD-1")
    assert api.query_counts(begin=now() - timedelta(minutes=5), end=now() + timedelta(minutes=1),
                            warehouse_no="S102") == []


def test_documents_and_counts_longer_than_the_line_limit_are_refused(sandbox, api):
    sandbox.configure(max_document_lines=1)
    lines = [m.CountLine(spec_no="PIL-STD", stock_num=Decimal(1)), m.CountLine(spec_no="BLK-150", stock_num=Decimal(1))]
    with pytest.raises(WdtPermanentError, match="最多1行"):
        api.count_stock_once(warehouse_no="S101", remark="O2O-PD-2", lines=lines)
    with pytest.raises(WdtPermanentError, match="最多1行"):
        api.push_stockin(m.StockinInfo(outer_no="O2O-X2", warehouse_no="S101", goods_list=[
            m.StockinLine(spec_no="PIL-STD", stockin_num=Decimal(1)), m.StockinLine(spec_no="BLK-150", stockin_num=Decimal(1))]))
    assert sandbox.state.pd_orders == {} and sandbox.state.stockins == {}


def test_an_erp_user_creates_documents_and_goods_through_the_admin_routes(sandbox, api):
    admin = httpx.Client(base_url=sandbox.url)
    admin.post("/__admin__/goods", json={"goods_no": "NEW", "goods_name": "新品抱枕", "spec_list": [
        {"spec_no": "NEW-1", "spec_name": "灰", "barcode": "6911000000099", "retail_price": 89}]}).raise_for_status()
    doc = admin.post("/__admin__/stockins", json={"warehouse_no": "S101", "order_type": "调拨入库",
                                                  "lines": [{"spec_no": "NEW-1", "num": 4}]}).json()
    assert doc["order_type"] == "2" and doc["status"] == "80"
    docs = api.query_stockins(begin=now() - timedelta(minutes=5), end=now() + timedelta(minutes=1), warehouse_no="S101")
    assert [(d.order_no, d.order_type_name) for d in docs] == [(doc["order_no"], "调拨入库")]
    goods = api.query_goods(begin=now() - timedelta(minutes=5), end=now() + timedelta(minutes=1))
    assert [g.goods_no for g in goods] == ["NEW"]
    assert admin.post("/__admin__/stockins", json={"warehouse_no": "S101", "order_type": "其它",
                                                   "lines": []}).status_code == 400


# --- faults and pacing ---------------------------------------------------------------------------
def test_injected_faults_are_transient_and_a_lost_answer_has_its_effect(sandbox, api):
    sandbox.faults.add("wdt", path="trade_push")
    with pytest.raises(WdtTransientError, match="系统繁忙"):
        api.push_trades("POS01", [trade("S-5")])
    assert sandbox.state.trades == {}
    sandbox.faults.add("http", path="trade_push", apply_effect=True)
    with pytest.raises(WdtTransientError):
        api.push_trades("POS01", [trade("S-5")])
    assert len(sandbox.state.trades) == 1
    assert api.push_trades("POS01", [trade("S-5")])[0].chg_count == 1  # the retry books nothing twice


def test_a_timeout_fault_is_a_transient_error(sandbox):
    import httpx as _httpx

    sandbox.faults.add("timeout", path="shop", delay=2)
    client = client_for(sandbox, http=_httpx.Client(timeout=_httpx.Timeout(0.5)))
    with pytest.raises(WdtTransientError, match="timed out"):
        client.call("shop.php")


def test_the_sandbox_refuses_calls_beyond_its_rate_limit(sandbox, api):
    sandbox.rate_limit.configure(per_second=2, per_minute=100, enabled=True)
    api.call("shop.php")
    api.call("shop.php")
    with pytest.raises(WdtRateLimited):
        api.call("shop.php")
