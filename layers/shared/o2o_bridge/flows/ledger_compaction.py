"""Ledger compaction (schedule ``compact_ledger``, 03:30 Asia/Shanghai; ``o2o ledger compact``).

The functions append one small object per fact. Each night, every tenant's closed days of the
last ``LOOKBACK_DAYS`` that still have such objects are merged into one object per tenant and
day (ledger.py, compaction): reports then open one object a day instead of thousands. Like
every scheduled job, the firing fans out one run per registered tenant (kit.scheduled_job):
one tenant's huge or failing ledger delays no other tenant's, and the first tenant rotates. A day
is closed once the next Shanghai day has begun; today is never touched. A fact appended later
to a closed day (a replayed event) is read deduplicated and folded in by the next run within
the lookback, or by ``o2o ledger compact`` for an older day.

A tenant's run stops with ``STOP_WITH_SECONDS_LEFT`` of its invocation left; what it did not
reach is counted (metric LedgerDaysLeftLoose, summed over the night's runs by the alarm
LedgerCompactionBehind) and done the next night.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import BadRequest, BridgeError
from ..ledger import closed_days, day_is_closed

if TYPE_CHECKING:
    from ..ports.ledger import CompactableLedger

LOOKBACK_DAYS = 7
STOP_WITH_SECONDS_LEFT = 60


class DaysNotCompacted(BridgeError):
    """Some closed days of a tenant could not be merged (the others were); the next night retries them."""


def compact_day(ledger: "CompactableLedger", ent_id: str, day: str, *, now: datetime) -> dict[str, Any]:
    """One tenant's day (the operator's command): refused while the day is still open."""
    if not day_is_closed(day, now):
        raise BadRequest(f"day {day} is not closed yet (Asia/Shanghai): a day is compacted once the next has begun")
    return ledger.compact_day(ent_id, day).as_dict()


def compact_tenant(ledger: "CompactableLedger", ent_id: str, *, now: datetime,
                   time_left: Callable[[], float] = lambda: float("inf"),
                   metric: Callable[[str, float], None] = lambda name, value=1: None) -> dict[str, Any]:
    """One tenant's run of the nightly job: its closed days of the lookback. A day that could not
    be merged fails the run (after the other days had their turn), so the run is counted and
    logged as failed (kit.run_tenant) and the day is taken again the next night."""
    summary = compact_closed_days(ledger, now=now, tenants=[ent_id], time_left=time_left, metric=metric)
    mine = summary["tenants"][ent_id]
    if summary["failed"]:
        raise DaysNotCompacted(f"ledger days of tenant {ent_id} not compacted: "
                             + "; ".join(f"{f['day']}: {f['error']}" for f in summary["failed"]))
    return {key: mine[key] for key in ("days_compacted", "objects_merged", "days_left")}


def compact_closed_days(ledger: "CompactableLedger", *, now: datetime, tenants: Iterable[str] | None = None,
                        lookback_days: int = LOOKBACK_DAYS, time_left: Callable[[], float] = lambda: float("inf"),
                        metric: Callable[[str, float], None] = lambda name, value=1: None) -> dict[str, Any]:
    """Compact every (tenant, closed day) of the lookback that has single-fact objects: of
    ``tenants`` (a tenant's nightly run names its own), else of every tenant the ledger holds."""
    days = closed_days(now, lookback_days)
    summary: dict[str, Any] = {"days_compacted": 0, "objects_merged": 0, "days_left": 0, "failed": [], "tenants": {}}
    for ent_id in (list(tenants) if tenants is not None else ledger.tenants()):
        mine = summary["tenants"][ent_id] = {"ok": True, "days_compacted": 0, "objects_merged": 0, "days_left": 0}
        for day in days:
            if not ledger.loose_objects(ent_id, day):
                continue
            if time_left() < STOP_WITH_SECONDS_LEFT:
                mine["days_left"] += 1
                continue
            try:
                done = ledger.compact_day(ent_id, day)
            except Exception as exc:  # noqa: BLE001 - one day failing does not stop the others
                summary["failed"].append({"tenant": ent_id, "day": day, "error": f"{type(exc).__name__}: {exc}"})
                mine.update(ok=False, days_left=mine["days_left"] + 1)
                continue
            mine["days_compacted"] += 1
            mine["objects_merged"] += done.merged_objects
        for key in ("days_compacted", "objects_merged", "days_left"):
            summary[key] += mine[key]
    metric("LedgerDaysCompacted", summary["days_compacted"])
    metric("LedgerObjectsMerged", summary["objects_merged"])
    metric("LedgerDaysLeftLoose", summary["days_left"])
    return summary
