"""JST's side of the open API: the envelope checks and each endpoint's behaviour.

``process(state, limiter, path, form)`` takes the decoded form of one POST and returns the
JSON answer (always HTTP 200 like JST; business errors are a non-zero ``code``).
Paths, parameters, field names, limits and codes follow JST's open-platform documentation.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Callable

from .faults import RateLimiter
from .signing import openweb_sign_matches
from .state import INVENTORY_FIELDS, Credentials, SandboxState, parse_time

__all__ = ["JstError", "process", "API_PATHS", "TOKEN_PATHS", "ok", "error"]

MSG_OK = "执行成功"


class JstError(Exception):
    def __init__(self, code: int, msg: str, data: Any = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.data = code, msg, data


def ok(data: Any = None, **extra: Any) -> dict:
    return {"code": 0, "msg": MSG_OK, **extra, "data": data}


def error(code: int, msg: str, data: Any = None) -> dict:
    return {"code": code, "msg": msg, "data": data}


# -- helpers ----------------------------------------------------------------------------

def _param_error(state: SandboxState, msg: str) -> JstError:
    return JstError(state.settings.param_error_code, msg)


def _int(state: SandboxState, value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _param_error(state, f"参数{name}不符合规范: {value!r}") from None


def _page(state: SandboxState, biz: dict, max_size: int | None, default: int) -> tuple[int, int]:
    index = _int(state, biz.get("page_index", 1), "page_index")
    size = _int(state, biz.get("page_size", default), "page_size")
    if index < 1:
        raise _param_error(state, "page_index必须大于0")
    if size < 1:
        raise _param_error(state, "page_size必须大于0")
    if max_size is not None and size > max_size:
        raise _param_error(state, f"page_size不能超过{max_size}")
    return index, size


def _paged(rows: list[dict], index: int, size: int, list_key: str, *, totals: bool = True) -> dict:
    start = (index - 1) * size
    page = rows[start:start + size]
    out = {"page_index": index, "page_size": size, "has_next": start + size < len(rows), list_key: page}
    if totals:
        out["data_count"] = len(rows)
        out["page_count"] = (len(rows) + size - 1) // size
    return out


def _window(state: SandboxState, biz: dict, begin: str = "modified_begin", end: str = "modified_end"):
    b, e = biz.get(begin), biz.get(end)
    if not b and not e:
        return None
    if not b or not e:
        raise _param_error(state, f"{begin}和{end}必须同时存在")
    try:
        tb, te = parse_time(b), parse_time(e)
    except ValueError:
        raise _param_error(state, f"{begin}/{end}时间格式错误，应为yyyy-MM-dd HH:mm:ss") from None
    if te < tb:
        raise _param_error(state, f"{end}不能早于{begin}")
    days = state.settings.max_window_days
    if te - tb > timedelta(days=days):
        raise _param_error(state, f"{begin}和{end}时间间隔不能超过{days}天")
    return tb, te


def _in_window(value: str | None, window) -> bool:
    if window is None:
        return True
    if not value:
        return False
    t = parse_time(value)
    return window[0] <= t <= window[1]


def _list(state: SandboxState, biz: dict, name: str, max_len: int | None, *, comma: bool = False) -> list | None:
    value = biz.get(name)
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()] if comma else [value]
    if not isinstance(value, list):
        value = [value]
    if max_len is not None and len(value) > max_len:
        raise _param_error(state, f"{name}最多{max_len}个")
    return [str(v) for v in value]


def _start_ts(state: SandboxState, biz: dict, name: str = "start_ts") -> int | None:
    value = biz.get(name)
    return None if value in (None, "") else _int(state, value, name)


def _by_ts(rows) -> list[dict]:
    return sorted(rows, key=lambda r: r["ts"])


def _array(state: SandboxState, biz: Any, max_len: int | None, name: str = "biz") -> list[dict]:
    if isinstance(biz, dict):
        biz = [biz]  # tolerate a single object
    if not isinstance(biz, list) or not biz:
        raise JstError(130, "传输数据不能为空")
    if max_len is not None and len(biz) > max_len:
        raise _param_error(state, f"{name}最多{max_len}条")
    if not all(isinstance(r, dict) for r in biz):
        raise _param_error(state, f"{name}的每一项必须是对象")
    return biz


def _require(state: SandboxState, row: dict, *names: str) -> None:
    for n in names:
        if row.get(n) in (None, ""):
            raise _param_error(state, f"{n}不能为空")


# -- base data --------------------------------------------------------------------------

def shops_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 100, 100)
    ids = _list(state, biz, "shop_ids", None)
    rows = [s for s in state.shops.values() if ids is None or str(s["shop_id"]) in ids]
    return ok(_paged(sorted(rows, key=lambda s: s["shop_id"]), index, size, "datas", totals=False))


def wms_partner_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, state.settings.wms_partner_page_max, 30)
    rows = [w for w in state.warehouses.values() if w.get("status") in ("生效", "enabled", "Enabled", 1, True)]
    return ok(_paged(sorted(rows, key=lambda w: w["wms_co_id"]), index, size, "datas"))


def logisticscompany_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 50, 30)
    window = _window(state, biz)
    wms = biz.get("wms_co_id")
    rows = []
    for lc in state.logistics_companies.values():
        if not _in_window(lc["modified"], window):
            continue
        if wms not in (None, "", 0, "0") and lc["wms_co_ids"] and int(wms) not in lc["wms_co_ids"]:
            continue
        rows.append({"lc_id": lc["lc_id"], "lc_name": lc["lc_name"], "modified": lc["modified"]})
    return ok(_paged(rows, index, size, "datas"))


# -- items ------------------------------------------------------------------------------

def sku_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 50, 30)
    sku_ids = _list(state, biz, "sku_ids", 20, comma=True)
    i_ids = _list(state, biz, "i_ids", 20, comma=True)
    window = _window(state, biz)
    if window is None and not sku_ids and not i_ids and not biz.get("name") and not biz.get("sku_codes"):
        raise _param_error(state, "sku_ids与修改时间不能同时为空")
    date_field = biz.get("date_field") or "modified"
    codes = _list(state, biz, "sku_codes", 20, comma=True)
    rows = []
    for s in state.skus.values():
        if sku_ids and s["sku_id"] not in sku_ids:
            continue
        if i_ids and s["i_id"] not in i_ids:
            continue
        if codes and s.get("sku_code") not in codes:
            continue
        if biz.get("name") and (s["name"] != biz["name"] if biz.get("exactly_name") else biz["name"] not in s["name"]):
            continue
        if not _in_window(s.get(date_field), window):
            continue
        rows.append(s)
    return ok(_paged(_by_ts(rows), index, size, "datas"))


def mall_item_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 50, 30)
    i_ids = _list(state, biz, "i_ids", 20, comma=True)
    window = _window(state, biz)
    if window is None and not i_ids:
        raise _param_error(state, "i_ids与修改时间不能同时为空")
    date_field = biz.get("date_field") or "modified"
    styles: dict[str, dict] = {}
    for s in _by_ts(state.skus.values()):
        style = styles.setdefault(s["i_id"], {"i_id": s["i_id"], "name": s["name"], "c_id": s["c_id"],
                                              "c_name": s["category"], "s_price": s["sale_price"],
                                              "c_price": s["cost_price"], "market_price": s["market_price"],
                                              "brand": s["brand"], "modified": s["modified"], "created": s["created"],
                                              "skus": []})
        style["modified"] = max(style["modified"], s["modified"])
        # As JST's 普通商品查询 answers: no 条形码 (sku_code), labels or custom fields (other_n), unless
        # named in item_flds / itemsku_flds; the SKU master (/open/sku/query) has them.
        wanted_style, wanted_sku = set(biz.get("item_flds") or ()), set(biz.get("itemsku_flds") or ())
        if "labels" in wanted_style:
            style["labels"] = ",".join(dict.fromkeys(x for x in (style.get("labels", "") + "," + s.get("labels", "")).split(",") if x))
        for n in range(1, 11):
            if f"other_{n}" in wanted_style:
                style.setdefault(f"other_{n}", s.get(f"other_{n}", ""))
        if not biz.get("only_item"):
            row = {"sku_id": s["sku_id"], "i_id": s["i_id"], "name": s["name"],
                   "sale_price": s["sale_price"], "cost_price": s["cost_price"],
                   "market_price": s["market_price"], "enabled": s["enabled"],
                   "properties_value": s["properties_value"], "category": s["category"],
                   "purchase_price": s.get("purchase_price", s["cost_price"]), "modified": s["modified"]}
            row.update({name: s.get(name, "") for name in wanted_sku if name in s})
            style["skus"].append(row)
    rows = [st for st in styles.values()
            if (not i_ids or st["i_id"] in i_ids) and _in_window(st.get(date_field), window)]
    return ok(_paged(rows, index, size, "datas"))


# -- inventory --------------------------------------------------------------------------

def inventory_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 100, 30)
    window = _window(state, biz)
    ts = _start_ts(state, biz, "ts")
    if ts is not None and window is not None:
        raise _param_error(state, "ts与修改时间不能同时传")
    sku_ids = _list(state, biz, "sku_ids", 100, comma=True)
    i_ids = _list(state, biz, "i_ids", None, comma=True)
    if window is None and not sku_ids and ts is None and not i_ids:
        raise _param_error(state, "sku_ids与修改时间不能同时为空")
    wms = biz.get("wms_co_id")
    wms = 0 if wms in (None, "") else _int(state, wms, "wms_co_id")
    if wms and wms not in state.warehouses:
        raise _param_error(state, f"仓库wms_co_id={wms}不存在")
    grouped: dict[str, dict] = {}
    for (w, sku_id), row in state.inventory.items():
        if wms and w != wms:
            continue
        agg = grouped.get(sku_id)
        if agg is None:
            agg = grouped[sku_id] = {k: 0 for k in INVENTORY_FIELDS}
            agg.update(sku_id=sku_id, modified=row["modified"], ts=row["ts"])
        for k in INVENTORY_FIELDS:
            agg[k] += row[k]
        agg["modified"] = max(agg["modified"], row["modified"])
        agg["ts"] = max(agg["ts"], row["ts"])
    rows = []
    for sku_id, agg in grouped.items():
        sku = state.skus.get(sku_id, {})
        agg["i_id"] = sku.get("i_id", "")
        agg["name"] = sku.get("name", "")
        if not biz.get("has_lock_qty"):
            agg.pop("lock_qty", None)
        if sku_ids and sku_id not in sku_ids or i_ids and agg["i_id"] not in i_ids:
            continue
        if ts is not None and agg["ts"] < ts or not _in_window(agg["modified"], window):
            continue
        rows.append(agg)
    return ok(_paged(_by_ts(rows), index, size, "inventorys", totals=False))


WAREHOUSE_FIELD = {1: "qty", 2: "return_qty", 3: "in_qty", 4: "defective_qty"}


def inventoryv2_upload(state: SandboxState, biz: dict) -> dict:
    if not isinstance(biz, dict):
        raise _param_error(state, "biz必须是对象")
    _require(state, biz, "so_id")
    so_id = str(biz["so_id"])
    kind = biz.get("type") or "adjust"
    if kind not in ("check", "adjust"):
        raise _param_error(state, f"type只能是check或adjust: {kind}")
    items = biz.get("items") or []
    if not items:
        raise JstError(130, "items不能为空")
    if len(items) > 500:
        raise _param_error(state, "items最多500条")
    wms = biz.get("wms_co_id")
    if wms in (None, "", 0, "0"):
        wms = next((w for w, row in state.warehouses.items() if row["is_main"]), 0)
    wms = _int(state, wms, "wms_co_id")
    if wms not in state.warehouses:
        raise _param_error(state, f"仓库wms_co_id={wms}不存在")
    if so_id in state.inventory_uploads:
        first = state.inventory_uploads[so_id]
        return {"code": 160, "issuccess": False, "msg": f"外部单号so_id={so_id}已存在",
                "data": {"data": {"msg": "重复", "so_id": so_id, "io_id": first["io_id"]}}}
    warehouse = _int(state, biz.get("warehouse", 1), "warehouse")
    rows = []
    for it in items:
        _require(state, it, "sku_id")
        if it["sku_id"] not in state.skus:
            raise _param_error(state, f"商品编码{it['sku_id']}不存在")
        rows.append({"sku_id": it["sku_id"], "qty": it.get("qty", 0)})
    doc = {"io_id": next(state._io_id), "so_id": so_id, "type": kind, "wms_co_id": wms, "warehouse": warehouse,
           "is_confirm": bool(biz.get("is_confirm", False)), "remark": biz.get("remark", ""), "items": rows,
           "status": "WaitConfirm", "created": state.now_str()}
    state.touch(doc)
    state.inventory_uploads[so_id] = doc
    if doc["is_confirm"]:
        apply_inventory_upload(state, doc)
    return {"code": 0, "issuccess": True, "msg": MSG_OK,
            "data": {"data": {"msg": MSG_OK, "so_id": so_id, "io_id": doc["io_id"]}}}


def apply_inventory_upload(state: SandboxState, doc: dict) -> dict:
    field_name = WAREHOUSE_FIELD.get(doc["warehouse"], "qty")
    for it in doc["items"]:
        qty = float(it["qty"])
        qty = int(qty) if qty.is_integer() else qty
        if doc["type"] == "check":
            state.set_inventory(doc["wms_co_id"], it["sku_id"], **{field_name: qty})
        else:
            state.adjust_inventory(doc["wms_co_id"], it["sku_id"], field_name, qty)
    if doc["type"] == "check" and doc["wms_co_id"] in state.bin_managed:
        # As JST does in a bin-managed warehouse: a check count zeroes every SKU it does not list.
        listed = {it["sku_id"] for it in doc["items"]}
        for (wms, sku), row in list(state.inventory.items()):
            if wms == doc["wms_co_id"] and sku not in listed and row.get(field_name):
                state.set_inventory(wms, sku, **{field_name: 0})
    doc["status"] = "Confirmed"
    return state.touch(doc)


# -- sales outbound ---------------------------------------------------------------------

def outbound_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 50, 30)
    date_key = "io_date" if str(biz.get("date_type", 0)) == "2" else "modified"
    window = _window(state, biz)
    so_ids = _list(state, biz, "so_ids", 50)
    o_ids = _list(state, biz, "o_ids", 50)
    io_ids = _list(state, biz, "io_ids", 50)
    l_ids = _list(state, biz, "l_ids", 20)
    ts = _start_ts(state, biz)
    if window is None and ts is None and not (so_ids or o_ids or io_ids or l_ids):
        raise _param_error(state, "modified_begin和modified_end不能为空")
    status, shop_id, wms = biz.get("status"), biz.get("shop_id"), biz.get("wms_co_id")
    rows = []
    for ob in state.outbounds.values():
        if status and ob["status"] != status:
            continue
        if shop_id not in (None, "") and ob["shop_id"] != int(shop_id):
            continue
        if wms not in (None, "", 0, "0") and ob["wms_co_id"] != int(wms):
            continue
        if so_ids and ob["so_id"] not in so_ids or o_ids and str(ob["o_id"]) not in o_ids:
            continue
        if io_ids and str(ob["io_id"]) not in io_ids or l_ids and ob["l_id"] not in l_ids:
            continue
        if ts is not None and ob["ts"] < ts or not _in_window(ob.get(date_key), window):
            continue
        rows.append(ob)
    totals = str(biz.get("is_get_total", "true")).lower() != "false"
    return ok(_paged(_by_ts(rows), index, size, "datas", totals=totals))


def wms_sent_upload(state: SandboxState, biz: Any) -> dict:
    rows = _array(state, biz, state.settings.wms_sent_upload_max)
    results = []
    for row in rows:
        state.sent_uploads.append({"at": state.now_str(), **row})
        io_id = row.get("io_id")
        result = {"io_id": io_id, "issuccess": False, "msg": ""}
        results.append(result)
        ob = state.outbounds.get(int(io_id)) if str(io_id or "").isdigit() else None
        if ob is None:
            result["msg"] = f"出库单{io_id}不存在"
            continue
        result.update(o_id=ob["o_id"], so_id=ob["so_id"])
        lc_id = str(row.get("lc_id") or "")
        l_id = str(row.get("l_id") or "")
        if not lc_id or not l_id and not row.get("is_un_lid"):
            result["msg"] = "lc_id和l_id不能为空"
            continue
        lc = state.logistics_companies.get(lc_id)
        if lc is None:
            result["msg"] = f"物流公司编码{lc_id}不存在"
            continue
        if row.get("wms_co_id") not in (None, "", 0, "0") and int(row["wms_co_id"]) != ob["wms_co_id"]:
            result["msg"] = f"出库单{io_id}不属于仓库{row['wms_co_id']}"
            continue
        if ob["status"] == "Confirmed":
            result["msg"] = f"出库单{io_id}已出库，请勿重复发货"
            continue
        if ob["status"] != "WaitConfirm":
            result["msg"] = f"出库单{io_id}状态为{ob['status']}，不能发货"
            continue
        ob.update(status="Confirmed", lc_id=lc_id, l_id=l_id, io_date=state.now_str(),
                  logistics_company=row.get("lc_name") or lc["lc_name"])
        state.touch(ob)
        order = state.orders.get(ob["o_id"])
        if order is not None and order["status"] not in ("Cancelled",):
            order.update(status="Sent", send_date=ob["io_date"], lc_id=lc_id, l_id=l_id,
                         logistics_company=ob["logistics_company"], wms_co_id=ob["wms_co_id"])
            state.touch(order)
        result.update(issuccess=True, msg=MSG_OK)
    return ok({"datas": results})


# -- orders -----------------------------------------------------------------------------

ORDER_SHOP_SITES = ("商家自有商城", "自有商城", "跨境线下", "线下", "B2B")


def orders_upload(state: SandboxState, biz: Any) -> dict:
    rows = _array(state, biz, state.settings.order_upload_max)
    results = []
    for row in rows:
        so_id = str(row.get("so_id") or "")
        result = {"o_id": 0, "so_id": so_id, "issuccess": False, "msg": ""}
        results.append(result)
        try:
            result.update(_upload_one_order(state, row))
        except JstError as exc:
            result["msg"] = exc.msg
    return ok({"datas": results})


def _upload_one_order(state: SandboxState, row: dict) -> dict:
    for name in ("shop_id", "so_id", "order_date", "shop_status", "receiver_address", "pay_amount"):
        if row.get(name) in (None, ""):
            raise JstError(140, f"{name}不能为空")
    so_id = str(row["so_id"])
    if len(so_id) > 50:
        raise JstError(140, "so_id长度不能超过50")
    shop = state.shops.get(_int(state, row["shop_id"], "shop_id"))
    if shop is None:
        raise JstError(170, "店铺编号不存在")
    if not any(site in shop["shop_site"] for site in ORDER_SHOP_SITES):
        raise JstError(140, "只能上传到商家自有商城/跨境线下/线下/B2B店铺")
    items = row.get("items") or []
    if not items:
        raise JstError(140, "items不能为空")
    keys = set()
    for it in items:
        if not it.get("sku_id"):
            raise JstError(140, "sku_id不能为空")
        if it["sku_id"] not in state.skus:
            raise JstError(140, f"商品编码{it['sku_id']}不存在")
        key = str(it.get("outer_oi_id", ""))
        if not key:
            raise JstError(140, "outer_oi_id不能为空")
        if key in keys:
            raise JstError(140, f"outer_oi_id={key}重复")
        keys.add(key)
    shop_status = row["shop_status"]
    status = {"WAIT_BUYER_PAY": "WaitPay", "TRADE_CLOSED": "Cancelled",
              "TRADE_CLOSED_BY_TAOBAO": "Cancelled"}.get(shop_status, "WaitConfirm")
    if all(it.get("refund_status") == "success" for it in items):
        status = "Cancelled"
    pay = row.get("pay") or {}
    existing = state.find_order(so_id=so_id, shop_id=shop["shop_id"])
    if existing is not None:
        if existing["status"] in ("Sent", "Cancelled") and status != "Cancelled":
            raise JstError(140, f"订单已{'发货' if existing['status'] == 'Sent' else '取消'}，不能更新")
        order = state.add_order({**row, "o_id": existing["o_id"], "status": status,
                                 "created": existing["created"], "pays": [pay] if pay else existing["pays"]})
        order["created"] = existing["created"]
        order["upload_count"] = existing.get("upload_count", 1) + 1
        if status == "Cancelled":
            _cancel_outbounds(state, order)
        return {"o_id": order["o_id"], "issuccess": True, "msg": "订单已存在，已更新"}
    order = state.add_order({**row, "status": status, "pays": [pay] if pay else [],
                             "pay_date": pay.get("pay_date"), "paid_amount": pay.get("amount", 0)})
    order["upload_count"] = 1
    return {"o_id": order["o_id"], "issuccess": True, "msg": MSG_OK}


def _cancel_outbounds(state: SandboxState, order: dict) -> None:
    for ob in state.outbounds.values():
        if ob["o_id"] == order["o_id"] and ob["status"] == "WaitConfirm":
            ob["status"] = "Delete"
            state.touch(ob)


def orders_single_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 100, 30)
    date_key = {"0": "modified", "2": "order_date", "3": "send_date"}.get(str(biz.get("date_type", 0)), "modified")
    window = _window(state, biz)
    so_ids = _list(state, biz, "so_ids", 20)
    o_ids = _list(state, biz, "o_ids", 100)
    ts = _start_ts(state, biz)
    if window is None and ts is None and not (so_ids or o_ids):
        raise _param_error(state, "modified_begin和modified_end不能为空")
    status, shop_id = biz.get("status"), biz.get("shop_id")
    rows = []
    for o in state.orders.values():
        if status and o["status"] != status or shop_id not in (None, "") and o["shop_id"] != int(shop_id):
            continue
        if so_ids and o["so_id"] not in so_ids or o_ids and str(o["o_id"]) not in o_ids:
            continue
        if ts is not None and o["ts"] < ts or not _in_window(o.get(date_key), window):
            continue
        rows.append(o)
    return ok(_paged(_by_ts(rows), index, size, "orders"))


def order_cancel(state: SandboxState, biz: dict) -> dict:
    o_ids = _list(state, biz, "o_ids", 50)
    if not o_ids:
        raise JstError(130, "o_ids不能为空")
    orders = []
    for o_id in o_ids:
        order = state.orders.get(int(o_id)) if o_id.isdigit() else None
        if order is None:
            raise _param_error(state, f"订单{o_id}不存在")
        if order["status"] == "Sent":
            raise JstError(160, f"订单{o_id}已发货，不能取消")
        orders.append(order)
    for order in orders:
        if order["status"] != "Cancelled":
            order.update(status="Cancelled", cancel_type=biz.get("cancel_type", ""), cancel_remark=biz.get("remark", ""))
            state.touch(order)
            _cancel_outbounds(state, order)
    return ok(f"取消成功{len(orders)}条")


def logistic_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 50, 30)
    date_key = {"0": "modified", "1": "send_date"}.get(str(biz.get("date_type", 1)), "send_date")
    window = _window(state, biz)
    so_ids = _list(state, biz, "so_ids", 20)
    if window is None and not so_ids:
        raise _param_error(state, "modified_begin和modified_end不能为空")
    shop_id = biz.get("shop_id")
    rows = []
    for o in state.orders.values():
        if not o.get("send_date") or shop_id not in (None, "") and o["shop_id"] != int(shop_id):
            continue
        if so_ids and o["so_id"] not in so_ids:
            continue
        # A partly shipped order is one row per parcel (its tracking no. and its lines), as JST
        # shows the split orders of a partial shipment; seeded orders without parcels stay one row.
        parcels = [ob for ob in state.outbounds.values() if ob["o_id"] == o["o_id"] and ob["status"] == "Confirmed"
                   and ob.get("l_id")]
        if parcels:
            for ob in parcels:
                send_date = ob.get("io_date") or o["send_date"]
                if not _in_window(ob.get("modified") if date_key == "modified" else send_date, window):
                    continue
                rows.append({"o_id": o["o_id"], "so_id": o["so_id"], "shop_id": o["shop_id"], "send_date": send_date,
                             "lc_id": ob["lc_id"], "l_id": ob["l_id"], "logistics_company": ob["logistics_company"],
                             "freight": o["freight"], "weight": o["weight"], "wms_co_id": ob["wms_co_id"],
                             "modified": ob["modified"], "ts": ob["ts"],
                             "items": [{"sku_id": it["sku_id"], "qty": it["qty"], "outer_oi_id": it.get("outer_oi_id", ""),
                                        "raw_so_id": o["so_id"], "oi_id": it.get("oi_id"), "name": it.get("name", "")}
                                       for it in ob["items"]]})
            continue
        if not _in_window(o.get(date_key), window):
            continue
        rows.append({"o_id": o["o_id"], "so_id": o["so_id"], "shop_id": o["shop_id"], "send_date": o["send_date"],
                     "lc_id": o["lc_id"], "l_id": o["l_id"], "logistics_company": o["logistics_company"],
                     "freight": o["freight"], "weight": o["weight"], "wms_co_id": o["wms_co_id"],
                     "modified": o["modified"], "ts": o["ts"],
                     "items": [{"sku_id": it["sku_id"], "qty": it["qty"], "outer_oi_id": it["outer_oi_id"],
                                "raw_so_id": o["so_id"], "refund_status": it["refund_status"], "oi_id": it["oi_id"],
                                "name": it["name"]} for it in o["items"]]})
    return ok(_paged(_by_ts(rows), index, size, "orders"))


# -- other in/out -----------------------------------------------------------------------

def otherinout_upload(state: SandboxState, biz: dict) -> dict:
    if not isinstance(biz, dict):
        raise _param_error(state, "biz必须是对象")
    for name in ("type", "external_id", "remark"):
        if biz.get(name) in (None, ""):
            raise _param_error(state, f"{name}不能为空")
    if biz["type"] not in ("in", "out"):
        raise _param_error(state, "type只能是in或out")
    items = biz.get("items") or []
    if not items:
        raise JstError(130, "items不能为空")
    if len(items) > 1000:
        raise _param_error(state, "items最多1000条")
    for it in items:
        if not it.get("sku_id"):
            raise _param_error(state, "sku_id不能为空")
        if it["sku_id"] not in state.skus:
            raise _param_error(state, f"商品编码{it['sku_id']}不存在")
        if float(it.get("qty") or 0) <= 0:
            raise _param_error(state, "qty必须大于0")
    wms = _int(state, biz.get("wms_co_id") or next((w for w, r in state.warehouses.items() if r["is_main"]), 0), "wms_co_id")
    if wms not in state.warehouses:
        raise _param_error(state, f"仓库wms_co_id={wms}不存在")
    external_id = str(biz["external_id"])
    for doc in state.other_inouts.values():
        if doc["external_id"] == external_id and doc["upload_type"] == biz["type"]:
            if state.settings.duplicate_otherinout == "return_existing":
                return ok({"data": {"external_id": external_id, "io_id": doc["io_id"]}})
            raise JstError(160, f"外部单号{external_id}已存在", {"data": {"external_id": external_id, "io_id": doc["io_id"]}})
    wh_id = _int(state, biz.get("warehouse", 1), "warehouse")
    confirmed = bool(biz.get("is_confirm")) or bool(biz.get("excute_confirming"))
    doc = state.add_other_inout({**biz, "wms_co_id": wms, "wh_id": wh_id,
                                 "warehouse": {1: "主仓", 2: "销退仓", 3: "进货仓", 4: "次品仓"}.get(wh_id, f"自定义{wh_id - 5}仓"),
                                 "status": "Confirmed" if confirmed else "WaitConfirm"})
    return ok({"data": {"external_id": external_id, "io_id": doc["io_id"]}})


def other_inout_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 50, 30)
    date_key = "io_date" if str(biz.get("date_type", 0)) == "2" else "modified"
    window = _window(state, biz)
    so_ids = _list(state, biz, "so_ids", 50)
    io_ids = _list(state, biz, "io_ids", 50)
    ts = _start_ts(state, biz)
    if window is None and ts is None and not (so_ids or io_ids):
        raise _param_error(state, "modified_begin和modified_end不能为空")
    types = _list(state, biz, "types", None)
    status, wms = biz.get("status"), biz.get("wms_co_id")
    rows = []
    for d in state.other_inouts.values():
        if types and d["type"] not in types or status and d["status"] != status:
            continue
        if wms not in (None, "", 0, "0") and d["wms_co_id"] != int(wms):
            continue
        if so_ids and d["so_id"] not in so_ids or io_ids and str(d["io_id"]) not in io_ids:
            continue
        if ts is not None and d["ts"] < ts or not _in_window(d.get(date_key), window):
            continue
        rows.append({k: v for k, v in d.items() if k != "upload_type"})
    return ok(_paged(_by_ts(rows), index, size, "datas"))


# -- transfers (调拨单) -------------------------------------------------------------------
# 库存调拨上传（跨仓调拨）and 调拨单查询 as one public SDK describes them (the project's JST
# reference does not document them): a cross-warehouse transfer from go_co_id to link_co_id.

def allocate_kc_upload(state: SandboxState, biz: Any) -> dict:
    rows = _array(state, biz, 50)
    answers = []
    for row in rows:
        for name in ("so_id", "go_co_id", "link_co_id"):
            if row.get(name) in (None, ""):
                raise _param_error(state, f"{name}不能为空")
        items = row.get("items") or []
        if not items:
            raise JstError(130, "items不能为空")
        for it in items:
            if it.get("sku_id") not in state.skus:
                raise _param_error(state, f"商品编码{it.get('sku_id')}不存在")
            if float(it.get("qty") or 0) <= 0:
                raise _param_error(state, "qty必须大于0")
        source, target = _int(state, row["go_co_id"], "go_co_id"), _int(state, row["link_co_id"], "link_co_id")
        for wms in (source, target):
            if wms not in state.warehouses:
                raise _param_error(state, f"仓库wms_co_id={wms}不存在")
        so_id = str(row["so_id"])
        if any(doc["so_id"] == so_id for doc in state.transfers.values()):
            raise JstError(160, f"外部单号{so_id}已存在")
        doc = state.add_transfer({**row, "wms_co_id": source, "link_wms_co_id": target,
                                  "status": "Confirmed" if row.get("is_confirm") else "Creating"})
        if doc["status"] == "Confirmed":
            ship_transfer_stock(state, doc)
        answers.append({"so_id": so_id, "io_id": doc["io_id"]})
    return ok({"datas": answers})


def ship_transfer_stock(state: SandboxState, doc: dict) -> None:
    for it in doc["items"]:
        state.adjust_inventory(doc["wms_co_id"], it["sku_id"], "qty", -it["qty"])
        state.adjust_inventory(doc["link_wms_co_id"], it["sku_id"], "allocate_qty", it["qty"])


def allocate_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 50, 30)
    window = _window(state, biz)
    so_ids = _list(state, biz, "so_ids", 50)
    io_ids = _list(state, biz, "io_ids", 50)
    if window is None and not (so_ids or io_ids):
        raise _param_error(state, "modified_begin和modified_end不能为空")
    rows = [dict(d) for d in state.transfers.values()
            if not (so_ids and d["so_id"] not in so_ids or io_ids and str(d["io_id"]) not in io_ids)
            and _in_window(d.get("modified"), window)]
    return ok(_paged(_by_ts(rows), index, size, "datas"))


# -- after-sales ------------------------------------------------------------------------

def aftersale_upload(state: SandboxState, biz: Any) -> dict:
    rows = _array(state, biz, state.settings.aftersale_upload_max)
    results = []
    for row in rows:
        result = {"as_id": 0, "issuccess": False, "msg": "", "so_id": str(row.get("so_id", "")),
                  "outer_as_id": str(row.get("outer_as_id", "")), "o_id": 0}
        results.append(result)
        missing = [n for n in ("shop_id", "outer_as_id", "so_id", "type", "shop_status", "good_status")
                   if row.get(n) in (None, "")]
        if missing:
            result["msg"] = f"{missing[0]}不能为空"
            continue
        if _int(state, row["shop_id"], "shop_id") not in state.shops:
            result["msg"] = "店铺编号不存在"
            continue
        bad = [it.get("sku_id") for it in row.get("items") or [] if it.get("sku_id") not in state.skus]
        if bad:
            result["msg"] = f"商品编码{bad[0]}不存在"
            continue
        existing = state.find_aftersale(outer_as_id=row["outer_as_id"])
        if existing is not None:
            if existing["status"] == "Confirmed":
                result.update(as_id=existing["as_id"], o_id=existing["o_id"], msg="售后单已确认，不能更新")
                continue
            doc = state.add_aftersale({**row, "as_id": existing["as_id"], "status": existing["status"]})
            doc["upload_count"] = existing.get("upload_count", 1) + 1
        else:
            doc = state.add_aftersale(row)
            doc["upload_count"] = 1
        result.update(as_id=doc["as_id"], o_id=doc["o_id"], issuccess=True, msg=MSG_OK)
    return ok({"datas": results})


def aftersale_received_query(state: SandboxState, biz: dict) -> dict:
    index, size = _page(state, biz, 50, 30)
    date_key = {"0": "modified", "1": "created", "2": "order_date", "4": "io_date"}.get(str(biz.get("date_type", 0)), "modified")
    window = _window(state, biz)
    lists = {n: _list(state, biz, n, 50) for n in ("so_ids", "o_ids", "as_ids", "io_ids")}
    ts = _start_ts(state, biz)
    if window is None and ts is None and not any(lists.values()):
        raise _param_error(state, "modified_begin和modified_end不能为空")
    shop_id = biz.get("shop_id")
    rows = []
    for d in state.aftersale_received.values():
        if shop_id not in (None, "") and d["shop_id"] != int(shop_id):
            continue
        if any(vals and str(d[name[:-1]]) not in vals for name, vals in lists.items()):
            continue
        if ts is not None and d["ts"] < ts or not _in_window(d.get(date_key), window):
            continue
        rows.append(d)
    return ok(_paged(_by_ts(rows), index, size, "datas"))


# -- tokens -----------------------------------------------------------------------------

def _token_call(state: SandboxState, form: dict, grant_type: str, required: tuple[str, ...]) -> Credentials:
    for name in ("app_key", "timestamp", "grant_type", "charset", "sign", *required):
        if not form.get(name):
            raise _param_error(state, f"{name}不能为空")
    app = state.apps.get(form["app_key"])
    if app is None:
        raise _param_error(state, "app_key不存在")
    if not openweb_sign_matches(form, app.app_secret, form.get("sign"), mode=state.settings.sign_mode):
        raise JstError(10, "验证失败！无效签名")
    _check_timestamp(state, form["timestamp"])
    if form["grant_type"] != grant_type:
        raise _param_error(state, f"grant_type必须是{grant_type}")
    return app


def get_init_token(state: SandboxState, form: dict) -> dict:
    app = _token_call(state, form, "authorization_code", ("code",))
    return ok(state.issue_token(app.app_key))


def refresh_token(state: SandboxState, form: dict) -> dict:
    app = _token_call(state, form, "refresh_token", ("refresh_token",))
    if state.settings.refresh_forbidden:
        raise JstError(150, "服务商应用不支持刷新token，请重新授权")
    rec = state.refresh_tokens.get(form["refresh_token"])
    if rec is None or rec["app_key"] != app.app_key:
        raise JstError(100, "无效的refresh_token")
    if state.settings.refresh_rotates:
        state.refresh_tokens.pop(form["refresh_token"], None)
        state.tokens.pop(rec["access_token"], None)
    return ok(state.issue_token(app.app_key))


def _check_timestamp(state: SandboxState, value: str) -> None:
    try:
        ts = int(value)
    except (TypeError, ValueError):
        raise JstError(state.settings.timestamp_error_code, "timestamp格式错误") from None
    tol = state.settings.timestamp_tolerance_s
    if abs(state.time() - ts) > tol:
        raise JstError(state.settings.timestamp_error_code, f"timestamp无效，最大误差为{tol // 60}分钟")


Handler = Callable[[SandboxState, Any], dict]

API_PATHS: dict[str, Handler] = {
    "/open/orders/out/simple/query": outbound_query,
    "/open/orders/wms/sent/upload": wms_sent_upload,
    "/open/jushuitan/orders/upload": orders_upload,
    "/open/orders/single/query": orders_single_query,
    "/open/jushuitan/orderbyoid/cancel": order_cancel,
    "/open/logistic/query": logistic_query,
    "/open/inventory/query": inventory_query,
    "/open/jushuitan/inventoryv2/upload": inventoryv2_upload,
    "/open/jushuitan/otherinout/upload": otherinout_upload,
    "/open/other/inout/query": other_inout_query,
    "/open/allocate/kc/upload": allocate_kc_upload,
    "/open/allocate/query": allocate_query,
    "/open/aftersale/upload": aftersale_upload,
    "/open/aftersale/received/query": aftersale_received_query,
    "/open/sku/query": sku_query,
    "/open/mall/item/query": mall_item_query,
    "/open/shops/query": shops_query,
    "/open/wms/partner/query": wms_partner_query,
    "/open/logisticscompany/query": logisticscompany_query,
}

TOKEN_PATHS: dict[str, Callable[[SandboxState, dict], dict]] = {}
for _prefix in ("/openWeb", "/openWebIsv"):
    TOKEN_PATHS[f"{_prefix}/auth/getInitToken"] = get_init_token
    TOKEN_PATHS[f"{_prefix}/auth/accessToken"] = get_init_token
    TOKEN_PATHS[f"{_prefix}/auth/refreshToken"] = refresh_token

BUSINESS_PARAMS = ("app_key", "access_token", "timestamp", "version", "charset", "biz", "sign")


def process(state: SandboxState, limiter: RateLimiter, path: str, form: dict[str, str], info: dict) -> dict:
    """Answer one API call. ``info`` is filled with what the call log records (app_key, biz)."""
    with state.lock:
        try:
            if path in TOKEN_PATHS:
                info["app_key"] = form.get("app_key")
                code = limiter.check(form.get("app_key") or "")
                if code:
                    return _rate_error(code)
                return TOKEN_PATHS[path](state, form)
            handler = API_PATHS[path]
            body = _business(state, limiter, handler, form, info)
            if state.settings.numbers_as_strings and path.endswith("/query") and body.get("code") == 0:
                body = {**body, "data": _decimal_strings(body["data"])}
            return body
        except JstError as exc:
            return error(exc.code, exc.msg, exc.data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # malformed biz values
            return error(state.settings.param_error_code, f"参数不符合规范: {type(exc).__name__}: {exc}")


NUMERIC_KEYS = {"qty", "sale_price", "sale_amount", "sale_base_price", "pay_amount", "paid_amount", "free_amount",
                "freight", "cost_price", "cost_amount", "price", "amount", "base_price", "market_price", "weight",
                *INVENTORY_FIELDS}


def _decimal_strings(value: Any, key: str | None = None) -> Any:
    """A deep copy where numeric quantities and amounts are JST-style decimal strings ("2.0000")."""
    if isinstance(value, dict):
        return {k: _decimal_strings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimal_strings(v) for v in value]
    if key in NUMERIC_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4f}"
    return value


def _rate_error(code: int) -> dict:
    if code == 199:
        return error(199, "调用太频繁，请稍后再试（请求频率一秒不超过5次）")
    return error(200, "调用频次超过限制（一分钟不超过100次）")


def _business(state: SandboxState, limiter: RateLimiter, handler: Handler, form: dict, info: dict) -> dict:
    if not form.get("biz"):
        raise JstError(130, "传输数据不能为空")
    try:
        info["biz"] = biz = json.loads(form["biz"])
        bad_json = False
    except ValueError:
        info["biz"], biz, bad_json = form["biz"], None, True
    for name in BUSINESS_PARAMS:
        if not form.get(name):
            raise _param_error(state, f"{name}不能为空")
    info["app_key"] = form["app_key"]
    app = state.apps.get(form["app_key"])
    if app is None:
        raise _param_error(state, "app_key不存在")
    if not openweb_sign_matches(form, app.app_secret, form["sign"], mode=state.settings.sign_mode):
        raise JstError(10, "验证失败！无效签名")
    _check_timestamp(state, form["timestamp"])
    if str(form["version"]) != "2":
        raise _param_error(state, "version只能是2")
    if form["charset"].lower() != "utf-8":
        raise _param_error(state, "charset只能是utf-8")
    token = state.tokens.get(form["access_token"])
    if token is None or token["app_key"] != app.app_key or token["expires_at"] < state.time():
        raise JstError(100, "无效的access_token或access_token已过期")
    code = limiter.check(app.app_key)
    if code:
        return _rate_error(code)
    if bad_json:
        raise _param_error(state, "biz不是合法的JSON")
    return handler(state, biz)
