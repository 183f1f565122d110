"""The guide's 销退仓: after-sale uploads name it, and its stock reaches the 店+ warehouse coded 2."""

from __future__ import annotations

from o2o_bridge.flows import stock_sync
from o2o_bridge.flows import warehouse_orders as s2

from .conftest import order_requested, return_requested


def test_a_store_return_names_the_sales_return_warehouse_in_its_after_sale_upload(world):
    s2.on_order_warehouse_requested(order_requested("WM1001"), world.ctx)
    s2.on_return_requested(return_requested(), world.ctx)
    upload = world.jst.aftersales["RT1001"]["upload"]
    assert upload.warehouse_type == 2
    assert upload.model_dump(exclude_none=True)["warehouse_type"] == 2  # what goes to JST
