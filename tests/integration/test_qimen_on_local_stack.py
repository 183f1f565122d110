"""The cloud warehouse over HTTP on the local stack: the 奇门 WMS sandbox calls the bridge's
/qimen/callback (the route read from template.yaml, the real handler), the bridge reads
stock back from it and sets it at the 店+ sandbox."""

from __future__ import annotations

import boto3
import pytest

from stack_world import demo_world
from o2o_local.qimen_sandbox import QimenSandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    wms = QimenSandbox(merchant={"ent_id": "10010", "app_key": "demo-qimen-app-key", "secret": "demo-qimen-app-secret",
                                 "customer_id": "C001", "warehouse_code": "WH01", "owner_code": "OWNER01",
                                 "stock": {"TS001-WHT-M": 50, "JN002-BLU-30": 20}})
    wms.start()

    def as_cloud_tenant(doc):
        doc["warehouse"] = "qimen"
        doc["qimen"] = {"gateway_url": wms.gateway_url, "app_key": "demo-qimen-app-key",
                        "app_secret": "demo-qimen-app-secret", "customer_id": "C001", "warehouse_code": "WH01",
                        "owner_code": "OWNER01", "pos_warehouse_code": "10000",
                        "logistics": [{"pos_code": "SF", "qimen_code": "SF"}]}

    try:
        with demo_world(tmp_path_factory.mktemp("qimen"), adjust_tenant=as_cloud_tenant) as (stack, jst, store):
            wms.connect_bridge(stack.addresses()["api"])
            stack.wms, stack.store = wms, store
            yield stack
    finally:
        wms.stop()


def written(stack) -> int:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
    return dynamodb.scan(TableName="o2o-local-StateTable", Select="COUNT")["Count"]


def warehouse_qty(stack, sku: str):
    cell = stack.store.state.snapshot("10010")["merchants"]["10010"]["warehouse_stock"].get(f"10000/{sku}")
    return cell and cell["qty"]


def test_a_stock_report_over_http_is_read_back_and_set_at_the_store(cloud):
    sent = cloud.wms.change_stock({"TS001-WHT-M": 44})
    assert sent["answer"]["http_status"] == 200 and sent["answer"]["flag"] == "success", sent
    cloud.drain(max_seconds=10)
    assert warehouse_qty(cloud, "TS001-WHT-M") == 44
    again = cloud.wms.count_stock({"JN002-BLU-30": 18}, duplicate=True)
    assert [a["flag"] for a in again["answers"]] == ["success", "success"]
    assert again["answers"][1]["message"] == "taken before"
    assert warehouse_qty(cloud, "JN002-BLU-30") == 18


def test_a_forged_call_over_http_is_refused_in_qimen_xml_and_writes_nothing(cloud):
    before = written(cloud)
    sent = cloud.wms.change_stock({"TS001-WHT-M": 1}, bad_sign=True)
    assert sent["answer"] == {"http_status": 200, "flag": "failure", "code": "sign-check-failure",
                              "message": "sign check failed"}
    assert written(cloud) == before


def test_a_confirm_of_an_unknown_document_is_refused(cloud):
    from o2o_local.qimen_sandbox.state import Document

    cloud.wms.state.documents["SO-X"] = Document(kind="delivery", code="SO-X", wms_id="W9", order_type="JYCK",
                                                 plan={"TS001-WHT-M": 1}, head={})
    sent = cloud.wms.ship("SO-X")
    assert (sent["answer"]["flag"], sent["answer"]["code"]) == ("failure", "order-not-found")


RECEIVER = {"name": "李四", "mobile": "13900000000", "province": "上海市", "city": "上海市", "district": "浦东新区",
            "address": "世纪大道 100 号"}


def merchant(stack):
    return stack.store.state.snapshot("10010")["merchants"]["10010"]


def test_q1_over_http_an_order_goes_to_the_wms_and_each_parcel_to_the_store(cloud):
    order = {"order_no": "WM-Q1", "receiver": RECEIVER, "freight": "0.00", "pay_amount": "297.00",
             "paid_at": "2026-12-02T10:20:00+08:00",
             "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 2, "price": "99.00", "amount": "198.00"},
                       {"line_no": "2", "sku_id": "JN002-BLU-30", "qty": 1, "price": "99.00", "amount": "99.00"}]}
    result = cloud.store.emit("order.warehouse_requested", order, ent_id="10010")
    assert (result.status, result.body) == (200, {"code": 0, "msg": "ok"})
    assert cloud.wms.state.documents["WM-Q1"].plan == {"TS001-WHT-M": 2, "JN002-BLU-30": 1}
    first = cloud.wms.ship("WM-Q1", [{"tracking_no": "SF-Q1-1", "items": {"TS001-WHT-M": 1}}], duplicate=True)
    assert [a["flag"] for a in first["answers"]] == ["success", "success"]
    cloud.wms.ship("WM-Q1")
    cloud.drain(max_seconds=10)
    shipments = [s for s in merchant(cloud)["shipments"] if s["order_no"] == "WM-Q1"]
    assert [s["tracking_no"] for s in shipments][0] == "SF-Q1-1" and len(shipments) == 2
    assert merchant(cloud)["orders"]["WM-Q1"]["status"] == "shipped"
    refused = cloud.store.emit("order.cancelled", {"order_no": "WM-Q1", "reason": "顾客取消"}, ent_id="10010")
    assert refused.status == 422 and "已发货" in refused.body["msg"]


def test_lost_confirms_are_caught_up_by_o2o_qimen_catch_up_and_a_late_resend_changes_nothing(cloud, capsys):
    import json

    from o2o_bridge.cli import main as o2o

    order = {"order_no": "WM-LOST", "receiver": RECEIVER, "freight": "0.00", "pay_amount": "99.00",
             "paid_at": "2026-12-02T10:20:00+08:00",
             "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "price": "99.00", "amount": "99.00"}]}
    assert cloud.store.emit("order.warehouse_requested", order, ent_id="10010").status == 200
    cloud.wms.ship("WM-LOST", [{"tracking_no": "SF-LOST", "items": {"TS001-WHT-M": 1}}], drop=True)
    lost = len(cloud.wms.state.callbacks) - 1
    assert cloud.store.emit("transfer.submitted", {"doc_no": "PH-LOST", "store_code": "S001", "remark": "",
                                                   "items": [{"sku_id": "JN002-BLU-30", "qty": 2}]},
                            ent_id="10010").status == 200
    cloud.wms.ship("PH-LOST", drop=True)
    cloud.drain(max_seconds=10)
    assert [s for s in merchant(cloud)["shipments"] if s["order_no"] == "WM-LOST"] == []
    assert merchant(cloud)["transfers"]["PH-LOST"]["status"] == "submitted"

    capsys.readouterr()
    assert o2o(["qimen", "catch-up", "WM-LOST", "PH-LOST", "--tenant", "10010"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(summary["caught_up"]) == ["PH-LOST", "WM-LOST"], summary
    asked = [c["method"] for c in cloud.wms.state.calls if c["method"].endswith(".query")]
    assert asked.count("taobao.qimen.deliveryorder.query") == 2
    cloud.drain(max_seconds=10)
    assert [s["tracking_no"] for s in merchant(cloud)["shipments"] if s["order_no"] == "WM-LOST"] == ["SF-LOST"]
    transfer = merchant(cloud)["transfers"]["PH-LOST"]
    assert (transfer["status"], transfer["shipped_items"]) == ("shipped", [{"sku_id": "JN002-BLU-30", "qty": 2}])

    resent = cloud.wms.resend(lost)  # the WMS's late retry of the confirm the bridge never got
    assert resent["answer"]["flag"] == "success"
    cloud.drain(max_seconds=10)
    assert len([s for s in merchant(cloud)["shipments"] if s["order_no"] == "WM-LOST"]) == 1
