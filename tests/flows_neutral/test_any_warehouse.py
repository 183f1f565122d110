"""The business flows are the warehouse's, not JST's: S2 (store orders), S5 (配货) and S6 (退仓)
run end to end over an in-memory Warehouse that is not JST (no JST model, no JST client, no JST
tenant section read), the way a cloud WMS over 奇门 plugs in."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from fakes import drain_retries, fake_context
from o2o_bridge.flows import store_transfers, warehouse_orders
from o2o_bridge.ports import (Carrier, DocumentAccepted, DocumentState, OrderAccepted, OrderCancelled,
                              ReturnAccepted, ReturnReceived, Shipment, ShippedLine, SkuQty, StockLevel, StockPage,
                              WarehouseInfo, WarehouseRefused)

from flows_s2.conftest import demo_tenant, order_requested, return_requested, store_event
from flows_s2.fakes import FakeStore
from flows_transfers.s5_s7_fakes import FakeStore as TransferStore


class MemoryWms:
    """A warehouse with its own ids and vocabulary; ``info.system`` names it in timelines."""

    info = WarehouseInfo(system="wms", max_document_lines=2)

    def __init__(self) -> None:
        self.ids = (f"W{n}" for n in itertools.count(1))
        self.orders: dict[str, dict] = {}
        self.returns: dict[str, dict] = {}
        self.documents: dict[str, dict] = {}
        self.parcels: list[Shipment] = []
        self.receipts: list[ReturnReceived] = []
        self.calls: list[str] = []

    # S2
    def submit_order(self, order):
        self.calls.append(f"submit {order.order_no}")
        held = self.orders.setdefault(order.order_no, {"id": next(self.ids), "order": order, "cancelled": False})
        return OrderAccepted(order.order_no, held["id"])

    def cancel_order(self, order_no, warehouse_order_id, reason):
        if any(p.order_no == order_no for p in self.parcels):
            raise WarehouseRefused(f"order {order_no} left the warehouse")
        self.orders[order_no]["cancelled"] = True

    def submit_return(self, request):
        held = self.returns.setdefault(request.return_no, {"id": next(self.ids), "request": request})
        return ReturnAccepted(request.return_no, held["id"])

    def store_carrier(self, carrier_code):
        return Carrier({"SFEXP": "SF"}[carrier_code], "顺丰速运")

    def shipments_between(self, begin, end):
        return list(self.parcels)

    def shipments_of(self, order_nos):
        return [p for p in self.parcels if p.order_no in order_nos]

    def cancelled_of(self, order_nos):
        return [OrderCancelled(no, "WMS cancelled") for no, held in self.orders.items()
                if no in order_nos and held["cancelled"]]

    def cancelled_between(self, begin, end):
        return []  # this warehouse tells its cancels by push only

    def receipts_between(self, begin, end):
        return list(self.receipts)

    def receipts_of(self, *, order_nos=(), warehouse_return_ids=()):
        return [r for r in self.receipts if r.order_no in order_nos or r.warehouse_return_id in warehouse_return_ids]

    # S5 / S6
    def send_to_store(self, document):
        return self._document(document)

    def take_back_from_store(self, document):
        return self._document(document)

    def _document(self, document):
        assert len(document.lines) <= self.info.max_document_lines
        held = self.documents.get(document.doc_no)
        if held is None:
            held = self.documents[document.doc_no] = {"id": next(self.ids), "doc": document, "state": "waiting"}
            return DocumentAccepted(held["id"], "WH01")
        return DocumentAccepted(held["id"], "WH01", already_there=True)

    def store_documents(self, warehouse_doc_ids):
        return [DocumentState(h["id"], h["state"], lines=h["doc"].lines if h["state"] == "confirmed" else (),
                              confirmed_at="2026-11-22 16:00:00")
                for h in self.documents.values() if h["id"] in warehouse_doc_ids]

    # S3
    def stock_locations(self):
        return []

    def stock_changes(self, warehouse_code, since):
        return StockPage([], since or "0")

    def stock_of(self, warehouse_code, sku_ids):
        return [StockLevel(sku, {"qty": 1}, 1) for sku in sku_ids]

    # what the warehouse does
    def ship(self, order_no, tracking_no, lines):
        self.parcels.append(Shipment(order_no, tracking_no, "SFEXP", "顺丰速运", "2026-11-22 12:00:00",
                                     tuple(ShippedLine(n, sku, q) for n, sku, q in lines)))

    def receive(self, return_no):
        held = self.returns[return_no]
        self.receipts.append(ReturnReceived(return_no, held["request"].order_no, held["id"], True,
                                            "2026-11-22 13:00:00",
                                            tuple(SkuQty(line.sku_id, line.qty) for line in held["request"].lines)))


class StoreSystem:
    """店+ as S2 (orders, returns) and S5/S6 (配货, 退仓) speak to it: the two fakes side by side."""

    def __init__(self, orders, transfers) -> None:
        self._orders, self._transfers = orders, transfers

    def __getattr__(self, name):
        return getattr(self._orders if hasattr(self._orders, name) else self._transfers, name)


@pytest.fixture
def wms():
    return MemoryWms()


def context(wms, store, monkeypatch):
    from o2o_bridge import wiring

    tenant = demo_tenant()
    ctx = fake_context(tenant, store=store, warehouse=wms, erp=None, now=lambda: datetime.now(timezone.utc))
    monkeypatch.setattr(wiring, "context_for", lambda _tenant: ctx)
    return ctx


def test_a_store_order_ships_cancels_and_returns_through_a_warehouse_that_is_not_jst(wms, monkeypatch):
    store = FakeStore()
    ctx = context(wms, store, monkeypatch)
    for order_no in ("N1", "N2"):
        warehouse_orders.on_order_warehouse_requested(order_requested(order_no), ctx)
    assert wms.calls == ["submit N1", "submit N2"]
    assert ctx.links.find("10010", "store_order", "N1", "wms_order").other_key == wms.orders["N1"]["id"]

    # Two parcels of N1; the confirmation arrives twice (a confirm call, then the poll): one effect each.
    wms.ship("N1", "P1", [("1", "TS001-WHT-M", 2)])
    wms.ship("N1", "P2", [("2", "JN002-BLU-30", 1)])
    warehouse_orders.take_confirmations(ctx, wms.shipments_of(["N1"]), source="confirm")
    warehouse_orders.recover_missed_pushes(ctx)
    assert store.of("ship") == [("ship", "N1", "P1", "SF", (("TS001-WHT-M", 2),)),
                                ("ship", "N1", "P2", "SF", (("JN002-BLU-30", 1),))]

    # The store cancels N2, the warehouse cancels it: the echo changes nothing at the store.
    warehouse_orders.on_order_cancelled(store_event("order.cancelled", {"order_no": "N2", "reason": "x"}), ctx)
    assert wms.orders["N2"]["cancelled"] is True
    assert warehouse_orders.recheck_cancels(ctx, ["N2"])[0]["outcome"] == "already_cancelled"

    # A return of N1, received by the warehouse, reaches the store once.
    warehouse_orders.on_return_requested(return_requested("R1", "N1"), ctx)
    wms.receive("R1")
    warehouse_orders.recheck_receipts(ctx, ["R1"], order_nos=["N1"])
    warehouse_orders.recover_missed_pushes(ctx)
    drain_retries(ctx)
    assert store.of("receipt") == [("receipt", "R1", "confirm", (("TS001-WHT-M", 1),))]
    assert ctx.queue.dead == []


def test_a_transfer_and_a_return_to_the_warehouse_through_a_warehouse_that_is_not_jst(wms, monkeypatch):
    store = TransferStore()
    ctx = context(wms, store, monkeypatch)
    items = [{"sku_id": f"SKU{n}", "qty": n} for n in range(1, 4)]  # 3 lines: two parts for this WMS
    store_transfers.on_transfer_submitted(store_event("transfer.submitted", {
        "doc_no": "T1", "store_code": "S001", "remark": "", "items": items}), ctx)
    store_transfers.on_warehouse_return_submitted(store_event("warehouse_return.submitted", {
        "doc_no": "B1", "store_code": "S001", "remark": "", "items": items[:1]}), ctx)
    assert sorted(wms.documents) == ["B1", "T1-1", "T1-2"]
    assert store_transfers.follow_other_inout(ctx)["waiting"] == 3

    for held in wms.documents.values():
        held["state"] = "confirmed"
    summary = store_transfers.follow_other_inout(ctx)
    assert summary["confirmed"] == 3 and summary["store_told"] == 2
    assert sum(i["qty"] for i in store.transfers["T1"]["items"]) == 6
    assert store.returns["B1"]["items"] == [{"sku_id": "SKU1", "qty": 1}]
    assert "wms.other_out.uploaded" in ctx.timeline.steps("T1")


def test_the_composition_root_runs_s2_s5_s6_over_a_warehouse_that_is_not_jst(wms, aws, monkeypatch):
    # The Lambdas' own path: store events through the typed route table, once per event
    # (events/dispatch.py), each with the context wiring.context_for builds (DynamoDB state, the
    # SQS retry queue, the ledger); only the tenant's warehouse and store system are swapped,
    # at the root, for in-memory ones.
    from o2o_bridge import runtime, wiring
    from o2o_bridge.connectors.store import factory
    from o2o_bridge.events.dispatch import deliver

    tenant = demo_tenant()
    runtime.state_store().put(tenant)
    store, transfer_store = FakeStore(), TransferStore()
    monkeypatch.setattr(wiring, "warehouse_for", lambda tenant, **_: wms)
    monkeypatch.setattr(factory, "store_system_for_tenant", lambda tenant: StoreSystem(store, transfer_store))

    def send(event_type, data):
        return deliver(store_event(event_type, data), tenant, context_for=wiring.context_for)

    send("order.warehouse_requested", order_requested("N1").data.model_dump(mode="json"))
    assert wms.calls == ["submit N1"]
    assert runtime.state_store().find("10010", "store_order", "N1", "wms_order").other_key == wms.orders["N1"]["id"]
    wms.ship("N1", "P1", [("1", "TS001-WHT-M", 2), ("2", "JN002-BLU-30", 1)])
    warehouse_orders.recover_missed_pushes(wiring.context_for(tenant))
    warehouse_orders.take_confirmations(wiring.context_for(tenant), wms.shipments_of(["N1"]), source="confirm")
    assert store.of("ship") == [("ship", "N1", "P1", "SF", (("JN002-BLU-30", 1), ("TS001-WHT-M", 2)))]

    send("order.warehouse_requested", order_requested("N2").data.model_dump(mode="json"))
    send("order.cancelled", {"order_no": "N2", "reason": "x"})
    assert wms.orders["N2"]["cancelled"] is True
    assert warehouse_orders.recheck_cancels(wiring.context_for(tenant), ["N2"])[0]["outcome"] == "already_cancelled"

    send("return.requested", return_requested("R1", "N1").data.model_dump(mode="json"))
    wms.receive("R1")
    warehouse_orders.recheck_receipts(wiring.context_for(tenant), ["R1"], order_nos=["N1"])
    assert store.of("receipt") == [("receipt", "R1", "confirm", (("TS001-WHT-M", 1),))]

    send("transfer.submitted", {"doc_no": "T1", "store_code": "S001", "remark": "",
                                "items": [{"sku_id": f"SKU{n}", "qty": n} for n in range(1, 4)]})
    send("warehouse_return.submitted", {"doc_no": "B1", "store_code": "S001", "remark": "",
                                        "items": [{"sku_id": "SKU1", "qty": 1}]})
    assert sorted(wms.documents) == ["B1", "T1-1", "T1-2"]
    for held in wms.documents.values():
        held["state"] = "confirmed"
    summary = store_transfers.follow_other_inout(wiring.context_for(tenant))
    assert summary["confirmed"] == 3 and summary["store_told"] == 2
    assert sum(i["qty"] for i in transfer_store.transfers["T1"]["items"]) == 6
    assert transfer_store.returns["B1"]["items"] == [{"sku_id": "SKU1", "qty": 1}]
