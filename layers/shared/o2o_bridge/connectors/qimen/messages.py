"""The WMS's messages added up against the document ledger (ledger.py), and handed on in the
ports' terms (``WarehouseNews``): what ``QimenWarehouse.take_message`` does for
flows/cloud_warehouse.py, which takes each message once and hands the news to the neutral flows.

- A confirm adds up against the plan of the document the bridge created: ``confirmType`` 1 =
  more to come, 0 = the last; units beyond the plan are kept out of the news and raised as an
  exception (``o2o exceptions list``). A confirm of a document the bridge never created is
  refused (``UnknownWarehouseDocument``).
- A parcel the ledger holds already (its package code, else its tracking no.) is never counted
  again, whatever message brings it; a message taken before (its key is in the document's
  ``messages``) changes nothing in the ledger and gives again the news the ledger recorded of
  it (its parcels, its receipt), so a hand-over that failed, or an invocation that died after
  the ledger's write, is made good on the WMS's retry.
- The news: each parcel of a deliveryorder.confirm a ``Shipment`` (a cancel an
  ``OrderCancelled``), a return receipt a ``ReturnReceived``; a stockout / entryorder confirm
  says whether the 配货 / 退仓 document is finished; a stock report names the SKUs to read again.
- The catch-up: ``open_documents`` lists the store orders, 配货, 退仓 and returns the WMS has not
  finished (of the kinds ``qimen.catch_up_queries`` asks about); ``missed_confirm`` asks for one
  (``QimenWarehouse.document_as_held``: deliveryorder.query / entryorder.query) and rebuilds what
  the WMS holds and the ledger lacks (a confirm that never arrived) as a confirm message, keyed
  by what it adds. The catch-up is that message's only sender: the ledger keeps it with the
  document (``handing``) until ``handed_over`` says the flow handed its news over, and until then
  ``open_documents`` lists the document (finished or not) and ``missed_confirm`` gives the same
  message again (a run killed between the ledger's write and the store's call is finished by the
  next). Once the catch-up took part of a document, a later confirm whose quantities
  cannot be told apart (receipts; lines without packages) is read against the WMS's totals
  (``_as_the_wms_holds_it``): the lost confirm's late copy adds nothing.

Functions take the adapter as ``state`` (``records``, ``timeline``, ``ent_id``, ``now``, ``metric``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from ...errors import PermanentError, TransientError
from ...fingerprint import digest
from ...ports.warehouse import (OpenDocument, OpenDocuments, OrderCancelled, ReturnReceived, SkuQty,
                                UnknownWarehouseDocument, UnreadableWarehouseAnswer, WarehouseNews)
from ...shanghai_time import to_jst_text
from . import mappers
from . import models as qm
from .ledger import DOCUMENT_KIND, RECORD_TTL_DAYS, aliases_of, raise_exception, split_against_plan

MESSAGES_KEPT = 200  # message keys a document remembers (a guard under the flow's effect records)

# Which document kind each confirm method answers.
CONFIRMS = {
    "deliveryorder.confirm": "delivery",
    "stockout.confirm": "stockout",
    "returnorder.confirm": "return",
    "entryorder.confirm": "entry",
}
STOCK_REPORTS = ("stockchange.report", "inventory.report")


@dataclass(frozen=True)
class QimenMessage:
    """A WMS message for ``take_message``: its short method name and typed document, with the
    key that makes it itself (``outBizCode``, else a digest) and the document it is about."""

    method: str
    document: Any
    key: str
    trace_key: str
    asked: str | None = None  # the query the catch-up read it from (not a message the WMS sent)
    held_status: str | None = None  # the document's status in that query's answer


def message_of(method: str, document: Any, key: str) -> QimenMessage:
    if method in CONFIRMS:
        trace_key = _confirmation(method, document).document_code
    elif method in STOCK_REPORTS:
        trace_key = f"qimen.stock:{','.join(mappers.items_to_reread(document))[:80]}"
    else:  # inbound.read_callback admits only these
        raise PermanentError(f"the bridge takes no 奇门 {method}")
    return QimenMessage(method, document, key, trace_key)


def record_of(message: Any) -> tuple[str, str] | None:
    """The ledger record a confirm is added up on (its document's), for the caller to claim; None
    for a stock report (it adds nothing up)."""
    if message.method not in CONFIRMS:
        return None
    return DOCUMENT_KIND, _confirmation(message.method, message.document).document_code


def take(state: Any, message: Any, claimed: dict[str, Any] | None = None) -> WarehouseNews:
    """A confirm or a stock report (a ``QimenMessage``, or an authenticated ``inbound.QimenCall``).
    ``claimed``: the document's ledger as the caller's claim on it read it (``record_of``): it is
    not read again, and the news carries what it becomes (``record``) instead of it being written."""
    if message.method in CONFIRMS:
        return _take_confirm(state, message, claimed)
    if message.method not in STOCK_REPORTS:  # inbound.read_callback admits only these
        raise PermanentError(f"the bridge takes no 奇门 {message.method}")
    skus = tuple(mappers.items_to_reread(message.document))
    return WarehouseNews(stock_to_reread=skus, stock_warehouse=state.section.warehouse_code,
                         detail={"reread": list(skus)})


def _parcel_keys(parcel: Any) -> set[str]:
    """What names a parcel across messages: its package code, else its tracking no. (two parcels
    may share a waybill, never a package code)."""
    if isinstance(parcel, dict):  # a recorded parcel (its tracking_no is the WMS's, else its package code)
        package, tracking = parcel.get("package_code"), parcel.get("wms_tracking_no") or parcel.get("tracking_no")
    else:
        package, tracking = parcel.package_code, parcel.tracking_no
    return {f"package:{package}"} if package else {f"tracking:{tracking}"} if tracking else set()


def _confirmation(method: str, doc: Any) -> mappers.Confirmation:
    if method in ("deliveryorder.confirm", "stockout.confirm"):
        return mappers.shipment_confirmation(doc)
    if method == "returnorder.confirm":
        return mappers.return_confirmation(doc)
    return mappers.entry_confirmation(doc)


def _take_confirm(state: Any, message: QimenMessage, claimed: dict[str, Any] | None = None) -> WarehouseNews:
    method, kind, key = message.method, CONFIRMS[message.method], message.key
    asked = getattr(message, "asked", None)  # the catch-up's query (a QimenCall is the WMS's own message)
    confirmation = _confirmation(method, message.document)
    code = confirmation.document_code
    record = (state.records.get(state.ent_id, DOCUMENT_KIND, code) if claimed is None
              else SimpleNamespace(key=code, data=claimed, version=None))
    if record is None or record.data.get("kind") != kind:
        raise UnknownWarehouseDocument(f"{method}: {code} is not a {kind} document the bridge created")
    data = record.data
    if data.get("caught_up") and not asked and not any(_parcel_keys(p) for p in confirmation.parcels):
        confirmation = _as_the_wms_holds_it(state, record, confirmation)
    at = to_jst_text(confirmation.at or state.now())
    seen = key in (data.get("messages") or [])
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
        new_parcels = [p for p in parcels if p.get("message") == key]
        passed = ([dict(p["items"]) for p in new_parcels] if confirmation.parcels
                  else [dict(r["items"]) for r in receipts if r.get("message") == key])
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
            new_parcels.append({"tracking_no": parcel.tracking_no or parcel.package_code or f"{code}-{key}-{number}",
                                "carrier_code": parcel.carrier_code or "OTHER", "carrier_name": parcel.carrier_name,
                                "shipped_at": at, "items": accepted, "package_code": parcel.package_code,
                                "wms_tracking_no": parcel.tracking_no, "message": key})
    cancelled = (confirmation.status or "").upper() == "CANCELED"
    final = bool(data.get("final")) or confirmation.final or cancelled
    complete = all(confirmed.get(sku, 0) >= int(qty) for sku, qty in data["plan"].items())
    wms_id = data.get("wms_id") or confirmation.wms_id
    written: dict[str, Any] | None = None
    if not seen:
        written = {
            **data, "confirmed": confirmed, "parcels": parcels + new_parcels, "final": final,
            # What a receipt (no parcels) passed on, by message: handed over again if it is taken again.
            **({"receipts": [*receipts, *({"message": key, "items": items} for items in passed)][-MESSAGES_KEPT:]}
               if passed and not confirmation.parcels else {}),
            "status": "CANCELED" if cancelled else (confirmation.status or data.get("status")),
            "confirmed_at": at if final else data.get("confirmed_at"), "wms_id": wms_id,
            "news_at": state.now().isoformat(), "caught_up": bool(data.get("caught_up")) or bool(asked),
            # The catch-up is its own sender: nobody sends its message again, so until the flow says
            # it is handed over (``handed_over``) the next catch-up takes it again (``missed_confirm``).
            **({"handing": _note_of(message)} if asked else {}),
            "messages": [*(data.get("messages") or []), key][-MESSAGES_KEPT:]}
        stored = None if claimed is not None else state.records.replace(
            state.ent_id, DOCUMENT_KIND, code, written, expected_version=record.version, ttl_days=RECORD_TTL_DAYS)
        if claimed is None and stored is None:
            # Another message of this document was taken at the same moment: this one is taken
            # again on the WMS's retry, against the new totals.
            raise TransientError(f"{code} was confirmed by another message just now", retry_after_seconds=5)
        # Only an alias the document's creation could not write (the WMS's id, when its create
        # answer lacked it): the others are there already, and each alias is a write.
        state.timeline.record(code, state.ent_id, f"qimen.{kind}_confirmed",
                              {"message": key, "passed": passed, "final": final, "complete": complete},
                              aliases=aliases_of(code, None if wms_id == data.get("wms_id") else wms_id))
        if excess_total:
            raise_exception(state, code, "confirmed_beyond_plan", message=key,
                            detail={"excess": excess_total, "method": method, "store_key": data.get("store_key")})
        if asked and kind == "return" and not passed:  # asked only once the WMS finished it
            status = getattr(message, "held_status", None)
            raise_exception(state, code, "closed_unreceived", message=f"closed:{status}",
                            detail={"store_key": data.get("store_key"), "status": status})
    detail = {"document": code, "kind": kind, "passed": passed, "excess": excess_total, "complete": complete,
              "status": getattr(message, "held_status", None) or confirmation.status,
              **({"asked": asked} if asked else {})}
    if kind == "delivery":
        news: list[Any] = [mappers.shipment_of(code, parcel) for parcel in new_parcels]
        if cancelled:
            news.append(OrderCancelled(code, "the cloud WMS cancelled it"))
        return WarehouseNews(confirmations=tuple(news), detail=detail, record=written)
    if kind == "return":
        items: dict[str, int] = {}
        for received in passed:
            for sku, qty in received.items():
                items[sku] = items.get(sku, 0) + qty
        receipts_news = (ReturnReceived(return_no=code, order_no=data.get("order_no"), warehouse_return_id=wms_id,
                                        received=True, received_at=at,
                                        items=tuple(SkuQty(sku, qty) for sku, qty in items.items())),) if items else ()
        return WarehouseNews(confirmations=receipts_news, detail=detail, record=written)
    # 配货 / 退仓: store_transfers reads the document's state from the ledger (store_documents);
    # once the WMS's last confirm is in, the store is told without waiting for the next poll.
    store_document = (STORE_DOCUMENT_KINDS[kind], data.get("store_key") or code) if final else None
    return WarehouseNews(store_documents_done=final, store_document=store_document, detail=detail, record=written)


# The WMS's stockout / entry order is the store's 配货 / 退仓 (flows/store_transfers.py's kinds).
STORE_DOCUMENT_KINDS = {"stockout": "transfer", "entry": "warehouse_return"}


def _as_the_wms_holds_it(state: Any, record: Any, said: mappers.Confirmation) -> mappers.Confirmation:
    """A message without parcels the bridge can tell apart (receipts; lines without packages), for a
    document the catch-up took part of: its increments may repeat what the catch-up took (the late
    copy of the lost confirm), so what it adds is read from the WMS's totals instead."""
    held = state.document_as_held(record.data["kind"], record.key, order_type=record.data.get("order_type"))
    if held is None:  # that kind's catch-up was turned off since: the message is all there is
        return said
    news = _not_in_ledger(held, record.data)
    if news is None:
        return mappers.Confirmation(document_code=record.key, wms_id=said.wms_id, final=False, at=said.at,
                                    status=said.status)
    return _confirmation(held.confirm_method, news)


# --- the catch-up: confirms that never arrived ------------------------------------------------

CATCH_UP_KINDS = ("delivery", "stockout", "entry", "return")


def _note_of(message: QimenMessage) -> dict[str, Any]:
    """What the ledger keeps of a catch-up's message until it is handed over: enough to build the
    same message (the same key) again."""
    return {"method": message.method, "key": message.key, "asked": message.asked, "held_status": message.held_status,
            "document": message.document.model_dump(mode="json", by_alias=True, exclude_none=True)}


def _message_of_note(code: str, note: dict[str, Any]) -> QimenMessage:
    document = qm.INBOUND_DOCUMENTS[note["method"]].model_validate(note["document"])
    return QimenMessage(note["method"], document, note["key"], code, asked=note.get("asked"),
                        held_status=note.get("held_status"))


def open_documents(state: Any) -> OpenDocuments:
    """The documents the WMS has not finished (not final, not cancelled), of the kinds whose
    catch-up query is on (``qimen.catch_up_queries``), with when the bridge last had news of each;
    and, finished or not, those whose catch-up message is not handed over yet (``unfinished``)."""
    section = state.section
    asked_kinds = {kind for kind in CATCH_UP_KINDS if section.catch_up_query(kind).method != "off"}
    documents = tuple(
        OpenDocument(record.key, record.data["kind"],
                     datetime.fromisoformat(record.data.get("news_at") or "2000-01-01T00:00:00+00:00"),
                     unfinished=bool(record.data.get("handing")))
        for record in state.records.list(state.ent_id, DOCUMENT_KIND)
        if record.data.get("handing") or record.data.get("kind") in asked_kinds and not record.data.get("final")
        and record.data.get("status") != "CANCELED")
    return OpenDocuments(documents, quiet_minutes=section.catch_up_after_minutes, per_run=section.catch_up_per_run)


def missed_confirm(state: Any, code: str) -> QimenMessage | None:
    """The document as the WMS holds it (``state.document_as_held``: the kind's query): what it
    holds that the ledger lacks, as the confirm message it stands for; None when nothing is new
    (or the document is done, or its kind's catch-up is off). A catch-up message whose hand-over
    did not finish (the run died after the ledger's write) is that same message again: taken
    again, it hands over what the ledger recorded of it and counts nothing twice."""
    record = state.records.get(state.ent_id, DOCUMENT_KIND, code)
    if record is not None and record.data.get("handing"):
        return _message_of_note(code, record.data["handing"])
    if record is None or record.data.get("final"):
        return None
    data = record.data
    try:
        held = state.document_as_held(data["kind"], code, order_type=data.get("order_type"))
    except UnreadableWarehouseAnswer:
        _quiet(state, record)  # an answer came: the document waits its quiet time again
        raise
    if held is None:
        return None  # this kind's catch-up was turned off since
    news = _not_in_ledger(held, data)
    if news is None:
        _quiet(state, record)
        return None
    return QimenMessage(held.confirm_method, news, f"{held.query_method}:{code}:{digest(news.model_dump(mode='json'))}",
                        code, asked=held.query_method, held_status=held.status)


def handed_over(state: Any, code: str, key: str) -> None:
    """The catch-up's message ``key`` is handed over: the ledger forgets its note (a newer
    catch-up's note stays)."""
    for _ in range(3):
        record = state.records.get(state.ent_id, DOCUMENT_KIND, code)
        if record is None or (record.data.get("handing") or {}).get("key") != key:
            return
        data = {name: value for name, value in record.data.items() if name != "handing"}
        # ``replace``: the record's marks (the messages taken, kit.claim_document) stay.
        if state.records.replace(state.ent_id, DOCUMENT_KIND, code, data, expected_version=record.version,
                                 ttl_days=RECORD_TTL_DAYS) is not None:
            return
    raise TransientError(f"{code}'s catch-up note changed under the bridge three times", retry_after_seconds=5)


def raise_for_a_person(state: Any, code: str, reason: str, error: Exception) -> None:
    record = state.records.get(state.ent_id, DOCUMENT_KIND, code)
    raise_exception(state, code, reason, message=f"query:{digest(str(error))[:12]}",
                    detail={"store_key": record.data.get("store_key") if record else None,
                            "wms_message": str(error)[:300]})


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


def _quiet(state: Any, record: Any) -> None:
    """Asked, nothing new: the document waits ``catch_up_after_minutes`` again before the next question."""
    fresh = state.records.get(state.ent_id, DOCUMENT_KIND, record.key) or record
    state.records.replace(state.ent_id, DOCUMENT_KIND, record.key, {**fresh.data, "news_at": state.now().isoformat()},
                          expected_version=fresh.version, ttl_days=RECORD_TTL_DAYS)
