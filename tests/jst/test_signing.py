"""The golden vectors of JST's open-platform documentation (IEU's DefaultJstDigestTest and NODE)."""

from o2o_bridge.connectors.jushuitan.signing import business_params, dump_biz, legacy_push_sign, openweb_sign, token_params

APP_KEY = "5b53060f23d84ddf9703056e84fa5a2d"
APP_SECRET = "e9c5ca33fecb404b8e6cdbd0ef4a6d25"


def test_vector_a_token_request():
    params = token_params(app_key=APP_KEY, app_secret=APP_SECRET, timestamp=1639128407,
                          grant_type="authorization_code", code="123456")
    assert params["sign"] == "05e3a51e19e0883afd1882ccd309e0b9"
    assert openweb_sign({k: v for k, v in params.items() if k != "sign"}, APP_SECRET) == params["sign"]


def test_vector_b_business_call_with_chinese_in_biz():
    biz = dump_biz({"page_index": "1", "page_size": "100", "nicks": ["老板"]})
    assert biz == '{"page_index":"1","page_size":"100","nicks":["老板"]}'  # compact, unescaped
    params = business_params(app_key=APP_KEY, access_token="d7b01bf0842a4742a9450e21ffd95f60", biz=biz,
                             timestamp=1639128407, app_secret=APP_SECRET)
    assert params["sign"] == "395f5a78b446be465ac03a02491296c7"
    assert set(params) == {"app_key", "access_token", "timestamp", "version", "charset", "biz", "sign"}


def test_a_biz_string_is_sent_and_signed_verbatim():
    text = '{ "b": 1,  "a": "老板" }'
    assert dump_biz(text) is text


def test_empty_values_dropped_only_on_request():
    params = {"a": "1", "b": ""}
    assert openweb_sign(params, "k") != openweb_sign(params, "k", drop_empty=True)
    assert openweb_sign(params, "k", drop_empty=True) == openweb_sign({"a": "1"}, "k")


def test_legacy_push_sign_matches_the_node_vector():
    # md5("shops.query" + partnerid + "token" + token + "ts" + ts + partnerkey)
    sign = legacy_push_sign("shops.query", "ywv5jGT8ge6Pvlq3FZSPol345asd",
                            {"token": "181ee8952a88f5a57db52587472c3798", "ts": "1540370062"},
                            "ywv5jGT8ge6Pvlq3FZSPol2323")
    assert sign == "aebf9d0146764d578d9c86e3b7783204"
