"""What an implementation engineer gets from `o2o tenant urls / init / schema`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from o2o_bridge.cli import main as o2o
from o2o_bridge.cli.onboarding import callback_urls, production_template, schema_text
from o2o_bridge.connectors.jushuitan.push import url_token
from o2o_bridge.tenant import parse_tenant

ROOT = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((ROOT / "local" / "tenants" / "demo.yaml").read_text(encoding="utf-8"))


def test_the_shipped_schema_is_the_one_the_tenant_model_generates():
    # After changing the tenant model: o2o tenant schema > docs/tenant.schema.json
    assert (ROOT / "docs" / "tenant.schema.json").read_text(encoding="utf-8") == schema_text()


def test_the_schema_accepts_the_demo_tenant_and_names_a_wrong_key():
    schema = json.loads(schema_text())
    jsonschema.validate(DEMO, schema)
    broken = {**DEMO, "jushuitan": {**DEMO["jushuitan"], "self_mall_shop": 133242}}
    with pytest.raises(jsonschema.ValidationError, match="self_mall_shop"):
        jsonschema.validate(broken, schema)


def filled_in(template: str) -> dict:
    numbers = {"<wms_co_id>": "10000", "<shop_id>": "133242"}
    text = re.sub(r"<wms_co_id>|<shop_id>", lambda m: numbers[m.group(0)], template)
    text = re.sub(r"<[^<>\n]+>", "X1", text)
    return yaml.safe_load(text)


def test_the_production_template_has_real_endpoints_and_only_secret_references():
    template = production_template(ent_id="10086")
    doc = filled_in(template)
    tenant = parse_tenant(doc)
    assert tenant.ent_id == "10086" and tenant.jushuitan.base_url.startswith("https://openapi.jushuitan.com")
    assert tenant.inline_secrets() == []  # every secret is a Secrets Manager reference
    assert "127.0.0.1" not in template and "demo-" not in template
    jsonschema.validate(doc, json.loads(schema_text()))


def test_init_refuses_what_is_not_built_and_never_overwrites(tmp_path, capsys):
    assert o2o(["tenant", "init", "--erp", "wangdiantong"]) == 1
    assert "issue #16" in capsys.readouterr().err
    assert o2o(["tenant", "init", "--warehouse", "qimen"]) == 1
    assert "issue #17" in capsys.readouterr().err
    target = tmp_path / "t.yaml"
    assert o2o(["tenant", "init", "-o", str(target)]) == 0 and target.read_text(encoding="utf-8").startswith("#")
    assert o2o(["tenant", "init", "-o", str(target)]) == 2


def test_callback_urls_carry_the_tenant_ids_and_each_names_its_menu():
    tenant = parse_tenant(DEMO)
    urls = {u.setting: u for u in callback_urls(tenant, "https://api.example.cn/")}
    delivery = urls["物流同步（发货回传）"]
    assert delivery.url == ("https://api.example.cn/jushuitan/delivery_callback?entId=10010&storageCode=133242"
                            "&token=<TOKEN>")
    assert delivery.menu_path.startswith("聚水潭 ERP › 店铺管理") and "133242" in delivery.menu_path
    stock = [u for s, u in urls.items() if s.startswith("库存同步")]
    # 店加线下仓 (10001) is fed by the stores and never mapped, so it gets no stock callback.
    assert [u.url.split("?")[1] for u in stock] == ["entId=10010&storageCode=10000&type=2&token=<TOKEN>"]
    assert urls["事件推送地址（Webhook），签名密钥 = pos.webhook_secret"].url == "https://api.example.cn/pos/events"
    revealed = {u.setting: u.url for u in callback_urls(tenant, "https://api.example.cn/", token="demo-callback-token")}
    # each URL its own token: the route, tenant and storageCode are inside it, the tenant's token is not shown
    tokens = {setting: url.partition("&token=")[2] for setting, url in revealed.items() if "&token=" in url}
    assert len(tokens) == 4 and len(set(tokens.values())) == 4
    assert not any("demo-callback-token" in url for url in revealed.values())
    assert tokens["物流同步（发货回传）"] == url_token("demo-callback-token", ent_id="10010", route="delivery",
                                                  storage_code="133242")
