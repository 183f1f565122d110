"""Q1-Q6: a cloud warehouse (3PL WMS) over 奇门 for tenants with ``warehouse: qimen``.

The bridge plays the ERP side: it creates WMS documents (发货单, 退货入库单, 出库单, 入库单)
and the WMS confirms them, once or in several messages. This module keeps what is true of
every 奇门 document whatever the store-side scenario:

- Each WMS message takes effect once: its ``outBizCode`` (else a digest of the document)
  is an effect key, so a message the gateway delivers twice is acknowledged and ignored.
- Each document the bridge created is remembered with its plan (SKU -> units). Confirms add
  up against it (``confirmType`` 1 = more to come, 0 = the last) and never exceed it: units
  beyond the plan are acknowledged, not passed on, and raised as an exception
  (``exceptions_to_show``, ``o2o exceptions list``). A confirm of a document the bridge never
  created is refused.
- What a confirm means for the store (a parcel shipped -> P3, 配货 shipped -> P10, a return
  received -> P5, 退仓 received -> P11, stock moved -> re-read and P6) is handed to the
  ERP-neutral store-order, 配货, 退仓 and warehouse-stock flows through ``HAND_OVER``; this
  module holds none of their business rules.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from ..connectors.qimen.ledger import (  # noqa: F401 - the ledger's names, as the flow's users know them
    DOCUMENT_KIND,
    EXCEPTION_KIND,
    RECORD_TTL_DAYS,
    aliases_of,
    document,
    exceptions_to_show,
    raise_exception,
    remember_document,
    split_against_plan,
)
from ..errors import NotImplementedYet, PermanentError
from . import kit

if TYPE_CHECKING:
    from ..connectors.qimen.inbound import QimenCall
    from ..connectors.qimen.mappers import Confirmation, Parcel

MESSAGE_EFFECT = "qimen.message"

# Which document kind each confirm method answers.
CONFIRMS = {
    "deliveryorder.confirm": "delivery",
    "stockout.confirm": "stockout",
    "returnorder.confirm": "return",
    "entryorder.confirm": "entry",
}
STOCK_REPORTS = ("stockchange.report", "inventory.report")


class UnknownWmsDocument(PermanentError):
    """A confirm for a document the bridge did not create (or no longer remembers)."""


# --- hand-over to the ERP-neutral flows -------------------------------------------------------
# (ctx, document record, what happened) -> None. The store-side meaning of each confirm
# belongs to the ERP-neutral flows; until they take 奇门 confirmations, each fails loudly.


def _not_yet(what: str) -> Callable[..., None]:
    def hand_over(*_: Any, **__: Any) -> None:
        raise NotImplementedYet(f"{what} through the ERP-neutral flows", issue=17)

    return hand_over


def _reread_after_report(ctx: kit.FlowContext, _document: dict[str, Any], skus: list[str], _confirmation: Any) -> None:
    kit.attempt(ctx, reread_stock, {"skus": skus}, trace_key=f"stock:{ctx.tenant.qimen.store_warehouse_code}")


HAND_OVER: dict[str, Callable[..., None]] = {
    "delivery": _not_yet("奇门 deliveryorder.confirm -> 店+ shipment per parcel (P3)"),
    "stockout": _not_yet("奇门 stockout.confirm -> 配货 shipped (P10)"),
    "return": _not_yet("奇门 returnorder.confirm -> return received (P5)"),
    "entry": _not_yet("奇门 entryorder.confirm -> 退仓 received (P11)"),
    "stock": _reread_after_report,
}


# --- Q5: warehouse stock ----------------------------------------------------------------------


def warehouse_for(ctx: kit.FlowContext) -> Any:
    """The tenant's cloud WMS as its warehouse (the live 奇门 client, or ``ctx.extras['qimen']``)."""
    from ..connectors.qimen.warehouse import QimenWarehouse

    client = ctx.extras.get("qimen")
    if client is None:
        from ..connectors.qimen.factory import qimen_for_tenant

        client = qimen_for_tenant(ctx.tenant)
    return QimenWarehouse(ctx, client)


STOCK_CHUNK = 500  # SKUs per re-read step (one P6 call at most)


def read_all_stock(ctx: kit.FlowContext) -> dict[str, Any]:
    """The hourly and 02:10 runs: every SKU the WMS may hold (sent to it, or in the bridge's
    documents, or already shown at the 店+ warehouse) read again and set at the store. A
    chunk that fails transiently waits in the retry queue; the others go on."""
    from ..connectors.qimen.ledger import known_skus
    from .stock_sync import WAREHOUSE_LEVEL

    if ctx.tenant.warehouse != "qimen" or ctx.tenant.qimen is None:
        return {"skipped": "warehouse is not qimen"}
    code = ctx.tenant.qimen.store_warehouse_code
    skus = known_skus(ctx) | {record.key.split("|", 1)[1]
                              for record in ctx.records.list(ctx.ent_id, WAREHOUSE_LEVEL, prefix=f"{code}|")}
    totals = {"skus": len(skus), "applied": 0, "queued_chunks": 0}
    ordered = sorted(skus)
    for start in range(0, len(ordered), STOCK_CHUNK):
        result = kit.attempt(ctx, reread_stock, {"skus": ordered[start:start + STOCK_CHUNK]}, trace_key=f"stock:{code}")
        if result is None:
            totals["queued_chunks"] += 1
        else:
            totals["applied"] += result.get("applied", 0)
    return totals


@kit.flow_command("qimen.reread_stock")
def reread_stock(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Read the named SKUs' stock from the WMS (inventory.query) and set it at the 店+
    warehouse through the versioned S3 step: the read's moment is the version, so a later
    read always wins and a reported delta is never added to anything."""
    from . import stock_sync

    skus = list(payload["skus"])
    levels = warehouse_for(ctx).read_stock(skus)
    version = int(ctx.now().timestamp() * 1000)
    code = ctx.tenant.qimen.store_warehouse_code
    result = stock_sync.set_warehouse_stock(ctx, {"warehouse_code": code, "items": [
        {"sku_id": sku, "qty": stock_sync.publishable(qty), "version": version} for sku, qty in levels.items()]})
    ctx.timeline.record(f"stock:{code}", ctx.ent_id, "qimen.stock_read", {"skus": len(skus), **result},
                        aliases=tuple(skus[:20]))
    return result


# --- the WMS's messages ------------------------------------------------------------------------


def on_wms_message(call: "QimenCall") -> dict[str, Any]:
    """An authenticated WMS call, taken once. Returns {"outcome": "done" | "repeated", ...}."""
    ctx = kit.context_for(call.tenant)
    key = call.message_key
    if call.method in CONFIRMS:
        kind = CONFIRMS[call.method]

        def take() -> dict[str, Any]:
            return _take_confirm(ctx, kind, call.method, call.document, key)
    elif call.method in STOCK_REPORTS:

        def take() -> dict[str, Any]:
            return _take_stock_report(ctx, call.method, call.document)
    else:  # inbound.read_callback admits only the methods above
        raise PermanentError(f"no flow takes 奇门 {call.method}")
    outcome = kit.effect_once(ctx, f"{MESSAGE_EFFECT}:{key}", take, ttl_days=RECORD_TTL_DAYS)
    if outcome.repeated:
        ctx.timeline.record(_trace_key(ctx, call), ctx.ent_id, "qimen.message_repeated", {"message": key})
        return {"outcome": "repeated", **(outcome.result or {})}
    return {"outcome": "done", **(outcome.result or {})}


def _trace_key(ctx: kit.FlowContext, call: "QimenCall") -> str:
    from ..connectors.qimen import mappers

    if call.method in CONFIRMS:
        return _confirmation(call.method, call.document).document_code
    return f"qimen.stock:{','.join(mappers.items_to_reread(call.document))[:80]}"


def _confirmation(method: str, doc: Any) -> "Confirmation":
    from ..connectors.qimen import mappers

    if method in ("deliveryorder.confirm", "stockout.confirm"):
        return mappers.shipment_confirmation(doc)
    if method == "returnorder.confirm":
        return mappers.return_confirmation(doc)
    return mappers.entry_confirmation(doc)


def _take_confirm(ctx: kit.FlowContext, kind: str, method: str, doc: Any, message: str) -> dict[str, Any]:
    confirmation = _confirmation(method, doc)
    code = confirmation.document_code
    record = ctx.records.get(ctx.ent_id, DOCUMENT_KIND, code)
    if record is None or record.data.get("kind") != kind:
        raise UnknownWmsDocument(f"{method}: {code} is not a {kind} document the bridge created")
    data = record.data
    confirmed = dict(data.get("confirmed") or {})
    passed: list[dict[str, int]] = []
    excess_total: dict[str, int] = {}
    # Parcels (shipments) or one receipt (returns, entries): each cut at what is still open.
    pieces: list[tuple["Parcel | None", dict[str, int]]] = (
        [(parcel, parcel.items) for parcel in confirmation.parcels] if confirmation.parcels
        else [(None, confirmation.received)] if confirmation.received else [])
    hand_over = HAND_OVER[kind]
    for parcel, quantities in pieces:
        accepted, excess = split_against_plan(data["plan"], confirmed, quantities)
        for sku, qty in excess.items():
            excess_total[sku] = excess_total.get(sku, 0) + qty
        if not accepted:
            continue
        hand_over(ctx, {**data, "code": code}, replace(parcel, items=accepted) if parcel else accepted, confirmation)
        for sku, qty in accepted.items():
            confirmed[sku] = confirmed.get(sku, 0) + qty
        passed.append(accepted)
    complete = all(confirmed.get(sku, 0) >= int(qty) for sku, qty in data["plan"].items())
    stored = ctx.records.put(ctx.ent_id, DOCUMENT_KIND, code,
                             {**data, "confirmed": confirmed, "final": bool(data.get("final")) or confirmation.final,
                              "wms_id": data.get("wms_id") or confirmation.wms_id},
                             expected_version=record.version, ttl_days=RECORD_TTL_DAYS)
    if stored is None:
        # Another message of this document was taken at the same moment: this one is taken
        # again on the WMS's retry, against the new totals (the hand-over is keyed, so a
        # parcel already passed on is not passed twice).
        raise kit.EffectInProgress(f"{code} was confirmed by another message just now", retry_after_seconds=5)
    ctx.timeline.record(code, ctx.ent_id, f"qimen.{kind}_confirmed",
                        {"message": message, "passed": passed, "final": confirmation.final, "complete": complete},
                        aliases=aliases_of(code, data.get("store_key"), data.get("wms_id") or confirmation.wms_id))
    if excess_total:
        raise_exception(ctx, code, "confirmed_beyond_plan", message=message,
                         detail={"excess": excess_total, "method": method, "store_key": data.get("store_key")})
    return {"document": code, "passed": passed, "excess": excess_total, "complete": complete}


def _take_stock_report(ctx: kit.FlowContext, method: str, report: Any) -> dict[str, Any]:
    from ..connectors.qimen import mappers

    skus = mappers.items_to_reread(report)
    if skus:
        HAND_OVER["stock"](ctx, {"method": method}, skus, None)
    ctx.timeline.record(f"qimen.stock:{method}", ctx.ent_id, "qimen.stock_reread", {"skus": len(skus)})
    return {"reread": skus}




# --- Q6: products to the WMS ------------------------------------------------------------------


@kit.flow_command("qimen.sync_items")
def sync_items(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Products (P9 item fields) to the WMS: items it was never sent as ``add``, the others as
    ``update``. The WMS upserts by itemCode, so sending a product twice changes nothing."""
    from types import SimpleNamespace

    from ..connectors.qimen.ledger import ITEM_KIND

    products = [SimpleNamespace(**item) for item in payload["items"]]
    known = {record.key for record in ctx.records.list(ctx.ent_id, ITEM_KIND)}
    warehouse = warehouse_for(ctx)
    added = warehouse.sync_items([p for p in products if p.sku_code not in known], action="add")
    updated = warehouse.sync_items([p for p in products if p.sku_code in known], action="update")
    ctx.timeline.record("qimen.items", ctx.ent_id, "qimen.items_synchronized", {"added": added, "updated": updated},
                        aliases=tuple(p.sku_code for p in products[:50]))
    ctx.metric("WmsItemsSynchronized", added + updated)
    return {"added": added, "updated": updated}


def products_to_wms(ctx: kit.FlowContext, products: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Send products to a cloud-warehouse tenant's WMS now (a transient failure waits in the
    retry queue). None for a tenant whose warehouse is the ERP's. A refusal raises (the
    caller records or parks it)."""
    if ctx.tenant.warehouse != "qimen" or ctx.tenant.qimen is None or not products:
        return None
    return kit.attempt(ctx, sync_items, {"items": products}, trace_key="qimen.items") or {"outcome": "queued"}


def on_product_changed(event: Any, tenant: Any) -> dict[str, Any]:
    """Q6: a product changed at the store system goes to the cloud WMS; a refusal is parked
    with its reason (`o2o dlq list`), the event acknowledged."""
    ctx = kit.context_for(tenant)
    items = [item.model_dump(mode="json") for item in event.data.items]
    if ctx.tenant.warehouse != "qimen" or ctx.tenant.qimen is None:
        ctx.timeline.record("qimen.items", ctx.ent_id, "product.changed_ignored",
                            {"why": "the tenant has no cloud warehouse", "items": len(items)})
        return {"outcome": "ignored"}
    return kit.settle(ctx, sync_items, {"items": items}, trace_key="qimen.items")
