"""W1: store sales reach 旺店通 once each, in calls of at most 50, cash as 货到付款 on the
COD logistics; replays, lost answers, crashes and refusals never book twice or block."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from fakes import drain_retries
from o2o_bridge.flows import store_sales
from o2o_bridge.ports.retail import SaleLine, StoreSale
from o2o_bridge.shanghai_time import SHANGHAI


def sale(no: str, *, payment: str = "card", store: str = "S101", sku: str = "PIL-STD", qty: int = 1,
         minute: int = 0, member: str | None = None) -> StoreSale:
    return StoreSale(sale_no=no, store_code=store, sold_at=datetime(2026, 12, 2, 10, minute, tzinfo=SHANGHAI),
                     payment=payment, total=Decimal(199 * qty) - Decimal(10),
                     lines=(SaleLine("1", sku, qty, Decimal(199), Decimal(199 * qty) - Decimal(10)),),
                     member_mobile=member)


def trades(sandbox) -> dict[str, dict]:
    return {tid: t for (_, tid), t in sandbox.state.trades.items()}


def test_a_card_and_a_cash_sale_are_booked_by_the_next_run(ctx, sandbox):
    store_sales.queue_sale(ctx, sale("S101-0001"))
    store_sales.queue_sale(ctx, sale("S101-0002", payment="cash", minute=1))
    assert sandbox.state.trades == {}  # nothing before the run
    summary = store_sales.push_store_sales(ctx)
    assert summary == {"booked": 2, "parked": 0, "left": 0, "calls": 1}
    booked = trades(sandbox)
    card, cash = booked["S101-0001"], booked["S101-0002"]
    assert (card["delivery_term"], card["logistics_type"], card["pay_status"]) == (1, "WDH", 2)
    assert (cash["delivery_term"], cash["logistics_type"], cash["pay_status"]) == (2, "HDFK", 0)
    assert cash["cod_amount"] == 189 and cash["pay_time"] == "0000-00-00 00:00:00"
    assert card["order_list"][0]["oid"] == "S101-0001-1" and card["order_list"][0]["discount"] == 10
    assert card["trade_time"] == "2026-12-02 10:00:00" and card["paid"] == 189
    assert ctx.timeline.steps("S101-0001") == ["sale.queued", "erp.sale_booked"]


def test_the_event_is_read_in_the_stores_contract_terms(ctx, sandbox):
    data = SimpleNamespace(sale_no="S102-9", store_code="S102", sold_at=datetime(2026, 12, 2, 11, tzinfo=SHANGHAI),
                           payment="wechat", total_amount=Decimal("189.00"), member_mobile="13800000000",
                           items=[SimpleNamespace(line_no=1, sku_id="PIL-LOW", qty=1, price=Decimal("189.00"),
                                                  amount=Decimal("189.00"))])
    store_sales.queue_sale(ctx, StoreSale.from_event(data))
    store_sales.push_store_sales(ctx)
    booked = trades(sandbox)["S102-9"]
    assert booked["buyer_nick"] == "13800000000" and booked["receiver_name"] == "五角场店"


def test_a_replayed_event_or_a_repeated_run_books_nothing_twice(ctx, sandbox):
    assert store_sales.queue_sale(ctx, sale("S101-0003"))
    store_sales.push_store_sales(ctx)
    assert not store_sales.queue_sale(ctx, sale("S101-0003"))  # the store system sends it again
    assert store_sales.push_store_sales(ctx)["booked"] == 0
    assert len(sandbox.calls("trade_push.php")) == 1 and len(sandbox.state.trades) == 1


def test_at_most_50_trades_a_call_and_30_of_one_customer(ctx, sandbox):
    for n in range(120):
        store_sales.queue_sale(ctx, sale(f"S-{n:04d}", minute=n % 60, member="13900000000" if n < 40 else None,
                                         store="S101" if n % 2 else "S102", sku="PIL-STD" if n % 2 else "PIL-LOW"))
    summary = store_sales.push_store_sales(ctx)
    assert summary["booked"] == 120 and summary["left"] == 0
    sizes = [len(json.loads(c["params"]["trade_list"])) for c in sandbox.calls("trade_push.php")]
    assert max(sizes) <= 50 and sum(sizes) == 120
    for call in sandbox.calls("trade_push.php"):
        nicks = [t["buyer_nick"] for t in json.loads(call["params"]["trade_list"])]
        assert max(nicks.count(n) for n in set(nicks)) <= 30
    assert len(sandbox.state.trades) == 120


def test_a_refused_sale_is_parked_with_the_reason_and_the_others_are_booked(ctx, sandbox):
    store_sales.queue_sale(ctx, sale("S101-0010"))
    store_sales.queue_sale(ctx, sale("S101-0011", sku="NOT-IN-ERP", minute=1))
    store_sales.queue_sale(ctx, sale("S101-0012", minute=2))
    summary = store_sales.push_store_sales(ctx)
    assert (summary["booked"], summary["parked"], summary["left"]) == (2, 1, 0)
    assert set(trades(sandbox)) == {"S101-0010", "S101-0012"}
    (letter,) = ctx.queue.dead
    assert letter.envelope.payload == {"sale_no": "S101-0011"} and "NOT-IN-ERP" in letter.reason
    # The SKU is created in the ERP; the operator replays the dead letter: booked once.
    sandbox.put_goods(goods_no="NEW", goods_name="新品", spec_list=[{"spec_no": "NOT-IN-ERP", "retail_price": 199}])
    assert store_sales.push_sale(ctx, letter.envelope.payload) == {"outcome": "booked"}
    assert store_sales.push_sale(ctx, letter.envelope.payload) == {"outcome": "booked before"}
    assert set(trades(sandbox)) == {"S101-0010", "S101-0011", "S101-0012"}


def test_a_lost_answer_is_pushed_again_and_booked_once(ctx, sandbox):
    store_sales.queue_sale(ctx, sale("S101-0020", qty=2))
    sandbox.faults.add("http", path="trade_push", apply_effect=True)  # booked, but the answer is lost
    summary = store_sales.push_store_sales(ctx)
    assert summary["booked"] == 0 and summary["left"] == 1 and "stopped" in summary
    assert store_sales.push_store_sales(ctx)["booked"] == 1
    assert len(sandbox.state.trades) == 1
    assert sandbox.state.stock[("S101", "PIL-STD")]["stock_num"] == Decimal(8)  # no warehouse_no: not moved


def test_a_crash_after_the_push_before_the_bookkeeping_books_once(ctx, sandbox, monkeypatch):
    store_sales.queue_sale(ctx, sale("S101-0030"))
    original = store_sales._mark

    def crash(*args, **kwargs):
        raise RuntimeError("Lambda timed out")

    monkeypatch.setattr(store_sales, "_mark", crash)
    with pytest.raises(RuntimeError):
        store_sales.push_store_sales(ctx)
    monkeypatch.setattr(store_sales, "_mark", original)
    assert store_sales.push_store_sales(ctx)["booked"] == 1
    assert len(sandbox.state.trades) == 1 and sandbox.calls("trade_push.php")[-1]["code"] == 0


def test_a_rate_limited_run_stops_and_the_next_goes_on(ctx, sandbox):
    for n in range(60):
        store_sales.queue_sale(ctx, sale(f"R-{n:03d}", minute=n % 60))
    sandbox.faults.add("wdt", path="trade_push", code=1130)  # the next call: 超过每分钟最大调用频率
    first = store_sales.push_store_sales(ctx)
    assert first["booked"] == 0 and first["left"] == 60 and "RateLimited" in first["stopped"]
    second = store_sales.push_store_sales(ctx)
    assert second["booked"] == 60 and len(sandbox.state.trades) == 60


def test_a_store_sale_warehouse_may_be_sent_when_the_tenant_says_so(sandbox):
    from .conftest import erp_for, tenant_for
    from fakes import fake_context

    tenant = tenant_for(sandbox, wangdiantong={"trade_warehouse_no": True})
    ctx = fake_context(tenant, erp=erp_for(sandbox, tenant))
    store_sales.queue_sale(ctx, sale("S101-0040", qty=3))
    store_sales.push_store_sales(ctx)
    assert sandbox.state.stock[("S101", "PIL-STD")]["stock_num"] == Decimal(5)


def test_parked_sales_replay_through_the_retry_worker(ctx, sandbox):
    store_sales.queue_sale(ctx, sale("S101-0050", sku="NOT-IN-ERP"))
    store_sales.push_store_sales(ctx)
    assert len(ctx.queue.dead) == 1
    sandbox.put_goods(goods_no="NEW", spec_list=[{"spec_no": "NOT-IN-ERP", "retail_price": 199}])
    ctx.queue.queued.append((ctx.queue.dead[0].envelope, 0))
    assert drain_retries(ctx) == 1
    assert "S101-0050" in trades(sandbox)


@pytest.mark.parametrize("master", ["erp", "pos"])
def test_the_store_sale_event_queues_the_sale_whatever_the_stock_master(sandbox, pos, monkeypatch, master):
    """The one sale.completed flow (flows/erp_store_stock.py): 旺店通 takes every store sale as an
    order of its POS shop (the guide: every store document goes back), so it is queued for the
    10-minute run even when the store system owns the stock; nothing is booked at once."""
    from types import SimpleNamespace as NS

    from o2o_bridge.flows import erp_store_stock

    from .conftest import context_for, tenant_for

    tenant = tenant_for(sandbox, stock={"master": master})
    ctx = context_for(sandbox, pos, tenant)
    data = NS(sale_no="S101-0099", store_code="S101", sold_at=datetime(2026, 12, 2, 10, tzinfo=SHANGHAI),
              payment="card", total_amount=Decimal("199.00"), member_mobile=None,
              items=[NS(line_no="1", sku_id="PIL-STD", qty=1, price=Decimal("199.00"), amount=Decimal("199.00"))])
    erp_store_stock.on_sale_completed(NS(event_id="e-1", type="sale.completed", data=data), ctx)
    assert sandbox.calls() == [] and ctx.timeline.steps("S101-0099") == ["sale.queued"]
    assert store_sales.push_store_sales(ctx)["booked"] == 1
    assert [t["tid"] for t in sandbox.state.trades.values()] == ["S101-0099"]
