"""旺店通 W1–W5 under crash injection, over the real 旺店通 adapter and client against the 旺店通
sandbox and the 店+ sandbox: store sales pushed as trades (W1), ERP documents to the stores as
P12 receipts and P13 notes (W2), a return, a 盘点, the store's own documents and a store transfer
booked in the ERP (W3), the hourly product fields (W4) and the 02:10 stock of the ERP's store
warehouses to the stores (W5; with the store system as stock master, one 盘点 per store warehouse
and night); killed at every crash point, rerun and drained: one ERP document,
trade and 盘点 per store document, one store receipt or note per ERP document, and both sides
hold exactly what the run without a kill leaves."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace as NS

import pytest

from o2o_bridge import wiring
from o2o_bridge.flows import erp_documents, erp_products, erp_stock, erp_store_stock, store_sales
from o2o_bridge.shanghai_time import SHANGHAI

from .harness import assert_settled, built_once, every_crash, same_as_without_a_kill


@pytest.fixture(scope="module")
def sandboxes():
    from o2o_local.pos_sandbox import PosSandbox
    from o2o_local.wdt_sandbox import WdtSandbox

    with WdtSandbox() as wdt, PosSandbox() as pos:
        yield wdt, pos


class World:
    def __init__(self, sandboxes, monkeypatch, *, started=None, **tenant):
        from flows_wdt.conftest import context_for, tenant_for
        from o2o_local.pos_sandbox.demo import wdt_demo_merchant

        self.wdt, self.pos = sandboxes
        self.wdt.reset()
        self.wdt.seed_demo()
        self.wdt.rate_limit.configure(enabled=False)
        self.pos.reset()
        self.pos.seed({"merchants": [wdt_demo_merchant()]})
        self.ctx = context_for(self.wdt, self.pos, tenant_for(self.wdt, **tenant))
        # The bridge's clock (the harness holds it still, and moves it past the leases after a kill)
        # starts a few minutes after the sandboxes', so the documents written below are in its windows.
        started = started or datetime.now(timezone.utc) + timedelta(minutes=5)
        self.ctx.now = lambda: started
        # W2's previous 10-minute run (a first run reads only its overlap, which the clock jumps past).
        self.ctx.cursors.advance(self.ctx.ent_id, erp_documents.CURSOR, (started - timedelta(minutes=15)).isoformat(),
                                 None)
        monkeypatch.setattr(wiring, "context_for", lambda tenant: self.ctx)
        self.erp_user_done = False

    @property
    def merchant(self):
        return self.pos.state.merchants["10030"]


def lines(*pairs, field="qty"):
    return [NS(sku_id=sku, line_no=str(n), **{field: qty}) for n, (sku, qty) in enumerate(pairs, 1)]


def store_event(flow, type_, **data):
    """A store event as the store sends it (again, after a failed answer: the same event)."""
    event = NS(event_id=f"ev-{type_}-{data.get('sale_no') or data.get('refund_no') or data.get('doc_no') or data.get('count_no')}",
               type=type_, occurred_at=datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc), data=NS(**data))
    return lambda w: flow(event, w.ctx)


def sale(sale_no, payment, minute):
    return store_event(erp_store_stock.on_sale_completed, "sale.completed", sale_no=sale_no, store_code="S101",
                       sold_at=datetime(2026, 12, 2, 10, minute, tzinfo=SHANGHAI), payment=payment,
                       total_amount=Decimal("189.00"), member_mobile=None,
                       items=[NS(line_no=1, sku_id="PIL-STD", qty=1, price=Decimal("189.00"),
                                 amount=Decimal("189.00"))])


def erp_user_writes_documents(world):
    """An ERP user's 调拨入库 to S101 and 其他出库 from S102, and a changed name (once per world)."""
    if not world.erp_user_done:
        world.wdt.add_stockin("S101", "调拨入库", [{"spec_no": "PIL-STD", "num": 3}], remark="总仓调拨")
        world.wdt.add_stockout("S102", "其他出库", [{"spec_no": "PIL-LOW", "num": 1}])
        world.wdt.put_goods(goods_no="PIL", goods_name="记忆棉枕 Pro",
                            spec_list=[{"spec_no": "PIL-STD", "retail_price": 219, "barcode": "6911000000099"}])
        world.erp_user_done = True


def w1_push(world):
    store_sales.push_store_sales(world.ctx)


def w2_poll(world):
    erp_documents.poll_erp_documents(world.ctx)


STEPS = [
    sale("S101-0001", "card", 0), sale("S101-0002", "cash", 1), w1_push,
    store_event(erp_store_stock.on_sale_refunded, "sale.refunded", refund_no="RF-1", sale_no="S101-0001",
                store_code="S101", defective=False, items=lines(("PIL-STD", 1))),
    store_event(erp_store_stock.on_stock_counted, "stock.counted", count_no="PD-1", store_code="S102",
                items=lines(("PIL-LOW", 4), field="counted_qty")),
    store_event(erp_store_stock.on_store_document_submitted, "store_document.submitted", doc_no="D-IN",
                store_code="S101", kind="purchase_in", items=lines(("BLK-150", 2))),
    store_event(erp_store_stock.on_store_document_submitted, "store_document.submitted", doc_no="D-OUT",
                store_code="S102", kind="manual_out", items=lines(("PIL-LOW", 1))),
    store_event(erp_store_stock.on_store_transfer_submitted, "store_transfer.submitted", doc_no="TR-1",
                from_store="S101", to_store="S102", items=lines(("PIL-STD", 1))),
    store_event(erp_store_stock.on_store_transfer_received, "store_transfer.received", doc_no="TR-1",
                to_store="S102", received_at=datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc),
                items=lines(("PIL-STD", 1))),
    erp_user_writes_documents, w2_poll,
    lambda w: erp_products.sync_erp_products(w.ctx),
    lambda w: erp_stock.nightly_erp_stock(w.ctx),
]


def both_sides(world):
    """What the ERP and the store hold: the documents by their keys, the ERP's quantities (moved by
    the documents, so a document booked twice shows) and the stores' (with the ERP as stock master,
    the ERP's figures of the store warehouses, the last of several changes within one second too)."""
    state, merchant = world.wdt.state, world.merchant
    ours = Counter(d["outer_no"] for d in [*state.stockins.values(), *state.stockouts.values()]
                   if str(d.get("outer_no") or "").startswith("O2O-"))
    return {
        "trades": sorted(tid for _, tid in state.trades),
        "bridge documents": dict(ours),
        "counts": Counter(p["remark"].split()[0] for p in state.pd_orders.values()),
        "erp stock": {key: row["stock_num"] for key, row in state.stock.items()},
        "store stock": {key: cell.qty for key, cell in merchant.store_stock.items()},
        "receipts": sorted((k, tuple((i["sku_id"], i["qty"]) for i in r["items"]))
                           for k, r in merchant.inbound_receipts.items()),
        "notes": sorted(merchant.outbound_notes),
        "product": {k: merchant.products["PIL-STD"].get(k) for k in ("name", "barcode", "retail_price")},
    }


def check(world, run):
    sides = both_sides(world)
    assert sides["trades"] == ["S101-0001", "S101-0002"]  # W1: one trade per sale
    assert sides["bridge documents"] == {"O2O-RF-1": 1, "O2O-D-IN": 1, "O2O-D-OUT": 1, "O2O-TR-1-out": 1,
                                         "O2O-TR-1-in": 1}  # W3: one ERP document per store document
    assert sides["counts"] == {"O2O-PD-1": 1}  # one 盘点
    assert len(sides["receipts"]) == 1 and len(sides["notes"]) == 1  # W2: one P12, one P13
    assert sides["product"]["name"] == "记忆棉枕 Pro"  # W4
    stores = {s.wdt_warehouse: s.code for s in world.ctx.tenant.stores}  # W5: the ERP's latest figures
    assert sides["store stock"] == {(stores[warehouse], sku): int(qty) for (warehouse, sku), qty
                                    in sides["erp stock"].items() if warehouse in stores}
    assert erp_store_stock.in_transit(world.ctx) == []
    assert_settled(world.ctx)
    same_as_without_a_kill(sides, run)


def test_wdt_w1_to_w5_killed_at_every_crash_point_have_one_effect_on_each_side(sandboxes, monkeypatch):
    points = every_crash(lambda: World(sandboxes, monkeypatch), STEPS, check, settle=[w1_push, w2_poll])
    assert points >= 60


# --- W5 with the store system as stock master: one 盘点 per store warehouse and night ---------------

NIGHT = datetime(2026, 12, 2, 18, 10, tzinfo=timezone.utc)  # 02:10 in Shanghai


def store_stock_changes(world):
    if not world.erp_user_done:  # at the till, once: S101 sold 5 of its 8
        world.pos.set_store_stock("10030", "S101", [{"sku_id": "PIL-STD", "qty": 3}], emit=False)
        world.erp_user_done = True


def w5_night(world):
    erp_stock.nightly_erp_stock(world.ctx)


def check_counts(world, run):
    state = world.wdt.state
    counts = Counter(p["remark"].split()[0] for p in state.pd_orders.values())
    assert len(counts) == 2 and set(counts.values()) == {1}, counts  # one 盘点 per store warehouse
    stock = {key: row["stock_num"] for key, row in state.stock.items() if key[0] in ("S101", "S102")}
    assert (stock[("S101", "PIL-STD")], stock[("S102", "PIL-LOW")]) == (Decimal(3), Decimal(5))
    assert_settled(world.ctx)
    same_as_without_a_kill({"counts": dict(counts), "erp stock": stock}, run)


def test_wdt_w5_store_master_killed_at_every_crash_point_counts_each_store_once(sandboxes, monkeypatch):
    monkeypatch.setattr(sandboxes[1].state, "clock", lambda: NIGHT - timedelta(hours=2))  # the day's store rows
    points = every_crash(lambda: World(sandboxes, monkeypatch, started=NIGHT, stock={"master": "pos"}),
                         [store_stock_changes, w5_night], check_counts, settle=[w5_night])
    assert points >= 8
