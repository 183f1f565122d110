"""The 旺店通 tenant file: the section as implementation staff write it, one ERP per
tenant, and mistakes reported with their key paths."""

from __future__ import annotations

from pathlib import Path

import yaml

from fakes import tenant_errors as errors_of
from o2o_bridge.tenant import parse_tenant

ROOT = Path(__file__).resolve().parents[2]
WDT_DEMO = ROOT / "local" / "tenants" / "wdt-demo.yaml"
JST_DEMO = ROOT / "local" / "tenants" / "demo.yaml"


def doc(path: Path = WDT_DEMO) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_demo_section_is_valid_and_keeps_the_contract_names():
    tenant = parse_tenant(doc())
    section = tenant.wangdiantong
    assert tenant.erp == "wangdiantong" and tenant.jushuitan is None
    assert (section.sid, section.shop_no, section.main_warehouse_no) == ("demo-sid", "POS01", "000")
    assert (section.no_tracking_logistics_code, section.cod_logistics_code) == ("WDH", "HDFK")
    assert (section.rate_limit.per_second, section.rate_limit.per_minute) == (5, 300)
    assert section.base_url == "http://127.0.0.1:8804/openapi2"


def test_a_stores_warehouse_is_its_code_unless_given():
    stores = parse_tenant(doc()).stores
    assert [s.wdt_warehouse for s in stores] == ["S101", "S102"]
    data = doc()
    data["stores"][0]["wdt_warehouse_no"] = 1001  # YAML int: taken as written
    assert parse_tenant(data).stores[0].wdt_warehouse == "1001"


def test_numbers_written_as_yaml_ints_stay_text():
    data = doc()
    data["wangdiantong"]["main_warehouse_no"] = 0
    assert parse_tenant(data).wangdiantong.main_warehouse_no == "0"


def test_a_jst_tenant_is_unchanged_by_default():
    tenant = parse_tenant(doc(JST_DEMO))
    assert tenant.erp == "jushuitan" and tenant.wangdiantong is None and tenant.jushuitan is not None


def test_a_tenant_has_one_erp():
    data = doc()
    data["jushuitan"] = doc(JST_DEMO)["jushuitan"]
    assert any(m.startswith("jushuitan: a tenant has one ERP") for m in errors_of(data))
    jst = doc(JST_DEMO)
    jst["wangdiantong"] = doc()["wangdiantong"]
    assert any(m.startswith("wangdiantong: a tenant has one ERP") for m in errors_of(jst))


def test_the_erps_section_is_required():
    data = doc()
    del data["wangdiantong"]
    assert any(m.startswith("wangdiantong: required") for m in errors_of(data))
    jst = doc(JST_DEMO)
    del jst["jushuitan"]
    assert any(m.startswith("jushuitan: required") for m in errors_of(jst))


def test_every_mistake_in_the_section_is_reported_with_its_key_path_at_once():
    data = doc()
    section = data["wangdiantong"]
    section["app_secret"] = section.pop("appsecret")  # the JST spelling: a typo here
    del section["shop_no"]
    section["base_url"] = "api.wangdian.cn"
    section["rate_limit"] = {"per_second": 0}
    data["stores"][1]["wdt_warehouse_no"] = "S101"  # the first store's warehouse too
    data["erp"] = "wangdiantong"
    paths = [m.split(":", 1)[0] for m in errors_of(data)]
    for path in ("wangdiantong.app_secret", "wangdiantong.appsecret", "wangdiantong.shop_no",
                 "wangdiantong.base_url", "wangdiantong.rate_limit.per_second", "stores"):
        assert path in paths, path


def test_the_secret_may_be_a_secrets_manager_reference_but_not_both():
    data = doc()
    data["wangdiantong"]["appsecret_ref"] = "secretsmanager:o2o/tenants/10030/wdt#appsecret"
    assert any("give appsecret or appsecret_ref, not both" in m for m in errors_of(data))
    del data["wangdiantong"]["appsecret"]
    tenant = parse_tenant(data)
    assert tenant.wangdiantong.secret_source("appsecret") == "secretsmanager:o2o/tenants/10030/wdt#appsecret"


def test_the_secret_is_masked_on_display_and_kept_for_storage():
    tenant = parse_tenant(doc())
    assert "demo-wdt-appsecret" not in str(tenant.to_display())
    assert tenant.to_storage()["wangdiantong"]["appsecret"] == "demo-wdt-appsecret"
    assert "demo-wdt-appsecret" in tenant.inline_secrets()


def test_uncertain_facts_are_options():
    data = doc()
    data["wangdiantong"].update(push_platform_ids=["0", "127", "9"], strict_trade_push=True,
                                errors={"rate_limit_codes": [1130]}, trade_page_size=100,
                                documents={"excluded_stockin_types": ["4", "9"], "statuses": ["80"]})
    section = parse_tenant(data).wangdiantong
    assert section.errors.rate_limit_codes == [1130] and section.documents.statuses == ["80"]
    data["wangdiantong"]["trade_page_size"] = 101
    assert any(m.startswith("wangdiantong.trade_page_size") for m in errors_of(data))
