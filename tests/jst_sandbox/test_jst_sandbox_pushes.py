"""Pushes to a tiny local receiver: both body forms, the old-style query sign, token, drops."""

from __future__ import annotations

import hashlib
import json
import urllib.parse

import pytest
from recording_receiver import RecordingReceiver

from .test_jst_sandbox_endpoints import _order


class Receiver(RecordingReceiver):
    """The bridge's callback routes: records each push as a dict and answers ``self.answer``."""

    def __init__(self) -> None:
        self.answer = (200, {"code": 0, "msg": "执行成功"})
        super().__init__(lambda request: self.answer)

    @property
    def pushes(self) -> list[dict]:
        return [{"path": r.path, "query": r.query, "content_type": r.headers.get("Content-Type"), "raw": r.raw}
                for r in self.requests]

    def payload(self, req: dict) -> dict:
        if req["content_type"].startswith("application/json"):
            return json.loads(req["raw"])
        return json.loads(urllib.parse.parse_qs(req["raw"].decode())["biz"][0])


@pytest.fixture
def receiver(jst):
    r = Receiver()
    jst.configure(callback_base_url=r.url)
    yield r
    r.close()


def expected_sign(query: dict, key: str) -> str:
    # reference §6.1: md5(method + partnerid + ksorted(other query params except sign) + partnerkey),
    # with the default scope "all_query": entId, storageCode, ts (and type) are all signed
    rest = {k: v for k, v in query.items() if k not in ("method", "partnerid", "sign")}
    text = query["method"] + query["partnerid"] + "".join(k + rest[k] for k in sorted(rest)) + key
    return hashlib.md5(text.encode()).hexdigest()


@pytest.mark.parametrize("body", ["json", "form"])
def test_delivery_push_after_shipping_an_uploaded_order(jst, client, receiver, body):
    client.ok("/open/jushuitan/orders/upload", [_order("POS-7")])
    result = jst.ship_order(so_id="POS-7", lc_id="SF", l_id="SF777", body=body)
    req = receiver.pushes[-1]
    assert req["path"] == "/jushuitan/delivery_callback"
    q = req["query"]
    assert (q["entId"], q["storageCode"], q["method"]) == ("10010", "133242", "logistics.upload")
    assert q["sign"] == expected_sign(q, "demo-partner-key")
    got = receiver.payload(req)
    assert (got["so_id"], got["lc_id"], got["l_id"], got["is_send_all"]) == ("POS-7", "SF", "SF777", True)
    assert got["items"][0]["outer_oi_id"] == "POS-1-1" and got["items"][0]["qty"] == 2
    assert result["push"]["accepted"] is True and result["push"]["http_status"] == 200
    assert jst.state.snapshot("pushes")[-1]["response"] == {"code": 0, "msg": "执行成功"}


def test_partial_shipment_gives_two_pushes(jst, client, receiver):
    client.ok("/open/jushuitan/orders/upload", [_order("POS-8")])
    first = jst.ship_order(so_id="POS-8", l_id="SF1", items=[{"outer_oi_id": "POS-1-1", "qty": 1}])
    assert first["payload"]["is_send_all"] is False and first["order"]["status"] == "Delivering"
    second = jst.ship_order(so_id="POS-8", l_id="SF2")
    assert second["payload"]["is_send_all"] is True and second["order"]["status"] == "Sent"
    assert [receiver.payload(r)["l_id"] for r in receiver.pushes] == ["SF1", "SF2"]


def test_cancel_return_and_stock_pushes_with_token_auth(jst, client, receiver):
    client.ok("/open/jushuitan/orders/upload", [_order("POS-5"), _order("POS-6")])
    jst.cancel_order(so_id="POS-5", remark="缺货", auth="token")
    client.ok("/open/aftersale/upload", [{"shop_id": 133242, "outer_as_id": "RT-6", "so_id": "POS-6", "type": "普通退货",
                                          "shop_status": "WAIT_SELLER_CONFIRM_GOODS", "good_status": "BUYER_RETURNED_GOODS",
                                          "items": [{"sku_id": "TS001-WHT-M", "qty": 1, "outer_oi_id": "POS-1-1"}]}])
    jst.receive_aftersale(outer_as_id="RT-6", auth="token", body="form")
    jst.set_stock(10000, "TS001-WHT-L", qty=55, push=True, push_options={"auth": "token"})
    paths = [r["path"] for r in receiver.pushes]
    assert paths == ["/jushuitan/cancel_callback", "/jushuitan/return_goods_callback", "/jushuitan/stock_callback"]
    assert all(r["query"]["token"] == "demo-callback-token" and "sign" not in r["query"] for r in receiver.pushes)
    cancel, ret, stock = (receiver.payload(r) for r in receiver.pushes)
    assert cancel == {"so_id": "POS-5", "o_id": cancel["o_id"], "remark": "缺货"}
    assert (ret["outer_as_id"], ret["action_name"], ret["items"]) == ("RT-6", "确认收货", [{"sku_id": "TS001-WHT-M", "qty": 1}])
    assert receiver.pushes[2]["query"]["storageCode"] == "10000" and receiver.pushes[2]["query"]["type"] == "2"
    assert stock["datas"][0]["sku_id"] == "TS001-WHT-L" and stock["datas"][0]["qty"] == 55


def test_dropped_push_is_recorded_not_sent_and_refusals_are_recorded(jst, client, receiver):
    client.ok("/open/jushuitan/orders/upload", [_order("POS-4")])
    result = jst.ship_order(so_id="POS-4", l_id="SF4", drop=True)
    assert receiver.pushes == [] and result["push"]["dropped"] is True
    # the missed push is still visible to reconciliation
    assert client.ok("/open/logistic/query", {"so_ids": ["POS-4"]})["orders"][0]["l_id"] == "SF4"
    receiver.answer = (401, {"code": 10, "msg": "bad sign"})
    rec = jst.push("stock", {"datas": []}, storage_code=10001, auth="bad_sign")
    assert rec["http_status"] == 401 and rec["accepted"] is False and rec["response"]["code"] == 10
    assert receiver.pushes[-1]["query"]["sign"] == "0" * 32
    jst.configure(callback_base_url="http://127.0.0.1:9")  # nothing listens there
    rec = jst.push("cancel", {"so_id": "X"}, timeout=1)
    assert rec["accepted"] is False and rec["error"]


def test_sign_scope_all_query(jst, receiver):
    jst.configure(push_sign_scope="all_query", partnerid="p1", partner_key="k")
    jst.push("delivery", {"so_id": "A"}, storage_code=133242)
    q = receiver.pushes[-1]["query"]
    rest = {k: v for k, v in q.items() if k not in ("method", "partnerid", "sign")}
    text = q["method"] + q["partnerid"] + "".join(k + rest[k] for k in sorted(rest)) + "k"
    assert q["sign"] == hashlib.md5(text.encode()).hexdigest()


def test_a_stock_push_is_shop_level_as_jst_sends_it_not_the_named_warehouses_stock(jst, receiver):
    """库存同步 tells the 自有商城 shop what it may sell over every warehouse (qty - order_lock here)."""
    jst.set_stock(10001, "TS001-WHT-L", qty=4)
    jst.set_stock(10000, "TS001-WHT-L", qty=55, order_lock=5, push=True, push_options={"auth": "token"})
    [row] = receiver.payload(receiver.pushes[-1])["datas"]
    assert receiver.pushes[-1]["query"]["storageCode"] == "10000"
    assert (row["sku_id"], row["qty"], row["shop_id"]) == ("TS001-WHT-L", 54, 133242)  # 55 - 5 + 4, not 55


def test_a_token_push_goes_to_the_url_pasted_for_its_route_and_storage_code_with_that_urls_token(jst, client, receiver):
    """As a merchant pastes `o2o tenant urls --reveal-token`: one URL per route and warehouse, each its own token."""
    jst.configure(callback_base_url="http://127.0.0.1:9", callback_urls=[  # the default base is not used any more
        f"{receiver.url}/jushuitan/cancel_callback?entId=10010&storageCode=133242&token=tok-cancel",
        f"{receiver.url}/jushuitan/stock_callback?entId=10010&storageCode=10000&type=2&token=tok-stock-10000",
        f"{receiver.url}/jushuitan/stock_callback?entId=10010&storageCode=10001&type=2&token=tok-stock-10001",
    ])
    client.ok("/open/jushuitan/orders/upload", [_order("POS-7")])
    jst.cancel_order(so_id="POS-7", remark="缺货", auth="token")
    jst.set_stock(10000, "TS001-WHT-L", qty=55, push=True, push_options={"auth": "token"})
    assert [(r["path"], r["query"]["token"]) for r in receiver.pushes] == [
        ("/jushuitan/cancel_callback", "tok-cancel"), ("/jushuitan/stock_callback", "tok-stock-10000")]
    assert receiver.pushes[1]["query"]["type"] == "2"
    assert all("demo-callback-token" not in r["query"].values() for r in receiver.pushes)
