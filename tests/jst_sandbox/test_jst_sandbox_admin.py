"""The /__admin__/ endpoints over HTTP, and the CLI entry point."""

from __future__ import annotations

import subprocess
import sys


from .conftest import Client
from .test_jst_sandbox_endpoints import _order
from .test_jst_sandbox_pushes import Receiver


def test_reset_seed_and_state(jst, client):
    assert client.admin("reset") == {"ok": True}
    assert client.admin("state/shops", method="GET") == []
    assert client.call("/open/shops/query", {})["code"] == 140  # app_key unknown after a reset
    counts = client.admin("seed", {"demo": True, "skus": [{"sku_id": "EXTRA-1", "name": "加购"}],
                                   "inventory": [{"wms_co_id": 10001, "sku_id": "EXTRA-1", "qty": 4}]})
    assert counts["skus"] == 5 and counts["warehouses"] == 2
    state = client.admin("state", method="GET")
    assert {"orders", "outbounds", "confirmed_outbounds", "other_inouts", "inventory_uploads", "aftersales",
            "calls", "pushes", "settings"} <= set(state)
    assert client.ok("/open/inventory/query", {"wms_co_id": 10001, "sku_ids": "EXTRA-1"})["inventorys"][0]["qty"] == 4


def test_outbounds_status_and_calls_log(jst, client):
    ob = client.admin("outbounds", {"so_id": "TB-9", "shop_id": 133242, "wms_co_id": 10001,
                                    "items": [{"sku_id": "TS001-WHT-M", "qty": 1}]})
    client.admin("outbounds/status", {"io_id": ob["io_id"], "status": "Delete"})
    got = client.ok("/open/orders/out/simple/query", {"io_ids": [str(ob["io_id"])]})["datas"][0]
    assert got["status"] == "Delete" and got["ts"] > ob["ts"]
    calls = client.admin("calls?path=/open/orders/out/simple/query", method="GET")
    assert calls[-1]["biz"] == {"io_ids": [str(ob["io_id"])]} and calls[-1]["code"] == 0
    client.admin("calls/clear")
    assert client.admin("calls", method="GET") == []


def test_faults_rate_limit_token_and_clock(jst, client):
    snap = client.admin("faults", {"error_rate": 1.0, "http_fraction": 0.0, "jst_codes": [150], "seed": 1,
                                   "paths": ["/open/sku/query"], "script": [{"kind": "http", "code": 500}]})
    assert snap["config"]["error_rate"] == 1.0 and len(snap["script"]) == 1
    assert client.http.post("/open/shops/query", data=client.form({})).status_code == 500
    assert client.call("/open/sku/query", {"sku_ids": "TS001-WHT-M"})["code"] == 150
    client.admin("faults", {"reset": True})
    assert client.call("/open/sku/query", {"sku_ids": "TS001-WHT-M"})["code"] == 0
    assert client.admin("rate-limit", {"enabled": True, "per_second": 1, "per_minute": 50})["per_second"] == 1
    assert [client.call("/open/shops/query", {})["code"] for _ in range(2)] == [0, 199]
    client.admin("rate-limit", {"enabled": False})
    assert client.admin("token", {"expire": True, "access_token": "demo-access-token"}) == {"expired": 1}
    assert client.call("/open/shops/query", {})["code"] == 100
    issued = client.admin("token", {"app_key": "demo-app-key", "access_token": "demo-access-token"})
    assert issued["access_token"] == "demo-access-token"
    assert client.call("/open/shops/query", {})["code"] == 0
    client.admin("clock", {"advance_seconds": 3600})
    assert client.call("/open/shops/query", {})["code"] == 180  # the client's timestamp is now an hour behind
    client.admin("settings", {"timestamp_tolerance_s": 7200})
    assert client.call("/open/shops/query", {})["code"] == 0


def test_ship_cancel_receive_confirm_and_push_routes(jst, client):
    receiver = Receiver()
    try:
        client.admin("seed", {"settings": {"callback_base_url": receiver.url}})
        client.ok("/open/jushuitan/orders/upload", [_order("A-1"), _order("A-2"), _order("A-3")])
        ship = client.admin("orders/ship", {"so_id": "A-1", "lc_id": "SF", "l_id": "SF-A1", "body": "form"})
        assert ship["push"]["accepted"] is True and ship["order"]["status"] == "Sent"
        cancel = client.admin("orders/cancel", {"so_id": "A-2", "remark": "风控", "drop": True})
        assert cancel["push"]["dropped"] is True and cancel["order"]["status"] == "Cancelled"
        client.ok("/open/aftersale/upload", [{"shop_id": 133242, "outer_as_id": "R-3", "so_id": "A-3",
                                              "type": "普通退货", "shop_status": "WAIT_SELLER_CONFIRM_GOODS",
                                              "good_status": "BUYER_RETURNED_GOODS",
                                              "items": [{"sku_id": "TS001-WHT-M", "qty": 1}]}])
        rec = client.admin("aftersales/receive", {"outer_as_id": "R-3"})
        assert rec["aftersale"]["status"] == "Confirmed" and rec["push"]["accepted"] is True
        io_id = client.ok("/open/jushuitan/otherinout/upload", {"type": "in", "external_id": "WR-1", "wms_co_id": 10000,
                                                                 "remark": "退仓", "items": [{"sku_id": "TS001-WHT-L", "qty": 2}]})["data"]["io_id"]
        assert client.admin("otherinout/confirm", {"io_id": io_id})["status"] == "Confirmed"
        assert client.admin("inventory", {"wms_co_id": 10000, "sku_id": "TS001-WHT-L", "qty": 1, "push": True})["push"]["accepted"]
        assert client.admin("inventory/push", {"wms_co_id": 10001})["accepted"]
        assert client.admin("push", {"kind": "delivery", "payload": {"so_id": "A-1"}, "storage_code": 133242})["accepted"]
        pushes = client.admin("pushes", method="GET")
        assert [p["kind"] for p in pushes] == ["delivery", "cancel", "return_goods", "stock", "stock", "delivery"]
        assert len(receiver.requests) == 5
        assert client.http.post("/__admin__/nope", json={}).status_code == 404
        assert client.http.post("/__admin__/orders/ship", json={"so_id": "missing"}).status_code == 404
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_module_entry_point_serves_the_demo_tenant():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "o2o_local.jst_sandbox", "--port", str(port), "--no-rate-limit"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "JST sandbox on" in proc.stdout.readline()
        c = Client(f"http://127.0.0.1:{port}")
        assert c.ok("/open/shops/query", {})["datas"][0]["shop_id"] == 133242
    finally:
        proc.terminate()
        proc.wait(timeout=5)
