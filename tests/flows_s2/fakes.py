"""In-memory JST and 店+ for the S2 flows, with injected transient faults.

A fault happens before the call reaches the system (nothing done) or after it (done, but the
answer is lost), as real networks do; ``rate`` 0.3 = 30 % of calls fail."""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from o2o_bridge.connectors.jushuitan import models as jst
from o2o_bridge.connectors.jushuitan.errors import JstPermanentError, JstTransientError
from o2o_bridge.connectors.store import models as pos
from o2o_bridge.connectors.store.errors import PosIdempotencyConflict, PosNotFound, PosTransientError


@dataclass
class Faults:
    rate: float = 0.0
    seed: int = 7
    injected: int = 0
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def maybe(self, error: type[Exception], where: str) -> bool:
        """Raise before the effect, or return True: raise after it (the answer is lost)."""
        if self.rate <= 0 or self._random.random() >= self.rate:
            return False
        self.injected += 1
        if self._random.random() < 0.5:
            raise error(f"injected fault before {where}")
        return True


def _order_row(so_id: str, order: dict[str, Any], shop_id: int) -> jst.Order:
    """An order as JST's order query lists it (with the reason of a cancel, when there is one)."""
    return jst.Order(o_id=order["o_id"], so_id=so_id, shop_id=shop_id, status=order["status"],
                     **({"cancel_remark": order["cancel_remark"]} if order.get("cancel_remark") else {}))


class FakeJst:
    """The JstApi calls S2 makes, over dicts; ``ship``/``receive`` stand in for the warehouse."""

    def __init__(self, faults: Faults | None = None, shop_id: int = 133242) -> None:
        self.faults = faults or Faults()
        self.shop_id = shop_id
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.aftersales: dict[str, dict[str, Any]] = {}
        self.parcels: list[jst.LogisticOrder] = []
        self.received: list[jst.AfterSaleReceived] = []
        self.calls: list[str] = []
        self.unknown_skus: set[str] = set()
        self.existing_answer = "update"  # or "refuse": issuccess false, "订单已存在"
        self._ids = itertools.count(880001)
        self._ts = itertools.count(1)

    def _fault(self, where: str) -> bool:
        return self.faults.maybe(JstTransientError, where)

    # --- S2 uploads ------------------------------------------------------------------------
    def upload_orders(self, orders):
        lost = self._fault("orders/upload")
        results = []
        with self.lock:
            self.calls.append("orders/upload")
            for order in orders:
                bad = [i.sku_id for i in order.items if i.sku_id in self.unknown_skus]
                if bad:
                    results.append(jst.UploadResult(issuccess=False, so_id=order.so_id, msg=f"商品编码{bad[0]}不存在"))
                    continue
                existing = self.orders.get(order.so_id)
                if existing and self.existing_answer == "refuse":
                    results.append(jst.UploadResult(issuccess=False, so_id=order.so_id, msg="订单已存在"))
                    continue
                o_id = existing["o_id"] if existing else next(self._ids)
                self.orders[order.so_id] = {"o_id": o_id, "upload": order, "status": "WaitConfirm",
                                            "uploads": (existing or {}).get("uploads", 0) + 1}
                results.append(jst.UploadResult(issuccess=True, so_id=order.so_id, o_id=o_id, msg="执行成功"))
        if lost:
            raise JstTransientError("injected fault after orders/upload")
        return results

    def query_orders(self, *, shop_id, so_ids):
        self._fault("orders/single/query")
        with self.lock:
            return [_order_row(so_id, o, shop_id) for so_id, o in self.orders.items() if so_id in so_ids]

    def cancel_orders(self, o_ids, *, cancel_type, remark=None):
        lost = self._fault("orderbyoid/cancel")
        with self.lock:
            self.calls.append("orderbyoid/cancel")
            for o_id in o_ids:
                order = next(o for o in self.orders.values() if o["o_id"] == o_id)
                if order["status"] == "Sent":
                    raise JstPermanentError("JST code 160", code=160, jst_msg=f"订单{o_id}已发货，不能取消")
                order.update(status="Cancelled", cancel_type=cancel_type, remark=remark,
                             modified_at=datetime.now(timezone.utc))
        if lost:
            raise JstTransientError("injected fault after orderbyoid/cancel")
        return [{"code": 0}]

    def upload_aftersales(self, rows):
        lost = self._fault("aftersale/upload")
        results = []
        with self.lock:
            self.calls.append("aftersale/upload")
            for row in rows:
                existing = self.aftersales.get(row.outer_as_id)
                as_id = existing["as_id"] if existing else next(self._ids) + 100000
                self.aftersales[row.outer_as_id] = {"as_id": as_id, "upload": row,
                                                    "uploads": (existing or {}).get("uploads", 0) + 1}
                results.append(jst.UploadResult(issuccess=True, outer_as_id=row.outer_as_id, so_id=row.so_id,
                                                as_id=as_id, msg="执行成功"))
        if lost:
            raise JstTransientError("injected fault after aftersale/upload")
        return results

    # --- S2x queries -------------------------------------------------------------------------
    def query_logistics(self, *, shop_id, begin, end):
        self._fault("logistic/query")
        with self.lock:
            self.calls.append("logistic/query")
            return [p for p in self.parcels if begin <= p.model_extra["sent_at"] <= end]

    def query_orders_changed(self, *, shop_id, begin, end, status):
        self._fault("orders/single/query")
        with self.lock:
            self.calls.append("orders/single/query")
            return [_order_row(so_id, o, shop_id) for so_id, o in self.orders.items()
                    if o["status"] == status and o.get("modified_at") and begin <= o["modified_at"] <= end]

    def query_aftersale_received(self, *, begin, end, shop_id=None):
        self._fault("aftersale/received/query")
        with self.lock:
            self.calls.append("aftersale/received/query")
            return [r for r in self.received if begin <= r.model_extra["at"] <= end]

    # --- re-reads of what a push names ------------------------------------------------------------
    def logistics_of(self, *, shop_id, so_ids):
        self._fault("logistic/query")
        with self.lock:
            self.calls.append("logistic/query")
            return [p for p in self.parcels
                    if p.so_id in so_ids or any((i.model_extra or {}).get("so_id") in so_ids for i in p.items)]

    def aftersale_received_of(self, *, so_ids=(), as_ids=(), shop_id=None):
        self._fault("aftersale/received/query")
        with self.lock:
            self.calls.append("aftersale/received/query")
            return [r for r in self.received if r.so_id in so_ids or r.as_id in as_ids]

    # --- what the warehouse does -----------------------------------------------------------------
    def cancel_in_jst(self, so_id: str, remark: str = "", status: str = "Cancelled") -> dict:
        """JST (the merchant, or the platform) cancels the order (it shows in the order query's
        window of changes with ``status``): returns the 取消订单 push body."""
        order = self.orders.setdefault(so_id, {"o_id": next(self._ids), "status": "WaitConfirm"})
        order.update(status=status, cancel_remark=remark, modified_at=datetime.now(timezone.utc))
        return {"so_id": so_id, "remark": remark}

    def ship_merged(self, so_id: str, l_id: str, lines: list[tuple[str, str, str, int]], at: datetime,
                    lc_id: str = "SF") -> dict:
        """One parcel of a merged order: each line (its store order, line no., sku, qty)."""
        items = [{"sku_id": sku, "qty": qty, "outer_oi_id": line, "so_id": so, "raw_so_id": so}
                 for so, line, sku, qty in lines]
        self.parcels.append(jst.LogisticOrder(o_id=self.orders.get(so_id, {}).get("o_id", 1), so_id=so_id,
                                              shop_id=self.shop_id, lc_id=lc_id, l_id=l_id,
                                              send_date=at.strftime("%Y-%m-%d %H:%M:%S"), ts=next(self._ts),
                                              items=items, sent_at=at))
        return {"so_id": so_id, "l_id": l_id, "lc_id": lc_id, "send_date": at.strftime("%Y-%m-%d %H:%M:%S"),
                "items": items}

    def ship(self, so_id: str, l_id: str, lines: list[tuple[str, str, int]], at: datetime, lc_id: str = "SF") -> dict:
        """A parcel leaves: it shows in /open/logistic/query; returns the 物流同步 push body."""
        order = self.orders.setdefault(so_id, {"o_id": next(self._ids), "status": "WaitConfirm"})
        items = [{"sku_id": sku, "qty": qty, "outer_oi_id": line, "so_id": so_id} for line, sku, qty in lines]
        self.parcels.append(jst.LogisticOrder(o_id=order["o_id"], so_id=so_id, shop_id=self.shop_id, lc_id=lc_id,
                                              l_id=l_id, send_date=at.strftime("%Y-%m-%d %H:%M:%S"),
                                              ts=next(self._ts), items=items, sent_at=at))
        return {"so_id": so_id, "o_id": order["o_id"], "l_id": l_id, "lc_id": lc_id, "logistics_company": "顺丰速运",
                "send_date": at.strftime("%Y-%m-%d %H:%M:%S"), "items": items}

    def receive(self, outer_as_id: str, at: datetime, status: str = "Confirmed", *, so_id: str | None = None,
                as_id: int | None = None, items: list[dict] | None = None) -> dict:
        """The warehouse receives (or un-receives) a return; returns the 售后收货 push body. A
        return the bridge never uploaded needs its order, JST's as_id and lines."""
        doc = self.aftersales.get(outer_as_id)
        so_id = so_id or doc["upload"].so_id
        as_id = as_id or doc["as_id"]
        items = items if items is not None else [{"sku_id": i.sku_id, "qty": i.qty} for i in doc["upload"].items]
        self.received.append(jst.AfterSaleReceived(io_id=next(self._ids), as_id=as_id, outer_as_id=outer_as_id,
                                                   so_id=so_id, status=status,
                                                   io_date=at.strftime("%Y-%m-%d %H:%M:%S"), ts=next(self._ts),
                                                   items=items, at=at))
        return {"outer_as_id": outer_as_id, "so_id": so_id, "as_id": as_id,
                "action_name": "确认收货" if status == "Confirmed" else "取消收货", "items": items}


class FakeStore:
    """P3/P4/P5 with the contract's Idempotency-Key rule: a repeated key is answered, not applied."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.lock = threading.Lock()
        self.effects: list[tuple] = []
        self.answers: dict[str, Any] = {}
        self.bodies: dict[str, Any] = {}
        self.unknown_orders: set[str] = set()

    def _command(self, key: str, effect: tuple, answer, body: Any = None) -> Any:
        lost = self.faults.maybe(PosTransientError, key)
        with self.lock:
            if key not in self.answers:
                self.effects.append(effect)
                self.answers[key] = answer()
                self.bodies[key] = body
            elif body is not None and self.bodies.get(key) not in (None, body):
                raise PosIdempotencyConflict(f"店+ 422 42210: Idempotency-Key {key} was used with another body",
                                             status=422, code=42210)
            result = self.answers[key]
        if lost:
            raise PosTransientError(f"injected fault after {key}")
        return result

    def ship_order(self, order_no, shipment: pos.Shipment, *, business_key=None):
        if order_no in self.unknown_orders:
            raise PosNotFound(f"店+ 404: order {order_no} not found", status=404)
        items = tuple(sorted((i.sku_id, i.qty) for i in shipment.items))
        return self._command(f"shipment:{business_key}", ("ship", order_no, shipment.tracking_no, shipment.carrier_code, items),
                             lambda: pos.ShipmentCreated(order_no=order_no, status="shipped",
                                                         shipment_id=f"SH{len(self.effects)}"), shipment.body())

    def cancel_order(self, order_no, reason, *, business_key=None):
        if order_no in self.unknown_orders:
            raise PosNotFound(f"店+ 404: order {order_no} not found", status=404)
        return self._command(f"order-cancel:{business_key}", ("cancel", order_no, reason),
                             lambda: pos.OrderCancelled(order_no=order_no, status="cancelled"))

    def receive_return(self, return_no, receipt: pos.ReturnReceipt, *, business_key=None):
        items = tuple(sorted((i.sku_id, i.qty) for i in receipt.items))
        status = "received" if receipt.action == "confirm" else "requested"
        return self._command(f"return-receipt:{business_key}", ("receipt", return_no, receipt.action, items),
                             lambda: pos.ReturnReceiptDone(return_no=return_no, status=status))

    def of(self, kind: str) -> list[tuple]:
        return [e for e in self.effects if e[0] == kind]


def qty(value: Any) -> Decimal:
    return Decimal(str(value))
