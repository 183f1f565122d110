"""Every endpoint of the JstApi port, client ↔ sandbox over HTTP (demo tenant seeded)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from o2o_bridge.connectors.jushuitan import models as m
from o2o_bridge.connectors.jushuitan.api import Limits
from o2o_bridge.connectors.jushuitan.port import JstApi

from .conftest import MAIN_WMS, SHOP, STORE_WMS

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))


def now() -> datetime:
    return datetime.now(CST)


def order(so_id: str, *lines: tuple[str, int]) -> m.OrderUpload:
    items = [m.OrderUploadItem(sku_id=sku, shop_sku_id=sku, amount=Decimal(99 * qty), base_price=Decimal(99), qty=qty,
                               name="纯棉T恤", outer_oi_id=f"{so_id}-{n}") for n, (sku, qty) in enumerate(lines, 1)]
    return m.OrderUpload(shop_id=SHOP, so_id=so_id, order_date=now().strftime("%Y-%m-%d %H:%M:%S"),
                         shop_status="WAIT_SELLER_SEND_GOODS", shop_buyer_id="buyer-1", receiver_address="南京西路1号",
                         receiver_name="张三", receiver_state="上海市", receiver_city="上海市", receiver_district="静安区",
                         pay_amount=sum(i.amount for i in items), items=items)


def test_the_adapter_implements_every_method_of_the_port(h):
    port_methods = {name for name in dir(JstApi) if not name.startswith("_")}
    assert port_methods <= {name for name in dir(h.api) if not name.startswith("_")}


# --- base data (doctor) ------------------------------------------------------------------
def test_shops_warehouses_and_logistics_companies(h):
    shops = h.api.query_shops()
    assert [(s.shop_id, s.shop_name, s.is_self_mall) for s in shops] == [(SHOP, "自有商城", True)]
    assert [s.shop_id for s in h.api.query_shops([SHOP])] == [SHOP]
    assert h.api.query_shops([999]) == []
    warehouses = h.api.query_warehouses()
    assert {(w.wms_co_id, w.name, w.is_main) for w in warehouses} == {(MAIN_WMS, "总仓", True),
                                                                      (STORE_WMS, "店加线下仓", False)}
    companies = h.api.query_logistics_companies()
    assert {(c.lc_id, c.lc_name) for c in companies} == {("SF", "顺丰速运"), ("ZTO", "中通快递")}
    assert {c.lc_id for c in h.api.query_logistics_companies(STORE_WMS)} == {"SF", "ZTO"}
    # The documented page sizes are accepted by the sandbox's maxima (no code 140).
    assert all(f["code"] == 0 for f in h.jst.calls())


def test_list_all_follows_has_next_across_pages(make, jst):
    jst.seed(shops=[{"shop_id": 200_000 + n, "shop_name": f"店{n}"} for n in range(7)])
    h = make(limits=Limits(shop_page=3))
    assert len(h.api.query_shops()) == 8
    assert [b["page_index"] for b in h.wire.biz("/open/shops/query")] == [1, 2, 3]


# --- raw call ------------------------------------------------------------------------------
def test_call_any_path_returns_the_whole_answer(h):
    answer = h.api.call("/open/wms/partner/query", {"page_index": 1, "page_size": 30})
    assert answer["code"] == 0 and answer["msg"] == "执行成功"
    assert {w["wms_co_id"] for w in answer["data"]["datas"]} == {MAIN_WMS, STORE_WMS}
    assert h.client.call("/open/shops/query", {"page_index": 1, "page_size": 10})["datas"][0]["shop_id"] == SHOP
    # A biz string is signed and sent exactly as given.
    assert h.client.call("/open/shops/query", '{"page_index":1,"page_size":10,"shop_ids":[133242]}')["datas"]
    assert h.wire.sent[-1][1]["biz"] == '{"page_index":1,"page_size":10,"shop_ids":[133242]}'


# --- S1 sales outbounds ------------------------------------------------------------------
def test_scan_outbounds_then_sent_upload_confirms_one(h):
    jst = h.jst
    mine = jst.add_outbound(so_id="TB1001", shop_id=SHOP, wms_co_id=STORE_WMS, receiver_state="上海市",
                            items=[{"sku_id": "TS001-WHT-M", "qty": 1}])
    jst.add_outbound(so_id="TB1002", shop_id=SHOP, wms_co_id=MAIN_WMS, items=[{"sku_id": "TS001-WHT-L", "qty": 2}])
    scan = h.api.scan_sales_outbounds(start_ts=0, wms_co_id=STORE_WMS, status="WaitConfirm")
    (ob,) = scan.records
    assert (ob.io_id, ob.so_id, ob.status, ob.receiver_state) == (mine["io_id"], "TB1001", "WaitConfirm", "上海市")
    assert ob.items[0].sku_id == "TS001-WHT-M" and ob.items[0].qty == 1
    assert scan.next_ts == mine["ts"]
    assert h.wire.biz("/open/orders/out/simple/query")[0] == {
        "wms_co_id": STORE_WMS, "status": "WaitConfirm", "page_index": 1, "page_size": 50, "start_ts": 0,
        "is_get_total": False}

    answers = h.api.upload_wms_sent([m.WmsSent(io_id=ob.io_id, lc_id="SF", l_id="SF9001", lc_name="顺丰速运",
                                              wms_co_id=STORE_WMS)])
    assert answers[0]["datas"][0]["issuccess"] is True
    (confirmed,) = jst.state.snapshot("confirmed_outbounds")
    assert (confirmed["io_id"], confirmed["lc_id"], confirmed["l_id"]) == (ob.io_id, "SF", "SF9001")
    # Read back by id: Confirmed with a higher ts; the cursor scan from next_ts sees the change.
    (again,) = h.api.sales_outbounds_by_ids([ob.io_id])
    assert again.status == "Confirmed" and again.l_id == "SF9001" and again.ts > ob.ts
    rescan = h.api.scan_sales_outbounds(start_ts=scan.next_ts, wms_co_id=STORE_WMS)
    assert [(r.io_id, r.status) for r in rescan.records] == [(ob.io_id, "Confirmed")]
    # A second confirmation is refused per row (the call itself succeeds).
    answers = h.api.upload_wms_sent([m.WmsSent(io_id=ob.io_id, lc_id="SF", l_id="SF9001")])
    assert answers[0]["datas"][0]["issuccess"] is False and "已出库" in answers[0]["datas"][0]["msg"]


# --- S2 orders ----------------------------------------------------------------------------
def test_order_upload_query_scan_and_cancel(h):
    results = h.api.upload_orders([order("P1001", ("TS001-WHT-M", 1)), order("P1002", ("JN002-BLU-30", 2)),
                                   order("P1003", ("NO-SUCH-SKU", 1))])
    assert [(r.so_id, r.issuccess) for r in results] == [("P1001", True), ("P1002", True), ("P1003", False)]
    assert "NO-SUCH-SKU" in results[2].msg
    o_ids = {r.so_id: r.o_id for r in results if r.issuccess}

    found = h.api.query_orders(shop_id=SHOP, so_ids=["P1001", "P1002"])
    assert {(o.so_id, o.o_id, o.status) for o in found} == {("P1001", o_ids["P1001"], "WaitConfirm"),
                                                            ("P1002", o_ids["P1002"], "WaitConfirm")}
    assert found[0].items[0].outer_oi_id.startswith(found[0].so_id)
    # Re-upload = update, same o_id.
    (again,) = h.api.upload_orders([order("P1001", ("TS001-WHT-M", 3))])
    assert again.issuccess and again.o_id == o_ids["P1001"]

    scan = h.api.scan_orders(shop_id=SHOP, start_ts=0)
    assert {o.so_id for o in scan.records} == {"P1001", "P1002"}
    (p1001,) = [o for o in scan.records if o.so_id == "P1001"]
    assert p1001.items[0].qty == 3

    answers = h.api.cancel_orders([o_ids["P1002"]], cancel_type="其他", remark="门店取消")
    assert "取消成功" in answers[0]
    (cancelled,) = h.api.query_orders(shop_id=SHOP, so_ids=["P1002"])
    assert cancelled.status == "Cancelled"


def test_order_uploads_are_cut_into_batches_the_sandbox_accepts(h):
    results = h.api.upload_orders([order(f"PB{n:03d}", ("TS001-WHT-L", 1)) for n in range(120)])
    assert len(results) == 120 and all(r.issuccess for r in results)
    assert [len(b) for b in h.wire.biz("/open/jushuitan/orders/upload")] == [50, 50, 20]
    assert len(h.api.query_orders(shop_id=SHOP, so_ids=[f"PB{n:03d}" for n in range(120)])) == 120
    assert all(len(b["so_ids"]) <= 20 for b in h.wire.biz("/open/orders/single/query"))


def test_logistic_query_by_window_finds_a_missed_shipment(h):
    (uploaded,) = h.api.upload_orders([order("P2001", ("TS001-WHT-M", 1))])
    h.jst.ship_order(so_id="P2001", lc_id="SF", l_id="SF2001", drop=True)   # the push is lost (S2x)
    found = h.api.query_logistics(shop_id=SHOP, begin=now() - timedelta(days=1), end=now() + timedelta(minutes=5))
    (lo,) = found
    assert (lo.o_id, lo.so_id, lo.lc_id, lo.l_id) == (uploaded.o_id, "P2001", "SF", "SF2001")
    assert lo.items[0].outer_oi_id == "P2001-1"
    assert h.api.query_logistics(shop_id=SHOP, begin=now() - timedelta(days=9), end=now() - timedelta(days=2)) == []


# --- S3 / S4 inventory ---------------------------------------------------------------------
def test_inventory_scan_inventory_of_and_inventoryv2_upload(h):
    scan = h.api.scan_inventory(start_ts=0, wms_co_id=MAIN_WMS)
    by_sku = {r.sku_id: r for r in scan.records}
    assert {s: r.qty for s, r in by_sku.items()} == {"TS001-WHT-M": 120, "TS001-WHT-L": 80, "JN002-BLU-30": 40,
                                                     "JN002-BLU-32": 0}
    assert by_sku["TS001-WHT-M"].order_lock == 2 and by_sku["JN002-BLU-32"].in_qty == 5
    assert h.wire.biz("/open/inventory/query")[0]["ts"] == 0   # the inventory cursor is `ts`
    # wms_co_id omitted = all warehouses together
    (total,) = h.api.inventory_of(["TS001-WHT-M"])
    assert total.qty == 130
    (store,) = h.api.inventory_of(["TS001-WHT-M"], wms_co_id=STORE_WMS)
    assert store.qty == 10
    store_before = h.api.scan_inventory(start_ts=0, wms_co_id=STORE_WMS)
    assert {r.sku_id: r.qty for r in store_before.records} == {"TS001-WHT-M": 10, "JN002-BLU-30": 6}

    answers = h.api.upload_inventory(wms_co_id=STORE_WMS, so_id_prefix="CHK-1",
                                     items=[m.StockItem(sku_id="TS001-WHT-M", qty=7),
                                            m.StockItem(sku_id="JN002-BLU-32", qty=3)])
    assert answers[0]["issuccess"] is True and answers[0]["data"]["data"]["so_id"] == "CHK-1-1"
    levels = {r.sku_id: r.qty for r in h.api.inventory_of(["TS001-WHT-M", "JN002-BLU-32"], wms_co_id=STORE_WMS)}
    assert levels == {"TS001-WHT-M": 7, "JN002-BLU-32": 3}
    # Only the changed rows come back on the next scan from the stored cursor.
    rescan = h.api.scan_inventory(start_ts=scan.next_ts + 1, wms_co_id=MAIN_WMS)
    assert rescan.records == []
    store_scan = h.api.scan_inventory(start_ts=store_before.next_ts + 1, wms_co_id=STORE_WMS)
    assert {r.sku_id for r in store_scan.records} == {"TS001-WHT-M", "JN002-BLU-32"}


def test_inventoryv2_upload_is_cut_into_batches_of_500(make, jst):
    skus = [{"sku_id": f"B{n:04d}", "i_id": "B"} for n in range(1203)]
    jst.seed(skus=skus)
    h = make()
    answers = h.api.upload_inventory(wms_co_id=MAIN_WMS, so_id_prefix="BIG",
                                     items=[m.StockItem(sku_id=s["sku_id"], qty=n) for n, s in enumerate(skus)])
    assert [a["data"]["data"]["so_id"] for a in answers] == ["BIG-1", "BIG-2", "BIG-3"]
    assert [len(b["items"]) for b in h.wire.biz("/open/jushuitan/inventoryv2/upload")] == [500, 500, 203]
    assert {u["so_id"]: u["status"] for u in jst.state.snapshot("inventory_uploads")} == {
        "BIG-1": "Confirmed", "BIG-2": "Confirmed", "BIG-3": "Confirmed"}


# --- S5 / S6 other in/out ------------------------------------------------------------------
def test_other_inout_upload_query_and_scan(h):
    doc = m.OtherInOutUpload(type="out", external_id="RP-0001", wms_co_id=MAIN_WMS, remark="门店补货",
                             receiver_name="静安店", items=[m.OtherInOutItemUpload(sku_id="TS001-WHT-M", qty=5)])
    data = h.api.upload_other_inout(doc)
    io_id = data["data"]["io_id"]
    assert data["data"]["external_id"] == "RP-0001"

    (by_so,) = h.api.query_other_inout(so_ids=["RP-0001"])
    (by_io,) = h.api.query_other_inout(io_ids=[io_id], wms_co_id=MAIN_WMS)
    assert by_so.io_id == by_io.io_id == io_id
    assert (by_so.status, by_so.type, by_so.items[0].sku_id, by_so.items[0].qty) == ("WaitConfirm", "其它出库",
                                                                                     "TS001-WHT-M", 5)
    scan = h.api.scan_other_inout(start_ts=0, wms_co_id=MAIN_WMS)
    assert [d.io_id for d in scan.records] == [io_id]
    h.jst.confirm_other_inout(io_id)                     # the warehouse ships it
    rescan = h.api.scan_other_inout(start_ts=scan.next_ts)
    assert [(d.io_id, d.status) for d in rescan.records] == [(io_id, "Confirmed")]
    (main,) = h.api.inventory_of(["TS001-WHT-M"], wms_co_id=MAIN_WMS)
    assert main.qty == 115

    ret = m.OtherInOutUpload(type="in", external_id="RT-0001", wms_co_id=MAIN_WMS, remark="门店退仓",
                             items=[m.OtherInOutItemUpload(sku_id="JN002-BLU-30", qty=1)])
    io_in = h.api.upload_other_inout(ret)["data"]["io_id"]
    (doc_in,) = h.api.query_other_inout(io_ids=[io_in])
    assert doc_in.type == "其它退货"


# --- S2r after-sales -----------------------------------------------------------------------
def test_aftersale_upload_and_received_query(h):
    h.api.upload_orders([order("P3001", ("TS001-WHT-M", 2))])
    row = m.AfterSaleUpload(shop_id=SHOP, outer_as_id="R3001", so_id="P3001", total_amount=Decimal(99),
                            refund=Decimal(99), wms_co_id=MAIN_WMS,
                            items=[m.AfterSaleItemUpload(sku_id="TS001-WHT-M", qty=1, amount=Decimal(99),
                                                         outer_oi_id="P3001-1")])
    (result,) = h.api.upload_aftersales([row])
    assert result.issuccess and result.outer_as_id == "R3001" and result.as_id
    (again,) = h.api.upload_aftersales([row])
    assert again.issuccess and again.as_id == result.as_id              # same outer_as_id updates

    window = dict(begin=now() - timedelta(hours=1), end=now() + timedelta(minutes=5))
    assert h.api.query_aftersale_received(**window, shop_id=SHOP) == []
    h.jst.receive_aftersale(outer_as_id="R3001", push=False)
    (received,) = h.api.query_aftersale_received(**window, shop_id=SHOP)
    assert (received.as_id, received.outer_as_id, received.so_id, received.status) == (
        result.as_id, "R3001", "P3001", "Confirmed")
    assert received.items[0].sku_id == "TS001-WHT-M" and received.items[0].qty == 1


# --- S7 items ------------------------------------------------------------------------------
def test_sku_and_mall_item_queries(h):
    window = dict(begin=now() - timedelta(days=1), end=now() + timedelta(minutes=5))
    skus = h.api.query_skus(**window)
    assert {s.sku_id for s in skus} == {"TS001-WHT-M", "TS001-WHT-L", "JN002-BLU-30", "JN002-BLU-32"}
    tee = next(s for s in skus if s.sku_id == "TS001-WHT-M")
    assert (tee.i_id, tee.sku_code, tee.sale_price, tee.properties_value) == ("TS001", "6900000000011", 99, "白色;M")
    items = h.api.query_mall_items(**window)
    assert {(i.i_id, len(i.skus)) for i in items} == {("TS001", 2), ("JN002", 2)}
    assert h.api.query_skus(begin=now() - timedelta(days=5), end=now() - timedelta(days=2)) == []


# --- envelope variants the reference leaves open -------------------------------------------
@pytest.mark.parametrize("mode", ["all", "drop_empty", "either"])
def test_the_client_sign_verifies_in_every_sandbox_sign_mode(h, mode):
    h.jst.configure(sign_mode=mode)
    assert h.api.query_shops()[0].shop_id == SHOP
    assert h.api.upload_other_inout(m.OtherInOutUpload(
        type="out", external_id=f"SIGN-{mode}", wms_co_id=MAIN_WMS, remark="签名：中文、符号&=+%",
        items=[m.OtherInOutItemUpload(sku_id="TS001-WHT-M", qty=1)]))["data"]["io_id"]


def test_quantities_as_decimal_strings_are_parsed(h):
    h.jst.configure(numbers_as_strings=True)
    h.jst.add_outbound(so_id="TB-STR", shop_id=SHOP, wms_co_id=STORE_WMS, pay_amount=99.5,
                       items=[{"sku_id": "TS001-WHT-M", "qty": 2}])
    (ob,) = h.api.scan_sales_outbounds(start_ts=0, wms_co_id=STORE_WMS).records
    assert ob.items[0].qty == Decimal(2) and ob.pay_amount == Decimal("99.5")
    assert h.wire.answers("/open/orders/out/simple/query")[0]["data"]["datas"][0]["items"][0]["qty"] == "2.0000"
    (inv,) = h.api.inventory_of(["TS001-WHT-M"], wms_co_id=MAIN_WMS)
    assert (inv.qty, inv.order_lock) == (Decimal(120), Decimal(2))


def test_pulling_spu_reads_what_a_style_query_leaves_out_from_the_sku_master(h):
    """JST's 普通商品查询 returns a style's SKUs without 条形码, labels or custom fields: the JST
    ERP adapter reads them from the SKU master, so only_label and barcodes work in SPU mode."""
    from pathlib import Path

    import yaml

    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml").read_text("utf-8"))
    window = dict(begin=now() - timedelta(days=1), end=now() + timedelta(minutes=5))
    styles = h.api.query_mall_items(**window)
    assert all("labels" not in (sku.model_extra or {}) and not getattr(sku, "sku_code", None)
               for style in styles for sku in style.skus)
    found = {p.sku_id: p for p in JstErp(h.api, parse_tenant(doc)).changed_products(window["begin"], window["end"],
                                                                                     by_style=True)}
    tee = found["TS001-WHT-M"]
    assert (tee.barcode, tee.labels, tee.fields.get("other_1")) == ("6900000000011", ("店加",), "2026")
    assert "/open/sku/query" in h.wire.paths()


def test_a_cod_outbound_is_read_with_its_order_when_only_the_order_says_so(h):
    """JST marks 货到付款 (is_cod) and what was paid online on the order: an outbound without
    them is read with its order (one /open/orders/single/query by o_ids for the page)."""
    from pathlib import Path

    import yaml

    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml").read_text("utf-8"))
    erp = JstErp(h.api, parse_tenant({**doc, "jushuitan": {**doc["jushuitan"], "offline_wms_co_id": STORE_WMS}}))
    cod = h.jst.add_outbound(so_id="TB2001", shop_id=SHOP, wms_co_id=STORE_WMS, pay_amount=299,
                             items=[{"sku_id": "TS001-WHT-M", "qty": 1}], order={"is_cod": True, "paid_amount": 0})
    paid = h.jst.add_outbound(so_id="TB2002", shop_id=SHOP, wms_co_id=STORE_WMS, pay_amount=99,
                              items=[{"sku_id": "TS001-WHT-M", "qty": 1}])
    [page] = list(erp.online_outbound_pages(None))
    found = {ob.outbound_id: ob for ob in page.outbounds}
    assert found[str(cod["io_id"])].cash_on_delivery is True
    assert (found[str(cod["io_id"])].pay_amount, found[str(cod["io_id"])].paid_amount) == ("299", "0")
    assert found[str(paid["io_id"])].cash_on_delivery is False
    assert sorted(h.wire.biz("/open/orders/single/query")[0]["o_ids"]) == sorted([str(cod["o_id"]), str(paid["o_id"])])
    assert erp.find_online_outbound(str(cod["io_id"])).cash_on_delivery is True


def test_the_outbounds_a_poll_acts_on_are_read_with_jsts_status_filter_and_an_outbounds_cursor_is_its_ts(h):
    """S1 reading on past its own confirmations: only the waiting ones (status=WaitConfirm), or the
    voided and cancelled ones (status=Delete, then status=Cancelled: JST's filter takes one status);
    ``cursor_at`` is the outbound's ts as JST has it now."""
    from pathlib import Path

    import yaml

    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml").read_text("utf-8"))
    erp = JstErp(h.api, parse_tenant({**doc, "jushuitan": {**doc["jushuitan"], "offline_wms_co_id": STORE_WMS}}))
    made = {status: h.jst.add_outbound(so_id=f"TB-{status}", shop_id=SHOP, wms_co_id=STORE_WMS, status=status,
                                       items=[{"sku_id": "TS001-WHT-M", "qty": 1}])
            for status in ("WaitConfirm", "Delete", "Cancelled", "Confirmed")}

    def read(only):
        return [(ob.erp_status, page.last) for page in erp.online_outbound_pages("0", only=only) for ob in page.outbounds]

    assert read("waiting") == [("WaitConfirm", True)]
    assert read("cancelled") == [("Delete", False), ("Cancelled", True)]  # the last page is the second scan's
    assert [b.get("status") for b in h.wire.biz("/open/orders/out/simple/query")][-3:] == [
        "WaitConfirm", "Delete", "Cancelled"]
    assert {ob.erp_status for page in erp.online_outbound_pages("0") for ob in page.outbounds} == set(made)
    confirmed = made["Confirmed"]
    assert erp.cursor_at(str(confirmed["io_id"])) == str(h.jst.state.outbounds[confirmed["io_id"]]["ts"])
    assert erp.cursor_at("999999999") is None
