"""The 奇门 WMS as the bridge's warehouse, end to end below the ERP-neutral flows: documents
created at the WMS sandbox, its signed confirms read by the bridge's callback reading and
taken by the cloud-warehouse flow (the neutral flows replaced by a recorder)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import httpx
import pytest

from fakes import FakeTenants, fake_context
from o2o_bridge.connectors.qimen.client import QimenClient
from o2o_bridge.connectors.qimen.errors import QimenTransientError
from o2o_bridge.connectors.qimen.factory import credentials_of
from o2o_bridge.connectors.qimen.inbound import CallbackRefused, read_callback
from o2o_bridge.connectors.qimen.warehouse import CancelRefused, QimenWarehouse
from o2o_bridge.events.models import parse_event
from o2o_bridge.flows import cloud_warehouse, kit
from o2o_bridge.tenant import parse_tenant
from o2o_local.qimen_sandbox import QimenSandbox
from qimen_wms import cloud_doc
from recording_receiver import RecordingReceiver

from .test_cloud_warehouse_flow import Recorder


def event(kind: str, data: dict):
    return parse_event({"event_id": f"evt-{uuid.uuid4().hex[:8]}", "ent_id": "10020", "type": kind,
                        "occurred_at": "2026-12-02T10:00:00+08:00", "data": data}).data


ORDER = {"order_no": "WM1", "receiver": {"name": "张三", "mobile": "13800000000", "province": "上海市", "city": "上海市",
                                         "district": "静安区", "address": "南京西路1号"},
         "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 2, "price": "99.00", "amount": "198.00"},
                   {"line_no": "2", "sku_id": "JN002-BLU-30", "qty": 1, "price": "299.00", "amount": "299.00"}],
         "pay_amount": "507.00", "freight": "10.00", "paid_at": "2026-12-02T10:00:00+08:00"}


@pytest.fixture
def world(monkeypatch):
    tenant = parse_tenant(cloud_doc())
    ctx = fake_context(tenant)
    monkeypatch.setattr(kit, "context_for", lambda t: ctx)
    recorder = Recorder()
    for kind in list(cloud_warehouse.HAND_OVER):
        monkeypatch.setitem(cloud_warehouse.HAND_OVER, kind, recorder.for_kind(kind))

    def bridge(request):
        try:
            call = read_callback(request.query, request.raw, FakeTenants(tenant), None, datetime.now(timezone.utc))
            return 200, cloud_warehouse.on_wms_message(call)
        except CallbackRefused as refused:
            return 200, {"refused": refused.code}

    receiver = RecordingReceiver(bridge)
    with QimenSandbox(bridge_url=receiver.url) as wms:
        doc = cloud_doc()
        doc["qimen"]["gateway_url"] = wms.gateway_url
        ctx.tenant = parse_tenant(doc)
        client = QimenClient(credentials_of(ctx.tenant.qimen, None), http=httpx.Client(timeout=5))
        yield SimpleNamespace(ctx=ctx, wms=wms, recorder=recorder, warehouse=QimenWarehouse(ctx, client))
    receiver.close()


def test_a_cod_order_is_created_and_shipped_in_two_parcels(world):
    order = event("order.warehouse_requested", ORDER).model_copy(update={"cod": SimpleNamespace(amount=507)})
    created = world.warehouse.submit_order(order)
    wms_doc = world.wms.state.documents["WM1"]
    assert created["wms_id"] == wms_doc.wms_id
    assert wms_doc.plan == {"TS001-WHT-M": 2, "JN002-BLU-30": 1}
    assert wms_doc.head["orderFlag"] == "COD" and wms_doc.head["arAmount"] == "507.00"
    assert wms_doc.head["sourcePlatformCode"] == "POS" and wms_doc.order_type == "JYCK"
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])
    world.wms.ship("WM1", [{"tracking_no": "SF2", "items": {"TS001-WHT-M": 1, "JN002-BLU-30": 1}}])
    assert [(c[3], c[2]) for c in world.recorder.calls] == [
        ("SF1", {"TS001-WHT-M": 1}), ("SF2", {"TS001-WHT-M": 1, "JN002-BLU-30": 1})]
    assert cloud_warehouse.document(world.ctx, "WM1")["final"] is True


def test_a_duplicated_confirm_and_an_extra_parcel_take_no_second_effect(world):
    world.warehouse.submit_order(event("order.warehouse_requested", ORDER))
    world.wms.ship("WM1", duplicate=True)
    world.wms.ship("WM1", [{"tracking_no": "SF9", "items": {"TS001-WHT-M": 1}}])  # beyond the order
    assert world.recorder.totals("delivery", "WM1") == {"TS001-WHT-M": 2, "JN002-BLU-30": 1}
    [exception] = cloud_warehouse.exceptions_to_show(world.ctx)
    assert exception["excess"] == {"TS001-WHT-M": 1}


def test_a_cancel_refused_because_shipped_is_an_exception(world):
    world.warehouse.submit_order(event("order.warehouse_requested", ORDER))
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])
    with pytest.raises(CancelRefused, match="已发货"):
        world.warehouse.cancel_order("WM1", "顾客取消")
    [exception] = cloud_warehouse.exceptions_to_show(world.ctx)
    assert exception["reason"] == "cancel_refused" and exception["store_key"] == "WM1"


def test_a_cancel_before_shipping_is_done(world):
    world.warehouse.submit_order(event("order.warehouse_requested", ORDER))
    assert world.warehouse.cancel_order("WM1", "顾客取消")["cancelled"] is True
    assert world.wms.state.documents["WM1"].status == "CANCELED"


def test_return_transfer_and_warehouse_return_round_trips(world):
    world.warehouse.submit_return(event("return.requested", {
        "return_no": "RT1", "order_no": "WM1", "type": "return",
        "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]}))
    world.warehouse.send_to_store(event("transfer.submitted", {
        "doc_no": "PH1", "store_code": "S001", "items": [{"sku_id": "JN002-BLU-30", "qty": 4}], "remark": "补货"}))
    world.warehouse.take_back(event("warehouse_return.submitted", {
        "doc_no": "TC1", "store_code": "S001", "items": [{"sku_id": "TS001-WHT-L", "qty": 3}], "remark": ""}))
    assert world.wms.state.documents["PH1"].order_type == "DBCK"
    assert world.wms.state.documents["PH1"].head["remark"] == "补货"
    assert world.wms.state.documents["TC1"].order_type == "DBRK"
    world.wms.receive("RT1")
    world.wms.ship("PH1")
    world.wms.receive("TC1", {"TS001-WHT-L": 1})
    world.wms.receive("TC1")
    assert world.recorder.totals("return", "RT1") == {"TS001-WHT-M": 1}
    assert world.recorder.totals("stockout", "PH1") == {"JN002-BLU-30": 4}
    assert [c[2] for c in world.recorder.calls if c[0] == "entry"] == [{"TS001-WHT-L": 1}, {"TS001-WHT-L": 2}]


def test_stock_is_read_in_batches_and_reports_ask_for_a_reread(world):
    skus = ["TS001-WHT-M", "JN002-BLU-30"] + [f"X{n:03d}" for n in range(118)]
    levels = world.warehouse.read_stock(skus)
    assert levels["TS001-WHT-M"] == 50 and levels["X000"] == 0 and len(levels) == 120
    assert len(world.wms.state.calls) == 3
    world.wms.change_stock({"TS001-WHT-M": 44})
    world.wms.count_stock({"JN002-BLU-30": 19})
    assert [c for c in world.recorder.calls if c[0] == "stock"] == [
        ("stock", "", {"skus": ["TS001-WHT-M"]}, None), ("stock", "", {"skus": ["JN002-BLU-30"]}, None)]


def test_products_go_to_the_wms_in_batches(world):
    products = [SimpleNamespace(sku_code=f"P{n:03d}", name=f"商品{n}", barcode="69000", color="白", size="M",
                                brand="示例", category="T恤", spu_code="P", retail_price="99.00", tag_price=None,
                                cost_price=None) for n in range(60)]
    assert world.warehouse.sync_items(products) == 60
    assert len(world.wms.state.items) == 60 and world.wms.state.items["P059"]["itemName"] == "商品59"
    assert len(world.wms.state.calls) == 2


def test_a_transient_failure_remembers_nothing_and_a_retry_creates_one_document(world):
    world.wms.faults["script"] = [{"kind": "http"}]
    order = event("order.warehouse_requested", ORDER)
    with pytest.raises(QimenTransientError):
        world.warehouse.submit_order(order)
    assert cloud_warehouse.document(world.ctx, "WM1") is None
    world.warehouse.submit_order(order)
    world.warehouse.submit_order(order)  # a replay after a lost answer
    assert list(world.wms.state.documents) == ["WM1"]


class StoreStock:
    """店+ P6 as the versioned S3 step calls it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, tuple[int, int]]]] = []

    def set_warehouse_stock(self, code, levels, *, business_key=None):
        self.calls.append((code, {level.sku_id: (level.qty, level.version) for level in levels}))


def test_a_stock_report_is_a_signal_to_read_again_and_set_absolute_levels_at_the_store(world, monkeypatch):
    monkeypatch.setitem(cloud_warehouse.HAND_OVER, "stock", cloud_warehouse._reread_after_report)
    world.ctx.store = StoreStock()
    world.ctx.extras["qimen"] = world.warehouse.client
    clock = [datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)]
    world.ctx.now = lambda: clock[0]
    world.wms.change_stock({"TS001-WHT-M": 44})                  # reported as -6
    clock[0] = datetime(2026, 12, 2, 6, 5, tzinfo=timezone.utc)
    world.wms.count_stock({"TS001-WHT-M": 40, "JN002-BLU-30": 21})  # a count: -4, +1
    first, second = world.ctx.store.calls
    assert first[0] == "20000" and first[1] == {"TS001-WHT-M": (44, 1796191200000)}
    assert second[1] == {"TS001-WHT-M": (40, 1796191500000), "JN002-BLU-30": (21, 1796191500000)}


def test_an_older_read_never_overwrites_a_newer_level(world):
    world.ctx.store = StoreStock()
    world.ctx.extras["qimen"] = world.warehouse.client
    world.ctx.now = lambda: datetime(2026, 12, 2, 6, 5, tzinfo=timezone.utc)
    cloud_warehouse.reread_stock(world.ctx, {"skus": ["TS001-WHT-M"]})
    world.wms.state.stock["TS001-WHT-M"] = 1
    world.ctx.now = lambda: datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)  # a late, older read
    result = cloud_warehouse.reread_stock(world.ctx, {"skus": ["TS001-WHT-M"]})
    assert result["stale"] == 1 and len(world.ctx.store.calls) == 1


def test_the_scheduled_runs_read_every_sku_the_wms_may_hold(world):
    world.ctx.store = StoreStock()
    world.ctx.extras["qimen"] = world.warehouse.client
    world.warehouse.submit_order(event("order.warehouse_requested", ORDER))
    world.warehouse.sync_items([SimpleNamespace(sku_code="TS001-WHT-L", name="T恤 L")])
    result = cloud_warehouse.read_all_stock(world.ctx)
    assert result == {"skus": 3, "applied": 3, "queued_chunks": 0}
    [(code, levels)] = world.ctx.store.calls
    assert {sku: qty for sku, (qty, _) in levels.items()} == {"TS001-WHT-M": 50, "JN002-BLU-30": 20, "TS001-WHT-L": 30}


def test_a_tenant_whose_warehouse_is_the_erp_is_not_read(world):
    world.ctx.tenant = world.ctx.tenant.model_copy(update={"warehouse": "erp"})
    assert cloud_warehouse.read_all_stock(world.ctx) == {"skipped": "warehouse is not qimen"}


def product(sku: str, name: str = "T恤", **changes) -> dict:
    return {"spu_code": sku.split("-")[0], "sku_code": sku, "barcode": "6900000000011", "name": name, "color": "白色",
            "size": "M", "brand": "示例", "category": "T恤", "cost_price": "35.00", "tag_price": "129.00",
            "retail_price": "99.00", "attributes": {}, **changes}


def test_product_changes_reach_the_wms_as_add_then_update(world):
    world.ctx.extras["qimen"] = world.warehouse.client
    changed = SimpleNamespace(data=SimpleNamespace(items=[SimpleNamespace(model_dump=lambda mode: product("TS001-WHT-M"))]))
    assert cloud_warehouse.on_product_changed(changed, world.ctx.tenant) == {"added": 1, "updated": 0}
    assert world.wms.state.items["TS001-WHT-M"]["actionType"] == "add"
    renamed = SimpleNamespace(data=SimpleNamespace(items=[SimpleNamespace(
        model_dump=lambda mode: product("TS001-WHT-M", name="纯棉T恤"))]))
    assert cloud_warehouse.on_product_changed(renamed, world.ctx.tenant) == {"added": 0, "updated": 1}
    item = world.wms.state.items["TS001-WHT-M"]
    assert (item["actionType"], item["itemName"], item["barCode"], item["retailPrice"]) == ("update", "纯棉T恤",
                                                                                              "6900000000011", "99.00")


def test_a_refused_product_change_is_parked_with_its_reason(world):
    world.ctx.extras["qimen"] = world.warehouse.client
    world.wms.faults["script"] = [{"kind": "failure", "code": "item-invalid"}]
    changed = SimpleNamespace(data=SimpleNamespace(items=[SimpleNamespace(model_dump=lambda mode: product("X-1"))]))
    result = cloud_warehouse.on_product_changed(changed, world.ctx.tenant)
    assert result["outcome"] == "dead_lettered" and "item-invalid" in result["reason"]
    assert len(world.ctx.queue.dead) == 1


def test_products_the_erp_sends_to_the_store_also_go_to_the_wms(world):
    from flows_transfers.s5_s7_fakes import FakeJst, FakeStore
    from o2o_bridge.flows import products

    now = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
    world.ctx.jst, world.ctx.store, world.ctx.now = FakeJst(), FakeStore(), lambda: now
    world.ctx.extras["qimen"] = world.warehouse.client
    for n in range(3):
        world.ctx.jst.add_sku(f"TS-{n}", now - timedelta(minutes=30), name=f"T恤 {n}", sale_price="99")
    summary = products.sync_products(world.ctx)
    assert (summary["sent"], summary["failed"]) == (3, 0)
    assert sorted(world.wms.state.items) == ["TS-0", "TS-1", "TS-2"]
    assert sorted(world.ctx.store.products) == ["TS-0", "TS-1", "TS-2"]
    world.wms.faults["script"] = [{"kind": "failure", "code": "item-invalid"}]
    world.ctx.jst.add_sku("TS-9", now - timedelta(minutes=10), name="新品", sale_price="59")
    summary = products.sync_products(world.ctx)
    assert summary["failed"] == 1 and "TS-9" not in world.wms.state.items
    assert "the cloud WMS refused it" in world.ctx.records.get("10020", products.FAILED, "TS-9").data["error"]


def test_a_product_changed_event_as_the_store_sends_it(world):
    world.ctx.extras["qimen"] = world.warehouse.client
    changed = event("product.changed", {"items": [product("JN002-BLU-30", name="直筒牛仔裤")]})
    assert cloud_warehouse.on_product_changed(SimpleNamespace(data=changed), world.ctx.tenant) == {"added": 1,
                                                                                                    "updated": 0}
    assert world.wms.state.items["JN002-BLU-30"]["itemName"] == "直筒牛仔裤"
