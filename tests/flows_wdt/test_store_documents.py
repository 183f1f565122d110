"""W3 through the one store-books flow (flows/erp_store_stock.py) over the 旺店通 adapter: a
count becomes a 盘点, a returned item and the store's in-documents become one 其他入库 each,
out-documents one 其他出库 each, a store transfer one of each: once, under replays, lost
answers, faults and crashes; a document longer than 旺店通 takes is booked in parts."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace as NS

import httpx
import pytest

from fakes import drain_retries
from o2o_bridge.errors import UnprocessableRequest
from o2o_bridge.flows import erp_store_stock, kit

from .conftest import context_for, tenant_for


def event(type_="stock.counted", **data):
    return NS(event_id=f"ev-{type_}", type=type_, data=NS(**data))


def items(*pairs, field="qty"):
    return [NS(sku_id=s, **{field: q}, line_no=str(n)) for n, (s, q) in enumerate(pairs, 1)]


def stock(sandbox, warehouse, spec):
    return sandbox.state.stock[(warehouse, spec)]["stock_num"]


def counted(count_no="PD-1", store="S101", *pairs):
    return event(count_no=count_no, store_code=store,
                 items=items(*(pairs or (("PIL-STD", 10), ("BLK-150", 1))), field="counted_qty"))


# --- 盘点 ---------------------------------------------------------------------------------------


def test_a_count_overwrites_the_erp_stock_once_and_the_store_shows_the_erp_figure(ctx, tenant, sandbox, pos):
    erp_store_stock.on_stock_counted(counted(), ctx)
    erp_store_stock.on_stock_counted(counted(), ctx)
    assert (stock(sandbox, "S101", "PIL-STD"), stock(sandbox, "S101", "BLK-150")) == (Decimal(10), Decimal(1))
    (pd,) = sandbox.state.pd_orders.values()
    assert pd["remark"] == "O2O-PD-1 盘点单 PD-1 (S101)" and pd["warehouse_no"] == "S101"
    # stock.master erp: the store shows what 旺店通 now holds.
    assert pos.state.merchants["10030"].store_stock[("S101", "PIL-STD")].qty == 10


def test_a_count_whose_answer_was_lost_is_found_at_the_erp_not_booked_again(ctx, tenant, sandbox):
    sandbox.faults.add("timeout", path="stock_sync_by_pd", delay=0.3, apply_effect=True)
    ctx.erp.api.client.http = httpx.Client(timeout=0.2)
    assert erp_store_stock.on_stock_counted(counted("PD-2"), ctx) == {"outcome": "queued"}
    assert len(sandbox.state.pd_orders) == 1  # 旺店通 booked it; the answer never came
    sandbox.set_stock("S101", "PIL-STD", 7)   # a sale after the count, booked in the ERP
    drain_retries(ctx)
    assert len(sandbox.state.pd_orders) == 1 and stock(sandbox, "S101", "PIL-STD") == Decimal(7)
    result = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, "erp_store.count:PD-2").data["result"]
    assert result["repeated"] is True  # the retry found the 盘点 by its key and booked nothing


def test_a_count_replayed_from_the_dead_letters_after_its_record_expired_is_not_booked_again(ctx, tenant, sandbox):
    erp_store_stock.on_stock_counted(counted("PD-3"), ctx)
    ctx.records.delete(ctx.ent_id, kit.EFFECT_KIND, "erp_store.count:PD-3")  # the effect record is gone
    sandbox.set_stock("S101", "PIL-STD", 4)
    erp_store_stock.book_count(ctx, {"count_no": "PD-3", "store_code": "S101", "counted": [["PIL-STD", 10]],
                                     "remark": "盘点单 PD-3 (S101)"})
    assert len(sandbox.state.pd_orders) == 1 and stock(sandbox, "S101", "PIL-STD") == Decimal(4)


def test_a_long_count_is_booked_in_parts_and_a_fault_between_parts_rebooks_none(sandbox, pos, monkeypatch):
    tenant = tenant_for(sandbox, wangdiantong={"count_lines": 2})
    ctx = context_for(sandbox, pos, tenant)
    sandbox.faults.add("latency", path="stock_sync_by_pd", delay=0.001)  # the first part goes through
    sandbox.faults.add("http", path="stock_sync_by_pd", code=503)       # the second fails
    long_count = counted("PD-4", "S101", ("PIL-STD", 6), ("BLK-150", 2), ("PIL-LOW", 1))
    assert erp_store_stock.on_stock_counted(long_count, ctx) == {"outcome": "queued"}
    assert [p["remark"].split()[0] for p in sandbox.state.pd_orders.values()] == ["O2O-PD-4#1/2"]
    drain_retries(ctx)
    erp_store_stock.on_stock_counted(long_count, ctx)  # and the store system sends it again
    assert [p["remark"].split()[0] for p in sandbox.state.pd_orders.values()] == ["O2O-PD-4#1/2", "O2O-PD-4#2/2"]
    assert (stock(sandbox, "S101", "PIL-STD"), stock(sandbox, "S101", "BLK-150"), stock(sandbox, "S101", "PIL-LOW")) \
        == (Decimal(6), Decimal(2), Decimal(1))


def test_a_count_the_erp_refuses_is_parked_with_the_reason(ctx, tenant, sandbox):
    sandbox.remove_warehouse("S102")
    result = erp_store_stock.on_stock_counted(counted("PD-5", "S102", ("PIL-LOW", 1)), ctx)
    assert result["outcome"] == "dead_lettered" and "仓库S102不存在" in result["reason"]
    assert ctx.queue.dead[0].envelope.command == "erp_store.book_count"


# --- returns, store documents, transfers ------------------------------------------------------------


def test_a_non_defective_return_is_one_other_stockin(ctx, tenant, sandbox):
    refunded = event("sale.refunded", refund_no="RF-1", sale_no="S101-0001", store_code="S101", defective=False,
                     items=items(("PIL-STD", 2)))
    erp_store_stock.on_sale_refunded(refunded, ctx)
    erp_store_stock.on_sale_refunded(refunded, ctx)
    (doc,) = sandbox.state.stockins.values()
    assert (doc["order_type_name"], doc["outer_no"], doc["status"]) == ("其他入库", "O2O-RF-1", "80")
    assert doc["remark"] == "零售退单 RF-1 (零售单 S101-0001, S101)" and stock(sandbox, "S101", "PIL-STD") == Decimal(10)


def test_a_defective_return_stays_in_the_store(ctx, tenant, sandbox):
    erp_store_stock.on_sale_refunded(event("sale.refunded", refund_no="RF-2", sale_no="S1", store_code="S101",
                                           defective=True, items=items(("PIL-STD", 1))), ctx)
    assert sandbox.calls() == [] and ctx.timeline.steps("RF-2") == ["refund.kept_in_store"]


@pytest.mark.parametrize("kind, table, type_name", [
    ("reversal", "stockins", "其他入库"), ("purchase_in", "stockins", "其他入库"), ("import_in", "stockins", "其他入库"),
    ("exchange_out", "stockouts", "其他出库"), ("manual_out", "stockouts", "其他出库"),
])
def test_store_documents_become_other_stock_documents(ctx, tenant, sandbox, kind, table, type_name):
    erp_store_stock.on_store_document_submitted(event("store_document.submitted", doc_no="D-1", store_code="S102",
                                                      kind=kind, items=items(("PIL-LOW", 1))), ctx)
    (doc,) = getattr(sandbox.state, table).values()
    assert (doc["order_type_name"], doc["warehouse_no"], doc["outer_no"]) == (type_name, "S102", "O2O-D-1")


def test_an_unknown_kind_is_a_clear_422(ctx, tenant):
    with pytest.raises(UnprocessableRequest, match="data.kind"):
        erp_store_stock.on_store_document_submitted(event("store_document.submitted", doc_no="D-2", store_code="S101",
                                                          kind="gift", items=items(("PIL-STD", 1))), ctx)


def test_a_store_transfer_is_one_other_stockout_then_one_other_stockin_of_what_arrived(ctx, tenant, sandbox):
    from datetime import datetime

    from o2o_bridge.shanghai_time import SHANGHAI

    sent_at = datetime(2026, 12, 2, 10, tzinfo=SHANGHAI)
    moved = event("store_transfer.submitted", doc_no="TR-1", from_store="S101", to_store="S102",
                  items=items(("PIL-STD", 2)))
    moved.occurred_at = sent_at
    erp_store_stock.on_store_transfer_submitted(moved, ctx)
    erp_store_stock.on_store_transfer_submitted(moved, ctx)
    (out,) = sandbox.state.stockouts.values()
    assert (out["warehouse_no"], out["outer_no"], sandbox.state.stockins) == ("S101", "O2O-TR-1-out", {})
    assert [t["doc_no"] for t in erp_store_stock.in_transit(ctx)] == ["TR-1"]  # in neither store
    arrived = event("store_transfer.received", doc_no="TR-1", to_store="S102", received_at=sent_at,
                    items=items(("PIL-STD", 2)))
    erp_store_stock.on_store_transfer_received(arrived, ctx)
    erp_store_stock.on_store_transfer_received(arrived, ctx)
    (into,) = sandbox.state.stockins.values()
    assert (into["warehouse_no"], into["outer_no"]) == ("S102", "O2O-TR-1-in")
    assert (stock(sandbox, "S101", "PIL-STD"), stock(sandbox, "S102", "PIL-STD")) == (Decimal(6), Decimal(2))
    assert erp_store_stock.in_transit(ctx) == []


def test_a_document_longer_than_the_erp_takes_is_booked_in_parts_once_each(sandbox, pos, monkeypatch):
    tenant = tenant_for(sandbox, wangdiantong={"document_lines": 2})
    ctx = context_for(sandbox, pos, tenant)
    sandbox.configure(max_document_lines=2)  # what the ERP itself takes
    sandbox.faults.add("latency", path="stockin_order_push", delay=0.001)
    sandbox.faults.add("timeout", path="stockin_order_push", delay=0.3, apply_effect=True)  # part 2: answer lost
    ctx.erp.api.client.http = httpx.Client(timeout=0.2)
    document = event("store_document.submitted", doc_no="D-9", store_code="S101", kind="purchase_in",
                     items=items(("PIL-STD", 1), ("BLK-150", 2), ("PIL-LOW", 3)))
    result = erp_store_stock.on_store_document_submitted(document, ctx)
    assert [part.get("outcome", "done") for part in result["parts"]] == ["done", "queued"]
    drain_retries(ctx)
    erp_store_stock.on_store_document_submitted(document, ctx)  # a replay names the same parts
    docs = sorted(sandbox.state.stockins.values(), key=lambda d: d["outer_no"])
    assert [(d["outer_no"], len(d["details_list"])) for d in docs] == [("O2O-D-9-1", 2), ("O2O-D-9-2", 1)]
    assert (stock(sandbox, "S101", "PIL-STD"), stock(sandbox, "S101", "BLK-150"), stock(sandbox, "S101", "PIL-LOW")) \
        == (Decimal(9), Decimal(5), Decimal(3))
    assert "erp_store.split" in ctx.timeline.steps("D-9")


def test_a_lost_answer_is_retried_and_booked_once(ctx, tenant, sandbox):
    sandbox.faults.add("timeout", path="stockout_order_push", delay=0.3, apply_effect=True)
    ctx.erp.api.client.http = httpx.Client(timeout=0.2)
    result = erp_store_stock.on_store_document_submitted(event("store_document.submitted", doc_no="D-3",
                                                               store_code="S101", kind="manual_out",
                                                               items=items(("BLK-150", 1))), ctx)
    assert result == {"outcome": "queued"} and len(ctx.queue.queued) == 1
    drain_retries(ctx)
    assert len(sandbox.state.stockouts) == 1 and stock(sandbox, "S101", "BLK-150") == Decimal(2)
    assert ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, "erp_store.out:D-3").data["result"]["repeated"] is True


def test_a_crash_after_the_booking_before_its_record_books_once(ctx, tenant, sandbox, monkeypatch):
    original = ctx.records.put
    calls = {"n": 0}

    def crash_on_done(ent_id, kind, key, data, **kwargs):
        if kind == kit.EFFECT_KIND and data.get("state") == "done" and not calls["n"]:
            calls["n"] += 1
            raise RuntimeError("Lambda crashed")
        return original(ent_id, kind, key, data, **kwargs)

    monkeypatch.setattr(ctx.records, "put", crash_on_done)
    refunded = event("sale.refunded", refund_no="RF-3", sale_no="S1", store_code="S101", defective=False,
                     items=items(("PIL-STD", 1)))
    with pytest.raises(RuntimeError):
        erp_store_stock.on_sale_refunded(refunded, ctx)
    # The claim's lease runs out; the store system delivers the event again.
    claim = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, "erp_store.in:RF-3")
    assert claim is None or claim.data["state"] == "running"
    ctx.records.delete(ctx.ent_id, kit.EFFECT_KIND, "erp_store.in:RF-3")
    erp_store_stock.on_sale_refunded(refunded, ctx)
    assert len(sandbox.state.stockins) == 1 and stock(sandbox, "S101", "PIL-STD") == Decimal(9)


def test_a_refused_document_is_parked_with_the_reason(ctx, tenant, sandbox):
    result = erp_store_stock.on_store_document_submitted(event("store_document.submitted", doc_no="D-4",
                                                               store_code="S101", kind="purchase_in",
                                                               items=items(("NOT-IN-ERP", 1))), ctx)
    assert result["outcome"] == "dead_lettered" and "NOT-IN-ERP" in result["reason"]
    assert ctx.queue.dead[0].envelope.command == "erp_store.book_move"


def test_with_the_store_system_as_stock_master_the_documents_are_still_booked_and_nothing_is_read_back(sandbox, pos,
                                                                                                       monkeypatch):
    tenant = tenant_for(sandbox, stock={"master": "pos"})
    ctx = context_for(sandbox, pos, tenant)
    result = erp_store_stock.on_sale_refunded(event("sale.refunded", refund_no="RF-4", sale_no="S1", store_code="S101",
                                                    defective=False, items=items(("PIL-STD", 1))), ctx)
    assert "store_stock" not in result and stock(sandbox, "S101", "PIL-STD") == Decimal(9)
    assert sandbox.calls("stock_query.php") == []


# --- dead letters queued by the release before, replayed after the upgrade ---------------------------


def test_a_refund_dead_lettered_before_the_upgrade_replays_under_its_old_key_and_is_booked_once(ctx, sandbox, pos):
    """The release before queued a refund as store_documents.book_movement with doc no. R-<refund
    no.> (outer_no O2O-R-…): replayed now it is booked under that outer_no, once, and a copy 旺店通
    already holds (booked before its answer was lost) is not booked again."""
    from o2o_bridge import wiring

    old = {"doc_no": "R-RF-9", "store_code": "S101", "direction": "in", "kind": "refund",
           "items": [["PIL-STD", 2]], "remark": "零售退单 RF-9", "trace_key": "RF-9"}
    step = wiring.retry_commands()["store_documents.book_movement"]
    step(ctx, old)
    step(ctx, old)
    (doc,) = sandbox.state.stockins.values()
    assert (doc["outer_no"], doc["order_type_name"]) == ("O2O-R-RF-9", "其他入库")
    ctx.records.items.clear()  # even without the bridge's own memory: 旺店通 knows the outer_no
    step(ctx, old)
    assert len(sandbox.state.stockins) == 1


def test_a_count_and_store_levels_dead_lettered_before_the_upgrade_replay(ctx, sandbox, pos):
    from o2o_bridge import wiring

    commands = wiring.retry_commands()
    old_count = {"count_no": "PD-9", "store_code": "S101", "items": [["PIL-STD", 6]]}
    commands["store_documents.book_count"](ctx, old_count)
    commands["store_documents.book_count"](ctx, old_count)
    assert len(sandbox.state.pd_orders) == 1 and stock(sandbox, "S101", "PIL-STD") == Decimal(6)
    commands["erp_stock.set_store_stock"](ctx, {"store_code": "S102", "run": "2026-12-01",
                                                 "levels": [["PIL-LOW", 4, 1796191200000]]})
    assert pos.state.merchants["10030"].store_stock[("S102", "PIL-LOW")].qty == 4
