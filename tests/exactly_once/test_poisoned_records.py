"""A poisoned record never stops a poll, a scan or a round, whichever it is.

Each poll, scan and order-centre round gets one page of four records: [good, malformed, permanently failing, good]
(a row the source lists but nobody can read; a record the other side refuses for good). In the
same run both good ones are handled; both bad ones are parked on the real (moto) DLQ with their
reasons, listed by `o2o dlq list`; once the cause is fixed, `o2o dlq replay --all` and the retry
worker handle them, once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

import boto3
import pytest

from fakes import FakeTenants, fake_context
from o2o_bridge import runtime, wiring
from o2o_bridge.cli import main as o2o
from o2o_bridge.connectors.store import models as pos
from o2o_bridge.connectors.store.errors import PosPermanentError
from o2o_bridge.errors import PermanentError
from o2o_bridge.flows import kit
from o2o_bridge.ports import MalformedRow

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)


@dataclass
class Case:
    ctx: Any
    run: Callable[[], Any]
    handled: Callable[[], set[str]]  # the keys of the records handled so far
    fix: Callable[[], None]  # the operator's fix: the refused record is accepted, the bad row readable
    # What else runs after the replay before the record shows as handled (S5/S6: the next poll
    # tells the store of a part its replay found confirmed).
    after_replay: Callable[[], Any] = lambda: None
    good: set[str] = field(default_factory=lambda: {"good-1", "good-2"})
    bad: set[str] = field(default_factory=lambda: {"malformed", "refused"})


def malformed(source: str, raw: dict[str, Any], key: str = "malformed") -> MalformedRow:
    return MalformedRow(source, raw, "a field of the row cannot be read", key)


# --- S1: the stores' online outbounds -------------------------------------------------------------

def s1_poll(monkeypatch) -> Case:
    from flows_s1.conftest import STOCK, World, s1_tenant
    from flows_s1.s1_fakes import FakeJst, FakeStore
    from o2o_bridge.flows import store_fulfilment

    jst = FakeJst(page_size=10)
    world = World(s1_tenant(), jst, FakeStore(stock={k: dict(v) for k, v in STOCK.items()}))
    world.ctx.queue = runtime.command_queue()
    rows = {io_id: jst.add(io_id) for io_id in (700001, 700002, 700003, 700004)}
    jst.add(700003, items=(("SKU-BLOCKED", 1),))  # 店+ refuses the stock read of its SKU
    real_fetcher, real_stock = jst._page_fetcher, world.store.store_stock
    state = {"fixed": False}

    def fetcher(wms_co_id):
        fetch = real_fetcher(wms_co_id)

        def with_unreadable_row(cursor):  # 700002's row as a connector that could not read it hands it on
            page, more = fetch(cursor)
            return [malformed("JST /open/orders/out/simple/query", rows[700002], "700002")
                    if r.io_id == 700002 and not state["fixed"] else r for r in page], more

        return with_unreadable_row

    def store_stock(store_code, sku_ids):
        if "SKU-BLOCKED" in sku_ids and not state["fixed"]:
            raise PosPermanentError("店+ P7: SKU SKU-BLOCKED is blocked", status=400)
        return real_stock(store_code, sku_ids)

    monkeypatch.setattr(jst, "_page_fetcher", fetcher)
    monkeypatch.setattr(world.store, "store_stock", store_stock)

    def fix():
        state["fixed"] = True
        for levels in world.store.stock.values():
            levels["SKU-BLOCKED"] = 5

    return Case(world.ctx, lambda: store_fulfilment.poll_jst_outbound(world.ctx),
                lambda: {f["external_id"] for f in world.store.fulfilments.values()}, fix,
                good={"700001", "700004"}, bad={"700002", "700003"})


# --- S2x: what the warehouse shows but no push announced ------------------------------------------

def s2x_scan(monkeypatch) -> Case:
    from flows_s2.conftest import World, order_requested
    from o2o_bridge.flows import warehouse_orders

    world = World(monkeypatch)
    world.ctx.queue = runtime.command_queue()
    shipped_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    for order_no in ("good-1", "malformed", "refused", "good-2"):
        warehouse_orders.on_order_warehouse_requested(order_requested(order_no), world.ctx)
        world.jst.ship(order_no, f"SF-{order_no}", [("1", "TS001-WHT-M", 2), ("2", "JN002-BLU-30", 1)], shipped_at)
    world.store.unknown_orders.add("refused")  # 店+ answers 404 for its shipment: refused for good
    real_query = world.jst.query_logistics
    state = {"fixed": False}

    def query(**kwargs):
        return [malformed("JST /open/logistic/query", {"so_id": p.so_id, "items": "?"}, p.so_id)
                if p.so_id == "malformed" and not state["fixed"] else p for p in real_query(**kwargs)]

    monkeypatch.setattr(world.jst, "query_logistics", query)

    def fix():
        state["fixed"] = True
        world.store.unknown_orders.clear()

    return Case(world.ctx, lambda: warehouse_orders.recover_missed_pushes(world.ctx),
                lambda: {effect[1] for effect in world.store.of("ship")}, fix)


# --- S3: the hourly stock pull -------------------------------------------------------------------

def s3_pull(monkeypatch) -> Case:
    from flows_stock.stock_fakes import FakeJst, FakeStore, demo_tenant
    from o2o_bridge.flows import stock_sync

    jst, store = FakeJst(), FakeStore()
    for n, sku in enumerate(("good-1", "malformed", "refused", "good-2")):
        jst.set(10000, sku, second=n + 1, qty=n + 5)
    real_scan, real_p6 = jst.scan_inventory, store.set_warehouse_stock
    state = {"fixed": False}

    def scan(**kwargs):  # the row of "malformed" comes as JST lists a row its model refuses
        found = real_scan(**kwargs)
        found.records = [malformed("JST /open/inventory/query", {"sku_id": r.sku_id, "qty": "n/a"}, r.sku_id)
                         if r.sku_id == "malformed" else r for r in found.records]
        return found

    def p6(code, items, **kwargs):
        if not state["fixed"] and any(level.sku_id == "refused" for level in items):
            raise PosPermanentError("店+ P6: SKU refused is not a product of this warehouse", status=422)
        return real_p6(code, items, **kwargs)

    monkeypatch.setattr(jst, "scan_inventory", scan)
    monkeypatch.setattr(store, "set_warehouse_stock", p6)
    ctx = fake_context(demo_tenant(), jst=jst, store=store, queue=runtime.command_queue())
    return Case(ctx, lambda: stock_sync.pull_jst_stock(ctx),
                lambda: {sku for (code, sku) in store.warehouse if code == "10000"},
                lambda: state.update(fixed=True))  # the re-read of "malformed" is a good row


def s3_pull_cloud_wms(monkeypatch) -> Case:
    """The same pull over a cloud WMS (奇门 inventory.query): a row of its answer that cannot be
    read is parked (its SKU is never read as 0) and read afresh on replay."""
    from flows_stock.stock_fakes import FakeStore
    from o2o_bridge.connectors.qimen.ledger import ITEM_KIND
    from o2o_bridge.connectors.qimen.warehouse import QimenWarehouse
    from o2o_bridge.flows import stock_sync
    from o2o_bridge.tenant import parse_tenant
    from qimen_wms import cloud_doc

    tenant, store = parse_tenant(cloud_doc()), FakeStore()
    state = {"fixed": False}

    class Wms:  # the 奇门 gateway as the client sees it: inventory.query answers per SKU
        def call(self, method, request):
            assert method == "inventory.query"
            items = []
            for criteria in request.criteria_list:
                sku = criteria.item_code
                quantity = "n/a" if sku == "malformed" and not state["fixed"] else 7
                items.append({"warehouseCode": criteria.warehouse_code, "itemCode": sku, "inventoryType": "ZP",
                              "quantity": quantity})
            return {"items": items}

    real_p6 = store.set_warehouse_stock

    def p6(code, items, **kwargs):
        if not state["fixed"] and any(level.sku_id == "refused" for level in items):
            raise PosPermanentError("店+ P6: SKU refused is not a product of this warehouse", status=422)
        return real_p6(code, items, **kwargs)

    monkeypatch.setattr(store, "set_warehouse_stock", p6)
    ctx = fake_context(tenant, store=store, queue=runtime.command_queue(), now=lambda: NOW)
    ctx.warehouse = QimenWarehouse(tenant, Wms(), records=ctx.records, timeline=ctx.timeline, now=lambda: NOW)
    for sku in ("good-1", "malformed", "refused", "good-2"):
        ctx.records.put(ctx.ent_id, ITEM_KIND, sku, {"at": NOW.isoformat()})
    code = tenant.qimen.store_warehouse_code
    return Case(ctx, lambda: stock_sync.pull_jst_stock(ctx),
                lambda: {sku for (where, sku) in store.warehouse if where == code},
                lambda: state.update(fixed=True))


# --- S5 / S6: following 配货 and 退仓 in the warehouse ------------------------------------------------

def s5_s6_follow(monkeypatch) -> Case:
    from flows_transfers.conftest import demo_tenant
    from flows_transfers.s5_s7_fakes import FakeJst, FakeStore
    from o2o_bridge.events.models import EVENT_MODELS
    from o2o_bridge.flows import store_transfers

    jst, store = FakeJst(), FakeStore()
    ctx = fake_context(demo_tenant(), jst=jst, store=store, queue=runtime.command_queue())
    monkeypatch.setattr(wiring, "context_for", lambda tenant: ctx)
    for doc_no in ("good-1", "malformed", "refused", "good-2"):
        store_transfers.on_transfer_submitted(EVENT_MODELS["transfer.submitted"].model_validate({
            "event_id": f"evt-{doc_no}", "ent_id": "10010", "type": "transfer.submitted",
            "occurred_at": NOW.isoformat(), "data": {"doc_no": doc_no, "store_code": "S001", "remark": "",
                                                       "items": [{"sku_id": "TS-M", "qty": 2}]}}), ctx)
        jst.set_status(doc_no, "Confirmed")
    unreadable = {str(jst.by_external_id("malformed")["io_id"])}
    real_query, real_p10 = jst.query_other_inout, store.transfer_warehouse_shipped
    state = {"fixed": False}

    def query(**kwargs):
        rows = real_query(**kwargs)
        return [malformed("JST /open/other/inout/query", {"io_id": r.io_id, "status": None}, str(r.io_id))
                if str(r.io_id) in unreadable and not state["fixed"] else r for r in rows]

    def p10(doc_no, shipped, **kwargs):
        if doc_no == "refused" and not state["fixed"]:
            raise PosPermanentError("店+ P10: transfer refused is not known to the store", status=404)
        return real_p10(doc_no, shipped, **kwargs)

    monkeypatch.setattr(jst, "query_other_inout", query)
    monkeypatch.setattr(store, "transfer_warehouse_shipped", p10)

    return Case(ctx, lambda: store_transfers.follow_other_inout(ctx), lambda: set(store.transfers),
                lambda: state.update(fixed=True), after_replay=lambda: store_transfers.follow_other_inout(ctx))


# --- S7: the product master ---------------------------------------------------------------------------

def s7_products(monkeypatch) -> Case:
    from flows_transfers.conftest import demo_tenant
    from flows_transfers.s5_s7_fakes import FakeJst, FakeStore
    from o2o_bridge.flows import products

    jst, store = FakeJst(), FakeStore()
    for sku in ("good-1", "malformed", "refused", "good-2"):
        jst.add_sku(sku, NOW - timedelta(minutes=30))
    store.refuse_items["refused"] = "category 不存在"
    real_query = jst.query_skus
    state = {"fixed": False}

    def query(**kwargs):
        return [malformed("JST /open/sku/query", s.model_dump(mode="json") | {"sku_id": None}, "malformed")
                if s.sku_id == "malformed" and not state["fixed"] else s for s in real_query(**kwargs)]

    monkeypatch.setattr(jst, "query_skus", query)
    ctx = fake_context(demo_tenant(), jst=jst, store=store, queue=runtime.command_queue(), now=lambda: NOW)
    row = next(s for s in real_query(begin=NOW - timedelta(days=1), end=NOW) if s.sku_id == "malformed")
    real_again = ctx.erp.product_again

    def again(record):  # the connector fixed: the row reads as the SKU it is
        unreadable = record.get("row", {}).get("sku_id") is None
        return real_again({"source": "sku", "row": row.model_dump(mode="json")} if state["fixed"] and unreadable
                          else record)

    monkeypatch.setattr(ctx.erp, "product_again", again)

    def fix():
        state["fixed"] = True
        del store.refuse_items["refused"]

    return Case(ctx, lambda: products.sync_products(ctx), lambda: set(store.products), fix)


# --- 旺店通: W1 sales, W2 documents, W4 products, W5 nightly stock ------------------------------------

class RecordingStore:
    """The store system as W2/W4/W5 use it; refuses what ``refused`` names until fixed."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.products: dict[str, Any] = {}
        self.stock: dict[tuple[str, str], int] = {}
        self.refused: set[str] = {"refused"}

    def _check(self, *names: str) -> None:
        bad = self.refused & set(names)
        if bad:
            raise PosPermanentError(f"店+ refused {', '.join(sorted(bad))}: unknown", status=422)

    def create_inbound_receipt(self, store_code, document, *, business_key=None):
        self._check(document.doc_no)
        self.documents[document.doc_no] = document
        return pos.InboundReceiptCreated(doc_no=document.doc_no, store_code=store_code,
                                         inbound_receipt_no=f"IR-{document.doc_no}", status="pending")

    def upsert_products(self, batch, *, business_key=None):
        results = []
        for item in batch.items:
            if item.sku_code in self.refused:
                results.append(pos.ProductResult(sku_code=item.sku_code, status="refused", msg="category 不存在"))
            else:
                self.products[item.sku_code] = item
                results.append(pos.ProductResult(sku_code=item.sku_code, status="updated"))
        return pos.ProductResults(results=results)

    def set_warehouse_stock(self, code, items, *, business_key=None):
        self._check(code)
        for level in items:
            self.stock[(code, level.sku_id)] = level.qty
        return pos.WarehouseStock(warehouse_code=code, applied=len(items), stale=0)


class RetailErpPage:
    """A 旺店通 ERP (the Erp and RetailErp ports) that lists one page: the rows of a test, a
    malformed one among them. Its stock is one page per store warehouse (``W-<store>``)."""

    def __init__(self, rows: list[Any], again: Callable[[dict[str, Any]], Any]) -> None:
        self.rows, self.again, self.booked = rows, again, {}
        self.refused_sales = {"refused"}

    def documents(self, begin, end):
        return list(self.rows)

    def document_again(self, row):
        return self.again(row)

    def changed_products(self, begin, end, *, by_style=False):
        return list(self.rows)

    def products_again(self, row):
        return self.again(row)

    def product_again(self, record):
        from o2o_bridge.connectors.wangdiantong.mappers import erp_product_again

        return erp_product_again(record)

    def products_of(self, sku_ids):
        return [wdt_product(sku) for sku in sku_ids]

    def stock_locations(self):
        from o2o_bridge.ports.warehouse import StockLocation

        return [StockLocation(f"W-{code}", code) for code in dict.fromkeys(r.key if isinstance(r, MalformedRow)
                                                                         else r[0] for r in self.rows)
                if code != "malformed"]

    def stock_changes(self, warehouse_code, since):
        from o2o_bridge.ports.warehouse import StockPage

        return StockPage([self.again(row) if not isinstance(row, MalformedRow) else row for row in self.rows
                          if isinstance(row, MalformedRow) and warehouse_code == "W-good-1"
                          or not isinstance(row, MalformedRow) and f"W-{row[0]}" == warehouse_code], "next")

    def stock_of(self, warehouse_code, sku_ids):
        return [self.again((warehouse_code[2:], sku)) for sku in sku_ids]

    def book_sales(self, sales):
        from o2o_bridge.ports.retail import SaleBooking

        answers = []
        for sale in sales:
            refused = sale.sale_no in self.refused_sales
            if not refused:
                self.booked[sale.sale_no] = sale
            answers.append(SaleBooking(sale.sale_no, not refused, "商品不存在: refused" if refused else ""))
        return answers


def wdt_tenant():
    from pathlib import Path

    import yaml

    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "wdt-demo.yaml")
                         .read_text(encoding="utf-8"))
    return parse_tenant(doc)


def w2_documents(monkeypatch) -> Case:
    from o2o_bridge.flows import erp_documents
    from o2o_bridge.ports.retail import ErpDocument, ErpDocumentLine

    tenant = wdt_tenant()
    store_code = tenant.stores[0].code

    def doc(no):
        return ErpDocument(no, "in", "采购入库", store_code, (ErpDocumentLine("SKU-1", 2, "T恤"),), "", "2026-12-02 13:00:00")

    rows = [doc("good-1"), malformed("旺店通 stockin_order_query.php", {"direction": "in", "row": {"order_no": "malformed"}}),
            doc("refused"), doc("good-2")]
    store = RecordingStore()
    erp = RetailErpPage(rows, lambda row: doc(row["row"]["order_no"]))
    ctx = fake_context(tenant, erp=erp, store=store, queue=runtime.command_queue(), now=lambda: NOW)
    return Case(ctx, lambda: erp_documents.poll_erp_documents(ctx), lambda: set(store.documents),
                lambda: store.refused.clear())


def wdt_product(sku):
    from o2o_bridge.connectors.wangdiantong.mappers import erp_product_again

    return erp_product_again({"spec_no": sku, "goods_no": f"G-{sku}", "goods_name": "T恤", "spec_name": "M",
                              "retail_price": "99"})


def w4_products(monkeypatch) -> Case:
    from o2o_bridge.flows import erp_products

    product = wdt_product

    rows = [product("good-1"), malformed("旺店通 goods_query.php", {"goods_no": "G-malformed"}), product("refused"),
            product("good-2")]
    store = RecordingStore()
    erp = RetailErpPage(rows, lambda row: [product("malformed")])
    ctx = fake_context(wdt_tenant(), erp=erp, store=store, queue=runtime.command_queue(), now=lambda: NOW)
    return Case(ctx, lambda: erp_products.sync_erp_products(ctx), lambda: set(store.products),
                lambda: store.refused.clear())


def w5_nightly_stock(monkeypatch) -> Case:
    """W5 with the ERP as stock master reads each store warehouse's changed rows (the S4e pull
    over the Erp port): the permanently failing record is a store that refuses its levels, the
    unreadable one a row of good-1's warehouse (read afresh by its SKU on replay)."""
    from types import SimpleNamespace as NS

    from o2o_bridge.flows import erp_stock
    from o2o_bridge.ports.warehouse import StockLevel

    doc_stores = ["good-1", "refused", "good-2"]
    tenant = wdt_tenant()
    tenant = tenant.model_copy(update={"stores": [s.model_copy(update={"code": code}) for code, s in
                                                  zip(doc_stores, [tenant.stores[0]] * 3)],
                                       "stock": tenant.stock.model_copy(update={"master": "erp"})})

    def level(row):
        _store, sku = row
        return StockLevel(sku, {"qty": Decimal(3), "order_lock": Decimal(0)}, 1)

    rows = [("good-1", "SKU-1"), malformed("旺店通 stock_query.php", {"spec_no": "malformed"}), ("refused", "SKU-1"),
            ("good-2", "SKU-1")]
    store = RecordingStore()
    erp = RetailErpPage(rows, level)
    ctx = fake_context(tenant, erp=erp, store=store, queue=runtime.command_queue(), now=lambda: NOW)
    ctx.warehouse = NS(stock_locations=lambda: [])  # no cloud WMS: only the ERP's store warehouses
    return Case(ctx, lambda: erp_stock.nightly_erp_stock(ctx),
                lambda: {code if sku == "SKU-1" else sku for code, sku in store.stock},
                lambda: store.refused.clear())


def w1_sales(monkeypatch) -> Case:
    from o2o_bridge.flows import store_sales

    tenant = wdt_tenant()
    erp = RetailErpPage([], lambda row: None)
    ctx = fake_context(tenant, erp=erp, store=None, queue=runtime.command_queue(), now=lambda: NOW)
    readable = {"store_code": tenant.stores[0].code, "sold_at": NOW.isoformat(), "payment": "cash", "total": "99",
                "lines": [[1, "SKU-1", 1, "99", "99"]]}
    for n, sale_no in enumerate(("good-1", "malformed", "refused", "good-2")):
        queue_key = f"2026-12-02T06:00:0{n}#{sale_no}"
        sale = {"sale_no": sale_no, **readable} if sale_no != "malformed" else {"sale_no": sale_no, "lines": "?"}
        ctx.records.put(ctx.ent_id, store_sales.QUEUED, queue_key, {"sale_no": sale_no})
        ctx.records.put(ctx.ent_id, store_sales.SALE, sale_no, {"state": "queued", "queue_key": queue_key, "sale": sale})

    def fix():
        erp.refused_sales.clear()
        record = ctx.records.get(ctx.ent_id, store_sales.SALE, "malformed")  # the sale as the store sent it
        ctx.records.put(ctx.ent_id, store_sales.SALE, "malformed",
                        {**record.data, "sale": {"sale_no": "malformed", **readable}}, expected_version=record.version)

    return Case(ctx, lambda: store_sales.push_store_sales(ctx), lambda: set(erp.booked), fix)


# --- the order centre's rounds: COD reconciliation, parked orders healed, pickups expired; member merge ---

def s1_world(stock):
    from flows_s1.conftest import World, s1_tenant
    from flows_s1.s1_fakes import FakeJst, FakeStore

    world = World(s1_tenant(), FakeJst(page_size=10), FakeStore(stock={k: dict(v) for k, v in stock.items()}))
    world.ctx.queue = runtime.command_queue()
    return world


def spoil(ctx, kind, key, **fields):
    """A record of the bridge's own that a bug (or an older shape) left unreadable; returns the fix."""
    record = ctx.records.get(ctx.ent_id, kind, key)
    good = dict(record.data)
    ctx.records.put(ctx.ent_id, kind, key, {**good, **fields}, expected_version=record.version)

    def fix():
        current = ctx.records.get(ctx.ent_id, kind, key)
        ctx.records.put(ctx.ent_id, kind, key, good, expected_version=current.version)

    return fix


def cod_round(monkeypatch) -> Case:
    """The COD reconciliation reads only the bridge's records: its bad record is one that cannot
    be read; the others are counted (both good ones overdue) in the same round."""
    from flows_s1.conftest import s1_tenant
    from o2o_bridge.flows import cash_on_delivery as cod

    ctx = fake_context(s1_tenant(), queue=runtime.command_queue(), now=lambda: NOW)
    handed = (NOW - timedelta(days=30)).isoformat()
    for key in ("good-1", "malformed", "good-2"):
        ctx.records.put(ctx.ent_id, cod.COD_KIND, key, {"io_id": key, "expected": "100.00", "collected": None,
                                                        "status": "uncollected", "handed_at": handed})
    fix = spoil(ctx, cod.COD_KIND, "malformed", handed_at="last Tuesday")

    def run():
        summary = cod.reconcile(ctx)
        assert summary["overdue"] >= 2, summary  # the good ones are counted around the bad one
        return summary

    return Case(ctx, run, lambda: {p["io_id"] for p in cod.problems(ctx) if p["status"] == "overdue"}, fix,
                bad={"malformed"})


def heal_round(monkeypatch) -> Case:
    """Four orders parked for want of stock; stock arrives; the round re-routes them, but one
    order's record cannot be read and the store refuses the stock read of another's SKU."""
    from flows_s1.conftest import STOCK
    from o2o_bridge.flows import healing, store_fulfilment

    world = s1_world({code: {} for code in STOCK})
    for io_id in (700001, 700002, 700003, 700004):
        world.jst.add(io_id, items=(("SKU-BLOCKED" if io_id == 700003 else "SKU-RED-M", 1),))
    store_fulfilment.poll_jst_outbound(world.ctx)
    assert len(store_fulfilment.open_exceptions(world.ctx)) == 4  # no store has any of it yet
    for code, levels in STOCK.items():
        world.store.stock[code].update(levels, **{"SKU-BLOCKED": 5})
    real_stock = world.store.store_stock
    state = {"fixed": False}

    def store_stock(store_code, sku_ids):
        if "SKU-BLOCKED" in sku_ids and not state["fixed"]:
            raise PosPermanentError("店+ P7: SKU SKU-BLOCKED is blocked", status=400)
        return real_stock(store_code, sku_ids)

    monkeypatch.setattr(world.store, "store_stock", store_stock)
    restore = spoil(world.ctx, store_fulfilment.ORDER_KIND, "700002", receiver=None)

    def fix():
        state["fixed"] = True
        restore()

    return Case(world.ctx, lambda: healing.heal_parked(world.ctx),
                lambda: {f["external_id"] for f in world.store.fulfilments.values()}, fix,
                good={"700001", "700004"}, bad={"700002", "700003"})


def pickup_round(monkeypatch) -> Case:
    """Four pickups nobody collected; one's clock cannot be read. The others expire into the
    exceptions queue in the same round."""
    from flows_s1.conftest import STOCK
    from o2o_bridge.flows import healing, store_fulfilment
    from o2o_bridge.flows.pickup_clock import PICKUP_WAITING_KIND

    world = s1_world(STOCK)
    for io_id in (700001, 700002, 700003, 700004):
        world.jst.add(io_id, labels="门店自提", items=[("SKU-RED-M", 1)])
    store_fulfilment.poll_jst_outbound(world.ctx)
    now = world.ctx.now()
    world.ctx.now = lambda: now + timedelta(days=30)
    fix = spoil(world.ctx, PICKUP_WAITING_KIND, "700002", since="a while ago")
    return Case(world.ctx, lambda: healing.expire_pickups(world.ctx),
                lambda: {e["io_id"] for e in store_fulfilment.open_exceptions(world.ctx)
                         if e["kind"] == "pickup_expired"}, fix,
                good={"700001", "700003", "700004"}, bad={"700002"})


def member_merge(monkeypatch) -> Case:
    """Four store members updated one after another: one's profile record cannot be read (an
    older shape), the store refuses another's profile (P14); the others are merged and sent."""
    from types import SimpleNamespace as NS

    from flows_s1.conftest import s1_tenant
    from o2o_bridge.flows import members
    from o2o_bridge.ledger import mobile_hash

    mobiles = {"good-1": "13800000001", "malformed": "13800000002", "refused": "13800000003", "good-2": "13800000004"}
    sent: dict[str, Any] = {}
    refused = {"refused"}

    class Store:
        def put_member(self, member_id, profile, *, business_key=None):
            if member_id in refused:
                raise PosPermanentError(f"店+ P14: member {member_id} is frozen", status=422)
            sent[member_id] = profile
            return pos.MemberSaved(member_id=member_id, status="created", merged_from=profile.merged_from)

    ctx = fake_context(s1_tenant(), store=Store(), queue=runtime.command_queue(), now=lambda: NOW)
    person = mobile_hash(ctx.ent_id, mobiles["malformed"])
    ctx.records.put(ctx.ent_id, members.PROFILE_KIND, person, {"mobile": mobiles["malformed"], "members": ["OLD"]})

    def run():
        for n, (member_id, mobile) in enumerate(mobiles.items()):
            members.on_member_updated(NS(data=NS(member_id=member_id, mobile=mobile, name=f"会员{n}", store_code="S001",
                                                 updated_at=NOW)), ctx)

    def fix():
        refused.clear()
        ctx.records.delete(ctx.ent_id, members.PROFILE_KIND, person)  # the operator removes the unreadable record

    return Case(ctx, run, lambda: set(sent), fix)


CASES = {"S1 online outbounds": s1_poll, "S2x missed pushes": s2x_scan, "S3 stock pull": s3_pull, "S3 stock pull, cloud WMS over 奇门": s3_pull_cloud_wms, "S5/S6 follow-up": s5_s6_follow, "S7 products": s7_products,
         "W1 store sales": w1_sales, "W2 ERP documents": w2_documents, "W4 ERP products": w4_products,
         "W5 nightly stock": w5_nightly_stock,
         "order centre: COD reconciliation": cod_round, "order centre: parked orders healed": heal_round,
         "order centre: pickups expired": pickup_round, "order centre: member merge": member_merge}


def letters(capsys) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert o2o(["dlq", "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def drain_retry_queue(ctx, aws) -> None:
    """The retry worker over the moto retry queue, with ``ctx`` as every command's context."""
    from o2o_bridge.retry import RetryEnvelope, RetryRunner

    sqs = boto3.client("sqs")
    runner = RetryRunner(wiring.command_registry(lambda tenant: ctx), ctx.queue, FakeTenants(ctx.tenant),
                         ctx.timeline, max_attempts=10,
                         base_delay_seconds=0, no_delay=True)
    for _ in range(20):
        messages = sqs.receive_message(QueueUrl=aws["RETRY_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        for message in messages:
            runner.run(RetryEnvelope.model_validate_json(message["Body"]))
            sqs.delete_message(QueueUrl=aws["RETRY_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("the retry queue did not drain")


@pytest.mark.parametrize("name", list(CASES))
def test_a_poisoned_page_is_handled_around_its_bad_records(name, aws, monkeypatch, capsys):
    case = CASES[name](monkeypatch)
    monkeypatch.setattr(wiring, "context_for", lambda tenant: case.ctx)

    summary = case.run()
    assert case.handled() & (case.good | case.bad) == case.good, f"both good records are handled in the same run: {summary}"

    parked = letters(capsys)
    assert len(parked) == len(case.bad), [p["reason"] for p in parked]
    unreadable = [p["reason"] for p in parked if "cannot be read" in p["reason"]]
    refused = [p["reason"] for p in parked if "cannot be read" not in p["reason"]]
    # each with its own reason (a round that reads only the bridge's records has nothing to refuse it)
    assert (len(unreadable), len(refused)) == (1, len(case.bad) - 1), [p["reason"] for p in parked]

    case.run()  # the next run re-reads them: nothing is parked twice
    assert len(letters(capsys)) == len(case.bad)

    case.fix()
    assert o2o(["dlq", "replay", "--all"]) == 0
    drain_retry_queue(case.ctx, aws)
    getattr(case, "after_replay", lambda: None)()
    assert case.handled() >= case.good | case.bad, "after the fix the replayed records are handled"
    assert letters(capsys) == []
