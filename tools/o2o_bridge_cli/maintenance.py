"""`o2o maintenance timelines [--dry-run]` / `o2o maintenance reservations [--tenant ENT_ID] [--dry-run]`:
one-off upkeep of what an older version stored."""

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
    holds = sub.add_parser(
        "reservations", help="move store reservations stored one per SKU, or listed on one record per store, "
                             "into a hold per order and the store's totals, and out-of-stock marks stored one per "
                             "SKU into one record per store and day; only holds whose order is still at the store "
                             "move (safe to run twice; run it right after the deploy)")
    holds.add_argument("--tenant", metavar="ENT_ID", help="only this tenant (default: every tenant)")
    holds.add_argument("--dry-run", action="store_true", help="count what would move; change nothing")
    add_json_flag(holds)
    holds.set_defaults(run=upgrade_reservations)


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


def upgrade_reservations(args) -> int:
    from .. import runtime, wiring
    from ..errors import UnknownTenant
    from ..flows import store_fulfilment
    from .environment import use_bridge_environment

    where = use_bridge_environment()
    repository = runtime.state_store()
    rows = []
    for ent_id in [args.tenant] if args.tenant else repository.list_ids():
        tenant = repository.get(ent_id)
        if tenant is None:
            raise UnknownTenant(ent_id)
        rows.append({"ent_id": ent_id, **store_fulfilment.upgrade_reservations(wiring.context_for(tenant),
                                                                               dry_run=args.dry_run)})
    if args.json:
        echo_json({"tenants": rows, "dry_run": args.dry_run})
        return 0
    verb = "would move" if args.dry_run else "moved"
    for row in rows:
        echo(f"{where}: tenant {row['ent_id']}: {verb} {row['moved']} held line(s) of {row['old_records']} per-SKU "
             f"reservation record(s) at {row['stores']} store(s) into holds of their own ({row['dropped']} no "
             f"longer held: let go; {row['deleted']} old record(s) deleted), {row['listed_moved']} order(s) listed "
             f"on a store's record into holds of their own, and {row['marks_moved']} of "
             f"{row['old_marks']} per-SKU out-of-stock mark(s) into one record per store and day, and "
             f"{row['slots_moved']} capacity slot(s) of {row['old_slots']} per-day record(s) into the stores' records")
    return 0
