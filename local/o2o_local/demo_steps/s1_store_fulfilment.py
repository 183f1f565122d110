"""S1 / S1r / S1c on the sandboxes: online orders of the 店加线下仓 fulfilled by stores.

JST's OMS assigns five orders to the 店加线下仓 (10001). The bridge polls them, routes each to
a store and creates its fulfilment order at 店+. Then people act: a store ships one, a
customer picks one up, a store rejects one (re-routed, then shipped), JST cancels one while it
is at the store, and one no store can take is parked and re-routed by hand.
"""

from __future__ import annotations

import json
from typing import Any

from ..demo_support import ENT_ID, Demo, show

RECEIVERS = {
    "上海": {"receiver_state": "上海市", "receiver_city": "上海市", "receiver_district": "静安区",
             "receiver_address": "南京西路 1266 号"},
    "南京": {"receiver_state": "江苏省", "receiver_city": "南京市", "receiver_district": "秦淮区",
             "receiver_address": "中山南路 1 号"},
    "广州": {"receiver_state": "广东省", "receiver_city": "广州市", "receiver_district": "天河区",
             "receiver_address": "天河路 208 号"},
}
# io_id: (what happens, where the customer lives, SKU, JST labels)
ORDERS = {
    510001: ("shipped by the store", "上海", "SKU-RED-L", ""),
    510002: ("picked up by the customer", "南京", "SKU-BLUE-M", "门店自提"),
    510003: ("rejected, re-routed, shipped", "上海", "SKU-RED-M", ""),
    510004: ("cancelled at JST while at the store", "上海", "SKU-RED-M", ""),
    510005: ("parked (no store left), re-routed by hand, shipped", "广州", "SKU-BLUE-L", ""),
}


def run(demo: Demo) -> None:
    show("JST knows the merchant's pickup logistics code MDZT 门店自提 (the tenant's routing.pickup_lc_id)")
    demo.jst_admin("POST", "/__admin__/seed", {"logistics_companies": [{"lc_id": "MDZT", "lc_name": "门店自提"}],
                                              "shops": [{"shop_id": 10086, "shop_name": "天猫旗舰店", "shop_site": "天猫"}]})
    show("JST's OMS assigns five online orders of the 天猫 shop (10086) to the 店加线下仓 (wms_co_id 10001):")
    for io_id, (what, city, sku, labels) in ORDERS.items():
        demo.jst_admin("POST", "/__admin__/outbounds", {
            "io_id": io_id, "so_id": f"S1-DEMO-{io_id}", "wms_co_id": 10001, "shop_id": 10086, "labels": labels,
            "receiver_name": "王小姐", "receiver_mobile": "13800000000", **RECEIVERS[city],
            "items": [{"sku_id": sku, "qty": 1, "name": "T恤"}]})
        show(f"  outbound {io_id}: {city} {sku}{' (' + labels + ')' if labels else ''}  -> {what}")

    demo.o2o("invoke", "poll_jst_outbound")
    fulfilments = _fulfilments(demo)
    _show_fulfilments(fulfilments, "店+ fulfilment orders after the poll")

    show("店+: S001 ships 510001 (SF); the customer picks up 510002 at S002; S001 rejects 510003 (out of stock):")
    _act(demo, fulfilments[510001], "shipped", tracking_no="SF1400051000")
    _act(demo, fulfilments[510002], "picked_up")
    _act(demo, fulfilments[510003], "rejected", reason="out_of_stock")
    show("S002 rejects 510005 (the fallback store took it; no other store serves 广东省): damaged")
    _act(demo, fulfilments[510005], "rejected", reason="damaged")
    demo.drain()
    fulfilments = _fulfilments(demo)
    show(f"510003 was re-routed to {fulfilments[510003]['store_code']} (S001 rejected; S002 is the fallback store); "
         "it ships:")
    _act(demo, fulfilments[510003], "shipped", tracking_no="SF1400051003")

    show("JST cancels order 510004 while it is at the store (the outbound becomes Delete); the next poll "
         "(it first confirms 510001-510003 in JST):")
    demo.jst_admin("POST", "/__admin__/outbounds/status", {"io_id": 510004, "status": "Delete"})
    demo.o2o("invoke", "poll_jst_outbound")
    demo.drain()

    show("510005 is parked: the alarm FulfilmentExceptions fires; the operator lists and re-routes it:")
    demo.o2o("exceptions", "list")
    demo.o2o("exceptions", "reroute", "510005", "--store", "S001")
    demo.o2o("exceptions", "list")
    _act(demo, _fulfilments(demo)[510005], "shipped", carrier_code="ZTO", tracking_no="ZTO7300051005")

    show("Every routing decision and why each store was dropped, on the document's timeline:")
    demo.o2o("trace", "510003")

    show("The next poll confirms in JST what the stores finished since the last one (one wms/sent/upload call):")
    demo.o2o("invoke", "poll_jst_outbound")

    show("JST: the outbounds the bridge confirmed (wms/sent/upload):")
    for row in demo.jst_admin("GET", "/__admin__/state/outbounds"):
        if row["io_id"] in ORDERS:
            show(f"  {row['io_id']}  {row['status']:<11} lc_id={row.get('lc_id') or '-':<5} "
                 f"l_id={row.get('l_id') or '-'}")
    sent = [r["io_id"] for r in demo.jst_admin("GET", "/__admin__/state/sent_uploads") if r["io_id"] in ORDERS]
    show(f"  wms/sent/upload rows received: {sent} (one per confirmed outbound)")
    _show_fulfilments(_fulfilments(demo, every=True), "店+: every fulfilment order of these outbounds")


def _fulfilments(demo: Demo, *, every: bool = False) -> Any:
    state = demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]
    merchant = state["merchants"][ENT_ID] if "merchants" in state else state
    rows = [f for f in merchant["fulfilments"].values() if int(f["external_id"]) in ORDERS]
    if every:
        return rows
    # The live one per outbound (a rejected order has a newer one at another store).
    live: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["status"] not in ("rejected", "cancelled"):
            live[int(row["external_id"])] = row
    return live


def _show_fulfilments(rows: Any, title: str) -> None:
    show(f"{title}:")
    for row in (rows.values() if isinstance(rows, dict) else rows):
        show(f"  {row['fulfilment_id']}  outbound {row['external_id']}  store {row['store_code']}  "
             f"{row['delivery']:<7}  {row['status']}")


def _act(demo: Demo, fulfilment: dict[str, Any], action: str, **fields: Any) -> None:
    answer = demo.pos_admin("POST", "/__admin__/fulfilment-event",
                            {"ent_id": ENT_ID, "fulfilment_id": fulfilment["fulfilment_id"], "action": action, **fields})
    result = answer["data"]
    show(f"  店+ emits fulfilment.{action} for {fulfilment['fulfilment_id']} (outbound {fulfilment['external_id']}) "
         f"-> bridge answered {result.get('status')} {json.dumps(result.get('body'), ensure_ascii=False)}")
