"""Scheduled runs, one unit per tenant: through the real handler, the template's FIFO queue of
tenant runs and moto. A failing tenant neither re-runs nor delays the others; a redelivered
firing queues nobody twice; the first tenant rotates from run to run; each tenant's run is one
structured log line."""

import json

import pytest

from handlers import invoke
from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit, store_fulfilment
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


def test_tenants_of_one_erp_app_share_a_bounded_number_of_groups():
    from fakes import FakeCursors, FakeTenants

    doc = demo_doc()
    tenants = FakeTenants(*(parse_tenant({**doc, "ent_id": f"{30000 + n}"}) for n in range(12)),
                          parse_tenant({**doc, "ent_id": "40000", "jushuitan": {**doc["jushuitan"], "app_key": "other"}}))
    sent = {}

    class Queue:
        def send(self, job, run_id, runs):
            sent.update(job=job, run_id=run_id, runs=runs)

    kit.fan_out("pull_jst_stock", "2026-12-02T07:05:00Z", tenants=tenants, cursors=FakeCursors(), queue=Queue())
    groups = {group for _, group in sent["runs"]}
    app = kit.erp_app_of(tenants.get("30000"))
    assert {g for g in groups if g.startswith(app)} <= {f"{app}#{slot}" for slot in range(kit.SLOTS_PER_ERP_APP)}
    assert any(g.startswith("jushuitan:other#") for g in groups) and len(sent["runs"]) == 13
