"""Admin routes under /__admin__/ (JSON in, JSON out), mapped onto the Python API.

GET  /__admin__/state                  documents, stock, items, calls received, callbacks sent
GET  /__admin__/calls | callbacks | documents | stock
POST /__admin__/reset                  {}
POST /__admin__/faults                 {error_rate, kinds: [failure|http|timeout], seed,
                                        script: [{kind, method?, code?, delay?, times?}]}
POST /__admin__/ship                   {code, parcels?: [{tracking_no?, carrier?, items: {sku: qty}}],
                                        final?, out_biz_code?, duplicate?, bad_sign?, drop?}
POST /__admin__/receive                {code, items?: {sku: qty}, final?, out_biz_code?, duplicate?, ...}
POST /__admin__/refuse-cancel          {code, reason?}
POST /__admin__/stock                  {items: {sku: qty}}   set stock and send stockchange.report
POST /__admin__/count                  {items: {sku: qty}}   a stock count: inventory.report
POST /__admin__/resend                 {index?}              a recorded callback again (default: the last)
POST /__admin__/bridge                 {url}                 where callbacks go
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import QimenSandbox

SEND_OPTIONS = ("duplicate", "bad_sign", "drop", "timestamp")


def handle(sb: "QimenSandbox", method: str, route: str, body: Any) -> tuple[int, Any]:
    route = route.strip("/")
    try:
        if method == "GET":
            snapshot = sb.state.snapshot()
            if route in ("", "state"):
                return 200, snapshot
            if route in snapshot:
                return 200, snapshot[route]
            return 404, {"error": f"no such collection {route}"}
        if not isinstance(body, dict):
            return 400, {"error": "body must be a JSON object"}
        send = {k: body[k] for k in SEND_OPTIONS if k in body}
        if route == "reset":
            sb.reset()
            return 200, {"ok": True}
        if route == "faults":
            if "seed" in body:
                sb._random = random.Random(int(body["seed"]))
            sb.faults.update({k: body[k] for k in ("error_rate", "kinds", "script") if k in body})
            return 200, sb.faults
        if route == "ship":
            return 200, sb.ship(body["code"], body.get("parcels"), final=body.get("final"),
                                out_biz_code=body.get("out_biz_code"), **send)
        if route == "receive":
            return 200, sb.receive(body["code"], body.get("items"), final=body.get("final"),
                                   out_biz_code=body.get("out_biz_code"), **send)
        if route == "refuse-cancel":
            return 200, sb.refuse_cancel(body["code"], body.get("reason", "已发货，不能取消"))
        if route == "stock":
            return 200, sb.change_stock(body["items"], **send)
        if route == "count":
            return 200, sb.count_stock(body["items"], **send)
        if route == "resend":
            try:
                return 200, sb.resend(int(body.get("index", -1)), **send)
            except IndexError:
                return 404, {"error": f"no callback {body.get('index', -1)} was recorded"}
        if route == "bridge":
            sb.connect_bridge(body["url"])
            return 200, {"bridge_url": sb.bridge_url}
        return 404, {"error": f"no such admin route {route}"}
    except KeyError as exc:
        return 404, {"error": str(exc).strip("'\"")}
