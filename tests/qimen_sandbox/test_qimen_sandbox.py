"""The 奇门 WMS sandbox: the bridge's client against it (its own sign check), and its
confirmations and reports read by the bridge's callback reading as a gateway call."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from fakes import FakeTenants
from o2o_bridge.connectors.qimen import models as qm
from o2o_bridge.connectors.qimen.client import QimenClient, QimenCredentials
from o2o_bridge.connectors.qimen.errors import QimenAuthError, QimenPermanentError, QimenTransientError
from o2o_bridge.connectors.qimen.inbound import read_callback
from o2o_bridge.tenant import parse_tenant
from o2o_local.qimen_sandbox import QimenSandbox
from recording_receiver import RecordingReceiver

from qimen_wms import cloud_doc


@pytest.fixture
def bridge():
    receiver = RecordingReceiver(lambda request: (200, {"ok": True}))
    yield receiver
    receiver.close()


@pytest.fixture
def wms(bridge):
    with QimenSandbox(bridge_url=bridge.url) as sandbox:
        yield sandbox


def client_for(wms, **changes) -> QimenClient:
    fields = dict(gateway_url=wms.gateway_url, app_key="demo-qimen-app-key", app_secret="demo-qimen-app-secret",
                  customer_id="C001")
    fields.update(changes)
    return QimenClient(QimenCredentials(**fields), http=httpx.Client(timeout=5))


def delivery(code="SO1", lines=(("TS001-WHT-M", 2), ("JN002-BLU-30", 1))) -> qm.DeliveryOrderCreate:
    return qm.DeliveryOrderCreate(
        delivery_order=qm.DeliveryOrderHead(delivery_order_code=code, warehouse_code="WH01",
                                            create_time="2026-12-02 12:00:00",
                                            receiver_info=qm.Contact(name="张三", mobile="13800000000")),
        order_lines=[qm.CreateLine(order_line_no=str(n), owner_code="OWNER01", item_code=sku, plan_qty=qty)
                     for n, (sku, qty) in enumerate(lines, 1)])


def read_as_bridge(request):
    tenants = FakeTenants(parse_tenant(cloud_doc()))
    return read_callback(request.query, request.raw, tenants, None, datetime.now(timezone.utc))


def test_the_bridge_client_creates_documents_the_sandbox_checks_independently(wms):
    client = client_for(wms)
    answer = client.call("deliveryorder.create", delivery())
    assert answer["deliveryOrderId"].startswith("W")
    assert client.call("deliveryorder.create", delivery())["deliveryOrderId"] == answer["deliveryOrderId"]
    assert wms.state.documents["SO1"].plan == {"TS001-WHT-M": 2, "JN002-BLU-30": 1}
    with pytest.raises(QimenPermanentError, match="order-exists"):
        client.call("deliveryorder.create", delivery(lines=(("TS001-WHT-M", 1),)))


@pytest.mark.parametrize("changes, error", [
    ({"app_secret": "wrong"}, QimenAuthError),
    ({"app_key": "someone-else"}, QimenAuthError),
    ({"customer_id": "C999"}, QimenPermanentError),
])
def test_wrong_credentials_are_refused_like_the_gateway_does(wms, changes, error):
    with pytest.raises(error):
        client_for(wms, **changes).call("deliveryorder.create", delivery())
    assert "SO1" not in wms.state.documents


def test_faults_come_back_as_retryable_errors(wms):
    client = client_for(wms)
    wms.faults["script"] = [{"kind": "failure", "code": "isp.remote-service-error"}, {"kind": "http"}]
    for _ in range(2):
        with pytest.raises(QimenTransientError):
            client.call("deliveryorder.create", delivery())
    assert client.call("deliveryorder.create", delivery())["flag"] == "success"


def test_cancel_is_refused_once_shipped_or_when_told(wms):
    client = client_for(wms)
    client.call("deliveryorder.create", delivery("SO1"))
    client.call("deliveryorder.create", delivery("SO2"))
    cancel = lambda code: qm.OrderCancel(warehouse_code="WH01", owner_code="OWNER01", order_code=code, order_type="JYCK")
    wms.ship("SO1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])
    with pytest.raises(QimenPermanentError, match="cancel-refused"):
        client.call("order.cancel", cancel("SO1"))
    wms.refuse_cancel("SO2", "已拣货")
    with pytest.raises(QimenPermanentError, match="已拣货"):
        client.call("order.cancel", cancel("SO2"))


def test_inventory_query_and_items_synchronize(wms):
    client = client_for(wms)
    answer = client.call("inventory.query", qm.InventoryQuery(criteria_list=[
        qm.Criteria(warehouse_code="WH01", owner_code="OWNER01", item_code="TS001-WHT-M")]))
    assert answer["items"] == [{"warehouseCode": "WH01", "itemCode": "TS001-WHT-M", "inventoryType": "ZP",
                                "quantity": "50", "lockQuantity": "0"}]
    client.call("items.synchronize", qm.ItemsSynchronize(action_type="add", warehouse_code="WH01", owner_code="OWNER01",
                                                          items=[qm.Item(item_code="NEW-1", item_name="新品")]))
    assert wms.state.items["NEW-1"]["itemName"] == "新品"


def test_shipping_in_two_parcels_sends_signed_confirms_the_bridge_accepts(wms, bridge):
    client_for(wms).call("deliveryorder.create", delivery())
    wms.ship("SO1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])
    wms.ship("SO1")  # the rest
    first, last = (read_as_bridge(r) for r in bridge.requests)
    assert first.method == last.method == "deliveryorder.confirm"
    assert first.document.delivery_order.confirm_type == 1 and last.document.delivery_order.confirm_type == 0
    assert first.document.packages[0].express_code == "SF1"
    assert {i.item_code: i.quantity for i in last.document.packages[0].items} == {"TS001-WHT-M": 1, "JN002-BLU-30": 1}
    assert first.message_key != last.message_key


def test_deliveryorder_query_answers_every_parcel_shipped_even_when_its_confirm_was_dropped(wms, bridge):
    client = client_for(wms)
    client.call("deliveryorder.create", delivery())
    wms.ship("SO1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}], drop=True)  # the callback is lost
    ask = qm.DeliveryOrderQuery(owner_code="OWNER01", warehouse_code="WH01", order_code="SO1", page=1, page_size=1)
    first = client.call("deliveryorder.query", ask)
    assert first["deliveryOrder"]["status"] == "PARTDELIVERED" and first["totalLines"] == "2"
    assert [p["expressCode"] for p in first["packages"]] == ["SF1"] and len(first["orderLines"]) == 1
    second = client.call("deliveryorder.query", ask.model_copy(update={"page": 2}))
    shipped = {line["itemCode"]: line["actualQty"] for line in first["orderLines"] + second["orderLines"]}
    assert shipped == {"TS001-WHT-M": "1", "JN002-BLU-30": "0"}
    with pytest.raises(QimenPermanentError, match="order-not-found"):
        client.call("deliveryorder.query", ask.model_copy(update={"order_code": "NOPE"}))
    assert bridge.requests == []  # nothing reached the bridge: the query is the bridge's to make


def test_receipts_and_stock_reports_are_signed_gateway_calls(wms, bridge):
    client = client_for(wms)
    client.call("returnorder.create", qm.ReturnOrderCreate(
        return_order=qm.ReturnOrderHead(return_order_code="R1", warehouse_code="WH01",
                                        sender_info=qm.Contact(name="张三")),
        order_lines=[qm.CreateLine(order_line_no="1", owner_code="OWNER01", item_code="TS001-WHT-M", plan_qty=1)]))
    wms.receive("R1")
    wms.change_stock({"TS001-WHT-M": 45})
    wms.count_stock({"JN002-BLU-30": 18})
    calls = [read_as_bridge(r) for r in bridge.requests]
    assert [c.method for c in calls] == ["returnorder.confirm", "stockchange.report", "inventory.report"]
    assert calls[1].document.items[0].quantity == -5
    assert calls[2].document.items[0].quantity == -2


def test_a_bad_sign_or_duplicate_can_be_sent_on_purpose(wms, bridge):
    client_for(wms).call("deliveryorder.create", delivery())
    wms.ship("SO1", duplicate=True)
    assert len(bridge.requests) == 2 and bridge.requests[0].raw == bridge.requests[1].raw
    wms.change_stock({"TS001-WHT-M": 1}, bad_sign=True)
    from o2o_bridge.connectors.qimen.inbound import CallbackRefused

    with pytest.raises(CallbackRefused, match="sign check failed"):
        read_as_bridge(bridge.requests[-1])


def test_admin_routes_drive_the_warehouse(wms, bridge):
    client_for(wms).call("deliveryorder.create", delivery())
    admin = httpx.Client(base_url=wms.url + "/__admin__/", timeout=5)
    shipped = admin.post("ship", json={"code": "SO1", "parcels": [{"tracking_no": "SF9", "items": {"TS001-WHT-M": 2}}]})
    assert shipped.status_code == 200 and shipped.json()["sent"] is True
    assert admin.get("documents").json()["SO1"]["status"] == "PARTDELIVERED"
    assert admin.post("ship", json={"code": "NOPE"}).status_code == 404
    assert admin.post("stock", json={"items": {"TS001-WHT-M": 3}}).status_code == 200
    assert admin.get("stock").json()["TS001-WHT-M"] == 3
    assert len(admin.get("calls").json()) == 1 and len(admin.get("callbacks").json()) == 2
