"""The cloud WMS as the bridge's warehouse: the six things the ERP-neutral flows ask of a
warehouse, done over 奇门 and in the bridge's terms.

| operation | 奇门 document | bridge input |
|---|---|---|
| ``submit_order`` | deliveryorder.create (JYCK, sourcePlatformCode POS; 货到付款 carries orderFlag COD and arAmount) | a store / micro-mall order (``order.warehouse_requested``) |
| ``cancel_order`` | order.cancel | the store order no.; a refusal (already shipped) is ``CancelRefused`` and an exception |
| ``submit_return`` | returnorder.create (THRK, preDeliveryOrderCode = the order) | a return (``return.requested``) |
| ``send_to_store`` | stockout.create (DBCK or PTCK, the store as receiver) | 配货 (``transfer.submitted``) |
| ``take_back`` | entryorder.create (DBRK or QTRK, the store as sender) | 退仓 (``warehouse_return.submitted``) |
| ``read_stock`` | inventory.query (正品, in batches) | SKU ids -> units the WMS can sell |
| ``sync_items`` | items.synchronize (add / update, in batches) | products (P9 item fields) |

Each created document is remembered with its plan (ledger.py), so its confirmations add up
against it. The store's document no. is the 奇门 document code: a create repeated after a
crash names the same document, which a WMS takes once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from ...errors import PermanentError
from . import models as qm
from .errors import QimenPermanentError
from .ledger import raise_exception, remember_document, remember_items
from .mappers import stock_levels
from .signing import timestamp_text

STOCK_BATCH = 50   # criteria per inventory.query (no limit is published; kept small)
ITEM_BATCH = 50    # items per items.synchronize


class CancelRefused(PermanentError):
    """The WMS would not cancel (typically: already shipped); raised as an exception too."""


def _plan(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    plan: dict[str, int] = {}
    for sku, qty in lines:
        plan[sku] = plan.get(sku, 0) + int(qty)
    return plan


def _money(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}" if not isinstance(value, str) else value


class QimenWarehouse:
    def __init__(self, ctx: Any, client: Any) -> None:
        self.ctx = ctx
        self.client = client
        self.section = ctx.tenant.qimen

    def _now_text(self) -> str:
        return timestamp_text(self.ctx.now() if callable(getattr(self.ctx, "now", None)) else datetime.now(timezone.utc))

    def _lines(self, rows: Sequence[Any], *, names: bool = False) -> list[qm.CreateLine]:
        return [qm.CreateLine(order_line_no=str(getattr(row, "line_no", None) or n), owner_code=self.section.owner_code,
                              item_code=row.sku_id, item_name=getattr(row, "name", None) if names else None,
                              plan_qty=int(row.qty),
                              actual_price=_money(getattr(row, "price", None)) if names else None)
                for n, row in enumerate(rows, 1)]

    def _store(self, store_code: str) -> qm.Contact:
        store = next((s for s in self.ctx.tenant.stores if s.code == store_code), None)
        if store is None:
            raise PermanentError(f"store {store_code} is not one of tenant {self.ctx.ent_id}'s stores")
        return qm.Contact(name=store.name, detail_address=f"{store.name} ({store.code})")

    def _created(self, code: str, kind: str, plan: dict[str, int], order_type: str, answer: dict[str, Any],
                 id_field: str) -> dict[str, Any]:
        wms_id = str(answer.get(id_field) or "") or None
        remember_document(self.ctx, code, kind=kind, plan=plan, order_type=order_type, store_key=code, wms_id=wms_id)
        return {"document": code, "wms_id": wms_id}

    # --- Q1: store / micro-mall orders ---------------------------------------------------------
    def submit_order(self, order: Any) -> dict[str, Any]:
        receiver = order.receiver
        cod = getattr(order, "cod", None)
        head = qm.DeliveryOrderHead(
            delivery_order_code=order.order_no, order_type="JYCK", warehouse_code=self.section.warehouse_code,
            order_flag="COD" if cod is not None else None, source_platform_code="POS", create_time=self._now_text(),
            pay_time=timestamp_text(order.paid_at), total_amount=_money(order.pay_amount),
            freight=_money(order.freight), ar_amount=_money(getattr(cod, "amount", None)) if cod is not None else None,
            receiver_info=qm.Contact(name=receiver.name, mobile=receiver.mobile, province=receiver.province,
                                     city=receiver.city, area=receiver.district, detail_address=receiver.address,
                                     zip_code=getattr(receiver, "zip", None)))
        document = qm.DeliveryOrderCreate(delivery_order=head, order_lines=self._lines(order.items, names=True))
        answer = self.client.call("deliveryorder.create", document)
        return self._created(order.order_no, "delivery", _plan((i.sku_id, i.qty) for i in order.items), "JYCK",
                             answer, "deliveryOrderId")

    def cancel_order(self, order_no: str, reason: str, *, order_type: str = "JYCK") -> dict[str, Any]:
        request = qm.OrderCancel(warehouse_code=self.section.warehouse_code, owner_code=self.section.owner_code,
                                 order_code=order_no, order_type=order_type, cancel_reason=reason)
        try:
            self.client.call("order.cancel", request)
        except QimenPermanentError as refused:
            raise_exception(self.ctx, order_no, "cancel_refused", message=f"cancel:{refused.code or '-'}",
                            detail={"store_key": order_no, "wms_message": refused.qimen_message, "reason_given": reason})
            raise CancelRefused(f"the WMS refused to cancel {order_no}: {refused.qimen_message or refused.message}") from None
        self.ctx.timeline.record(order_no, self.ctx.ent_id, "qimen.cancelled", {"reason": reason})
        return {"document": order_no, "cancelled": True}

    # --- Q2: returns ---------------------------------------------------------------------------------
    def submit_return(self, ret: Any) -> dict[str, Any]:
        head = qm.ReturnOrderHead(return_order_code=ret.return_no, warehouse_code=self.section.warehouse_code,
                                  order_type="THRK", pre_delivery_order_code=ret.order_no,
                                  return_reason=getattr(ret, "type", None), sender_info=None)
        document = qm.ReturnOrderCreate(return_order=head, order_lines=self._lines(ret.items))
        answer = self.client.call("returnorder.create", document)
        return self._created(ret.return_no, "return", _plan((i.sku_id, i.qty) for i in ret.items), "THRK",
                             answer, "returnOrderId")

    # --- Q3 / Q4: 配货 and 退仓 -------------------------------------------------------------------
    def send_to_store(self, transfer: Any) -> dict[str, Any]:
        order_type = self.section.transfer_order_type
        head = qm.StockoutHead(total_order_lines=len(transfer.items), delivery_order_code=transfer.doc_no,
                               order_type=order_type, warehouse_code=self.section.warehouse_code,
                               create_time=self._now_text(), receiver_info=self._store(transfer.store_code),
                               remark=getattr(transfer, "remark", None) or None)
        document = qm.StockoutCreate(delivery_order=head, order_lines=self._lines(transfer.items))
        answer = self.client.call("stockout.create", document)
        return self._created(transfer.doc_no, "stockout", _plan((i.sku_id, i.qty) for i in transfer.items),
                             order_type, answer, "deliveryOrderId")

    def take_back(self, warehouse_return: Any) -> dict[str, Any]:
        order_type = self.section.warehouse_return_order_type
        head = qm.EntryOrderHead(total_order_lines=len(warehouse_return.items), entry_order_code=warehouse_return.doc_no,
                                 owner_code=self.section.owner_code, warehouse_code=self.section.warehouse_code,
                                 order_create_time=self._now_text(), order_type=order_type,
                                 sender_info=self._store(warehouse_return.store_code),
                                 remark=getattr(warehouse_return, "remark", None) or None)
        document = qm.EntryOrderCreate(entry_order=head, order_lines=self._lines(warehouse_return.items))
        answer = self.client.call("entryorder.create", document)
        return self._created(warehouse_return.doc_no, "entry",
                             _plan((i.sku_id, i.qty) for i in warehouse_return.items), order_type, answer, "entryOrderId")

    # --- Q5: stock --------------------------------------------------------------------------------
    def read_stock(self, sku_ids: Sequence[str]) -> dict[str, int]:
        """SKU id -> sellable units (正品, unfrozen) the WMS holds; SKUs it does not name are 0."""
        levels: dict[str, int] = {}
        skus = list(dict.fromkeys(sku_ids))
        for start in range(0, len(skus), STOCK_BATCH):
            batch = skus[start:start + STOCK_BATCH]
            answer = self.client.call("inventory.query", qm.InventoryQuery(criteria_list=[
                qm.Criteria(warehouse_code=self.section.warehouse_code, owner_code=self.section.owner_code,
                            item_code=sku) for sku in batch]))
            found = stock_levels(answer, self.section.warehouse_code)
            levels.update({sku: found.get(sku, 0) for sku in batch})
        return levels

    # --- Q6: products -------------------------------------------------------------------------------
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
            remember_items(self.ctx, [item.item_code for item in items])
            sent += len(items)
        return sent
