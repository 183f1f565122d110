"""Demo of a cloud-warehouse tenant (warehouse: qimen) against the 奇门 WMS sandbox: the
tenant's section checked, forged and hostile WMS calls refused, a micro-mall order shipped in
two parcels, a cancel refused because it shipped, a return received, 配货 and 退仓 confirmed,
a stock change report read back, products synchronised (Q1-Q6); then confirms the WMS sent
and the bridge never got, caught up by asking the WMS."""

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
        "ent_id": ENT_ID, "api_key": "demo-cloud-pos-api-key", "webhook_secret": "demo-cloud-webhook-secret",
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

    show("Q1: a micro-mall order goes to the WMS (deliveryorder.create) and is shipped in two parcels")
    order = {"order_no": "WM-Q1", "receiver": {"name": "张三", "mobile": "13800000000", "province": "上海市",
                                               "city": "上海市", "district": "静安区", "address": "南京西路1号"},
             "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 2, "price": "99.00", "amount": "198.00"},
                       {"line_no": "2", "sku_id": "JN002-BLU-30", "qty": 1, "price": "299.00", "amount": "299.00"}],
             "pay_amount": "507.00", "freight": "10.00", "paid_at": "2026-12-02T10:00:00+08:00"}
    show_emit(demo, "order.warehouse_requested", order)
    show(f"WMS document WM-Q1: {json.dumps(wms_admin('GET', '/__admin__/documents')['WM-Q1']['plan'], ensure_ascii=False)}")
    first = wms_admin("POST", "/__admin__/ship", {"code": "WM-Q1", "duplicate": True,
                                                   "parcels": [{"tracking_no": "SF-Q1-1", "items": {"TS001-WHT-M": 1}}]})
    show("parcel 1 (confirmType 1), delivered twice by the gateway -> "
         + "; ".join(json.dumps(a, ensure_ascii=False) for a in first["answers"]))
    last = wms_admin("POST", "/__admin__/ship", {"code": "WM-Q1", "parcels": [
        {"tracking_no": "SF-Q1-2", "items": {"TS001-WHT-M": 1, "JN002-BLU-30": 1}}]})
    show(f"parcel 2 (confirmType 0) -> {json.dumps(last['answer'], ensure_ascii=False)}")
    demo.drain()
    store = pos_merchant(demo)
    show(f"店+ order WM-Q1: {store['orders']['WM-Q1']['status']}, parcels "
         + ", ".join(s["tracking_no"] for s in store["shipments"] if s["order_no"] == "WM-Q1"))

    show("Q1c: the store cancels WM-Q1 after it shipped: the WMS refuses, the store is told (422), an exception is raised")
    show_emit(demo, "order.cancelled", {"order_no": "WM-Q1", "reason": "顾客取消"})
    demo.o2o("exceptions", "list", "--tenant", ENT_ID)

    show("Q2: a return of WM-Q1 (returnorder.create), received by the WMS (returnorder.confirm) -> P5")
    show_emit(demo, "return.requested", {"return_no": "RT-Q2", "order_no": "WM-Q1", "type": "return",
                                         "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1,
                                                    "amount": "99.00"}]})
    show(f"returnorder.confirm -> {json.dumps(wms_admin('POST', '/__admin__/receive', {'code': 'RT-Q2'})['answer'], ensure_ascii=False)}")
    demo.drain()
    show(f"店+ return RT-Q2: {pos_merchant(demo)['returns'].get('RT-Q2', {}).get('status')}")

    show("Q3: 配货 to S001 (stockout.create), shipped by the WMS in two messages -> P10 once with the total")
    show_emit(demo, "transfer.submitted", {"doc_no": "PH-Q3", "store_code": "S001",
                                           "items": [{"sku_id": "JN002-BLU-30", "qty": 4}], "remark": "补货"})
    wms_admin("POST", "/__admin__/ship", {"code": "PH-Q3", "parcels": [{"tracking_no": "ZT-1", "items": {"JN002-BLU-30": 1}}]})
    wms_admin("POST", "/__admin__/ship", {"code": "PH-Q3"})
    demo.drain()
    show(f"店+ 配货 PH-Q3: {json.dumps(pos_merchant(demo)['transfers'].get('PH-Q3', {}).get('status'), ensure_ascii=False)}")

    show("Q4: 退仓 from S001 (entryorder.create), received in two receipts -> P11 once")
    show_emit(demo, "warehouse_return.submitted", {"doc_no": "TC-Q4", "store_code": "S001",
                                                   "items": [{"sku_id": "TS001-WHT-L", "qty": 3}], "remark": ""})
    wms_admin("POST", "/__admin__/receive", {"code": "TC-Q4", "items": {"TS001-WHT-L": 1}})
    wms_admin("POST", "/__admin__/receive", {"code": "TC-Q4"})
    demo.drain()
    show(f"店+ 退仓 TC-Q4: {json.dumps(pos_merchant(demo)['warehouse_returns'].get('TC-Q4', {}).get('status'), ensure_ascii=False)}")
    demo.o2o("trace", "WM-Q1")
    lost_confirms(demo, order)


def lost_confirms(demo, order: dict) -> None:
    """Confirms the WMS sent and the bridge never got, asked for (deliveryorder.query /
    entryorder.query) and taken once; the WMS's late re-send changes nothing."""
    show("Lost confirms: the WMS ships order WM-Q1L and receives 退仓 TC-Q4L, but neither confirm reaches the bridge")
    show_emit(demo, "order.warehouse_requested", {**order, "order_no": "WM-Q1L"})
    wms_admin("POST", "/__admin__/ship", {"code": "WM-Q1L", "parcels": [
        {"tracking_no": "SF-Q1L", "items": {"TS001-WHT-M": 2, "JN002-BLU-30": 1}}], "drop": True})
    lost_order = len(wms_admin("GET", "/__admin__/callbacks")) - 1
    show_emit(demo, "warehouse_return.submitted", {"doc_no": "TC-Q4L", "store_code": "S001",
                                                   "items": [{"sku_id": "TS001-WHT-L", "qty": 2}], "remark": ""})
    wms_admin("POST", "/__admin__/receive", {"code": "TC-Q4L", "drop": True})
    demo.drain()
    show_lost(demo)
    show("The 15-minute run asks the WMS about a document only after qimen.catch_up_after_minutes (60) of quiet:")
    demo.o2o("invoke", "poll_jst_documents", expect=None)
    show_lost(demo)
    show("An hour later that run asks; an operator who knows the callback route was down asks now:")
    demo.o2o("qimen", "catch-up", "--tenant", ENT_ID)
    demo.drain()
    show_lost(demo)
    resent = wms_admin("POST", "/__admin__/resend", {"index": lost_order})
    show(f"the WMS's late re-send of WM-Q1L's confirm -> {json.dumps(resent['answer'], ensure_ascii=False)}")
    demo.drain()
    show_lost(demo)
    demo.o2o("trace", "WM-Q1L")


def show_lost(demo) -> None:
    store = pos_merchant(demo)
    parcels = [s["tracking_no"] for s in store["shipments"] if s["order_no"] == "WM-Q1L"]
    show(f"  店+ order WM-Q1L: {store['orders'].get('WM-Q1L', {}).get('status')}, parcels {parcels or 'none'}; "
         f"退仓 TC-Q4L: {store['warehouse_returns'].get('TC-Q4L', {}).get('status') or 'not received'}")


def show_emit(demo, event_type: str, data: dict) -> None:
    emitted = demo.pos_admin("POST", "/__admin__/emit", {"type": event_type, "ent_id": ENT_ID, "data": data})["data"]
    show(f"{event_type} -> {emitted.get('status')} {json.dumps(emitted.get('body'), ensure_ascii=False)}")


def pos_merchant(demo) -> dict:
    return demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["merchants"][ENT_ID]


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
    cell = pos_merchant(demo)["warehouse_stock"].get(f"{POS_WAREHOUSE}/{sku}")
    return f"qty {cell['qty']} (version {cell['version']})" if cell else "not set"
