"""Client ↔ sandbox over real HTTP on 127.0.0.1: every P endpoint, each request and answer
checked against the OpenAPI schemas by the recorder's hooks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from o2o_bridge.connectors.store import PosConflict, PosNotFound
from o2o_bridge.connectors.store import models as m

from .builders import OPTIONS, T0, fulfilment, product, shipment

ENT = "10010"


def merchant(sandbox):
    return sandbox.state.merchant(ENT)


def test_p1_p2_fulfilment_created_then_cancelled(api, pos, recorder):
    created = api.create_fulfilment_order(fulfilment())
    assert created.status == "created"
    stored = merchant(pos).fulfilments[created.fulfilment_id]
    assert stored["external_id"] == "2026112200001" and stored["store_code"] == "S001"
    assert recorder.requests[-1].headers["Idempotency-Key"] == "fulfilment:2026112200001:S001"

    cancelled = api.cancel_fulfilment_order(created.fulfilment_id, "线上订单已取消")
    assert cancelled.status == "cancelled"
    assert stored["status"] == "cancelled"
    assert recorder.requests[-1].headers["Idempotency-Key"] == f"fulfilment-cancel:{created.fulfilment_id}"
    assert recorder.checked_answers == 2


def test_p1_to_an_unknown_store_is_not_found(api):
    with pytest.raises(PosNotFound, match="store S999 not found"):
        api.create_fulfilment_order(fulfilment(store="S999"))


def test_p2_cannot_cancel_a_shipped_fulfilment(api, pos):
    created = api.create_fulfilment_order(fulfilment())
    merchant(pos).fulfilments[created.fulfilment_id]["status"] = "shipped"
    with pytest.raises(PosConflict) as caught:
        api.cancel_fulfilment_order(created.fulfilment_id, "too late")
    assert caught.value.status == 409 and "shipped" in caught.value.pos_msg


def test_p3_p4_store_order_shipped_and_another_cancelled(api, pos):
    pos.seed({"merchants": [{"ent_id": ENT, "orders": [{"order_no": "SO1"}, {"order_no": "SO2"}]}]})
    shipped = api.ship_order("SO1", shipment())
    assert shipped.status == "shipped" and shipped.shipment_id
    assert merchant(pos).orders["SO1"]["status"] == "shipped"
    assert merchant(pos).shipments[0]["tracking_no"] == "SF1234567890"

    assert api.cancel_order("SO2", "ERP 已取消").status == "cancelled"
    assert merchant(pos).orders["SO2"]["status"] == "cancelled"
    with pytest.raises(PosConflict):
        api.cancel_order("SO1", "shipped already")
    with pytest.raises(PosNotFound):
        api.ship_order("SO404", shipment())


def test_p5_return_received_then_unreceived(api, pos):
    pos.seed({"merchants": [{"ent_id": ENT, "returns": [{"return_no": "RT1", "order_no": "SO1"}]}]})
    items = [m.SkuQty(sku_id="SKU-RED-M", qty=1)]
    done = api.receive_return("RT1", m.ReturnReceipt(action="confirm", received_at=T0, items=items))
    assert done.status == "received"
    undone = api.receive_return("RT1", m.ReturnReceipt(action="cancel", received_at=T0 + timedelta(hours=1),
                                                       items=items))
    assert undone.status == "requested"
    assert len(merchant(pos).returns["RT1"]["receipts"]) == 2


def test_p6_p7_p8_stock(api, pos):
    result = api.set_warehouse_stock("10000", [m.StockLevel(sku_id="SKU-RED-M", qty=120, version=10)])
    assert (result.applied, result.stale) == (1, 0)
    assert merchant(pos).warehouse_stock[("10000", "SKU-RED-M")].qty == 120

    stock = api.store_stock("S001", ["SKU-RED-M", "SKU-NONE"])
    assert {(i.sku_id, i.qty) for i in stock.items} == {("SKU-RED-M", 5), ("SKU-NONE", 0)}

    rows = list(api.scan_stock(updated_since=T0 - timedelta(days=3650), limit=3))
    assert len(rows) == 8  # the demo's two stores × four SKUs, over three pages
    assert {(r.store_code, r.sku_id) for r in rows} == set(merchant(pos).store_stock)


def test_p9_products_created_updated_unchanged(api, pos):
    batch = m.ProductBatch(items=[product("SKU-NEW-S")], options=OPTIONS)
    assert [r.status for r in api.upsert_products(batch).results] == ["created"]
    changed = m.ProductBatch(items=[product("SKU-NEW-S", retail="89.00")], options=OPTIONS)
    assert [r.status for r in api.upsert_products(changed).results] == ["updated"]
    assert merchant(pos).products["SKU-NEW-S"]["retail_price"] == "89.00"
    no_create = m.ProductBatch(items=[product("SKU-OTHER")], options=OPTIONS.model_copy(update={"auto_create": False}))
    assert [r.status for r in api.upsert_products(no_create).results] == ["skipped"]


def test_p10_p11_documents(api, pos):
    pos.seed({"merchants": [{"ent_id": ENT, "transfers": [{"doc_no": "TR1", "store_code": "S001"}],
                              "warehouse_returns": [{"doc_no": "WR1", "store_code": "S002"}]}]})
    items = [m.SkuQty(sku_id="SKU-RED-M", qty=10)]
    shipped = api.transfer_warehouse_shipped("TR1", m.TransferShipped(jst_io_id=3300001, shipped_at=T0, items=items))
    assert shipped.status == "shipped" and shipped.outbound_no and shipped.inbound_receipt_no
    assert merchant(pos).transfers["TR1"]["inbound_status"] == "pending"
    received = api.warehouse_return_received("WR1", m.WarehouseReturnReceived(jst_io_id=3300002, received_at=T0,
                                                                              items=items))
    assert received.status == "received" and received.inbound_no
    with pytest.raises(PosNotFound):
        api.transfer_warehouse_shipped("TR404", m.TransferShipped(jst_io_id=1, shipped_at=T0, items=items))


def test_path_segments_are_escaped(api, pos):
    pos.seed({"merchants": [{"ent_id": ENT, "orders": [{"order_no": "SO/1 #2"}]}]})
    assert api.cancel_order("SO/1 #2", "odd number").order_no == "SO/1 #2"
