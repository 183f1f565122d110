"""Each endpoint's happy path (and the state changes an upload makes)."""

from __future__ import annotations

from .conftest import window


def test_base_data(client):
    shops = client.ok("/open/shops/query", {"page_index": 1, "page_size": 100})
    assert shops["datas"][0]["shop_id"] == 133242 and shops["datas"][0]["shop_site"] == "商家自有商城"
    assert "data_count" not in shops
    wh = client.ok("/open/wms/partner/query", {"page_index": 1, "page_size": 30})
    assert {(w["wms_co_id"], w["name"], w["is_main"]) for w in wh["datas"]} == {(10000, "总仓", True), (10001, "店加线下仓", False)}
    assert wh["data_count"] == 2 and wh["has_next"] is False
    lcs = client.ok("/open/logisticscompany/query", {"page_size": 50})
    assert {lc["lc_id"] for lc in lcs["datas"]} == {"SF", "ZTO"}
    assert set(lcs["datas"][0]) == {"lc_id", "lc_name", "modified"}


def test_sku_and_mall_item_query(client):
    skus = client.ok("/open/sku/query", {"sku_ids": "TS001-WHT-M,JN002-BLU-30", "page_size": 50})
    assert {s["sku_id"] for s in skus["datas"]} == {"TS001-WHT-M", "JN002-BLU-30"}
    row = next(s for s in skus["datas"] if s["sku_id"] == "TS001-WHT-M")
    assert row["i_id"] == "TS001" and row["properties_value"] == "白色;M" and row["market_price"] == 129
    assert row["other_1"] == "2026" and row["sku_code"] == "6900000000011"
    assert len(client.ok("/open/sku/query", {**window(1), "page_size": 2})["datas"]) == 2
    items = client.ok("/open/mall/item/query", {"i_ids": ["TS001"], "page_size": 50})
    assert items["datas"][0]["i_id"] == "TS001" and len(items["datas"][0]["skus"]) == 2


def test_inventory_query_by_warehouse_total_and_ts(jst, client):
    one = client.ok("/open/inventory/query", {"wms_co_id": 10001, "sku_ids": "TS001-WHT-M"})
    assert one["inventorys"][0]["qty"] == 10 and "data_count" not in one
    total = client.ok("/open/inventory/query", {"sku_ids": "TS001-WHT-M"})
    row = total["inventorys"][0]
    assert row["qty"] == 130 and row["order_lock"] == 2 and row["i_id"] == "TS001"
    cursor = max(r["ts"] for r in client.ok("/open/inventory/query", {"wms_co_id": 10000, "ts": 0})["inventorys"])
    jst.set_stock(10000, "JN002-BLU-32", qty=7)
    newer = client.ok("/open/inventory/query", {"wms_co_id": 10000, "ts": cursor + 1})["inventorys"]
    assert [(r["sku_id"], r["qty"]) for r in newer] == [("JN002-BLU-32", 7)]


def test_outbound_query_and_wms_sent_upload(jst, client):
    ob = jst.add_outbound(so_id="TB1001", shop_id=133242, wms_co_id=10001, receiver_state="上海市",
                          items=[{"sku_id": "TS001-WHT-M", "qty": 1}])
    data = client.ok("/open/orders/out/simple/query", {"wms_co_id": 10001, "status": "WaitConfirm", "start_ts": 0,
                                                       "page_index": 1, "page_size": 50, "is_get_total": False})
    got = data["datas"][0]
    assert got["io_id"] == ob["io_id"] and got["so_id"] == "TB1001" and got["items"][0]["sku_id"] == "TS001-WHT-M"
    assert "data_count" not in data
    old_ts = got["ts"]
    sent = client.ok("/open/orders/wms/sent/upload", [{"io_id": ob["io_id"], "lc_id": "SF", "l_id": "SF0001",
                                                       "lc_name": "顺丰速运", "wms_co_id": 10001}])
    assert sent["datas"][0]["issuccess"] is True
    after = client.ok("/open/orders/out/simple/query", {"io_ids": [str(ob["io_id"])]})["datas"][0]
    assert (after["status"], after["lc_id"], after["l_id"]) == ("Confirmed", "SF", "SF0001") and after["ts"] > old_ts
    assert jst.state.snapshot("confirmed_outbounds")[0]["io_id"] == ob["io_id"]
    again = client.ok("/open/orders/wms/sent/upload", [{"io_id": ob["io_id"], "lc_id": "SF", "l_id": "SF0001"},
                                                       {"io_id": 999, "lc_id": "SF", "l_id": "x"}])
    assert [r["issuccess"] for r in again["datas"]] == [False, False]
    assert "已出库" in again["datas"][0]["msg"]
    ob2 = jst.add_outbound(so_id="TB1002", shop_id=133242, wms_co_id=10001, items=[{"sku_id": "TS001-WHT-M", "qty": 1}])
    bad_lc = client.ok("/open/orders/wms/sent/upload", [{"io_id": ob2["io_id"], "lc_id": "NOPE", "l_id": "1"}])
    assert bad_lc["datas"][0]["issuccess"] is False and len(jst.state.sent_uploads) == 4


def _order(so_id="POS-1", **extra):
    return {"shop_id": 133242, "so_id": so_id, "order_date": "2026-11-22 10:00:00", "shop_status": "WAIT_SELLER_SEND_GOODS",
            "shop_buyer_id": "buyer", "receiver_state": "上海市", "receiver_city": "上海市", "receiver_district": "静安区",
            "receiver_address": "南京西路1号", "receiver_name": "张三", "receiver_mobile": "13800000000",
            "pay_amount": 198, "freight": 0,
            "items": [{"sku_id": "TS001-WHT-M", "shop_sku_id": "TS001-WHT-M", "qty": 2, "price": 99, "amount": 198,
                       "base_price": 99, "name": "纯棉T恤", "outer_oi_id": "POS-1-1"}],
            "pay": {"outer_pay_id": "P1", "pay_date": "2026-11-22 10:00:00", "payment": "微信", "seller_account": "s",
                    "buyer_account": "b", "amount": 198}, **extra}


def test_order_upload_query_cancel_and_logistic(jst, client):
    up = client.ok("/open/jushuitan/orders/upload", [_order("POS-1"), _order("POS-2"), _order("POS-3", shop_id=1)])
    rows = up["datas"]
    assert [r["issuccess"] for r in rows] == [True, True, False] and rows[2]["msg"] == "店铺编号不存在"
    o_id = rows[0]["o_id"]
    dup = client.ok("/open/jushuitan/orders/upload", [_order("POS-1", remark="改")])["datas"][0]
    assert dup["issuccess"] is True and dup["o_id"] == o_id
    found = client.ok("/open/orders/single/query", {"so_ids": ["POS-1"], "shop_id": 133242})["orders"]
    assert len(found) == 1 and found[0]["status"] == "WaitConfirm" and found[0]["items"][0]["outer_oi_id"] == "POS-1-1"
    assert jst.state.snapshot("orders")[0]["upload_count"] == 2
    cancel = client.call("/open/jushuitan/orderbyoid/cancel", {"o_ids": [rows[1]["o_id"]], "cancel_type": "用户取消"})
    assert cancel["code"] == 0 and isinstance(cancel["data"], str)
    assert client.ok("/open/orders/single/query", {"o_ids": [rows[1]["o_id"]]})["orders"][0]["status"] == "Cancelled"
    shipped = jst.ship_order(so_id="POS-1", lc_id="ZTO", l_id="ZT100", push=False)
    assert shipped["order"]["status"] == "Sent"
    logi = client.ok("/open/logistic/query", {**window(1), "shop_id": 133242, "page_size": 50})["orders"]
    assert [(o["so_id"], o["lc_id"], o["l_id"]) for o in logi] == [("POS-1", "ZTO", "ZT100")]
    assert logi[0]["items"][0]["outer_oi_id"] == "POS-1-1"
    assert client.call("/open/jushuitan/orderbyoid/cancel", {"o_ids": [o_id]})["code"] != 0  # already sent


def test_inventoryv2_check_sets_stock(jst, client):
    biz = {"wms_co_id": 10001, "type": "check", "is_confirm": True, "so_id": "STK-1", "warehouse": 1,
           "items": [{"sku_id": "TS001-WHT-M", "qty": 3}, {"sku_id": "TS001-WHT-L", "qty": 9}]}
    body = client.call("/open/jushuitan/inventoryv2/upload", biz)
    assert body["code"] == 0 and body["issuccess"] is True and body["data"]["data"]["so_id"] == "STK-1"
    inv = client.ok("/open/inventory/query", {"wms_co_id": 10001, "sku_ids": "TS001-WHT-M,TS001-WHT-L"})["inventorys"]
    assert {r["sku_id"]: r["qty"] for r in inv} == {"TS001-WHT-M": 3, "TS001-WHT-L": 9}
    dup = client.call("/open/jushuitan/inventoryv2/upload", {**biz, "items": [{"sku_id": "TS001-WHT-M", "qty": 1}]})
    assert dup["code"] != 0 and dup["issuccess"] is False
    assert client.call("/open/jushuitan/inventoryv2/upload", {**biz, "so_id": "STK-2",
                                                              "items": [{"sku_id": "X", "qty": 1}] * 501})["code"] == 140
    assert jst.state.snapshot("inventory_uploads")[0]["status"] == "Confirmed"


def test_other_inout_upload_query_and_confirm(jst, client):
    biz = {"type": "out", "external_id": "TR-1", "wms_co_id": 10000, "warehouse": 1, "remark": "配货 S001",
           "items": [{"sku_id": "TS001-WHT-M", "qty": 5}]}
    io_id = client.ok("/open/jushuitan/otherinout/upload", biz)["data"]["io_id"]
    assert client.call("/open/jushuitan/otherinout/upload", biz)["code"] != 0  # duplicate external_id
    assert client.call("/open/jushuitan/otherinout/upload", {**biz, "external_id": "TR-2", "remark": ""})["code"] == 140
    q = {"so_ids": ["TR-1"], "page_size": 50}
    doc = client.ok("/open/other/inout/query", q)["datas"][0]
    assert (doc["io_id"], doc["status"], doc["type"]) == (io_id, "WaitConfirm", "其它出库")
    jst.confirm_other_inout(io_id)
    doc2 = client.ok("/open/other/inout/query", {**window(1), "status": "Confirmed"})["datas"][0]
    assert doc2["io_id"] == io_id and doc2["ts"] > doc["ts"]
    assert jst.state.inventory[(10000, "TS001-WHT-M")]["qty"] == 115


def test_aftersale_upload_and_received_query(jst, client):
    client.ok("/open/jushuitan/orders/upload", [_order("POS-9")])
    row = {"shop_id": 133242, "outer_as_id": "RT-1", "so_id": "POS-9", "type": "普通退货",
           "shop_status": "WAIT_SELLER_CONFIRM_GOODS", "good_status": "BUYER_RETURNED_GOODS", "total_amount": 99,
           "refund": 99, "payment": 0, "warehouse_type": 1, "wms_co_id": 10000,
           "items": [{"outer_oi_id": "POS-9-1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": 99, "type": "退货"}]}
    res = client.ok("/open/aftersale/upload", [row])["datas"][0]
    assert res["issuccess"] is True and res["as_id"] and res["o_id"] and res["outer_as_id"] == "RT-1"
    again = client.ok("/open/aftersale/upload", [row])["datas"][0]
    assert again["as_id"] == res["as_id"]
    assert client.ok("/open/aftersale/received/query", {**window(1)})["datas"] == []
    jst.receive_aftersale(outer_as_id="RT-1", push=False)
    got = client.ok("/open/aftersale/received/query", {**window(1), "page_size": 50})["datas"]
    assert [(d["as_id"], d["so_id"], d["status"]) for d in got] == [(res["as_id"], "POS-9", "Confirmed")]
    assert got[0]["items"][0]["sku_id"] == "TS001-WHT-M" and got[0]["io_id"]
    assert client.ok("/open/aftersale/received/query", {"as_ids": [str(res["as_id"])]})["datas"]


def test_concurrent_uploads_get_distinct_ids_and_increasing_ts(jst):
    from concurrent.futures import ThreadPoolExecutor

    from .conftest import Client

    def upload(i):
        c = Client(jst.url)
        try:
            return c.ok("/open/jushuitan/orders/upload", [_order(f"C-{i}")])["datas"][0]["o_id"]
        finally:
            c.http.close()

    with ThreadPoolExecutor(8) as pool:
        o_ids = list(pool.map(upload, range(24)))
    assert len(set(o_ids)) == 24
    ts = [o["ts"] for o in jst.state.snapshot("orders")]
    assert len(set(ts)) == 24


def test_numbers_as_decimal_strings_setting(jst, client):
    jst.configure(numbers_as_strings=True)
    jst.add_outbound(so_id="TB-S", shop_id=133242, wms_co_id=10001, items=[{"sku_id": "TS001-WHT-M", "qty": 2}])
    got = client.ok("/open/orders/out/simple/query", {"so_ids": ["TB-S"]})["datas"][0]
    assert got["items"][0]["qty"] == "2.0000" and isinstance(got["io_id"], int)
    inv = client.ok("/open/inventory/query", {"wms_co_id": 10001, "sku_ids": "TS001-WHT-M"})["inventorys"][0]
    assert inv["qty"] == "10.0000"
    assert jst.state.outbounds[got["io_id"]]["items"][0]["qty"] == 2  # the state itself is untouched


def test_a_check_count_on_a_bin_managed_warehouse_zeroes_every_sku_it_does_not_list(jst, client):
    jst.seed(warehouses=[{"wms_co_id": 10002, "name": "货位仓", "bin_managed": True}])
    jst.set_stock(10002, "TS001-WHT-M", qty=5)
    jst.set_stock(10002, "TS001-WHT-L", qty=4)
    client.ok("/open/jushuitan/inventoryv2/upload", {"wms_co_id": 10002, "type": "check", "is_confirm": True,
                                                     "so_id": "BIN-1", "items": [{"sku_id": "TS001-WHT-M", "qty": 2}]})
    inv = client.ok("/open/inventory/query", {"wms_co_id": 10002, "sku_ids": "TS001-WHT-M,TS001-WHT-L"})["inventorys"]
    assert {r["sku_id"]: r["qty"] for r in inv} == {"TS001-WHT-M": 2, "TS001-WHT-L": 0}
    client.ok("/open/jushuitan/inventoryv2/upload", {"wms_co_id": 10002, "type": "adjust", "is_confirm": True,
                                                     "so_id": "BIN-2", "items": [{"sku_id": "TS001-WHT-L", "qty": 3}]})
    inv = client.ok("/open/inventory/query", {"wms_co_id": 10002, "sku_ids": "TS001-WHT-M,TS001-WHT-L"})["inventorys"]
    assert {r["sku_id"]: r["qty"] for r in inv} == {"TS001-WHT-M": 2, "TS001-WHT-L": 3}  # adjust touches only its SKUs


def test_a_transfer_document_ships_out_of_one_warehouse_into_transit_then_into_the_other(jst, client):
    """跨仓调拨 as modelled: Creating, then Confirmed by the sender (out of its stock, 调拨在途 at
    the receiver), then received there; its number is unique."""
    jst.set_stock(10000, "TS001-WHT-M", qty=20)
    jst.set_stock(10001, "TS001-WHT-M", qty=1)
    answer = client.ok("/open/allocate/kc/upload", [{"so_id": "PH-1", "go_co_id": 10000, "link_co_id": 10001,
                                                      "items": [{"sku_id": "TS001-WHT-M", "qty": 4}]}])
    [row] = answer["datas"]
    assert row["so_id"] == "PH-1"
    again = client.call("/open/allocate/kc/upload", [{"so_id": "PH-1", "go_co_id": 10000, "link_co_id": 10001,
                                                       "items": [{"sku_id": "TS001-WHT-M", "qty": 4}]}])
    assert again["code"] == 160
    [doc] = client.ok("/open/allocate/query", {"so_ids": ["PH-1"]})["datas"]
    assert (doc["io_id"], doc["status"], doc["link_wms_co_id"]) == (row["io_id"], "Creating", 10001)

    def stock(wms):
        inv = client.ok("/open/inventory/query", {"wms_co_id": wms, "sku_ids": "TS001-WHT-M"})["inventorys"][0]
        return inv["qty"], inv["allocate_qty"]

    jst.confirm_transfer(row["io_id"])
    assert (stock(10000), stock(10001)) == ((16, 0), (1, 4))
    jst.receive_transfer(row["io_id"])
    assert stock(10001) == (5, 0)
    assert client.ok("/open/allocate/query", {"io_ids": [str(row["io_id"])]})["datas"][0]["status"] == "Confirmed"
