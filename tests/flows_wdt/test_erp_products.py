"""W4: the backfill creates the goods the ERP created, a month a window; the hourly run
updates only 零售价, 货品名称 and 规格条码 of products the store already has."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from o2o_bridge.flows import erp_products
from o2o_bridge.shanghai_time import SHANGHAI


def product(pos, sku):
    return pos.state.merchants["10030"].products.get(sku)


def test_backfill_creates_new_goods_in_one_month_windows_and_leaves_existing_ones(ctx, sandbox, pos):
    fields = ("name", "barcode", "size", "retail_price", "brand", "category")
    before = {k: product(pos, "PIL-STD").get(k) for k in fields}
    lines = []
    summary = erp_products.backfill(ctx, datetime(2026, 10, 1, tzinfo=SHANGHAI), progress=lines.append)
    windows = [c["params"] for c in sandbox.calls("goods_query.php")]
    spans = [datetime.fromisoformat(w["end_time"]) - datetime.fromisoformat(w["start_time"]) for w in windows]
    assert max(spans) <= timedelta(days=30) and summary["windows"] == len(lines) >= 3
    assert summary["created"] == 1  # BLK-150: the pillows are already in the store system
    blanket = product(pos, "BLK-150")
    assert (blanket["name"], blanket["barcode"], blanket["category"], blanket["size"]) == \
        ("珊瑚绒毯", "6911000000021", "床品", "150x200")
    assert {k: product(pos, "PIL-STD").get(k) for k in fields} == before  # same name in both systems: nothing changed


def test_the_hourly_run_updates_price_name_and_barcode_only_and_creates_nothing(ctx, sandbox, pos):
    pos.state.merchants["10030"].products["PIL-STD"]["brand"] = "门店品牌"
    sandbox.put_goods(goods_no="PIL", goods_name="记忆棉枕 Pro", brand_name="ERP品牌",
                      spec_list=[{"spec_no": "PIL-STD", "retail_price": 219, "barcode": "6911000000099"}])
    sandbox.put_goods(goods_no="NEW", goods_name="新品", spec_list=[{"spec_no": "NEW-1", "retail_price": 9}])
    summary = erp_products.sync_erp_products(ctx)
    pil = product(pos, "PIL-STD")
    assert (pil["name"], pil["barcode"], pil["retail_price"]) == ("记忆棉枕 Pro", "6911000000099", "219.0000")
    assert pil["brand"] == "门店品牌"  # not one of the three fields
    assert product(pos, "NEW-1") is None and summary["sent"] >= 2
    # The next hour reads from the cursor (10 minutes of overlap): nothing is changed twice.
    ctx.now = lambda: datetime.now(timezone.utc) + timedelta(hours=1)
    before = {sku: dict(p) for sku, p in pos.state.merchants["10030"].products.items()}
    again = erp_products.sync_erp_products(ctx)
    assert again["created"] == 0 and pos.state.merchants["10030"].products == before
