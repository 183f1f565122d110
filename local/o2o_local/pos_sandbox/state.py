"""The 店+ sandbox's in-memory store system: merchants and their documents, stock with
versions, and the idempotency records. Thread-safe (one lock); every P1–P14 operation is
a method returning ``(http_status, answer)`` with the {code, msg, data} envelope.

Idempotency: a successful (2xx) answer is recorded under (merchant, Idempotency-Key)
with the request's method, path and canonical body. A repeat gets the recorded answer
and changes nothing; the same key with a different method, path or body gets HTTP 422
code 42210 (as the IETF idempotency-key draft advises). A refused call (4xx) had no effect
and is not recorded, so a repeat is judged again.
"""

from __future__ import annotations

import base64
import bisect
import copy
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from . import openapi

Answer = tuple[int, dict[str, Any]]

# Error codes of the sandbox (documented in docs/openapi/pos-api.yaml and docs/pos-sandbox.md).
BAD_REQUEST, MISSING_ENT_ID, MISSING_KEY = 40000, 40001, 40002
UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT = 40100, 40300, 40400, 40900
INVALID, KEY_REUSED = 42200, 42210
TOO_MANY, SERVER_ERROR, UNAVAILABLE = 42900, 50000, 50300


def ok(data: Any) -> Answer:
    return 200, {"code": 0, "msg": "ok", "data": data}


def error(status: int, code: int, msg: str) -> Answer:
    return status, {"code": code, "msg": msg, "data": None}


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat()


@dataclass
class StockCell:
    qty: int
    version: int
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"qty": self.qty, "version": self.version, "updated_at": iso(self.updated_at)}


class StockCells(dict):
    """Stock cells that count their changes, so P8 pages a cached sorted index (1 M rows for
    bench/nightly_stock.py) instead of sorting every cell for every page."""

    changes = 0
    key_changes = 0  # cells added or removed: the P8 order=sku index (keys only) is stale

    def __setitem__(self, key, value) -> None:
        self.changes += 1
        if key not in self:
            self.key_changes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        self.changes += 1
        self.key_changes += 1
        super().__delitem__(key)

    def pop(self, *args):
        self.changes += 1
        self.key_changes += 1
        return super().pop(*args)

    def clear(self) -> None:
        self.changes += 1
        self.key_changes += 1
        super().clear()

    def update(self, *args, **kwargs) -> None:
        self.changes += 1
        self.key_changes += 1
        super().update(*args, **kwargs)


@dataclass
class Merchant:
    ent_id: str
    api_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    bridge_url: str | None = None
    stores: dict[str, dict[str, Any]] = field(default_factory=dict)
    warehouses: set[str] = field(default_factory=set)  # empty = any warehouse code is accepted
    fulfilments: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    shipments: list[dict[str, Any]] = field(default_factory=list)
    returns: dict[str, dict[str, Any]] = field(default_factory=dict)
    warehouse_stock: dict[tuple[str, str], StockCell] = field(default_factory=dict)
    store_stock: dict[tuple[str, str], StockCell] = field(default_factory=StockCells)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    warehouse_returns: dict[str, dict[str, Any]] = field(default_factory=dict)
    inbound_receipts: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<store>/<doc_no>" (P12)
    outbound_notes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<store>/<doc_no>" (P13)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # member_id (P14, member.updated)
    sales: dict[str, dict[str, Any]] = field(default_factory=dict)  # sale_no (sale.completed / refunded)
    stock_counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # count_no (stock.counted)
    store_documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # doc_no (store_document.submitted)
    store_transfers: dict[str, dict[str, Any]] = field(default_factory=dict)  # doc_no (store_transfer.submitted)
    payments: list[dict[str, Any]] = field(default_factory=list)  # payment.collected
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        return {
            "ent_id": self.ent_id,
            "bridge_url": self.bridge_url,
            "stores": copy.deepcopy(self.stores),
            "warehouses": sorted(self.warehouses),
            "fulfilments": copy.deepcopy(self.fulfilments),
            "orders": copy.deepcopy(self.orders),
            "shipments": copy.deepcopy(self.shipments),
            "returns": copy.deepcopy(self.returns),
            "warehouse_stock": {f"{w}/{s}": c.to_dict() for (w, s), c in sorted(self.warehouse_stock.items())},
            "store_stock": {f"{st}/{s}": c.to_dict() for (st, s), c in sorted(self.store_stock.items())},
            "products": copy.deepcopy(self.products),
            "transfers": copy.deepcopy(self.transfers),
            "warehouse_returns": copy.deepcopy(self.warehouse_returns),
            "inbound_receipts": copy.deepcopy(self.inbound_receipts),
            "outbound_notes": copy.deepcopy(self.outbound_notes),
            "members": copy.deepcopy(self.members),
            "sales": copy.deepcopy(self.sales),
            "stock_counts": copy.deepcopy(self.stock_counts),
            "store_documents": copy.deepcopy(self.store_documents),
            "store_transfers": copy.deepcopy(self.store_transfers),
            "payments": copy.deepcopy(self.payments),
            "idempotency_keys": sorted(self.idempotency),
            "events": copy.deepcopy(self.events),
        }


def _canonical(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class PosState:
    def __init__(self, clock: Callable[[], datetime] = now) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.merchants: dict[str, Merchant] = {}
        self.requests: list[dict[str, Any]] = []  # every API call: method, path, key, status, code
        self._ids = itertools.count(1)

    # --- admin --------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.merchants.clear()
            self.requests.clear()
            self._ids = itertools.count(1)

    def seed(self, spec: dict[str, Any]) -> list[str]:
        """Add or extend merchants. ``spec``: ``{"merchants": [{ent_id, api_key, webhook_secret,
        bridge_url?, stores: [{code, name}], warehouses: [codes], store_stock: [{store_code,
        sku_id, qty, version?}], warehouse_stock: [...], orders: [{order_no, ...}], returns,
        transfers, warehouse_returns, products, members: [{member_id, ...}]}]}`` (a single merchant
        object is accepted too)."""
        merchants = spec.get("merchants", [spec] if "ent_id" in spec else [])
        with self.lock:
            seeded = []
            for item in merchants:
                ent_id = str(item["ent_id"])
                merchant = self.merchants.get(ent_id)
                if merchant is None:
                    merchant = self.merchants[ent_id] = Merchant(ent_id, item["api_key"], item["webhook_secret"])
                else:
                    merchant.api_key = item.get("api_key", merchant.api_key)
                    merchant.webhook_secret = item.get("webhook_secret", merchant.webhook_secret)
                if "bridge_url" in item:
                    merchant.bridge_url = item["bridge_url"]
                for store in item.get("stores", []):
                    store = {"code": store} if isinstance(store, str) else dict(store)
                    merchant.stores[str(store["code"])] = store
                merchant.warehouses.update(str(code) for code in item.get("warehouses", []))
                for kind in ("store_stock", "warehouse_stock"):
                    cells = getattr(merchant, kind)
                    for row in item.get(kind, []):
                        place = str(row["store_code"] if kind == "store_stock" else row["warehouse_code"])
                        cell = cells.get((place, str(row["sku_id"])))
                        version = int(row.get("version", (cell.version + 1) if cell else 1))
                        cells[(place, str(row["sku_id"]))] = StockCell(int(row["qty"]), version, self.clock())
                for kind, key, status in (("orders", "order_no", "open"), ("returns", "return_no", "requested"),
                                          ("transfers", "doc_no", "submitted"),
                                          ("warehouse_returns", "doc_no", "submitted"), ("products", "sku_code", None),
                                          ("members", "member_id", None)):
                    for doc in item.get(kind, []):
                        record = {"status": status, **doc} if status else dict(doc)
                        getattr(merchant, kind)[str(doc[key])] = record
                seeded.append(ent_id)
            return seeded

    def snapshot(self, ent_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            merchants = {e: m.snapshot() for e, m in self.merchants.items() if ent_id in (None, e)}
            return {"merchants": merchants, "requests": copy.deepcopy(self.requests)}

    def merchant(self, ent_id: str) -> Merchant:
        with self.lock:
            try:
                return self.merchants[str(ent_id)]
            except KeyError:
                raise KeyError(f"no merchant {ent_id!r} seeded in the 店+ sandbox") from None

    def bulk_store_stock(self, ent_id: str, rows: Any, version: int | None = None) -> int:
        """Many store stock cells at once, in process (bench/nightly_stock.py): ``rows`` of
        ``(store_code, sku_id, qty)``; each version is bumped (or set to ``version``)."""
        with self.lock:
            cells = self.merchant(ent_id).store_stock
            at, count = self.clock(), 0
            for store_code, sku_id, qty in rows:
                old = cells.get((store_code, sku_id))
                cells[(store_code, sku_id)] = StockCell(int(qty), version or ((old.version + 1) if old else 1), at)
                count += 1
            return count

    def set_store_stock(self, ent_id: str, store_code: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A store's stock changed (a sale, a count): bump each version; returns the new levels."""
        with self.lock:
            merchant = self.merchant(ent_id)
            levels = []
            for item in items:
                cell_key = (store_code, str(item["sku_id"]))
                old = merchant.store_stock.get(cell_key)
                version = int(item.get("version", (old.version + 1) if old else 1))
                merchant.store_stock[cell_key] = StockCell(int(item["qty"]), version, self.clock())
                levels.append({"sku_id": str(item["sku_id"]), "qty": int(item["qty"]), "version": version})
            return levels

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    # --- authentication and idempotency -----------------------------------------------
    def authenticate(self, authorization: str | None, ent_id: str | None) -> Merchant | Answer:
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            return error(401, UNAUTHORIZED, "missing bearer api key")
        key = authorization[7:].strip()
        with self.lock:
            owner = next((m for m in self.merchants.values() if m.api_key == key), None)
        if owner is None:
            return error(401, UNAUTHORIZED, "invalid api key")
        if not ent_id:
            return error(400, MISSING_ENT_ID, "missing X-Ent-Id header")
        if ent_id != owner.ent_id:
            return error(403, FORBIDDEN, f"the api key does not belong to merchant {ent_id}")
        return owner

    def idempotent(self, merchant: Merchant, key: str, method: str, path: str, body: Any,
                   serve: Callable[[], Answer]) -> Answer:
        fingerprint = {"method": method, "path": path, "body": _canonical(body)}
        with self.lock:  # one lock: a concurrent duplicate waits and then gets the recorded answer
            record = merchant.idempotency.get(key)
            if record is not None:
                if record["fingerprint"] != fingerprint:
                    return error(422, KEY_REUSED, f"Idempotency-Key {key} was used with a different request")
                return record["status"], copy.deepcopy(record["answer"])
            status, answer = serve()
            if 200 <= status < 300:
                merchant.idempotency[key] = {"fingerprint": fingerprint, "status": status,
                                             "answer": copy.deepcopy(answer)}
            return status, answer

    def log(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    # --- P1 / P2 --------------------------------------------------------------------------
    def create_fulfilment(self, m: Merchant, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("FulfilmentOrderCreate", body):
            return invalid
        store_code = str(body["store_code"])
        if m.stores and store_code not in m.stores:
            return error(404, NOT_FOUND, f"store {store_code} not found")
        external_id = str(body["external_id"])
        # FO<outbound>-<n>, n counting from 1: readable, and the same on every fresh sandbox whatever
        # ran before (the sample events in events/ name FO700001-1). An outbound's fulfilments are
        # found by their ids, not by looking through every fulfilment of the merchant.
        earlier = 0
        while (existing := m.fulfilments.get(f"FO{external_id}-{earlier + 1}")) is not None:
            earlier += 1
            # one live fulfilment per outbound and store
            if existing["store_code"] == store_code and existing["status"] not in ("cancelled", "rejected"):
                return ok({"fulfilment_id": existing["fulfilment_id"], "status": existing["status"]})
        fulfilment_id = f"FO{external_id}-{earlier + 1}"
        m.fulfilments[fulfilment_id] = {
            **copy.deepcopy(body), "fulfilment_id": fulfilment_id, "external_id": external_id,
            "store_code": store_code, "status": "created", "created_at": iso(self.clock()),
        }
        return ok({"fulfilment_id": fulfilment_id, "status": "created"})

    def cancel_fulfilment(self, m: Merchant, fulfilment_id: str, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("CancelRequest", body):
            return invalid
        fulfilment = m.fulfilments.get(fulfilment_id)
        if fulfilment is None:
            return error(404, NOT_FOUND, f"fulfilment {fulfilment_id} not found")
        if fulfilment["status"] in ("shipped", "picked_up"):
            return error(409, CONFLICT, f"fulfilment {fulfilment_id} is {fulfilment['status']}; it cannot be cancelled")
        if fulfilment["status"] != "cancelled":
            fulfilment.update(status="cancelled", cancel_reason=body["reason"], cancelled_at=iso(self.clock()))
        return ok({"fulfilment_id": fulfilment_id, "status": "cancelled"})

    # --- P3 / P4 / P5 ---------------------------------------------------------------------
    def ship_order(self, m: Merchant, order_no: str, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("ShipmentCreate", body):
            return invalid
        order = m.orders.get(order_no)
        if order is None:
            return error(404, NOT_FOUND, f"order {order_no} not found")
        if order["status"] == "cancelled":
            return error(409, CONFLICT, f"order {order_no} is cancelled; it cannot be shipped")
        tracking_no = str(body["tracking_no"])
        shipment = next((s for s in m.shipments if s["order_no"] == order_no and s["tracking_no"] == tracking_no), None)
        if shipment is None:
            shipment = {**copy.deepcopy(body), "tracking_no": tracking_no, "order_no": order_no,
                        "shipment_id": self.next_id("SH")}
            m.shipments.append(shipment)
        # An order whose lines are known ships in parts until every quantity has left.
        ordered: dict[str, int] = {}
        for item in order.get("items") or []:
            ordered[str(item["sku_id"])] = ordered.get(str(item["sku_id"]), 0) + int(item["qty"])
        for sent in (s for s in m.shipments if s["order_no"] == order_no):
            for item in sent["items"]:
                ordered[str(item["sku_id"])] = ordered.get(str(item["sku_id"]), 0) - int(item["qty"])
        order["status"] = "partially_shipped" if any(left > 0 for left in ordered.values()) else "shipped"
        return ok({"order_no": order_no, "shipment_id": shipment["shipment_id"], "status": order["status"]})

    def cancel_order(self, m: Merchant, order_no: str, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("CancelRequest", body):
            return invalid
        order = m.orders.get(order_no)
        if order is None:
            return error(404, NOT_FOUND, f"order {order_no} not found")
        if order["status"] in ("shipped", "partially_shipped"):
            return error(409, CONFLICT, f"order {order_no} is {order['status'].replace('_', ' ')}; it cannot be cancelled")
        if order["status"] != "cancelled":
            order.update(status="cancelled", cancel_reason=body["reason"])
        return ok({"order_no": order_no, "status": "cancelled"})

    def receive_return(self, m: Merchant, return_no: str, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("ReturnReceipt", body):
            return invalid
        ret = m.returns.get(return_no)
        if ret is None:
            return error(404, NOT_FOUND, f"return {return_no} not found")
        status = "received" if body["action"] == "confirm" else "requested"
        ret.setdefault("receipts", []).append(copy.deepcopy(body))
        ret["status"] = status
        return ok({"return_no": return_no, "status": status})

    # --- P6 / P7 / P8 ---------------------------------------------------------------------
    def set_warehouse_stock(self, m: Merchant, warehouse_code: str, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("WarehouseStockSet", body):
            return invalid
        # A store is a warehouse too (门店仓): JST as stock master sets store stock this way (S4e).
        cells = m.store_stock if warehouse_code in m.stores else m.warehouse_stock
        if m.warehouses and warehouse_code not in m.warehouses and warehouse_code not in m.stores:
            return error(404, NOT_FOUND, f"warehouse {warehouse_code} not found")
        results, applied = [], 0
        for item in body["items"]:
            cell_key = (warehouse_code, str(item["sku_id"]))
            cell = cells.get(cell_key)
            if cell is None or item["version"] > cell.version:  # the higher version wins
                cell = cells[cell_key] = StockCell(item["qty"], item["version"], self.clock())
                status = "applied"
                applied += 1
            else:
                status = "stale"
            results.append({"sku_id": cell_key[1], "status": status, "qty": cell.qty, "version": cell.version})
        return ok({"warehouse_code": warehouse_code, "applied": applied, "stale": len(results) - applied,
                   "results": results})

    def store_stock(self, m: Merchant, store_code: str, sku_ids: str | None) -> Answer:
        if m.stores and store_code not in m.stores:
            return error(404, NOT_FOUND, f"store {store_code} not found")
        wanted = [s for s in (sku_ids or "").split(",") if s]
        if not wanted:
            return error(400, BAD_REQUEST, "sku_ids: required, comma-separated")
        items = []
        for sku_id in wanted:
            cell = m.store_stock.get((store_code, sku_id))
            items.append({"sku_id": sku_id, "qty": cell.qty if cell else 0, "version": cell.version if cell else 0})
        return ok({"store_code": store_code, "items": items})

    def stock_page(self, m: Merchant, updated_since: str | None, cursor: str | None, limit: str | None,
                   order: str | None = None, sku_after: str | None = None, sku_until: str | None = None) -> Answer:
        if order not in (None, "", "updated", "sku"):
            return error(422, INVALID, "order: must be updated or sku")
        if sku_after and order != "sku":
            return error(422, INVALID, "sku_after: only with order=sku")
        if sku_until and order != "sku":
            return error(422, INVALID, "sku_until: only with order=sku")
        try:
            size = int(limit) if limit else 200
        except ValueError:
            return error(422, INVALID, "limit: must be an integer")
        if not 1 <= size <= 1000:
            return error(422, INVALID, "limit: must be between 1 and 1000")
        since = None
        if updated_since:
            try:
                # An unescaped "+08:00" in a hand-typed URL arrives as " 08:00".
                since = datetime.fromisoformat(updated_since.replace(" ", "+").replace("Z", "+00:00"))
            except ValueError:
                return error(422, INVALID, "updated_since: must be an ISO 8601 date-time")
            if since.tzinfo is None:
                return error(422, INVALID, "updated_since: must carry an offset")
        after = None
        if cursor:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(cursor.encode())))
            except (ValueError, TypeError):
                return error(422, INVALID, "cursor: not a cursor this API gave")
            if (order == "sku") != (after[:1] == ("sku",)):
                return error(422, INVALID, "cursor: given by a scan in another order")
        if order == "sku":
            return self._stock_page_by_sku(m, since, after[1:] if after else None, sku_after or None, size,
                                           sku_until or None)
        index = getattr(m, "_stock_index", None)
        if index is None or index[0] != getattr(m.store_stock, "changes", None) or index[3] is not m.store_stock:
            rows = sorted(((cell.updated_at.timestamp(), store, sku), cell) for (store, sku), cell in m.store_stock.items())
            index = m._stock_index = (getattr(m.store_stock, "changes", None), rows, [row[0] for row in rows],
                                      m.store_stock)
        _, rows, keys = index[:3]
        start = bisect.bisect_left(keys, (since.timestamp(),)) if since is not None else 0
        if after is not None:
            start = max(start, bisect.bisect_right(keys, after))
        page, more = rows[start:start + size], len(rows) > start + size
        stamps: dict[datetime, str] = {}  # many cells share a moment (bulk seeds): format it once
        items = [{"store_code": k[1], "sku_id": k[2], "qty": c.qty, "version": c.version,
                  "updated_at": stamps.get(c.updated_at) or stamps.setdefault(c.updated_at, iso(c.updated_at))}
                 for k, c in page]
        next_cursor = base64.urlsafe_b64encode(json.dumps(list(page[-1][0])).encode()).decode() if more else None
        return ok({"items": items, "next_cursor": next_cursor})

    @staticmethod
    def _stock_page_by_sku(m: Merchant, since: datetime | None, after: tuple | None, sku_after: str | None,
                           size: int, sku_until: str | None = None) -> Answer:
        """P8 ``order=sku``: rows by (sku_id, store_code), so a SKU's rows come together and a
        reader knows a SKU is complete once it sees the next one (the 02:10 run pushes while it reads).
        ``sku_until`` ends the scan after that SKU (a range of SKUs, read beside the others)."""
        cells = m.store_stock
        index = getattr(m, "_sku_index", None)
        if index is None or index[0] != getattr(cells, "key_changes", None) or index[3] is not cells:
            keys = list(cells)
            index = m._sku_index = (getattr(cells, "key_changes", None), sorted({k[1] for k in keys}),
                                    sorted({k[0] for k in keys}), cells)
        _, skus, stores = index[:3]
        if after is not None:
            at, first_store = bisect.bisect_left(skus, after[0]), bisect.bisect_right(stores, after[1])
            if at < len(skus) and skus[at] != after[0]:
                first_store = 0
        else:
            at, first_store = (bisect.bisect_right(skus, sku_after) if sku_after is not None else 0), 0
        since_ts = since.timestamp() if since is not None else None
        stamps: dict[datetime, str] = {}
        items: list[dict[str, Any]] = []
        last, more = None, False
        end = bisect.bisect_right(skus, sku_until) if sku_until is not None else len(skus)
        for number in range(at, end):
            sku = skus[number]
            for store in stores[first_store:] if first_store else stores:
                cell = cells.get((store, sku))
                if cell is None or (since_ts is not None and cell.updated_at.timestamp() < since_ts):
                    continue
                if len(items) == size:
                    more = True
                    break
                items.append({"store_code": store, "sku_id": sku, "qty": cell.qty, "version": cell.version,
                              "updated_at": stamps.get(cell.updated_at)
                              or stamps.setdefault(cell.updated_at, iso(cell.updated_at))})
                last = (sku, store)
            if more:
                break
            first_store = 0
        next_cursor = base64.urlsafe_b64encode(json.dumps(["sku", *last]).encode()).decode() if more else None
        return ok({"items": items, "next_cursor": next_cursor})

    # --- P9 -------------------------------------------------------------------------------
    def upsert_products(self, m: Merchant, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("ProductBatch", body):
            return invalid
        options, results = body["options"], []
        for item in body["items"]:
            sku_code = str(item["sku_code"])
            existing = m.products.get(sku_code)
            if existing is None:
                if not options["auto_create"]:
                    results.append({"sku_code": sku_code, "status": "skipped",
                                    "msg": "unknown product and auto_create is false"})
                    continue
                record = {**copy.deepcopy(item), "mount_category": options.get("mount_category")}
                m.products[sku_code] = record
                results.append({"sku_code": sku_code, "status": "created"})
                continue
            # null = not given: the store keeps its own value (e.g. its retail price when the
            # tenant does not sync sale prices).
            record = {**existing, **{k: copy.deepcopy(v) for k, v in item.items() if v is not None}}
            if options["category_once"]:
                record["category"] = existing.get("category")
            if options.get("retail_price_on_create"):  # the store's own price stays
                record["retail_price"] = existing.get("retail_price")
            if record == existing:
                results.append({"sku_code": sku_code, "status": "unchanged"})
            else:
                m.products[sku_code] = record
                results.append({"sku_code": sku_code, "status": "updated"})
        return ok({"results": results})

    # --- P10 / P11 ------------------------------------------------------------------------
    def transfer_shipped(self, m: Merchant, doc_no: str, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("WarehouseDocument", body):
            return invalid
        doc = m.transfers.get(doc_no)
        if doc is None:
            return error(404, NOT_FOUND, f"transfer {doc_no} not found")
        if doc["status"] != "shipped":
            doc.update(status="shipped", jst_io_id=str(body["jst_io_id"]), shipped_at=body["shipped_at"],
                       shipped_items=copy.deepcopy(body["items"]), outbound_no=self.next_id("OB"),
                       inbound_receipt_no=self.next_id("IR"), inbound_status="pending")
        return ok({"doc_no": doc_no, "status": "shipped", "outbound_no": doc["outbound_no"],
                   "inbound_receipt_no": doc["inbound_receipt_no"]})

    def warehouse_return_received(self, m: Merchant, doc_no: str, body: dict[str, Any]) -> Answer:
        if invalid := _invalid("WarehouseReturnReceipt", body):
            return invalid
        doc = m.warehouse_returns.get(doc_no)
        if doc is None:
            return error(404, NOT_FOUND, f"warehouse return {doc_no} not found")
        if doc["status"] != "received":
            doc.update(status="received", jst_io_id=str(body["jst_io_id"]), received_at=body["received_at"],
                       received_items=copy.deepcopy(body["items"]), inbound_no=self.next_id("IB"))
        return ok({"doc_no": doc_no, "status": "received", "inbound_no": doc["inbound_no"]})

    # --- P12 / P13 ------------------------------------------------------------------------
    def create_inbound_receipt(self, m: Merchant, store_code: str, body: dict[str, Any]) -> Answer:
        """P12: one pending inbound receipt per store and ERP document; the store confirms it
        when the goods arrive (``receive_inbound_receipt``, an admin action)."""
        if invalid := _invalid("StoreDocument", body):
            return invalid
        if m.stores and store_code not in m.stores:
            return error(404, NOT_FOUND, f"store {store_code} not found")
        doc_no = str(body["doc_no"])
        receipt = m.inbound_receipts.get(f"{store_code}/{doc_no}")
        if receipt is None:
            receipt = m.inbound_receipts[f"{store_code}/{doc_no}"] = {
                **copy.deepcopy(body), "doc_no": doc_no, "store_code": store_code,
                "inbound_receipt_no": self.next_id("IR"), "status": "pending", "created_at": iso(self.clock())}
        return ok({k: receipt[k] for k in ("doc_no", "store_code", "inbound_receipt_no", "status")})

    def receive_inbound_receipt(self, ent_id: str, store_code: str, doc_no: str) -> dict[str, Any]:
        """The store confirms a pending P12 receipt: its items are added to the store's stock."""
        with self.lock:
            m = self.merchant(ent_id)
            receipt = m.inbound_receipts.get(f"{store_code}/{doc_no}")
            if receipt is None:
                raise KeyError(f"no inbound receipt for {doc_no} at store {store_code}")
            if receipt["status"] == "pending":
                self._move_store_stock(m, store_code, receipt["items"], +1)
                receipt.update(status="received", received_at=iso(self.clock()))
            return copy.deepcopy(receipt)

    def book_outbound_note(self, m: Merchant, store_code: str, body: dict[str, Any]) -> Answer:
        """P13: the goods leave the store's stock once per store and ERP document."""
        if invalid := _invalid("StoreDocument", body):
            return invalid
        if m.stores and store_code not in m.stores:
            return error(404, NOT_FOUND, f"store {store_code} not found")
        doc_no = str(body["doc_no"])
        note = m.outbound_notes.get(f"{store_code}/{doc_no}")
        if note is None:
            self._move_store_stock(m, store_code, body["items"], -1)
            note = m.outbound_notes[f"{store_code}/{doc_no}"] = {
                **copy.deepcopy(body), "doc_no": doc_no, "store_code": store_code,
                "outbound_no": self.next_id("OB"), "status": "booked", "booked_at": iso(self.clock())}
        return ok({k: note[k] for k in ("doc_no", "store_code", "outbound_no", "status")})

    def _move_store_stock(self, m: Merchant, store_code: str, items: list[dict[str, Any]], sign: int) -> None:
        for item in items:
            cell_key = (store_code, str(item["sku_id"]))
            old = m.store_stock.get(cell_key)
            m.store_stock[cell_key] = StockCell((old.qty if old else 0) + sign * int(item["qty"]),
                                                (old.version + 1) if old else 1, self.clock())

    # --- P14 ------------------------------------------------------------------------------
    def put_member(self, m: Merchant, member_id: str, body: dict[str, Any]) -> Answer:
        """P14: the merged profile replaces the member's; each of ``merged_from`` is marked merged into it."""
        if invalid := _invalid("MemberProfile", body):
            return invalid
        merged_from = [str(other) for other in body["merged_from"]]
        if member_id in merged_from:
            return error(422, INVALID, f"merged_from: a member cannot be merged into itself ({member_id})")
        existing = m.members.get(member_id)
        profile = {"member_id": member_id, "mobile": str(body["mobile"]), "name": str(body["name"]),
                   "channels": [{"channel": str(c["channel"]), "external_id": str(c["external_id"])}
                                for c in body["channels"]],
                   "merged_from": merged_from}
        if existing is None:
            status = "created"
        elif {k: existing.get(k) for k in profile} == profile:
            status = "unchanged"
        else:
            status = "updated"
        if status != "unchanged":
            m.members[member_id] = {**(existing or {}), **copy.deepcopy(profile), "merged_at": iso(self.clock())}
        for other in merged_from:
            m.members.setdefault(other, {"member_id": other})["merged_into"] = member_id
        return ok({"member_id": member_id, "status": status, "merged_from": merged_from})

    # --- store-side effects of emitted events ---------------------------------------------
    def apply_event(self, m: Merchant, event_type: str, data: dict[str, Any]) -> None:
        """What happened at the store before it told the bridge (keeps P3–P11 coherent)."""
        with self.lock:
            if event_type == "order.warehouse_requested":
                m.orders.setdefault(str(data["order_no"]), {**copy.deepcopy(data), "status": "open"})
            elif event_type == "order.cancelled":
                if (order := m.orders.get(str(data["order_no"]))) is not None:
                    order["status"] = "cancelled"
            elif event_type == "return.requested":
                m.returns.setdefault(str(data["return_no"]), {**copy.deepcopy(data), "status": "requested"})
            elif event_type in ("fulfilment.shipped", "fulfilment.picked_up", "fulfilment.rejected"):
                if (fulfilment := m.fulfilments.get(str(data["fulfilment_id"]))) is not None:
                    fulfilment["status"] = event_type.split(".", 1)[1]
            elif event_type == "transfer.submitted":
                m.transfers.setdefault(str(data["doc_no"]), {**copy.deepcopy(data), "status": "submitted"})
            elif event_type == "warehouse_return.submitted":
                m.warehouse_returns.setdefault(str(data["doc_no"]), {**copy.deepcopy(data), "status": "submitted"})
            # The store's own stock moves with its documents (once per document), as at a real till.
            elif event_type == "sale.completed":
                if str(data["sale_no"]) not in m.sales:
                    m.sales[str(data["sale_no"])] = {**copy.deepcopy(data), "status": "completed"}
                    self._move_store_stock(m, str(data["store_code"]), data["items"], -1)
            elif event_type == "sale.refunded":
                sale = m.sales.setdefault(str(data["sale_no"]), {"sale_no": str(data["sale_no"]), "status": "completed"})
                refunds = sale.setdefault("refunds", {})
                if str(data["refund_no"]) not in refunds:
                    refunds[str(data["refund_no"])] = copy.deepcopy(data)
                    sale["status"] = "refunded"
                    if not data.get("defective"):  # defective goods are not sellable stock again
                        self._move_store_stock(m, str(data["store_code"]), data["items"], +1)
            elif event_type == "stock.counted":
                if str(data["count_no"]) not in m.stock_counts:
                    m.stock_counts[str(data["count_no"])] = {**copy.deepcopy(data), "status": "approved"}
                    for item in data["items"]:
                        cell_key = (str(data["store_code"]), str(item["sku_id"]))
                        old = m.store_stock.get(cell_key)
                        m.store_stock[cell_key] = StockCell(int(item["counted_qty"]), (old.version + 1) if old else 1,
                                                            self.clock())
            elif event_type == "store_document.submitted":
                if str(data["doc_no"]) not in m.store_documents:
                    m.store_documents[str(data["doc_no"])] = {**copy.deepcopy(data), "status": "submitted"}
                    direction = {"exchange_out": -1, "manual_out": -1, "purchase_in": +1, "import_in": +1}
                    if data["kind"] in direction:  # a reversal's direction depends on what it reverses
                        self._move_store_stock(m, str(data["store_code"]), data["items"], direction[data["kind"]])
            elif event_type == "store_transfer.submitted":
                if str(data["doc_no"]) not in m.store_transfers:
                    m.store_transfers[str(data["doc_no"])] = {**copy.deepcopy(data), "status": "submitted"}
                    self._move_store_stock(m, str(data["from_store"]), data["items"], -1)  # in transit from now
            elif event_type == "store_transfer.received":
                transfer = m.store_transfers.setdefault(str(data["doc_no"]), {"doc_no": str(data["doc_no"])})
                if transfer.get("status") != "received":
                    transfer.update(status="received", to_store=str(data["to_store"]),
                                    received=copy.deepcopy(data["items"]), received_at=data["received_at"])
                    self._move_store_stock(m, str(data["to_store"]), data["items"], +1)
            elif event_type == "payment.collected":
                m.payments.append(copy.deepcopy(data))
            elif event_type == "member.updated":
                member = m.members.setdefault(str(data["member_id"]), {"member_id": str(data["member_id"])})
                member.update({k: copy.deepcopy(v) for k, v in data.items() if k != "member_id"})
            elif event_type == "product.changed":
                for item in data.get("items", []):
                    m.products[str(item["sku_code"])] = {**m.products.get(str(item["sku_code"]), {}),
                                                         **copy.deepcopy(item)}
            elif event_type == "stock.changed":
                for item in data.get("items", []):
                    cell_key = (str(data["store_code"]), str(item["sku_id"]))
                    old = m.store_stock.get(cell_key)
                    if old is None or item["version"] > old.version:
                        m.store_stock[cell_key] = StockCell(item["qty"], item["version"], self.clock())


def _invalid(component: str, body: Any) -> Answer | None:
    if not isinstance(body, dict):
        return error(400, BAD_REQUEST, "body: must be a JSON object")
    found = openapi.problems(component, body)
    if found:
        return error(422, INVALID, "; ".join(found[:5]))
    return None
