"""货位管理 (bin management) over the JST sandbox, which behaves as JST does there: a ``type=check``
count zeroes every SKU of the warehouse it does not list. The bridge's uploads into a warehouse
the tenant states as bin-managed never zero the SKUs they do not send."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from o2o_bridge.connectors.jushuitan.erp import JstErp
from o2o_bridge.ports.erp import StoreCount
from o2o_bridge.ports.warehouse import SkuQty
from o2o_bridge.tenant import parse_tenant

DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"
OFFLINE, STORE_WMS = 10001, 10011


def erp_for(h, *, bins, master="pos"):
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc["jushuitan"]["bin_managed_wms_co_ids"] = bins
    doc["stock"]["master"] = master
    if master == "erp":
        doc["warehouses"].append({"jst_wms_co_id": STORE_WMS, "pos_warehouse_code": "S001"})
    return JstErp(h.api, parse_tenant(doc))


def stock(jst, wms):
    return {row["sku_id"]: row["qty"] for row in jst.state.snapshot("inventory") if row["wms_co_id"] == wms}


@pytest.fixture
def bins(jst):
    jst.seed(warehouses=[{"wms_co_id": OFFLINE, "name": "店加线下仓", "bin_managed": True},
                         {"wms_co_id": STORE_WMS, "name": "S001 门店仓", "bin_managed": True}])
    for wms in (OFFLINE, STORE_WMS):
        jst.set_stock(wms, "TS001-WHT-M", qty=5)
        jst.set_stock(wms, "TS001-WHT-L", qty=4)
    return jst


def test_the_stores_sum_into_a_bin_managed_offline_warehouse_leaves_the_skus_it_does_not_send(h, bins):
    before = stock(bins, OFFLINE)
    erp_for(h, bins=[OFFLINE]).upload_store_stock("S4-BIN-1", [SkuQty("TS001-WHT-M", 2)], remark="店+ stock")
    assert stock(bins, OFFLINE) == {**before, "TS001-WHT-M": 2} and before["TS001-WHT-L"] == 4
    [upload] = h.wire.biz("/open/jushuitan/inventoryv2/upload")
    assert upload["type"] == "adjust" and upload["items"] == [{"sku_id": "TS001-WHT-M", "qty": -3}]


def test_a_stores_count_into_its_bin_managed_jst_warehouse_changes_only_the_counted_skus(h, bins):
    erp = erp_for(h, bins=[STORE_WMS], master="erp")
    before = stock(bins, STORE_WMS)
    erp.book_store_count(StoreCount(count_no="PD-BIN-1", store_code="S001", counted=(SkuQty("TS001-WHT-L", 7),),
                                    remark="盘点单 PD-BIN-1"))
    assert stock(bins, STORE_WMS) == {**before, "TS001-WHT-L": 7} and before["TS001-WHT-M"] == 5


def test_an_unstated_bin_managed_warehouse_is_what_the_doctor_warns_about(h, bins):
    """Without the fact the upload is a type=check and the sandbox, as JST, zeroes the SKU not sent."""
    erp_for(h, bins=None).upload_store_stock("S4-BIN-2", [SkuQty("TS001-WHT-M", 2)], remark="店+ stock")
    after = stock(bins, OFFLINE)
    assert after["TS001-WHT-M"] == 2 and after["TS001-WHT-L"] == 0
