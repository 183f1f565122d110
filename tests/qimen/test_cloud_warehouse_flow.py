"""The cloud-warehouse flow over in-memory fakes: every WMS message once, confirms added up
against the document the bridge created and never beyond it, in any order and replayed."""

from __future__ import annotations

import random

import pytest

from fakes import fake_context
from o2o_bridge import wiring
from o2o_bridge.connectors.qimen import ledger
from o2o_bridge.connectors.qimen.inbound import QimenCall
from o2o_bridge.connectors.qimen.models import INBOUND_DOCUMENTS
from o2o_bridge.connectors.qimen.warehouse import QimenWarehouse
from o2o_bridge.connectors.qimen.xml_codec import parse_document
from o2o_bridge.errors import TransientError
from o2o_bridge.flows import cloud_warehouse, kit
from o2o_bridge.ports.warehouse import Shipment, UnknownWarehouseDocument
from o2o_bridge.tenant import parse_tenant

from qimen_wms import cloud_doc, delivery_confirm, receipt_confirm, stock_change


class Recorder:
    """The ERP-neutral flows, as this flow sees them: what was handed over, per kind."""

    def __init__(self, hand_over, fail_first: int = 0) -> None:
        self.calls: list[tuple[str, str, dict[str, int], str | None]] = []
        self.stock: list[list[str]] = []
        self.fail_first = fail_first
        self._stock_hand_over = hand_over  # a stock report's re-read: the flow's own (stock_sync is recorded)

    def hand_over(self, ctx, news, books=None, riding=None):
        if news.stock_to_reread:
            return self._stock_hand_over(ctx, news, books=books, riding=riding)
        if self.fail_first:
            self.fail_first -= 1
            raise TransientError("store system busy")
        kind, code, passed = news.detail["kind"], news.detail["document"], news.detail["passed"]
        trackings = [c.tracking_no for c in news.confirmations if isinstance(c, Shipment)] or [None] * len(passed)
        for tracking, items in zip(trackings, passed):
            self.calls.append((kind, code, dict(items), tracking))
        return []

    def totals(self, kind: str, code: str) -> dict[str, int]:
        total: dict[str, int] = {}
        for k, c, items, _ in self.calls:
            if (k, c) == (kind, code):
                for sku, qty in items.items():
                    total[sku] = total.get(sku, 0) + qty
        return total


@pytest.fixture
def world(monkeypatch):
    from o2o_bridge.flows import stock_sync

    tenant = parse_tenant(cloud_doc())
    ctx = fake_context(tenant)
    ctx.warehouse = QimenWarehouse(tenant, None, records=ctx.records, timeline=ctx.timeline, now=lambda: ctx.now(),
                                   metric=ctx.metric)  # its ledger only: this WMS is never called
    monkeypatch.setattr(wiring, "context_for", lambda t: ctx)
    recorder = Recorder(cloud_warehouse._hand_over)
    monkeypatch.setattr(cloud_warehouse, "_hand_over", recorder.hand_over)
    monkeypatch.setattr(stock_sync, "recheck_stock",
                        lambda ctx, code, skus, riding=None:
                        recorder.stock.append([code, *skus]) or {"reread": len(skus)})
    return ctx, recorder


def message(method: str, body: bytes) -> QimenCall:
    document = INBOUND_DOCUMENTS[method].model_validate(parse_document(body))
    return QimenCall(wiring.context_for(None).tenant, method, document, body, {})


def remember(ctx, code, kind, plan):
    ledger.remember_document(ctx, code, kind=kind, plan=plan, order_type="X", store_key=f"store-{code}")


def test_partial_deliveries_add_up_per_parcel(world):
    ctx, recorder = world
    remember(ctx, "SO1", "delivery", {"A": 2, "B": 1})
    first = take(message("deliveryorder.confirm", delivery_confirm(
        "SO1", "M1", [("SF1", {"A": 1})], final=False)))
    second = take(message("deliveryorder.confirm", delivery_confirm(
        "SO1", "M2", [("SF2", {"A": 1}), ("SF3", {"B": 1})], final=True)))
    assert first["complete"] is False and second["complete"] is True
    assert [(c[3], c[2]) for c in recorder.calls] == [("SF1", {"A": 1}), ("SF2", {"A": 1}), ("SF3", {"B": 1})]
    assert ledger.document(ctx, "SO1")["confirmed"] == {"A": 2, "B": 1}
    assert ctx.timeline.steps("SO1").count("qimen.delivery_confirmed") == 2


def test_trace_finds_a_documents_steps_under_the_store_key_and_the_wms_id(world):
    ctx, _ = world
    aliases: dict[str, tuple[str, ...]] = {}
    record = ctx.timeline.record

    def recording(key, ent_id, step, detail=None, *, level="info", **kwargs):
        aliases[step] = kwargs.get("aliases", ())
        return record(key, ent_id, step, detail, level=level)

    ctx.timeline.record = recording
    remember(ctx, "SO1", "delivery", {"A": 1})
    take(message("deliveryorder.confirm", delivery_confirm("SO1", "M1", [("SF1", {"A": 1})])))
    assert ctx.timeline.steps("SO1") == ["qimen.delivery_created", "qimen.delivery_confirmed"]
    assert aliases["qimen.delivery_created"] == ("store-SO1",)
    # The WMS's id, first known from the confirm, is added then; the store key's alias is not written twice.
    assert aliases["qimen.delivery_confirmed"] == ("W-SO1",)


def test_a_repeated_out_biz_code_is_acknowledged_without_a_second_effect(world):
    ctx, recorder = world
    remember(ctx, "SO1", "delivery", {"A": 2})
    body = delivery_confirm("SO1", "M1", [("SF1", {"A": 1})], final=False)
    assert take(message("deliveryorder.confirm", body))["outcome"] == "done"
    assert take(message("deliveryorder.confirm", body))["outcome"] == "repeated"
    assert len(recorder.calls) == 1
    assert ledger.document(ctx, "SO1")["confirmed"] == {"A": 1}


def test_a_message_without_out_biz_code_is_one_message_by_its_content(world):
    ctx, recorder = world
    remember(ctx, "SO1", "delivery", {"A": 2})
    body = delivery_confirm("SO1", None, [("SF1", {"A": 1})], final=False)
    take(message("deliveryorder.confirm", body))
    assert take(message("deliveryorder.confirm", body))["outcome"] == "repeated"
    other = delivery_confirm("SO1", None, [("SF2", {"A": 1})], final=True)
    assert take(message("deliveryorder.confirm", other))["outcome"] == "done"
    assert recorder.totals("delivery", "SO1") == {"A": 2}


def test_an_excess_is_acknowledged_not_passed_on_and_raised_as_an_exception(world):
    ctx, recorder = world
    remember(ctx, "SO1", "delivery", {"A": 2})
    take(message("deliveryorder.confirm", delivery_confirm(
        "SO1", "M1", [("SF1", {"A": 2})], final=False)))
    result = take(message("deliveryorder.confirm", delivery_confirm(
        "SO1", "M2", [("SF2", {"A": 1, "Z": 4})], final=True)))
    assert result["outcome"] == "done" and result["passed"] == [] and result["excess"] == {"A": 1, "Z": 4}
    assert recorder.totals("delivery", "SO1") == {"A": 2}
    [exception] = ledger.exceptions_to_show(ctx)
    assert exception["document"] == "SO1" and exception["reason"] == "confirmed_beyond_plan"
    assert exception["excess"] == {"A": 1, "Z": 4} and exception["store_key"] == "store-SO1"
    assert ctx.metric.values["CloudWarehouseExceptions"] == 1


def test_a_transient_hand_over_failure_is_taken_again_on_redelivery_without_counting_twice(world):
    ctx, recorder = world
    recorder.fail_first = 1
    remember(ctx, "SO1", "delivery", {"A": 2})
    body = delivery_confirm("SO1", "M1", [("SF1", {"A": 1})], final=False)
    with pytest.raises(TransientError):
        take(message("deliveryorder.confirm", body))
    # The ledger's change goes with the message's "done", after the hand-over: nothing of it is
    # kept, and the redelivery takes the message whole.
    assert ledger.document(ctx, "SO1")["confirmed"] == {}
    assert take(message("deliveryorder.confirm", body))["outcome"] == "done"
    assert ledger.document(ctx, "SO1")["confirmed"] == {"A": 1}  # not counted twice
    assert recorder.totals("delivery", "SO1") == {"A": 1}


@pytest.mark.parametrize("kind, method, body", [
    ("delivery", "deliveryorder.confirm", delivery_confirm("SO1", "M1", [("SF1", {"A": 2})], final=True)),
    ("return", "returnorder.confirm", receipt_confirm("return", "SO1", "M1", {"A": 2})),
])
def test_the_last_units_whose_hand_over_failed_are_handed_over_on_redelivery(world, kind, method, body):
    """The message filled the plan, so its units are all counted when the hand-over fails: taken
    again, they are what the ledger recorded of it, not an excess."""
    ctx, recorder = world
    recorder.fail_first = 1
    remember(ctx, "SO1", kind, {"A": 2})
    with pytest.raises(TransientError):
        take(message(method, body))
    again = take(message(method, body))
    assert again["outcome"] == "done" and again["excess"] == {}
    assert recorder.totals(kind, "SO1") == {"A": 2}
    assert ledger.document(ctx, "SO1")["confirmed"] == {"A": 2} and ledger.exceptions_to_show(ctx) == []


def test_a_confirm_of_another_kind_of_document_is_refused(world):
    ctx, _ = world
    remember(ctx, "T1", "stockout", {"A": 1})
    with pytest.raises(UnknownWarehouseDocument):
        take(message("deliveryorder.confirm", delivery_confirm("T1", "M", [("S", {"A": 1})])))


def test_stock_reports_name_the_items_to_read_again_never_deltas(world):
    _, recorder = world
    result = take(message("stockchange.report", stock_change({"B": -3, "A": 5})))
    assert result["reread"] == ["A", "B"]
    assert recorder.stock == [["WH01", "A", "B"]]


def every_kind_of_confirm():
    """(method, body) of each document kind, split over several messages, and the plans."""
    plans = {("delivery", "SO1"): {"A": 3, "B": 2}, ("stockout", "T1"): {"A": 5},
             ("return", "R1"): {"A": 1, "B": 1}, ("entry", "E1"): {"C": 4}}
    messages = [
        ("deliveryorder.confirm", delivery_confirm("SO1", "D1", [("SF1", {"A": 1})], final=False)),
        ("deliveryorder.confirm", delivery_confirm("SO1", "D2", [("SF2", {"A": 2}), ("SF3", {"B": 1})], final=False)),
        ("deliveryorder.confirm", delivery_confirm("SO1", "D3", [("SF4", {"B": 1})], final=True)),
        ("stockout.confirm", delivery_confirm("T1", "T-1", [("ZT1", {"A": 2})], final=False)),
        ("stockout.confirm", delivery_confirm("T1", "T-2", [("ZT2", {"A": 3})], final=True)),
        ("returnorder.confirm", receipt_confirm("return", "R1", "R-1", {"A": 1, "B": 1})),
        ("entryorder.confirm", receipt_confirm("entry", "E1", "E-1", {"C": 1}, final=False)),
        ("entryorder.confirm", receipt_confirm("entry", "E1", "E-2", {"C": 3}, final=True)),
    ]
    return plans, messages


@pytest.mark.parametrize("seed", range(6))
def test_every_confirm_kind_replayed_and_shuffled_ends_exactly_at_the_plan(world, seed):
    ctx, recorder = world
    plans, messages = every_kind_of_confirm()
    for (kind, code), plan in plans.items():
        remember(ctx, code, kind, plan)
    deliveries = messages * 2 + random.Random(seed).sample(messages, 3)  # every message at least twice
    random.Random(seed).shuffle(deliveries)
    outcomes = [take(message(method, body))["outcome"] for method, body in deliveries]
    assert outcomes.count("done") == len(messages)
    for (kind, code), plan in plans.items():
        assert recorder.totals(kind, code) == plan, (kind, code)
        assert ledger.document(ctx, code)["confirmed"] == plan
    assert ledger.exceptions_to_show(ctx) == []


def take(call):
    """The WMS's call as the qimen_callback handler gives it to the flow, with the tenant's context."""
    return cloud_warehouse.on_wms_message(call, wiring.context_for(call.tenant))
