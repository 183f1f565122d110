"""Per-app pacing: the window arithmetic with a fake clock, and the shared DynamoDB limiters
under 4 concurrent workers (threads against moto, on one virtual clock), for both ways of counting: calendar
windows (``fixed``) and a sliding log (``sliding``, the default)."""

from __future__ import annotations

import math

import bisect
import threading
from collections import Counter

import boto3
import pytest
from pydantic import ValidationError

from o2o_bridge.connectors import pacing
from o2o_bridge.connectors.jushuitan.errors import JstRateLimited
from o2o_bridge.connectors.jushuitan.rate_limit import (
    DynamoRateLimiter,
    DynamoSlidingLogLimiter,
    GrantLog,
    InMemoryGrantLog,
    InMemoryRateLimiter,
    InMemorySlidingLogLimiter,
    Window,
    windows_for,
)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds



def granted(limiter):
    """A slot taken through ``limiter`` as the client takes it before each call."""
    return limiter.acquire()


def busiest(times: list[float], span: float) -> int:
    """The most grants within any ``span`` seconds, wherever the interval starts (what a
    sliding-window counter such as the sandbox's sees)."""
    times = sorted(times)
    return max((bisect.bisect_right(times, t + span - 1e-9) - i for i, t in enumerate(times)), default=0)


@pytest.fixture(autouse=True)
def no_jitter(request, monkeypatch):
    """Fake-clock tests assert exact instants; the concurrent ones keep the real jitter."""
    if "item_atomic_moto" not in request.fixturenames:
        monkeypatch.setattr(pacing, "_jitter", lambda: 0.0)


def sliding(clock: FakeClock, windows, **kwargs) -> InMemorySlidingLogLimiter:
    return InMemorySlidingLogLimiter("app", windows, clock=clock, sleep=clock.sleep, **kwargs)


# --- fixed windows ---------------------------------------------------------------------------
def test_in_memory_limiter_respects_both_windows():
    clock = FakeClock()
    limiter = InMemoryRateLimiter("app", windows_for(5, 12), clock=clock, sleep=clock.sleep, max_wait_seconds=120)
    grants = [granted(limiter).at for _ in range(30)]
    per_second = Counter(int(t) for t in grants)
    per_minute = Counter(int(t // 60) for t in grants)
    assert max(per_second.values()) == 5
    assert max(per_minute.values()) == 12


def test_a_wait_longer_than_allowed_is_a_transient_error_with_retry_after():
    clock = FakeClock(1040.0)  # minute 17 (1020-1080) has 40 s left
    limiter = InMemoryRateLimiter("app", windows_for(5, 3), clock=clock, sleep=clock.sleep, max_wait_seconds=10)
    for _ in range(3):
        granted(limiter)
    with pytest.raises(JstRateLimited) as caught:
        granted(limiter)
    assert caught.value.retryable and caught.value.retry_after_seconds == 40


# --- sliding counts --------------------------------------------------------------------------
WIDENED = pacing.DEFAULT_MARGIN_SECONDS + pacing.DEFAULT_SEND_ALLOWANCE_SECONDS  # 0.15 s on each window


def test_sliding_counts_respect_both_windows_wherever_they_start():
    """Any interval of a window's length plus the margin and the send allowance (a call counted
    on arrival, up to 0.15 s after its grant) holds no more than the limit."""
    clock = FakeClock()
    limiter = sliding(clock, windows_for(5, 12), max_wait_seconds=120)
    grants = [granted(limiter).at for _ in range(30)]
    assert busiest(grants, 1.0 + WIDENED) == 5 and busiest(grants, 60.0 + WIDENED) == 12
    # Full use otherwise, but for one bucket (1/60 of the window): 5, then 5 more 1.15 s later,
    # then the minute is full until its first second has left it.
    assert grants[:5] == [1000.0] * 5
    assert 1001.15 <= grants[5] <= 1001.15 + 0.017
    assert 1060.15 <= grants[12] <= 1060.15 + 1.0


def test_a_burst_across_a_calendar_boundary_puts_2n_in_a_second_when_fixed_and_n_when_sliding():
    fixed_clock, sliding_clock = FakeClock(1000.5), FakeClock(1000.5)
    fixed = InMemoryRateLimiter("app", windows_for(5, 100), clock=fixed_clock, sleep=fixed_clock.sleep)
    log = sliding(sliding_clock, windows_for(5, 100))
    fixed_grants = [granted(fixed).at for _ in range(10)]
    sliding_grants = [granted(log).at for _ in range(10)]
    assert max(Counter(int(t) for t in fixed_grants).values()) == 5     # what fixed counting promises
    assert busiest(fixed_grants, 1.0) == 10                             # what a sliding counter sees
    assert busiest(sliding_grants, 1.0 + WIDENED) == 5


def test_the_margin_and_the_send_allowance_widen_each_window():
    for margin, allowance, sixth in ((0.0, 0.0, 1001.0), (0.05, 0.1, 1001.15), (0.2, 0.3, 1001.5)):
        clock = FakeClock()
        limiter = sliding(clock, windows_for(5, 100), margin_seconds=margin, send_allowance_seconds=allowance)
        assert sixth <= [granted(limiter).at for _ in range(6)][-1] <= sixth + 0.017


def test_sliding_wait_longer_than_allowed_is_a_transient_error_with_retry_after():
    clock = FakeClock(1040.0)
    limiter = sliding(clock, windows_for(5, 3), max_wait_seconds=10)
    for _ in range(3):
        granted(limiter)
    with pytest.raises(JstRateLimited) as caught:
        granted(limiter)
    assert caught.value.retryable and caught.value.retry_after_seconds == 62   # free at 1041 + 60.15


def test_a_limiter_with_a_stale_view_loses_the_write_and_decides_on_the_stored_counts():
    clock = FakeClock()
    shared = InMemoryGrantLog()
    first, second = (sliding(clock, windows_for(3, 100), log=shared) for _ in range(2))
    assert granted(second).at == 1000.0            # second now believes the counts hold one grant
    for _ in range(2):
        granted(first)                             # first's stale (empty) view is refused, then it catches up
    # One write per call: 3 calls, 3 versions, 3 grants counted in each window.
    assert shared.current.version == 3 and [sum(n for _, n in w) for w in shared.current.buckets] == [3, 3]
    assert 1001.15 <= granted(second).at <= 1001.15 + 0.017   # second's stale view is refused; it waits
    assert shared.current.version == 4


def test_a_grant_whose_write_was_slow_is_given_up_not_spent_late():
    """The grant's write took longer than half the send allowance: the call could reach JST after
    the time its slot is counted for, so the limiter takes another slot instead."""
    clock = FakeClock()

    class SlowOnce(InMemoryGrantLog):
        slow = True

        def replace_if_unchanged(self, expected_version, log):
            if self.slow:
                self.slow = False
                clock.now += 0.2
            return super().replace_if_unchanged(expected_version, log)

    shared = SlowOnce()
    limiter = sliding(clock, windows_for(5, 100), log=shared)
    assert granted(limiter).at == pytest.approx(1000.2)
    assert shared.current.version == 2 and [sum(n for _, n in w) for w in shared.current.buckets] == [2, 2]


def test_grants_ahead_of_our_clock_count():
    """Another container's clock runs 300 ms ahead: its grants still count against ours."""
    clock = FakeClock()
    shared = InMemoryGrantLog()
    ahead = sliding(FakeClock(1000.3), windows_for(2, 100), log=shared)
    granted(ahead), granted(ahead)
    limiter = sliding(clock, windows_for(2, 100), log=shared)
    assert 1001.45 <= granted(limiter).at <= 1001.45 + 0.017   # not 1000.0: they leave at 1000.3 + 1.15


def most_in_any_window(calls: list[tuple[float, float]], span: float) -> int:
    """The most calls the API could count in one window of ``span`` (the last ``span`` seconds
    before an arrival, as the sandbox counts), each call arriving anywhere in its ``(earliest,
    latest)``: the worst case over every way the network could have delivered them."""
    return max((sum(1 for lo, hi in calls if hi > end - 1e-9 - span and lo <= end - 1e-9)
                for _, end in calls), default=0)


def test_an_own_call_counts_until_a_window_after_its_answer():
    """A call made through ``calling()`` reached JST between its grant and its answer: this
    process counts it until 1 s after the answer (+1 ms for reading whole ms), with no send
    allowance and no margin; a bare grant still counts for 1.15 s."""
    clock = FakeClock()
    limiter = sliding(clock, windows_for(5, 100))
    answers = []
    for _ in range(5):
        with limiter.calling():
            clock.now += 0.03   # the round trip
        answers.append(clock.now)
    with limiter.calling() as sixth:
        pass
    assert sixth.at == pytest.approx(answers[0] + 1.001)   # not 1001.15: the first call's answer + 1 s
    assert sixth.number == 6


def test_another_container_still_counts_our_calls_with_the_allowance_and_the_margin():
    clock = FakeClock()
    shared = InMemoryGrantLog()
    ours, theirs = (sliding(clock, windows_for(5, 100), log=shared) for _ in range(2))
    for _ in range(5):
        with ours.calling():
            pass
    assert 1001.15 <= granted(theirs).at <= 1001.15 + 0.017   # the shared counts know only grants


def test_an_own_call_in_flight_counts_however_late_its_answer():
    """Five calls sent, none answered yet: whatever the grants' buckets say, a sixth waits for an
    answer (JST may receive a slow call at any time before it answers)."""
    clock = FakeClock()
    limiter = sliding(clock, windows_for(5, 100), max_wait_seconds=3)
    open_calls = [limiter.calling() for _ in range(5)]
    for call in open_calls:
        call.__enter__()
    with pytest.raises(JstRateLimited):
        granted(limiter)      # 3 s later the buckets have long left the window, the calls have not
    open_calls[0].__exit__(None, None, None)
    answered = clock.now
    assert granted(limiter).at == pytest.approx(answered + 1.001)


def test_a_call_that_failed_unanswered_counts_the_allowance_past_its_failure():
    clock = FakeClock()
    limiter = sliding(clock, windows_for(1, 100))
    with pytest.raises(TimeoutError):
        with limiter.calling():
            clock.now += 5.0
            raise TimeoutError("no answer")   # the request may still be on its way
    failed = clock.now
    assert granted(limiter).at == pytest.approx(failed + 0.1 + 1.001)


@pytest.mark.parametrize("seed", range(6))
def test_own_calls_keep_to_the_limit_whatever_the_latency_and_its_jitter(seed):
    """Up to 5 calls at once through one limiter (a worker pool), each answered after 5 ms to
    1.5 s drawn at random (a slow, jittery network: later calls overtake earlier ones): wherever
    between its grant and its answer JST received each call, no second and no minute held more
    than the limit. Counted in virtual time: the clock moves only when the caller waits."""
    import random

    rng = random.Random(seed)
    clock = FakeClock()
    in_flight: list[tuple[float, int, object]] = []
    calls: list[list[float]] = []

    def deliver() -> None:
        for answer_at, n, call in sorted(in_flight, key=lambda item: item[:2]):
            if answer_at <= clock.now:
                in_flight.remove((answer_at, n, call))
                call.__exit__(None, None, None)
                calls[n][1] = clock.now

    def sleep(seconds: float) -> None:
        clock.now += seconds
        deliver()

    limiter = InMemorySlidingLogLimiter("app", windows_for(5, 40), clock=clock, sleep=sleep, max_wait_seconds=120)
    for n in range(120):
        while len(in_flight) >= 5:     # the pool's five workers are busy: the next call waits for one
            sleep(0.001)
        call = limiter.calling()
        grant = call.__enter__()
        calls.append([grant.at, math.inf])
        in_flight.append((clock.now + rng.choice((0.005, 0.02, rng.uniform(0.005, 1.5))), n, call))
        sleep(rng.choice((0.0, 0.0, rng.uniform(0.0, 0.3))))   # the next chunk is ready at once, or later
    while in_flight:
        sleep(0.01)
    received = [(lo, hi) for lo, hi in calls]
    assert most_in_any_window(received, 1.0) <= 5 and most_in_any_window(received, 60.0) <= 40
    # Not paced by the allowance: some call followed the call five before it by less than 1.15 s.
    grants = sorted(lo for lo, _ in calls)
    assert min(b - a for a, b in zip(grants, grants[5:])) < 1.1


def test_the_tenant_chooses_the_counting(monkeypatch, aws):
    from o2o_bridge.connectors.jushuitan import factory
    from o2o_bridge.tenant import parse_tenant

    from .test_doctor import tenant_doc

    doc = tenant_doc()
    doc["jushuitan"]["rate_limit"] = {"per_second": 3, "per_minute": 40}
    factory.forget()
    limiter = factory.jst_for_tenant(parse_tenant(doc)).client.limiter
    assert isinstance(limiter, DynamoSlidingLogLimiter)     # the default
    assert limiter.windows == (Window(1, 3), Window(60, 40)) and limiter.margin_seconds == 0.05

    doc["jushuitan"]["rate_limit"] = {"per_second": 3, "per_minute": 40, "counting": "sliding", "margin_ms": 120}
    limiter = factory.jst_for_tenant(parse_tenant(doc)).client.limiter   # a changed section rebuilds
    assert isinstance(limiter, DynamoSlidingLogLimiter) and limiter.margin_seconds == 0.12

    doc["jushuitan"]["rate_limit"] = {"per_second": 3, "per_minute": 40, "counting": "fixed"}
    limiter = factory.jst_for_tenant(parse_tenant(doc)).client.limiter
    assert isinstance(limiter, DynamoRateLimiter) and limiter.windows == (Window(1, 3), Window(60, 40))
    factory.forget()


@pytest.mark.parametrize("rate_limit, where", [
    ({"counting": "calendar"}, "counting"),
    ({"margin_ms": -1}, "margin_ms"),
    ({"margin_ms": 501}, "margin_ms"),
])
def test_the_tenant_file_refuses_an_unknown_counting_or_a_margin_out_of_bounds(rate_limit, where):
    from o2o_bridge.tenant import parse_tenant

    from .test_doctor import tenant_doc

    doc = tenant_doc()
    doc["jushuitan"]["rate_limit"] = rate_limit
    with pytest.raises(ValidationError) as caught:
        parse_tenant(doc)
    assert [e["loc"] for e in caught.value.errors()] == [("jushuitan", "rate_limit", where)]


def test_the_sliding_counts_item_in_state_table(aws):
    clock = FakeClock(1_764_000_000.0)
    client = boto3.client("dynamodb")
    limiter = DynamoSlidingLogLimiter(client, aws["STATE_TABLE"], "app-item", windows_for(2, 100),
                                      clock=clock, sleep=clock.sleep)
    grants = [granted(limiter).at for _ in range(3)]
    assert grants[:2] == [1_764_000_000.0, 1_764_000_000.0] and 1_764_000_001.15 <= grants[2] <= 1_764_000_001.167
    key = {"pk": {"S": "RATE#app-item"}, "sk": {"S": "LOG"}}
    item = client.get_item(TableName=aws["STATE_TABLE"], Key=key, ConsistentRead=True)["Item"]
    # Per window: the first bucket still inside it, then "offset:grants" (17 ms buckets for 1 s,
    # 1 s for 60 s); the two grants of the first second have left the 1 s window.
    assert item["w1"]["S"] == f"{math.ceil(grants[2] * 1000) // 17} 0:1" and item["w60"]["S"] == "1764000000 0:2 1:1"
    assert item["version"]["N"] == "3"   # one write per call
    assert int(item["expires_at"]["N"]) >= 1_764_000_001 + 60

    clock.now += 61     # a minute later the counts are trimmed on the next write
    other = DynamoSlidingLogLimiter(client, aws["STATE_TABLE"], "app-item", windows_for(2, 100),
                                    clock=clock, sleep=clock.sleep)
    granted(other)     # a new container: its first write is refused and returns the stored item
    item = client.get_item(TableName=aws["STATE_TABLE"], Key=key, ConsistentRead=True)["Item"]
    assert item["w60"]["S"] == "1764000062 0:1" and item["version"]["N"] == "4"
    # A fixed size whatever the limit: 1,000 calls in the last minute would not make it larger.
    assert sum(len(v.get("S", v.get("N", ""))) for v in item.values()) < 200


def test_a_refused_write_returns_the_stored_counts(aws):
    client = boto3.client("dynamodb")
    first = DynamoSlidingLogLimiter(client, aws["STATE_TABLE"], "app-race", windows_for(5, 100))
    second = DynamoSlidingLogLimiter(client, aws["STATE_TABLE"], "app-race", windows_for(5, 100))
    one = GrantLog((((58823, 1),), ((1000, 1),)))
    two = GrantLog((((58823, 2),), ((1000, 2),)))
    assert first._replace_if_unchanged(0, one) == (True, GrantLog(one.buckets, 1))
    assert second._replace_if_unchanged(0, one) == (False, GrantLog(one.buckets, 1))
    assert second._replace_if_unchanged(1, two) == (True, GrantLog(two.buckets, 2))
    assert first._replace_if_unchanged(1, one) == (False, GrantLog(two.buckets, 2))


# --- 4 concurrent workers against moto -------------------------------------------------------
class SharedVirtualClock:
    """One clock for every worker thread, in virtual time: it stands still while any worker is
    busy (its DynamoDB reads and conditional writes take no time on it) and moves on to the
    earliest wake-up only when every worker is asleep in its limiter's wait. The threads still
    race on the shared item for real, but how busy the machine is no longer decides how many
    slots a second the workers manage to take."""

    def __init__(self, now: float, workers: int) -> None:
        self.now = now
        self._busy = workers
        self._wakes: list[float] = []
        self._changed = threading.Condition()

    def __call__(self) -> float:
        with self._changed:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._changed:
            wake = self.now + seconds
            self._wakes.append(wake)
            self._busy -= 1
            self._move_on()
            while self.now < wake:
                self._changed.wait()
            self._wakes.remove(wake)
            self._busy += 1

    def leave(self) -> None:
        """A worker is done: time no longer waits for it."""
        with self._changed:
            self._busy -= 1
            self._move_on()

    def _move_on(self) -> None:
        if self._busy == 0 and self._wakes and min(self._wakes) > self.now:
            self.now = min(self._wakes)
            self._changed.notify_all()


START = 1_764_000_000.0  # a second boundary: only whole windows count


def run_workers(make_limiter, seconds: int, workers: int = 4) -> tuple[list[float], int, int]:
    """``workers`` threads, each with its own limiter object (as separate Lambda containers
    would have), take slots as fast as they can for ``seconds`` whole seconds of a shared
    virtual clock."""
    clock = SharedVirtualClock(START, workers)
    limiters = [make_limiter(clock) for _ in range(workers)]   # boto3's default session is not thread-safe
    start, stop = int(START), int(START) + seconds
    grants: list[float] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker(limiter):
        try:
            while True:
                grant = granted(limiter)
                if grant.at >= stop:
                    return
                with lock:
                    grants.append(grant.at)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
        finally:
            clock.leave()

    threads = [threading.Thread(target=worker, args=(limiter,)) for limiter in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and failures == [], failures
    return grants, start, stop


def dynamo(kind, table: str, key: str, windows):
    def make_limiter(clock):
        client = boto3.client("dynamodb")
        return kind(client, table, key, windows, max_wait_seconds=5, clock=clock, sleep=clock.sleep)

    return make_limiter


def test_four_concurrent_workers_share_one_limit_in_dynamodb(aws, item_atomic_moto):
    """5/s for 3 s across 4 workers: no calendar second ever sees more than 5 calls, and the
    workers together use every slot (none is lost to their races on the shared counters)."""
    limit, seconds = 5, 3
    grants, start, stop = run_workers(
        dynamo(DynamoRateLimiter, aws["STATE_TABLE"], "app-4w", windows_for(limit, 1000)), seconds)
    per_second = Counter(int(t) for t in grants)
    assert per_second == {second: limit for second in range(start, stop)}, dict(per_second)


def test_the_longer_window_is_shared_too(aws, item_atomic_moto):
    """The per-minute counter works the same way; shown with a 2-second window so the test
    stays short: 5/s but only 6 per 2 s."""
    grants, start, stop = run_workers(
        dynamo(DynamoRateLimiter, aws["STATE_TABLE"], "app-2s", [Window(1, 5), Window(2, 6)]), 4)
    per_second = Counter(int(t) for t in grants)
    per_two = Counter(int(t // 2) for t in grants)
    assert max(per_second.values()) <= 5 and max(per_two.values()) <= 6
    assert per_two == {pair: 6 for pair in range(start // 2, stop // 2)}, sorted(grants)  # every slot used


def test_four_concurrent_workers_share_one_sliding_log_in_dynamodb(aws, item_atomic_moto):
    """The same 5/s for 3 s with sliding counting: no 1 s interval (widened by the margin and the
    send allowance), wherever it starts, sees more than 5 calls, and every slot is used: 5 at the
    start, then 5 each second and the widening later."""
    limit, seconds = 5, 3
    grants, start, stop = run_workers(
        dynamo(DynamoSlidingLogLimiter, aws["STATE_TABLE"], "app-4w-log", windows_for(limit, 1000)), seconds)
    assert busiest(grants, 1.0 + WIDENED) <= limit, sorted(grants)
    assert len(grants) == limit * seconds, sorted(grants)


def test_the_longer_sliding_window_is_shared_too(aws, item_atomic_moto):
    """The 60 s window of the counts, shown with a 2-second one: 5/s but only 6 in any 2 s."""
    grants, start, stop = run_workers(
        dynamo(DynamoSlidingLogLimiter, aws["STATE_TABLE"], "app-2s-log", [Window(1, 5), Window(2, 6)]), 4)
    assert busiest(grants, 1.0 + WIDENED) <= 5 and busiest(grants, 2.0 + WIDENED) <= 6, sorted(grants)
    assert len(grants) == 6 * 2, sorted(grants)  # every slot of the two 2-second spans is used


def test_four_workers_calling_through_dynamodb_keep_to_the_limit_wherever_jst_receives_their_calls(
        aws, item_atomic_moto):
    """4 containers (own limiter objects, one shared item), each sending through ``calling()``
    with a round trip of 0-100 ms of virtual time: each counts its own calls from their answers
    and the others' by their grants. Wherever JST received each call (between its grant and its
    answer, within the send allowance), no second held more than 5, and every slot was used."""
    import random

    limit, seconds, workers = 5, 3, 4
    clock = SharedVirtualClock(START, workers)
    make = dynamo(DynamoSlidingLogLimiter, aws["STATE_TABLE"], "app-4w-calling", windows_for(limit, 1000))
    limiters = [make(clock) for _ in range(workers)]
    stop = int(START) + seconds
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker(n: int, limiter) -> None:
        rng = random.Random(n)
        try:
            while True:
                with limiter.calling() as grant:
                    if grant.at >= stop:
                        return
                    clock.sleep(rng.uniform(0.0, 0.1))   # the round trip
                    answered = clock()
                with lock:
                    calls.append((grant.at, answered))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            clock.leave()

    threads = [threading.Thread(target=worker, args=(n, limiter)) for n, limiter in enumerate(limiters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and failures == [], failures
    assert most_in_any_window(calls, 1.0) <= limit, sorted(calls)
    assert len(calls) >= limit * seconds - 1, sorted(calls)   # the limit used (a slot may straddle the end)


# --- record writes riding with a grant (ports.GrantRiders) -------------------------------------
class _CountingClient:
    """The DynamoDB client, counting the requests made through it."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, Counter()

    def __getattr__(self, name):
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return call


def _riders(store, *writes):
    from o2o_bridge.ports import GrantRiders

    return GrantRiders("10010", list(writes), ("stock:offline", "stock.offline.uploaded", {"skus": 1}),
                       store.write_records_together)


def test_riders_go_in_the_grants_own_request(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import DynamoStateStore
    from o2o_bridge.ports import TogetherWrite

    client = _CountingClient(boto3.client("dynamodb"))
    store = DynamoStateStore(client.client, aws["STATE_TABLE"])
    limiter = DynamoSlidingLogLimiter(client, aws["STATE_TABLE"], "app-riders", windows_for(5, 100))
    riders = _riders(store, TogetherWrite("stock.flush_taken", "f1", {"sent": {"A": 3}}, expect_version=True))
    with limiter.calling(riders):
        assert riders.written  # before the call goes out
    assert client.calls == Counter({"transact_write_items": 1})  # one request: the grant and its riders
    assert store.get_record("10010", "stock.flush_taken", "f1").data == {"sent": {"A": 3}}
    assert limiter._known.version == 1


def test_a_refused_rider_is_told_apart_from_a_lost_grant_and_the_grant_goes_alone(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import DynamoStateStore
    from o2o_bridge.ports import TogetherWrite

    client = _CountingClient(boto3.client("dynamodb"))
    store = DynamoStateStore(client.client, aws["STATE_TABLE"])
    store.put_record("10010", "stock.flush_taken", "f2", {"sent": {}})  # the rider's condition (absent) fails
    limiter = DynamoSlidingLogLimiter(client, aws["STATE_TABLE"], "app-riders-refused", windows_for(5, 100))
    riders = _riders(store, TogetherWrite("stock.flush_taken", "f2", {"sent": {"A": 3}}, expect_version=True),
                     TogetherWrite("stock.dirty", " flush", {"closed": True}))
    with limiter.calling(riders):
        pass
    assert riders.sent and not riders.written
    assert [failed for failed, _ in riders.refused] == [True, False]
    assert riders.refused[0][1].data == {"sent": {}}  # what is stored came back with the refusal
    assert store.get_record("10010", "stock.dirty", " flush") is None  # nothing of the riders written
    # the grant's condition held: it is written alone next (no re-decision on a lost race)
    assert client.calls == Counter({"transact_write_items": 1, "put_item": 1}) and limiter._known.version == 1


def test_riders_wait_for_the_grant_a_lost_race_decides_again(aws):
    from o2o_bridge.connectors.aws.dynamodb_state import DynamoStateStore
    from o2o_bridge.ports import TogetherWrite

    client = _CountingClient(boto3.client("dynamodb"))
    store = DynamoStateStore(client.client, aws["STATE_TABLE"])
    ahead = DynamoSlidingLogLimiter(client.client, aws["STATE_TABLE"], "app-riders-race", windows_for(5, 100))
    ahead.acquire()  # another container took a grant: this limiter's view (nothing stored) is stale
    limiter = DynamoSlidingLogLimiter(client, aws["STATE_TABLE"], "app-riders-race", windows_for(5, 100))
    riders = _riders(store, TogetherWrite("stock.flush_taken", "f3", {"sent": {"A": 1}}, expect_version=True))
    with limiter.calling(riders):
        assert riders.written
    # refused on the grant alone (the riders' conditions held): decided again on the counts returned,
    # the riders in the second request with it
    assert client.calls == Counter({"transact_write_items": 2}) and limiter._known.version == 2
    assert store.get_record("10010", "stock.flush_taken", "f3") is not None


def test_a_limiter_that_cannot_join_writes_the_riders_first():
    from fakes import FakeRecords
    from o2o_bridge.ports import GrantRiders, TogetherWrite

    records = FakeRecords()
    riders = GrantRiders("10010", [TogetherWrite("k", "a", {"x": 1})], None, records.write_together)
    clock = FakeClock()
    with sliding(clock, windows_for(5, 100)).calling(riders):
        assert riders.written and records.get("10010", "k", "a").data == {"x": 1}
    refused = GrantRiders("10010", [TogetherWrite("k", "a", {"x": 2}, expect_version=True)], None,
                          records.write_together)
    with InMemoryRateLimiter("app", windows_for(5, 100), clock=clock, sleep=clock.sleep).calling(refused):
        assert refused.sent and not refused.written and records.get("10010", "k", "a").data == {"x": 1}
