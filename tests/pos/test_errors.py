"""Error classification: 4xx permanent with the store's msg, 429/5xx/timeouts/connection
errors transient (Retry-After honoured), and never a secret in a message or a log line."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from o2o_bridge.connectors.store import (
    PosAuthError, PosClient, PosConflict, PosCredentials, PosNotFound, PosPermanentError, PosRateLimited,
    PosTransientError, StoreSystemApi,
)
from o2o_bridge.errors import PermanentError, TransientError

from .builders import fulfilment
from .conftest import make_api

SECRET = "sk-live-DO-NOT-LEAK-7f3a9"


def mock_api(handler) -> StoreSystemApi:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return StoreSystemApi(PosClient(PosCredentials("https://pos.example.com/api", "10010", SECRET), http=http))


def answer(status: int, code: int, msg: str, headers: dict | None = None):
    return lambda request: httpx.Response(status, json={"code": code, "msg": msg, "data": None}, headers=headers)


@pytest.mark.parametrize(("status", "code", "kind"), [
    (400, 40000, PosPermanentError), (401, 40100, PosAuthError), (403, 40300, PosAuthError),
    (404, 40400, PosNotFound), (409, 40900, PosConflict), (422, 42200, PosPermanentError),
    (200, 10001, PosPermanentError),  # a business refusal inside a 200
])
def test_4xx_and_refusals_are_permanent_with_the_store_message(status, code, kind):
    with pytest.raises(kind) as caught:
        mock_api(answer(status, code, "门店不存在")).create_fulfilment_order(fulfilment())
    error = caught.value
    assert isinstance(error, PermanentError) and not error.retryable
    assert (error.status, error.code, error.pos_msg) == (status, code, "门店不存在")
    assert "门店不存在" in str(error) and "POST /fulfilment-orders" in str(error)


@pytest.mark.parametrize(("status", "headers", "retry_after", "kind"), [
    (429, {"Retry-After": "7"}, 7.0, PosRateLimited),
    (429, {}, 1.0, PosRateLimited),
    (500, {}, None, PosTransientError),
    (502, {}, None, PosTransientError),
    (503, {"Retry-After": "30"}, 30.0, PosTransientError),
])
def test_429_and_5xx_are_transient(status, headers, retry_after, kind):
    with pytest.raises(kind) as caught:
        mock_api(answer(status, 50000, "busy", headers)).cancel_order("SO1", "x")
    assert isinstance(caught.value, TransientError) and caught.value.retryable
    assert caught.value.retry_after_seconds == retry_after


def test_a_gateway_page_without_the_envelope_is_transient():
    with pytest.raises(PosTransientError, match="envelope"):
        mock_api(lambda r: httpx.Response(200, text="<html>login</html>")).cancel_order("SO1", "x")
    with pytest.raises(PosTransientError):
        mock_api(lambda r: httpx.Response(504, text="gateway timeout")).cancel_order("SO1", "x")


def test_timeouts_and_connection_errors_are_transient():
    def timeout(request):
        raise httpx.ReadTimeout("read timed out", request=request)

    def refused(request):
        raise httpx.ConnectError(f"cannot connect with Bearer {SECRET}", request=request)

    with pytest.raises(PosTransientError, match="timed out"):
        mock_api(timeout).cancel_order("SO1", "x")
    with pytest.raises(PosTransientError, match="unreachable") as caught:
        mock_api(refused).cancel_order("SO1", "x")
    assert SECRET not in str(caught.value)


def test_a_closed_port_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = StoreSystemApi(PosClient(PosCredentials(f"http://127.0.0.1:{port}/api", "10010", SECRET),
                                   http=httpx.Client(timeout=2)))
    with pytest.raises(PosTransientError):
        api.cancel_order("SO1", "x")


def test_sandbox_faults_are_classified(pos):
    api = make_api(pos, timeout=0.5)
    pos.faults.push(path="/orders", status=429, retry_after=3)
    with pytest.raises(PosRateLimited) as caught:
        api.cancel_order("SO1", "x")
    assert caught.value.retry_after_seconds == 3
    pos.faults.push(path="/orders", status=500)
    with pytest.raises(PosTransientError):
        api.cancel_order("SO1", "x")
    pos.faults.push("timeout", path="/orders", delay=3)
    with pytest.raises(PosTransientError, match="timed out"):
        api.cancel_order("SO1", "x")
    with pytest.raises(PosNotFound):  # no fault left: the real answer
        api.cancel_order("SO1", "x")


def test_fault_rates_are_deterministic_per_seed_and_per_path(pos):
    def run() -> list[str]:
        pos.faults.clear()
        pos.faults.configure(path="/stores", error_rate=0.5, statuses=[503, 429], seed=42)
        api, outcomes = make_api(pos), []
        for _ in range(20):
            try:
                api.store_stock("S001", ["SKU-RED-M"])
                outcomes.append("ok")
            except PosTransientError as error:
                outcomes.append(str(error.status))
        api.set_warehouse_stock("10000", [{"sku_id": "A", "qty": 1, "version": 1}])  # other paths unaffected
        return outcomes

    first = run()
    assert first == run()
    assert {"ok", "503", "429"} <= set(first)


def test_wrong_key_or_merchant_is_an_auth_error(pos):
    with pytest.raises(PosAuthError) as caught:
        make_api(pos, api_key="wrong-key-123456").cancel_order("SO1", "x")
    assert caught.value.status == 401 and "wrong-key-123456" not in str(caught.value)
    with pytest.raises(PosAuthError) as caught:
        make_api(pos, ent_id="99999").cancel_order("SO1", "x")
    assert caught.value.status == 403


def test_no_secret_in_errors_or_logs(caplog, capsys):
    echo = answer(400, 40000, f"bad header Authorization: Bearer {SECRET} api_key={SECRET}")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PosPermanentError) as caught:
        mock_api(echo).create_fulfilment_order(fulfilment())
    logged = capsys.readouterr()
    assert "店+ call failed" in logged.out + logged.err + caplog.text  # the log line was written...
    text = " ".join([str(caught.value), caught.value.pos_msg, repr(caught.value.args), caplog.text,
                     logged.out, logged.err])
    assert SECRET not in text  # ...without the secret
    credentials = PosCredentials("https://pos.example.com/api", "10010", SECRET)
    assert SECRET not in repr(credentials)


def test_latency_is_added_per_path(pos):
    import time

    pos.faults.configure(path="/stores", latency_ms=150)
    api = make_api(pos)
    started = time.monotonic()
    api.store_stock("S001", ["SKU-RED-M"])
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    api.scan_stock(limit=1)  # a generator: nothing sent yet
    list(api.scan_stock(limit=100))
    assert time.monotonic() - started < 0.15
