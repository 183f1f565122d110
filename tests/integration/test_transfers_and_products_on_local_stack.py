"""S5/S6/S7 end to end (#8): the 店+ sandbox emits signed events over HTTP to the local API,
the bridge talks to the JST sandbox and the 店+ sandbox over HTTP, `o2o` drives the schedules."""

from __future__ import annotations

import pytest

from stack_world import demo_world
from o2o_bridge.cli import main as o2o

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with demo_world(tmp_path_factory.mktemp("s5-s7")) as running:
        yield running


def test_a_replenishment_is_uploaded_once_followed_and_reported_shipped(world, capsys):
    stack, jst, store = world
    data = {"doc_no": "PH-IT-1", "store_code": "S001", "remark": "", "items": [{"sku_id": "TS001-WHT-M", "qty": 3}]}
    for _ in range(3):  # the store system delivers the same event three times
        result = store.emit("transfer.submitted", data, ent_id="10010", event_id="evt-ph-it-1")
        assert result.status == 200, result.body
    assert store.emit("transfer.submitted", data, ent_id="10010").status == 200  # a new event, same document
    (doc,) = [d for d in jst.state.snapshot("other_inouts") if d["so_id"] == "PH-IT-1"]
    assert (doc["type"], doc["wms_co_id"], doc["status"]) == ("其它出库", 10000, "WaitConfirm")

    jst.confirm_other_inout(doc["io_id"])
    assert o2o(["invoke", "poll_jst_documents"]) == 0
    assert o2o(["local", "drain", "--now"]) == 0
    shipped = store.state.snapshot("10010")["merchants"]["10010"]["transfers"]["PH-IT-1"]
    assert shipped["status"] == "shipped" and shipped["jst_io_id"] == str(doc["io_id"])
    assert shipped["shipped_items"] == [{"sku_id": "TS001-WHT-M", "qty": 3}]
    capsys.readouterr()
    assert o2o(["trace", "PH-IT-1"]) == 0
    assert "store.transfer_shipped" in capsys.readouterr().out


def test_the_product_master_is_backfilled_into_the_store(world, capsys):
    stack, jst, store = world
    from datetime import date, timedelta

    since = (date.today() - timedelta(days=10)).isoformat()
    assert o2o(["products", "backfill", "--since", since, "--tenant", "10010"]) == 0
    assert "window 1/" in capsys.readouterr().out
    products = store.state.snapshot("10010")["merchants"]["10010"]["products"]
    item = products["TS001-WHT-M"]
    assert (item["spu_code"], item["color"], item["size"], item["attributes"]) == (
        "TS001", "白色", "M", {"year": "2026", "season": "夏"})
