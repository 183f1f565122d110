"""S3 / S4e: JST warehouse stock reaches 店+ with versions; stale never wins, repeats push once."""

import random

import pytest

from fakes import drain_retries
from o2o_bridge.errors import BadRequest
from o2o_bridge.flows import stock_sync
from o2o_bridge.connectors.jushuitan.mappers import jst_version

from .stock_fakes import demo_tenant, modified_at, tenant_with

MAIN = 10000


def pushed(ctx, code: str, *rows):
    """JST's stock moved (it only moves forward: an older row changes nothing in JST) and it
    pushes 库存同步 naming the SKUs: the bridge re-reads them from JST."""
    jst = ctx.jst
    for sku, qty, second in rows:
        row = jst.inventory.get((int(code), sku))
        if row is None or modified_at(second) > row["modified"]:
            jst.set(int(code), sku, second=second, qty=qty)
    return stock_sync.recheck_stock(ctx, code, [sku for sku, _, _ in rows])


def test_a_stock_push_sets_the_mapped_warehouse_with_a_version(ctx, store):
    pushed(ctx, "10000", ("TS-RED-M", 37, 10), ("TS-RED-L", 5, 11))
    assert store.warehouse[("10000", "TS-RED-M")] == (37, jst_version(modified_at(10)) + 999)  # read after its second
    assert store.warehouse[("10000", "TS-RED-L")][0] == 5
    assert ctx.timeline.steps("stock:10000") == ["stock.push.received"]


def test_a_repeated_push_gives_one_store_call_and_an_older_one_changes_nothing(ctx, store):
    for _ in range(3):
        pushed(ctx, "10000", ("SKU1", 8, 20))
    pushed(ctx, "10000", ("SKU1", 99, 5))  # late, older push
    main_calls = [key for key in store.p6_calls if key.startswith("stock:10000:")]
    assert len(main_calls) == 1  # one store call for the main warehouse (another for 销退仓 "2")
    assert store.warehouse[("10000", "SKU1")][0] == 8


def test_shuffled_updates_from_pushes_and_pulls_end_at_the_newest_version_of_every_sku(ctx, store, jst):
    rng = random.Random(11)
    updates = [(f"SKU{n}", rng.randint(0, 50), second) for n in range(40) for second in rng.sample(range(1, 500), 6)]
    newest = {}
    for sku, qty, second in updates:
        if sku not in newest or second > newest[sku][1]:
            newest[sku] = (qty, second)
    for _ in range(3):  # replays too
        rng.shuffle(updates)
        for start in range(0, len(updates), 7):
            batch = updates[start:start + 7]
            way = rng.choice(["push", "late retry", "pull"])
            if way == "push":
                pushed(ctx, "10000", *batch)
            elif way == "late retry":  # a P6 step queued long ago runs now
                stock_sync.set_warehouse_stock(ctx, {"warehouse_code": "10000", "items": [
                    {"sku_id": sku, "qty": qty, "version": jst_version(modified_at(second))} for sku, qty, second in batch]})
            else:  # JST only moves forward; the hourly pull reads what it holds now
                for sku, qty, second in batch:
                    row = jst.inventory.get((MAIN, sku))
                    if row is None or modified_at(second) > row["modified"]:
                        jst.set(MAIN, sku, second=second, qty=qty)
                stock_sync.pull_jst_stock(ctx)
    assert {sku: cell[0] for (code, sku), cell in store.warehouse.items() if code == "10000"} == \
        {s: q for s, (q, _) in newest.items()}
    for sku, (qty, _) in newest.items():
        assert ctx.records.get("10010", stock_sync.WAREHOUSE_LEVEL, f"10000|{sku}").data["qty"] == qty


def test_a_formula_over_other_fields_reads_the_inventory_and_never_publishes_a_negative(make_ctx, jst, store):
    ctx = make_ctx(tenant_with(lambda d: d["stock"].update(formula="qty + purchase_qty - order_lock")))
    jst.set(MAIN, "A", second=3, qty=10, purchase_qty=5, order_lock=2)
    jst.set(MAIN, "B", second=3, qty=1, order_lock=4)
    pushed(ctx, "10000", ("A", 10, 3), ("B", 1, 3))
    assert store.warehouse[("10000", "A")][0] == 13 and store.warehouse[("10000", "B")][0] == 0
    assert jst.reads == 1


def test_an_unmapped_warehouse_is_refused(ctx):
    with pytest.raises(BadRequest, match="not mapped"):
        stock_sync.location_for(ctx, "424242")


def test_the_hourly_pull_follows_the_ts_cursor_and_skips_what_it_applied(ctx, store, jst):
    jst.set(MAIN, "A", second=1, qty=4)
    first = stock_sync.pull_jst_stock(ctx)
    assert first["10000"]["applied"] == 1
    assert store.warehouse[("10000", "A")][0] == 4
    effects = store.p6_effects
    again = stock_sync.pull_jst_stock(ctx)  # the ts cursor re-reads only the boundary row
    assert store.p6_effects == effects and again["10000"]["applied"] == 0
    jst.set(MAIN, "A", second=9, qty=2)
    stock_sync.pull_jst_stock(ctx)
    assert store.warehouse[("10000", "A")][0] == 2


def test_with_30_percent_transient_store_faults_the_pull_converges_through_the_retry_queue(ctx, store, jst):
    for n in range(60):
        jst.set(MAIN, f"SKU{n}", second=n, qty=n)
    store.faults.transient_rate = 0.3
    stock_sync.pull_jst_stock(ctx)
    drain_retries(ctx)
    store.faults.transient_rate = 0
    assert {sku: cell[0] for (code, sku), cell in store.warehouse.items() if code == "10000"} == \
           {f"SKU{n}": n for n in range(60)}


def test_store_warehouses_follow_the_master(make_ctx, store, jst):
    def with_store_warehouse(master):
        def mutate(doc):
            doc["stock"]["master"] = master
            doc["warehouses"].append({"jst_wms_co_id": 20001, "pos_warehouse_code": "S001"})
        return tenant_with(mutate)

    ctx = make_ctx(with_store_warehouse("pos"))
    pushed(ctx, "20001", ("A", 3, 1))
    assert ("S001", "A") not in store.stores
    assert ctx.timeline.steps("stock:S001") == ["stock.push.ignored"]

    ctx = make_ctx(with_store_warehouse("erp"))  # S4e: JST owns store stock
    pushed(ctx, "20001", ("A", 3, 1))
    assert store.stores[("S001", "A")][0] == 3


def test_a_mapped_offline_warehouse_never_loops_the_stores_aggregate_back_into_the_store_system(make_ctx, store, jst):
    """店加线下仓 is fed by the stores: a tenant stored with it mapped still never pulls it."""
    ctx = make_ctx(tenant_with(lambda d: d["warehouses"].append({"jst_wms_co_id": 10001,
                                                                 "pos_warehouse_code": "10001"})))
    jst.set(MAIN, "A", second=1, qty=4)
    jst.set(10001, "B", second=1, qty=7)
    pulled = stock_sync.pull_jst_stock(ctx)
    assert "10001" not in pulled and ("10001", "B") not in store.warehouse


def test_the_sales_return_stock_reaches_the_store_systems_warehouse_2_as_the_guide_sets_it_up(make_ctx, store, jst):
    ctx = make_ctx(tenant_with(lambda d: d["stock"].update(sales_return_warehouse=2)))
    jst.set(MAIN, "A", second=1, qty=4, return_qty=3)
    stock_sync.pull_jst_stock(ctx)
    assert store.warehouse[("10000", "A")][0] == 4  # sellable stock, through the tenant's formula
    assert store.warehouse[("2", "A")][0] == 3      # 销退仓: what came back, apart from it
    jst.set(MAIN, "A", second=5, qty=4, return_qty=0)  # moved back to sellable stock in JST
    stock_sync.pull_jst_stock(ctx)
    assert store.warehouse[("2", "A")][0] == 0


def test_without_the_option_returned_goods_stay_out_of_the_store_system(ctx, store, jst):
    jst.set(MAIN, "A", second=1, qty=4, return_qty=3)
    stock_sync.pull_jst_stock(ctx)
    assert [key for key in store.warehouse if key[0] == "2"] == []


def test_a_push_of_the_return_warehouse_also_refreshes_the_sales_return_stock(make_ctx, store, jst):
    ctx = make_ctx(tenant_with(lambda d: d["stock"].update(sales_return_warehouse="2")))
    jst.set(MAIN, "A", second=3, qty=10, return_qty=2)
    stock_sync.recheck_stock(ctx, "10000", ["A"])
    assert store.warehouse[("2", "A")][0] == 2


def test_pushes_and_the_hourly_pull_can_never_alternate_values(ctx, store, jst):
    jst.set(MAIN, "A", second=3, qty=10)
    figures = []
    for _ in range(3):
        stock_sync.recheck_stock(ctx, "10000", ["A"])
        figures.append(store.warehouse[("10000", "A")][0])
        stock_sync.pull_jst_stock(ctx)
        figures.append(store.warehouse[("10000", "A")][0])
    assert figures == [10] * 6 and len([k for k in store.p6_calls if k.startswith("stock:10000:")]) == 1


def test_a_level_the_store_refuses_is_set_aside_and_the_others_are_applied(ctx, store, jst, monkeypatch):
    from o2o_bridge.connectors.store.errors import PosPermanentError

    for n in range(9):
        jst.set(MAIN, f"SKU{n}", second=n + 1, qty=n)
    real = store.set_warehouse_stock

    def refusing(code, items, **kwargs):
        if any(level.sku_id == "SKU4" for level in items):
            raise PosPermanentError("店+ P6: SKU4 is not a product of this warehouse", status=422)
        return real(code, items, **kwargs)

    monkeypatch.setattr(store, "set_warehouse_stock", refusing)
    summary = stock_sync.pull_jst_stock(ctx)["10000"]
    assert summary["applied"] == 8 and summary["set_aside"] == 1
    assert sorted(sku for (code, sku) in store.warehouse if code == "10000") == [f"SKU{n}" for n in range(9) if n != 4]
    [letter] = ctx.queue.dead
    assert [i["sku_id"] for i in letter.envelope.payload["items"]] == ["SKU4"] and "not a product" in letter.reason
    assert ctx.cursors.get("10010", "stock.inventory.10000") is not None  # moved past it

    monkeypatch.setattr(store, "set_warehouse_stock", real)  # the product is created; the letter replayed
    ctx.queue.queued.append((letter.envelope.replayed(), 0))
    drain_retries(ctx)
    assert store.warehouse[("10000", "SKU4")][0] == 4


def test_a_row_whose_level_cannot_be_worked_out_is_set_aside_and_the_others_are_applied(ctx, store, jst, monkeypatch):
    jst.set(MAIN, "A", second=1, qty=10)
    jst.set(MAIN, "B", second=2, qty=10)
    jst.set(MAIN, "C", second=3, qty=9)
    real = stock_sync.level_of

    def level_of(formula, row):
        if row.sku_id == "B":
            raise ArithmeticError("qty is NaN")  # e.g. a value JST should never send
        return real(formula, row)

    monkeypatch.setattr(stock_sync, "level_of", level_of)
    summary = stock_sync.pull_jst_stock(ctx)["10000"]
    assert summary["applied"] == 2 and summary["set_aside"] == 1
    assert store.warehouse[("10000", "A")][0] == 10 and store.warehouse[("10000", "C")][0] == 9
    [letter] = ctx.queue.dead
    assert letter.envelope.command == "stock.apply_warehouse_level" and letter.envelope.payload["sku_id"] == "B"
    monkeypatch.setattr(stock_sync, "level_of", real)
    ctx.queue.queued.append((letter.envelope.replayed(), 0))
    drain_retries(ctx)
    assert store.warehouse[("10000", "B")][0] == 10


def test_attack_2_a_level_jst_answers_with_a_clock_far_ahead_is_capped_and_never_pins_the_level(ctx, store):
    from types import SimpleNamespace

    from o2o_bridge.connectors.jushuitan.mappers import latest_version, stock_level

    row = SimpleNamespace(sku_id="A", modified="2099-12-31 23:59:59", ts=5, formula_values=lambda: {"qty": 3})
    level = stock_level(row, ctx.tenant.stock.clock_allowance_seconds)
    assert level.version <= latest_version(ctx.tenant.stock.clock_allowance_seconds)
    assert level.version < jst_version("2099-12-31 23:59:59")
    # so a genuine change a little later is newer, not "stale"
    assert jst_version(modified_at(0)) < level.version  # (modified_at is in the past: the cap is now + allowance)


def test_an_unreadable_modified_is_a_400_naming_it():
    from o2o_bridge.connectors.jushuitan.push import StockPush

    with pytest.raises(Exception) as caught:
        StockPush.model_validate({"datas": [{"sku_id": "A", "qty": 1, "modified": "next tuesday"}]})
    assert "modified" in str(caught.value)


def test_a_second_change_within_the_same_second_reaches_the_store_whatever_jsts_ts(ctx, store):
    """Two changes of one SKU within one second (JST's modified time has whole seconds): the later
    read reaches the store, whatever JST's ts (5999 then 6000 does not fit three digits), and a
    late copy of the earlier read changes nothing."""
    import itertools

    from o2o_bridge.shanghai_time import from_jst_text

    second = from_jst_text(modified_at(30)).timestamp()

    def read_at(offset):
        ctx.warehouse.clock = ctx.erp.clock = lambda: second + offset

    ctx.jst._ts = itertools.count(5999)
    read_at(0.2)
    pushed(ctx, "10000", ("SKU1", 9, 30))
    early = ctx.warehouse.stock_of("10000", ["SKU1"])
    assert store.warehouse[("10000", "SKU1")][0] == 9
    ctx.jst.set(10000, "SKU1", second=30, qty=11)  # the same second, the next ts
    read_at(0.6)
    stock_sync.recheck_stock(ctx, "10000", ["SKU1"])
    assert store.warehouse[("10000", "SKU1")][0] == 11
    late = stock_sync.set_warehouse_stock(ctx, {"warehouse_code": "10000", "items": stock_sync.levels_of(ctx.tenant, early)})
    assert late["stale"] == 1 and store.warehouse[("10000", "SKU1")][0] == 11
    # Read again after that second: the figure the store shows, not sent again.
    read_at(3600)
    main_calls = lambda: [key for key in store.p6_calls if key.startswith("stock:10000:")]  # noqa: E731
    calls = len(main_calls())
    for _ in range(2):
        stock_sync.recheck_stock(ctx, "10000", ["SKU1"])
    assert (len(main_calls()), store.warehouse[("10000", "SKU1")][0]) == (calls, 11)


def test_a_push_jst_sends_again_is_known_before_jst_is_read_and_a_new_change_in_its_second_is_not(ctx, store):
    """A repeat of a push whose levels were read and sent is answered from the stored levels (no
    JST read, no 店+ call, nothing written). A second change within the same second (the same
    modified time, another qty) is a new push: read again."""
    from o2o_bridge.shanghai_time import from_jst_text

    second = from_jst_text(modified_at(40)).timestamp()
    ctx.warehouse.clock = ctx.erp.clock = lambda: second + 0.3  # read within the changed second
    ctx.jst.set(10000, "SKU1", second=40, qty=5)
    first = {"SKU1": [jst_version(modified_at(40)), "5"]}
    stock_sync.recheck_stock(ctx, "10000", ["SKU1"], signals=first)
    reads, calls, written = ctx.jst.reads, len(store.p6_calls), ctx.records.items[("10010", "stock.warehouse", "10000|SKU1")]
    assert stock_sync.recheck_stock(ctx, "10000", ["SKU1"], signals=first) == {"repeat": 1}
    assert (ctx.jst.reads, len(store.p6_calls)) == (reads, calls)
    assert ctx.records.items[("10010", "stock.warehouse", "10000|SKU1")] == written

    ctx.jst.set(10000, "SKU1", second=40, qty=7)  # the same second, another change
    ctx.warehouse.clock = ctx.erp.clock = lambda: second + 0.8
    second_push = {"SKU1": [jst_version(modified_at(40)), "7"]}
    assert "repeat" not in stock_sync.recheck_stock(ctx, "10000", ["SKU1"], signals=second_push)
    assert store.warehouse[("10000", "SKU1")][0] == 7 and ctx.jst.reads == reads + 1
    # Both pushes again: the newer level answers the earlier push too.
    assert stock_sync.recheck_stock(ctx, "10000", ["SKU1"], signals=first) == {"repeat": 1}
    assert stock_sync.recheck_stock(ctx, "10000", ["SKU1"], signals=second_push) == {"repeat": 1}
    # A push of a SKU the bridge has not read, or without a modified time, is read.
    assert "repeat" not in stock_sync.recheck_stock(ctx, "10000", ["SKU1"], signals={"SKU1": [None, "7"]})
    assert ctx.jst.reads == reads + 2


def test_a_push_read_after_its_second_answers_any_later_copy_of_that_second(ctx, store):
    pushed(ctx, "10000", ("SKU2", 3, 50))  # read long after second 50: version ...999
    reads = ctx.jst.reads
    late = {"SKU2": [jst_version(modified_at(50)), "2"]}  # another qty, the same second: already in the level
    assert stock_sync.recheck_stock(ctx, "10000", ["SKU2"], signals=late) == {"repeat": 1}
    newer = {"SKU2": [jst_version(modified_at(51)), "2"]}
    assert "repeat" not in stock_sync.recheck_stock(ctx, "10000", ["SKU2"], signals=newer)
    assert ctx.jst.reads == reads + 1
