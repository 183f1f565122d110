"""What every scenario flow relies on: effects done once, retried steps, per-tenant runs."""

import threading
from datetime import timedelta

import pytest

from fakes import FakeTenants, drain_retries, fake_context
from o2o_bridge.errors import NotImplementedYet, PermanentError, TransientError
from o2o_bridge.flows import kit
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


@pytest.fixture
def ctx():
    return fake_context(parse_tenant(demo_doc()))


def test_an_effect_happens_once_and_a_repeat_gets_the_first_result(ctx):
    effects = []
    first = kit.effect_once(ctx, "ship:SO1:L1", lambda: effects.append(1) or {"shipment": "SH1"})
    again = kit.effect_once(ctx, "ship:SO1:L1", lambda: effects.append(2) or {"shipment": "SH2"})
    assert effects == [1]
    assert (first.result, first.repeated) == ({"shipment": "SH1"}, False)
    assert (again.result, again.repeated) == ({"shipment": "SH1"}, True)
    assert kit.effect_done(ctx, "ship:SO1:L1") and not kit.effect_done(ctx, "ship:SO1:L2")


def test_concurrent_duplicates_make_one_effect_and_the_others_are_told_to_come_back(ctx):
    effects, outcomes = [], []
    gate = threading.Barrier(5)

    def worker():
        gate.wait()
        try:
            outcomes.append(kit.effect_once(ctx, "confirm:700001", lambda: effects.append(1) or "ok").repeated)
        except kit.EffectInProgress:
            outcomes.append("in progress")

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(effects) == 1
    assert outcomes.count(False) == 1
    # After the first finished, a late duplicate is a plain repeat.
    assert kit.effect_once(ctx, "confirm:700001", lambda: effects.append(2)).repeated and len(effects) == 1


def test_a_failed_effect_releases_its_claim_so_the_retry_can_do_it(ctx):
    with pytest.raises(TransientError):
        kit.effect_once(ctx, "cancel:F1", lambda: (_ for _ in ()).throw(TransientError("店+ answered 503")))
    assert kit.effect_once(ctx, "cancel:F1", lambda: "cancelled").result == "cancelled"


def test_a_claim_left_by_a_crashed_worker_is_taken_over_after_its_lease(ctx):
    now = ctx.now()
    ctx.records.put(ctx.ent_id, kit.EFFECT_KIND, "upload:SO9",
                    {"state": "running", "lease_until": (now + timedelta(seconds=60)).isoformat()})
    with pytest.raises(kit.EffectInProgress):
        kit.effect_once(ctx, "upload:SO9", lambda: "done")
    ctx.now = lambda: now + timedelta(seconds=61)
    assert kit.effect_once(ctx, "upload:SO9", lambda: "done").result == "done"


calls: list[dict] = []
failures: list[Exception] = []


@kit.flow_command("test.kit.confirm")
def confirm_step(ctx, payload):
    if failures:
        raise failures.pop(0)
    calls.append(payload)
    return "confirmed"


def test_a_step_that_fails_transiently_is_queued_traced_and_done_by_the_retry_worker(ctx):
    calls.clear()
    failures[:] = [TransientError("JST answered 5xx"), TransientError("timeout")]
    assert kit.attempt(ctx, confirm_step, {"io_id": 700001}, trace_key="700001") is None
    assert calls == [] and len(ctx.queue.queued) == 1
    envelope = ctx.queue.queued[0][0]
    assert (envelope.command, envelope.payload, envelope.attempts) == ("test.kit.confirm", {"io_id": 700001}, 1)
    assert ctx.timeline.steps("700001") == ["retry.queued"]
    assert ctx.metric.values == {"RetryQueued": 1}
    assert drain_retries(ctx, steps=[confirm_step]) == 2  # the first retry fails once more, the second succeeds
    assert calls == [{"io_id": 700001}]
    assert ctx.timeline.steps("700001") == ["retry.queued", "retry.scheduled", "retry.succeeded"]


def test_a_permanent_failure_is_the_caller_s_to_answer_and_nothing_is_queued(ctx):
    failures[:] = [PermanentError("JST: shop does not exist")]
    with pytest.raises(PermanentError):
        kit.attempt(ctx, confirm_step, {"io_id": 1})
    assert ctx.queue.queued == []


def test_only_registered_steps_can_be_attempted(ctx):
    with pytest.raises(TypeError, match="flow_command"):
        kit.attempt(ctx, lambda c, p: None, {})


def test_one_tenant_failing_does_not_stop_the_others_and_the_run_says_which_failed():
    good, bad = parse_tenant(demo_doc()), parse_tenant({**demo_doc(), "ent_id": "20020"})
    seen = []

    def flow(ctx):
        seen.append(ctx.ent_id)
        if ctx.ent_id == "10010":
            raise TransientError(f"JST down for app secret {ctx.tenant.jushuitan.app_secret.get_secret_value()}")
        return {"dispatched": 3}

    with pytest.raises(kit.TenantFailures) as failed:
        kit.run_for_tenants("poll", flow, tenants=FakeTenants(good, bad), build=lambda t: fake_context(t))
    assert sorted(seen) == ["10010", "20020"]
    assert "10010" in failed.value.message and "demo-app-secret" not in failed.value.message
    summary = kit.run_for_tenants("poll", lambda c: {"dispatched": 0}, tenants=FakeTenants(bad),
                                  build=lambda t: fake_context(t))
    assert summary["tenants"]["20020"]["ok"] and summary["tenants"]["20020"]["dispatched"] == 0


def test_a_flow_that_is_not_built_says_which_issue_builds_it():
    from types import SimpleNamespace

    from o2o_bridge.events.routes import Route

    missing = Route(None, "the S9 flow", (99,))
    with pytest.raises(NotImplementedYet, match="issue #99"):
        missing.run(SimpleNamespace(type="s9.happened"), None)


def test_a_refused_input_is_parked_once_with_its_reason_and_replays_are_acknowledged(ctx):
    failures[:] = [PermanentError("店+ refused: order SO1 is closed")] * 1
    first = kit.settle(ctx, confirm_step, {"io_id": 9, "source": "push"}, trace_key="9", identity_ignores=("source",))
    again = kit.settle(ctx, confirm_step, {"io_id": 9, "source": "poll"}, trace_key="9", identity_ignores=("source",))
    assert first["outcome"] == "dead_lettered" and "order SO1 is closed" in first["reason"]
    assert again["outcome"] == "dead_lettered_before"
    assert len(ctx.queue.dead) == 1 and ctx.queue.dead[0].envelope.command == "test.kit.confirm"
    assert ctx.timeline.steps("9") == ["dead_lettered"]


def test_a_step_whose_claim_refuses_repeats_reads_its_parked_marker_only_when_it_fails(ctx):
    reads = []
    get = ctx.records.get
    ctx.records.get = lambda *args: reads.append(args[1:]) or get(*args)
    calls.clear()
    assert kit.settle(ctx, confirm_step, {"io_id": 7}, trace_key="7", parked_first=False) == "confirmed"
    assert reads == [] and len(calls) == 1  # the happy path reads nothing first
    failures[:] = [PermanentError("JST refused: unknown SKU")] * 2
    first = kit.settle(ctx, confirm_step, {"io_id": 8}, trace_key="8", parked_first=False)
    again = kit.settle(ctx, confirm_step, {"io_id": 8}, trace_key="8", parked_first=False)  # asked again, refused
    assert (first["outcome"], again["outcome"]) == ("dead_lettered", "dead_lettered_before")
    assert len(ctx.queue.dead) == 1  # parked once all the same
    assert kit.settle(ctx, confirm_step, {"io_id": 8}, trace_key="8", parked_first=False) == "confirmed"  # fixed since
