"""门店自提 as the guide's customers expect it: the chosen store, only pickup stores, the same city."""

import pytest

from o2o_bridge import wiring
from o2o_bridge.flows import store_fulfilment as s1
from o2o_bridge.tenant import Store

from .conftest import World, s1_tenant
from .s1_fakes import FakeJst, FakeStore

STORES = [
    Store(code="S001", name="南京西路店", city="上海市", priority=5, pickup=True),
    Store(code="S002", name="新街口店", city="南京市", priority=1, pickup=True),  # no regions: serves everywhere
    Store(code="S003", name="徐家汇店", city="上海市", priority=3, daily_capacity=2, pickup=False),
    Store(code="S004", name="静安寺店", city="上海", priority=9, pickup=True),
]
STOCK = {code: {"SKU-RED-M": 9} for code in ("S001", "S002", "S003", "S004")}


@pytest.fixture
def pickup_world(monkeypatch):
    def make(stock=STOCK, **routing):
        tenant = s1_tenant(**routing)
        tenant = tenant.model_copy(update={"stores": STORES})
        world = World(tenant, FakeJst(), FakeStore(stock={k: dict(v) for k, v in stock.items()}, stores=set(STOCK)))
        monkeypatch.setattr(wiring, "context_for", lambda t: world.ctx)
        return world
    return make


def created_at(world):
    return [world.store.fulfilments[fid]["store_code"] for fid in world.store.created]


def reject(world, io_id):
    event = world.rejected(io_id, reason="damaged")
    world.mark(event)
    s1.on_fulfilment_rejected(event, world.ctx)
    world.drain()


def poll(world):
    return s1.poll_jst_outbound(world.ctx)


def test_the_chosen_store_takes_the_pickup_and_p1_names_it(pickup_world):
    world = pickup_world()
    world.jst.add(720001, pickup_store_code="S001")  # no pickup label: the chosen store makes it a pickup
    poll(world)
    created = world.store.current(720001)
    assert created["store_code"] == "S001"  # though S002 ranks first by priority
    assert created["delivery"] == "pickup" and created["pickup_store_code"] == "S001"


def test_the_tenant_names_the_outbound_field_that_carries_the_store(pickup_world):
    world = pickup_world(pickup_store_field="remark_store")
    world.jst.add(720002, remark_store="S004", pickup_store_code="S001")
    poll(world)
    assert world.store.current(720002)["store_code"] == "S004"


def test_a_rejected_pickup_stays_in_the_chosen_stores_city_then_becomes_a_pickup_rejected_exception(pickup_world):
    world = pickup_world()
    world.jst.add(720003, pickup_store_code="S001")
    poll(world)
    reject(world, 720003)
    assert world.store.current(720003)["store_code"] == "S004"  # 上海 too; S002 (南京) ranks higher but is elsewhere
    reject(world, 720003)
    assert world.order(720003)["status"] == "exception"
    [parked] = [e for e in s1.open_exceptions(world.ctx) if e["io_id"] == "720003"]
    assert parked["kind"] == "pickup_rejected" and parked["pickup_store_code"] == "S001"
    assert "S002" not in created_at(world)  # never sent to another city


def test_a_pickup_never_goes_to_a_store_without_pickup_not_even_the_fallback(pickup_world):
    world = pickup_world(stock={**STOCK, "S001": {}, "S004": {}}, fallback_store="S003")
    world.jst.add(720004, pickup_store_code="S001")
    poll(world)
    assert world.store.created == []
    [parked] = s1.open_exceptions(world.ctx)
    assert parked["kind"] == "no_pickup_store" and "S003 does not serve store pickup" in parked["reason"]


def test_the_fallback_store_respects_its_daily_capacity(pickup_world):
    world = pickup_world(stock={**STOCK, "S001": {}, "S002": {}, "S004": {}}, fallback_store="S003")
    for io_id in (720011, 720012, 720013):
        world.jst.add(io_id)  # express orders only S003 could take, and only as the fallback
    poll(world)
    assert created_at(world) == ["S003", "S003"]
    [parked] = s1.open_exceptions(world.ctx)
    assert parked["io_id"] == "720013" and "daily capacity 2" in parked["reason"]


def test_the_chosen_store_is_honoured_wherever_the_customer_lives(pickup_world):
    """A pickup at a 南京 store booked by a customer with a 上海 address: the store's regions
    are about delivery, the customer comes to the store."""
    world = pickup_world()
    tenant = world.ctx.tenant
    stores = [s.model_copy(update={"regions": ["江苏省"]}) if s.code == "S002" else s for s in tenant.stores]
    world.ctx.tenant = tenant.model_copy(update={"stores": stores})
    world.jst.add(720020, pickup_store_code="S002", province="上海市", city="上海市")
    poll(world)
    assert world.store.current(720020)["store_code"] == "S002"
