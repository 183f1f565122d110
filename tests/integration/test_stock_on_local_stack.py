"""Stock both ways (#7) on the local stack: the JST sandbox pushes 库存同步 over HTTP to the
real stock_callback; the 店+ sandbox sends signed stock.changed events, coalesced into one
inventoryv2 upload by the retry worker (`o2o local drain`); the nightly run by hand (`o2o stock
nightly`); both sandboxes read back."""

from __future__ import annotations


import pytest

from stack_world import demo_world
from o2o_bridge.cli import main as o2o

pytestmark = pytest.mark.integration
STORE_SKUS = ("SKU-RED-M", "SKU-RED-L", "SKU-BLUE-M", "SKU-BLUE-L")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    def no_coalescing_delay(doc):
        doc["stock"]["coalesce_seconds"] = 0

    with demo_world(tmp_path_factory.mktemp("stock"), adjust_tenant=no_coalescing_delay, jst_callbacks=True) as running:
        running[1].seed(skus=[{"sku_id": s} for s in STORE_SKUS])
        yield running


def jst_qty(jst, wms_co_id, sku):
    return jst.state.inventory.get((wms_co_id, sku), {}).get("qty")


def test_a_jst_stock_push_sets_the_store_systems_warehouse_stock_once(world):
    _, jst, store = world
    pushed = jst.set_stock(10000, "TS001-WHT-M", qty=55, push=True)["push"]
    assert pushed["accepted"], pushed
    again = jst.push_stock(10000, ["TS001-WHT-M"], body="form", auth="token")
    assert again["accepted"], again
    merchant = store.state.merchant("10010")
    assert merchant.warehouse_stock[("10000", "TS001-WHT-M")].qty == 55
    puts = [r for r in store.state.requests if r.get("method") == "PUT" and r.get("path", "").endswith("/stock")]
    assert len(puts) == 1


def test_store_events_become_one_upload_and_the_nightly_run_sends_only_what_changed(world, capsys):
    _, jst, store = world
    uploads = len(jst.state.inventory_uploads)
    for qty in (6, 5):
        assert store.set_store_stock("10010", "S001", [{"sku_id": "TS001-WHT-M", "qty": qty}]).status == 200
    assert store.set_store_stock("10010", "S002", [{"sku_id": "TS001-WHT-M", "qty": 2}]).status == 200
    assert len(jst.state.inventory_uploads) == uploads  # no JST call per event
    assert o2o(["local", "drain", "--now", "--max-seconds", "20"]) == 0
    assert len(jst.state.inventory_uploads) == uploads + 1
    assert jst_qty(jst, 10001, "TS001-WHT-M") == 7

    assert o2o(["stock", "nightly", "--tenant", "10010", "--run-id", "it-night-1"]) == 0
    assert jst_qty(jst, 10001, "SKU-BLUE-M") == 0 + 6  # demo store stock S001 0, S002 6
    store.state.bulk_store_stock("10010", [("S002", "SKU-BLUE-M", 9)])
    capsys.readouterr()
    assert o2o(["stock", "nightly", "--tenant", "10010", "--run-id", "it-night-2"]) == 0
    printed = capsys.readouterr().out
    assert "1 changed" in printed and "1 pushed" in printed
    assert jst_qty(jst, 10001, "SKU-BLUE-M") == 9
    assert o2o(["stock", "show", "SKU-BLUE-M", "--tenant", "10010"]) == 0
    assert "last nightly run pushed SKU-BLUE-M: qty 9" in capsys.readouterr().out
