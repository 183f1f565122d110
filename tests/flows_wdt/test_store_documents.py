"""W3: a count becomes a 盘点, a returned item and the store's in-documents become one
其他入库 each, out-documents one 其他出库 each: once, under replays, lost answers and crashes."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace as NS

import httpx
import pytest

from fakes import drain_retries
from o2o_bridge.errors import UnprocessableRequest
from o2o_bridge import wiring
from o2o_bridge.flows import kit, store_documents


@pytest.fixture(autouse=True)
def live(ctx, monkeypatch):
    monkeypatch.setattr(wiring, "context_for", lambda tenant: ctx)


def event(**data):
    return NS(data=NS(**data))


def items(*pairs, field="qty"):
    return [NS(sku_id=s, **{field: q}, line_no=str(n)) for n, (s, q) in enumerate(pairs, 1)]


def stock(sandbox, warehouse, spec):
    return sandbox.state.stock[(warehouse, spec)]["stock_num"]


def test_a_count_overwrites_the_erp_stock_once(ctx, tenant, sandbox):
    counted = event(count_no="PD-1", store_code="S101", items=items(("PIL-STD", 10), ("BLK-150", 1), field="counted_qty"))
    first = store_documents.on_stock_counted(counted, ctx)
    again = store_documents.on_stock_counted(counted, ctx)
    assert first["repeated"] is False and again["repeated"] is True
    assert (stock(sandbox, "S101", "PIL-STD"), stock(sandbox, "S101", "BLK-150")) == (Decimal(10), Decimal(1))
    assert len(sandbox.state.pd_orders) == 1
    (pd,) = sandbox.state.pd_orders.values()
    assert pd["remark"] == "门店盘点 PD-1" and pd["warehouse_no"] == "S101"


def test_a_non_defective_return_is_one_other_stockin(ctx, tenant, sandbox):
    refunded = event(refund_no="RF-1", sale_no="S101-0001", store_code="S101", defective=False,
                     items=items(("PIL-STD", 2)))
    store_documents.on_sale_refunded(refunded, ctx)
    store_documents.on_sale_refunded(refunded, ctx)
    (doc,) = sandbox.state.stockins.values()
    assert (doc["order_type_name"], doc["outer_no"], doc["status"]) == ("其他入库", "O2O-R-RF-1", "80")
    assert "门店退货入库" in doc["remark"] and stock(sandbox, "S101", "PIL-STD") == Decimal(10)


def test_a_defective_return_stays_in_the_store(ctx, tenant, sandbox):
    store_documents.on_sale_refunded(event(refund_no="RF-2", sale_no="S1", store_code="S101", defective=True,
                                           items=items(("PIL-STD", 1))), ctx)
    assert sandbox.calls() == [] and ctx.timeline.steps("RF-2") == ["refund.kept_in_store"]


@pytest.mark.parametrize("kind, table, type_name", [
    ("reversal", "stockins", "其他入库"), ("purchase_in", "stockins", "其他入库"), ("import_in", "stockins", "其他入库"),
    ("exchange_out", "stockouts", "其他出库"), ("manual_out", "stockouts", "其他出库"),
])
def test_store_documents_become_other_stock_documents(ctx, tenant, sandbox, kind, table, type_name):
    store_documents.on_store_document_submitted(event(doc_no="D-1", store_code="S102", kind=kind,
                                                      items=items(("PIL-LOW", 1))), ctx)
    (doc,) = getattr(sandbox.state, table).values()
    assert (doc["order_type_name"], doc["warehouse_no"], doc["outer_no"]) == (type_name, "S102", "O2O-D-1")


def test_an_unknown_kind_is_a_clear_422(ctx, tenant):
    with pytest.raises(UnprocessableRequest, match="data.kind"):
        store_documents.on_store_document_submitted(event(doc_no="D-2", store_code="S101", kind="gift",
                                                          items=items(("PIL-STD", 1))), ctx)


def test_a_lost_answer_is_retried_and_booked_once(ctx, tenant, sandbox):
    sandbox.faults.add("timeout", path="stockout_order_push", delay=0.3, apply_effect=True)
    ctx.erp.api.client.http = httpx.Client(timeout=0.2)
    result = store_documents.on_store_document_submitted(event(doc_no="D-3", store_code="S101", kind="manual_out",
                                                               items=items(("BLK-150", 1))), ctx)
    assert result == {"outcome": "queued"} and len(ctx.queue.queued) == 1
    drain_retries(ctx)
    assert len(sandbox.state.stockouts) == 1 and stock(sandbox, "S101", "BLK-150") == Decimal(2)
    assert "already booked" in ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, "erp.movement:out:D-3").data["result"]


def test_a_crash_after_the_booking_before_its_record_books_once(ctx, tenant, sandbox, monkeypatch):
    original = ctx.records.put
    calls = {"n": 0}

    def crash_on_done(ent_id, kind, key, data, **kwargs):
        if kind == kit.EFFECT_KIND and data.get("state") == "done" and not calls["n"]:
            calls["n"] += 1
            raise RuntimeError("Lambda crashed")
        return original(ent_id, kind, key, data, **kwargs)

    monkeypatch.setattr(ctx.records, "put", crash_on_done)
    refunded = event(refund_no="RF-3", sale_no="S1", store_code="S101", defective=False, items=items(("PIL-STD", 1)))
    with pytest.raises(RuntimeError):
        store_documents.on_sale_refunded(refunded, ctx)
    # The claim's lease runs out; the store system delivers the event again.
    claim = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, "erp.movement:in:R-RF-3")
    assert claim is None or claim.data["state"] == "running"
    ctx.records.delete(ctx.ent_id, kit.EFFECT_KIND, "erp.movement:in:R-RF-3")
    store_documents.on_sale_refunded(refunded, ctx)
    assert len(sandbox.state.stockins) == 1 and stock(sandbox, "S101", "PIL-STD") == Decimal(9)


def test_a_refused_document_is_parked_with_the_reason(ctx, tenant, sandbox):
    result = store_documents.on_store_document_submitted(event(doc_no="D-4", store_code="S101", kind="purchase_in",
                                                               items=items(("NOT-IN-ERP", 1))), ctx)
    assert result["outcome"] == "dead_lettered" and "NOT-IN-ERP" in result["reason"]
    assert ctx.queue.dead[0].envelope.command == "store_documents.book_movement"
