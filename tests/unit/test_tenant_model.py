"""The tenant file: what implementation staff write, and what they are told when it is wrong."""

from pathlib import Path

import yaml

from fakes import tenant_errors as errors_of
from o2o_bridge.tenant import parse_tenant

DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"


def demo_doc() -> dict:
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def test_demo_tenant_file_is_valid_and_keeps_contract_field_names():
    tenant = parse_tenant(demo_doc())
    assert tenant.ent_id == "10010"
    assert tenant.jushuitan.offline_wms_co_id == 10001
    assert tenant.jushuitan.rate_limit.per_second == 5
    assert tenant.stores[0].regions == ["上海市"]
    assert tenant.warehouses[0].pos_warehouse_code == "10000"
    assert tenant.products.attribute_fields == {"year": "other_1", "season": "other_2"}


def test_every_error_is_reported_with_its_key_path_at_once():
    doc = demo_doc()
    doc["jushuitan"]["app_secrt"] = doc["jushuitan"].pop("app_secret")  # a typo
    doc["jushuitan"]["offline_wms_co_id"] = 0
    doc["pos"]["base_url"] = "pos.example.com"
    doc["stores"][1]["code"] = "S001"
    doc["stores"][1]["prio"] = 3
    doc["stock"]["formula"] = "qty + qtyy"
    messages = errors_of(doc)
    paths = [m.split(":", 1)[0] for m in messages]
    assert "jushuitan.app_secrt" in paths  # unknown key, named
    assert "jushuitan.app_secret" in paths  # and the missing secret, in the same run
    assert "jushuitan.offline_wms_co_id" in paths
    assert "pos.base_url" in paths
    assert "stores[1].prio" in paths
    assert "stores" in paths and any("repeated: S001" in m for m in messages)
    assert "stock.formula" in paths and any("qtyy" in m for m in messages)


def test_secret_may_be_a_secrets_manager_reference_but_not_both():
    doc = demo_doc()
    doc["jushuitan"].pop("app_secret")
    doc["jushuitan"]["app_secret_ref"] = "secretsmanager:o2o/tenants/10010/jushuitan#app_secret"
    tenant = parse_tenant(doc)
    assert tenant.jushuitan.secret_source("app_secret") == "secretsmanager:o2o/tenants/10010/jushuitan#app_secret"

    doc["jushuitan"]["app_secret"] = "inline"
    assert any("give app_secret or app_secret_ref, not both" in m for m in errors_of(doc))

    doc["jushuitan"].pop("app_secret")
    doc["jushuitan"]["app_secret_ref"] = "vault:nope"
    assert [m for m in errors_of(doc) if m.startswith("jushuitan.app_secret_ref")]


def test_callbacks_must_be_authenticated_unless_explicitly_opted_out():
    doc = demo_doc()
    doc["jushuitan"]["callback"] = {}
    assert any(m.startswith("jushuitan.callback:") and "allow_unsigned" in m for m in errors_of(doc))
    doc["jushuitan"]["callback"] = {"allow_unsigned": True}
    assert parse_tenant(doc).jushuitan.callback.allow_unsigned is True


def test_display_masks_every_secret_and_storage_keeps_them():
    tenant = parse_tenant(demo_doc())
    shown = str(tenant.to_display())
    for secret in ("demo-app-secret", "demo-access-token", "demo-pos-api-key", "demo-webhook-secret", "demo-partner-key"):
        assert secret not in shown
        assert secret in tenant.inline_secrets()
    assert tenant.to_storage()["jushuitan"]["app_secret"] == "demo-app-secret"
    assert parse_tenant(tenant.to_storage()) == tenant


def test_a_document_that_is_not_a_mapping_is_one_clear_error():
    assert errors_of(["not", "a", "tenant"]) == ["(top level): Input should be a valid dictionary or instance of Tenant"]
