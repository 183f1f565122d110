"""ERP-owned store stock: store sales, refunds, counts and transfers reach JST once each, and the
store shows JST's figure afterwards (so the hourly pull no longer brings sold units back)."""

from __future__ import annotations

from fakes import drain_retries
from o2o_bridge.connectors.jushuitan.errors import JstTransientError
from o2o_bridge.events.routes import ROUTES
from o2o_bridge.flows import stock_sync

from .conftest import S001, S002


def deliver(world, event, times=1):
    for _ in range(times):
        ROUTES[event.type].run(event, world.ctx)


def test_a_store_sale_is_one_confirmed_other_out_of_the_stores_jst_warehouse_and_the_store_follows(world):
    sale = world.sale(lines=(("TS001-WHT-M", 2), ("TS001-WHT-M", 1)))
    deliver(world, sale, times=3)  # a replayed sale is no second 零售单
    [doc] = world.jst.documents
    assert (doc["type"], doc["external_id"], doc["wms_co_id"], doc["is_confirm"]) == ("out", "XS001", S001, True)
    assert doc["items"] == [{"sku_id": "TS001-WHT-M", "qty": 3}] and doc["remark"].startswith("零售单 XS001")
    assert world.jst_qty(S001, "TS001-WHT-M") == 7
    assert world.store_qty("S001", "TS001-WHT-M") == 7
    assert "erp_store.booked" in world.ctx.timeline.steps("XS001")


def test_the_hourly_pull_no_longer_brings_sold_units_back(world):
    stock_sync.pull_jst_stock(world.ctx)
    assert world.store_qty("S001", "TS001-WHT-M") == 10
    deliver(world, world.sale())
    stock_sync.pull_jst_stock(world.ctx)
    assert world.store_qty("S001", "TS001-WHT-M") == 8


def test_a_refund_comes_back_in_and_defective_goods_go_to_the_defective_stock(world):
    deliver(world, world.refund("TH001"))
    deliver(world, world.refund("TH002", lines=(("TS001-WHT-L", 1),), defective=True))
    sellable, defective = world.jst.documents
    assert (sellable["type"], sellable["warehouse"], defective["warehouse"]) == ("in", 1, 4)
    assert world.jst_qty(S001, "TS001-WHT-M") == 11 and world.store_qty("S001", "TS001-WHT-M") == 11
    assert world.jst_qty(S001, "TS001-WHT-L") == 4 and world.jst_qty(S001, "TS001-WHT-L", "defective_qty") == 1


def test_an_approved_count_replaces_jsts_figure_of_the_counted_skus_once(world):
    deliver(world, world.count(), times=2)
    [count] = world.jst.counts
    assert (count["so_id"], count["wms_co_id"], count["type"], count["items"]) == \
        ("PD001-1", S001, "check", [("TS001-WHT-M", 7)])
    assert world.jst_qty(S001, "TS001-WHT-M") == 7 and world.store_qty("S001", "TS001-WHT-M") == 7
    assert world.jst_qty(S001, "TS001-WHT-L") == 4


def test_a_count_on_a_bin_managed_warehouse_sends_the_difference_so_nothing_else_is_zeroed(make_world):
    world = make_world(bin_managed=(S001,))
    deliver(world, world.count(counted=(("TS001-WHT-M", 7),)))
    [count] = world.jst.counts
    assert (count["type"], count["items"]) == ("adjust", [("TS001-WHT-M", -3)])
    assert world.jst_qty(S001, "TS001-WHT-M") == 7
    assert world.jst_qty(S001, "TS001-WHT-L") == 4  # type=check would have zeroed it


def test_a_store_transfer_is_in_transit_between_leaving_one_store_and_reaching_the_other(world):
    """Goods on the way are in neither store: JST and both stores never count them twice."""
    from o2o_bridge.flows import erp_store_stock

    deliver(world, world.transfer(), times=2)
    [out] = world.jst.documents
    assert (out["type"], out["external_id"], out["wms_co_id"]) == ("out", "DB001-out", S001)
    assert out["remark"] == "店店调拨 DB001 S001 -> S002 (调出)"
    # On the way: out of S001 in JST and at the store, not yet in S002.
    assert (world.jst_qty(S001, "TS001-WHT-M"), world.jst_qty(S002, "TS001-WHT-M")) == (7, 10)
    assert world.store_qty("S001", "TS001-WHT-M") == 7 and world.store_qty("S002", "TS001-WHT-M") is None
    [moving] = erp_store_stock.in_transit(world.ctx)
    assert (moving["doc_no"], moving["from_store"], moving["to_store"], moving["items"]) == \
        ("DB001", "S001", "S002", [["TS001-WHT-M", 3]])

    deliver(world, world.received(), times=2)
    out, into = world.jst.documents
    assert (into["type"], into["external_id"], into["wms_co_id"]) == ("in", "DB001-in", S002)
    assert into["remark"] == "店店调拨 DB001 S001 -> S002 (调入)"
    assert (world.jst_qty(S001, "TS001-WHT-M"), world.jst_qty(S002, "TS001-WHT-M")) == (7, 13)
    assert (world.store_qty("S001", "TS001-WHT-M"), world.store_qty("S002", "TS001-WHT-M")) == (7, 13)
    assert erp_store_stock.in_transit(world.ctx) == []
    steps = world.ctx.timeline.steps("DB001")
    assert steps.count("erp_store.booked") == 2 and steps.count("store_transfer.in_transit") == 1
    assert steps.count("store_transfer.received") == 1  # both halves on the transfer's timeline, once each


def test_a_short_receipt_books_what_arrived_and_says_what_is_missing(world):
    deliver(world, world.transfer())
    deliver(world, world.received(lines=(("TS001-WHT-M", 2),)))
    assert world.jst_qty(S002, "TS001-WHT-M") == 12
    [received] = [e for e in world.ctx.timeline.entries("DB001") if e.step == "store_transfer.received"]
    assert received.level == "warning" and received.detail["received_minus_sent"] == {"TS001-WHT-M": -1}


def test_a_receipt_delivered_before_its_transfer_books_both_and_leaves_nothing_in_transit(world):
    from o2o_bridge.flows import erp_store_stock

    deliver(world, world.received())
    deliver(world, world.transfer())
    deliver(world, world.transfer())  # a redelivery too
    assert (world.jst_qty(S001, "TS001-WHT-M"), world.jst_qty(S002, "TS001-WHT-M")) == (7, 13)
    assert erp_store_stock.in_transit(world.ctx) == [] and len(world.jst.documents) == 2


def test_a_store_transfer_in_transit_is_listed_by_the_cli(aws, world, capsys):
    from o2o_bridge import runtime
    from o2o_bridge.cli import main

    runtime.state_store().put(world.ctx.tenant)
    deliver(world, world.transfer())
    assert main(["transfers", "in-transit", "--tenant", world.ctx.ent_id]) == 0
    out = capsys.readouterr().out
    assert "DB001" in out and "S001 -> S002" in out and "TS001-WHT-M×3" in out


def test_a_store_without_a_jst_warehouse_is_parked_with_the_reason_and_the_next_sale_still_goes(world):
    deliver(world, world.sale("XS009", store="S003"))
    deliver(world, world.sale("XS010"))
    [letter] = world.ctx.queue.dead
    assert "store S003 has no JST warehouse" in letter.reason
    assert [d["external_id"] for d in world.jst.documents] == ["XS010"]


def test_jst_busy_queues_the_booking_and_the_retry_books_it_once(world):
    world.jst.faults.script["upload_other_inout"] = [JstTransientError("199 调用太频繁")]
    deliver(world, world.sale())
    assert world.jst.documents == []
    drain_retries(world.ctx)
    assert len(world.jst.documents) == 1 and world.store_qty("S001", "TS001-WHT-M") == 8


def test_with_the_store_system_as_stock_master_nothing_is_booked_and_the_event_is_acknowledged(make_world):
    world = make_world(master="pos")
    for event in (world.sale(), world.refund(), world.count(), world.transfer()):
        deliver(world, event)
    assert world.jst.documents == [] and world.jst.counts == []
    assert world.ctx.timeline.steps("XS001") == ["erp_store.not_booked"]


def test_store_stock_into_a_bin_managed_offline_warehouse_goes_as_the_difference(make_world):
    """S4 counts the stores' aggregate into 店加线下仓 with type=check: on a bin-managed one that
    would zero every SKU not in the upload, so the difference is sent instead."""
    from o2o_bridge.ports.warehouse import SkuQty

    world = make_world(master="pos", bin_managed=(10001,))
    world.jst.set(10001, "TS001-WHT-M", second=1, qty=5)
    world.jst.set(10001, "TS001-WHT-L", second=1, qty=3)
    assert world.ctx.erp.upload_store_stock("S4-1", [SkuQty("TS001-WHT-M", 8)], remark="店+ 门店库存") is False
    [count] = world.jst.counts
    assert (count["type"], count["items"]) == ("adjust", [("TS001-WHT-M", 3)])
    assert world.jst_qty(10001, "TS001-WHT-M") == 8 and world.jst_qty(10001, "TS001-WHT-L") == 3


def store_document(world, doc_no="CD001", kind="purchase_in", lines=(("TS001-WHT-M", 4),)):
    return world.event("store_document.submitted", doc_no=doc_no, store_code="S001", kind=kind,
                       items=[{"sku_id": sku, "qty": qty} for sku, qty in lines])


def test_a_stores_own_document_is_one_confirmed_other_in_or_out_once(world):
    deliver(world, store_document(world), times=2)
    deliver(world, store_document(world, "CK001", "manual_out", (("TS001-WHT-L", 1),)))
    into, out = world.jst.documents
    assert (into["type"], into["external_id"], into["wms_co_id"], into["is_confirm"]) == ("in", "CD001", S001, True)
    assert (out["type"], out["external_id"]) == ("out", "CK001")
    assert world.jst_qty(S001, "TS001-WHT-M") == 14 and world.store_qty("S001", "TS001-WHT-M") == 14


def test_a_document_longer_than_jst_takes_is_booked_in_parts_once_each(world):
    import dataclasses

    world.ctx.erp.info = dataclasses.replace(world.ctx.erp.info, max_document_lines=1)
    lines = (("TS001-WHT-M", 1), ("TS001-WHT-L", 2))
    deliver(world, store_document(world, "CD002", lines=lines), times=2)
    assert [(d["external_id"], d["items"]) for d in world.jst.documents] == [
        ("CD002-1", [{"sku_id": "TS001-WHT-M", "qty": 1}]), ("CD002-2", [{"sku_id": "TS001-WHT-L", "qty": 2}])]


def test_with_the_store_system_as_stock_master_a_store_document_is_not_jsts(make_world):
    world = make_world(master="pos")
    deliver(world, store_document(world))
    assert world.jst.documents == [] and world.ctx.timeline.steps("CD001") == ["erp_store.not_booked"]
