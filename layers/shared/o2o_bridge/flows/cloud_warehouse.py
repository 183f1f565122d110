"""Q1-Q6: a cloud warehouse (3PL WMS) over 奇门 for tenants with ``warehouse: qimen``.

The store-side work is the ERP-neutral flows', over the Warehouse port the 奇门 WMS
implements (connectors/qimen/warehouse.py): S2 ships store orders (Q1, Q1c, Q2), S5/S6
follow 配货 and 退仓 (Q3, Q4), S3 keeps the warehouse stock (Q5). This module takes what
the WMS sends, signed, to /qimen/callback, and hands it to those flows:

- Each WMS message takes effect once: its ``outBizCode`` (else a digest of the document) is
  an effect key, so a message the gateway delivers twice is acknowledged and ignored. A parcel
  the ledger holds already (its package code or tracking no.) is never counted again, whatever
  message brings it.
- The catch-up (``catch_up_confirmations``, in the 10/15-minute document runs): a store order,
  配货, 退仓 or return the WMS has not confirmed in full ``qimen.catch_up_after_minutes`` after
  its last news is asked for (deliveryorder.query / entryorder.query, per
  ``qimen.catch_up_queries``); what the WMS holds and the ledger lacks (a confirm that never
  arrived) goes through the same confirmation flow, keyed by what it adds.
- A confirm adds up against the plan of the document the bridge created (ledger.py):
  ``confirmType`` 1 = more to come, 0 = the last; units beyond the plan are acknowledged, not
  passed on, and raised as an exception (``o2o exceptions list``). A confirm of a document
  the bridge never created is refused.
- Then: each parcel of a deliveryorder.confirm is a ``Shipment`` and a return receipt a
  ``ReturnReceived`` for ``warehouse_orders.take_confirmations`` (P3 per parcel, P5); a
  stockout / entryorder confirm moves its document forward in ``store_transfers`` (P10 / P11
  once the WMS confirmed it in full); a stock report makes S3 read the named SKUs again
  (``stock_sync.recheck_stock``: absolute levels, never the reported deltas) → P6.
- Q6: products to the WMS (``items.synchronize``) from product.changed and from S7.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Sequence

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
from ..errors import PermanentError
from ..shanghai_time import to_jst_text
from . import kit

if TYPE_CHECKING:
    from ..connectors.qimen.inbound import QimenCall
    from ..connectors.qimen.mappers import Confirmation

MESSAGE_EFFECT = "qimen.message"
MESSAGES_KEPT = 200  # message keys a document remembers (a guard under the effect records)

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


# --- the WMS's messages ------------------------------------------------------------------------


def on_wms_message(call: "QimenCall", ctx: kit.FlowContext) -> dict[str, Any]:
    """An authenticated WMS call, taken once. Returns {"outcome": "done" | "repeated", ...}."""
    if call.method not in CONFIRMS and call.method not in STOCK_REPORTS:  # read_callback admits only these
        raise PermanentError(f"no flow takes 奇门 {call.method}")
    return take_message(ctx, call.method, call.document, call.message_key, _trace_key(call))


def take_message(ctx: kit.FlowContext, method: str, doc: Any, key: str, trace_key: str, *,
                 by_query: bool = False) -> dict[str, Any]:
    """One WMS message (a confirm or a stock report), taken once per ``key``. ``by_query``: the
    confirm is what the catch-up read from the WMS, not a message the WMS sent."""
    if method in CONFIRMS:
        kind = CONFIRMS[method]

        def take() -> dict[str, Any]:
            return _take_confirm(ctx, kind, method, doc, key, by_query=by_query)
    else:

        def take() -> dict[str, Any]:
            return _take_stock_report(ctx, method, doc)
    outcome = kit.effect_once(ctx, f"{MESSAGE_EFFECT}:{key}", take, ttl_days=RECORD_TTL_DAYS)
    if outcome.repeated:
        ctx.timeline.record(trace_key, ctx.ent_id, "qimen.message_repeated", {"message": key})
        return {"outcome": "repeated", **(outcome.result or {})}
    return {"outcome": "done", **(outcome.result or {})}


def _trace_key(call: "QimenCall") -> str:
    from ..connectors.qimen import mappers

    if call.method in CONFIRMS:
        return _confirmation(call.method, call.document).document_code
    return f"qimen.stock:{','.join(mappers.items_to_reread(call.document))[:80]}"


def _parcel_keys(parcel: Any) -> set[str]:
    """What names a parcel across messages: its package code, else its tracking no. (two parcels
    may share a waybill, never a package code)."""
    if isinstance(parcel, dict):  # a recorded parcel (its tracking_no is the WMS's, else its package code)
        package, tracking = parcel.get("package_code"), parcel.get("wms_tracking_no") or parcel.get("tracking_no")
    else:
        package, tracking = parcel.package_code, parcel.tracking_no
    return {f"package:{package}"} if package else {f"tracking:{tracking}"} if tracking else set()


def _confirmation(method: str, doc: Any) -> "Confirmation":
    from ..connectors.qimen import mappers

    if method in ("deliveryorder.confirm", "stockout.confirm"):
        return mappers.shipment_confirmation(doc)
    if method == "returnorder.confirm":
        return mappers.return_confirmation(doc)
    return mappers.entry_confirmation(doc)


def _take_confirm(ctx: kit.FlowContext, kind: str, method: str, doc: Any, message: str, *,
                  by_query: bool = False) -> dict[str, Any]:
    confirmation = _confirmation(method, doc)
    code = confirmation.document_code
    record = ctx.records.get(ctx.ent_id, DOCUMENT_KIND, code)
    if record is None or record.data.get("kind") != kind:
        raise UnknownWmsDocument(f"{method}: {code} is not a {kind} document the bridge created")
    data = record.data
    if data.get("caught_up") and not by_query and not any(_parcel_keys(p) for p in confirmation.parcels):
        confirmation = _as_the_wms_holds_it(ctx, record, confirmation)
    at = to_jst_text(confirmation.at or ctx.now())
    seen = message in (data.get("messages") or [])
    confirmed = dict(data.get("confirmed") or {})
    parcels = list(data.get("parcels") or [])
    receipts = list(data.get("receipts") or [])
    passed: list[dict[str, int]] = []
    excess_total: dict[str, int] = {}
    new_parcels: list[dict[str, Any]] = []
    if seen:
        # Taken before, and its hand-over may not have finished (it failed, or the invocation died
        # between the ledger's write and the store's call): what the ledger recorded of this message
        # is handed over again, and nothing is counted again (its units are in ``confirmed`` already,
        # so counting them against the plan now would take them for an excess and drop them).
        new_parcels = [p for p in parcels if p.get("message") == message]
        passed = ([dict(p["items"]) for p in new_parcels] if confirmation.parcels
                  else [dict(r["items"]) for r in receipts if r.get("message") == message])
    # A parcel counts once, whatever message brings it.
    known = set().union(*(_parcel_keys(p) for p in parcels)) if parcels else set()
    fresh = [p for p in confirmation.parcels if not (_parcel_keys(p) & known)]
    pieces = [] if seen else ([(p, p.items) for p in fresh] if confirmation.parcels
                              else [(None, confirmation.received)] if confirmation.received else [])
    for number, (parcel, quantities) in enumerate(pieces, 1):
        accepted, excess = split_against_plan(data["plan"], confirmed, quantities)
        for sku, qty in excess.items():
            excess_total[sku] = excess_total.get(sku, 0) + qty
        if not accepted:
            continue
        for sku, qty in accepted.items():
            confirmed[sku] = confirmed.get(sku, 0) + qty
        passed.append(accepted)
        if parcel is not None:
            new_parcels.append({"tracking_no": parcel.tracking_no or parcel.package_code or f"{code}-{message}-{number}",
                                "carrier_code": parcel.carrier_code or "OTHER", "carrier_name": parcel.carrier_name,
                                "shipped_at": at, "items": accepted, "package_code": parcel.package_code,
                                "wms_tracking_no": parcel.tracking_no, "message": message})
    cancelled = (confirmation.status or "").upper() == "CANCELED"
    final = bool(data.get("final")) or confirmation.final or cancelled
    complete = all(confirmed.get(sku, 0) >= int(qty) for sku, qty in data["plan"].items())
    if not seen:
        stored = ctx.records.put(ctx.ent_id, DOCUMENT_KIND, code, {
            **data, "confirmed": confirmed, "parcels": parcels + new_parcels, "final": final,
            # What a receipt (no parcels) passed on, by message: handed over again if it is taken again.
            **({"receipts": [*receipts, *({"message": message, "items": items} for items in passed)][-MESSAGES_KEPT:]}
               if passed and not confirmation.parcels else {}),
            "status": "CANCELED" if cancelled else (confirmation.status or data.get("status")),
            "confirmed_at": at if final else data.get("confirmed_at"),
            "wms_id": data.get("wms_id") or confirmation.wms_id, "news_at": ctx.now().isoformat(),
            "caught_up": bool(data.get("caught_up")) or by_query,
            # The catch-up is its own sender: until it has handed this over, its next run does.
            **({"handing": message} if by_query else {}),
            "messages": [*(data.get("messages") or []), message][-MESSAGES_KEPT:]},
            expected_version=record.version, ttl_days=RECORD_TTL_DAYS)
        if stored is None:
            # Another message of this document was taken at the same moment: this one is taken
            # again on the WMS's retry, against the new totals.
            raise kit.EffectInProgress(f"{code} was confirmed by another message just now", retry_after_seconds=5)
        ctx.timeline.record(code, ctx.ent_id, f"qimen.{kind}_confirmed",
                            {"message": message, "passed": passed, "final": final, "complete": complete},
                            aliases=aliases_of(code, data.get("store_key"), data.get("wms_id") or confirmation.wms_id))
        if excess_total:
            raise_exception(ctx, code, "confirmed_beyond_plan", message=message,
                            detail={"excess": excess_total, "method": method, "store_key": data.get("store_key")})
    # The ledger holds the news now: hand it to the neutral flows (each step done, queued or parked).
    handed = _hand_over(ctx, kind, code, {**data, "final": final, "wms_id": data.get("wms_id") or confirmation.wms_id},
                        new_parcels, passed, at, cancelled)
    return {"document": code, "passed": passed, "excess": excess_total, "complete": complete, "handed": handed}


def _as_the_wms_holds_it(ctx: kit.FlowContext, record: Any, said: "Confirmation") -> "Confirmation":
    """A message without parcels the bridge can tell apart (receipts; lines without packages), for a
    document the catch-up took part of: its increments may repeat what the catch-up took (the late
    copy of the lost confirm), so what it adds is read from the WMS's totals instead."""
    from ..connectors.qimen.mappers import Confirmation

    held = _wms(ctx).document_as_held(record.data["kind"], record.key, order_type=record.data.get("order_type"))
    if held is None:  # that kind's catch-up was turned off since: the message is all there is
        return said
    news = _not_in_ledger(held, record.data)
    if news is None:
        return Confirmation(document_code=record.key, wms_id=said.wms_id, final=False, at=said.at, status=said.status)
    return _confirmation(held.confirm_method, news)


def _hand_over(ctx: kit.FlowContext, kind: str, code: str, data: dict[str, Any], parcels: list[dict[str, Any]],
               passed: list[dict[str, int]], at: str, cancelled: bool) -> list[Any]:
    from ..ports.warehouse import OrderCancelled, ReturnReceived, SkuQty

    if kind == "delivery":
        from ..connectors.qimen.warehouse import shipment_of
        from . import warehouse_orders

        news: list[Any] = [shipment_of(code, parcel) for parcel in parcels]
        if cancelled:
            news.append(OrderCancelled(code, "the cloud WMS cancelled it"))
        return warehouse_orders.take_confirmations(ctx, news, source="qimen") if news else []
    if kind == "return":
        from . import warehouse_orders

        items = {}
        for received in passed:
            for sku, qty in received.items():
                items[sku] = items.get(sku, 0) + qty
        if not items:
            return []
        receipt = ReturnReceived(return_no=code, order_no=data.get("order_no"), warehouse_return_id=data.get("wms_id"),
                                 received=True, received_at=at,
                                 items=tuple(SkuQty(sku, qty) for sku, qty in items.items()))
        return warehouse_orders.take_confirmations(ctx, [receipt], source="qimen")
    # 配货 / 退仓: the document's state is read from the ledger by store_transfers; once the
    # WMS's last confirm is in, the store is told without waiting for the next poll.
    if data.get("final"):
        from . import store_transfers

        return [store_transfers.follow_other_inout(ctx)]
    return []


def _take_stock_report(ctx: kit.FlowContext, method: str, report: Any) -> dict[str, Any]:
    from ..connectors.qimen import mappers
    from . import stock_sync

    skus = mappers.items_to_reread(report)
    section = ctx.tenant.qimen
    result = stock_sync.recheck_stock(ctx, section.warehouse_code, skus) if skus else {}
    return {"reread": skus, "result": result}


# --- the catch-up: confirms that never arrived ------------------------------------------------

CATCH_UP_KINDS = ("delivery", "stockout", "entry", "return")


def catch_up_confirmations(ctx: kit.FlowContext, *, now_for: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Ask the WMS for the open documents (store orders, 配货, 退仓, returns) it has been quiet
    about for ``qimen.catch_up_after_minutes`` (oldest news first, ``catch_up_per_run`` a run)
    and take what it holds that the ledger lacks as the confirm it stands for. None for a
    tenant without a cloud WMS. ``now_for`` (`o2o qimen catch-up`): ask now, whatever the
    quiet time, for these documents (an empty list: every open one).

    A query that fails transiently is asked again by the next run; a document the WMS does not
    know is an exception for a person; an answer that cannot be read is parked with its reason
    (`o2o dlq replay` asks again), and the run goes on with the next document."""
    from datetime import datetime, timedelta

    section = ctx.tenant.qimen
    if ctx.tenant.warehouse != "qimen" or section is None:
        return None
    asked_kinds = {kind for kind in CATCH_UP_KINDS if section.catch_up_query(kind).method != "off"}
    quiet_since = ctx.now() - timedelta(minutes=section.catch_up_after_minutes)

    def is_due(record: Any) -> bool:
        if now_for is not None:
            return not now_for or record.key in now_for
        return datetime.fromisoformat(record.data.get("news_at") or "2000-01-01T00:00:00+00:00") <= quiet_since

    due = sorted((record for record in ctx.records.list(ctx.ent_id, DOCUMENT_KIND)
                  if record.data.get("kind") in asked_kinds
                  and (record.data.get("handing") or not record.data.get("final")
                       and record.data.get("status") != "CANCELED" and is_due(record))),
                 key=lambda record: record.data.get("news_at") or "")
    summary: dict[str, Any] = {"due": len(due), "asked": 0, "caught_up": [], "nothing_new": 0, "failed": 0,
                               "parked": 0}
    for record in due[:section.catch_up_per_run]:
        if ctx.time_left() < 30:
            summary["stopped"] = "out of time"
            break
        summary["asked"] += 1
        outcome = _catch_up_or_set_aside(ctx, record, summary)
        if outcome == "caught_up":
            summary["caught_up"].append(record.key)
        elif outcome in summary and isinstance(summary[outcome], int):
            summary[outcome] += 1
    if summary["caught_up"]:
        ctx.metric("CloudWarehouseConfirmsCaughtUp", len(summary["caught_up"]))
    return summary


def _catch_up_or_set_aside(ctx: kit.FlowContext, record: Any, summary: dict[str, Any]) -> str:
    from ..connectors.qimen.warehouse import UnreadableAnswer
    from ..errors import TransientError

    code = record.key
    try:
        return _catch_up(ctx, record)
    except TransientError as exc:  # asked again by the next run: its news time did not move
        summary.setdefault("errors", []).append(f"{code}: {exc}"[:200])
        return "failed"
    except UnreadableAnswer as exc:  # parked once, with the reason; the document waits its quiet time again
        kit.set_aside(ctx, catch_up_document, {"code": code}, trace_key=code, error=exc)
        _quiet(ctx, record)
        return "parked"
    except PermanentError as exc:  # e.g. the WMS does not know the document: for a person to see
        raise_exception(ctx, code, "catch_up_refused", message=f"query:{kit.digest(str(exc))[:12]}",
                        detail={"store_key": record.data.get("store_key"), "wms_message": str(exc)[:300]})
        return "failed"


@kit.flow_command("qimen.catch_up")
def catch_up_document(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    """One document's catch-up again (the replay of one whose answer could not be read)."""
    record = ctx.records.get(ctx.ent_id, DOCUMENT_KIND, payload["code"])
    if record is None or record.data.get("final"):
        return {"outcome": "nothing_to_do", "document": payload["code"]}
    return {"outcome": _catch_up(ctx, record), "document": payload["code"]}


def _catch_up(ctx: kit.FlowContext, record: Any) -> str:
    """Ask the WMS for one document; take what it holds that the ledger lacks."""
    code, data = record.key, record.data
    held = _wms(ctx).document_as_held(data["kind"], code, order_type=data.get("order_type"))
    if held is None:
        return "nothing_new"  # this kind's catch-up was turned off since
    if data.get("handing"):
        # A catch-up that died between the ledger's write and the store's call: its message taken
        # again, so what the ledger recorded of it is handed over (nothing is counted twice).
        take_message(ctx, held.confirm_method, held.document, data["handing"], code, by_query=True)
        _handed(ctx, code, data["handing"])
        return "caught_up"
    news = _not_in_ledger(held, data)
    if news is None:
        _quiet(ctx, record)
        return "nothing_new"
    message = f"{held.query_method}:{code}:{kit.digest(news.model_dump(mode='json'))}"
    result = take_message(ctx, held.confirm_method, news, message, code, by_query=True)
    _handed(ctx, code, message)
    ctx.timeline.record(code, ctx.ent_id, "qimen.caught_up", {"passed": result.get("passed"), "status": held.status,
                                                              "asked": held.query_method},
                        aliases=aliases_of(code, data.get("store_key"), data.get("wms_id")))
    if held.kind == "return" and held.done and not result.get("passed"):
        raise_exception(ctx, code, "closed_unreceived", message=f"closed:{held.status}",
                        detail={"store_key": data.get("store_key"), "status": held.status})
    return "caught_up"


def _not_in_ledger(held: Any, data: dict[str, Any]) -> Any:
    """What the WMS holds of a document that the ledger lacks, as a confirm: the parcels it has
    not recorded (or, from a WMS that lists no parcels, and for receipts, each line's total less
    what was confirmed), and its end (the kind's done statuses). None when it holds nothing new."""
    document, confirmed = held.document, data.get("confirmed") or {}

    def beyond_confirmed(lines: Any) -> list[Any]:
        return [line.model_copy(update={"actual_qty": line.actual_qty - int(confirmed.get(line.item_code, 0))})
                for line in lines if line.actual_qty > int(confirmed.get(line.item_code, 0))]

    if held.kind in ("delivery", "stockout"):
        known = set().union(*(_parcel_keys(p) for p in data.get("parcels") or [])) if data.get("parcels") else set()
        packages = [p for p in document.packages if p.items and not _parcel_keys(
            SimpleNamespace(package_code=p.package_code, tracking_no=p.express_code)) & known]
        lines = [] if any(p.items for p in document.packages) else beyond_confirmed(document.order_lines)
        if not packages and not lines and not held.done:
            return None  # still shipping, and every parcel so far is in the ledger
        # New parcels, or the end (the last confirm was lost: the order is DELIVERED or CANCELED).
        return document.model_copy(update={"packages": packages, "order_lines": lines})
    lines = beyond_confirmed(document.order_lines)
    if held.kind == "return" and not held.done:
        return None  # a return is confirmed once, as received: wait for the WMS to finish it
    if not lines and not held.done:
        return None
    return document.model_copy(update={"order_lines": lines})


def _handed(ctx: kit.FlowContext, code: str, message: str) -> None:
    """The catch-up's message is handed over: its next run need not finish it."""
    fresh = ctx.records.get(ctx.ent_id, DOCUMENT_KIND, code)
    if fresh is not None and fresh.data.get("handing") == message:
        ctx.records.put(ctx.ent_id, DOCUMENT_KIND, code, {k: v for k, v in fresh.data.items() if k != "handing"},
                        expected_version=fresh.version, ttl_days=RECORD_TTL_DAYS)


def _quiet(ctx: kit.FlowContext, record: Any) -> None:
    """Asked, nothing new: the document waits ``catch_up_after_minutes`` again before the next question."""
    fresh = ctx.records.get(ctx.ent_id, DOCUMENT_KIND, record.key) or record
    ctx.records.put(ctx.ent_id, DOCUMENT_KIND, record.key, {**fresh.data, "news_at": ctx.now().isoformat()},
                    expected_version=fresh.version, ttl_days=RECORD_TTL_DAYS)


# --- Q6: products to the WMS ------------------------------------------------------------------


def _wms(ctx: kit.FlowContext) -> Any:
    """The tenant's cloud WMS (the context's warehouse when it is one)."""
    from ..connectors.qimen.warehouse import QimenWarehouse, warehouse_for_tenant

    if isinstance(ctx.warehouse, QimenWarehouse):
        return ctx.warehouse
    return warehouse_for_tenant(ctx.tenant, records=ctx.records, timeline=ctx.timeline, now=ctx.now,
                                metric=ctx.metric, client=ctx.extras.get("qimen"))


@kit.flow_command("qimen.sync_items")
def sync_items(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Products (P9 item fields) to the WMS: items it was never sent as ``add``, the others as
    ``update``. The WMS upserts by itemCode, so sending a product twice changes nothing."""
    from types import SimpleNamespace

    from ..connectors.qimen.ledger import ITEM_KIND

    products = [SimpleNamespace(**item) for item in payload["items"]]
    known = {record.key for record in ctx.records.list(ctx.ent_id, ITEM_KIND)}
    wms = _wms(ctx)
    added = wms.sync_items([p for p in products if p.sku_code not in known], action="add")
    updated = wms.sync_items([p for p in products if p.sku_code in known], action="update")
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


def on_product_changed(event: Any, ctx: kit.FlowContext) -> dict[str, Any]:
    """Q6: a product changed at the store system goes to the cloud WMS; a refusal is parked
    with its reason (`o2o dlq list`), the event acknowledged."""
    items = [item.model_dump(mode="json") for item in event.data.items]
    if ctx.tenant.warehouse != "qimen" or ctx.tenant.qimen is None:
        ctx.timeline.record("qimen.items", ctx.ent_id, "product.changed_ignored",
                            {"why": "the tenant has no cloud warehouse", "items": len(items)})
        return {"outcome": "ignored"}
    return kit.settle(ctx, sync_items, {"items": items}, trace_key="qimen.items")
