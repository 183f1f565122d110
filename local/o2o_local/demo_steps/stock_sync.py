"""Demo of S3/S4/S4e: warehouse stock to the stores, store stock to JST, and the 02:10 run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..demo_support import DEMO_TENANT, ENT_ID, ROOT, paste_jst_urls, pasted_query, show

MAIN, OFFLINE = 10000, 10001
STORE_WAREHOUSE = 10011  # S4e: JST's warehouse of store S001
# The 店+ demo merchant's own SKUs: JST must know them before store stock can be counted there.
STORE_SKUS = ("SKU-RED-M", "SKU-RED-L", "SKU-BLUE-M", "SKU-BLUE-L")


def run(demo) -> None:
    demo.jst_admin("POST", "/__admin__/seed", {"skus": [{"sku_id": s, "i_id": s.rsplit("-", 1)[0], "name": f"店+ {s}"}
                                                        for s in STORE_SKUS],
                                               "warehouses": [{"wms_co_id": STORE_WAREHOUSE, "name": "南京西路店仓"}]})

    show("S3 库存同步: JST 总仓 TS001-WHT-M changes to 118 and JST pushes it to stock_callback")
    pushed = demo.jst_admin("POST", "/__admin__/inventory", {"wms_co_id": MAIN, "sku_id": "TS001-WHT-M", "qty": 118,
                                                             "push": True})["push"]
    show(f"push -> bridge answered {pushed['http_status']} {json.dumps(pushed['response'], ensure_ascii=False)}")
    show(f"店+ warehouse 10000 TS001-WHT-M: {warehouse_stock(demo, '10000', 'TS001-WHT-M')}")
    before = stock_puts(demo)
    again = demo.jst_admin("POST", "/__admin__/inventory/push", {"wms_co_id": MAIN, "sku_ids": ["TS001-WHT-M"]})
    show(f"the same push again -> {again['http_status']}; 店+ stock calls before/after: {before}/{stock_puts(demo)} "
         f"(a repeat changes nothing)")

    show("S3 hourly pull: JST 总仓 TS001-WHT-L changes to 77 and the push is lost; the ts-cursor pull finds it")
    demo.jst_admin("POST", "/__admin__/inventory", {"wms_co_id": MAIN, "sku_id": "TS001-WHT-L", "qty": 77})
    demo.o2o("stock", "pull", "--tenant", ENT_ID)
    show(f"店+ warehouse 10000 TS001-WHT-L: {warehouse_stock(demo, '10000', 'TS001-WHT-L')}")

    show("S4 store stock -> JST 店加线下仓: three stock changes at two stores, coalesced into one upload")
    uploads = len(inventory_uploads(demo))
    store_stock(demo, "S001", [{"sku_id": "TS001-WHT-M", "qty": 6}])
    store_stock(demo, "S001", [{"sku_id": "TS001-WHT-M", "qty": 5}, {"sku_id": "JN002-BLU-30", "qty": 3}])
    store_stock(demo, "S002", [{"sku_id": "TS001-WHT-M", "qty": 2}])
    show(f"JST inventory uploads after the events: {len(inventory_uploads(demo)) - uploads} new "
         "(no JST call per event; one flush waits in the queue for the tenant's stock.coalesce_seconds)")
    demo.drain()
    for upload in inventory_uploads(demo)[uploads:]:
        show(f"JST inventoryv2 upload so_id={upload['so_id']} type={upload['type']} wms_co_id={upload['wms_co_id']} "
             f"items={json.dumps(upload['items'], ensure_ascii=False)}")
    show(f"JST 店加线下仓 TS001-WHT-M = {jst_qty(demo, OFFLINE, 'TS001-WHT-M')} (S001 5 + S002 2), "
         f"JN002-BLU-30 = {jst_qty(demo, OFFLINE, 'JN002-BLU-30')}")
    demo.o2o("stock", "show", "TS001-WHT-M", "--tenant", ENT_ID)

    show("02:10 nightly run, as scheduled: plan, fan the chunks out through the retry queue, the worker pushes them")
    demo.o2o("invoke", "nightly_stock_push")
    demo.drain()
    demo.o2o("stock", "status", "--tenant", ENT_ID)

    show("The next night, by hand: a store count nobody announced (S002 SKU-BLUE-M 6 -> 9) is the only change")
    store_stock(demo, "S002", [{"sku_id": "SKU-BLUE-M", "qty": 9}], emit=False)
    demo.o2o("stock", "nightly", "--tenant", ENT_ID, "--run-id", "demo-next-night")
    show(f"JST 店加线下仓 SKU-BLUE-M = {jst_qty(demo, OFFLINE, 'SKU-BLUE-M')}")
    demo.o2o("trace", "stock-nightly:demo-next-night")

    show("S4e: the tenant switches to stock.master: erp (JST owns store stock; S001's JST warehouse is 10011)")
    erp = Path(tempfile.mkdtemp()) / "demo-erp.yaml"
    erp.write_text(DEMO_TENANT.read_text(encoding="utf-8")
                   .replace("  master: pos", "  master: erp")
                   .replace('  - {jst_wms_co_id: 10000, pos_warehouse_code: "10000"}',
                            '  - {jst_wms_co_id: 10000, pos_warehouse_code: "10000"}\n'
                            f'  - {{jst_wms_co_id: {STORE_WAREHOUSE}, pos_warehouse_code: "S001"}}'), encoding="utf-8")
    demo.o2o("tenant", "put", str(erp))
    # The running API keeps a tenant for up to 60 s; `o2o invoke` reads it fresh, as a new container would.
    try:
        demo.jst_admin("POST", "/__admin__/inventory", {"wms_co_id": STORE_WAREHOUSE, "sku_id": "TS001-WHT-M", "qty": 12})
        show(f"JST warehouse {STORE_WAREHOUSE} (store S001) TS001-WHT-M = 12; its 库存同步 push reaches stock_callback:")
        show("the new warehouse's 库存同步 URL (its own token) is pasted into JST:")
        urls = paste_jst_urls(demo.env, demo.api)
        query = pasted_query(urls, "stock_callback", STORE_WAREHOUSE)
        demo.o2o("invoke", "stock_callback", "--event", str(stock_push_event(query, "TS001-WHT-M", 12)))
        show(f"店+ store S001 TS001-WHT-M: {store_level(demo, 'S001', 'TS001-WHT-M')}")
        uploads = len(inventory_uploads(demo))
        show("a stock.changed event of S001 now is acknowledged with a timeline note, and not pushed:")
        demo.o2o("invoke", "pos_events", "--event", str(store_event("S001", "TS001-WHT-M", 11, version=99)))
        demo.drain()
        show(f"JST uploads since: {len(inventory_uploads(demo)) - uploads}")
        demo.o2o("trace", "stock:S001")
    finally:
        demo.o2o("tenant", "put", str(DEMO_TENANT))  # back to stock.master: pos for the next scenarios


def stock_push_event(query: dict[str, str], sku: str, qty: int) -> Path:
    """A 库存同步 push to its pasted URL (``query``: entId, storageCode, type, its own token) as API
    Gateway delivers it."""
    from datetime import datetime, timedelta, timezone

    event = json.loads((ROOT / "events" / "stock_callback.json").read_text(encoding="utf-8"))
    modified = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
    event.update(queryStringParameters=query, rawQueryString="&".join(f"{k}={v}" for k, v in query.items()),
                 body=json.dumps({"datas": [{"sku_id": sku, "qty": qty, "modified": modified}]}, ensure_ascii=False))
    return _temp_json(event)


def store_event(store_code: str, sku: str, qty: int, *, version: int) -> Path:
    """A signed stock.changed event as the 店+ system posts it (like events/pos_events.json)."""
    import uuid
    from datetime import datetime, timezone

    from o2o_bridge.connectors.store.inbound import sign

    event = json.loads((ROOT / "events" / "pos_events.json").read_text(encoding="utf-8"))
    body = {"event_id": f"evt-demo-{uuid.uuid4().hex[:8]}", "ent_id": ENT_ID, "type": "stock.changed",
            "occurred_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "data": {"store_code": store_code, "items": [{"sku_id": sku, "qty": qty, "version": version}]}}
    raw = json.dumps(body, ensure_ascii=False)
    event["body"] = raw
    event["headers"]["x-o2o-event-id"] = body["event_id"]
    event["headers"]["x-o2o-signature"] = sign("demo-webhook-secret", raw.encode("utf-8"))
    return _temp_json(event)


def _temp_json(event: dict) -> Path:
    path = Path(tempfile.mkdtemp()) / "event.json"
    path.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
    return path


def store_stock(demo, store_code: str, items: list[dict], emit: bool = True) -> None:
    answer = demo.pos_admin("POST", "/__admin__/store-stock",
                            {"ent_id": ENT_ID, "store_code": store_code, "items": items, "emit": emit})["data"]
    levels = ", ".join(f"{i['sku_id']}={i['qty']}" for i in items)
    if emit:
        show(f"店+ {store_code}: {levels} -> stock.changed -> bridge answered {answer.get('status')} "
             f"{json.dumps(answer.get('body'), ensure_ascii=False)}")
    else:
        show(f"店+ {store_code}: {levels} (no event sent)")


def merchant(demo) -> dict:
    return demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["merchants"][ENT_ID]


def warehouse_stock(demo, code: str, sku: str) -> str:
    cell = merchant(demo)["warehouse_stock"].get(f"{code}/{sku}")
    return f"qty {cell['qty']} (version {cell['version']})" if cell else "not set"


def store_level(demo, store: str, sku: str) -> str:
    cell = merchant(demo)["store_stock"].get(f"{store}/{sku}")
    return f"qty {cell['qty']} (version {cell['version']})" if cell else "not set"


def stock_puts(demo) -> int:
    requests = demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["requests"]
    return sum(1 for r in requests if r.get("method") == "PUT" and "/stock" in r.get("path", ""))


def inventory_uploads(demo) -> list[dict]:
    return sorted(demo.jst_admin("GET", "/__admin__/state/inventory_uploads"), key=lambda u: u["io_id"])


def jst_qty(demo, wms_co_id: int, sku: str):
    for row in demo.jst_admin("GET", "/__admin__/state/inventory"):
        if int(row["wms_co_id"]) == wms_co_id and row["sku_id"] == sku:
            return row["qty"]
    return None
