"""`o2o dlq list` / `o2o dlq replay [--id ID] [--all]`."""

from __future__ import annotations

from ._output import add_json_flag, echo, echo_json


def register(commands) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: what failed for good, and why")
    sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    show = sub.add_parser("list", help="every dead letter with its reason")
    add_json_flag(show)
    show.set_defaults(run=list_dead_letters)
    replay = sub.add_parser("replay", help="send dead letters back to the retry queue")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", action="append", dest="ids", metavar="ID", help="a dead letter's id (repeatable)")
    which.add_argument("--all", action="store_true", help="every dead letter")
    replay.set_defaults(run=replay_dead_letters)


def _box():
    from .. import runtime
    from ..connectors.aws.dynamodb_state import RecordView
    from ..connectors.aws.sqs_queue import REPLAY_MEMORY_DAYS, DeadLetterBox
    from ..flows import kit
    from .environment import use_bridge_environment

    use_bridge_environment()
    settings = runtime.settings()
    records = RecordView(runtime.state_store())

    def once(key, send):
        # One conditional record per letter: a second replay running at the same time (or after
        # this one's hold on the letter ran out) does not send it again.
        outcome = kit.once(records, kit.BRIDGE, key, send, lease_seconds=60 + kit.LEASE_MARGIN_SECONDS,
                           ttl_days=REPLAY_MEMORY_DAYS)
        return not outcome.repeated

    return DeadLetterBox(runtime.aws_client("sqs"), settings.retry_dlq_url, settings.retry_queue_url, once=once)


def list_dead_letters(args) -> int:
    letters = _box().list()
    busy = (f"; {letters.held_elsewhere} more being read by another o2o dlq (list again in a minute)"
            if letters.held_elsewhere else "")
    if args.json:
        echo_json([{"id": letter.id, "reason": letter.reason,
                    "envelope": letter.envelope.model_dump(mode="json") if letter.envelope else None}
                   for letter in letters])
        return 0
    if not letters:
        echo(f"the dead-letter queue is empty{busy}")
        return 0
    for letter in letters:
        envelope = letter.envelope
        what = f"{envelope.command} tenant={envelope.ent_id or '-'} attempts={envelope.attempts} replays={envelope.replays}" if envelope else "(unreadable)"
        echo(f"{letter.id}  {what}\n    reason: {letter.reason}")
    echo(f"{len(letters)} dead letter(s){busy}")
    return 0


def replay_dead_letters(args) -> int:
    try:
        replayed = _box().replay(None if args.all else args.ids)
    except LookupError as exc:
        from . import NotFound

        raise NotFound(str(exc).strip("'\"")) from None
    for letter in replayed:
        echo(f"replayed {letter.id} ({letter.envelope.command if letter.envelope else 'raw message'})")
    echo(f"{len(replayed)} dead letter(s) sent back to the retry queue")
    return 0
