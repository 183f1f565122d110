"""Demo of the implementation guide's rules: the 自有商城 guard, a pickup at the chosen store, a
rejected pickup, 销退仓 stock, with JST owning store stock a store sale and a store-to-store
transfer (in transit, then received) booked in JST, and 配货 sent as a JST transfer document."""

from __future__ import annotations

import json
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..demo_support import DEMO_TENANT, ENT_ID, ROOT, show

SELF_MALL, TMALL = 133242, 10086
STORE_WAREHOUSES = {"S001": 10011, "S002": 10012}  # the stores' own JST warehouses (stock.master: erp)
RECEIVER = {"receiver_name": "李先生", "receiver_mobile": "13900000000", "receiver_district": "静安区",
            "receiver_address": "南京西路2号"}


def run(demo) -> None:
    demo.jst_admin("POST", "/__admin__/seed", {
        "shops": [{"shop_id": TMALL, "shop_name": "天猫旗舰店", "shop_site": "天猫"}],
        "logistics_companies": [{"lc_id": "MDZT", "lc_name": "门店自提"}],
        "warehouses": [{"wms_co_id": w, "name": f"{store} 门店仓"} for store, w in STORE_WAREHOUSES.items()],
        "skus": [{"sku_id": sku, "i_id": sku.rsplit("-", 1)[0], "name": "T恤"} for sku in ("SKU-RED-M", "SKU-RED-L")]})

    show("派单策略: JST's API cannot show 订单分配策略, so tenant doctor asks a person to check it (the ! lines):")
    demo.o2o("tenant", "doctor", ENT_ID, expect=None)
    show("JST wrongly assigns a 自有商城 order (a store's own order sent to JST for a warehouse) to 店加线下仓:")
    outbound(demo, 530001, shop_id=SELF_MALL, city="上海市", sku="SKU-RED-M")
    demo.o2o("invoke", "poll_jst_outbound")
    show(f"店+ fulfilment orders for 530001: {len(fulfilments(demo, 530001))} (no store is asked to fulfil its own order)")

    show("门店自提: a 上海 customer chose S002 新街口店 (南京) on the 天猫 order; the outbound's pickup_store_code says so")
    outbound(demo, 530002, shop_id=TMALL, city="上海市", sku="SKU-BLUE-M", pickup_store_code="S002")
    demo.o2o("invoke", "poll_jst_outbound")
    [chosen] = fulfilments(demo, 530002)
    show(f"  P1 went to {chosen['store_code']} ({chosen['delivery']}, pickup_store_code={chosen.get('pickup_store_code')}) "
         "though S001 ranks first and covers 上海")
    show("S002 rejects the pickup (damaged); no other pickup store is in 南京, so it is not moved to 上海:")
    answer = demo.pos_admin("POST", "/__admin__/fulfilment-event", {
        "ent_id": ENT_ID, "fulfilment_id": chosen["fulfilment_id"], "action": "rejected", "reason": "damaged"})
    show(f"  店+ emits fulfilment.rejected -> bridge {answer['data'].get('status')}")
    demo.drain()
    show(f"  店+ fulfilment orders for 530002: {[(f['store_code'], f['status']) for f in fulfilments(demo, 530002)]}")
    show("Both are parked for a person (alarm FulfilmentExceptions): self_mall_order and pickup_rejected")
    demo.o2o("exceptions", "list", "--tenant", ENT_ID)

    show("销退仓: JST's sales-return stock of the 总仓 (return_qty) shows in the 店+ warehouse coded 2 "
         "(stock.sales_return_warehouse: \"2\")")
    returns = Path(tempfile.mkdtemp()) / "demo-sales-return.yaml"
    returns.write_text(DEMO_TENANT.read_text(encoding="utf-8").replace(
        "  safety_stock: 0\n", '  safety_stock: 0\n  sales_return_warehouse: "2"\n', 1), encoding="utf-8")
    demo.o2o("tenant", "put", str(returns))
    demo.jst_admin("POST", "/__admin__/inventory", {"wms_co_id": 10000, "sku_id": "TS001-WHT-M", "return_qty": 3})
    demo.o2o("stock", "pull", "--tenant", ENT_ID)
    show(f"  店+ warehouse 2 TS001-WHT-M: {warehouse_stock(demo, '2', 'TS001-WHT-M')}; "
         f"warehouse 10000: {warehouse_stock(demo, '10000', 'TS001-WHT-M')}")

    show("JST owns the stores' stock (stock.master: erp): S001 and S002 have JST warehouses 10011 / 10012")
    erp = Path(tempfile.mkdtemp()) / "demo-erp-owned.yaml"
    rows = "".join(f'\n  - {{jst_wms_co_id: {w}, pos_warehouse_code: "{s}"}}' for s, w in STORE_WAREHOUSES.items())
    erp.write_text(DEMO_TENANT.read_text(encoding="utf-8").replace("  master: pos", "  master: erp").replace(
        '  - {jst_wms_co_id: 10000, pos_warehouse_code: "10000"}',
        '  - {jst_wms_co_id: 10000, pos_warehouse_code: "10000"}' + rows), encoding="utf-8")
    demo.o2o("tenant", "put", str(erp))
    try:
        for store, wms in STORE_WAREHOUSES.items():
            demo.jst_admin("POST", "/__admin__/inventory", {"wms_co_id": wms, "sku_id": "SKU-RED-M", "qty": 10})
        show("  JST: SKU-RED-M = 10 in each store's warehouse")
        show("S001 sells 2 × SKU-RED-M at the till: sale.completed XS-DEMO-0001 (the guide's 零售单)")
        invoke_event(demo, "sale.completed", {
            "sale_no": "XS-DEMO-0001", "store_code": "S001", "sold_at": now(), "payment": "wechat",
            "items": [{"line_no": "1", "sku_id": "SKU-RED-M", "qty": 2, "price": "99", "amount": "198"}],
            "total_amount": "198"})
        jst_document(demo, "XS-DEMO-0001")
        show(f"  JST 10011 SKU-RED-M = {jst_qty(demo, 10011, 'SKU-RED-M')}; 店+ S001 shows "
             f"{store_stock(demo, 'S001', 'SKU-RED-M')} (JST's figure, read back)")
        show("The hourly pull now brings nothing back:")
        demo.o2o("stock", "pull", "--tenant", ENT_ID)
        show(f"  店+ S001 SKU-RED-M: {store_stock(demo, 'S001', 'SKU-RED-M')}")
        show("店店调拨: S001 sends 3 × SKU-RED-M to S002; the goods leave S001 (store_transfer.submitted DB-DEMO-0001)")
        invoke_event(demo, "store_transfer.submitted", {"doc_no": "DB-DEMO-0001", "from_store": "S001",
                                                        "to_store": "S002",
                                                        "items": [{"sku_id": "SKU-RED-M", "qty": 3}]})
        jst_document(demo, "DB-DEMO-0001-out")
        show(f"  in transit: JST 10011 = {jst_qty(demo, 10011, 'SKU-RED-M')}, 10012 = {jst_qty(demo, 10012, 'SKU-RED-M')}; "
             f"店+ S001 {store_stock(demo, 'S001', 'SKU-RED-M')}, S002 {store_stock(demo, 'S002', 'SKU-RED-M')} "
             "(the 3 on the way are in neither store)")
        demo.o2o("transfers", "in-transit", "--tenant", ENT_ID)
        show("S002 receives them (store_transfer.received DB-DEMO-0001)")
        invoke_event(demo, "store_transfer.received", {"doc_no": "DB-DEMO-0001", "to_store": "S002",
                                                       "received_at": now(),
                                                       "items": [{"sku_id": "SKU-RED-M", "qty": 3}]})
        jst_document(demo, "DB-DEMO-0001-in")
        show(f"  JST 10011 = {jst_qty(demo, 10011, 'SKU-RED-M')}, 10012 = {jst_qty(demo, 10012, 'SKU-RED-M')}; "
             f"店+ S001 {store_stock(demo, 'S001', 'SKU-RED-M')}, S002 {store_stock(demo, 'S002', 'SKU-RED-M')}")
        demo.o2o("transfers", "in-transit", "--tenant", ENT_ID)
        demo.o2o("trace", "DB-DEMO-0001")
        demo.o2o("trace", "XS-DEMO-0001")
    finally:
        demo.o2o("tenant", "put", str(DEMO_TENANT))  # back to stock.master: pos for the next scenarios

    show("配货 as a JST transfer document (the guide's 调拨出库单 variant): jushuitan.replenishment_document: transfer")
    variant = Path(tempfile.mkdtemp()) / "demo-transfer-document.yaml"
    variant.write_text(DEMO_TENANT.read_text(encoding="utf-8").replace(
        "  offline_wms_co_id: 10001\n", "  offline_wms_co_id: 10001\n  replenishment_document: transfer\n", 1),
        encoding="utf-8")
    demo.o2o("tenant", "put", str(variant))
    try:
        from .store_transfers import emit

        emit(demo, "transfer.submitted", {"doc_no": "PH-DEMO-DB01", "store_code": "S001", "remark": "补货",
                                          "items": [{"sku_id": "TS001-WHT-M", "qty": 6}]})
        demo.drain()
        [doc] = [d for d in demo.jst_admin("GET", "/__admin__/state/transfers") if d["so_id"] == "PH-DEMO-DB01"]
        show(f"  JST 调拨单 io_id={doc['io_id']} so_id=PH-DEMO-DB01 {doc['wms_co_id']} -> {doc['link_wms_co_id']} "
             f"status={doc['status']} (no 其它出库: {no_other_inout(demo, 'PH-DEMO-DB01')})")
        demo.jst_admin("POST", "/__admin__/transfers/confirm", {"io_id": doc["io_id"]})
        show(f"  JST ships it: 总仓 TS001-WHT-M = {jst_qty(demo, 10000, 'TS001-WHT-M')}, 调拨在途 at 店加线下仓 = "
             f"{jst_qty(demo, 10001, 'TS001-WHT-M', 'allocate_qty')}")
        demo.o2o("invoke", "poll_jst_documents")
        demo.drain()
        shipped = merchant(demo)["transfers"].get("PH-DEMO-DB01") or {}
        show(f"  店+ 配货单 PH-DEMO-DB01: status={shipped.get('status')} jst_io_id={shipped.get('jst_io_id')}")
        show("  JST's open API cannot receive a transfer: the bridge lists what a person must still receive in JST")
        demo.o2o("transfers", "awaiting-receipt", "--tenant", ENT_ID)
        demo.jst_admin("POST", "/__admin__/transfers/receive", {"io_id": doc["io_id"]})
        show(f"  The warehouse staff receive it in JST (调拨单 page): 店加线下仓 TS001-WHT-M 调拨在途 = "
             f"{jst_qty(demo, 10001, 'TS001-WHT-M', 'allocate_qty')}; the next poll_jst_documents lets it go")
        demo.o2o("invoke", "poll_jst_documents")
        demo.o2o("transfers", "awaiting-receipt", "--tenant", ENT_ID)
        demo.o2o("trace", "PH-DEMO-DB01")
    finally:
        demo.o2o("tenant", "put", str(DEMO_TENANT))  # back to the demo tenant for the next scenarios


def outbound(demo, io_id: int, *, shop_id: int, city: str, sku: str, **extra: Any) -> None:
    province = "上海市" if city == "上海市" else "江苏省"
    demo.jst_admin("POST", "/__admin__/outbounds", {
        "io_id": io_id, "so_id": f"GUIDE-{io_id}", "wms_co_id": 10001, "shop_id": shop_id, **RECEIVER,
        "receiver_state": province, "receiver_city": city, "items": [{"sku_id": sku, "qty": 1, "name": "T恤"}],
        **extra})
    show(f"  JST outbound {io_id} in 店加线下仓: shop {shop_id}, {city}, {sku}"
         + "".join(f", {k}={v}" for k, v in extra.items()))


def fulfilments(demo, io_id: int) -> list[dict]:
    merchant = demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["merchants"][ENT_ID]
    return [f for f in merchant["fulfilments"].values() if str(f["external_id"]) == str(io_id)]


def merchant(demo) -> dict:
    return demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["merchants"][ENT_ID]


def warehouse_stock(demo, code: str, sku: str) -> str:
    cell = merchant(demo)["warehouse_stock"].get(f"{code}/{sku}")
    return f"qty {cell['qty']}" if cell else "not set"


def store_stock(demo, store: str, sku: str) -> str:
    cell = merchant(demo)["store_stock"].get(f"{store}/{sku}")
    return f"qty {cell['qty']}" if cell else "not set"


def jst_qty(demo, wms: int, sku: str, field: str = "qty") -> Any:
    rows = demo.jst_admin("GET", "/__admin__/state/inventory")
    return next((r[field] for r in rows if r.get("sku_id") == sku and r.get("wms_co_id") == wms), None)


def no_other_inout(demo, external_id: str) -> bool:
    return not any(d.get("so_id") == external_id for d in demo.jst_admin("GET", "/__admin__/state/other_inouts"))


def jst_document(demo, external_id: str) -> None:
    docs = [d for d in demo.jst_admin("GET", "/__admin__/state/other_inouts") if d.get("so_id") == external_id]
    for doc in docs:
        lines = ", ".join(f"{i['sku_id']}×{i['qty']}" for i in doc["items"])
        show(f"  JST {doc['type']} io_id={doc['io_id']} external_id={external_id} wms_co_id={doc['wms_co_id']} "
             f"status={doc['status']} remark={doc.get('remark')!r}: {lines}")
    if not docs:
        show(f"  JST holds no document {external_id}")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def invoke_event(demo, event_type: str, data: dict) -> None:
    """A signed store event as the 店+ system posts it, through `o2o invoke` (which reads the tenant
    fresh, as a new container would), then the retry queue drained."""
    from o2o_bridge.connectors.store.inbound import sign

    event = json.loads((ROOT / "events" / "pos_events.json").read_text(encoding="utf-8"))
    body = {"event_id": f"evt-guide-{uuid.uuid4().hex[:8]}", "ent_id": ENT_ID, "type": event_type,
            "occurred_at": now(), "data": data}
    raw = json.dumps(body, ensure_ascii=False)
    event["body"] = raw
    event["headers"]["x-o2o-event-id"] = body["event_id"]
    event["headers"]["x-o2o-signature"] = sign("demo-webhook-secret", raw.encode("utf-8"))
    path = Path(tempfile.mkdtemp()) / "event.json"
    path.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
    demo.o2o("invoke", "pos_events", "--event", str(path))
    demo.drain()
