"""The catch-up: a confirm that never reached the bridge (a callback lost on the way, a WMS that
gave up re-sending) is found by asking the WMS (deliveryorder.query for store orders and 配货,
entryorder.query for 退仓 and returns, per tenant settings) and taken through the same
confirmation flow: each parcel or receipt once, whether it arrives by callback, by the catch-up
or both, in any order; the store is told once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from o2o_bridge.connectors.qimen import ledger as qimen_ledger
from o2o_bridge.flows import cloud_warehouse, warehouse_orders

from .test_warehouse_over_sandbox import ORDER, event, shipped, world  # noqa: F401 - the fixture


def later(world, minutes: int):
    now = world.ctx.now()
    world.ctx.now = lambda: now + timedelta(minutes=minutes)


@pytest.fixture
def ordered(world):  # noqa: F811 - the fixture above
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    return world


def test_a_lost_parcel_confirm_is_caught_up_after_the_quiet_time_and_shipped_once(ordered):
    world = ordered
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}], drop=True)  # lost on the way
    assert shipped(world) == []
    assert cloud_warehouse.catch_up_confirmations(world.ctx)["due"] == 0  # not quiet long enough yet
    later(world, 61)
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert (summary["asked"], summary["caught_up"]) == (1, ["WM1"])
    assert shipped(world) == [("WM1", "SF1", (("TS001-WHT-M", 1),))]
    assert "qimen.caught_up" in world.ctx.timeline.steps("WM1")
    # Asked again later: nothing new, nothing shipped twice.
    later(world, 61)
    again = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert (again["asked"], again["nothing_new"], len(shipped(world))) == (1, 1, 1)


def test_a_parcel_caught_up_and_then_delivered_by_the_wms_retry_counts_once(ordered):
    world = ordered
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 2}}], drop=True)
    later(world, 61)
    cloud_warehouse.catch_up_confirmations(world.ctx)
    # The WMS re-sends its confirm after all (same outBizCode, same parcel): acknowledged, not counted.
    lost = world.wms.state.callbacks[0]
    world.wms.send_callback(lost["method"], lost["body"].encode())
    assert shipped(world) == [("WM1", "SF1", (("TS001-WHT-M", 2),))]
    assert qimen_ledger.exceptions_to_show(world.ctx) == []  # no "beyond the order" either


def test_the_lost_last_confirm_ends_the_order_and_only_the_missing_parcel_is_shipped(ordered):
    world = ordered
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 1}}])             # arrives
    world.wms.ship("WM1", [{"tracking_no": "SF2", "items": {"TS001-WHT-M": 1, "JN002-BLU-30": 1}}],
                   drop=True)                                                               # the last, lost
    later(world, 61)
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert summary["caught_up"] == ["WM1"]
    assert [s[1] for s in shipped(world)] == ["SF1", "SF2"]
    assert qimen_ledger.document(world.ctx, "WM1")["final"] is True
    later(world, 120)
    assert cloud_warehouse.catch_up_confirmations(world.ctx)["due"] == 0  # done: never asked again


class Killed(BaseException):
    """The invocation died (no flow catches it, as none can catch a kill)."""


def test_a_catch_up_killed_before_the_store_was_told_is_finished_by_the_next_run(ordered, monkeypatch):
    world = ordered
    world.wms.ship("WM1", [{"tracking_no": "SF1", "items": {"TS001-WHT-M": 2, "JN002-BLU-30": 1}}], drop=True)
    later(world, 61)
    hand_over = cloud_warehouse._hand_over

    def killed(*_, **__):
        raise Killed()

    monkeypatch.setattr(cloud_warehouse, "_hand_over", killed)  # dies before the store is told
    with pytest.raises(Killed):
        cloud_warehouse.catch_up_confirmations(world.ctx)
    monkeypatch.setattr(cloud_warehouse, "_hand_over", hand_over)
    # The ledger's change goes with the message's "done" (one write, after the hand-over): nothing
    # of the message is recorded, and the next run takes it again.
    assert qimen_ledger.document(world.ctx, "WM1")["final"] is False and shipped(world) == []
    later(world, 1)  # the next run, long before the quiet time: the unfinished hand-over is due
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert summary["caught_up"] == ["WM1"]
    assert shipped(world) == [("WM1", "SF1", (("JN002-BLU-30", 1), ("TS001-WHT-M", 2)))]
    assert qimen_ledger.exceptions_to_show(world.ctx) == []  # nothing counted twice
    later(world, 120)
    assert cloud_warehouse.catch_up_confirmations(world.ctx)["due"] == 0  # handed over: never asked again


def test_a_wms_that_fails_the_query_is_asked_again_next_run_and_the_others_go_on(ordered):
    world = ordered
    second = {**ORDER, "order_no": "WM2"}
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", second), world.ctx)
    world.wms.ship("WM2", drop=True)
    world.wms.faults["script"].append({"method": "deliveryorder.query", "kind": "http", "times": 1})
    later(world, 61)
    first = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert (first["asked"], first["failed"], first["caught_up"]) == (2, 1, ["WM2"])  # WM1, the older, failed
    later(world, 1)  # the failed one's news time did not move: it is due in the very next run
    second_run = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert (second_run["asked"], second_run["failed"], second_run["nothing_new"]) == (1, 0, 1)
    assert sorted(s[0] for s in shipped(world)) == ["WM2"]


def test_an_order_the_wms_does_not_know_is_an_exception_for_a_person(ordered):
    world = ordered
    world.wms.state.documents.pop("WM1")  # e.g. the WMS purged it
    later(world, 61)
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert summary["failed"] == 1
    [exception] = qimen_ledger.exceptions_to_show(world.ctx)
    assert exception["reason"] == "catch_up_refused" and "WM1" in exception["wms_message"]


def test_a_tenant_without_a_cloud_warehouse_has_nothing_to_catch_up():
    from fakes import fake_context
    from o2o_bridge.tenant import parse_tenant
    from qimen_wms import demo_doc

    assert cloud_warehouse.catch_up_confirmations(fake_context(parse_tenant(demo_doc()))) is None


# --- 配货 (stockout), 退仓 (entryorder) and returns: the same catch-up, their own queries ----------

def transfer(world, doc_no: str = "PH1", qty: int = 4):
    from o2o_bridge.flows import store_transfers

    from .test_warehouse_over_sandbox import event as store_event

    store_transfers.on_transfer_submitted(store_event("transfer.submitted", {
        "doc_no": doc_no, "store_code": "S001", "items": [{"sku_id": "JN002-BLU-30", "qty": qty}], "remark": ""}),
        world.ctx)


def warehouse_return(world, doc_no: str = "TC1"):
    from o2o_bridge.flows import store_transfers

    store_transfers.on_warehouse_return_submitted(event("warehouse_return.submitted", {
        "doc_no": doc_no, "store_code": "S001", "items": [{"sku_id": "TS001-WHT-L", "qty": 3}], "remark": ""}),
        world.ctx)


def lose_the_return_receipt(world):
    """WM1 shipped, returned as RT1, which the WMS receives but whose confirm is lost; 61 minutes later."""
    world.wms.ship("WM1")
    warehouse_orders.on_return_requested(event("return.requested", {
        "return_no": "RT1", "order_no": "WM1", "type": "return",
        "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]}), world.ctx)
    world.wms.receive("RT1", drop=True)
    later(world, 61)


def asked(world) -> list[str]:
    return [call["method"].rsplit(".", 2)[-2] + "." + call["method"].rsplit(".", 1)[-1]
            for call in world.wms.state.calls if call["method"].endswith(".query")]


def test_a_lost_last_stockout_confirm_is_caught_up_and_the_store_told_once_with_the_total(world):
    transfer(world)
    world.wms.ship("PH1", [{"tracking_no": "ZT1", "items": {"JN002-BLU-30": 1}}])           # arrives
    world.wms.ship("PH1", drop=True)                                                        # the last, lost
    assert world.store.documents.transfers == {}
    later(world, 61)
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert summary["caught_up"] == ["PH1"] and asked(world) == ["deliveryorder.query"]
    assert world.store.documents.transfers["PH1"]["items"] == [{"sku_id": "JN002-BLU-30", "qty": 4}]
    # The WMS re-sends the lost confirm after all: acknowledged, nothing moves twice.
    lost = world.wms.state.callbacks[-1]
    world.wms.send_callback(lost["method"], lost["body"].encode())
    assert qimen_ledger.document(world.ctx, "PH1")["confirmed"] == {"JN002-BLU-30": 4}
    assert qimen_ledger.exceptions_to_show(world.ctx) == []
    later(world, 120)
    assert cloud_warehouse.catch_up_confirmations(world.ctx)["due"] == 0


def test_a_lost_entry_receipt_is_caught_up_by_entryorder_query_and_adds_only_what_is_missing(world):
    warehouse_return(world)
    world.wms.receive("TC1", {"TS001-WHT-L": 1})                # arrives: 1 of 3
    world.wms.receive("TC1", drop=True)                         # the other 2, the last: lost
    later(world, 61)
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert summary["caught_up"] == ["TC1"] and asked(world) == ["entryorder.query"]
    assert world.store.documents.returns["TC1"]["items"] == [{"sku_id": "TS001-WHT-L", "qty": 3}]
    assert qimen_ledger.document(world.ctx, "TC1")["confirmed"] == {"TS001-WHT-L": 3}
    assert "qimen.caught_up" in world.ctx.timeline.steps("TC1")
    lost = world.wms.state.callbacks[-1]
    world.wms.send_callback(lost["method"], lost["body"].encode())  # the lost last receipt, late
    assert qimen_ledger.document(world.ctx, "TC1")["confirmed"] == {"TS001-WHT-L": 3}
    assert qimen_ledger.exceptions_to_show(world.ctx) == []


def test_an_entry_still_being_received_is_taken_as_far_as_it_goes(world):
    warehouse_return(world)
    world.wms.receive("TC1", {"TS001-WHT-L": 2}, drop=True)     # a partial receipt, lost
    later(world, 61)
    assert cloud_warehouse.catch_up_confirmations(world.ctx)["caught_up"] == ["TC1"]
    record = qimen_ledger.document(world.ctx, "TC1")
    assert (record["confirmed"], record["final"]) == ({"TS001-WHT-L": 2}, False)
    assert world.store.documents.returns == {}                  # the store hears once the WMS is done
    lost = world.wms.state.callbacks[-1]
    world.wms.send_callback(lost["method"], lost["body"].encode())  # the lost receipt's late copy: not added again
    assert qimen_ledger.document(world.ctx, "TC1")["confirmed"] == {"TS001-WHT-L": 2}
    world.wms.receive("TC1")                                    # the last receipt arrives by callback
    assert world.store.documents.returns["TC1"]["items"] == [{"sku_id": "TS001-WHT-L", "qty": 3}]
    world.wms.send_callback(lost["method"], lost["body"].encode())  # and once more after the end
    assert qimen_ledger.exceptions_to_show(world.ctx) == []


def test_a_lost_return_receipt_is_caught_up_once_the_wms_has_received_it(ordered):
    world = ordered
    lose_the_return_receipt(world)
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert summary["caught_up"] == ["RT1"]
    assert world.store.orders.of("receipt") == [("receipt", "RT1", "confirm", (("TS001-WHT-M", 1),))]
    lost = world.wms.state.callbacks[-1]
    world.wms.send_callback(lost["method"], lost["body"].encode())  # the re-send: nothing twice
    assert len(world.store.orders.of("receipt")) == 1
    assert qimen_ledger.exceptions_to_show(world.ctx) == []   # and no "beyond the plan" alarm either
    later(world, 120)
    assert cloud_warehouse.catch_up_confirmations(world.ctx)["due"] == 0


def test_a_return_not_yet_received_is_asked_and_left_waiting(ordered):
    world = ordered
    warehouse_orders.on_return_requested(event("return.requested", {
        "return_no": "RT1", "order_no": "WM1", "type": "return",
        "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]}), world.ctx)
    world.wms.ship("WM1")
    later(world, 61)
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert (summary["asked"], summary["nothing_new"]) == (1, 1)  # RT1 asked, nothing received yet
    assert world.store.orders.of("receipt") == []


def with_catch_up_queries(world, queries: dict) -> None:
    """The tenant with ``qimen.catch_up_queries`` set, its WMS adapter rebuilt over it."""
    from o2o_bridge.connectors.qimen.warehouse import QimenWarehouse
    from o2o_bridge.tenant import parse_tenant
    from qimen_wms import cloud_doc

    doc = cloud_doc()
    doc["qimen"]["gateway_url"] = world.wms.gateway_url
    doc["qimen"]["catch_up_queries"] = queries
    world.ctx.tenant = parse_tenant(doc)
    world.ctx.warehouse = QimenWarehouse(world.ctx.tenant, world.ctx.warehouse.client, records=world.ctx.records,
                                         timeline=world.ctx.timeline, now=lambda: world.ctx.now())


def test_a_kind_whose_catch_up_is_off_is_never_asked_for(world):
    with_catch_up_queries(world, {"stockout": {"method": "off"}})
    transfer(world)
    world.wms.ship("PH1", drop=True)
    later(world, 61)
    assert cloud_warehouse.catch_up_confirmations(world.ctx)["due"] == 0
    assert asked(world) == []


def test_the_done_statuses_are_the_tenant_s(world):
    """A WMS that ends a 退仓 with its own status word (here FINISHED): configured, it ends the document."""
    with_catch_up_queries(world, {"entry": {"method": "entryorder.query", "done_statuses": ["FINISHED"]}})
    warehouse_return(world)
    world.wms.receive("TC1", drop=True)
    world.wms.state.documents["TC1"].status = "FINISHED"
    later(world, 61)
    cloud_warehouse.catch_up_confirmations(world.ctx)
    assert world.store.documents.returns["TC1"]["items"] == [{"sku_id": "TS001-WHT-L", "qty": 3}]


def test_an_answer_that_names_the_document_otherwise_is_read_with_the_configured_node(world):
    """A WMS that answers entryorder.query for a return under <returnOrder>: configured, read."""
    with_catch_up_queries(world, {"return": {"method": "entryorder.query", "answer_node": "returnOrder"}})
    assert world.ctx.tenant.qimen.catch_up_query("return").done_statuses == ["FULFILLED", "CANCELED", "CLOSED"]

    class Renaming:  # the gateway as this WMS answers: the document under <returnOrder>
        def __init__(self, client):
            self.client = client

        def call(self, method, request):
            answer = self.client.call(method, request)
            if method == "entryorder.query":
                answer = dict(answer)
                answer["returnOrder"] = answer.pop("entryOrder")
            return answer

    world.ctx.warehouse.client = Renaming(world.ctx.warehouse.client)
    warehouse_orders.on_order_warehouse_requested(event("order.warehouse_requested", ORDER), world.ctx)
    lose_the_return_receipt(world)
    assert cloud_warehouse.catch_up_confirmations(world.ctx)["caught_up"] == ["RT1"]


def test_an_answer_without_the_document_is_parked_with_a_clear_reason_and_replayed_after_the_fix(world):
    """The default node is not where this WMS puts the document: the answer cannot be read, the
    document is parked once (not read as "nothing received"), and asked again on replay."""
    class Renaming:
        def __init__(self, client):
            self.client, self.renaming = client, True

        def call(self, method, request):
            answer = self.client.call(method, request)
            if method == "entryorder.query" and self.renaming:
                answer = dict(answer)
                answer["inboundOrder"] = answer.pop("entryOrder")
            return answer

    gateway = Renaming(world.ctx.warehouse.client)
    world.ctx.warehouse.client = gateway
    warehouse_return(world)
    world.wms.receive("TC1", drop=True)
    later(world, 61)
    summary = cloud_warehouse.catch_up_confirmations(world.ctx)
    assert (summary["parked"], summary["caught_up"]) == (1, [])
    [letter] = world.ctx.queue.dead
    assert "entryorder.query answer for TC1 cannot be read: no <entryOrder>" in letter.reason
    assert "answer_node" in letter.reason  # says what to set
    later(world, 61)
    cloud_warehouse.catch_up_confirmations(world.ctx)
    assert len(world.ctx.queue.dead) == 1  # parked once
    gateway.renaming = False  # fixed
    cloud_warehouse.catch_up_document(world.ctx, letter.envelope.payload)
    assert world.store.documents.returns["TC1"]["items"] == [{"sku_id": "TS001-WHT-L", "qty": 3}]


def test_a_catch_up_query_that_does_not_answer_for_its_kind_is_refused_in_the_tenant_file():
    from pydantic import ValidationError

    from o2o_bridge.tenant import parse_tenant
    from qimen_wms import cloud_doc

    doc = cloud_doc()
    doc["qimen"]["catch_up_queries"] = {"stockout": {"method": "entryorder.query", "done_statuses": ["X"]}}
    with pytest.raises(ValidationError, match="stockout: entryorder.query does not answer for a stockout document"):
        parse_tenant(doc)
