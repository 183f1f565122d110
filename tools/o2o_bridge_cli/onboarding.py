"""What an implementation engineer (实施人员) pastes and fills in when connecting a merchant:
the callback URLs with the console menu path where each goes (`o2o tenant urls`), a
commented production tenant file (`o2o tenant init`), and the JSON Schema of the tenant
file that editors check it against (docs/tenant.schema.json, `o2o tenant schema`).

The menu paths follow the 聚水潭 and 店+ consoles as merchants use them (docs/zh/onboarding.md);
旺店通 (issue #16) and 奇门 (issue #17) add theirs when their connectors land.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

from ..errors import NotImplementedYet

LOCAL_API_URL = "http://127.0.0.1:3000/"
SCHEMA_PATH = Path("docs") / "tenant.schema.json"


@dataclass(frozen=True)
class PasteUrl:
    system: str  # where it is pasted: 聚水潭, 店+, monitoring
    setting: str  # the setting's name on that console
    menu_path: str  # where that setting is, click by click
    url: str


def api_base_url(explicit: str | None = None) -> tuple[str, str]:
    """(base URL ending in '/', where it came from): --base-url, the deployed stack's
    ``CustomDomainUrl`` or ``HttpApiUrl`` output (O2O_STACK), else the local API."""
    if explicit:
        return explicit.rstrip("/") + "/", "--base-url"
    if os.environ.get("O2O_STACK") and not os.environ.get("AWS_ENDPOINT_URL"):
        from .. import runtime
        from ..errors import ConfigurationError

        stack = os.environ["O2O_STACK"]
        try:
            described = runtime.aws_client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        except Exception as exc:  # botocore ClientError: no such stack
            if type(exc).__name__ != "ClientError":
                raise
            raise ConfigurationError(f"cannot read stack {stack!r}: {exc}") from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        for key in ("CustomDomainUrl", "HttpApiUrl"):
            if outputs.get(key):
                return outputs[key].rstrip("/") + "/", f"stack {stack} output {key}"
        raise ConfigurationError(f"stack {stack!r} has no HttpApiUrl output: is it an o2o-bridge stack?")
    local = os.environ.get("O2O_API_URL", LOCAL_API_URL)
    return local.rstrip("/") + "/", "the local API (o2o local up; O2O_API_URL or --base-url to change)"


def callback_urls(tenant, base_url: str, token: str | None = None) -> list[PasteUrl]:
    """Every URL the merchant's consoles need, for this tenant."""
    from ..connectors.jushuitan.inbound import ROUTES
    from ..connectors.jushuitan.push import url_token

    jst = tenant.jushuitan
    uses_token = jst.callback.secret_source("token") is not None

    def jst_url(route: str, storage: int, **extra: str) -> str:
        query = {"entId": tenant.ent_id, "storageCode": str(storage), **extra}
        if uses_token:
            # Each URL its own token (bound to its route, tenant and storageCode), never the tenant's.
            query["token"] = url_token(token, ent_id=tenant.ent_id, route=ROUTES[f"/jushuitan/{route}"][0],
                                       storage_code=str(storage)) if token else "<TOKEN>"
        return f"{base_url}jushuitan/{route}?{urlencode(query, safe='<>')}"

    shop_edit = "聚水潭 ERP › 店铺管理 › 店铺列表 › 自有商城店铺（编号 %s）「编辑」› 消息推送" % jst.self_mall_shop_id
    urls = [
        PasteUrl("聚水潭", "物流同步（发货回传）", f"{shop_edit} › 物流同步",
                 jst_url("delivery_callback", jst.self_mall_shop_id)),
        PasteUrl("聚水潭", "取消订单", f"{shop_edit} › 取消订单", jst_url("cancel_callback", jst.self_mall_shop_id)),
        PasteUrl("聚水潭", "售后收货", f"{shop_edit} › 售后收货",
                 jst_url("return_goods_callback", jst.self_mall_shop_id)),
    ]
    for mapping in tenant.warehouses:
        urls.append(PasteUrl("聚水潭", f"库存同步（仓库 {mapping.jst_wms_co_id} → 店+ 仓库 {mapping.pos_warehouse_code}）",
                             f"{shop_edit} › 库存同步（每个映射的仓库一条）",
                             jst_url("stock_callback", mapping.jst_wms_co_id, type="2")))
    urls += [
        PasteUrl("店+", "事件推送地址（Webhook），签名密钥 = pos.webhook_secret",
                 "店+ 后台 › 电商订单 › 授权管理（ooms.dianjia.io/?module=30&menu=3010）› 聚水潭授权 › 事件推送"
                 "（由店加实施填写）", f"{base_url}pos/events"),
        PasteUrl("监控", "可用性探测（GET）", "监控系统 › HTTP 探测", f"{base_url}health"),
    ]
    return urls


def reveal_callback_token(tenant) -> str | None:
    from .. import runtime

    return tenant.jushuitan.callback.reveal("token", runtime.secret_resolver())


def urls_as_json(urls: list[PasteUrl], base_url: str, source: str) -> dict:
    return {"base_url": base_url, "base_url_from": source, "urls": [asdict(u) for u in urls]}


# --- o2o tenant init ------------------------------------------------------------------------

def production_template(erp: str = "jushuitan", warehouse: str = "erp", ent_id: str = "ENT_ID") -> str:
    """A commented tenant file for production: real endpoints, every secret a Secrets Manager reference."""
    if erp == "wangdiantong":
        raise NotImplementedYet("a commented 旺店通 production tenant template (start from local/tenants/wdt-demo.yaml)", 16)
    if warehouse == "qimen":
        raise NotImplementedYet("a commented 奇门 cloud-warehouse production tenant template", 17)
    return TEMPLATE.replace("ENT_ID", ent_id)


TEMPLATE = """\
# o2o-bridge tenant file (one 店+ merchant). Fill in every <...>, then:
#   o2o tenant put tenants/ENT_ID.yaml     every error with its key path; nothing stored on error
#   o2o tenant doctor ENT_ID               one line per check against JST and the store system
#   o2o tenant urls ENT_ID                 the callback URLs to paste, with the console menu path of each
# Editors check this file against docs/tenant.schema.json, e.g. with the YAML language server:
# yaml-language-server: $schema=../docs/tenant.schema.json
#
# Secrets never appear in this file: each is a Secrets Manager reference under the stack's
# TenantSecretPrefix (default o2o/). Create them first (docs/deploy.md § Tenant secrets):
#   aws secretsmanager create-secret --name o2o/tenants/ENT_ID/jushuitan \\
#     --secret-string '{"app_secret":"…","access_token":"…","refresh_token":"…","callback_token":"…"}'
#   aws secretsmanager create-secret --name o2o/tenants/ENT_ID/pos --secret-string '{"api_key":"…","webhook_secret":"…"}'

ent_id: "ENT_ID"                    # 店+ 商户编号 (entId)
name: <商户名称>

jushuitan:                          # 聚水潭 open platform
  base_url: https://openapi.jushuitan.com
  app_key: <APPKEY>                 # 聚水潭开放平台 › 应用管理: the app's AppKey
  app_secret_ref: secretsmanager:o2o/tenants/ENT_ID/jushuitan#app_secret
  access_token_ref: secretsmanager:o2o/tenants/ENT_ID/jushuitan#access_token
  refresh_token_ref: secretsmanager:o2o/tenants/ENT_ID/jushuitan#refresh_token
  callback:                         # how JST proves a push is genuine (one of the two)
    token_ref: secretsmanager:o2o/tenants/ENT_ID/jushuitan#callback_token    # each URL's own &token=… (o2o tenant urls --reveal-token)
    tenant_wide_token: false        # only the per-URL tokens (true: also the plain token, for URLs pasted before them)
    # partner_key_ref: secretsmanager:o2o/tenants/ENT_ID/jushuitan#partner_key   # or JST's push sign
    allow_unsigned: false           # never true in production
  offline_wms_co_id: <wms_co_id>    # 店加线下仓: 聚水潭 › 仓库管理 › 查看仓库 (S1 orders for stores)
  main_wms_co_id: <wms_co_id>       # 总仓
  return_wms_co_id: <wms_co_id>     # 销退仓 / the warehouse that receives returns (default: the main one)
  self_mall_shop_id: <shop_id>      # 自有商城: 聚水潭 › 店铺管理 › 店铺设置 「编号」
  rate_limit: {per_second: 5, per_minute: 100}   # the app's JST quota; raise only after JST did

pos:                                # 店+ store system
  base_url: https://<店+ API host>/api
  api_key_ref: secretsmanager:o2o/tenants/ENT_ID/pos#api_key
  webhook_secret_ref: secretsmanager:o2o/tenants/ENT_ID/pos#webhook_secret

stores:                             # stores that ship or hand over online orders (S1)
  - {code: <门店编码>, name: <门店名称>, regions: [<省份>], priority: 1, daily_capacity: 200, pickup: true}

warehouses:                         # JST warehouse <-> 店+ warehouse code (storageCode); one 库存同步 URL each
  - {jst_wms_co_id: <wms_co_id>, pos_warehouse_code: "<店+ 仓库编码>"}

logistics:                          # JST lc_id <-> 店+ carrier code (every carrier the stores use)
  - {jst_lc_id: SF, pos_code: SF, name: 顺丰速运}

routing:
  pickup_lc_id: <lc_id>             # JST logistics code confirmed for a 门店自提 order
  pickup_label: 门店自提              # JST label that makes an outbound a pickup order
  order_by: [priority, stock]

stock:
  master: pos                       # pos: 店+ owns store stock (pushed to 店加线下仓); erp: JST owns it
  formula: qty                      # JST fields, e.g. qty + virtual_qty - order_lock
  safety_stock: 0

products:                           # S7: JST items -> 店+ products
  auto_create: true                 # 自动建档
  pull_spu: false                   # 拉取SPU
  sync_sale_price: true             # 不同步销售价 = false
  only_label: null                  # 仅同步含店加标签: e.g. 店加
  category_once: false              # 仅同步一次类目
  mount_category: <店+ 一级类目>     # 挂载类目
  spec_template: <店+ 规格模板>      # 规格模板
  attribute_fields: {year: other_1, season: other_2}
"""


# --- JSON Schema ----------------------------------------------------------------------------

def tenant_schema() -> dict:
    """The JSON Schema of a tenant file, generated from the tenant model (what `tenant put` accepts)."""
    from ..tenant import Tenant

    schema = Tenant.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "o2o-bridge/tenant.schema.json",
            "title": "o2o-bridge tenant file", **{k: v for k, v in schema.items() if k != "title"}}


def schema_text() -> str:
    return json.dumps(tenant_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
