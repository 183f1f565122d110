"""Demo of S2: a micro-mall order shipped by the warehouse in two parcels (the second push is
lost and S2x finds it), a second order cancelled by JST, and a return received."""

from __future__ import annotations

import json

from ..demo_support import ENT_ID, show

RECEIVER = {"name": "李四", "mobile": "13900000000", "province": "上海市", "city": "上海市", "district": "浦东新区",
            "address": "世纪大道 100 号"}
ORDER = {"order_no": "WM-DEMO-S2-1", "receiver": RECEIVER, "pay_amount": "507.00", "freight": "10.00",
         "paid_at": "2026-11-22T10:20:00+08:00",
         "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 2, "price": "99.00", "amount": "198.00"},
                   {"line_no": "2", "sku_id": "JN002-BLU-30", "qty": 1, "price": "299.00", "amount": "299.00"}]}
CANCELLED = {"order_no": "WM-DEMO-S2-2", "receiver": RECEIVER, "pay_amount": "109.00", "freight": "10.00",
             "paid_at": "2026-11-22T10:25:00+08:00",
             "items": [{"line_no": "1", "sku_id": "TS001-WHT-L", "qty": 1, "price": "99.00", "amount": "99.00"}]}
RETURN = {"return_no": "RT-DEMO-S2-1", "order_no": ORDER["order_no"], "type": "return",
          "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]}


def run(demo) -> None:
    show(f"微商城 order {ORDER['order_no']} (TS001-WHT-M ×2, JN002-BLU-30 ×1) is sent to the warehouse")
    emit(demo, "order.warehouse_requested", ORDER)
    order = jst_order(demo, ORDER["order_no"])

    show("The warehouse ships line 1 ×1 in parcel SF-DEMO-S2-A; JST pushes 物流同步 (signed, JSON)")
    ship(demo, {"so_id": ORDER["order_no"], "lc_id": "SF", "l_id": "SF-DEMO-S2-A",
                "items": [{"outer_oi_id": "1", "qty": 1}], "auth": "sign"})
    store_order(demo, ORDER["order_no"])
    show("JST sends the same push again: acknowledged, nothing new at the store")
    resend_last_push(demo)
    store_order(demo, ORDER["order_no"])

    show("The rest leaves in parcel ZTO-DEMO-S2-B, but JST's 物流同步 push is lost")
    lost = ship(demo, {"so_id": ORDER["order_no"], "lc_id": "ZTO", "l_id": "ZTO-DEMO-S2-B", "drop": True})
    store_order(demo, ORDER["order_no"])
    show("S2x: poll_jst_documents reads /open/logistic/query over its overlapping window")
    demo.o2o("invoke", "poll_jst_documents", expect=None)
    demo.drain()
    store_order(demo, ORDER["order_no"])
    show("JST's late retry of the lost push (form biz body, token): acknowledged, no second shipment")
    push(demo, "delivery", lost["payload"], body="form", auth="token")
    store_order(demo, ORDER["order_no"])

    show(f"Second order {CANCELLED['order_no']}: uploaded, then cancelled in JST (缺货); JST pushes 取消订单")
    emit(demo, "order.warehouse_requested", CANCELLED)
    jst_order(demo, CANCELLED["order_no"])
    cancelled = demo.jst_admin("POST", "/__admin__/orders/cancel",
                               {"so_id": CANCELLED["order_no"], "remark": "缺货", "auth": "token", "body": "form"})
    show(f"JST 取消订单 push → bridge: {answer_of(cancelled['push'])}")
    store_order(demo, CANCELLED["order_no"])

    show(f"Return {RETURN['return_no']} of {ORDER['order_no']} (TS001-WHT-M ×1) → JST after-sale")
    emit(demo, "return.requested", RETURN)
    after_sale = next(a for a in demo.jst_admin("GET", "/__admin__/state/aftersales")
                      if a["outer_as_id"] == RETURN["return_no"])
    show(f"JST after-sale as_id={after_sale['as_id']} outer_as_id={after_sale['outer_as_id']} "
         f"so_id={after_sale['so_id']} type={after_sale['type']} status={after_sale['status']}")
    received = demo.jst_admin("POST", "/__admin__/aftersales/receive", {"outer_as_id": RETURN["return_no"],
                                                                         "auth": "sign"})
    show(f"The warehouse receives the goods; JST 售后收货 (确认收货) push → bridge: {answer_of(received['push'])}")
    ret = store_state(demo)["returns"].get(RETURN["return_no"], {})
    show(f"店+ return {RETURN['return_no']}: status={ret.get('status')} receipts="
         f"{json.dumps([(r['action'], r['items']) for r in ret.get('receipts', [])], ensure_ascii=False)}")

    show("A forged 物流同步 push (bad sign) is refused in JST's format; nothing changes")
    forged = push(demo, "delivery", lost["payload"], auth="bad_sign")
    show(f"→ {forged['http_status']} {json.dumps(forged['response'], ensure_ascii=False)}")
    demo.o2o("trace", ORDER["order_no"])


def emit(demo, event_type: str, data: dict) -> None:
    answer = demo.pos_admin("POST", "/__admin__/emit", {"type": event_type, "ent_id": ENT_ID, "data": data})["data"]
    key = data.get("order_no") if event_type.startswith("order.") else data.get("return_no")
    show(f"店+ sandbox → bridge {event_type} {key}: {answer['status']} {json.dumps(answer.get('body'), ensure_ascii=False)}")


def jst_order(demo, so_id: str) -> dict:
    orders = [o for o in demo.jst_admin("GET", "/__admin__/state/orders") if o.get("so_id") == so_id]
    if not orders:
        raise SystemExit(f"demo failed: JST holds no order {so_id}")
    order = orders[-1]
    paid = sum(float(p.get("amount", 0)) for p in order.get("pays", []))
    lines = ", ".join(f"{i['outer_oi_id']}:{i['sku_id']}×{i['qty']}" for i in order["items"])
    show(f"JST order o_id={order['o_id']} so_id={so_id} shop_id={order['shop_id']} status={order['status']} "
         f"pay_amount={order['pay_amount']} paid={paid:g} lines: {lines}")
    return order


def ship(demo, request: dict) -> dict:
    shipped = demo.jst_admin("POST", "/__admin__/orders/ship", request)
    pushed = shipped["push"]
    show(f"JST order {shipped['order']['so_id']} now {shipped['order']['status']}; 物流同步 push → bridge: "
         + ("(dropped: never sent)" if pushed and pushed["dropped"] else answer_of(pushed)))
    return shipped


def resend_last_push(demo) -> None:
    last = demo.jst_admin("GET", "/__admin__/pushes")[-1]
    push(demo, last["kind"], last["payload"], body=last["body"], auth=last["auth"])


def push(demo, kind: str, payload: dict, **options) -> dict:
    sent = demo.jst_admin("POST", "/__admin__/push", {"kind": kind, "payload": payload,
                                                      "storage_code": 133242, **options})
    if kind != "delivery" or options.get("auth") != "bad_sign":
        show(f"{kind} push ({options.get('body', 'json')}, {options.get('auth', 'sign')}) → bridge: {answer_of(sent)}")
    return sent


def answer_of(push_record: dict | None) -> str:
    if not push_record:
        return "(no push)"
    return f"{push_record['http_status']} {json.dumps(push_record['response'], ensure_ascii=False)}"


def store_state(demo) -> dict:
    return demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["merchants"][ENT_ID]


def store_order(demo, order_no: str) -> None:
    merchant = store_state(demo)
    order = merchant["orders"].get(order_no, {})
    parcels = [f"{s['tracking_no']}({s['carrier_code']}: " + ", ".join(f"{i['sku_id']}×{i['qty']}" for i in s["items"]) + ")"
               for s in merchant["shipments"] if s["order_no"] == order_no]
    show(f"店+ order {order_no}: status={order.get('status')} shipments={parcels or 'none'}"
         + (f" cancel_reason={order['cancel_reason']}" if order.get("cancel_reason") else ""))
