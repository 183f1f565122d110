"""A store's out_of_stock rejection naming its SKUs (optional ``items``) marks only those SKUs
unavailable at that store; one naming none marks every SKU of the order, as before."""

from o2o_bridge.flows import routing, store_fulfilment as s1


def dispatch_two_sku_order(world, io_id):
    world.jst.add(io_id, items=(("SKU-RED-M", 1), ("SKU-RED-L", 1)))
    s1.poll_jst_outbound(world.ctx)
    assert world.store.current(io_id)["store_code"] == "S001"


def reject(world, event):
    world.mark(event)
    for _ in range(3):  # a store resending its rejection changes nothing more
        s1.on_fulfilment_rejected(event, world.ctx)


def unavailable(world, store_code, sku_id):
    # One record per store and day (routing.UNAVAILABLE_KIND) names the SKUs it is out of.
    return routing.unavailable_skus(world.ctx, store_code, [sku_id]) == [sku_id]


def test_a_rejection_naming_its_skus_keeps_the_store_for_orders_without_them(world):
    dispatch_two_sku_order(world, 700020)
    reject(world, world.rejected(700020, items=[{"sku_id": "SKU-RED-L", "qty": 1}]))
    # The rejected order goes elsewhere; S001 is out of SKU-RED-L only.
    assert world.store.current(700020)["store_code"] == "S003"
    assert unavailable(world, "S001", "SKU-RED-L") and not unavailable(world, "S001", "SKU-RED-M")
    [rejection] = world.order(700020)["rejections"]
    assert rejection["sku_ids"] == ["SKU-RED-L"]
    # A later order that needs only SKU-RED-M still goes to S001 (first by priority, has stock).
    world.jst.add(700021, items=(("SKU-RED-M", 1),))
    s1.poll_jst_outbound(world.ctx)
    assert world.store.current(700021)["store_code"] == "S001"
    # One that needs SKU-RED-L does not, today.
    world.jst.add(700022, items=(("SKU-RED-L", 1),))
    s1.poll_jst_outbound(world.ctx)
    assert world.store.current(700022)["store_code"] == "S003"
    routed = [e for e in world.ctx.timeline.entries("700022") if e.step == "s1.routed"][-1]
    assert "SKU-RED-L" in routed.detail["dropped"]["S001"]


def test_a_rejection_naming_no_skus_marks_every_sku_of_the_order(world):
    dispatch_two_sku_order(world, 700030)
    reject(world, world.rejected(700030))
    assert unavailable(world, "S001", "SKU-RED-L") and unavailable(world, "S001", "SKU-RED-M")
    assert "sku_ids" not in world.order(700030)["rejections"][0]
    world.jst.add(700031, items=(("SKU-RED-M", 1),))
    s1.poll_jst_outbound(world.ctx)
    assert world.store.current(700031)["store_code"] == "S003"


def test_items_of_a_rejection_for_another_reason_mark_nothing(world):
    dispatch_two_sku_order(world, 700040)
    reject(world, world.rejected(700040, reason="damaged", items=[{"sku_id": "SKU-RED-L"}]))
    assert world.store.current(700040)["store_code"] == "S003"
    assert not unavailable(world, "S001", "SKU-RED-L") and not unavailable(world, "S001", "SKU-RED-M")
