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
from stack_world import _reset_aws, demo_world

GOAL_HAPPY, GOAL_DUPLICATE = 3, 1
SENT = 2  # callbacks of each kind after a warm-up; queued work is shared among them

# kind -> (happy, duplicate) DynamoDB requests per callback, where today's are above the goal.
# "RL" is the shared JST rate limiter (connectors/pacing.py): one conditional write per JST call
# (it was a grant and its completion, two writes, before). README "What a callback costs" says
# why each kind above the goal stays there.
CEILINGS = {  # (happy, duplicate); earlier figures in the comments
    # the event's record (claim, done); the upload's effect (claim, done); RL; the links both
    # ways (one transaction); the order's ledger; the timeline. Was 13 / 1, then 9 / 1.
    "pos_events order.warehouse_requested": (8, GOAL_DUPLICATE),
    # RL; parked marker, effect and ledger read in one request; claim, ledger, done; timeline.
    # A repeat: RL and that one read. Was 12 / 5, then 7 / 3.
    "delivery_callback": (6, 2),
    # The same; a repeat is that one read, made before JST is read again (a cancel's effect and
    # parked marker are known from the order no.). Was 11 / 6, then 7 / 3.
    "cancel_callback": (6, GOAL_DUPLICATE),
    "return_goods_callback (aftersale)": (6, 3),   # was 14 / 9 (it read JST twice then), then 7 / 4
    # Level, dirty mark, flush-marker check and trace in one transaction (the first event of a window
    # two); the flush shared by 2 events here: marker, dirty list, levels and holds in one batch, the
    # upload's effect (claim, done), RL, what it sent with its trace, the retry worker's note. With 5
    # events a flush (bench/cost.py -n 5): 3. Was 14 / 1, then 13 / 1.
    "pos_events stock.changed": (6, GOAL_DUPLICATE),
    # The levels read (one batch; a repeat ends there, before JST is read); RL; the levels and the
    # trace in one transaction. Was 7 / 5, then 5 / 4, then 4 / 3.
    "stock_callback, 1 SKU": (GOAL_HAPPY, GOAL_DUPLICATE),
    "stock_callback, 20 SKUs": (GOAL_HAPPY, GOAL_DUPLICATE),   # the same for 20 SKUs. Was 64 / 24, then 5 / 4, 4 / 3
    # the event's record; the order's ledger (the warehouse's id with it); the effect (claim,
    # done); RL; the ledger; the timeline. Was 9 / 1 (the link read as well).
    "pos_events order.cancelled": (8, GOAL_DUPLICATE),
    "pos_events return.requested": (8, GOAL_DUPLICATE),   # as order.warehouse_requested, for the return
    # the event's record; parked marker and the store's done in one read; the part's effect (claim,
    # done); RL; the links (one transaction); the open part; the timeline and its JST alias. Was 11 / 1.
    "pos_events transfer.submitted": (10, GOAL_DUPLICATE),
    "pos_events warehouse_return.submitted": (10, GOAL_DUPLICATE),
    # the event's record, member link and profile read together, both written, the P14 effect
    # (claim, done), the timelines of member and person. Was 10 / 1.
    "pos_events member.updated": (9, GOAL_DUPLICATE),
    # The demo tenant (JST, store stock owned by the store system) answers these with the event's
    # record and the timeline only: at the goal.
    "pos_events store_document.submitted": (GOAL_HAPPY, GOAL_DUPLICATE),
    "pos_events store_transfer.submitted": (GOAL_HAPPY, GOAL_DUPLICATE),
    "pos_events store_transfer.received": (GOAL_HAPPY, GOAL_DUPLICATE),
    "pos_events stock.counted": (GOAL_HAPPY, GOAL_DUPLICATE),
    "pos_events sale.completed": (GOAL_HAPPY, GOAL_DUPLICATE),
    "pos_events sale.refunded": (GOAL_HAPPY, GOAL_DUPLICATE),
    "pos_events product.changed": (GOAL_HAPPY, GOAL_DUPLICATE),
}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    from o2o_bridge import runtime

    # fresh, and emptied again at the end: moto's backends are shared by every local stack of the
    # process, and the next one's start reads all they hold.
    with demo_world(tmp_path_factory.mktemp("requests"), jst_callbacks=True, fresh=True) as (stack, jst, store):
        meter = AwsMeter()
        runtime.reset()  # the bridge's clients are built again, on the counted session
        settle = lambda: stack.drain(now=True, max_seconds=60)  # noqa: E731
        try:
            yield stack, jst, meter, callback_kinds(jst, store, warehouse_skus(jst), settle=settle, run="R")
        finally:
            import boto3

            boto3.DEFAULT_SESSION = None  # the counted session ends with this module
            _reset_aws(stack)  # the many items written here would slow the next stack's start (moto's data.json)
            runtime.reset()


def _jst_calls_so_far(jst) -> int:
    calls = jst.calls()
    return calls[-1]["seq"] if calls else 0


def _count(stack, jst, meter, send, numbers):
    """DynamoDB requests per callback of ``numbers[1:]``; ``numbers[0]`` goes first uncounted (the
    local stack's drain rebuilds the bridge's runtime, as a new container would: it reads the
    tenant again, which a warm container has cached). The rate limiter counts one write per JST
    call the sandbox received: a write lost to another worker's or given up because moto answered
    slowly on a loaded machine (connectors/pacing.py) depends on the machine, not on the code."""
    send(numbers[0])
    meter.take()
    meter.trace = []
    before = _jst_calls_so_far(jst)
    for i in numbers[1:]:
        send(i)
    stack.drain(now=True, max_seconds=60)
    counted, lines, meter.trace = meter.take(), meter.trace, None
    retried_slots = max(0, counted.rate_limiter - (_jst_calls_so_far(jst) - before))
    return (counted.ddb_requests() - retried_slots) / (len(numbers) - 1), lines


@pytest.mark.integration
def test_each_callback_kind_stays_within_its_dynamodb_requests(kinds):
    stack, jst, meter, all_kinds = kinds
    assert {k.name for k in all_kinds} == set(CEILINGS)
    over, measured = [], {}
    for kind in all_kinds:
        numbers = range(0, SENT + 1)
        for i in numbers:
            kind.prepare(i)
        happy, happy_lines = _count(stack, jst, meter, kind.send, numbers)
        duplicate, duplicate_lines = _count(stack, jst, meter, kind.again, numbers)
        measured[kind.name] = (happy, duplicate)
        ceiling_happy, ceiling_duplicate = CEILINGS[kind.name]
        if happy > ceiling_happy:
            over.append(f"{kind.name}: {happy:.1f} requests per happy callback (at most {ceiling_happy}):\n"
                        + "\n".join(happy_lines))
        if duplicate > ceiling_duplicate:
            over.append(f"{kind.name}: {duplicate:.1f} requests per duplicate (at most {ceiling_duplicate}):\n"
                        + "\n".join(duplicate_lines))
    print("\n".join(f"{name}: {h:.1f} / {d:.1f}" for name, (h, d) in measured.items()))
    assert not over, "\n\n".join(over)
