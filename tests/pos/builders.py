"""Typed requests for the tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from o2o_bridge.connectors.store import models as m

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 22, 15, 0, tzinfo=CST)


def fulfilment(io_id: int = 2026112200001, store: str = "S001") -> m.FulfilmentOrder:
    return m.FulfilmentOrder(
        external_id=io_id, jst_o_id=8800001, platform_order_id="TB-20261122-0001", store_code=store,
        delivery="express",
        receiver=m.Receiver(name="张三", mobile="13800000000", province="上海市", city="上海市", district="静安区",
                            address="南京西路 1 号"),
        items=[m.FulfilmentItem(sku_id="SKU-RED-M", qty=1, name="红色T恤 M", price="99.00")],
    )


def shipment(tracking_no: str = "SF1234567890") -> m.Shipment:
    return m.Shipment(carrier_code="SF", carrier_name="顺丰速运", tracking_no=tracking_no, shipped_at=T0,
                      items=[m.SkuQty(sku_id="SKU-RED-M", qty=2)])


def product(sku: str = "SKU-NEW-S", *, retail: str | None = "99.00") -> m.Product:
    return m.Product(spu_code="TS009", sku_code=sku, barcode="6901234567890", name="新品T恤", color="白色", size="S",
                     brand="示例", category="T恤", cost_price="30.00", tag_price="129.00", retail_price=retail,
                     attributes={"year": "2026", "season": "秋"})


OPTIONS = m.ProductOptions(auto_create=True, category_once=False, mount_category="服装", spec_template="颜色尺码")
