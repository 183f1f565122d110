"""S2 on in-memory fakes: store orders to JST, parcels / cancels / return receipts back to
the store exactly once, whatever JST repeats, drops or delays."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from fakes import drain_retries
from o2o_bridge.flows import warehouse_orders as s2
from o2o_bridge.connectors.jushuitan.inbound import JstPush

from .conftest import order_requested, return_requested, store_event

NOW = datetime.now(timezone.utc)


def push(world, body: dict) -> JstPush:
    return JstPush("10010", "133242", {}, body, "", world.tenant, "token")


def deliver(world, body: dict, times: int = 1) -> list:
    """JST pushes 物流同步 ``times`` times: each push makes the bridge re-read the parcel it names."""
    return [s2.recheck_shipments(world.ctx, *push(world, body).named_shipments()) for _ in range(times)]


def jst_cancelled(world, body: dict) -> list:
    """JST pushes 取消订单: the bridge re-reads the order."""
    return s2.recheck_cancels(world.ctx, push(world, body).named_cancels())


def receipt_pushed(world, body: dict) -> list:
    """JST pushes 售后收货: the bridge re-reads the return's receipts."""
    pushed = push(world, body)
    return_nos, order_nos, as_ids = pushed.named_receipts()
    return s2.recheck_receipts(world.ctx, return_nos, order_nos=order_nos, warehouse_return_ids=as_ids,
                               said=pushed.said_receipt())


def concurrently(times: int, action) -> None:
    threads = [threading.Thread(target=action) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def uploaded(world, order_no: str = "WM1001", **kwargs):
    event = order_requested(order_no, **kwargs)
    s2.on_order_warehouse_requested(event, world.ctx)
    return event


# --- S2: upload --------------------------------------------------------------------------------


def test_a_store_order_is_uploaded_paid_to_the_self_mall_shop_and_linked(world):
    uploaded(world)
    order = world.jst.orders["WM1001"]["upload"]
    assert order.shop_id == 133242 and order.so_id == "WM1001" and order.shop_status == "WAIT_SELLER_SEND_GOODS"
    assert [(i.outer_oi_id, i.sku_id, i.qty) for i in order.items] == [("1", "TS001-WHT-M", 2), ("2", "JN002-BLU-30", 1)]
    assert order.pay.amount == order.pay_amount  # JST shows it paid only then
    assert order.order_date == "2026-11-22 10:00:00" and order.receiver_district == "静安区"
    o_id = str(world.jst.orders["WM1001"]["o_id"])
    assert world.ctx.links.find("10010", "store_order", "WM1001", "jst_order").other_key == o_id
    assert world.ctx.links.find("10010", "jst_order", o_id, "store_order").other_key == "WM1001"
    assert "s2.uploaded" in world.steps("WM1001")


def test_the_item_name_the_store_sends_is_what_jst_shows_and_the_sku_code_stands_in_without_one(world):
    event = order_requested("WM1003")
    named = event.model_copy(update={"data": event.data.model_copy(update={"items": [
        event.data.items[0].model_copy(update={"name": "纯棉T恤 白 M"}), event.data.items[1]]})})
    s2.on_order_warehouse_requested(named, world.ctx)
    assert [i.name for i in world.jst.orders["WM1003"]["upload"].items] == ["纯棉T恤 白 M", "JN002-BLU-30"]


def test_the_same_order_event_five_times_concurrently_is_one_upload(world):
    event = order_requested("WM1002")
    concurrently(5, lambda: s2.on_order_warehouse_requested(event, world.ctx))
    drain_retries(world.ctx)
    assert world.jst.calls.count("orders/upload") == 1 and world.jst.orders["WM1002"]["uploads"] == 1


def test_a_row_error_is_refused_with_jsts_message_and_nothing_linked(world):
    world.jst.unknown_skus.add("JN002-BLU-30")
    with pytest.raises(s2.WarehouseRefused, match="商品编码JN002-BLU-30不存在") as refused:
        uploaded(world)
    assert refused.value.status_code == 422
    assert world.ctx.links.links == {} and world.ctx.records.list("10010", "effect") == []


def test_already_exists_after_a_lost_answer_is_success(world):
    uploaded(world, "WM1003")  # JST has it; our record of the effect is lost (say the Lambda died)
    world.ctx.records.items.clear()
    world.ctx.links.links.clear()
    world.jst.existing_answer = "refuse"
    uploaded(world, "WM1003")
    assert world.ctx.links.find("10010", "store_order", "WM1003", "jst_order").other_key == str(world.jst.orders["WM1003"]["o_id"])


def test_the_store_cancelling_cancels_in_jst_once_and_jsts_echo_changes_nothing(world):
    uploaded(world)
    cancel = store_event("order.cancelled", {"order_no": "WM1001", "reason": "顾客不要了"})
    for _ in range(3):
        s2.on_order_cancelled(cancel, world.ctx)
    assert world.jst.calls.count("orderbyoid/cancel") == 1 and world.jst.orders["WM1001"]["status"] == "Cancelled"
    # JST then pushes 取消订单 for it: the store cancelled it itself, so no P4.
    assert jst_cancelled(world, {"so_id": "WM1001", "remark": "店+取消"})[0]["outcome"] == "already_cancelled"
    assert world.store.effects == []


def test_a_cancel_of_an_order_never_sent_to_the_warehouse_is_acknowledged_without_a_call(world):
    s2.on_order_cancelled(store_event("order.cancelled", {"order_no": "POS-ONLY", "reason": "x"}), world.ctx)
    assert world.jst.calls == [] and "s2.cancel_ignored" in world.steps("POS-ONLY")


def test_a_cancel_arriving_while_the_upload_waits_for_its_retry_runs_after_it(world):
    world.faults(1.0)  # JST is down
    uploaded(world, "WM1004")
    s2.on_order_cancelled(store_event("order.cancelled", {"order_no": "WM1004", "reason": "顾客不要了"}), world.ctx)
    assert len(world.queue.queued) == 2
    world.faults(0.0)
    drain_retries(world.ctx)
    assert world.jst.orders["WM1004"]["status"] == "Cancelled" and world.queue.dead == []


def test_jst_refusing_to_cancel_a_shipped_order_says_why(world):
    uploaded(world)
    world.jst.orders["WM1001"]["status"] = "Sent"
    with pytest.raises(s2.WarehouseRefused, match="已发货"):
        s2.on_order_cancelled(store_event("order.cancelled", {"order_no": "WM1001", "reason": "x"}), world.ctx)


# --- S2d: parcels ------------------------------------------------------------------------------


def test_two_partial_parcels_ship_their_own_lines_once_each_even_replayed_5_times(world):
    uploaded(world)
    first = world.jst.ship("WM1001", "SF001", [("1", "TS001-WHT-M", 1)], NOW)
    second = world.jst.ship("WM1001", "SF002", [("1", "TS001-WHT-M", 1), ("2", "JN002-BLU-30", 1)], NOW)
    assert {r[0]["outcome"] for r in deliver(world, first, 5)} == {"shipped", "repeated"}
    concurrently(5, lambda: deliver(world, second))
    drain_retries(world.ctx)
    assert world.store.of("ship") == [
        ("ship", "WM1001", "SF001", "SF", (("TS001-WHT-M", 1),)),
        ("ship", "WM1001", "SF002", "SF", (("JN002-BLU-30", 1), ("TS001-WHT-M", 1))),
    ]
    # A fully shipped order takes no more parcels, but JST is answered "done".
    late = world.jst.ship("WM1001", "SF003", [("2", "JN002-BLU-30", 1)], NOW)
    assert deliver(world, late)[0][0]["outcome"] == "already_shipped"
    assert len(world.store.of("ship")) == 2


def test_the_jst_carrier_is_the_stores_carrier_and_the_send_date_is_shanghai_time(world):
    uploaded(world)
    body = world.jst.ship("WM1001", "ZT9", [("1", "TS001-WHT-M", 2)], NOW, lc_id="ZTO")
    result = deliver(world, {**body, "send_date": "2026-11-22 18:30:00"})[0][0]
    assert result["carrier"] == "ZTO" and world.store.of("ship")[0][3] == "ZTO"


def test_a_carrier_without_mapping_is_dead_lettered_with_the_reason_and_acknowledged(world):
    uploaded(world)
    body = world.jst.ship("WM1001", "YT1", [("1", "TS001-WHT-M", 2)], NOW, lc_id="YTO")
    (result,) = deliver(world, body)[0]
    assert result["outcome"] == "dead_lettered" and "'YTO'" in result["reason"]
    (letter,) = world.queue.dead
    assert letter.envelope.command == "s2.record_shipment" and "logistics mapping" in letter.reason
    assert world.store.effects == []


def test_after_the_mapping_is_fixed_the_replayed_dead_letter_ships_once(world):
    uploaded(world)
    body = world.jst.ship("WM1001", "YT1", [("1", "TS001-WHT-M", 2)], NOW, lc_id="YTO")
    deliver(world, body)
    doc = world.tenant.to_storage()
    doc["logistics"].append({"jst_lc_id": "YTO", "pos_code": "YTO", "name": "圆通速递"})
    world.ctx.tenant = type(world.tenant).model_validate(doc)
    (letter,) = world.queue.dead
    world.queue.enqueue(letter.envelope.replayed(), 0)
    world.queue.enqueue(letter.envelope.replayed(), 0)  # replayed twice by mistake
    drain_retries(world.ctx)
    assert world.store.of("ship") == [("ship", "WM1001", "YT1", "YTO", (("TS001-WHT-M", 2),))]


def test_the_store_refusing_a_parcel_is_dead_lettered_not_retried_forever(world):
    world.store.unknown_orders.add("NOT-AT-STORE")
    body = world.jst.ship("NOT-AT-STORE", "SF1", [("A", "A", 1)], NOW)
    assert deliver(world, body)[0][0]["outcome"] == "dead_lettered"
    assert world.queue.queued == [] and "PosNotFound" in world.queue.dead[0].reason
    # JST's retries of the same push do not fill the DLQ: the operator replays the first one.
    assert deliver(world, body, 3)[-1][0]["outcome"] == "dead_lettered_before" and len(world.queue.dead) == 1


def test_a_merged_orders_parcel_ships_each_store_order_its_lines(world):
    uploaded(world, "WM2001", lines=(("1", "TS001-WHT-M", 1, "99"),))
    uploaded(world, "WM2002", lines=(("1", "TS001-WHT-L", 1, "99"),))
    body = world.jst.ship_merged("WM2001", "SF77", [("WM2001", "1", "TS001-WHT-M", 1), ("WM2002", "1", "TS001-WHT-L", 1)],
                                 NOW)
    deliver(world, body)
    assert [(e[1], e[4]) for e in world.store.of("ship")] == [("WM2001", (("TS001-WHT-M", 1),)),
                                                             ("WM2002", (("TS001-WHT-L", 1),))]


# --- S2c: JST cancelled ------------------------------------------------------------------------


def test_jst_cancelling_cancels_the_store_order_once_even_5_concurrent_pushes(world):
    uploaded(world)
    body = world.jst.cancel_in_jst("WM1001", "缺货")
    concurrently(5, lambda: jst_cancelled(world, body))
    drain_retries(world.ctx)
    assert world.store.of("cancel") == [("cancel", "WM1001", "缺货")]


# --- S2r: returns ------------------------------------------------------------------------------


def test_a_return_is_an_after_sale_in_jst_and_its_receipt_reaches_the_store_once(world):
    uploaded(world)
    for _ in range(3):
        s2.on_return_requested(return_requested(), world.ctx)
    after_sale = world.jst.aftersales["RT1001"]
    assert after_sale["uploads"] == 1 and after_sale["upload"].so_id == "WM1001"
    assert after_sale["upload"].type == "普通退货" and after_sale["upload"].items[0].outer_oi_id == "1"
    received = world.jst.receive("RT1001", NOW)
    concurrently(5, lambda: receipt_pushed(world, received))
    drain_retries(world.ctx)
    assert world.store.of("receipt") == [("receipt", "RT1001", "confirm", (("TS001-WHT-M", 1),))]


def test_receipt_cancelled_then_confirmed_again_is_three_effects_and_replays_none(world):
    uploaded(world)
    s2.on_return_requested(return_requested(), world.ctx)
    confirm = world.jst.receive("RT1001", NOW)
    cancel = {**confirm, "action_name": "取消收货", "items": []}  # ShopeX's model carries no lines
    for body in (confirm, confirm, cancel, cancel, confirm, confirm):
        if body is not confirm or world.jst.received[-1].status != "Confirmed":
            # JST takes the receipt back, or receives it again, then pushes.
            world.jst.receive("RT1001", NOW, status="Confirmed" if body is confirm else "Cancelled")
        receipt_pushed(world, body)
    assert [e[2] for e in world.store.of("receipt")] == ["confirm", "cancel", "confirm"]


def test_a_repeated_push_of_each_kind_is_known_before_jst_is_read_again(world):
    """The document a push names is claimed before the re-read, refused by the mark of what the
    push says: a repeat reads nothing from JST and changes nothing."""
    uploaded(world)
    s2.on_return_requested(return_requested(), world.ctx)
    parcel = world.jst.ship("WM1001", "SF001", [("1", "TS001-WHT-M", 2)], NOW)
    received = world.jst.receive("RT1001", NOW)
    assert deliver(world, parcel)[0][0]["outcome"] == "shipped"
    assert receipt_pushed(world, received)[0]["outcome"] == "received"
    read = len(world.jst.calls)
    assert deliver(world, parcel)[0] == [{"outcome": "repeated"}]
    assert receipt_pushed(world, received) == [{"outcome": "repeated"}]
    assert len(world.jst.calls) == read
    cancelled = world.jst.cancel_in_jst("WM1001", "缺货")
    assert jst_cancelled(world, cancelled)[0]["outcome"] == "cancelled"
    read = len(world.jst.calls)
    assert jst_cancelled(world, cancelled) == [{"outcome": "repeated"}] and len(world.jst.calls) == read
    assert [e[0] for e in world.store.effects] == ["ship", "receipt", "cancel"]
    # What the store was told is on the documents' timelines (kept with their ledgers in DynamoDB).
    assert {"s2.shipped", "s2.cancelled_at_store"} <= set(world.ctx.timeline.steps("WM1001"))
    assert "s2.return_received" in world.ctx.timeline.steps("RT1001")


def test_a_push_that_names_a_parcel_jst_does_not_hold_leaves_no_claim_behind(world):
    uploaded(world)
    forged = {**world.jst.ship("WM1001", "SF001", [("1", "TS001-WHT-M", 2)], NOW), "l_id": "FAKE1"}
    assert deliver(world, forged)[0] == []
    ledger = world.ctx.records.get(world.ctx.ent_id, "s2.order", "WM1001")
    assert ledger.data["lines"] and world.ctx.records.claims == {}
    assert world.store.effects == []


# --- S2x: missed pushes ------------------------------------------------------------------------


def test_a_dropped_parcel_push_is_recovered_and_the_late_push_changes_nothing(world):
    uploaded(world)
    first = world.jst.ship("WM1001", "SF001", [("1", "TS001-WHT-M", 1)], NOW - timedelta(minutes=10))
    deliver(world, first)
    dropped = world.jst.ship("WM1001", "SF002", [("1", "TS001-WHT-M", 1), ("2", "JN002-BLU-30", 1)],
                             NOW - timedelta(minutes=5))
    summary = s2.recover_missed_pushes(world.ctx)
    assert summary["shipments"]["rows"] == 2
    assert summary["shipments"]["repeated"] == 1 and summary["shipments"]["shipped"] == 1
    assert [e[2] for e in world.store.of("ship")] == ["SF001", "SF002"]
    assert deliver(world, dropped)[0][0]["outcome"] == "repeated"  # JST's late retry
    again = s2.recover_missed_pushes(world.ctx)  # the next run overlaps the last window
    assert again["shipments"].get("shipped", 0) == 0 and len(world.store.of("ship")) == 2


def test_a_rerun_after_a_crash_that_sends_jsts_other_time_is_not_a_second_shipment(world):
    uploaded(world)
    body = world.jst.ship("WM1001", "SF001", [("1", "TS001-WHT-M", 2), ("2", "JN002-BLU-30", 1)], NOW)
    deliver(world, {**body, "send_date": None})  # the push had no send_date: shipped_at = when it came
    for effect in world.ctx.records.list("10010", "effect"):  # the Lambda died before its "done" write
        world.ctx.records.delete("10010", "effect", effect.key)
    world.ctx.records.delete("10010", "s2.order", "WM1001")
    uploaded(world)  # (the ledger is rebuilt by the order's own replay)
    summary = s2.recover_missed_pushes(world.ctx)["shipments"]  # the poll's row carries JST's send_date
    assert summary.get("shipped") == 1 and world.queue.dead == [] and len(world.store.of("ship")) == 1


def test_the_poll_window_overlaps_the_last_one_and_starts_a_day_back(world):
    first = s2.recover_missed_pushes(world.ctx)["shipments"]["window"]
    start = datetime.fromisoformat(first[0])
    assert timedelta(days=1) < datetime.fromisoformat(first[1]) - start <= timedelta(days=1, minutes=31)
    second = s2.recover_missed_pushes(world.ctx)["shipments"]["window"]
    assert datetime.fromisoformat(second[0]) == datetime.fromisoformat(first[1]) - s2.OVERLAP


def test_parcels_of_orders_the_bridge_never_uploaded_are_left_alone(world):
    world.jst.orders["OTHER"] = {"o_id": 1, "status": "WaitConfirm"}
    world.jst.ship("OTHER", "SF9", [("1", "X", 1)], NOW)
    assert s2.recover_missed_pushes(world.ctx)["shipments"]["not_ours"] == 1 and world.store.effects == []


def test_a_dropped_receipt_push_is_recovered_once(world):
    uploaded(world)
    s2.on_return_requested(return_requested(), world.ctx)
    world.jst.receive("RT1001", NOW - timedelta(minutes=3))
    assert s2.recover_missed_pushes(world.ctx)["return_receipts"]["received"] == 1
    s2.recover_missed_pushes(world.ctx)
    receipt_pushed(world, {"outer_as_id": "RT1001", "so_id": "WM1001", "action_name": "确认收货"})
    assert len(world.store.of("receipt")) == 1


def test_a_scan_out_of_time_stops_without_moving_its_cursor(world):
    uploaded(world)
    world.jst.ship("WM1001", "SF001", [("1", "TS001-WHT-M", 1)], NOW)
    world.ctx.time_left = lambda: 5.0
    assert s2.recover_missed_pushes(world.ctx)["shipments"]["stopped_early"] == 1
    assert world.ctx.cursors.get("10010", s2.LOGISTICS_CURSOR) is None and world.store.effects == []


# --- 30 % faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_30_percent_transient_faults_converge_to_one_effect_each(monkeypatch, seed):
    from .conftest import World

    world = World(monkeypatch, rate=0.3, seed=seed)
    shipped, cancelled, returned = [f"F{n}" for n in range(1, 9)], ["C1", "C2", "C3"], [f"F{n}" for n in range(1, 5)]
    for order_no in shipped + cancelled + ["S1"]:
        uploaded(world, order_no)
    drain_retries(world.ctx)
    world.faults(0.0)  # the warehouse's own actions are not under test
    parcels = [world.jst.ship(so, f"{so}-A", [("1", "TS001-WHT-M", 1)], NOW) for so in shipped]
    parcels += [world.jst.ship(so, f"{so}-B", [("1", "TS001-WHT-M", 1), ("2", "JN002-BLU-30", 1)], NOW)
                for so in shipped]
    world.faults(0.3)
    for body in parcels * 2:
        deliver(world, body)
    for _ in range(2):
        for so in cancelled:
            with world.jst.lock:
                world.jst.orders[so].update(status="Cancelled", cancel_remark="缺货")  # JST cancelled it
            jst_cancelled(world, {"so_id": so, "remark": "缺货"})
        s2.on_order_cancelled(store_event("order.cancelled", {"order_no": "S1", "reason": "x"}), world.ctx)
        for so in returned:
            s2.on_return_requested(return_requested(f"R{so}", so), world.ctx)
    drain_retries(world.ctx)
    world.faults(0.0)
    receipts = [world.jst.receive(f"R{so}", NOW) for so in returned]
    world.faults(0.3)
    for _ in range(2):
        for body in receipts:
            receipt_pushed(world, body)
        try:
            s2.recover_missed_pushes(world.ctx)
        except Exception:  # a failed poll run is retried by the next schedule
            pass
    drain_retries(world.ctx)
    assert world.jst.faults.injected + world.store.faults.injected >= 10
    assert world.queue.dead == []
    assert sorted(e[2] for e in world.store.of("ship")) == sorted(f"{so}-{p}" for so in shipped for p in "AB")
    assert sorted(e[1] for e in world.store.of("cancel")) == cancelled
    assert sorted(e[1] for e in world.store.of("receipt")) == [f"R{so}" for so in returned]
    # A re-upload after a lost answer is JST's update of the same so_id: still one order each.
    assert {so: world.ctx.links.find("10010", "store_order", so, "jst_order").other_key for so in world.jst.orders} \
        == {so: str(o["o_id"]) for so, o in world.jst.orders.items()}
    assert world.jst.orders["S1"]["status"] == "Cancelled" and len(world.jst.aftersales) == len(returned)


# --- S2x: a poisoned row --------------------------------------------------------------------------


def test_a_parcel_that_fails_unexpectedly_is_parked_and_the_parcels_behind_it_ship(world, monkeypatch):
    for order_no in ("WM1001", "WM1002", "WM1003"):
        uploaded(world, order_no)
    for order_no, l_id in (("WM1001", "SF001"), ("WM1002", "SF-BAD"), ("WM1003", "SF003")):
        world.jst.ship(order_no, l_id, [("1", "TS001-WHT-M", 1)], NOW - timedelta(minutes=5))
    real = world.store.ship_order

    def ship_order(order_no, shipment, **kwargs):
        if order_no == "WM1002":
            raise KeyError("tracking")  # a bug, not a refusal: no error class says what to do
        return real(order_no, shipment, **kwargs)

    monkeypatch.setattr(world.store, "ship_order", ship_order)
    summary = s2.recover_missed_pushes(world.ctx)["shipments"]
    assert summary["shipped"] == 2 and summary["parked"] == 1
    assert [e[1] for e in world.store.of("ship")] == ["WM1001", "WM1003"]
    assert world.ctx.cursors.get("10010", s2.LOGISTICS_CURSOR) is not None  # moved past it
    [letter] = world.queue.dead
    assert letter.envelope.command == "s2.record_shipment" and letter.envelope.payload["so_id"] == "WM1002"
    assert "KeyError" in letter.reason

    monkeypatch.setattr(world.store, "ship_order", real)  # fixed; the operator replays the letter
    world.queue.queued.append((letter.envelope.replayed(), 0))
    drain_retries(world.ctx)
    assert sorted(e[1] for e in world.store.of("ship")) == ["WM1001", "WM1002", "WM1003"]
