"""JST as the tenant's ERP (ports.Erp): store stock counted into the 店加线下仓, and the stock
JST holds for the store warehouses (S4e).

Exactly once: each count upload carries a unique ``so_id`` (the caller's ``upload_id``); JST
refuses a repeated so_id with code 160 "already exists", which means the first was taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ...errors import ConfigurationError, PermanentError, TransientError
from ...ports.erp import ErpInfo, ErpProduct, ErpRefused, OnlineOutbound, OutboundPage
from ...ports.state import MalformedRow
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

    # --- S1 ------------------------------------------------------------------------------------
    def online_outbound_pages(self, since: str | None) -> Iterator[OutboundPage]:
        pages = self.api.iter_sales_outbound_pages(start_ts=int(since or 0),
                                                  wms_co_id=self.tenant.jushuitan.offline_wms_co_id)
        try:
            for page in pages:
                yield OutboundPage([_outbound_or_malformed(ob) for ob in page.records], str(page.next_ts), page.last)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def confirm_online_outbound(self, outbound_id: str, *, how: str, carrier_code: str | None = None,
                                tracking_no: str | None = None) -> dict[str, Any]:
        """wms/sent/upload with the carrier mapped through the tenant's logistics table, or the
        tenant's pickup logistics code and no tracking number."""
        from .models import WmsSent

        lc_id, lc_name, l_id = self._logistics_for(how, carrier_code, tracking_no)
        row = WmsSent(io_id=int(outbound_id), lc_id=lc_id, l_id=l_id, lc_name=lc_name,
                      wms_co_id=self.tenant.jushuitan.offline_wms_co_id, is_un_lid=True if not l_id else None)
        answers = self.api.upload_wms_sent([row])
        results = [r for a in answers if isinstance(a, dict) for r in (a.get("datas") or [])]
        mine = next((r for r in results if str(r.get("io_id")) == outbound_id), None)
        if mine is not None and not mine.get("issuccess", True):
            # Refused: maybe because an earlier try (whose answer was lost) already confirmed it.
            current = self.api.sales_outbounds_by_ids([int(outbound_id)])
            if not any(ob.status == "Confirmed" for ob in current):
                raise ErpRefused(f"JST refused to confirm outbound {outbound_id}: {mine.get('msg')}")
        return {"lc_id": lc_id, "l_id": l_id, "how": how}

    def _logistics_for(self, how: str, carrier_code: str | None, tracking_no: str | None) -> tuple[str, str | None, str]:
        tenant = self.tenant
        if how == "picked_up":
            if not tenant.routing.pickup_lc_id:
                raise ConfigurationError("the tenant has no routing.pickup_lc_id: set the JST logistics code for "
                                         "store pickups")
            name = next((m.name for m in tenant.logistics if m.jst_lc_id == tenant.routing.pickup_lc_id), "门店自提")
            return tenant.routing.pickup_lc_id, name, ""
        for mapping in tenant.logistics:
            if mapping.pos_code == carrier_code:
                return mapping.jst_lc_id, mapping.name, tracking_no or ""
        raise ConfigurationError(f"carrier {carrier_code!r} of the store is not in the tenant's logistics table "
                                 "(pos_code -> jst_lc_id)")

    # --- S4 ------------------------------------------------------------------------------------
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

    def online_outbound_again(self, row: Mapping[str, Any]) -> OnlineOutbound:
        from pydantic import ValidationError

        from .models import SalesOutbound

        try:
            return mappers.online_outbound(SalesOutbound.model_validate(row))
        except (ValidationError, ValueError, TypeError) as exc:
            raise PermanentError(f"the JST outbound row still cannot be read: {str(exc).splitlines()[0]}") from None


def _outbound_or_malformed(row: Any) -> "OnlineOutbound | MalformedRow":
    """A JST outbound in the bridge's terms, or (a row the model or the mapping refuses) a
    ``MalformedRow`` the poll parks, so one bad row does not stop the page."""
    if isinstance(row, MalformedRow):
        return row
    try:
        return mappers.online_outbound(row)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with this row, it is this row's
        return MalformedRow("JST /open/orders/out/simple/query", row.model_dump(mode="json"),
                            f"{type(exc).__name__}: {exc}"[:500], str(row.io_id), row.ts)


def is_already_uploaded(exc: Exception) -> bool:
    code = getattr(exc, "code", None)
    message = f"{getattr(exc, 'jst_msg', '')} {exc}"
    return code == 160 and ("已存在" in message or "exist" in message.lower() or "重复" in message)
