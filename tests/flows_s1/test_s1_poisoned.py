"""One bad online order never stops S1 for its merchant: it is set aside with its reason
(visible in the DLQ, replayable) and the orders behind it are dispatched in the same run."""

from o2o_bridge.connectors.store.errors import PosPermanentError
from o2o_bridge.flows import store_fulfilment as s1
from o2o_bridge.ports import MalformedRow


def cursor(world):
    return int(world.ctx.cursors.get("10010", s1.CURSOR).value)


def refuse_stock_reads_of(world, bad_sku):
    real = world.store.store_stock

    def store_stock(store_code, sku_ids):
        if bad_sku in sku_ids:
            raise PosPermanentError(f"店+ P7: SKU {bad_sku} is blocked", status=400)
        return real(store_code, sku_ids)

    world.store.store_stock = store_stock


def test_a_permanent_store_error_on_one_order_parks_it_and_the_poll_goes_on(world):
    world.jst.add(700001)
    world.jst.add(700002, items=(("SKU-BAD", 1),))
    last = world.jst.add(700003)
    refuse_stock_reads_of(world, "SKU-BAD")

    summary = s1.poll_jst_outbound(world.ctx)

    assert summary["parked"] == 1 and summary["dispatched"] == 2
    assert sorted(f["external_id"] for f in world.store.fulfilments.values()) == ["700001", "700003"]
    assert cursor(world) == last["ts"]  # the cursor moved past the bad order
    [letter] = world.ctx.queue.dead
    assert letter.envelope.command == "s1.handle_outbound" and letter.envelope.payload["outbound"]["outbound_id"] == "700002"
    assert "SKU SKU-BAD is blocked" in letter.reason
    assert "dead_lettered" in world.steps(700002)

    # The next polls re-read the edge record only; the parked order is not parked twice.
    s1.poll_jst_outbound(world.ctx)
    assert len(world.ctx.queue.dead) == 1

    # The operator fixes the cause and replays the letter: the order is dispatched once.
    world.store.store_stock = type(world.store).store_stock.__get__(world.store)
    world.ctx.queue.queued.append((letter.envelope.replayed(), 0))
    for levels in world.store.stock.values():
        levels["SKU-BAD"] = 5
    world.drain()
    assert sorted(f["external_id"] for f in world.store.fulfilments.values()) == ["700001", "700002", "700003"]


def test_a_malformed_row_is_parked_and_the_rows_behind_it_are_handled(world):
    world.jst.add(700001)
    bad = {"io_id": "not-a-number", "status": "WaitConfirm", "ts": 5000}
    last = world.jst.add(700003)
    real_fetcher = world.jst._page_fetcher

    def fetcher(wms_co_id):
        fetch = real_fetcher(wms_co_id)

        def with_bad_row(cursor):
            page, has_next = fetch(cursor)
            if cursor <= bad["ts"] and page:
                page = [page[0], MalformedRow("JST test", bad, "io_id: not a valid integer", "not-a-number", 1000),
                        *page[1:]]
            return page, has_next

        return with_bad_row

    world.jst._page_fetcher = fetcher
    summary = s1.poll_jst_outbound(world.ctx)
    assert summary["parked"] == 1 and summary["dispatched"] == 2
    assert cursor(world) == last["ts"]
    [letter] = world.ctx.queue.dead
    assert letter.envelope.payload == {"row": bad} and "io_id: not a valid integer" in letter.reason
