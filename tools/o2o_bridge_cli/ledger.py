"""`o2o ledger compact --tenant E --day D [--ledger-dir DIR] [--json]`: merge one tenant's closed
day of the document ledger into one object now (the 03:30 compact_ledger run does the last
seven days of every tenant by itself). A day still open (today, Asia/Shanghai) is refused.

Where the ledger is: ``--ledger-dir`` or ``O2O_LEDGER_DIR`` (files); the local stack's files
when ``AWS_ENDPOINT_URL`` points at one; else the deployed stack's bucket (``O2O_STACK``).
"""

from __future__ import annotations


def register(commands) -> None:
    from ._output import add_json_flag

    group = commands.add_parser("ledger", help="the document ledger: compact a closed day")
    sub = group.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    compact = sub.add_parser("compact", help="merge a tenant's closed day into one object")
    compact.add_argument("--tenant", required=True, metavar="ENT_ID")
    compact.add_argument("--day", required=True, metavar="YYYY-MM-DD", help="a closed day (Shanghai)")
    compact.add_argument("--ledger-dir", metavar="DIR", help="the ledger's files (local stack, O2O_LEDGER_DIR)")
    add_json_flag(compact)
    compact.set_defaults(run=compact_day)


def _ledger(ledger_dir: str | None):
    from o2o_bridge.connectors.files.ledger import FileLedger

    from ._ledger_options import ledger_files

    directory = ledger_files(ledger_dir)
    if directory:
        return FileLedger(directory)
    from o2o_bridge import runtime

    from .environment import use_bridge_environment

    use_bridge_environment()
    return runtime.ledger_store()


def compact_day(args) -> int:
    from datetime import datetime, timezone

    from o2o_bridge.flows import ledger_compaction

    from ._ledger_options import day_option
    from ._output import echo, echo_json

    day = day_option(args.day, "--day")
    done = ledger_compaction.compact_day(_ledger(args.ledger_dir), args.tenant, day, now=datetime.now(timezone.utc))
    if args.json:
        echo_json(done)
        return 0
    if not done["merged_objects"]:
        echo(f"tenant {args.tenant} {day}: nothing to compact (no single-fact objects)")
        return 0
    echo(f"tenant {args.tenant} {day}: {done['merged_objects']} object(s) merged into one of {done['rows']} row(s) "
         f"({done['bytes_before']:,} bytes read, {done['bytes_after']:,} written)")
    return 0
