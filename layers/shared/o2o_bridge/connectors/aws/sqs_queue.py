"""RetryQueue and RetryDLQ over SQS (and, for `o2o dlq`, what every dead-letter queue shares)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ...redaction import mask_revealed
from ...retry import SQS_MAX_DELAY_SECONDS, DeadLetter, RetryEnvelope


class SqsCommandQueue:
    """CommandQueue: retries go to RetryQueue (delayed), dead letters to RetryDLQ."""

    def __init__(self, client: Any, queue_url: str, dlq_url: str) -> None:
        self.client = client
        self.queue_url = queue_url
        self.dlq_url = dlq_url

    def enqueue(self, envelope: RetryEnvelope, delay_seconds: int) -> None:
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=envelope.model_dump_json(),
            DelaySeconds=max(0, min(SQS_MAX_DELAY_SECONDS, int(delay_seconds))),
            MessageAttributes=_attributes(envelope),
        )

    def dead_letter(self, letter: DeadLetter) -> None:
        self.client.send_message(
            QueueUrl=self.dlq_url,
            # Last line of defence: no tenant secret this process has seen reaches the DLQ.
            MessageBody=mask_revealed(letter.model_dump_json()),
            MessageAttributes=_attributes(letter.envelope) if letter.envelope else {},
        )


def _attributes(envelope: RetryEnvelope) -> dict[str, Any]:
    attributes = {"command": {"DataType": "String", "StringValue": envelope.command}}
    if envelope.ent_id:
        attributes["ent_id"] = {"DataType": "String", "StringValue": envelope.ent_id}
    return attributes


@dataclass
class DeadLetterMessage:
    """One message on the DLQ as an operator sees it."""

    message_id: str
    receipt_handle: str
    body: str
    letter: DeadLetter | None
    envelope: RetryEnvelope | None
    sent_ms: int | None = None  # SQS SentTimestamp (a redrive keeps the first one's)

    @property
    def id(self) -> str:
        return self.envelope.id if self.envelope else self.message_id

    @property
    def reason(self) -> str:
        if self.letter:
            return self.letter.reason
        if self.envelope:
            return "moved by the queue's redrive policy: the worker failed on it repeatedly without answering"
        return "unreadable message (not a retry envelope)"


# After a short poll comes back empty while the queue still says it holds visible messages (SQS
# samples a subset of its servers on a short poll), poll again waiting this long, at most this often.
LONG_POLL_SECONDS = 1
MAX_EMPTY_POLLS = 5
REPLAY_MEMORY_DAYS = 15  # a replayed letter's record outlives the DLQ's 14 days


class DeadLetters(list):
    """The letters one read found, and how many others were being held by another reader."""

    held_elsewhere: int = 0


# `o2o dlq` reports its progress on long work this often (messages, seconds).
PROGRESS_EVERY_MESSAGES = 100
PROGRESS_EVERY_SECONDS = 2.0

Progress = Callable[[str], None]


class _Progress:
    """Calls ``report`` with a line every PROGRESS_EVERY_MESSAGES messages or PROGRESS_EVERY_SECONDS."""

    def __init__(self, report: Progress | None, what: str, total: int | None = None) -> None:
        import time

        self.report, self.what, self.total, self.done = report, what, total, 0
        self._clock = time.monotonic
        self._started = self._last = self._clock()
        self._last_done = 0

    def add(self, count: int = 1) -> None:
        self.done += count
        now = self._clock()
        if self.report and (self.done - self._last_done >= PROGRESS_EVERY_MESSAGES
                            or now - self._last >= PROGRESS_EVERY_SECONDS):
            self._last, self._last_done = now, self.done
            of = f"/{self.total}" if self.total else ""
            self.report(f"{self.what} {self.done}{of} ({now - self._started:.1f}s)")


class DeadLetterBox:
    """Lists and re-drives RetryDLQ messages (`o2o dlq list` / `o2o dlq replay` / `o2o dlq show`
    / `o2o dlq discard`); LedgerDeadLetterBox (sqs_ledger_dlq.py) does the same for LedgerDLQ.

    ``once(key, send)`` (optional) runs ``send`` once per key across every replay, True when it
    ran now, False when an earlier replay sent it (kit.once over the state table): two replays
    at the same time, or a replay whose hold on a letter ran out, re-drive each letter once."""

    def __init__(self, client: Any, dlq_url: str, retry_queue_url: str,
                 once: Callable[[str, Callable[[], None]], bool] | None = None) -> None:
        self.client = client
        self.dlq_url = dlq_url
        self.retry_queue_url = retry_queue_url
        self.once = once

    target = "the retry queue"

    def list(self, *, limit: int = 1000, progress: Progress | None = None) -> "DeadLetters":
        """Every message on the DLQ; they are held invisible while read, then released."""
        messages = self._receive_all(hold_seconds=30, limit=limit, progress=progress)
        self._release(messages)
        return messages

    def find(self, message_id: str) -> DeadLetterMessage:
        """The letter with id ``message_id`` (its own id or SQS's), read and released; LookupError when none."""
        held = self._receive_all(hold_seconds=30, limit=10_000)
        self._release(held)
        for message in held:
            if message_id in (message.id, message.message_id):
                return message
        raise LookupError(self._missing({message_id}, held))

    def discard(self, ids: Iterable[str] | None = None, *, progress: Progress | None = None) -> list[DeadLetterMessage]:
        """Delete the chosen dead letters (all when ``ids`` is None) for good; what was deleted.
        All of them go page by page (``_fresh_pages``): a DLQ of any length, each letter held only
        while its page is deleted."""
        if ids is None:
            counter = _Progress(progress, "discarded", self._counts()[0] or None)
            deleted: list[DeadLetterMessage] = []
            for page in self._fresh_pages():
                self.client.delete_message_batch(QueueUrl=self.dlq_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": message.receipt_handle} for n, message in enumerate(page)])
                deleted += page
                counter.add(len(page))
            return deleted
        wanted = set(ids)
        held = self._receive_all(hold_seconds=60, limit=10_000, progress=progress)
        chosen = self._chosen(held, wanted)
        counter = _Progress(progress, "discarded", len(chosen))
        for start in range(0, len(chosen), 10):
            page = chosen[start:start + 10]
            self.client.delete_message_batch(QueueUrl=self.dlq_url, Entries=[
                {"Id": str(n), "ReceiptHandle": message.receipt_handle} for n, message in enumerate(page)])
            counter.add(len(page))
        self._release(m for m in held if m not in chosen)
        return chosen

    def _chosen(self, held: "DeadLetters", wanted: set[str] | None) -> list[DeadLetterMessage]:
        chosen = [m for m in held if wanted is None or m.id in wanted or m.message_id in wanted]
        missing = (wanted or set()) - {m.id for m in chosen} - {m.message_id for m in chosen}
        if missing:
            self._release(held)
            raise LookupError(self._missing(missing, held))
        return chosen

    @staticmethod
    def _missing(missing: set[str], held: "DeadLetters") -> str:
        return (f"no dead letter with id {', '.join(sorted(missing))}"
                + (f" ({held.held_elsewhere} letter(s) are being read by another o2o dlq: try again "
                   "in a minute)" if held.held_elsewhere else ""))

    def replay(self, ids: Iterable[str] | None = None, *, progress: Progress | None = None) -> list[DeadLetterMessage]:
        """Send the chosen dead letters (all when ``ids`` is None) back to the retry queue, each
        once, and delete them from the DLQ.

        A replayed envelope starts again with zero failed attempts and ``replays`` + 1. All of them
        go page by page (``_fresh_pages``), as ``discard`` does.
        """
        replayed: list[DeadLetterMessage] = []
        if ids is None:
            counter = _Progress(progress, "replayed", self._counts()[0] or None)
            for page in self._fresh_pages():
                for message in page:
                    counter.add()
                    self._replay_one(message, replayed)
            return replayed
        held = self._receive_all(hold_seconds=60, limit=10_000, progress=progress)
        chosen = self._chosen(held, set(ids))
        counter = _Progress(progress, "replayed", len(chosen))
        for message in chosen:
            counter.add()
            self._replay_one(message, replayed)
        self._release(m for m in held if m not in chosen)
        return replayed

    def _replay_one(self, message: DeadLetterMessage, replayed: list[DeadLetterMessage]) -> None:
        body = message.envelope.replayed().model_dump_json() if message.envelope else message.body

        def send() -> None:
            self.client.send_message(QueueUrl=self.retry_queue_url, MessageBody=body)

        try:
            sent_now = self.once(f"dlq.replay:{message.message_id}", send) if self.once else (send() or True)
        except Exception as exc:  # noqa: BLE001 - another replay is sending it right now: leave it to that one
            if getattr(exc, "retryable", False):
                return
            raise
        # Sent now or by an earlier replay that stopped before deleting it: off the DLQ either way.
        self.client.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message.receipt_handle)
        if sent_now:
            replayed.append(message)

    def _fresh_pages(self, hold_seconds: int = 60) -> Iterator[list[Any]]:
        """The DLQ page by page (up to 10 letters), each letter once: the caller deletes (or moves)
        a page before asking for the next, so it is held only meanwhile. Ends when the queue is
        empty, or when a poll brings only letters seen before (their hold ran out because the
        caller left them there: nothing new is coming)."""
        seen: set[str] = set()
        empty_polls = 0
        while True:
            page = self.client.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=LONG_POLL_SECONDS if empty_polls else 0, MessageAttributeNames=["All"],
                AttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            fresh = [self._parse(message) for message in page if message["MessageId"] not in seen]
            seen.update(message["MessageId"] for message in page)
            if fresh:
                empty_polls = 0
                yield fresh
                continue
            if page:
                return
            # An empty short poll does not mean an empty queue: stop only when the queue agrees.
            empty_polls += 1
            if empty_polls > MAX_EMPTY_POLLS or self._counts()[0] == 0:
                return

    def _parse(self, message: dict[str, Any]) -> Any:
        return _parse(message)

    def _receive_all(self, *, hold_seconds: int, limit: int, progress: Progress | None = None) -> "DeadLetters":
        seen: dict[str, DeadLetterMessage] = {}
        empty_polls = 0
        counter = _Progress(progress, "read")
        while len(seen) < limit:
            page = self.client.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=LONG_POLL_SECONDS if empty_polls else 0, MessageAttributeNames=["All"],
                AttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            fresh = [message for message in page if message["MessageId"] not in seen]
            for message in fresh:
                seen[message["MessageId"]] = self._parse(message)
            counter.add(len(fresh))
            if fresh:
                empty_polls = 0
                continue
            if page:  # only letters this read holds already (its hold ran out): nothing new is coming
                break
            # An empty short poll does not mean an empty queue: stop only when the queue agrees.
            empty_polls += 1
            if empty_polls > MAX_EMPTY_POLLS or self._counts()[0] == 0:
                break
        letters = DeadLetters(seen.values())
        letters.held_elsewhere = max(0, self._counts()[1] - len(seen))
        return letters

    def _counts(self) -> tuple[int, int]:
        """(visible, held by a reader) as SQS approximates them."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages",
                                                   "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0)), \
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))

    def _release(self, messages: Iterable[Any]) -> None:
        """Visible again at once (ten a request: a long DLQ is released in seconds)."""
        messages = list(messages)
        for start in range(0, len(messages), 10):
            self.client.change_message_visibility_batch(QueueUrl=self.dlq_url, Entries=[
                {"Id": str(n), "ReceiptHandle": message.receipt_handle, "VisibilityTimeout": 0}
                for n, message in enumerate(messages[start:start + 10])])


def _parse(message: dict[str, Any]) -> DeadLetterMessage:
    body = message["Body"]
    letter = envelope = None
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "envelope" in data:
            letter = DeadLetter.model_validate(data)
            envelope = letter.envelope
        else:
            envelope = RetryEnvelope.model_validate(data)
    except ValueError:
        pass
    return DeadLetterMessage(message["MessageId"], message["ReceiptHandle"], body, letter, envelope,
                             sent_ms_of(message))


def sent_ms_of(message: dict[str, Any]) -> int | None:
    sent = message.get("Attributes", {}).get("SentTimestamp")
    return int(sent) if sent else None
