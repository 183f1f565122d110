"""`o2o exceptions`: what an operator sees of parked online orders, and re-routing one by hand."""

from o2o_bridge import runtime
from o2o_bridge.connectors.aws.dynamodb_state import RecordView
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

    assert o2o(["exceptions", "reroute", "999999"]) == 1  # not found: failed, not a usage error
    assert "no tenant knows outbound 999999" in capsys.readouterr().err
    assert o2o(["exceptions", "reroute", "510005", "--store", "S999"]) == 2
    assert "S999 is not one of tenant 10010's stores" in capsys.readouterr().err


def test_an_order_stuck_in_routing_is_listed_with_why_and_rerouted_from_the_cli(aws, capsys, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from fakes import FakeCommandQueue, fake_context
    from o2o_bridge.connectors.aws.dynamodb_state import CursorView
    from o2o_bridge import wiring

    from .conftest import STOCK
    from .s1_fakes import FakeJst, FakeStore

    tenant = s1_tenant()
    state = runtime.state_store()
    state.put(tenant)
    store = FakeStore(stock={k: dict(v) for k, v in STOCK.items()})
    # The CLI's context: DynamoDB state (moto), in-memory JST and 店+.
    monkeypatch.setattr(wiring, "context_for", lambda t: fake_context(
        t, jst=FakeJst(), store=store, records=RecordView(state), cursors=CursorView(state), links=state,
        timeline=state, queue=FakeCommandQueue()))
    records = RecordView(state)
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    order = {"io_id": "510007", "o_id": "1510007", "so_id": "SO7", "shop_id": 1, "delivery": "express",
             "status": "routing", "route_no": 0, "rejections": [], "forced_store": None, "store_code": None,
             "fulfilment_id": None, "buyer_message": None,
             "receiver": {"name": "王", "mobile": "138", "province": "上海市", "city": "上海市", "district": "静安区",
                          "address": "1号"},
             "items": [{"sku_id": "SKU-RED-M", "qty": 1, "name": "T恤", "price": None}]}
    records.put("10010", s1.ORDER_KIND, "510007", order)
    records.put("10010", s1.ROUTING_KIND, "510007", {"io_id": "510007", "route_no": 0, "since": long_ago})
    state.record("510007", "10010", "retry.dead_lettered",
                 {"command": "s1.dispatch", "reason": "gave up after 10 attempts; last error: 店+ timeout"},
                 level="error")

    assert o2o(["exceptions", "list"]) == 0
    out = capsys.readouterr().out
    assert "510007  tenant=10010 so_id=SO7 kind=stuck_routing" in out and "dispatch=dead_lettered" in out
    assert "s1.dispatch was dead-lettered: gave up after 10 attempts" in out and "1 open exception(s)" in out

    assert o2o(["exceptions", "reroute", "510007"]) == 0
    assert "outbound 510007 dispatched to store S001" in capsys.readouterr().out
    assert len(store.created) == 1
    assert o2o(["exceptions", "list"]) == 0
    assert "0 open exception(s)" in capsys.readouterr().out
