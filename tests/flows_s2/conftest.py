"""A demo tenant, store events and a flow context over in-memory fakes for the S2 flows."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from fakes import FakeCommandQueue, fake_context  # tests/fakes.py
from o2o_bridge.events.models import parse_event
from o2o_bridge import wiring
from o2o_bridge.flows import kit
from o2o_bridge.tenant import parse_tenant

from .fakes import FakeJst, FakeStore, Faults

DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"


def demo_tenant(**changes: Any):
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    doc.update(changes)
    return parse_tenant(doc)


def store_event(event_type: str, data: dict[str, Any]):
    return parse_event({"event_id": f"evt-{uuid.uuid4().hex[:10]}", "ent_id": "10010", "type": event_type,
                        "occurred_at": datetime.now(timezone.utc).isoformat(), "data": data})


def order_requested(order_no: str = "WM1001", lines=(("1", "TS001-WHT-M", 2, "99.00"), ("2", "JN002-BLU-30", 1, "299.00"))):
    items = [{"line_no": n, "sku_id": s, "qty": q, "price": p, "amount": str(q * float(p))} for n, s, q, p in lines]
    total = sum(float(i["amount"]) for i in items)
    return store_event("order.warehouse_requested", {
        "order_no": order_no, "receiver": {"name": "张三", "mobile": "13800000000", "province": "上海市", "city": "上海市",
                                           "district": "静安区", "address": "南京西路1号"},
        "items": items, "pay_amount": f"{total + 10:.2f}", "freight": "10.00", "paid_at": "2026-11-22T10:00:00+08:00"})


def return_requested(return_no: str = "RT1001", order_no: str = "WM1001", lines=(("1", "TS001-WHT-M", 1, "99.00"),)):
    return store_event("return.requested", {
        "return_no": return_no, "order_no": order_no, "type": "return",
        "items": [{"line_no": n, "sku_id": s, "qty": q, "amount": a} for n, s, q, a in lines]})


class World:
    """One tenant's S2 world: the fakes, the flow context, and wiring.context_for pointed at it."""

    def __init__(self, monkeypatch, rate: float = 0.0, seed: int = 7) -> None:
        self.tenant = demo_tenant()
        self.jst = FakeJst(Faults(rate, seed))
        self.store = FakeStore(Faults(rate, seed + 1))
        self.ctx = fake_context(self.tenant, jst=self.jst, store=self.store)
        monkeypatch.setattr(wiring, "context_for", lambda tenant: self.ctx)

    def faults(self, rate: float) -> None:
        self.jst.faults.rate = self.store.faults.rate = rate

    @property
    def queue(self) -> FakeCommandQueue:
        return self.ctx.queue

    def steps(self, key: str) -> list[str]:
        return self.ctx.timeline.steps(key)


@pytest.fixture
def world(monkeypatch):
    return World(monkeypatch)


@pytest.fixture(scope="package")
def tables():
    """moto with the template's tables and two tenants (10010, and 20020 with shop 555 and its
    own callback token), built once for the package; tests compare counts before and after."""
    from aws_setup import template_aws

    other = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    other["ent_id"], other["pos"]["webhook_secret"] = "20020", "other-webhook-secret"
    other["jushuitan"].update(self_mall_shop_id=555, callback={"token": "other-callback-token"})
    with pytest.MonkeyPatch.context() as patch, template_aws(patch, demo_tenant(), parse_tenant(other)) as names:
        yield names


@pytest.fixture
def live_world(tables, monkeypatch):
    """A World whose tenants are also in the (moto) StateTable the handlers read."""
    return World(monkeypatch)
