"""The order centre on the sandboxes: a 货到付款 order collected and reconciled, a hold that keeps a
second order from a store's last unit, a parked order healed by the order-centre round, two
store members and an online buyer merged into one profile (P14), a retail sale, every report
over the ledger the functions wrote, as a table and as an HTML page, and the nightly ledger
compaction (one run per tenant) merging a closed day's facts into one object.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..demo_support import ENT_ID, Demo, show
from ..names import local_ledger_dir

SHANGHAI_OFFSET = timedelta(hours=8)
REPORTS = ("pickup-summary", "pickup-documents", "stock-ledger", "daily-retail", "store-inout", "cod",
           "member-spending")


def run(demo: Demo) -> None:
    show("货到付款: JST's OMS assigns COD order 570001 (is_cod on its outbound, pay_amount 299.00, nothing paid "
         "online) and 570002 (199.00; only its JST order says is_cod, so the bridge reads the order) to the 店加线下仓:")
    _outbound(demo, 570001, "SKU-RED-L", is_cod=True, pay_amount="299.00", paid_amount="0")
    _outbound(demo, 570002, "SKU-RED-L", pay_amount="199.00", order={"is_cod": True, "paid_amount": "0"})
    demo.o2o("invoke", "poll_jst_outbound")
    for io_id in (570001, 570002):
        fulfilment = _live(demo, io_id)
        show(f"  店+ fulfilment {fulfilment['fulfilment_id']} of {io_id} at {fulfilment['store_code']}: "
             f"P1 cod = {fulfilment.get('cod')}")
    show("The store ships 570001 and collects 299.00 in cash; 570002's customer pays only 150.00 at delivery:")
    _act(demo, _live(demo, 570001), "shipped", tracking_no="SF1400057001")
    _act(demo, _live(demo, 570002), "shipped", tracking_no="SF1400057002",
         cod_collected={"amount": "150.00", "method": "cash"})
    show("The order-centre round (every 15 min in poll_jst_documents) reconciles: CodMismatch = 1, and:")
    demo.o2o("invoke", "poll_jst_documents")
    demo.o2o("cod", "list")
    demo.o2o("cod", "list", "--all")

    show("Reservations: S001 has one SKU-BLUE-L left, S002 none. Two online orders want it:")
    for store, qty in (("S001", 1), ("S002", 0)):
        demo.pos_admin("POST", "/__admin__/store-stock", {"ent_id": ENT_ID, "store_code": store, "emit": False,
                                                           "items": [{"sku_id": "SKU-BLUE-L", "qty": qty}]})
    _outbound(demo, 570003, "SKU-BLUE-L")
    _outbound(demo, 570004, "SKU-BLUE-L")
    demo.o2o("invoke", "poll_jst_outbound")
    demo.drain()
    first, second = _live(demo, 570003), _live(demo, 570004)
    show(f"  570003 -> {first['store_code']} (holds the last unit); 570004 -> {second['store_code']} "
         "(S001 dropped: its unit is held; the fallback store takes it)")
    show("What routing would decide for 570004 now, store by store (nothing is dispatched):")
    demo.o2o("route", "simulate", "570004", "--tenant", ENT_ID)

    show("The fallback store S002 rejects 570004 too (damaged): no store is left, it is parked:")
    _act(demo, second, "rejected", reason="damaged")
    demo.drain()
    demo.o2o("exceptions", "list")
    show("570003 ships (its hold goes) and S001 receives one more SKU-BLUE-L; the next order-centre round "
         "heals 570004 without anyone re-routing it:")
    _act(demo, first, "shipped", tracking_no="SF1400057003")
    demo.pos_admin("POST", "/__admin__/store-stock", {"ent_id": ENT_ID, "store_code": "S001", "emit": False,
                                                       "items": [{"sku_id": "SKU-BLUE-L", "qty": 1}]})
    demo.o2o("invoke", "poll_jst_documents")
    healed = _live(demo, 570004)
    show(f"  570004 -> {healed['store_code']} ({healed['fulfilment_id']}); its timeline:")
    demo.o2o("trace", "570004", "--tenant", ENT_ID)

    show("Members: 店+ sends two members with one number written two ways; the online buyer of the orders "
         "above (receiver 13800000000) is the same person:")
    for member_id, mobile, at in (("M9001", "138 0000 0000", "2026-11-01T10:00:00+08:00"),
                                  ("M9002", "+86 13800000000", "2026-11-02T10:00:00+08:00")):
        _emit(demo, "member.updated", {"member_id": member_id, "mobile": mobile, "name": "王小姐",
                                       "store_code": "S001", "updated_at": at})
    merchant = demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]
    merchant = merchant["merchants"][ENT_ID] if "merchants" in merchant else merchant
    profile = merchant["members"]["M9001"]
    show(f"  店+ member M9001 after P14: merged_from={profile['merged_from']} channels="
         f"{[c['channel'] + ':' + c['external_id'][:12] for c in profile['channels']]}")
    show("A retail sale by member M9001 at S001 (a ledger fact under the member's hashed identity, never the "
         "number):")
    now = datetime.utcnow() + SHANGHAI_OFFSET
    _emit(demo, "sale.completed", {
        "sale_no": "X570001", "store_code": "S001", "sold_at": now.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
        "payment": "wechat", "member_id": "M9001", "total_amount": "158.00",
        "items": [{"line_no": "1", "sku_id": "SKU-RED-L", "qty": 2, "price": "79.00", "amount": "158.00"}]})

    show("A till that was offline yesterday sends two of yesterday's sales now: they land on yesterday's "
         "ledger day, a closed day:")
    yesterday = now - timedelta(days=1)
    for number, amount in (("X569901", "79.00"), ("X569902", "158.00")):
        _emit(demo, "sale.completed", {
            "sale_no": number, "store_code": "S001", "sold_at": yesterday.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "payment": "cash", "total_amount": amount,
            "items": [{"line_no": "1", "sku_id": "SKU-RED-L", "qty": int(Decimal(amount) / 79), "price": "79.00",
                       "amount": amount}]})
    show("The functions sent each fact to the ledger queue; ledger_writer stores a batch as one object per tenant "
         "and day (in AWS within a minute; here when the queues are drained):")
    demo.drain()
    _compaction(demo, yesterday.date().isoformat())

    day_from, day_to = (now - timedelta(days=1)).date().isoformat(), (now + timedelta(days=1)).date().isoformat()
    out = Path(tempfile.mkdtemp(prefix="o2o-demo-reports-"))
    show(f"The reports over the ledger the functions wrote (DuckDB over the stack's files), {day_from} .. {day_to}:")
    for name in REPORTS:
        demo.o2o("report", name, "--tenant", ENT_ID, "--from", day_from, "--to", day_to)
    for name in REPORTS:
        demo.o2o("report", name, "--tenant", ENT_ID, "--from", day_from, "--to", day_to, "--format", "html",
                 "-o", str(out / f"{name}.html"))
    show(f"Open the HTML pages in a browser (self-contained, charts inline): {out}")


def _compaction(demo: Demo, day: str) -> None:
    folder = Path(local_ledger_dir(demo.env["AWS_ENDPOINT_URL"])) / f"tenant={ENT_ID}" / f"day={day}"
    show(f"  tenant {ENT_ID}'s ledger day {day}: {_objects(folder)}")
    show("The 03:30 compaction: the firing queues one run per tenant, each run merges its tenant's closed days "
         "(today is never touched):")
    demo.o2o("invoke", "compact_ledger")
    show(f"  tenant {ENT_ID}'s ledger day {day}: {_objects(folder)}; the reports read it as before")


def _objects(folder: Path) -> str:
    names = sorted(path.name for path in folder.glob("*.jsonl*")) if folder.is_dir() else []
    return f"{len(names)} object(s) {names[:3]}{' ...' if len(names) > 3 else ''}"


def _outbound(demo: Demo, io_id: int, sku: str, **extra: Any) -> None:
    demo.jst_admin("POST", "/__admin__/outbounds", {
        "io_id": io_id, "so_id": f"OC-DEMO-{io_id}", "wms_co_id": 10001, "shop_id": 10086, "labels": "",
        "receiver_name": "王小姐", "receiver_mobile": "13800000000", "receiver_state": "上海市",
        "receiver_city": "上海市", "receiver_district": "静安区", "receiver_address": "南京西路 1266 号",
        "items": [{"sku_id": sku, "qty": 1, "name": "T恤"}], **extra})


def _live(demo: Demo, io_id: int) -> dict[str, Any]:
    state = demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]
    merchant = state["merchants"][ENT_ID] if "merchants" in state else state
    [found] = [f for f in merchant["fulfilments"].values()
               if f["external_id"] == str(io_id) and f["status"] == "created"]
    return found


def _act(demo: Demo, fulfilment: dict[str, Any], action: str, **fields: Any) -> None:
    answer = demo.pos_admin("POST", "/__admin__/fulfilment-event",
                            {"ent_id": ENT_ID, "fulfilment_id": fulfilment["fulfilment_id"], "action": action, **fields})
    show(f"  店+ emits fulfilment.{action} for {fulfilment['fulfilment_id']} (outbound {fulfilment['external_id']}) "
         f"-> bridge answered {answer['data'].get('status')}")


def _emit(demo: Demo, event_type: str, data: dict[str, Any]) -> None:
    answer = demo.pos_admin("POST", "/__admin__/emit", {"type": event_type, "data": data, "ent_id": ENT_ID})
    body = answer["data"].get("body") or {}
    show(f"  店+ emits {event_type} -> bridge answered {answer['data'].get('status')} {body.get('msg', '')}")
