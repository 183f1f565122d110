"""Demo of S7: JST's product master into 店+, first as a backfill, then the hourly sync
under each tenant option."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import yaml

from ..demo_support import DEMO_TENANT, ENT_ID, show

SHOWN = ("spu_code", "name", "color", "size", "barcode", "brand", "category", "cost_price", "tag_price",
         "retail_price", "attributes", "mount_category")


def run(demo) -> None:
    since = (date.today() - timedelta(days=20)).isoformat()
    show("First backfill: every SKU JST modified in the last 20 days, in windows of at most 7 days "
         "(options: auto-create, spec template 颜色尺码, year/season from other_1/other_2, mount category 服装)")
    demo.o2o("products", "backfill", "--since", since, "--tenant", ENT_ID)
    print_products(demo, ("TS001-WHT-M", "JN002-BLU-32"))

    show("Options changed: only items labelled 店加, no sale price, category only on first sync, no auto-create")
    use_options(demo, only_label="店加", sync_sale_price=False, category_once=True, auto_create=False)
    demo.jst_admin("POST", "/__admin__/seed", {"skus": [
        {**jst_sku(demo, "TS001-WHT-M"), "name": "纯棉T恤 新款", "sale_price": 109, "category": "上衣"},
        {**jst_sku(demo, "JN002-BLU-32"), "name": "直筒牛仔裤 新款"},  # not labelled 店加
        {"sku_id": "TS003-BLK-S", "i_id": "TS003", "name": "圆领卫衣", "properties_value": "黑色;S",
         "labels": "店加", "sale_price": 199, "cost_price": 80, "market_price": 259, "category": "卫衣"},
    ]})
    show("JST: TS001-WHT-M renamed, price 99 → 109, category T恤 → 上衣; JN002-BLU-32 renamed (no 店加 label); "
         "new TS003-BLK-S labelled 店加")
    demo.o2o("products", "sync", "--tenant", ENT_ID)
    print_products(demo, ("TS001-WHT-M", "JN002-BLU-32", "TS003-BLK-S"))
    show("→ TS001-WHT-M: new name, retail price and category kept by 店+; JN002-BLU-32 untouched (no label); "
         "TS003-BLK-S skipped (auto-create off)")

    show("Pull SPU (/open/mall/item/query), auto-create on, spec template 尺码颜色; one SKU JST gives without a name")
    use_options(demo, pull_spu=True, auto_create=True, spec_template="尺码颜色", only_label=None)
    demo.jst_admin("POST", "/__admin__/seed", {"skus": [
        {"sku_id": "SK004-M-GRY", "i_id": "SK004", "name": "百褶裙", "properties_value": "M;灰色", "sale_price": 159,
         "cost_price": 60, "market_price": 219, "category": "裙装", "other_1": "2027", "other_2": "春"},
        {"sku_id": "SK004-L-GRY", "i_id": "SK004", "name": "百褶裙", "properties_value": "L;灰色", "sale_price": 159,
         "cost_price": 60, "market_price": 219, "category": "裙装", "other_1": "2027", "other_2": "春"},
        {"sku_id": "BAD-001", "i_id": "BAD", "name": "", "properties_value": "红色;M", "sale_price": 10},
    ]})
    demo.o2o("products", "sync", "--tenant", ENT_ID, expect=None)
    print_products(demo, ("SK004-M-GRY", "SK004-L-GRY", "BAD-001"))
    show("The SKU without a name is recorded and retried each hour without holding up the rest:")
    demo.o2o("trace", "BAD-001")
    demo.o2o("products", "failed", "--tenant", ENT_ID)

    demo.o2o("tenant", "put", str(DEMO_TENANT))  # the demo tenant as it was


def use_options(demo, **options) -> None:
    doc = yaml.safe_load(DEMO_TENANT.read_text(encoding="utf-8"))
    doc["products"] = {**doc["products"], **options}
    path = Path(tempfile.mkdtemp()) / "demo-products.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    demo.o2o("tenant", "put", str(path))


def jst_sku(demo, sku_id: str) -> dict:
    row = next(s for s in demo.jst_admin("GET", "/__admin__/state/skus") if s["sku_id"] == sku_id)
    return {k: v for k, v in row.items() if k not in ("modified", "ts")}


def print_products(demo, sku_codes) -> None:
    merchant = demo.pos_admin("GET", f"/__admin__/state?ent_id={ENT_ID}")["data"]["merchants"][ENT_ID]
    for code in sku_codes:
        item = merchant["products"].get(code)
        if item is None:
            show(f"店+ product {code}: (none)")
            continue
        fields = " ".join(f"{k}={item.get(k)}" for k in SHOWN if item.get(k) not in (None, "", {}))
        show(f"店+ product {code}: {fields}")
