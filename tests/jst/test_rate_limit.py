"""Per-app pacing: the window arithmetic with a fake clock, and the shared DynamoDB limiter
under 4 concurrent workers (threads against moto)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from o2o_bridge.adapters.jst.errors import JstRateLimited
from o2o_bridge.adapters.jst.rate_limit import DynamoRateLimiter, InMemoryRateLimiter, Window, windows_for


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_in_memory_limiter_respects_both_windows():
    clock = FakeClock()
    limiter = InMemoryRateLimiter("app", windows_for(5, 12), clock=clock, sleep=clock.sleep, max_wait_seconds=120)
    grants = [limiter.acquire().at for _ in range(30)]
    per_second = Counter(int(t) for t in grants)
    per_minute = Counter(int(t // 60) for t in grants)
    assert max(per_second.values()) == 5
    assert max(per_minute.values()) == 12


def test_a_wait_longer_than_allowed_is_a_transient_error_with_retry_after():
    clock = FakeClock(1040.0)  # minute 17 (1020-1080) has 40 s left
    limiter = InMemoryRateLimiter("app", windows_for(5, 3), clock=clock, sleep=clock.sleep, max_wait_seconds=10)
    for _ in range(3):
        limiter.acquire()
    with pytest.raises(JstRateLimited) as caught:
        limiter.acquire()
    assert caught.value.retryable and caught.value.retry_after_seconds == 40


def test_the_limit_is_taken_from_the_tenant(monkeypatch, aws):
    from o2o_bridge.adapters.jst import factory
    from o2o_bridge.tenant import parse_tenant

    from .test_doctor import tenant_doc

    doc = tenant_doc()
    doc["jushuitan"]["rate_limit"] = {"per_second": 3, "per_minute": 40}
    factory.forget()
    adapter = factory.jst_for_tenant(parse_tenant(doc))
    assert adapter.client.limiter.windows == (Window(1, 3), Window(60, 40))
    assert isinstance(adapter.client.limiter, DynamoRateLimiter)
    factory.forget()


def run_workers(table: str, key: str, windows, seconds: int, workers: int = 4) -> tuple[list[float], int, int]:
    """``workers`` threads, each with its own limiter object (as separate Lambda containers
    would have), take slots as fast as they can for ``seconds`` whole seconds."""
    import boto3

    start = int(time.time()) + 1  # begin on a second boundary so only whole windows count
    stop = start + seconds
    grants: list[float] = []
    lock = threading.Lock()

    def worker():
        limiter = DynamoRateLimiter(boto3.client("dynamodb"), table, key, windows, max_wait_seconds=5)
        while time.time() < start:
            time.sleep(0.001)
        while True:
            grant = limiter.acquire()
            if grant.at >= stop:
                return
            with lock:
                grants.append(grant.at)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    return grants, start, stop


def test_four_concurrent_workers_share_one_limit_in_dynamodb(aws, item_atomic_moto):
    """5/s for 3 s across 4 workers: no second ever sees more than 5 calls, and at least
    90 % of the available slots are used."""
    limit, seconds = 5, 3
    grants, start, stop = run_workers(aws["STATE_TABLE"], "app-4w", windows_for(limit, 1000), seconds)
    per_second = Counter(int(t) for t in grants)
    assert {s: n for s, n in per_second.items() if n > limit} == {}
    used = sum(n for s, n in per_second.items() if start <= s < stop)
    assert used >= 0.9 * limit * seconds, f"only {used} of {limit * seconds} slots used: {dict(per_second)}"


def test_the_longer_window_is_shared_too(aws, item_atomic_moto):
    """The per-minute counter works the same way; shown with a 2-second window so the test
    stays short: 5/s but only 6 per 2 s."""
    grants, start, stop = run_workers(aws["STATE_TABLE"], "app-2s", [Window(1, 5), Window(2, 6)], 4)
    per_second = Counter(int(t) for t in grants)
    per_two = Counter(int(t // 2) for t in grants)
    assert max(per_second.values()) <= 5 and max(per_two.values()) <= 6
    assert len(grants) >= 0.9 * 6 * 2
