"""The 企业版 sign: the official golden vector, the character-length rule for Chinese
values, and the form that carries nested values as JSON strings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from o2o_bridge.connectors.wangdiantong.signing import dump_value, pack, sign, signed_form

# The vector of 旺店通's own sign guide (guide_signsf).
OFFICIAL = {
    "appkey": "test2-xx", "page_no": "0", "end_time": "2016-08-01 13:00:00",
    "start_time": "2016-08-01 12:00:00", "page_size": "40", "sid": "test2", "timestamp": "1470042310",
}
OFFICIAL_PACKED = ("06-appkey:0008-test2-xx;08-end_time:0019-2016-08-01 13:00:00;07-page_no:0001-0;"
                   "09-page_size:0002-40;03-sid:0005-test2;10-start_time:0019-2016-08-01 12:00:00;"
                   "09-timestamp:0010-1470042310")


def test_the_official_golden_vector():
    assert pack(OFFICIAL) == OFFICIAL_PACKED
    assert sign(OFFICIAL, "12345") == "ad4e6fe037ea6e3ba4768317be9d1309"


def test_the_sign_parameter_itself_is_not_signed():
    assert sign({**OFFICIAL, "sign": "whatever"}, "12345") == "ad4e6fe037ea6e3ba4768317be9d1309"


def test_chinese_values_count_characters_not_bytes():
    params = {**OFFICIAL, "shop_no": "店铺01"}
    assert "07-shop_no:0004-店铺01" in pack(params)
    assert sign(params, "12345") == "38bdea7611678437a01f17c0761a001e"
    # What a byte-length client (the Go SDK) would send instead: refused by 旺店通.
    assert sign(params, "12345") != "08a911360079e2940247a4b45f7de7ba"


def test_the_form_of_a_call_is_signed_exactly_as_sent():
    form = signed_form(sid="test2", appkey="test2-xx", appsecret="12345", timestamp=1470042310,
                       business={"start_time": "2016-08-01 12:00:00", "end_time": "2016-08-01 13:00:00",
                                 "page_no": 0, "page_size": 40})
    assert form["sign"] == "ad4e6fe037ea6e3ba4768317be9d1309"
    assert {k: v for k, v in form.items() if k != "sign"} == OFFICIAL


def test_nested_values_travel_as_compact_json_with_chinese_unescaped():
    text = dump_value([{"tid": "S1", "receiver_name": "张三", "paid": Decimal("12.50"), "num": Decimal("2.0000")}])
    assert text == '[{"tid":"S1","receiver_name":"张三","paid":12.5,"num":2}]'


def test_empty_business_values_are_left_out_and_public_names_are_reserved():
    form = signed_form(sid="s", appkey="k", appsecret="x", timestamp=1, business={"shop_no": "", "status": None,
                                                                                "page_no": 0})
    assert set(form) == {"sid", "appkey", "timestamp", "page_no", "sign"}
    with pytest.raises(ValueError):
        signed_form(sid="s", appkey="k", appsecret="x", timestamp=1, business={"sid": "other"})
