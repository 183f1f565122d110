"""StateTable through its adapter, on moto with the tables of template.yaml."""

import json

import boto3
import pytest

from o2o_bridge import runtime
from o2o_bridge.connectors.aws.dynamodb_state import CursorView
from o2o_bridge.ports import DocumentLink
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


def test_tenants_round_trip_with_secrets_and_are_listed(aws):
    store = runtime.state_store()
    tenant = parse_tenant(demo_doc())
    store.put(tenant)
    store.put(tenant.model_copy(update={"ent_id": "20020"}))
    assert store.get("10010") == tenant
    assert store.get("10010").jushuitan.app_secret.get_secret_value() == "demo-app-secret"
    assert store.get("nobody") is None
    assert sorted(store.list_ids()) == ["10010", "20020"]


def test_links_are_found_both_ways_and_the_first_link_wins(aws):
    store = runtime.state_store()
    first = DocumentLink("10010", "jst_io", "700001", "pos_fulfilment", "F1", {"store": "S001"})
    assert store.link(first) == first
    assert store.find("10010", "pos_fulfilment", "F1", "jst_io").other_key == "700001"
    assert store.link(first) == first  # a repeat is harmless
    again = DocumentLink("10010", "jst_io", "700001", "pos_fulfilment", "F2")
    assert store.link(again).other_key == "F1"
    with pytest.raises(ValueError, match="already linked"):
        store.link(DocumentLink("10010", "jst_io", "700009", "pos_fulfilment", "F1"))


def test_cursor_moves_only_from_the_version_it_was_read_at(aws):
    cursors = CursorView(runtime.state_store())
    assert cursors.get("10010", "outbound") is None
    assert cursors.advance("10010", "outbound", "1000", None)
    assert not cursors.advance("10010", "outbound", "999", None)  # someone created it already
    current = cursors.get("10010", "outbound")
    assert (current.value, current.version) == ("1000", 1)
    assert cursors.advance("10010", "outbound", "2000", 1)
    assert not cursors.advance("10010", "outbound", "3000", 1)  # a concurrent run lost the race
    assert cursors.get("10010", "outbound").value == "2000"


def test_timeline_is_ordered_and_reachable_through_aliases(aws):
    store = runtime.state_store()
    store.record("700001", "10010", "outbound.polled", {"so_id": "TB123"}, aliases=("TB123",))
    store.record("700001", "10010", "routing.decided", {"store": "S001"})
    store.record("other", "10010", "noise")
    steps = [e.step for e in store.entries("TB123", "10010")]
    assert steps == ["outbound.polled", "routing.decided"]
    assert store.entries("700001", "10010")[1].detail == {"store": "S001"}
    assert store.entries("unknown", "10010") == []


def test_attack_9_timelines_are_per_tenant_and_an_ambiguous_key_asks_which(aws, capsys):
    from o2o_bridge.cli import main as o2o

    store = runtime.state_store()
    tenant = parse_tenant(demo_doc())
    store.put(tenant)
    store.put(tenant.model_copy(update={"ent_id": "20020"}))
    store.record("SO-1", "20020", "b.secret.step", {"customer": "B's customer"})
    # tenant A has no SO-1: asking for it under A never shows B's document
    assert store.entries("SO-1", "10010") == []
    assert o2o(["trace", "SO-1", "--tenant", "10010"]) == 1
    assert "B's customer" not in capsys.readouterr().out
    # one tenant has the key: the short form finds it
    assert o2o(["trace", "SO-1"]) == 0 and "[20020] b.secret.step" in capsys.readouterr().out
    # two tenants have it: the short form asks, the long form shows each its own
    store.record("SO-1", "10010", "a.step", aliases=("TB-1",))
    assert o2o(["trace", "SO-1"]) == 2
    assert "at 2 tenants (10010, 20020): say which with --tenant" in capsys.readouterr().err
    assert o2o(["trace", "SO-1", "--tenant", "10010"]) == 0
    out = capsys.readouterr().out
    assert "a.step" in out and "b.secret.step" not in out
    assert [e.step for e in store.entries("TB-1", "10010")] == ["a.step"] and store.entries("TB-1", "20020") == []


def test_flow_records_are_written_only_from_the_version_they_were_read_at(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    records = RecordView(runtime.state_store())
    first = records.put("10010", "route", "700001", {"rejected_by": ["S001"]})
    assert first.version == 1
    assert records.put("10010", "route", "700001", {"rejected_by": []}) is None  # exists already
    assert records.put("10010", "route", "700001", {"rejected_by": ["S001", "S002"]}, expected_version=5) is None
    second = records.put("10010", "route", "700001", {"rejected_by": ["S001", "S002"]}, expected_version=1, ttl_days=30)
    assert second.version == 2
    assert records.get("10010", "route", "700001").data == {"rejected_by": ["S001", "S002"]}
    records.put("10010", "route", "700002", {"rejected_by": []})
    records.put("10010", "exception", "700003", {"reason": "no store left"})
    records.put("20020", "route", "700009", {})
    assert [r.key for r in records.list("10010", "route")] == ["700001", "700002"]
    assert [r.key for r in records.list("10010", "route", prefix="7000")] == ["700001", "700002"]
    assert records.list("10010", "route", prefix="8") == []
    records.delete("10010", "route", "700001")
    assert records.get("10010", "route", "700001") is None


def test_a_conditional_delete_removes_only_the_version_it_names(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    records = RecordView(runtime.state_store())
    records.put("10010", "effect", "k", {"state": "running"})
    records.put("10010", "effect", "k", {"state": "running"}, expected_version=1)  # taken over: version 2
    assert records.delete("10010", "effect", "k", expected_version=1) is False
    assert records.get("10010", "effect", "k").version == 2
    assert records.delete("10010", "effect", "k", expected_version=2) is True
    assert records.get("10010", "effect", "k") is None


def test_a_refused_write_brings_back_what_is_stored_so_no_read_comes_first(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    records = RecordView(runtime.state_store())
    written, current = records.put_or_current("10010", "effect", "k", {"state": "running"})
    assert written.version == 1 and current is None
    written, current = records.put_or_current("10010", "effect", "k", {"state": "running"})  # a second worker
    assert written is None and current.data == {"state": "running"} and current.version == 1
    written, current = records.put_or_current("10010", "effect", "k", {"state": "done"}, expected_version=1)
    assert written.version == 2 and current is None


def test_a_level_is_written_only_over_a_lower_rank_and_an_unranked_record_only_at_its_version(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    records = RecordView(runtime.state_store())
    written, _ = records.put_newer("10010", "stock.store", "A|S001", {"qty": 5, "version": 10}, rank=10)
    assert written.version == 1
    refused, current = records.put_newer("10010", "stock.store", "A|S001", {"qty": 9, "version": 7}, rank=7)
    assert refused is None and current.data == {"qty": 5, "version": 10}
    assert records.put_newer("10010", "stock.store", "A|S001", {"qty": 5, "version": 10}, rank=10)[0] is None
    assert records.put_newer("10010", "stock.store", "A|S001", {"qty": 6, "version": 11}, rank=11)[0].version == 2
    records.put("10010", "stock.store", "B|S001", {"qty": 1, "version": 3})  # stored before levels had a rank
    refused, current = records.put_newer("10010", "stock.store", "B|S001", {"qty": 2, "version": 4}, rank=4)
    assert refused is None and current.version == 1
    assert records.put_newer("10010", "stock.store", "B|S001", {"qty": 2, "version": 4}, rank=4,
                             unranked_version=1)[0].version == 2
    assert records.put_newer("10010", "stock.store", "B|S001", {"qty": 0, "version": 2}, rank=2)[0] is None
    assert records.put_always("10010", "stock.store", "B|S001", {"cleared": True}).version == 3


def test_many_records_are_read_in_one_batch_and_written_in_one_transaction_of_conditional_puts(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    records = RecordView(runtime.state_store())
    records.put("10010", "stock.warehouse", "W|A", {"qty": 1})
    assert set(records.get_many("10010", "stock.warehouse", ["W|A", "W|B", "W|A"])) == {"W|A"}
    keys = [f"W|{n:03d}" for n in range(150)]  # more than one request of each
    assert records.put_many("10010", "stock.warehouse", [(k, {"qty": 2}, None) for k in keys]) == []
    assert len(records.get_many("10010", "stock.warehouse", keys)) == 150
    refused = records.put_many("10010", "stock.warehouse", [("W|A", {"qty": 3}, 1), ("W|B", {"qty": 3}, 7)])
    assert sorted(refused) == ["W|A", "W|B"]  # one condition failed: neither was written
    assert records.get("10010", "stock.warehouse", "W|A").data == {"qty": 1}


def test_a_callbacks_trace_rides_in_the_transaction_of_its_last_records_and_waits_when_that_is_refused(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store = runtime.state_store()
    calls = []
    store.client.meta.events.register("before-call.dynamodb.*", lambda event_name, **kw: calls.append(event_name))
    records = RecordView(store)
    with runtime.invocation(None):
        store.record("stock:W", "10010", "stock.push.received", {"n": 1})
        assert records.put_many_traced("10010", "stock.warehouse", [("W|A", {"qty": 1}, None)], trace_key="stock:W") == []
        assert calls == ["before-call.dynamodb.TransactWriteItems"]  # the level and the trace, one request
    assert len(calls) == 1 and [e.step for e in store.entries("stock:W", "10010")] == ["stock.push.received"]
    calls.clear()
    with runtime.invocation(None):
        store.record("stock:W", "10010", "stock.push.received", {"n": 2})
        refused = records.put_many_traced("10010", "stock.warehouse", [("W|A", {"qty": 2}, 7)], trace_key="stock:W")
        assert refused == ["W|A"]
    # Refused: the level is not written, the trace is, when the invocation ends.
    assert records.get("10010", "stock.warehouse", "W|A").data == {"qty": 1}
    assert [e.detail for e in store.entries("stock:W", "10010")] == [{"n": 1}, {"n": 2}]
    # Outside an invocation nothing is held: the records alone.
    assert records.put_many_traced("10010", "stock.warehouse", [("W|B", {"qty": 1}, None)], trace_key="stock:W") == []


def test_a_callbacks_timeline_is_written_when_it_ends_one_item_per_document_and_read_back_step_by_step(aws):
    store = runtime.state_store()
    puts = []
    store.client.meta.events.register("before-call.dynamodb.PutItem", lambda **kw: puts.append(kw))
    with runtime.invocation(None):
        store.record("SO-1", "10010", "s2.received", {"n": 1})
        store.record("SO-1", "10010", "s2.uploaded", {"n": 2}, aliases=("JST-9",))
        store.record("SO-2", "10010", "s2.received", {})
        assert puts == [] and store.entries("SO-1", "10010") == []  # nothing written before the end
    assert len(puts) == 3  # SO-1's two steps, its alias, SO-2
    assert [(e.step, e.detail) for e in store.entries("SO-1", "10010")] == [("s2.received", {"n": 1}),
                                                                            ("s2.uploaded", {"n": 2})]
    assert [e.step for e in store.entries("JST-9", "10010")] == ["s2.received", "s2.uploaded"]
    with pytest.raises(RuntimeError), runtime.invocation(None):
        store.record("SO-3", "10010", "s2.failed", {})
        raise RuntimeError("the flow failed")
    assert [e.step for e in store.entries("SO-3", "10010")] == ["s2.failed"]  # written all the same
    store.record("SO-4", "10010", "s2.now", {})  # outside an invocation (the CLI): at once
    assert [e.step for e in store.entries("SO-4", "10010")] == ["s2.now"]


def test_a_long_invocation_holds_the_entries_of_at_most_a_bounded_number_of_documents(aws, monkeypatch):
    from o2o_bridge.connectors.aws import dynamodb_state
    from o2o_bridge.connectors.aws.held import held_timelines

    monkeypatch.setattr(dynamodb_state, "HELD_DOCUMENTS_MAX", 3)
    store = runtime.state_store()
    puts = []
    store.client.meta.events.register("before-call.dynamodb.PutItem", lambda **kw: puts.append(kw))
    with runtime.invocation(None):
        for n in range(10):  # a poll handling ten outbounds, two steps each
            store.record(f"IO-{n}", "10010", "s1.outbound_seen", {"n": n})
            store.record(f"IO-{n}", "10010", "s1.dispatched", {"n": n})
            assert len(held_timelines()[store]) <= 3
        assert len(puts) == 7  # the oldest written as the later ones came
    assert len(puts) == 10  # still one item per document
    for n in range(10):
        assert [e.step for e in store.entries(f"IO-{n}", "10010")] == ["s1.outbound_seen", "s1.dispatched"]


def test_a_kind_is_read_a_page_at_a_time_in_key_order(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    records = RecordView(runtime.state_store())
    for n in range(7):
        records.put("10010", "s1.confirm.pending", f"70000{n}", {"n": n})
    records.put("10010", "s1.order", "700000", {})  # another kind: never listed with it
    first = records.list_page("10010", "s1.confirm.pending", limit=3)
    assert [r.key for r in first] == ["700000", "700001", "700002"] and first[0].data == {"n": 0}
    rest = records.list_page("10010", "s1.confirm.pending", after="700002", limit=10)
    assert [r.key for r in rest] == ["700003", "700004", "700005", "700006"]  # fewer than asked: the end
    assert records.list_page("10010", "s1.confirm.pending", after="700006", limit=3) == []


def test_a_piece_of_work_does_not_read_again_what_it_just_read_or_wrote_and_a_lost_write_reads_afresh(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store = runtime.state_store()
    gets = []
    store.client.meta.events.register("before-call.dynamodb.GetItem", lambda **kw: gets.append(kw))
    work, other = RecordView(store), RecordView(store)  # two Lambdas on one record
    written = work.put("10010", "s2.order", "SO-1", {"lines": 1})
    assert work.get("10010", "s2.order", "SO-1").data == {"lines": 1} and gets == []
    work.get("10010", "s2.order", "SO-1").data["lines"] = 99  # a reader's change stays its own
    assert work.get("10010", "s2.order", "SO-1").data == {"lines": 1}
    assert other.put("10010", "s2.order", "SO-1", {"lines": 2}, expected_version=written.version)
    # The first one's remembered version is old now: its write is refused, and it reads afresh.
    assert work.put("10010", "s2.order", "SO-1", {"lines": 3}, expected_version=written.version) is None
    assert work.get("10010", "s2.order", "SO-1").data == {"lines": 2} and len(gets) == 1


def test_the_records_a_step_reads_first_are_read_together_in_one_request(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store = runtime.state_store()
    RecordView(store).put("10010", "s2.order", "SO-1", {"lines": 1})
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    work = RecordView(store)
    work.prefetch("10010", [("parked", "s2.x:abc"), ("s2.order", "SO-1"), ("effect", "s2.shipment:SO-1")])
    assert work.get("10010", "parked", "s2.x:abc") is None
    assert work.get("10010", "s2.order", "SO-1").data == {"lines": 1}
    assert work.get("10010", "effect", "s2.shipment:SO-1") is None
    assert calls == ["before-call.dynamodb.BatchGetItem"]


def test_an_effects_done_is_written_with_its_bookkeeping_in_one_request_or_else_one_by_one(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store = runtime.state_store()
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    link = DocumentLink("10010", "store_order", "SO-1", "jst_order", "900")

    def book():
        store.link(link)
        work.put_or_current("10010", "s2.order", "SO-1", {"o_id": "900"})
        store.record("SO-1", "10010", "s2.uploaded", {"o_id": "900"})
        return "booked"

    with runtime.invocation(None):
        work = RecordView(store)
        claim = work.put("10010", "effect", "s2.upload:SO-1", {"state": "running"})
        store.record("SO-1", "10010", "s2.requested", {})  # a step of the effect, before its call
        calls.clear()
        done, booked = work.put_joined("10010", "effect", "s2.upload:SO-1", {"state": "done"},
                                       expected_version=claim.version, writes=book)
        assert (done.version, booked) == (2, "booked")
    assert calls == ["before-call.dynamodb.TransactWriteItems"]  # the invocation's steps went with it
    assert store.find("10010", "jst_order", "900", "store_order").other_key == "SO-1"
    assert RecordView(store).get("10010", "s2.order", "SO-1").data == {"o_id": "900"}
    assert [e.step for e in store.entries("SO-1", "10010")] == ["s2.requested", "s2.uploaded"]

    # The ledger is there already (a queued order remembered it): the joined request is refused
    # and nothing of it written; the bookkeeping runs again one write at a time, as it would have.
    work = RecordView(store)
    work.put("10010", "s2.order", "SO-2", {"lines": 1})
    claim = work.put("10010", "effect", "s2.upload:SO-2", {"state": "running"})
    link = DocumentLink("10010", "store_order", "SO-2", "jst_order", "901")
    runs = []

    def book_changing():
        runs.append(1)
        store.link(link)
        written, current = work.put_or_current("10010", "s2.order", "SO-2", {"o_id": "901"})
        if written is None:
            work.put("10010", "s2.order", "SO-2", {**current.data, "o_id": "901"}, expected_version=current.version)
        store.record("SO-2", "10010", "s2.uploaded", {})

    with runtime.invocation(None):
        done, _ = work.put_joined("10010", "effect", "s2.upload:SO-2", {"state": "done"},
                                  expected_version=claim.version, writes=book_changing)
    assert done.version == 2 and len(runs) == 2
    assert RecordView(store).get("10010", "s2.order", "SO-2").data == {"lines": 1, "o_id": "901"}
    assert store.find("10010", "store_order", "SO-2", "jst_order").other_key == "901"
    assert [e.step for e in store.entries("SO-2", "10010")] == ["s2.uploaded"]  # once, not once per run

    # Another worker's claim since (the lease ran out): no "done", and none of the bookkeeping joined
    # with it is written in the joined request (one by one it is, as without joining).
    work.put("10010", "effect", "s2.upload:SO-3", {"state": "running"})
    taken = work.put("10010", "effect", "s2.upload:SO-3", {"state": "running"}, expected_version=1)
    done, _ = work.put_joined("10010", "effect", "s2.upload:SO-3", {"state": "done"}, expected_version=1,
                              writes=lambda: None)
    assert done is None and RecordView(store).get("10010", "effect", "s2.upload:SO-3").version == taken.version

    # The bookkeeping fails: nothing of it is written.
    def failing():
        work.put_or_current("10010", "s2.order", "SO-4", {"o_id": "903"})
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        work.put_joined("10010", "effect", "s2.upload:SO-4", {"state": "done"}, expected_version=None, writes=failing)
    assert RecordView(store).get("10010", "s2.order", "SO-4") is None
    assert RecordView(store).get("10010", "effect", "s2.upload:SO-4") is None
    # Nor does the view that ran the block remember the held write as made (its next reads would
    # decide on a record that is not there).
    assert work.get("10010", "s2.order", "SO-4") is None


def test_a_delete_in_a_joined_block_goes_with_its_put_or_not_at_all(aws):
    # S1: the order's "dispatched" and its routing marker's removal, one request; refused, none of it.
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store = runtime.state_store()
    work = RecordView(store)
    work.put("10010", "s1.routing", "700001", {"route_no": 1})
    order = work.put("10010", "s1.order", "700001", {"status": "routing"})
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    written, _ = work.put_joined("10010", "s1.order", "700001", {"status": "dispatched"},
                                 expected_version=order.version,
                                 writes=lambda: work.delete("10010", "s1.routing", "700001"))
    assert written is not None and calls == ["before-call.dynamodb.TransactWriteItems"]
    assert RecordView(store).get("10010", "s1.routing", "700001") is None

    work.put("10010", "s1.routing", "700002", {"route_no": 1})
    work.put("10010", "s1.order", "700002", {"status": "routing"})
    def given_up():
        work.delete("10010", "s1.routing", "700002")
        raise RuntimeError("the store filled up")

    with pytest.raises(RuntimeError):  # the block given up: the delete is not made either
        work.put_joined("10010", "s1.order", "700002", {"status": "dispatched"}, expected_version=1, writes=given_up)
    assert RecordView(store).get("10010", "s1.routing", "700002") is not None


def _old_layout_rows(table: str) -> None:
    """What the version before per-tenant timelines wrote: one DOC#<key> partition for every
    merchant with that key, each entry naming its tenant; an alias naming none."""
    client = boto3.client("dynamodb")
    for ent_id, step, at in (("10010", "a.step", "2026-11-01T01:00:00+00:00"),
                             ("20020", "b.secret.step", "2026-11-01T02:00:00+00:00")):
        client.put_item(TableName=table, Item={
            "pk": {"S": "DOC#SO-1"}, "sk": {"S": f"AT#{at}#0000"}, "ent_id": {"S": ent_id}, "step": {"S": step},
            "level": {"S": "info"}, "detail": {"S": json.dumps({"customer": f"{ent_id}'s customer"})},
            "expires_at": {"N": "4102444800"}})
    client.put_item(TableName=table, Item={"pk": {"S": "DOC#TB-1"}, "sk": {"S": "ALIAS"}, "target": {"S": "SO-1"},
                                           "expires_at": {"N": "4102444800"}})
    client.put_item(TableName=table, Item={"pk": {"S": "DOC#GONE-1"}, "sk": {"S": "ALIAS"}, "target": {"S": "GONE"},
                                           "expires_at": {"N": "4102444800"}})



def test_old_untenanted_timelines_move_under_their_tenant_and_no_merchant_sees_anothers(aws, capsys):
    from o2o_bridge.cli import main as o2o

    store = runtime.state_store()
    tenant = parse_tenant(demo_doc())
    store.put(tenant)
    store.put(tenant.model_copy(update={"ent_id": "20020"}))
    store.record("SO-1", "10010", "a.newer.step")  # written after the upgrade, before the migration
    _old_layout_rows(aws["STATE_TABLE"])
    # before: the old rows are out of view, never shown to the wrong merchant
    assert [e.step for e in store.entries("SO-1", "10010")] == ["a.newer.step"]
    assert store.entries("SO-1", "20020") == []

    assert o2o(["maintenance", "timelines", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"entries": 2, "aliases": 2, "dropped_aliases": 1, "dry_run": True}
    assert store.entries("SO-1", "20020") == []  # a dry run changes nothing

    assert o2o(["maintenance", "timelines"]) == 0
    assert "moved 2 timeline entries and 2 aliases" in capsys.readouterr().out
    a, b = store.entries("SO-1", "10010"), store.entries("SO-1", "20020")
    assert sorted(e.step for e in a) == ["a.newer.step", "a.step"] and [e.step for e in b] == ["b.secret.step"]
    assert all(e.ent_id == "10010" and "20020" not in json.dumps(e.detail) for e in a)
    assert [e.step for e in store.entries("TB-1", "20020")] == ["b.secret.step"]  # the alias, per tenant
    assert o2o(["trace", "SO-1", "--tenant", "10010"]) == 0
    shown = capsys.readouterr().out
    assert "a.step" in shown and "b.secret.step" not in shown and "20020's customer" not in shown
    untenanted = [i for i in boto3.client("dynamodb").scan(TableName=aws["STATE_TABLE"])["Items"]
                  if i["pk"]["S"] in ("DOC#SO-1", "DOC#TB-1", "DOC#GONE-1")]
    assert untenanted == []
    assert o2o(["maintenance", "timelines", "--json"]) == 0  # a second run finds nothing
    assert json.loads(capsys.readouterr().out)["entries"] == 0


def test_tenant_lookups_are_cached_found_or_not_and_a_put_is_seen_at_once(aws):
    """A stranger's entId costs what a merchant's costs (one read per cache period), the cache is
    bounded against a flood of invented entIds, and a tenant put here is found at once."""
    from o2o_bridge.connectors.aws.dynamodb_state import DynamoStateStore

    reads: list[str] = []

    class CountingClient:
        def __init__(self, client):
            self.client = client

        def get_item(self, **kwargs):
            reads.append(kwargs["Key"]["pk"]["S"])
            return self.client.get_item(**kwargs)

        def __getattr__(self, name):
            return getattr(self.client, name)

    store = DynamoStateStore(CountingClient(boto3.client("dynamodb")), aws["STATE_TABLE"])
    store.TENANT_CACHE_ENTRIES = 3
    store.put(parse_tenant(demo_doc()))
    for _ in range(2):
        assert store.get("10010") is not None and store.get("99999") is None
    assert reads == ["TENANT#10010", "TENANT#99999"]
    store.put(parse_tenant({**demo_doc(), "ent_id": "99999"}))
    assert store.get("99999") is not None  # the put dropped the cached miss
    for invented in ("a1", "a2", "a3"):
        store.get(invented)
    assert len(store._tenant_cache) == 3  # the oldest entries made room


def test_an_ended_invocations_remaining_time_is_not_read_by_work_after_it():
    # A warm container's later work, or a test's own flows after a handler ran, would otherwise
    # see the ended invocation's clock run out and stop their scans early.
    from types import SimpleNamespace

    from o2o_bridge import wiring

    spent = SimpleNamespace(get_remaining_time_in_millis=lambda: 0)
    with runtime.invocation(None):  # outside Lambda: no clock
        with runtime.invocation(spent):
            assert wiring.invocation_clock(runtime.lambda_context())() == 0
        assert runtime.lambda_context() is None
        assert wiring.invocation_clock(runtime.lambda_context())() == float("inf")


def test_invocations_served_side_by_side_in_threads_leave_no_clock_behind():
    # The local stack serves webhooks in threads beside the CLI's own work: an invocation that
    # ends after another began must not put the other's (soon spent) clock back for later work.
    import threading
    from types import SimpleNamespace

    from o2o_bridge import wiring

    spent = SimpleNamespace(get_remaining_time_in_millis=lambda: 0)
    began, other_ended = threading.Event(), threading.Event()

    def the_other_request():
        with runtime.invocation(spent):
            began.set()
            other_ended.wait(5)

    thread = threading.Thread(target=the_other_request)
    with runtime.invocation(None):
        thread.start()
        assert began.wait(5)
        assert wiring.invocation_clock(runtime.lambda_context())() == float("inf")  # not the other thread's
    other_ended.set()
    thread.join(5)
    assert runtime.lambda_context() is None
    assert wiring.invocation_clock(runtime.lambda_context())() == float("inf")


def test_a_documents_record_is_claimed_and_completed_in_one_write_each_and_keeps_its_steps(aws):
    """kit.claim_document's requests: the claim returns the record (ALL_NEW, or ALL_OLD with a
    refusal), the "done" writes data, marks and steps and frees the claim, a ledger change keeps
    them; `o2o trace` reads the steps with the document's timeline items."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store = runtime.state_store()
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    work, other = RecordView(store), RecordView(store)
    assert other.put("10010", "s2.order", "SO-1", {"o_id": "9"})
    taken, state = work.claim("10010", "s2.order", "SO-1", owner="a", until=200.0, now=100.0, unless=("done:1",))
    assert taken and (state.data, state.version, state.owner, state.marks) == ({"o_id": "9"}, 1, "a", frozenset())
    refused, held = other.claim("10010", "s2.order", "SO-1", owner="b", until=300.0, now=150.0)
    assert not refused and held.owner == "a"  # the lease runs: what is stored came back with the refusal
    # another flow's change meanwhile keeps the claim
    assert other.replace("10010", "s2.order", "SO-1", {"o_id": "9", "refused": "x"}, expected_version=1)
    assert not work.complete("10010", "s2.order", "SO-1", owner="a", data={"o_id": "9", "c": 1}, expected_version=1,
                             marks=frozenset({"done:1"}))[0]  # the version moved: refused, and read again
    with runtime.invocation(None):
        store.record("SO-1", "10010", "s2.pushed", {})
        held_steps = store.take_held("SO-1", "10010")
    from datetime import datetime, timezone

    step = {"at": datetime.now(timezone.utc).isoformat(), "step": "s2.cancelled_at_store", "level": "info", "detail": {}}
    done, state = work.complete("10010", "s2.order", "SO-1", owner="a", data={"o_id": "9", "refused": "x", "c": 1},
                                expected_version=2, marks=frozenset({"done:1"}), steps=(*held_steps, step))
    assert done and state.owner is None and state.marks == {"done:1"} and state.version == 3
    calls.clear()
    repeat, state = other.claim("10010", "s2.order", "SO-1", owner="b", until=300.0, now=150.0, unless=("done:1",))
    assert not repeat and state.data == {"o_id": "9", "refused": "x", "c": 1} and len(calls) == 1
    assert [e.step for e in store.entries("SO-1", "10010", kept_on=("s2.order",))] == ["s2.pushed",
                                                                                       "s2.cancelled_at_store"]
    store.put(parse_tenant(demo_doc()))
    assert store.timeline_tenants("SO-1", kept_on=("s2.order",)) == ["10010"]
    # a claim on a document not known yet, given back, leaves nothing
    taken, state = work.claim("10010", "s2.order", "SO-2", owner="a", until=200.0, now=100.0)
    assert taken and (state.data, state.version) == ({}, 0)
    assert work.release("10010", "s2.order", "SO-2", owner="a", created=True)
    assert work.get("10010", "s2.order", "SO-2") is None


def test_a_documents_done_is_written_with_its_bookkeeping_in_one_request_or_else_one_by_one(aws):
    """``records.complete(writes=...)``: the bookkeeping's puts held and written with the "done" in one
    TransactWriteItems; refused (a held put's condition), nothing of it is written, the bookkeeping
    runs again one write at a time and the "done" goes alone."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store = runtime.state_store()
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    work = RecordView(store)
    work.put("10010", "s1.order", "IO-1", {"status": "dispatched"})
    work.put("10010", "reservation", "SKU|S1", {"orders": {"IO-1": 1, "IO-9": 2}})
    taken, state = work.claim("10010", "s1.order", "IO-1", owner="a", until=200.0, now=100.0)
    calls.clear()

    def book():
        held = work.get("10010", "reservation", "SKU|S1")
        work.put("10010", "reservation", "SKU|S1", {"orders": {"IO-9": 2}}, expected_version=held.version)
        work.put("10010", "s1.confirm.pending", "IO-1", {"how": "shipped"})

    done, state = work.complete("10010", "s1.order", "IO-1", owner="a", data=state.data, expected_version=1,
                                marks=frozenset({"s1.finished:F1"}), writes=book)
    assert done and state.version == 2 and state.marks == {"s1.finished:F1"}
    assert calls == ["before-call.dynamodb.TransactWriteItems"]  # the hold was read before (remembered)
    fresh = RecordView(store)
    assert fresh.get("10010", "reservation", "SKU|S1").data == {"orders": {"IO-9": 2}}
    assert fresh.get("10010", "s1.confirm.pending", "IO-1").data == {"how": "shipped"}
    refused, state = fresh.claim("10010", "s1.order", "IO-1", owner="b", until=300.0, now=150.0,
                                 unless=("s1.finished:F1",))
    assert not refused and state.version == 2

    # A confirmation queued before (a held put refused): none of it joined, then one by one.
    work = RecordView(store)
    work.put("10010", "s1.order", "IO-2", {"status": "dispatched"})
    work.put("10010", "s1.confirm.pending", "IO-2", {"how": "earlier"})
    taken, state = work.claim("10010", "s1.order", "IO-2", owner="a", until=200.0, now=100.0)
    runs = []

    def book_again():
        runs.append(1)
        work.put("10010", "reservation", "SKU|S2", {"orders": {}})
        work.put("10010", "s1.confirm.pending", "IO-2", {"how": "shipped"})

    done, state = work.complete("10010", "s1.order", "IO-2", owner="a", data=state.data, expected_version=1,
                                marks=frozenset({"s1.finished:F2"}), writes=book_again)
    assert done and len(runs) == 2 and state.marks == {"s1.finished:F2"}
    assert RecordView(store).get("10010", "s1.confirm.pending", "IO-2").data == {"how": "earlier"}
    assert RecordView(store).get("10010", "reservation", "SKU|S2").data == {"orders": {}}


def test_records_deleted_and_a_step_per_document_go_with_the_writes_of_one_transaction(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView
    from o2o_bridge.ports import TogetherWrite

    store = runtime.state_store()
    work = RecordView(store)
    pending = [work.put("10010", "s1.confirm.pending", io, {"how": "shipped"}) for io in ("A", "B")]
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    writes = [w for record in pending for w in (
        TogetherWrite("effect", f"s1.confirm:{record.key}", {"state": "done"}, expect_version=True),
        TogetherWrite("s1.confirm.pending", record.key, delete=True, expect_version=True,
                      expected_version=record.version))]
    assert work.write_together("10010", writes, traces=(("A", "s1.confirmed_in_jst", {}),
                                                        ("B", "s1.confirmed_in_jst", {}))) is None
    assert calls == ["before-call.dynamodb.TransactWriteItems"]
    assert work.get("10010", "s1.confirm.pending", "A") is None and work.get("10010", "s1.confirm.pending", "B") is None
    assert work.get("10010", "effect", "s1.confirm:B").data == {"state": "done"}
    assert [e.step for e in store.entries("B", "10010")] == ["s1.confirmed_in_jst"]
    # A "done" there already: nothing written, and the write that stood in the way is named.
    again = work.put("10010", "s1.confirm.pending", "A", {"how": "shipped"})
    refused = work.write_together("10010", [
        TogetherWrite("effect", "s1.confirm:A", {"state": "done"}, expect_version=True),
        TogetherWrite("s1.confirm.pending", "A", delete=True, expect_version=True, expected_version=again.version)])
    assert [failed for failed, _ in refused] == [True, False]
    assert work.get("10010", "s1.confirm.pending", "A") is not None


def test_a_records_members_are_added_by_writes_and_touches_capped_and_taken_and_kept_across_its_data(aws):
    """TogetherWrite.add_members / drop_members / members_below: a string set beside the data (a
    stock flush's marker keeps its dirty SKUs so), read back with the record in one batch."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView
    from o2o_bridge.ports import TogetherWrite

    store = runtime.state_store()
    work = RecordView(store)
    assert work.write_together("10010", [TogetherWrite("mark", "M", {"n": 1}, rank=10, add_members=("A", "B"))]) is None
    touch = TogetherWrite("mark", "M", rank_above=5, touch=True, add_members=("C",), members_below=3)
    assert work.write_together("10010", [touch]) is None  # two members, fewer than three: added
    marker = work.get_many_of("10010", [("mark", "M")])[("mark", "M")]
    assert marker.members == {"A", "B", "C"} and marker.data == {"n": 1} and marker.version == 2
    [(failed, current)] = work.write_together("10010", [touch])  # three: refused, the record returned
    assert failed and current.members == {"A", "B", "C"}
    # a new data keeps the members; taking some at the version read leaves the others
    assert work.write_together("10010", [TogetherWrite("mark", "M", {"n": 2}, expect_version=True, expected_version=2,
                                                       drop_members=("A", "C"))]) is None
    marker = work.get("10010", "mark", "M")
    assert marker.members == {"B"} and marker.data == {"n": 2}
    assert work.write_together("10010", [TogetherWrite("mark", "M", {"n": 3}, rank=20, rank_below=30,
                                                       drop_members=("B",))]) is None
    assert work.get("10010", "mark", "M").members == frozenset()


def test_claimed_records_are_completed_together_in_one_transaction_or_not_at_all(aws):
    """records.complete_together (kit's ``joining``): one TransactWriteItems of the "done"s; a
    claim that is no longer its owner's refuses the lot, and nothing is written."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store = runtime.state_store()
    work = RecordView(store)
    for kind in ("qimen.document", "s2.order"):
        work.claim("10010", kind, "QD-1", owner="a", until=200.0, now=100.0)
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    writes = [{"kind": kind, "key": "QD-1", "owner": "a", "data": {"kind": kind}, "expected_version": 0,
               "marks": {f"{kind}:done"}, "steps": None, "ttl_days": 1} for kind in ("s2.order", "qimen.document")]
    assert not work.complete_together("10010", [{**writes[0], "owner": "b"}, writes[1]])
    assert store.get_record("10010", "qimen.document", "QD-1").version == 0  # nothing written
    calls.clear()
    assert work.complete_together("10010", writes) and len(calls) == 1
    for kind in ("qimen.document", "s2.order"):
        taken, state = work.claim("10010", kind, "QD-1", owner="c", until=300.0, now=150.0, unless=(f"{kind}:done",))
        assert not taken and state.owner is None and state.version == 1 and state.data == {"kind": kind}


def test_marks_are_added_to_a_record_with_nothing_read_and_ride_with_a_documents_done(aws):
    """``TogetherWrite.add_marks``: the marks added and the version raised on no condition (the data
    written only where none is); inside ``complete(writes=...)`` such a write goes with the "done",
    one TransactWriteItems with no read first. A put of the record clears its marks."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView
    from o2o_bridge.ports import TogetherWrite

    store = runtime.state_store()
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    work = RecordView(store)
    work.put("10010", "s1.order", "IO-1", {"status": "dispatched"})
    held = work.put("10010", "reservation", "SKU|S1", {"orders": {"IO-1": 1, "IO-9": 2}})
    taken, state = work.claim("10010", "s1.order", "IO-1", owner="a", until=200.0, now=100.0)
    calls.clear()

    def book():
        work.write_together("10010", [
            TogetherWrite("reservation", key, {"orders": {}}, add_marks=("let_go:IO-1",), ttl_days=60)
            for key in ("SKU|S1", "SKU|S2")])  # S2: no record yet

    done, state = work.complete("10010", "s1.order", "IO-1", owner="a", data=state.data, expected_version=1,
                                marks=frozenset({"s1.finished:F1"}), writes=book)
    assert done and calls == ["before-call.dynamodb.TransactWriteItems"]
    fresh = RecordView(store)
    kept = fresh.get("10010", "reservation", "SKU|S1")
    assert kept.data == {"orders": {"IO-1": 1, "IO-9": 2}} and kept.marks == {"let_go:IO-1"}
    assert kept.version == held.version + 1  # a writer that read before is refused
    made = fresh.get("10010", "reservation", "SKU|S2")
    assert made.data == {"orders": {}} and made.marks == {"let_go:IO-1"} and made.version == 1
    # Marks added again (a repeat) change nothing but the version; a put clears them.
    assert fresh.write_together("10010", [TogetherWrite("reservation", "SKU|S1", add_marks=("let_go:IO-1",))]) is None
    assert fresh.get("10010", "reservation", "SKU|S1").marks == {"let_go:IO-1"}
    assert fresh.put("10010", "reservation", "SKU|S1", {"orders": {"IO-9": 2}}, expected_version=kept.version) is None
    again = fresh.get("10010", "reservation", "SKU|S1")
    fresh.put("10010", "reservation", "SKU|S1", {"orders": {"IO-9": 2}}, expected_version=again.version)
    assert RecordView(store).get("10010", "reservation", "SKU|S1").marks == frozenset()
    assert [r.marks for r in store.list_records("10010", "reservation")] == [frozenset(), {"let_go:IO-1"}]


def test_a_data_write_drops_only_the_marks_it_names_and_joins_a_blocks_request(aws):
    """``TogetherWrite.drop_marks``: a write of the record's data takes those marks off and keeps the
    others (a store's reservations fold in the let-go marks they read, not one added since). Inside
    ``put_joined`` a conditional ``write_together`` goes with the block's put, one request; refused
    (its condition), nothing of the block is written and it runs again one write at a time."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView
    from o2o_bridge.ports import TogetherWrite

    store = runtime.state_store()
    work = RecordView(store)
    work.put("10010", "reservation", "S1", {"held": {"A": 3}})
    work.write_together("10010", [TogetherWrite("reservation", "S1", add_marks=("let_go:1", "let_go:2"))])
    read = RecordView(store).get("10010", "reservation", "S1")
    assert read.marks == {"let_go:1", "let_go:2"}
    assert work.write_together("10010", [TogetherWrite("reservation", "S1", {"held": {"A": 2}}, expect_version=True,
                                                       expected_version=read.version, drop_marks=("let_go:1",))]) is None
    kept = RecordView(store).get("10010", "reservation", "S1")
    assert kept.data == {"held": {"A": 2}} and kept.marks == {"let_go:2"}

    order = work.put("10010", "s1.order", "IO-1", {"status": "routing"})
    calls = []
    store.client.meta.events.register("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    hold = TogetherWrite("reservation_hold", "S1/IO-1", {"lines": {"A": 1}}, expect_version=True,
                         expected_version=None)
    store_write = TogetherWrite("reservation", "S1", {"held": {"A": 3}}, expect_version=True,
                                expected_version=kept.version)
    answers = []
    written, _ = work.put_joined("10010", "s1.order", "IO-1", {"status": "dispatched"}, expected_version=order.version,
                                 writes=lambda: answers.append(work.write_together("10010", [store_write, hold])))
    assert written is not None and answers == [None] and calls == ["before-call.dynamodb.TransactWriteItems"]
    fresh = RecordView(store)
    assert fresh.get("10010", "reservation", "S1").data == {"held": {"A": 3}}
    assert fresh.get("10010", "reservation_hold", "S1/IO-1").data == {"lines": {"A": 1}}

    order = fresh.get("10010", "s1.order", "IO-1")
    calls.clear()
    answers.clear()
    stale = TogetherWrite("reservation", "S1", {"held": {"A": 9}}, expect_version=True, expected_version=kept.version)
    written, _ = work.put_joined("10010", "s1.order", "IO-1", {"status": "cancelled"}, expected_version=order.version,
                                 writes=lambda: answers.append(work.write_together("10010", [stale])))
    # The joined request refused by the stale write; run again one by one: it is refused on its own
    # (answered with what is stored), and the order's put goes alone.
    assert calls == ["before-call.dynamodb.TransactWriteItems"] * 2 + ["before-call.dynamodb.PutItem"]
    assert answers[0] is None and answers[1][0][0] is True and written is not None
    assert RecordView(store).get("10010", "reservation", "S1").data == {"held": {"A": 3}}
