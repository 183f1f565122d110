"""The cloud warehouse over HTTP on the local stack: the 奇门 WMS sandbox calls the bridge's
/qimen/callback (the route read from template.yaml, the real handler), the bridge reads
stock back from it and sets it at the 店+ sandbox."""

from __future__ import annotations

import boto3
import pytest

from conftest import demo_world
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
