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


def test_list_shows_every_letter_even_when_a_short_poll_comes_back_empty(aws, monkeypatch):
    """SQS's short poll samples some of its servers: it may answer nothing while letters wait."""
    queue = runtime.command_queue()
    for n in range(25):
        queue.dead_letter(DeadLetter(envelope=RetryEnvelope(command="c", ent_id="10010", payload={"n": n}),
                                     reason="gave up", error_type="TransientError"))
    sqs = boto3.client("sqs")
    real = sqs.receive_message
    answers = iter([True, False, True, False, False, True])  # some polls see nothing

    def sampling(**kwargs):
        if kwargs.get("WaitTimeSeconds", 0) == 0 and not next(answers, True):
            return {"Messages": []}
        return real(**kwargs)

    monkeypatch.setattr(sqs, "receive_message", sampling)
    letters = DeadLetterBox(sqs, aws["RETRY_DLQ_URL"], aws["RETRY_QUEUE_URL"]).list()
    assert len(letters) == 25 and letters.held_elsewhere == 0


def test_two_replays_at_once_re_drive_each_letter_once(aws):
    """Replay A reads every letter; while it sends the first, its hold on them runs out and
    replay B reads and replays them all. Each letter still reaches the retry queue once."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView
    from o2o_bridge.flows import kit

    queue = runtime.command_queue()
    for n in range(12):
        queue.dead_letter(DeadLetter(envelope=RetryEnvelope(command="c", ent_id="10010", payload={"n": n}),
                                     reason="gave up", error_type="TransientError"))
    records = RecordView(runtime.state_store())
    sqs = boto3.client("sqs")
    real_receive, real_send = sqs.receive_message, sqs.send_message
    handles = []

    def receive(**kwargs):
        answer = real_receive(**kwargs)
        handles.extend(m["ReceiptHandle"] for m in answer.get("Messages", []))
        return answer

    sqs.receive_message = receive
    results = {}

    def once(key, send):
        return not kit.once(records, kit.BRIDGE, key, send, lease_seconds=75).repeated

    def make_box():
        return DeadLetterBox(sqs, aws["RETRY_DLQ_URL"], aws["RETRY_QUEUE_URL"], once=once)

    def send_and_meanwhile_b_replays(**kwargs):
        sqs.send_message = real_send
        for handle in list(handles):  # A's hold runs out
            sqs.change_message_visibility(QueueUrl=aws["RETRY_DLQ_URL"], ReceiptHandle=handle, VisibilityTimeout=0)
        results["b"] = make_box().replay(None)
        return real_send(**kwargs)

    sqs.send_message = send_and_meanwhile_b_replays
    results["a"] = make_box().replay(None)

    sent = []
    while page := real_receive(QueueUrl=aws["RETRY_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", []):
        for message in page:
            sent.append(json.loads(message["Body"])["payload"]["n"])
            sqs.delete_message(QueueUrl=aws["RETRY_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])
    assert sorted(sent) == list(range(12))  # each letter re-driven once
    assert (len(results["a"]), len(results["b"])) == (1, 11)
    assert len(make_box().list()) == 0


@pytest.mark.parametrize("how", ["discard", "replay"])
def test_all_letters_go_page_by_page_each_held_only_while_its_page_is_handled(aws, how):
    """`o2o dlq discard --all` / `replay --all` on a long DLQ: no letter waits, held, for the whole
    queue to be read first (its hold would run out before its turn came)."""
    queue = runtime.command_queue()
    for n in range(25):
        queue.dead_letter(DeadLetter(envelope=RetryEnvelope(command="c", ent_id="10010", payload={"n": n}),
                                     reason="gave up", error_type="TransientError"))
    sqs = boto3.client("sqs")
    real_receive, real_delete_batch, real_delete = sqs.receive_message, sqs.delete_message_batch, sqs.delete_message
    held: set[str] = set()
    most_held = []

    def receive(**kwargs):
        answer = real_receive(**kwargs)
        held.update(m["ReceiptHandle"] for m in answer.get("Messages", []))
        most_held.append(len(held))
        return answer

    def delete_batch(**kwargs):
        held.difference_update(entry["ReceiptHandle"] for entry in kwargs["Entries"])
        return real_delete_batch(**kwargs)

    def delete(**kwargs):
        held.discard(kwargs["ReceiptHandle"])
        return real_delete(**kwargs)

    sqs.receive_message, sqs.delete_message_batch, sqs.delete_message = receive, delete_batch, delete
    progress: list[str] = []
    done = getattr(DeadLetterBox(sqs, aws["RETRY_DLQ_URL"], aws["RETRY_QUEUE_URL"]), how)(None, progress=progress.append)
    assert len(done) == 25 and max(most_held) <= 10
    assert len(box(aws).list()) == 0
    if how == "replay":
        sent = 0
        while page := real_receive(QueueUrl=aws["RETRY_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", []):
            sent += len(page)
            for message in page:
                real_delete(QueueUrl=aws["RETRY_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])
        assert sent == 25
