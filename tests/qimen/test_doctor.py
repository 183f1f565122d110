"""`o2o tenant doctor`'s 奇门 checks against the WMS sandbox."""

from __future__ import annotations

import httpx
import pytest

from o2o_bridge.connectors.qimen.client import QimenClient
from o2o_bridge.connectors.qimen.doctor import check_qimen
from o2o_bridge.connectors.qimen.factory import credentials_of
from o2o_bridge.tenant import parse_tenant
from o2o_local.qimen_sandbox import QimenSandbox
from qimen_wms import cloud_doc


@pytest.fixture
def wms():
    with QimenSandbox() as sandbox:
        yield sandbox


def checks_for(wms, **section):
    doc = cloud_doc()
    doc["qimen"].update(gateway_url=wms.gateway_url, **section)
    tenant = parse_tenant(doc)
    client = QimenClient(credentials_of(tenant.qimen, None), http=httpx.Client(timeout=5))
    return {c.name: c for c in check_qimen(tenant, client, None)}


def test_a_correct_section_passes_every_check(wms):
    checks = checks_for(wms)
    assert all(c.ok for c in checks.values()), [c.line() for c in checks.values()]
    assert set(checks) == {"奇门 credentials", "WMS warehouse and owner", "carriers mapped", "catch-up queries"}
    assert "deliveryorder.query for delivery, stockout; entryorder.query for entry, return" in \
        checks["catch-up queries"].reason


@pytest.mark.parametrize("section, failing, why", [
    ({"app_secret": "wrong"}, "奇门 credentials", "Invalid signature"),
    ({"customer_id": "C404"}, "奇门 credentials", "customerId C404"),
    ({"warehouse_code": "WH99"}, "WMS warehouse and owner", "仓库 WH99 不存在"),
    ({"owner_code": "NOBODY"}, "WMS warehouse and owner", "货主 NOBODY 不存在"),
    ({"logistics": [{"pos_code": "SF", "qimen_code": "SHUNFENG"}]}, "carriers mapped", "SHUNFENG not 奇门"),
    ({"logistics": []}, "carriers mapped", "empty"),
])
def test_each_mistake_fails_its_own_check(wms, section, failing, why):
    checks = checks_for(wms, **section)
    assert not checks[failing].ok and why in checks[failing].reason, checks[failing].line()
    assert "demo-qimen-app-secret" not in " ".join(c.reason for c in checks.values())


def test_an_unreachable_gateway_is_said_so(wms):
    url = wms.gateway_url
    wms.stop()
    doc = cloud_doc()
    doc["qimen"]["gateway_url"] = url
    tenant = parse_tenant(doc)
    client = QimenClient(credentials_of(tenant.qimen, None), http=httpx.Client(timeout=2))
    [credentials, carriers] = check_qimen(tenant, client, None)
    assert not credentials.ok and "not answering" in credentials.reason


def test_a_wms_that_does_not_take_a_catch_up_query_is_said_so_with_the_setting_to_change(wms):
    wms.faults["script"].append({"kind": "failure", "method": "entryorder.query", "code": "invalid-method"})
    check = checks_for(wms)["catch-up queries"]
    assert not check.ok and "entryorder.query (entry, return)" in check.reason
    assert "qimen.catch_up_queries.<kind>.method: off" in check.reason


def test_catch_up_kinds_turned_off_are_not_asked(wms):
    off = {"method": "off"}
    check = checks_for(wms, catch_up_queries={"entry": off, "return": off})["catch-up queries"]
    assert check.ok and "entryorder.query" not in check.reason
    assert [c["method"] for c in wms.state.calls][-1] == "taobao.qimen.deliveryorder.query"
