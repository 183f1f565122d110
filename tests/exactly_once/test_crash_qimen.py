"""A cloud warehouse over 奇门 under crash injection: the documents the bridge creates at the WMS
sandbox (S2 orders and a return, 配货, 退仓), the WMS's confirms as they reach /qimen/callback
(signed, read by the callback's reading): Q1 a shipment in two parcels, a shipment whose confirm is
lost (found by `o2o qimen catch-up`, then delivered by the WMS after all), Q1c an order the WMS
cancels and one the store cancels, Q2 a return received, Q3 配货 shipped and Q4 退仓 received in
two messages each; and Q6 products to the WMS. Killed at every crash point, rerun (the WMS sends a
message again until it is answered) and drained: one WMS document per store document, one P3 per
parcel, one P4, one P5, one P10 and one P11 with the totals, and both sides as the run without a
kill leaves them."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import httpx
import pytest

from fakes import FakeTenants, fake_context
from o2o_bridge import wiring
from o2o_bridge.connectors.qimen import ledger as qimen_ledger
from o2o_bridge.connectors.qimen.client import QimenClient
from o2o_bridge.connectors.qimen.factory import credentials_of
from o2o_bridge.connectors.qimen.inbound import read_callback
from o2o_bridge.connectors.qimen.warehouse import QimenWarehouse
from o2o_bridge.events.models import parse_event
from o2o_bridge.flows import cloud_warehouse, store_transfers, warehouse_orders
from o2o_bridge.tenant import parse_tenant
from qimen_wms import cloud_doc, delivery_confirm, signed_query

from .harness import assert_settled, built_once, every_crash, same_as_without_a_kill


@pytest.fixture(scope="module")
def wms():
    from o2o_local.qimen_sandbox import QimenSandbox

    with QimenSandbox() as sandbox:  # no bridge_url: the test hands each confirm to the bridge
        yield sandbox


class World:
    def __init__(self, wms, monkeypatch):
        from qimen.test_warehouse_over_sandbox import Store

        self.wms = wms
        wms.reset()
        doc = cloud_doc()
        doc["qimen"]["gateway_url"] = wms.gateway_url
        self.tenant = parse_tenant(doc)
        self.ctx = fake_context(self.tenant, store=Store())
        client = QimenClient(credentials_of(self.tenant.qimen, None), http=httpx.Client(timeout=5))
        # The adapter reads the bridge's clock through the context (which the harness holds).
        self.ctx.warehouse = QimenWarehouse(self.tenant, client, records=self.ctx.records, timeline=self.ctx.timeline,
                                            now=lambda: self.ctx.now(), metric=self.ctx.metric)
        monkeypatch.setattr(wiring, "context_for", lambda tenant: self.ctx)


def store_event(kind, data, flow):
    """A store event (the same one again after a failed answer)."""
    def build(world):
        event = parse_event({"event_id": f"evt-{kind}-{data.get('order_no') or data.get('return_no') or data.get('doc_no') or data['items'][0]['name']}",
                             "ent_id": "10020", "type": kind, "occurred_at": "2026-12-02T10:00:00+08:00", "data": data})
        return lambda w: flow(event, w.ctx)

    return built_once(build)


def order(order_no):
    return store_event("order.warehouse_requested", {
        "order_no": order_no, "receiver": {"name": "张三", "mobile": "13800000000", "province": "上海市",
                                           "city": "上海市", "district": "静安区", "address": "南京西路1号"},
        "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 2, "price": "99.00", "amount": "198.00"},
                  {"line_no": "2", "sku_id": "JN002-BLU-30", "qty": 1, "price": "299.00", "amount": "299.00"}],
        "pay_amount": "507.00", "freight": "10.00", "paid_at": "2026-12-02T10:00:00+08:00"},
        warehouse_orders.on_order_warehouse_requested)


def wms_sends(act):
    """What the WMS did (once), and its confirm as /qimen/callback takes it: signed, read, handed
    to the cloud-warehouse flow. The WMS sends the same message again until it is answered."""
    def build(world):
        sent = act(world.wms)
        return lambda w: take(w, sent)

    return built_once(build)


def take(world, sent):
    """A WMS message as /qimen/callback takes it: signed, read, handed to the cloud-warehouse flow."""
    method, body = sent["method"], sent["body"].encode("utf-8")
    query = signed_query(method.removeprefix("taobao.qimen."), body)
    call = read_callback(query, body, FakeTenants(world.tenant), None, datetime.now(timezone.utc))
    return cloud_warehouse.on_wms_message(call, world.ctx)


def wms_loses(act):
    """What the WMS did (once) whose confirm is lost on the way: the bridge hears of it by asking
    (the catch-up), and once more if the WMS sends it again after all (``wms_sends_lost_again``)."""
    def build(world):
        world.lost = act(world.wms)
        return lambda w: None

    return built_once(build)


def wms_sends_lost_again(world):
    return take(world, world.lost)


def catch_up(world):
    """`o2o qimen catch-up` (every open document asked now, whatever its quiet time)."""
    return cloud_warehouse.catch_up_confirmations(world.ctx, now_for=[])


def wms_cancels(code):
    """The WMS cancels an order it has not shipped (its last confirm, status CANCELED)."""
    def act(wms):
        body = delivery_confirm(code, f"{code}-cancel", [], final=True).replace(b">DELIVERED<", b">CANCELED<")
        return {"method": "taobao.qimen.deliveryorder.confirm", "body": body.decode("utf-8")}

    return wms_sends(act)


def product(name):
    return {"spu_code": "TS001", "sku_code": "TS001-WHT-M", "barcode": "6900000000011", "name": name, "color": "白色",
            "size": "M", "brand": "示例", "category": "T恤", "cost_price": "35.00", "tag_price": "129.00",
            "retail_price": "99.00", "attributes": {}}


STEPS = [
    order("WM1"), order("WM2"), order("WM3"), order("WM4"),
    wms_sends(lambda wms: wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])),  # Q1, parcel 1
    wms_sends(lambda wms: wms.ship("WM1", [{"tracking_no": "SF2", "items": {"TS001-WHT-M": 1, "JN002-BLU-30": 1}}])),
    # Q1 caught up: WM4's only parcel is confirmed on a message that never arrives; the catch-up asks
    # the WMS; then the WMS's message arrives after all.
    wms_loses(lambda wms: wms.ship("WM4", [{"tracking_no": "SF4", "items": {"TS001-WHT-M": 2, "JN002-BLU-30": 1}}],
                                   drop=True)),
    catch_up, wms_sends_lost_again,
    wms_cancels("WM2"),  # Q1c: the WMS cancels
    store_event("order.cancelled", {"order_no": "WM3", "reason": "顾客取消"}, warehouse_orders.on_order_cancelled),
    store_event("return.requested", {"return_no": "RT1", "order_no": "WM1", "type": "return",
                                     "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]},
                warehouse_orders.on_return_requested),
    wms_sends(lambda wms: wms.receive("RT1")),  # Q2
    store_event("transfer.submitted", {"doc_no": "PH1", "store_code": "S001", "remark": "补货",
                                       "items": [{"sku_id": "JN002-BLU-30", "qty": 4}]},
                store_transfers.on_transfer_submitted),
    wms_sends(lambda wms: wms.ship("PH1", [{"tracking_no": "ZT1", "items": {"JN002-BLU-30": 1}}])),  # Q3
    wms_sends(lambda wms: wms.ship("PH1")),
    store_event("warehouse_return.submitted", {"doc_no": "TC1", "store_code": "S001", "remark": "",
                                               "items": [{"sku_id": "TS001-WHT-L", "qty": 3}]},
                store_transfers.on_warehouse_return_submitted),
    wms_sends(lambda wms: wms.receive("TC1", {"TS001-WHT-L": 1})),  # Q4
    wms_sends(lambda wms: wms.receive("TC1")),
    store_event("product.changed", {"items": [product("T恤")]}, cloud_warehouse.on_product_changed),  # Q6
    store_event("product.changed", {"items": [product("纯棉T恤")]}, cloud_warehouse.on_product_changed),
]


def both_sides(world):
    orders, documents = world.ctx.store.orders, world.ctx.store.documents
    return {
        "wms documents": {code: (d.kind, d.status, d.plan) for code, d in world.wms.state.documents.items()},
        "wms items": {sku: (item["itemName"], item["actionType"]) for sku, item in world.wms.state.items.items()},
        "store effects": sorted(orders.effects),
        "transfers": {no: t["items"] for no, t in documents.transfers.items()},
        "returns": {no: r["items"] for no, r in documents.returns.items()},
    }


def check(world, run):
    sides = both_sides(world)
    assert sorted(sides["wms documents"]) == ["PH1", "RT1", "TC1", "WM1", "WM2", "WM3", "WM4"]
    assert sides["wms documents"]["WM3"][1] == "CANCELED"  # the store's cancel reached the WMS
    orders = world.ctx.store.orders
    # One P3 per parcel, WM4's caught up (and its late message taken as the same parcel).
    assert [(e[1], e[2]) for e in orders.of("ship")] == [("WM1", "SF1"), ("WM1", "SF2"), ("WM4", "SF4")]
    assert qimen_ledger.document(world.ctx, "WM4")["final"] is True
    assert [e[1] for e in orders.of("cancel")] == ["WM2"]  # one P4
    assert [(e[1], e[2]) for e in orders.of("receipt")] == [("RT1", "confirm")]  # one P5
    assert sides["transfers"] == {"PH1": [{"sku_id": "JN002-BLU-30", "qty": 4}]}  # one P10, the total
    assert sides["returns"] == {"TC1": [{"sku_id": "TS001-WHT-L", "qty": 3}]}  # one P11
    assert sides["wms items"]["TS001-WHT-M"][0] == "纯棉T恤"  # Q6
    assert qimen_ledger.exceptions_to_show(world.ctx) == []  # nothing counted beyond a plan
    assert_settled(world.ctx)
    same_as_without_a_kill(sides, run)


def test_qimen_q1_to_q4_and_q6_killed_at_every_crash_point_have_one_effect_on_each_side(wms, monkeypatch):
    points = every_crash(lambda: World(wms, monkeypatch), STEPS, check)
    assert points >= 60
