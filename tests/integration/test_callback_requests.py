"""How many DynamoDB requests each kind of callback costs, counted from outside the bridge (a
botocore hook on the session every handler's client is built from), on the local stack with the
JST and 店+ sandboxes: a happy callback, and the very same push or event again (a duplicate).
Work a callback queues (a retry, the coalesced stock flush) is run and counted with the callbacks
it serves.

The goal is at most 3 requests for a happy callback and 1 for a duplicate. ``CEILINGS`` holds
what each kind costs today where it is above that: a change that makes a kind dearer fails here,
naming every request the kind made and the code that made it, and a kind that reaches the goal
is held to it. ``bench/cost.py`` prints the same figures with their price."""

from __future__ import annotations

import pytest

from callback_kinds import AwsMeter, callback_kinds, warehouse_skus
from callback_kinds import qimen_kinds, s1_kinds
from stack_world import _reset_aws, demo_world
from stack_world import cloud_warehouse_tenant

GOAL_HAPPY, GOAL_DUPLICATE = 3, 1
SENT = 2  # callbacks of each kind after a warm-up; queued work is shared among them

# kind -> (happy, duplicate) DynamoDB requests per callback, where today's are above the goal.
# "RL" is the shared JST rate limiter (connectors/pacing.py): one conditional write per JST call
# (it was a grant and its completion, two writes, before). README "What a callback costs" says
# why each kind above the goal stays there.
CEILINGS = {  # (happy, duplicate); earlier figures in the comments
    # The upload's effect claim (the event keeps no record of its own: a repeat is that claim,
    # refused); RL; the "done" with the links, the ledger and the timeline (one transaction).
    # Was 13 / 1, then 9 / 1, then 8 / 1.
    "pos_events order.warehouse_requested": (GOAL_HAPPY, GOAL_DUPLICATE),
    # The JST pushes are at the goal: the order's (return's) ledger claimed before JST is read
    # again, one write that returns the ledger; RL; the done, the ledger change and the timeline
    # step in one write. A repeat is the claim refused by the mark of what the push names.
    # delivery was 12 / 5, 7 / 3, 6 / 2; cancel 11 / 6, 7 / 3, 6 / 1; return 14 / 9, 7 / 4, 6 / 3.
    "delivery_callback": (GOAL_HAPPY, GOAL_DUPLICATE),
    "cancel_callback": (GOAL_HAPPY, GOAL_DUPLICATE),
    "return_goods_callback (aftersale)": (GOAL_HAPPY, GOAL_DUPLICATE),
    # Level, the flush marker with the event's SKUs added to its members (written by the first event
    # of a window, raised by the others) and trace in one transaction; the flush shared by 2 events
    # here: the tenant (the retry worker's) with the marker, the flush's TAKEN record and the levels
    # and holds of the SKUs it was queued for (one batch: the queue message names them); RL with
    # the marker closed, what it sends (TAKEN) and its trace (one transaction, before the upload;
    # nothing written after it): 4 for 2. With 3 events a flush: 1.67; a lone event: 3
    # (test_a_lone_store_stock_event_and_its_flush_stay_within_the_goal). Was 14 / 1, 13 / 1,
    # 6 / 1, 3.5 / 1 (the dirty marks listed by a query before the levels were read), then 3 / 1
    # (the tenant read apart, the close after the upload: a lone event 5).
    "pos_events stock.changed": (2, GOAL_DUPLICATE),
    # The levels read (one batch; a repeat ends there, before JST is read); RL; the levels and the
    # trace in one transaction. Was 7 / 5, then 5 / 4, then 4 / 3.
    "stock_callback, 1 SKU": (GOAL_HAPPY, GOAL_DUPLICATE),
    "stock_callback, 20 SKUs": (GOAL_HAPPY, GOAL_DUPLICATE),   # the same for 20 SKUs. Was 64 / 24, then 5 / 4, 4 / 3
    # The cancel's claim on the order's ledger, which answers the ledger with it (the warehouse's
    # id; a repeat: "cancelled by the store"); RL; the ledger with the timeline (one transaction).
    # Was 9 / 1 (the link read as well), then 8 / 1.
    "pos_events order.cancelled": (GOAL_HAPPY, GOAL_DUPLICATE),
    "pos_events return.requested": (GOAL_HAPPY, GOAL_DUPLICATE),  # as order.warehouse_requested; was 8 / 1
    # The part's effect claim (no event record, no read first: a repeat is that claim, refused);
    # RL; the "done" with the links, the open part, the timeline and its JST alias (one
    # transaction). Was 11 / 1, then 10 / 1.
    "pos_events transfer.submitted": (GOAL_HAPPY, GOAL_DUPLICATE),
    "pos_events warehouse_return.submitted": (GOAL_HAPPY, GOAL_DUPLICATE),
    # The member's pointer and its person's profile read together (a repeat stops there: the
    # pointer says which version was sent); the profile written, claiming its P14; the P14
    # "done" with the pointer and both timelines (one transaction). Was 10 / 1, then 9 / 1.
    "pos_events member.updated": (GOAL_HAPPY, GOAL_DUPLICATE),
    # The demo tenant (JST, store stock owned by the store system) only records these: the event
    # done with its answer in one conditional write, and the timeline (events/recording.py). A
    # repeat is that write refused. Was 3 / 1 (the claim, its completion, the timeline).
    "pos_events store_document.submitted": (2, GOAL_DUPLICATE),
    "pos_events store_transfer.submitted": (2, GOAL_DUPLICATE),
    "pos_events store_transfer.received": (2, GOAL_DUPLICATE),
    "pos_events stock.counted": (2, GOAL_DUPLICATE),
    "pos_events sale.completed": (2, GOAL_DUPLICATE),
    "pos_events sale.refunded": (2, GOAL_DUPLICATE),
    "pos_events product.changed": (2, GOAL_DUPLICATE),
    # S1 (an outbound polled and dispatched to a store first). The event keeps no record of its own:
    # its claim on the order's record (which answers the order; a repeat is that claim refused by
    # the order's mark of the fulfilment finished); the "done" with the hold released (the order's
    # store and lines name it: the store's record marked let go with them, nothing read), the
    # confirmation queued (with the order as it left it) and the event's step (one transaction).
    # Then the poll's share for it: the queued confirmations listed (one query a batch), sent (RL,
    # one call per 50), and settled together with nothing read (one transaction per 25: each one's
    # done, order, request deleted and step). With 2 a batch here the shared 3 requests are 1.5
    # each (with 3 a batch, bench/cost.py -n 3: 3): 3.5, and 4 when the tenant's cached minute runs
    # out between the two events on a loaded machine (its read is counted then). The marks are
    # folded in by the store's next hold, or by a poll that confirms 20 of its orders (3 requests
    # shared by those 20: reservations.SETTLE_FROM).
    # Was 14 / 1, then 17 / 1, then 5 / 1 (the holds read before the "done").
    "pos_events fulfilment.shipped": (4, GOAL_DUPLICATE),
    "pos_events fulfilment.picked_up": (4, GOAL_DUPLICATE),
    # The order read with every record the reroute reads, in one batch (each key is named before the
    # order is read: the io_id's marker, exception and pickup clock, and each store's out-of-stock
    # marks of the day and its record of capacity slots and holds; the order names the fulfilment:
    # no link read; the event keeps no record of its own: a repeat is this batch); the first store's
    # release, the second's slot and hold (the store's record and the order's hold, two items each),
    # the store order's claim and the order
    # rejected and routed again with the
    # route's decision on it (one transaction); after P1 the creation's "done" with the links, the
    # timeline, the marker removed and the order "dispatched" (one transaction). Was 27 / 1 (26 / 1
    # without the buyer's P14 read), then 4 / 1 (the holds and marks, one record per SKU, read after
    # the order). Not 2: the second store's hold is written before P1 and the "done" after it.
    "pos_events fulfilment.rejected (routed again)": (GOAL_HAPPY, GOAL_DUPLICATE),
    # The COD record claimed (the event keeps no record of its own; the claim answers the record, a
    # repeat is the claim refused by its mark); the collection, the mark and the step written with the
    # "done". Was 5 / 1, then 6 / 1 (two reads).
    "pos_events payment.collected (S1 货到付款)": (2, GOAL_DUPLICATE),
    # 奇门 (the demo's cloud-warehouse tenant, 10020). The WMS document's ledger claimed by the
    # message (one write that answers the ledger; a repeat: that claim, refused by the message's
    # mark); the parcel's or receipt's claim on the order's or return's ledger; both "done" with
    # the ledger changes and the timeline (one transaction). Was 10 / 2, then 9 / 1 (the message's
    # effect record, the ledger read and written, the parcel's claim and done apart).
    "qimen deliveryorder.confirm": (GOAL_HAPPY, GOAL_DUPLICATE),
    "qimen returnorder.confirm": (GOAL_HAPPY, GOAL_DUPLICATE),
    # 配货 / 退仓: the ledger claimed by the message; the finished document's open part listed; the
    # store told (its business key, no claim first); the ledger's change, the message's mark, the
    # timeline and the part's delete in one transaction (no part left: the store was told). Was 16 / 2
    # with one open document (every open part of the tenant was followed), then 13 / 1 (the part
    # listed three times, its link written both ways, the timeline apart), then 9 / 1 (the ledger
    # written before the hand-over, the part updated, the store's claim and done, the part deleted).
    "qimen stockout.confirm (配货)": (GOAL_HAPPY, GOAL_DUPLICATE),
    "qimen entryorder.confirm (退仓)": (GOAL_HAPPY, GOAL_DUPLICATE),
    # The message's effect record read with the levels it names (one batch; a repeat is this read:
    # the levels carry the message's mark); RL (the 奇门 app's, for the inventory.query); the levels,
    # each marked with the message, and their trace (one transaction: kit.done_riding). Was 5 / 1
    # (the message's claim and "done" apart).
    "qimen stockchange.report, 1 SKU": (GOAL_HAPPY, GOAL_DUPLICATE),
    "qimen inventory.report, 2 SKUs": (GOAL_HAPPY, GOAL_DUPLICATE),
}

# Write units per happy callback, where a kind's writes are few and small enough to hold: the events
# the demo tenant only records write the event's record and one timeline item, each under 1 KB.
# (payment.collected's two are its claim and "done", 3 units: the COD record with its step.)
WRITE_UNIT_CEILINGS = {kind: 2.0 for kind, (happy, _) in CEILINGS.items()
                       if happy == 2 and not kind.startswith("pos_events payment.")}
# A store's stock event: its level, the marker and its trace (6 units, one transaction); the flush
# shared by 2: the rate limiter's grant, what it sends (TAKEN: one item however many SKUs), the
# marker and its trace (its trace over 1 KB here), one transaction: 10; 22 for 2. Was 12.5-13.5 (a
# dirty mark written and cleared per SKU), then 10.5 (the grant a put of its own, 1 unit, and what
# was sent one item a SKU: one unit less for one SKU, 2 units more for each SKU more).
WRITE_UNIT_CEILINGS["pos_events stock.changed"] = 11.0
# 配货 / 退仓: the claim (1) and a transaction of the ledger's "done" (under 2 KB: 4) and the part's
# delete (2). Was 10 / 8 when the part was updated and the store's effect claimed and done apart.
WRITE_UNIT_CEILINGS.update({"qimen stockout.confirm (配货)": 7.0, "qimen entryorder.confirm (退仓)": 7.0})
# A rejection routed again: 7 transaction items before P1 (the order 2 units: the marker, each
# store's record with its capacity slots and totals held, the order's hold deleted at the first and
# written at the second, the claim) and 7 after it (the order and the timeline item 2 each), 2 units
# an item: 34. It was 30 while a store's record listed every order it held, but that record, written
# whole twice here, grew with them (a store holding 100 orders: 5.6 KB, 12 units an item); the
# records here stay under 1 KB whatever a store holds. (34 when a store's capacity slots were a record
# of their own, 36 when the route's decision had an effect record.)
WRITE_UNIT_CEILINGS["pos_events fulfilment.rejected (routed again)"] = 34.0


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    from o2o_bridge import runtime

    # fresh, and emptied again at the end: moto's backends are shared by every local stack of the
    # process, and the next one's start reads all they hold.
    with demo_world(tmp_path_factory.mktemp("requests"), jst_callbacks=True, fresh=True) as (stack, jst, store), \
            cloud_warehouse_tenant(stack, jst, store, tmp_path_factory.mktemp("cloud")) as wms:
        meter = AwsMeter()
        runtime.reset()  # the bridge's clients are built again, on the counted session
        settle = lambda: stack.drain(now=True, max_seconds=60)  # noqa: E731
        poll = lambda: stack.invoke("poll_jst_outbound", {"ent_id": "10010"})  # noqa: E731
        try:
            yield stack, (jst, wms), meter, (callback_kinds(jst, store, warehouse_skus(jst), settle=settle, run="R")
                                      + s1_kinds(jst, store, poll=poll, settle=settle, run="R")
                                      + qimen_kinds(wms, store, settle=settle, run="R"))
        finally:
            import boto3

            meter.close()
            boto3.DEFAULT_SESSION = None  # the counted session ends with this module
            _reset_aws(stack)  # the many items written here would slow the next stack's start (moto's data.json)
            runtime.reset()


def _jst_calls_so_far(jst) -> int:
    calls = jst.calls()
    return calls[-1]["seq"] if calls else 0


def _outside_calls_so_far(sandboxes) -> int:
    """The calls the JST sandbox and the 奇门 WMS's gateway received: one rate-limiter write each
    (the JST app's, the 奇门 app's)."""
    jst, wms = sandboxes
    return _jst_calls_so_far(jst) + len(wms.state.calls)


def _count(stack, sandboxes, meter, send, numbers, deferred=None):
    """DynamoDB requests per callback of ``numbers[1:]``; ``numbers[0]`` goes first uncounted (the
    local stack's drain rebuilds the bridge's runtime, as a new container would: it reads the
    tenant again, which a warm container has cached). The rate limiter counts one write per JST or
    奇门 call the sandboxes received: a write lost to another worker's or given up because moto answered
    slowly on a loaded machine (connectors/pacing.py) depends on the machine, not on the code.
    ``deferred``: the work the kind leaves to a scheduled run, run after the counted callbacks and
    counted with them (and after the uncounted one, so that its share is not counted)."""
    send(numbers[0])
    if deferred is not None:
        stack.drain(now=True, max_seconds=60)
        deferred()
    meter.take()
    meter.trace = []
    before = _outside_calls_so_far(sandboxes)
    for i in numbers[1:]:
        send(i)
    stack.drain(now=True, max_seconds=60)
    if deferred is not None:
        deferred()
    counted, lines, meter.trace = meter.take(), meter.trace, None
    retried_slots = max(0, counted.rate_limiter - (_outside_calls_so_far(sandboxes) - before))
    sent = len(numbers) - 1
    # a retried slot's write is one unit (the limiter's item is a few hundred bytes): not counted either
    return (counted.ddb_requests() - retried_slots) / sent, lines, (counted.wru - retried_slots) / sent


@pytest.mark.integration
def test_each_callback_kind_stays_within_its_dynamodb_requests(kinds):
    stack, sandboxes, meter, all_kinds = kinds
    assert {k.name for k in all_kinds} == set(CEILINGS)
    over, measured = [], {}
    for kind in all_kinds:
        numbers = range(0, SENT + 1)
        for i in numbers:
            kind.prepare(i)
        happy, happy_lines, write_units = _count(stack, sandboxes, meter, kind.send, numbers, kind.deferred)
        duplicate, duplicate_lines, _ = _count(stack, sandboxes, meter, kind.again, numbers)
        measured[kind.name] = (happy, duplicate)
        ceiling_happy, ceiling_duplicate = CEILINGS[kind.name]
        if write_units > WRITE_UNIT_CEILINGS.get(kind.name, float("inf")):
            over.append(f"{kind.name}: {write_units:.1f} write units per happy callback "
                        f"(at most {WRITE_UNIT_CEILINGS[kind.name]}):\n" + "\n".join(happy_lines))
        if happy < 1:  # a meter that no longer sees the bridge's session would pass every ceiling
            over.append(f"{kind.name}: no DynamoDB request counted on its happy path: the meter lost the bridge's session")
        if happy > ceiling_happy:
            over.append(f"{kind.name}: {happy:.1f} requests per happy callback (at most {ceiling_happy}):\n"
                        + "\n".join(happy_lines))
        if duplicate > ceiling_duplicate:
            over.append(f"{kind.name}: {duplicate:.1f} requests per duplicate (at most {ceiling_duplicate}):\n"
                        + "\n".join(duplicate_lines))
    print("\n".join(f"{name}: {h:.1f} / {d:.1f}" for name, (h, d) in measured.items()))
    assert not over, "\n\n".join(over)


@pytest.mark.integration
def test_a_lone_store_stock_event_and_its_flush_stay_within_the_goal(kinds):
    """One ``stock.changed`` event with no other event in its window, and the flush it queued: at
    most GOAL_HAPPY DynamoDB requests together, counted from the botocore hook as above (the event's
    transaction; the flush's tenant, marker and levels in one batch; its window closed in the
    request of its upload's rate-limit grant). The retry worker's tenant read counts: the local
    stack's drain rebuilds the runtime, as a new container would."""
    stack, sandboxes, meter, all_kinds = kinds
    kind = next(k for k in all_kinds if k.name == "pos_events stock.changed")
    kind.send(100)
    stack.drain(now=True, max_seconds=60)  # a window of its own, flushed: not counted
    # Its repeat (one refused write, nothing queued): the events container has the tenant again, as a
    # warm one has it cached; not counted either.
    kind.again(100)
    meter.take()
    meter.trace = []
    before = _outside_calls_so_far(sandboxes)
    kind.send(101)
    stack.drain(now=True, max_seconds=60)
    counted, lines, meter.trace = meter.take(), meter.trace, None
    retried_slots = max(0, counted.rate_limiter - (_outside_calls_so_far(sandboxes) - before))
    requests = counted.ddb_requests() - retried_slots
    print(f"a lone stock.changed with its flush: {requests} requests, {counted.wru - retried_slots:.1f} write units")
    assert _outside_calls_so_far(sandboxes) - before == 1, "the flush made one JST upload"
    assert 1 <= requests <= GOAL_HAPPY, f"{requests} requests (at most {GOAL_HAPPY}):\n" + "\n".join(lines)
