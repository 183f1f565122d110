"""RetryQueue/RetryDLQ on moto: what `o2o dlq list` and `o2o dlq replay` see."""

import json

import boto3
import pytest

from o2o_bridge import runtime
from o2o_bridge.connectors.aws.sqs_queue import DeadLetterBox
from o2o_bridge.retry import DeadLetter, RetryEnvelope


def box(aws):
    return DeadLetterBox(boto3.client("sqs"), aws["RETRY_DLQ_URL"], aws["RETRY_QUEUE_URL"])


def test_dead_letters_are_listed_with_reasons_and_stay_on_the_queue(aws):
    queue = runtime.command_queue()
    env = RetryEnvelope(command="pos.create_fulfilment_order", ent_id="10010", payload={"io_id": 1}, attempts=3)
    queue.dead_letter(DeadLetter(envelope=env, reason="店+ refused: unknown store", error_type="PermanentError"))
    boto3.client("sqs").send_message(QueueUrl=aws["RETRY_DLQ_URL"], MessageBody=env.model_dump_json())  # via redrive
    letters = box(aws).list()
    assert sorted(l.reason for l in letters) == sorted([
        "店+ refused: unknown store",
        "moved by the queue's redrive policy: the worker failed on it repeatedly without answering",
    ])
    assert len(box(aws).list()) == 2  # listing does not consume


def test_replay_sends_one_letter_back_with_attempts_reset(aws):
    queue = runtime.command_queue()
    keep = RetryEnvelope(command="a", ent_id="10010", attempts=8)
    redo = RetryEnvelope(command="b", ent_id="10010", attempts=8)
    for env in (keep, redo):
        queue.dead_letter(DeadLetter(envelope=env, reason="gave up", error_type="TransientError"))
    replayed = box(aws).replay([redo.id])
    assert [l.id for l in replayed] == [redo.id]
    [message] = boto3.client("sqs").receive_message(QueueUrl=aws["RETRY_QUEUE_URL"])["Messages"]
    body = json.loads(message["Body"])
    assert (body["id"], body["attempts"], body["replays"]) == (redo.id, 0, 1)
    assert [l.id for l in box(aws).list()] == [keep.id]
    with pytest.raises(LookupError, match="no dead letter with id nope"):
        box(aws).replay(["nope"])
    assert len(box(aws).list()) == 1
