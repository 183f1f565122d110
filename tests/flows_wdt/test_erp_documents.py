"""W2: the ERP's stock documents of the stores' warehouses reach the stores every 10 minutes,
once each, unknown SKUs created first; never the bridge's own nor the excluded types."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from o2o_bridge import wiring
from o2o_bridge.flows import erp_documents, erp_store_stock, kit


def merchant(pos):
    return pos.state.merchants["10030"]


def run(ctx, minutes_later: float = 0):
    ctx.now = lambda: datetime.now(timezone.utc) + timedelta(minutes=1 + minutes_later)
    return erp_documents.poll_erp_documents(ctx)


def test_an_erp_transfer_in_with_a_new_sku_becomes_a_pending_receipt_after_the_sku_is_created(ctx, sandbox, pos):
    sandbox.put_goods(goods_no="CUS", goods_name="乳胶靠垫", class_name="床品", brand_name="示例",
                      spec_list=[{"spec_no": "CUS-GRY", "spec_name": "灰色", "barcode": "6911000000031",
                                  "retail_price": 129}])
    doc = sandbox.add_stockin("S101", "调拨入库", [{"spec_no": "CUS-GRY", "num": 6}, {"spec_no": "PIL-STD", "num": 2}],
                              remark="总仓调拨")
    summary = run(ctx)
    assert (summary["delivered"], summary["parked"]) == (1, 0)
    created = merchant(pos).products["CUS-GRY"]
    assert (created["name"], created["barcode"], created["category"]) == ("乳胶靠垫", "6911000000031", "床品")
    receipt = merchant(pos).inbound_receipts[f"S101/{doc['order_no']}"]
    assert (receipt["doc_type"], receipt["status"], receipt["remark"]) == ("调拨入库", "pending", "总仓调拨")
    assert sorted((i["sku_id"], i["qty"]) for i in receipt["items"]) == [("CUS-GRY", 6), ("PIL-STD", 2)]
    assert ctx.timeline.steps(doc["order_no"]) == ["erp_document.found", "store.inbound_receipt_created"]


def test_a_stock_out_document_is_booked_out_of_the_store(ctx, sandbox, pos):
    doc = sandbox.add_stockout("S102", "其他出库", [{"spec_no": "PIL-LOW", "num": 2}])
    run(ctx)
    note = merchant(pos).outbound_notes[f"S102/{doc['order_no']}"]
    assert note["doc_type"] == "其他出库" and merchant(pos).store_stock[("S102", "PIL-LOW")].qty == 3


def test_overlapping_runs_deliver_each_document_once(ctx, sandbox, pos):
    sandbox.add_stockin("S101", "采购入库", [{"spec_no": "PIL-STD", "num": 1}])
    first, second, third = run(ctx), run(ctx, 10), run(ctx, 20)
    assert (first["delivered"], second["seen_before"], third["seen_before"]) == (1, 1, 1)
    assert len(merchant(pos).inbound_receipts) == 1
    assert second["window"][0] < first["window"][1]  # each run starts before the last one ended


def test_the_bridges_own_documents_the_excluded_types_and_other_warehouses_never_reach_a_store(ctx, tenant, sandbox, pos,
                                                                                              monkeypatch):
    monkeypatch.setattr(wiring, "context_for", lambda t: ctx)
    from types import SimpleNamespace as NS

    # W3: a return booked by the bridge as 其他入库; a store count booked as 盘盈 / 盘亏.
    erp_store_stock.on_sale_refunded(NS(event_id="e1", type="sale.refunded", data=NS(
        refund_no="RF-9", sale_no="S1", store_code="S101", defective=False, items=[NS(sku_id="PIL-STD", qty=1)])), ctx)
    erp_store_stock.on_stock_counted(NS(event_id="e2", type="stock.counted", data=NS(
        count_no="PD-9", store_code="S102", items=[NS(sku_id="PIL-LOW", counted_qty=9)])), ctx)
    for kind in ("JIT退货入库", "预入库"):
        sandbox.add_stockin("S101", kind, [{"spec_no": "PIL-STD", "num": 1}])
    sandbox.add_stockout("S101", "销售出库", [{"spec_no": "PIL-STD", "num": 1}])
    sandbox.add_stockin("000", "采购入库", [{"spec_no": "PIL-STD", "num": 50}])  # the 总仓: no store's
    summary = run(ctx)
    assert summary["read"] == 0
    assert merchant(pos).inbound_receipts == {} and merchant(pos).outbound_notes == {}


@pytest.mark.parametrize("type_name", ["初始化入库", "生产入库", "其他入库"])
def test_the_guides_stock_in_types_are_delivered(ctx, sandbox, pos, type_name):
    sandbox.add_stockin("S101", type_name, [{"spec_no": "PIL-STD", "num": 1}])
    assert run(ctx)["delivered"] == 1


def test_creating_products_may_be_switched_off_then_the_store_refusal_is_parked(sandbox, pos):
    from .conftest import context_for, tenant_for

    tenant = tenant_for(sandbox, products={"create_from_documents": False})
    ctx = context_for(sandbox, pos, tenant)
    sandbox.put_goods(goods_no="CUS", goods_name="乳胶靠垫", spec_list=[{"spec_no": "CUS-GRY"}])
    sandbox.add_stockin("S101", "调拨入库", [{"spec_no": "CUS-GRY", "num": 1}])
    sandbox.add_stockin("S101", "调拨入库", [{"spec_no": "PIL-STD", "num": 1}])
    summary = run(ctx)
    assert "CUS-GRY" not in merchant(pos).products
    # Whatever the store says of an unknown SKU, one document never holds back the other.
    assert summary["delivered"] + summary["parked"] == 2 and summary["delivered"] >= 1


def test_a_store_that_refuses_is_parked_and_the_next_document_goes_on(ctx, sandbox, pos):
    pos.state.merchants["10030"].stores.pop("S102")  # the store system does not know the store (yet)
    sandbox.add_stockin("S102", "调拨入库", [{"spec_no": "PIL-LOW", "num": 1}])
    sandbox.add_stockin("S101", "调拨入库", [{"spec_no": "PIL-STD", "num": 1}])
    summary = run(ctx)
    assert (summary["delivered"], summary["parked"]) == (1, 1)
    assert ctx.queue.dead[0].envelope.command == "erp_documents.deliver"


def test_a_lost_answer_from_the_store_is_retried_and_one_receipt_exists(ctx, sandbox, pos):
    from fakes import drain_retries

    pos.faults.push(kind="http", path="/stores/S101/inbound-receipts", status=503, apply_effect=True)
    doc = sandbox.add_stockin("S101", "调拨入库", [{"spec_no": "PIL-STD", "num": 3}])
    summary = run(ctx)
    assert (summary["delivered"], summary["queued"]) == (0, 1)
    assert drain_retries(ctx) == 1
    (receipt,) = merchant(pos).inbound_receipts.values()
    assert receipt["doc_no"] == doc["order_no"]
    assert "store.inbound_receipt_created" in ctx.timeline.steps(doc["order_no"])
    assert run(ctx, 10)["seen_before"] == 1
