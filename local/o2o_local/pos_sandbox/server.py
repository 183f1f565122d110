"""The 店+ sandbox: P1–P14 of the store contract (docs/openapi/pos-api.yaml) served under ``/api`` on 127.0.0.1, admin
endpoints under ``/__admin__/``, and signed store events sent to the bridge.

    with PosSandbox(bridge_url="http://127.0.0.1:3000") as sandbox:
        sandbox.seed_demo()
        sandbox.base_url                 # http://127.0.0.1:<port>/api, a tenant's pos.base_url
        sandbox.emit("stock.changed", {"store_code": "S001", "items": [...]})
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from . import openapi
from ..sandbox_http import JsonHandler, SandboxServer
from .faults import FaultInjector
from .state import (BAD_REQUEST, MISSING_KEY, NOT_FOUND, SERVER_ERROR, TOO_MANY, UNAVAILABLE, Answer, Merchant,
                    PosState, error)

__all__ = ["API_PREFIX", "EmitResult", "PosSandbox", "sign"]

API_PREFIX = "/api"
ADMIN_PREFIX = "/__admin__"
DEFAULT_LOCAL_PORT = 8802
DEFAULT_BRIDGE_URL = "http://127.0.0.1:3000"


def sign(secret: str, raw_body: bytes) -> str:
    """The X-O2O-Signature value: ``sha256=<hex HMAC-SHA256(secret, raw body)>``."""
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


@dataclass
class EmitResult:
    event: dict[str, Any]
    url: str
    status: int | None  # the bridge's HTTP status; None when it could not be reached
    body: Any  # the bridge's answer (JSON when it was JSON, else text)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Route = tuple[str, re.Pattern[str], Callable[..., Answer]]


class PosSandbox(SandboxServer):
    name = "店+ sandbox"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, bridge_url: str | None = None,
                 fault_seed: int = 0, validate_events: bool = True) -> None:
        super().__init__(host, port)
        self.bridge_url = bridge_url
        self.state = PosState()
        self.faults = FaultInjector(fault_seed)
        self.validate_events = validate_events
        s = self.state
        self.routes: list[Route] = [
            ("POST", re.compile(r"/fulfilment-orders"), lambda m, b, q: s.create_fulfilment(m, b)),
            ("POST", re.compile(r"/fulfilment-orders/(?P<id>[^/]+)/cancel"), lambda m, b, q, id: s.cancel_fulfilment(m, id, b)),
            ("POST", re.compile(r"/orders/(?P<id>[^/]+)/shipments"), lambda m, b, q, id: s.ship_order(m, id, b)),
            ("POST", re.compile(r"/orders/(?P<id>[^/]+)/cancel"), lambda m, b, q, id: s.cancel_order(m, id, b)),
            ("POST", re.compile(r"/returns/(?P<id>[^/]+)/receipt"), lambda m, b, q, id: s.receive_return(m, id, b)),
            ("PUT", re.compile(r"/warehouses/(?P<id>[^/]+)/stock"), lambda m, b, q, id: s.set_warehouse_stock(m, id, b)),
            ("GET", re.compile(r"/stores/(?P<id>[^/]+)/stock"), lambda m, b, q, id: s.store_stock(m, id, q.get("sku_ids"))),
            ("GET", re.compile(r"/stock"),
             lambda m, b, q: s.stock_page(m, q.get("updated_since"), q.get("cursor"), q.get("limit"),
                                          q.get("order"), q.get("sku_after"), q.get("sku_until"))),
            ("POST", re.compile(r"/products/batch"), lambda m, b, q: s.upsert_products(m, b)),
            ("POST", re.compile(r"/transfers/(?P<id>[^/]+)/warehouse-shipped"), lambda m, b, q, id: s.transfer_shipped(m, id, b)),
            ("POST", re.compile(r"/warehouse-returns/(?P<id>[^/]+)/received"),
             lambda m, b, q, id: s.warehouse_return_received(m, id, b)),
            ("POST", re.compile(r"/stores/(?P<id>[^/]+)/inbound-receipts"),
             lambda m, b, q, id: s.create_inbound_receipt(m, id, b)),
            ("POST", re.compile(r"/stores/(?P<id>[^/]+)/outbound-notes"), lambda m, b, q, id: s.book_outbound_note(m, id, b)),
            ("PUT", re.compile(r"/members/(?P<id>[^/]+)"), lambda m, b, q, id: s.put_member(m, id, b)),
        ]

    # --- lifecycle ------------------------------------------------------------------------
    @classmethod
    def for_local_stack(cls, host: str = "127.0.0.1") -> "PosSandbox":
        """The sandbox ``o2o local up`` starts: port 8802 (the demo tenant's pos.base_url),
        events to the local HTTP API (``O2O_POS_BRIDGE_URL``, default http://127.0.0.1:3000),
        seeded with the demo merchant."""
        port = int(os.environ.get("O2O_POS_SANDBOX_PORT", DEFAULT_LOCAL_PORT))
        sandbox = cls(host, port, bridge_url=os.environ.get("O2O_POS_BRIDGE_URL", DEFAULT_BRIDGE_URL))
        sandbox.seed_demo()
        return sandbox

    def connect_bridge(self, api_url: str) -> None:
        """Send events to this bridge (the local stack calls it once its API is up)."""
        self.bridge_url = api_url

    def handler_class(self) -> type[JsonHandler]:
        return _Handler

    @property
    def base_url(self) -> str:
        """What a tenant's ``pos.base_url`` should be."""
        return self.url + API_PREFIX

    @property
    def address(self) -> str:
        return self.base_url  # what start() returns

    # --- the sandboxes.py slot ------------------------------------------------------------
    def status_detail(self) -> str:
        return f" (admin {self.url}{ADMIN_PREFIX}/, events to {self.bridge_url or 'nowhere'})"

    def environment(self) -> dict[str, str]:
        return {"O2O_POS_SANDBOX_URL": self.url, "O2O_POS_BASE_URL": self.base_url} if self.running else {}

    # --- Python API for tests and the demo --------------------------------------------------
    def reset(self) -> None:
        self.state.reset()
        self.faults.clear()

    def seed(self, spec: dict[str, Any] | None = None, **merchant: Any) -> list[str]:
        """``seed({"merchants": [...]})`` or ``seed(ent_id=..., api_key=..., webhook_secret=..., stores=[...])``."""
        return self.state.seed(spec if spec is not None else merchant)

    def seed_demo(self) -> list[str]:
        from .demo import demo_seed

        return self.seed(demo_seed())

    def set_store_stock(self, ent_id: str, store_code: str, items: list[dict[str, Any]], *, emit: bool = True,
                        bridge_url: str | None = None) -> EmitResult | list[dict[str, Any]]:
        """A store's stock changed: bump the versions and (by default) tell the bridge."""
        levels = self.state.set_store_stock(ent_id, store_code, items)
        if not emit:
            return levels
        return self.emit("stock.changed", {"store_code": store_code, "items": levels}, ent_id=ent_id,
                         bridge_url=bridge_url)

    def emit(self, event_type: str, data: dict[str, Any], *, ent_id: str | None = None, event_id: str | None = None,
             occurred_at: str | None = None, bridge_url: str | None = None, secret: str | None = None,
             validate: bool | None = None, timeout: float = 10.0) -> EmitResult:
        """Send one signed event to the bridge's ``POST /pos/events`` and record its answer.

        The store-side effect (a new order, a submitted transfer, new stock) is applied first,
        as in the real store system. ``secret`` overrides the merchant's webhook_secret (to test
        a bad signature)."""
        import httpx

        merchant = self._merchant_for_emit(ent_id)
        event = {
            "event_id": event_id or f"evt-{uuid.uuid4().hex}",
            "ent_id": merchant.ent_id,
            "type": event_type,
            "occurred_at": occurred_at or datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
            "data": data,
        }
        if self.validate_events if validate is None else validate:
            found = openapi.problems("PosEvent", event)
            if found:
                raise ValueError(f"not a valid {event_type} event: {'; '.join(found[:5])}")
        target = self._events_url(bridge_url or merchant.bridge_url or self.bridge_url)
        self.state.apply_event(merchant, event_type, data)
        raw = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "X-O2O-Event-Id": str(event["event_id"]),
                   "X-O2O-Signature": sign(secret if secret is not None else merchant.webhook_secret, raw),
                   "User-Agent": "DianPlus-Sandbox/1.0"}
        try:
            response = httpx.post(target, content=raw, headers=headers, timeout=timeout)
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            result = EmitResult(event, target, response.status_code, body)
        except httpx.HTTPError as exc:
            result = EmitResult(event, target, None, None, f"{type(exc).__name__}: {exc}")
        with self.state.lock:
            merchant.events.append({"event": event, "url": target, "status": result.status, "answer": result.body,
                                    "error": result.error, "sent_at": datetime.now(timezone.utc).isoformat()})
        return result

    def fulfilment_event(self, fulfilment_id: str, action: str, *, ent_id: str | None = None,
                         carrier_code: str = "SF", tracking_no: str | None = None, reason: str = "out_of_stock",
                         event_id: str | None = None, items: list[dict] | None = None,
                         cod_collected: dict[str, Any] | None = None) -> EmitResult:
        """People at the store act on a fulfilment order (S1): ``shipped`` (with carrier and tracking
        no.), ``picked_up`` by the customer, or ``rejected`` (out_of_stock, damaged, other; with
        ``items`` [{sku_id, qty?}] the SKUs it cannot fulfil, sent as the event's optional ``items``);
        the matching ``fulfilment.*`` event is emitted with the order's own ids. ``cod_collected``
        {amount, method} (shipped or picked up): the 货到付款 amount the store collected; by default
        a shipped / picked-up 货到付款 order (P1 ``cod``) reports its full amount collected in cash."""
        merchant = self._merchant_for_emit(ent_id)
        with self.state.lock:
            fulfilment = merchant.fulfilments.get(fulfilment_id)
            if fulfilment is None:
                raise KeyError(f"fulfilment {fulfilment_id} not found")
            if fulfilment["status"] != "created":
                raise ValueError(f"fulfilment {fulfilment_id} is {fulfilment['status']}; only an open one can be "
                                 f"{action.replace('_', ' ')}")
            at = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
            base = {"fulfilment_id": fulfilment_id, "external_id": fulfilment["external_id"]}
        if action == "shipped":
            data = {**base, "carrier_code": carrier_code, "tracking_no": tracking_no or f"{carrier_code}{fulfilment_id}",
                    "shipped_at": at}
        elif action == "picked_up":
            data = {**base, "picked_up_at": at}
        elif action == "rejected":
            data = {**base, "store_code": fulfilment["store_code"], "reason": reason}
            if items:
                data["items"] = [{"sku_id": str(i["sku_id"]), **({"qty": int(i["qty"])} if i.get("qty") else {})}
                                 for i in items]
        else:
            raise ValueError(f"action must be shipped, picked_up or rejected, not {action!r}")
        if action != "rejected":
            if cod_collected is None and fulfilment.get("cod"):
                cod_collected = {"amount": fulfilment["cod"]["amount"], "method": "cash"}
            if cod_collected is not None:
                data["cod_collected"] = dict(cod_collected)
        return self.emit(f"fulfilment.{action}", data, ent_id=merchant.ent_id, event_id=event_id)

    def _merchant_for_emit(self, ent_id: str | None) -> Merchant:
        if ent_id is not None:
            return self.state.merchant(ent_id)
        with self.state.lock:
            if len(self.state.merchants) != 1:
                raise ValueError("say which merchant emits (ent_id=...): the sandbox holds "
                                 f"{len(self.state.merchants)} merchants")
            return next(iter(self.state.merchants.values()))

    @staticmethod
    def _events_url(bridge_url: str | None) -> str:
        if not bridge_url:
            raise ValueError("no bridge URL: give PosSandbox(bridge_url=...), seed the merchant's bridge_url, "
                             "or POST /__admin__/config")
        bridge_url = bridge_url.rstrip("/")
        return bridge_url if bridge_url.endswith("/pos/events") else bridge_url + "/pos/events"

    # --- HTTP -----------------------------------------------------------------------------------
    def handle_api(self, method: str, path: str, query: dict[str, str], headers: Any,
                   raw: bytes) -> tuple[Answer, dict[str, str]] | None:
        """One API call: the answer and extra headers; None means "hang up without answering"."""
        fault = self.faults.draw(method, path)
        if fault is not None and fault.delay and fault.kind != "timeout":
            self._stopping.wait(fault.delay)
        if fault is not None and fault.kind == "timeout":
            self._stopping.wait(fault.delay)
            return None
        if fault is not None and fault.kind == "http" and not fault.apply_effect:
            self.state.log({"method": method, "path": path, "idempotency_key": headers.get("Idempotency-Key"),
                            "ent_id": headers.get("X-Ent-Id"), "status": fault.status, "fault": fault.status})
            return _fault_answer(fault.status), _fault_headers(fault)
        answer = self._serve(method, path, query, headers, raw)
        entry = {"method": method, "path": path, "idempotency_key": headers.get("Idempotency-Key"),
                 "ent_id": headers.get("X-Ent-Id"), "status": answer[0], "code": answer[1].get("code")}
        extra: dict[str, str] = {}
        if fault is not None and fault.kind == "http":  # served, but the answer is "lost"
            answer, extra = _fault_answer(fault.status), _fault_headers(fault)
            entry["fault"] = fault.status
        self.state.log(entry)
        return answer, extra

    def _serve(self, method: str, path: str, query: dict[str, str], headers: Any, raw: bytes) -> Answer:
        merchant = self.state.authenticate(headers.get("Authorization"), headers.get("X-Ent-Id"))
        if not isinstance(merchant, Merchant):
            return merchant
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method != method:
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            if method == "GET":
                with self.state.lock:
                    return handler(merchant, None, query, **params)
            key = headers.get("Idempotency-Key")
            if not key:
                return error(400, MISSING_KEY, "missing Idempotency-Key header")
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                return error(400, BAD_REQUEST, "body: not JSON")
            return self.state.idempotent(merchant, key, method, path, body,
                                         lambda: handler(merchant, body, query, **params))
        if any(p.fullmatch(path) for _, p, _ in self.routes):
            return error(405, BAD_REQUEST, f"{method} is not allowed on {path}")
        return error(404, NOT_FOUND, f"no such endpoint {method} {path}")

    def handle_admin(self, method: str, path: str, query: dict[str, str], raw: bytes) -> Answer:
        from .state import ok

        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            return error(400, BAD_REQUEST, "body: not JSON")
        try:
            if (method, path) == ("POST", "/reset"):
                self.reset()
                return ok({"reset": True})
            if (method, path) == ("POST", "/seed"):
                return ok({"seeded": self.seed(body)})
            if (method, path) == ("POST", "/seed-demo"):
                return ok({"seeded": self.seed_demo()})
            if (method, path) == ("GET", "/state"):
                return ok(self.state.snapshot(query.get("ent_id")))
            if (method, path) == ("POST", "/config"):
                if "bridge_url" in body:
                    self.bridge_url = body["bridge_url"]
                return ok({"bridge_url": self.bridge_url})
            if path == "/faults":
                if method == "GET":
                    return ok(self.faults.describe())
                if method == "DELETE":
                    self.faults.clear(query.get("seed") and int(query["seed"]))
                    return ok(self.faults.describe())
                if method == "POST":
                    if "push" in body:
                        self.faults.push(**body["push"])
                    else:
                        self.faults.configure(**body)
                    return ok(self.faults.describe())
            if (method, path) == ("POST", "/emit"):
                result = self.emit(body["type"], body.get("data", {}), ent_id=body.get("ent_id"),
                                   event_id=body.get("event_id"), occurred_at=body.get("occurred_at"),
                                   bridge_url=body.get("bridge_url"), validate=body.get("validate"),
                                   secret=body.get("secret"))
                return ok(result.to_dict())
            if (method, path) == ("POST", "/fulfilment-event"):
                result = self.fulfilment_event(str(body["fulfilment_id"]), body["action"], ent_id=body.get("ent_id"),
                                               carrier_code=body.get("carrier_code", "SF"),
                                               tracking_no=body.get("tracking_no"),
                                               reason=body.get("reason", "out_of_stock"),
                                               event_id=body.get("event_id"), items=body.get("items"),
                                               cod_collected=body.get("cod_collected"))
                return ok(result.to_dict())
            if (method, path) == ("POST", "/inbound-receipt/receive"):  # the store confirms a P12 receipt
                return ok(self.state.receive_inbound_receipt(str(body["ent_id"]), str(body["store_code"]),
                                                             str(body["doc_no"])))
            if (method, path) == ("POST", "/store-stock/bulk"):  # no event: seeds and silent counts
                rows = [(str(r[0]), str(r[1]), int(r[2])) for r in body["rows"]]
                return ok({"rows": self.state.bulk_store_stock(str(body["ent_id"]), rows, body.get("version"))})
            if (method, path) == ("POST", "/store-stock"):
                result = self.set_store_stock(str(body["ent_id"]), str(body["store_code"]), body["items"],
                                              emit=body.get("emit", True))
                return ok(result.to_dict() if isinstance(result, EmitResult) else {"items": result})
        except (KeyError, TypeError, ValueError) as exc:
            return error(422, 42200, f"{type(exc).__name__}: {exc}")
        return error(404, NOT_FOUND, f"no such admin endpoint {method} {ADMIN_PREFIX}{path}")


def _fault_headers(fault: Any) -> dict[str, str]:
    if fault.status in (429, 503):
        return {"Retry-After": str(max(0, int(round(fault.retry_after if fault.retry_after is not None else 1))))}
    return {}


def _fault_answer(status: int) -> Answer:
    code = {429: TOO_MANY, 503: UNAVAILABLE}.get(status, SERVER_ERROR if status >= 500 else status * 100)
    text = {429: "too many requests", 503: "service unavailable"}.get(status, "injected fault")
    return error(status, code, text)


class _Handler(JsonHandler):
    server_version = "DianPlusSandbox/1.0"

    def _dispatch(self) -> None:
        sandbox = self.sandbox
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        raw = self.read_body()
        path = parts.path
        extra: dict[str, str] = {}
        if path.startswith(API_PREFIX + "/"):
            served = sandbox.handle_api(self.command, path[len(API_PREFIX):], query, self.headers, raw)
            if served is None:  # timeout fault: close without a word
                self.close_connection = True
                return
            answer, extra = served
        elif path.startswith(ADMIN_PREFIX + "/"):
            answer = sandbox.handle_admin(self.command, path[len(ADMIN_PREFIX):].rstrip("/"), query, raw)
        else:
            answer = error(404, NOT_FOUND, f"no such path {path}; the API is under {API_PREFIX}/")
        self.send_json(*answer, headers=extra)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch
