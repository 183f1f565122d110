"""The documents the sample events in ``events/`` talk about, seeded by ``o2o local up``.

Each sample event names real things: the JST sales outbounds 700001-700003 waiting in the
店加线下仓 (S1: ``o2o invoke poll_jst_outbound`` sends them to the stores, and the
``pos_events_fulfilment_*`` samples name the fulfilment orders that creates), the
micro-mall orders SO20261122001 / SO20261122002 and the return RT20261122001 at the store
system (S2: the JST pushes ship, cancel and receive them). The JST sandbox also learns the
demo merchant's store SKUs (SKU-RED-M ... SKU-BLUE-L) and its pickup carrier MDZT, so both
sandboxes' seeds agree (a nightly stock run no longer meets a SKU JST does not know).

``make demo`` drives its own documents and starts the stack with
``O2O_SAMPLE_DOCUMENTS=0``; tests seed these with ``seed_sample_documents``.
"""

from __future__ import annotations

import os
from typing import Any

ENV_SWITCH = "O2O_SAMPLE_DOCUMENTS"

_SHANGHAI_RECEIVER = {"receiver_name": "王小姐", "receiver_mobile": "13800000000", "receiver_state": "上海市",
                      "receiver_city": "上海市", "receiver_district": "静安区", "receiver_address": "南京西路 1266 号"}

# S1: online orders of a platform shop (天猫, 10086) JST's OMS assigned to the 店加线下仓 (10001),
# status WaitConfirm. Never the 自有商城 shop: the bridge parks those (the guide's 派单策略 rule).
JST_OUTBOUNDS: list[dict[str, Any]] = [
    {"io_id": 700001, "so_id": "TB700001", "wms_co_id": 10001, "shop_id": 10086, "labels": "",
     **_SHANGHAI_RECEIVER, "items": [{"sku_id": "SKU-RED-M", "qty": 1, "name": "T恤 红 M"}]},
    {"io_id": 700002, "so_id": "TB700002", "wms_co_id": 10001, "shop_id": 10086, "labels": "门店自提",
     **_SHANGHAI_RECEIVER, "items": [{"sku_id": "SKU-RED-L", "qty": 1, "name": "T恤 红 L"}]},
    {"io_id": 700003, "so_id": "TB700003", "wms_co_id": 10001, "shop_id": 10086, "labels": "",
     **_SHANGHAI_RECEIVER, "items": [{"sku_id": "SKU-RED-M", "qty": 1, "name": "T恤 红 M"}]},
]

# S2: store-system documents the JST pushes refer to.
_ORDER_LINES = [{"line_no": "1", "sku_id": "SKU-RED-M", "qty": 2, "price": "99.00", "amount": "198.00"}]
STORE_DOCUMENTS: dict[str, Any] = {
    "ent_id": "10010",
    "orders": [
        {"order_no": "SO20261122001", "items": _ORDER_LINES},
        {"order_no": "SO20261122002", "items": _ORDER_LINES},
    ],
    "returns": [{"return_no": "RT20261122001", "order_no": "SO20261122001",
                 "items": [{"line_no": "1", "sku_id": "SKU-RED-M", "qty": 1, "amount": "99.00"}]}],
}


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


# What the demo merchant's stores sell (the 店+ sandbox's SKU-RED-M ... SKU-BLUE-L), known to JST
# too, so store stock, store orders and returns name SKUs JST accepts; and the carrier the demo
# tenant confirms store pickups with (routing.pickup_lc_id).
STORE_SKUS = ("SKU-RED-M", "SKU-RED-L", "SKU-BLUE-M", "SKU-BLUE-L")
JST_CATALOGUE = {
    "skus": [{"sku_id": sku, "i_id": sku.rsplit("-", 1)[0], "name": f"T恤 {sku}",
              "properties_value": sku.split("-", 1)[1], "brand": "示例", "sale_price": 99, "cost_price": 35,
              "market_price": 129, "category": "T恤", "labels": ""} for sku in STORE_SKUS],
    "logistics_companies": [{"lc_id": "MDZT", "lc_name": "门店自提"}],
    "shops": [{"shop_id": 10086, "shop_name": "天猫旗舰店", "shop_site": "天猫"}],
}


def seed_jst(sandbox: Any) -> None:
    sandbox.seed(**JST_CATALOGUE, outbounds=JST_OUTBOUNDS)


def seed_store(sandbox: Any) -> None:
    from .pos_sandbox.demo import DEMO_API_KEY, DEMO_WEBHOOK_SECRET

    sandbox.seed({**STORE_DOCUMENTS, "api_key": DEMO_API_KEY, "webhook_secret": DEMO_WEBHOOK_SECRET})


def seed_sample_documents(jst: Any, store: Any) -> None:
    seed_jst(jst)
    seed_store(store)


def restamped(event: dict[str, Any], tenant: Any, resolver: Any, *, now: Any = None) -> dict[str, Any]:
    """``event`` happening now, signed again with ``tenant``'s own secrets.

    The bridge refuses a store event older than the tenant's window (``pos.event_max_age_hours``)
    and a signed JST push or 奇门 call older than ``callback.max_age_seconds`` /
    ``qimen.callback_max_skew_seconds`` as replays, so a sample file written once cannot stay
    valid: ``o2o invoke --event FILE --restamp`` (local stack only) moves its time to now and
    signs it as the store system, JST or the 奇门 gateway would.
    """
    import base64
    import copy
    import json
    from datetime import datetime, timezone

    from o2o_bridge.connectors.store.inbound import sign
    from o2o_bridge.shanghai_time import SHANGHAI

    from .jst_sandbox.signing import push_sign

    now = now or datetime.now(timezone.utc)
    event = copy.deepcopy(event)
    context = event.get("requestContext")
    if context is None:
        return event  # schedule and SQS samples carry no time the bridge checks
    context["time"], context["timeEpoch"] = now.strftime("%d/%b/%Y:%H:%M:%S +0000"), int(now.timestamp() * 1000)
    headers = event.get("headers") or {}
    if "x-o2o-signature" in headers and event.get("body"):
        raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode("utf-8")
        body = json.loads(raw)
        body["occurred_at"] = now.astimezone(SHANGHAI).isoformat(timespec="seconds")
        text = json.dumps(body, ensure_ascii=False)
        event["body"], event["isBase64Encoded"] = text, False
        headers["x-o2o-signature"] = sign(tenant.pos.reveal("webhook_secret", resolver), text.encode("utf-8"))
    query = event.get("queryStringParameters") or {}
    if "sign" in query and "customerId" in query and tenant.qimen is not None:
        # A WMS's call through the 奇门 gateway: its timestamp now, signed as the gateway would.
        import urllib.parse

        from .qimen_sandbox.signing import gateway_sign

        raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else (event.get("body") or "").encode()
        query["timestamp"] = now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        query["sign"] = gateway_sign(query, raw, tenant.qimen.reveal("app_secret", resolver))
        event["rawQueryString"] = urllib.parse.urlencode(query)
        return event
    if "sign" in query and "ts" in query:
        query["ts"] = str(int(now.timestamp()))
        partner_key = tenant.jushuitan.callback.reveal("partner_key", resolver)
        query["sign"] = push_sign(query["method"], query["partnerid"], query, partner_key)
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return event
