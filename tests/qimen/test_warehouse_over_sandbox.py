"""Q1-Q6 end to end below the HTTP edge: the ERP-neutral flows (S2, S5/S6, S3, products) over
the 奇门 WMS as the tenant's warehouse, the WMS sandbox creating documents and sending its
signed confirms, read by the bridge's callback reading and taken by the cloud-warehouse flow;
the store system is in memory."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import httpx
import pytest

from fakes import FakeTenants, fake_context
from flows_s2.fakes import FakeStore as OrdersStore
from flows_transfers.s5_s7_fakes import FakeStore as DocumentsStore
from o2o_bridge import wiring
from o2o_bridge.connectors.qimen import ledger as qimen_ledger
from o2o_bridge.connectors.qimen.client import QimenClient
from o2o_bridge.connectors.qimen.errors import QimenTransientError
from o2o_bridge.connectors.qimen.factory import credentials_of
from o2o_bridge.connectors.qimen.inbound import CallbackRefused, read_callback
from o2o_bridge.connectors.qimen.warehouse import QimenWarehouse
from o2o_bridge.events.models import parse_event
from o2o_bridge.flows import cloud_warehouse, kit, stock_sync, store_transfers, warehouse_orders
from o2o_bridge.ports.warehouse import Receiver, StoreOrder, OrderLine, WarehouseRefused
from o2o_bridge.tenant import parse_tenant
from o2o_local.qimen_sandbox import QimenSandbox
from qimen_wms import cloud_doc
from recording_receiver import RecordingReceiver


class Store:
    """店+ in memory: P3-P5 (S2's fake), P10/P11 and P9 (S5-S7's fake), P6 recorded."""

    def __init__(self) -> None:
        self.orders, self.documents, self.stock = OrdersStore(), DocumentsStore(), []

    def set_warehouse_stock(self, code, levels, *, business_key=None):
        self.stock.append((code, {level.sku_id: (level.qty, level.version) for level in levels}))

    def __getattr__(self, name):
        for part in (self.orders, self.documents):
            if hasattr(part, name):
                return getattr(part, name)
        raise AttributeError(name)


def event(kind: str, data: dict):
    return parse_event({"event_id": f"evt-{uuid.uuid4().hex[:8]}", "ent_id": "10020", "type": kind,
                        "occurred_at": "2026-12-02T10:00:00+08:00", "data": data})


ORDER = {"order_no": "WM1", "receiver": {"name": "张三", "mobile": "13800000000", "province": "上海市", "city": "上海市",
                                         "district": "静安区", "address": "南京西路1号"},
         "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 2, "price": "99.00", "amount": "198.00"},
                   {"line_no": "2", "sku_id": "JN002-BLU-30", "qty": 1, "price": "299.00", "amount": "299.00"}],
         "pay_amount": "507.00", "freight": "10.00", "paid_at": "2026-12-02T10:00:00+08:00"}


def callback_receiver(holder: SimpleNamespace) -> RecordingReceiver:
    """/qimen/callback for the sandbox's WMS: each call read and authenticated as the handler
    reads it (for the tenant of ``holder.ctx``), then taken by the cloud-warehouse flow; a
    refusal or a failure is answered as data the test reads."""

    def bridge(request):
        try:
            call = read_callback(request.query, request.raw, FakeTenants(holder.ctx.tenant), None,
                                 datetime.now(timezone.utc))
        except CallbackRefused as refused:
            return 200, {"refused": refused.code}
        try:
            return 200, take(call)
        except Exception as exc:  # noqa: BLE001 - the test reads what the bridge would answer
            return 200, {"failure": type(exc).__name__, "message": str(exc)}

    return RecordingReceiver(bridge)


def sandbox_warehouse(tenant, ctx) -> QimenWarehouse:
    """The tenant's 奇门 adapter over the sandbox's gateway, keeping its ledger in ``ctx``'s state."""
    client = QimenClient(credentials_of(tenant.qimen, None), http=httpx.Client(timeout=5))
    return QimenWarehouse(tenant, client, records=ctx.records, timeline=ctx.timeline, now=lambda: ctx.now(),
                          metric=ctx.metric)


@pytest.fixture
def world(monkeypatch):
    holder = SimpleNamespace()
    receiver = callback_receiver(holder)
    with QimenSandbox(bridge_url=receiver.url) as wms:
        doc = cloud_doc()
        doc["qimen"]["gateway_url"] = wms.gateway_url
        tenant = parse_tenant(doc)
        ctx = fake_context(tenant, store=Store())
        ctx.warehouse = sandbox_warehouse(tenant, ctx)
        holder.ctx = ctx
        monkeypatch.setattr(wiring, "context_for", lambda t: ctx)
        yield SimpleNamespace(ctx=ctx, wms=wms, store=ctx.store, tenant=tenant, bridge=receiver)
    receiver.close()


def shipped(world):
    return [(e[1], e[2], e[4]) for e in world.store.orders.of("ship")]


def test_q1_an_order_is_created_at_the_wms_and_shipped_in_two_parcels(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    wms_doc = world.wms.state.documents["WM1"]
    assert wms_doc.plan == {"TS001-WHT-M": 2, "JN002-BLU-30": 1}
    assert (wms_doc.order_type, wms_doc.head["sourcePlatformCode"]) == ("JYCK", "POS")
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])
    assert shipped(world) == [("WM1", "SF1", (("TS001-WHT-M", 1),))]
    world.wms.ship("WM1", [{"tracking_no": "SF2", "items": {"TS001-WHT-M": 1, "JN002-BLU-30": 1}}])
    assert shipped(world)[1] == ("WM1", "SF2", (("JN002-BLU-30", 1), ("TS001-WHT-M", 1)))
    assert world.store.orders.effects[0][3] == "SF"  # the WMS's SF mapped to the store's SF


def test_q1_a_duplicated_confirm_and_an_extra_parcel_ship_nothing_twice(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    world.wms.ship("WM1", duplicate=True)
    world.wms.ship("WM1", [{"tracking_no": "SF9", "items": {"TS001-WHT-M": 1}}])  # beyond the order
    assert len(shipped(world)) == 1
    [exception] = qimen_ledger.exceptions_to_show(world.ctx)
    assert exception["excess"] == {"TS001-WHT-M": 1} and exception["store_key"] == "WM1"


def test_q1_an_unmapped_carrier_is_parked_with_its_reason(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    world.wms.ship("WM1", [{"tracking_no": "YT1", "carrier": "YTO", "items": {"TS001-WHT-M": 2, "JN002-BLU-30": 1}}])
    assert shipped(world) == []
    assert len(world.ctx.queue.dead) == 1 and "YTO" in world.ctx.queue.dead[0].reason


def test_q1c_a_cancel_refused_because_shipped_is_an_exception(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])
    with pytest.raises(WarehouseRefused, match="已发货"):
        warehouse_orders.on_order_cancelled(event("order.cancelled", {"order_no": "WM1", "reason": "顾客取消"}),
                                            world.ctx)
    [exception] = qimen_ledger.exceptions_to_show(world.ctx)
    assert exception["reason"] == "cancel_refused" and exception["store_key"] == "WM1"


def test_q1c_a_cancel_before_shipping_is_done_at_the_wms(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    warehouse_orders.on_order_cancelled(event("order.cancelled", {"order_no": "WM1", "reason": "顾客取消"}), world.ctx)
    assert world.wms.state.documents["WM1"].status == "CANCELED"


def test_q2_a_return_is_received_once(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    world.wms.ship("WM1")
    warehouse_orders.on_return_requested(event("return.requested", {
        "return_no": "RT1", "order_no": "WM1", "type": "return",
        "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]}), world.ctx)
    assert world.wms.state.documents["RT1"].head["preDeliveryOrderCode"] == "WM1"
    world.wms.receive("RT1", duplicate=True)
    assert world.store.orders.of("receipt") == [("receipt", "RT1", "confirm", (("TS001-WHT-M", 1),))]


def test_q3_a_transfer_confirmed_in_two_messages_tells_the_store_once_with_the_total(world):
    store_transfers.on_transfer_submitted(event("transfer.submitted", {
        "doc_no": "PH1", "store_code": "S001", "items": [{"sku_id": "JN002-BLU-30", "qty": 4}], "remark": "补货"}),
        world.ctx)
    assert world.wms.state.documents["PH1"].order_type == "DBCK"
    world.wms.ship("PH1", [{"tracking_no": "ZT1", "items": {"JN002-BLU-30": 1}}])
    assert world.store.documents.transfers == {}
    world.wms.ship("PH1")
    assert world.store.documents.transfers["PH1"]["items"] == [{"sku_id": "JN002-BLU-30", "qty": 4}]
    assert world.store.documents.transfers["PH1"]["jst_io_id"] == "PH1"


def test_q4_a_warehouse_return_received_in_two_receipts(world):
    store_transfers.on_warehouse_return_submitted(event("warehouse_return.submitted", {
        "doc_no": "TC1", "store_code": "S001", "items": [{"sku_id": "TS001-WHT-L", "qty": 3}], "remark": ""}),
        world.ctx)
    assert world.wms.state.documents["TC1"].order_type == "DBRK"
    world.wms.receive("TC1", {"TS001-WHT-L": 1})
    world.wms.receive("TC1", duplicate=True)
    assert world.store.documents.returns["TC1"]["items"] == [{"sku_id": "TS001-WHT-L", "qty": 3}]


def test_q5_a_report_is_a_signal_to_read_again_and_set_absolute_levels(world):
    clock = [datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)]
    world.ctx.now = lambda: clock[0]
    world.wms.change_stock({"TS001-WHT-M": 44})                     # reported as -6
    clock[0] += timedelta(minutes=5)
    world.wms.count_stock({"TS001-WHT-M": 40, "JN002-BLU-30": 21})  # a count: -4, +1
    first, second = world.store.stock
    assert first == ("20000", {"TS001-WHT-M": (44, 1796191200000)})
    assert second[1] == {"TS001-WHT-M": (40, 1796191500000), "JN002-BLU-30": (21, 1796191500000)}


def test_q5_the_scheduled_read_covers_every_sku_the_wms_may_hold(world):
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    world.ctx.warehouse.sync_items([SimpleNamespace(sku_code="TS001-WHT-L", name="T恤 L")])
    summary = stock_sync.pull_jst_stock(world.ctx)
    assert summary["WH01"]["read"] == 3
    [(code, levels)] = world.store.stock
    assert {sku: qty for sku, (qty, _) in levels.items()} == {"TS001-WHT-M": 50, "JN002-BLU-30": 20, "TS001-WHT-L": 30}


def test_stock_is_read_in_batches(world):
    skus = ["TS001-WHT-M"] + [f"X{n:03d}" for n in range(119)]
    levels = world.ctx.warehouse.stock_of("WH01", skus)
    assert len(levels) == 120 and levels[0].figures["qty"] == 50
    assert len(world.wms.state.calls) == 3


def test_a_transient_failure_remembers_nothing_and_a_retry_creates_one_document(world):
    order = StoreOrder(order_no="WM9", receiver=Receiver("张三", "138", "上海市", "上海市", "静安区", "1号"),
                       lines=(OrderLine("1", "TS001-WHT-M", 1),), pay_amount=99, freight=0,
                       paid_at=datetime(2026, 12, 2, tzinfo=timezone.utc))
    world.wms.faults["script"] = [{"kind": "http"}]
    with pytest.raises(QimenTransientError):
        world.ctx.warehouse.submit_order(order)
    assert qimen_ledger.document(world.ctx, "WM9") is None
    first = world.ctx.warehouse.submit_order(order)
    assert world.ctx.warehouse.submit_order(order) == first  # a replay after a lost answer
    assert list(world.wms.state.documents) == ["WM9"]


def test_a_refused_order_is_the_store_s_422(world):
    world.wms.faults["script"] = [{"kind": "failure", "code": "ITEM_NOT_EXIST"}]
    with pytest.raises(WarehouseRefused, match="WMS"):
        warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)


def product(sku: str, name: str = "T恤", **changes) -> dict:
    return {"spu_code": sku.split("-")[0], "sku_code": sku, "barcode": "6900000000011", "name": name, "color": "白色",
            "size": "M", "brand": "示例", "category": "T恤", "cost_price": "35.00", "tag_price": "129.00",
            "retail_price": "99.00", "attributes": {}, **changes}


def test_q6_product_changes_reach_the_wms_as_add_then_update(world):
    assert cloud_warehouse.on_product_changed(event("product.changed", {"items": [product("TS001-WHT-M")]}),
                                              wiring.context_for(world.tenant)) == {"added": 1, "updated": 0}
    assert world.wms.state.items["TS001-WHT-M"]["actionType"] == "add"
    assert cloud_warehouse.on_product_changed(event("product.changed", {"items": [product("TS001-WHT-M", name="纯棉T恤")]}),
                                              wiring.context_for(world.tenant)) == {"added": 0, "updated": 1}
    item = world.wms.state.items["TS001-WHT-M"]
    assert (item["actionType"], item["itemName"], item["barCode"], item["retailPrice"]) == ("update", "纯棉T恤",
                                                                                              "6900000000011", "99.00")


def test_q6_a_refused_product_change_is_parked_with_its_reason(world):
    world.wms.faults["script"] = [{"kind": "failure", "code": "item-invalid"}]
    result = cloud_warehouse.on_product_changed(event("product.changed", {"items": [product("X-1")]}), wiring.context_for(world.tenant))
    assert result["outcome"] == "dead_lettered" and "item-invalid" in result["reason"]
    assert len(world.ctx.queue.dead) == 1


def test_q6_what_the_erp_sends_to_the_store_also_goes_to_the_wms(world):
    from flows_transfers.s5_s7_fakes import FakeJst
    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.flows import products

    now = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
    jst = FakeJst()
    world.ctx.erp, world.ctx.now = JstErp(jst, world.tenant), lambda: now
    for n in range(3):
        jst.add_sku(f"TS-{n}", now - timedelta(minutes=30), name=f"T恤 {n}", sale_price="99")
    summary = products.sync_products(world.ctx)
    assert (summary["sent"], summary["failed"]) == (3, 0)
    assert sorted(world.wms.state.items) == ["TS-0", "TS-1", "TS-2"]
    assert sorted(world.store.documents.products) == ["TS-0", "TS-1", "TS-2"]
    world.wms.faults["script"] = [{"kind": "failure", "code": "item-invalid"}]
    jst.add_sku("TS-9", now - timedelta(minutes=10), name="新品", sale_price="59")
    summary = products.sync_products(world.ctx)
    assert summary["failed"] == 1 and "TS-9" not in world.wms.state.items
    [waiting] = products.set_aside_products(world.ctx)
    assert waiting["sku_id"] == "TS-9" and "the cloud WMS refused it" in waiting["error"]


def take(call):
    """The WMS's call as the qimen_callback handler gives it to the flow, with the tenant's context."""
    return cloud_warehouse.on_wms_message(call, wiring.context_for(call.tenant))


def test_q1_a_cod_order_the_wms_ships_is_a_ledger_fact_once_and_starts_its_cod_clock(world):
    """The same facts as a JST warehouse's shipment (one way in: warehouse_orders.take_confirmations):
    store_order.shipped once per parcel, and the COD part handed to the courier."""
    from o2o_bridge.flows import cash_on_delivery

    warehouse_orders.on_order_warehouse_requested(
        event("order.warehouse_requested", {**ORDER, "cod": {"amount": "307.00"}}), world.ctx)
    assert world.wms.state.documents["WM1"].head.get("orderFlag") == "COD"
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 2, "JN002-BLU-30": 1}}])
    world.wms.ship("WM1", duplicate=True)
    [fact] = world.ctx.ledger.of_kind("store_order.shipped")
    assert (fact.doc_no, sorted((line.sku_id, line.qty) for line in fact.lines)) == (
        "WM1", [("JN002-BLU-30", 1), ("TS001-WHT-M", 2)])
    [record] = cash_on_delivery.problems(world.ctx, include_all=True)
    assert (record["io_id"], record["expected"], record["how"], record["status"]) == (
        "order:WM1", "307.00", "warehouse_shipped", "uncollected")
    assert "cod.handed_over" in world.ctx.timeline.steps("WM1")


# --- Q5: a stock report taken once, its "done" in the levels' transaction --------------------------


def stock_report(items: dict[str, int], out_biz: str):
    """A stockchange.report as the handler gives it to the flow (authenticated)."""
    from o2o_bridge.connectors.qimen.inbound import QimenCall
    from o2o_bridge.connectors.qimen.models import INBOUND_DOCUMENTS
    from o2o_bridge.connectors.qimen.xml_codec import parse_document
    from qimen_wms import stock_change

    body = stock_change(items, out_biz=out_biz)
    document = INBOUND_DOCUMENTS["stockchange.report"].model_validate(parse_document(body))
    return QimenCall(wiring.context_for(None).tenant, "stockchange.report", document, body, {})


def message_record(world, call):
    return world.ctx.records.get(world.ctx.tenant.ent_id, kit.EFFECT_KIND, f"qimen.message:{call.key}")


def level(world, sku):
    return world.ctx.records.get(world.ctx.tenant.ent_id, stock_sync.WAREHOUSE_LEVEL, f"20000|{sku}")


def test_q5_a_report_delivered_again_is_answered_without_reading_the_wms(world):
    call = stock_report({"TS001-WHT-M": -6, "JN002-BLU-30": 1}, "SC9")
    assert take(call)["outcome"] == "done"
    asked = len(world.wms.state.calls)
    # Every level it names was set: the message is marked on them, no record of its own.
    assert message_record(world, call) is None
    assert [level(world, sku).data["messages"] for sku in ("TS001-WHT-M", "JN002-BLU-30")] == \
        [[f"qimen.message:{call.key}"]] * 2
    assert take(call)["outcome"] == "repeated"
    assert len(world.wms.state.calls) == asked  # no inventory.query the second time
    assert [sorted(levels) for _, levels in world.store.stock] == [["JN002-BLU-30", "TS001-WHT-M"]]


def test_q5_a_later_report_keeps_the_marks_of_the_earlier_ones(world):
    clock = [datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)]
    world.ctx.now = lambda: clock[0]
    first, second = stock_report({"TS001-WHT-M": -6}, "SC9"), stock_report({"TS001-WHT-M": 2}, "SC10")
    take(first)
    clock[0] += timedelta(minutes=1)
    take(second)
    assert level(world, "TS001-WHT-M").data["messages"] == [f"qimen.message:{second.key}", f"qimen.message:{first.key}"]
    assert take(first)["outcome"] == "repeated" and take(second)["outcome"] == "repeated"


def test_q5_a_report_whose_levels_another_worker_wrote_meanwhile_is_recorded_once(world):
    """Two deliveries racing: both read the stock (harmless: absolute levels under the read's
    version). The other's level refuses this one's transaction: this one's levels are recorded as
    without the message (the newer read wins), and the message's "done" on its own record."""
    call = stock_report({"TS001-WHT-M": -6}, "SC9")
    read = world.ctx.warehouse.stock_of

    def read_while_another_writes_the_level(code, skus):
        world.ctx.records.put(world.ctx.tenant.ent_id, stock_sync.WAREHOUSE_LEVEL, "20000|TS001-WHT-M",
                              {"qty": 49, "version": 1, "pushed": True})
        return read(code, skus)

    world.ctx.warehouse.stock_of = read_while_another_writes_the_level
    assert take(call)["outcome"] == "done"
    assert level(world, "TS001-WHT-M").data["qty"] == 50 and level(world, "TS001-WHT-M").data["pushed"] is True
    assert message_record(world, call).data["result"] == {"reread": ["TS001-WHT-M"]}
    world.ctx.warehouse.stock_of = read
    assert take(call)["outcome"] == "repeated"


def test_q5_a_report_another_worker_recorded_meanwhile_is_answered_as_a_repeat(world):
    """A level the report does not set (read again within its second, the same qty) leaves the
    message's "done" to its own record, written with the trace: a worker that recorded the
    message meanwhile refuses it, and this one answers a repeat."""
    clock = [datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)]
    world.ctx.now = lambda: clock[0]
    take(stock_report({"TS001-WHT-M": -6}, "SC9"))
    call = stock_report({"TS001-WHT-M": 0}, "SC10")
    read = world.ctx.warehouse.stock_of

    def read_while_another_takes_it(code, skus):
        kit.effect_recorded(world.ctx, f"qimen.message:{call.key}", {"reread": list(skus)})
        return read(code, skus)

    world.ctx.warehouse.stock_of = read_while_another_takes_it
    assert take(call)["outcome"] == "repeated"


def test_q5_a_report_an_older_release_is_taking_is_in_progress_and_reads_nothing(world):
    call = stock_report({"TS001-WHT-M": -6}, "SC9")
    until = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    world.ctx.records.put(world.ctx.tenant.ent_id, kit.EFFECT_KIND, f"qimen.message:{call.key}",
                          {"state": "running", "lease_until": until})
    with pytest.raises(kit.EffectInProgress):
        take(call)
    assert world.wms.state.calls == [] and world.store.stock == []


def test_q5_a_report_whose_read_fails_is_queued_and_taken_once(world):
    call = stock_report({"TS001-WHT-M": -6}, "SC9")

    def unreachable(code, skus):
        raise QimenTransientError("gateway timeout", method="inventory.query")

    world.ctx.warehouse.stock_of = unreachable
    assert take(call)["outcome"] == "done"
    assert [envelope.command for envelope, _ in world.ctx.queue.queued] == ["stock.reread"]
    assert message_record(world, call).data["state"] == "done"
    assert take(call)["outcome"] == "repeated"
    assert len(world.ctx.queue.queued) == 1


def test_q5_a_report_with_nothing_new_records_its_done_all_the_same(world):
    first, second = stock_report({"TS001-WHT-M": -6}, "SC9"), stock_report({"TS001-WHT-M": 0}, "SC10")
    clock = [datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)]
    world.ctx.now = lambda: clock[0]
    assert take(first)["outcome"] == "done"
    assert take(second)["outcome"] == "done"  # read in the same second, the same qty: nothing to set
    assert len(world.store.stock) == 1
    assert message_record(world, second).data["state"] == "done"
    assert take(second)["outcome"] == "repeated"
    assert world.ctx.timeline.steps("stock:20000").count("stock.push.received") == 2
