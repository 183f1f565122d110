"""The order centre (#18) on the local stack: a COD order collected and reconciled, a hold that
keeps a second order from the last unit, a parked order healed by the order-centre round,
members merged (P14 at the 店+ sandbox), and the reports read by DuckDB from the stack's ledger."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest

from stack_world import demo_world
from o2o_bridge.cli import main as o2o
from o2o_bridge.shanghai_time import SHANGHAI

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import httpx

    with demo_world(tmp_path_factory.mktemp("centre")) as (stack, jst, store):
        yield stack, jst, store
        # Every moto server of this process shares one backend: forget this module's tables (its
        # poll cursors would hide the next module's outbounds, whose JST sandbox counts ts anew).
        httpx.post(f"{stack.endpoint_url}/moto-api/reset", timeout=10)


def outbound(jst, io_id, sku, **extra):
    jst.add_outbound(io_id=io_id, so_id=f"OC-{io_id}", wms_co_id=10001, shop_id=10086, labels="",
                     receiver_name="王小姐", receiver_mobile="13800000000", receiver_state="上海市",
                     receiver_city="上海市", receiver_district="静安区", receiver_address="南京西路1号",
                     items=[{"sku_id": sku, "qty": 1, "name": "T恤"}], **extra)


def live(store, io_id):
    merchant = store.state.merchant("10010")
    return [f for f in merchant.fulfilments.values() if f["external_id"] == str(io_id) and f["status"] == "created"]


def poll():
    assert o2o(["invoke", "poll_jst_outbound"]) == 0
    assert o2o(["local", "drain", "--now"]) == 0


def report(name, capsys):
    today = datetime.now(SHANGHAI).date()
    capsys.readouterr()
    assert o2o(["report", name, "--tenant", "10010", "--from", str(today - timedelta(days=1)),
                "--to", str(today + timedelta(days=1)), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_order_centre_end_to_end(world, capsys):
    stack, jst, store = world
    assert os.environ["O2O_LEDGER_DIR"]  # the stack's ledger, where `o2o report` reads

    # 货到付款: the store is told the amount, ships, reports it collected; reconciled.
    outbound(jst, 581001, "SKU-RED-M", is_cod=True, pay_amount="299.00", paid_amount="0")
    poll()
    [fulfilment] = live(store, 581001)
    assert fulfilment["cod"] == {"amount": "299.00"}
    assert store.fulfilment_event(fulfilment["fulfilment_id"], "shipped", ent_id="10010").ok
    poll()  # the next poll confirms it in JST; its ledger fact (with the COD amount) follows
    capsys.readouterr()
    assert o2o(["cod", "list", "--all"]) == 0
    assert "581001  tenant=10010 store=S001 status=collected expected=299.00 collected=299.00" in capsys.readouterr().out
    [cod] = report("cod", capsys)
    assert (cod["io_id"], cod["expected"], cod["collected"], cod["status"]) == ("581001", 299.0, 299.0, "collected")

    # Reservations: S001 has one SKU-BLUE-L; the first order holds it, the second goes elsewhere.
    store.set_store_stock("10010", "S001", [{"sku_id": "SKU-BLUE-L", "qty": 1}], emit=False)
    store.set_store_stock("10010", "S002", [{"sku_id": "SKU-BLUE-L", "qty": 0}], emit=False)
    outbound(jst, 581002, "SKU-BLUE-L")
    outbound(jst, 581003, "SKU-BLUE-L")
    poll()
    assert live(store, 581002)[0]["store_code"] == "S001"
    [second] = live(store, 581003)
    assert second["store_code"] == "S002"  # the fallback store: S001's last unit is held
    capsys.readouterr()
    assert o2o(["route", "simulate", "581003", "--tenant", "10010"]) == 0
    assert "on hand 1, held by other orders 1, needed 1" in capsys.readouterr().out

    # The fallback store rejects it too: parked. The first order ships and S001 gets stock again:
    # the order-centre round (poll_jst_documents) heals it.
    assert store.fulfilment_event(second["fulfilment_id"], "rejected", ent_id="10010", reason="damaged").ok
    assert o2o(["local", "drain", "--now"]) == 0
    assert live(store, 581003) == []
    assert store.fulfilment_event(live(store, 581002)[0]["fulfilment_id"], "shipped", ent_id="10010").ok
    store.set_store_stock("10010", "S001", [{"sku_id": "SKU-BLUE-L", "qty": 1}], emit=False)
    assert o2o(["invoke", "poll_jst_documents"]) == 0
    assert live(store, 581003)[0]["store_code"] == "S001"

    # Members: two store members with one number (and the online buyer of the orders above).
    for member_id, mobile, at in (("M9001", "138 0000 0000", "2026-11-01T10:00:00+08:00"),
                                  ("M9002", "+86 13800000000", "2026-11-02T10:00:00+08:00")):
        assert store.emit("member.updated", {"member_id": member_id, "mobile": mobile, "name": "王小姐",
                                             "store_code": "S001", "updated_at": at}, ent_id="10010").ok
    merged = store.state.merchant("10010").members["M9001"]
    assert merged["merged_from"] == ["M9002"] and merged["mobile"] == "13800000000"
    assert {c["channel"] for c in merged["channels"]} == {"store", "online:10086"}

    poll()  # the next poll confirms the shipments in JST; their ledger facts follow
    # The reports over the ledger the functions wrote.
    [summary] = [r for r in report("store-inout", capsys) if r["doc_no"] == fulfilment["fulfilment_id"]]
    assert summary["qty_out"] == 1
    spending = report("member-spending", capsys)
    assert spending and spending[0]["online_orders"] >= 2
