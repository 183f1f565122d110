"""The signed client against a fake gateway: envelope, tokens, and one test per error class."""

from __future__ import annotations

import logging

import httpx
import pytest

from o2o_bridge.connectors.jushuitan.client import DEFAULT_TIMEOUT, shared_http_client
from o2o_bridge.connectors.jushuitan.errors import (
    ErrorPolicy,
    JstAuthError,
    JstPermanentError,
    JstRateLimited,
    JstTransientError,
)
from o2o_bridge.connectors.jushuitan.tokens import InMemoryTokenStore, TokenPolicy, TokenRecord
from o2o_bridge.errors import PermanentError, TransientError

from .jst_fakes import ACCESS, APP_SECRET, REFRESH, FakeGateway, make_client, ok

SHOPS = "/open/shops/query"


def gateway_answering(answer) -> FakeGateway:
    return FakeGateway(routes={SHOPS: lambda call: answer})


def test_a_call_sends_the_documented_envelope_and_returns_data():
    gateway = gateway_answering(ok({"datas": [{"shop_id": 1}], "has_next": False}))
    client = make_client(gateway, clock=lambda: 1639128407.9)
    assert client.call(SHOPS, {"page_index": 1, "shop_ids": [133242]}) == {"datas": [{"shop_id": 1}], "has_next": False}
    (call,) = gateway.calls
    assert call.params["timestamp"] == "1639128407"
    assert call.params["biz"] == '{"page_index":1,"shop_ids":[133242]}'
    assert call.params["access_token"] == ACCESS


def test_a_call_without_biz_sends_an_empty_object():
    gateway = gateway_answering(ok({}))
    make_client(gateway).call(SHOPS)
    assert gateway.calls[0].params["biz"] == "{}"


def test_one_http_client_per_container_with_explicit_timeouts():
    assert shared_http_client() is shared_http_client()
    assert shared_http_client().timeout == DEFAULT_TIMEOUT
    assert DEFAULT_TIMEOUT.connect and DEFAULT_TIMEOUT.read


# --- every error class ------------------------------------------------------------------
@pytest.mark.parametrize("code, kind", [
    (10, JstAuthError), (110, JstAuthError), (190, JstAuthError),
    (130, JstPermanentError), (170, JstPermanentError),
])
def test_business_codes_are_permanent_with_jst_message(code, kind):
    gateway = gateway_answering({"code": code, "msg": f"原因 {code}"})
    with pytest.raises(kind) as caught:
        make_client(gateway).call(SHOPS, {})
    error = caught.value
    assert isinstance(error, PermanentError) and not error.retryable
    assert error.code == code and f"原因 {code}" in error.message and SHOPS in error.message


@pytest.mark.parametrize("code, retry_after", [(199, 1.0), (200, 60.0)])
def test_rate_limit_codes_are_transient_with_retry_after(code, retry_after):
    with pytest.raises(JstRateLimited) as caught:
        make_client(gateway_answering({"code": code, "msg": "调用太频繁"})).call(SHOPS, {})
    assert isinstance(caught.value, TransientError) and caught.value.retryable
    assert caught.value.retry_after_seconds == retry_after


def test_error_codes_are_configurable():
    policy = ErrorPolicy(transient_codes=frozenset({160}))
    with pytest.raises(JstTransientError):
        make_client(gateway_answering({"code": 160, "msg": "内部保存失败"}), error_policy=policy).call(SHOPS, {})


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx_is_transient(status):
    with pytest.raises(JstTransientError):
        make_client(lambda request: httpx.Response(status, text="bad gateway")).call(SHOPS, {})


def test_http_429_is_transient_and_other_4xx_permanent():
    with pytest.raises(JstTransientError):
        make_client(lambda request: httpx.Response(429)).call(SHOPS, {})
    with pytest.raises(JstPermanentError) as caught:
        make_client(lambda request: httpx.Response(400, text="The plain HTTP request was sent to HTTPS port")).call(SHOPS, {})
    assert "400" in caught.value.message


@pytest.mark.parametrize("exc", [httpx.ConnectTimeout("connect timed out"), httpx.ReadTimeout("read timed out"),
                                 httpx.ConnectError("connection refused"), httpx.RemoteProtocolError("dropped")])
def test_timeouts_and_connection_errors_are_transient(exc):
    def broken(request):
        raise exc

    with pytest.raises(JstTransientError):
        make_client(broken).call(SHOPS, {})


def test_a_non_json_answer_is_transient():
    with pytest.raises(JstTransientError):
        make_client(lambda request: httpx.Response(200, text="<html>gateway</html>")).call(SHOPS, {})


# --- tokens -------------------------------------------------------------------------------
def test_code_100_renews_the_token_once_stores_it_and_retries():
    gateway = gateway_answering(ok({"datas": []}))
    gateway.valid_tokens = {"someone-else"}  # our token expired at JST
    store = InMemoryTokenStore()
    client = make_client(gateway, store=store)
    assert client.call(SHOPS, {}) == {"datas": []}
    refresh = gateway.calls_to("/openWeb/auth/refreshToken")
    assert len(refresh) == 1
    assert refresh[0].params["grant_type"] == "refresh_token" and refresh[0].params["scope"] == "all"
    assert refresh[0].params["refresh_token"] == REFRESH
    stored = store.load("E1")
    assert stored.access_token == "access-token-0002" and stored.version == 1 and stored.expires_at
    assert [c.params["access_token"] for c in gateway.calls_to(SHOPS)] == [ACCESS, "access-token-0002"]
    # The next call (any container reading the store) uses the new token directly.
    client.call(SHOPS, {})
    assert gateway.calls_to(SHOPS)[-1].params["access_token"] == "access-token-0002"


def test_code_100_after_a_failed_refresh_is_a_permanent_auth_error():
    gateway = gateway_answering(ok({}))
    gateway.valid_tokens = set()
    gateway.routes["/openWeb/auth/refreshToken"] = lambda call: {"code": 150, "msg": "服务商应用不允许刷新"}
    with pytest.raises(JstAuthError) as caught:
        make_client(gateway).call(SHOPS, {})
    assert caught.value.code == 150


def test_code_100_again_after_a_refresh_is_permanent():
    gateway = gateway_answering({"code": 100, "msg": "无效的access_token"})
    gateway.valid_tokens = {ACCESS}
    with pytest.raises(JstAuthError) as caught:
        make_client(gateway).call(SHOPS, {})
    assert caught.value.code == 100
    assert len(gateway.calls_to("/openWeb/auth/refreshToken")) == 1  # once, not in a loop


def test_the_token_is_renewed_ahead_of_its_expiry():
    now = [1_000_000.0]
    gateway = gateway_answering(ok({}))
    store = InMemoryTokenStore()
    store.save("E1", TokenRecord(ACCESS, REFRESH, expires_at=now[0] + 10 * 86400, obtained_at=now[0] - 20 * 86400), 0)
    client = make_client(gateway, store=store, clock=lambda: now[0], token_policy=TokenPolicy(refresh_ahead_seconds=86400))
    client.call(SHOPS, {})
    assert gateway.calls_to("/openWeb/auth/refreshToken") == []  # 10 days left: not yet
    now[0] += 9 * 86400 + 1  # less than a day left
    client.call(SHOPS, {})
    assert len(gateway.calls_to("/openWeb/auth/refreshToken")) == 1
    assert gateway.calls_to(SHOPS)[-1].params["access_token"] == "access-token-0002"
    assert store.load("E1").version == 2


def test_no_token_at_all_asks_for_an_initial_token():
    gateway = gateway_answering(ok({}))
    gateway.valid_tokens = set()
    client = make_client(gateway, access_token=None, token_policy=TokenPolicy(auth_path_prefix="/openWeb"))
    client.call(SHOPS, {})
    (init,) = gateway.calls_to("/openWeb/auth/getInitToken")
    assert init.params["grant_type"] == "authorization_code" and len(init.params["code"]) == 6


def test_the_auth_path_prefix_is_configurable_for_dev_api():
    seen = []

    def gateway(request):
        seen.append(request.url.path)
        return httpx.Response(200, json=ok({"access_token": "x", "expires_in": 100}))

    client = make_client(gateway, access_token=None, token_policy=TokenPolicy(auth_path_prefix="/openWebIsv"))
    client.tokens.access_token()
    assert seen == ["/openWebIsv/auth/getInitToken"]


def test_a_refresh_that_lost_the_race_adopts_the_stored_token():
    gateway = gateway_answering(ok({}))
    store = InMemoryTokenStore()
    client = make_client(gateway, store=store)
    # Another container renewed between our read and our write.
    store.save("E1", TokenRecord("winner-token", REFRESH, None, 0.0), 0)
    winner = client.tokens.after_token_rejected(ACCESS)
    assert winner == "winner-token"
    assert gateway.calls_to("/openWeb/auth/refreshToken") == []  # it saw the new token first


# --- secrets --------------------------------------------------------------------------------
def test_secrets_never_reach_error_messages_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    secrets = [APP_SECRET, ACCESS, REFRESH, "access-token-0002"]

    def echo(request):  # a gateway that echoes our request back in its error message
        body = request.content.decode()
        if request.url.path.endswith("refreshToken"):
            return httpx.Response(200, json=ok({"access_token": "access-token-0002", "expires_in": 99}))
        if "access-token-0002" in body:
            return httpx.Response(200, json={"code": 170, "msg": f"bad: {body} secret={APP_SECRET}"})
        return httpx.Response(200, json={"code": 100, "msg": "expired"})

    errors = []
    for gateway in (echo, lambda r: httpx.Response(502, text=r.content.decode()),
                    lambda r: httpx.Response(400, text=f"{r.content.decode()} {APP_SECRET}")):
        with pytest.raises(Exception) as caught:
            make_client(gateway).call(SHOPS, {"x": 1})
        errors.append(str(caught.value))
    def refused(request):
        raise httpx.ConnectError(f"refused {request.content.decode()}")

    with pytest.raises(JstTransientError) as caught:
        make_client(refused).call(SHOPS, {})
    errors.append(str(caught.value))
    text = "\n".join(errors) + "\n" + caplog.text
    for secret in secrets:
        assert secret not in text
    assert "code 170" in errors[0]


def test_a_lease_held_by_a_vanished_container_delays_renewal_but_does_not_block_it():
    now = [5000.0]
    gateway = gateway_answering(ok({}))
    gateway.valid_tokens = set()
    store = InMemoryTokenStore()
    store.claim_refresh("E1", "vanished", now[0], 15)  # 15 s of its lease are left
    client = make_client(gateway, store=store)
    client.tokens.clock = lambda: now[0]
    client.tokens.sleep = lambda s: now.__setitem__(0, now[0] + s)
    client.call(SHOPS, {})
    assert len(gateway.calls_to("/openWeb/auth/refreshToken")) == 1
    assert 5015 <= now[0] < 5017  # waited until the vanished holder's lease ran out, then renewed itself


def test_while_a_slow_holder_refreshes_a_second_container_waits_and_never_refreshes_too():
    from o2o_bridge.connectors.jushuitan.errors import JstTransientError

    now = [5000.0]
    gateway = gateway_answering(ok({}))
    gateway.valid_tokens = set()  # JST says code 100 for the old token
    store = InMemoryTokenStore()
    store.claim_refresh("E1", "slow-holder", now[0], TokenPolicy().lease_seconds)  # its refresh call is slow
    client = make_client(gateway, store=store)
    client.tokens.clock = lambda: now[0]
    client.tokens.sleep = lambda s: now.__setitem__(0, now[0] + s)
    with pytest.raises(JstTransientError, match="another container is renewing"):
        client.call(SHOPS, {})  # the step goes to the retry queue
    assert gateway.calls_to("/openWeb/auth/refreshToken") == []
    assert now[0] - 5000 >= TokenPolicy().wait_for_other_refresh_seconds

    # The slow holder stores its token; the second container adopts it without a refresh.
    store.save("E1", TokenRecord("access-token-from-holder", REFRESH, None, now[0]), 0)
    gateway.valid_tokens = {"access-token-from-holder"}
    client.call(SHOPS, {})
    assert gateway.calls_to("/openWeb/auth/refreshToken") == []
