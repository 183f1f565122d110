"""Pacing calls to one JST app across every Lambda that uses it (§4 "Rate limits").

JST counts per app: 5 calls a second (code 199) and 100 a minute (code 200) by default,
per API permission package. Each Lambda container has its own process, so the count lives
in DynamoDB: one counter item per app_key and window (``RATE#<app_key>#<len>s#<window
no.>``), taken with a conditional ``ADD`` so two containers can never both take the last
slot. All windows of a call are taken in one transaction: a call that fits the second
but not the minute takes neither.

Windows are fixed (calendar seconds and minutes of the epoch), which is what the limit
test checks. A caller waits for the next window up to ``max_wait_seconds``; beyond that
it gets a TransientError with ``retry_after_seconds`` so the retry queue waits instead of
a Lambda burning its timeout.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from botocore.exceptions import ClientError

from .errors import JstRateLimited


@dataclass(frozen=True)
class Window:
    seconds: int
    limit: int


def windows_for(per_second: int, per_minute: int) -> tuple[Window, ...]:
    return (Window(1, per_second), Window(60, per_minute))


@dataclass(frozen=True)
class Grant:
    """A slot: the call may be made now; ``at`` is the clock reading inside the counted windows."""

    at: float
    waited: float


class RateLimiter(Protocol):
    def acquire(self) -> Grant:
        """Block until a call fits every window, or raise JstRateLimited (transient)."""


class _WindowedLimiter:
    """The waiting loop; subclasses say how a set of window slots is taken atomically."""

    def __init__(self, key: str, windows: Sequence[Window], *, max_wait_seconds: float = 10.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.key = key
        self.windows = tuple(windows)
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock
        self.sleep = sleep

    def _try_take(self, slots: list[tuple[Window, int]]) -> Window | None:
        """Take one slot in each (window, window number); return the full window, or None if taken."""
        raise NotImplementedError

    def acquire(self) -> Grant:
        started = self.clock()
        while True:
            now = self.clock()
            slots = [(w, int(now // w.seconds)) for w in self.windows]
            full = self._try_take(slots)
            if full is None:
                after = self.clock()
                # The take may have been slow: a slot counted in a window that has since
                # closed is wasted rather than spent in the next window uncounted.
                if all(int(after // w.seconds) == number for w, number in slots):
                    return Grant(after, after - started)
                continue
            number = int(now // full.seconds)
            wait = (number + 1) * full.seconds - now
            waited = now - started
            if waited + wait > self.max_wait_seconds:
                raise JstRateLimited(
                    f"JST app rate limit reached ({full.limit} calls per {full.seconds}s); try again later",
                    retry_after_seconds=math.ceil(wait),
                )
            # A little jitter so waiting containers do not all hit the table at the same instant.
            self.sleep(wait + random.uniform(0.001, 0.02))


class InMemoryRateLimiter(_WindowedLimiter):
    """One process only (tests, single-process tools): no sharing across containers."""

    def __init__(self, key: str, windows: Sequence[Window], **kwargs: Any) -> None:
        super().__init__(key, windows, **kwargs)
        self._counts: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def _try_take(self, slots):
        with self._lock:
            for window, number in slots:
                if self._counts.get((window.seconds, number), 0) >= window.limit:
                    return window
            for window, number in slots:
                self._counts[(window.seconds, number)] = self._counts.get((window.seconds, number), 0) + 1
            return None


class DynamoRateLimiter(_WindowedLimiter):
    """Shared by every container: conditional counters in StateTable, expiring by TTL."""

    def __init__(self, client: Any, table: str, key: str, windows: Sequence[Window], **kwargs: Any) -> None:
        super().__init__(key, windows, **kwargs)
        self.client = client
        self.table = table

    def _item_key(self, window: Window, number: int) -> dict[str, Any]:
        return {"pk": {"S": f"RATE#{self.key}#{window.seconds}s#{number}"}, "sk": {"S": "COUNT"}}

    def _try_take(self, slots):
        items = []
        for window, number in slots:
            items.append({
                "Update": {
                    "TableName": self.table,
                    "Key": self._item_key(window, number),
                    "UpdateExpression": "ADD calls :one SET expires_at = if_not_exists(expires_at, :expires)",
                    "ConditionExpression": "attribute_not_exists(calls) OR calls < :limit",
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":limit": {"N": str(window.limit)},
                        ":expires": {"N": str((number + 2) * window.seconds + 60)},
                    },
                }
            })
        for _ in range(20):
            try:
                self.client.transact_write_items(TransactItems=items)
                return None
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                for (window, _), reason in zip(slots, reasons):
                    if reason.get("Code") == "ConditionalCheckFailed":
                        return window
                # Cancelled by a concurrent transaction on the same counter: not full, try again.
                self.sleep(random.uniform(0.001, 0.01))
        return slots[0][0]
