"""A store's rejection routed again over DynamoDB (moto), where the rejection's writes are one
transaction: the route's decision is kept on the order with the holds it took, and a transaction
refused (a concurrent order took the second store's slot after the read-ahead) writes nothing of
it one at a time; the rejection is then noted alone and the order routed the usual way."""

import pytest

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit, reservations, routing
from o2o_bridge.flows import store_fulfilment as s1
from o2o_bridge.flows.store_fulfilment import rerouting

from .conftest import STOCK, World, s1_tenant
from .s1_fakes import FakeJst, FakeStore

IO = 700041


@pytest.fixture
def world(aws, monkeypatch):
    from fakes import FakeCommandQueue, fake_context
    from o2o_bridge.connectors.aws.dynamodb_state import CursorView, RecordView

    tenant = s1_tenant()
    state = runtime.state_store()
    state.put(tenant)
    built = World(tenant, FakeJst(), FakeStore(stock={k: dict(v) for k, v in STOCK.items()}))
    built.ctx = fake_context(tenant, jst=built.jst, store=built.store, records=RecordView(state),
                             cursors=CursorView(state), links=state, timeline=state, queue=FakeCommandQueue())
    built.state = state
    monkeypatch.setattr(wiring, "context_for", lambda t: built.ctx)
    built.jst.add(IO)
    s1.poll_jst_outbound(built.ctx)
    assert built.store.current(IO)["store_code"] == "S001"
    return built


def holders(world, store_code):
    """Whether the order holds a capacity slot and its line at the store, read from the table."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    fresh = RecordView(world.state)  # not the context's remembered reads
    day = routing.shanghai_day(world.ctx)
    # The store's record: the day's capacity slots and the totals held; the order's hold: its lines.
    store = fresh.get("10010", reservations.RESERVATION_KIND, store_code)
    hold = fresh.get("10010", reservations.HOLD_KIND, reservations.hold_key(store_code, str(IO)))
    return (str(IO) in (store.data.get("slots", {}).get(day, []) if store else []),
            (hold.data["lines"] if hold else {}).get("SKU-RED-M", 0) > 0
            and (store.data.get("held", {}).get("SKU-RED-M", 0) > 0))


def settled(world, store_code):
    order = world.order(IO)
    assert order["status"] == "dispatched" and order["store_code"] == store_code
    assert "routed" not in order  # the route's decision leaves the order with its route
    assert [r["store_code"] for r in order["rejections"]] == ["S001"]
    assert holders(world, "S001") == (False, False) and holders(world, store_code) == (True, True)
    effects = world.ctx.records.list("10010", kit.EFFECT_KIND)
    assert all(e.data["state"] in ("done", "released") for e in effects), [(e.key, e.data) for e in effects]
    assert world.ctx.records.get("10010", s1.ROUTING_KIND, str(IO)) is None


def test_a_rejection_keeps_its_route_on_the_order_not_in_an_effect_record(world):
    event = world.rejected(IO, reason="damaged")
    world.mark(event)
    s1.on_fulfilment_rejected(event, world.ctx)
    s1.on_fulfilment_rejected(event, world.ctx)  # the store sends it again: nothing more
    settled(world, "S003")
    assert world.ctx.records.get("10010", kit.EFFECT_KIND, f"s1.route:{IO}:1") is None
    assert [f["store_code"] for f in world.store.fulfilments.values() if f["external_id"] == str(IO)] == \
        ["S001", "S003"]


def slots_taken_after_the_read_ahead(world, monkeypatch, io_ids_then):
    """Another order changes the chosen store's capacity slots (on the store's record) between the
    reroute's read-ahead and its transaction: ``io_ids_then(io_ids)`` is what the day's slots then
    hold. Returns the stores it happened at."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    decide, taken = routing.route_outbound, []

    def decided_then_taken(ctx, order, **kwargs):
        decision = decide(ctx, order, **kwargs)
        if not taken and decision.store_code:
            taken.append(decision.store_code)
            fresh = RecordView(world.state)
            day = routing.shanghai_day(ctx)
            record = fresh.get("10010", reservations.RESERVATION_KIND, decision.store_code)
            slots = dict(record.data.get("slots", {})) if record else {}
            slots[day] = io_ids_then(slots.get(day))
            data = {"store_code": decision.store_code, "held": {}, **(record.data if record else {}),
                    "slots": slots}
            fresh.put("10010", reservations.RESERVATION_KIND, decision.store_code, data,
                      expected_version=record.version if record else None, ttl_days=3)
        return decision

    monkeypatch.setattr(rerouting.routing, "route_outbound", decided_then_taken)
    return taken


def test_a_refused_transaction_writes_nothing_one_at_a_time_and_the_order_is_routed_again(world, monkeypatch):
    # a concurrent order takes a slot there after the read-ahead
    taken = slots_taken_after_the_read_ahead(world, monkeypatch,
                                             lambda io_ids: [*(io_ids or []), "1"])
    event = world.rejected(IO, reason="damaged")
    world.mark(event)
    s1.on_fulfilment_rejected(event, world.ctx)
    assert taken == ["S003"]
    settled(world, "S003")  # the usual way: the rejection noted, then the dispatch's own route
    assert world.ctx.records.get("10010", kit.EFFECT_KIND, f"s1.route:{IO}:1").data["state"] == "done"
    assert [f["store_code"] for f in world.store.fulfilments.values() if f["external_id"] == str(IO)] == \
        ["S001", "S003"]


def test_a_store_filled_up_after_the_read_ahead_refuses_the_transaction_and_the_order_is_parked(world, monkeypatch):
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    # two orders fill the store's day (capacity 2) meanwhile
    taken = slots_taken_after_the_read_ahead(world, monkeypatch, lambda io_ids: ["1", "2"])
    event = world.rejected(IO, reason="damaged")
    world.mark(event)
    s1.on_fulfilment_rejected(event, world.ctx)
    assert taken == ["S003"]
    # The transaction refused (the slot's version moved), nothing of it is written one at a time: the
    # rejection is noted with the first store's release, and the dispatch finds no store left.
    order = world.order(IO)
    assert order["status"] == "exception" and [r["store_code"] for r in order["rejections"]] == ["S001"]
    assert holders(world, "S001") == (False, False) and holders(world, "S003") == (False, False)
    assert RecordView(world.state).get("10010", s1.ROUTING_KIND, str(IO)) is None


def test_a_shipped_orders_mark_is_folded_in_over_dynamodb(world, monkeypatch):
    """Over DynamoDB: the shipped event marks the store's record with nothing read; folding it in
    deletes the order's hold on its version and takes its lines off the store's totals, the mark
    dropped by the same transaction."""
    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    store_code = world.store.current(IO)["store_code"]
    fresh = RecordView(world.state)
    hold_key = reservations.hold_key(store_code, str(IO))
    lines = fresh.get("10010", reservations.HOLD_KIND, hold_key).data["lines"]
    held_before = dict(fresh.get("10010", reservations.RESERVATION_KIND, store_code).data["held"])
    shipped = world.shipped(IO)
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    marked = RecordView(world.state).get("10010", reservations.RESERVATION_KIND, store_code)
    assert marked.marks == {reservations.let_go_mark(str(IO), lines)}
    assert all(reservations.held(world.ctx, store_code, sku) == held_before[sku] - qty for sku, qty in lines.items())

    monkeypatch.setattr(reservations, "SETTLE_FROM", 1)
    reservations.settle_let_go(world.ctx, {store_code: 1})
    fresh = RecordView(world.state)
    folded = fresh.get("10010", reservations.RESERVATION_KIND, store_code)
    assert folded.marks == frozenset() and fresh.get("10010", reservations.HOLD_KIND, hold_key) is None
    assert {sku: folded.data["held"].get(sku, 0) for sku in lines} == {
        sku: held_before[sku] - qty for sku, qty in lines.items()}
