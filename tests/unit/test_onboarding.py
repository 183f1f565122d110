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


@pytest.mark.parametrize("erp, warehouse", [("wangdiantong", "erp"), ("jushuitan", "qimen"), ("wangdiantong", "qimen")])
def test_each_kind_of_tenant_has_a_production_template_of_secret_references(erp, warehouse):
    template = production_template(erp, warehouse, ent_id="10086")
    doc = filled_in(template)
    tenant = parse_tenant(doc)
    assert (tenant.erp, tenant.warehouse) == (erp, warehouse)
    assert tenant.inline_secrets() == []  # every secret is a Secrets Manager reference
    assert "127.0.0.1" not in template and "demo-" not in template and "ENT_ID" not in template
    assert all(line.startswith("#") or "#" in line or not line.strip() or line.strip().startswith(("-", "{"))
               or line.rstrip().endswith(":") for line in template.splitlines()[:12])  # a commented head
    if erp == "wangdiantong":
        assert tenant.wangdiantong.base_url.startswith("https://api.wangdian.cn") and tenant.jushuitan is None
        assert "secretsmanager:o2o/tenants/10086/wdt#appsecret" in template
    if warehouse == "qimen":
        assert tenant.qimen.gateway_url.startswith("https://qimen.api.taobao.com")
        assert "qimen/callback?entId=10086" in template
    jsonschema.validate(doc, json.loads(schema_text()))


def test_init_writes_the_template_of_the_kind_asked_and_never_overwrites(tmp_path, capsys):
    target = tmp_path / "t.yaml"
    assert o2o(["tenant", "init", "--erp", "wangdiantong", "--ent-id", "10030", "-o", str(target)]) == 0
    assert "erp: wangdiantong" in target.read_text(encoding="utf-8")
    assert o2o(["tenant", "init", "-o", str(target)]) == 2
    assert o2o(["tenant", "init", "--warehouse", "qimen"]) == 0
    assert "warehouse: qimen" in capsys.readouterr().out


def tenant_file(name):
    return parse_tenant(yaml.safe_load((ROOT / "local" / "tenants" / name).read_text(encoding="utf-8")))


def test_a_wdt_tenant_pastes_only_the_store_systems_push_and_is_told_why_wdt_needs_none():
    from o2o_bridge.cli.onboarding import paste_notes

    tenant = tenant_file("wdt-demo.yaml")
    urls = callback_urls(tenant, "https://api.example.cn/")
    assert [u.url for u in urls] == ["https://api.example.cn/pos/events", "https://api.example.cn/health"]
    assert "旺店通授权" in urls[0].menu_path and "Wangdiantong authorisation" in urls[0].menu_path_en
    [note] = paste_notes(tenant)
    assert "不需要粘贴回调地址" in note.note and "whitelist" in note.note_en and "demo-sid" in note.note


def test_a_cloud_warehouse_tenant_pastes_the_qimen_callback_with_its_menu_in_both_languages():
    tenant = tenant_file("cloud-warehouse.yaml")
    urls = {u.system: u for u in callback_urls(tenant, "https://api.example.cn/")}
    qimen = urls["奇门"]
    assert qimen.url == "https://api.example.cn/qimen/callback?entId=10020"
    assert "customerId C001" in qimen.menu_path and "奇门仓储" in qimen.menu_path
    assert "customerId C001" in qimen.menu_path_en and "Qimen WMS" in qimen.menu_path_en
    # Store orders go to the WMS: JST's 自有商城 pushes are not pasted.
    assert not any("delivery_callback" in u.url for u in callback_urls(tenant, "https://api.example.cn/"))


def test_o2o_tenant_urls_of_a_wdt_tenant_prints_json_with_the_note(aws, capsys):
    from o2o_bridge import runtime

    runtime.state_store().put(tenant_file("wdt-demo.yaml"))
    assert o2o(["tenant", "urls", "10030", "--base-url", "https://api.example.cn", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [u["url"] for u in shown["urls"]] == ["https://api.example.cn/pos/events", "https://api.example.cn/health"]
    assert shown["notes"][0]["system"] == "旺店通" and all(u["menu_path_en"] for u in shown["urls"])
    assert o2o(["tenant", "urls", "10030", "--base-url", "https://api.example.cn"]) == 0
    text = capsys.readouterr().out
    assert "菜单: 店+ 后台" in text and "menu: 店+ back office" in text and "[旺店通]" in text


def test_callback_urls_carry_the_tenant_ids_and_each_names_its_menu():
    tenant = parse_tenant(DEMO)
    urls = {u.setting: u for u in callback_urls(tenant, "https://api.example.cn/")}
    delivery = urls["物流同步（发货回传）"]
    assert delivery.url == ("https://api.example.cn/jushuitan/delivery_callback?entId=10010&storageCode=133242"
                            "&token=<TOKEN>")
    assert delivery.menu_path.startswith("聚水潭 ERP › 店铺管理") and "133242" in delivery.menu_path
    assert delivery.menu_path_en.startswith("JST ERP › Shops") and "133242" in delivery.menu_path_en
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


def test_rotate_switches_a_tenant_to_per_url_tokens_under_a_key_no_old_url_carried(aws, capsys):
    """`o2o tenant urls E --rotate`: the old plain-token URLs (whose token is the key per-URL tokens
    derive from) stop working, the printed URLs work, the secret's other keys are kept."""
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from handlers import answer, sample_event
    from o2o_bridge import runtime

    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="o2o/tenants/10010/jushuitan",
                          SecretString=json.dumps({"callback_token": "old-plain-token", "app_secret": "kept"}))
    doc = json.loads(json.dumps(DEMO))
    doc["jushuitan"]["callback"] = {"token_ref": "secretsmanager:o2o/tenants/10010/jushuitan#callback_token"}
    runtime.state_store().put(parse_tenant(doc))

    def delivery(query: dict) -> int:  # a malformed body: 400 once authenticated, 401 if not; nothing written
        parameters.clear_caches()
        runtime.reset()  # the functions' caches turned over
        return answer("delivery_callback", sample_event("delivery_callback", query=query, body="{not json"))[0]

    old_url = {"entId": "10010", "storageCode": "133242", "token": "old-plain-token"}
    assert delivery(old_url) == 400  # tenant_wide_token defaults to true: the URL pasted years ago works

    assert o2o(["tenant", "urls", "10010", "--base-url", "https://api.example.cn", "--rotate"]) == 0
    printed = capsys.readouterr().out
    stored = json.loads(secrets.get_secret_value(SecretId="o2o/tenants/10010/jushuitan")["SecretString"])
    new = stored["callback_token"]
    assert stored["app_secret"] == "kept" and new != "old-plain-token" and len(new) >= 32
    assert runtime.state_store().get("10010").jushuitan.callback.tenant_wide_token is False
    delivery_url = next(line.strip() for line in printed.splitlines() if "/jushuitan/delivery_callback?" in line)
    token = delivery_url.partition("&token=")[2]
    assert token == url_token(new, ent_id="10010", route="delivery", storage_code="133242")
    assert "--rotate" not in printed and "Paste every JST URL" in printed

    assert delivery(old_url) == 401  # the plain token, on any URL
    assert delivery({**old_url, "token": url_token("old-plain-token", ent_id="10010", route="delivery",
                                                     storage_code="133242")}) == 401  # derived from the old key
    assert delivery({**old_url, "token": token}) == 400  # the printed URL


def test_rotate_refuses_a_tenant_whose_pushes_are_signed_and_changes_nothing(aws, capsys):
    from o2o_bridge import runtime

    doc = json.loads(json.dumps(DEMO))
    doc["jushuitan"]["callback"] = {"partner_key": "pk-only"}
    runtime.state_store().put(parse_tenant(doc))
    assert o2o(["tenant", "urls", "10010", "--base-url", "https://api.example.cn", "--rotate"]) != 0
    assert "no callback token to rotate" in capsys.readouterr().err
    assert runtime.state_store().get("10010").jushuitan.callback.partner_key.get_secret_value() == "pk-only"


def test_rotate_an_inline_token_only_on_the_local_stack(aws, capsys, monkeypatch):
    from o2o_bridge import runtime

    runtime.state_store().put(parse_tenant(DEMO))  # the demo tenant: its token inline
    from o2o_bridge.cli import environment

    monkeypatch.setattr(environment, "is_local_stack", lambda: False)  # as against a deployed stack
    assert o2o(["tenant", "urls", "10010", "--base-url", "https://api.example.cn", "--rotate"]) != 0
    assert "keeps its callback token inline" in capsys.readouterr().err
    assert runtime.state_store().get("10010").jushuitan.callback.token.get_secret_value() == "demo-callback-token"
    monkeypatch.setattr(environment, "is_local_stack", lambda: True)  # the local stack: rewritten in place
    assert o2o(["tenant", "urls", "10010", "--base-url", "https://api.example.cn", "--rotate"]) == 0
    callback = runtime.state_store().get("10010").jushuitan.callback
    assert callback.token.get_secret_value() != "demo-callback-token" and callback.tenant_wide_token is False


def test_the_jst_template_names_the_implementation_guides_options():
    template = production_template(ent_id="10086")
    tenant = parse_tenant(filled_in(template))
    assert "sync_sale_price" not in template and tenant.products.sale_price == "on_create"
    assert tenant.products.staging_category == "其他" and tenant.routing.pickup_store_field == "pickup_store_code"
    assert tenant.jushuitan.aftersale_warehouse_type == 2 and tenant.jushuitan.replenishment_document == "other_out"
    assert all(store.city for store in tenant.stores)  # a pickup's alternatives are the chosen store's city
    # 货位管理 stays unstated until the merchant says, so doctor keeps asking
    assert tenant.jushuitan.bin_managed_wms_co_ids is None and "bin_managed_wms_co_ids" in template
    for option in ("sales_return_warehouse", "fallback_store", "店加线下仓"):
        assert option in template
