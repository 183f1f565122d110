"""A cloud WMS over 奇门 as the tenant's warehouse (ports.Warehouse): the ERP-neutral flows
of store orders (S2/Q1), returns (Q2), 配货 (S5/Q3), 退仓 (S6/Q4) and warehouse stock
(S3/Q5) run over it exactly as over JST.

| port operation | 奇门 call |
|---|---|
| ``submit_order`` | deliveryorder.create (JYCK, sourcePlatformCode POS; a 货到付款 order carries orderFlag COD and arAmount) |
| ``cancel_order`` | order.cancel; a refusal (typically: shipped) is ``WarehouseRefused`` and a cloud-warehouse exception |
| ``submit_return`` | returnorder.create (THRK, preDeliveryOrderCode = the order) |
| ``send_to_store`` | stockout.create (DBCK or PTCK, the store as receiver) |
| ``take_back_from_store`` | entryorder.create (DBRK or QTRK, the store as sender) |
| ``stock_of`` / ``stock_changes`` | inventory.query (正品, 50 SKUs a call) |
| ``take_message`` (CloudWarehouse) | none: a confirm or stock report the WMS sent, added up in the ledger |
| ``send_products`` (Q6, CloudWarehouse) | items.synchronize (``sync_items``: add, or update for items sent before) |
| ``open_documents`` (the catch-up, CloudWarehouse) | none: the ledger's open documents of the kinds ``qimen.catch_up_queries`` asks about |
| ``missed_confirm`` (the catch-up, CloudWarehouse) | ``document_as_held``: deliveryorder.query (orders, 配货) / entryorder.query (退仓, returns), every page |
| ``handed_over`` (the catch-up, CloudWarehouse) | none: the ledger forgets the catch-up message's note |
| ``raise_for_a_person`` (CloudWarehouse) | none: an exception in the ledger (``o2o exceptions list``) |

The store's document no. is the 奇门 document code, and the id the flows keep for a 配货 /
退仓 document: a create repeated after a lost answer names the same document, which a WMS
takes once. Every created document is remembered with its plan (ledger.py).

What the WMS did comes from the WMS: it sends it, signed, to /qimen/callback; this adapter
adds each message up against its ledger (``take_message``, messages.py: ports.CloudWarehouse)
and flows/cloud_warehouse.py hands the news, in the ports' terms, to the neutral flows. The
reads of the port (``shipments_of``, ``store_documents``, ...) answer from the ledger those
confirms built; the time-window reads the JST path uses to catch lost pushes answer nothing. A
confirm that never arrived (a WMS that gave up re-sending, a callback lost on the way) is
caught up by ``cloud_warehouse.catch_up_confirmations``: ``open_documents`` names the
documents the WMS has not finished, ``missed_confirm`` asks the WMS for one
(``document_as_held``) and rebuilds what it holds and the ledger lacks as a confirm message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Sequence

from pydantic import ValidationError

from ...errors import ConfigurationError, PermanentError
from ...ports.state import MalformedRow
from ..paging import mapped_or_malformed
from ...ports.warehouse import (Carrier, DocumentAccepted, DocumentState, OpenDocuments, OrderAccepted,
                                OrderCancelled, ReturnAccepted, ReturnReceived, ReturnRequest, Shipment, SkuQty,
                                StockLevel, StockLocation, StockPage, StoreDocument, StoreOrder,
                                UnreadableWarehouseAnswer, WarehouseInfo, WarehouseNews, WarehouseRefused)
from . import messages
from . import models as qm
from .errors import QimenAuthError, QimenPermanentError
from .ledger import ITEM_KIND, document, known_skus, raise_exception, remember_document, remember_items
from .mappers import shipment_of, stock_levels
from .signing import timestamp_text

STOCK_BATCH = 50   # criteria per inventory.query (no limit is published; kept small)
ITEM_BATCH = 50    # items per items.synchronize
QUERY_PAGE_LINES = 100  # deliveryorder.query: order lines a page (the standard's maximum)
MAX_QUERY_PAGES = 50
# The element of each query's answer that holds the document (qimen.catch_up_queries.<kind>.answer_node
# when a WMS names it otherwise) and the confirm each kind of document stands for.
ANSWER_NODES = {"deliveryorder.query": "deliveryOrder", "entryorder.query": "entryOrder"}
CONFIRM_OF = {"delivery": "deliveryorder.confirm", "stockout": "stockout.confirm", "entry": "entryorder.confirm",
              "return": "returnorder.confirm"}


class UnreadableAnswer(UnreadableWarehouseAnswer):
    """A query answer the bridge cannot read as the document asked for (a missing element, a bad
    quantity): parked with this reason, never read as "nothing shipped"."""


@dataclass(frozen=True)
class HeldDocument:
    """One of the bridge's documents as the WMS holds it (``document_as_held``)."""

    kind: str                 # delivery / stockout / entry / return
    code: str
    query_method: str         # the 奇门 query that was asked
    confirm_method: str       # the confirm ``document`` stands for
    document: Any             # DeliveryOrderConfirm / EntryOrderConfirm / ReturnOrderConfirm: totals so far
    status: str | None
    done: bool                # the status is one of the kind's done_statuses: nothing more will come


def _count(value: Any) -> int:
    try:
        return int(str(value or 0).strip() or 0)
    except ValueError:
        return 0


def _plan(lines: Sequence[Any]) -> dict[str, int]:
    plan: dict[str, int] = {}
    for line in lines:
        plan[line.sku_id] = plan.get(line.sku_id, 0) + int(line.qty)
    return plan


def _money(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return f"{Decimal(str(value)):.2f}"


class QimenWarehouse:
    info = WarehouseInfo(system="qimen")

    def __init__(self, tenant: Any, client: Any, *, records: Any, timeline: Any,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 metric: Callable[[str, float], None] = lambda name, value=1: None) -> None:
        self.tenant, self.client = tenant, client
        self.section = tenant.qimen
        # What ledger.py needs of a flow context, so the adapter records the documents it creates.
        self.records, self.timeline, self.now, self.metric = records, timeline, now, metric

    @property
    def ent_id(self) -> str:
        return self.tenant.ent_id

    def _now_text(self) -> str:
        return timestamp_text(self.now())

    def _lines(self, lines: Sequence[Any], *, priced: bool = False) -> list[qm.CreateLine]:
        return [qm.CreateLine(order_line_no=str(getattr(line, "line_no", None) or n), owner_code=self.section.owner_code,
                              item_code=line.sku_id, item_name=getattr(line, "name", None) if priced else None,
                              plan_qty=int(line.qty),
                              actual_price=_money(getattr(line, "price", None)) if priced else None)
                for n, line in enumerate(lines, 1)]

    def _store_contact(self, store_code: str, store_name: str | None) -> qm.Contact:
        store = next((s for s in self.tenant.stores if s.code == store_code), None)
        name = store_name or (store.name if store else store_code)
        return qm.Contact(name=name, detail_address=f"{name} ({store_code})")

    def _create(self, method: str, request: Any, *, code: str, kind: str, plan: dict[str, int], order_type: str,
                id_field: str, store_key: str, **extra: Any) -> str | None:
        try:
            answer = self.client.call(method, request)
        except QimenAuthError:
            raise
        except QimenPermanentError as refused:
            raise WarehouseRefused(f"the cloud WMS refused {code}: {refused.qimen_message or refused.message}") from None
        wms_id = str(answer.get(id_field) or "") or None
        remember_document(self, code, kind=kind, plan=plan, order_type=order_type, store_key=store_key, wms_id=wms_id,
                          **extra)
        return wms_id

    # --- S2 / Q1, Q2 ---------------------------------------------------------------------------
    def submit_order(self, order: StoreOrder) -> OrderAccepted:
        receiver = order.receiver
        cod = order.cod_amount  # 货到付款: what the courier collects (StoreOrder.cod_amount)
        head = qm.DeliveryOrderHead(
            delivery_order_code=order.order_no, order_type="JYCK", warehouse_code=self.section.warehouse_code,
            order_flag="COD" if cod else None, source_platform_code="POS", create_time=self._now_text(),
            pay_time=timestamp_text(order.paid_at), total_amount=_money(order.pay_amount), freight=_money(order.freight),
            ar_amount=_money(cod) if cod else None,
            receiver_info=qm.Contact(name=receiver.name, mobile=receiver.mobile, province=receiver.province,
                                     city=receiver.city, area=receiver.district, detail_address=receiver.address))
        request = qm.DeliveryOrderCreate(delivery_order=head, order_lines=self._lines(order.lines, priced=True))
        wms_id = self._create("deliveryorder.create", request, code=order.order_no, kind="delivery",
                              plan=_plan(order.lines), order_type="JYCK", id_field="deliveryOrderId",
                              store_key=order.order_no)
        return OrderAccepted(order.order_no, wms_id or order.order_no)

    def cancel_order(self, order_no: str, warehouse_order_id: str, reason: str) -> None:
        request = qm.OrderCancel(warehouse_code=self.section.warehouse_code, owner_code=self.section.owner_code,
                                 order_code=order_no, order_type="JYCK", cancel_reason=reason)
        try:
            self.client.call("order.cancel", request)
        except QimenAuthError:
            raise
        except QimenPermanentError as refused:
            said = refused.qimen_message or refused.message
            raise_exception(self, order_no, "cancel_refused", message=f"cancel:{refused.code or '-'}",
                            detail={"store_key": order_no, "wms_message": said, "reason_given": reason})
            raise WarehouseRefused(f"the cloud WMS refused to cancel {order_no}: {said}") from None

    def submit_return(self, request: ReturnRequest) -> ReturnAccepted:
        head = qm.ReturnOrderHead(return_order_code=request.return_no, warehouse_code=self.section.warehouse_code,
                                  order_type="THRK", pre_delivery_order_code=request.order_no,
                                  return_reason=request.kind or None)
        create = qm.ReturnOrderCreate(return_order=head, order_lines=self._lines(request.lines))
        wms_id = self._create("returnorder.create", create, code=request.return_no, kind="return",
                              plan=_plan(request.lines), order_type="THRK", id_field="returnOrderId",
                              store_key=request.return_no, order_no=request.order_no)
        return ReturnAccepted(request.return_no, wms_id)

    def store_carrier(self, carrier_code: str) -> Carrier:
        for mapping in self.section.logistics:
            if mapping.qimen_code == carrier_code:
                return Carrier(mapping.pos_code, mapping.name)
        raise ConfigurationError(f"奇门 logistics code {carrier_code!r} has no store carrier in tenant "
                                 f"{self.ent_id}'s qimen.logistics; add it (o2o tenant put) and replay the dead letter")

    # What the WMS confirmed, from the ledger its signed confirms built.
    def shipments_between(self, begin: datetime, end: datetime) -> list[Shipment]:
        return []

    def cancelled_between(self, begin: datetime, end: datetime) -> list[OrderCancelled]:
        return []

    def receipts_between(self, begin: datetime, end: datetime) -> list[ReturnReceived]:
        return []

    def shipments_of(self, order_nos: Sequence[str]) -> list[Shipment]:
        found = []
        for order_no in order_nos:
            for parcel in (document(self, order_no) or {}).get("parcels", []):
                found.append(shipment_of(order_no, parcel))
        return found

    def cancelled_of(self, order_nos: Sequence[str]) -> list[OrderCancelled]:
        return [OrderCancelled(no, "the cloud WMS cancelled it") for no in order_nos
                if (document(self, no) or {}).get("status") == "CANCELED"]

    def receipts_of(self, *, order_nos: Sequence[str] = (),
                    warehouse_return_ids: Sequence[str] = ()) -> list[ReturnReceived]:
        return []

    # --- S5 / S6 (Q3 / Q4) ------------------------------------------------------------------------
    def send_to_store(self, doc: StoreDocument) -> DocumentAccepted:
        order_type = self.section.transfer_order_type
        head = qm.StockoutHead(total_order_lines=len(doc.lines), delivery_order_code=doc.doc_no, order_type=order_type,
                               warehouse_code=self.section.warehouse_code, create_time=self._now_text(),
                               receiver_info=self._store_contact(doc.store_code, doc.store_name),
                               remark=doc.remark or None)
        request = qm.StockoutCreate(delivery_order=head, order_lines=self._lines(doc.lines))
        self._create("stockout.create", request, code=doc.doc_no, kind="stockout", plan=_plan(doc.lines),
                     order_type=order_type, id_field="deliveryOrderId", store_key=doc.doc_no)
        return DocumentAccepted(warehouse_doc_id=doc.doc_no, warehouse_code=self.section.warehouse_code)

    def take_back_from_store(self, doc: StoreDocument) -> DocumentAccepted:
        order_type = self.section.warehouse_return_order_type
        head = qm.EntryOrderHead(total_order_lines=len(doc.lines), entry_order_code=doc.doc_no,
                                 owner_code=self.section.owner_code, warehouse_code=self.section.warehouse_code,
                                 order_create_time=self._now_text(), order_type=order_type,
                                 sender_info=self._store_contact(doc.store_code, doc.store_name), remark=doc.remark or None)
        request = qm.EntryOrderCreate(entry_order=head, order_lines=self._lines(doc.lines))
        self._create("entryorder.create", request, code=doc.doc_no, kind="entry", plan=_plan(doc.lines),
                     order_type=order_type, id_field="entryOrderId", store_key=doc.doc_no)
        return DocumentAccepted(warehouse_doc_id=doc.doc_no, warehouse_code=self.section.warehouse_code)

    def store_documents(self, warehouse_doc_ids: Sequence[str]) -> list["DocumentState | MalformedRow"]:
        """Confirmed once the WMS sent its last confirm (confirmType 0), with what it really moved.
        A document whose record cannot be read is a ``MalformedRow`` (the follow-up parks that part)."""
        states: list[DocumentState | MalformedRow] = []
        for code in warehouse_doc_ids:
            data = document(self, code)
            if data is None or data.get("kind") not in ("stockout", "entry"):
                continue
            states.append(mapped_or_malformed("奇门 document ledger", {**data, "code": code}, _document_state, "code"))
        return states

    def awaiting_receipt(self, warehouse_code: str, sku_ids: Sequence[str]) -> dict[str, int]:
        """A WMS document has no receiving half (the store receives at 店+), so no document here
        names a warehouse to receive at; asked anyway, it says why rather than answer nothing."""
        raise PermanentError(f"a cloud WMS document has no receiving half in the WMS (asked about {warehouse_code})")

    # --- S3 / Q5 ------------------------------------------------------------------------------------
    def stock_locations(self) -> list[StockLocation]:
        return [StockLocation(self.section.warehouse_code, self.section.store_warehouse_code)]

    def stock_of(self, warehouse_code: str, sku_ids: Sequence[str]) -> list[StockLevel]:
        """The WMS's sellable stock (正品, unfrozen) of these SKUs, read now: the read's moment is the
        version, so a later read always wins. A SKU the WMS does not name is 0; one whose row
        cannot be read fails the read (PermanentError, so the re-read is parked with the reason)."""
        levels = self._read_stock(warehouse_code, sku_ids)
        unreadable = [row for row in levels if isinstance(row, MalformedRow)]
        if unreadable:
            raise PermanentError("the cloud WMS's stock of " + "; ".join(f"{r.key} cannot be read ({r.problem})"
                                                                          for r in unreadable[:5]))
        return levels

    def _read_stock(self, warehouse_code: str, sku_ids: Sequence[str]) -> list["StockLevel | MalformedRow"]:
        version = int(self.now().timestamp() * 1000)
        levels: list[StockLevel | MalformedRow] = []
        skus = list(dict.fromkeys(sku_ids))
        for start in range(0, len(skus), STOCK_BATCH):
            batch = skus[start:start + STOCK_BATCH]
            answer = self.client.call("inventory.query", qm.InventoryQuery(criteria_list=[
                qm.Criteria(warehouse_code=warehouse_code, owner_code=self.section.owner_code, item_code=sku)
                for sku in batch]))
            found, unreadable = stock_levels(answer, warehouse_code)
            unread = {row.key for row in unreadable}
            levels += [StockLevel(sku, {"qty": Decimal(found.get(sku, 0))}, version) for sku in batch if sku not in unread]
            levels += unreadable
        return levels

    def stock_changes(self, warehouse_code: str, since: str | None) -> StockPage:
        """奇门 has no "changed since" read: every SKU the WMS may hold (sent to it, or in the
        bridge's documents) is read again; unchanged levels cost the store nothing (versions). A
        row that cannot be read stays in the page as a ``MalformedRow`` (the pull parks it)."""
        return StockPage(self._read_stock(warehouse_code, sorted(known_skus(self))), self.now().isoformat())

    # --- the catch-up of lost confirms ----------------------------------------------------------
    def document_as_held(self, kind: str, code: str, *, order_type: str | None = None) -> "HeldDocument | None":
        """One of the bridge's documents as the WMS holds it, read with the tenant's catch-up query
        for its kind (``qimen.catch_up_queries``), in the shape of the confirm it stands for: every
        parcel shipped so far and each line's total (``actualQty``). None when that kind's
        catch-up is off. An answer without the document, or one that cannot be read, is
        ``UnreadableAnswer`` (the catch-up parks it with the reason)."""
        query = self.section.catch_up_query(kind)
        if query.method == "off":
            return None
        node = query.answer_node or ANSWER_NODES[query.method]
        head, packages, lines = self._query_pages(query.method, node, code)
        status = str(head.get("status") or "").upper()
        done = status in {s.upper() for s in query.done_statuses}
        try:
            if kind in ("delivery", "stockout"):
                document: Any = qm.DeliveryOrderConfirm.model_validate({"deliveryOrder": {
                    **head, "deliveryOrderCode": code, "warehouseCode": head.get("warehouseCode") or self.section.warehouse_code,
                    "orderType": head.get("orderType") or order_type or "JYCK", "confirmType": 0 if done else 1},
                    "packages": packages, "orderLines": lines})
            elif kind == "entry":
                document = qm.EntryOrderConfirm.model_validate({"entryOrder": {
                    "entryOrderCode": code, "entryOrderId": head.get("entryOrderId") or head.get("returnOrderId"),
                    "warehouseCode": head.get("warehouseCode") or self.section.warehouse_code,
                    "entryOrderType": head.get("entryOrderType") or head.get("orderType") or order_type,
                    "status": status or None, "confirmType": 0 if done else 1}, "orderLines": lines})
            else:
                document = qm.ReturnOrderConfirm.model_validate({"returnOrder": {
                    "returnOrderCode": code, "returnOrderId": head.get("returnOrderId") or head.get("entryOrderId"),
                    "warehouseCode": head.get("warehouseCode") or self.section.warehouse_code,
                    "orderType": head.get("orderType") or order_type or "THRK"}, "orderLines": lines})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
            raise UnreadableAnswer(f"the cloud WMS's {query.method} answer for {code} cannot be read: {problems}") from None
        return HeldDocument(kind=kind, code=code, query_method=query.method, confirm_method=CONFIRM_OF[kind],
                            document=document, status=status or None, done=done)

    def _query_pages(self, method: str, node: str, code: str) -> tuple[dict[str, Any], list[Any], list[Any]]:
        """Every page of one document's query: (head, packages, order lines)."""
        head: dict[str, Any] | None = None
        packages: list[Any] = []
        lines: list[Any] = []
        page = 1
        while True:
            if method == "deliveryorder.query":
                request: Any = qm.DeliveryOrderQuery(owner_code=self.section.owner_code,
                                                     warehouse_code=self.section.warehouse_code, order_code=code,
                                                     page=page, page_size=QUERY_PAGE_LINES)
            else:
                request = qm.EntryOrderQuery(owner_code=self.section.owner_code,
                                             warehouse_code=self.section.warehouse_code, entry_order_code=code,
                                             page=page, page_size=QUERY_PAGE_LINES)
            answer = self.client.call(method, request)
            found = answer.get(node)
            if not isinstance(found, dict):
                raise UnreadableAnswer(f"the cloud WMS's {method} answer for {code} cannot be read: no <{node}> "
                                       f"element (it has {', '.join(sorted(answer)) or 'nothing'}); if this WMS "
                                       f"names it otherwise, set qimen.catch_up_queries.<kind>.answer_node")
            head = head or dict(found)
            for name, into in (("packages", packages), ("orderLines", lines)):
                listed = answer.get(name) or []
                if not isinstance(listed, list):
                    raise UnreadableAnswer(f"the cloud WMS's {method} answer for {code} cannot be read: "
                                           f"<{name}> is not a list")
                if name == "orderLines" or not packages:
                    into.extend(listed)
            if not answer.get("orderLines") or len(lines) >= _count(answer.get("totalLines")) or page >= MAX_QUERY_PAGES:
                break
            page += 1
        return head or {}, packages, lines

    # --- the WMS's own messages (ports.CloudWarehouse; messages.py) ---------------------------------
    def message_record(self, message: Any) -> tuple[str, str] | None:
        return messages.record_of(message)

    def take_message(self, message: Any, record: dict[str, Any] | None = None) -> WarehouseNews:
        """A confirm or stock report (an authenticated ``inbound.QimenCall`` or a ``messages.QimenMessage``).
        A finished 配货 / 退仓 taken on the caller's claim (``record``) carries its state as the news
        leaves the record (``store_states``): the record is written after the hand-over."""
        news = messages.take(self, message, record)
        if record is not None and news.store_document is not None:
            code = str(news.detail.get("document"))
            held = dict(news.record if news.record is not None else record)
            news = replace(news, store_states=(
                mapped_or_malformed("奇门 document ledger", {**held, "code": code}, _document_state, "code"),))
        return news

    def open_documents(self) -> OpenDocuments:
        return messages.open_documents(self)

    def missed_confirm(self, code: str) -> messages.QimenMessage | None:
        return messages.missed_confirm(self, code)

    def handed_over(self, code: str, key: str) -> None:
        messages.handed_over(self, code, key)

    def raise_for_a_person(self, code: str, reason: str, error: Exception) -> None:
        messages.raise_for_a_person(self, code, reason, error)

    def send_products(self, products: Sequence[Any]) -> dict[str, int]:
        """Q6: items the WMS was never sent as ``add``, the others as ``update`` (the WMS upserts
        by itemCode, so sending a product twice changes nothing)."""
        known = {record.key for record in self.records.list(self.ent_id, ITEM_KIND)}
        added = self.sync_items([p for p in products if p.sku_code not in known], action="add")
        updated = self.sync_items([p for p in products if p.sku_code in known], action="update")
        return {"added": added, "updated": updated}

    # --- Q6 -------------------------------------------------------------------------------------------
    def sync_items(self, products: Sequence[Any], *, action: str = "add") -> int:
        """Products (P9 item fields) to the WMS, ``ITEM_BATCH`` a call; returns how many were sent."""
        sent = 0
        for start in range(0, len(products), ITEM_BATCH):
            batch = products[start:start + ITEM_BATCH]
            items = [qm.Item(item_code=p.sku_code, item_name=p.name, bar_code=getattr(p, "barcode", None) or None,
                             color=getattr(p, "color", None) or None, size=getattr(p, "size", None) or None,
                             brand_name=getattr(p, "brand", None) or None,
                             category_name=getattr(p, "category", None) or None,
                             goods_code=getattr(p, "spu_code", None) or None,
                             retail_price=_money(getattr(p, "retail_price", None)),
                             tag_price=_money(getattr(p, "tag_price", None)),
                             cost_price=_money(getattr(p, "cost_price", None)))
                     for p in batch]
            self.client.call("items.synchronize", qm.ItemsSynchronize(
                action_type=action, warehouse_code=self.section.warehouse_code, owner_code=self.section.owner_code,
                items=items))
            remember_items(self, [item.item_code for item in items])
            sent += len(items)
        return sent


def _document_state(data: dict[str, Any]) -> DocumentState:
    code = data["code"]
    if data.get("status") == "CANCELED":
        return DocumentState(code, "voided", "CANCELED by the cloud WMS")
    if data.get("final"):
        return DocumentState(code, "confirmed", lines=tuple(
            SkuQty(sku, int(qty)) for sku, qty in (data.get("confirmed") or {}).items() if int(qty) > 0),
            confirmed_at=data.get("confirmed_at"))
    return DocumentState(code, "waiting")


def warehouse_for_tenant(tenant: Any, *, records: Any, timeline: Any, now: Callable[[], datetime] | None = None,
                         metric: Callable[[str, float], None] | None = None, client: Any = None) -> QimenWarehouse:
    """The live adapter: the tenant's 奇门 client (factory.py) over the given state."""
    if client is None:
        from .factory import qimen_for_tenant

        client = qimen_for_tenant(tenant)
    extra: dict[str, Any] = {}
    if now is not None:
        extra["now"] = now
    if metric is not None:
        extra["metric"] = metric
    return QimenWarehouse(tenant, client, records=records, timeline=timeline, **extra)
