"""The signed 企业版 client against a fake gateway: the form, the 5-minute clock window,
and one test per error class."""

from __future__ import annotations

import logging

import httpx
import pytest

from o2o_bridge.connectors.wangdiantong.client import DEFAULT_TIMEOUT, shared_http_client
from o2o_bridge.connectors.wangdiantong.errors import (
    ErrorPolicy,
    WdtAuthError,
    WdtPermanentError,
    WdtRateLimited,
    WdtTimestampRefused,
    WdtTransientError,
)
from o2o_bridge.errors import PermanentError, TransientError

from .wdt_fakes import APPSECRET, FakeWdt, make_client, ok


def answering(answer) -> FakeWdt:
    return FakeWdt(routes={"shop.php": lambda call: answer})


def test_a_call_posts_the_signed_form_to_the_interface_and_returns_the_answer():
    gateway = answering(ok(shoplist=[{"shop_no": "POS01"}], total_count=1))
    client = make_client(gateway, clock=lambda: 1_700_000_000.7)
    answer = client.call("shop", {"shop_no": "POS01", "page_no": 0})
    assert answer["shoplist"] == [{"shop_no": "POS01"}]
    (call,) = gateway.calls
    assert call.api == "shop.php"
    assert call.form["timestamp"] == "1700000000" and call.form["shop_no"] == "POS01" and call.form["page_no"] == "0"


def test_nested_values_are_sent_as_json_strings():
    gateway = FakeWdt(routes={"trade_push.php": lambda call: ok(new_count=1)})
    make_client(gateway).call("trade_push.php", {"shop_no": "POS01", "trade_list": [{"tid": "T1", "buyer_nick": "李"}]})
    assert gateway.calls[0].form["trade_list"] == '[{"tid":"T1","buyer_nick":"李"}]'


def test_one_http_client_per_container_with_explicit_timeouts():
    assert shared_http_client() is shared_http_client()
    assert shared_http_client().timeout == DEFAULT_TIMEOUT
    assert DEFAULT_TIMEOUT.connect and DEFAULT_TIMEOUT.read


def test_a_clock_more_than_5_minutes_off_is_corrected_from_the_servers_date_and_resigned_once():
    server = {"now": 1_700_000_000.0}
    gateway = answering(ok(shoplist=[]))
    gateway.server_time = lambda: server["now"]
    client = make_client(gateway, clock=lambda: server["now"] - 600)  # our clock is 10 minutes slow
    client.call("shop.php")
    first, second = gateway.calls
    assert int(first.form["timestamp"]) == 1_700_000_000 - 600
    assert abs(int(second.form["timestamp"]) - 1_700_000_000) <= 1 and second.form["sign"] != first.form["sign"]
    client.call("shop.php")  # the offset is kept: no refusal any more
    assert len(gateway.calls) == 3


def test_a_timestamp_refusal_without_a_server_clock_is_transient():
    gateway = answering({"code": 1110, "message": "timestamp 超时"})
    with pytest.raises(WdtTimestampRefused) as caught:
        make_client(gateway).call("shop.php")
    assert isinstance(caught.value, TransientError) and len(gateway.calls) == 1


@pytest.mark.parametrize("message, kind", [
    ("签名错误", WdtAuthError),
    ("卖家账号不存在", WdtAuthError),
    ("店铺不存在", WdtPermanentError),
    ("超过每分钟最大调用频率限制，请稍后重试", WdtRateLimited),
    ("系统繁忙，请稍后重试", WdtTransientError),
])
def test_answers_are_classified_by_what_they_say(message, kind):
    with pytest.raises(kind) as caught:
        make_client(answering({"code": 100, "message": message})).call("shop.php")
    assert type(caught.value) is kind
    assert message in str(caught.value) and caught.value.code == 100
    assert isinstance(caught.value, TransientError if kind in (WdtRateLimited, WdtTransientError) else PermanentError)


def test_a_rate_limit_answer_waits_a_minute():
    with pytest.raises(WdtRateLimited) as caught:
        make_client(answering({"code": 5, "message": "超过每分钟最大并发次数限制"})).call("shop.php")
    assert caught.value.retry_after_seconds == 60


def test_error_codes_are_configurable_per_deployment():
    policy = ErrorPolicy(transient_codes=frozenset({2001}), auth_codes=frozenset({2002}))
    with pytest.raises(WdtTransientError):
        make_client(answering({"code": 2001, "message": "?"}), error_policy=policy).call("shop.php")
    with pytest.raises(WdtAuthError):
        make_client(answering({"code": 2002, "message": "?"}), error_policy=policy).call("shop.php")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_is_transient(status):
    with pytest.raises(WdtTransientError):
        make_client(answering(httpx.Response(status))).call("shop.php")


def test_http_429_is_transient_and_other_4xx_permanent():
    with pytest.raises(WdtTransientError):
        make_client(answering(httpx.Response(429))).call("shop.php")
    with pytest.raises(WdtPermanentError):
        make_client(answering(httpx.Response(404, text="no such interface"))).call("shop.php")


@pytest.mark.parametrize("exc", [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")])
def test_timeouts_and_connection_errors_are_transient(exc):
    def boom(call):
        raise exc

    with pytest.raises(WdtTransientError):
        make_client(FakeWdt(routes={"shop.php": boom})).call("shop.php")


def test_a_non_json_answer_or_one_without_a_code_is_transient():
    with pytest.raises(WdtTransientError):
        make_client(answering(httpx.Response(200, text="<html>gateway</html>"))).call("shop.php")
    with pytest.raises(WdtTransientError):
        make_client(answering({"message": "?"})).call("shop.php")


def test_the_secret_never_reaches_an_error_message_or_a_log(caplog):
    caplog.set_level(logging.DEBUG)
    gateway = answering({"code": 9, "message": f"bad appsecret={APPSECRET}"})
    with pytest.raises(WdtPermanentError) as caught:
        make_client(gateway).call("shop.php")
    assert APPSECRET not in str(caught.value) and APPSECRET not in caplog.text
    assert APPSECRET not in repr(make_client(gateway).credentials)


def test_a_wait_for_the_shared_limit_beyond_the_allowed_is_a_wdt_rate_limit():
    from o2o_bridge.connectors.wangdiantong.rate_limit import InMemorySlidingLogLimiter
    from o2o_bridge.connectors.pacing import windows_for

    now = {"t": 1000.0}
    limiter = InMemorySlidingLogLimiter("wdt:s:k", windows_for(2, 3), clock=lambda: now["t"],
                                        sleep=lambda s: now.__setitem__("t", now["t"] + s), max_wait_seconds=5)
    for _ in range(3):
        limiter.acquire()
    with pytest.raises(WdtRateLimited) as caught:
        limiter.acquire()
    assert "旺店通" in str(caught.value) and caught.value.retry_after_seconds >= 55
