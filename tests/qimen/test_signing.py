"""The 奇门 / TOP sign, against vectors computed independently of this code."""

from datetime import datetime, timezone

from o2o_bridge.connectors.qimen.signing import (
    parse_timestamp,
    sign,
    sign_matches,
    signed_query,
    system_params,
    timestamp_text,
)

# The official TOP vector (no body): Taobao's own documentation example, reproduced by SDK tests.
TOP_PARAMS = {
    "app_key": "12345678", "fields": "num_iid,title,nick,price,num", "format": "json",
    "method": "taobao.item.seller.get", "num_iid": "11223344", "session": "test",
    "sign_method": "md5", "timestamp": "2016-01-01 12:00:00", "v": "2.0",
}

# A 奇门 call with an XML body (computed from the published rule; no official one exists).
QIMEN_PARAMS = {
    "app_key": "12345678", "customerId": "C001", "format": "xml",
    "method": "taobao.qimen.deliveryorder.confirm", "sign_method": "md5",
    "timestamp": "2024-01-01 12:00:00", "v": "2.0",
}
QIMEN_BODY = ('<?xml version="1.0" encoding="utf-8"?><request><deliveryOrderCode>TEST001'
              '</deliveryOrderCode></request>')


def test_official_top_vector():
    assert sign(TOP_PARAMS, None, "helloworld") == "66987CB115214E59E6EC978214934FB8"


def test_qimen_vector_with_body():
    assert sign(QIMEN_PARAMS, QIMEN_BODY, "helloworld") == "C86FF7F4A07702F93EB6714D8508FB62"
    assert sign(QIMEN_PARAMS, QIMEN_BODY.encode(), "helloworld") == "C86FF7F4A07702F93EB6714D8508FB62"


def test_sign_leaves_out_sign_and_empty_values_and_sorts_keys():
    shuffled = dict(reversed(list(QIMEN_PARAMS.items())))
    noisy = {**shuffled, "sign": "WHATEVER", "partner_id": "", "session": None}
    assert sign(noisy, QIMEN_BODY, "helloworld") == "C86FF7F4A07702F93EB6714D8508FB62"


def test_any_change_to_body_or_params_changes_the_sign():
    base = sign(QIMEN_PARAMS, QIMEN_BODY, "helloworld")
    assert sign(QIMEN_PARAMS, QIMEN_BODY.replace("><", ">\n<", 1), "helloworld") != base
    assert sign({**QIMEN_PARAMS, "entId": "E1"}, QIMEN_BODY, "helloworld") != base
    assert sign(QIMEN_PARAMS, QIMEN_BODY, "helloworle") != base


def test_hmac_methods_sign_without_wrapping_secret():
    import hashlib
    import hmac

    payload = "".join(f"{k}{v}" for k, v in sorted(QIMEN_PARAMS.items())).encode() + QIMEN_BODY.encode()
    assert sign(QIMEN_PARAMS, QIMEN_BODY, "s", "hmac") == hmac.new(b"s", payload, hashlib.md5).hexdigest().upper()
    assert sign(QIMEN_PARAMS, QIMEN_BODY, "s", "hmac-sha256") == hmac.new(b"s", payload, hashlib.sha256).hexdigest().upper()


def test_sign_matches_is_case_insensitive_on_the_hex_and_refuses_unknown_methods():
    params = {**QIMEN_PARAMS, "sign": "c86ff7f4a07702f93eb6714d8508fb62"}
    assert sign_matches(params, QIMEN_BODY.encode(), "helloworld")
    assert not sign_matches(params, QIMEN_BODY.encode() + b" ", "helloworld")
    assert not sign_matches({**params, "sign_method": "sha1"}, QIMEN_BODY.encode(), "helloworld")
    assert not sign_matches({**params, "sign": ""}, QIMEN_BODY.encode(), "helloworld")
    assert not sign_matches(params, QIMEN_BODY.encode(), "")


def test_system_params_and_signed_query():
    params = system_params(method="taobao.qimen.deliveryorder.confirm", app_key="12345678", customer_id="C001",
                           timestamp="2024-01-01 12:00:00")
    assert params == QIMEN_PARAMS
    assert signed_query(params, QIMEN_BODY.encode(), "helloworld")["sign"] == "C86FF7F4A07702F93EB6714D8508FB62"


def test_timestamps_are_gmt8_wall_time():
    moment = datetime(2024, 1, 1, 4, 0, 0, tzinfo=timezone.utc)
    assert timestamp_text(moment) == "2024-01-01 12:00:00"
    assert parse_timestamp("2024-01-01 12:00:00") == moment
    assert parse_timestamp("2024-01-01T12:00:00") is None
