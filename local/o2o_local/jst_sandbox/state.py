"""The sandbox's in-memory JST company: base data, documents, tokens and logs.

Every read or change happens under ``state.lock`` (an RLock); the endpoint and admin code
takes it for the whole call, so each call is atomic like a JST transaction. ``ts`` is one
increasing counter (JST's SQL Server rowversion) bumped on every change of a document.
Times are JST's ``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai (UTC+8, no DST).
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["Settings", "SandboxState", "CST", "fmt_time", "parse_time", "INVENTORY_FIELDS"]

CST = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

INVENTORY_FIELDS = ("qty", "virtual_qty", "purchase_qty", "in_qty", "return_qty", "order_lock", "pick_lock",
                    "defective_qty", "allocate_qty", "sale_refund_qty", "min_qty", "max_qty",
                    "customize_qty_1", "customize_qty_2", "customize_qty_3", "lock_qty")


def fmt_time(dt: datetime) -> str:
    return dt.astimezone(CST).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(str(text).strip(), TIME_FORMAT).replace(tzinfo=CST)


@dataclass
class Settings:
    """Everything the reference leaves uncertain is a setting (reference §8)."""

    co_id: int = 10174711
    timestamp_tolerance_s: int = 600  # 10 min (IEU doc comment, third-party table) vs 15 min (IEU error 140)
    timestamp_error_code: int = 180  # third-party table; IEU's enum says 140
    param_error_code: int = 140  # 参数不符合规范
    sign_mode: str = "either"  # "all" (IEU), "drop_empty" (KOCO), "either"
    token_ttl_s: int = 30 * 24 * 3600  # no source gives a number; clients must use expires_in
    refresh_rotates: bool = True  # refresh invalidates the old access and refresh tokens
    refresh_forbidden: bool = False  # ISV apps: refresh answers 150
    max_window_days: int = 7
    order_upload_max: int = 50  # 2019 old-API model only (unconfirmed)
    aftersale_upload_max: int = 50  # not documented
    wms_sent_upload_max: int = 50  # not documented
    wms_partner_page_max: int = 100  # reference gives only the default 30
    otherinout_in_type: str = "其它退货"
    otherinout_out_type: str = "其它出库"
    duplicate_otherinout: str = "error"  # "error" or "return_existing"
    # pushes (reference §6.1)
    callback_base_url: str = "http://127.0.0.1:3000"
    ent_id: str = "10010"
    partnerid: str = "jst-sandbox"
    partner_key: str = "erp"  # ShopeX hard-codes 'erp'; the demo tenant configures its own
    callback_token: str = ""
    # The callback URLs pasted into the 自有商城 shop's 消息推送 fields, as `o2o tenant urls
    # ENT_ID --reveal-token` prints them. A token push goes to the one pasted for its route and
    # storageCode, carrying that URL's own token; with none pasted for it, to the URL form of
    # before per-URL tokens (``callback_base_url`` + route, the plain ``callback_token``).
    callback_urls: list[str] = field(default_factory=list)
    # "all_query": every query parameter but sign (ShopeX's check; what the bridge requires, so
    # the sign binds entId and storageCode); "jst_params": ts only (an older reading of §6.1).
    push_sign_scope: str = "all_query"
    cancel_method: str = "order.cancel"  # the cancel push's method name is unknown (reference §8)
    cancel_path: str = "/jushuitan/cancel_callback"
    push_timeout_s: float = 5.0
    max_calls_kept: int = 10_000  # the call log keeps the newest entries
    numbers_as_strings: bool = False  # query answers give quantities/amounts as "2.0000" (seen in one source)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Credentials:
    app_key: str
    app_secret: str


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    # -- clock, counters -------------------------------------------------------------
    def time(self) -> float:
        return time.time() + self.clock_offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), CST)

    def now_str(self) -> str:
        return fmt_time(self.now())

    def next_ts(self) -> int:
        return next(self._ts)

    def touch(self, doc: dict) -> dict:
        doc["modified"] = self.now_str()
        doc["ts"] = self.next_ts()
        return doc

    # -- reset and seed --------------------------------------------------------------
    def reset(self) -> None:
        """Back to empty: no data, no logs, default settings, real clock."""
        with self.lock:
            self.settings = Settings()
            self.clock_offset = 0.0  # seconds added to the real clock (tests move time)
            self._ts = itertools.count(1_000_001)
            self._o_id = itertools.count(10_000_001)
            self._io_id = itertools.count(20_000_001)
            self._as_id = itertools.count(30_000_001)
            self._ioi_id = itertools.count(40_000_001)
            self._oi_id = itertools.count(50_000_001)
            self.apps: dict[str, Credentials] = {}
            self.tokens: dict[str, dict] = {}  # access_token -> {app_key, expires_at, refresh_token}
            self.refresh_tokens: dict[str, dict] = {}  # refresh_token -> {app_key, access_token}
            self.shops: dict[int, dict] = {}
            self.warehouses: dict[int, dict] = {}
            # 货位管理 (bin management) is a warehouse setting JST's API does not show; a type=check count
            # there zeroes every SKU of the warehouse it does not list.
            self.bin_managed: set[int] = set()
            self.logistics_companies: dict[str, dict] = {}
            self.skus: dict[str, dict] = {}
            self.inventory: dict[tuple[int, str], dict] = {}
            self.orders: dict[int, dict] = {}  # o_id -> order
            self.outbounds: dict[int, dict] = {}  # io_id -> sales outbound
            self.other_inouts: dict[int, dict] = {}
            self.transfers: dict[int, dict] = {}  # io_id -> 调拨单 (跨仓调拨, /open/allocate/kc/upload)
            self.inventory_uploads: dict[str, dict] = {}  # so_id -> count document
            self.aftersales: dict[int, dict] = {}  # as_id -> after-sale
            self.aftersale_received: dict[int, dict] = {}  # io_id -> 退仓单
            self.sent_uploads: list[dict] = []  # every row the bridge sent to wms/sent/upload
            self.calls: list[dict] = []
            self.pushes: list[dict] = []
            self._call_seq = itertools.count(1)

    def seed(self, *, credentials: dict | None = None, settings: dict | None = None, shops=(), warehouses=(),
             logistics_companies=(), skus=(), inventory=(), outbounds=(), orders=(), other_inouts=(),
             aftersales=()) -> dict:
        """Add (or replace, by key) base data and documents. Returns a count per collection."""
        with self.lock:
            if settings:
                self.configure(**settings)
            if credentials:
                self.set_credentials(**credentials)
            for s in shops:
                shop = {"shop_id": int(s["shop_id"]), "shop_name": s.get("shop_name", str(s["shop_id"])),
                        "co_id": self.settings.co_id, "shop_site": s.get("shop_site", "商家自有商城"),
                        "shop_url": s.get("shop_url", ""), "created": s.get("created", self.now_str()),
                        "nick": s.get("nick", s.get("shop_name", "")), "session_expired": s.get("session_expired", ""),
                        "session_uid": "", "short_name": s.get("short_name", ""), "group_id": s.get("group_id", 0),
                        "group_name": s.get("group_name", "")}
                self.shops[shop["shop_id"]] = shop
            for w in warehouses:
                wh = {"name": w.get("name", str(w["wms_co_id"])), "co_id": self.settings.co_id,
                      "wms_co_id": int(w["wms_co_id"]), "is_main": bool(w.get("is_main", False)),
                      "status": w.get("status", "生效"), "remark1": w.get("remark1", ""), "remark2": w.get("remark2", "")}
                self.warehouses[wh["wms_co_id"]] = wh
                if w.get("bin_managed"):
                    self.bin_managed.add(wh["wms_co_id"])
            for lc in logistics_companies:
                row = {"lc_id": str(lc["lc_id"]), "lc_name": lc.get("lc_name", lc.get("name", lc["lc_id"])),
                       "wms_co_ids": [int(x) for x in lc.get("wms_co_ids", [])]}
                self.touch(row)
                self.logistics_companies[row["lc_id"]] = row
            for s in skus:
                row = {"sku_id": s["sku_id"], "i_id": s.get("i_id", s["sku_id"]), "name": s.get("name", s["sku_id"]),
                       "short_name": s.get("short_name", ""), "properties_value": s.get("properties_value", ""),
                       "color": s.get("color", ""), "brand": s.get("brand", ""), "sale_price": s.get("sale_price", 0),
                       "cost_price": s.get("cost_price", 0), "market_price": s.get("market_price", 0),
                       "c_id": s.get("c_id", 0), "category": s.get("category", ""), "vc_name": s.get("vc_name", ""),
                       "enabled": s.get("enabled", 1), "stock_disabled": s.get("stock_disabled", 0),
                       "batch_enabled": s.get("batch_enabled", False), "labels": s.get("labels", ""),
                       "sku_code": s.get("sku_code", ""), "autoid": s.get("autoid") or next(self._oi_id),
                       "unit": s.get("unit", "件"), "weight": s.get("weight", 0), "pic": s.get("pic", ""),
                       "item_type": s.get("item_type", "成品"), "sku_type": s.get("sku_type", "normal"),
                       "supplier_id": s.get("supplier_id", 0), "supplier_name": s.get("supplier_name", ""),
                       "created": s.get("created", self.now_str())}
                for n in range(1, 11):
                    row[f"other_{n}"] = s.get(f"other_{n}", "")
                    row[f"other_price_{n}"] = s.get(f"other_price_{n}", 0)
                for k in s:
                    row.setdefault(k, s[k])
                self.touch(row)
                if s.get("modified"):
                    row["modified"] = s["modified"]
                self.skus[row["sku_id"]] = row
            for inv in inventory:
                self.set_inventory(int(inv["wms_co_id"]), inv["sku_id"],
                                   **{k: v for k, v in inv.items() if k in INVENTORY_FIELDS})
            for ob in outbounds:
                self.add_outbound(ob)
            for o in orders:
                self.add_order(o)
            for d in other_inouts:
                self.add_other_inout(d)
            for a in aftersales:
                self.add_aftersale(a)
            return {"shops": len(self.shops), "warehouses": len(self.warehouses), "skus": len(self.skus),
                    "inventory": len(self.inventory), "outbounds": len(self.outbounds), "orders": len(self.orders),
                    "logistics_companies": len(self.logistics_companies)}

    def configure(self, **settings: Any) -> Settings:
        with self.lock:
            unknown = set(settings) - set(Settings.__dataclass_fields__)
            if unknown:
                raise ValueError(f"unknown settings: {sorted(unknown)}")
            for k, v in settings.items():
                setattr(self.settings, k, v)
            return self.settings

    # -- credentials and tokens ------------------------------------------------------
    def set_credentials(self, *, app_key: str, app_secret: str, access_token: str | None = None,
                        refresh_token: str | None = None, expires_in: int | None = None,
                        partner_key: str | None = None, partnerid: str | None = None,
                        callback_token: str | None = None, ent_id: str | None = None) -> None:
        with self.lock:
            self.apps[app_key] = Credentials(app_key, app_secret)
            if access_token:
                self.issue_token(app_key, access_token=access_token, refresh_token=refresh_token, expires_in=expires_in)
            for name, value in (("partner_key", partner_key), ("partnerid", partnerid),
                                ("callback_token", callback_token), ("ent_id", ent_id)):
                if value is not None:
                    setattr(self.settings, name, value)

    def issue_token(self, app_key: str, *, access_token: str | None = None, refresh_token: str | None = None,
                    expires_in: int | None = None) -> dict:
        with self.lock:
            ttl = self.settings.token_ttl_s if expires_in is None else int(expires_in)
            access_token = access_token or secrets.token_hex(16)
            refresh_token = refresh_token or secrets.token_hex(16)
            self.tokens[access_token] = {"app_key": app_key, "expires_at": self.time() + ttl,
                                         "refresh_token": refresh_token}
            self.refresh_tokens[refresh_token] = {"app_key": app_key, "access_token": access_token}
            return {"access_token": access_token, "expires_in": ttl, "refresh_token": refresh_token, "scope": "all"}

    def expire_token(self, access_token: str | None = None) -> int:
        """Expire one access token (or all). Returns how many."""
        with self.lock:
            n = 0
            for tok, rec in self.tokens.items():
                if access_token is None or tok == access_token:
                    rec["expires_at"] = self.time() - 1
                    n += 1
            return n

    # -- inventory -------------------------------------------------------------------
    def set_inventory(self, wms_co_id: int, sku_id: str, **fields: Any) -> dict:
        with self.lock:
            key = (int(wms_co_id), sku_id)
            row = self.inventory.get(key)
            if row is None:
                row = {"wms_co_id": int(wms_co_id), "sku_id": sku_id, **{f: 0 for f in INVENTORY_FIELDS}}
                self.inventory[key] = row
            for k, v in fields.items():
                if k not in INVENTORY_FIELDS:
                    raise ValueError(f"unknown inventory field {k}")
                row[k] = v
            return self.touch(row)

    def adjust_inventory(self, wms_co_id: int, sku_id: str, field_name: str, delta: float) -> dict:
        with self.lock:
            row = self.inventory.get((int(wms_co_id), sku_id))
            current = row[field_name] if row else 0
            return self.set_inventory(wms_co_id, sku_id, **{field_name: current + delta})

    # -- documents -------------------------------------------------------------------
    def _items(self, items: list[dict], id_key: str) -> list[dict]:
        out = []
        for it in items or []:
            sku = self.skus.get(it.get("sku_id"), {})
            row = {id_key: it.get(id_key) or next(self._ioi_id), "sku_id": it["sku_id"], "qty": it.get("qty", 1),
                   "name": it.get("name") or sku.get("name", ""), "i_id": it.get("i_id") or sku.get("i_id", ""),
                   "properties_value": it.get("properties_value") or sku.get("properties_value", ""),
                   "sale_price": it.get("sale_price", it.get("price", sku.get("sale_price", 0)))}
            row["sale_amount"] = it.get("sale_amount", it.get("amount", row["sale_price"] * row["qty"]))
            for k, v in it.items():
                row.setdefault(k, v)
            out.append(row)
        return out

    def add_outbound(self, ob: dict) -> dict:
        """A sales outbound (销售出库单) as JST's OMS creates it, default status WaitConfirm."""
        with self.lock:
            io_id = int(ob.get("io_id") or next(self._io_id))
            o_id = int(ob.get("o_id") or next(self._o_id))
            row = {"co_id": self.settings.co_id, "shop_id": int(ob.get("shop_id", 0)), "io_id": io_id, "o_id": o_id,
                   "so_id": str(ob.get("so_id") or f"SO{o_id}"), "created": self.now_str(),
                   "status": ob.get("status", "WaitConfirm"), "order_type": ob.get("order_type", "普通订单"),
                   "wms_co_id": int(ob.get("wms_co_id", 0)), "io_date": ob.get("io_date"),
                   "l_id": ob.get("l_id", ""), "lc_id": ob.get("lc_id", ""),
                   "logistics_company": ob.get("logistics_company", ""),
                   "pay_amount": ob.get("pay_amount", 0), "paid_amount": ob.get("paid_amount", ob.get("pay_amount", 0)),
                   "free_amount": ob.get("free_amount", 0), "freight": ob.get("freight", 0),
                   "shop_buyer_id": ob.get("shop_buyer_id", ""), "labels": ob.get("labels", ""),
                   "shop_name": self.shops.get(int(ob.get("shop_id", 0)), {}).get("shop_name", ""),
                   "weight": ob.get("weight", 0), "f_weight": ob.get("f_weight", 0), "open_id": ob.get("open_id", ""),
                   "wave_id": ob.get("wave_id", 0), "merge_so_id": ob.get("merge_so_id", ""), "batchs": [], "sns": []}
            for k in ("receiver_name", "receiver_mobile", "receiver_phone", "receiver_state", "receiver_city",
                      "receiver_district", "receiver_address", "receiver_zip", "buyer_message", "remark"):
                row[k] = ob.get(k, "")
            items = self._items(ob.get("items", []), "ioi_id")
            for it in items:
                it.setdefault("oi_id", next(self._oi_id))
                it.setdefault("outer_oi_id", "")
                it.setdefault("raw_so_id", row["so_id"])
                it.setdefault("is_gift", False)
                it.setdefault("sale_base_price", it["sale_price"])
                it.setdefault("combine_sku_id", "")
                it.setdefault("unit", self.skus.get(it["sku_id"], {}).get("unit", "件"))
            row["items"] = items
            for k, v in ob.items():
                row.setdefault(k, v)
            self.touch(row)
            self.outbounds[io_id] = row
            return row

    def add_order(self, o: dict) -> dict:
        with self.lock:
            o_id = int(o.get("o_id") or next(self._o_id))
            row = {"o_id": o_id, "so_id": str(o["so_id"]), "shop_id": int(o.get("shop_id", 0)),
                   "status": o.get("status", "WaitConfirm"), "shop_status": o.get("shop_status", "WAIT_SELLER_SEND_GOODS"),
                   "order_date": o.get("order_date") or self.now_str(), "pay_date": o.get("pay_date"),
                   "send_date": o.get("send_date"), "created": self.now_str(), "l_id": o.get("l_id", ""),
                   "lc_id": o.get("lc_id", ""), "logistics_company": o.get("logistics_company", ""),
                   "wms_co_id": int(o.get("wms_co_id") or 0), "pay_amount": o.get("pay_amount", 0),
                   "paid_amount": o.get("paid_amount", 0), "freight": o.get("freight", 0), "labels": o.get("labels", ""),
                   "weight": o.get("weight", 0), "pays": o.get("pays", []), "remark": o.get("remark", ""),
                   "buyer_message": o.get("buyer_message", ""), "shop_buyer_id": o.get("shop_buyer_id", "")}
            for k in ("receiver_name", "receiver_mobile", "receiver_phone", "receiver_state", "receiver_city",
                      "receiver_district", "receiver_address"):
                row[k] = o.get(k, "")
            items = []
            for it in o.get("items", []):
                sku = self.skus.get(it.get("sku_id"), {})
                items.append({"oi_id": it.get("oi_id") or next(self._oi_id), "sku_id": it["sku_id"],
                              "shop_sku_id": it.get("shop_sku_id", ""), "qty": it.get("qty", 1),
                              "price": it.get("price", it.get("base_price", 0)), "amount": it.get("amount", 0),
                              "base_price": it.get("base_price", it.get("price", 0)),
                              "outer_oi_id": str(it.get("outer_oi_id", "")), "name": it.get("name") or sku.get("name", ""),
                              "properties_value": it.get("properties_value") or sku.get("properties_value", ""),
                              "i_id": sku.get("i_id", ""), "refund_status": it.get("refund_status", "none"),
                              "item_status": it.get("item_status", ""), "is_gift": bool(it.get("is_gift", False)),
                              "sku_type": it.get("sku_type", "normal"), "pic": it.get("pic", "")})
            row["items"] = items
            for k, v in o.items():  # fields JST has and the sandbox does not model (is_cod...)
                row.setdefault(k, v)
            self.touch(row)
            self.orders[o_id] = row
            return row

    def add_other_inout(self, d: dict) -> dict:
        with self.lock:
            io_id = int(d.get("io_id") or next(self._io_id))
            kind = d.get("type", "out")
            type_name = {"in": self.settings.otherinout_in_type, "out": self.settings.otherinout_out_type}.get(kind, kind)
            row = {"io_id": io_id, "io_date": d.get("io_date") or self.now_str(), "status": d.get("status", "WaitConfirm"),
                   "so_id": str(d.get("external_id") or d.get("so_id") or ""), "external_id": str(d.get("external_id") or d.get("so_id") or ""),
                   "type": type_name, "upload_type": kind, "warehouse": d.get("warehouse", "主仓"),
                   "wh_id": int(d.get("wh_id") or d.get("warehouse_code") or 1),
                   "wms_co_id": int(d.get("wms_co_id") or 0), "remark": d.get("remark", ""),
                   "l_id": d.get("l_id", ""), "lc_id": d.get("lc_id", ""),
                   "logistics_company": d.get("logistics_company", ""), "created": self.now_str(),
                   "receiver_name": d.get("receiver_name", ""), "labels": d.get("labels", []),
                   "items": self._items(d.get("items", []), "ioi_id"), "batchs": [], "sns": []}
            for it in row["items"]:
                it.setdefault("cost_price", self.skus.get(it["sku_id"], {}).get("cost_price", 0))
                it["cost_amount"] = it["cost_price"] * it["qty"]
            self.touch(row)
            self.other_inouts[io_id] = row
            if row["status"] == "Confirmed" and d.get("apply_stock", True):
                self._apply_other_inout_stock(row)
            return row

    def add_transfer(self, d: dict) -> dict:
        """A 跨仓调拨 (cross-warehouse transfer) from ``wms_co_id`` to ``link_wms_co_id``: Creating
        until the sending warehouse confirms it (goods out, 调拨在途 ``allocate_qty`` at the
        receiving one), then received there (into its stock)."""
        with self.lock:
            io_id = int(d.get("io_id") or next(self._io_id))
            row = {"io_id": io_id, "so_id": str(d.get("so_id") or ""), "io_date": d.get("io_date") or self.now_str(),
                   "status": d.get("status", "Creating"), "type": "调拨出", "wms_co_id": int(d["wms_co_id"]),
                   "link_wms_co_id": int(d["link_wms_co_id"]), "wh_id": int(d.get("warehouse") or 1),
                   "link_wh_id": int(d.get("link_warehouse") or 1), "remark": d.get("remark", ""),
                   "received": False, "created": self.now_str(), "items": self._items(d.get("items", []), "ioi_id")}
            self.touch(row)
            self.transfers[io_id] = row
            return row

    def _apply_other_inout_stock(self, doc: dict) -> None:
        sign = -1 if doc["upload_type"] == "out" else 1
        field_name = {1: "qty", 2: "return_qty", 3: "in_qty", 4: "defective_qty"}.get(doc["wh_id"], "qty")
        for it in doc["items"]:
            self.adjust_inventory(doc["wms_co_id"], it["sku_id"], field_name, sign * it["qty"])

    def add_aftersale(self, a: dict) -> dict:
        with self.lock:
            as_id = int(a.get("as_id") or next(self._as_id))
            order = self.find_order(so_id=a.get("so_id"), shop_id=a.get("shop_id"))
            row = {"as_id": as_id, "outer_as_id": str(a["outer_as_id"]), "so_id": str(a.get("so_id", "")),
                   "o_id": order["o_id"] if order else 0, "shop_id": int(a.get("shop_id", 0)),
                   "type": a.get("type", "普通退货"), "shop_status": a.get("shop_status", "WAIT_SELLER_CONFIRM_GOODS"),
                   "good_status": a.get("good_status", "BUYER_RETURNED_GOODS"), "status": a.get("status", "WaitConfirm"),
                   "question_type": a.get("question_type", ""), "total_amount": a.get("total_amount", 0),
                   "refund": a.get("refund", 0), "payment": a.get("payment", 0),
                   "warehouse_type": a.get("warehouse_type", 1), "wms_co_id": int(a.get("wms_co_id") or 0),
                   "logistics_company": a.get("logistics_company", ""), "l_id": a.get("l_id", ""),
                   "freight": a.get("freight", 0), "remark": a.get("remark", ""), "created": self.now_str(),
                   "items": [dict(it) for it in a.get("items", [])]}
            self.touch(row)
            self.aftersales[as_id] = row
            return row

    def find_order(self, *, o_id=None, so_id=None, shop_id=None) -> dict | None:
        if o_id:
            return self.orders.get(int(o_id))
        for o in self.orders.values():
            if so_id is not None and o["so_id"] == str(so_id) and (shop_id in (None, 0, "") or o["shop_id"] == int(shop_id)):
                return o
        return None

    def find_aftersale(self, *, as_id=None, outer_as_id=None) -> dict | None:
        if as_id:
            return self.aftersales.get(int(as_id))
        for a in self.aftersales.values():
            if a["outer_as_id"] == str(outer_as_id):
                return a
        return None

    # -- calls log -------------------------------------------------------------------
    def record_call(self, entry: dict) -> dict:
        with self.lock:
            entry["seq"] = next(self._call_seq)
            entry.setdefault("at", self.now_str())
            entry.setdefault("received", time.time())  # epoch seconds, for rate measurements
            self.calls.append(entry)
            if len(self.calls) > self.settings.max_calls_kept:
                del self.calls[: len(self.calls) - self.settings.max_calls_kept]
            return entry

    # -- snapshots -------------------------------------------------------------------
    def snapshot(self, collection: str | None = None) -> Any:
        """A deep copy of the state as plain JSON-able data (for admin and tests)."""
        with self.lock:
            data = {
                "settings": self.settings.to_dict(),
                "shops": list(self.shops.values()),
                "warehouses": list(self.warehouses.values()),
                "logistics_companies": list(self.logistics_companies.values()),
                "skus": list(self.skus.values()),
                "inventory": list(self.inventory.values()),
                "orders": list(self.orders.values()),
                "outbounds": list(self.outbounds.values()),
                "confirmed_outbounds": [o for o in self.outbounds.values() if o["status"] == "Confirmed"],
                "sent_uploads": self.sent_uploads,
                "other_inouts": list(self.other_inouts.values()),
                "transfers": list(self.transfers.values()),
                "inventory_uploads": list(self.inventory_uploads.values()),
                "aftersales": list(self.aftersales.values()),
                "aftersale_received": list(self.aftersale_received.values()),
                "tokens": [{"access_token": k, **v, "expired": v["expires_at"] < self.time()} for k, v in self.tokens.items()],
                "calls": self.calls,
                "pushes": self.pushes,
            }
            if collection is not None:
                if collection not in data:
                    raise KeyError(collection)
                data = data[collection]
            return copy.deepcopy(data)
