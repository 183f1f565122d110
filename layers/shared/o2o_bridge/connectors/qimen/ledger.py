"""The WMS documents the bridge created, in StateTable: each one's plan (SKU -> units), what
the WMS confirmed of it so far, and the exceptions raised about it (confirms beyond the plan,
refused cancels). The creating side (``warehouse.QimenWarehouse``) remembers a document; the
confirming side (messages.py) adds the WMS's confirms up against it.

Functions take the flow context (``records``, ``timeline``, ``ent_id``, ``now``, ``metric``).
"""

from __future__ import annotations

from typing import Any

DOCUMENT_KIND = "qimen.document"    # per WMS document: kind, plan, confirmed so far, store-side key
EXCEPTION_KIND = "qimen.exception"  # confirms beyond the plan, refused cancels
ITEM_KIND = "qimen.item"            # SKUs the WMS was sent (items.synchronize): read in the stock runs
RECORD_TTL_DAYS = 400


def remember_document(ctx: Any, code: str, *, kind: str, plan: dict[str, int], order_type: str,
                      store_key: str, wms_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """Record a document just created at the WMS (idempotent: the first record stays)."""
    data = {"kind": kind, "plan": dict(plan), "confirmed": {}, "order_type": order_type, "store_key": store_key,
            "wms_id": wms_id, "final": False, "parcels": [], "news_at": ctx.now().isoformat(), **extra}
    stored = ctx.records.put(ctx.ent_id, DOCUMENT_KIND, code, data, ttl_days=RECORD_TTL_DAYS)
    if stored is None:
        existing = ctx.records.get(ctx.ent_id, DOCUMENT_KIND, code)
        return existing.data if existing else data
    ctx.timeline.record(code, ctx.ent_id, f"qimen.{kind}_created", {"plan": plan, "order_type": order_type,
                                                                    "wms_id": wms_id},
                        aliases=aliases_of(code, store_key, wms_id))
    return data


def aliases_of(code: str, *others: str | None) -> tuple[str, ...]:
    """The other keys `o2o trace` finds a WMS document's steps under: the store's document
    no. and the WMS's own id."""
    return tuple(dict.fromkeys(key for key in others if key and key != code))


def document(ctx: Any, code: str) -> dict[str, Any] | None:
    record = ctx.records.get(ctx.ent_id, DOCUMENT_KIND, code)
    return record.data if record else None


def split_against_plan(plan: dict[str, int], confirmed: dict[str, int],
                       quantities: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """(accepted, excess): ``quantities`` cut at what the plan still leaves after ``confirmed``."""
    accepted, excess = {}, {}
    for sku, qty in quantities.items():
        left = max(0, int(plan.get(sku, 0)) - int(confirmed.get(sku, 0)))
        take = min(qty, left)
        if take:
            accepted[sku] = take
        if qty > take:
            excess[sku] = qty - take
    return accepted, excess


# --- exceptions ---------------------------------------------------------------------------------


def raise_exception(ctx: Any, code: str, reason: str, *, message: str, detail: dict[str, Any]) -> None:
    ctx.records.put(ctx.ent_id, EXCEPTION_KIND, f"{code}:{message}",
                    {"document": code, "reason": reason, "at": ctx.now().isoformat(), **detail},
                    ttl_days=RECORD_TTL_DAYS)
    ctx.timeline.record(code, ctx.ent_id, "qimen.exception", {"reason": reason, **detail}, level="error",
                        aliases=aliases_of(code, detail.get("store_key")))
    ctx.metric("CloudWarehouseExceptions", 1)


def exceptions_to_show(ctx: Any) -> list[dict[str, Any]]:
    """Open cloud-warehouse exceptions of the tenant, oldest first."""
    rows = [record.data for record in ctx.records.list(ctx.ent_id, EXCEPTION_KIND)]
    return sorted(rows, key=lambda row: row.get("at", ""))


# --- items the WMS knows ------------------------------------------------------------------------


def remember_items(ctx: Any, sku_ids: list[str]) -> None:
    for sku in sku_ids:
        ctx.records.put(ctx.ent_id, ITEM_KIND, sku, {"at": ctx.now().isoformat()}, ttl_days=RECORD_TTL_DAYS)


def known_skus(ctx: Any) -> set[str]:
    """SKUs the WMS may hold: those sent to it, those of the bridge's documents."""
    skus = {record.key for record in ctx.records.list(ctx.ent_id, ITEM_KIND)}
    for record in ctx.records.list(ctx.ent_id, DOCUMENT_KIND):
        skus.update((record.data.get("plan") or {}).keys())
    return skus
