"""W5: the 02:10 run makes stock equal in the direction of stock.master, for only the SKUs
changed since the previous run; repeated runs change nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fakes import fake_context
from o2o_bridge.flows import erp_stock

from .conftest import erp_for, store_for, tenant_for


@pytest.fixture
def t0():
    """Now, when the test starts (the sandboxes were seeded just before)."""
    return datetime.now(timezone.utc)


def at(ctx, moment):
    ctx.now = lambda: moment
    return ctx


def store_qty(pos, store, sku):
    cell = pos.state.merchants["10030"].store_stock.get((store, sku))
    return None if cell is None else cell.qty


def test_erp_master_sets_the_stores_stock_from_the_changed_erp_rows_only(ctx, sandbox, pos, t0):
    first = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(hours=1)))
    assert (first["master"], first["stores"], first["skus"], first["done"]) == ("erp", 2, 3, 2)
    assert (store_qty(pos, "S101", "PIL-STD"), store_qty(pos, "S101", "BLK-150"), store_qty(pos, "S102", "PIL-LOW")) \
        == (8, 3, 5)
    # A day later only one SKU changed in the ERP (the 总仓's rows are no store's).
    sandbox.advance_clock(86_400)
    sandbox.set_stock("S101", "PIL-STD", 12)
    sandbox.set_stock("000", "PIL-STD", 90)
    second = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(days=1, hours=1)))
    assert (second["stores"], second["skus"]) == (1, 1)
    assert store_qty(pos, "S101", "PIL-STD") == 12
    # The same night run again (a retry of the schedule): nothing is sent twice.
    ctx.cursors.cursors.clear()
    again = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(days=1, hours=1)))
    assert again["done"] == 1 and store_qty(pos, "S101", "PIL-STD") == 12
    assert ctx.timeline.steps().count("store.stock_set") == 3  # S101 and S102 the first night, S101 once the second


def test_pos_master_counts_each_store_warehouse_in_the_erp(sandbox, pos, monkeypatch, t0):
    tenant = tenant_for(sandbox, stock={"master": "pos"})
    ctx = fake_context(tenant, erp=erp_for(sandbox, tenant), store=store_for(pos))
    clock = {"now": datetime.now(timezone.utc)}
    monkeypatch.setattr(pos.state, "clock", lambda: clock["now"])
    first = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(hours=1)))
    assert (first["master"], first["stores"], first["skus"]) == ("pos", 2, 2)
    # The seeded store stock (S101 PIL-STD 8, S102 PIL-LOW 5) overwrote the ERP's: same figures, one 盘点 each.
    assert len(sandbox.state.pd_orders) == 2
    clock["now"] = t0 + timedelta(days=1)
    pos.set_store_stock("10030", "S101", [{"sku_id": "PIL-STD", "qty": 3}], emit=False)
    second = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(days=1, hours=1)))
    assert (second["stores"], second["skus"]) == (1, 1)
    assert sandbox.state.stock[("S101", "PIL-STD")]["stock_num"] == Decimal(3)
    (loss,) = [d for d in sandbox.state.stockouts.values() if d["order_type_name"] == "盘亏出库"]
    assert loss["details_list"][0]["goods_count"] == "5.0000"
    assert [p["remark"] for p in sandbox.state.pd_orders.values()][-1].startswith("门店库存同步 ")


def test_a_store_the_erp_refuses_is_parked_and_the_others_are_set(sandbox, pos, t0):
    tenant = tenant_for(sandbox, stock={"master": "pos"})
    ctx = fake_context(tenant, erp=erp_for(sandbox, tenant), store=store_for(pos))
    sandbox.remove_warehouse("S102")  # the store's warehouse is missing in the ERP
    summary = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(minutes=1)))
    assert (summary["done"], summary["parked"]) == (1, 1)
    assert "仓库S102不存在" in ctx.queue.dead[0].reason
    assert ctx.cursors.get(ctx.ent_id, erp_stock.CURSOR) is None  # the next run reads the night again
