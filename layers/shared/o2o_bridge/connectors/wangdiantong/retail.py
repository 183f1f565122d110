"""The retail ERP port over 旺店通 企业版 (``ports.retail.RetailErp``).

- Sales go to ``trade_push.php`` of the tenant's POS shop, at most 50 a call and at most 30
  of one customer (``buyer_nick``) a call, as the interface requires. The sale no. is the
  order's ``tid``: 旺店通 books a repeated tid as a change, never as a second order. When
  a call is refused for good, its sales are pushed one by one so that only the refused
  ones are reported and the others are booked.
- Store documents go to ``stockin_order_push.php`` / ``stockout_order_push.php`` as 其他入库
  / 其他出库 with ``outer_no`` = the tenant's prefix + the store's document no., approved at
  once; a repeated outer_no ("already exists") is the same document, already booked.
- Counts go to ``stock_sync_by_pd.php`` (the counted quantity overwrites).
- Reads map the stores' warehouses (仓库编号, default the store code) back to stores and
  drop what the bridge booked itself and the document types the tenant excludes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

from ...errors import ConfigurationError, PermanentError
from ...ports.retail import (ErpDocument, RetailProduct, ErpStock, GoodsMovement, SaleBooking, SkuQty, StockCount,
                           StoreSale)
from ...ports.state import MalformedRow
from ..paging import malformed, mapped_or_malformed
from . import mappers, models as m
from .api import WdtApi
from .errors import WdtDuplicate

MAX_SAME_BUYER = 30  # trade_push: at most 30 orders of one buyer_nick a call

MOVEMENT_LABELS = {"refund": "门店退货入库", "reversal": "冲单", "purchase_in": "采购入库", "import_in": "入库单导入",
                   "exchange_out": "换货出库", "manual_out": "出库开单"}


def _with_direction(row: MalformedRow, direction: str) -> MalformedRow:
    return MalformedRow(row.source, {"direction": direction, "row": row.raw}, row.problem, row.key, row.ts)


@dataclass
class WdtRetailErp:
    api: WdtApi
    tenant: Any

    @property
    def section(self) -> Any:
        return self.tenant.wangdiantong

    def _store(self, code: str) -> Any:
        store = next((s for s in self.tenant.stores if s.code == code), None)
        if store is None:
            raise ConfigurationError(f"store {code} is not one of tenant {self.tenant.ent_id}'s stores")
        return store

    def _stores_by_warehouse(self) -> dict[str, str]:
        return {s.wdt_warehouse: s.code for s in self.tenant.stores}

    def outer_no(self, doc_no: str) -> str:
        return f"{self.section.documents.own_outer_no_prefix}{doc_no}"

    # --- W1 ---------------------------------------------------------------------------------
    def book_sales(self, sales: Sequence[StoreSale]) -> list[SaleBooking]:
        bookings: list[SaleBooking] = []
        for batch in self._batches(list(sales)):
            trades = [mappers.sale_to_trade(s, self.section, self._store(s.store_code)) for s in batch]
            try:
                self.api.push_trades(self.section.shop_no, trades, strict=self.section.strict_trade_push)
                bookings.extend(SaleBooking(s.sale_no, True) for s in batch)
            except PermanentError as refused:
                if len(batch) == 1:
                    bookings.append(SaleBooking(batch[0].sale_no, False, str(refused)))
                    continue
                bookings.extend(self.book_sales_one_by_one(batch))
        return bookings

    def book_sales_one_by_one(self, sales: Sequence[StoreSale]) -> list[SaleBooking]:
        bookings = []
        for sale in sales:
            bookings.extend(self.book_sales([sale]))
        return bookings

    def _batches(self, sales: list[StoreSale]) -> list[list[StoreSale]]:
        size = self.api.limits.trades_per_push
        batches: list[list[StoreSale]] = []
        current: list[StoreSale] = []
        buyers: Counter[str] = Counter()
        for sale in sales:
            nick = mappers.buyer_nick(sale)
            if len(current) >= size or buyers[nick] >= MAX_SAME_BUYER:
                batches.append(current)
                current, buyers = [], Counter()
            current.append(sale)
            buyers[nick] += 1
        if current:
            batches.append(current)
        return batches

    # --- W3 ---------------------------------------------------------------------------------
    def book_count(self, count: StockCount) -> str:
        return self.set_stock(count.store_code, count.lines, reference=f"门店盘点 {count.count_no}")

    def set_stock(self, store_code: str, lines: Sequence[SkuQty], *, reference: str) -> str:
        warehouse = self._store(store_code).wdt_warehouse
        answers = self.api.count_stock(warehouse_no=warehouse, remark=reference,
                                       lines=[m.CountLine(spec_no=l.sku_id, stock_num=Decimal(l.qty)) for l in lines])
        return ",".join(str(a.get("pd_no") or a.get("order_no") or "") for a in answers).strip(",")

    def book_movement(self, movement: GoodsMovement) -> str:
        warehouse = self._store(movement.store_code).wdt_warehouse
        outer_no = self.outer_no(movement.doc_no)
        remark = " ".join(p for p in (MOVEMENT_LABELS.get(movement.kind, movement.kind), movement.doc_no,
                                      movement.remark) if p)
        try:
            if movement.direction == "in":
                answer = self.api.push_stockin(m.StockinInfo(
                    outer_no=outer_no, warehouse_no=warehouse, remark=remark,
                    goods_list=[m.StockinLine(spec_no=l.sku_id, stockin_num=Decimal(l.qty)) for l in movement.lines]))
            else:
                answer = self.api.push_stockout(m.StockoutInfo(
                    outer_no=outer_no, warehouse_no=warehouse, remark=remark,
                    detail_list=[m.StockoutLine(spec_no=l.sku_id, num=Decimal(l.qty)) for l in movement.lines]))
        except WdtDuplicate:
            return f"already booked as {outer_no}"
        return str(answer.get("order_no") or answer.get("stockin_no") or answer.get("stockout_no") or outer_no)

    # --- W2 ---------------------------------------------------------------------------------
    def documents(self, begin: datetime, end: datetime) -> list["ErpDocument | MalformedRow"]:
        """A document of a store's warehouse that cannot be read (or mapped) is a ``MalformedRow``
        in its place (raw: the direction and the row, as ``document_again`` reads it)."""
        stores = self._stores_by_warehouse()
        found: list[ErpDocument | MalformedRow] = []
        for direction, rows in (("in", self.api.query_stockins(begin=begin, end=end)),
                                ("out", self.api.query_stockouts(begin=begin, end=end))):
            for doc in rows:
                if isinstance(doc, MalformedRow):
                    if doc.raw.get("warehouse_no") in stores or not doc.raw.get("warehouse_no"):
                        found.append(_with_direction(doc, direction))
                    continue
                try:
                    mapped = self._document(doc, direction, stores)
                except Exception as exc:  # noqa: BLE001 - this row's problem, not the poll's
                    found.append(_with_direction(malformed(f"旺店通 stock-{direction} document",
                                                           doc.model_dump(mode="json"), f"{type(exc).__name__}: {exc}",
                                                           "order_no"), direction))
                    continue
                if mapped is not None:
                    found.append(mapped)
        return found

    def _document(self, doc: Any, direction: str, stores: dict[str, Any]) -> ErpDocument | None:
        """The document as the stores get it, or None when it is not for them."""
        rules = self.section.documents
        excluded = rules.excluded_stockin_types if direction == "in" else rules.excluded_stockout_types
        store = stores.get(doc.warehouse_no)
        if store is None or (doc.outer_no or "").startswith(rules.own_outer_no_prefix):
            return None
        if (doc.order_type or "") in excluded or (doc.order_type_name or "") in rules.excluded_type_names:
            return None
        if rules.statuses and (doc.status or "") not in rules.statuses:
            return None
        mapped = mappers.to_document(doc, direction, store)
        if mapped.doc_type in rules.excluded_type_names or not mapped.lines:
            return None
        return mapped

    def document_again(self, row: dict[str, Any]) -> ErpDocument | None:
        """A document ``documents`` could not read, read again from its row (after the fix); None
        when it turns out not to be for the stores. Still unreadable: PermanentError."""
        from pydantic import ValidationError

        try:
            doc = m.StockDocument.model_validate(row["row"])
            return self._document(doc, row["direction"], self._stores_by_warehouse())
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            raise PermanentError(f"the 旺店通 document still cannot be read: {str(exc).splitlines()[0]}") from None

    # --- W4 / W5 ------------------------------------------------------------------------------
    def products(self, begin: datetime, end: datetime) -> list["RetailProduct | MalformedRow"]:
        """A goods row that cannot be read (or mapped) is a ``MalformedRow`` in place of its SKUs."""
        found: list[RetailProduct | MalformedRow] = []
        for goods in self.api.query_goods(begin=begin, end=end):
            read = mapped_or_malformed("旺店通 goods_query.php", goods, mappers.to_products, "goods_no")
            found.extend([read] if isinstance(read, MalformedRow) else read)
        return found

    def products_again(self, row: dict[str, Any]) -> list[RetailProduct]:
        """The SKUs of a goods row ``products`` could not read, read again (a replay after the fix)."""
        from pydantic import ValidationError

        try:
            return mappers.to_products(m.Goods.model_validate(row))
        except (ValidationError, ValueError, TypeError) as exc:
            raise PermanentError(f"the 旺店通 goods row still cannot be read: {str(exc).splitlines()[0]}") from None

    def products_of(self, sku_ids: Sequence[str]) -> list[RetailProduct]:
        wanted = set(sku_ids)
        found: dict[str, RetailProduct] = {}
        for sku in sorted(wanted):
            if sku in found:
                continue
            for goods in self.api.goods_of_spec(sku):
                for product in mappers.to_products(goods):
                    if product.sku_code in wanted:
                        found[product.sku_code] = product
        return list(found.values())

    def stock(self, begin: datetime, end: datetime) -> list["ErpStock | MalformedRow"]:
        """A store warehouse's row that cannot be read is a ``MalformedRow`` in its place."""
        stores = self._stores_by_warehouse()
        found: list[ErpStock | MalformedRow] = []
        for row in self.api.query_stock(begin=begin, end=end):
            if isinstance(row, MalformedRow):
                if row.raw.get("warehouse_no") in stores or not row.raw.get("warehouse_no"):
                    found.append(row)
            elif row.warehouse_no in stores:
                found.append(mapped_or_malformed("旺店通 stock_query.php", row,
                                                 lambda r: mappers.to_stock(r, stores[r.warehouse_no]), "spec_no"))
        return found

    def stock_again(self, row: dict[str, Any]) -> ErpStock | None:
        """A stock row ``stock`` could not read, read again (a replay after the fix); None if it
        is no store's."""
        from pydantic import ValidationError

        stores = self._stores_by_warehouse()
        try:
            read = m.StockRow.model_validate(row)
            return mappers.to_stock(read, stores[read.warehouse_no]) if read.warehouse_no in stores else None
        except (ValidationError, ValueError, TypeError) as exc:
            raise PermanentError(f"the 旺店通 stock row still cannot be read: {str(exc).splitlines()[0]}") from None
