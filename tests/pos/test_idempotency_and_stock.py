"""Idempotency (a repeat is one effect), P6 version keeping and chunking, P8 paging."""

from __future__ import annotations

import httpx
import pytest

from o2o_bridge.connectors.store import PosIdempotencyConflict, PosTransientError
from o2o_bridge.connectors.store import models as m
from o2o_bridge.connectors.store.api import chunks

from .builders import fulfilment, shipment
from .conftest import make_api

ENT = "10010"


def test_a_repeated_command_is_one_effect_with_the_first_answer(api, pos):
    first = api.create_fulfilment_order(fulfilment())
    again = api.create_fulfilment_order(fulfilment())
    assert again == first
    assert len(pos.state.merchant(ENT).fulfilments) == 1
    keys = [r["idempotency_key"] for r in pos.state.requests]
    assert keys == ["fulfilment:2026112200001:S001"] * 2


def test_rerouting_to_another_store_is_a_new_action(api, pos):
    first = api.create_fulfilment_order(fulfilment(store="S001"))
    api.cancel_fulfilment_order(first.fulfilment_id, "rejected, re-routed")
    second = api.create_fulfilment_order(fulfilment(store="S002"))
    assert second.fulfilment_id != first.fulfilment_id


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(api, pos):
    pos.seed({"merchants": [{"ent_id": ENT, "orders": [{"order_no": "SO1"}]}]})
    api.ship_order("SO1", shipment(), business_key="SO1:L1")
    with pytest.raises(PosIdempotencyConflict) as caught:
        api.ship_order("SO1", shipment("SF-OTHER"), business_key="SO1:L1")
    assert caught.value.status == 422 and caught.value.code == 42210
    assert [s["tracking_no"] for s in pos.state.merchant(ENT).shipments] == ["SF1234567890"]


def test_a_lost_answer_then_a_retry_is_one_effect(api, pos):
    pos.faults.push(path="/fulfilment-orders", status=503, apply_effect=True, retry_after=2)
    with pytest.raises(PosTransientError) as caught:
        api.create_fulfilment_order(fulfilment())
    assert caught.value.retry_after_seconds == 2
    assert len(pos.state.merchant(ENT).fulfilments) == 1  # it was applied, the answer lost
    created = api.create_fulfilment_order(fulfilment())
    assert list(pos.state.merchant(ENT).fulfilments) == [created.fulfilment_id]


def test_concurrent_duplicates_apply_once(pos):
    import concurrent.futures

    pos.seed({"merchants": [{"ent_id": ENT, "orders": [{"order_no": "SO1"}]}]})
    stores = [make_api(pos) for _ in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda s: s.ship_order("SO1", shipment()), stores))
    assert len({a.shipment_id for a in answers}) == 1
    assert len(pos.state.merchant(ENT).shipments) == 1


def test_p6_keeps_the_higher_version(api, pos):
    cell = lambda: pos.state.merchant(ENT).warehouse_stock[("10000", "SKU-RED-M")]  # noqa: E731
    api.set_warehouse_stock("10000", [m.StockLevel(sku_id="SKU-RED-M", qty=50, version=200)])
    older = api.set_warehouse_stock("10000", [m.StockLevel(sku_id="SKU-RED-M", qty=70, version=100)])
    assert (older.applied, older.stale) == (0, 1)
    assert older.results[0].model_dump() == {"sku_id": "SKU-RED-M", "status": "stale", "qty": 50, "version": 200}
    assert (cell().qty, cell().version) == (50, 200)
    same = api.set_warehouse_stock("10000", [m.StockLevel(sku_id="SKU-RED-M", qty=60, version=200)])
    assert same.stale == 1 and cell().qty == 50
    newer = api.set_warehouse_stock("10000", [m.StockLevel(sku_id="SKU-RED-M", qty=0, version=300)])
    assert newer.applied == 1 and (cell().qty, cell().version) == (0, 300)


def test_p6_splits_large_sets_into_calls_of_500(api, pos, recorder):
    levels = [m.StockLevel(sku_id=f"SKU-{i:05d}", qty=i, version=1) for i in range(1201)]
    result = api.set_warehouse_stock("10001", levels, business_key="inventory:10001:1795313400")
    assert (result.applied, result.stale, len(result.results)) == (1201, 0, 1201)
    puts = [r for r in recorder.requests if r.method == "PUT"]
    assert [len(httpx.Response(200, content=r.content).json()["items"]) for r in puts] == [500, 500, 201]
    assert [r.headers["Idempotency-Key"] for r in puts] == [
        f"stock:10001:inventory:10001:1795313400:{n}/3" for n in (1, 2, 3)]
    # The whole set again (a retry after a partial failure): no new effect, same answers.
    assert api.set_warehouse_stock("10001", levels, business_key="inventory:10001:1795313400") == result
    assert len(pos.state.merchant(ENT).warehouse_stock) == 1201


def test_p6_refuses_a_request_over_500_items():
    with pytest.raises(ValueError):
        m.WarehouseStockSet(items=[m.StockLevel(sku_id=str(i), qty=1, version=1) for i in range(501)])
    assert [len(c) for c in chunks(list(range(1001)), 500)] == [500, 500, 1]


def test_p8_pages_until_the_cursor_is_null(api, pos, recorder):
    pos.state.set_store_stock(ENT, "S001", [{"sku_id": f"X{i:03d}", "qty": i} for i in range(25)])
    rows = list(api.scan_stock(limit=10))
    assert len(rows) == 33 and len({(r.store_code, r.sku_id) for r in rows}) == 33
    gets = [r for r in recorder.requests if r.url.path.endswith("/stock")]
    assert len(gets) == 4 and "cursor" not in gets[0].url.params and gets[1].url.params["cursor"]
    later = max(r.updated_at for r in rows)
    assert [r.sku_id for r in api.scan_stock(updated_since=later)] == [
        r.sku_id for r in rows if r.updated_at >= later]


def test_the_higher_version_wins_in_any_arrival_order():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from o2o_local.pos_sandbox.state import PosState

    updates = st.lists(st.tuples(st.integers(0, 50), st.integers(-5, 500)), min_size=1, max_size=20)

    @settings(max_examples=60, deadline=None)
    @given(updates)
    def check(sequence):
        state = PosState()
        state.seed({"ent_id": ENT, "api_key": "k", "webhook_secret": "s"})
        merchant = state.merchant(ENT)
        for version, qty in sequence:
            state.set_warehouse_stock(merchant, "W1", {"items": [{"sku_id": "A", "qty": qty, "version": version}]})
        top = max(version for version, _ in sequence)
        first_at_top = next(qty for version, qty in sequence if version == top)
        cell = merchant.warehouse_stock[("W1", "A")]
        assert (cell.version, cell.qty) == (top, first_at_top)

    check()
