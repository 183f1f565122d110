"""LedgerDLQ for `o2o dlq ... --queue ledger`: the ledger facts ledger_writer could not store
(S3 refused their batch's object 5 times), listed, shown, moved back to LedgerQueue, discarded.

The move is SendMessage to LedgerQueue, then DeleteMessage here (SQS's own message move task
does the same, but the local stack's moto cannot run one). A move killed between the two leaves
the fact on both queues, and a second move sends it again: harmless, as the readers and the
compaction keep a fact key once. So unlike a retry envelope a fact needs no once-guard in the
state table. The fact's first SentTimestamp goes with it (the ``recorded_ms`` message
attribute, which ledger_writer prefers), so the ledger records when the flow sent the fact, not
when an operator moved it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ...ledger import PoisonedFact, QueuedFact, read_fact_message
from .sqs_queue import DeadLetterBox, DeadLetters, Progress, _Progress, sent_ms_of

RECORDED_MS_ATTRIBUTE = "recorded_ms"  # the fact's first SentTimestamp (epoch ms), kept across moves
UNSTORED_REASON = ("ledger_writer could not store it (S3 refused its batch's object on every delivery; "
                   "ledger_writer's log group says why)")


@dataclass
class LedgerLetter:
    """One message on LedgerDLQ as an operator sees it."""

    message_id: str
    receipt_handle: str
    body: str
    sent_ms: int | None
    fact: QueuedFact | None
    problem: str | None  # why it is no fact (None for a fact)

    @property
    def id(self) -> str:
        return self.message_id

    @property
    def envelope(self) -> None:  # what `o2o dlq` asks a retry letter for
        return None

    @property
    def reason(self) -> str:
        return UNSTORED_REASON if self.fact is not None else f"not a ledger fact: {self.problem}"


def recorded_ms(message: dict[str, Any]) -> int | None:
    """The fact's first SentTimestamp: the attribute an earlier move set, else this message's own."""
    attribute = (message.get("MessageAttributes") or {}).get(RECORDED_MS_ATTRIBUTE) or {}
    value = attribute.get("StringValue")
    if value and value.isdigit():
        return int(value)
    return sent_ms_of(message)


def _letter(message: dict[str, Any]) -> LedgerLetter:
    sent = recorded_ms(message)
    fact = problem = None
    try:
        fact = read_fact_message(message["Body"], message_id=message["MessageId"], sent_ms=sent or 0)
    except PoisonedFact as exc:
        problem = str(exc)
    return LedgerLetter(message["MessageId"], message["ReceiptHandle"], message["Body"], sent, fact, problem)


@dataclass
class Moved:
    """What a move back to LedgerQueue did."""

    moved: list[LedgerLetter]
    failed: list[tuple[LedgerLetter, str]]  # not sent (still on LedgerDLQ), with SQS's reason


class LedgerDeadLetterBox(DeadLetterBox):
    """``list`` / ``find`` / ``discard`` as for RetryDLQ; ``replay`` moves facts back to LedgerQueue."""

    target = "LedgerQueue"

    def __init__(self, client: Any, dlq_url: str, ledger_queue_url: str) -> None:
        super().__init__(client, dlq_url, ledger_queue_url)

    def _parse(self, message: dict[str, Any]) -> LedgerLetter:
        return _letter(message)

    def find(self, message_id: str) -> LedgerLetter:
        """The letter with SQS's id ``message_id``, or else the first holding the fact of that key."""
        held = self._receive_all(hold_seconds=30, limit=10_000)
        self._release(held)
        for letter in sorted(held, key=lambda letter: letter.message_id != message_id):
            if message_id == letter.message_id or (letter.fact is not None and letter.fact.key == message_id):
                return letter
        raise LookupError(self._missing({message_id}, held))

    def replay(self, ids: Iterable[str] | None = None, *, progress: Progress | None = None) -> Moved:  # type: ignore[override]
        """Move the chosen letters (all when ``ids`` is None) back to LedgerQueue."""
        if ids is None:
            return self._move_all(progress)
        held = self._receive_all(hold_seconds=60, limit=10_000, progress=progress)
        chosen = self._chosen(held, set(ids))
        counter = _Progress(progress, "moved", len(chosen))
        result = Moved([], [])
        for start in range(0, len(chosen), 10):
            self._move_page(chosen[start:start + 10], result)
            counter.add(len(chosen[start:start + 10]))
        self._release([m for m in held if m not in chosen] + [letter for letter, _ in result.failed])
        return result

    def _move_all(self, progress: Progress | None) -> Moved:
        """Page by page (received, sent, deleted: ``_fresh_pages``): a queue of any length, each
        letter held only while its page moves; a letter already seen (sent but not deleted) is not
        sent again."""
        result = Moved([], [])
        counter = _Progress(progress, "moved", self._counts()[0] or None)
        for page in self._fresh_pages():
            failed_before = len(result.failed)
            self._move_page(page, result)
            # One that could not be sent stays on LedgerDLQ, held until this move ends: it is
            # reported, not tried again and again.
            counter.add(len(page) - (len(result.failed) - failed_before))
        self._release(letter for letter, _ in result.failed)
        return result

    def _move_page(self, page: list[LedgerLetter], result: Moved) -> None:
        if not page:
            return
        entries = []
        for n, letter in enumerate(page):
            entry: dict[str, Any] = {"Id": str(n), "MessageBody": letter.body}
            if letter.sent_ms:
                entry["MessageAttributes"] = {RECORDED_MS_ATTRIBUTE: {"DataType": "Number",
                                                                      "StringValue": str(letter.sent_ms)}}
            entries.append(entry)
        answer = self.client.send_message_batch(QueueUrl=self.retry_queue_url, Entries=entries)
        failed = {entry["Id"]: entry.get("Code", "failed") for entry in answer.get("Failed", [])}
        sent = [letter for n, letter in enumerate(page) if str(n) not in failed]
        result.failed += [(page[int(n)], code) for n, code in failed.items()]
        if sent:
            self.client.delete_message_batch(QueueUrl=self.dlq_url, Entries=[
                {"Id": str(n), "ReceiptHandle": letter.receipt_handle} for n, letter in enumerate(sent)])
        result.moved += sent


__all__ = ["LedgerDeadLetterBox", "LedgerLetter", "Moved", "RECORDED_MS_ATTRIBUTE", "DeadLetters"]
