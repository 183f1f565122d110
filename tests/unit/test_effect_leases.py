"""effect_once under expired leases: whatever the interleaving, one effect downstream, one
"done" record, and only the worker whose claim it is says the effect was its own."""

import threading
from datetime import timedelta

import pytest

from fakes import fake_context
from o2o_bridge.errors import TransientError
from o2o_bridge.flows import kit
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc

KEY = "s1.confirm:700001"


class Downstream:
    """A system with business keys: a repeated key is answered, not applied again."""

    def __init__(self):
        self.applied: list[str] = []
        self.calls = 0

    def apply(self, business_key, answer):
        self.calls += 1
        if business_key not in self.applied:
            self.applied.append(business_key)
        return answer


@pytest.fixture
def ctx():
    context = fake_context(parse_tenant(demo_doc()))
    clock = [context.now()]
    context.now = lambda: clock[0]
    context.clock = clock
    context.time_left = lambda: 100.0  # a Lambda with 100 s left: leases of 115 s
    return context


def later(ctx, seconds):
    ctx.clock[0] += timedelta(seconds=seconds)


def done_record(ctx):
    return ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, KEY).data


def test_the_lease_is_the_invocation_s_remaining_time_plus_a_margin(ctx):
    ctx.time_left = lambda: 7.5
    assert kit.lease_seconds_for(ctx) == 7.5 + kit.LEASE_MARGIN_SECONDS
    ctx.time_left = lambda: float("inf")  # the CLI: as long as any Lambda may run
    assert kit.lease_seconds_for(ctx) == kit.LEASE_WITHOUT_DEADLINE_SECONDS + kit.LEASE_MARGIN_SECONDS


def test_a_late_success_after_another_worker_finished_does_not_overwrite_its_done(ctx):
    store = Downstream()
    told = {}

    def slow_a():
        later(ctx, 200)  # A's call outlives its lease; meanwhile B takes the effect over and finishes it
        told["b"] = kit.effect_once(ctx, KEY, lambda: store.apply(KEY, {"by": "B"}))
        return store.apply(KEY, {"by": "A"})

    told["a"] = kit.effect_once(ctx, KEY, slow_a)

    assert store.applied == [KEY]  # one effect downstream
    assert done_record(ctx)["result"] == {"by": "B"}  # B's "done" stands
    assert (told["b"].repeated, told["a"].repeated, told["a"].late) == (False, True, True)
    assert told["a"].result == {"by": "B"}  # A reports the effect as B's, truthfully
    assert ctx.metric.values.get("EffectLeaseLost") == 1


def test_a_late_success_while_the_other_worker_still_runs_is_retried_and_then_a_repeat(ctx):
    store = Downstream()
    a_in_call, b_in_call, a_finished = threading.Event(), threading.Event(), threading.Event()
    told = {}

    def do_a():
        a_in_call.set()
        b_in_call.wait(5)
        return store.apply(KEY, {"by": "A"})

    def do_b():
        b_in_call.set()
        a_finished.wait(5)
        return store.apply(KEY, {"by": "B"})

    def worker(name, do):
        try:
            told[name] = kit.effect_once(ctx, KEY, do)
        except Exception as exc:  # noqa: BLE001 - the test looks at what each worker was told
            told[name] = exc

    a = threading.Thread(target=worker, args=("a", do_a))
    a.start()
    a_in_call.wait(5)
    later(ctx, 200)  # A's lease (115 s) runs out while it is in its call
    b = threading.Thread(target=worker, args=("b", do_b))
    b.start()
    a.join(5)
    a_finished.set()
    b.join(5)

    assert isinstance(told["a"], kit.EffectLeaseLost)  # A does not claim the effect
    assert told["b"].repeated is False and done_record(ctx)["result"] == {"by": "B"}
    # A's step comes back (EffectLeaseLost is transient) and finds it done: a repeat, no second effect.
    again = kit.effect_once(ctx, KEY, lambda: store.apply(KEY, {"by": "A again"}))
    assert again.repeated and store.applied == [KEY] and store.calls == 2


def test_a_release_after_the_lease_expired_leaves_the_new_claim_alone(ctx):
    store = Downstream()

    def a_fails_late():
        later(ctx, 200)
        # B claims the expired effect and is mid-call when A's failure comes back.
        with pytest.raises(TransientError):
            kit.effect_once(ctx, KEY, lambda: (_ for _ in ()).throw(TransientError("B's call failed")))
        raise TransientError("A's call timed out")

    with pytest.raises(TransientError, match="A's call"):
        kit.effect_once(ctx, KEY, a_fails_late)
    # Both released their own claim only; the retry does the effect once.
    assert kit.effect_once(ctx, KEY, lambda: store.apply(KEY, "ok")).result == "ok"
    assert store.applied == [KEY]


def test_a_release_never_removes_a_claim_taken_over_meanwhile(ctx):
    seen = {}

    def a_fails_after_b_claimed():
        later(ctx, 200)
        record = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, KEY)
        # B's claim (a conditional write over A's expired one), still running.
        ctx.records.put(ctx.ent_id, kit.EFFECT_KIND, KEY,
                        {"state": "running", "lease_until": (ctx.now() + timedelta(seconds=115)).isoformat()},
                        expected_version=record.version)
        seen["b_version"] = record.version + 1
        raise TransientError("A's call timed out")

    with pytest.raises(TransientError):
        kit.effect_once(ctx, KEY, a_fails_after_b_claimed)
    record = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, KEY)
    assert record.data["state"] == "running" and record.version == seen["b_version"]
    with pytest.raises(kit.EffectInProgress):
        kit.effect_once(ctx, KEY, lambda: "C")


def test_an_old_claim_never_matches_a_newer_record_after_releases(ctx):
    """A claims (v1), its lease runs out; B takes over and fails (released); C claims. A's late
    completion must not land on C's claim although all of them wrote the same key."""
    store = Downstream()

    def a():
        later(ctx, 200)
        with pytest.raises(TransientError):
            kit.effect_once(ctx, KEY, lambda: (_ for _ in ()).throw(TransientError("B failed")))
        c_claim = {}

        def c():
            c_claim["record"] = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, KEY)
            return store.apply(KEY, "C")

        # C runs to completion inside A's call: A's completion comes after C's done.
        kit.effect_once(ctx, KEY, c)
        assert c_claim["record"].data["state"] == "running"
        return store.apply(KEY, "A")

    outcome = kit.effect_once(ctx, KEY, a)
    assert outcome.repeated and outcome.late and outcome.result == "C"
    assert done_record(ctx)["result"] == "C" and store.applied == [KEY]


def test_request_count_is_two_writes_and_a_repeat_one(ctx):
    class Counting:
        def __init__(self, inner):
            self.inner, self.calls = inner, []

        def __getattr__(self, name):
            def call(*args, **kwargs):
                self.calls.append(name)
                return getattr(self.inner, name)(*args, **kwargs)
            return call

    ctx.records = Counting(ctx.records)
    kit.effect_once(ctx, KEY, lambda: "ok")
    assert ctx.records.calls == ["put_or_current", "put"]  # the claim, then "done": no read first
    ctx.records.calls.clear()
    assert kit.effect_once(ctx, KEY, lambda: "again").repeated
    assert ctx.records.calls == ["put_or_current"]  # the refused claim brings the "done" record along
    ctx.records.calls.clear()
    with pytest.raises(TransientError):
        kit.effect_once(ctx, "other", lambda: (_ for _ in ()).throw(TransientError("x")))
    assert ctx.records.calls == ["put_or_current", "delete"]  # a first claim that failed leaves nothing behind
    assert ctx.records.inner.get(ctx.ent_id, kit.EFFECT_KIND, "other") is None


# --- an effect recorded after it happened (a batched call's answer) ------------------------------


def test_an_effect_recorded_after_it_happened_is_one_write_and_a_repeat_gets_the_first_result(ctx):
    first = kit.effect_recorded(ctx, KEY, {"by": "batch 1"})
    again = kit.effect_recorded(ctx, KEY, {"by": "batch 2"})
    assert (first.repeated, again.repeated) == (False, True)
    assert again.result == {"by": "batch 1"} and done_record(ctx)["result"] == {"by": "batch 1"}
    # The one-at-a-time path (effect_once) then finds it done and does nothing.
    store = Downstream()
    assert kit.effect_once(ctx, KEY, lambda: store.apply(KEY, {"by": "one"})).repeated and store.calls == 0


def test_an_effect_recorded_waits_for_another_worker_s_live_claim_and_takes_over_an_expired_one(ctx):
    def in_call():
        with pytest.raises(kit.EffectInProgress):  # the batch's answer waits: the claim is alive
            kit.effect_recorded(ctx, KEY, {"by": "batch"})
        later(ctx, 200)  # the claimer's lease runs out while it is in its call
        assert kit.effect_recorded(ctx, KEY, {"by": "batch"}).repeated is False
        return {"by": "one"}

    late = kit.effect_once(ctx, KEY, in_call)
    assert (late.repeated, late.late) == (True, True)  # the claimer reports the batch's, truthfully
    assert done_record(ctx)["result"] == {"by": "batch"}


def test_a_claim_taken_with_an_earlier_block_is_the_one_effect_once_does_the_effect_under(ctx):
    store = Downstream()
    claim = kit.claim_effect_with(ctx, KEY)
    assert claim is not None and done_record(ctx)["state"] == "running"
    outcome = kit.effect_once(ctx, KEY, lambda: store.apply(KEY, "ok"), taken=claim)
    assert (outcome.result, outcome.repeated, store.calls) == ("ok", False, 1)
    assert done_record(ctx)["state"] == "done"
    # Taken by someone else: none to keep, and a claim never kept waits out its lease as any other.
    assert kit.claim_effect_with(ctx, KEY) is None
    other = "s1.dispatch:700002:1"
    kit.claim_effect_with(ctx, other)
    with pytest.raises(kit.EffectInProgress):
        kit.effect_once(ctx, other, lambda: store.apply(other, "ok"))
    # Handed on and not needed: given back, so the next worker claims at once.
    third = "s1.dispatch:700003:1"
    kit.give_back_effect_claim(ctx, third, kit.claim_effect_with(ctx, third))
    assert ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, third) is None


def test_a_closing_document_is_written_after_the_done_and_its_bookkeeping(ctx):
    order = ctx.records.put(ctx.ent_id, "s1.order", "700001", {"status": "routing"})
    written = []
    real_put = ctx.records.put

    def put(ent_id, kind, key, data, **kw):
        written.append(kind)
        return real_put(ent_id, kind, key, data, **kw)

    ctx.records.put = put
    outcome = kit.effect_once(ctx, KEY, lambda: "FO-1",
                              book=lambda result: written.append("book"),
                              closing=lambda result: ("s1.order", "700001", {"status": "dispatched", "f": result},
                                                      order.version, None))
    assert not outcome.repeated and done_record(ctx)["state"] == "done"
    # One by one (the in-memory records, or a refused joined request): the "done", then the book,
    # then the document: a crash before the document leaves it as it was, the effect found done.
    assert written == [kit.EFFECT_KIND, "book", "s1.order"]
    assert ctx.records.get(ctx.ent_id, "s1.order", "700001").data == {"status": "dispatched", "f": "FO-1"}
