"""Response models: decimal strings, unknown fields, every endpoint's record shape."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from o2o_bridge.connectors.jushuitan import models as m


def test_quantities_parse_decimal_strings_and_extra_fields_are_kept():
    row = m.SalesOutbound.model_validate({
        "io_id": 1, "status": "WaitConfirm", "ts": 5, "ClusterInfos": [{"a": 1}], "pay_amount": "12.3400",
        "items": [{"sku_id": 123, "qty": "2.0000", "unknown": True}],
    })
    assert row.items[0].qty == Decimal("2") and row.items[0].sku_id == "123"
    assert row.pay_amount == Decimal("12.34")
    assert row.model_extra["ClusterInfos"] == [{"a": 1}]


@pytest.mark.parametrize("model, record", [
    (m.Order, {"o_id": 1, "status": "Sent", "items": [{"sku_id": "A", "qty": 1.5}]}),
    (m.LogisticOrder, {"o_id": 1, "l_id": "SF1", "items": [{"sku_id": "A", "qty": "1"}]}),
    (m.Inventory, {"sku_id": "A", "qty": "1.0000", "virtual_qty": None, "customize_qty_1": ""}),
    (m.OtherInOut, {"io_id": 1, "status": "Confirmed", "items": [{"sku_id": "A", "qty": "1"}]}),
    (m.AfterSaleReceived, {"io_id": 1, "as_id": 2, "items": [{"sku_id": "A", "qty": 1}]}),
    (m.Sku, {"sku_id": "A", "sale_price": "9.9", "enabled": 1}),
    (m.MallItem, {"i_id": "I1", "skus": [{"sku_id": "A", "sale_price": 1}]}),
    (m.Shop, {"shop_id": 133242, "shop_site": "商家自有商城"}),
    (m.WmsPartner, {"wms_co_id": 10001, "name": "店加线下仓", "is_main": False}),
    (m.LogisticsCompany, {"lc_id": 1001, "lc_name": "顺丰"}),
    (m.UploadResult, {"issuccess": True, "o_id": 1, "so_id": "P1"}),
])
def test_every_record_model_reads_a_typical_record(model, record):
    model.model_validate({**record, "a_field_jst_added_later": 1})


def test_inventory_empty_values_default_to_zero_only_when_absent():
    inv = m.Inventory.model_validate({"sku_id": "A"})
    assert inv.qty == 0
    with pytest.raises(ValidationError):
        m.Inventory.model_validate({"sku_id": "A", "qty": "abc"})


def test_a_missing_key_field_is_refused():
    with pytest.raises(ValidationError):
        m.SalesOutbound.model_validate({"status": "WaitConfirm"})


def test_requests_refuse_unknown_fields_and_enforce_documented_maxima():
    with pytest.raises(ValidationError):
        m.WmsSent(io_id=1, lc_id="SF", l_id="1", typo=True)
    with pytest.raises(ValidationError):
        m.InventoryV2Upload(wms_co_id=1, so_id="x", items=[m.StockItem(sku_id="A", qty=1)] * 501)
    with pytest.raises(ValidationError):
        m.OrderCancel(o_ids=list(range(51)), cancel_type="x")
    assert m.Shop(shop_id=1, shop_site="商家自有商城").is_self_mall
