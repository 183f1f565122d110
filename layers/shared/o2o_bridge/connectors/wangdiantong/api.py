"""The typed 旺店通 企业版 adapter: one method per interface the scenarios use.

Queries hide the paging rules: ``page_no`` starts at 0, ``total_count`` comes only with
page 0, and a query by modified time takes a limited window (``trade_query`` 60 minutes,
``stock_query`` 30 days), so a longer range is split into windows that share their edges
and each is paged to its end; a record read twice (an edge, a page shifted by a change
during the scan) is kept once, in its latest version. Uploads are cut into batches of the
documented maximum. Limits the sources are unsure of are ``Limits`` fields a tenant may
override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from pydantic import BaseModel

from ...shanghai_time import to_jst_text
from ..paging import batches, keep_latest, read_rows, split_window
from . import models as m
from .client import WdtClient
from .errors import WdtPermanentError

R = TypeVar("R", bound=BaseModel)

MAX_PAGES = 10_000


@dataclass(frozen=True)
class Limits:
    page_size: int = 100               # 1-100 on every list query
    trade_page_size: int = 40          # one SDK says trade_query takes at most 40
    trade_window: timedelta = timedelta(minutes=60)
    stock_window: timedelta = timedelta(days=30)
    document_window: timedelta = timedelta(days=30)   # not published for stock-in/out queries
    goods_window: timedelta = timedelta(days=30)      # not published for goods_query
    trades_per_push: int = 50
    count_lines: int = 1000            # lines of one 盘点 (not published)
    document_lines: int = 1000         # lines of one 其他入库 / 其他出库 (not published)
    count_answer: "CountAnswerNames" = field(default_factory=lambda: CountAnswerNames())


@dataclass(frozen=True)
class CountAnswerNames:
    """Where stock_pd_order_query.php's answer holds what the look-up before a 盘点 needs (not
    published; the tenant's ``wangdiantong.count_query`` overrides): the first name present is
    used. The answer is read strictly: a look-up that cannot tell which 盘点 exist would let a
    count be booked twice, so an answer of another shape is an error that says what to set."""

    list_keys: tuple[str, ...] = ("stock_pd_list", "pd_list", "order_list", "orders")
    number_fields: tuple[str, ...] = ("pd_no", "order_no")
    remark_fields: tuple[str, ...] = ("remark",)
    warehouse_fields: tuple[str, ...] = ("warehouse_no",)
    modified_fields: tuple[str, ...] = ("modified",)


# The list node of each answer; the first name present is used (the 企业版 does not
# publish them all, and copies of its docs disagree).
LIST_KEYS: dict[str, tuple[str, ...]] = {
    "trade_query.php": ("trades",),
    "stock_query.php": ("stocks",),
    "stockin_order_query.php": ("stockin_list", "stockin_order_list", "orders"),
    "stockout_order_query.php": ("stockout_list", "stockout_order_list", "orders"),
    "goods_query.php": ("goods_list", "goods"),
    "shop.php": ("shoplist", "shop_list", "shops"),
    "warehouse_query.php": ("warehouses", "warehouse_list"),
    "logistics.php": ("logistics_list", "logistics"),
    "goods_class_query.php": ("goods_class", "goods_class_list"),
}


def rows_of(api: str, answer: Mapping[str, Any]) -> list[Any]:
    for key in LIST_KEYS.get(api, ()):
        rows = answer.get(key)
        if rows is not None:
            return list(rows)
    return []


def when(moment: datetime) -> str:
    """A time as 旺店通 reads it: Asia/Shanghai wall time."""
    return to_jst_text(moment)


def _modified(record: Any) -> str:
    return getattr(record, "modified", None) or ""


@dataclass
class WdtApi:
    client: WdtClient
    limits: Limits = field(default_factory=Limits)

    # --- raw --------------------------------------------------------------------------------
    def call(self, api: str, business: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.client.call(api, business)

    # --- paging -----------------------------------------------------------------------------
    def pages(self, api: str, business: Mapping[str, Any], model: type[R], *,
              page_size: int | None = None, lenient_key: str | None = None,
              rows_from: Callable[[Mapping[str, Any]], list[Any]] | None = None) -> Iterator[list[R]]:
        """Every page of one query, from page_no 0 to the end: the end is the page that
        completes ``total_count`` (given with page 0), a short page or an empty one. With
        ``lenient_key`` (a poll's read) a row the model refuses is a ``MalformedRow`` keyed by that
        field in its place, so the poll parks it and goes on; otherwise the page fails.
        ``rows_from`` reads an answer's rows instead of its usual list node."""
        size = page_size or self.limits.page_size
        total: int | None = None
        seen = 0
        for page_no in range(MAX_PAGES):
            answer = self.client.call(api, {**business, "page_no": page_no, "page_size": size})
            if page_no == 0 and answer.get("total_count") is not None:
                total = int(answer["total_count"])
            listed = rows_from(answer) if rows_from else rows_of(api, answer)
            rows = (read_rows(f"旺店通 {api}", listed, model, lenient_key, ts_field="modified")
                    if lenient_key else [model.model_validate(row) for row in listed])
            seen += len(rows)
            if rows:
                yield rows
            if not rows or len(rows) < size or (total is not None and seen >= total):
                return
        raise WdtPermanentError(f"旺店通 {api} returned more than {MAX_PAGES} pages; narrow the query", api=api)

    def _all(self, api: str, business: Mapping[str, Any], model: type[R], **kwargs: Any) -> list[R]:
        return [row for page in self.pages(api, business, model, **kwargs) for row in page]

    def _by_modified(self, api: str, model: type[R], *, begin: datetime, end: datetime, span: timedelta,
                     key: Callable[[R], Any], business: Mapping[str, Any] | None = None,
                     page_size: int | None = None, lenient_key: str | None = None,
                     rows_from: Callable[[Mapping[str, Any]], list[Any]] | None = None) -> list[R]:
        found: list[R] = []
        for start, stop in split_window(begin, end, span):
            window = {**(business or {}), "start_time": when(start), "end_time": when(stop)}
            found.extend(self._all(api, window, model, page_size=page_size, lenient_key=lenient_key,
                                   rows_from=rows_from))
        if lenient_key:
            from ...ports import MalformedRow

            key = (lambda by: lambda r: ("malformed", r.key) if isinstance(r, MalformedRow) else by(r))(key)
        return keep_latest(found, key, _modified)

    # --- W1 trades ----------------------------------------------------------------------------
    def push_trades(self, shop_no: str, trades: Sequence[m.Trade], *, strict: bool = False) -> list[m.TradePushAnswer]:
        """trade_push.php, at most ``trades_per_push`` a call; one answer per call."""
        answers = []
        for chunk in batches(list(trades), self.limits.trades_per_push):
            answer = self.client.call("trade_push.php", {"shop_no": shop_no, "switch": 1 if strict else 0,
                                                         "trade_list": chunk})
            answers.append(m.TradePushAnswer.model_validate(answer))
        return answers

    def query_trades(self, *, begin: datetime, end: datetime, shop_no: str | None = None) -> list[m.WdtRecord]:
        """trade_query.php by modified time, in windows of at most 60 minutes."""
        return self._by_modified("trade_query.php", m.WdtRecord, begin=begin, end=end, span=self.limits.trade_window,
                                 key=lambda r: (getattr(r, "shop_no", None), getattr(r, "tid", None)),
                                 business={"shop_no": shop_no}, page_size=self.limits.trade_page_size)

    # --- W5 stock -----------------------------------------------------------------------------
    def query_stock(self, *, begin: datetime, end: datetime, warehouse_no: str | None = None,
                    spec_no: str | None = None) -> list[m.StockRow]:
        """stock_query.php: stock rows modified in [begin, end], windows of at most 30 days."""
        return self._by_modified("stock_query.php", m.StockRow, begin=begin, end=end, span=self.limits.stock_window,
                                 key=lambda r: (r.warehouse_no, r.spec_no),
                                 business={"warehouse_no": warehouse_no, "spec_no": spec_no}, lenient_key="spec_no")

    def count_stock_once(self, *, warehouse_no: str, lines: Sequence[m.CountLine], remark: str,
                         adjust: bool = True) -> dict[str, Any]:
        """stock_sync_by_pd.php: one 盘点 whose counted quantities overwrite the ERP's stock. The
        interface keeps no outer_no: the caller keys the count in its ``remark`` (erp.py)."""
        if len(lines) > self.limits.count_lines:
            raise WdtPermanentError(f"a 盘点 of {len(lines)} lines; 旺店通 takes at most {self.limits.count_lines} "
                                    "(book it in parts)", api="stock_sync_by_pd.php")
        return self.client.call("stock_sync_by_pd.php", {
            "warehouse_no": warehouse_no, "is_adjust_stock": 1 if adjust else 0, "remark": remark,
            "goods_list": list(lines)})

    def query_counts(self, *, begin: datetime, end: datetime, warehouse_no: str) -> list[m.CountOrder]:
        """stock_pd_order_query.php: the 盘点 of a warehouse modified in [begin, end]."""
        return self._by_modified("stock_pd_order_query.php", m.CountOrder, begin=begin, end=end,
                                 span=self.limits.document_window, key=lambda r: r.pd_no,
                                 business={"warehouse_no": warehouse_no}, rows_from=self._count_rows)

    def _count_rows(self, answer: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The 盘点 of a stock_pd_order_query.php answer under the tenant's names (``CountAnswerNames``),
        or an error naming what was looked for, what the answer had and what to set."""
        names, api = self.limits.count_answer, "stock_pd_order_query.php"

        def refuse(problem: str, setting: str) -> WdtPermanentError:
            return WdtPermanentError(f"旺店通 {api}: {problem}; the bridge cannot tell which 盘点 exist, so it books "
                                     f"none. If this is how 旺店通 answers, set wangdiantong.count_query.{setting}",
                                     api=api)

        key = next((k for k in names.list_keys if k in answer), None)
        if key is None:
            listed = sorted(k for k, v in answer.items() if isinstance(v, list))
            if not listed and str(answer.get("total_count", "0")).strip() in ("0", ""):
                return []  # an empty answer may leave the list out
            raise refuse(f"the answer has no list under {', '.join(names.list_keys)} (it has "
                         f"{', '.join(sorted(answer)) or 'nothing'})", "list_keys")
        rows = answer[key] or []
        if not isinstance(rows, list):
            raise refuse(f"{key} is not a list", "list_keys")

        def first(row: Mapping[str, Any], fields: tuple[str, ...]) -> Any:
            return next((row[f] for f in fields if f in row), None)

        read = []
        for n, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise refuse(f"row {n} of {key} is not an object", "list_keys")
            number = first(row, names.number_fields)
            if number in (None, ""):
                raise refuse(f"row {n} of {key} has no 盘点 no. under {', '.join(names.number_fields)} (it has "
                             f"{', '.join(sorted(row))})", "number_fields")
            if not any(f in row for f in names.remark_fields):
                raise refuse(f"row {n} of {key} has no remark under {', '.join(names.remark_fields)} (it has "
                             f"{', '.join(sorted(row))})", "remark_fields")
            read.append({"pd_no": number, "remark": first(row, names.remark_fields),
                         "warehouse_no": first(row, names.warehouse_fields),
                         "modified": first(row, names.modified_fields)})
        return read

    # --- W3 / W2 documents --------------------------------------------------------------------
    def push_stockin(self, info: m.StockinInfo) -> dict[str, Any]:
        self._fits(info.outer_no, len(info.goods_list))
        return self.client.call("stockin_order_push.php", {"stockin_info": info})

    def push_stockout(self, info: m.StockoutInfo) -> dict[str, Any]:
        self._fits(info.outer_no, len(info.detail_list))
        return self.client.call("stockout_order_push.php", {"stockout_info": info})

    def _fits(self, outer_no: str, lines: int) -> None:
        if lines > self.limits.document_lines:
            raise WdtPermanentError(f"document {outer_no} has {lines} lines; 旺店通 takes at most "
                                    f"{self.limits.document_lines} (split it)")

    def query_stockins(self, *, begin: datetime, end: datetime, warehouse_no: str | None = None) -> list[m.StockDocument]:
        return self._by_modified("stockin_order_query.php", m.StockDocument, begin=begin, end=end,
                                 span=self.limits.document_window, key=lambda r: r.order_no,
                                 business={"warehouse_no": warehouse_no}, lenient_key="order_no")

    def query_stockouts(self, *, begin: datetime, end: datetime, warehouse_no: str | None = None) -> list[m.StockDocument]:
        return self._by_modified("stockout_order_query.php", m.StockDocument, begin=begin, end=end,
                                 span=self.limits.document_window, key=lambda r: r.order_no,
                                 business={"warehouse_no": warehouse_no}, lenient_key="order_no")

    # --- W4 goods -----------------------------------------------------------------------------
    def query_goods(self, *, begin: datetime, end: datetime) -> list[m.Goods]:
        return self._by_modified("goods_query.php", m.Goods, begin=begin, end=end, span=self.limits.goods_window,
                                 key=lambda r: r.goods_no, lenient_key="goods_no")

    def goods_of_spec(self, spec_no: str) -> list[m.Goods]:
        """goods_query.php by ``spec_no`` (no time window): the goods that has this spec."""
        return self._all("goods_query.php", {"spec_no": spec_no}, m.Goods)

    # --- W6 base data -------------------------------------------------------------------------
    def shops(self, shop_no: str | None = None) -> list[m.Shop]:
        return self._all("shop.php", {"shop_no": shop_no}, m.Shop)

    def warehouses(self) -> list[m.Warehouse]:
        return self._all("warehouse_query.php", {}, m.Warehouse)

    def logistics(self) -> list[m.Logistics]:
        return self._all("logistics.php", {}, m.Logistics)

    def goods_classes(self) -> list[m.GoodsClass]:
        return self._all("goods_class_query.php", {}, m.GoodsClass)
