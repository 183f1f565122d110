"""S2 over HTTP on the local stack: the 店+ sandbox sends signed store events, the JST
sandbox uploads/ships/cancels/receives and pushes to the bridge's callback routes, the
bridge answers both over the real handlers (moto server for the tables and queues)."""

from __future__ import annotations

import boto3
import pytest

from stack_world import demo_world

pytestmark = pytest.mark.integration

RECEIVER = {"name": "李四", "mobile": "13900000000", "province": "上海市", "city": "上海市", "district": "浦东新区",
            "address": "世纪大道 100 号"}


def order(order_no: str, *lines: tuple[str, str, int]) -> dict:
    items = [{"line_no": n, "sku_id": s, "qty": q, "price": "99.00", "amount": f"{99 * q:.2f}"} for n, s, q in lines]
    return {"order_no": order_no, "receiver": RECEIVER, "items": items, "freight": "0.00",
            "pay_amount": f"{sum(99 * q for _, _, q in lines):.2f}", "paid_at": "2026-11-22T10:20:00+08:00"}


@pytest.fixture(scope="module")
def s2(tmp_path_factory):
    with demo_world(tmp_path_factory.mktemp("s2"), jst_callbacks=True) as (stack, jst, store):
        stack.jst, stack.store = jst, store
        yield stack


def merchant(s2):
    return s2.store.state.snapshot("10010")["merchants"]["10010"]


def written(s2) -> int:
    dynamodb = boto3.client("dynamodb", endpoint_url=s2.endpoint_url)
    return sum(dynamodb.scan(TableName=f"o2o-local-{t}", Select="COUNT")["Count"] for t in ("StateTable", "IdempotencyTable"))


def test_an_order_shipped_in_two_parcels_one_push_lost_and_recovered_by_s2x(s2):
    result = s2.store.emit("order.warehouse_requested", order("WM-IT-1", ("1", "TS001-WHT-M", 2), ("2", "TS001-WHT-L", 1)),
                           ent_id="10010")
    assert (result.status, result.body) == (200, {"code": 0, "msg": "ok"})
    (uploaded,) = [o for o in s2.jst.state.snapshot("orders") if o["so_id"] == "WM-IT-1"]
    assert uploaded["shop_id"] == 133242 and uploaded["status"] == "WaitConfirm"

    first = s2.jst.ship_order(so_id="WM-IT-1", lc_id="SF", l_id="SF-IT-1", items=[{"outer_oi_id": "1", "qty": 1}],
                              body="form", auth="token")
    assert first["push"]["accepted"] and first["push"]["response"] == {"code": 0, "msg": "执行成功"}
    for _ in range(3):  # JST repeats it
        assert s2.jst.push("delivery", first["payload"], storage_code=133242)["accepted"]
    shipments = [s for s in merchant(s2)["shipments"] if s["order_no"] == "WM-IT-1"]
    assert [s["tracking_no"] for s in shipments] == ["SF-IT-1"]
    assert merchant(s2)["orders"]["WM-IT-1"]["status"] == "partially_shipped"

    lost = s2.jst.ship_order(so_id="WM-IT-1", lc_id="ZTO", l_id="ZTO-IT-2", drop=True)
    assert lost["push"]["dropped"] and len([s for s in merchant(s2)["shipments"] if s["order_no"] == "WM-IT-1"]) == 1
    try:
        s2.invoke("poll_jst_documents", {})
    except Exception:  # noqa: BLE001 - another scenario's job in the same function may fail; S2x ran first
        pass
    shipments = [s for s in merchant(s2)["shipments"] if s["order_no"] == "WM-IT-1"]
    assert [(s["tracking_no"], s["carrier_code"]) for s in shipments] == [("SF-IT-1", "SF"), ("ZTO-IT-2", "ZTO")]
    assert merchant(s2)["orders"]["WM-IT-1"]["status"] == "shipped"
    assert s2.jst.push("delivery", lost["payload"], storage_code=133242)["accepted"]  # JST's late retry
    assert len([s for s in merchant(s2)["shipments"] if s["order_no"] == "WM-IT-1"]) == 2


def test_an_order_cancelled_by_jst_and_a_return_received(s2):
    assert s2.store.emit("order.warehouse_requested", order("WM-IT-2", ("1", "JN002-BLU-30", 1)), ent_id="10010").status == 200
    cancelled = s2.jst.cancel_order(so_id="WM-IT-2", remark="缺货")  # signed, JSON, the cancel route
    assert cancelled["push"]["accepted"]
    assert merchant(s2)["orders"]["WM-IT-2"]["status"] == "cancelled"

    assert s2.store.emit("order.warehouse_requested", order("WM-IT-3", ("1", "TS001-WHT-M", 1)), ent_id="10010").status == 200
    s2.jst.ship_order(so_id="WM-IT-3", lc_id="SF", l_id="SF-IT-3")
    ret = {"return_no": "RT-IT-3", "order_no": "WM-IT-3", "type": "return",
           "items": [{"line_no": "1", "sku_id": "TS001-WHT-M", "qty": 1, "amount": "99.00"}]}
    assert s2.store.emit("return.requested", ret, ent_id="10010").status == 200
    (after_sale,) = [a for a in s2.jst.state.snapshot("aftersales") if a["outer_as_id"] == "RT-IT-3"]
    assert after_sale["so_id"] == "WM-IT-3"
    received = s2.jst.receive_aftersale(outer_as_id="RT-IT-3", body="form")
    assert received["push"]["accepted"]
    assert s2.jst.push("return_goods", received["payload"], storage_code=133242)["accepted"]  # repeated
    receipts = merchant(s2)["returns"]["RT-IT-3"]["receipts"]
    assert [(r["action"], r["items"]) for r in receipts] == [("confirm", [{"sku_id": "TS001-WHT-M", "qty": 1}])]


def test_forged_and_cross_tenant_pushes_are_refused_with_nothing_written(s2):
    payload = {"so_id": "WM-IT-1", "l_id": "SF-X", "lc_id": "SF", "items": [{"sku_id": "TS001-WHT-M", "qty": 1}]}
    before = written(s2), len(merchant(s2)["shipments"])
    refused = {"code": 401, "msg": "push not authenticated for this callback URL"}
    bad_sign = s2.jst.push("delivery", payload, storage_code=133242, auth="bad_sign")
    other_shop = s2.jst.push("delivery", payload, storage_code=555, auth="token")
    unknown = s2.jst.push("cancel", {"so_id": "WM-IT-1"}, ent_id="99999", storage_code=133242, auth="token")
    # one answer for every stranger: nothing tells them which merchants exist
    for push in (bad_sign, other_shop, unknown):
        assert (push["http_status"], push["response"]) == (401, refused)
    assert (written(s2), len(merchant(s2)["shipments"])) == before


def test_jst_pushes_through_the_urls_o2o_tenant_urls_prints_each_with_its_own_token(s2):
    """As `make demo` does: the URLs `o2o tenant urls --reveal-token` prints, pasted into JST's 消息推送
    fields, authenticate its token pushes by each URL's own token, never the tenant's plain one."""
    from pathlib import Path

    import yaml

    from o2o_bridge.cli.onboarding import callback_urls
    from o2o_bridge.tenant import parse_tenant

    demo = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml").read_text("utf-8"))
    base = s2.jst.state.settings.callback_base_url.rstrip("/") + "/"
    urls = [u.url for u in callback_urls(parse_tenant(demo), base, "demo-callback-token") if u.system == "聚水潭"]
    s2.jst.configure(callback_urls=urls)
    try:
        shipments = len(merchant(s2)["shipments"])
        cancel = s2.jst.push("cancel", {"so_id": "WM-IT-NONE"}, storage_code=133242, auth="token")
        assert (cancel["http_status"], cancel["response"]) == (200, {"code": 0, "msg": "执行成功"})
        assert cancel["query"]["token"] not in ("", "demo-callback-token") and cancel["url"].startswith(base)
        # the 库存同步 push goes to the URL pasted for its warehouse, with that URL's token
        assert s2.jst.push("stock", {"datas": []}, storage_code=10000, auth="token")["query"]["token"] in urls[-1]
        assert len(merchant(s2)["shipments"]) == shipments  # an order JST does not hold: only a re-read
    finally:
        s2.jst.configure(callback_urls=[])
