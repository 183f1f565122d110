"""`o2o maintenance timelines [--dry-run]`: one-off upkeep of what an older version stored."""

from __future__ import annotations

from dataclasses import asdict

from ._output import add_json_flag, echo, echo_json


def register(commands) -> None:
    maintenance = commands.add_parser("maintenance", help="one-off upkeep of data an older version stored")
    sub = maintenance.add_subparsers(dest="maintenance_command", required=True, metavar="ACTION")
    timelines = sub.add_parser(
        "timelines", help="move timelines written before they were keyed by tenant under their tenant, so "
                          "`o2o trace` shows them again (each entry to the tenant it names; safe to run twice)")
    timelines.add_argument("--dry-run", action="store_true", help="count what would move; change nothing")
    add_json_flag(timelines)
    timelines.set_defaults(run=migrate_timelines)


def migrate_timelines(args) -> int:
    from .. import runtime
    from .environment import use_bridge_environment

    where = use_bridge_environment()
    report = runtime.state_store().migrate_untenanted_timelines(dry_run=args.dry_run)
    if args.json:
        echo_json({**asdict(report), "dry_run": args.dry_run})
        return 0
    verb = "would move" if args.dry_run else "moved"
    echo(f"{where}: {verb} {report.entries} timeline entries and {report.aliases} aliases under their tenant"
         + (f"; {report.dropped_aliases} aliases point at no tenant's document and "
            f"{'would be' if args.dry_run else 'were'} dropped" if report.dropped_aliases else ""))
    return 0
