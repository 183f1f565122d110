"""The tenant file's ``warehouse: qimen`` and ``qimen:`` section."""

from pathlib import Path

import yaml

from fakes import tenant_errors as errors_of
from o2o_bridge.tenant import parse_tenant

DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"

SECTION = {
    "gateway_url": "https://qimen.api.taobao.com/router/qimen/service",
    "app_key": "23456789",
    "app_secret": "qimen-secret",
    "customer_id": "C001",
    "warehouse_code": "WH01",
    "owner_code": "OWNER01",
    "logistics": [{"pos_code": "SF", "qimen_code": "SF"}, {"pos_code": "ZT", "qimen_code": "ZTO", "name": "中通"}],
}


def cloud_doc(**section) -> dict:
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc["warehouse"] = "qimen"
    doc["qimen"] = {**SECTION, **section}
    return doc


def test_the_section_as_documented_is_valid():
    tenant = parse_tenant(cloud_doc())
    assert tenant.warehouse == "qimen"
    q = tenant.qimen
    assert (q.customer_id, q.warehouse_code, q.owner_code) == ("C001", "WH01", "OWNER01")
    assert q.store_warehouse_code == "WH01"  # the 店+ warehouse defaults to the WMS's code
    assert q.logistics[1].qimen_code == "ZTO"
    assert q.callback_max_skew_seconds == 600
    assert "qimen-secret" not in str(tenant.to_display())
    assert "qimen-secret" in tenant.inline_secrets()


def test_default_tenant_keeps_the_erp_warehouse():
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    tenant = parse_tenant(doc)
    assert tenant.warehouse == "erp" and tenant.qimen is None


def test_secret_by_reference_and_numeric_codes():
    section = dict(SECTION)
    section.pop("app_secret")
    doc = cloud_doc(app_secret=None, app_secret_ref="secretsmanager:o2o/tenants/10010/qimen#app_secret", warehouse_code=100,
                    pos_warehouse_code=10000)
    doc["qimen"].pop("app_secret")
    tenant = parse_tenant(doc)
    assert tenant.qimen.secret_source("app_secret") == "secretsmanager:o2o/tenants/10010/qimen#app_secret"
    assert tenant.qimen.warehouse_code == "100" and tenant.qimen.store_warehouse_code == "10000"


def test_mistakes_are_named_by_key_path_all_at_once():
    doc = cloud_doc(custmer_id="C9", sign_method="sha1",
                    logistics=[{"pos_code": "SF", "qimen_code": "SF"}, {"pos_code": "SF", "qimen_code": "ZTO"}])
    doc["qimen"].pop("app_secret")
    doc["qimen"].pop("owner_code")
    messages = errors_of(doc)
    paths = {m.split(":", 1)[0] for m in messages}
    assert {"qimen.custmer_id", "qimen.app_secret", "qimen.owner_code", "qimen.sign_method", "qimen.logistics"} <= paths
    assert any("repeated: SF" in m for m in messages)


def test_warehouse_qimen_needs_the_section():
    doc = cloud_doc()
    doc.pop("qimen")
    assert any(m.startswith("qimen: required when warehouse is qimen") for m in errors_of(doc))


def test_both_secret_sources_are_refused():
    doc = cloud_doc(app_secret_ref="secretsmanager:o2o/tenants/10010/x")
    assert any(m.startswith("qimen.app_secret: give app_secret or app_secret_ref") for m in errors_of(doc))
