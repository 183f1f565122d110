"""Demo of a cloud-warehouse tenant (warehouse: qimen): the 奇门 WMS sandbox, the tenant's
section checked, forged and hostile WMS calls refused, stock reports re-read into the 店+
warehouse (Q5). The store-side confirms of Q1-Q4 wait for the ERP-neutral flows; the demo
shows how they are answered today."""

from __future__ import annotations

import json
import tempfile
import urllib.parse
from pathlib import Path

from ..demo_support import ROOT, http, show
from ..qimen_sandbox import gateway_sign
from ..qimen_sandbox.server import DEMO as WMS

ENT_ID = "10020"
QIMEN_SANDBOX = "http://127.0.0.1:8805"
CLOUD_TENANT = ROOT / "local" / "tenants" / "cloud-warehouse.yaml"
POS_WAREHOUSE = "20000"


def run(demo) -> None:
    demo.pos_admin("POST", "/__admin__/seed", {"merchants": [{
        "ent_id": ENT_ID, "api_key": "demo-pos-api-key", "webhook_secret": "demo-webhook-secret",
        "stores": [{"code": "S001", "name": "南京西路店"}], "warehouses": [POS_WAREHOUSE]}]})
    demo.o2o("tenant", "put", str(CLOUD_TENANT))
    show("The tenant's qimen section against the WMS sandbox (its JST checks are printed too):")
    demo.o2o("tenant", "doctor", ENT_ID, expect=None)

    show("One signed call by hand: o2o qimen call inventory.query FILE")
    query = Path(tempfile.mkdtemp()) / "inventory-query.xml"
    query.write_text('<?xml version="1.0" encoding="utf-8"?><request><criteriaList><criteria><warehouseCode>WH01'
                     "</warehouseCode><ownerCode>OWNER01</ownerCode><itemCode>TS001-WHT-M</itemCode></criteria>"
                     "</criteriaList></request>", encoding="utf-8")
    demo.o2o("qimen", "call", "inventory.query", str(query), "--tenant", ENT_ID)

    show("Calls to /qimen/callback that cannot be taken: 奇门 XML, HTTP 200, flag failure, nothing written")
    before = demo.state_items()
    report = ('<?xml version="1.0" encoding="utf-8"?><request><items><item><warehouseCode>WH01</warehouseCode>'
              "<itemCode>TS001-WHT-M</itemCode><quantity>-1</quantity><outBizCode>X1</outBizCode></item></items>"
              "</request>")
    bomb = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            "<request><items><item><itemCode>&b;</itemCode></item></items></request>")
    for what, body, ent_id, good_sign in (("a bad sign", report, ENT_ID, False),
                                          ("an unknown tenant", report, "99999", True),
                                          ("a billion-laughs body, correctly signed", bomb, ENT_ID, True)):
        status, answer = wms_call(demo, "taobao.qimen.stockchange.report", body, ent_id=ent_id, good_sign=good_sign)
        show(f"{what} -> HTTP {status} {answer}")
    show(f"StateTable items before/after: {before}/{demo.state_items()} (nothing written)")

    show("Q5: the WMS reports a stock change (TS001-WHT-M 50 -> 44); the bridge reads it again and sets 店+ "
         f"warehouse {POS_WAREHOUSE} (never adds the delta)")
    sent = wms_admin("POST", "/__admin__/stock", {"items": {"TS001-WHT-M": 44}})
    show(f"stockchange.report -> bridge answered {json.dumps(sent['answer'], ensure_ascii=False)}")
    demo.drain()
    show(f"店+ warehouse {POS_WAREHOUSE} TS001-WHT-M: {warehouse_stock(demo, 'TS001-WHT-M')}")
    show("the gateway delivers a stock count twice (inventory.report): taken once")
    sent = wms_admin("POST", "/__admin__/count", {"items": {"TS001-WHT-M": 40, "JN002-BLU-30": 21}, "duplicate": True})
    show("answers: " + "; ".join(json.dumps(a, ensure_ascii=False) for a in sent["answers"]))
    demo.drain()
    show(f"店+ warehouse {POS_WAREHOUSE}: TS001-WHT-M {warehouse_stock(demo, 'TS001-WHT-M')}, "
         f"JN002-BLU-30 {warehouse_stock(demo, 'JN002-BLU-30')}")
    demo.o2o("trace", f"stock:{POS_WAREHOUSE}")

    show("Q6: a product changed at the store (product.changed) goes to the WMS (items.synchronize)")
    emitted = demo.pos_admin("POST", "/__admin__/emit", {"type": "product.changed", "ent_id": ENT_ID, "data": {
        "items": [{"spu_code": "TS001", "sku_code": "TS001-WHT-M", "barcode": "6900000000011", "name": "纯棉T恤 白 M",
                   "color": "白色", "size": "M", "brand": "示例", "category": "T恤", "cost_price": "35.00",
                   "tag_price": "129.00", "retail_price": "99.00", "attributes": {}}]}})["data"]
    show(f"product.changed -> {emitted.get('status')} {json.dumps(emitted.get('body'), ensure_ascii=False)}")
    item = wms_admin("GET", "/__admin__/items")["TS001-WHT-M"]
    show(f"WMS item TS001-WHT-M: {item['itemName']} barcode {item['barCode']} ({item['actionType']})")

    show("Q1-Q4 today: a micro-mall order of this tenant is refused (501) rather than sent to the ERP's warehouse; "
         "the WMS's confirms are answered not-implemented until the ERP-neutral flows take the cloud WMS")
    emitted = demo.pos_admin("POST", "/__admin__/emit", {"type": "order.warehouse_requested", "ent_id": ENT_ID, "data": {
        "order_no": "WM-Q1", "receiver": {"name": "张三", "mobile": "13800000000", "province": "上海市",
                                          "city": "上海市", "district": "静安区", "address": "南京西路1号"},
        "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 2, "price": "99.00", "amount": "198.00"}],
        "pay_amount": "208.00", "freight": "10.00", "paid_at": "2026-12-02T10:00:00+08:00"}})["data"]
    show(f"order.warehouse_requested -> {emitted.get('status')} {json.dumps(emitted.get('body'), ensure_ascii=False)}")


def wms_admin(method: str, path: str, payload=None):
    status, body = http(method, f"{QIMEN_SANDBOX}{path}", None if payload is None else json.dumps(payload))
    if status >= 300:
        raise SystemExit(f"demo failed: {method} {path} -> {status} {body}")
    return json.loads(body)


def wms_call(demo, method: str, body: str, *, ent_id: str, good_sign: bool) -> tuple[int, str]:
    """A call as the gateway forwards it, signed with the merchant's secret (or not)."""
    from ..qimen_sandbox.server import _now_text

    query = {"entId": ent_id, "method": method, "app_key": "wms-sandbox", "customerId": WMS["customer_id"],
             "format": "xml", "sign_method": "md5", "timestamp": _now_text(), "v": "2.0"}
    query["sign"] = gateway_sign(query, body.encode(), WMS["secret"]) if good_sign else "0" * 32
    return demo.http("POST", f"/qimen/callback?{urllib.parse.urlencode(query)}", body, content_type="text/xml")


def warehouse_stock(demo, sku: str) -> str:
    state = demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["merchants"][ENT_ID]
    cell = state["warehouse_stock"].get(f"{POS_WAREHOUSE}/{sku}")
    return f"qty {cell['qty']} (version {cell['version']})" if cell else "not set"
