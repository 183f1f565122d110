"""kit.claim_document: an effect's claim and "done" kept on its document's record. Whatever the
interleaving of workers and expired leases: one effect downstream, one "done", only the worker
whose claim it is reports the effect as its own, and another flow's change of the record made
meanwhile is kept."""

from datetime import timedelta

import pytest

from fakes import fake_context
from o2o_bridge.flows import kit
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc

KIND, KEY, MARK = "s2.order", "SO-1", "s2.store-cancel:SO-1"


@pytest.fixture
def workers():
    """Two Lambdas (contexts of their own) over one state table, on one clock."""
    first = fake_context(parse_tenant(demo_doc()))
    second = fake_context(parse_tenant(demo_doc()), records=first.records, timeline=first.timeline)
    clock = [first.now()]
    for ctx in (first, second):
        ctx.now = lambda: clock[0]
        ctx.time_left = lambda: 100.0  # leases of 115 s
    first.clock = clock
    return first, second


def later(ctx, seconds):
    ctx.clock[0] += timedelta(seconds=seconds)


def cancelled(data):
    return {**data, "cancelled_by": "jst"}


def test_a_claim_reads_the_record_and_a_done_writes_change_mark_and_step_at_once(workers):
    ctx, other = workers
    ctx.records.put(ctx.ent_id, KIND, KEY, {"o_id": "9"})
    with kit.claim_document(ctx, KIND, KEY, unless=(MARK,)) as claim:
        assert not claim.repeated and claim.data == {"o_id": "9"}
        assert claim.complete(cancelled, marks=(MARK,), step=("s2.cancelled_at_store", {"remark": None}))
    assert ctx.records.get(ctx.ent_id, KIND, KEY).data == {"o_id": "9", "cancelled_by": "jst"}
    assert ctx.timeline.steps(KEY) == ["s2.cancelled_at_store"]
    again = kit.claim_document(other, KIND, KEY, unless=(MARK,))
    assert again.repeated and not again.open  # refused on the mark: nothing held, nothing to release


def test_a_second_worker_waits_for_the_lease_then_takes_over_and_the_late_one_does_not_count(workers):
    first, second = workers
    claim = kit.claim_document(first, KIND, KEY, unless=(MARK,))
    with pytest.raises(kit.EffectInProgress):
        kit.claim_document(second, KIND, KEY, unless=(MARK,))
    later(first, 200)  # the first one's lease ran out (it is surely gone, or late)
    taken = kit.claim_document(second, KIND, KEY, unless=(MARK,))
    assert taken.complete(cancelled, marks=(MARK,))
    # The first one comes back late: the other's done is there, so its own is not written.
    assert claim.complete(cancelled, marks=(MARK,)) is False
    assert first.metric.values["EffectLeaseLost"] == 1
    assert first.records.get(first.ent_id, KIND, KEY).version == 1


def test_a_late_worker_whose_claim_was_taken_and_not_finished_is_told_to_come_back(workers):
    first, second = workers
    claim = kit.claim_document(first, KIND, KEY, unless=(MARK,))
    later(first, 200)
    kit.claim_document(second, KIND, KEY, unless=(MARK,))  # taken over, still running
    with pytest.raises(kit.EffectLeaseLost):
        claim.complete(cancelled, marks=(MARK,))


def test_another_flows_change_made_while_the_claim_is_held_is_kept(workers):
    from o2o_bridge.flows.warehouse_orders.ledger import ORDERS, OrderLedger

    first, second = workers
    first.records.put(first.ent_id, KIND, KEY, {"o_id": "9"})
    claim = kit.claim_document(first, KIND, KEY, unless=(MARK,))
    ORDERS.change(second, KEY, OrderLedger.refuse, "too late")  # keeps the claim (records.replace)
    assert claim.complete(cancelled, marks=(MARK,))
    assert first.records.get(first.ent_id, KIND, KEY).data == {"o_id": "9", "refused": "too late",
                                                               "cancelled_by": "jst"}


def test_a_claim_on_an_unknown_document_given_back_leaves_nothing(workers):
    from o2o_bridge.flows.warehouse_orders.ledger import ORDERS

    ctx, _ = workers
    with kit.claim_document(ctx, KIND, "SO-NEW") as claim:
        assert claim.data == {} and not ORDERS.exists(ctx, "SO-NEW")  # a claim is no ledger
    assert ctx.records.get(ctx.ent_id, KIND, "SO-NEW") is None


def test_a_failure_releases_the_claim_so_the_retry_need_not_wait_for_the_lease(workers):
    first, second = workers
    with pytest.raises(RuntimeError), kit.claim_document(first, KIND, KEY, unless=(MARK,)):
        raise RuntimeError("店+ answered 500")
    assert kit.claim_document(second, KIND, KEY, unless=(MARK,)).open


def test_a_claim_held_by_this_piece_of_work_is_found_again_not_claimed_twice(workers):
    ctx, _ = workers
    with kit.claim_document(ctx, KIND, KEY) as outer:  # e.g. a push, before it reads JST again
        with kit.claim_document(ctx, KIND, KEY, unless=(MARK,)) as inner:  # the step it leads to
            assert inner is outer and not inner.repeated
        assert outer.open  # the outermost block gives it back
    assert not outer.open


NEWS = "qimen.document"


def test_completions_inside_joining_are_held_and_written_with_the_joining_claims_done(workers):
    """claim.joining(): another claim's done is held (its data and marks show it, a second use of
    the same document in this work finds it held) and written with the joining claim's own done,
    in one request; nothing of either is written before."""
    ctx, other = workers
    ctx.records.put(ctx.ent_id, NEWS, KEY, {"confirmed": 0})
    calls = []
    together = ctx.records.complete_together
    ctx.records.complete_together = lambda *a, **k: calls.append(a) or together(*a, **k)
    with kit.claim_document(ctx, NEWS, KEY, unless=("message:1",)) as news, news.joining():
        with kit.claim_document(ctx, KIND, KEY, unless=("parcel:1",)) as parcel:
            assert parcel.complete(lambda data: {**data, "shipped": 1}, marks=("parcel:1",))
        again = kit.claim_document(ctx, KIND, KEY, unless=("parcel:1",))
        assert again is parcel and again.repeated and parcel.data == {"shipped": 1}
        with kit.claim_document(ctx, KIND, KEY, unless=("parcel:2",)) as second:
            assert second.complete(lambda data: {**data, "shipped": data["shipped"] + 1}, marks=("parcel:2",))
        assert ctx.records.get(ctx.ent_id, KIND, KEY).data == {}  # held, not written yet
        with pytest.raises(kit.EffectInProgress):  # still claimed: nobody else takes it meanwhile
            kit.claim_document(other, KIND, KEY)
        assert news.complete(lambda data: {**data, "confirmed": 2}, marks=("message:1",))
    assert len(calls) == 1
    assert ctx.records.get(ctx.ent_id, KIND, KEY).data == {"shipped": 2}
    assert ctx.records.get(ctx.ent_id, NEWS, KEY).data == {"confirmed": 2}
    assert kit.claim_document(other, KIND, KEY, unless=("parcel:2",)).repeated
    assert kit.claim_document(other, NEWS, KEY, unless=("message:1",)).repeated


def test_a_refused_joint_write_is_written_one_claim_at_a_time_and_a_failed_block_keeps_what_was_done(workers):
    ctx, other = workers
    ctx.records.complete_together = lambda *a, **k: False  # e.g. the store could not write them together
    with kit.claim_document(ctx, NEWS, KEY) as news, news.joining():
        with kit.claim_document(ctx, KIND, KEY, unless=("parcel:1",)) as parcel:
            parcel.complete(lambda data: {"shipped": 1}, marks=("parcel:1",))
        assert news.complete(lambda data: {"confirmed": 1}, marks=("message:1",))
    assert ctx.records.get(ctx.ent_id, KIND, KEY).data == {"shipped": 1}
    assert ctx.records.get(ctx.ent_id, NEWS, KEY).data == {"confirmed": 1}
    # The joining claim's work fails after a held done: the done is written alone, the claim given back.
    with pytest.raises(RuntimeError):
        with kit.claim_document(ctx, NEWS, "SO-2") as news, news.joining():
            with kit.claim_document(ctx, KIND, "SO-2", unless=("parcel:9",)) as parcel:
                parcel.complete(lambda data: {"shipped": 9}, marks=("parcel:9",))
            raise RuntimeError("the hand-over failed")
    assert ctx.records.get(ctx.ent_id, KIND, "SO-2").data == {"shipped": 9}
    assert kit.claim_document(other, KIND, "SO-2", unless=("parcel:9",)).repeated
    assert ctx.records.get(ctx.ent_id, NEWS, "SO-2") is None  # the claim it created is given back
