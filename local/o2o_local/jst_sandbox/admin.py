"""Admin endpoints under /__admin__/ (JSON in, JSON out), mapped onto the Python API.

GET  /__admin__/state[/<collection>]     the whole state, or one collection (orders, outbounds,
                                          confirmed_outbounds, sent_uploads, other_inouts, transfers,
                                          inventory, inventory_uploads, aftersales, aftersale_received, ...)
GET  /__admin__/calls[?path=/open/...]   calls received: seq, path, biz, code, msg, http_status, fault
GET  /__admin__/pushes                   pushes sent: kind, url, payload, http_status, response, accepted
GET  /__admin__/faults | rate-limit | settings
POST /__admin__/reset                    {} (state, logs, faults)
POST /__admin__/seed                     {"demo": true, "callback_base_url": ..., shops, warehouses,
                                          logistics_companies, skus, inventory, outbounds, orders,
                                          other_inouts, aftersales, credentials, settings}
POST /__admin__/settings                 {any Settings field}
POST /__admin__/faults                   {error_rate, http_fraction, jst_codes, http_statuses, latency_ms,
                                          latency_jitter_ms, timeout_rate, hang_seconds, apply_effect_rate, paths, seed,
                                          "reset": bool, "script": [{kind, path, code, delay, apply_effect, times}]}
POST /__admin__/rate-limit               {per_second, per_minute, enabled}
POST /__admin__/token                    {app_key, access_token?, refresh_token?, expires_in?} issue;
                                          {"expire": true, "access_token"?} expire (→ code 100)
POST /__admin__/calls/clear
POST /__admin__/clock                    {advance_seconds}
POST /__admin__/outbounds                {outbound fields, order: {order-only fields}} add a sales outbound
                                          (and its order: is_cod and paid_amount may be the order's only)
POST /__admin__/outbounds/status         {io_id, status}
POST /__admin__/otherinout/confirm       {io_id, status?}
POST /__admin__/transfers/confirm        {io_id, status?} a 调拨单 shipped (Confirmed) or Cancelled
POST /__admin__/transfers/receive        {io_id} a shipped 调拨单 taken in at the receiving warehouse
POST /__admin__/inventory-uploads/confirm {so_id}
POST /__admin__/orders/ship              {o_id|so_id, lc_id, l_id?, items?, push?, drop?, body?, auth?, ...}
POST /__admin__/orders/cancel            {o_id|so_id, remark?, push?, ...push options}
POST /__admin__/aftersales/receive       {as_id|outer_as_id, items?, action?, wms_co_id?, push?, ...}
POST /__admin__/inventory                {wms_co_id, sku_id, qty..., push?, push_options?}
POST /__admin__/inventory/push           {wms_co_id, sku_ids?, ...push options}
POST /__admin__/push                     {kind, payload, ent_id?, storage_code?, body?, auth?, drop?, base_url?}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..sandbox_http import ADMIN_PREFIX as PREFIX, admin_answer

if TYPE_CHECKING:
    from .server import JstSandbox


def handle(sb: "JstSandbox", method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
    """State, calls, faults, rate limit, settings, reset, clock: sandbox_http; the rest here."""
    return admin_answer(sb, method, path, query, body, get=_get, post=_post)


def _get(sb: "JstSandbox", route: str, query: dict) -> Any:
    if route == "pushes":
        return sb.state.snapshot("pushes")
    raise LookupError(f"unknown admin route GET {route}")


def _post(sb: "JstSandbox", route: str, body: dict) -> Any:
    if route == "seed":
        result = {}
        if body.pop("demo", False):
            result = sb.seed_demo(callback_base_url=body.pop("callback_base_url", None))
        elif "callback_base_url" in body:
            sb.configure(callback_base_url=body.pop("callback_base_url"))
        if body:
            result = sb.seed(**body)
        return result
    if route == "token":
        if body.get("expire"):
            return {"expired": sb.state.expire_token(body.get("access_token"))}
        app_key = body.get("app_key") or next(iter(sb.state.apps), None)
        if app_key is None or app_key not in sb.state.apps:
            raise LookupError("unknown app_key (seed credentials first)")
        return sb.state.issue_token(app_key, access_token=body.get("access_token"),
                                    refresh_token=body.get("refresh_token"), expires_in=body.get("expires_in"))
    if route == "outbounds":
        return sb.add_outbound(**body)
    if route == "outbounds/status":
        return sb.set_outbound_status(body["io_id"], body["status"])
    if route == "otherinout/confirm":
        return sb.confirm_other_inout(body["io_id"], body.get("status", "Confirmed"))
    if route == "transfers/confirm":
        return sb.confirm_transfer(body["io_id"], body.get("status", "Confirmed"))
    if route == "transfers/receive":
        return sb.receive_transfer(body["io_id"])
    if route == "inventory-uploads/confirm":
        return sb.confirm_inventory_upload(body["so_id"])
    if route == "orders/ship":
        return sb.ship_order(**body)
    if route == "orders/cancel":
        return sb.cancel_order(**body)
    if route == "aftersales/receive":
        return sb.receive_aftersale(**body)
    if route == "inventory":
        body = dict(body)
        return sb.set_stock(body.pop("wms_co_id"), body.pop("sku_id"), **body)
    if route == "inventory/push":
        body = dict(body)
        return sb.push_stock(body.pop("wms_co_id"), body.pop("sku_ids", None), **body)
    if route == "push":
        body = dict(body)
        return sb.push(body.pop("kind"), body.pop("payload"), **body)
    raise LookupError(f"unknown admin route POST {route}")
