"""Admin endpoints under /__admin__/ (JSON in, JSON out), mapped onto the Python API.

GET  /__admin__/state[/<collection>]   the whole state or one collection (shops, warehouses, logistics,
                                        goods_classes, goods, stock, trades, refunds, stockins, stockouts,
                                        pd_orders, calls)
GET  /__admin__/calls[?api=NAME.php]   calls received: seq, api, params, code, message, http_status, fault
GET  /__admin__/faults | rate-limit | settings
POST /__admin__/reset                  {} (state, logs, faults)
POST /__admin__/seed                   {"demo": true} and/or {accounts, settings, shops, warehouses, logistics,
                                        goods_classes, goods, stock}
POST /__admin__/settings               {any Settings field}
POST /__admin__/faults                 {error_rate, http_fraction, jst_codes, http_statuses, latency_ms,
                                        timeout_rate, hang_seconds, apply_effect_rate, paths, seed,
                                        "reset": bool, "script": [{kind: wdt|http|timeout|latency, path, code,
                                        delay, apply_effect, times}]}
POST /__admin__/rate-limit             {per_second, per_minute, enabled}
POST /__admin__/calls/clear
POST /__admin__/clock                  {advance_seconds}
POST /__admin__/stockins               {warehouse_no, order_type (code or name), lines [{spec_no, num}], remark?, status?}
POST /__admin__/stockouts              {warehouse_no, order_type, lines, remark?, status?}
POST /__admin__/goods                  {goods_no, goods_name?, class_name?, brand_name?, spec_list [...]}
POST /__admin__/stock                  {warehouse_no, spec_no, stock_num}
POST /__admin__/warehouses             {warehouse_no, name, ...} add or change; {"remove": "NO"} removes
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..sandbox_http import ADMIN_PREFIX as PREFIX, admin_answer

if TYPE_CHECKING:
    from .server import WdtSandbox


def handle(sb: "WdtSandbox", method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
    """State, calls, faults, rate limit, settings, reset, clock: sandbox_http; the rest here."""
    return admin_answer(sb, method, path, query, body, get=_get, post=_post)


def _get(sb: "WdtSandbox", route: str, query: dict) -> Any:
    raise LookupError(f"unknown admin route GET {route}")


def _post(sb: "WdtSandbox", route: str, body: dict) -> Any:
    if route == "seed":
        result = sb.seed_demo() if body.pop("demo", False) else {}
        return sb.seed(**body) if body else result
    if route == "stockins":
        return sb.add_stockin(body.pop("warehouse_no"), body.pop("order_type"), body.pop("lines"), **body)
    if route == "stockouts":
        return sb.add_stockout(body.pop("warehouse_no"), body.pop("order_type"), body.pop("lines"), **body)
    if route == "goods":
        return sb.put_goods(**body)
    if route == "stock":
        return sb.set_stock(body["warehouse_no"], body["spec_no"], body["stock_num"])
    if route == "warehouses":
        if "remove" in body:
            return sb.remove_warehouse(body["remove"])
        return sb.put_warehouse(**body)
    raise LookupError(f"unknown admin route POST {route}")
