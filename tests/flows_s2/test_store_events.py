"""The S2 store events through the real pos_events handler (signature, idempotency table,
dispatch) to the flows, with JST and 店+ in memory."""

from __future__ import annotations

import os

import boto3

from pos_events.conftest import request, send

from .conftest import order_requested, return_requested, store_event

OK = (200, {"code": 0, "msg": "ok"})


def body_of(event) -> dict:
    return event.model_dump(mode="json")


def idempotency_items() -> int:
    return boto3.client("dynamodb").scan(TableName=os.environ["IDEMPOTENCY_TABLE"], Select="COUNT")["Count"]


def test_a_warehouse_order_a_cancel_and_a_return_reach_jst_once_each(live_world):
    world = live_world
    order = body_of(order_requested("WMH1"))
    for _ in range(3):
        assert send(request(order)) == OK
    assert send(request({**order, "event_id": order["event_id"] + "-again"})) == OK  # same order, new delivery
    assert world.jst.orders["WMH1"]["uploads"] == 1
    ret = body_of(return_requested("RTH1", "WMH1"))
    assert send(request(ret)) == OK and world.jst.aftersales["RTH1"]["upload"].so_id == "WMH1"
    cancel = body_of(store_event("order.cancelled", {"order_no": "WMH1", "reason": "顾客取消"}))
    assert send(request(cancel)) == OK and world.jst.orders["WMH1"]["status"] == "Cancelled"


def test_an_order_jst_refuses_is_a_422_with_jsts_message_and_not_acknowledged(live_world):
    live_world.jst.unknown_skus.add("TS001-WHT-M")
    before = idempotency_items()
    code, answer = send(request(body_of(order_requested("WMH2"))))
    assert code == 422 and "商品编码TS001-WHT-M不存在" in answer["msg"]
    assert idempotency_items() == before and live_world.ctx.links.links == {}


def test_while_jst_is_down_the_event_is_acknowledged_once_durably_queued(live_world):
    live_world.faults(1.0)
    assert send(request(body_of(order_requested("WMH3")))) == OK
    (queued, _delay), = live_world.queue.queued
    assert queued.command == "s2.upload_order" and queued.payload["order"]["order_no"] == "WMH3"
