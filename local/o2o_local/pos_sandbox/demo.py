"""The demo merchants of local/tenants/demo.yaml (JST) and local/tenants/wdt-demo.yaml
(旺店通), as the 店+ sandbox holds them."""

from __future__ import annotations

from typing import Any

DEMO_ENT_ID = "10010"
DEMO_API_KEY = "demo-pos-api-key"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"

DEMO_SKUS = ("SKU-RED-M", "SKU-RED-L", "SKU-BLUE-M", "SKU-BLUE-L")

# The 旺店通 demo merchant: its stores' warehouses in 旺店通 are S101 / S102 (仓库编号 = store code).
WDT_DEMO_ENT_ID = "10030"
WDT_DEMO_WEBHOOK_SECRET = "demo-wdt-webhook-secret"
WDT_DEMO_API_KEY = "demo-wdt-pos-api-key"  # an API key belongs to one merchant


def demo_seed() -> dict[str, Any]:
    """Stores S001 南京西路店 and S002 新街口店, warehouses 10000 / 10001 / 2 (消退仓), a few SKUs with
    store stock, their products. Orders, returns and documents come from emitted events."""
    stock = {"S001": {"SKU-RED-M": 5, "SKU-RED-L": 3, "SKU-BLUE-M": 0, "SKU-BLUE-L": 2},
             "S002": {"SKU-RED-M": 2, "SKU-RED-L": 0, "SKU-BLUE-M": 6, "SKU-BLUE-L": 1}}
    return {"merchants": [{
        "ent_id": DEMO_ENT_ID,
        "api_key": DEMO_API_KEY,
        "webhook_secret": DEMO_WEBHOOK_SECRET,
        "stores": [{"code": "S001", "name": "南京西路店"}, {"code": "S002", "name": "新街口店"}],
        "warehouses": ["10000", "10001", "2"],  # 2: the 消退仓 (销退仓) the guide has the merchant create
        "store_stock": [{"store_code": store, "sku_id": sku, "qty": qty, "version": 1}
                        for store, levels in stock.items() for sku, qty in levels.items()],
        "products": [{"spu_code": "TS001", "sku_code": sku, "name": f"T恤 {sku}", "color": sku.split("-")[1],
                      "size": sku.split("-")[2]} for sku in DEMO_SKUS],
    }]}


def wdt_demo_merchant() -> dict[str, Any]:
    """The 旺店通 demo merchant, seeded on request (``sandbox.seed(wdt_demo_merchant())``; the
    demo's 旺店通 step does it) so that the JST demo keeps a sandbox of one merchant. Stores S101 徐家汇店 and S102 五角场店 with the 旺店通 demo goods (记忆棉枕 PIL-STD /
    PIL-LOW; the blanket BLK-150 is not in the store system yet)."""
    stock = {"S101": {"PIL-STD": 8}, "S102": {"PIL-LOW": 5}}
    return {
        "ent_id": WDT_DEMO_ENT_ID,
        "api_key": WDT_DEMO_API_KEY,
        "webhook_secret": WDT_DEMO_WEBHOOK_SECRET,
        "stores": [{"code": "S101", "name": "徐家汇店"}, {"code": "S102", "name": "五角场店"}],
        "warehouses": [],
        "store_stock": [{"store_code": store, "sku_id": sku, "qty": qty, "version": 1}
                        for store, levels in stock.items() for sku, qty in levels.items()],
        "products": [{"spu_code": "PIL", "sku_code": "PIL-STD", "name": "记忆棉枕", "size": "标准",
                      "barcode": "6911000000011", "retail_price": "199", "brand": "示例"},
                     {"spu_code": "PIL", "sku_code": "PIL-LOW", "name": "记忆棉枕", "size": "低枕",
                      "barcode": "6911000000012", "retail_price": "189", "brand": "示例"}],
    }
