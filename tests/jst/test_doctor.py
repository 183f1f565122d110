"""`o2o tenant doctor` with an in-memory JST: every check, and each one failing alone."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from o2o_bridge.connectors.jushuitan import models as m
from o2o_bridge.connectors.jushuitan.doctor import check_tenant
from o2o_bridge.connectors.jushuitan.errors import JstAuthError
from o2o_bridge.tenant import parse_tenant

DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"


def tenant_doc() -> dict:
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


class FakeJst:
    """The part of ports.JstApi the doctor uses, over in-memory base data."""

    def __init__(self) -> None:
        self.shops = [m.Shop(shop_id=133242, shop_name="店加商城", shop_site="商家自有商城"),
                      m.Shop(shop_id=1, shop_name="天猫店", shop_site="天猫")]
        self.warehouses = [m.WmsPartner(wms_co_id=10000, name="总仓"), m.WmsPartner(wms_co_id=10001, name="店加线下仓")]
        self.companies = [m.LogisticsCompany(lc_id="SF"), m.LogisticsCompany(lc_id="ZTO")]
        self.refuse: Exception | None = None

    def _answer(self, value):
        if self.refuse:
            raise self.refuse
        return value

    def query_shops(self, shop_ids=()):
        return self._answer(self.shops)

    def query_warehouses(self):
        return self._answer(self.warehouses)

    def query_logistics_companies(self, wms_co_id=None):
        return self._answer(self.companies)


class NoSecrets:
    def resolve(self, reference):
        raise AssertionError("inline secrets only")


def run(doc=None, jst=None):
    tenant = parse_tenant(doc or tenant_doc())
    return {c.name: c for c in check_tenant(tenant, jst or FakeJst(), NoSecrets())}


def test_a_healthy_tenant_passes_every_check():
    checks = run()
    assert list(checks) == ["credentials", "warehouses", "self_mall_shop", "logistics", "stores",
                            "warehouse_mapping", "stock_formula", "callback_auth", "bin_management",
                            "self_mall_dispatch_rule"]
    assert all(c.ok for c in checks.values()), [c.line() for c in checks.values()]
    assert checks["self_mall_shop"].line().startswith("✓ self_mall_shop: shop 133242")


def test_rejected_credentials_fail_the_checks_that_needed_jst():
    jst = FakeJst()
    jst.refuse = JstAuthError("JST /open/shops/query answered code 100: 无效的access_token")
    checks = run(jst=jst)
    assert not checks["credentials"].ok and "code 100" in checks["credentials"].reason
    assert checks["stock_formula"].ok and checks["stores"].ok  # local checks still run


@pytest.mark.parametrize("change, failing, reason", [
    # A warehouse JST does not know also breaks the mapping check that refers to it.
    (lambda d, j: j.warehouses.pop(1), "warehouses", "offline_wms_co_id=10001"),
    (lambda d, j: d["jushuitan"].update(main_wms_co_id=777), ("warehouses", "warehouse_mapping"), "main_wms_co_id=777"),
    (lambda d, j: d["jushuitan"].update(self_mall_shop_id=999), "self_mall_shop", "does not exist"),
    (lambda d, j: d["jushuitan"].update(self_mall_shop_id=1), "self_mall_shop", "天猫 shop, not 自有商城"),
    (lambda d, j: j.companies.pop(), "logistics", "ZTO"),
    (lambda d, j: d.update(logistics=[]), "logistics", "no logistics mapping"),
    (lambda d, j: d.update(stores=[]), "stores", "no stores"),
    (lambda d, j: d["stores"][0].update(ship=False, pickup=False), "stores", "S001"),
    (lambda d, j: d["warehouses"].pop(0), "warehouse_mapping", "main_wms_co_id 10000"),
    (lambda d, j: d["warehouses"].append({"jst_wms_co_id": 555, "pos_warehouse_code": "X"}), "warehouse_mapping", "555"),
])
def test_each_check_fails_alone_with_its_reason(change, failing, reason):
    doc, jst = copy.deepcopy(tenant_doc()), FakeJst()
    change(doc, jst)
    checks = run(doc, jst)
    expected = set(failing) if isinstance(failing, tuple) else {failing}
    failed = {name for name, c in checks.items() if not c.ok}
    assert failed == expected, [c.line() for c in checks.values()]
    first = failing[0] if isinstance(failing, tuple) else failing
    assert reason in checks[first].reason and checks[first].line().startswith("✗")


def test_a_stock_formula_that_no_longer_parses_fails_its_check(monkeypatch):
    # The tenant model validates the formula on load; a formula stored before a field was
    # renamed is still caught by the doctor.
    from o2o_bridge.stock_formula import FormulaError

    tenant = parse_tenant(tenant_doc())
    import o2o_bridge.stock_formula as sf

    def broken(text):
        raise FormulaError("unknown field qty")

    monkeypatch.setattr(sf, "StockFormula", broken)
    checks = {c.name: c for c in check_tenant(tenant, FakeJst(), NoSecrets())}
    assert not checks["stock_formula"].ok and "unknown field qty" in checks["stock_formula"].reason


def test_doctor_command_prints_one_line_per_check_and_exits_1_on_failure(aws, monkeypatch, capsys):
    from o2o_bridge import runtime
    from o2o_bridge.connectors.jushuitan import factory
    from o2o_bridge.cli import main

    doc = tenant_doc()
    runtime.state_store().put(parse_tenant(doc))
    jst = FakeJst()
    monkeypatch.setattr(factory, "jst_for_tenant", lambda tenant: jst)
    assert main(["tenant", "doctor", "10010"]) == 0
    out = capsys.readouterr().out
    assert out.count("✓") == 7 and out.count("\n  ! ") == 3 and "10 of 10 checks passed (3 to act on)" in out
    jst.companies = []
    assert main(["tenant", "doctor", "10010"]) == 1
    out = capsys.readouterr().out
    assert "✗ logistics: jst_lc_id not among JST's logistics companies: SF, ZTO" in out
    assert main(["tenant", "doctor", "nope"]) == 1  # not found


def test_the_self_mall_dispatch_rule_is_a_warning_a_person_must_act_on():
    rule = run()["self_mall_dispatch_rule"]
    assert rule.ok and rule.warning
    assert rule.line().startswith("! self_mall_dispatch_rule:")
    assert "133242" in rule.reason and "店加线下仓" in rule.reason and "订单分配策略" in rule.reason


def test_the_offline_warehouse_needs_no_store_warehouse_code():
    doc = tenant_doc()
    doc["warehouses"] = [w for w in doc["warehouses"] if w["jst_wms_co_id"] != 10001]
    check = run(doc)["warehouse_mapping"]
    assert check.ok, check.line()
    assert "店加线下仓 10001" in check.reason


def test_a_mapping_of_the_offline_warehouse_is_refused_because_it_would_loop():
    doc = tenant_doc()
    doc["warehouses"].append({"jst_wms_co_id": 10001, "pos_warehouse_code": "10001"})
    check = run(doc)["warehouse_mapping"]
    assert not check.ok and "loop" in check.reason and "10001" in check.reason


def test_the_main_warehouse_still_needs_its_store_warehouse_code():
    doc = tenant_doc()
    doc["warehouses"] = []
    check = run(doc)["warehouse_mapping"]
    assert not check.ok and "main_wms_co_id 10000" in check.reason


def test_a_cloud_warehouse_tenant_needs_no_store_warehouse_for_jsts_main_warehouse():
    # its warehouse stock reaches 店+ from the WMS (qimen.pos_warehouse_code), not from JST's 总仓
    doc = yaml.safe_load((DEMO.parent / "cloud-warehouse.yaml").read_text(encoding="utf-8"))
    assert not doc.get("warehouses")
    check = run(doc)["warehouse_mapping"]
    assert check.ok and "cloud WMS" in check.reason, check.line()


def test_bin_management_is_a_tenant_fact_the_doctor_asks_for_until_it_is_stated():
    unstated = run()["bin_management"]
    assert unstated.ok and unstated.warning and unstated.line().startswith("! bin_management: not stated")
    # It says why and where: JST cannot show it, and which warehouses the bridge counts into.
    assert "JST's API does not show" in unstated.reason and "10001 (店加线下仓" in unstated.reason
    assert "zeroes every SKU it does not list" in unstated.reason and "[] if none" in unstated.reason

    doc = tenant_doc()
    doc["jushuitan"]["bin_managed_wms_co_ids"] = [10001]
    check = run(doc)["bin_management"]
    assert check.ok and not check.warning and "counts into 10001 go as type=adjust" in check.reason

    doc["jushuitan"]["bin_managed_wms_co_ids"] = []
    check = run(doc)["bin_management"]
    assert check.ok and not check.warning and "counts into 10001 go as type=check (stated: no 货位管理)" in check.reason


def test_with_erp_owned_store_stock_the_doctor_names_each_stores_jst_warehouse():
    doc = tenant_doc()
    doc["stock"]["master"] = "erp"
    doc["warehouses"].append({"jst_wms_co_id": 10011, "pos_warehouse_code": "S001"})
    assert "10011 (store S001's 盘点单" in run(doc)["bin_management"].reason


def test_a_replenishment_sent_as_a_transfer_document_asks_for_a_test_document():
    assert "replenishment_document" not in run()
    doc = tenant_doc()
    doc["jushuitan"]["replenishment_document"] = "transfer"
    check = run(doc)["replenishment_document"]
    assert check.ok and check.warning and "S001 -> 10001" in check.reason and "/open/allocate/kc/upload" in check.reason


def test_a_replenishment_sent_as_a_transfer_document_warns_that_jst_must_receive_it_by_hand():
    assert "transfer_receipt" not in run()
    doc = tenant_doc()
    doc["jushuitan"]["replenishment_document"] = "transfer"
    check = run(doc)["transfer_receipt"]
    assert check.ok and check.warning and check.line().startswith("! transfer_receipt")
    assert "调拨在途" in check.reason and "at 10001" in check.reason and "stock.master: erp" not in check.reason


def test_with_erp_owned_store_stock_the_receipt_warning_says_the_store_loses_the_goods_again():
    doc = tenant_doc()
    doc["jushuitan"]["replenishment_document"] = "transfer"
    doc["stock"]["master"] = "erp"
    doc["warehouses"].append({"jst_wms_co_id": 10011, "pos_warehouse_code": "S001"})
    reason = run(doc)["transfer_receipt"].reason
    assert "10011" in reason and "loses them again at the next stock pull" in reason


def test_a_bin_managed_warehouse_jst_does_not_have_fails():
    doc = tenant_doc()
    doc["jushuitan"]["bin_managed_wms_co_ids"] = [10001, 99999]
    check = run(doc)["bin_management"]
    assert not check.ok and "99999" in check.reason


@pytest.mark.parametrize("callback, warned, says", [
    ({"token": "t0ken-1"}, True, "run `o2o tenant urls 10010 --rotate`"),  # URLs pasted before per-URL tokens
    ({"token": "t0ken-1", "tenant_wide_token": False}, False, "each URL's own token"),
    ({"partner_key": "pk-1"}, False, "JST's push sign"),
    ({"allow_unsigned": True}, True, "without any proof"),
])
def test_callback_auth_warns_where_a_push_is_tied_to_less_than_its_url(callback, warned, says):
    doc = tenant_doc()
    doc["jushuitan"]["callback"] = callback
    check = run(doc)["callback_auth"]
    assert check.ok and check.warning == warned and says in check.reason
