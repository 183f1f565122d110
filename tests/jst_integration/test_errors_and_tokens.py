"""Every error class and the token renewal, client ↔ sandbox over HTTP."""

from __future__ import annotations

import socket
import time

import pytest

from o2o_bridge.connectors.jushuitan import models as m
from o2o_bridge.connectors.jushuitan.client import JstClient, JstCredentials
from o2o_bridge.connectors.jushuitan.errors import JstAuthError, JstPermanentError, JstRateLimited, JstTransientError
from o2o_bridge.connectors.jushuitan.tokens import TokenPolicy
from o2o_bridge.errors import PermanentError, TransientError

from .conftest import CREDS, ENT_ID, MAIN_WMS

pytestmark = pytest.mark.integration

SHOPS = "/open/shops/query"
REFRESH = "/openWeb/auth/refreshToken"


def permanent(error) -> bool:
    return isinstance(error, PermanentError) and not error.retryable


def transient(error) -> bool:
    return isinstance(error, TransientError) and error.retryable


# --- auth -----------------------------------------------------------------------------------
def test_a_bad_secret_is_a_sign_error_permanent_and_the_secret_never_shows(make):
    h = make(app_secret="not-the-secret-at-all")
    with pytest.raises(JstAuthError) as caught:
        h.api.query_shops()
    error = caught.value
    assert permanent(error) and error.code == 10 and "无效签名" in error.jst_msg and SHOPS in error.message
    assert "not-the-secret-at-all" not in str(error)
    assert h.jst.calls(SHOPS)[-1]["code"] == 10


def test_an_unknown_app_key_is_permanent_with_jst_message(make, jst):
    h = make()
    client = JstClient(ENT_ID, JstCredentials(base_url=jst.url, app_key="who-is-this", app_secret="x",
                                              access_token=CREDS["access_token"]), http=h.client.http)
    with pytest.raises(JstPermanentError) as caught:
        client.call(SHOPS, {"page_index": 1})
    assert permanent(caught.value) and caught.value.code == 140 and "app_key" in caught.value.jst_msg


@pytest.mark.parametrize("code, msg", [(110, "IP不在白名单内"), (190, "无此接口权限")])
def test_ip_whitelist_and_api_permission_codes_are_auth_errors(h, code, msg):
    # The sandbox has no IP whitelist or permission packages: its fault script answers the
    # code instead (HTTP 200, JST envelope), which is all the client sees of either.
    h.jst.faults.add("jst", path=SHOPS, code=code)
    with pytest.raises(JstAuthError) as caught:
        h.api.query_shops()
    assert permanent(caught.value) and caught.value.code == code


# --- other codes --------------------------------------------------------------------------
def test_a_business_error_is_permanent_with_jst_message(h):
    with pytest.raises(JstPermanentError) as caught:
        h.api.inventory_of(["TS001-WHT-M"], wms_co_id=99999)
    error = caught.value
    assert permanent(error) and not isinstance(error, JstAuthError)
    assert error.code == 140 and error.jst_msg == "仓库wms_co_id=99999不存在" and error.jst_msg in error.message


def test_cancelling_a_shipped_order_is_permanent_with_jst_message(h):
    h.jst.add_outbound(so_id="TB9", shop_id=133242, wms_co_id=MAIN_WMS, items=[{"sku_id": "TS001-WHT-M", "qty": 1}])
    (ob,) = h.api.scan_sales_outbounds(start_ts=0).records
    h.api.upload_wms_sent([m.WmsSent(io_id=ob.io_id, lc_id="SF", l_id="SF1")])
    with pytest.raises(JstPermanentError) as caught:
        h.api.cancel_orders([ob.o_id], cancel_type="其他")
    assert caught.value.code == 160 and "已发货" in caught.value.jst_msg


def test_a_repeated_inventoryv2_so_id_is_permanent(h):
    items = [m.StockItem(sku_id="TS001-WHT-M", qty=1)]
    h.api.upload_inventory(wms_co_id=MAIN_WMS, so_id_prefix="DUP", items=items)
    with pytest.raises(JstPermanentError) as caught:
        h.api.upload_inventory(wms_co_id=MAIN_WMS, so_id_prefix="DUP", items=items)
    assert caught.value.code == 160 and "DUP-1" in caught.value.jst_msg


def test_a_window_over_the_sandbox_limit_is_refused_permanently(h):
    biz = {"page_index": 1, "page_size": 10, "modified_begin": "2026-01-01 00:00:00",
           "modified_end": "2026-01-08 00:00:01"}
    with pytest.raises(JstPermanentError) as caught:
        h.client.call("/open/sku/query", biz)
    assert caught.value.code == 140 and "7天" in caught.value.jst_msg


def test_an_unknown_path_is_permanent(h):
    with pytest.raises(JstPermanentError) as caught:
        h.api.call("/open/no/such/api", {})
    assert permanent(caught.value) and "HTTP 404" in caught.value.message


def test_an_injected_jst_code_is_configurable_transient_otherwise_permanent(h):
    h.jst.faults.add("jst", path=SHOPS, code=160)
    with pytest.raises(JstPermanentError) as caught:
        h.api.query_shops()
    assert caught.value.code == 160 and "injected" in caught.value.jst_msg


# --- rate limits -------------------------------------------------------------------------
def test_per_second_limit_199_is_rate_limited_with_retry_after(h):
    h.jst.rate_limit.configure(per_second=2, per_minute=100, enabled=True)
    h.api.query_shops()
    h.api.query_shops()
    with pytest.raises(JstRateLimited) as caught:
        h.api.query_shops()
    error = caught.value
    assert transient(error) and error.code == 199 and error.retry_after_seconds == 1.0


def test_per_minute_limit_200_is_rate_limited_with_retry_after(h):
    h.jst.rate_limit.configure(per_second=None, per_minute=3, enabled=True)
    for _ in range(3):
        h.api.query_shops()
    with pytest.raises(JstRateLimited) as caught:
        h.api.query_shops()
    assert transient(caught.value) and caught.value.code == 200 and caught.value.retry_after_seconds == 60.0


def test_the_client_limiter_paces_a_burst_so_the_sandbox_never_refuses_it(make, jst):
    # Fixed counting counts calendar seconds; the sandbox counts the last 1.0 s (sliding). A
    # client at N/s can put 2N calls into one sliding second across a boundary, so the
    # sandbox gets 2N here (see below for N against N).
    jst.rate_limit.configure(per_second=20, per_minute=1000, enabled=True)
    h = make(per_second=10, per_minute=1000, counting="fixed")
    started = time.monotonic()
    for _ in range(25):
        h.api.query_shops()
    elapsed = time.monotonic() - started
    assert [c["code"] for c in jst.calls(SHOPS)] == [0] * 25
    assert elapsed >= 1.0   # 25 calls at 10 per calendar second span at least two boundaries


def start_mid_second() -> None:
    """So that a first burst of N shares a sliding second with N sent right after the boundary."""
    while not 0.3 <= time.time() % 1 <= 0.6:
        time.sleep(0.02)


def test_the_client_limiter_at_the_same_limit_as_a_sliding_window_sandbox(make, jst):
    # Sliding counting (the default) keeps every 1 s interval, wherever it starts, within N:
    # the burst straddling a calendar boundary is paced instead of refused.
    jst.rate_limit.configure(per_second=10, per_minute=1000, enabled=True)
    h = make(per_second=10, per_minute=1000, counting="sliding")
    start_mid_second()
    started = time.monotonic()
    for _ in range(21):
        h.api.query_shops()
    elapsed = time.monotonic() - started
    assert [c["code"] for c in jst.calls(SHOPS)] == [0] * 21
    assert elapsed >= 2.0   # 10, then 10 more 1 s + 50 ms margin later, then the last


def test_fixed_counting_at_the_same_limit_is_refused_by_a_sliding_window_sandbox(make, jst):
    # Why sliding is the default: JST's own counting is not documented (JST's open-platform documentation),
    # and against a sliding counter fixed windows at N/s put up to 2N calls in one second.
    jst.rate_limit.configure(per_second=10, per_minute=1000, enabled=True)
    h = make(per_second=10, per_minute=1000, counting="fixed")
    start_mid_second()
    with pytest.raises(JstRateLimited) as caught:
        for _ in range(21):
            h.api.query_shops()
    codes = [c["code"] for c in jst.calls(SHOPS)]
    assert caught.value.code == 199 and codes[:10] == [0] * 10 and codes[-1] == 199


# --- transport -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_is_transient(h, status):
    h.jst.faults.add("http", path=SHOPS, code=status)
    with pytest.raises(JstTransientError) as caught:
        h.api.query_shops()
    assert transient(caught.value) and f"HTTP {status}" in caught.value.message
    assert h.api.query_shops()   # the next call goes through


def test_a_lost_answer_after_the_effect_is_transient_and_the_effect_is_there(h):
    h.jst.faults.add("http", path="/open/jushuitan/otherinout/upload", code=502, apply_effect=True)
    doc = m.OtherInOutUpload(type="out", external_id="RP-LOST", wms_co_id=MAIN_WMS, remark="补货",
                             items=[m.OtherInOutItemUpload(sku_id="TS001-WHT-M", qty=1)])
    with pytest.raises(JstTransientError):
        h.api.upload_other_inout(doc)
    assert [d.so_id for d in h.api.query_other_inout(so_ids=["RP-LOST"])] == ["RP-LOST"]
    with pytest.raises(JstPermanentError) as caught:        # JST refuses the retry's repeat
        h.api.upload_other_inout(doc)
    assert caught.value.code == 160


def test_a_timeout_is_transient(make):
    h = make(timeout=0.3)
    h.jst.faults.add("timeout", path=SHOPS, delay=1.0)
    started = time.monotonic()
    with pytest.raises(JstTransientError) as caught:
        h.api.query_shops()
    assert transient(caught.value) and "timed out" in caught.value.message
    assert time.monotonic() - started < 1.0


def test_a_connection_closed_without_an_answer_is_transient(h):
    h.jst.faults.add("timeout", path=SHOPS, delay=0.1)      # hangs 0.1 s, then closes unanswered
    with pytest.raises(JstTransientError) as caught:
        h.api.query_shops()
    assert transient(caught.value) and "unreachable" in caught.value.message
    assert h.api.query_shops()


def test_an_unreachable_sandbox_is_transient(make):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    h = make()
    client = JstClient(ENT_ID, JstCredentials(base_url=f"http://127.0.0.1:{port}", app_key=CREDS["app_key"],
                                              app_secret=CREDS["app_secret"], access_token="t"), http=h.client.http)
    with pytest.raises(JstTransientError) as caught:
        client.call(SHOPS, {})
    assert transient(caught.value) and "unreachable" in caught.value.message


# --- tokens --------------------------------------------------------------------------------
def test_an_expired_token_is_refreshed_once_stored_and_used(h):
    jst = h.jst
    assert jst.state.expire_token(CREDS["access_token"]) == 1
    shops = h.api.query_shops()
    assert shops and shops[0].shop_id == 133242
    assert h.wire.paths() == [SHOPS, REFRESH, SHOPS]
    refresh_form = h.wire.sent[1][1]
    assert (refresh_form["grant_type"], refresh_form["refresh_token"]) == ("refresh_token", CREDS["refresh_token"])

    stored = h.store.load(ENT_ID)
    assert stored is not None and stored.version == 1
    assert stored.access_token != CREDS["access_token"] and stored.refresh_token != CREDS["refresh_token"]
    assert stored.expires_at is not None and stored.expires_at > time.time() + 24 * 3600
    assert h.wire.sent[2][1]["access_token"] == stored.access_token
    tokens = {t["access_token"]: t for t in jst.state.snapshot("tokens")}
    assert CREDS["access_token"] not in tokens            # rotated: the old pair is gone
    assert tokens[stored.access_token]["refresh_token"] == stored.refresh_token

    h.api.query_warehouses()                              # the next call uses the stored token, no refresh
    assert h.wire.paths()[3:] == ["/open/wms/partner/query"]
    assert h.wire.sent[3][1]["access_token"] == stored.access_token


def test_a_second_client_on_the_same_store_adopts_the_renewed_token(make, h):
    h.jst.state.expire_token(CREDS["access_token"])
    h.api.query_shops()
    other = make(store=h.store)                           # another container, same StateTable
    other.api.query_shops()
    assert other.wire.paths() == [SHOPS]
    assert other.wire.sent[0][1]["access_token"] == h.store.load(ENT_ID).access_token


def test_a_forbidden_refresh_is_permanent(h):
    h.jst.configure(refresh_forbidden=True)
    h.jst.state.expire_token(CREDS["access_token"])
    with pytest.raises(JstAuthError) as caught:
        h.api.query_shops()
    assert permanent(caught.value) and caught.value.code == 150 and caught.value.path == REFRESH
    assert h.wire.paths() == [SHOPS, REFRESH]
    assert h.store.load(ENT_ID) is None                   # nothing half-stored


def test_an_unknown_refresh_token_is_permanent(make, jst):
    jst.state.expire_token(CREDS["access_token"])
    h = make(refresh_token="a-refresh-token-jst-never-issued")
    with pytest.raises(JstAuthError) as caught:
        h.api.query_shops()
    assert caught.value.code == 100 and caught.value.path == REFRESH
    assert "a-refresh-token-jst-never-issued" not in str(caught.value)


def test_a_token_rejected_again_after_renewal_is_not_renewed_twice(h):
    # Code 100 on the call and on its retry with the renewed token: one refresh, then auth error.
    h.jst.faults.add("jst", path=SHOPS, code=100, times=2)
    with pytest.raises(JstAuthError) as caught:
        h.api.query_shops()
    assert caught.value.code == 100 and caught.value.path == SHOPS
    assert h.wire.paths() == [SHOPS, REFRESH, SHOPS]


def test_a_token_near_its_expiry_is_renewed_before_the_call(make, jst):
    issued = jst.state.issue_token(CREDS["app_key"], expires_in=3600)
    h = make(access_token=None, refresh_token=None)
    from o2o_bridge.connectors.jushuitan.tokens import TokenRecord
    now = time.time()
    h.store.save(ENT_ID, TokenRecord(issued["access_token"], issued["refresh_token"], now + 10, now - 3590), 0)
    h.api.query_shops()
    assert h.wire.paths() == [REFRESH, SHOPS]
    assert h.store.load(ENT_ID).access_token != issued["access_token"]


def test_no_token_at_all_gets_an_init_token(make):
    h = make(access_token=None, refresh_token=None)
    h.api.query_shops()
    assert h.wire.paths() == ["/openWeb/auth/getInitToken", SHOPS]
    init = h.wire.sent[0][1]
    assert init["grant_type"] == "authorization_code" and len(init["code"]) == 6
    assert h.store.load(ENT_ID).refresh_token


def test_the_isv_auth_prefix_works_too(make, jst):
    jst.state.expire_token(CREDS["access_token"])
    h = make(token_policy=TokenPolicy(auth_path_prefix="/openWebIsv"))
    h.api.query_shops()
    assert h.wire.paths() == [SHOPS, "/openWebIsv/auth/refreshToken", SHOPS]


def test_a_clock_skew_beyond_the_tolerance_is_permanent_with_jst_message(h):
    h.jst.advance_clock(3600)     # the sandbox's clock runs an hour ahead of ours
    with pytest.raises(JstPermanentError) as caught:
        h.api.query_shops()
    assert caught.value.code == 180 and "timestamp" in caught.value.jst_msg
