"""货到付款: the amount to collect read from JST, recorded once when the store collects it,
reconciled (mismatch, overdue) and listed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from o2o_bridge.flows import cash_on_delivery as cod
from o2o_bridge.flows import store_fulfilment as s1


def cod_outbound(world, io_id, **fields):
    row = world.jst.add(io_id)
    row.update({"is_cod": True, "pay_amount": "199.00", "paid_amount": "20.00", **fields})
    return row


def ship(world, io_id):
    shipped = world.shipped(io_id)
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll confirms it in JST


def test_a_cod_outbound_carries_the_amount_still_to_pay_and_a_paid_one_does_not(world):
    cod_outbound(world, 700001)
    cod_outbound(world, 700002, is_cod=False, labels="货到付款")  # the tenant's COD label marks it too
    cod_outbound(world, 700003, is_cod="0")
    cod_outbound(world, 700004, paid_amount="199.00")  # nothing left to collect
    s1.poll_jst_outbound(world.ctx)
    assert world.order(700001)["cod_amount"] == "179.00"
    assert world.order(700002)["cod_amount"] == "179.00"
    assert "cod_amount" not in world.order(700003) and "cod_amount" not in world.order(700004)


def test_an_outbound_without_the_cod_terms_takes_them_from_its_order(world):
    # JST marks 货到付款 on the order; an outbound that does not carry the mark (or what was paid
    # online) is read with its order, so the store still gets the amount to collect.
    world.jst.add(700011, pay_amount="259.00")
    world.jst.orders[701011] = {"is_cod": True, "pay_amount": "259.00", "paid_amount": "9.00"}
    world.jst.add(700012, pay_amount="99.00")  # an order without the mark: paid online
    world.jst.orders[701012] = {"is_cod": False, "pay_amount": "99.00", "paid_amount": "99.00"}
    s1.poll_jst_outbound(world.ctx)
    assert world.order(700011)["cod_amount"] == "250.00"
    assert "cod_amount" not in world.order(700012)
    [sent] = world.store.live(700011)
    assert str(sent["cod"]["amount"]) in ("250.00", "250.0")  # P1's cod: what the store collects
    # An outbound that says so itself is read without asking for its order.
    cod_outbound(world, 700013)
    s1.poll_jst_outbound(world.ctx)
    assert 701013 not in world.jst.orders_asked and world.order(700013)["cod_amount"] == "179.00"
    # A tenant may keep to the outbound alone (order_centre.cod_from_order: false): no order query.
    from o2o_bridge.connectors.jushuitan.erp import JstErp

    tenant = world.ctx.tenant
    world.ctx.erp = JstErp(world.jst, tenant.model_copy(update={
        "order_centre": tenant.order_centre.model_copy(update={"cod_from_order": False})}))
    asked = len(world.jst.orders_asked)
    world.jst.add(700014, pay_amount="59.00")
    world.jst.orders[701014] = {"is_cod": True, "pay_amount": "59.00", "paid_amount": "0"}
    s1.poll_jst_outbound(world.ctx)
    assert len(world.jst.orders_asked) == asked and "cod_amount" not in world.order(700014)


def test_a_shipped_cod_order_waits_for_its_money_and_is_overdue_after_n_days(world):
    cod_outbound(world, 700001)
    s1.poll_jst_outbound(world.ctx)
    ship(world, 700001)  # shipped at 2026-11-30 11:00 (+08:00); the clock is pinned, not today's
    shipped_at = datetime(2026, 11, 30, 11, tzinfo=timezone(timedelta(hours=8)))
    world.ctx.now = lambda: shipped_at + timedelta(days=2, hours=23)
    [record] = cod.problems(world.ctx, include_all=True)
    assert (record["expected"], record["status"], record["store_code"]) == ("179.00", "uncollected", "S001")
    assert cod.reconcile(world.ctx) == {"mismatch": 0, "overdue": 0}
    later = shipped_at + timedelta(days=3, minutes=1)
    world.ctx.now = lambda: later
    assert cod.reconcile(world.ctx) == {"mismatch": 0, "overdue": 1}
    assert world.ctx.metric.values["CodOverdue"] == 1
    [overdue] = cod.problems(world.ctx)
    assert (overdue["io_id"], overdue["missing"]) == ("700001", "179.00")


def test_the_collection_is_recorded_once_and_a_different_second_report_changes_nothing(world):
    cod_outbound(world, 700001)
    s1.poll_jst_outbound(world.ctx)
    ship(world, 700001)
    when = datetime(2026, 11, 30, 15, tzinfo=timezone.utc)
    assert cod.record_collection(world.ctx, "700001", amount="179.00", method="cash", at=when,
                                 source="payment.collected") == "collected"
    cod.record_collection(world.ctx, "700001", amount="179.00", method="cash", at=when, source="payment.collected")
    cod.record_collection(world.ctx, "700001", amount="100.00", method="cash", at=when, source="payment.collected")
    assert [f.amount for f in world.ctx.ledger.of_kind("cod.collected")] == [179]
    assert world.ctx.timeline.steps("700001").count("cod.collected") == 1
    assert "cod.reported_again" in world.ctx.timeline.steps("700001")
    assert cod.problems(world.ctx) == []


def test_a_short_collection_is_a_mismatch_that_raises_the_alarm(world):
    cod_outbound(world, 700001)
    s1.poll_jst_outbound(world.ctx)
    cod.handed_over(world.ctx, "700001", how="picked_up", at=datetime(2026, 11, 30, 9, tzinfo=timezone.utc),
                    collected=SimpleNamespace(amount="150.00", method="wechat"))
    assert cod.reconcile(world.ctx) == {"mismatch": 1, "overdue": 0}
    [mismatch] = cod.problems(world.ctx)
    assert (mismatch["status"], mismatch["missing"], mismatch["method"]) == ("mismatch", "29.00", "wechat")
    [fact] = world.ctx.ledger.of_kind("cod.collected")
    assert (fact.store_code, fact.payment, fact.reason) == ("S001", "wechat", "fulfilment.picked_up")


def test_o2o_cod_list_shows_what_to_look_at_from_the_stored_records(aws, capsys):
    from o2o_bridge import runtime
    from o2o_bridge.cli import main as o2o
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    from .conftest import s1_tenant

    runtime.state_store().put(s1_tenant())
    records = RecordView(runtime.state_store())
    records.put("10010", cod.COD_KIND, "700001", {"io_id": "700001", "expected": "179.00", "collected": "150.00",
                                                  "status": "mismatch", "store_code": "S001",
                                                  "handed_at": "2026-11-30T11:00:00+08:00"})
    records.put("10010", cod.COD_KIND, "700002", {"io_id": "700002", "expected": "99.00", "collected": "99.00",
                                                  "status": "collected", "store_code": "S002",
                                                  "handed_at": "2026-11-30T11:00:00+08:00"})
    # S2: a store order the warehouse shipped COD two weeks ago, its money never reported.
    records.put("10010", cod.COD_KIND, "order:WM4001", {"io_id": "order:WM4001", "order_no": "WM4001",
                                                        "expected": "307.00", "collected": None, "store_code": None,
                                                        "status": "uncollected", "how": "warehouse_shipped",
                                                        "handed_at": "2026-11-18T10:00:00+08:00"})
    # A record the reconciliation cannot read (it parks it): shown, with the reason, never guessed at.
    records.put("10010", cod.COD_KIND, "700003", {"io_id": "700003", "expected": "一百", "collected": None,
                                                  "status": "uncollected", "handed_at": "2026-11-30T11:00:00+08:00"})
    assert o2o(["cod", "list"]) == 0
    out = capsys.readouterr().out
    assert "700001  tenant=10010 store=S001 status=mismatch expected=179.00 collected=150.00 missing=29.00" in out
    assert "store order WM4001  tenant=10010 store=- status=overdue expected=307.00 collected=- missing=307.00" in out
    assert "700003  tenant=10010 store=- status=unreadable" in out and "expected '一百' is not an amount" in out
    assert "700002" not in out and "3 COD order(s) to look at" in out
    assert o2o(["cod", "list", "--all", "--json"]) == 0
    import json

    assert [row["io_id"] for row in json.loads(capsys.readouterr().out)] == ["700001", "700002", "700003",
                                                                            "order:WM4001"]


def test_the_rounds_of_the_documents_poll_reconcile_cod(world):
    from o2o_bridge.flows import order_centre

    assert order_centre.rounds(world.ctx)["cod"] == {"mismatch": 0, "overdue": 0}


def test_the_store_gets_the_amount_to_collect_and_reports_it_on_the_shipped_event(world):
    cod_outbound(world, 700001)
    s1.poll_jst_outbound(world.ctx)
    assert world.store.current(700001)["cod"] == {"amount": "179.00"}
    fulfilment = world.store.current(700001)
    shipped = world.event("fulfilment.shipped", fulfilment_id=fulfilment["fulfilment_id"], external_id="700001",
                          carrier_code="SF", tracking_no="SF1", shipped_at="2026-11-30T11:00:00+08:00",
                          cod_collected={"amount": "179.00", "method": "cash"})
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll confirms it in JST
    [record] = cod.problems(world.ctx, include_all=True)
    assert (record["status"], record["collected"], record["method"]) == ("collected", "179.00", "cash")
    [fact] = world.ctx.ledger.of_kind("fulfilment.shipped")
    assert str(fact.cod_amount) == "179.00"


def test_payment_collected_names_the_online_order_or_a_store_order(world):
    import pytest

    from o2o_bridge.errors import UnprocessableRequest

    cod_outbound(world, 700001)
    s1.poll_jst_outbound(world.ctx)
    ship(world, 700001)
    paid = world.event("payment.collected", external_id="700001", amount="179.00", method="wechat",
                       collected_at="2026-12-01T10:00:00+08:00")
    cod.on_payment_collected(paid, world.ctx)
    assert cod.problems(world.ctx) == []
    unknown = world.event("payment.collected", external_id="799999", amount="1.00", method="cash",
                          collected_at="2026-12-01T10:00:00+08:00")
    with pytest.raises(UnprocessableRequest, match="799999"):
        cod.on_payment_collected(unknown, world.ctx)
    store_order = world.event("payment.collected", order_no="WM-1", amount="59.00", method="cash",
                              collected_at="2026-12-01T10:00:00+08:00")
    cod.on_payment_collected(store_order, world.ctx)
    assert [f.doc_no for f in world.ctx.ledger.of_kind("cod.collected")] == ["700001", "order:WM-1"]
