"""Demo of the 旺店通 tenant (W1-W6) beside the JST one: onboarding checks, store sales within
the 10-minute run, a return, an ERP 调拨入库 arriving at the store with a new SKU created
first, a count booked as 盘点, the hourly price/name/barcode update, and the 02:10 run in
each direction."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml

from ..demo_support import ROOT, show

WDT_TENANT = ROOT / "local" / "tenants" / "wdt-demo.yaml"
ENT = "10030"
NOW = "2026-12-02T10:15:00+08:00"


def run(demo) -> None:
    from ..pos_sandbox.demo import wdt_demo_merchant

    demo.pos_admin("POST", "/__admin__/seed", {"merchants": [wdt_demo_merchant()]})
    show("W6 onboarding: register tenant 10030 (erp: wangdiantong) and check it against 旺店通")
    demo.o2o("tenant", "put", str(WDT_TENANT))
    demo.o2o("tenant", "doctor", ENT)
    show("An implementation engineer numbered store S102's warehouse S-102 instead of its store code:")
    demo.wdt_admin("POST", "/__admin__/warehouses", {"remove": "S102"})
    demo.wdt_admin("POST", "/__admin__/warehouses", {"warehouse_no": "S-102", "name": "五角场店"})
    demo.o2o("tenant", "doctor", ENT, expect=1)
    demo.wdt_admin("POST", "/__admin__/warehouses", {"remove": "S-102"})
    demo.wdt_admin("POST", "/__admin__/warehouses", {"warehouse_no": "S102", "name": "五角场店"})
    show("…renumbered S102: the doctor is satisfied again (not shown); one signed call by hand:")
    demo.o2o("wdt", "call", "logistics.php", '{"page_no": 0, "page_size": 10}', "--tenant", ENT)

    show("W1 store sales: a cash and a card sale at 徐家汇店 S101, pushed by the 10-minute run")
    emit(demo, "sale.completed", sale("XJH-0001", "cash", "PIL-STD", 1, "199.00"))
    emit(demo, "sale.completed", sale("XJH-0002", "wechat", "PIL-STD", 2, "378.00", price="199.00"))
    emit(demo, "sale.completed", sale("XJH-0001", "cash", "PIL-STD", 1, "199.00"), event_id="replay-of-XJH-0001")
    demo.o2o("invoke", "push_wdt_sales")
    for trade in demo.wdt_admin("GET", "/__admin__/state/trades"):
        show(f"旺店通 original order tid={trade['tid']} shop=POS01 delivery_term={trade['delivery_term']} "
             f"({'货到付款' if trade['delivery_term'] == 2 else '款到发货'}) logistics={trade['logistics_type']} "
             f"paid={trade['paid']} cod={trade['cod_amount']} lines={[(o['oid'], o['num']) for o in trade['order_list']]}")
    demo.o2o("invoke", "push_wdt_sales")  # nothing left: the replayed sale was queued once
    show(f"trade_push calls so far: {len(demo.wdt_admin('GET', '/__admin__/calls?api=trade_push.php'))}")

    show("W3 a customer returns one pillow (not defective), another returns a defective one")
    emit(demo, "sale.refunded", refund("RF-0001", "XJH-0002", defective=False))
    emit(demo, "sale.refunded", refund("RF-0002", "XJH-0002", defective=True))
    for doc in demo.wdt_admin("GET", "/__admin__/state/stockins"):
        show(f"旺店通 {doc['order_type_name']} {doc['order_no']} outer_no={doc['outer_no']} warehouse={doc['warehouse_no']} "
             f"remark={doc['remark']!r} lines={[(d['spec_no'], d['goods_count']) for d in doc['details_list']]}")
    show("(RF-0002 is defective: it stays in the store system, 旺店通 hears nothing)")
    demo.o2o("trace", "RF-0001")

    show("W2 an ERP user creates 乳胶靠垫 CUS-GRY in 货品档案 and a 调拨入库 of it to 徐家汇店")
    demo.wdt_admin("POST", "/__admin__/goods", {"goods_no": "CUS", "goods_name": "乳胶靠垫", "class_name": "床品",
                                               "brand_name": "示例", "spec_list": [
                                                   {"spec_no": "CUS-GRY", "spec_name": "灰色",
                                                    "barcode": "6911000000031", "retail_price": 129}]})
    doc = demo.wdt_admin("POST", "/__admin__/stockins", {"warehouse_no": "S101", "order_type": "调拨入库",
                                                         "lines": [{"spec_no": "CUS-GRY", "num": 6}],
                                                         "remark": "总仓调拨"})
    demo.o2o("invoke", "poll_wdt_documents")
    merchant = store(demo)
    show(f"店+ product CUS-GRY: {json.dumps(pick(merchant['products'].get('CUS-GRY', {}), 'name', 'barcode', 'category', 'retail_price'), ensure_ascii=False)}")
    receipt = merchant["inbound_receipts"].get(f"S101/{doc['order_no']}", {})
    show(f"店+ pending inbound receipt for {doc['order_no']} at S101: {receipt.get('status')} "
         f"{receipt.get('doc_type')} items={receipt.get('items')}")
    demo.o2o("trace", doc["order_no"])

    show("W3 an approved count at 五角场店 S102: PIL-LOW counted 9 (旺店通 had 5)")
    emit(demo, "stock.counted", {"count_no": "PD-WJC-01", "store_code": "S102", "approved_at": NOW,
                                 "items": [{"sku_id": "PIL-LOW", "counted_qty": 9}]})
    for pd in demo.wdt_admin("GET", "/__admin__/state/pd_orders"):
        show(f"旺店通 盘点 {pd['pd_no']} warehouse={pd['warehouse_no']} remark={pd['remark']!r} lines={pd['goods_list']}")
    show(f"旺店通 S102 PIL-LOW now {stock(demo, 'S102', 'PIL-LOW')} (盘盈 booked by the ERP itself)")

    show("W4 hourly: 旺店通 renames 记忆棉枕, PIL-STD 零售价 199 → 219 with a new barcode")
    demo.wdt_admin("POST", "/__admin__/goods", {"goods_no": "PIL", "goods_name": "记忆棉枕 Pro", "brand_name": "改名品牌",
                                               "spec_list": [{"spec_no": "PIL-STD", "retail_price": 219,
                                                              "barcode": "6911000000099"}]})
    demo.o2o("products", "sync", "--tenant", ENT)
    show(f"店+ PIL-STD: {json.dumps(pick(store(demo)['products']['PIL-STD'], 'name', 'barcode', 'retail_price', 'brand'), ensure_ascii=False)}"
         " (brand not one of the three fields: kept)")

    show("W5 02:10, stock.master erp: 旺店通's changed store-warehouse stock becomes store stock")
    demo.o2o("invoke", "nightly_stock_push")
    show(f"店+ stock: {store_stock(demo)}")
    show("W5 with stock.master pos: a store change (S101 PIL-STD → 4) becomes a 盘点 in 旺店通")
    use_master(demo, "pos")
    set_store_stock(demo, "S101", "PIL-STD", 4)  # a sale at the till, as the store system books it
    demo.o2o("invoke", "nightly_stock_push")
    show(f"旺店通 S101 PIL-STD now {stock(demo, 'S101', 'PIL-STD')}; 盘点: "
         f"{[pd['remark'] for pd in demo.wdt_admin('GET', '/__admin__/state/pd_orders')]}")
    demo.o2o("trace", "XJH-0001")


def sale(no: str, payment: str, sku: str, qty: int, total: str, price: str = "199.00") -> dict:
    return {"sale_no": no, "store_code": "S101", "sold_at": NOW, "payment": payment, "total_amount": total,
            "items": [{"line_no": "1", "sku_id": sku, "qty": qty, "price": price, "amount": total}]}


def refund(no: str, sale_no: str, *, defective: bool) -> dict:
    return {"refund_no": no, "sale_no": sale_no, "store_code": "S101", "refunded_at": NOW, "defective": defective,
            "items": [{"line_no": "1", "sku_id": "PIL-STD", "qty": 1, "amount": "189.00"}]}


def emit(demo, event_type: str, data: dict, event_id: str | None = None) -> None:
    body = {"type": event_type, "ent_id": ENT, "data": data}
    if event_id:
        body["event_id"] = event_id
    answer = demo.pos_admin("POST", "/__admin__/emit", body)["data"]
    key = data.get("sale_no") if event_type == "sale.completed" else data.get("refund_no") or data.get("count_no")
    show(f"店+ → bridge {event_type} {key}: {answer['status']} {json.dumps(answer.get('body'), ensure_ascii=False)}")


def store(demo) -> dict:
    return demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT}")["data"]["merchants"][ENT]


def store_stock(demo) -> str:
    cells = store(demo)["store_stock"]
    return ", ".join(f"{key} {cell['qty']}" for key, cell in sorted(cells.items()))


def set_store_stock(demo, store_code: str, sku: str, qty: int) -> None:
    demo.pos_admin("POST", "/__admin__/seed", {"merchants": [{"ent_id": ENT, "store_stock": [
        {"store_code": store_code, "sku_id": sku, "qty": qty, "version": 100}]}]})


def stock(demo, warehouse: str, spec: str) -> str:
    rows = demo.wdt_admin("GET", "/__admin__/state/stock")
    return next((r["stock_num"] for r in rows if r["warehouse_no"] == warehouse and r["spec_no"] == spec), "-")


def pick(record: dict, *names: str) -> dict:
    return {n: record.get(n) for n in names}


def use_master(demo, master: str) -> None:
    doc = yaml.safe_load(WDT_TENANT.read_text(encoding="utf-8"))
    doc["stock"]["master"] = master
    path = Path(tempfile.mkdtemp()) / "wdt-demo-pos-master.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    demo.o2o("tenant", "put", str(path))
