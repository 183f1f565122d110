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
from conftest import _reset_aws, demo_world  # this directory's, imported at collection as the other modules here do

GOAL_HAPPY, GOAL_DUPLICATE = 3, 1
SENT = 2  # callbacks of each kind after a warm-up; queued work is shared among them

# kind -> (happy, duplicate) DynamoDB requests per callback, where today's are above the goal.
# "RL" is the shared JST rate limiter (connectors/pacing.py): a grant and its completion per
# JST call, so a callback that re-reads JST starts at 2.
CEILINGS = {  # (happy, duplicate); before this work, per bench/cost.py: in the comments
    # 2 RL; the event's own record (claim, done); the upload's effect (claim, done); the links
    # both ways; the order's ledger; the timeline. Was 13 / 1.
    "pos_events order.warehouse_requested": (9, GOAL_DUPLICATE),
    # 2 RL; parked marker, effect and ledger read in one request; claim, ledger, done; timeline.
    # A repeat: 2 RL and that one read. Was 12 / 5 (delivery), 11 / 6 (cancel).
    "delivery_callback": (7, 3),
    "cancel_callback": (7, 3),
    "return_goods_callback (aftersale)": (7, 4),   # was 14 / 9 (it read JST twice then)
    "pos_events stock.changed": (14, GOAL_DUPLICATE),  # a flush shared by 2 events (7.5 when 10 share it); was 10 / 1
    "stock_callback, 1 SKU": (5, 4),               # 2 RL; a batch read, a write, the timeline. Was 7 / 5
    "stock_callback, 20 SKUs": (5, 4),             # the same for 20 SKUs. Was 64 / 24
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
            yield stack, meter, callback_kinds(jst, store, warehouse_skus(jst), settle=settle, run="R")
        finally:
            import boto3

            boto3.DEFAULT_SESSION = None  # the counted session ends with this module
            _reset_aws(stack)  # the many items written here would slow the next stack's start (moto's data.json)
            runtime.reset()


def _count(stack, meter, send, numbers):
    """DynamoDB requests per callback of ``numbers[1:]``; ``numbers[0]`` goes first uncounted (the
    local stack's drain rebuilds the bridge's runtime, as a new container would: it reads the
    tenant again, which a warm container has cached)."""
    send(numbers[0])
    meter.take()
    meter.trace = []
    for i in numbers[1:]:
        send(i)
    stack.drain(now=True, max_seconds=60)
    counted, lines, meter.trace = meter.take(), meter.trace, None
    return counted.ddb_requests() / (len(numbers) - 1), lines


@pytest.mark.integration
def test_each_callback_kind_stays_within_its_dynamodb_requests(kinds):
    stack, meter, all_kinds = kinds
    assert {k.name for k in all_kinds} == set(CEILINGS)
    over, measured = [], {}
    for kind in all_kinds:
        numbers = range(0, SENT + 1)
        for i in numbers:
            kind.prepare(i)
        happy, happy_lines = _count(stack, meter, kind.send, numbers)
        duplicate, duplicate_lines = _count(stack, meter, kind.again, numbers)
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
