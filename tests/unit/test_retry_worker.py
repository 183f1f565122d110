"""retry_worker on moto: partial batch responses, dead letters with reasons, no secrets."""

import json

import boto3
import pytest

from handlers import invoke, sample_event
from o2o_bridge import runtime, wiring
from o2o_bridge.errors import PermanentError, TransientError
from o2o_bridge.retry import RetryEnvelope
from o2o_bridge.retry_commands import CommandRegistry
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


def sqs_event(*bodies: str) -> dict:
    template = sample_event("retry_worker")["Records"][0]
    return {"Records": [dict(template, messageId=f"m{i}", body=body) for i, body in enumerate(bodies)]}


def drain(url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    return [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


@pytest.fixture
def world(aws, monkeypatch):
    runtime.state_store().put(parse_tenant(demo_doc()))
    outcomes = {}

    def ok(ctx):
        outcomes["ok"] = ctx.payload

    def flaky(ctx):
        raise TransientError("店+ answered 503 for key demo-pos-api-key")

    def refused(ctx):
        raise PermanentError("店+ refused: store S404 does not exist")

    # The worker's runner over these test commands (built once per container, so rebuilt here).
    registry = CommandRegistry()
    for name, fn in {"test.ok": ok, "test.flaky": flaky, "test.refused": refused}.items():
        registry.register(name)(fn)
    monkeypatch.setattr(wiring, "command_registry", lambda context_factory: registry)
    wiring._retry_runner.cache_clear()
    yield aws, outcomes
    wiring._retry_runner.cache_clear()


def test_one_batch_retries_dead_letters_and_completes_each_message(world):
    env, outcomes = world
    batch = sqs_event(
        RetryEnvelope(command="test.ok", ent_id="10010", payload={"n": 1}).model_dump_json(),
        RetryEnvelope(command="test.flaky", ent_id="10010", trace_key="SO-1").model_dump_json(),
        RetryEnvelope(command="test.refused", ent_id="10010").model_dump_json(),
        "this is not an envelope",
    )
    result = invoke("retry_worker", batch)
    assert result == {"batchItemFailures": []}  # every record was handled durably
    assert outcomes["ok"] == {"n": 1}
    # moto honours DelaySeconds; peek at the queue attributes instead of waiting for the retry.
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=env["RETRY_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessagesDelayed"]) + int(attrs["ApproximateNumberOfMessages"]) == 1
    dead = drain(env["RETRY_DLQ_URL"])
    reasons = sorted(d["reason"] for d in dead)
    assert reasons[0].startswith("malformed retry message")
    assert reasons[1] == "店+ refused: store S404 does not exist"
    assert "demo-pos-api-key" not in json.dumps(dead)
    steps = [e.step for e in runtime.state_store().entries("SO-1")]
    assert steps == ["retry.scheduled"]


def test_a_failure_to_queue_reports_the_item_so_sqs_keeps_it(world, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(runtime.command_queue(), "enqueue", broken)
    batch = sqs_event(
        RetryEnvelope(command="test.flaky", ent_id="10010").model_dump_json(),
        RetryEnvelope(command="test.ok", ent_id="10010").model_dump_json(),
    )
    assert invoke("retry_worker", batch) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}


def test_a_batch_short_of_time_hands_back_the_records_it_did_not_start(world, monkeypatch):
    """SQS delivers the whole batch again when an invocation times out mid-batch: the records
    already handled would run twice. The worker stops starting records and hands the rest back."""
    from o2o_bridge import retry_worker

    env, outcomes = world
    clock = iter([100.0, 100.0, 10.0, 10.0])
    monkeypatch.setattr(retry_worker, "seconds_left", lambda: next(clock, 0.0))
    ran = []
    monkeypatch.setitem(wiring.command_registry(None)._commands, "test.count", lambda ctx: ran.append(ctx.payload["n"]))
    batch = sqs_event(*(RetryEnvelope(command="test.count", ent_id="10010", payload={"n": n}).model_dump_json()
                        for n in range(4)))
    result = invoke("retry_worker", batch)
    assert ran == [0, 1]
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert drain(env["RETRY_DLQ_URL"]) == []  # handed back, not dead-lettered


def test_a_batch_whose_every_record_fails_fails_the_invocation(world, monkeypatch):
    """As Powertools' BatchProcessor did: SQS delivers every record again, and the function's
    Errors metric shows it; the records' failures are logged redacted, the invocation's error too."""
    def broken(*args, **kwargs):
        raise ConnectionError("SQS unreachable for key demo-pos-api-key")

    monkeypatch.setattr(runtime.command_queue(), "enqueue", broken)
    batch = sqs_event(*(RetryEnvelope(command="test.flaky", ent_id="10010").model_dump_json() for _ in range(2)))
    with pytest.raises(Exception) as raised:
        invoke("retry_worker", batch)
    assert "demo-pos-api-key" not in str(raised.value)


def test_the_partial_response_names_only_the_records_that_raised():
    from o2o_bridge.retry_worker import WholeBatchFailed, partial_batch_response

    seen = []

    def handle(body):
        seen.append(body)
        if body == "bad":
            raise TransientError("not now")

    event = {"Records": [{"messageId": "a", "body": "ok"}, {"messageId": "b", "body": "bad"}]}
    assert partial_batch_response(event, handle) == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert seen == ["ok", "bad"]
    assert partial_batch_response({"Records": []}, handle) == {"batchItemFailures": []}
    with pytest.raises(WholeBatchFailed):
        partial_batch_response({"Records": [{"messageId": "c", "body": "bad"}]}, handle)
    with pytest.raises(ValueError):
        partial_batch_response({}, handle)
