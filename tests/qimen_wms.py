"""What a WMS sends through the 奇门 gateway to the bridge, for tests: signed calls and the
HTTP API events they arrive as."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

from o2o_bridge.connectors.qimen.signing import sign, timestamp_text
from o2o_bridge.connectors.qimen.xml_codec import dump_document, parse_document

TENANTS = Path(__file__).resolve().parents[1] / "local" / "tenants"
CLOUD = TENANTS / "cloud-warehouse.yaml"
SECRET = "demo-qimen-app-secret"


def cloud_doc() -> dict[str, Any]:
    return yaml.safe_load(CLOUD.read_text(encoding="utf-8"))


def demo_doc() -> dict[str, Any]:
    """The JST demo tenant: no 奇门 section."""
    return yaml.safe_load((TENANTS / "demo.yaml").read_text(encoding="utf-8"))


def signed_query(method: str, body: bytes, *, ent_id: str = "10020", customer_id: str = "C001",
                 secret: str = SECRET, at: datetime | None = None, sign_entid: bool = True,
                 **extra: str) -> dict[str, str]:
    query = {"entId": ent_id, "method": f"taobao.qimen.{method}", "app_key": "wms-app", "customerId": customer_id,
             "format": "xml", "sign_method": "md5", "v": "2.0",
             "timestamp": timestamp_text(at or datetime.now(timezone.utc)), **extra}
    signed_part = query if sign_entid else {k: v for k, v in query.items() if k != "entId"}
    return {**query, "sign": sign(signed_part, body, secret)}


def api_event(query: dict[str, str], body: bytes, *, base64_body: bool = False,
              raw_query: str | None = None) -> dict[str, Any]:
    raw = raw_query if raw_query is not None else urlencode(query)
    return {
        "version": "2.0", "routeKey": "POST /qimen/callback", "rawPath": "/qimen/callback", "rawQueryString": raw,
        "headers": {"content-type": "text/xml;charset=utf-8"}, "queryStringParameters": dict(query),
        "requestContext": {"http": {"method": "POST", "path": "/qimen/callback", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.20", "userAgent": "qimen"},
                           "requestId": "req", "routeKey": "POST /qimen/callback", "stage": "$default",
                           "accountId": "123456789012", "apiId": "abc", "domainName": "abc.example",
                           "time": "02/Dec/2026:05:00:00 +0000", "timeEpoch": 1796187600000},
        "body": base64.b64encode(body).decode() if base64_body else body.decode("utf-8", "surrogateescape"),
        "isBase64Encoded": base64_body,
    }


def delivery_confirm(code: str, out_biz: str | None, parcels: list[tuple[str, dict[str, int]]], *,
                     final: bool = True, warehouse: str = "WH01", method_head: str = "deliveryOrder") -> bytes:
    head = {"deliveryOrderCode": code, "deliveryOrderId": f"W-{code}", "warehouseCode": warehouse,
            "orderType": "JYCK", "status": "DELIVERED" if final else "PARTDELIVERED", "outBizCode": out_biz,
            "confirmType": "0" if final else "1", "orderConfirmTime": "2026-12-02 13:00:00"}
    packages = [{"logisticsCode": "SF", "logisticsName": "顺丰", "expressCode": tracking,
                 "items": [{"itemCode": sku, "quantity": qty} for sku, qty in items.items()]}
                for tracking, items in parcels]
    return dump_document("request", {method_head: head, "packages": packages})


def receipt_confirm(kind: str, code: str, out_biz: str | None, lines: dict[str, int], *, final: bool = True,
                    warehouse: str = "WH01") -> bytes:
    order_lines = [{"orderLineNo": str(n), "itemCode": sku, "actualQty": qty}
                   for n, (sku, qty) in enumerate(lines.items(), 1)]
    if kind == "return":
        head = {"returnOrder": {"returnOrderCode": code, "warehouseCode": warehouse, "orderType": "THRK",
                                "outBizCode": out_biz, "orderConfirmTime": "2026-12-02 13:00:00"}}
    else:
        head = {"entryOrder": {"entryOrderCode": code, "warehouseCode": warehouse, "entryOrderType": "DBRK",
                               "outBizCode": out_biz, "confirmType": "0" if final else "1", "status": "FULFILLED"}}
    return dump_document("request", {**head, "orderLines": order_lines})


def stock_change(items: dict[str, int], out_biz: str = "SC1", warehouse: str = "WH01") -> bytes:
    return dump_document("request", {"items": [
        {"ownerCode": "OWNER01", "warehouseCode": warehouse, "orderCode": "X1", "orderType": "JYCK",
         "outBizCode": f"{out_biz}-{sku}", "itemCode": sku, "inventoryType": "ZP", "quantity": qty}
        for sku, qty in items.items()]})


def answer_of(result: dict[str, Any]) -> dict[str, Any]:
    assert result["statusCode"] == 200, result
    assert result["headers"]["Content-Type"].startswith("text/xml")
    return parse_document(result["body"], expected_root="response")
