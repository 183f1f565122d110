"""`o2o dlq list|show|replay|discard [--queue retry|ledger]`.

``--queue retry`` (the default): RetryDLQ, the commands that failed for good; a replay sends a
letter back to RetryQueue. ``--queue ledger``: LedgerDLQ, the ledger facts ledger_writer could
not store; a replay (alias ``redrive``) moves them back to LedgerQueue. What is printed is
masked (secrets, mobile numbers); what is sent back is the message as it was.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from typing import Any

from ._output import add_json_flag, echo, echo_json

QUEUES = ("retry", "ledger")


def register(commands) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: what failed for good, and why")
    sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    def queue_option(parser) -> None:
        parser.add_argument("--queue", choices=QUEUES, default="retry",
                            help="retry: RetryDLQ (commands that failed for good; the default); "
                                 "ledger: LedgerDLQ (ledger facts ledger_writer could not store)")

    show = sub.add_parser("list", help="every dead letter with its reason")
    queue_option(show)
    add_json_flag(show)
    show.set_defaults(run=list_dead_letters)

    one = sub.add_parser("show", help="one dead letter in full (masked)")
    one.add_argument("id", metavar="ID", help="the letter's id, as `o2o dlq list` prints it (with --queue ledger: "
                                                "or the fact's key)")
    queue_option(one)
    add_json_flag(one)
    one.set_defaults(run=show_dead_letter)

    replay = sub.add_parser("replay", aliases=["redrive"],
                            help="send dead letters back: to the retry queue, or (--queue ledger) to LedgerQueue")
    queue_option(replay)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", dest="ids", metavar="ID", help="a dead letter's id (repeatable)")
    which.add_argument("--all", action="store_true", help="every dead letter")
    replay.set_defaults(run=replay_dead_letters)

    discard = sub.add_parser("discard", help="delete dead letters for good (they are not sent anywhere)")
    queue_option(discard)
    which = discard.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", dest="ids", metavar="ID", help="a dead letter's id (repeatable)")
    which.add_argument("--all", action="store_true", help="every dead letter")
    discard.set_defaults(run=discard_dead_letters)


def _progress(line: str) -> None:
    # stderr: with --json stdout holds the answer alone.
    print(f"  {line}", file=sys.stderr, flush=True)


def _box(queue: str = "retry"):
    from .. import runtime
    from .environment import use_bridge_environment

    use_bridge_environment()
    if queue == "ledger":
        return _ledger_box(runtime)
    from ..connectors.aws.dynamodb_state import RecordView
    from ..connectors.aws.sqs_queue import REPLAY_MEMORY_DAYS, DeadLetterBox
    from ..flows import kit

    settings = runtime.settings()
    records = RecordView(runtime.state_store())

    def once(key, send):
        # One conditional record per letter: a second replay running at the same time (or after
        # this one's hold on the letter ran out) does not send it again.
        outcome = kit.once(records, kit.BRIDGE, key, send, lease_seconds=60 + kit.LEASE_MARGIN_SECONDS,
                           ttl_days=REPLAY_MEMORY_DAYS)
        return not outcome.repeated

    return DeadLetterBox(runtime.aws_client("sqs"), settings.retry_dlq_url, settings.retry_queue_url, once=once)


def _ledger_box(runtime):
    from ..connectors.aws.sqs_ledger_dlq import LedgerDeadLetterBox
    from ..errors import ConfigurationError

    queue_url = os.environ.get("LEDGER_QUEUE_URL")
    if not queue_url:
        raise ConfigurationError("no LedgerQueue known: the stack has no output LedgerQueueUrl (deploy the current "
                                 "template) and LEDGER_QUEUE_URL is not set")
    sqs = runtime.aws_client("sqs")
    dlq_url = os.environ.get("LEDGER_DLQ_URL") or _dead_letter_queue_of(sqs, queue_url)
    return LedgerDeadLetterBox(sqs, dlq_url, queue_url)


def _dead_letter_queue_of(sqs, queue_url: str) -> str:
    """LedgerDLQ found through LedgerQueue's redrive policy (LEDGER_DLQ_URL unset)."""
    from ..errors import ConfigurationError

    policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    try:
        arn = json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"]
    except (KeyError, ValueError):
        raise ConfigurationError(f"LedgerQueue ({queue_url}) has no dead-letter queue: set LEDGER_DLQ_URL") from None
    # The template keeps both queues in one account and region: the same URL but for the name.
    return f"{queue_url.rsplit('/', 1)[0]}/{arn.rsplit(':', 1)[1]}"


def _not_found(exc: LookupError):
    from . import NotFound

    return NotFound(str(exc).strip("'\""))


# --- what is printed (masked) -------------------------------------------------------------

def _masked(value: Any) -> Any:
    from ..redaction import redact_value

    return redact_value(value)


def _sent(letter) -> str | None:
    sent_ms = getattr(letter, "sent_ms", None)
    if not sent_ms:
        return None
    return datetime.fromtimestamp(sent_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fact_summary(fact) -> dict[str, Any]:
    head = fact.rows[0]
    return {"tenant": fact.ent_id, "day": fact.day, "fact_key": fact.key, "kind": head.get("kind"),
            "store_code": head.get("store_code"), "doc_no": head.get("doc_no"), "io_id": head.get("io_id"),
            "so_id": head.get("so_id"), "amount": head.get("amount"), "lines": len(fact.rows) - 1}


def _as_json(letter, *, full: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": letter.id, "message_id": letter.message_id, "reason": letter.reason,
                              "sent_at": _sent(letter)}
    fact = getattr(letter, "fact", None)
    if hasattr(letter, "fact"):  # a LedgerDLQ letter
        answer["fact"] = _fact_summary(fact) if fact is not None else None
        if full:
            # The member's hash is a keyed fingerprint, not the number; still nobody needs it here.
            answer["rows"] = ([{**row, "member_hash": "****" if row.get("member_hash") else None} for row in fact.rows]
                              if fact is not None else None)
            answer["body"] = None if fact is not None else letter.body[:2000]
    else:
        answer["envelope"] = letter.envelope.model_dump(mode="json") if letter.envelope else None
        if full:
            answer["error_type"] = letter.letter.error_type if letter.letter else None
            answer["body"] = None if letter.envelope else letter.body[:2000]
    return _masked(answer)


def _line(letter) -> str:
    fact = getattr(letter, "fact", None)
    if hasattr(letter, "fact"):
        if fact is None:
            what = "(not a ledger fact)"
        else:
            summary = _fact_summary(fact)
            what = (f"{summary['kind']} tenant={fact.ent_id} day={fact.day} key={fact.key}"
                    + (f" doc={summary['doc_no']}" if summary["doc_no"] else ""))
    else:
        envelope = letter.envelope
        what = (f"{envelope.command} tenant={envelope.ent_id or '-'} attempts={envelope.attempts} "
                f"replays={envelope.replays}" if envelope else "(unreadable)")
    return _masked(f"{letter.id}  {what}\n    reason: {letter.reason}")


def _queue_name(queue: str) -> str:
    return "LedgerDLQ" if queue == "ledger" else "the dead-letter queue"


# --- commands ------------------------------------------------------------------------------

def list_dead_letters(args) -> int:
    letters = _box(args.queue).list(progress=_progress)
    busy = (f"; {letters.held_elsewhere} more being read by another o2o dlq (list again in a minute)"
            if letters.held_elsewhere else "")
    if args.json:
        echo_json([_as_json(letter) for letter in letters])
        return 0
    if not letters:
        echo(f"{_queue_name(args.queue)} is empty{busy}")
        return 0
    for letter in letters:
        echo(_line(letter))
    echo(f"{len(letters)} dead letter(s){busy}")
    return 0


def show_dead_letter(args) -> int:
    try:
        letter = _box(args.queue).find(args.id)
    except LookupError as exc:
        raise _not_found(exc) from None
    document = _as_json(letter, full=True)
    if args.json:
        echo_json(document)
        return 0
    echo(_line(letter))
    if document.get("sent_at"):
        echo(f"    sent: {document['sent_at']}")
    if document.get("error_type"):
        echo(f"    error: {document['error_type']}")
    if document.get("envelope"):
        echo("    payload: " + json.dumps(document["envelope"].get("payload"), ensure_ascii=False))
    for row in document.get("rows") or ():
        echo("    " + json.dumps(row, ensure_ascii=False))
    if document.get("body"):
        echo(f"    body: {document['body']}")
    return 0


def replay_dead_letters(args) -> int:
    box = _box(args.queue)
    try:
        replayed = box.replay(None if args.all else args.ids, progress=_progress)
    except LookupError as exc:
        raise _not_found(exc) from None
    if args.queue == "ledger":
        for letter, code in replayed.failed:
            echo(f"not moved {letter.id}: {code} (still on LedgerDLQ)")
        echo(f"{len(replayed.moved)} ledger fact message(s) moved back to LedgerQueue"
             + (f", {len(replayed.failed)} not moved" if replayed.failed else ""))
        return 1 if replayed.failed else 0
    for letter in replayed:
        echo(f"replayed {letter.id} ({letter.envelope.command if letter.envelope else 'raw message'})")
    echo(f"{len(replayed)} dead letter(s) sent back to the retry queue")
    return 0


def discard_dead_letters(args) -> int:
    try:
        discarded = _box(args.queue).discard(None if args.all else args.ids, progress=_progress)
    except LookupError as exc:
        raise _not_found(exc) from None
    for letter in discarded:
        echo(_masked(f"discarded {letter.id}"))
    echo(f"{len(discarded)} dead letter(s) deleted from {'LedgerDLQ' if args.queue == 'ledger' else 'RetryDLQ'}")
    return 0
