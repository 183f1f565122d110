"""The store events whose flows other issues build: each is answered 501 naming the issue (or
issues) that builds it, writes nothing, and is processed afresh once its flow exists."""

from __future__ import annotations

import pytest

from o2o_bridge.events import routes

from .conftest import fresh, request, send, table_items

# Every store event type has its flow today (the store's books: flows/erp_store_stock.py for JST
# and 旺店通; payment.collected and member.updated: #18; product.changed: #17). The edge still
# answers a type whose flow is missing 501, naming the issue: shown here with a route without
# its flow, as events/routes.py writes one.


@pytest.fixture
def unbuilt(monkeypatch):
    monkeypatch.setitem(routes.ROUTES, "store_document.submitted",
                        routes.Route(None, "W3, a store's own in/out document in the ERP", (16,)))
    return "store_document.submitted"


def test_a_valid_signed_event_without_its_flow_is_501_naming_the_issue_and_writes_nothing(tenants, unbuilt):
    body = fresh(unbuilt)
    before = table_items(tenants)
    code, answer = send(request(body))
    assert (code, answer["code"]) == (501, 501)
    assert f"the {unbuilt} flow" in answer["msg"]
    assert "is not implemented yet (it comes with issue #16); nothing was done" in answer["msg"]
    assert table_items(tenants) == before  # no idempotency record: the store's retry is judged again


def test_once_the_flow_exists_the_same_event_is_processed(tenants, unbuilt, monkeypatch):
    body = fresh(unbuilt)
    assert send(request(body))[0] == 501
    done = []
    monkeypatch.setitem(routes.ROUTES, unbuilt, routes.Route(lambda event, ctx: done.append(event.data.doc_no), "test"))
    assert send(request(body)) == (200, {"code": 0, "msg": "ok"})
    assert done == [body["data"]["doc_no"]]


def test_a_store_document_of_a_jst_tenant_whose_store_system_owns_the_stock_is_acknowledged(tenants):
    """The JST demo tenant's store system is stock master: its own documents are not JST's to book."""
    assert send(request(fresh("store_document.submitted"))) == (200, {"code": 0, "msg": "ok"})


def test_a_malformed_new_event_is_still_422_before_any_501(tenants):
    body = fresh("stock.counted")
    body["data"]["items"][0]["counted_qty"] = -1
    before = table_items(tenants)
    code, answer = send(request(body))
    assert code == 422 and "data.items[0].counted_qty" in answer["msg"]
    assert table_items(tenants) == before


def test_product_changed_of_a_tenant_without_a_cloud_warehouse_is_acknowledged(tenants):
    assert send(request(fresh("product.changed"))) == (200, {"code": 0, "msg": "ok"})


def test_a_store_sale_answered_501_records_no_ledger_fact_and_is_recorded_once_handled(tenants, monkeypatch):
    """The sale's ledger fact is written once its flow handled the event, never for a 501."""
    from o2o_bridge.errors import NotImplementedYet

    def not_built(event, ctx):
        raise NotImplementedYet(f"the sale.completed flow for a tenant whose ERP is {ctx.tenant.erp}", issue=14)

    def facts():  # as a report reads them, once the ledger writer stored what was queued
        from ledger_reading import facts_read

        return [row["fact_key"] for row in facts_read()]

    import uuid

    body = fresh("sale.completed")
    body["data"]["sale_no"] = f"XS-{uuid.uuid4().hex[:8]}"  # a sale no earlier test recorded
    before = facts()
    monkeypatch.setitem(routes.ROUTES, "sale.completed", routes.Route(not_built, "test"))
    assert send(request(body))[0] == 501
    assert facts() == before
    monkeypatch.setitem(routes.ROUTES, "sale.completed", routes.Route(lambda event, ctx: None, "test"))  # nothing to book
    assert send(request(body)) == (200, {"code": 0, "msg": "ok"})
    [fact] = set(facts()) - set(before)
    assert fact == f"sale:{body['data']['store_code']}:{body['data']['sale_no']}"
