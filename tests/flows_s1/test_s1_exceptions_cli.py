"""`o2o exceptions`: what an operator sees of parked online orders, and re-routing one by hand."""

from o2o_bridge import runtime
from o2o_bridge.adapters.dynamodb_state import RecordView
from o2o_bridge.cli import main as o2o
from o2o_bridge.flows import store_fulfilment as s1

from .conftest import s1_tenant


def test_parked_orders_are_listed_with_their_reason_and_an_unknown_one_is_refused(aws, capsys):
    tenant = s1_tenant()
    runtime.state_store().put(tenant)
    records = RecordView(runtime.state_store())
    records.put("10010", s1.ORDER_KIND, "510005", {"io_id": "510005", "status": "exception", "route_no": 1})
    records.put("10010", s1.EXCEPTION_KIND, "510005",
                {"io_id": "510005", "so_id": "SO5", "kind": "no_store", "status": "open", "at": "2026-11-30T10:00:00",
                 "reason": "no store is left", "rejected_by": ["S002"],
                 "dropped": {"S001": "region 上海市 does not cover 广东省 广州市"}})
    records.put("10010", s1.EXCEPTION_KIND, "510006", {"io_id": "510006", "kind": "no_store", "status": "resolved",
                                                       "reason": "-"})
    assert o2o(["exceptions", "list"]) == 0
    out = capsys.readouterr().out
    assert "510005  tenant=10010 so_id=SO5 kind=no_store" in out and "rejected_by=S002" in out
    assert "S001: region 上海市 does not cover 广东省 广州市" in out and "510006" not in out
    assert "1 open exception(s)" in out

    assert o2o(["exceptions", "reroute", "999999"]) == 2
    assert "no tenant knows outbound 999999" in capsys.readouterr().err
    assert o2o(["exceptions", "reroute", "510005", "--store", "S999"]) == 2
    assert "S999 is not one of tenant 10010's stores" in capsys.readouterr().err
