"""Integration: the LocalStack object and the functions the CLI calls."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request

import pytest

from o2o_local.commands import apply_local_environment, invoke_function, run_bootstrap, run_drain, run_invoke, run_up
from o2o_local.errors import LocalStackError
from o2o_local.stack import LocalStack

from local_stack_paths import FIXTURE_TEMPLATE, REPO_TEMPLATE

pytestmark = pytest.mark.integration


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_local_stack_runs_everything_and_restores_the_environment(fixture_template, monkeypatch):
    monkeypatch.delenv("STATE_TABLE", raising=False)
    monkeypatch.setenv("O2O_STAGE", "before")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        jst_port = probe.getsockname()[1]
    monkeypatch.setenv("O2O_JST_SANDBOX_PORT", str(jst_port))
    for name in ("JST_CLOUD", "POS", "WDT", "QIMEN"):
        monkeypatch.setenv(f"O2O_{name}_SANDBOX_PORT", "0")
    lines = []
    with LocalStack(fixture_template, api_port=0, aws_port=0, log=lines.append) as stack:
        addresses = stack.addresses()
        assert addresses["aws"].startswith("http://127.0.0.1:") and addresses["api"].startswith("http://127.0.0.1:")
        assert addresses["jst"] == f"http://127.0.0.1:{jst_port}"
        assert stack.sandboxes["jst"].state.settings.callback_base_url == addresses["api"]
        # the cloud-warehouse tenant's own JST company: pushes to its entId, on a port of its own
        assert stack.sandboxes["jst_cloud"].state.settings.ent_id == "10020"
        assert stack.sandboxes["jst_cloud"].state.settings.callback_base_url == addresses["api"]
        assert addresses["jst_cloud"].startswith("http://127.0.0.1:") and addresses["jst_cloud"] != addresses["jst"]
        assert addresses["pos"].startswith("http://127.0.0.1:") and addresses["pos"].endswith("/api")
        assert stack.sandboxes["pos"].bridge_url == addresses["api"]
        assert addresses["wdt"].startswith("http://127.0.0.1:")
        assert stack.sandboxes["wdt"].state.shops  # seeded with the 旺店通 demo tenant
        assert addresses["qimen"].endswith("/router/qimen/service")
        assert stack.sandboxes["qimen"].bridge_url == addresses["api"]
        assert os.environ["STATE_TABLE"] == "o2o-local-StateTable" and os.environ["O2O_STAGE"] == "local"
        assert os.environ["AWS_ENDPOINT_URL"] == addresses["aws"]
        assert stack.resources["WorkQueue"] == os.environ["WORK_QUEUE_URL"]
        status, body = get(addresses["api"] + "/echo")
        assert status == 200 and body["event"]["routeKey"] == "GET /echo"
        assert stack.fire("tick")["event"] == {"kind": "nightly"}
        assert stack.invoke("tick")["stage"] == "local"
        assert stack.drain(max_seconds=5).complete
        assert stack.scheduler is not None and stack.scheduler.jobs
    assert "STATE_TABLE" not in os.environ and os.environ["O2O_STAGE"] == "before"
    assert any(line.startswith("[api] GET /echo -> echo 200") for line in lines)


def test_local_stack_without_sandboxes_or_scheduler(fixture_template):
    with LocalStack(fixture_template, api_port=0, aws_port=0, sandboxes=False, scheduler=False, log=None) as stack:
        assert set(stack.addresses()) == {"aws", "api"} and stack.scheduler is None


@pytest.fixture
def sandboxes_on_free_ports(monkeypatch):
    """Every sandbox on a port of its own: a developer's `o2o local up` may hold the fixed ones."""
    for name in ("JST", "JST_CLOUD", "POS", "WDT", "QIMEN"):
        monkeypatch.setenv(f"O2O_{name}_SANDBOX_PORT", "0")


def test_a_failed_start_stops_what_started(fixture_template, moto_endpoint, sandboxes_on_free_ports):
    port = int(moto_endpoint.rsplit(":", 1)[1])
    before = dict(os.environ)
    stack = LocalStack(fixture_template, api_port=port, aws_port=0, log=None)
    with pytest.raises(LocalStackError, match="cannot serve the HTTP API"):
        stack.start()
    assert dict(os.environ) == before
    assert stack.moto is None and stack.api is None and stack.scheduler is None


def test_run_up_prints_addresses_and_the_export_line(capsys, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("O2O_JST_SANDBOX_PORT", str(probe.getsockname()[1]))
    for name in ("JST_CLOUD", "POS", "WDT", "QIMEN"):
        monkeypatch.setenv(f"O2O_{name}_SANDBOX_PORT", "0")
    stop = threading.Event()
    codes = []
    thread = threading.Thread(target=lambda: codes.append(run_up(0, 0, template=FIXTURE_TEMPLATE, stop_event=stop)))
    thread.start()
    try:
        out = ""
        for _ in range(100):
            out += capsys.readouterr().out
            if "Ctrl-C" in out:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    out += capsys.readouterr().out
    assert codes == [0]
    assert "AWS endpoint (moto)  http://127.0.0.1:" in out and "HTTP API             http://127.0.0.1:" in out
    assert "GET /echo" in out and "-> echo" in out
    assert "tick cron(10 2 * * ? *) Asia/Shanghai (next " in out
    sandbox_lines = [line.split() for line in out.splitlines() if "sandbox " in line and "http://" in line]
    assert sorted((line[0], next(t for t in line if t.startswith("http://"))[:17]) for line in sandbox_lines) == [
        ("JST", "http://127.0.0.1:"), ("JST", "http://127.0.0.1:"), ("奇门", "http://127.0.0.1:"),
        ("店+", "http://127.0.0.1:"), ("旺店通", "http://127.0.0.1:")]
    assert any(line[:3] == ["JST", "sandbox", "10020"] for line in sandbox_lines)  # the cloud tenant's JST company
    assert "O2O_JST_SANDBOX_URL=http://127.0.0.1:" in out
    assert "table StateTable: o2o-local-StateTable (" in out
    export = next(line for line in out.splitlines() if line.strip().startswith("export "))
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:" in export
    for name in ("AWS_DEFAULT_REGION=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="):
        assert name in export
    assert "stopping the local stack" in out


def test_run_up_port_in_use_is_a_clear_error(moto_endpoint, capsys):
    port = int(moto_endpoint.rsplit(":", 1)[1])
    assert run_up(0, port, template=FIXTURE_TEMPLATE, stop_event=threading.Event()) == 2
    assert "o2o local up: cannot start the local AWS endpoint" in capsys.readouterr().err


def test_a_sandbox_port_in_use_is_one_line_naming_it(monkeypatch, capsys):
    # What `make demo` meets while `o2o local up` runs: the sandboxes' fixed ports are taken.
    import socket

    from o2o_local.demo import sandbox_ports_in_use

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("O2O_JST_SANDBOX_PORT", str(port))
        monkeypatch.setenv("O2O_SAMPLE_DOCUMENTS", "0")
        assert sandbox_ports_in_use() == f"{port} (JST sandbox)"
        assert run_up(0, 0, template=FIXTURE_TEMPLATE, stop_event=threading.Event()) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"o2o local up: cannot start the JST sandbox on 127.0.0.1:{port}: Address already in use. "
        "Is another `o2o local up` (or make demo) running? Stop it, or use --no-sandboxes"], err


def test_run_bootstrap_needs_aws_endpoint_url(monkeypatch, capsys):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert run_bootstrap(template=FIXTURE_TEMPLATE) == 2
    assert "AWS_ENDPOINT_URL is not set" in capsys.readouterr().err
    assert run_drain(template=FIXTURE_TEMPLATE) == 2
    assert "AWS_ENDPOINT_URL is not set" in capsys.readouterr().err


def test_run_bootstrap_and_drain_from_another_shell(moto_endpoint, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name in ("STATE_TABLE", "WORK_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert run_bootstrap(template=FIXTURE_TEMPLATE) == 0
    out = capsys.readouterr().out
    assert "table StateTable: o2o-local-StateTable" in out and "4 resources ready" in out
    assert run_drain(now=True, max_seconds=5, template=FIXTURE_TEMPLATE) == 0
    assert "WorkQueue: empty" in capsys.readouterr().out
    assert os.environ["WORK_QUEUE_URL"] == f"{moto_endpoint}/123456789012/o2o-local-WorkQueue"  # computed locally


def test_apply_local_environment_keeps_what_is_set(fixture_template, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("O2O_STAGE", "mine")
    monkeypatch.delenv("STATE_TABLE", raising=False)
    added = apply_local_environment(fixture_template)
    assert added["STATE_TABLE"] == "o2o-local-StateTable" and os.environ["O2O_STAGE"] == "mine"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert apply_local_environment(fixture_template) == {}


def test_invoke_function_errors(fixture_template):
    with pytest.raises(LocalStackError, match="no function 'nope'.*known: boom, consumer, echo, tick"):
        invoke_function("nope", template=fixture_template)
    with pytest.raises(LocalStackError, match=r"echo is an HTTP function \(GET /echo, POST /items/\{id\}"):
        invoke_function("echo", template=fixture_template)
    with pytest.raises(LocalStackError, match="consumes SQS"):
        invoke_function("ConsumerFunction", template=fixture_template)


def test_invoke_function_runs_a_schedule_function_without_event(fixture_template, local_env):
    assert invoke_function("tick", template=fixture_template)["event"] == {"kind": "nightly"}
    assert invoke_function("tick", {"x": 1}, template=fixture_template)["event"] == {"x": 1}


def test_run_invoke(fixture_template, local_env, tmp_path, capsys):
    event = tmp_path / "event.json"
    event.write_text('{"rawPath": "/items/9", "pathParameters": {"id": "9"}}')
    assert run_invoke("echo", event, template=fixture_template) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "9"
    assert run_invoke("boom", event, template=fixture_template) == 1
    assert "RuntimeError: boom" in capsys.readouterr().err
    assert run_invoke("echo", tmp_path / "missing.json", template=fixture_template) == 2


@pytest.mark.skipif(not REPO_TEMPLATE.is_file(), reason="template.yaml not written yet")
def test_the_real_template_runs_locally(sandboxes_on_free_ports):
    with LocalStack(api_port=0, aws_port=0, log=None) as stack:
        runs = {f"{name}Runs" for name in ("PollJstOutbound", "PollJstDocuments", "PullJstStock", "SyncProducts",
                                            "NightlyStockPush", "PushWdtSales", "PollWdtDocuments", "CompactLedger")}
        resources = set(stack.resources)
        assert resources == {"StateTable", "IdempotencyTable", "RetryQueue", "RetryDLQ", "TokenKeyAlias",
                             "TenantRunsDLQ", "LedgerBucket", "LedgerQueue", "LedgerDLQ", *runs}, resources
        status, body = get(stack.addresses()["api"] + "/health")
        assert status == 200 and body["status"] == "ok" and body["stage"] == "local"
        assert {job.function.name for job in stack.scheduler.jobs} == {
            "poll_jst_outbound", "poll_jst_documents", "pull_jst_stock", "sync_products", "nightly_stock_push",
            "push_wdt_sales", "poll_wdt_documents", "compact_ledger"}
        # the real retry_worker: a malformed envelope is dead-lettered with its reason
        import boto3

        boto3.client("sqs").send_message(QueueUrl=os.environ["RETRY_QUEUE_URL"], MessageBody="not an envelope")
        report = stack.drain(now=True, max_seconds=10)
        assert report.complete, str(report)
        tally = report.functions["retry_worker"]
        # parked by the worker, so reported as dead-lettered, not as succeeded
        assert (tally.delivered, tally.succeeded, tally.dead_lettered, tally.failed) == (1, 0, 1, 0), str(report)
        assert "1 delivered, 0 succeeded, 1 dead-lettered, 0 failed" in str(report)
        assert report.other_queues["RetryDLQ"].total == 1
        # the real ledger_writer, fed by the queue's event source: a message that is no fact is parked
        boto3.client("sqs").send_message(QueueUrl=os.environ["LEDGER_QUEUE_URL"], MessageBody="not a fact")
        report = stack.drain(now=True, max_seconds=10)
        tally = report.functions["ledger_writer"]
        assert (tally.delivered, tally.succeeded, tally.dead_lettered, tally.failed) == (1, 0, 1, 0), str(report)
        assert report.other_queues["RetryDLQ"].total == 2


def test_each_local_jst_tenant_has_a_jst_company_of_its_own(monkeypatch):
    """The demo tenant (10010) and the cloud-warehouse tenant (10020) are two JST companies: each
    tenant file's jushuitan.base_url is a sandbox of the local stack that pushes to that tenant,
    and no two share one, so one tenant's polls never see (and park) the other's outbounds."""
    from pathlib import Path
    from urllib.parse import urlsplit

    import yaml

    from o2o_local.jst_sandbox import JstSandbox
    from o2o_local.sandboxes import SANDBOXES

    monkeypatch.setenv("O2O_SAMPLE_DOCUMENTS", "0")
    for name in ("JST", "JST_CLOUD"):
        monkeypatch.delenv(f"O2O_{name}_SANDBOX_PORT", raising=False)
    companies = {}
    for key, factory in SANDBOXES.items():
        sandbox = factory("127.0.0.1")
        if isinstance(sandbox, JstSandbox):
            companies[sandbox.port] = sandbox.state.settings.ent_id
    tenants = Path(__file__).resolve().parents[2] / "local" / "tenants"
    ports = {}
    for path in sorted(tenants.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "jushuitan" in doc:
            ports[doc["ent_id"]] = urlsplit(doc["jushuitan"]["base_url"]).port
    assert set(ports) == {"10010", "10020"}
    assert {ent_id: companies.get(port) for ent_id, port in ports.items()} == {"10010": "10010", "10020": "10020"}
    assert len(set(ports.values())) == len(ports)
