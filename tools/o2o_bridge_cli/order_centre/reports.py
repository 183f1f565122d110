"""The order-centre reports: each one SQL query over the ledger table, the same text for
Athena (Trino) in AWS and DuckDB over the local stack's files.

The SQL keeps to what both dialects share: plain filters, CASE, SUM / COUNT / MAX_BY,
ROUND, CTEs and a LEFT JOIN; a division casts one side to DOUBLE (Trino truncates integer
division). tests/order_centre/test_report_sql_for_athena.py reads each query as Athena does. The table is named ``ledger``; ``?`` marks a parameter, bound
in order. ``{store}`` is replaced by ``AND store_code = ?`` when the report is asked for
one store, by nothing otherwise.

Row 0 of a fact (``line_no = 0``) carries the fact and its money, rows 1..n its SKU lines
(ledger.py), so counting documents reads row 0 and counting goods reads the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Column:
    name: str
    label: str      # what the merchant reads (the U8 report's own words)
    kind: str = "text"  # text, int, money, rate


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    sql: str
    columns: tuple[Column, ...]
    # How the parameters are laid out: a function of (tenant, day_from, day_to, store) -> list.
    parameters: Callable[[str, str, str, str | None], list[str]]
    charts: tuple[str, ...] = ()

    def query(self, store: str | None) -> str:
        return self.sql.replace("{store}", "AND store_code = ?" if store else "")


def _standard(tenant: str, day_from: str, day_to: str, store: str | None) -> list[str]:
    return [tenant, day_from, day_to, *([store] if store else [])]


PICKUP_SUMMARY = Report(
    "pickup-summary", "门店自提情况 Store pickup summary",
    "Per store: pickup orders dispatched to it, picked up, rejected, expired (not collected in time), "
    "cancelled, and the pickup rate = picked up / (picked up + rejected + expired), the pickup orders "
    "that ended at the store within the period.",
    """
WITH pickup AS (
  SELECT store_code,
         COUNT(DISTINCT CASE WHEN kind = 'fulfilment.dispatched' THEN io_id END) AS pickup_orders,
         COUNT(DISTINCT CASE WHEN kind = 'fulfilment.picked_up' THEN io_id END) AS picked_up,
         COUNT(DISTINCT CASE WHEN kind = 'fulfilment.rejected' THEN io_id END) AS rejected,
         COUNT(DISTINCT CASE WHEN kind = 'pickup.expired' THEN io_id END) AS expired,
         COUNT(DISTINCT CASE WHEN kind = 'fulfilment.cancelled' THEN io_id END) AS cancelled
  FROM ledger
  WHERE tenant = ? AND day BETWEEN ? AND ? AND line_no = 0 AND delivery = 'pickup' {store}
  GROUP BY store_code
)
SELECT store_code AS store, pickup_orders, picked_up, rejected, expired, cancelled,
       CASE WHEN picked_up + rejected + expired > 0
            THEN ROUND(CAST(picked_up AS DOUBLE) / (picked_up + rejected + expired), 4) END AS pickup_rate
FROM pickup
ORDER BY store_code
""",
    (Column("store", "门店 store"), Column("pickup_orders", "自提订单 orders", "int"),
     Column("picked_up", "已提货 picked up", "int"), Column("rejected", "拒单 rejected", "int"),
     Column("expired", "逾期未提 expired", "int"), Column("cancelled", "取消 cancelled", "int"),
     Column("pickup_rate", "提货率 pickup rate", "rate")),
    _standard, charts=("pickup_rate_by_store",))

PICKUP_DOCUMENTS = Report(
    "pickup-documents", "门店自提单据 Store pickup documents",
    "Every pickup fulfilment document with a step in the period: its store, the online order, when it "
    "reached the store, how it ended (picked up, rejected, expired, cancelled, or still open) and when.",
    """
SELECT store_code AS store, doc_no AS fulfilment_id, MAX(io_id) AS io_id, MAX(so_id) AS so_id,
       MIN(CASE WHEN kind = 'fulfilment.dispatched' THEN occurred_at END) AS dispatched_at,
       CASE WHEN MAX(CASE WHEN kind = 'fulfilment.picked_up' THEN 1 ELSE 0 END) = 1 THEN 'picked_up'
            WHEN MAX(CASE WHEN kind = 'fulfilment.rejected' THEN 1 ELSE 0 END) = 1 THEN 'rejected'
            WHEN MAX(CASE WHEN kind = 'fulfilment.cancelled' THEN 1 ELSE 0 END) = 1 THEN 'cancelled'
            WHEN MAX(CASE WHEN kind = 'pickup.expired' THEN 1 ELSE 0 END) = 1 THEN 'expired'
            ELSE 'open' END AS status,
       MAX(CASE WHEN kind <> 'fulfilment.dispatched' THEN occurred_at END) AS ended_at,
       MAX(qty) AS qty,
       MAX(CASE WHEN kind IN ('fulfilment.dispatched', 'fulfilment.picked_up') THEN amount END) AS amount
FROM ledger
WHERE tenant = ? AND day BETWEEN ? AND ? AND line_no = 0 AND delivery = 'pickup' {store}
GROUP BY store_code, doc_no
ORDER BY dispatched_at, store_code, doc_no
""",
    (Column("store", "门店 store"), Column("fulfilment_id", "自提单 document"), Column("io_id", "出库单 io_id"),
     Column("so_id", "线上单号 order"), Column("dispatched_at", "到店 dispatched"), Column("status", "状态 status"),
     Column("ended_at", "完结 ended"), Column("qty", "数量 qty", "int"), Column("amount", "金额 amount", "money")),
    _standard)

STOCK_LEDGER = Report(
    "stock-ledger", "门店商品进销存汇总 Store stock ledger",
    "Per store and SKU: opening balance, in and out within the period (配货 and retail refunds in; online "
    "orders shipped or picked up, retail sales and 退仓 out), the stock count difference (盘盈盘亏), and the "
    "closing balance. A balance is the last stock count (盘点) before that moment plus every movement "
    "after it (every movement when there was no count), so closing = opening + in - out + count difference.",
    """
WITH lines AS (
  SELECT store_code, sku_id, day, occurred_at, kind, qty, stock_delta
  FROM ledger
  WHERE tenant = ? AND day <= ? AND line_no > 0 AND store_code IS NOT NULL
    AND (stock_delta IS NOT NULL OR kind = 'stock.counted') {store}
), counts AS (
  SELECT store_code, sku_id, MAX(CASE WHEN day < ? THEN occurred_at END) AS before_at, MAX(occurred_at) AS end_at
  FROM lines
  WHERE kind = 'stock.counted'
  GROUP BY store_code, sku_id
), balances AS (
  SELECT l.store_code, l.sku_id,
         COALESCE(MAX(CASE WHEN l.kind = 'stock.counted' AND l.occurred_at = c.before_at THEN l.qty END), 0)
           + SUM(CASE WHEN l.kind <> 'stock.counted' AND l.day < ?
                       AND (c.before_at IS NULL OR l.occurred_at > c.before_at) THEN l.stock_delta ELSE 0 END)
           AS opening,
         SUM(CASE WHEN l.kind <> 'stock.counted' AND l.day >= ? AND l.stock_delta > 0 THEN l.stock_delta ELSE 0 END)
           AS qty_in,
         SUM(CASE WHEN l.kind <> 'stock.counted' AND l.day >= ? AND l.stock_delta < 0 THEN -l.stock_delta ELSE 0 END)
           AS qty_out,
         COALESCE(MAX(CASE WHEN l.kind = 'stock.counted' AND l.occurred_at = c.end_at THEN l.qty END), 0)
           + SUM(CASE WHEN l.kind <> 'stock.counted'
                       AND (c.end_at IS NULL OR l.occurred_at > c.end_at) THEN l.stock_delta ELSE 0 END)
           AS closing,
         MAX(CASE WHEN l.kind = 'stock.counted' AND l.occurred_at = c.end_at AND l.day >= ? THEN l.qty END)
           AS counted
  FROM lines l LEFT JOIN counts c ON c.store_code = l.store_code AND c.sku_id = l.sku_id
  GROUP BY l.store_code, l.sku_id
)
SELECT store_code AS store, sku_id AS sku, opening, qty_in, qty_out,
       closing - opening - qty_in + qty_out AS count_difference, closing, counted
FROM balances
ORDER BY store_code, sku_id
""",
    (Column("store", "门店 store"), Column("sku", "商品 SKU"), Column("opening", "期初 opening", "int"),
     Column("qty_in", "入库 in", "int"), Column("qty_out", "出库 out", "int"),
     Column("count_difference", "盘盈亏 count diff.", "int"), Column("closing", "期末 closing", "int"),
     Column("counted", "盘点 counted", "int")),
    lambda tenant, day_from, day_to, store: [tenant, day_to, *([store] if store else []),
                                             day_from, day_from, day_from, day_from, day_from])

DAILY_RETAIL = Report(
    "daily-retail", "零售日报 Daily retail",
    "Per day and store: retail sales at the till (count, quantity, amount), refunds, net retail = sales "
    "- refunds, and the online orders the store fulfilled (shipped or picked up) with their amount.",
    """
SELECT day, store_code AS store,
       COUNT(CASE WHEN kind = 'sale.completed' THEN 1 END) AS sales,
       SUM(CASE WHEN kind = 'sale.completed' THEN COALESCE(qty, 0) ELSE 0 END) AS sold_qty,
       ROUND(SUM(CASE WHEN kind = 'sale.completed' THEN COALESCE(amount, 0) ELSE 0 END), 2) AS sales_amount,
       COUNT(CASE WHEN kind = 'sale.refunded' THEN 1 END) AS refunds,
       ROUND(SUM(CASE WHEN kind = 'sale.refunded' THEN COALESCE(amount, 0) ELSE 0 END), 2) AS refund_amount,
       ROUND(SUM(CASE WHEN kind = 'sale.completed' THEN COALESCE(amount, 0)
                      WHEN kind = 'sale.refunded' THEN -COALESCE(amount, 0) ELSE 0 END), 2) AS net_retail,
       COUNT(CASE WHEN kind IN ('fulfilment.shipped', 'fulfilment.picked_up') THEN 1 END) AS online_orders,
       ROUND(SUM(CASE WHEN kind IN ('fulfilment.shipped', 'fulfilment.picked_up') THEN COALESCE(amount, 0)
                      ELSE 0 END), 2) AS online_amount
FROM ledger
WHERE tenant = ? AND day BETWEEN ? AND ? AND line_no = 0
  AND kind IN ('sale.completed', 'sale.refunded', 'fulfilment.shipped', 'fulfilment.picked_up') {store}
GROUP BY day, store_code
ORDER BY day, store_code
""",
    (Column("day", "日期 day"), Column("store", "门店 store"), Column("sales", "销售单 sales", "int"),
     Column("sold_qty", "销量 qty", "int"), Column("sales_amount", "销售额 sales", "money"),
     Column("refunds", "退货单 refunds", "int"), Column("refund_amount", "退款 refunded", "money"),
     Column("net_retail", "零售净额 net retail", "money"), Column("online_orders", "线上单 online", "int"),
     Column("online_amount", "线上金额 online amount", "money")),
    _standard, charts=("daily_retail",))

STORE_INOUT = Report(
    "store-inout", "门店出入库明细 Store stock in/out details",
    "Every line that moved a store's stock in the period, in time order: the document, its kind, the SKU "
    "and the quantity in or out.",
    """
SELECT day, occurred_at, store_code AS store, kind, doc_no, sku_id AS sku,
       CASE WHEN stock_delta > 0 THEN stock_delta ELSE 0 END AS qty_in,
       CASE WHEN stock_delta < 0 THEN -stock_delta ELSE 0 END AS qty_out
FROM ledger
WHERE tenant = ? AND day BETWEEN ? AND ? AND line_no > 0 AND stock_delta IS NOT NULL AND stock_delta <> 0 {store}
ORDER BY occurred_at, store_code, doc_no, line_no
""",
    (Column("day", "日期 day"), Column("occurred_at", "时间 time"), Column("store", "门店 store"), Column("kind", "单据类型 kind"),
     Column("doc_no", "单号 document"), Column("sku", "商品 SKU"), Column("qty_in", "入库 in", "int"),
     Column("qty_out", "出库 out", "int")),
    _standard)

COD = Report(
    "cod", "货到付款 Cash on delivery",
    "Per COD order the stores shipped or handed over in the period: the store, the day, the amount to "
    "collect, what the store reported collected by the end of the period, what is missing, and a status "
    "(collected, short, over, not collected).",
    """
WITH handed AS (
  SELECT io_id, MAX(store_code) AS store_code, MIN(day) AS day, MAX(cod_amount) AS expected
  FROM ledger
  WHERE tenant = ? AND day BETWEEN ? AND ? AND line_no = 0
    AND kind IN ('fulfilment.shipped', 'fulfilment.picked_up') AND cod_amount > 0 {store}
  GROUP BY io_id
), collected AS (
  SELECT io_id, SUM(amount) AS amount, MAX(occurred_at) AS collected_at
  FROM ledger
  WHERE tenant = ? AND day BETWEEN ? AND ? AND line_no = 0 AND kind = 'cod.collected'
  GROUP BY io_id
)
SELECT h.day, h.store_code AS store, h.io_id, ROUND(h.expected, 2) AS expected,
       ROUND(COALESCE(c.amount, 0), 2) AS collected,
       ROUND(h.expected - COALESCE(c.amount, 0), 2) AS missing,
       CASE WHEN c.amount IS NULL THEN 'not collected'
            WHEN ROUND(c.amount - h.expected, 2) = 0 THEN 'collected'
            WHEN c.amount < h.expected THEN 'short' ELSE 'over' END AS status,
       c.collected_at
FROM handed h LEFT JOIN collected c ON c.io_id = h.io_id
ORDER BY h.day, h.store_code, h.io_id
""",
    (Column("day", "日期 day"), Column("store", "门店 store"), Column("io_id", "出库单 io_id"),
     Column("expected", "应收 expected", "money"), Column("collected", "实收 collected", "money"),
     Column("missing", "差额 missing", "money"), Column("status", "状态 status"),
     Column("collected_at", "收款时间 collected at")),
    lambda tenant, day_from, day_to, store: [tenant, day_from, day_to, *([store] if store else []),
                                             tenant, day_from, day_to])

MEMBER_SPENDING = Report(
    "member-spending", "会员跨渠道消费 Cross-channel member spending",
    "Per person (the hashed identity of the member merge: never a number or a name): retail sales at "
    "the stores and online orders the stores fulfilled, their amounts, the total, how many stores, and "
    "whether the person bought in both channels. Largest total first.",
    """
WITH spending AS (
  SELECT member_hash,
         COUNT(CASE WHEN kind = 'sale.completed' THEN 1 END) AS store_sales,
         SUM(CASE WHEN kind = 'sale.completed' THEN COALESCE(amount, 0) ELSE 0 END) AS store_amount,
         COUNT(CASE WHEN kind IN ('fulfilment.shipped', 'fulfilment.picked_up') THEN 1 END) AS online_orders,
         SUM(CASE WHEN kind IN ('fulfilment.shipped', 'fulfilment.picked_up') THEN COALESCE(amount, 0)
                  ELSE 0 END) AS online_amount,
         COUNT(DISTINCT store_code) AS stores
  FROM ledger
  WHERE tenant = ? AND day BETWEEN ? AND ? AND line_no = 0 AND member_hash IS NOT NULL
    AND kind IN ('sale.completed', 'fulfilment.shipped', 'fulfilment.picked_up') {store}
  GROUP BY member_hash
)
SELECT SUBSTR(member_hash, 1, 12) AS person, store_sales, ROUND(store_amount, 2) AS store_amount,
       online_orders, ROUND(online_amount, 2) AS online_amount, ROUND(store_amount + online_amount, 2) AS total,
       stores, CASE WHEN store_sales > 0 AND online_orders > 0 THEN 'both' ELSE 'one' END AS channels
FROM spending
ORDER BY store_amount + online_amount DESC, member_hash
""",
    (Column("person", "会员 person"), Column("store_sales", "门店单 store sales", "int"),
     Column("store_amount", "门店消费 in store", "money"), Column("online_orders", "线上单 online", "int"),
     Column("online_amount", "线上消费 online", "money"), Column("total", "合计 total", "money"),
     Column("stores", "门店数 stores", "int"), Column("channels", "渠道 channels")),
    _standard)

REPORTS: dict[str, Report] = {r.name: r for r in (PICKUP_SUMMARY, PICKUP_DOCUMENTS, STOCK_LEDGER, DAILY_RETAIL,
                                                   STORE_INOUT, COD, MEMBER_SPENDING)}
