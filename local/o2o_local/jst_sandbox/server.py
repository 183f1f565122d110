"""``JstSandbox``: the JST open platform on 127.0.0.1 (stdlib ThreadingHTTPServer in a thread).

    with JstSandbox() as jst:          # port 0: a free port
        jst.seed_demo()
        ... point the bridge at jst.url ...
        jst.ship_order(so_id="P1001", lc_id="SF", l_id="SF123")   # → 物流同步 push
        assert jst.state.snapshot("confirmed_outbounds")

It also satisfies the local stack's ``Sandbox`` protocol (name, start, status, environment, stop).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from ..sandbox_http import JsonHandler, ScriptedSandbox
from . import admin
from .endpoints import API_PATHS, TOKEN_PATHS, apply_inventory_upload, error, process
from .faults import FaultInjector, RateLimiter
from .pushes import PushSender, cancel_payload, delivery_payload, inventory_payload, refund_goods_payload
from .state import SandboxState

__all__ = ["JstSandbox", "DEMO", "CLOUD_DEMO", "JstCompanySandbox"]

DEMO = {
    "credentials": {"app_key": "demo-app-key", "app_secret": "demo-app-secret",
                    "access_token": "demo-access-token", "refresh_token": "demo-refresh-token",
                    "partner_key": "demo-partner-key", "callback_token": "demo-callback-token", "ent_id": "10010"},
    "shops": [{"shop_id": 133242, "shop_name": "自有商城", "shop_site": "商家自有商城"}],
    "warehouses": [{"wms_co_id": 10000, "name": "总仓", "is_main": True},
                   {"wms_co_id": 10001, "name": "店加线下仓", "is_main": False}],
    "logistics_companies": [{"lc_id": "SF", "lc_name": "顺丰速运"}, {"lc_id": "ZTO", "lc_name": "中通快递"}],
    "skus": [
        {"sku_id": "TS001-WHT-M", "i_id": "TS001", "name": "纯棉T恤", "properties_value": "白色;M", "color": "白色",
         "brand": "示例", "sale_price": 99, "cost_price": 35, "market_price": 129, "sku_code": "6900000000011",
         "category": "T恤", "labels": "店加", "other_1": "2026", "other_2": "夏"},
        {"sku_id": "TS001-WHT-L", "i_id": "TS001", "name": "纯棉T恤", "properties_value": "白色;L", "color": "白色",
         "brand": "示例", "sale_price": 99, "cost_price": 35, "market_price": 129, "sku_code": "6900000000012",
         "category": "T恤", "labels": "店加", "other_1": "2026", "other_2": "夏"},
        {"sku_id": "JN002-BLU-30", "i_id": "JN002", "name": "直筒牛仔裤", "properties_value": "蓝色;30", "color": "蓝色",
         "brand": "示例", "sale_price": 299, "cost_price": 110, "market_price": 399, "sku_code": "6900000000021",
         "category": "牛仔裤", "labels": "店加", "other_1": "2026", "other_2": "秋"},
        {"sku_id": "JN002-BLU-32", "i_id": "JN002", "name": "直筒牛仔裤", "properties_value": "蓝色;32", "color": "蓝色",
         "brand": "示例", "sale_price": 299, "cost_price": 110, "market_price": 399, "sku_code": "6900000000022",
         "category": "牛仔裤", "labels": "", "other_1": "2026", "other_2": "秋"},
    ],
    "inventory": [
        {"wms_co_id": 10000, "sku_id": "TS001-WHT-M", "qty": 120, "virtual_qty": 0, "order_lock": 2},
        {"wms_co_id": 10000, "sku_id": "TS001-WHT-L", "qty": 80},
        {"wms_co_id": 10000, "sku_id": "JN002-BLU-30", "qty": 40, "purchase_qty": 20},
        {"wms_co_id": 10000, "sku_id": "JN002-BLU-32", "qty": 0, "in_qty": 5},
        {"wms_co_id": 10001, "sku_id": "TS001-WHT-M", "qty": 10},
        {"wms_co_id": 10001, "sku_id": "JN002-BLU-30", "qty": 6},
    ],
}


# The cloud-warehouse tenant of local/tenants/cloud-warehouse.yaml (ent_id 10020) is another JST
# company. JST keeps each company's shops, warehouses and documents apart, so that company is a
# sandbox of its own: the same base data (the tenant's settings name the same ids), but none of
# the demo tenant's outbounds or other in/outs, and its pushes go to entId 10020.
CLOUD_DEMO = {**DEMO, "credentials": {**DEMO["credentials"], "ent_id": "10020"}}


class _Handler(JsonHandler):
    admin_routes = admin.handle

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if self.answered_admin(url):
            return
        if url.path in ("/", "/health"):
            self.send_json(200, {"code": 0, "msg": "JST sandbox", "data": {"url": self.sandbox.url}})
        else:
            self.send_json(405, error(405, "只支持POST"))

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        raw = self.read_body()
        sandbox = self.sandbox
        if self.answered_admin(url, raw):
            return
        if url.path not in API_PATHS and url.path not in TOKEN_PATHS:
            sandbox.state.record_call({"path": url.path, "biz": None, "code": 404, "http_status": 404, "fault": None})
            self.send_json(404, error(404, f"接口不存在: {url.path}"))
            return
        form = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        form.update(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            status, body, hang = sandbox.handle_api(url.path, form)
        except Exception as exc:  # a sandbox bug: answer it visibly instead of dropping the connection
            sandbox.state.record_call({"path": url.path, "biz": form.get("biz"), "code": 500, "http_status": 500,
                                       "fault": None, "msg": repr(exc)})
            status, body, hang = 500, error(500, f"JST sandbox internal error: {exc!r}"), False
        if hang:
            self.close_connection = True
            return
        self.send_json(status, body)


class JstSandbox(ScriptedSandbox):
    """The JST sandbox. ``state``, ``faults``, ``rate_limit`` and ``pushes`` are the Python API."""

    name = "JST sandbox"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.state = SandboxState()
        self.faults = FaultInjector()
        self.rate_limit = RateLimiter()
        self.pushes = PushSender(self.state)

    def handler_class(self) -> type[_Handler]:
        return _Handler

    def environment(self) -> dict[str, str]:
        return {"O2O_JST_SANDBOX_URL": self.url, "O2O_JST_BASE_URL": self.url} if self.running else {}

    def connect_bridge(self, api_url: str) -> None:
        """Send pushes to this bridge's callback routes (the local stack calls it once its API is up)."""
        self.state.configure(callback_base_url=api_url)

    # -- the API pipeline --------------------------------------------------------------
    def handle_api(self, path: str, form: dict[str, str]) -> tuple[int, Any, bool]:
        """(http_status, body, hang) for one API call, with faults, rate limit and the call log."""
        info: dict[str, Any] = {}
        fault = self.faults.draw(path)
        entry: dict[str, Any] = {"path": path, "fault": fault.to_dict() if fault else None}
        if fault and fault.delay:
            self._stopping.wait(fault.delay)
        if fault and fault.kind == "timeout":
            self.state.record_call({**entry, "biz": _biz_of(form), "code": None, "http_status": None})
            return 0, None, True
        if fault and fault.kind in ("jst", "http"):
            if fault.apply_effect:
                process(self.state, self.rate_limit, path, form, info)
            if fault.kind == "http":
                status, body = fault.code, {"code": fault.code, "msg": "Service Unavailable (injected)"}
            else:
                status, body = 200, error(fault.code, "内部处理异常，请稍后重试（injected）")
        else:
            status, body = 200, process(self.state, self.rate_limit, path, form, info)
        self.state.record_call({**entry, "biz": info.get("biz", _biz_of(form)), "app_key": info.get("app_key"),
                                "code": body.get("code"), "msg": body.get("msg"), "http_status": status})
        return status, body, False

    # -- Python API: data (reset, seed, configure, calls, clear_calls, advance_clock: ScriptedSandbox) --
    def seed_demo(self, *, callback_base_url: str | None = None) -> dict:
        """The demo tenant of local/tenants/demo.yaml: warehouses 10000 总仓 / 10001 店加线下仓,
        shop 133242 自有商城, logistics SF/ZTO, four SKUs with stock, the demo credentials."""
        if callback_base_url:
            self.state.configure(callback_base_url=callback_base_url)
        return self.state.seed(**DEMO)

    # -- Python API: what JST does on its own -------------------------------------------------
    def add_outbound(self, **outbound: Any) -> dict:
        """A sales outbound JST's OMS assigned to a warehouse (S1); also creates its order, with
        the order-only fields given as ``order`` (e.g. ``{"is_cod": true, "paid_amount": 0}``
        for a 货到付款 order whose outbound does not say so)."""
        order_fields = dict(outbound.pop("order", None) or {})
        with self.state.lock:
            ob = self.state.add_outbound(outbound)
            if ob["o_id"] not in self.state.orders:
                self.state.add_order({"pay_amount": ob["pay_amount"], "paid_amount": ob["paid_amount"], **order_fields,
                                      "o_id": ob["o_id"], "so_id": ob["so_id"], "shop_id": ob["shop_id"],
                                      "wms_co_id": ob["wms_co_id"], "status": "WaitOuterSent",
                                      "items": [{**it, "outer_oi_id": it.get("outer_oi_id") or str(it["oi_id"])}
                                                for it in ob["items"]]})
            return dict(ob)

    def set_outbound_status(self, io_id: int, status: str) -> dict:
        with self.state.lock:
            ob = self.state.outbounds[int(io_id)]
            ob["status"] = status
            return dict(self.state.touch(ob))

    def confirm_other_inout(self, io_id: int, status: str = "Confirmed") -> dict:
        """The warehouse confirms (or voids: Cancelled/Delete) an other in/out document (S5, S6).
        A Confirmed document can still be voided with Cancelled (作废 after taking effect): its
        stock change is undone."""
        with self.state.lock:
            doc = self.state.other_inouts[int(io_id)]
            voiding_confirmed = doc["status"] == "Confirmed" and status == "Cancelled"
            if doc["status"] != "WaitConfirm" and not voiding_confirmed:
                raise ValueError(f"other in/out {io_id} is {doc['status']}, not WaitConfirm")
            doc["status"] = status
            if status == "Confirmed":
                doc["io_date"] = self.state.now_str()
                self.state._apply_other_inout_stock(doc)
            elif voiding_confirmed:
                self.state._apply_other_inout_stock({**doc, "upload_type": "in" if doc["upload_type"] == "out" else "out"})
            return dict(self.state.touch(doc))

    def confirm_transfer(self, io_id: int, status: str = "Confirmed") -> dict:
        """The sending warehouse ships a 调拨单 (Confirmed: out of its stock, 调拨在途 at the
        receiving warehouse) or cancels it before (Cancelled)."""
        from .endpoints import ship_transfer_stock

        with self.state.lock:
            doc = self.state.transfers[int(io_id)]
            if doc["status"] != "Creating":
                raise ValueError(f"transfer {io_id} is {doc['status']}, not Creating")
            doc["status"] = status
            if status == "Confirmed":
                doc["io_date"] = self.state.now_str()
                ship_transfer_stock(self.state, doc)
            return dict(self.state.touch(doc))

    def receive_transfer(self, io_id: int) -> dict:
        """The receiving warehouse takes a shipped 调拨单 in: 调拨在途 becomes its stock."""
        with self.state.lock:
            doc = self.state.transfers[int(io_id)]
            if doc["status"] != "Confirmed" or doc["received"]:
                raise ValueError(f"transfer {io_id} is {doc['status']}{' and received' if doc['received'] else ''}")
            for it in doc["items"]:
                self.state.adjust_inventory(doc["link_wms_co_id"], it["sku_id"], "allocate_qty", -it["qty"])
                self.state.adjust_inventory(doc["link_wms_co_id"], it["sku_id"], "qty", it["qty"])
            doc["received"] = True
            return dict(self.state.touch(doc))

    def confirm_inventory_upload(self, so_id: str) -> dict:
        with self.state.lock:
            return dict(apply_inventory_upload(self.state, self.state.inventory_uploads[str(so_id)]))

    def _order(self, o_id: Any = None, so_id: Any = None) -> dict:
        order = self.state.find_order(o_id=o_id, so_id=so_id)
        if order is None:
            raise KeyError(f"no order o_id={o_id} so_id={so_id}")
        return order

    def ship_order(self, *, o_id: Any = None, so_id: Any = None, lc_id: str = "SF", l_id: str | None = None,
                   items: list[dict] | None = None, push: bool = True, **push_options: Any) -> dict:
        """The warehouse ships an order (S2d): a Confirmed outbound with lc_id/l_id, the order
        Sent (or still Delivering after a partial shipment), then the 物流同步 push.
        ``items`` [{outer_oi_id or sku_id, qty}] ships only those lines. Returns
        {"order", "outbound", "payload", "push"}."""
        with self.state.lock:
            order = self._order(o_id, so_id)
            if order["status"] in ("Cancelled", "Sent"):
                raise ValueError(f"order {order['o_id']} is {order['status']}")
            lc = self.state.logistics_companies.get(lc_id)
            if lc is None:
                raise KeyError(f"unknown lc_id {lc_id}")
            l_id = l_id or f"{lc_id}{order['o_id']}{len(self.state.outbounds)}"
            lines = []
            for want in items or [{"outer_oi_id": it["outer_oi_id"]} for it in order["items"]]:
                line = next((it for it in order["items"] if (want.get("outer_oi_id") and it["outer_oi_id"] == str(want["outer_oi_id"]))
                             or (not want.get("outer_oi_id") and it["sku_id"] == want.get("sku_id"))), None)
                if line is None:
                    raise KeyError(f"no order line {want}")
                left = line["qty"] - line.get("shipped_qty", 0)
                qty = min(want.get("qty", left), left)
                if qty <= 0:
                    continue
                line["shipped_qty"] = line.get("shipped_qty", 0) + qty
                lines.append({**line, "qty": qty})
            if not lines:
                raise ValueError("nothing left to ship")
            all_sent = all(it.get("shipped_qty", 0) >= it["qty"] for it in order["items"])
            wms = order["wms_co_id"] or next((w for w, r in self.state.warehouses.items() if r["is_main"]), 0)
            now = self.state.now_str()
            ob = self.state.add_outbound({"o_id": order["o_id"], "so_id": order["so_id"], "shop_id": order["shop_id"],
                                          "wms_co_id": wms, "status": "Confirmed", "lc_id": lc_id, "l_id": l_id,
                                          "logistics_company": lc["lc_name"], "io_date": now,
                                          "items": [{k: it[k] for k in ("sku_id", "qty", "name", "oi_id", "outer_oi_id")}
                                                    for it in lines]})
            for line in lines:
                self.state.adjust_inventory(wms, line["sku_id"], "qty", -line["qty"])
            order.update(status="Sent" if all_sent else "Delivering", send_date=now, lc_id=lc_id, l_id=l_id,
                         logistics_company=lc["lc_name"], wms_co_id=wms)
            self.state.touch(order)
            payload = delivery_payload(self.state, order, items=lines, is_send_all=all_sent)
            result = {"order": dict(order), "outbound": dict(ob), "payload": payload}
        push_options.setdefault("storage_code", order["shop_id"])
        drop = push_options.pop("drop", False)
        result["push"] = self.pushes.send("delivery", payload, drop=drop, **push_options) if push or drop else None
        return result

    def cancel_order(self, *, o_id: Any = None, so_id: Any = None, remark: str = "仓库取消", push: bool = True,
                     **push_options: Any) -> dict:
        """JST cancels an order (S2c): order Cancelled, its waiting outbounds Delete, then the 取消订单 push."""
        with self.state.lock:
            order = self._order(o_id, so_id)
            if order["status"] == "Sent":
                raise ValueError(f"order {order['o_id']} is already Sent")
            order.update(status="Cancelled", cancel_remark=remark)
            self.state.touch(order)
            for ob in self.state.outbounds.values():
                if ob["o_id"] == order["o_id"] and ob["status"] == "WaitConfirm":
                    ob["status"] = "Delete"
                    self.state.touch(ob)
            payload = cancel_payload(order, remark)
        push_options.setdefault("storage_code", order["shop_id"])
        drop = push_options.pop("drop", False)
        return {"order": dict(order), "payload": payload,
                "push": self.pushes.send("cancel", payload, drop=drop, **push_options) if push or drop else None}

    def receive_aftersale(self, *, as_id: Any = None, outer_as_id: Any = None, items: list[dict] | None = None,
                          action: str = "确认收货", wms_co_id: int | None = None, push: bool = True,
                          **push_options: Any) -> dict:
        """The warehouse receives returned goods (S2r): a Confirmed 退仓单 for
        /open/aftersale/received/query, return stock, then the 售后收货 push (refund.goods)."""
        with self.state.lock:
            a = self.state.find_aftersale(as_id=as_id, outer_as_id=outer_as_id)
            if a is None:
                raise KeyError(f"no after-sale as_id={as_id} outer_as_id={outer_as_id}")
            lines = items or [{"sku_id": it["sku_id"], "qty": it.get("qty", 1)} for it in a["items"]]
            wms = int(wms_co_id or a["wms_co_id"] or next((w for w, r in self.state.warehouses.items() if r["is_main"]), 0))
            order = self.state.orders.get(a["o_id"], {})
            lc = self.state.logistics_companies.get(a.get("logistics_company", ""), {})
            if action == "确认收货":
                io_id = next(self.state._io_id)
                now = self.state.now_str()
                doc = {"io_id": io_id, "o_id": a["o_id"], "so_id": a["so_id"], "as_id": a["as_id"],
                       "outer_as_id": a["outer_as_id"], "shop_id": a["shop_id"], "l_id": a["l_id"],
                       "lc_id": lc.get("lc_id", ""), "logistics_company": a["logistics_company"], "io_date": now,
                       "warehouse": "销退仓" if a["warehouse_type"] == 2 else "主仓", "wh_id": a["warehouse_type"],
                       "wms_co_id": wms, "status": "Confirmed", "type": a["type"], "created": now,
                       "order_date": order.get("order_date", now), "batchs": [], "sns": [],
                       "items": self.state._items(lines, "ioi_id")}
                self.state.touch(doc)
                self.state.aftersale_received[io_id] = doc
                field_name = "return_qty" if a["warehouse_type"] == 2 else "qty"
                for it in lines:
                    self.state.adjust_inventory(wms, it["sku_id"], field_name, it["qty"])
                a["status"], a["good_status"] = "Confirmed", "SELLER_RECEIVED"
            else:
                for doc in self.state.aftersale_received.values():
                    if doc["as_id"] == a["as_id"] and doc["status"] == "Confirmed":
                        doc["status"] = "Cancelled"
                        self.state.touch(doc)
                a["status"] = "WaitConfirm"
            self.state.touch(a)
            payload = refund_goods_payload(self.state, a, action)
            payload["items"] = [{"sku_id": it["sku_id"], "qty": it["qty"]} for it in lines]
        push_options.setdefault("storage_code", a["shop_id"])
        drop = push_options.pop("drop", False)
        return {"aftersale": dict(a), "payload": payload,
                "push": self.pushes.send("return_goods", payload, drop=drop, **push_options) if push or drop else None}

    def set_stock(self, wms_co_id: int, sku_id: str, *, push: bool = False, push_options: dict | None = None,
                  **fields: Any) -> dict:
        """Change a warehouse's stock (S3: qty, virtual_qty, ... as keyword arguments); with
        push=True also the 库存同步 push of that SKU for that warehouse."""
        with self.state.lock:
            row = dict(self.state.set_inventory(int(wms_co_id), sku_id, **fields))
        pushed = self.push_stock(wms_co_id, [sku_id], **(push_options or {})) if push else None
        return {"inventory": row, "push": pushed}

    def push_stock(self, wms_co_id: int, sku_ids: list[str] | None = None, **push_options: Any) -> dict:
        """The 库存同步 push of a warehouse's SKUs (all, or the ones given), as JST sends it: shop-level.

        JST's 库存同步 tells the 自有商城 shop what it may sell, by its shop-stock rule over every
        warehouse (here: the available stock, qty - order_lock, summed over all warehouses), not
        the stock of the warehouse named in storageCode; only the SKUs and times are about it."""
        with self.state.lock:
            rows = [dict(r) for (w, s), r in self.state.inventory.items()
                    if w == int(wms_co_id) and (sku_ids is None or s in sku_ids)]
            shop = next((sid for sid, shop in self.state.shops.items() if shop["shop_site"] == "商家自有商城"), 0)
            payload = inventory_payload(self.state, rows, shop_id=shop, formula=self._shop_level_qty)
        push_options.setdefault("storage_code", int(wms_co_id))
        drop = push_options.pop("drop", False)
        return self.pushes.send("stock", payload, drop=drop, **push_options)

    def _shop_level_qty(self, row: dict) -> int:
        return int(sum(max(0, r["qty"] - r.get("order_lock", 0)) for (w, sku), r in self.state.inventory.items()
                       if sku == row["sku_id"]))

    def push(self, kind: str, payload: dict, **options: Any) -> dict:
        """Send any push: kind delivery/cancel/return_goods/stock; options ent_id, storage_code,
        body json|form, auth sign|token|none|bad_sign, drop, base_url."""
        return self.pushes.send(kind, payload, **options)


def _biz_of(form: dict) -> Any:
    text = form.get("biz")
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class JstCompanySandbox(JstSandbox):
    """A further JST company beside the demo tenant's (one per tenant of the local stack that
    has its own JST company). It leaves the ``O2O_JST_*`` variables to the demo tenant's."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, ent_id: str) -> None:
        super().__init__(host, port)
        self.name = f"JST sandbox {ent_id}"
        self.ent_id = ent_id

    def environment(self) -> dict[str, str]:
        return {f"O2O_JST_SANDBOX_URL_{self.ent_id}": self.url} if self.running else {}
