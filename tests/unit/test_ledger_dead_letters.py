"""LedgerDLQ on moto: what `o2o dlq list|show|replay|discard --queue ledger` see and do.

The facts ledger_writer could not store wait in LedgerDLQ; the operator moves them back to
LedgerQueue (SQS's message move task does not run on the local stack's moto), and the writer
then stores them with the time the flow first sent them."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from o2o_bridge import runtime
from o2o_bridge.cli import main as o2o
from o2o_bridge.connectors.aws.sqs_ledger_dlq import RECORDED_MS_ATTRIBUTE, LedgerDeadLetterBox
from o2o_bridge.ledger import Fact, FactLine, fact_message

SH = ZoneInfo("Asia/Shanghai")
MOBILE = "13812345678"
FIRST_SENT_MS = 1_764_633_600_123  # 2025-12-02 00:00:00.123 UTC: a fact sent long before the move


def sale(key="sale:S001:A", ent_id="10010", *, doc_no=None):
    return Fact(ent_id, "sale.completed", key, datetime(2026, 12, 2, 10, tzinfo=SH), store_code="S001",
                doc_no=doc_no or key.rsplit(":", 1)[-1], payment="cash", amount=Decimal("10.00"),
                member_hash="ab" * 16, lines=(FactLine("SKU-1", 1, Decimal("10.00")),))


@pytest.fixture
def ledger_dlq(aws):
    sqs = runtime.aws_client("sqs")
    policy = sqs.get_queue_attributes(QueueUrl=aws["LEDGER_QUEUE_URL"], AttributeNames=["RedrivePolicy"])
    name = json.loads(policy["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
    return f"{aws['LEDGER_QUEUE_URL'].rsplit('/', 1)[0]}/{name}"


def dead(sqs, url, body, recorded_ms=None):
    extra = {"MessageAttributes": {RECORDED_MS_ATTRIBUTE: {"DataType": "Number", "StringValue": str(recorded_ms)}}} \
        if recorded_ms else {}
    return sqs.send_message(QueueUrl=url, MessageBody=body, **extra)["MessageId"]


def box(aws, url):
    return LedgerDeadLetterBox(runtime.aws_client("sqs"), url, aws["LEDGER_QUEUE_URL"])


def waiting(sqs, url):
    messages = []
    while page := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                      AttributeNames=["All"]).get("Messages", []):
        messages += page
    return messages


def test_letters_are_listed_with_their_reason_and_stay_on_the_queue(aws, ledger_dlq):
    sqs = runtime.aws_client("sqs")
    fact_id = dead(sqs, ledger_dlq, fact_message(sale()))
    junk_id = dead(sqs, ledger_dlq, '{"ledger": 1, "tenant": "10010"}')
    letters = {letter.id: letter for letter in box(aws, ledger_dlq).list()}
    assert set(letters) == {fact_id, junk_id}
    assert letters[fact_id].fact.key == "sale:S001:A" and "could not store" in letters[fact_id].reason
    assert letters[junk_id].fact is None and letters[junk_id].reason == "not a ledger fact: tenant 10010: no valid day"
    assert len(box(aws, ledger_dlq).list()) == 2  # listing does not consume


def test_one_fact_moved_back_keeps_its_first_send_time_and_the_writer_stores_it_then(aws, ledger_dlq):
    from o2o_local.drain import deliver_own_queue
    from o2o_local.template import load_template

    sqs = runtime.aws_client("sqs")
    moved = dead(sqs, ledger_dlq, fact_message(sale("sale:S001:A")), recorded_ms=FIRST_SENT_MS)
    kept = dead(sqs, ledger_dlq, fact_message(sale("sale:S001:B")))
    result = box(aws, ledger_dlq).replay([moved])
    assert [letter.id for letter in result.moved] == [moved] and result.failed == []
    assert [letter.id for letter in box(aws, ledger_dlq).list()] == [kept]
    with pytest.raises(LookupError, match="no dead letter with id nope"):
        box(aws, ledger_dlq).replay(["nope"])

    template = load_template()
    assert deliver_own_queue(template, template.functions["ledger_writer"]) == [{"batchItemFailures": []}]
    s3 = runtime.aws_client("s3")
    [key] = [item["Key"] for item in s3.list_objects_v2(Bucket=aws["LEDGER_BUCKET"], Prefix="ledger/")["Contents"]]
    rows = [json.loads(line) for line in s3.get_object(Bucket=aws["LEDGER_BUCKET"], Key=key)["Body"].read().splitlines()]
    assert {row["fact_key"] for row in rows} == {"sale:S001:A"}
    assert {row["recorded_at"] for row in rows} == {"2025-12-02 00:00:00.123"}  # when the flow sent it


def test_all_letters_are_moved_page_by_page_with_progress(aws, ledger_dlq, monkeypatch):
    from o2o_bridge.connectors.aws import sqs_queue

    monkeypatch.setattr(sqs_queue, "PROGRESS_EVERY_MESSAGES", 10)
    sqs = runtime.aws_client("sqs")
    for n in range(25):
        dead(sqs, ledger_dlq, fact_message(sale(f"sale:S001:{n}")))
    lines = []
    result = box(aws, ledger_dlq).replay(None, progress=lines.append)
    assert len(result.moved) == 25 and result.failed == []
    assert lines and lines[0].startswith("moved 10/25")
    assert waiting(sqs, ledger_dlq) == []
    on_queue = waiting(sqs, aws["LEDGER_QUEUE_URL"])
    assert sorted(json.loads(m["Body"])["fact_key"] for m in on_queue) == sorted(f"sale:S001:{n}" for n in range(25))
    assert all(m["MessageAttributes"][RECORDED_MS_ATTRIBUTE]["StringValue"].isdigit() for m in on_queue)


def test_a_fact_sqs_refuses_stays_on_the_dlq_and_is_reported(aws, ledger_dlq):
    sqs = runtime.aws_client("sqs")
    for n in range(3):
        dead(sqs, ledger_dlq, fact_message(sale(f"sale:S001:{n}")))
    real = sqs.send_message_batch

    def refuse_the_first(**kwargs):
        answer = real(**{**kwargs, "Entries": kwargs["Entries"][1:]})
        answer.setdefault("Failed", []).append({"Id": kwargs["Entries"][0]["Id"], "Code": "InternalError",
                                                "SenderFault": False})
        return answer

    sqs.send_message_batch = refuse_the_first
    result = LedgerDeadLetterBox(sqs, ledger_dlq, aws["LEDGER_QUEUE_URL"]).replay(None)
    assert (len(result.moved), [code for _, code in result.failed]) == (2, ["InternalError"])
    assert len(box(aws, ledger_dlq).list()) == 1  # released at once, not lost


def test_discard_deletes_the_chosen_letters_only(aws, ledger_dlq):
    sqs = runtime.aws_client("sqs")
    ids = [dead(sqs, ledger_dlq, fact_message(sale(f"sale:S001:{n}"))) for n in range(12)]
    assert [letter.id for letter in box(aws, ledger_dlq).discard([ids[0]])] == [ids[0]]
    assert len(box(aws, ledger_dlq).discard(None)) == 11
    assert waiting(sqs, ledger_dlq) == [] and waiting(sqs, aws["LEDGER_QUEUE_URL"]) == []


# --- the commands -----------------------------------------------------------------------------

def test_the_commands_list_show_redrive_and_discard_ledger_letters_masked(aws, ledger_dlq, capsys):
    sqs = runtime.aws_client("sqs")
    fact_id = dead(sqs, ledger_dlq, fact_message(sale("sale:S001:M", doc_no=MOBILE)))
    junk_id = dead(sqs, ledger_dlq, f'{{"ledger": 1, "app_secret": "s3cr3t-value", "mobile": "{MOBILE}"}}')

    assert o2o(["dlq", "list", "--queue", "ledger"]) == 0
    listing = capsys.readouterr().out
    assert fact_id in listing and junk_id in listing and "sale.completed tenant=10010 day=2026-12-02" in listing
    assert "2 dead letter(s)" in listing

    assert o2o(["dlq", "list", "--queue", "ledger", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)  # JSON alone on stdout
    assert {letter["id"] for letter in document} == {fact_id, junk_id}

    for command in (["dlq", "show", fact_id, "--queue", "ledger"], ["dlq", "show", junk_id, "--queue", "ledger"],
                    ["dlq", "show", fact_id, "--queue", "ledger", "--json"], ["dlq", "list", "--queue", "ledger"]):
        assert o2o(command) == 0
        shown = capsys.readouterr().out
        assert MOBILE not in shown and "s3cr3t-value" not in shown and "ab" * 16 not in shown, command
        assert "138****5678" in shown or command[1] == "list" or command[2] == junk_id
    assert o2o(["dlq", "show", "nope", "--queue", "ledger"]) == 1
    assert o2o(["dlq", "show", "sale:S001:M", "--queue", "ledger", "--json"]) == 0  # by the fact's key
    assert json.loads(capsys.readouterr().out)["id"] == fact_id

    assert o2o(["dlq", "redrive", "--queue", "ledger", "--id", fact_id]) == 0
    assert "1 ledger fact message(s) moved back to LedgerQueue" in capsys.readouterr().out
    assert o2o(["dlq", "discard", "--queue", "ledger", "--all"]) == 0
    assert "1 dead letter(s) deleted from LedgerDLQ" in capsys.readouterr().out
    assert o2o(["dlq", "list", "--queue", "ledger"]) == 0
    assert "LedgerDLQ is empty" in capsys.readouterr().out
    [moved] = waiting(sqs, aws["LEDGER_QUEUE_URL"])
    assert json.loads(moved["Body"])["fact_key"] == "sale:S001:M"  # sent as it was, not masked


def test_retry_letters_are_shown_and_listed_masked_and_can_be_discarded(aws, capsys):
    from o2o_bridge.retry import DeadLetter, RetryEnvelope

    envelope = RetryEnvelope(command="pos.create_fulfilment_order", ent_id="10010",
                             payload={"receiver_mobile": MOBILE, "io_id": 7}, attempts=3)
    runtime.command_queue().dead_letter(DeadLetter(envelope=envelope, reason="店+ refused", error_type="PermanentError"))
    for command in (["dlq", "list", "--json"], ["dlq", "show", envelope.id], ["dlq", "show", envelope.id, "--json"]):
        assert o2o(command) == 0
        shown = capsys.readouterr().out
        assert envelope.id in shown and MOBILE not in shown, command
    assert o2o(["dlq", "discard", "--id", envelope.id]) == 0
    assert "1 dead letter(s) deleted from RetryDLQ" in capsys.readouterr().out
    assert o2o(["dlq", "list"]) == 0
    assert "the dead-letter queue is empty" in capsys.readouterr().out


def test_the_cli_finds_the_ledger_queues_of_the_local_stack_and_of_a_deployed_stack(monkeypatch):
    from o2o_bridge.cli import environment

    for variable in (*environment.STACK_OUTPUTS.values(), *environment.OPTIONAL_STACK_OUTPUTS.values(), "O2O_STACK"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4999")
    environment.use_bridge_environment()
    import os

    assert os.environ["LEDGER_QUEUE_URL"].endswith("/o2o-local-LedgerQueue")
    assert os.environ["LEDGER_DLQ_URL"].endswith("/o2o-local-LedgerDLQ")

    for variable in (*environment.STACK_OUTPUTS.values(), *environment.OPTIONAL_STACK_OUTPUTS.values()):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("O2O_STACK", "o2o-bridge-dev")
    outputs = {key: f"value-of-{key}" for key in
               (*environment.STACK_OUTPUTS, *environment.OPTIONAL_STACK_OUTPUTS)}

    class CloudFormation:
        def describe_stacks(self, StackName):
            return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]}

    def aws_client(service):
        return CloudFormation()

    aws_client.cache_clear = lambda: None  # runtime.reset() clears it as it clears the cached one
    monkeypatch.setattr(environment.runtime, "aws_client", aws_client)
    environment.use_bridge_environment()
    assert (os.environ["LEDGER_QUEUE_URL"], os.environ["LEDGER_DLQ_URL"]) == \
        ("value-of-LedgerQueueUrl", "value-of-LedgerDLQUrl")


# What docs/deploy.md grants the operator for `o2o dlq` ("Using the deployed stack from the CLI").
OPERATOR_DLQ_ACTIONS = {
    "sqs": {"ReceiveMessage", "ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "SendMessage"},
    "dynamodb": {"PutItem", "UpdateItem", "GetItem"},
}


def test_the_dlq_commands_need_no_more_than_the_operator_permissions_the_deploy_guide_lists(aws, ledger_dlq, capsys):
    from o2o_bridge.retry import DeadLetter, RetryEnvelope

    called: set[tuple[str, str]] = set()

    def listen(session):
        session.events.register("before-call", lambda model, **_: called.add(
            (model.service_model.endpoint_prefix, model.name)))

    runtime.session_listeners.append(listen)
    try:
        sqs = runtime.aws_client("sqs")
        for n in range(2):
            dead(sqs, ledger_dlq, fact_message(sale(f"sale:S001:{n}")))
        for n in range(3):
            runtime.command_queue().dead_letter(DeadLetter(envelope=RetryEnvelope(command="c", ent_id="10010",
                                                                                  payload={"n": n}),
                                                       reason="gave up", error_type="TransientError"))
        [first, *_] = box(aws, ledger_dlq).list()
        retry_ids = [letter.id for letter in runtime_box(aws).list()]
        for command in (["dlq", "list", "--queue", "ledger"], ["dlq", "show", first.id, "--queue", "ledger"],
                        ["dlq", "discard", "--queue", "ledger", "--id", first.id],
                        ["dlq", "redrive", "--queue", "ledger", "--all"],
                        ["dlq", "list"], ["dlq", "show", retry_ids[0]], ["dlq", "replay", "--id", retry_ids[0]],
                        ["dlq", "discard", "--all"]):
            assert o2o(command) == 0, command
    finally:
        runtime.session_listeners.remove(listen)
    capsys.readouterr()
    # A batch request is granted by its single action (SendMessageBatch is sqs:SendMessage...).
    actions = {(service, name.removesuffix("Batch")) for service, name in called}
    assert {service for service, _ in actions} <= set(OPERATOR_DLQ_ACTIONS)
    for service, name in sorted(actions):
        assert name in OPERATOR_DLQ_ACTIONS[service], f"{service}:{name} is not in the operator's list"
    assert ("sqs", "SendMessageBatch") in called and any(service == "dynamodb" for service, _ in called)


def runtime_box(aws):
    from o2o_bridge.connectors.aws.sqs_queue import DeadLetterBox

    return DeadLetterBox(runtime.aws_client("sqs"), aws["RETRY_DLQ_URL"], aws["RETRY_QUEUE_URL"])
