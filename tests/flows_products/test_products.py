"""S7: JST's product master → 店+ products, on in-memory JST and 店+."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from fakes import drain_retries, fake_context
from flows_transfers.conftest import demo_tenant
from flows_transfers.s5_s7_fakes import FakeJst, FakeStore, Faults
from o2o_bridge.flows import products

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
HOUR_AGO = NOW - timedelta(hours=1)


def context(jst=None, store=None, **product_options):
    tenant = demo_tenant(products=product_options) if product_options else demo_tenant()
    return fake_context(tenant, jst=jst or FakeJst(), store=store or FakeStore(), now=lambda: NOW)


def start_cursor_at(ctx, moment):
    assert ctx.cursors.advance("10010", products.CURSOR, moment.isoformat(), None)


def test_the_field_map_and_the_tenant_options_reach_the_store():
    ctx = context()
    ctx.jst.add_sku("TS001-WHT-M", HOUR_AGO, name="纯棉T恤", properties_value="白色;M", sku_code="6900000000011",
                    brand="示例", cost_price="35", market_price="129", sale_price="99", category="T恤",
                    other_1="2026", other_2="夏")
    summary = products.sync_products(ctx)
    assert (summary["read"], summary["sent"], summary["failed"]) == (1, 1, 0)
    assert ctx.jst.endpoints == ["/open/sku/query"]  # SKUs, not styles, unless the tenant pulls SPU
    assert ctx.store.products["TS001-WHT-M"] == {
        "spu_code": "TS001", "sku_code": "TS001-WHT-M", "barcode": "6900000000011", "name": "纯棉T恤",
        "color": "白色", "size": "M", "brand": "示例", "category": "T恤", "cost_price": "35", "tag_price": "129",
        "retail_price": "99", "attributes": {"year": "2026", "season": "夏"}, "mount_category": "服装"}


def test_no_sale_price_leaves_the_store_s_own_retail_price():
    ctx = context(sync_sale_price=False)
    ctx.store.products["A-1"] = {"sku_code": "A-1", "retail_price": "88", "name": "old"}
    ctx.jst.add_sku("A-1", HOUR_AGO, sale_price="99")
    products.sync_products(ctx)
    assert ctx.store.products["A-1"]["retail_price"] == "88"
    assert ctx.store.products["A-1"]["name"] == "纯棉T恤"


def test_only_items_with_the_label_are_sent():
    ctx = context(only_label="店加")
    ctx.jst.add_sku("A-1", HOUR_AGO, labels="新品,店加")
    ctx.jst.add_sku("B-1", HOUR_AGO, labels="新品")
    ctx.jst.add_sku("C-1", HOUR_AGO, labels="")
    summary = products.sync_products(ctx)
    assert (summary["read"], summary["selected"]) == (3, 1)
    assert list(ctx.store.products) == ["A-1"]


def test_without_auto_create_unknown_products_are_skipped_and_known_ones_updated():
    ctx = context(auto_create=False)
    ctx.store.products["A-1"] = {"sku_code": "A-1", "name": "旧名"}
    ctx.jst.add_sku("A-1", HOUR_AGO, name="新名")
    ctx.jst.add_sku("B-1", HOUR_AGO)
    summary = products.sync_products(ctx)
    assert summary["failed"] == 0 and set(ctx.store.products) == {"A-1"}
    assert ctx.store.products["A-1"]["name"] == "新名"


def test_category_only_on_first_sync_files_new_products_under_the_staging_category_and_never_moves_them():
    ctx = context(category_once=True)
    ctx.jst.add_sku("A-1", HOUR_AGO, category="T恤")
    products.sync_products(ctx)
    assert ctx.store.products["A-1"]["category"] == "其他"  # the guide's staging category
    ctx.store.products["A-1"]["category"] = "夏季T恤"      # a person files it in the store system
    ctx.jst.add_sku("A-1", NOW - timedelta(minutes=1), category="上衣", name="改名")
    products.sync_products(ctx)
    assert ctx.store.products["A-1"]["category"] == "夏季T恤" and ctx.store.products["A-1"]["name"] == "改名"


def test_the_staging_category_is_the_tenants_choice():
    ctx = context(category_once=True, staging_category="待分类")
    ctx.jst.add_sku("A-1", HOUR_AGO, category="T恤")
    products.sync_products(ctx)
    assert ctx.store.products["A-1"]["category"] == "待分类"


def test_by_default_a_new_product_gets_jsts_price_and_a_price_the_store_set_is_kept():
    ctx = context()
    ctx.store.products["A-1"] = {"sku_code": "A-1", "retail_price": "88", "name": "old"}
    ctx.jst.add_sku("A-1", HOUR_AGO, sale_price="99")
    ctx.jst.add_sku("B-1", HOUR_AGO, sale_price="199")
    products.sync_products(ctx)
    assert ctx.store.products["A-1"]["retail_price"] == "88"   # set by the store: not overwritten
    assert ctx.store.products["B-1"]["retail_price"] == "199"  # new: JST's 一口价


def test_overwrite_is_the_tenants_explicit_choice():
    ctx = context(sale_price="overwrite")
    ctx.store.products["A-1"] = {"sku_code": "A-1", "retail_price": "88", "name": "old"}
    ctx.jst.add_sku("A-1", HOUR_AGO, sale_price="99")
    products.sync_products(ctx)
    assert ctx.store.products["A-1"]["retail_price"] == "99"


def test_without_category_once_the_category_follows_jst():
    ctx = context(category_once=False)
    ctx.jst.add_sku("A-1", HOUR_AGO, category="T恤")
    products.sync_products(ctx)
    ctx.jst.add_sku("A-1", NOW - timedelta(minutes=1), category="上衣")
    products.sync_products(ctx)
    assert ctx.store.products["A-1"]["category"] == "上衣"


@pytest.mark.parametrize("template, spec, expected", [
    ("颜色尺码", "白色;M", ("白色", "M")),
    ("尺码颜色", "M;白色", ("白色", "M")),
    (None, "白色", ("白色", None)),
    ("颜色尺码", "蓝色;30;长款", ("蓝色", "30;长款")),
    ("颜色尺码", "", (None, None)),
])
def test_color_and_size_are_split_by_the_spec_template(template, spec, expected):
    ctx = context(spec_template=template)
    ctx.jst.add_sku("A-1", HOUR_AGO, properties_value=spec)
    products.sync_products(ctx)
    item = ctx.store.products["A-1"]
    assert (item["color"], item["size"]) == expected


def test_attribute_fields_map_jst_custom_fields():
    ctx = context(attribute_fields={"year": "other_1", "wave": "other_5", "style": "other_9"})
    ctx.jst.add_sku("A-1", HOUR_AGO, other_1="2027", other_5="第二波", other_9="")
    products.sync_products(ctx)
    assert ctx.store.products["A-1"]["attributes"] == {"year": "2027", "wave": "第二波", "style": None}


def test_pulling_spu_reads_styles_and_sends_each_of_their_skus():
    ctx = context(pull_spu=True, only_label="店加")
    ctx.jst.add_sku("TS001-WHT-M", HOUR_AGO, properties_value="白色;M")
    ctx.jst.add_sku("TS001-WHT-L", HOUR_AGO, properties_value="白色;L")
    ctx.jst.add_sku("JN002-BLU-30", HOUR_AGO, labels="新品")
    summary = products.sync_products(ctx)
    assert (summary["read"], summary["selected"], summary["sent"]) == (3, 2, 2)
    # Styles, then the SKU master for what a style query leaves out (labels, 条形码, custom fields).
    assert ctx.jst.endpoints == ["/open/mall/item/query", "/open/sku/query?sku_ids"]
    item = ctx.store.products["TS001-WHT-L"]
    assert (item["spu_code"], item["size"], item["name"], item["attributes"]) == (
        "TS001", "L", "纯棉T恤", {"year": "2026", "season": "夏"})
    assert item["barcode"] == ctx.jst.skus["TS001-WHT-L"]["sku_code"]


def test_a_long_gap_is_read_in_windows_of_at_most_7_days_and_the_cursor_moves_window_by_window():
    ctx = context()
    start_cursor_at(ctx, NOW - timedelta(days=20))
    for days in (19, 12, 5, 0):
        ctx.jst.add_sku(f"D{days}-1", NOW - timedelta(days=days, minutes=1))
    summary = products.sync_products(ctx)
    assert summary["windows"] == 3 and summary["sent"] == 4
    assert all(end - begin <= timedelta(days=7) for begin, end in ctx.jst.windows)
    assert ctx.jst.windows[0][0] == NOW - timedelta(days=20) - products.OVERLAP  # overlapping start
    assert ctx.cursors.get("10010", products.CURSOR).value == NOW.isoformat()
    assert ctx.cursors.get("10010", products.CURSOR).version == 4  # set once, then moved after each window


def test_a_failed_window_keeps_the_cursor_at_the_last_window_sent():
    ctx = context()
    start_cursor_at(ctx, NOW - timedelta(days=10))
    calls = []
    real = ctx.jst.query_skus

    def second_window_fails(**window):
        calls.append(window)
        if len(calls) == 2:
            from o2o_bridge.connectors.jushuitan.errors import JstTransientError
            raise JstTransientError("JST is down")
        return real(**window)

    ctx.jst.query_skus = second_window_fails
    with pytest.raises(Exception, match="JST is down"):
        products.sync_products(ctx)
    assert ctx.cursors.get("10010", products.CURSOR).value == calls[0]["end"].isoformat()


def test_a_first_run_without_cursor_looks_back_one_day():
    ctx = context()
    ctx.jst.add_sku("OLD-1", NOW - timedelta(days=3))
    ctx.jst.add_sku("NEW-1", NOW - timedelta(hours=3))
    products.sync_products(ctx)
    assert list(ctx.store.products) == ["NEW-1"]


def test_re_runs_change_nothing_at_the_store():
    ctx = context()
    for n in range(5):
        ctx.jst.add_sku(f"A-{n}", HOUR_AGO)
    products.sync_products(ctx)
    effects = ctx.store.product_effects
    for _ in range(3):  # the same hour read again (a replayed schedule, a rewound cursor)
        cursor = ctx.cursors.get("10010", products.CURSOR)
        ctx.cursors.advance("10010", products.CURSOR, (NOW - timedelta(hours=2)).isoformat(), cursor.version)
        products.sync_products(ctx)
    assert ctx.store.product_effects == effects == 5


def test_concurrent_runs_send_each_product_and_move_the_cursor_consistently():
    ctx = context()
    start_cursor_at(ctx, NOW - timedelta(days=15))
    for n in range(30):
        ctx.jst.add_sku(f"A-{n}", NOW - timedelta(days=n % 14, minutes=5))
    runs = [threading.Thread(target=products.sync_products, args=(ctx,)) for _ in range(4)]
    for r in runs:
        r.start()
    for r in runs:
        r.join(10)
    assert len(ctx.store.products) == 30 and ctx.store.product_effects == 30
    assert ctx.cursors.get("10010", products.CURSOR).value == NOW.isoformat()


def waiting(ctx):
    return {item["sku_id"]: item["error"] for item in products.set_aside_products(ctx)}


def replay_letters(ctx):
    """The operator's `o2o dlq replay`: every letter back on the retry queue, then drained."""
    letters, ctx.queue.dead = ctx.queue.dead, []
    ctx.queue.queued.extend((letter.envelope.replayed(), 0) for letter in letters)
    drain_retries(ctx)


def test_an_item_the_store_refuses_is_set_aside_without_blocking_the_rest_and_replayed_after_the_fix():
    ctx = context()
    for n in range(4):
        ctx.jst.add_sku(f"A-{n}", HOUR_AGO)
    ctx.store.refuse_items["A-2"] = "category 不存在"
    summary = products.sync_products(ctx)
    assert (summary["sent"], summary["failed"], summary["parked"]) == (3, 1, 1)
    assert set(ctx.store.products) == {"A-0", "A-1", "A-3"}
    assert "category 不存在" in waiting(ctx)["A-2"]
    [letter] = ctx.queue.dead
    assert letter.envelope.command == products.SEND_AGAIN and "category 不存在" in letter.reason
    assert "product.sync_failed" in ctx.timeline.steps("A-2")

    ctx.jst.add_sku("A-2", HOUR_AGO + timedelta(minutes=1))  # read again by the next run: not parked twice
    ctx.now = lambda: NOW + timedelta(minutes=30)
    products.sync_products(ctx)
    assert len(ctx.queue.dead) == 1

    del ctx.store.refuse_items["A-2"]  # fixed at the store; the operator replays the letter
    replay_letters(ctx)
    assert "A-2" in ctx.store.products and waiting(ctx) == {}
    assert "product.synced" in ctx.timeline.steps("A-2")


def test_a_batch_refused_whole_is_split_so_only_the_bad_item_fails():
    ctx = context()
    for n in range(9):
        ctx.jst.add_sku(f"A-{n}", HOUR_AGO)
    ctx.store.reject_batches_with = {"A-4"}
    summary = products.sync_products(ctx)
    assert (summary["sent"], summary["failed"]) == (8, 1)
    assert list(waiting(ctx)) == ["A-4"]


def test_items_jst_gives_without_a_name_or_with_a_negative_price_are_set_aside_not_sent():
    ctx = context()
    ctx.jst.add_sku("A-1", HOUR_AGO, name="")
    ctx.jst.add_sku("A-2", HOUR_AGO, cost_price="-3")
    ctx.jst.add_sku("A-3", HOUR_AGO)
    summary = products.sync_products(ctx)
    assert (summary["sent"], summary["failed"]) == (1, 2)
    errors = waiting(ctx)
    assert "no name" in errors["A-1"] and "cost_price" in errors["A-2"]


def test_a_store_outage_queues_the_batch_for_the_retry_worker():
    ctx = context()
    ctx.jst.add_sku("A-1", HOUR_AGO)
    ctx.store.faults = Faults(1.0)
    summary = products.sync_products(ctx)
    assert (summary["failed"], summary["queued"]) == (1, 1) and not ctx.queue.dead
    ctx.store.faults = Faults()
    drain_retries(ctx)
    assert "A-1" in ctx.store.products


def test_failures_an_earlier_version_recorded_are_sent_once_more_and_forgotten():
    ctx = context()
    ctx.jst.add_sku("A-1", HOUR_AGO)
    [product] = ctx.erp.changed_products(HOUR_AGO - timedelta(minutes=1), NOW, by_style=False)
    ctx.records.put("10010", products.LEGACY_FAILED, "A-1", {**product.record, "error": "old", "attempts": 3})
    start_cursor_at(ctx, NOW)
    summary = products.sync_products(ctx)
    assert summary["legacy_failures_sent_again"] == 1 and "A-1" in ctx.store.products
    assert ctx.records.list("10010", products.LEGACY_FAILED) == []


def test_thirty_percent_transient_faults_converge():
    jst, store = FakeJst(Faults(0.3, seed=3)), FakeStore(Faults(0.3, lost_answers=0.1, seed=4))
    ctx = context(jst=jst, store=store)
    start_cursor_at(ctx, NOW - timedelta(days=30))
    for n in range(250):
        jst.add_sku(f"A-{n:03d}", NOW - timedelta(days=n % 29, minutes=5))
    for run in range(40):
        ctx.now = lambda run=run: NOW + timedelta(minutes=run)
        try:
            products.sync_products(ctx)
        except Exception:  # noqa: BLE001 - a JST fault fails the run; the cursor says where to resume
            pass
        try:
            drain_retries(ctx)
        except Exception:  # noqa: BLE001 - a retry that failed again is queued again
            pass
        if len(store.products) == 250 and not ctx.queue.queued:
            break
    assert len(store.products) == 250 and store.product_effects == 250
    assert waiting(ctx) == {} and not ctx.queue.dead
    assert jst.faults.injected > 0 and store.faults.injected > 0


def test_backfill_reports_progress_per_window_and_hands_over_to_the_hourly_cursor():
    ctx = context()
    for days in (40, 20, 2):
        ctx.jst.add_sku(f"D{days}-1", NOW - timedelta(days=days))
    lines = []
    summary = products.backfill(ctx, NOW - timedelta(days=45), progress=lambda step: lines.append(products.progress_line(step)))
    assert summary["windows"] == 7 and summary["sent"] == 3 and len(lines) == 7
    assert lines[0].startswith("window 1/7 ") and lines[-1].startswith("window 7/7 ")
    assert ctx.cursors.get("10010", products.CURSOR).value == NOW.isoformat()
    assert ctx.jst.windows and all(e - b <= timedelta(days=7) for b, e in ctx.jst.windows)


def test_backfill_stops_early_when_the_time_is_up_and_says_so():
    ctx = context()
    ctx.time_left = lambda: 1
    summary = products.backfill(ctx, NOW - timedelta(days=30))
    assert summary["stopped_early"] and summary["windows"] == 0
    assert ctx.cursors.get("10010", products.CURSOR) is None
