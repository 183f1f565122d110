"""JST as the tenant's warehouse (ports.Warehouse): store orders into the 自有商城 shop, other
in/out documents for 配货 / 退仓 (or, as the tenant chooses, a transfer document for 配货),
inventory of the mapped warehouses.

Exactly once at JST: an order is keyed by its ``so_id`` (the store order no.), an after-sale by
``outer_as_id``, an other in/out by ``external_id``, a transfer by its ``so_id``. JST answers a
repeat with "already exists" (a row message, or code 160); that is success, and the id is read
back. A transfer is looked up by its number before it is uploaded: whether JST refuses a
repeated transfer number is not documented.

The flows keep the warehouse's document ids opaque: a transfer's is ``allocate-<io_id>`` so
that following it reads JST's transfer documents, not its other in/out ones.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ...errors import ConfigurationError, TransientError
from ...ports.warehouse import (Carrier, DocumentAccepted, DocumentState, OrderAccepted, OrderCancelled, ReturnAccepted,
                                ReturnReceived, ReturnRequest, Shipment, SkuQty, StockLevel, StockLocation, StockPage,
                                StoreDocument, StoreOrder, WarehouseInfo, WarehouseRefused)
from ...ports.state import MalformedRow
from ..paging import mapped_or_malformed
from . import mappers

if TYPE_CHECKING:
    from ...tenant import Tenant, WarehouseMapping
    from .port import JstApi

MAX_OTHER_INOUT_LINES = 1000  # /open/jushuitan/otherinout/upload: items ≤ 1000
TRANSFER_ID = "allocate-"  # the prefix of a transfer document's id (see the module's docstring)
ALREADY_EXISTS = 160  # JST's answer to a repeated external_id (外部单号已存在)


class JstStock:
    """Stock levels of some of the tenant's mapped JST warehouses (by ``wms_co_id``)."""

    def __init__(self, api: "JstApi", tenant: "Tenant", holds: Callable[["WarehouseMapping"], bool]) -> None:
        self.api, self.tenant, self._holds = api, tenant, holds
        self.clock: Callable[[], float] = time.time  # when a read was answered: its levels' versions

    def stock_locations(self) -> list[StockLocation]:
        # Never 店加线下仓: the stores feed it, so showing its stock in 店+ would count them twice
        # (a loop); `tenant doctor` refuses that mapping, and a tenant stored before the rule is safe.
        offline = self.tenant.jushuitan.offline_wms_co_id
        return [StockLocation(str(w.jst_wms_co_id), w.pos_warehouse_code) for w in self.tenant.warehouses
                if self._holds(w) and w.jst_wms_co_id != offline]

    def stock_changes(self, warehouse_code: str, since: str | None) -> StockPage:
        scan = self.api.scan_inventory(start_ts=int(since or 0), wms_co_id=int(warehouse_code))
        allowance, read = self.tenant.stock.clock_allowance_seconds, self.clock()
        # A row that cannot be read stays in the page as a MalformedRow: the pull parks it, goes on.
        return StockPage([mapped_or_malformed("JST /open/inventory/query", row,
                                              lambda r: mappers.stock_level(r, allowance, read), "sku_id")
                          for row in scan.records], str(scan.next_ts))

    def stock_of(self, warehouse_code: str, sku_ids: Sequence[str]) -> list[StockLevel]:
        rows = self.api.inventory_of(list(sku_ids), wms_co_id=int(warehouse_code))
        allowance, read = self.tenant.stock.clock_allowance_seconds, self.clock()
        return [mappers.stock_level(row, allowance, read) for row in rows]

    # --- other in/out documents (S5 / S6, and ERP-owned store stock) ------------------------------
    def _other_inout(self, direction: str, wms_co_id: int, external_id: str, lines: Sequence[SkuQty], remark: str, *,
                     receiver_name: str | None = None, part: int = 1, confirm: bool = False) -> DocumentAccepted:
        """One other in/out (其它入库 / 其它出库) keyed by ``external_id``; ``part`` is JST's
        warehouse part (1 main, 4 defective); ``confirm`` books it at once (it already happened)."""
        from . import models as jst
        from .errors import JstPermanentError

        upload = jst.OtherInOutUpload(
            type=direction, external_id=external_id, wms_co_id=wms_co_id, remark=remark, warehouse=part,
            is_confirm=confirm, receiver_name=receiver_name,
            items=[jst.OtherInOutItemUpload(sku_id=line.sku_id, qty=line.qty) for line in lines])
        try:
            answer = self.api.upload_other_inout(upload)
        except JstPermanentError as exc:
            if exc.code != ALREADY_EXISTS:
                raise
            # A repeat of an upload JST already holds (our earlier attempt died before recording it).
            io_id = self._find_io_id(direction, external_id, wms_co_id)
            if io_id is None:
                # 160 also means 内部保存失败 (internal save failure) in one error table: try again later.
                raise TransientError(f"JST answered code 160 for {external_id} but holds no such document yet") from None
            return DocumentAccepted(str(io_id), str(wms_co_id), already_there=True)
        io_id = _io_id_in(answer) or self._find_io_id(direction, external_id, wms_co_id)
        if io_id is None:
            raise TransientError(f"JST accepted {external_id} without an io_id and cannot find it yet")
        return DocumentAccepted(str(io_id), str(wms_co_id))

    def _find_io_id(self, direction: str, external_id: str, wms_co_id: int) -> int | None:
        for doc in self.api.query_other_inout(so_ids=[external_id], wms_co_id=wms_co_id):
            if getattr(doc, "so_id", None) == external_id and mappers.is_other_inout_type(doc.type, direction):
                return doc.io_id
        return None


def is_store_warehouse(tenant: "Tenant", mapping: "WarehouseMapping") -> bool:
    return mapping.pos_warehouse_code in {store.code for store in tenant.stores}


class JstWarehouse(JstStock):
    info = WarehouseInfo(system="jst", max_document_lines=MAX_OTHER_INOUT_LINES)

    def __init__(self, api: "JstApi", tenant: "Tenant") -> None:
        super().__init__(api, tenant, lambda mapping: not is_store_warehouse(tenant, mapping))
        self.shop_id = tenant.jushuitan.self_mall_shop_id

    # --- S2 ----------------------------------------------------------------------------------------
    def submit_order(self, order: StoreOrder) -> OrderAccepted:
        row = _row_for(self.api.upload_orders([mappers.order_upload(self.tenant, order)]), order.order_no,
                       lambda r: r.so_id)
        if row.issuccess and row.o_id:
            o_id = row.o_id
        elif _already_there(row.msg):
            # A retry after a lost answer: JST has the order already; that is success.
            o_id = row.o_id or self._o_id_in_jst(order.order_no)
        else:
            raise WarehouseRefused(f"JST refused order {order.order_no}: {row.msg or 'no reason given'}")
        return OrderAccepted(order.order_no, str(o_id))

    def _o_id_in_jst(self, so_id: str) -> int:
        orders = self.api.query_orders(shop_id=self.shop_id, so_ids=[so_id])
        if not orders:
            raise TransientError(f"JST says order {so_id} exists but does not list it yet")
        return orders[0].o_id

    def cancel_order(self, order_no: str, warehouse_order_id: str, reason: str) -> None:
        from .errors import JstPermanentError

        try:
            self.api.cancel_orders([int(warehouse_order_id)], cancel_type="店+取消", remark=reason)
        except JstPermanentError as exc:
            raise WarehouseRefused(f"JST refused to cancel order {order_no} (o_id {warehouse_order_id}): "
                                   f"{exc.jst_msg or exc.message}") from None

    def submit_return(self, request: ReturnRequest) -> ReturnAccepted:
        row = _row_for(self.api.upload_aftersales([mappers.aftersale_upload(self.tenant, request)]), request.return_no,
                       lambda r: r.outer_as_id)
        if not (row.issuccess or (_already_there(row.msg) and row.as_id)):
            raise WarehouseRefused(f"JST refused return {request.return_no}: {row.msg or 'no reason given'}")
        return ReturnAccepted(request.return_no, str(row.as_id) if row.as_id else None)

    def store_carrier(self, carrier_code: str) -> Carrier:
        for mapping in self.tenant.logistics:
            if mapping.jst_lc_id == carrier_code:
                return Carrier(mapping.pos_code, mapping.name)
        raise ConfigurationError(f"JST carrier lc_id {carrier_code!r} has no store carrier in tenant "
                                 f"{self.tenant.ent_id}'s logistics mapping; add it (o2o tenant put) and replay "
                                 "the dead letter")

    def shipments_between(self, begin: datetime, end: datetime) -> list["Shipment | MalformedRow"]:
        """A parcel row that cannot be read is a ``MalformedRow`` (key: its order no.) in its place."""
        rows = self.api.query_logistics(shop_id=self.shop_id, begin=begin, end=end)
        found: list[Shipment | MalformedRow] = []
        for row in sorted(rows, key=lambda r: r.ts):
            read = mapped_or_malformed("JST /open/logistic/query", row, mappers.shipments_of_row, "so_id")
            found.extend([read] if isinstance(read, MalformedRow) else read)
        return found

    def shipments_of(self, order_nos: Sequence[str]) -> list[Shipment]:
        rows = self.api.logistics_of(shop_id=self.shop_id, so_ids=list(order_nos))
        return [s for row in sorted(rows, key=lambda r: r.ts) for s in mappers.shipments_of_row(row)
                if s.order_no in order_nos]

    def cancelled_of(self, order_nos: Sequence[str]) -> list[OrderCancelled]:
        statuses = self.tenant.jushuitan.cancelled_order_statuses
        found = (mappers.cancelled(order, statuses)
                 for order in self.api.query_orders(shop_id=self.shop_id, so_ids=list(order_nos)))
        return [c for c in found if c is not None and c.order_no in order_nos]

    def cancelled_between(self, begin: datetime, end: datetime) -> list["OrderCancelled | MalformedRow"]:
        """The shop's orders JST cancelled or voided (the tenant's ``cancelled_order_statuses``),
        modified in [begin, end]; a row that cannot be read is a ``MalformedRow`` (key: its order no.)."""
        statuses = self.tenant.jushuitan.cancelled_order_statuses
        found: list[OrderCancelled | MalformedRow] = []
        for status in statuses:
            rows = self.api.query_orders_changed(shop_id=self.shop_id, begin=begin, end=end, status=status)
            for row in sorted(rows, key=lambda r: getattr(r, "ts", 0) or 0):
                read = mapped_or_malformed("JST /open/orders/single/query", row,
                                           lambda r: mappers.cancelled(r, statuses), "so_id")
                if read is not None:
                    found.append(read)
        return found

    def receipts_between(self, begin: datetime, end: datetime) -> list[ReturnReceived]:
        rows = self.api.query_aftersale_received(begin=begin, end=end, shop_id=self.shop_id)
        return _receipts(rows)

    def receipts_of(self, *, order_nos: Sequence[str] = (),
                    warehouse_return_ids: Sequence[str] = ()) -> list[ReturnReceived]:
        rows = self.api.aftersale_received_of(so_ids=list(order_nos), as_ids=[int(i) for i in warehouse_return_ids],
                                              shop_id=self.shop_id)
        found = (mappers.return_received(row) for row in sorted(rows, key=lambda r: r.ts))
        return [r for r in found if r is not None]

    # --- S5 / S6 -----------------------------------------------------------------------------------
    def send_to_store(self, document: StoreDocument) -> DocumentAccepted:
        if self.tenant.jushuitan.replenishment_document == "transfer":
            return self._transfer_to_store(document)
        return self._other_inout("out", self.tenant.jushuitan.main_wms_co_id, document.doc_no, document.lines,
                                 document.remark, receiver_name=document.store_name)

    def transfer_destination(self, store_code: str) -> int:
        """Where a 配货 transfer goes in JST: the store's own JST warehouse (a ``warehouses`` row
        coded with the store), else 店加线下仓, the stores' warehouse in JST."""
        for mapping in self.tenant.warehouses:
            if mapping.pos_warehouse_code == store_code:
                return mapping.jst_wms_co_id
        return self.tenant.jushuitan.offline_wms_co_id

    def _transfer_to_store(self, document: StoreDocument) -> DocumentAccepted:
        from . import models as jst
        from .errors import JstPermanentError

        section = self.tenant.jushuitan
        api, source = section.transfer_api, section.main_wms_co_id
        # JST's open API cannot receive a transfer: a person takes it in there (receive_at).
        destination = self.transfer_destination(document.store_code)
        held = self._transfer_in_jst(document.doc_no)
        if held is not None:  # an earlier attempt's answer was lost
            return DocumentAccepted(f"{TRANSFER_ID}{held}", str(source), already_there=True, document="调拨单",
                                    receive_at=str(destination))
        upload = jst.TransferUpload(
            so_id=document.doc_no, go_co_id=source, link_co_id=destination,
            remark=document.remark, items=[jst.OtherInOutItemUpload(sku_id=l.sku_id, qty=l.qty) for l in document.lines])
        try:
            rows = self.api.upload_transfer(upload, path=api.upload_path)
        except JstPermanentError as exc:
            if exc.code != ALREADY_EXISTS:
                raise
            rows = []
        io_id = next((row.get("io_id") for row in rows if str(row.get("so_id") or document.doc_no) == document.doc_no
                      and row.get("io_id")), None) or self._transfer_in_jst(document.doc_no)
        if io_id is None:
            raise TransientError(f"JST took transfer {document.doc_no} without an io_id and cannot find it yet")
        return DocumentAccepted(f"{TRANSFER_ID}{io_id}", str(source), already_there=not rows, document="调拨单",
                                receive_at=str(destination))

    def awaiting_receipt(self, warehouse_code: str, sku_ids: Sequence[str]) -> dict[str, int]:
        """JST's 调拨在途 (allocate_qty) of these SKUs at the receiving warehouse: shipped transfers
        nobody has received there yet."""
        return {row.sku_id: int(row.allocate_qty)
                for row in self.api.inventory_of(list(sku_ids), wms_co_id=int(warehouse_code))}

    def _transfer_in_jst(self, so_id: str) -> int | None:
        found = self.api.query_transfers(path=self.tenant.jushuitan.transfer_api.query_path, so_ids=[so_id])
        return next((doc.io_id for doc in found if doc.so_id == so_id), None)

    def take_back_from_store(self, document: StoreDocument) -> DocumentAccepted:
        section = self.tenant.jushuitan
        return self._other_inout("in", section.return_wms_co_id or section.main_wms_co_id, document.doc_no,
                                 document.lines, document.remark)

    def store_documents(self, warehouse_doc_ids: Sequence[str]) -> list["DocumentState | MalformedRow"]:
        transfers = sorted(int(i[len(TRANSFER_ID):]) for i in warehouse_doc_ids if i.startswith(TRANSFER_ID))
        others = sorted(int(i) for i in warehouse_doc_ids if not i.startswith(TRANSFER_ID))
        # A document JST lists that cannot be read is a MalformedRow keyed as its part knows it.
        found = [mapped_or_malformed("JST /open/other/inout/query", doc, mappers.document_state, "io_id")
                 for doc in self.api.query_other_inout(io_ids=others)] if others else []
        if transfers:
            api = self.tenant.jushuitan.transfer_api

            def state(doc: Any) -> DocumentState:
                return mappers.transfer_state(doc, TRANSFER_ID, shipped=api.shipped_statuses,
                                              voided=api.voided_statuses)

            for doc in self.api.query_transfers(path=api.query_path, io_ids=transfers):
                read = mapped_or_malformed(f"JST {api.query_path}", doc, state, "io_id")
                found.append(MalformedRow(read.source, read.raw, read.problem, f"{TRANSFER_ID}{read.key}", read.ts)
                             if isinstance(read, MalformedRow) else read)
        return found


def _receipts(rows: list[Any]) -> list["ReturnReceived | MalformedRow"]:
    """A receipt row that cannot be read is a ``MalformedRow`` (key: its order no.) in its place."""
    found = (mapped_or_malformed("JST /open/aftersale/received/query", row, mappers.return_received, "so_id")
             for row in sorted(rows, key=lambda r: r.ts))
    return [r for r in found if r is not None]


def _io_id_in(answer: Any) -> int | None:
    # JST nests it: data.data.io_id (the client returns ``data``); accept one level less too.
    for candidate in (answer, (answer or {}).get("data") if isinstance(answer, dict) else None):
        if isinstance(candidate, dict) and candidate.get("io_id"):
            return int(candidate["io_id"])
    return None


def _row_for(rows: list[Any], key: str, key_of: Callable[[Any], Any]) -> Any:
    row = next((r for r in rows if str(key_of(r) or "") == key), None)
    if row is None and len(rows) == 1:
        row = rows[0]
    if row is None:
        raise TransientError(f"JST's upload answer has no row for {key}")
    return row


def _already_there(msg: str | None) -> bool:
    return bool(msg) and any(word in msg for word in ("已存在", "重复", "已确认"))
