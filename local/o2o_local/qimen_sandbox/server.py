"""``QimenSandbox``: a 3PL WMS behind the 奇门 gateway, on 127.0.0.1 (stdlib
ThreadingHTTPServer in a thread), for the bridge's tests, demo and local stack.

Gateway side (what the bridge calls): ``POST /router/qimen/service?method=…&sign=…`` with an
XML ``<request>``. The sandbox checks the app key, the sign (its own implementation), the
customerId and the warehouse, then takes ``deliveryorder.create``, ``returnorder.create``,
``stockout.create``, ``entryorder.create``, ``order.cancel``, ``inventory.query``,
``deliveryorder.query`` (orders and stockouts), ``entryorder.query`` (inbounds and returns),
``items.synchronize`` and ``singleitem.synchronize``.

WMS side (what the warehouse does, driven by the admin API or Python): ship a document in one
or several parcels, receive a return or an inbound, refuse a cancel, change and count stock;
each calls the bridge's ``/qimen/callback`` signed as the gateway would (``entId`` in the
query, sign over every parameter and the raw body).

    with QimenSandbox(bridge_url=api_url) as wms:
        ... the bridge creates deliveryorder SO1 ...
        wms.ship("SO1", parcels=[{"tracking_no": "SF1", "items": {"A": 1}}])   # confirmType 1
        wms.ship("SO1")                                                        # the rest, confirmType 0

See docs/qimen-sandbox.md.
"""

from __future__ import annotations

import os
import random
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.etree import ElementTree

import httpx
from defusedxml.ElementTree import fromstring as safe_fromstring

from ..sandbox_http import ADMIN_PREFIX, JsonHandler, SandboxServer
from .signing import gateway_sign
from .state import CONFIRM_METHODS, CREATE_METHODS, HEADS, Document, WmsState

GATEWAY_PATH = "/router/qimen/service"
DEFAULT_LOCAL_PORT = "8805"
DEFAULT_BRIDGE_URL = "http://127.0.0.1:3000"
GMT8 = timezone(timedelta(hours=8))

# The cloud-warehouse tenant of the local stack (local/tenants/cloud-warehouse.yaml).
DEMO = {"ent_id": "10020", "app_key": "demo-qimen-app-key", "secret": "demo-qimen-app-secret",
        "customer_id": "C001", "warehouse_code": "WH01", "owner_code": "OWNER01",
        "stock": {"TS001-WHT-M": 50, "TS001-WHT-L": 30, "JN002-BLU-30": 20, "JN002-BLU-32": 10}}


def _now_text() -> str:
    return datetime.now(GMT8).strftime("%Y-%m-%d %H:%M:%S")


def _xml(root: str, content: dict[str, Any]) -> bytes:
    """A document written by hand from nested dicts; a list under key K repeats K's item tag."""
    element = ElementTree.Element(root)

    def fill(parent: ElementTree.Element, data: dict[str, Any]) -> None:
        for key, value in data.items():
            if value is None:
                continue
            if isinstance(value, list):
                wrapper = ElementTree.SubElement(parent, key)
                tag = {"orderLines": "orderLine", "packages": "package", "items": "item"}[key]
                for entry in value:
                    fill(ElementTree.SubElement(wrapper, tag), entry)
            elif isinstance(value, dict):
                fill(ElementTree.SubElement(parent, key), value)
            else:
                ElementTree.SubElement(parent, key).text = str(value)

    fill(element, content)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(element, encoding="utf-8",
                                                                             xml_declaration=False)


def _text(element: Any, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


class GatewayRefusal(Exception):
    def __init__(self, body: bytes) -> None:
        super().__init__("refused")
        self.body = body


def _failure(code: str, message: str) -> bytes:
    return _xml("response", {"flag": "failure", "code": code, "message": message})


def _success(**extra: Any) -> bytes:
    return _xml("response", {"flag": "success", "code": "0", "message": "ok", **extra})


class QimenSandbox(SandboxServer):
    name = "奇门 sandbox"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, bridge_url: str | None = None,
                 merchant: dict[str, Any] | None = None, fault_seed: int = 0) -> None:
        super().__init__(host, port)
        self.bridge_url = bridge_url
        self.merchant = dict(DEMO if merchant is None else merchant)
        self.state = WmsState()
        self.state.stock.update(self.merchant.get("stock", {}))
        self.faults: dict[str, Any] = {"error_rate": 0.0, "kinds": ["failure"], "script": []}
        self._random = random.Random(fault_seed)
        self.callback_options: dict[str, Any] = {}

    # --- local stack Sandbox protocol -------------------------------------------------------
    @classmethod
    def for_local_stack(cls, host: str = "127.0.0.1") -> "QimenSandbox":
        """Port 8805 (O2O_QIMEN_SANDBOX_PORT): the cloud-warehouse tenant's gateway_url."""
        return cls(host, int(os.environ.get("O2O_QIMEN_SANDBOX_PORT", DEFAULT_LOCAL_PORT)),
                   bridge_url=os.environ.get("O2O_QIMEN_BRIDGE_URL", DEFAULT_BRIDGE_URL))

    def connect_bridge(self, api_url: str) -> None:
        self.bridge_url = api_url

    def handler_class(self) -> type[JsonHandler]:
        return _Handler

    @property
    def gateway_url(self) -> str:
        return self.url + GATEWAY_PATH

    @property
    def address(self) -> str:
        return self.gateway_url

    def status_detail(self) -> str:
        return f" (admin {self.url}{ADMIN_PREFIX}, callbacks to {self.bridge_url or 'nowhere'}/qimen/callback)"

    def environment(self) -> dict[str, str]:
        return {"O2O_QIMEN_SANDBOX_URL": self.url, "O2O_QIMEN_GATEWAY_URL": self.gateway_url} if self.running else {}

    def reset(self) -> None:
        self.state.reset()
        self.state.stock.update(self.merchant.get("stock", {}))
        self.faults = {"error_rate": 0.0, "kinds": ["failure"], "script": []}
        self.callback_options = {}

    # --- the gateway side ---------------------------------------------------------------------
    def handle_gateway(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        method = query.get("method", "")
        entry: dict[str, Any] = {"method": method, "at": _now_text(), "body": body.decode("utf-8", "replace")}
        try:
            self._authenticate(query, body)
            fault = self._fault_for(method)
            if fault is not None:
                entry["fault"] = fault
                if fault["kind"] == "http":
                    return self._logged(entry, 503, b"service unavailable")
                if fault["kind"] == "timeout":
                    time.sleep(float(fault.get("delay", 30)))
                    return self._logged(entry, 504, b"")
                return self._logged(entry, 200, _failure(fault.get("code", "isp.remote-service-error"),
                                                         "WMS 繁忙，请稍后重试"))
            try:
                request = safe_fromstring(body, forbid_dtd=True)
            except Exception:  # noqa: BLE001 - any unreadable body is the caller's fault
                return self._logged(entry, 200, _failure("invalid-request", "请求报文不是合法的 XML"))
            if request.tag != "request":
                return self._logged(entry, 200, _failure("invalid-request", "根节点必须是 request"))
            with self.state.lock:
                answer = self._dispatch(method, request)
            return self._logged(entry, 200, answer)
        except GatewayRefusal as refusal:
            return self._logged(entry, 200, refusal.body)

    def _logged(self, entry: dict[str, Any], status: int, answer: bytes) -> tuple[int, bytes]:
        entry.update(http_status=status, answer=answer.decode("utf-8", "replace"))
        with self.state.lock:
            self.state.calls.append(entry)
        return status, answer

    def _authenticate(self, query: dict[str, str], body: bytes) -> None:
        def gateway_error(code: str, msg: str, sub: str) -> GatewayRefusal:
            return GatewayRefusal(_xml("error_response", {"code": code, "msg": msg, "sub_code": sub}))

        for name in ("method", "app_key", "customerId", "format", "sign_method", "timestamp", "v", "sign"):
            if not query.get(name):
                raise gateway_error("40", f"Missing required arguments:{name}", "isv.missing-parameter")
        if query["app_key"] != self.merchant["app_key"]:
            raise gateway_error("29", "Invalid app Key", "isv.appkey-not-exists")
        if query["sign_method"] != "md5" or query["sign"] != gateway_sign(query, body, self.merchant["secret"]):
            raise gateway_error("25", "Invalid signature", "isv.invalid-signature")
        try:
            sent = datetime.strptime(query["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
        except ValueError:
            raise gateway_error("31", "Invalid timestamp", "isv.invalid-timestamp") from None
        if abs((datetime.now(GMT8) - sent).total_seconds()) > 600:
            raise gateway_error("31", "Invalid timestamp", "isv.invalid-timestamp")
        if query["customerId"] != self.merchant["customer_id"]:
            raise GatewayRefusal(_failure("invalid-customer", f"customerId {query['customerId']} 不存在"))

    def _fault_for(self, method: str) -> dict[str, Any] | None:
        script = self.faults.get("script") or []
        for index, fault in enumerate(script):
            if not fault.get("method") or fault["method"] in method:
                fault = dict(fault)
                if int(fault.get("times", 1)) <= 1:
                    script.pop(index)
                else:
                    script[index]["times"] = int(fault["times"]) - 1
                return fault
        rate = float(self.faults.get("error_rate") or 0)
        if rate and self._random.random() < rate:
            return {"kind": self._random.choice(self.faults.get("kinds") or ["failure"])}
        return None

    def _dispatch(self, method: str, request: Any) -> bytes:
        if method in CREATE_METHODS:
            return self._create(CREATE_METHODS[method], request)
        if method == "taobao.qimen.order.cancel":
            return self._cancel(request)
        if method == "taobao.qimen.inventory.query":
            return self._inventory(request)
        if method == "taobao.qimen.deliveryorder.query":
            return self._delivery_query(request)
        if method == "taobao.qimen.entryorder.query":
            return self._entry_query(request)
        if method in ("taobao.qimen.items.synchronize", "taobao.qimen.singleitem.synchronize"):
            return self._items(request)
        return _failure("invalid-method", f"方法 {method} 不支持")

    def _create(self, kind: str, request: Any) -> bytes:
        head_tag, code_tag = HEADS[kind]
        head = request.find(head_tag)
        code = _text(head, code_tag)
        if not code:
            return _failure("invalid-request", f"{head_tag}.{code_tag} 必填")
        if _text(head, "warehouseCode") != self.merchant["warehouse_code"]:
            return _failure("invalid-warehouse", f"仓库 {_text(head, 'warehouseCode')} 不存在")
        plan: dict[str, int] = {}
        for line in request.findall("orderLines/orderLine"):
            sku, qty = _text(line, "itemCode"), _text(line, "planQty")
            if not sku or not qty.isdigit():
                return _failure("invalid-request", "orderLine.itemCode / planQty 必填")
            if kind in ("delivery", "stockout", "entry", "return") and _text(line, "ownerCode") not in (
                    "", self.merchant["owner_code"]):
                return _failure("invalid-owner", f"货主 {_text(line, 'ownerCode')} 不存在")
            plan[sku] = plan.get(sku, 0) + int(qty)
        if not plan:
            return _failure("invalid-request", "orderLines 不能为空")
        existing = self.state.documents.get(code)
        if existing is not None:
            if existing.plan != plan or existing.kind != kind:
                return _failure("order-exists", f"单据 {code} 已存在且内容不同")
            return self._created(existing)
        document = Document(kind=kind, code=code, wms_id=self.state.next_id("W"), plan=plan,
                            order_type=_text(head, "orderType"),
                            head={child.tag: (child.text or "").strip() for child in head if len(child) == 0})
        self.state.documents[code] = document
        return self._created(document)

    def _created(self, document: Document) -> bytes:
        id_field = {"delivery": "deliveryOrderId", "stockout": "deliveryOrderId", "return": "returnOrderId",
                    "entry": "entryOrderId"}[document.kind]
        return _success(**{id_field: document.wms_id, "createTime": _now_text()})

    def _cancel(self, request: Any) -> bytes:
        document = self.state.documents.get(_text(request, "orderCode"))
        if document is None:
            return _failure("order-not-found", f"单据 {_text(request, 'orderCode')} 不存在")
        if document.refuse_cancel or document.done:
            return _failure("cancel-refused", document.refuse_cancel or "已发货，不能取消")
        document.status = "CANCELED"
        return _success()

    def _inventory(self, request: Any) -> bytes:
        rows = []
        for criteria in request.findall("criteriaList/criteria"):
            sku = _text(criteria, "itemCode")
            if _text(criteria, "warehouseCode") not in ("", self.merchant["warehouse_code"]):
                return _failure("invalid-warehouse", f"仓库 {_text(criteria, 'warehouseCode')} 不存在")
            if _text(criteria, "ownerCode") not in ("", self.merchant["owner_code"]):
                return _failure("invalid-owner", f"货主 {_text(criteria, 'ownerCode')} 不存在")
            rows.append({"warehouseCode": self.merchant["warehouse_code"], "itemCode": sku, "inventoryType": "ZP",
                         "quantity": self.state.stock.get(sku, 0), "lockQuantity": 0})
        return _success(items=rows)

    def _delivery_query(self, request: Any) -> bytes:
        """deliveryorder.query: an order or a stockout (配货) as the WMS holds it: status, every
        parcel shipped so far, and its lines with the quantities shipped (``pageSize`` lines a
        page, from 1)."""
        found = self._queried(request, "orderCode", ("delivery", "stockout"), "发货单")
        if isinstance(found, bytes):
            return found
        document, page_of = found
        lines = page_of(document)
        return _success(totalLines=len(document.plan), deliveryOrder={
            "deliveryOrderCode": document.code, "deliveryOrderId": document.wms_id,
            "warehouseCode": self.merchant["warehouse_code"], "orderType": document.order_type,
            "status": document.status}, packages=document.packages, orderLines=lines)

    def _entry_query(self, request: Any) -> bytes:
        """entryorder.query: an inbound (退仓) or a return as the WMS holds it: status and its lines
        with the quantities received so far."""
        found = self._queried(request, "entryOrderCode", ("entry", "return"), "入库单")
        if isinstance(found, bytes):
            return found
        document, page_of = found
        return _success(totalLines=len(document.plan), entryOrder={
            "entryOrderCode": document.code, "entryOrderId": document.wms_id,
            "warehouseCode": self.merchant["warehouse_code"], "entryOrderType": document.order_type,
            "status": document.status}, orderLines=page_of(document))

    def _queried(self, request: Any, code_tag: str, kinds: tuple[str, ...], name: str) -> Any:
        """(document, its lines' page) of a query, or the failure to answer."""
        code = _text(request, code_tag)
        if not code:
            return _failure("invalid-request", f"{code_tag} 必填")
        if _text(request, "warehouseCode") not in ("", self.merchant["warehouse_code"]):
            return _failure("invalid-warehouse", f"仓库 {_text(request, 'warehouseCode')} 不存在")
        document = self.state.documents.get(code)
        if document is None or document.kind not in kinds:
            return _failure("order-not-found", f"{name} {code} 不存在")
        page = int(_text(request, "page") or 1)
        size = min(int(_text(request, "pageSize") or 100), 100)

        def page_of(doc: Document) -> list[dict[str, Any]]:
            lines = [{"orderLineNo": str(n), "itemCode": sku, "planQty": qty, "actualQty": doc.done.get(sku, 0)}
                     for n, (sku, qty) in enumerate(doc.plan.items(), 1)]
            return lines[(page - 1) * size:page * size]

        return document, page_of

    def _items(self, request: Any) -> bytes:
        items = request.findall("items/item") or [request.find("item")]
        for item in items:
            if item is None or not _text(item, "itemCode"):
                return _failure("invalid-request", "item.itemCode 必填")
            self.state.items[_text(item, "itemCode")] = {**{child.tag: (child.text or "").strip() for child in item},
                                                        "actionType": _text(request, "actionType")}
        return _success()

    # --- the warehouse side: confirmations and reports to the bridge ------------------------
    def ship(self, code: str, parcels: list[dict[str, Any]] | None = None, *, final: bool | None = None,
             out_biz_code: str | None = None, **send: Any) -> dict[str, Any]:
        """Ship parcels of a deliveryorder / stockout (default: one parcel with all that is
        left) and confirm them: confirmType 1 while something is left, 0 for the last."""
        with self.state.lock:
            document = self._document(code, ("delivery", "stockout"))
            if parcels is None:
                parcels = [{"items": {sku: qty - document.done.get(sku, 0) for sku, qty in document.plan.items()
                                      if qty > document.done.get(sku, 0)}}]
            packages, lines = [], {}
            for number, parcel in enumerate(parcels, 1):
                items = {sku: int(qty) for sku, qty in parcel["items"].items()}
                for sku, qty in items.items():
                    lines[sku] = lines.get(sku, 0) + qty
                    document.done[sku] = document.done.get(sku, 0) + qty
                packages.append({"logisticsCode": parcel.get("carrier", "SF"),
                                 "logisticsName": parcel.get("carrier_name", "顺丰速运"),
                                 "expressCode": parcel.get("tracking_no") or self.state.next_id("SF"),
                                 "packageCode": f"{code}-P{document.messages + 1}-{number}",
                                 "items": [{"itemCode": sku, "quantity": qty} for sku, qty in items.items()]})
            document.packages.extend(packages)
            complete = all(document.done.get(sku, 0) >= qty for sku, qty in document.plan.items())
            final = complete if final is None else final
            document.status = "DELIVERED" if final else "PARTDELIVERED"
            document.messages += 1
            body = _xml("request", {
                "deliveryOrder": {"deliveryOrderCode": code, "deliveryOrderId": document.wms_id,
                                  "warehouseCode": self.merchant["warehouse_code"], "orderType": document.order_type,
                                  "status": document.status,
                                  "outBizCode": out_biz_code or f"{code}-{document.messages}",
                                  "confirmType": 0 if final else 1, "orderConfirmTime": _now_text()},
                "packages": packages,
                "orderLines": [{"itemCode": sku, "actualQty": qty} for sku, qty in lines.items()]})
        return self.send_callback(CONFIRM_METHODS[document.kind], body, **send)

    def receive(self, code: str, items: dict[str, int] | None = None, *, final: bool | None = None,
                out_biz_code: str | None = None, **send: Any) -> dict[str, Any]:
        """Receive a return (returnorder.confirm) or an inbound (entryorder.confirm, in several
        receipts with confirmType 1 until the last)."""
        with self.state.lock:
            document = self._document(code, ("return", "entry"))
            if items is None:
                items = {sku: qty - document.done.get(sku, 0) for sku, qty in document.plan.items()
                         if qty > document.done.get(sku, 0)}
            for sku, qty in items.items():
                document.done[sku] = document.done.get(sku, 0) + int(qty)
            complete = all(document.done.get(sku, 0) >= qty for sku, qty in document.plan.items())
            final = complete if final is None else final
            document.status = "FULFILLED" if final else "PARTFULFILLED"
            document.messages += 1
            out_biz = out_biz_code or f"{code}-{document.messages}"
            lines = [{"orderLineNo": str(n), "itemCode": sku, "inventoryType": "ZP", "actualQty": int(qty)}
                     for n, (sku, qty) in enumerate(items.items(), 1)]
            if document.kind == "return":
                head = {"returnOrder": {"returnOrderCode": code, "returnOrderId": document.wms_id,
                                        "warehouseCode": self.merchant["warehouse_code"], "orderType": "THRK",
                                        "outBizCode": out_biz, "orderConfirmTime": _now_text()}}
            else:
                head = {"entryOrder": {"entryOrderCode": code, "entryOrderId": document.wms_id,
                                       "warehouseCode": self.merchant["warehouse_code"],
                                       "entryOrderType": document.order_type, "outBizCode": out_biz,
                                       "confirmType": 0 if final else 1, "status": document.status,
                                       "operateTime": _now_text()}}
            body = _xml("request", {**head, "orderLines": lines})
        return self.send_callback(CONFIRM_METHODS[document.kind], body, **send)

    def refuse_cancel(self, code: str, reason: str = "已发货，不能取消") -> dict[str, Any]:
        with self.state.lock:
            document = self._document(code, tuple(HEADS))
            document.refuse_cancel = reason
            return document.to_dict()

    def change_stock(self, quantities: dict[str, int], *, order_code: str = "ADJ", **send: Any) -> dict[str, Any]:
        """Set stock to ``quantities`` and report the changes (stockchange.report, signed deltas)."""
        with self.state.lock:
            items = []
            for sku, qty in quantities.items():
                delta = int(qty) - self.state.stock.get(sku, 0)
                self.state.stock[sku] = int(qty)
                items.append({"ownerCode": self.merchant["owner_code"], "warehouseCode": self.merchant["warehouse_code"],
                              "orderCode": order_code, "orderType": "QTRK" if delta >= 0 else "QTCK",
                              "outBizCode": self.state.next_id("SC"), "itemCode": sku, "inventoryType": "ZP",
                              "quantity": delta, "changeTime": _now_text()})
            body = _xml("request", {"items": items})
        return self.send_callback("taobao.qimen.stockchange.report", body, **send)

    def count_stock(self, counted: dict[str, int], **send: Any) -> dict[str, Any]:
        """A stock count (inventory.report): gains and losses against the book, stock set to the count."""
        with self.state.lock:
            check = self.state.next_id("PD")
            items = []
            for sku, qty in counted.items():
                items.append({"itemCode": sku, "inventoryType": "ZP", "quantity": int(qty) - self.state.stock.get(sku, 0)})
                self.state.stock[sku] = int(qty)
            body = _xml("request", {"totalPage": 1, "currentPage": 1, "pageSize": len(items),
                                    "warehouseCode": self.merchant["warehouse_code"], "checkOrderCode": check,
                                    "ownerCode": self.merchant["owner_code"], "checkTime": _now_text(),
                                    "outBizCode": check, "items": items})
        return self.send_callback("taobao.qimen.inventory.report", body, **send)

    def resend(self, index: int = -1, **send: Any) -> dict[str, Any]:
        """The gateway's late retry: the recorded callback ``index`` (default: the last, e.g. one
        that was dropped) sent again as it was."""
        with self.state.lock:
            earlier = self.state.callbacks[index]
        return self.send_callback(earlier["method"], earlier["body"].encode("utf-8"), **send)

    def _document(self, code: str, kinds: tuple[str, ...]) -> Document:
        document = self.state.documents.get(code)
        if document is None or document.kind not in kinds:
            raise KeyError(f"no {'/'.join(kinds)} document {code} at the WMS")
        return document

    def send_callback(self, method: str, body: bytes, *, duplicate: bool = False, bad_sign: bool = False,
                      drop: bool = False, timestamp: str | None = None) -> dict[str, Any]:
        """POST ``body`` to the bridge's /qimen/callback signed as the gateway would; returns
        what the bridge answered (each send is logged in ``state.callbacks``)."""
        query = {"entId": self.merchant["ent_id"], "method": method, "app_key": "wms-sandbox",
                 "customerId": self.merchant["customer_id"], "format": "xml", "sign_method": "md5",
                 "timestamp": timestamp or _now_text(), "v": "2.0"}
        query["sign"] = gateway_sign(query, body, self.merchant["secret"])
        if bad_sign:
            query["sign"] = "0" * 32
        record: dict[str, Any] = {"method": method, "body": body.decode("utf-8"), "sent": not drop}
        if drop or not self.bridge_url:
            record["answer"] = None if drop else "no bridge_url"
        else:
            answers = []
            for _ in range(2 if duplicate else 1):
                answers.append(self._post_callback(query, body))
            record["answer"] = answers[-1]
            record["answers"] = answers
        with self.state.lock:
            self.state.callbacks.append(record)
        return record

    def _post_callback(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        url = f"{self.bridge_url.rstrip('/')}/qimen/callback?{urllib.parse.urlencode(query)}"
        try:
            response = httpx.post(url, content=body, headers={"Content-Type": "text/xml;charset=utf-8"},
                                  timeout=httpx.Timeout(30.0, connect=5.0))
        except httpx.HTTPError as exc:
            return {"http_status": None, "error": type(exc).__name__}
        answer: dict[str, Any] = {"http_status": response.status_code}
        try:
            root = safe_fromstring(response.content, forbid_dtd=True)
            answer.update(flag=_text(root, "flag"), code=_text(root, "code"), message=_text(root, "message"))
        except Exception:  # noqa: BLE001 - an unreadable answer is recorded as it is
            answer["text"] = response.text[:500]
        return answer


class _Handler(JsonHandler):
    def do_GET(self) -> None:
        from . import admin

        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith(ADMIN_PREFIX):
            self.send_json(*admin.handle(self.sandbox, "GET", url.path[len(ADMIN_PREFIX):], None))
        else:
            self.send_json(200, {"name": self.sandbox.name, "gateway": self.sandbox.gateway_url})

    def do_POST(self) -> None:
        from . import admin

        url = urllib.parse.urlsplit(self.path)
        raw = self.read_body()
        if url.path.startswith(ADMIN_PREFIX):
            payload = self.admin_body(raw)
            if payload is not None:
                self.send_json(*admin.handle(self.sandbox, "POST", url.path[len(ADMIN_PREFIX):], payload))
            return
        if url.path != GATEWAY_PATH:
            self.send_json(404, {"error": f"no such path {url.path}"})
            return
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        status, body = self.sandbox.handle_gateway(query, raw)
        self.send_body(status, body, "text/xml;charset=utf-8")
