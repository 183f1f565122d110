"""Q1-Q6: a cloud warehouse (a 3PL WMS, today over 奇门) for tenants whose warehouse is not
the ERP's own (``warehouse: qimen``).

The store-side work is the ERP-neutral flows', over the Warehouse port the WMS implements
(connectors/qimen/warehouse.py): S2 ships store orders (Q1, Q1c, Q2), S5/S6 follow 配货 and
退仓 (Q3, Q4), S3 keeps the warehouse stock (Q5). This module takes what the WMS sends,
signed (/qimen/callback), through the ``CloudWarehouse`` port and hands it to those flows:

- Each WMS message takes effect once: its key (奇门: its ``outBizCode``, else a digest of the
  document) is an effect key, so a message the gateway delivers twice is acknowledged and
  ignored. The adapter adds a confirm up against the documents the bridge created there
  (``take_message``: a parcel counted once whatever message brings it; units beyond the plan
  kept out and raised for a person; a document the bridge never created refused) and answers
  in the ports' terms (``WarehouseNews``).
- Then: each parcel shipped is a ``Shipment``, the WMS's cancel an ``OrderCancelled`` and a
  return receipt a ``ReturnReceived`` for ``warehouse_orders.take_confirmations`` (P3 per
  parcel, P4, P5); a finished 配货 / 退仓 document moves ``store_transfers`` on (P10 / P11); a
  stock report makes S3 read the named SKUs again (``stock_sync.recheck_stock``: absolute
  levels, never the reported deltas) → P6.
- The catch-up (``catch_up_confirmations``, in the 10/15-minute document runs): a store order,
  配货, 退仓 or return the WMS has not finished (``open_documents``) and has been quiet about
  for the tenant's quiet time is asked for (``missed_confirm``, a run's share at a time); what
  the WMS holds and the bridge lacks (a confirm that never arrived) is taken as a message,
  keyed by what it adds; the adapter keeps it until ``handed_over`` says it reached the neutral
  flows (a run killed in between: the next run takes the same message again, nothing counted
  twice). A transient failure is asked again next run, an answer that cannot
  be read is set aside (``qimen.catch_up``), a refusal is raised for a person.
- Q6: products to the WMS (``send_products``) from product.changed and from S7.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import ConfigurationError, PermanentError, TransientError
from ..ports.warehouse import UnreadableWarehouseAnswer
from . import kit

if TYPE_CHECKING:
    from ..ports.warehouse import CloudWarehouse, WarehouseNews, WmsMessage

MESSAGE_TTL_DAYS = 400  # a message's effect record: as long as the WMS keeps the documents' ledger
STOP_WHEN_SECONDS_LEFT = 30.0


def cloud_wms(ctx: kit.FlowContext) -> "CloudWarehouse | None":
    """The tenant's cloud WMS: its warehouse, when that is not the ERP's own; else None."""
    if ctx.tenant.warehouse == "erp":
        return None
    return ctx.warehouse  # type: ignore[return-value]


def _the_wms(ctx: kit.FlowContext) -> "CloudWarehouse":
    wms = cloud_wms(ctx)
    if wms is None:
        raise ConfigurationError(f"tenant {ctx.ent_id}'s warehouse is its ERP's: it has no cloud WMS")
    return wms


# --- the WMS's messages ------------------------------------------------------------------------


def on_wms_message(message: "WmsMessage", ctx: kit.FlowContext) -> dict[str, Any]:
    """An authenticated WMS message, taken once. Returns {"outcome": "done" | "repeated", ...}."""
    return take_message(ctx, message)


def take_message(ctx: kit.FlowContext, message: "WmsMessage") -> dict[str, Any]:
    """One WMS message (a confirm or a stock report), taken once per ``message.key``."""
    wms = _the_wms(ctx)
    system = wms.info.system
    effect = f"{system}.message:{message.key}"
    record = wms.message_record(message)
    if record is not None:
        return _take_on_document(ctx, wms, message, effect, record)
    # A message that adds nothing up at the adapter (a stock report): taking it reads nothing.
    news = wms.take_message(message)
    if news.stock_to_reread and not news.confirmations and not news.store_documents_done:
        return _take_stock_report(ctx, message, effect, news)

    def take() -> dict[str, Any]:
        # Hand the news to the neutral flows (each step done, queued or parked).
        return {**news.detail, "handed": _hand_over(ctx, news)}

    outcome = kit.effect_once(ctx, effect, take, ttl_days=MESSAGE_TTL_DAYS)
    if outcome.repeated:
        _repeated(ctx, system, message)
        return {"outcome": "repeated", **(outcome.result or {})}
    return {"outcome": "done", **(outcome.result or {})}


def _take_stock_report(ctx: kit.FlowContext, message: "WmsMessage", effect: str, news: "WarehouseNews") -> dict[str, Any]:
    """A stock report, taken once without a claim (``kit.done_riding``): S3 reads the message's
    record with the levels it names (one batch; the message's record done, or its mark on every
    level, makes it a repeat: that read), reads the levels from the WMS, sets them in the store,
    and writes them (each marked with the message), their trace and, when a level it names is not
    written, the message's "done" in one transaction. Reading the stock twice is harmless
    (absolute levels under the read's version, the store call under a key of the levels), so two
    deliveries racing may both read; the newer read stands."""
    riding = kit.done_riding(ctx, effect, dict(news.detail), ttl_days=MESSAGE_TTL_DAYS)
    handed = _hand_over(ctx, news, riding=riding)
    outcome = riding.outcome()
    if outcome.repeated:
        _repeated(ctx, ctx.warehouse.info.system, message)
        return {"outcome": "repeated", **(outcome.result or {})}
    return {"outcome": "done", **news.detail, "handed": handed}


def _take_on_document(ctx: kit.FlowContext, wms: "CloudWarehouse", message: "WmsMessage", effect: str,
                      record: tuple[str, str]) -> dict[str, Any]:
    """A confirm, taken once on its document's record at the adapter (kit.claim_document): the claim
    answers the record (nothing read before it) and is refused by the message's mark when the
    message was taken before, so a repeat is that one request. The record's change, the message's
    mark and what the hand-over's steps complete on their own documents' records (a parcel at the
    store order's ledger) are written in one request (``joining``): all of it or, after a crash,
    none, and the message is taken again after the lease (each effect under its business key).
    A finished 配货 / 退仓 is followed on the state the news carries (the record is not written
    first), and what telling the store leaves to book (the parts no longer followed) goes with
    that request too (``book``)."""
    claim = kit.claim_document(ctx, *record, unless=(effect,), ttl_days=MESSAGE_TTL_DAYS)
    if claim.repeated:
        _repeated(ctx, wms.info.system, message)
        return {"outcome": "repeated"}
    with claim, claim.joining():
        as_read = json.loads(json.dumps(claim.data))
        news = wms.take_message(message, record=as_read)
        written = dict(news.record) if news.record is not None else None
        books: list[Callable[[], Any]] = []
        result = {**news.detail, "handed": _hand_over(ctx, news, books=books)}

        def change(data: dict[str, Any]) -> dict[str, Any]:
            if written is None:
                return data
            if data != as_read:  # changed meanwhile by another writer: the WMS sends the message again
                raise TransientError(f"{message.trace_key}'s record changed while the message was taken",
                                     retry_after_seconds=5)
            return written

        def book() -> None:
            for each in books:
                each()

        # The document's steps this message recorded, left by the hand-over, go with its "done".
        claim.complete(change, marks=(effect,), steps_held=True, book=book if books else None)
    return {"outcome": "done", **result}


def _repeated(ctx: kit.FlowContext, system: str, message: "WmsMessage") -> None:
    # A log line, not a timeline entry: the gateway's re-sends are routine, and a repeat then
    # costs the one refused claim (the document's timeline keeps what the message did once).
    from ..observability import logger

    logger.info(f"{system} message taken before, answered again", extra={
        "wms_message": message.key, "document": message.trace_key, "ent_id": ctx.ent_id})


def _hand_over(ctx: kit.FlowContext, news: "WarehouseNews", *, books: list[Callable[[], Any]] | None = None,
               riding: kit.RidingDone | None = None) -> list[Any]:
    """The news handed to the neutral flows. ``books`` (a message taken on its document's record):
    where a finished 配货 / 退仓 leaves what is to be written with that record's "done"
    (``store_transfers.follow_other_inout``'s ``book_with``). ``riding`` (a stock report): the
    message's "done", for the stock re-read to carry in its transaction (``kit.done_riding``)."""
    handed: list[Any] = []
    if news.confirmations:
        from . import warehouse_orders

        handed += warehouse_orders.take_confirmations(ctx, news.confirmations, source=ctx.warehouse.info.system)
    if news.store_documents_done:
        # 配货 / 退仓: the document's state is read from the warehouse by store_transfers.
        from . import store_transfers

        handed.append(store_transfers.follow_other_inout(ctx, only=news.store_document, known=news.store_states,
                                                         book_with=books))
    if news.stock_to_reread:
        from . import stock_sync

        handed.append(stock_sync.recheck_stock(ctx, news.stock_warehouse, news.stock_to_reread, riding=riding))
    return handed


# --- the catch-up: confirms that never arrived ------------------------------------------------


def catch_up_confirmations(ctx: kit.FlowContext, *, now_for: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Ask the WMS for the open documents (store orders, 配货, 退仓, returns) it has been quiet
    about for the tenant's quiet time (oldest news first, the tenant's share a run) and take
    what it holds that the bridge lacks as the message it stands for. None for a tenant
    without a cloud WMS. ``now_for`` (`o2o qimen catch-up`): ask now, whatever the quiet time,
    for these documents (an empty list: every open one).

    A query that fails transiently is asked again by the next run; an answer that cannot be
    read is set aside with its reason (`o2o dlq replay` asks again: ``qimen.catch_up``); a
    document the WMS refuses to answer for is an exception for a person; and the run goes on
    with the next document."""
    wms = cloud_wms(ctx)
    if wms is None:
        return None
    open_documents = wms.open_documents()
    quiet_since = ctx.now() - timedelta(minutes=open_documents.quiet_minutes)

    def is_due(document: Any) -> bool:
        if document.unfinished:  # a run died before its hand-over: finish it now
            return True
        if now_for is not None:
            return not now_for or document.code in now_for
        return document.last_news <= quiet_since

    due = sorted((document for document in open_documents.documents if is_due(document)),
                 key=lambda document: document.last_news)
    summary: dict[str, Any] = {"due": len(due), "asked": 0, "caught_up": [], "nothing_new": 0, "failed": 0,
                               "parked": 0}
    for document in due[:open_documents.per_run]:
        if ctx.time_left() < STOP_WHEN_SECONDS_LEFT:
            summary["stopped"] = "out of time"
            break
        summary["asked"] += 1
        outcome = _catch_up_or_set_aside(ctx, wms, document.code, summary)
        if outcome == "caught_up":
            summary["caught_up"].append(document.code)
        else:
            summary[outcome] += 1
    if summary["caught_up"]:
        ctx.metric("CloudWarehouseConfirmsCaughtUp", len(summary["caught_up"]))
    return summary


def _catch_up_or_set_aside(ctx: kit.FlowContext, wms: "CloudWarehouse", code: str, summary: dict[str, Any]) -> str:
    try:
        return _catch_up(ctx, wms, code)
    except TransientError as exc:  # asked again by the next run: its news time did not move
        summary.setdefault("errors", []).append(f"{code}: {exc}"[:200])
        return "failed"
    except UnreadableWarehouseAnswer as exc:  # set aside once, with the reason; it waits its quiet time again
        kit.set_aside(ctx, catch_up_document, {"code": code}, trace_key=code, error=exc)
        return "parked"
    except PermanentError as exc:  # e.g. the WMS does not know the document: for a person to see
        wms.raise_for_a_person(code, "catch_up_refused", exc)
        return "failed"


@kit.flow_command("qimen.catch_up")
def catch_up_document(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    """One document's catch-up again (the replay of one whose answer could not be read)."""
    return {"outcome": _catch_up(ctx, _the_wms(ctx), payload["code"]), "document": payload["code"]}


def _catch_up(ctx: kit.FlowContext, wms: "CloudWarehouse", code: str) -> str:
    """Ask the WMS for one document; take what it holds that the bridge lacks."""
    message = wms.missed_confirm(code)
    if message is None:
        return "nothing_new"
    result = take_message(ctx, message)
    # Handed over (or found taken before, its hand-over done then): the adapter may forget it.
    wms.handed_over(code, message.key)
    ctx.timeline.record(code, ctx.ent_id, f"{wms.info.system}.caught_up",
                        {"passed": result.get("passed"), "status": result.get("status"), "asked": result.get("asked")})
    return "caught_up"


# --- Q6: products to the WMS ------------------------------------------------------------------


@kit.flow_command("qimen.sync_items")
def sync_items(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Products (P9 item fields) to the WMS: new ones added, known ones updated; sending a
    product twice changes nothing."""
    from types import SimpleNamespace

    products = [SimpleNamespace(**item) for item in payload["items"]]
    wms = _the_wms(ctx)
    sent = wms.send_products(products)
    system = wms.info.system
    ctx.timeline.record(f"{system}.items", ctx.ent_id, f"{system}.items_synchronized", sent,
                        aliases=tuple(p.sku_code for p in products[:50]))
    ctx.metric("WmsItemsSynchronized", sent["added"] + sent["updated"])
    return sent


def products_to_wms(ctx: kit.FlowContext, products: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Send products to a cloud-warehouse tenant's WMS now (a transient failure waits in the
    retry queue). None for a tenant whose warehouse is the ERP's. A refusal raises (the
    caller records or parks it)."""
    if cloud_wms(ctx) is None or not products:
        return None
    return kit.attempt(ctx, sync_items, {"items": products}, trace_key="qimen.items") or {"outcome": "queued"}


def on_product_changed(event: Any, ctx: kit.FlowContext) -> dict[str, Any]:
    """Q6: a product changed at the store system goes to the cloud WMS; a refusal is parked
    with its reason (`o2o dlq list`), the event acknowledged."""
    items = [item.model_dump(mode="json") for item in event.data.items]
    if cloud_wms(ctx) is None:
        ctx.timeline.record("qimen.items", ctx.ent_id, "product.changed_ignored",
                            {"why": "the tenant has no cloud warehouse", "items": len(items)})
        return {"outcome": "ignored"}
    return kit.settle(ctx, sync_items, {"items": items}, trace_key="qimen.items")
