"""旺店通 ERP 企业版 as the tenant's ERP: the Erp port (ports/erp.py) where 旺店通 does what JST
does, and the RetailErp port (ports/retail.py) for what only 旺店通 does.

| port operation | 旺店通 interface |
|---|---|
| ``book_store_move`` (refund, store documents, transfer sides) | ``stockin_order_push.php`` / ``stockout_order_push.php``: 其他入库 / 其他出库, ``outer_no`` = prefix + the store's document no., approved at once; a repeated outer_no ("already exists") is the same document |
| ``book_store_count`` (盘点, and W5 with the store system as master) | ``stock_sync_by_pd.php``: the counted quantities overwrite. The interface has no ``outer_no``: the count's key is the first word of the 盘点's remark, and ``stock_pd_order_query.php`` is asked before each booking, so a count whose answer was lost is found, never booked twice |
| ``stock_locations`` / ``stock_changes`` / ``stock_of`` (S4e / W5) | ``stock_query.php`` by modified window per store warehouse |
| ``changed_products`` (S7-style reads; W4) | ``goods_query.php`` by modified window |
| ``book_sales`` (W1, RetailErp) | ``trade_push.php`` of the POS shop, ≤ 50 a call, ≤ 30 of one buyer a call; the sale no. is the ``tid`` |
| ``documents`` (W2, RetailErp) | ``stockin_order_query.php`` / ``stockout_order_query.php``, the bridge's own and the excluded types left out |
| ``products_of`` (W2, RetailErp) | ``goods_query.php`` by ``spec_no`` |

S1 (online orders the ERP gives the stores) and S4 (the 店加线下仓 count) are JST's
scenarios: here they are a configuration error naming the step, never a call.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Iterator, Mapping, Sequence

from ...errors import ConfigurationError, PermanentError
from ...ports.erp import ErpInfo, ErpProduct, OnlineOutbound, OutboundPage, StoreBooking, StoreCount, StoreStockMove
from ...ports.retail import ErpDocument, SaleBooking, StoreSale
from ...ports.state import MalformedRow
from ...ports.warehouse import SkuQty, StockLevel, StockLocation, StockPage
from ..paging import batches, malformed, mapped_or_malformed
from . import mappers, models as m
from .api import WdtApi
from .errors import WdtDuplicate

MAX_SAME_BUYER = 30  # trade_push: at most 30 orders of one buyer_nick a call
STOCK_OF_BY_SKU = 20  # stock_of reads SKU by SKU up to this many, else the warehouse's window once
STOCK_CHANGES_OVERLAP = timedelta(minutes=2)  # a cursor read starts this far back (versions drop repeats)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _with_direction(row: MalformedRow, direction: str) -> MalformedRow:
    """A document row that cannot be read, kept with its direction (as ``document_again`` reads it)."""
    return MalformedRow(row.source, {"direction": direction, "row": row.raw}, row.problem, row.key, row.ts)


def _still_unreadable(what: str, exc: Exception) -> PermanentError:
    return PermanentError(f"the 旺店通 {what} still cannot be read: {str(exc).splitlines()[0]}")


class WdtErp:
    def __init__(self, api: WdtApi, tenant: Any, *, now: Callable[[], datetime] = _utcnow) -> None:
        self.api, self.tenant, self.now = api, tenant, now
        section = tenant.wangdiantong
        self.info = ErpInfo(system="wdt", display_name="旺店通", virtual_warehouse="",
                            max_stock_items_per_upload=api.limits.count_lines,
                            calls_per_second=section.rate_limit.per_second,
                            max_product_window=api.limits.goods_window,
                            max_document_lines=api.limits.document_lines,
                            keeps_store_books=True, defective_stock=False, sales_as_orders=True)

    @property
    def section(self) -> Any:
        return self.tenant.wangdiantong

    def _store(self, code: str) -> Any:
        store = next((s for s in self.tenant.stores if s.code == code), None)
        if store is None:
            raise ConfigurationError(f"store {code} is not one of tenant {self.tenant.ent_id}'s stores; add it "
                                     "(o2o tenant put) and replay the dead letter")
        return store

    def _stores_by_warehouse(self) -> dict[str, str]:
        return {s.wdt_warehouse: s.code for s in self.tenant.stores}

    def outer_no(self, doc_no: str) -> str:
        """The key of a document the bridge books: never passed back to the stores (W2)."""
        return f"{self.section.documents.own_outer_no_prefix}{doc_no}"

    # --- the store's books (Erp) ------------------------------------------------------------------
    def book_store_move(self, move: StoreStockMove) -> StoreBooking:
        warehouse = self._store(move.store_code).wdt_warehouse
        outer_no = self.outer_no(move.doc_no)
        remark = move.remark or f"{move.kind} {move.doc_no}"  # the flow's words: 零售退单 …, 门店冲单 …
        try:
            if move.direction == "in":
                answer = self.api.push_stockin(m.StockinInfo(
                    outer_no=outer_no, warehouse_no=warehouse, remark=remark[:255],
                    goods_list=[m.StockinLine(spec_no=l.sku_id, stockin_num=Decimal(l.qty)) for l in move.lines]))
            else:
                answer = self.api.push_stockout(m.StockoutInfo(
                    outer_no=outer_no, warehouse_no=warehouse, remark=remark[:255],
                    detail_list=[m.StockoutLine(spec_no=l.sku_id, num=Decimal(l.qty)) for l in move.lines]))
        except WdtDuplicate:
            return StoreBooking(outer_no, warehouse, repeated=True)
        document = answer.get("order_no") or answer.get("stockin_no") or answer.get("stockout_no") or outer_no
        return StoreBooking(str(document), warehouse)

    def count_key(self, count_no: str, part: int, parts: int) -> str:
        """The first word of a 盘点's remark: how a booked count is found again."""
        key = self.outer_no(count_no)
        return key if parts == 1 else f"{key}#{part}/{parts}"

    def book_store_count(self, count: StoreCount) -> StoreBooking:
        """One 盘点 per ``count_lines`` lines, each keyed in its remark; the parts 旺店通 holds
        already (an earlier try whose answer was lost, or that failed after a part) are not
        booked again. ``repeated`` when every part was held."""
        warehouse = self._store(count.store_code).wdt_warehouse
        parts = list(batches(list(count.counted), self.api.limits.count_lines)) or [[]]
        held = self._counts_held(warehouse, self.outer_no(count.count_no))
        numbers: list[str] = []
        repeated = True
        for n, lines in enumerate(parts, 1):
            key = self.count_key(count.count_no, n, len(parts))
            if key in held:
                numbers.append(held[key])
                continue
            answer = self.api.count_stock_once(
                warehouse_no=warehouse, remark=f"{key} {count.remark}".strip()[:255],
                lines=[m.CountLine(spec_no=l.sku_id, stock_num=Decimal(l.qty)) for l in lines])
            numbers.append(str(answer.get("pd_no") or answer.get("order_no") or key))
            repeated = False
        return StoreBooking(",".join(numbers), warehouse, repeated=repeated)

    def _counts_held(self, warehouse: str, key: str) -> dict[str, str]:
        """The bridge's 盘点 of this count 旺店通 holds, by key (the remark's first word)."""
        end = self.now()
        begin = end - timedelta(days=self.section.count_lookback_days)
        held: dict[str, str] = {}
        for order in self.api.query_counts(begin=begin, end=end, warehouse_no=warehouse):
            word = (order.remark or "").split(" ", 1)[0]
            if word == key or word.startswith(f"{key}#"):
                held[word] = order.pd_no
        return held

    # --- stock of the store warehouses (StockSource: S4e, W5) -----------------------------------
    def stock_locations(self) -> list[StockLocation]:
        return [StockLocation(s.wdt_warehouse, s.code) for s in self.tenant.stores]

    def stock_changes(self, warehouse_code: str, since: str | None) -> StockPage:
        """Levels modified since the cursor (the end of the previous read; a first read takes
        the last ``stock_window``: 旺店通 reads stock only by modified time)."""
        end = self.now()
        begin = (datetime.fromisoformat(since) - STOCK_CHANGES_OVERLAP) if since else end - self.api.limits.stock_window
        rows = self.api.query_stock(begin=min(begin, end), end=end, warehouse_no=warehouse_code)
        return StockPage(self._levels(rows, warehouse_code), end.isoformat())

    def stock_of(self, warehouse_code: str, sku_ids: Sequence[str]) -> list[StockLevel]:
        """The current levels of these SKUs that changed within ``stock_window`` (旺店通 reads
        stock only by modified time; an older level is left out, as the port allows)."""
        wanted = list(dict.fromkeys(sku_ids))
        end = self.now()
        begin = end - self.api.limits.stock_window
        if len(wanted) <= STOCK_OF_BY_SKU:
            rows = [row for sku in wanted
                    for row in self.api.query_stock(begin=begin, end=end, warehouse_no=warehouse_code, spec_no=sku)]
        else:
            rows = self.api.query_stock(begin=begin, end=end, warehouse_no=warehouse_code)
        # A reread (a parked row's replay) of a row that still cannot be read fails loudly.
        levels = self._levels([row for row in rows if _key_of(row) in set(wanted)], warehouse_code)
        for level in levels:
            if isinstance(level, MalformedRow):
                raise PermanentError(f"the 旺店通 stock row of {level.key} still cannot be read: {level.problem}")
        return levels  # type: ignore[return-value]

    def _levels(self, rows: Sequence[Any], warehouse_code: str) -> "list[StockLevel | MalformedRow]":
        """The levels of this warehouse; a row that cannot be read (or mapped) is a ``MalformedRow``
        in its place, keyed by its spec_no (the poll parks it; its replay reads that SKU afresh)."""
        allowance = self.tenant.stock.clock_allowance_seconds
        read_at = self.now()  # once the rows are in: every level of this read carries the same moment
        found: list[StockLevel | MalformedRow] = []
        for row in rows:
            if isinstance(row, MalformedRow):
                if row.raw.get("warehouse_no") in (warehouse_code, None, ""):
                    found.append(row)
            elif row.warehouse_no == warehouse_code:
                found.append(mapped_or_malformed("旺店通 stock_query.php", row,
                                                 lambda r: mappers.stock_level(r, allowance, now=read_at), "spec_no"))
        return found

    # --- products (S7-style reads; W4) ------------------------------------------------------------
    def changed_products(self, begin: datetime, end: datetime, *,
                         by_style: bool = False) -> "list[ErpProduct | MalformedRow]":
        """Every spec of the goods modified in [begin, end] (旺店通 reads goods with their specs). A
        goods row that cannot be read (or mapped) is a ``MalformedRow`` in place of its specs (its
        raw is the goods row ``products_again`` reads)."""
        found: list[ErpProduct | MalformedRow] = []
        for goods in self.api.query_goods(begin=begin, end=end):
            read = mapped_or_malformed("旺店通 goods_query.php", goods, mappers.erp_products, "goods_no")
            found.extend([read] if isinstance(read, MalformedRow) else read)
        return found

    def products_again(self, row: Mapping[str, Any]) -> list[ErpProduct]:
        """The specs of a goods row ``changed_products`` could not read, read again (a replay)."""
        from pydantic import ValidationError

        try:
            return mappers.erp_products(m.Goods.model_validate(row))
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            raise _still_unreadable("goods row", exc) from None

    def product_again(self, record: Mapping[str, Any]) -> ErpProduct:
        return mappers.erp_product_again(record)

    # --- JST's scenarios: not 旺店通's ------------------------------------------------------------
    def _not_here(self, step: str) -> ConfigurationError:
        return ConfigurationError(f"tenant {self.tenant.ent_id}'s ERP is 旺店通: {step} is a JST scenario the bridge "
                                  "does not run for 旺店通")

    def online_outbound_pages(self, since: str | None, *, only: str | None = None) -> Iterator[OutboundPage]:
        raise self._not_here("S1 (online orders the ERP assigns to the stores)")

    def cursor_at(self, outbound_id: str) -> str | None:
        raise self._not_here("S1 (online orders the ERP assigns to the stores)")

    def online_outbound_again(self, row: Mapping[str, Any]) -> OnlineOutbound:
        raise self._not_here("S1 (online orders the ERP assigns to the stores)")

    def find_online_outbound(self, outbound_id: str) -> OnlineOutbound | None:
        raise self._not_here("S1 (online orders the ERP assigns to the stores)")

    def confirm_online_outbound(self, outbound_id: str, **kwargs: Any) -> dict[str, Any]:
        raise self._not_here("S1 (online orders the ERP assigns to the stores)")

    def confirm_online_outbounds(self, confirmations: Sequence[Any]) -> dict[str, Any]:
        raise self._not_here("S1 (online orders the ERP assigns to the stores)")

    def upload_store_stock(self, upload_id: str, items: Sequence[SkuQty], *, remark: str, riders: Any = None) -> bool:
        raise self._not_here("S4 (store stock counted into a virtual warehouse for the stores)")

    # --- what only 旺店通 does (RetailErp) --------------------------------------------------------
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
                # One refused sale must not hold back the others: push them one by one.
                for sale in batch:
                    bookings.extend(self.book_sales([sale]))
        return bookings

    def _batches(self, sales: list[StoreSale]) -> list[list[StoreSale]]:
        size = self.api.limits.trades_per_push
        found: list[list[StoreSale]] = []
        current: list[StoreSale] = []
        buyers: Counter[str] = Counter()
        for sale in sales:
            nick = mappers.buyer_nick(sale)
            if len(current) >= size or buyers[nick] >= MAX_SAME_BUYER:
                found.append(current)
                current, buyers = [], Counter()
            current.append(sale)
            buyers[nick] += 1
        if current:
            found.append(current)
        return found

    def documents(self, begin: datetime, end: datetime) -> "list[ErpDocument | MalformedRow]":
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

    def _document(self, doc: Any, direction: str, stores: dict[str, str]) -> ErpDocument | None:
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

    def document_again(self, row: Mapping[str, Any]) -> ErpDocument | None:
        """A document ``documents`` could not read, read again from its row (after the fix); None
        when it turns out not to be for the stores. Still unreadable: PermanentError."""
        from pydantic import ValidationError

        try:
            doc = m.StockDocument.model_validate(row["row"])
            return self._document(doc, row["direction"], self._stores_by_warehouse())
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            raise _still_unreadable("document", exc) from None

    def products_of(self, sku_ids: Sequence[str]) -> list[ErpProduct]:
        """The product data of these specs (W2 creates the ones a store lacks), by ``spec_no``."""
        wanted = set(sku_ids)
        found: dict[str, ErpProduct] = {}
        for sku in sorted(wanted):
            if sku in found:
                continue
            for goods in self.api.goods_of_spec(sku):
                for product in mappers.erp_products(goods):
                    if product.sku_id in wanted:
                        found[product.sku_id] = product
        return list(found.values())


def _key_of(row: Any) -> str | None:
    """A stock row's spec_no, also of one that cannot be read."""
    return row.key if isinstance(row, MalformedRow) else row.spec_no
