"""JST as the tenant's ERP (ports.Erp): store stock counted into the 店加线下仓, and the stock
JST holds for the store warehouses (S4e).

Exactly once: each count upload carries a unique ``so_id`` (the caller's ``upload_id``); JST
refuses a repeated so_id with code 160 "already exists", which means the first was taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator, Literal, Mapping, Sequence

from ...errors import ConfigurationError, PermanentError, TransientError
from ...ports.erp import (ErpInfo, ErpProduct, ErpRefused, OnlineOutbound, OutboundConfirmation, OutboundPage,
                          StoreBooking, StoreCount, StoreStockMove)
from ...ports.state import MalformedRow
from ..paging import mapped_or_malformed
from . import mappers
from ...ports.warehouse import SkuQty
from .warehouse import MAX_OTHER_INOUT_LINES, JstStock, is_store_warehouse

if TYPE_CHECKING:
    from ...tenant import Tenant
    from .port import JstApi

MAX_STOCK_ITEMS = 500  # /open/jushuitan/inventoryv2/upload items per call
# /open/orders/wms/sent/upload rows per call at most. JST documents no maximum; the JST sandbox
# and JstLimits.wms_sent_upload_batch (which the adapter splits by) keep to 50, and a tenant may
# send fewer (``jushuitan.confirmations_per_call``).
MAX_CONFIRMATIONS = 50


class JstErp(JstStock):
    def __init__(self, api: "JstApi", tenant: "Tenant") -> None:
        super().__init__(api, tenant, lambda mapping: is_store_warehouse(tenant, mapping))
        section = tenant.jushuitan
        self.info = ErpInfo(system="jst", display_name="JST", virtual_warehouse=str(section.offline_wms_co_id),
                            max_stock_items_per_upload=MAX_STOCK_ITEMS,
                            calls_per_second=section.rate_limit.per_second,
                            max_document_lines=MAX_OTHER_INOUT_LINES,
                            max_confirmations_per_call=min(MAX_CONFIRMATIONS, section.confirmations_per_call))

    # --- S1 ------------------------------------------------------------------------------------
    def online_outbound_pages(self, since: str | None, *,
                              only: Literal["waiting", "cancelled"] | None = None) -> Iterator[OutboundPage]:
        # JST's status filter takes one status: the cancelled ones are two scans, one after the other.
        statuses = {None: (None,), "waiting": (mappers.WAITING,), "cancelled": mappers.CANCELLED_AT_JST}[only]
        for number, status in enumerate(statuses, 1):
            pages = self.api.iter_sales_outbound_pages(start_ts=int(since or 0), status=status,
                                                      wms_co_id=self.tenant.jushuitan.offline_wms_co_id)
            try:
                for page in pages:
                    yield OutboundPage(self._outbounds(page.records), str(page.next_ts),
                                       page.last and number == len(statuses))
            finally:
                close = getattr(pages, "close", None)
                if close is not None:
                    close()

    def cursor_at(self, outbound_id: str) -> str | None:
        found = self.api.sales_outbounds_by_ids([int(outbound_id)]) if outbound_id.isdigit() else []
        return str(found[0].ts) if found and getattr(found[0], "ts", None) is not None else None

    def find_online_outbound(self, outbound_id: str) -> OnlineOutbound | None:
        found = self.api.sales_outbounds_by_ids([int(outbound_id)]) if outbound_id.isdigit() else []
        if not found:
            return None
        outbound = self._outbounds(found[:1])[0]
        if isinstance(outbound, MalformedRow):
            raise PermanentError(f"JST outbound {outbound_id} cannot be read: {outbound.problem}")
        return outbound

    def _outbounds(self, rows: Sequence[Any]) -> "list[OnlineOutbound | MalformedRow]":
        """One JST answer's outbounds in the bridge's terms. 货到付款: an outbound that does not
        carry the COD flag or what was paid online is read with its order (one order query for
        the whole answer), so a COD order reaches the store with the amount to collect."""
        cod_field, pickup_field = self.tenant.order_centre.cod_field, self.tenant.routing.pickup_store_field
        lacking = [row.o_id for row in rows if self.tenant.order_centre.cod_from_order
                   and not isinstance(row, MalformedRow) and mappers.lacks_cod_terms(row, cod_field)]
        orders = {order.o_id: order for order in self.api.orders_by_ids(lacking)} if lacking else {}
        return [_outbound_or_malformed(row, pickup_store_field=pickup_field, cod_field=cod_field,
                                       order=orders.get(getattr(row, "o_id", None))) for row in rows]

    def confirm_online_outbound(self, outbound_id: str, *, how: str, carrier_code: str | None = None,
                                tracking_no: str | None = None) -> dict[str, Any]:
        result = self.confirm_online_outbounds([OutboundConfirmation(outbound_id, how, carrier_code,  # type: ignore[arg-type]
                                                                     tracking_no)])[outbound_id]
        if isinstance(result, Exception):
            raise result
        return result

    def confirm_online_outbounds(self, confirmations: Sequence[OutboundConfirmation]
                                 ) -> dict[str, dict[str, Any] | PermanentError]:
        """wms/sent/upload, ``MAX_CONFIRMATIONS`` rows a call, each with the carrier mapped
        through the tenant's logistics table, or the tenant's pickup logistics code and no
        tracking number. JST answers each row on its own; a refused row is checked against
        JST's outbound (one query for all of them): already ``Confirmed`` means an earlier try
        whose answer was lost confirmed it, which is success."""
        from .models import WmsSent

        results: dict[str, dict[str, Any] | PermanentError] = {}
        rows, sent = [], {}
        for confirmation in confirmations:
            outbound_id = confirmation.outbound_id
            try:
                lc_id, lc_name, l_id = self._logistics_for(confirmation.how, confirmation.carrier_code,
                                                           confirmation.tracking_no)
            except ConfigurationError as exc:  # this outbound's carrier; the others go on
                results[outbound_id] = exc
                continue
            rows.append(WmsSent(io_id=int(outbound_id), lc_id=lc_id, l_id=l_id, lc_name=lc_name,
                                wms_co_id=self.tenant.jushuitan.offline_wms_co_id, is_un_lid=True if not l_id else None))
            sent[outbound_id] = {"lc_id": lc_id, "l_id": l_id, "how": confirmation.how}
        answers = self.api.upload_wms_sent(rows) if rows else []
        rows_answered = {str(r.get("io_id")): r for a in answers if isinstance(a, dict) for r in (a.get("datas") or [])}
        refused = {outbound_id: row for outbound_id, row in rows_answered.items()
                   if outbound_id in sent and not row.get("issuccess", True)}
        confirmed_before = {str(ob.io_id) for ob in self.api.sales_outbounds_by_ids([int(i) for i in refused])
                            if ob.status == "Confirmed"} if refused else set()
        for outbound_id, confirmed in sent.items():
            if outbound_id in refused and outbound_id not in confirmed_before:
                results[outbound_id] = ErpRefused(f"JST refused to confirm outbound {outbound_id}: "
                                                  f"{refused[outbound_id].get('msg')}")
            else:
                results[outbound_id] = confirmed
        return results

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
    def upload_store_stock(self, upload_id: str, items: Sequence[SkuQty], *, remark: str,
                           riders: Any = None) -> bool:
        return self._count(self.tenant.jushuitan.offline_wms_co_id, upload_id, items, remark, riders) is None

    def _count(self, wms_co_id: int, upload_id: str, items: Sequence[SkuQty], remark: str,
               riders: Any = None) -> str | None:
        """盘点单 (inventoryv2): ``items`` replace JST's quantities of those SKUs, once per
        ``upload_id`` (JST so_id "<upload_id>-1"). Returns JST's io_id, or None when JST had it.

        ``type=check`` on a bin-managed warehouse (货位管理, ``jushuitan.bin_managed_wms_co_ids``)
        zeroes every SKU not sent, so there the counted quantities go as ``type=adjust`` by the
        difference to JST's current stock: only the SKUs counted change."""
        from .models import StockItem

        kind = "check"
        stock = [StockItem(sku_id=i.sku_id, qty=int(i.qty)) for i in items]
        if self.tenant.jushuitan.bin_managed(wms_co_id):
            kind = "adjust"
            current = {row.sku_id: int(row.qty) for row in self.api.inventory_of([i.sku_id for i in items],
                                                                                 wms_co_id=wms_co_id)}
            stock = [StockItem(sku_id=i.sku_id, qty=int(i.qty) - current.get(i.sku_id, 0)) for i in items
                     if int(i.qty) != current.get(i.sku_id, 0)]
            if not stock:
                return ""  # JST already shows what was counted
        try:
            # The adapter numbers the uploads of one call: one chunk gives "<prefix>-1", so the
            # prefix is the upload id itself and the JST so_id is "<upload_id>-1".
            answers = self.api.upload_inventory(wms_co_id=wms_co_id, so_id_prefix=upload_id, items=stock, type=kind,
                                                remark=remark, **({"riders": riders} if riders is not None else {}))
        except PermanentError as exc:
            if getattr(exc, "code", None) == 160 and not is_already_uploaded(exc):
                # 160 is also "内部保存失败" (internal save failure): worth another try.
                raise TransientError(str(exc)) from None
            if not is_already_uploaded(exc):
                raise
            return None
        data = answers[0] if answers and isinstance(answers[0], dict) else {}
        inner = (data.get("data") or {}) if isinstance(data.get("data"), dict) else {}
        return str((inner.get("data") or inner).get("io_id") or "")

    # --- ERP-owned store stock (stock.master: erp) ----------------------------------------------
    def store_warehouse(self, store_code: str) -> int:
        for mapping in self.tenant.warehouses:
            if mapping.pos_warehouse_code == store_code:
                return mapping.jst_wms_co_id
        raise ConfigurationError(
            f"store {store_code} has no JST warehouse: with stock.master erp every store needs one in the tenant's "
            f"warehouses ({{jst_wms_co_id: <its wms_co_id>, pos_warehouse_code: {store_code}}}); add it "
            "(o2o tenant put) and replay the dead letter")

    def book_store_move(self, move: StoreStockMove) -> StoreBooking:
        """A 零售单 / 零售退单 / one side of a 店店调拨 as a confirmed other in/out of the store's JST
        warehouse, keyed by ``doc_no`` (external_id). JST's open API has no retail (POS) document;
        an order in an offline shop would go through JST's order routing and be shipped again."""
        wms = self.store_warehouse(move.store_code)
        part = 4 if move.defective else 1  # 次品仓 for refunded goods that cannot be sold again
        accepted = self._other_inout(move.direction, wms, move.doc_no, move.lines, move.remark, part=part,
                                     confirm=True)
        return StoreBooking(accepted.warehouse_doc_id, str(wms), accepted.already_there)

    def book_store_count(self, count: StoreCount) -> StoreBooking:
        wms = self.store_warehouse(count.store_code)
        io_id = self._count(wms, count.count_no, count.counted, count.remark)
        return StoreBooking(io_id or "", str(wms), repeated=io_id is None)

    def changed_products(self, begin: datetime, end: datetime, *,
                         by_style: bool) -> list["ErpProduct | MalformedRow"]:
        """A row JST lists that cannot be read is a ``MalformedRow`` in its place (its raw is
        the product record ``product_again`` reads)."""
        if by_style:  # /open/mall/item/query: styles with their SKUs
            styles = self.api.query_mall_items(begin=begin, end=end)
            readable = [s for s in styles if not isinstance(s, MalformedRow)]
            # A style's SKUs come without 条形码, labels or custom fields: read those from the SKU
            # master (≤ 20 SKUs a call), so barcodes, only_label and attribute_fields work here too.
            details = {sku.sku_id: sku for sku in
                       self.api.skus_by_ids([sku.sku_id for style in readable for sku in style.skus])} if readable else {}
            found: list[ErpProduct | MalformedRow] = []
            for style in styles:
                read = mapped_or_malformed(STYLES, style, lambda s: mappers.products_of_style(s, details), "i_id")
                found.extend([_again_record(read, "style")] if isinstance(read, MalformedRow) else read)
            return found
        return [_again_record(mapped_or_malformed(SKUS, sku, mappers.product_of_sku, "sku_id"), "sku")
                for sku in self.api.query_skus(begin=begin, end=end)]

    def product_again(self, record: Mapping[str, Any]) -> ErpProduct:
        from pydantic import ValidationError

        try:
            return mappers.product_again(record)
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            raise PermanentError(f"the JST product row still cannot be read: {str(exc).splitlines()[0]}") from None

    def online_outbound_again(self, row: Mapping[str, Any]) -> OnlineOutbound:
        from pydantic import ValidationError

        from .models import SalesOutbound

        try:
            return mappers.online_outbound(SalesOutbound.model_validate(row), self.tenant.routing.pickup_store_field,
                                           cod_field=self.tenant.order_centre.cod_field)
        except (ValidationError, ValueError, TypeError) as exc:
            raise PermanentError(f"the JST outbound row still cannot be read: {str(exc).splitlines()[0]}") from None


SKUS, STYLES = "JST /open/sku/query", "JST /open/mall/item/query"


def _again_record(read: Any, source: str) -> Any:
    """A product row that cannot be read, kept as the record ``product_again`` reads it from."""
    if isinstance(read, MalformedRow):
        return MalformedRow(read.source, {"source": source, "row": read.raw}, read.problem, read.key, read.ts)
    return read


def _outbound_or_malformed(row: Any, *, pickup_store_field: str = "pickup_store_code",
                           cod_field: str = "is_cod", order: Any = None) -> "OnlineOutbound | MalformedRow":
    """A JST outbound in the bridge's terms, or (a row the model or the mapping refuses) a
    ``MalformedRow`` the poll parks, so one bad row does not stop the page."""
    if isinstance(row, MalformedRow):
        return row
    try:
        return mappers.online_outbound(row, pickup_store_field, cod_field=cod_field, order=order)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with this row, it is this row's
        return MalformedRow("JST /open/orders/out/simple/query", row.model_dump(mode="json"),
                            f"{type(exc).__name__}: {exc}"[:500], str(row.io_id), row.ts)


def is_already_uploaded(exc: Exception) -> bool:
    code = getattr(exc, "code", None)
    message = f"{getattr(exc, 'jst_msg', '')} {exc}"
    return code == 160 and ("已存在" in message or "exist" in message.lower() or "重复" in message)
