"""A 旺店通 tenant whose warehouse is a cloud WMS over 奇门 (``erp: wangdiantong`` with
``warehouse: qimen``): the WMS ships the store orders and holds the warehouse stock (Q1-Q5) while
旺店通 keeps the stores' books (W1-W5), each over its own sandbox, in one context as a Lambda
builds it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import yaml

from fakes import fake_context
from o2o_bridge.connectors.pacing import InMemoryRateLimiter, Window
from o2o_bridge.connectors.wangdiantong.api import WdtApi
from o2o_bridge.connectors.wangdiantong.client import WdtClient, WdtCredentials
from o2o_bridge.connectors.wangdiantong.erp import WdtErp
from o2o_bridge.connectors.wangdiantong.factory import limits_of
from o2o_bridge import wiring
from o2o_bridge.flows import erp_stock, erp_store_stock, stock_sync, warehouse_orders
from o2o_bridge.tenant import parse_tenant
from o2o_local.qimen_sandbox import QimenSandbox
from o2o_local.wdt_sandbox import WdtSandbox
from qimen_wms import TENANTS, cloud_doc

from .test_warehouse_over_sandbox import ORDER, Store, callback_receiver, event, sandbox_warehouse, shipped


def wdt_with_wms_doc(wdt_url: str, gateway_url: str, master: str = "erp") -> dict:
    doc = yaml.safe_load((TENANTS / "wdt-demo.yaml").read_text(encoding="utf-8"))
    doc["wangdiantong"]["base_url"] = wdt_url
    qimen = cloud_doc()["qimen"]
    doc.update(ent_id="10020", warehouse="qimen", qimen={**qimen, "gateway_url": gateway_url},
               stock={"master": master})
    return doc


@pytest.fixture
def world(monkeypatch):
    holder = SimpleNamespace()
    receiver = callback_receiver(holder)
    with QimenSandbox(bridge_url=receiver.url) as wms, WdtSandbox() as wdt:
        wdt.seed_demo()
        wdt.rate_limit.configure(enabled=False)
        tenant = parse_tenant(wdt_with_wms_doc(wdt.base_url, wms.gateway_url))
        section = tenant.wangdiantong
        client = WdtClient(WdtCredentials(wdt.base_url, section.sid, section.appkey,
                                          section.appsecret.get_secret_value()),
                           limiter=InMemoryRateLimiter("t", [Window(1, 10_000)]))
        ctx = fake_context(tenant, store=Store(), erp=WdtErp(WdtApi(client, limits_of(section)), tenant))
        ctx.warehouse = sandbox_warehouse(tenant, ctx)
        holder.ctx = ctx
        monkeypatch.setattr(wiring, "context_for", lambda t: ctx)
        yield SimpleNamespace(ctx=ctx, wms=wms, wdt=wdt, store=ctx.store, tenant=tenant)
    receiver.close()


def test_the_combination_is_a_valid_tenant_with_both_sections():
    tenant = parse_tenant(wdt_with_wms_doc("http://127.0.0.1:1/openapi2", "http://127.0.0.1:2/router/qimen/service"))
    assert (tenant.erp, tenant.warehouse, tenant.jushuitan) == ("wangdiantong", "qimen", None)
    assert tenant.qimen.warehouse_code == "WH01" and tenant.wangdiantong.shop_no == "POS01"


def test_store_orders_are_shipped_by_the_wms_and_a_lost_confirm_is_caught_up(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    assert world.wms.state.documents["WM1"].plan == {"TS001-WHT-M": 2, "JN002-BLU-30": 1}
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])
    world.wms.ship("WM1", [{"tracking_no": "SF2", "items": {"TS001-WHT-M": 1, "JN002-BLU-30": 1}}], drop=True)
    assert [s[1] for s in shipped(world)] == ["SF1"]
    now = world.ctx.now()
    world.ctx.now = lambda: now + timedelta(minutes=61)
    # The 旺店通 tenants' 10-minute document run asks the WMS for what it has been quiet about.
    from importlib import import_module
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions" / "poll_wdt_documents"))
    try:
        app = import_module("app")
        summary = app.follow_documents(world.ctx)
    finally:
        sys.path.pop(0)
        sys.modules.pop("app", None)
    assert summary["wms_catch_up"]["caught_up"] == ["WM1"] and summary["erp_documents"]["read"] == 0
    assert [s[1] for s in shipped(world)] == ["SF1", "SF2"]
    assert world.wdt.calls("trade_push.php") == []  # a store order shipped by the WMS is no 旺店通 trade


def test_the_wms_stock_is_read_hourly_and_the_erp_store_stock_only_at_0210(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    hourly = stock_sync.pull_warehouse_stock(world.ctx)
    assert list(hourly) == ["WH01"] and hourly["WH01"]["applied"] == 2  # the SKUs the WMS was given
    assert world.wdt.calls("stock_query.php") == []  # 旺店通's store-warehouse stock waits for 02:10
    world.ctx.erp.now = world.ctx.now
    nightly = erp_stock.nightly_erp_stock(world.ctx)
    assert sorted(nightly["read"]) == ["S101", "S102", "WH01"]
    shown = {code for code, _ in world.store.stock}
    assert shown == {world.tenant.qimen.store_warehouse_code, "S101", "S102"}  # the WMS's 店+ warehouse, the stores


def test_a_wms_stock_report_rereads_the_wms_even_with_the_erp_as_stock_master(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    world.wms.change_stock({"TS001-WHT-M": 44})
    (code, levels), = [entry for entry in world.store.stock if entry[0] == world.tenant.qimen.store_warehouse_code]
    assert levels["TS001-WHT-M"][0] == 44


def test_the_stores_books_still_go_to_wangdiantong(world):
    refunded = SimpleNamespace(event_id=f"e-{uuid.uuid4().hex[:6]}", type="sale.refunded", data=SimpleNamespace(
        refund_no="RF-1", sale_no="S1", store_code="S101", defective=False,
        items=[SimpleNamespace(sku_id="PIL-STD", qty=1)]))
    erp_store_stock.on_sale_refunded(refunded, world.ctx)
    (doc,) = world.wdt.state.stockins.values()
    assert doc["outer_no"] == "O2O-RF-1" and world.wdt.state.stock[("S101", "PIL-STD")]["stock_num"] == Decimal(9)


def test_q6_the_erp_s_products_reach_the_wms_by_the_backfill_and_the_hourly_run(world):
    """W4 with a cloud WMS: what the backfill creates at the store goes to the WMS (add), and the
    hourly run's name / price / barcode changes follow (update)."""
    from o2o_bridge.flows import erp_products
    from o2o_bridge.shanghai_time import SHANGHAI

    erp_products.backfill(world.ctx, datetime(2026, 10, 1, tzinfo=SHANGHAI))
    sent = world.wms.state.items
    assert "BLK-150" in sent and sent["BLK-150"]["actionType"] == "add"
    assert sent["BLK-150"]["itemName"] == "珊瑚绒毯" and sent["BLK-150"]["barCode"] == "6911000000021"
    world.wdt.put_goods(goods_no="BLK", goods_name="珊瑚绒毯 Pro",
                        spec_list=[{"spec_no": "BLK-150", "retail_price": 399, "barcode": "6911000000021"}])
    erp_products.sync_erp_products(world.ctx)
    assert (sent["BLK-150"]["actionType"], sent["BLK-150"]["itemName"]) == ("update", "珊瑚绒毯 Pro")
