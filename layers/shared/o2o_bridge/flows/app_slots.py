"""How many tenants of one ERP app may run a scheduled job at once.

Tenants of one ERP app share its rate limit (connectors/pacing.py counts calls per app across
every container), so more of them at once would only wait for each other's calls. Each
tenant's run takes one of the app's ``slots`` for the job before it starts, as a lease in the
state table (one record per slot, written conditionally on the version read):

- the lease lasts as long as the invocation can still run, plus a margin: a run that crashes
  (timeout, out of memory) frees its slot when its invocation could no longer be running, never
  later, and holds up nobody past that;
- a run that finds every slot taken waits for one; if none frees while it still has time, it
  does not start (counted, logged): the next firing runs the tenant;
- a slot is given back by writing it free under the version it was taken with, so versions only
  grow and a run whose lease ran out can never free a slot another run took since.

The runs are not held in the queue for this (a FIFO message group per ERP app would be): a run
that crashes holds only its own tenant's message group, so only that tenant waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..ports import RecordRepository
    from ..tenant import Tenant

SLOT_KIND = "schedule.slot"
OWNER = "-"  # bridge-wide records (not a tenant's)
# Tenants of one ERP app that may run one job at once.
SLOTS_PER_ERP_APP = 2
LEASE_MARGIN_SECONDS = 30
LEASE_WITHOUT_DEADLINE_SECONDS = 900  # the longest a Lambda may run (the CLI has no deadline)
WAIT_STEP_SECONDS = 2.0
# Outside Lambda (no deadline: the CLI, a local stack) a run waits at most this long for a slot.
MAX_WAIT_SECONDS = 300.0


def erp_app_of(tenant: "Tenant") -> str:
    """Which ERP app (and so which rate limit) the tenant's scheduled work spends."""
    section = getattr(tenant, tenant.erp, None) if hasattr(tenant, "erp") else getattr(tenant, "jushuitan", None)
    key = getattr(section, "app_key", None) or getattr(section, "sid", None)
    return f"{getattr(tenant, 'erp', 'jushuitan')}:{key}" if key else f"tenant:{tenant.ent_id}"


@dataclass(frozen=True)
class Slot:
    key: str
    version: int


def _now() -> datetime:
    return datetime.now(timezone.utc)


def take(records: "RecordRepository", job: str, tenant: "Tenant", *, time_left: Callable[[], float],
         reserve_seconds: float, slots: int = SLOTS_PER_ERP_APP, now: Callable[[], datetime] = _now,
         sleep: Callable[[float], None] = time.sleep) -> Slot | None:
    """A slot of the tenant's ERP app for ``job``, waiting for one while more than
    ``reserve_seconds`` are left; None if none came free in time."""
    app = erp_app_of(tenant)
    waited = 0.0
    while True:
        slot = _try(records, job, app, tenant.ent_id, time_left(), slots, now())
        if slot is not None or time_left() - WAIT_STEP_SECONDS < reserve_seconds or waited >= MAX_WAIT_SECONDS:
            return slot
        sleep(WAIT_STEP_SECONDS)
        waited += WAIT_STEP_SECONDS


def _try(records: "RecordRepository", job: str, app: str, ent_id: str, left: float, slots: int,
         moment: datetime) -> Slot | None:
    lease = min(left, LEASE_WITHOUT_DEADLINE_SECONDS) + LEASE_MARGIN_SECONDS
    for n in range(max(slots, 1)):
        key = f"{job}:{app}#{n}"
        held = records.get(OWNER, SLOT_KIND, key)
        if held is not None and held.data.get("until") and datetime.fromisoformat(held.data["until"]) > moment:
            continue
        taken = records.put(OWNER, SLOT_KIND, key,
                            {"ent_id": ent_id, "until": (moment + timedelta(seconds=lease)).isoformat()},
                            expected_version=held.version if held else None, ttl_days=1)
        if taken is not None:
            return Slot(key, taken.version)
    return None


def give_back(records: "RecordRepository", slot: Slot) -> None:
    """Free ``slot`` if it is still this run's (written, never deleted: versions only grow)."""
    records.put(OWNER, SLOT_KIND, slot.key, {"until": None}, expected_version=slot.version, ttl_days=1)
