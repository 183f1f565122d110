"""QimenClient over a mock transport: what goes on the wire, and how answers are judged."""

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from o2o_bridge.connectors.qimen import models as qm
from o2o_bridge.connectors.qimen.client import QimenClient, QimenCredentials, full_method
from o2o_bridge.connectors.qimen.errors import (
    QimenAuthError,
    QimenPermanentError,
    QimenRateLimited,
    QimenTransientError,
)
from o2o_bridge.connectors.qimen.signing import sign

SECRET = "s3cr3t-qimen-app"
CREDENTIALS = QimenCredentials(gateway_url="https://gw.example/router/qimen/service", app_key="K1",
                               app_secret=SECRET, customer_id="C001")
NOW = 1704081600.0  # 2024-01-01 12:00:00 GMT+8
OK = b'<?xml version="1.0" encoding="utf-8"?><response><flag>success</flag><code>0</code><message>ok</message><deliveryOrderId>W1</deliveryOrderId></response>'


def client_answering(*answers, seen=None):
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        return httpx.Response(status, content=body)

    return QimenClient(CREDENTIALS, http=httpx.Client(transport=httpx.MockTransport(handler)), clock=lambda: NOW)


def test_call_sends_the_signed_document_and_returns_the_response():
    seen = []
    client = client_answering(OK, seen=seen)
    request = qm.OrderCancel(warehouse_code="WH01", owner_code="OWN", order_code="SO1", order_type="JYCK")
    answer = client.call("order.cancel", request)
    assert answer["deliveryOrderId"] == "W1"
    sent = seen[0]
    params = dict(parse_qsl(urlsplit(str(sent.url)).query))
    assert params["method"] == "taobao.qimen.order.cancel"
    assert params["timestamp"] == "2024-01-01 12:00:00"
    assert {k: params[k] for k in ("app_key", "customerId", "format", "sign_method", "v")} == {
        "app_key": "K1", "customerId": "C001", "format": "xml", "sign_method": "md5", "v": "2.0"}
    assert sent.headers["content-type"] == "text/xml;charset=utf-8"
    assert sent.content == (b'<?xml version="1.0" encoding="utf-8"?><request><warehouseCode>WH01</warehouseCode>'
                            b"<ownerCode>OWN</ownerCode><orderCode>SO1</orderCode><orderType>JYCK</orderType></request>")
    assert params["sign"] == sign(params, sent.content, SECRET)
    assert SECRET not in str(sent.url)


def test_full_method_names():
    assert full_method("deliveryorder.create") == "taobao.qimen.deliveryorder.create"
    assert full_method("taobao.qimen.items.synchronize") == "taobao.qimen.items.synchronize"


@pytest.mark.parametrize("answer, error, retry", [
    ((503, b"busy"), QimenTransientError, True),
    ((429, b""), QimenRateLimited, True),
    ((400, b"bad"), QimenPermanentError, False),
    ((200, b"<html>proxy</html"), QimenTransientError, True),
    ((200, b"<response><code>0</code></response>"), QimenTransientError, True),
    ((200, b"<response><flag>failure</flag><code>ORDER_EXISTS</code><message>exists</message></response>"),
     QimenPermanentError, False),
    ((200, b"<response><flag>failure</flag><code>isp.remote-service-timeout</code><message>wms slow</message></response>"),
     QimenTransientError, True),
    ((200, b"<error_response><code>25</code><msg>Invalid signature</msg></error_response>"), QimenAuthError, False),
    ((200, b"<error_response><code>7</code><msg>App Call Limited</msg><sub_code>accesscontrol.limited-by-app-access-count</sub_code></error_response>"),
     QimenRateLimited, True),
    ((200, b'{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isp.remote-connection-error"}}'),
     QimenTransientError, True),
])
def test_answers_are_sorted_into_retry_or_not(answer, error, retry):
    with pytest.raises(error) as caught:
        client_answering(answer).call("deliveryorder.create", b"<request/>")
    assert caught.value.retryable is retry


@pytest.mark.parametrize("failure", [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")])
def test_transport_failures_are_transient(failure):
    with pytest.raises(QimenTransientError):
        client_answering(failure).call("deliveryorder.create", b"<request/>")


def test_the_secret_never_reaches_an_error_message():
    echo = f"<response><flag>failure</flag><code>X</code><message>bad app_secret {SECRET}</message></response>".encode()
    with pytest.raises(QimenPermanentError) as caught:
        client_answering(echo).call("deliveryorder.create", b"<request/>")
    assert SECRET not in str(caught.value)


def test_hostile_answer_is_unreadable_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b"<response><flag>success</flag><message>&b;</message></response>")
    with pytest.raises(QimenTransientError, match="unreadable"):
        client_answering(bomb).call("deliveryorder.create", b"<request/>")


def test_calls_are_paced_by_the_shared_sliding_log_and_refused_as_qimen_rate_limited():
    from o2o_bridge.connectors.pacing import InMemoryGrantLog, windows_for
    from o2o_bridge.connectors.qimen.factory import InMemorySlidingLogLimiter

    clock = [1000.0]
    limiter = InMemorySlidingLogLimiter("qimen:K1", windows_for(2, 100), log=InMemoryGrantLog(),
                                        max_wait_seconds=0.0, clock=lambda: clock[0], sleep=lambda s: None)
    client = client_answering(OK)
    client.limiter = limiter
    client.call("order.cancel", b"<request/>")
    client.call("order.cancel", b"<request/>")
    with pytest.raises(QimenRateLimited, match="奇门 app rate limit reached") as caught:
        client.call("order.cancel", b"<request/>")
    assert caught.value.retry_after_seconds >= 1
