"""Integration: drain delivers queued messages like the SQS event source mapping."""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest

from o2o_local import lambda_runtime
from o2o_local.drain import NO_DELAY_ENV, drain

pytestmark = pytest.mark.integration


def send(queue_url, *bodies, delay=0):
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body), DelaySeconds=delay,
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})


def received_ids():
    table = boto3.resource("dynamodb").Table(os.environ["STATE_TABLE"])
    return sorted(item["pk"] for item in table.scan()["Items"] if item["pk"].startswith("msg#"))


def dlq_bodies(url):
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def clear_state():
    table = boto3.resource("dynamodb").Table(os.environ["STATE_TABLE"])
    for item in table.scan()["Items"]:
        table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})


def test_partial_batch_failure_reaches_the_dlq_after_max_receive_count(fixture_template, local_env):
    clear_state()
    send(local_env["WorkQueue"], *({"id": n, "fail": n == 3} for n in range(7)))
    lines = []
    report = drain(fixture_template, max_seconds=10, log=lines.append)
    assert report.complete
    tally = report.functions["consumer"]
    # 7 first deliveries (batches of 5 and 2) + 1 redelivery of the failing message; its
    # third receive moves it to the DLQ (maxReceiveCount 2), as SQS does
    assert (tally.delivered, tally.succeeded, tally.failed) == (8, 6, 2)
    assert received_ids() == [f"msg#{n}" for n in (0, 1, 2, 4, 5, 6)]
    assert report.other_queues["WorkDLQ"].total == 1 and report.dead_lettered == {"WorkDLQ": 1}
    assert dlq_bodies(local_env["WorkDLQ"]) == [{"id": 3, "fail": True}]
    text = str(report)
    assert "consumer: 8 delivered, 6 succeeded, 2 failed" in text and "WorkQueue: empty" in text
    assert "WorkDLQ: 1 waiting, no consumer (1 arrived during the drain)" in text
    assert text.splitlines()[-1].startswith("drained in ")
    assert lines[0] == "[drain] consumer: 5 from WorkQueue -> 4 ok, 1 failed"


def test_records_look_like_lambdas(fixture_template, local_env):
    seen = []

    def capture(spec, event):
        seen.extend(event["Records"])
        return {"batchItemFailures": []}

    send(local_env["WorkQueue"], {"id": "shape"})
    drain(fixture_template, max_seconds=5, invoke=capture)
    (record,) = seen
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:o2o-local-WorkQueue"
    assert record["awsRegion"] == "us-east-1"
    assert json.loads(record["body"]) == {"id": "shape"}
    assert set(record["attributes"]) >= {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                         "ApproximateFirstReceiveTimestamp"}
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"] == {"stringValue": "test", "stringListValues": [],
                                                   "binaryListValues": [], "dataType": "String"}
    assert len(record["md5OfBody"]) == 32


def test_a_raising_handler_fails_the_whole_batch(fixture_template, local_env):
    send(local_env["WorkQueue"], {"id": "a"}, {"id": "b", "raise": True})
    report = drain(fixture_template, max_seconds=10)
    tally = report.functions["consumer"]
    assert tally.failed == tally.delivered >= 2 and tally.succeeded == 0
    assert any("asked to raise" in error for error in tally.errors)
    assert report.complete and report.other_queues["WorkDLQ"].total == 2


def test_delayed_messages_are_waited_for(fixture_template, local_env):
    clear_state()
    sent_at = time.monotonic()
    send(local_env["WorkQueue"], {"id": "late"}, delay=1)
    report = drain(fixture_template, max_seconds=10)
    # Counted from the send: the drain itself may start late on a busy machine.
    assert report.complete and report.functions["consumer"].succeeded == 1 and time.monotonic() - sent_at >= 0.9
    assert received_ids() == ["msg#late"]


def test_now_sets_the_no_delay_flag_for_the_handlers_only_during_the_drain(fixture_template, local_env):
    flags = []

    def capture(spec, event):
        flags.append(os.environ.get(NO_DELAY_ENV))
        return None

    send(local_env["WorkQueue"], {"id": 1})
    drain(fixture_template, now=True, max_seconds=5, invoke=capture)
    send(local_env["WorkQueue"], {"id": 2})
    drain(fixture_template, now=False, max_seconds=5, invoke=capture)
    assert flags == ["1", None] and NO_DELAY_ENV not in os.environ


def test_the_time_bound_reports_what_is_left(fixture_template, local_env):
    send(local_env["WorkQueue"], {"id": "held"})
    boto3.client("sqs").receive_message(QueueUrl=local_env["WorkQueue"], VisibilityTimeout=30)  # someone else holds it
    report = drain(fixture_template, max_seconds=0.3)
    assert not report.complete
    assert report.left["WorkQueue"].in_flight == 1
    assert "WorkQueue: 0 visible, 0 delayed, 1 in flight left" in str(report)
    assert str(report).splitlines()[-1].startswith("NOT drained")


def test_drain_needs_an_endpoint(fixture_template, monkeypatch):
    from o2o_local.errors import LocalStackError

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(LocalStackError, match="AWS_ENDPOINT_URL"):
        drain(fixture_template)


def test_scheduler_fire_runs_the_real_handler(fixture_template, local_env):
    from o2o_local.scheduler import Scheduler

    lambda_runtime.unload_all()
    result = Scheduler(fixture_template, log=None).fire("tick")
    assert result == {"event": {"kind": "nightly"}, "stage": "local", "function": "o2o-local-TickFunction",
                      "memory": 512, "source": "tick util"}
