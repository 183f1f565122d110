"""S5 配货 and S6 退仓 under crash injection: the JST other in/out upload (a document in two parts
for 配货), following them until JST confirms, and telling the store (P10 / P11) once; killed at
every crash point, rerun and drained: one JST document per part, one store notice per document."""

from collections import Counter

from fakes import fake_context
from flows_transfers.conftest import demo_tenant
from flows_transfers.s5_s7_fakes import FakeJst, FakeStore
from o2o_bridge import wiring
from o2o_bridge.events.models import EVENT_MODELS
from o2o_bridge.flows import store_transfers

from .harness import assert_settled, built_once, drain, every_crash


class World:
    def __init__(self, monkeypatch):
        self.tenant = demo_tenant()
        self.jst, self.store = FakeJst(), FakeStore()
        self.ctx = fake_context(self.tenant, jst=self.jst, store=self.store)
        monkeypatch.setattr(wiring, "context_for", lambda tenant: self.ctx)


def submitted(event_type, doc_no, count):
    def build(world):
        event = EVENT_MODELS[event_type].model_validate({
            "event_id": f"evt-{doc_no}", "ent_id": "10010", "type": event_type,
            "occurred_at": "2026-11-22T10:30:00+08:00",
            "data": {"doc_no": doc_no, "store_code": "S001", "remark": "",
                     "items": [{"sku_id": f"SKU-{n:05d}", "qty": 1} for n in range(count)]}})
        handler = (store_transfers.on_transfer_submitted if event_type == "transfer.submitted"
                   else store_transfers.on_warehouse_return_submitted)
        return lambda w: handler(event, w.ctx)

    return built_once(build)


def warehouse_confirms(world):
    for row in world.jst.other_inouts.values():
        if row["status"] != "Confirmed":
            world.jst.set_status(row["so_id"])


def follow(world):
    store_transfers.follow_other_inout(world.ctx)


STEPS = [submitted("transfer.submitted", "PH1", 1500), submitted("warehouse_return.submitted", "TC1", 3),
         lambda w: drain(w.ctx), follow, warehouse_confirms, follow, lambda w: drain(w.ctx)]


def check(world, run):
    assert sorted(Counter(world.jst.uploads).items()) == [("PH1-1", 1), ("PH1-2", 1), ("TC1", 1)]
    assert sorted(world.store.transfers) == ["PH1"] and sorted(world.store.returns) == ["TC1"]
    assert sum(i["qty"] for i in world.store.transfers["PH1"]["items"]) == 1500
    assert world.ctx.records.list("10010", store_transfers.OPEN) == []  # nothing is followed any more
    assert_settled(world.ctx)  # nothing queued or dead-lettered; every effect done, none left claimed


def test_s5_s6_killed_at_every_crash_point_have_one_effect_on_each_side(monkeypatch):
    points = every_crash(lambda: World(monkeypatch), STEPS, check, settle=[follow])
    assert points >= 20
