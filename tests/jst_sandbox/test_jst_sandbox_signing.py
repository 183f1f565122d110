"""Golden vectors, the envelope checks and the token flow."""

from __future__ import annotations

import time

from o2o_local.jst_sandbox.signing import old_api_sign, openweb_sign

from .conftest import Client, md5_sign

VEC_KEY, VEC_SECRET = "5b53060f23d84ddf9703056e84fa5a2d", "e9c5ca33fecb404b8e6cdbd0ef4a6d25"
VEC_A = {"app_key": VEC_KEY, "timestamp": "1639128407", "grant_type": "authorization_code", "charset": "utf-8",
         "code": "123456"}
VEC_B = {"app_key": VEC_KEY, "access_token": "d7b01bf0842a4742a9450e21ffd95f60", "timestamp": "1639128407",
         "version": "2", "charset": "utf-8", "biz": '{"page_index":"1","page_size":"100","nicks":["老板"]}'}


def test_golden_vectors_in_the_sandbox_signer_and_the_test_helper():
    assert openweb_sign(VEC_A, VEC_SECRET) == md5_sign(VEC_A, VEC_SECRET) == "05e3a51e19e0883afd1882ccd309e0b9"
    assert openweb_sign(VEC_B, VEC_SECRET) == md5_sign(VEC_B, VEC_SECRET) == "395f5a78b446be465ac03a02491296c7"
    assert old_api_sign("shops.query", "ywv5jGT8ge6Pvlq3FZSPol345asd", "181ee8952a88f5a57db52587472c3798",
                        1540370062, "ywv5jGT8ge6Pvlq3FZSPol2323") == "aebf9d0146764d578d9c86e3b7783204"


def test_golden_vectors_verify_over_http(jst, client):
    """Both vectors sent verbatim (the sandbox clock moved to their timestamp) are accepted."""
    jst.seed(credentials={"app_key": VEC_KEY, "app_secret": VEC_SECRET,
                          "access_token": "d7b01bf0842a4742a9450e21ffd95f60", "expires_in": 10**10})
    jst.advance_clock(1639128407 - time.time())
    a = client.http.post("/openWeb/auth/getInitToken", data={**VEC_A, "sign": "05e3a51e19e0883afd1882ccd309e0b9"}).json()
    assert a["code"] == 0 and a["data"]["scope"] == "all" and a["data"]["expires_in"] > 0
    b = client.http.post("/open/shops/query", data={**VEC_B, "sign": "395f5a78b446be465ac03a02491296c7"}).json()
    assert b["code"] == 0 and b["data"]["datas"][0]["shop_id"] == 133242
    bad = client.http.post("/open/shops/query", data={**VEC_B, "sign": "395f5a78b446be465ac03a02491296c8"}).json()
    assert bad["code"] == 10


def test_envelope_errors(client):
    assert client.call("/open/shops/query", {}, sign="0" * 32)["code"] == 10
    # the sign covers biz: a changed biz after signing is a bad sign
    form = client.form({"page_index": 1})
    form["biz"] = '{"page_index":2}'
    assert client.http.post("/open/shops/query", data=form).json()["code"] == 10
    assert client.call("/open/shops/query", "")["code"] == 130
    assert client.call("/open/shops/query", {}, timestamp=str(int(time.time()) - 3600))["code"] == 180
    assert client.call("/open/shops/query", {}, version="1")["code"] == 140
    assert client.call("/open/shops/query", {}, access_token="nope")["code"] == 100
    assert client.call("/open/shops/query", "{not json")["code"] == 140
    assert client.http.post("/open/nope", data=client.form({})).status_code == 404


def test_empty_values_may_be_left_out_of_the_sign(client):
    form = client.form({}, access_token="demo-access-token")
    form["extra"] = ""
    params = {k: v for k, v in form.items() if k != "sign"}
    form["sign"] = md5_sign({k: v for k, v in params.items() if v != ""}, client.secret)  # KOCO style
    assert client.http.post("/open/shops/query", data=form).json()["code"] == 0


def test_expired_token_then_refresh(jst, client):
    assert client.ok("/open/shops/query", {})["datas"]
    jst.state.expire_token("demo-access-token")
    body = client.call("/open/shops/query", {})
    assert body["code"] == 100 and "access_token已过期" in body["msg"]
    fresh = client.token_call("/openWeb/auth/refreshToken", grant_type="refresh_token",
                              refresh_token="demo-refresh-token", scope="all")
    assert fresh["code"] == 0, fresh
    data = fresh["data"]
    assert set(data) == {"access_token", "expires_in", "refresh_token", "scope"}
    client.token = data["access_token"]
    assert client.call("/open/shops/query", {})["code"] == 0
    # the old refresh token was rotated away
    again = client.token_call("/openWeb/auth/refreshToken", grant_type="refresh_token",
                              refresh_token="demo-refresh-token", scope="all")
    assert again["code"] == 100


def test_get_init_token_and_errors(jst, client):
    body = client.token_call("/openWeb/auth/getInitToken", grant_type="authorization_code", code="abc123")
    assert body["code"] == 0
    other = Client(jst.url, token=body["data"]["access_token"])
    assert other.ok("/open/wms/partner/query", {})["datas"]
    assert client.token_call("/openWeb/auth/getInitToken", grant_type="refresh_token", code="abc123")["code"] == 140
    wrong = Client(jst.url, secret="wrong")
    assert wrong.token_call("/openWeb/auth/getInitToken", grant_type="authorization_code", code="abc123")["code"] == 10
    jst.configure(refresh_forbidden=True)
    assert client.token_call("/openWeb/auth/refreshToken", grant_type="refresh_token",
                             refresh_token="demo-refresh-token", scope="all")["code"] == 150


def test_malformed_biz_values_get_a_param_error_not_a_crash(jst, client):
    jst.add_outbound(so_id="1", shop_id=133242, wms_co_id=10001, items=[{"sku_id": "TS001-WHT-M", "qty": 1}])
    assert client.call("/open/orders/out/simple/query", {"shop_id": "abc", "so_ids": ["1"]})["code"] == 140
    assert client.call("/open/jushuitan/otherinout/upload", [1, 2])["code"] == 140
