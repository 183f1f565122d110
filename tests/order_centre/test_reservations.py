"""Store reservations: a dispatched order holds its lines at the store until it leaves it, so
routing and the stock reported to the ERP never give the same last unit twice."""

from __future__ import annotations

import threading

import pytest

from o2o_bridge.flows import reservations, stock_sync
from o2o_bridge.ports import TogetherWrite
from o2o_bridge.flows import store_fulfilment as s1

LAST_UNIT = {"S001": {"SKU-RED-L": 1}, "S002": {}, "S003": {}}


def held(world, store="S001", sku="SKU-RED-L"):
    return reservations.held(world.ctx, store, sku)


def test_a_second_order_does_not_get_the_last_unit_the_first_one_holds(make_world):
    world = make_world(stock=LAST_UNIT)
    world.jst.add(700001, items=[("SKU-RED-L", 1)])
    world.jst.add(700002, items=[("SKU-RED-L", 1)])
    s1.poll_jst_outbound(world.ctx)
    assert world.order(700001)["status"] == "dispatched" and world.order(700001)["store_code"] == "S001"
    assert world.order(700002)["status"] == "exception"
    routed = [e for e in world.ctx.timeline.entries("700002") if e.step == "s1.routed"][0]
    assert routed.detail["dropped"]["S001"] == "stock: SKU-RED-L has 0, needs 1"
    assert held(world) == 1 and reservations.holding(world.ctx) == [
        {"store_code": "S001", "sku_id": "SKU-RED-L", "io_id": "700001", "qty": 1}]


def test_concurrent_dispatches_cannot_both_reserve_the_last_unit(make_world):
    world = make_world(stock=LAST_UNIT)
    for io_id in (700001, 700002, 700003):
        world.jst.add(io_id, items=[("SKU-RED-L", 1)])
    gate = threading.Barrier(3)
    # Each dispatch read the store's stock (1) before any of them reserved.
    original = world.store.store_stock

    def read_then_wait(store_code, sku_ids):
        answer = original(store_code, sku_ids)
        try:
            gate.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        return answer

    world.store.store_stock = read_then_wait
    world.jst.page_size = 1

    def dispatch(io_id):
        world.ctx.records.put(world.ctx.ent_id, s1.ORDER_KIND, str(io_id), {
            "io_id": str(io_id), "o_id": "", "so_id": f"SO{io_id}", "shop_id": 1, "delivery": "express",
            "status": "routing", "route_no": 0, "receiver": {"name": "王", "mobile": "13800000000", "province": "上海市",
                                                             "city": "上海市", "district": "静安区", "address": "1号"},
            "items": [{"sku_id": "SKU-RED-L", "qty": 1, "name": "T"}], "rejections": []})
        s1.dispatch(world.ctx, {"io_id": str(io_id), "route_no": 0})

    threads = [threading.Thread(target=dispatch, args=(io_id,)) for io_id in (700001, 700002, 700003)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    world.drain()
    statuses = sorted(world.order(io_id)["status"] for io_id in (700001, 700002, 700003))
    assert statuses == ["dispatched", "exception", "exception"]
    assert held(world) == 1


def test_the_hold_goes_when_the_order_ships_is_rejected_or_cancelled_and_only_once(make_world):
    world = make_world(stock={"S001": {"SKU-RED-L": 5}, "S002": {}, "S003": {"SKU-RED-L": 5}})
    for io_id in (700001, 700002, 700003):
        world.jst.add(io_id, items=[("SKU-RED-L", 2)])
    s1.poll_jst_outbound(world.ctx)
    assert held(world) == 4 and held(world, "S003") == 2  # S001 had 5: the third order went on to S003

    shipped = world.shipped(700001)
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    assert held(world) == 2  # at the store event, before the next poll confirms it in JST

    rejected = world.rejected(700002)
    world.mark(rejected)
    s1.on_fulfilment_rejected(rejected, world.ctx)
    assert held(world) == 0
    assert world.order(700002)["store_code"] == "S003" and held(world, "S003") == 4

    s1.cancel_outbound(world.ctx, "700003", jst_status="Cancelled")
    assert held(world, "S003") == 2
    assert reservations.release(world.ctx, "S003", "700003") == 0


def test_the_stock_reported_for_the_offline_warehouse_is_store_stock_minus_what_is_held(make_world):
    world = make_world(stock={"S001": {"SKU-RED-L": 5}, "S002": {"SKU-RED-L": 0}, "S003": {"SKU-RED-L": 0}})
    world.jst.add(700001, items=[("SKU-RED-L", 2)])
    s1.poll_jst_outbound(world.ctx)
    for store, qty in (("S001", 5), ("S002", 0), ("S003", 0)):
        world.ctx.records.put(world.ctx.ent_id, stock_sync.STORE_LEVEL, f"SKU-RED-L|{store}", {"qty": qty, "version": 1})
    assert stock_sync.offline_quantities(world.ctx, ["SKU-RED-L"]) == {"SKU-RED-L": 3}


def test_a_shipped_orders_hold_goes_with_nothing_read_and_the_next_hold_folds_it_in(make_world):
    """The store event's "done" marks the store's record let go, with the order's lines, instead of
    reading it: the order holds nothing from then on, a writer that read the record before is
    refused (the version rose), and the next hold there deletes the order's hold and takes its lines
    off the store's totals, in the write it makes anyway."""
    world = make_world(stock={"S001": {"SKU-RED-L": 3}, "S002": {}, "S003": {}})
    world.jst.add(700001, items=[("SKU-RED-L", 2)])
    s1.poll_jst_outbound(world.ctx)
    key = ("10010", reservations.RESERVATION_KIND, "S001")  # one record per store
    hold_700001 = ("10010", reservations.HOLD_KIND, "S001/700001")
    before = world.ctx.records.get(*key)
    assert before.data["held"] == {"SKU-RED-L": 2} and world.ctx.records.get(*hold_700001).data["lines"] == {
        "SKU-RED-L": 2}

    shipped = world.shipped(700001)
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    record = world.ctx.records.get(*key)
    assert record.data["held"] == {"SKU-RED-L": 2}
    assert record.marks == {reservations.let_go_mark("700001", {"SKU-RED-L": 2})}
    assert held(world) == 0 and reservations.holding(world.ctx) == []
    assert reservations.by_sku_and_store(world.ctx) == {}
    assert world.ctx.records.put(*key, {**before.data, "held": {"SKU-RED-L": 9}},
                                 expected_version=before.version) is None

    world.jst.add(700002, items=[("SKU-RED-L", 3)])  # all 3 units: free again
    s1.poll_jst_outbound(world.ctx)
    assert world.order(700002)["store_code"] == "S001"
    record = world.ctx.records.get(*key)
    assert record.data["held"] == {"SKU-RED-L": 3} and record.marks == frozenset()
    assert world.ctx.records.get(*hold_700001) is None
    assert reservations.release(world.ctx, "S001", "700001") == 0
    assert reservations.holding(world.ctx) == [{"store_code": "S001", "sku_id": "SKU-RED-L", "io_id": "700002",
                                                "qty": 3}]


def test_a_store_that_only_ships_has_its_marks_folded_in_by_the_confirmation_poll(make_world, monkeypatch):
    """Orders shipped at a store that takes no new hold leave a mark each on its record: the poll that
    confirms many of them (``SETTLE_FROM``) folds them in, so the record does not grow with what the
    store ships."""
    monkeypatch.setattr(reservations, "SETTLE_FROM", 2)
    world = make_world(stock={"S001": {"SKU-RED-L": 5}, "S002": {}, "S003": {}})
    for io_id in (700001, 700002, 700003):
        world.jst.add(io_id, items=[("SKU-RED-L", 1)])
    s1.poll_jst_outbound(world.ctx)
    for io_id in (700001, 700002):
        shipped = world.shipped(io_id)
        world.mark(shipped)
        s1.on_fulfilment_shipped(shipped, world.ctx)
    record = world.ctx.records.get("10010", reservations.RESERVATION_KIND, "S001")
    assert len(record.marks) == 2 and held(world) == 1

    s1.poll_jst_outbound(world.ctx)  # confirms both in JST and folds their marks in
    record = world.ctx.records.get("10010", reservations.RESERVATION_KIND, "S001")
    assert record.marks == frozenset() and record.data["held"] == {"SKU-RED-L": 1} and held(world) == 1
    assert [h.key for h in world.ctx.records.list("10010", reservations.HOLD_KIND)] == ["S001/700003"]


def test_a_shipped_event_for_an_order_let_go_before_takes_nothing_off_twice(make_world):
    """A store that ships an order cancelled (its hold let go) before: the mark finds no hold when
    folded in, so the other orders' holds stay as they are."""
    world = make_world(stock={"S001": {"SKU-RED-L": 5}, "S002": {}, "S003": {}})
    world.jst.add(700001, items=[("SKU-RED-L", 2)])
    world.jst.add(700002, items=[("SKU-RED-L", 1)])
    s1.poll_jst_outbound(world.ctx)
    assert reservations.release(world.ctx, "S001", "700001") == 1 and held(world) == 1
    reservations.release_unread(world.ctx, "S001", "700001", [{"sku_id": "SKU-RED-L", "qty": 2}])
    reservations.settle_let_go(world.ctx, {"S001": reservations.SETTLE_FROM})
    record = world.ctx.records.get("10010", reservations.RESERVATION_KIND, "S001")
    assert record.marks == frozenset() and record.data["held"] == {"SKU-RED-L": 1} and held(world) == 1


def test_a_record_listing_every_held_order_is_read_released_from_and_upgraded(make_world, monkeypatch):
    """The layout before holds of their own: one record per store listing its orders' lines, marked
    ``let_go:<io_id>`` by a shipped event. Its orders count as held, a release finds them there, a
    hold moves its order out, and the upgrade moves the rest into holds of their own (one order a
    transaction here: ``MOVE_AT_ONCE``)."""
    monkeypatch.setattr(reservations, "MOVE_AT_ONCE", 1)
    world = make_world(stock={"S001": {"SKU-RED-L": 9}, "S002": {}, "S003": {}})
    records = world.ctx.records
    records.put("10010", reservations.RESERVATION_KIND, "S001", {"store_code": "S001", "orders": {
        "1": {"SKU-RED-L": 1}, "2": {"SKU-RED-L": 2}, "3": {"SKU-RED-L": 3}, "4": {"SKU-RED-M": 3},
        "5": {"SKU-RED-M": 1}}})
    records.write_together("10010", [TogetherWrite(reservations.RESERVATION_KIND, "S001", {},
                                                 add_marks=("let_go:3",))])
    assert held(world) == 3 and held(world, sku="SKU-RED-M") == 4
    assert reservations.release(world.ctx, "S001", "1") == 1 and held(world) == 2
    assert reservations.reserve(world.ctx, "S001", "2", [{"sku_id": "SKU-RED-L", "qty": 2}], on_hand={"SKU-RED-L": 2})
    assert held(world) == 2 and records.get("10010", reservations.HOLD_KIND, "S001/2").data["lines"] == {"SKU-RED-L": 2}
    assert s1.upgrade_reservations(world.ctx, dry_run=True)["listed_moved"] == 2
    assert records.get("10010", reservations.RESERVATION_KIND, "S001").data["orders"].keys() == {"4", "5"}
    summary = s1.upgrade_reservations(world.ctx)
    assert summary["listed_moved"] == 2
    record = records.get("10010", reservations.RESERVATION_KIND, "S001")
    assert "orders" not in record.data and record.marks == frozenset()
    assert record.data["held"] == {"SKU-RED-L": 2, "SKU-RED-M": 4} and held(world) == 2
    assert [row["io_id"] for row in reservations.holding(world.ctx)] == ["2", "4", "5"]
    assert s1.upgrade_reservations(world.ctx)["listed_moved"] == 0


def _to_old_layout(world, store, orders_by_sku):
    """The table as a version before one record per store left it: one record per SKU and store."""
    from o2o_bridge.flows import routing

    records = world.ctx.records
    current = records.get("10010", reservations.RESERVATION_KIND, store)
    if current is not None:  # its capacity slots were a record per store and day
        for day, io_ids in current.data.get("slots", {}).items():
            records.put("10010", routing.OLD_CAPACITY_KIND, f"{store}:{day}", {"io_ids": io_ids})
        records.delete("10010", reservations.RESERVATION_KIND, store)
    for hold in records.list("10010", reservations.HOLD_KIND, prefix=f"{store}/"):
        records.delete("10010", reservations.HOLD_KIND, hold.key)
    for sku, orders in orders_by_sku.items():
        records.put("10010", reservations.RESERVATION_KIND, f"{sku}|{store}",
                    {"store_code": store, "sku_id": sku, "orders": orders})


def test_the_upgrade_moves_the_holds_still_live_into_the_stores_record_and_no_other(make_world):
    """Holds stored one per SKU (before one record per store) move to the store's record, once,
    only for orders still at that store: one shipped since (let go by the new code, which found
    nothing to release) does not come back. The nightly run counts the old records until then."""
    from o2o_bridge.flows import routing

    world = make_world(stock={"S001": {"SKU-RED-L": 5, "SKU-RED-M": 5}, "S002": {}, "S003": {}})
    world.jst.add(700001, items=[("SKU-RED-L", 2), ("SKU-RED-M", 1)])
    world.jst.add(700002, items=[("SKU-RED-L", 1)])
    s1.poll_jst_outbound(world.ctx)
    assert {world.order(io)["store_code"] for io in (700001, 700002)} == {"S001"}
    _to_old_layout(world, "S001", {"SKU-RED-L": {"700001": 2, "700002": 1}, "SKU-RED-M": {"700001": 1}})
    world.ctx.records.put("10010", routing.OLD_UNAVAILABLE_KIND, "S002:SKU-RED-L",
                          {"day": routing.shanghai_day(world.ctx), "io_id": "700009"})
    assert held(world) == 0  # routing does not read the old layout ...
    assert reservations.by_sku_and_store(world.ctx) == {("SKU-RED-L", "S001"): 3, ("SKU-RED-M", "S001"): 1}

    shipped = world.shipped(700002)  # ... and the new code's release finds nothing to let go there
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)

    assert s1.upgrade_reservations(world.ctx, dry_run=True)["moved"] == 2
    assert world.ctx.records.get("10010", reservations.RESERVATION_KIND, "SKU-RED-L|S001") is not None
    day = routing.shanghai_day(world.ctx)
    slots = world.ctx.records.get("10010", routing.OLD_CAPACITY_KIND, f"S001:{day}")
    summary = s1.upgrade_reservations(world.ctx)
    assert summary == {"old_records": 2, "moved": 2, "dropped": 1, "deleted": 2, "stores": 1, "listed_moved": 0,
                       "old_marks": 1,
                       "marks_moved": 1, "old_slots": int(bool(slots)),
                       "slots_moved": len(slots.data["io_ids"]) if slots else 0}
    assert routing.capacity_used(world.ctx, "S001", day) == (slots.data["io_ids"] if slots else [])
    assert world.ctx.records.list("10010", routing.OLD_CAPACITY_KIND) == []
    assert reservations.holding(world.ctx) == [
        {"store_code": "S001", "sku_id": "SKU-RED-L", "io_id": "700001", "qty": 2},
        {"store_code": "S001", "sku_id": "SKU-RED-M", "io_id": "700001", "qty": 1}]
    assert held(world) == 2 and held(world, sku="SKU-RED-M") == 1
    assert reservations.by_sku_and_store(world.ctx) == {("SKU-RED-L", "S001"): 2, ("SKU-RED-M", "S001"): 1}
    assert routing.unavailable_skus(world.ctx, "S002", ["SKU-RED-L", "SKU-RED-M"]) == ["SKU-RED-L"]
    assert world.ctx.records.list("10010", routing.OLD_UNAVAILABLE_KIND) == []
    assert s1.upgrade_reservations(world.ctx) == {"old_records": 0, "moved": 0, "dropped": 0, "deleted": 0,
                                                  "stores": 0, "listed_moved": 0, "old_marks": 0, "marks_moved": 0, "old_slots": 0,
                                                  "slots_moved": 0}

    shipped = world.shipped(700001)  # the moved hold goes like any
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    assert held(world) == 0 and reservations.by_sku_and_store(world.ctx) == {}


def test_the_upgrade_keeps_the_capacity_slots_already_on_the_stores_record(make_world):
    from o2o_bridge.flows import routing

    world = make_world(stock={"S001": {"SKU-RED-L": 5}, "S002": {}, "S003": {}})
    world.jst.add(700001, items=[("SKU-RED-L", 2)])
    s1.poll_jst_outbound(world.ctx)
    day = routing.shanghai_day(world.ctx)
    world.ctx.records.put("10010", reservations.RESERVATION_KIND, "SKU-RED-L|S001",
                          {"store_code": "S001", "sku_id": "SKU-RED-L", "orders": {"700001": 2}})
    world.ctx.records.delete("10010", reservations.HOLD_KIND, "S001/700001")  # held the old way, not this
    world.ctx.records.put("10010", reservations.RESERVATION_KIND, "S001",  # dispatched after the deploy
                          {"store_code": "S001", "held": {}, "slots": {day: ["700001", "700002"]}},
                          expected_version=world.ctx.records.get("10010", reservations.RESERVATION_KIND,
                                                                 "S001").version)
    s1.upgrade_reservations(world.ctx)
    assert routing.capacity_used(world.ctx, "S001", day) == ["700001", "700002"] and held(world) == 2


def test_an_upgrade_cut_short_after_the_stores_record_is_written_finishes_on_the_next_run(make_world):
    world = make_world(stock={"S001": {"SKU-RED-L": 5}, "S002": {}, "S003": {}})
    world.jst.add(700001, items=[("SKU-RED-L", 2)])
    s1.poll_jst_outbound(world.ctx)
    _to_old_layout(world, "S001", {"SKU-RED-L": {"700001": 2}})
    records = world.ctx.records
    deleting = records.delete

    def crash(*args, **kwargs):
        raise RuntimeError("crash before the old record is deleted")

    records.delete = crash
    try:
        with pytest.raises(RuntimeError, match="crash before the old record is deleted"):
            s1.upgrade_reservations(world.ctx)
    finally:
        records.delete = deleting
    assert held(world) == 2
    summary = s1.upgrade_reservations(world.ctx)  # the order is there already: kept, not doubled
    assert (summary["moved"], summary["deleted"]) == (0, 1) and held(world) == 2


def test_a_store_whose_record_is_full_takes_no_further_hold(make_world, monkeypatch):
    """A store's record stays under DynamoDB's item limit: one that would grow past
    ``MAX_RECORD_BYTES`` (a SKU more) takes no further hold there (as if out of stock) and routing
    moves on, nothing written; a hold of a SKU it counts already does not grow it."""
    world = make_world(stock={"S001": {"SKU-RED-L": 9}, "S002": {}, "S003": {}})
    monkeypatch.setattr(reservations, "MAX_RECORD_BYTES", 50)
    assert reservations.reserve(world.ctx, "S001", "700001", [{"sku_id": "SKU-RED-L", "qty": 1}], on_hand=None)
    assert not reservations.reserve(world.ctx, "S001", "700002", [{"sku_id": "SKU-RED-M", "qty": 1}], on_hand=None)
    assert reservations.reserve(world.ctx, "S001", "700003", [{"sku_id": "SKU-RED-L", "qty": 2}], on_hand=None)
    assert world.ctx.records.get("10010", reservations.RESERVATION_KIND, "S001").data["held"] == {"SKU-RED-L": 3}
    assert world.ctx.records.get("10010", reservations.HOLD_KIND, "S001/700002") is None
