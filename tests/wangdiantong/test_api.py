"""The typed adapter: paging from page_no 0 to the end, modified windows no longer than
each interface takes, uploads in batches, answers parsed with their uncertain names."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from o2o_bridge.connectors.wangdiantong import models as m
from o2o_bridge.connectors.wangdiantong.api import Limits
from o2o_bridge.shanghai_time import SHANGHAI

from .wdt_fakes import FakeWdt, make_api, ok

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI)


def paged(rows, list_key):
    """A route answering page_no / page_size over ``rows``, total_count only on page 0."""
    def route(call):
        page_no, size = int(call.form["page_no"]), int(call.form["page_size"])
        answer = ok(**{list_key: rows[page_no * size:(page_no + 1) * size]})
        if page_no == 0:
            answer["total_count"] = len(rows)
        return answer
    return route


def test_pages_start_at_0_and_stop_at_the_total():
    rows = [{"warehouse_no": f"W{i:03d}"} for i in range(250)]
    gateway = FakeWdt(routes={"warehouse_query.php": paged(rows, "warehouses")})
    found = make_api(gateway).warehouses()
    assert [w.warehouse_no for w in found] == [r["warehouse_no"] for r in rows]
    assert [c.form["page_no"] for c in gateway.calls] == ["0", "1", "2"]


def test_an_exactly_full_last_page_needs_no_empty_page_after_it():
    rows = [{"warehouse_no": f"W{i:03d}"} for i in range(200)]
    gateway = FakeWdt(routes={"warehouse_query.php": paged(rows, "warehouses")})
    assert len(make_api(gateway).warehouses()) == 200
    assert len(gateway.calls) == 2


def test_without_a_total_a_short_page_is_the_last():
    rows = [{"logistics_no": f"L{i}"} for i in range(5)]
    gateway = FakeWdt(routes={"logistics.php": lambda call: ok(logistics_list=rows if call.form["page_no"] == "0" else [])})
    assert len(make_api(gateway).logistics()) == 5 and len(gateway.calls) == 1


def test_trades_are_read_in_windows_of_at_most_60_minutes_sharing_their_edges():
    gateway = FakeWdt(routes={"trade_query.php": lambda call: ok(trades=[], total_count=0)})
    make_api(gateway).query_trades(begin=T0, end=T0 + timedelta(minutes=150), shop_no="POS01")
    windows = [(c.form["start_time"], c.form["end_time"]) for c in gateway.calls]
    assert windows == [("2026-12-01 08:00:00", "2026-12-01 09:00:00"), ("2026-12-01 09:00:00", "2026-12-01 10:00:00"),
                       ("2026-12-01 10:00:00", "2026-12-01 10:30:00")]
    assert all(c.form["page_size"] == "40" and c.form["shop_no"] == "POS01" for c in gateway.calls)


def test_stock_is_read_in_windows_of_at_most_30_days_and_an_edge_row_is_kept_once_in_its_latest_version():
    def route(call):
        if call.form["start_time"].startswith("2026-10-01"):
            return ok(stocks=[{"spec_no": "A", "warehouse_no": "S001", "stock_num": "3.0000", "modified": "2026-10-31 08:00:00"}],
                      total_count=1)
        return ok(stocks=[{"spec_no": "A", "warehouse_no": "S001", "stock_num": "5.0000", "avaliable_num": "4.0000",
                           "modified": "2026-11-02 08:00:00"}], total_count=1)

    gateway = FakeWdt(routes={"stock_query.php": route})
    rows = make_api(gateway).query_stock(begin=datetime(2026, 10, 1, tzinfo=SHANGHAI),
                                         end=datetime(2026, 11, 20, tzinfo=SHANGHAI), warehouse_no="S001")
    assert len(gateway.calls) == 2
    spans = [datetime.fromisoformat(c.form["end_time"]) - datetime.fromisoformat(c.form["start_time"]) for c in gateway.calls]
    assert max(spans) <= timedelta(days=30)
    (row,) = rows
    assert row.stock_num == Decimal(5) and row.available == Decimal(4)


def test_trade_pushes_carry_at_most_50_trades():
    gateway = FakeWdt(routes={"trade_push.php": lambda call: ok(new_count=len(call.json("trade_list")), chg_count=0)})
    trades = [m.Trade(tid=f"S{i}", trade_time="2026-12-01 10:00:00", pay_time="2026-12-01 10:00:00", buyer_nick="门店",
                      receiver_name="门店", receiver_address="门店", logistics_type="WDH", paid=Decimal("10"),
                      order_list=[m.TradeLine(oid=f"S{i}-1", num=Decimal(1), price=Decimal(10), goods_id="A",
                                              spec_no="A")]) for i in range(120)]
    answers = make_api(gateway).push_trades("POS01", trades)
    assert [a.new_count for a in answers] == [50, 50, 20]
    assert {c.form["shop_no"] for c in gateway.calls} == {"POS01"}


def test_documents_parse_the_names_the_erp_is_known_to_use():
    doc = m.StockDocument.model_validate({"stockin_no": "RK001", "src_order_type": 2, "warehouse_no": "S001",
                                          "details_list": [{"spec_no": "A", "goods_count": "2.0000"}]})
    assert (doc.order_no, doc.order_type, doc.details_list[0].qty) == ("RK001", "2", Decimal(2))
    other = m.StockDocument.model_validate({"order_no": "CK1", "order_type": "7", "warehouse_no": 1,
                                            "detail_list": [{"spec_no": "B", "num": 3}]})
    assert (other.warehouse_no, other.details_list[0].qty) == ("1", Decimal(3))


def test_a_document_longer_than_the_erp_takes_is_refused_before_any_call():
    gateway = FakeWdt()
    api = make_api(gateway, limits=Limits(document_lines=2))
    info = m.StockinInfo(outer_no="O2O-1", warehouse_no="S001",
                         goods_list=[m.StockinLine(spec_no=s, stockin_num=Decimal(1)) for s in "ABC"])
    with pytest.raises(Exception, match="at most 2"):
        api.push_stockin(info)
    assert gateway.calls == []


def test_a_stock_count_longer_than_the_limit_is_refused_before_any_call():
    gateway = FakeWdt(routes={"stock_sync_by_pd.php": lambda call: ok()})
    api = make_api(gateway, limits=Limits(count_lines=2))
    with pytest.raises(Exception, match="at most 2"):
        api.count_stock_once(warehouse_no="S001", lines=[m.CountLine(spec_no=s, stock_num=Decimal(1)) for s in "ABC"],
                             remark="O2O-PD-1")
    assert gateway.calls == []
    api.count_stock_once(warehouse_no="S001", lines=[m.CountLine(spec_no=s, stock_num=Decimal(1)) for s in "AB"],
                         remark="O2O-PD-1")
    (call,) = gateway.calls
    assert call.form["is_adjust_stock"] == "1" and call.form["warehouse_no"] == "S001"
    assert call.form["remark"] == "O2O-PD-1" and len(call.json("goods_list")) == 2


# --- stock_pd_order_query.php: the look-up before a 盘点, read strictly -----------------------------

def count_answer(list_key: str, rows: list[dict]):
    return lambda call: ok(**{list_key: rows}, total_count=len(rows))


def test_the_count_query_is_read_under_its_default_names():
    gateway = FakeWdt(routes={"stock_pd_order_query.php": count_answer("stock_pd_list", [
        {"pd_no": "PD1", "warehouse_no": "S001", "remark": "O2O-C1 门店盘点", "modified": "2026-12-01 08:00:00"}])})
    [order] = make_api(gateway).query_counts(begin=T0 - timedelta(days=1), end=T0, warehouse_no="S001")
    assert (order.pd_no, order.remark) == ("PD1", "O2O-C1 门店盘点")


def test_a_count_answer_of_another_shape_is_a_clear_error_not_an_empty_list():
    gateway = FakeWdt(routes={"stock_pd_order_query.php": count_answer("check_list", [{"check_no": "PD1"}])})
    with pytest.raises(Exception) as raised:
        make_api(gateway).query_counts(begin=T0 - timedelta(days=1), end=T0, warehouse_no="S001")
    message = str(raised.value)
    assert "no list under stock_pd_list" in message and "check_list" in message
    assert "set wangdiantong.count_query.list_keys" in message and "books none" in message


def test_a_count_row_without_its_number_or_remark_names_the_setting():
    api = make_api(FakeWdt(routes={"stock_pd_order_query.php": count_answer("stock_pd_list", [{"pd_id": 7, "remark": ""}])}))
    with pytest.raises(Exception, match="no 盘点 no. under pd_no, order_no .*count_query.number_fields"):
        api.query_counts(begin=T0 - timedelta(days=1), end=T0, warehouse_no="S001")
    api = make_api(FakeWdt(routes={"stock_pd_order_query.php": count_answer("stock_pd_list", [{"pd_no": "PD1"}])}))
    with pytest.raises(Exception, match="no remark under remark .*count_query.remark_fields"):
        api.query_counts(begin=T0 - timedelta(days=1), end=T0, warehouse_no="S001")


def test_an_empty_count_answer_may_leave_its_list_out():
    api = make_api(FakeWdt(routes={"stock_pd_order_query.php": lambda call: ok(total_count=0)}))
    assert api.query_counts(begin=T0 - timedelta(days=1), end=T0, warehouse_no="S001") == []


def test_the_tenant_names_where_its_answer_holds_the_counts():
    from pathlib import Path

    import yaml

    from o2o_bridge.connectors.wangdiantong.factory import limits_of
    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "wdt-demo.yaml")
                         .read_text(encoding="utf-8"))
    doc["wangdiantong"]["count_query"] = {"list_keys": ["check_list"], "number_fields": ["check_no"],
                                          "remark_fields": ["memo"]}
    limits = limits_of(parse_tenant(doc).wangdiantong)
    gateway = FakeWdt(routes={"stock_pd_order_query.php": count_answer("check_list", [
        {"check_no": "PD9", "memo": "O2O-C9", "modified": "2026-12-01 08:00:00"}])})
    [order] = make_api(gateway, limits=limits).query_counts(begin=T0 - timedelta(days=1), end=T0, warehouse_no="S001")
    assert (order.pd_no, order.remark) == ("PD9", "O2O-C9")
