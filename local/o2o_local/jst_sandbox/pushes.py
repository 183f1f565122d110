"""JST → bridge pushes (reference §6.1, §6.2): 物流同步, 取消订单, 售后收货, 库存同步.

A push is an HTTP POST to ``{callback_base_url}{route}?entId=E&storageCode=S[&type=2]``
plus either the old-style query sign (``method``, ``partnerid``, ``ts``, ``sign``) or the
tenant's ``token``; the payload is a JSON body or a form with a ``biz`` field. Every push
is recorded in ``state.pushes`` with the answer it got; a push can be dropped on purpose.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .signing import push_sign
from .state import SandboxState

__all__ = ["PushSender", "PUSH_KINDS", "delivery_payload", "cancel_payload", "refund_goods_payload",
           "inventory_payload"]

# kind -> (route, old-style method)
PUSH_KINDS = {
    "delivery": ("/jushuitan/delivery_callback", "logistics.upload"),
    "cancel": (None, None),  # route and method from settings (cancel_path, cancel_method)
    "return_goods": ("/jushuitan/return_goods_callback", "refund.goods"),
    "stock": ("/jushuitan/stock_callback", "inventory.upload"),
}


def delivery_payload(state: SandboxState, order: dict, *, items: list[dict] | None = None,
                     is_send_all: bool = True) -> dict:
    lines = items if items is not None else order["items"]
    return {"so_id": order["so_id"], "o_id": order["o_id"], "send_date": order.get("send_date") or state.now_str(),
            "l_id": order["l_id"], "lc_id": order["lc_id"], "logistics_company": order["logistics_company"],
            "order_from": order.get("order_from", "OTHER"), "wms_co_id": order["wms_co_id"],
            "is_send_all": is_send_all,
            "items": [{"sku_id": it["sku_id"], "qty": it["qty"], "so_id": order["so_id"], "oi_id": it.get("oi_id", 0),
                       "name": it.get("name", ""), "outer_oi_id": it.get("outer_oi_id", "")} for it in lines]}


def cancel_payload(order: dict, remark: str = "") -> dict:
    return {"so_id": order["so_id"], "o_id": order["o_id"], "remark": remark}


def refund_goods_payload(state: SandboxState, aftersale: dict, action: str = "确认收货", remark: str = "") -> dict:
    return {"outer_as_id": aftersale["outer_as_id"], "as_id": aftersale["as_id"], "so_id": aftersale["so_id"],
            "o_id": aftersale["o_id"], "action_name": action, "remark": remark, "shop_id": aftersale["shop_id"],
            "unique_id": f"{aftersale['as_id']}-{aftersale['ts']}", "send_date": state.now_str(),
            "items": [{"sku_id": it["sku_id"], "qty": it.get("qty", 0), "outer_oi_id": it.get("outer_oi_id", "")}
                      for it in aftersale["items"]]}


def inventory_payload(state: SandboxState, rows: list[dict], shop_id: int = 0, formula=None) -> dict:
    datas = []
    for row in rows:
        sku = state.skus.get(row["sku_id"], {})
        qty = formula(row) if formula else row["qty"]
        datas.append({"i_id": sku.get("i_id", ""), "id": sku.get("autoid", 0), "qty": qty, "shop_i_id": sku.get("i_id", ""),
                      "shop_id": shop_id, "shop_sku_id": row["sku_id"], "sku_id": row["sku_id"],
                      "sku_source": "erp", "modified": row["modified"], "wms_co_id": row["wms_co_id"]})
    return {"datas": datas}


def pasted_url(urls: list[str], route: str, query: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The pasted URL for this route, tenant and storageCode, as (base URL, its query with what
    the push adds kept), or None when none was pasted for it."""
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if not parts.path.endswith(route):
            continue
        pasted = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        if pasted.get("entId") == str(query["entId"]) and pasted.get("storageCode") == str(query["storageCode"]):
            base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path[:-len(route)], "", ""))
            return base, {**{k: v for k, v in query.items() if k not in pasted}, **pasted}
    return None


class PushSender:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._ids = itertools.count(1)

    def build(self, kind: str, payload: dict, *, ent_id: str | None = None, storage_code: Any = None,
              body: str = "json", auth: str = "sign", base_url: str | None = None,
              extra_query: dict | None = None) -> dict:
        """The request a push would make: url, headers, data (bytes), query, method."""
        if kind not in PUSH_KINDS:
            raise ValueError(f"unknown push kind {kind!r}; one of {sorted(PUSH_KINDS)}")
        if body not in ("json", "form"):
            raise ValueError("body must be 'json' or 'form'")
        if auth not in ("sign", "token", "none", "bad_sign"):
            raise ValueError("auth must be 'sign', 'token', 'bad_sign' or 'none'")
        st = self.state.settings
        route, method = PUSH_KINDS[kind]
        if kind == "cancel":
            route, method = st.cancel_path, st.cancel_method
        query: dict[str, Any] = {"entId": ent_id or st.ent_id, "storageCode": storage_code if storage_code is not None else ""}
        if kind == "stock":
            query["type"] = 2
        query.update(extra_query or {})
        if auth in ("sign", "bad_sign"):
            ts = int(self.state.time())
            signed = {"ts": ts} if st.push_sign_scope == "jst_params" else {**query, "ts": ts}
            sign = push_sign(method, st.partnerid, signed, st.partner_key)
            if auth == "bad_sign":
                sign = "0" * 32
            query.update(method=method, partnerid=st.partnerid, ts=ts, sign=sign)
        elif auth == "token":
            pasted = pasted_url(st.callback_urls, route, query)
            if pasted is not None:
                base_url, query = pasted
            else:
                query["token"] = st.callback_token
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        if body == "json":
            data = text.encode("utf-8")
            ctype = "application/json; charset=utf-8"
        else:
            data = urllib.parse.urlencode({"biz": text}).encode("ascii")
            ctype = "application/x-www-form-urlencoded; charset=utf-8"
        url = (base_url or st.callback_base_url).rstrip("/") + route + "?" + urllib.parse.urlencode(query)
        return {"method": "POST", "url": url, "query": {k: str(v) for k, v in query.items()},
                "headers": {"Content-Type": ctype}, "data": data, "body_text": text}

    def send(self, kind: str, payload: dict, *, drop: bool = False, timeout: float | None = None, **options: Any) -> dict:
        """Send (or drop) one push; returns its record (also appended to ``state.pushes``)."""
        req = self.build(kind, payload, **options)
        record = {"id": next(self._ids), "kind": kind, "url": req["url"], "query": req["query"],
                  "body": options.get("body", "json"), "auth": options.get("auth", "sign"), "payload": payload,
                  "dropped": drop, "http_status": None, "response": None, "accepted": False, "error": None,
                  "at": self.state.now_str()}
        if not drop:
            request = urllib.request.Request(req["url"], data=req["data"], headers=req["headers"], method="POST")
            try:
                with urllib.request.urlopen(request, timeout=timeout or self.state.settings.push_timeout_s) as resp:
                    record["http_status"], raw = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                record["http_status"], raw = exc.code, exc.read()
            except OSError as exc:
                raw = b""
                record["error"] = f"{type(exc).__name__}: {exc}"
            text = raw.decode("utf-8", "replace")
            try:
                record["response"] = json.loads(text) if text else None
            except ValueError:
                record["response"] = text
            resp_json = record["response"]
            record["accepted"] = (record["http_status"] == 200 and isinstance(resp_json, dict)
                                  and str(resp_json.get("code")) == "0")
        with self.state.lock:
            self.state.pushes.append(record)
        return record
