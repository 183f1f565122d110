"""The 店+ sandbox on 127.0.0.1 and a client pointed at it, with every request and answer
checked against docs/openapi/pos-api.yaml."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from o2o_bridge.connectors.store import PosClient, PosCredentials, StoreSystemApi
from o2o_local.pos_sandbox import DEMO_API_KEY, DEMO_ENT_ID, PosSandbox
from o2o_local.pos_sandbox import openapi

# method, path under /api -> (request body schema, success answer schema)
OPERATIONS = [
    ("POST", r"/fulfilment-orders", "FulfilmentOrderCreate", "FulfilmentOrderCreatedAnswer"),
    ("POST", r"/fulfilment-orders/[^/]+/cancel", "CancelRequest", "FulfilmentCancelledAnswer"),
    ("POST", r"/orders/[^/]+/shipments", "ShipmentCreate", "ShipmentCreatedAnswer"),
    ("POST", r"/orders/[^/]+/cancel", "CancelRequest", "OrderCancelledAnswer"),
    ("POST", r"/returns/[^/]+/receipt", "ReturnReceipt", "ReturnReceiptAnswer"),
    ("PUT", r"/warehouses/[^/]+/stock", "WarehouseStockSet", "WarehouseStockSetAnswer"),
    ("GET", r"/stores/[^/]+/stock", None, "StoreStockAnswer"),
    ("GET", r"/stock", None, "StockPageAnswer"),
    ("POST", r"/products/batch", "ProductBatch", "ProductBatchAnswer"),
    ("POST", r"/transfers/[^/]+/warehouse-shipped", "WarehouseDocument", "TransferShippedAnswer"),
    ("POST", r"/warehouse-returns/[^/]+/received", "WarehouseReturnReceipt", "WarehouseReturnReceivedAnswer"),
    ("POST", r"/stores/[^/]+/inbound-receipts", "StoreDocument", "InboundReceiptAnswer"),
    ("POST", r"/stores/[^/]+/outbound-notes", "StoreDocument", "OutboundNoteAnswer"),
    ("PUT", r"/members/[^/]+", "MemberProfile", "MemberAnswer"),
]


def operation(method: str, path: str) -> tuple[str | None, str]:
    for op_method, pattern, request_schema, answer_schema in OPERATIONS:
        if op_method == method and re.fullmatch(pattern, path):
            return request_schema, answer_schema
    raise AssertionError(f"{method} {path} is not an operation of pos-api.yaml")


def assert_valid(component: str, instance: Any) -> None:
    found = openapi.problems(component, instance)
    assert not found, f"{component}: {found}"


class ContractRecorder:
    """httpx event hooks: each request and answer is checked against the OpenAPI schemas."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.checked_answers = 0

    def on_request(self, request: httpx.Request) -> None:
        self.requests.append(request)
        path = request.url.raw_path.split(b"?")[0].decode().removeprefix("/api")
        request_schema, _ = operation(request.method, path)
        assert request.headers["Authorization"].startswith("Bearer ")
        assert request.headers["X-Ent-Id"]
        assert request.headers["Idempotency-Key"]
        if request_schema:
            assert_valid(request_schema, json.loads(request.content))

    def on_response(self, response: httpx.Response) -> None:
        response.read()
        path = response.request.url.raw_path.split(b"?")[0].decode().removeprefix("/api")
        _, answer_schema = operation(response.request.method, path)
        body = response.json()
        assert_valid(answer_schema if response.status_code == 200 else "ErrorAnswer", body)
        self.checked_answers += 1


@pytest.fixture(scope="session")
def sandbox():
    with PosSandbox() as running:
        yield running


@pytest.fixture
def pos(sandbox):
    sandbox.reset()
    sandbox.seed_demo()
    return sandbox


@pytest.fixture
def recorder():
    return ContractRecorder()


def make_api(sandbox: PosSandbox, recorder: ContractRecorder | None = None, *, api_key: str = DEMO_API_KEY,
             ent_id: str = DEMO_ENT_ID, timeout: float = 5.0) -> StoreSystemApi:
    hooks = {"request": [recorder.on_request], "response": [recorder.on_response]} if recorder else {}
    http = httpx.Client(timeout=httpx.Timeout(timeout, connect=2.0), event_hooks=hooks)
    client = PosClient(PosCredentials(sandbox.base_url, ent_id, api_key), http=http,
                       timeout=httpx.Timeout(timeout, connect=2.0))
    return StoreSystemApi(client)


@pytest.fixture
def api(pos, recorder):
    store = make_api(pos, recorder)
    yield store
    store.client.http.close()
