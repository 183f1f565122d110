"""S2 货到付款: a store order the warehouse ships COD is uploaded to JST unpaid for the COD part,
labelled and remarked so the warehouse collects it, and awaited for the reconciliation."""

from __future__ import annotations

import pytest

from flows_s2.conftest import World, order_requested
from o2o_bridge.flows import cash_on_delivery as cod
from o2o_bridge.flows import warehouse_orders as s2


def cod_order(order_no: str, amount: str):
    event = order_requested(order_no)  # pay_amount 507.00
    data = event.data.model_copy(update={"cod": type(event.data).model_fields["cod"].annotation.__args__[0](
        amount=amount)})
    return event.model_copy(update={"data": data})


def test_a_cod_store_order_is_uploaded_unpaid_for_what_the_courier_collects(monkeypatch):
    world = World(monkeypatch)
    s2.on_order_warehouse_requested(cod_order("WM2001", "307.00"), world.ctx)
    upload = world.jst.orders["WM2001"]["upload"]
    assert str(upload.pay_amount) == "507.00" and str(upload.pay.amount) == "200.00"
    assert "货到付款" in upload.labels and upload.remark.startswith("货到付款 代收 307.00 元")
    [waiting] = cod.problems(world.ctx, include_all=True)
    assert (waiting["io_id"], waiting["expected"], waiting["status"]) == ("order:WM2001", "307.00", "uncollected")


def test_an_order_entirely_on_delivery_has_no_pay_line_and_a_plain_order_is_unchanged(monkeypatch):
    world = World(monkeypatch)
    s2.on_order_warehouse_requested(cod_order("WM2002", "507.00"), world.ctx)
    assert world.jst.orders["WM2002"]["upload"].pay is None
    s2.on_order_warehouse_requested(order_requested("WM2003"), world.ctx)
    plain = world.jst.orders["WM2003"]["upload"]
    assert plain.pay.amount == plain.pay_amount and not plain.labels and not plain.remark


def test_store_order_parcels_and_cancels_are_ledger_facts_once(monkeypatch):
    from datetime import datetime, timezone

    from fakes import drain_retries
    from o2o_bridge.connectors.jushuitan.inbound import JstPush

    world = World(monkeypatch)

    def push(body):
        return JstPush("10010", "133242", {}, body, "", world.tenant, "token")

    s2.on_order_warehouse_requested(order_requested("WM3001"), world.ctx)
    parcel = world.jst.ship("WM3001", "SF301", [("1", "TS001-WHT-M", 2)], datetime.now(timezone.utc))
    for _ in range(3):
        s2.recheck_shipments(world.ctx, *push(parcel).named_shipments())
    s2.on_order_warehouse_requested(order_requested("WM3002"), world.ctx)
    cancel = world.jst.cancel_in_jst("WM3002", "缺货")
    for _ in range(2):
        s2.recheck_cancels(world.ctx, push(cancel).named_cancels())
    drain_retries(world.ctx)
    kinds = [(f.kind, f.doc_no) for f in world.ctx.ledger.facts]
    assert kinds == [("store_order.shipped", "WM3001"), ("store_order.cancelled", "WM3002")]
    [shipped] = world.ctx.ledger.of_kind("store_order.shipped")
    assert [(line.sku_id, line.qty) for line in shipped.lines] == [("TS001-WHT-M", 2)]
    assert world.ctx.ledger.of_kind("store_order.cancelled")[0].reason == "缺货"


def test_a_cod_store_order_shipped_and_not_collected_in_time_is_overdue_and_listed(monkeypatch):
    from datetime import datetime, timedelta, timezone

    from o2o_bridge.connectors.jushuitan.inbound import JstPush

    world = World(monkeypatch)
    s2.on_order_warehouse_requested(cod_order("WM4001", "307.00"), world.ctx)
    s2.on_order_warehouse_requested(cod_order("WM4002", "100.00"), world.ctx)  # not shipped yet
    shipped_at = datetime.now(timezone.utc) - timedelta(hours=1)
    parcel = world.jst.ship("WM4001", "SF401", [("1", "TS001-WHT-M", 2)], shipped_at)
    s2.recheck_shipments(world.ctx, *JstPush("10010", "133242", {}, parcel, "", world.tenant, "token").named_shipments())
    [record] = [p for p in cod.problems(world.ctx, include_all=True) if p["io_id"] == "order:WM4001"]
    assert (record["status"], record["how"]) == ("uncollected", "warehouse_shipped")
    overdue_days = world.tenant.order_centre.cod_overdue_days
    world.ctx.now = lambda: datetime.fromisoformat(record["handed_at"]) + timedelta(days=overdue_days, minutes=1)
    assert cod.reconcile(world.ctx) == {"mismatch": 0, "overdue": 1}  # the unshipped one is not overdue
    [overdue] = cod.problems(world.ctx)
    assert (overdue["io_id"], overdue["status"], overdue["missing"]) == ("order:WM4001", "overdue", "307.00")
    # Once the store reports the courier's money, it is settled.
    cod.record_collection(world.ctx, "order:WM4001", amount="307.00", method="cash",
                          at=shipped_at + timedelta(days=1), source="payment.collected")
    assert cod.reconcile(world.ctx) == {"mismatch": 0, "overdue": 0}


def _jst_push(world, parcel) -> None:
    from o2o_bridge.connectors.jushuitan.inbound import JstPush

    s2.recheck_shipments(world.ctx, *JstPush("10010", "133242", {}, parcel, "", world.tenant, "token")
                         .named_shipments())


def _jst_poll(world, parcel) -> None:
    s2.recover_missed_pushes(world.ctx)  # the push was lost: the S2x poll finds the parcel


@pytest.mark.parametrize("told", [_jst_push, _jst_poll], ids=["JST push", "JST poll"])
def test_a_jst_warehouse_shipment_appends_the_same_facts_whoever_told(monkeypatch, told):
    """One way in (take_confirmations), whatever told: store_order.shipped once, the COD part
    handed to the courier. The 奇门 confirm's twin: tests/qimen/test_warehouse_over_sandbox.py."""
    from datetime import datetime, timedelta, timezone

    world = World(monkeypatch)
    s2.on_order_warehouse_requested(cod_order("WM5001", "307.00"), world.ctx)
    shipped_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    parcel = world.jst.ship("WM5001", "SF501", [("1", "TS001-WHT-M", 2), ("2", "JN002-BLU-30", 1)], shipped_at)
    for _ in range(2):
        told(world, parcel)
    [fact] = world.ctx.ledger.of_kind("store_order.shipped")
    assert (fact.doc_no, sorted((line.sku_id, line.qty) for line in fact.lines)) == (
        "WM5001", [("JN002-BLU-30", 1), ("TS001-WHT-M", 2)])
    [record] = cod.problems(world.ctx, include_all=True)
    assert (record["io_id"], record["how"], record["status"]) == ("order:WM5001", "warehouse_shipped", "uncollected")
    assert "cod.handed_over" in world.ctx.timeline.steps("WM5001")
