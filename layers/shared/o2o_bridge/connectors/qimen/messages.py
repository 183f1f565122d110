"""The WMS's messages added up against the document ledger (ledger.py), and handed on in the
ports' terms (``WarehouseNews``): what ``QimenWarehouse.take_message`` does for
flows/cloud_warehouse.py, which takes each message once and hands the news to the neutral flows.

- A confirm adds up against the plan of the document the bridge created: ``confirmType`` 1 =
  more to come, 0 = the last; units beyond the plan are kept out of the news and raised as an
  exception (``o2o exceptions list``). A confirm of a document the bridge never created is
  refused (``UnknownWarehouseDocument``).
- A parcel the ledger holds already (its package code, else its tracking no.) is never counted
  again, whatever message brings it; a message taken before (its key is in the document's
  ``messages``) changes nothing in the ledger and gives the same news again, so a hand-over
  that failed is made again on the WMS's retry.
- The news: each parcel of a deliveryorder.confirm a ``Shipment`` (a cancel an
  ``OrderCancelled``), a return receipt a ``ReturnReceived``; a stockout / entryorder confirm
  says whether the 配货 / 退仓 document is finished; a stock report names the SKUs to read again.
- Q1 catch-up: what deliveryorder.query says the WMS holds and the ledger lacks (a confirm that
  never arrived) is rebuilt as a confirm message, keyed by what it adds (``missed_confirm``).

Functions take the adapter as ``state`` (``records``, ``timeline``, ``ent_id``, ``now``, ``metric``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from ...errors import PermanentError, TransientError
from ...fingerprint import digest
from ...ports.warehouse import (OrderCancelled, OverdueOrders, ReturnReceived, SkuQty, UnknownWarehouseDocument,
                                WarehouseNews)
from ...shanghai_time import to_jst_text
from . import mappers
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


def message_of(method: str, document: Any, key: str) -> QimenMessage:
    if method in CONFIRMS:
        trace_key = _confirmation(method, document).document_code
    elif method in STOCK_REPORTS:
        trace_key = f"qimen.stock:{','.join(mappers.items_to_reread(document))[:80]}"
    else:  # inbound.read_callback admits only these
        raise PermanentError(f"the bridge takes no 奇门 {method}")
    return QimenMessage(method, document, key, trace_key)


def take(state: Any, message: Any) -> WarehouseNews:
    """A confirm or a stock report (a ``QimenMessage``, or an authenticated ``inbound.QimenCall``)."""
    if message.method in CONFIRMS:
        return _take_confirm(state, message)
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


def _take_confirm(state: Any, message: QimenMessage) -> WarehouseNews:
    method, kind, key = message.method, CONFIRMS[message.method], message.key
    confirmation = _confirmation(method, message.document)
    code = confirmation.document_code
    record = state.records.get(state.ent_id, DOCUMENT_KIND, code)
    if record is None or record.data.get("kind") != kind:
        raise UnknownWarehouseDocument(f"{method}: {code} is not a {kind} document the bridge created")
    data = record.data
    at = to_jst_text(confirmation.at or state.now())
    seen = key in (data.get("messages") or [])
    confirmed = dict(data.get("confirmed") or {})
    parcels = list(data.get("parcels") or [])
    passed: list[dict[str, int]] = []
    excess_total: dict[str, int] = {}
    new_parcels: list[dict[str, Any]] = []
    # A parcel counts once, whatever message brings it (this message's own, taken before its
    # hand-over failed, are handed over again).
    known = set().union(*(_parcel_keys(p) for p in parcels if p.get("message") != key)) if parcels else set()
    fresh = [p for p in confirmation.parcels if not (_parcel_keys(p) & known)]
    pieces = ([(p, p.items) for p in fresh] if confirmation.parcels
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
    if not seen:
        stored = state.records.put(state.ent_id, DOCUMENT_KIND, code, {
            **data, "confirmed": confirmed, "parcels": parcels + new_parcels, "final": final,
            "status": "CANCELED" if cancelled else (confirmation.status or data.get("status")),
            "confirmed_at": at if final else data.get("confirmed_at"), "wms_id": wms_id,
            "news_at": state.now().isoformat(), "messages": [*(data.get("messages") or []), key][-MESSAGES_KEPT:]},
            expected_version=record.version, ttl_days=RECORD_TTL_DAYS)
        if stored is None:
            # Another message of this document was taken at the same moment: this one is taken
            # again on the WMS's retry, against the new totals.
            raise TransientError(f"{code} was confirmed by another message just now", retry_after_seconds=5)
        state.timeline.record(code, state.ent_id, f"qimen.{kind}_confirmed",
                              {"message": key, "passed": passed, "final": final, "complete": complete},
                              aliases=aliases_of(code, data.get("store_key"), wms_id))
        if excess_total:
            raise_exception(state, code, "confirmed_beyond_plan", message=key,
                            detail={"excess": excess_total, "method": method, "store_key": data.get("store_key")})
    detail = {"document": code, "kind": kind, "passed": passed, "excess": excess_total, "complete": complete,
              "status": confirmation.status}
    if kind == "delivery":
        news: list[Any] = [mappers.shipment_of(code, parcel) for parcel in new_parcels]
        if cancelled:
            news.append(OrderCancelled(code, "the cloud WMS cancelled it"))
        return WarehouseNews(confirmations=tuple(news), detail=detail)
    if kind == "return":
        items: dict[str, int] = {}
        for received in passed:
            for sku, qty in received.items():
                items[sku] = items.get(sku, 0) + qty
        receipts = (ReturnReceived(return_no=code, order_no=data.get("order_no"), warehouse_return_id=wms_id,
                                   received=True, received_at=at,
                                   items=tuple(SkuQty(sku, qty) for sku, qty in items.items())),) if items else ()
        return WarehouseNews(confirmations=receipts, detail=detail)
    # 配货 / 退仓: store_transfers reads the document's state from the ledger (store_documents);
    # once the WMS's last confirm is in, the store is told without waiting for the next poll.
    return WarehouseNews(store_documents_done=final, detail=detail)


# --- Q1 catch-up: confirms that never arrived --------------------------------------------------


def overdue_orders(state: Any) -> OverdueOrders:
    """Open store orders without news for ``qimen.catch_up_after_minutes``, oldest news first;
    ``catch_up_per_run`` of them asked this run."""
    section = state.section
    quiet_since = state.now() - timedelta(minutes=section.catch_up_after_minutes)
    due = sorted((record for record in state.records.list(state.ent_id, DOCUMENT_KIND)
                  if record.data.get("kind") == "delivery" and not record.data.get("final")
                  and record.data.get("status") != "CANCELED"
                  and datetime.fromisoformat(record.data.get("news_at") or "2000-01-01T00:00:00+00:00") <= quiet_since),
                 key=lambda record: record.data.get("news_at") or "")
    return OverdueOrders(len(due), tuple(record.key for record in due[:section.catch_up_per_run]))


def missed_confirm(state: Any, order_no: str) -> QimenMessage | None:
    """deliveryorder.query for one order (``state.delivery_as_held``): what the WMS holds that
    the ledger lacks, as a confirm message; None when nothing is new."""
    record = state.records.get(state.ent_id, DOCUMENT_KIND, order_no)
    if record is None:
        return None
    try:
        held = state.delivery_as_held(order_no)
    except TransientError:
        raise
    except PermanentError as exc:  # e.g. the WMS does not know the order: for a person to see
        raise_exception(state, order_no, "catch_up_refused", message=f"query:{digest(str(exc))[:12]}",
                        detail={"store_key": record.data.get("store_key"), "wms_message": str(exc)[:300]})
        raise
    news = _not_in_ledger(held, record.data)
    if news is None:
        # Asked, nothing new: the order waits ``catch_up_after_minutes`` again before the next question.
        state.records.put(state.ent_id, DOCUMENT_KIND, order_no, {**record.data, "news_at": state.now().isoformat()},
                          expected_version=record.version, ttl_days=RECORD_TTL_DAYS)
        return None
    method = "deliveryorder.confirm"
    return QimenMessage(method, news, f"deliveryorder.query:{order_no}:{digest(news.model_dump(mode='json'))}",
                        order_no)


def _not_in_ledger(held: Any, data: dict[str, Any]) -> Any:
    """What the WMS holds of a delivery order that the ledger lacks, as a confirm: the parcels it
    has not recorded (or, from a WMS that lists no parcels, each line's shipped total less what
    was confirmed), and its final state. None when the WMS holds nothing new."""
    known = set().union(*(_parcel_keys(p) for p in data.get("parcels") or [])) if data.get("parcels") else set()
    ends = held.delivery_order.confirm_type == 0
    packages = [p for p in held.packages
                if p.items and not _parcel_keys(SimpleNamespace(package_code=p.package_code, tracking_no=p.express_code)) & known]
    lines = []
    if not any(p.items for p in held.packages):
        confirmed = data.get("confirmed") or {}
        lines = [line.model_copy(update={"actual_qty": line.actual_qty - int(confirmed.get(line.item_code, 0))})
                 for line in held.order_lines if line.actual_qty > int(confirmed.get(line.item_code, 0))]
    if not packages and not lines and not ends:
        return None  # still shipping, and every parcel so far is in the ledger
    # New parcels, or the end (the last confirm was lost: the order is DELIVERED or CANCELED).
    return held.model_copy(update={"packages": packages, "order_lines": lines})
