"""When a pickup order reached its store: the clock healing.expire_pickups reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ledger_facts

if TYPE_CHECKING:
    from .kit import FlowContext

PICKUP_WAITING_KIND = "s1.pickup"  # key io_id: {store_code, fulfilment_id, since}
TTL_DAYS = 60


def note_dispatched(ctx: "FlowContext", data: dict[str, Any], *, store_code: str, fulfilment_id: str,
                    at: Any) -> None:
    """A pickup order reached its store: its expiry clock starts (safe to repeat)."""
    if data.get("delivery") != "pickup":
        return
    current = ctx.records.get(ctx.ent_id, PICKUP_WAITING_KIND, data["io_id"])
    if current is not None and current.data.get("fulfilment_id") == fulfilment_id:
        return
    ctx.records.put(ctx.ent_id, PICKUP_WAITING_KIND, data["io_id"],
                    {"store_code": store_code, "fulfilment_id": fulfilment_id,
                     "since": ledger_facts.moment(at, ctx).isoformat()},
                    expected_version=current.version if current else None, ttl_days=TTL_DAYS)
