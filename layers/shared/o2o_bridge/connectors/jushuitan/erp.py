"""JST as the tenant's ERP (ports.Erp): store stock counted into the 店加线下仓, and the stock
JST holds for the store warehouses (S4e).

Exactly once: each count upload carries a unique ``so_id`` (the caller's ``upload_id``); JST
refuses a repeated so_id with code 160 "already exists", which means the first was taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ...errors import PermanentError, TransientError
from ...ports.erp import ErpInfo, ErpProduct
from . import mappers
from ...ports.warehouse import SkuQty
from .warehouse import JstStock, is_store_warehouse

if TYPE_CHECKING:
    from ...tenant import Tenant
    from .port import JstApi

MAX_STOCK_ITEMS = 500  # /open/jushuitan/inventoryv2/upload items per call


class JstErp(JstStock):
    def __init__(self, api: "JstApi", tenant: "Tenant") -> None:
        super().__init__(api, tenant, lambda mapping: is_store_warehouse(tenant, mapping))
        section = tenant.jushuitan
        self.info = ErpInfo(system="jst", display_name="JST", virtual_warehouse=str(section.offline_wms_co_id),
                            max_stock_items_per_upload=MAX_STOCK_ITEMS,
                            calls_per_second=section.rate_limit.per_second)

    def upload_store_stock(self, upload_id: str, items: Sequence[SkuQty], *, remark: str) -> bool:
        from .models import StockItem

        stock = [StockItem(sku_id=i.sku_id, qty=int(i.qty)) for i in items]
        try:
            # The adapter numbers the uploads of one call: one chunk gives "<prefix>-1", so the
            # prefix is the upload id itself and the JST so_id is "<upload_id>-1".
            self.api.upload_inventory(wms_co_id=self.tenant.jushuitan.offline_wms_co_id, so_id_prefix=upload_id,
                                      items=stock, type="check", remark=remark)
        except PermanentError as exc:
            if getattr(exc, "code", None) == 160 and not is_already_uploaded(exc):
                # 160 is also "内部保存失败" (internal save failure): worth another try.
                raise TransientError(str(exc)) from None
            if not is_already_uploaded(exc):
                raise
            return True
        return False

    def changed_products(self, begin: datetime, end: datetime, *, by_style: bool) -> list[ErpProduct]:
        if by_style:  # /open/mall/item/query: styles with their SKUs
            return [p for style in self.api.query_mall_items(begin=begin, end=end)
                    for p in mappers.products_of_style(style)]
        return [mappers.product_of_sku(sku) for sku in self.api.query_skus(begin=begin, end=end)]

    def product_again(self, record: Mapping[str, Any]) -> ErpProduct:
        return mappers.product_again(record)


def is_already_uploaded(exc: Exception) -> bool:
    code = getattr(exc, "code", None)
    message = f"{getattr(exc, 'jst_msg', '')} {exc}"
    return code == 160 and ("已存在" in message or "exist" in message.lower() or "重复" in message)
