"""One way in for what a warehouse did: a parcel shipped, an order cancelled, a return received
reach the store the same way, and once, whether JST pushed it (the push names documents, the
bridge re-reads them), JST's 15-minute poll found it (S2x: parcels, cancels, receipts), or a
cloud WMS confirmed it over 奇门 (a signed deliveryorder.confirm / returnorder.confirm). Each source below feeds the same
confirmation; the store sees one identical P3 / P4 / P5 from each, and a source that repeats
itself, or a second source telling the same news, changes nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from fakes import drain_retries, fake_context
from o2o_bridge.connectors.jushuitan.inbound import JstPush
from o2o_bridge.connectors.qimen.inbound import QimenCall
from o2o_bridge.connectors.qimen.models import INBOUND_DOCUMENTS
from o2o_bridge.connectors.qimen.warehouse import QimenWarehouse
from o2o_bridge.connectors.qimen.xml_codec import dump_document, parse_document
from o2o_bridge.flows import cloud_warehouse, warehouse_orders
from o2o_bridge.tenant import parse_tenant

from flows_s2.conftest import World, order_requested, return_requested, store_event
from flows_s2.fakes import FakeStore
from qimen_wms import cloud_doc, delivery_confirm, receipt_confirm

PARCEL = [("1", "TS001-WHT-M", 2), ("2", "JN002-BLU-30", 1)]  # the whole of order_requested("WM1001")
SHIPPED = [("ship", "WM1001", "SF1", "SF", (("JN002-BLU-30", 1), ("TS001-WHT-M", 2)))]
RECEIVED = [("receipt", "RT1001", "confirm", (("TS001-WHT-M", 1),))]


# --- the sources -------------------------------------------------------------------------------


class JstSource:
    """A tenant whose warehouse is JST's: the news arrives as pushes (re-read) or by the poll."""

    def __init__(self, monkeypatch) -> None:
        self.world = World(monkeypatch)
        self.ctx, self.store, self.jst = self.world.ctx, self.world.store, self.world.jst

    def push(self, body: dict) -> JstPush:
        return JstPush("10010", "133242", {}, body, "", self.world.tenant, "token")

    def ordered(self) -> None:
        warehouse_orders.on_order_warehouse_requested(order_requested("WM1001"), self.ctx)

    def returned(self) -> None:
        warehouse_orders.on_return_requested(return_requested("RT1001", "WM1001"), self.ctx)


class JstPushes(JstSource):
    def ship(self) -> None:
        body = self.jst.ship("WM1001", "SF1", PARCEL, datetime.now(timezone.utc))
        warehouse_orders.recheck_shipments(self.ctx, *self.push(body).named_shipments())

    def cancel(self) -> None:
        body = self.jst.cancel_in_jst("WM1001", "缺货")
        warehouse_orders.recheck_cancels(self.ctx, self.push(body).named_cancels())

    def receive(self) -> None:
        return_nos, order_nos, as_ids = self.push(self.jst.receive("RT1001", datetime.now(timezone.utc))).named_receipts()
        warehouse_orders.recheck_receipts(self.ctx, return_nos, order_nos=order_nos, warehouse_return_ids=as_ids)


class JstPoll(JstSource):
    """No push arrived: S2x finds the parcel, the cancel (JST's order query, orders changed in
    the window with a cancelled status) and the receipt."""

    def ship(self) -> None:
        self.jst.ship("WM1001", "SF1", PARCEL, datetime.now(timezone.utc))
        warehouse_orders.recover_missed_pushes(self.ctx)

    def cancel(self) -> None:
        self.jst.cancel_in_jst("WM1001", "缺货")
        warehouse_orders.recover_missed_pushes(self.ctx)

    def receive(self) -> None:
        self.jst.receive("RT1001", datetime.now(timezone.utc))
        warehouse_orders.recover_missed_pushes(self.ctx)


class QimenGateway:
    """What the cloud WMS answers when the bridge creates its documents (their WMS ids)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def call(self, method: str, request) -> dict:
        self.calls.append(method)
        return {"deliveryorder.create": {"deliveryOrderId": "W-WM1001"},
                "returnorder.create": {"returnOrderId": "W-RT1001"}}.get(method, {})


class QimenConfirms:
    """A tenant whose warehouse is a cloud WMS over 奇门: the WMS signs its confirm calls."""

    def __init__(self, monkeypatch) -> None:
        self.tenant = parse_tenant(cloud_doc())
        self.store, self.gateway = FakeStore(), QimenGateway()
        self.ctx = fake_context(self.tenant, store=self.store, warehouse=None)
        self.ctx.warehouse = QimenWarehouse(self.tenant, self.gateway, records=self.ctx.records,
                                            timeline=self.ctx.timeline)
        from o2o_bridge import wiring

        monkeypatch.setattr(wiring, "context_for", lambda tenant: self.ctx)

    def confirm(self, method: str, body: bytes) -> None:
        document = INBOUND_DOCUMENTS[method].model_validate(parse_document(body))
        cloud_warehouse.on_wms_message(QimenCall(self.tenant, method, document, body, {}), self.ctx)

    def ordered(self) -> None:
        warehouse_orders.on_order_warehouse_requested(order_requested("WM1001"), self.ctx)

    def returned(self) -> None:
        warehouse_orders.on_return_requested(return_requested("RT1001", "WM1001"), self.ctx)

    def ship(self) -> None:
        self.confirm("deliveryorder.confirm", delivery_confirm(
            "WM1001", "M1", [("SF1", {sku: qty for _, sku, qty in PARCEL})]))

    def cancel(self) -> None:
        self.confirm("deliveryorder.confirm", dump_document("request", {"deliveryOrder": {
            "deliveryOrderCode": "WM1001", "deliveryOrderId": "W-WM1001", "warehouseCode": "WH01",
            "orderType": "JYCK", "status": "CANCELED", "outBizCode": "M-cancel", "confirmType": "0"}}))

    def receive(self) -> None:
        self.confirm("returnorder.confirm", receipt_confirm("return", "RT1001", "M2", {"TS001-WHT-M": 1}))


SOURCES = {"jst push": JstPushes, "jst poll": JstPoll, "qimen confirm": QimenConfirms}


def told(source, news: str, times: int = 1) -> None:
    for _ in range(times):
        getattr(source, news)()
    drain_retries(source.ctx)
    assert source.ctx.queue.dead == [], [d.reason for d in source.ctx.queue.dead]


# --- one identical effect, whoever tells ----------------------------------------------------------


@pytest.mark.parametrize("name", SOURCES)
def test_a_parcel_is_one_identical_p3_whoever_tells_and_however_often(name, monkeypatch):
    source = SOURCES[name](monkeypatch)
    source.ordered()
    told(source, "ship", times=3)
    assert source.store.of("ship") == SHIPPED
    assert source.ctx.timeline.steps("WM1001").count("s2.shipped") == 1


@pytest.mark.parametrize("name", [n for n, s in SOURCES.items() if hasattr(s, "cancel")])
def test_a_warehouse_cancel_is_one_p4_whoever_tells(name, monkeypatch):
    source = SOURCES[name](monkeypatch)
    source.ordered()
    told(source, "cancel", times=2)
    assert [effect[:2] for effect in source.store.of("cancel")] == [("cancel", "WM1001")]
    assert source.ctx.timeline.steps("WM1001").count("s2.cancelled_at_store") == 1


@pytest.mark.parametrize("name", SOURCES)
def test_a_return_receipt_is_one_identical_p5_whoever_tells(name, monkeypatch):
    source = SOURCES[name](monkeypatch)
    source.ordered()
    source.returned()
    told(source, "receive", times=2)
    assert source.store.of("receipt") == RECEIVED


def test_a_push_and_the_poll_telling_the_same_news_are_one_effect(monkeypatch):
    source = JstPushes(monkeypatch)
    source.ordered()
    source.returned()
    told(source, "ship")
    told(source, "receive")
    warehouse_orders.recover_missed_pushes(source.ctx)  # the poll sees both again
    assert source.store.of("ship") == SHIPPED and source.store.of("receipt") == RECEIVED


@pytest.mark.parametrize("first", ["push", "poll"])
def test_a_push_and_the_poll_telling_the_same_cancel_are_one_p4(first, monkeypatch):
    source = JstPushes(monkeypatch)
    source.ordered()
    body = source.jst.cancel_in_jst("WM1001", "缺货")
    push = lambda: warehouse_orders.recheck_cancels(source.ctx, source.push(body).named_cancels())  # noqa: E731
    poll = lambda: warehouse_orders.recover_missed_pushes(source.ctx)  # noqa: E731
    for tell in ([push, poll] if first == "push" else [poll, push]):
        tell()
    drain_retries(source.ctx)
    poll()  # the next run's window overlaps this one's: it sees the cancel again
    assert source.store.of("cancel") == [("cancel", "WM1001", "缺货")]
    assert source.ctx.timeline.steps("WM1001").count("s2.cancelled_at_store") == 1


def test_the_poll_takes_only_the_cancels_of_orders_the_bridge_submitted(monkeypatch):
    source = JstPoll(monkeypatch)
    source.ordered()
    source.jst.cancel_in_jst("OTHER-ORIGIN", "买家取消")  # an order of the shop the bridge never submitted
    summary = warehouse_orders.recover_missed_pushes(source.ctx)
    assert source.store.of("cancel") == [] and summary["cancels"]["not_ours"] == 1


def test_a_voided_order_is_a_cancel_when_the_tenant_names_its_status(monkeypatch):
    # JST documents Cancelled; a JST that lists its 作废 orders as Delete is configured so.
    source = JstPoll(monkeypatch)
    source.ordered()
    source.jst.cancel_in_jst("WM1001", "作废", status="Delete")
    warehouse_orders.recover_missed_pushes(source.ctx)
    assert source.store.of("cancel") == []  # Delete is not a cancel unless the tenant says so
    section = source.ctx.tenant.jushuitan.model_copy(update={"cancelled_order_statuses": ["Cancelled", "Delete"]})
    source.ctx.tenant = source.ctx.tenant.model_copy(update={"jushuitan": section})
    warehouse_orders.recover_missed_pushes(source.ctx)
    assert [effect[:2] for effect in source.store.of("cancel")] == [("cancel", "WM1001")]


def test_a_cloud_wms_confirm_and_a_re_read_of_its_ledger_are_one_effect(monkeypatch):
    # The WMS's confirm is recorded in the bridge's ledger of its documents; a later re-read of
    # the order (as after a push) takes the same parcel through the same step: nothing more.
    source = QimenConfirms(monkeypatch)
    source.ordered()
    told(source, "ship")
    warehouse_orders.recheck_shipments(source.ctx, ["WM1001"], source="confirm")
    assert source.store.of("ship") == SHIPPED


def test_every_way_in_reaches_the_store_through_one_step_per_kind(monkeypatch):
    # The store's P3 / P4 / P5 are made by one flow step each, whichever source: the steps the
    # timelines name and the retry table lists.
    from o2o_bridge import wiring

    commands = wiring.retry_commands()
    for command, step in (("s2.record_shipment", warehouse_orders.record_shipment),
                          ("s2.cancel_store_order", warehouse_orders.cancel_store_order),
                          ("s2.record_return_receipt", warehouse_orders.record_return_receipt)):
        assert commands[command] is step
    seen = {}
    for name, kind in SOURCES.items():
        source = kind(monkeypatch)
        calls: list[str] = []
        for step_name in ("record_shipment", "cancel_store_order", "record_return_receipt"):
            step = getattr(warehouse_orders.confirmations, step_name)

            def spy(ctx, payload, step=step, step_name=step_name):
                calls.append(step_name)
                return step(ctx, payload)

            spy.command_name = step.command_name  # what kit.settle queues it as
            monkeypatch.setattr(warehouse_orders.confirmations, step_name, spy)
        source.ordered()
        source.returned()
        for news in ("ship", "cancel", "receive"):
            if hasattr(source, news):
                told(source, news)
        seen[name] = sorted(set(calls))
        monkeypatch.undo()
    assert seen == {"jst push": ["cancel_store_order", "record_return_receipt", "record_shipment"],
                    "jst poll": ["cancel_store_order", "record_return_receipt", "record_shipment"],
                    "qimen confirm": ["cancel_store_order", "record_return_receipt", "record_shipment"]}
