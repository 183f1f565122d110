"""The bridge as an operator meets it: the real template on the local stack (moto server +
HTTP API emulator on 127.0.0.1), driven over HTTP and through the `o2o` commands."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from o2o_bridge.cli import main as o2o
from o2o_bridge.errors import TransientError
from o2o_bridge.retry import enqueue_retry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO_TENANT = ROOT / "local" / "tenants" / "demo.yaml"


@pytest.fixture(scope="module")
def stack():
    from o2o_local.stack import LocalStack

    with LocalStack(api_port=0, aws_port=0, sandboxes=False, scheduler=False) as running:
        yield running


@pytest.fixture
def tenant(stack, capsys):
    assert o2o(["tenant", "put", str(DEMO_TENANT)]) == 0
    capsys.readouterr()
    return stack


def http(stack, method: str, path: str, body: str | None = None, content_type="application/json"):
    request = urllib.request.Request(
        stack.addresses()["api"] + path, data=None if body is None else body.encode(), method=method,
        headers={"content-type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def client(service: str, stack):
    return boto3.client(service, endpoint_url=stack.endpoint_url)


def state_items(stack) -> list[dict]:
    return client("dynamodb", stack).scan(TableName="o2o-local-StateTable")["Items"]


def test_health_answers_200(stack):
    status, body = http(stack, "GET", "/health")
    assert status == 200 and body["status"] == "ok" and body["stage"] == "local"


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        ("{so_id: oops", "application/json", "body is not valid JSON"),
        ("so_id=1&l_id=2", "application/x-www-form-urlencoded", "form body has no biz field"),
        ("biz=%7Bbroken", "application/x-www-form-urlencoded", "body is not valid JSON"),
    ],
)
def test_a_malformed_delivery_push_gets_a_4xx_json_error_and_writes_nothing(tenant, body, content_type, message):
    """Authenticated (the tenant's callback token), so the body is read: a malformed one is a 400."""
    before = state_items(tenant)
    status, answer = http(tenant, "POST", "/jushuitan/delivery_callback?entId=10010&storageCode=133242"
                                          "&token=demo-callback-token", body, content_type)
    assert status == 400
    assert answer["code"] == 400 and message in answer["msg"]
    assert state_items(tenant) == before


def test_unknown_routes_answer_404(stack):
    status, _ = http(stack, "POST", "/jushuitan/nothing_here", "{}")
    assert status == 404


def test_a_permanent_failure_is_dead_lettered_with_its_reason_and_replayed(tenant, capsys):
    sqs = client("sqs", tenant)
    queue_url = sqs.get_queue_url(QueueName="o2o-local-RetryQueue")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="o2o-local-RetryDLQ")["QueueUrl"]
    from o2o_bridge.connectors.aws.sqs_queue import SqsCommandQueue

    envelope = enqueue_retry(SqsCommandQueue(sqs, queue_url, dlq_url), command="jst.command_nobody_handles",
                             ent_id="10010", payload={"io_id": 7}, error=TransientError("timeout"),
                             trace_key="IO-7", base_delay_seconds=0)

    assert o2o(["local", "drain", "--now", "--max-seconds", "20"]) == 0
    assert o2o(["dlq", "list"]) == 0
    listing = capsys.readouterr().out
    assert envelope.id in listing
    assert "reason: no flow handles retry command 'jst.command_nobody_handles'" in listing

    assert o2o(["dlq", "replay", "--id", envelope.id]) == 0
    assert f"replayed {envelope.id}" in capsys.readouterr().out
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["replays"] for m in messages] == [1]
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0)

    assert o2o(["local", "drain", "--now", "--max-seconds", "20"]) == 0  # fails for good again
    assert o2o(["trace", "IO-7"]) == 0
    timeline = capsys.readouterr().out
    assert timeline.count("retry.dead_lettered") == 2


def test_tenant_put_reports_errors_and_stores_nothing(stack, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO_TENANT.read_text(encoding="utf-8").replace('ent_id: "10010"', 'ent_id: "30030"')
                   .replace("main_wms_co_id: 10000", "main_wms_co_id: zero"), encoding="utf-8")
    assert o2o(["tenant", "put", str(bad)]) == 2
    assert "jushuitan.main_wms_co_id:" in capsys.readouterr().err
    assert o2o(["tenant", "get", "30030"]) == 1  # not found: failed, one line


def test_tenant_get_masks_every_secret(tenant, capsys):
    assert o2o(["tenant", "get", "10010"]) == 0
    shown = capsys.readouterr().out
    assert "demo-app-key" in shown
    for secret in ("demo-app-secret", "demo-access-token", "demo-pos-api-key", "demo-webhook-secret"):
        assert secret not in shown


def test_ledger_facts_on_ledger_dlq_are_listed_and_moved_back_to_be_stored(tenant, capsys):
    """The local stack's LedgerDLQ, found by `o2o dlq --queue ledger` as a deployed stack's is (its
    output LedgerDLQUrl): a fact listed, moved back to LedgerQueue and stored by ledger_writer."""
    import os
    from datetime import datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from o2o_bridge.ledger import Fact, fact_message

    sqs = client("sqs", tenant)
    dlq_url = sqs.get_queue_url(QueueName="o2o-local-LedgerDLQ")["QueueUrl"]
    fact = Fact("10010", "sale.completed", "sale:S001:DLQ-1", datetime(2026, 12, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
                store_code="S001", doc_no="DLQ-1", amount=Decimal("12.00"))
    message_id = sqs.send_message(QueueUrl=dlq_url, MessageBody=fact_message(fact))["MessageId"]

    assert o2o(["dlq", "list", "--queue", "ledger"]) == 0
    assert f"{message_id}  sale.completed tenant=10010 day=2026-12-02 key=sale:S001:DLQ-1" in capsys.readouterr().out
    assert o2o(["dlq", "redrive", "--queue", "ledger", "--all"]) == 0
    assert "1 ledger fact message(s) moved back to LedgerQueue" in capsys.readouterr().out
    assert o2o(["local", "drain", "--now", "--max-seconds", "20"]) == 0
    stored = [path for path in Path(os.environ["O2O_LEDGER_DIR"]).rglob("*.jsonl")
              if "sale:S001:DLQ-1" in path.read_text(encoding="utf-8")]
    assert len(stored) == 1
    assert o2o(["dlq", "list", "--queue", "ledger"]) == 0
    assert "LedgerDLQ is empty" in capsys.readouterr().out
