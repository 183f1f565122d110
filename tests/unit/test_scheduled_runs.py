"""Scheduled runs, one unit per tenant: through the real handler, the template's FIFO queue of
tenant runs and moto. A failing tenant neither re-runs nor delays the others; a redelivered
firing queues nobody twice; the first tenant rotates from run to run; each tenant's run is one
structured log line."""

import json
import os

import pytest

from handlers import invoke
from o2o_bridge import runtime, wiring
from o2o_bridge.flows import app_slots, kit, store_fulfilment
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


def firing(minute: int) -> dict:
    return {"job": "poll_jst_outbound", "scheduled_time": f"2026-12-02T06:{minute:02d}:00Z"}


@pytest.fixture
def two_tenants(aws, monkeypatch):
    store = runtime.state_store()
    store.put(parse_tenant(demo_doc()))  # 10010: its poll fails
    store.put(parse_tenant({**demo_doc(), "ent_id": "20020"}))
    runs: list[str] = []

    def poll(ctx):
        runs.append(ctx.ent_id)
        if ctx.ent_id == "10010":
            raise RuntimeError("JST answered 500 for tenant 10010")
        return {"dispatched": 1}

    monkeypatch.setattr(store_fulfilment, "poll_jst_outbound", poll)
    monkeypatch.setattr(wiring, "context_for", lambda tenant: type("Ctx", (), {"ent_id": tenant.ent_id})())
    return runs


def test_a_failing_tenant_does_not_rerun_or_stop_the_other(two_tenants, caplog):
    with pytest.raises(kit.TenantFailures, match="10010") as failed:
        invoke("poll_jst_outbound", firing(0))
    assert "20020" not in failed.value.message
    assert sorted(two_tenants) == ["10010", "20020"]  # each ran once: no re-run of anybody

    # One structured line per tenant (Powertools, fields through extra=), as CloudWatch gets it.
    from o2o_bridge.observability import logger

    lines = [json.loads(logger.registered_formatter.format(r)) for r in caplog.records if hasattr(r, "summary")]
    per_tenant = {line["ent_id"]: line for line in lines}
    assert per_tenant["20020"]["ok"] is True and per_tenant["20020"]["summary"]["dispatched"] == 1
    assert per_tenant["10010"]["ok"] is False and "JST answered 500" in per_tenant["10010"]["summary"]["error"]
    assert per_tenant["10010"]["level"] == "ERROR" and per_tenant["10010"]["job"] == "poll_jst_outbound"


def test_a_redelivered_firing_queues_each_tenant_once(two_tenants):
    from o2o_local import lambda_runtime
    from o2o_local.drain import deliver_own_queue
    from o2o_local.template import load_template

    template = load_template()
    spec = template.function("poll_jst_outbound")
    # The Scheduler (or Lambda) delivers the same firing twice before any tenant ran.
    for _ in range(2):
        assert lambda_runtime.invoke(spec, firing(2))["queued"] in (["10010", "20020"], ["20020", "10010"])
    deliver_own_queue(template, spec)
    assert sorted(two_tenants) == ["10010", "20020"]


def test_the_first_tenant_rotates_from_run_to_run(two_tenants):
    firsts = []
    for minute in (4, 6, 8, 10):
        before = len(two_tenants)
        with pytest.raises(kit.TenantFailures):
            invoke("poll_jst_outbound", firing(minute))
        firsts.append(two_tenants[before])
    assert firsts in (["10010", "20020"] * 2, ["20020", "10010"] * 2)


def test_an_operator_runs_one_tenant_now(two_tenants):
    result = invoke("poll_jst_outbound", {"ent_id": "20020"})
    assert result["tenants"]["20020"]["ok"] and two_tenants == ["20020"]


# --- the pieces, in memory ------------------------------------------------------------------------

def test_fair_order_starts_one_further_each_turn():
    assert [kit.fair_order(["b", "a", "c"], turn) for turn in range(4)] == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_each_tenant_has_a_message_group_of_its_own():
    from fakes import FakeCursors, FakeTenants

    doc = demo_doc()
    tenants = FakeTenants(*(parse_tenant({**doc, "ent_id": f"{30000 + n}"}) for n in range(12)))
    sent = {}

    class Queue:
        def send(self, job, run_id, runs):
            sent.update(job=job, run_id=run_id, runs=runs)

    kit.fan_out("pull_jst_stock", "2026-12-02T07:05:00Z", tenants=tenants, cursors=FakeCursors(), queue=Queue())
    assert len({group for _, group in sent["runs"]}) == len(sent["runs"]) == 12


def test_a_crashed_run_holds_up_only_its_own_tenant(two_tenants, aws):
    """A run that crashes its invocation (timeout, out of memory) is never deleted: FIFO keeps
    its message invisible until the visibility timeout, and nothing else of its group is
    delivered meanwhile. The other tenant, of the same ERP app, is delivered at once."""
    import boto3

    from o2o_local import lambda_runtime
    from o2o_local.template import load_template

    spec = load_template().function("poll_jst_outbound")
    assert kit.erp_app_of(runtime.state_store().get("10010")) == kit.erp_app_of(runtime.state_store().get("20020"))
    queued = lambda_runtime.invoke(spec, firing(12))["queued"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = os.environ[runtime.tenant_runs_variable("poll_jst_outbound")]
    [crashed] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])["Messages"]
    assert json.loads(crashed["Body"])["ent_id"] == queued[0]
    # The crashed run's message stays in flight; the next receive gets the other tenant's run.
    [healthy] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert json.loads(healthy["Body"])["ent_id"] == queued[1]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=healthy["ReceiptHandle"])  # its run succeeded
    # The crashed tenant's next run waits behind its own held message, nobody else's does.
    lambda_runtime.invoke(spec, firing(14))
    later = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["ent_id"] for m in later] == [queued[1]]


def test_a_message_whose_tenant_cannot_be_read_is_the_only_one_reported_failed(aws):
    from fakes import FakeRecords

    class Tenants:
        def get(self, ent_id):
            if ent_id == "10010":
                raise ConnectionError("state table unreachable")
            return parse_tenant({**demo_doc(), "ent_id": ent_id})

    messages = [{"messageId": f"m-{e}", "body": json.dumps({"ent_id": e})} for e in ("10010", "20020")]
    result = kit.scheduled_job("poll_jst_outbound", lambda ctx: {"dispatched": 1}, {"Records": messages},
                               tenants=Tenants(), records=FakeRecords(), build=lambda t: None)
    assert result["batchItemFailures"] == [{"itemIdentifier": "m-10010"}]
    assert result["tenants"]["20020"]["ok"]


# --- how many tenants of one ERP app run at once -------------------------------------------------

class Clock:
    def __init__(self):
        from datetime import datetime, timezone

        self.moment = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.moment

    def sleep(self, seconds):
        from datetime import timedelta

        self.moment += timedelta(seconds=seconds)


def tenant(ent_id):
    return parse_tenant({**demo_doc(), "ent_id": ent_id})


def test_a_tenant_waits_for_a_slot_of_its_erp_app_and_starts_when_one_is_given_back():
    from fakes import FakeRecords

    records, clock = FakeRecords(), Clock()
    take = lambda ent_id, left=300.0: app_slots.take(records, "pull_jst_stock", tenant(ent_id), time_left=lambda: left,
                                                      reserve_seconds=10, now=clock, sleep=clock.sleep)
    first, second = take("30001"), take("30002")
    assert first and second and first.key != second.key
    assert take("30003", left=11) is None  # both slots held and no time to wait: not started
    app_slots.give_back(records, first)
    assert take("30003") is not None


def test_a_crashed_holder_frees_its_slot_when_its_invocation_could_no_longer_run():
    from fakes import FakeRecords

    records, clock = FakeRecords(), Clock()
    for ent_id in ("30001", "30002"):  # both crash while holding their slot, with 100 s left
        assert app_slots.take(records, "pull_jst_stock", tenant(ent_id), time_left=lambda: 100.0, reserve_seconds=10,
                              now=clock, sleep=clock.sleep)
    waited = Clock()
    waited.moment = clock.moment
    slot = app_slots.take(records, "pull_jst_stock", tenant("30003"), time_left=lambda: 900.0, reserve_seconds=10,
                          now=waited, sleep=waited.sleep)
    assert slot is not None
    assert (waited.moment - clock.moment).total_seconds() <= 100 + app_slots.LEASE_MARGIN_SECONDS + app_slots.WAIT_STEP_SECONDS


def test_a_late_holder_cannot_free_a_slot_taken_since():
    from fakes import FakeRecords

    records, clock = FakeRecords(), Clock()
    take = lambda ent_id: app_slots.take(records, "j", tenant(ent_id), time_left=lambda: 60.0, reserve_seconds=10,
                                         now=clock, sleep=clock.sleep, slots=1)
    late = take("30001")
    clock.sleep(120)  # its lease ran out while it was still (somehow) running
    current = take("30002")
    assert current is not None and current.key == late.key
    app_slots.give_back(records, late)
    held = records.get(app_slots.OWNER, app_slots.SLOT_KIND, current.key)
    assert held.data["ent_id"] == "30002"  # the late give-back changed nothing
