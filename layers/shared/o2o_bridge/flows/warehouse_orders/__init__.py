"""S2 / Q1: store and micro-mall orders the warehouse fulfils (线下订单线上发货, 缺货订单仓发),
over the Warehouse port (ports/warehouse.py): JST's 自有商城 shop today, a 奇门 WMS the same way.

The store side asks, the warehouse answers, a schedule catches what the answers missed:

- ``order.warehouse_requested`` → ``warehouse.submit_order``; store order no. ↔ the
  warehouse's order id linked.
- ``order.cancelled`` (the store cancelled) → ``warehouse.cancel_order``.
- ``return.requested`` → ``warehouse.submit_return``.
- What the warehouse did enters ONE function, ``take_confirmations``: a parcel shipped (S2d)
  → P3, once per parcel (order no., tracking no., lines), partial shipments adding up in the
  order's ledger so nothing ships twice; the warehouse cancelled (S2c) → P4; a return received
  or un-received (S2r) → P5.
- Confirmations come from ``recheck`` (a push named documents: they are re-read from the
  warehouse's own API, so a forged or replayed push can cause a re-read, never an effect),
  from ``recover_missed_pushes`` (S2x, every 15 min, overlapping windows: parcels, cancels,
  receipts), or from a warehouse that signs its confirmations itself. The same steps and
  effect keys serve all, so a parcel or a cancel seen twice is one effect.

A callback is acknowledged when its step is done, queued for retry (transient failure) or
dead-lettered with its reason (the store refused; an operator fixes and replays it).

One module per step: ``requests`` (the store asks), ``confirmations`` (the warehouse did),
``missed`` (S2x), and ``ledger`` (each order's and return's state, with named transitions).
"""

from ...ports.warehouse import WarehouseRefused
from .confirmations import (cancel_store_order, recheck, recheck_cancels, recheck_receipts, recheck_shipments,
                            record_return_receipt, record_shipment, settle, shipment_key, take_confirmations)
from .ledger import ORDER_KIND, RECORD_TTL_DAYS, RETURN_KIND, OrderLedger, ReturnLedger
from .missed import CANCELLED_CURSOR, FIRST_LOOKBACK, LOGISTICS_CURSOR, OVERLAP, RECEIVED_CURSOR, recover_missed_pushes
from .requests import (STORE_ORDER, STORE_RETURN, cancel_in_warehouse, on_order_cancelled,
                       on_order_warehouse_requested, on_return_requested, upload_aftersale, upload_order,
                       warehouse_order, warehouse_return)

__all__ = [
    "CANCELLED_CURSOR", "FIRST_LOOKBACK", "LOGISTICS_CURSOR", "ORDER_KIND", "OVERLAP", "RECEIVED_CURSOR", "RECORD_TTL_DAYS", "RETURN_KIND",
    "STORE_ORDER", "STORE_RETURN", "OrderLedger", "ReturnLedger", "WarehouseRefused", "cancel_in_warehouse",
    "cancel_store_order", "on_order_cancelled", "on_order_warehouse_requested", "on_return_requested", "recheck",
    "recheck_cancels", "recheck_receipts", "recheck_shipments", "record_return_receipt", "record_shipment",
    "recover_missed_pushes", "settle", "shipment_key", "take_confirmations", "upload_aftersale", "upload_order",
    "warehouse_order", "warehouse_return",
]
