"""The demo merchant of local/tenants/demo.yaml, as the 店+ sandbox holds it."""

from __future__ import annotations

from typing import Any

DEMO_ENT_ID = "10010"
DEMO_API_KEY = "demo-pos-api-key"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"

DEMO_SKUS = ("SKU-RED-M", "SKU-RED-L", "SKU-BLUE-M", "SKU-BLUE-L")


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
