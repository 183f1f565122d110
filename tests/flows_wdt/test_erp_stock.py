"""W5: the 02:10 run makes stock equal in the direction of stock.master, for only the SKUs
changed since the previous run; repeated runs change nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from o2o_bridge.flows import erp_stock, stock_sync

from .conftest import context_for, tenant_for


@pytest.fixture
def t0():
    """Now, when the test starts (the sandboxes were seeded just before)."""
    return datetime.now(timezone.utc)


def at(ctx, moment):
    ctx.now = lambda: moment
    if hasattr(ctx.erp, "now"):
        ctx.erp.now = ctx.now  # the adapter reads "changed since" up to its own clock
    return ctx


def store_qty(pos, store, sku):
    cell = pos.state.merchants["10030"].store_stock.get((store, sku))
    return None if cell is None else cell.qty


def test_erp_master_sets_the_stores_stock_from_the_changed_erp_rows_only(ctx, sandbox, pos, t0):
    first = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(hours=1)))
    assert first["master"] == "erp"
    assert {code: part["applied"] for code, part in first["read"].items()} == {"S101": 2, "S102": 1}
    assert (store_qty(pos, "S101", "PIL-STD"), store_qty(pos, "S101", "BLK-150"), store_qty(pos, "S102", "PIL-LOW")) \
        == (8, 3, 5)
    # A day later only one SKU changed in the ERP (the 总仓's rows are no store's).
    sandbox.advance_clock(86_400)
    sandbox.set_stock("S101", "PIL-STD", 12)
    sandbox.set_stock("000", "PIL-STD", 90)
    second = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(days=1, hours=1)))
    assert {code: part["read"] for code, part in second["read"].items()} == {"S101": 1, "S102": 0}
    assert store_qty(pos, "S101", "PIL-STD") == 12
    # The same night run again from scratch (the cursors lost): the levels' versions change nothing.
    ctx.cursors.cursors.clear()
    again = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(days=1, hours=1)))
    assert sum(part["applied"] for part in again["read"].values()) == 0 and store_qty(pos, "S101", "PIL-STD") == 12


def test_a_cloud_warehouse_tenant_has_its_wms_stock_read_in_the_same_pass(sandbox, pos, t0):
    from types import SimpleNamespace as NS

    from o2o_bridge.ports.warehouse import StockLevel, StockLocation, StockPage

    class Wms:  # a WMS holding one warehouse (the 奇门 adapter is tested over its own sandbox)
        def stock_locations(self):
            return [StockLocation("WH01", "WH01")]

        def stock_changes(self, code, since):
            return StockPage([StockLevel("PIL-STD", {"qty": Decimal(30)}, 1)], "1")

    tenant = tenant_for(sandbox, stock={"master": "pos"})
    ctx = context_for(sandbox, pos, tenant, warehouse=Wms())
    summary = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(hours=1)))
    assert list(summary["read"]) == ["WH01"]  # with the store system as master, only the WMS is read
    assert summary["stores"] == 2


def test_pos_master_counts_each_store_warehouse_in_the_erp(sandbox, pos, monkeypatch, t0):
    tenant = tenant_for(sandbox, stock={"master": "pos"})
    ctx = context_for(sandbox, pos, tenant)
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
    assert " 门店库存同步 " in [p["remark"] for p in sandbox.state.pd_orders.values()][-1]
    # The same night run again from scratch: the counts 旺店通 holds are found, none is booked twice.
    ctx.cursors.cursors.clear()
    ctx.records.items.clear()
    erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(days=1, hours=1)))
    assert len(sandbox.state.pd_orders) == 3


def test_a_store_the_erp_refuses_is_parked_and_the_others_are_set(sandbox, pos, t0):
    tenant = tenant_for(sandbox, stock={"master": "pos"})
    ctx = context_for(sandbox, pos, tenant)
    sandbox.remove_warehouse("S102")  # the store's warehouse is missing in the ERP
    summary = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(minutes=1)))
    assert (summary["done"], summary["parked"]) == (1, 1)
    assert "仓库S102不存在" in ctx.queue.dead[0].reason
    assert ctx.cursors.get(ctx.ent_id, erp_stock.CURSOR) is None  # the next run reads the night again



def test_a_count_look_up_whose_answer_is_not_where_the_tenant_says_books_nothing_and_says_what_to_set(sandbox):
    """The look-up before a 盘点 (stock_pd_order_query.php) is the only guard against booking a
    count twice: an answer of another shape stops the count with a clear reason, nothing booked."""
    from o2o_bridge.connectors.wangdiantong.errors import WdtPermanentError
    from o2o_bridge.ports.erp import StoreCount
    from o2o_bridge.ports.warehouse import SkuQty

    from .conftest import erp_for

    tenant = tenant_for(sandbox, wangdiantong={"count_query": {"list_keys": ["check_list"]}})
    count = StoreCount("C-1", tenant.stores[0].code, (SkuQty("PIL-STD", 4),), "门店盘点")
    with pytest.raises(WdtPermanentError, match="no list under check_list .*stock_pd_list.*count_query.list_keys"):
        erp_for(sandbox, tenant).book_store_count(count)
    assert sandbox.state.pd_orders == {}
    booked = erp_for(sandbox, tenant_for(sandbox)).book_store_count(count)  # the default names: booked once
    assert len(sandbox.state.pd_orders) == 1 and not booked.repeated


# --- two ERP changes within one second (旺店通's modified time has whole seconds only) -------------


def erp_second(sandbox, monkeypatch, moment):
    """The sandbox ERP's clock held at ``moment``: what it changes now carries that modified time."""
    monkeypatch.setattr(sandbox.state, "time", lambda: moment.timestamp())


def test_a_second_erp_change_within_the_same_second_reaches_the_store(ctx, sandbox, pos, monkeypatch, t0):
    second = t0.replace(microsecond=0)
    erp_second(sandbox, monkeypatch, second)
    sandbox.set_stock("S101", "PIL-STD", 9)
    # A store document booked at S101 has its SKU read again at once (W3's follow-up): the store shows 9.
    stock_sync.recheck_stock(at(ctx, second + timedelta(milliseconds=300)), "S101", ["PIL-STD"])
    assert store_qty(pos, "S101", "PIL-STD") == 9
    sandbox.set_stock("S101", "PIL-STD", 11)  # an ERP user's 调拨入库, still within that second
    erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(hours=1)))
    assert store_qty(pos, "S101", "PIL-STD") == 11
    # Read again, nothing changed: nothing is sent twice.
    ctx.cursors.cursors.clear()
    again = erp_stock.nightly_erp_stock(at(ctx, t0 + timedelta(hours=2)))
    assert sum(part["applied"] for part in again["read"].values()) == 0 and store_qty(pos, "S101", "PIL-STD") == 11


def test_an_older_read_of_the_same_second_never_overwrites_a_newer_one(ctx, sandbox, pos, monkeypatch, t0):
    second = t0.replace(microsecond=0)
    erp_second(sandbox, monkeypatch, second)
    sandbox.set_stock("S101", "PIL-STD", 9)
    early = at(ctx, second + timedelta(milliseconds=200)).erp.stock_of("S101", ["PIL-STD"])
    sandbox.set_stock("S101", "PIL-STD", 11)
    stock_sync.recheck_stock(at(ctx, second + timedelta(milliseconds=700)), "S101", ["PIL-STD"])
    assert store_qty(pos, "S101", "PIL-STD") == 11
    # The earlier read, late (a slow worker, a retry): older than what the store holds, so it is stale.
    late = stock_sync.set_warehouse_stock(ctx, {"warehouse_code": "S101",
                                                "items": stock_sync.levels_of(ctx.tenant, early)})
    assert (late["applied"], late["stale"]) == (0, 1) and store_qty(pos, "S101", "PIL-STD") == 11
    # Even with the bridge's record of the newer level lost, the store itself keeps the newer one.
    ctx.records.items.clear()
    stock_sync.set_warehouse_stock(ctx, {"warehouse_code": "S101", "items": stock_sync.levels_of(ctx.tenant, early)})
    assert store_qty(pos, "S101", "PIL-STD") == 11


def test_a_levels_version_orders_reads_within_its_second_and_an_erp_clock_running_ahead_stays_capped():
    from o2o_bridge.connectors.wangdiantong.mappers import stock_version

    read = datetime(2026, 12, 2, 10, 0, 0, 300_000, tzinfo=timezone.utc)  # 18:00:00.3 in Shanghai
    second = int(read.replace(microsecond=0).timestamp()) * 1000
    assert stock_version("2026-12-02 18:00:00", 300, read) == second + 300
    assert stock_version("2026-12-02 18:00:00", 300, read + timedelta(milliseconds=400)) == second + 700
    # Once the second is over every read carries the same version: an unchanged level is not sent again.
    assert stock_version("2026-12-02 18:00:00", 300, read + timedelta(seconds=1)) \
        == stock_version("2026-12-02 18:00:00", 300, read + timedelta(days=1)) == second + 999
    # The next second's change is newer than any read of the one before.
    assert stock_version("2026-12-02 18:00:01", 300, read + timedelta(seconds=1)) == second + 1300 > second + 999
    # Modified in 2099 (an ERP clock running ahead): capped at now + the allowance, no more.
    assert stock_version("2099-01-01 00:00:00", 300, read) == second + 300 + 300_000
