"""旺店通 企业版's side of the open API: the public-parameter checks and each interface.

``process(state, limiter, api, form)`` takes the decoded form of one POST to
``/openapi2/<api>`` and returns the JSON answer: always HTTP 200, ``code`` 0 or an error
code with a ``message``. The codes are the sandbox's own (the 企业版 publishes none); the
messages use the phrases the 旺店通 family is known to use.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from ..jst_sandbox.faults import RateLimiter
from .state import DONE, STOCKIN_TYPES, STOCKOUT_TYPES, WdtState, parse_time, qty_text

__all__ = ["WdtError", "process", "APIS", "ok", "error", "sign_of", "CODES"]

# The sandbox's error codes (see docs/wdt-sandbox.md).
CODES = {
    "sign": (1090, "签名错误"),
    "account": (1100, "卖家账号或接口账号不存在"),
    "timestamp": (1110, "时间戳超过允许范围(5分钟)"),
    "missing": (1120, "缺少公共参数"),
    "rate": (1130, "超过每分钟最大调用频率限制，请稍后重试"),
    "busy": (1140, "系统繁忙，请稍后重试"),
    "param": (2000, "参数错误"),
    "duplicate": (2010, "单号已存在"),
    "not_found": (2020, "不存在"),
}


class WdtError(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        code, message = CODES[kind]
        self.code, self.message = code, f"{message}: {detail}" if detail else message
        super().__init__(self.message)


def ok(**fields: Any) -> dict:
    return {"code": 0, "message": "ok", **fields}


def error(code: int, message: str) -> dict:
    return {"code": code, "message": message}


def sign_of(form: dict[str, str], appsecret: str) -> str:
    """The sandbox's own sign check: sorted ``LL-name:VVVV-value`` pairs (character lengths)
    joined by ``;``, the secret appended, MD5 lower-case hex."""
    packed = ";".join(f"{len(k):02d}-{k}:{len(form[k]):04d}-{form[k]}" for k in sorted(form) if k != "sign")
    return hashlib.md5((packed + appsecret).encode("utf-8")).hexdigest()


# -- helpers ---------------------------------------------------------------------------------
def _json(form: dict, name: str, *, required: bool = True) -> Any:
    text = form.get(name)
    if text is None or text == "":
        if required:
            raise WdtError("param", f"{name}不能为空")
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise WdtError("param", f"{name}不是合法的JSON") from None


def _num(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise WdtError("param", f"{name}不是数字: {value!r}") from None


def _page(state: WdtState, form: dict, default: int = 40) -> tuple[int, int]:
    try:
        page_no, size = int(form.get("page_no", 0)), int(form.get("page_size", default))
    except ValueError:
        raise WdtError("param", "page_no/page_size必须是整数") from None
    if page_no < 0:
        raise WdtError("param", "page_no从0开始")
    if not 1 <= size <= state.settings.max_page_size:
        raise WdtError("param", f"page_size范围1-{state.settings.max_page_size}")
    return page_no, size


def _paged(state: WdtState, form: dict, rows: list[dict], list_key: str, default: int = 40) -> dict:
    page_no, size = _page(state, form, default)
    answer = ok(**{list_key: [_plain(r) for r in rows[page_no * size:(page_no + 1) * size]]})
    if page_no == 0:  # only page 0 carries the total
        answer["total_count"] = len(rows)
    return answer


def _window(form: dict, limit: timedelta, what: str, *, required: bool = True):
    begin, end = form.get("start_time"), form.get("end_time")
    if not begin and not end and not required:
        return None
    if not begin or not end:
        raise WdtError("param", "start_time和end_time必须同时存在")
    try:
        b, e = parse_time(begin), parse_time(end)
    except ValueError:
        raise WdtError("param", "时间格式为yyyy-MM-dd HH:mm:ss") from None
    if e < b:
        raise WdtError("param", "end_time不能早于start_time")
    if e - b > limit:
        raise WdtError("param", f"{what}的时间跨度不能超过{_span_text(limit)}")
    # Compared as text: the fixed format sorts like the times (and is much faster to compare).
    return begin.strip(), end.strip()


def _span_text(span: timedelta) -> str:
    return f"{span.days}天" if span.days else f"{int(span.total_seconds() // 60)}分钟"


def _in(window, modified: str) -> bool:
    if window is None:
        return True
    b, e = window
    return b <= modified <= e  # closed interval


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r.get("modified", ""), r.get("order_no") or r.get("spec_no") or ""))


def _plain(doc: dict) -> dict:
    return json.loads(json.dumps(doc, default=lambda v: qty_text(v) if isinstance(v, Decimal) else str(v)))


# -- interfaces ------------------------------------------------------------------------------
def _trade_push(state: WdtState, form: dict) -> dict:
    shop_no = form.get("shop_no") or ""
    shop = state.shops.get(shop_no)
    if shop is None:
        raise WdtError("not_found", f"店铺{shop_no}不存在")
    if shop["platform_id"] not in state.settings.push_platform_ids:
        raise WdtError("param", f"店铺{shop_no}的平台不支持推送订单(仅自有/其它平台)")
    trades = _json(form, "trade_list")
    if not isinstance(trades, list) or not trades:
        raise WdtError("param", "trade_list必须是非空数组")
    if len(trades) > state.settings.trades_per_push:
        raise WdtError("param", f"每次最多推送{state.settings.trades_per_push}个订单")
    for t in trades:  # validate all first: a refused push changes nothing
        for name in ("tid", "trade_status", "delivery_term", "logistics_type", "order_list", "paid"):
            if t.get(name) in (None, ""):
                raise WdtError("param", f"订单{t.get('tid')}缺少{name}")
        if str(t["logistics_type"]) not in state.logistics:
            raise WdtError("not_found", f"物流{t['logistics_type']}不存在")
        if int(t["delivery_term"]) == 2 and not state.logistics[str(t["logistics_type"])]["is_support_cod"]:
            raise WdtError("param", f"物流{t['logistics_type']}不支持货到付款")
        for line in t["order_list"]:
            if not line.get("oid") or not line.get("goods_id") or not (line.get("spec_no") or line.get("goods_no")):
                raise WdtError("param", f"订单{t['tid']}的子订单缺少oid/goods_id/spec_no")
            if state.spec(str(line.get("spec_no"))) is None:
                raise WdtError("not_found", f"货品{line.get('spec_no')}不存在")
    new = chg = 0
    for t in trades:
        key = (shop_no, str(t["tid"]))
        existing = state.trades.get(key)
        if existing is None:
            new += 1
            trade = {**t, "shop_no": shop_no, "trade_no": state.next_no("JY"), "created": state.now_str()}
            # The shop's 选仓策略 warehouse unless the trade names one; 无单号 / 货到付款
            # store sales are delivered at once, so the stock leaves that warehouse now.
            warehouse = t.get("warehouse_no") or shop.get("warehouse_no")
            if warehouse:
                for line in t["order_list"]:
                    state.add_stock(warehouse, line["spec_no"], -_num(line["num"], "num"))
            trade["stock_warehouse_no"] = warehouse or ""
        else:
            chg += 1  # the same tid again: an update, never a second order
            trade = {**existing, **{k: v for k, v in t.items() if k != "order_list"}}
        state.trades[key] = state.touch(trade)
    return ok(new_count=new, chg_count=chg)


def _trade_query(state: WdtState, form: dict) -> dict:
    window = _window(form, timedelta(minutes=state.settings.trade_window_minutes), "trade_query")
    rows = [t for t in state.trades.values()
            if _in(window, t["modified"]) and (not form.get("shop_no") or t["shop_no"] == form["shop_no"])]
    return _paged(state, form, _sorted(rows), "trades")


def _sales_refund_push(state: WdtState, form: dict) -> dict:
    refunds = _json(form, "api_refund_list")
    if not isinstance(refunds, list) or not refunds or len(refunds) > state.settings.refunds_per_push:
        raise WdtError("param", f"api_refund_list必须是1-{state.settings.refunds_per_push}个退款单")
    new = chg = 0
    for r in refunds:
        key = (str(r.get("shop_no")), str(r.get("refund_no")))
        if (key[0], str(r.get("tid"))) not in state.trades:
            raise WdtError("not_found", f"原始订单{r.get('tid')}不存在")
        new, chg = (new + 1, chg) if key not in state.refunds else (new, chg + 1)
        state.refunds[key] = state.touch({**r})
    return ok(new_count=new, chg_count=chg)


def _stock_query(state: WdtState, form: dict) -> dict:
    window = _window(form, timedelta(days=state.settings.stock_window_days), "stock_query")
    rows = [{"spec_no": r["spec_no"], "warehouse_no": r["warehouse_no"], "stock_num": qty_text(r["stock_num"]),
             "avaliable_num": qty_text(r["stock_num"]), "modified": r["modified"]}
            for r in state.stock.values()
            if _in(window, r["modified"]) and (not form.get("warehouse_no") or r["warehouse_no"] == form["warehouse_no"])
            and (not form.get("spec_no") or r["spec_no"] == form["spec_no"])]
    return _paged(state, form, _sorted(rows), "stocks")


def _stock_sync_by_pd(state: WdtState, form: dict) -> dict:
    warehouse_no = form.get("warehouse_no", "")
    if warehouse_no not in state.warehouses:
        raise WdtError("not_found", f"仓库{warehouse_no}不存在")
    lines = _json(form, "goods_list")
    if not isinstance(lines, list) or not lines:
        raise WdtError("param", "goods_list必须是非空数组")
    if len(lines) > state.settings.max_document_lines:
        raise WdtError("param", f"goods_list最多{state.settings.max_document_lines}行")
    for line in lines:
        if state.spec(str(line.get("spec_no"))) is None:
            raise WdtError("not_found", f"货品{line.get('spec_no')}不存在")
        _num(line.get("stock_num"), "stock_num")
    pd_no = state.next_no("PD")
    gains, losses = [], []
    for line in lines:
        spec_no, counted = str(line["spec_no"]), _num(line["stock_num"], "stock_num")
        before = state.stock.get((warehouse_no, spec_no), {}).get("stock_num", Decimal(0))
        if counted > before:
            gains.append({"spec_no": spec_no, "num": counted - before})
        elif counted < before:
            losses.append({"spec_no": spec_no, "num": before - counted})
    adjust = str(form.get("is_adjust_stock", "1")) == "1"
    if adjust:  # the counted quantities overwrite, booked as 盘盈入库 / 盘亏出库
        if gains:
            state.add_document("in", warehouse_no=warehouse_no, order_type="4", lines=gains, remark=pd_no)
        if losses:
            state.add_document("out", warehouse_no=warehouse_no, order_type="4", lines=losses, remark=pd_no)
    state.pd_orders[pd_no] = state.touch({"pd_no": pd_no, "warehouse_no": warehouse_no, "remark": form.get("remark", ""),
                                          "adjusted": adjust, "goods_list": lines})
    return ok(pd_no=pd_no)


def _stock_pd_order_query(state: WdtState, form: dict) -> dict:
    window = _window(form, timedelta(days=state.settings.document_window_days), "stock_pd_order_query")
    rows = [{"pd_no": pd["pd_no"], "warehouse_no": pd["warehouse_no"], "remark": pd["remark"],
             "modified": pd["modified"]} for pd in state.pd_orders.values()
            if _in(window, pd["modified"]) and (not form.get("warehouse_no") or pd["warehouse_no"] == form["warehouse_no"])]
    return _paged(state, form, _sorted(rows), "stock_pd_list")


def _document_push(direction: str) -> Callable[[WdtState, dict], dict]:
    info_name, lines_name, qty_name = (("stockin_info", "goods_list", "stockin_num") if direction == "in"
                                       else ("stockout_info", "detail_list", "num"))

    def push(state: WdtState, form: dict) -> dict:
        info = _json(form, info_name)
        if not isinstance(info, dict):
            raise WdtError("param", f"{info_name}必须是对象")
        outer_no = str(info.get("outer_no") or "")
        if not outer_no:
            raise WdtError("param", "outer_no不能为空")
        existing = state.find_outer(direction, outer_no)
        if existing is not None:
            if state.settings.duplicate_outer_no == "return_existing":
                return ok(order_no=existing["order_no"])
            raise WdtError("duplicate", f"outer_no {outer_no} 已存在({existing['order_no']})")
        warehouse_no = str(info.get("warehouse_no") or "")
        if warehouse_no not in state.warehouses:
            raise WdtError("not_found", f"仓库{warehouse_no}不存在")
        lines = info.get(lines_name)
        if not isinstance(lines, list) or not lines:
            raise WdtError("param", f"{lines_name}必须是非空数组")
        if len(lines) > state.settings.max_document_lines:
            raise WdtError("param", f"{lines_name}最多{state.settings.max_document_lines}行")
        for line in lines:
            if state.spec(str(line.get("spec_no"))) is None:
                raise WdtError("not_found", f"货品{line.get('spec_no')}不存在")
        status = DONE if str(info.get("is_check", "0")) == "1" else "20"  # 20 编辑中 until approved
        doc = state.add_document(direction, warehouse_no=warehouse_no, order_type="6" if direction == "in" else "7",
                                 outer_no=outer_no, remark=str(info.get("remark") or ""), status=status,
                                 lines=[{"spec_no": line["spec_no"], "num": _num(line.get(qty_name), qty_name)}
                                        for line in lines])
        return ok(order_no=doc["order_no"])

    return push


def _document_query(direction: str) -> Callable[[WdtState, dict], dict]:
    list_key = "stockin_list" if direction == "in" else "stockout_list"

    def query(state: WdtState, form: dict) -> dict:
        window = _window(form, timedelta(days=state.settings.document_window_days), f"{direction}_order_query")
        docs = state.stockins if direction == "in" else state.stockouts
        rows = [d for d in docs.values() if _in(window, d["modified"])
                and (not form.get("warehouse_no") or d["warehouse_no"] == form["warehouse_no"])
                and (not form.get("status") or d["status"] == form["status"])]
        return _paged(state, form, _sorted(rows), list_key)

    return query


def _goods_query(state: WdtState, form: dict) -> dict:
    by_key = form.get("spec_no") or form.get("goods_no")
    window = _window(form, timedelta(days=state.settings.goods_window_days), "goods_query", required=not by_key)
    rows = [g for g in state.goods.values() if _in(window, g["modified"])
            and (not form.get("goods_no") or g["goods_no"] == form["goods_no"])
            and (not form.get("spec_no") or any(s["spec_no"] == form["spec_no"] for s in g["spec_list"]))]
    return _paged(state, form, _sorted(rows), "goods_list")


def _base(collection: str, list_key: str, default: int = 40) -> Callable[[WdtState, dict], dict]:
    def query(state: WdtState, form: dict) -> dict:
        rows = list(getattr(state, collection).values())
        if collection == "shops" and form.get("shop_no"):
            rows = [r for r in rows if r["shop_no"] == form["shop_no"]]
        return _paged(state, form, rows, list_key, default)

    return query


APIS: dict[str, Callable[[WdtState, dict], dict]] = {
    "trade_push.php": _trade_push,
    "trade_query.php": _trade_query,
    "sales_refund_push.php": _sales_refund_push,
    "stock_query.php": _stock_query,
    "stock_sync_by_pd.php": _stock_sync_by_pd,
    "stock_pd_order_query.php": _stock_pd_order_query,
    "stockin_order_push.php": _document_push("in"),
    "stockout_order_push.php": _document_push("out"),
    "stockin_order_query.php": _document_query("in"),
    "stockout_order_query.php": _document_query("out"),
    "goods_query.php": _goods_query,
    "shop.php": _base("shops", "shoplist", 30),
    "warehouse_query.php": _base("warehouses", "warehouses"),
    "logistics.php": _base("logistics", "logistics_list"),
    "goods_class_query.php": _base("goods_classes", "goods_class"),
}

# The document types the sandbox knows, for its admin routes and docs.
DOCUMENT_TYPES = {"in": STOCKIN_TYPES, "out": STOCKOUT_TYPES}


def process(state: WdtState, limiter: RateLimiter, api: str, form: dict[str, str], info: dict) -> dict:
    """Check the public parameters (sid, appkey, timestamp, sign), pace, then run ``api``."""
    with state.lock:
        try:
            for name in ("sid", "appkey", "timestamp", "sign"):
                if not form.get(name):
                    raise WdtError("missing", name)
            secret = state.accounts.get((form["sid"], form["appkey"]))
            if secret is None:
                raise WdtError("account")
            info["account"] = f"{form['sid']}:{form['appkey']}"
            try:
                skew = abs(int(form["timestamp"]) - state.time())
            except ValueError:
                raise WdtError("timestamp", "timestamp必须是10位秒数") from None
            if skew > state.settings.timestamp_tolerance_s:
                raise WdtError("timestamp")
            if form["sign"] != sign_of(form, secret):
                raise WdtError("sign")
            if limiter.check(info["account"]):
                raise WdtError("rate")
            return APIS[api](state, form)
        except WdtError as exc:
            return error(exc.code, exc.message)
