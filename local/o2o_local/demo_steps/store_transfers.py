"""Demo of S5 配货 and S6 退仓: the store submits, JST's warehouse confirms, the store is told."""

from __future__ import annotations

import json

from ..demo_support import ENT_ID, show

TRANSFER = {"doc_no": "PH-DEMO-0001", "store_code": "S001", "remark": "周末补货",
            "items": [{"sku_id": "TS001-WHT-M", "qty": 12}, {"sku_id": "JN002-BLU-30", "qty": 4}]}
RETURN = {"doc_no": "TC-DEMO-0001", "store_code": "S002", "remark": "换季退仓",
          "items": [{"sku_id": "JN002-BLU-30", "qty": 2}]}
VOIDED = {"doc_no": "PH-DEMO-0002", "store_code": "S002", "remark": "",
          "items": [{"sku_id": "TS001-WHT-L", "qty": 5}]}


def run(demo) -> None:
    show("S5 配货: store S001 submits 配货单 PH-DEMO-0001 (TS001-WHT-M ×12, JN002-BLU-30 ×4)")
    emit(demo, "transfer.submitted", TRANSFER)
    out = jst_document(demo, TRANSFER["doc_no"])
    qty_before = main_stock(demo, "TS001-WHT-M")
    demo.o2o("invoke", "poll_jst_documents")  # still WaitConfirm in JST: nothing for the store yet
    show(f"JST warehouse confirms {out['io_id']} (其它出库 ships the goods)")
    demo.jst_admin("POST", "/__admin__/otherinout/confirm", {"io_id": out["io_id"]})
    show(f"JST 总仓 TS001-WHT-M qty: {qty_before} → {main_stock(demo, 'TS001-WHT-M')}")
    demo.o2o("invoke", "poll_jst_documents")
    demo.drain()
    doc = store_document(demo, "transfers", TRANSFER["doc_no"])
    show(f"店+ 配货单 {TRANSFER['doc_no']}: status={doc['status']} jst_io_id={doc.get('jst_io_id')} "
         f"outbound={doc.get('outbound_no')} pending inbound receipt={doc.get('inbound_receipt_no')} "
         f"({doc.get('inbound_status')}) items={json.dumps(doc.get('shipped_items'), ensure_ascii=False)}")

    show("S6 退仓: store S002 submits 退仓单 TC-DEMO-0001 (JN002-BLU-30 ×2)")
    emit(demo, "warehouse_return.submitted", RETURN)
    back = jst_document(demo, RETURN["doc_no"])
    demo.jst_admin("POST", "/__admin__/otherinout/confirm", {"io_id": back["io_id"]})
    show(f"JST warehouse confirms {back['io_id']} (the goods are back in wms_co_id {back['wms_co_id']})")
    demo.o2o("invoke", "poll_jst_documents")
    demo.drain()
    doc = store_document(demo, "warehouse_returns", RETURN["doc_no"])
    show(f"店+ 退仓单 {RETURN['doc_no']}: status={doc['status']} jst_io_id={doc.get('jst_io_id')} "
         f"inbound={doc.get('inbound_no')} items={json.dumps(doc.get('received_items'), ensure_ascii=False)}")

    show("A 配货单 voided in JST: PH-DEMO-0002 is cancelled by the warehouse before shipping")
    emit(demo, "transfer.submitted", VOIDED)
    voided = jst_document(demo, VOIDED["doc_no"])
    demo.jst_admin("POST", "/__admin__/otherinout/confirm", {"io_id": voided["io_id"], "status": "Delete"})
    demo.o2o("invoke", "poll_jst_documents")
    doc = store_document(demo, "transfers", VOIDED["doc_no"])
    show(f"店+ 配货单 {VOIDED['doc_no']} stays {doc['status']}; the exception is on its timeline:")
    demo.o2o("trace", VOIDED["doc_no"])
    demo.o2o("transfers", "exceptions", "--tenant", ENT_ID)
    demo.o2o("trace", TRANSFER["doc_no"])


def emit(demo, event_type: str, data: dict) -> None:
    answer = demo.pos_admin("POST", "/__admin__/emit", {"type": event_type, "ent_id": ENT_ID, "data": data})["data"]
    show(f"店+ sandbox → bridge {event_type} {data['doc_no']}: {answer['status']} "
         f"{json.dumps(answer.get('body'), ensure_ascii=False)}")


def jst_document(demo, external_id: str) -> dict:
    docs = [d for d in demo.jst_admin("GET", "/__admin__/state/other_inouts") if d.get("so_id") == external_id]
    if not docs:
        raise SystemExit(f"demo failed: JST holds no other in/out {external_id}")
    doc = docs[-1]
    lines = ", ".join(f"{i['sku_id']}×{i['qty']}" for i in doc["items"])
    show(f"JST other in/out io_id={doc['io_id']} {doc['type']} external_id={external_id} "
         f"wms_co_id={doc['wms_co_id']} status={doc['status']} items: {lines}")
    return doc


def main_stock(demo, sku_id: str):
    rows = demo.jst_admin("GET", "/__admin__/state/inventory")
    return next((r["qty"] for r in rows if r.get("sku_id") == sku_id and r.get("wms_co_id") == 10000), None)


def store_document(demo, collection: str, doc_no: str) -> dict:
    merchant = demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["merchants"][ENT_ID]
    return merchant[collection].get(doc_no) or {"status": "(unknown to 店+)"}
