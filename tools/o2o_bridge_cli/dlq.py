"""`o2o dlq list` / `o2o dlq replay [--id ID] [--all]`."""

from __future__ import annotations

import sys


def register(commands) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: what failed for good, and why")
    sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    show = sub.add_parser("list", help="every dead letter with its reason")
    show.set_defaults(run=list_dead_letters)
    replay = sub.add_parser("replay", help="send dead letters back to the retry queue")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", dest="ids", metavar="ID", help="a dead letter's id (repeatable)")
    which.add_argument("--all", action="store_true", help="every dead letter")
    replay.set_defaults(run=replay_dead_letters)


def _box():
    from .. import runtime
    from ..connectors.aws.sqs_queue import DeadLetterBox
    from .environment import use_bridge_environment

    use_bridge_environment()
    settings = runtime.settings()
    return DeadLetterBox(runtime.aws_client("sqs"), settings.retry_dlq_url, settings.retry_queue_url)


def list_dead_letters(args) -> int:
    letters = _box().list()
    if not letters:
        print("the dead-letter queue is empty")
        return 0
    for letter in letters:
        envelope = letter.envelope
        what = f"{envelope.command} tenant={envelope.ent_id or '-'} attempts={envelope.attempts} replays={envelope.replays}" if envelope else "(unreadable)"
        print(f"{letter.id}  {what}\n    reason: {letter.reason}")
    print(f"{len(letters)} dead letter(s)")
    return 0


def replay_dead_letters(args) -> int:
    try:
        replayed = _box().replay(None if args.all else args.ids)
    except LookupError as exc:
        print(f"o2o: {exc}", file=sys.stderr)
        return 2
    for letter in replayed:
        print(f"replayed {letter.id} ({letter.envelope.command if letter.envelope else 'raw message'})")
    print(f"{len(replayed)} dead letter(s) sent back to the retry queue")
    return 0
