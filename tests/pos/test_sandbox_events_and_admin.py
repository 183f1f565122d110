"""Signed events from the sandbox to a tiny bridge stand-in, and the admin endpoints."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
from recording_receiver import RecordingReceiver

from o2o_local.pos_sandbox import DEMO_WEBHOOK_SECRET, PosSandbox, openapi

from .builders import fulfilment
from .conftest import assert_valid

ENT = "10010"


class Receiver(RecordingReceiver):
    """POST /pos/events: checks the signature over the raw body like the bridge must."""

    def __init__(self, secret: str = DEMO_WEBHOOK_SECRET) -> None:
        self.secret = secret.encode()
        self.received: list[dict] = []
        super().__init__(self._check)

    def _check(self, request) -> tuple[int, dict]:
        expected = "sha256=" + hmac.new(self.secret, request.raw, hashlib.sha256).hexdigest()
        signature = request.headers.get("X-O2O-Signature", "")
        good = request.path == "/pos/events" and hmac.compare_digest(signature, expected)
        self.received.append({"body": json.loads(request.raw), "event_id": request.headers.get("X-O2O-Event-Id"),
                              "signature": signature, "good": good})
        return (200, {"code": 0, "msg": "ok"}) if good else (401, {"code": 401, "msg": "bad signature"})


@pytest.fixture
def bridge():
    receiver = Receiver()
    yield receiver
    receiver.close()


EXAMPLES = openapi.document()["components"]["examples"]


@pytest.mark.parametrize("event_type", list(EXAMPLES))
def test_every_event_type_is_emitted_signed(pos, bridge, event_type):
    data = EXAMPLES[event_type]["value"]["data"]
    result = pos.emit(event_type, data, bridge_url=bridge.url, event_id=f"evt-{event_type}")
    assert result.ok and result.body == {"code": 0, "msg": "ok"}
    [got] = bridge.received
    assert got["good"] and got["event_id"] == f"evt-{event_type}" == got["body"]["event_id"]
    assert got["body"]["ent_id"] == ENT and got["body"]["type"] == event_type and got["body"]["data"] == data
    assert_valid("PosEvent", got["body"])
    recorded = pos.state.merchant(ENT).events[-1]
    assert recorded["status"] == 200 and recorded["answer"] == {"code": 0, "msg": "ok"}


def test_a_wrong_secret_is_refused_by_the_receiver_and_recorded(pos, bridge):
    result = pos.emit("order.cancelled", {"order_no": "SO1", "reason": "x"}, bridge_url=bridge.url, secret="nope")
    assert result.status == 401 and not bridge.received[0]["good"]
    assert pos.state.merchant(ENT).events[-1]["status"] == 401


def test_an_invalid_event_is_not_sent_unless_asked(pos, bridge):
    with pytest.raises(ValueError, match=r"data.items\[0\]: 'version' is a required property"):
        pos.emit("stock.changed", {"store_code": "S001", "items": [{"sku_id": "A", "qty": 1}]}, bridge_url=bridge.url)
    assert bridge.received == []
    result = pos.emit("stock.changed", {"store_code": "S001"}, bridge_url=bridge.url, validate=False)
    assert result.status == 200 and bridge.received[0]["body"]["data"] == {"store_code": "S001"}


def test_an_unreachable_bridge_is_recorded_not_raised(pos):
    result = pos.emit("order.cancelled", {"order_no": "SO1", "reason": "x"}, bridge_url="http://127.0.0.1:9",
                      timeout=1)
    assert result.status is None and result.error


def test_events_make_the_store_state_coherent(pos, bridge, api):
    created = api.create_fulfilment_order(fulfilment())
    pos.emit("fulfilment.shipped", {"fulfilment_id": created.fulfilment_id, "external_id": "2026112200001",
                                    "carrier_code": "SF", "tracking_no": "SF1", "shipped_at": "2026-11-22T15:00:00+08:00"},
             bridge_url=bridge.url)
    merchant = pos.state.merchant(ENT)
    assert merchant.fulfilments[created.fulfilment_id]["status"] == "shipped"
    pos.emit("transfer.submitted", EXAMPLES["transfer.submitted"]["value"]["data"], bridge_url=bridge.url)
    assert merchant.transfers["TR20261122001"]["status"] == "submitted"
    result = pos.set_store_stock(ENT, "S001", [{"sku_id": "SKU-RED-M", "qty": 4}], bridge_url=bridge.url)
    assert result.ok and bridge.received[-1]["body"]["data"]["items"] == [{"sku_id": "SKU-RED-M", "qty": 4, "version": 2}]


def test_a_rejection_from_the_admin_may_name_the_skus_it_cannot_fulfil(pos, bridge, api, monkeypatch):
    monkeypatch.setattr(pos, "bridge_url", bridge.url)
    created = api.create_fulfilment_order(fulfilment())
    with httpx.Client(base_url=pos.url + "/__admin__", timeout=5) as admin:
        sent = admin.post("/fulfilment-event", json={"fulfilment_id": created.fulfilment_id, "action": "rejected",
                                                     "reason": "out_of_stock", "ent_id": ENT,
                                                     "items": [{"sku_id": "SKU-RED-M", "qty": 1}]})
    assert sent.status_code == 200 and bridge.received[-1]["good"]
    body = bridge.received[-1]["body"]
    assert body["type"] == "fulfilment.rejected" and body["data"]["items"] == [{"sku_id": "SKU-RED-M", "qty": 1}]
    assert_valid("PosEvent", body)


def test_admin_endpoints_over_http(bridge):
    with PosSandbox() as sandbox, httpx.Client(base_url=sandbox.url + "/__admin__", timeout=5) as admin:
        assert admin.post("/seed-demo").json()["data"] == {"seeded": [ENT]}
        assert admin.post("/seed", json={"merchants": [{"ent_id": "20020", "api_key": "k2-xxxx",
                                                        "webhook_secret": "s2", "stores": ["S9"]}]}).status_code == 200
        state = admin.get("/state", params={"ent_id": ENT}).json()["data"]
        assert list(state["merchants"]) == [ENT]
        assert state["merchants"][ENT]["store_stock"]["S001/SKU-RED-M"]["qty"] == 5
        assert "api_key" not in json.dumps(state) and "demo-pos-api-key" not in json.dumps(state)

        assert admin.post("/config", json={"bridge_url": bridge.url}).json()["data"]["bridge_url"] == bridge.url
        sent = admin.post("/emit", json={"ent_id": ENT, "type": "order.cancelled",
                                         "data": {"order_no": "SO1", "reason": "顾客取消"}}).json()["data"]
        assert sent["status"] == 200 and bridge.received[-1]["good"]
        stock = admin.post("/store-stock", json={"ent_id": ENT, "store_code": "S002",
                                                 "items": [{"sku_id": "SKU-RED-M", "qty": 9}]}).json()["data"]
        assert stock["status"] == 200

        faults = admin.post("/faults", json={"path": "/stock", "error_rate": 1.0, "statuses": [503], "seed": 7})
        assert faults.json()["data"]["rules"][0]["path"] == "/stock"
        answer = httpx.get(sandbox.base_url + "/stock", headers={"Authorization": "Bearer demo-pos-api-key",
                                                                 "X-Ent-Id": ENT})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert_valid("ErrorAnswer", answer.json())
        assert admin.delete("/faults").json()["data"]["rules"] == []
        assert admin.post("/reset").status_code == 200
        assert admin.get("/state").json()["data"]["merchants"] == {}
        assert admin.post("/nope").status_code == 404


def test_raw_protocol_errors(pos):
    base, auth = pos.base_url, {"Authorization": "Bearer demo-pos-api-key", "X-Ent-Id": ENT}
    cases = [
        (httpx.post(base + "/orders/SO1/cancel", json={"reason": "x"}), 401, 40100),
        (httpx.post(base + "/orders/SO1/cancel", json={"reason": "x"},
                    headers={"Authorization": "Bearer demo-pos-api-key"}), 400, 40001),
        (httpx.post(base + "/orders/SO1/cancel", json={"reason": "x"}, headers=auth), 400, 40002),
        (httpx.post(base + "/orders/SO1/cancel", content=b"{", headers={**auth, "Idempotency-Key": "k"}), 400, 40000),
        (httpx.post(base + "/fulfilment-orders", json={"external_id": 1}, headers={**auth, "Idempotency-Key": "k2"}),
         422, 42200),
        (httpx.get(base + "/nothing", headers=auth), 404, 40400),
        (httpx.get(base + "/stock", params={"limit": "0"}, headers=auth), 422, 42200),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert_valid("ErrorAnswer", response.json())


def test_the_new_store_events_move_the_store_as_a_till_would(pos, bridge):
    merchant = pos.state.merchant(ENT)
    assert (merchant.store_stock[("S001", "SKU-RED-M")].qty, merchant.store_stock[("S002", "SKU-RED-M")].qty) == (5, 2)
    sale = EXAMPLES["sale.completed"]["value"]["data"]  # two SKU-RED-M sold at S001
    assert pos.emit("sale.completed", sale, bridge_url=bridge.url).ok
    assert pos.emit("sale.completed", sale, bridge_url=bridge.url).ok  # the same sale again: booked once
    assert merchant.sales["XS20261122001"]["status"] == "completed"
    assert merchant.store_stock[("S001", "SKU-RED-M")].qty == 3
    refund = EXAMPLES["sale.refunded"]["value"]["data"]  # one back, not defective
    pos.emit("sale.refunded", refund, bridge_url=bridge.url)
    assert merchant.sales["XS20261122001"]["status"] == "refunded"
    assert merchant.store_stock[("S001", "SKU-RED-M")].qty == 4
    pos.emit("sale.refunded", {**refund, "refund_no": "TH2", "defective": True}, bridge_url=bridge.url)
    assert merchant.store_stock[("S001", "SKU-RED-M")].qty == 4  # defective goods are not sellable stock
    pos.emit("store_transfer.submitted", EXAMPLES["store_transfer.submitted"]["value"]["data"], bridge_url=bridge.url)
    # In transit: out of S001, not yet in S002, until S002 receives it.
    assert (merchant.store_stock[("S001", "SKU-RED-M")].qty, merchant.store_stock[("S002", "SKU-RED-M")].qty) == (2, 2)
    pos.emit("store_transfer.received", EXAMPLES["store_transfer.received"]["value"]["data"], bridge_url=bridge.url)
    assert (merchant.store_stock[("S001", "SKU-RED-M")].qty, merchant.store_stock[("S002", "SKU-RED-M")].qty) == (2, 4)
    pos.emit("stock.counted", EXAMPLES["stock.counted"]["value"]["data"], bridge_url=bridge.url)
    assert merchant.store_stock[("S001", "SKU-RED-M")].qty == 4 and merchant.store_stock[("S001", "SKU-RED-L")].qty == 0
    pos.emit("store_document.submitted", EXAMPLES["store_document.submitted"]["value"]["data"], bridge_url=bridge.url)
    assert merchant.store_stock[("S001", "SKU-RED-M")].qty == 3 and merchant.store_documents["SD20261122001"]["kind"] == "manual_out"
    pos.emit("payment.collected", EXAMPLES["payment.collected"]["value"]["data"], bridge_url=bridge.url)
    pos.emit("member.updated", EXAMPLES["member.updated"]["value"]["data"], bridge_url=bridge.url)
    pos.emit("product.changed", EXAMPLES["product.changed"]["value"]["data"], bridge_url=bridge.url)
    assert merchant.payments[0]["external_id"] == "2026112200002"
    assert merchant.members["M000123"]["store_code"] == "S001"
    assert merchant.products["SKU-RED-M"]["retail_price"] == "89.00"
    assert all(r["good"] for r in bridge.received) and len(bridge.received) == 11


def test_a_cod_order_shipped_or_picked_up_reports_what_was_collected(pos, bridge, api, monkeypatch):
    from o2o_bridge.connectors.store import models as m

    cod = fulfilment(io_id=1).model_copy(update={"cod": m.CashOnDelivery(amount="99.00")})
    shipped = api.create_fulfilment_order(cod)
    monkeypatch.setattr(pos, "bridge_url", bridge.url)
    assert pos.fulfilment_event(shipped.fulfilment_id, "shipped").ok
    assert bridge.received[-1]["body"]["data"]["cod_collected"] == {"amount": "99.00", "method": "cash"}
    picked = api.create_fulfilment_order(fulfilment(io_id=2).model_copy(update={"cod": m.CashOnDelivery(amount="50")}))
    with httpx.Client(base_url=pos.url + "/__admin__", timeout=5) as admin:
        sent = admin.post("/fulfilment-event", json={"fulfilment_id": picked.fulfilment_id, "action": "picked_up",
                                                     "cod_collected": {"amount": "50", "method": "wechat"}})
    assert sent.status_code == 200
    body = bridge.received[-1]["body"]
    assert body["type"] == "fulfilment.picked_up" and body["data"]["cod_collected"] == {"amount": "50", "method": "wechat"}
    assert_valid("PosEvent", body)
    plain = api.create_fulfilment_order(fulfilment(io_id=3))
    pos.fulfilment_event(plain.fulfilment_id, "shipped")
    assert "cod_collected" not in bridge.received[-1]["body"]["data"]


def test_receipts_notes_and_members_are_visible_and_a_receipt_is_received_from_the_admin(pos, api):
    from o2o_bridge.connectors.store import models as m

    items = [m.SkuQty(sku_id="SKU-RED-M", qty=6)]
    api.create_inbound_receipt("S002", m.StoreDocument(doc_no="CGRK1", doc_type="采购入库", items=items, remark=""))
    api.book_outbound_note("S001", m.StoreDocument(doc_no="QTCK1", doc_type="其他出库", items=items[:1], remark="样品"))
    api.put_member("M1", m.MemberProfile(mobile="13800000000", name="张三", channels=[], merged_from=["M2"]))
    with httpx.Client(base_url=pos.url + "/__admin__", timeout=5) as admin:
        state = admin.get("/state", params={"ent_id": ENT}).json()["data"]["merchants"][ENT]
        assert state["inbound_receipts"]["S002/CGRK1"]["status"] == "pending"
        assert state["outbound_notes"]["S001/QTCK1"]["status"] == "booked"
        assert state["members"]["M2"]["merged_into"] == "M1"
        received = admin.post("/inbound-receipt/receive", json={"ent_id": ENT, "store_code": "S002", "doc_no": "CGRK1"})
        assert received.json()["data"]["status"] == "received"
        assert admin.get("/state").json()["data"]["merchants"][ENT]["store_stock"]["S002/SKU-RED-M"]["qty"] == 8
        missing = admin.post("/inbound-receipt/receive", json={"ent_id": ENT, "store_code": "S002", "doc_no": "NONE"})
        assert missing.status_code == 422 and "no inbound receipt" in missing.json()["msg"]


def test_members_can_be_seeded(pos):
    pos.seed({"merchants": [{"ent_id": ENT, "members": [{"member_id": "M7", "mobile": "13900000000", "name": "李四"}]}]})
    assert pos.state.merchant(ENT).members["M7"]["name"] == "李四"
