"""Member merge under crash injection, against the 店+ sandbox: store members merged by their
mobile number, one changing its number, an online buyer joining a profile, each profile sent
(P14); killed at every crash point, rerun and drained: each version of a profile is sent once,
and the store holds the profiles and merges the run without a kill leaves."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace as NS

import httpx
import pytest

from fakes import fake_context
from o2o_bridge import wiring
from o2o_bridge.flows import members

from .harness import assert_settled, every_crash, same_as_without_a_kill


@pytest.fixture(scope="module")
def pos():
    from o2o_local.pos_sandbox import PosSandbox

    with PosSandbox() as sandbox:
        yield sandbox


class World:
    def __init__(self, pos, monkeypatch):
        from exactly_once.test_poisoned_records import wdt_tenant
        from o2o_bridge.connectors.store import PosClient, PosCredentials, StoreSystemApi
        from o2o_local.pos_sandbox.demo import WDT_DEMO_API_KEY, WDT_DEMO_ENT_ID, wdt_demo_merchant

        self.pos = pos
        pos.reset()
        pos.seed({"merchants": [wdt_demo_merchant()]})
        http = httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0))
        store = StoreSystemApi(PosClient(PosCredentials(pos.base_url, WDT_DEMO_ENT_ID, WDT_DEMO_API_KEY), http=http))
        self.ctx = fake_context(wdt_tenant(), store=store)
        monkeypatch.setattr(wiring, "context_for", lambda tenant: self.ctx)


def member_updated(member_id, mobile, name, hour):
    event = NS(event_id=f"evt-{member_id}-{hour}", type="member.updated", data=NS(
        member_id=member_id, mobile=mobile, name=name, store_code="S101",
        updated_at=datetime(2026, 12, 2, hour, tzinfo=timezone.utc)))
    return lambda w: members.on_member_updated(event, w.ctx)


def online_buyer(world):
    members.note_online_buyer(world.ctx, {"io_id": "700001", "shop_id": "1001",
                                          "receiver": {"name": "收件人", "mobile": "13800000001"}})


STEPS = [member_updated("M1", "13800000001", "张三", 1), member_updated("M2", "+86 138-0000-0001", "张三丰", 2),
         member_updated("M3", "13900000002", "李四", 3), member_updated("M3", "13800000001", "李四", 4),
         online_buyer]


def both_sides(world):
    merchant = world.pos.state.merchants["10030"]
    sent = sorted({r["idempotency_key"] for r in world.pos.state.requests
                   if r["method"] == "PUT" and r["path"].startswith("/members/") and 200 <= (r["status"] or 0) < 300})
    return {"store members": {k: {f: v for f, v in m.items() if f != "merged_at"} for k, m in merchant.members.items()},
            "profile versions sent": sent,
            "profiles": sorted((p["member_id"] or "", tuple(p["merged_from"]), tuple(c["channel"] for c in p["channels"]))
                               for p in members.profiles(world.ctx))}


def check(world, run):
    sides = both_sides(world)
    merged = sides["store members"]["M1"]
    assert merged["merged_from"] == ["M2", "M3"] and merged["name"] == "李四"
    assert [c["channel"] for c in merged["channels"]] == ["store", "store", "store", "online:1001"]
    assert {sides["store members"][m].get("merged_into") for m in ("M2", "M3")} == {"M1"}
    assert_settled(world.ctx)
    same_as_without_a_kill(sides, run)


def test_member_merge_killed_at_every_crash_point_sends_each_profile_version_once(pos, monkeypatch):
    points = every_crash(lambda: World(pos, monkeypatch), STEPS, check)
    assert points >= 20
