"""S2 货到付款: a store order the warehouse ships COD is uploaded to JST unpaid for the COD part,
labelled and remarked so the warehouse collects it, and awaited for the reconciliation."""

from __future__ import annotations

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
    s2.on_order_warehouse_requested(cod_order("WM2001", "307.00"), world.tenant)
    upload = world.jst.orders["WM2001"]["upload"]
    assert str(upload.pay_amount) == "507.00" and str(upload.pay.amount) == "200.00"
    assert "货到付款" in upload.labels and upload.remark.startswith("货到付款 代收 307.00 元")
    [waiting] = cod.problems(world.ctx, include_all=True)
    assert (waiting["io_id"], waiting["expected"], waiting["status"]) == ("order:WM2001", "307.00", "uncollected")


def test_an_order_entirely_on_delivery_has_no_pay_line_and_a_plain_order_is_unchanged(monkeypatch):
    world = World(monkeypatch)
    s2.on_order_warehouse_requested(cod_order("WM2002", "507.00"), world.tenant)
    assert world.jst.orders["WM2002"]["upload"].pay is None
    s2.on_order_warehouse_requested(order_requested("WM2003"), world.tenant)
    plain = world.jst.orders["WM2003"]["upload"]
    assert plain.pay.amount == plain.pay_amount and not plain.labels and not plain.remark
