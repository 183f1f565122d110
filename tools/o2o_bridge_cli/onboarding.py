"""What an implementation engineer (实施人员) pastes and fills in when connecting a merchant:
the callback URLs with the console menu path where each goes (`o2o tenant urls`), a
commented production tenant file (`o2o tenant init`), and the JSON Schema of the tenant
file that editors check it against (docs/tenant.schema.json, `o2o tenant schema`).

Each URL names where it goes in Chinese (the console's own words) and in English. The menu
paths follow the 聚水潭, 店+ and 奇门 consoles as merchants use them (docs/zh/onboarding.md); menu
names differ a little between console versions, the setting's name is what to look for.

Per kind of tenant:
- JST (``erp: jushuitan``): the 自有商城 shop's message pushes (S2), a stock push per mapped
  warehouse, the store system's event push, the health probe.
- 旺店通 (``erp: wangdiantong``): nothing is pasted into 旺店通 - the bridge calls 旺店通 on
  schedule (sales every 10 minutes, documents every 10 minutes, stock at 02:10) - so only the
  store system's event push and the health probe, and a note on 旺店通's IP whitelist.
- a cloud warehouse over 奇门 (``warehouse: qimen``): the WMS's confirmations come through the 奇门
  gateway to ``/qimen/callback?entId=E``; store orders go to the WMS, not to JST's 自有商城,
  so JST's 自有商城 pushes are not used.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode


LOCAL_API_URL = "http://127.0.0.1:3000/"
SCHEMA_PATH = Path("docs") / "tenant.schema.json"


@dataclass(frozen=True)
class PasteUrl:
    system: str  # where it is pasted: 聚水潭, 店+, 奇门, monitoring
    setting: str  # the setting's name on that console
    menu_path: str  # where that setting is, click by click (the console's own words)
    url: str
    menu_path_en: str = ""  # the same path in English


@dataclass(frozen=True)
class PasteNote:
    """Something to set on a console that is not a URL (or why a console needs none)."""

    system: str
    note: str
    note_en: str


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
    """Every URL the merchant's consoles need, for this tenant (JST, 旺店通, cloud warehouse)."""
    urls: list[PasteUrl] = []
    if tenant.erp == "jushuitan":
        urls += _jst_urls(tenant, base_url, token)
    if tenant.warehouse == "qimen":
        urls.append(_qimen_url(tenant, base_url))
    erp_name, erp_en = ("旺店通", "Wangdiantong") if tenant.erp == "wangdiantong" else ("聚水潭", "JST")
    urls += [
        PasteUrl("店+", "事件推送地址（Webhook），签名密钥 = pos.webhook_secret",
                 f"店+ 后台 › 电商订单 › 授权管理（ooms.dianjia.io/?module=30&menu=3010）› {erp_name}授权 › 事件推送"
                 "（由店加实施填写）", f"{base_url}pos/events",
                 f"店+ back office › E-commerce orders › Authorisations (ooms.dianjia.io/?module=30&menu=3010) › "
                 f"{erp_en} authorisation › Event push (filled in by 店加's implementation staff); signing secret = "
                 "pos.webhook_secret"),
        PasteUrl("监控", "可用性探测（GET）", "监控系统 › HTTP 探测", f"{base_url}health",
                 "your monitoring › HTTP probe (GET)"),
    ]
    return urls


def _jst_urls(tenant, base_url: str, token: str | None) -> list[PasteUrl]:
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
    shop_edit_en = f"JST ERP › Shops › Shop list › own-mall shop (no. {jst.self_mall_shop_id}) Edit › Message push"
    urls = []
    if tenant.warehouse != "qimen":  # a cloud warehouse ships store orders: JST's 自有商城 is not used
        urls += [
            PasteUrl("聚水潭", "物流同步（发货回传）", f"{shop_edit} › 物流同步",
                     jst_url("delivery_callback", jst.self_mall_shop_id), f"{shop_edit_en} › Logistics sync"),
            PasteUrl("聚水潭", "取消订单", f"{shop_edit} › 取消订单", jst_url("cancel_callback", jst.self_mall_shop_id),
                     f"{shop_edit_en} › Order cancelled"),
            PasteUrl("聚水潭", "售后收货", f"{shop_edit} › 售后收货",
                     jst_url("return_goods_callback", jst.self_mall_shop_id), f"{shop_edit_en} › After-sale received"),
        ]
    for mapping in tenant.warehouses:
        urls.append(PasteUrl("聚水潭", f"库存同步（仓库 {mapping.jst_wms_co_id} → 店+ 仓库 {mapping.pos_warehouse_code}）",
                             f"{shop_edit} › 库存同步（每个映射的仓库一条）",
                             jst_url("stock_callback", mapping.jst_wms_co_id, type="2"),
                             f"{shop_edit_en} › Stock sync (one per mapped warehouse)"))
    return urls


def _qimen_url(tenant, base_url: str) -> PasteUrl:
    qimen = tenant.qimen
    return PasteUrl(
        "奇门", f"ERP 回调地址（customerId {qimen.customer_id}，仓库 {qimen.warehouse_code}，货主 {qimen.owner_code}）",
        f"奇门开放平台（qimen.taobao.com）› 控制台 › 应用管理 › ERP 应用（AppKey {qimen.app_key}）› 奇门仓储 › "
        f"接口路由：customerId {qimen.customer_id} 的回调地址（由云仓/奇门对接方配置；签名用同一 AppSecret）",
        f"{base_url}qimen/callback?{urlencode({'entId': tenant.ent_id})}",
        f"Qimen open platform (qimen.taobao.com) › Console › Apps › the ERP app (AppKey {qimen.app_key}) › Qimen WMS › "
        f"routing: callback URL of customerId {qimen.customer_id} (set by the cloud warehouse / its Qimen "
        "integrator; signed with the same AppSecret)")


def paste_notes(tenant) -> list[PasteNote]:
    """What else the consoles need for this tenant, and why a console needs no URL."""
    notes = []
    if tenant.erp == "wangdiantong":
        wdt = tenant.wangdiantong
        notes.append(PasteNote(
            "旺店通", f"旺店通 不需要粘贴回调地址：bridge 定时调用 旺店通 接口（卖家账号 {wdt.sid}，接口账号 {wdt.appkey}）。"
            "如果 旺店通 开启了 IP 白名单，把栈的固定出口 IP（部署说明 › 固定出口 IP）交给 旺店通 实施加入该接口账号的白名单。",
            f"Nothing is pasted into Wangdiantong: the bridge calls its API on schedule (seller account {wdt.sid}, "
            f"API account {wdt.appkey}). If Wangdiantong checks IPs, give its implementer the stack's fixed egress "
            "IP (docs/deploy.md, fixed egress) to whitelist for that API account."))
    if tenant.warehouse == "qimen":
        notes.append(PasteNote(
            "奇门", "云仓的单据（门店订单、配货、退仓）走 奇门；聚水潭 自有商城的物流同步/取消/售后推送不使用。",
            "The cloud warehouse gets store orders, 配货 and 退仓 over Qimen; JST's own-mall pushes are not used."))
    return notes


def reveal_callback_token(tenant) -> str | None:
    from .. import runtime

    if tenant.jushuitan is None:  # a 旺店通 tenant: no JST callback token
        return None
    return tenant.jushuitan.callback.reveal("token", runtime.secret_resolver())


def urls_as_json(urls: list[PasteUrl], base_url: str, source: str, notes: list[PasteNote] = ()) -> dict:
    return {"base_url": base_url, "base_url_from": source, "urls": [asdict(u) for u in urls],
            "notes": [asdict(n) for n in notes]}


# --- o2o tenant init ------------------------------------------------------------------------

def production_template(erp: str = "jushuitan", warehouse: str = "erp", ent_id: str = "ENT_ID") -> str:
    """A commented tenant file for production: real endpoints, every secret a Secrets Manager
    reference. One per kind: JST, 旺店通 (``erp``), and either with a cloud warehouse over 奇门."""
    text = WDT_TEMPLATE if erp == "wangdiantong" else TEMPLATE
    if warehouse == "qimen":
        text = text.rstrip("\n") + "\n" + QIMEN_SECTION
    return text.replace("ENT_ID", ent_id)


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
  aftersale_warehouse_type: 2       # after-sale uploads: returned goods go to 2 销退仓 (1 主仓, 3 进货仓, 4 次品仓)
  # bin_managed_wms_co_ids: []      # 货位管理: the bin-managed ones among 店加线下仓 (and, with stock.master: erp,
  #                                 # the stores' JST warehouses); [] when none is. Unset: doctor warns (! bin_management)
  replenishment_document: other_out # 配货 in JST: other_out (其它出库) or transfer (调拨单, received in JST by a person)
  rate_limit: {per_second: 5, per_minute: 100}   # the app's JST quota; raise only after JST did

pos:                                # 店+ store system
  base_url: https://<店+ API host>/api
  api_key_ref: secretsmanager:o2o/tenants/ENT_ID/pos#api_key
  webhook_secret_ref: secretsmanager:o2o/tenants/ENT_ID/pos#webhook_secret

stores:                             # 绑定线下门店: stores that ship or hand over online orders (S1)
  # regions: the provinces / cities it delivers to; city: where a 门店自提 customer collects (上海 = 上海市);
  # pickup: offers 门店自提; daily_capacity: orders a day; safety_stock: units kept back per SKU
  - {code: <门店编码>, name: <门店名称>, regions: [<省份>], city: <城市>, priority: 1, daily_capacity: 200, pickup: true}

warehouses:                         # 电商仓库存下载: JST warehouse <-> 店+ warehouse code; one 库存同步 URL each
  # the 总仓 to the 店+ warehouse coded with its ID; never 店加线下仓 (the stores feed it: a loop)
  - {jst_wms_co_id: <wms_co_id>, pos_warehouse_code: "<总仓 wms_co_id>"}

logistics:                          # JST lc_id <-> 店+ carrier code (every carrier the stores use)
  - {jst_lc_id: SF, pos_code: SF, name: 顺丰速运}

routing:
  pickup_lc_id: <lc_id>             # JST logistics code confirmed for a 门店自提 order
  pickup_label: 门店自提              # JST label that makes an outbound a pickup order
  pickup_store_field: pickup_store_code   # the outbound field your order import fills with the chosen store's code
  # fallback_store: <门店编码>       # 设定好指定下单店仓: takes what no store passes the filters for
  order_by: [priority, stock]
  check_stock: true                 # skip a store that lacks a line

stock:
  master: pos                       # pos: 店+ owns store stock (pushed to 店加线下仓); erp: JST owns it
  formula: qty                      # 库存下载取数逻辑: qty (实际库存), or e.g. qty + virtual_qty + purchase_qty + in_qty + return_qty - order_lock
  safety_stock: 0
  # sales_return_warehouse: "2"     # 消退仓 coded 2 in 店+: shows JST's 销退仓 stock (return_qty); unset: not shown

products:                           # S7: JST items -> 店+ products
  auto_create: true                 # 自动建档
  pull_spu: false                   # 拉取SPU
  sale_price: on_create             # 不同步销售价 = never; on_create: new products only; overwrite: JST's price always
  only_label: null                  # 仅同步含店加标签: e.g. 店加
  category_once: false              # 仅同步一次类目: new products go to staging_category, later syncs never move them
  staging_category: 其他             # create it in 店+ first
  mount_category: <店+ 一级类目>     # 挂载类目
  spec_template: <店+ 规格模板>      # 规格模板
  attribute_fields: {year: other_1, season: other_2}
"""


WDT_TEMPLATE = """\
# o2o-bridge tenant file (one 店+ merchant whose ERP is 旺店通 ERP 企业版). Fill in every <...>, then:
#   o2o tenant put tenants/ENT_ID.yaml     every error with its key path; nothing stored on error
#   o2o tenant doctor ENT_ID               one line per check against 旺店通 and the store system
#   o2o tenant urls ENT_ID                 what to paste (旺店通 needs no callback URL: the bridge calls it)
# Editors check this file against docs/tenant.schema.json, e.g. with the YAML language server:
# yaml-language-server: $schema=../docs/tenant.schema.json
#
# Secrets never appear in this file: each is a Secrets Manager reference under the stack's
# TenantSecretPrefix (default o2o/). Create them first (docs/deploy.md § Tenant secrets):
#   aws secretsmanager create-secret --name o2o/tenants/ENT_ID/wdt --secret-string '{"appsecret":"…"}'
#   aws secretsmanager create-secret --name o2o/tenants/ENT_ID/pos --secret-string '{"api_key":"…","webhook_secret":"…"}'

ent_id: "ENT_ID"                    # 店+ 商户编号 (entId)
name: <商户名称>
erp: wangdiantong                   # this merchant's ERP is 旺店通 (no jushuitan section)

wangdiantong:                       # 旺店通 ERP 企业版 open API (openapi2)
  base_url: https://api.wangdian.cn/openapi2
  sid: <卖家账号>                    # 旺店通 gives it with the API account (sid)
  appkey: <接口账号>                 # 旺店通 开放平台: the API account (appkey)
  appsecret_ref: secretsmanager:o2o/tenants/ENT_ID/wdt#appsecret
  shop_no: <店铺编号>                # 旺店通 › 设置 › 店铺: the shop the stores' retail sales are booked in (platform 自有 or 其它)
  main_warehouse_no: <仓库编号>      # 总仓: 旺店通 › 设置 › 仓库
  no_tracking_logistics_code: <物流编号>   # 无单号物流 (a store sale has no parcel)
  cod_logistics_code: <物流编号>     # the 物流 that supports 货到付款
  rate_limit: {per_second: 5, per_minute: 300}   # the bridge's own pace; 旺店通 publishes none

pos:                                # 店+ store system
  base_url: https://<店+ API host>/api
  api_key_ref: secretsmanager:o2o/tenants/ENT_ID/pos#api_key
  webhook_secret_ref: secretsmanager:o2o/tenants/ENT_ID/pos#webhook_secret

stores:                             # each store is a 旺店通 warehouse whose 仓库编号 is the store code
  - {code: <门店编码>, name: <门店名称>}
  # - {code: <门店编码>, name: <门店名称>, wdt_warehouse_no: <仓库编号>}   # when the 仓库编号 differs

stock:
  master: erp                       # erp: 旺店通's stock is pushed to the stores at 02:10; pos: the stores' stock to 旺店通

products:
  create_from_documents: true       # SKUs of a 旺店通 document unknown to the store are created first
"""

QIMEN_SECTION = """\

# A cloud warehouse (3PL WMS) over 奇门 ships store and micro-mall orders, takes 配货 and 退仓 and
# holds the warehouse stock. Give the WMS (through its 奇门 configuration) the URL that
# `o2o tenant urls ENT_ID` prints: https://<api>/qimen/callback?entId=ENT_ID
#   aws secretsmanager create-secret --name o2o/tenants/ENT_ID/qimen --secret-string '{"app_secret":"…"}'
warehouse: qimen
qimen:
  gateway_url: https://qimen.api.taobao.com/router/qimen/service
  app_key: <AppKey>                 # the ERP-side 奇门 app (淘宝/奇门开放平台 › 应用管理)
  app_secret_ref: secretsmanager:o2o/tenants/ENT_ID/qimen#app_secret   # also verifies the WMS's calls
  customer_id: <customerId>         # the routing id agreed with the WMS
  warehouse_code: <仓库编码>         # the WMS warehouse
  owner_code: <货主编码>
  pos_warehouse_code: "<店+ 仓库编码>"   # the 店+ warehouse that shows the WMS's stock
  logistics:                        # carriers both ways: 店+ code <-> the WMS's 奇门 code (OTHER for any other)
    - {pos_code: SF, qimen_code: SF, name: 顺丰速运}
  # transfer_order_type: DBCK       # 配货 as 调拨出库 (DBCK) or 普通出库 (PTCK)
  # warehouse_return_order_type: DBRK   # 退仓 as 调拨入库 (DBRK) or 其他入库 (QTRK)
  # A confirm that never arrives is asked for after 60 min of quiet; agree with the WMS which query
  # answers for what (`o2o tenant doctor` asks each once), or turn a kind off:
  # catch_up_queries:
  #   stockout: {method: deliveryorder.query, done_statuses: [DELIVERED, CANCELED, CLOSED]}   # 配货
  #   return: {method: "off"}        # a WMS without a query for returns
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
