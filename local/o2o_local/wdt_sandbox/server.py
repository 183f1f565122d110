"""``WdtSandbox``: 旺店通 ERP 企业版's open API on 127.0.0.1 (stdlib HTTP server in a thread).

    with WdtSandbox() as wdt:           # port 0: a free port
        wdt.seed_demo()
        ... point a tenant's wangdiantong.base_url at wdt.base_url ...
        wdt.add_stockin("S101", "调拨入库", [{"spec_no": "BED-001", "num": 5}])   # an ERP user's 入库开单
        assert wdt.state.snapshot("trades")

It also satisfies the local stack's ``Sandbox`` protocol (name, start, status, environment, stop).
"""

from __future__ import annotations

import urllib.parse
from email.utils import formatdate
from typing import Any

from ..jst_sandbox.faults import FaultInjector, RateLimiter
from ..sandbox_http import JsonHandler, ScriptedSandbox
from . import admin
from .endpoints import APIS, CODES, error, process
from .state import WdtState

__all__ = ["WdtSandbox", "DEMO", "PREFIX"]

PREFIX = "/openapi2/"

DEMO = {
    "accounts": [{"sid": "demo-sid", "appkey": "demo-wdt-appkey", "appsecret": "demo-wdt-appsecret"}],
    "shops": [{"shop_no": "POS01", "shop_name": "门店POS", "platform_id": "127", "sub_platform_id": "0"}],
    "warehouses": [{"warehouse_no": "000", "name": "总仓"}, {"warehouse_no": "S101", "name": "徐家汇店"},
                   {"warehouse_no": "S102", "name": "五角场店"}],
    "logistics": [{"logistics_no": "WDH", "logistics_name": "无单号物流", "logistics_type": "1"},
                  {"logistics_no": "HDFK", "logistics_name": "货到付款物流", "logistics_type": "1", "is_support_cod": 1},
                  {"logistics_no": "SF", "logistics_name": "顺丰速运", "logistics_type": "2"}],
    "goods_classes": [{"class_id": "1", "class_name": "家居", "parent_id": "0"},
                      {"class_id": "2", "class_name": "床品", "parent_id": "1"},
                      {"class_id": "3", "class_name": "枕头", "parent_id": "2"}],
    "goods": [
        {"goods_no": "PIL", "goods_name": "记忆棉枕", "class_name": "枕头", "brand_name": "示例",
         "created": "2026-11-01 10:00:00", "modified": "2026-11-01 10:00:00",
         "spec_list": [{"spec_no": "PIL-STD", "spec_name": "标准", "barcode": "6911000000011", "retail_price": 199},
                       {"spec_no": "PIL-LOW", "spec_name": "低枕", "barcode": "6911000000012", "retail_price": 189}]},
        {"goods_no": "BLK", "goods_name": "珊瑚绒毯", "class_name": "床品", "brand_name": "示例",
         "created": "2026-11-02 10:00:00", "modified": "2026-11-02 10:00:00",
         "spec_list": [{"spec_no": "BLK-150", "spec_name": "150x200", "barcode": "6911000000021", "retail_price": 259}]},
    ],
    "stock": [{"warehouse_no": "000", "spec_no": "PIL-STD", "stock_num": 100},
              {"warehouse_no": "000", "spec_no": "BLK-150", "stock_num": 40},
              {"warehouse_no": "S101", "spec_no": "PIL-STD", "stock_num": 8},
              {"warehouse_no": "S101", "spec_no": "BLK-150", "stock_num": 3},
              {"warehouse_no": "S102", "spec_no": "PIL-LOW", "stock_num": 5}],
}


class _Handler(JsonHandler):
    admin_routes = admin.handle

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header is the ERP's clock (moved by advance_clock): clients learn their skew from it.
        return formatdate(self.sandbox.state.time(), usegmt=True)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if self.answered_admin(url):
            return
        if url.path in ("/", "/health"):
            self.send_json(200, {"code": 0, "message": "旺店通 sandbox", "base_url": self.sandbox.base_url})
        else:
            self.send_json(405, error(405, "只支持POST"))

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        raw = self.read_body()
        sandbox = self.sandbox
        if self.answered_admin(url, raw):
            return
        api = url.path[len(PREFIX):] if url.path.startswith(PREFIX) else ""
        if api not in APIS:
            sandbox.state.record_call({"api": api or url.path, "code": 404, "http_status": 404, "fault": None})
            self.send_json(404, error(404, f"接口不存在: {url.path}"))
            return
        form = dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            status, body, hang = sandbox.handle_api(api, form)
        except Exception as exc:  # a sandbox bug: answer it visibly
            sandbox.state.record_call({"api": api, "code": 500, "http_status": 500, "fault": None, "message": repr(exc)})
            status, body, hang = 500, error(500, f"旺店通 sandbox internal error: {exc!r}"), False
        if hang:
            self.close_connection = True
            return
        self.send_json(status, body)


class WdtFaults(FaultInjector):
    """The JST sandbox's fault injector, answering in 旺店通's terms: a ``jst``-kind fault is
    an HTTP 200 answer with a 旺店通 error code (default 1140 系统繁忙, which clients retry)."""

    def reset(self) -> None:
        super().reset()
        self.configure(jst_codes=[CODES["busy"][0]])

    def add(self, kind: str, **kwargs: Any) -> None:
        if kind == "wdt":
            kind = "jst"
        if kind == "jst" and not kwargs.get("code"):
            kwargs["code"] = CODES["busy"][0]
        super().add(kind, **kwargs)


class WdtSandbox(ScriptedSandbox):
    """The 旺店通 sandbox. ``state``, ``faults`` and ``rate_limit`` are the Python API."""

    name = "旺店通 sandbox"
    CALL_KEY = "api"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.state = WdtState()
        self.faults = WdtFaults()
        self.faults.reset()
        self.rate_limit = RateLimiter(per_second=5, per_minute=300)

    def handler_class(self) -> type[_Handler]:
        return _Handler

    @property
    def base_url(self) -> str:
        """What a tenant's ``wangdiantong.base_url`` points at."""
        return f"{self.url}/openapi2"

    def status(self) -> str:
        return f"{self.name}: {self.base_url}" if self.running else f"{self.name}: stopped"

    def environment(self) -> dict[str, str]:
        return {"O2O_WDT_SANDBOX_URL": self.url, "O2O_WDT_BASE_URL": self.base_url} if self.running else {}

    # -- the API pipeline -------------------------------------------------------------------
    def handle_api(self, api: str, form: dict[str, str]) -> tuple[int, Any, bool]:
        """(http_status, body, hang) of one call, with faults, the rate limit and the call log."""
        info: dict[str, Any] = {}
        fault = self.faults.draw(api)
        entry: dict[str, Any] = {"api": api, "fault": fault.to_dict() if fault else None,
                                 "params": {k: v for k, v in form.items() if k not in ("sign", "appkey", "sid")}}
        if fault and fault.kind == "timeout":
            if fault.apply_effect:  # the ERP did the work; its answer never arrives
                process(self.state, self.rate_limit, api, form, info)
            self.state.record_call({**entry, "code": None, "http_status": None})
            self._stopping.wait(fault.delay)
            return 0, None, True
        if fault and fault.delay:
            self._stopping.wait(fault.delay)
        if fault and fault.kind in ("jst", "http"):
            if fault.apply_effect:  # done, but the answer is lost
                process(self.state, self.rate_limit, api, form, info)
            if fault.kind == "http":
                status, body = fault.code, {"code": fault.code, "message": "Service Unavailable (injected)"}
            else:
                code = fault.code
                message = next((m for c, m in CODES.values() if c == code), "内部处理异常")
                status, body = 200, error(code, f"{message}（injected）")
        else:
            status, body = 200, process(self.state, self.rate_limit, api, form, info)
        self.state.record_call({**entry, "account": info.get("account"), "code": body.get("code"),
                                "message": body.get("message"), "http_status": status})
        return status, body, False

    # -- Python API: data (reset, seed, configure, calls, clear_calls, advance_clock: ScriptedSandbox) --
    def seed_demo(self) -> dict:
        """The 旺店通 demo tenant of local/tenants/wdt-demo.yaml: shop POS01 (其它), 总仓 000 and
        the store warehouses S101 / S102, 无单号 WDH and 货到付款 HDFK logistics, three
        category levels, two goods with stock."""
        return self.state.seed(**DEMO)

    # -- Python API: what an ERP user does ------------------------------------------------------
    def add_stockin(self, warehouse_no: str, order_type: str, lines: list[dict], *, remark: str = "",
                    status: str = "80") -> dict:
        """入库开单: a stock-in document of a type (code or name, e.g. 调拨入库), 已完成 by default."""
        return self.state.add_document("in", warehouse_no=warehouse_no, order_type=order_type, lines=lines,
                                       remark=remark, status=status)

    def add_stockout(self, warehouse_no: str, order_type: str, lines: list[dict], *, remark: str = "",
                     status: str = "80") -> dict:
        """出库开单: a stock-out document of a type (code or name, e.g. 其他出库)."""
        return self.state.add_document("out", warehouse_no=warehouse_no, order_type=order_type, lines=lines,
                                       remark=remark, status=status)

    def put_goods(self, **goods: Any) -> dict:
        """货品档案: create a 货品 or change its name, specs, prices, barcodes."""
        return self.state.put_goods(goods)

    def set_stock(self, warehouse_no: str, spec_no: str, stock_num: Any) -> dict:
        """库存管理: set a warehouse's stock of a spec (changes its modified time)."""
        return self.state.set_stock(warehouse_no, spec_no, stock_num)

    def put_warehouse(self, **warehouse: Any) -> dict:
        self.state.seed(warehouses=[warehouse])
        return dict(self.state.warehouses[str(warehouse["warehouse_no"])])

    def remove_warehouse(self, warehouse_no: str) -> dict:
        with self.state.lock:
            return self.state.warehouses.pop(str(warehouse_no))
