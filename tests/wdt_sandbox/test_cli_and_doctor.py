"""`o2o wdt call` and `o2o tenant doctor` for a 旺店通 tenant, through the real wiring
(tenant in StateTable, the shared DynamoDB rate limiter) against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from o2o_bridge import runtime
from o2o_bridge.cli import main
from o2o_bridge.connectors.wangdiantong import factory
from o2o_bridge.tenant import parse_tenant

WDT_DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "wdt-demo.yaml"


@pytest.fixture
def tenant(aws, sandbox):
    doc = yaml.safe_load(WDT_DEMO.read_text(encoding="utf-8"))
    doc["wangdiantong"]["base_url"] = sandbox.base_url
    runtime.state_store().put(parse_tenant(doc))
    factory.forget()
    yield doc
    factory.forget()


def test_wdt_call_prints_the_answer_and_sends_nested_values_as_json(tenant, sandbox, capsys):
    assert main(["wdt", "call", "shop.php", '{"page_no": 0, "page_size": 10}', "--tenant", "10030"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["code"] == 0 and answer["shoplist"][0]["shop_no"] == "POS01" and answer["total_count"] == 1
    stockin = {"stockin_info": {"outer_no": "CLI-1", "warehouse_no": "S101", "is_check": 1,
                                "goods_list": [{"spec_no": "PIL-STD", "stockin_num": 1}]}}
    assert main(["wdt", "call", "stockin_order_push", json.dumps(stockin, ensure_ascii=False), "--tenant", "10030"]) == 0
    assert sandbox.calls("stockin_order_push.php")[0]["code"] == 0
    assert "demo-wdt-appsecret" not in capsys.readouterr().out


def test_wdt_call_errors_are_one_line(tenant, capsys):
    assert main(["wdt", "call", "shop.php", "[1]", "--tenant", "10030"]) == 2
    assert "JSON object" in capsys.readouterr().err
    assert main(["wdt", "call", "shop.php", "--tenant", "nobody"]) == 1  # not found
    assert main(["wdt", "call", "trade_query.php", '{"start_time":"2026-12-01 00:00:00","end_time":"2026-12-01 02:00:00"}',
                 "--tenant", "10030"]) == 1  # the ERP refused: failed
    assert "时间跨度" in capsys.readouterr().err


def doctor_lines(capsys) -> tuple[int, list[str]]:
    code = main(["tenant", "doctor", "10030"])
    return code, capsys.readouterr().out.splitlines()


def test_the_demo_tenant_passes_every_check(tenant, capsys):
    code, lines = doctor_lines(capsys)
    assert code == 0, lines
    names = [line.split()[1].rstrip(":") for line in lines if line.strip().startswith(("✓", "✗"))]
    assert names == ["credentials", "pos_shop", "store_warehouses", "main_warehouse", "logistics", "categories"]


def test_the_doctor_names_each_onboarding_mistake_on_its_own_line(tenant, sandbox, capsys):
    sandbox.remove_warehouse("S102")
    sandbox.put_warehouse(warehouse_no="S-102", name="五角场店")   # 仓库编号 not the store code
    sandbox.remove_warehouse("000")
    sandbox.seed(shops=[{"shop_no": "POS01", "shop_name": "门店POS", "platform_id": "64"}],  # the guide's 微铺宝
                 logistics=[{"logistics_no": "HDFK", "logistics_name": "货到付款物流", "is_support_cod": 0}],
                 goods_classes=[{"class_id": "4", "class_name": "记忆棉", "parent_id": "3"}])
    code, lines = doctor_lines(capsys)
    failed = {line.split()[1].rstrip(":"): line for line in lines if line.strip().startswith("✗")}
    assert code == 1
    assert set(failed) == {"pos_shop", "store_warehouses", "main_warehouse", "logistics", "categories"}
    assert "store S102: no 旺店通 warehouse with 仓库编号 S102 (warehouse 五角场店 has 仓库编号 S-102" in failed["store_warehouses"]
    assert "自有 or 其它" in failed["pos_shop"]
    assert "does not support 货到付款" in failed["logistics"]
    assert "4 levels deep (家居 > 床品 > 枕头 > 记忆棉)" in failed["categories"]
    assert lines[-1] == "1 of 6 checks passed"


def test_a_wrong_secret_fails_the_checks_that_call_the_erp_with_the_reason(tenant, capsys):
    doc = dict(tenant)
    doc["wangdiantong"] = {**tenant["wangdiantong"], "appsecret": "wrong"}
    runtime.state_store().put(parse_tenant(doc))
    code, lines = doctor_lines(capsys)
    assert code == 1 and any("签名错误" in line for line in lines if "credentials" in line)
    assert "wrong" not in "\n".join(lines)


def test_a_wangdiantong_tenant_with_a_cloud_warehouse_is_checked_on_both_sides(tenant, capsys):
    """erp: wangdiantong with warehouse: qimen: the 旺店通 checks (W6) and the 奇门 ones, one run."""
    from o2o_bridge.connectors.qimen import factory as qimen_factory
    from o2o_local.qimen_sandbox import QimenSandbox
    from qimen_wms import cloud_doc

    with QimenSandbox() as wms:
        doc = {**tenant, "warehouse": "qimen", "qimen": {**cloud_doc()["qimen"], "gateway_url": wms.gateway_url}}
        runtime.state_store().put(parse_tenant(doc))
        qimen_factory.forget()
        try:
            code, lines = doctor_lines(capsys)
        finally:
            qimen_factory.forget()
    assert code == 0, lines
    checked = "\n".join(lines)
    for name in ("credentials", "store_warehouses", "奇门 credentials", "WMS warehouse and owner", "carriers mapped",
                 "catch-up queries"):
        assert name in checked
    assert lines[-1] == "10 of 10 checks passed"
