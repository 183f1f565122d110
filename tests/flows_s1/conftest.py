"""A tenant with three stores, in-memory JST and 店+, and helpers to send store events to the S1 flows."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from fakes import drain_retries, fake_context
from o2o_bridge.events.models import parse_event
from o2o_bridge import wiring
from o2o_bridge.flows import kit
from o2o_bridge.tenant import parse_tenant

from .s1_fakes import FakeJst, FakeStore, Faults

STOCK = {"S001": {"SKU-RED-M": 5, "SKU-RED-L": 3, "SKU-BLUE-M": 0},
         "S002": {"SKU-RED-M": 2, "SKU-RED-L": 0, "SKU-BLUE-M": 6},
         "S003": {"SKU-RED-M": 9, "SKU-RED-L": 9, "SKU-BLUE-M": 9}}


def s1_tenant(**routing):
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml").read_text("utf-8"))
    doc.pop("routing", None)
    doc["stores"] = [
        {"code": "S001", "name": "南京西路店", "regions": ["上海市"], "priority": 1, "daily_capacity": 200, "pickup": True},
        {"code": "S002", "name": "新街口店", "regions": ["江苏省"], "priority": 2, "daily_capacity": 100, "pickup": True},
        {"code": "S003", "name": "徐家汇店", "regions": ["上海"], "priority": 3, "daily_capacity": 2},
    ]
    doc["logistics"] = [*(m for m in doc["logistics"] if m["jst_lc_id"] != "MDZT"),
                        {"jst_lc_id": "MDZT", "pos_code": "PICKUP", "name": "门店自提"}]
    doc["routing"] = {"pickup_lc_id": "MDZT", **routing}
    return parse_tenant(doc)


class World:
    """One tenant's flows over in-memory JST and 店+; the composition root (wiring.context_for) answers this context."""

    def __init__(self, tenant, jst, store):
        self.jst, self.store = jst, store
        self.ctx = fake_context(tenant, jst=jst, store=store)
        self._events = itertools.count(1)

    def event(self, event_type, **data):
        return parse_event({"event_id": f"evt-{next(self._events)}", "ent_id": self.ctx.ent_id, "type": event_type,
                            "occurred_at": datetime.now(timezone.utc).isoformat(), "data": data})

    def shipped(self, io_id, carrier="SF", tracking="SF100"):
        f = self.store.current(io_id)
        return self.event("fulfilment.shipped", fulfilment_id=f["fulfilment_id"], external_id=str(io_id),
                          carrier_code=carrier, tracking_no=tracking, shipped_at="2026-11-30T11:00:00+08:00")

    def picked_up(self, io_id):
        f = self.store.current(io_id)
        return self.event("fulfilment.picked_up", fulfilment_id=f["fulfilment_id"], external_id=str(io_id),
                          picked_up_at="2026-11-30T11:00:00+08:00")

    def rejected(self, io_id, reason="out_of_stock", items=None):
        f = self.store.current(io_id)
        extra = {"items": items} if items is not None else {}
        return self.event("fulfilment.rejected", fulfilment_id=f["fulfilment_id"], external_id=str(io_id),
                          store_code=f["store_code"], reason=reason, **extra)

    def mark(self, event):
        """What the store did before telling the bridge."""
        status = event.type.split(".", 1)[1]
        self.store.fulfilments[event.data.fulfilment_id]["status"] = status

    def drain(self):
        return drain_retries(self.ctx, max_rounds=200)

    def confirm(self, rounds=50):
        """What the next polls do first: confirm in JST what the stores finished, until nothing
        waits (a poll that meets a transient failure is run again by the schedule)."""
        from o2o_bridge.errors import TransientError
        from o2o_bridge.flows import store_fulfilment as s1

        for _ in range(rounds):
            try:
                s1.confirm_pending(self.ctx)
            except TransientError:
                continue
            if not self.ctx.records.list(self.ctx.ent_id, s1.PENDING_CONFIRM_KIND):
                return
        raise AssertionError("confirmations still waiting after the polls")

    def steps(self, io_id):
        return self.ctx.timeline.steps(str(io_id))

    def order(self, io_id):
        return self.ctx.records.get(self.ctx.ent_id, "s1.order", str(io_id)).data


@pytest.fixture
def make_world(monkeypatch):
    def make(*, routing=None, jst_faults=None, store_faults=None, stock=None):
        world = World(s1_tenant(**(routing or {})), FakeJst(faults=jst_faults),
                      FakeStore(faults=store_faults, stock={k: dict(v) for k, v in (stock or STOCK).items()}))
        monkeypatch.setattr(wiring, "context_for", lambda tenant: world.ctx)
        return world

    return make


@pytest.fixture
def world(make_world):
    return make_world()


__all__ = ["Faults", "World", "s1_tenant"]
