"""Pacing calls to one outside API account across every Lambda that uses it.

An API such as JST or 旺店通 counts calls per app (per second, per minute). Each Lambda
container has its own process, so the count lives in DynamoDB (StateTable) and every
container takes its slots there. A connector builds one limiter per account, with a key
naming the account (JST: the app key; 旺店通: ``wdt:<sid>:<appkey>``), its windows, and
the transient error its callers expect.

Two ways of counting:

``sliding`` (the default): a sliding log. One item per key (``RATE#<key>`` / ``LOG``)
holds the grant time of every call of the longest window (epoch seconds at millisecond
resolution, trimmed on each write) and a ``version``. A call is granted when fewer than
``limit`` grants lie within the last ``seconds + margin`` of every window, and the grant is
recorded with a write conditional on the version read: two containers that decided on the
same state cannot both write, the loser re-decides on the winner's log. So no interval of
a window's length, wherever it starts, ever holds more than the limit: the strictest way
the API could count is respected.

An API counts a call when it *arrives*, which may be well after its grant (a container
descheduled between the two). So a grant is recorded *in flight* and counts as "now" for
everyone until its caller reports the call finished (``complete``), when its stamp becomes
the finishing time, an upper bound of the arrival; a caller that never reports stops
holding its slot after ``in_flight_cap``. The margin (default 50 ms) covers clock skew
between containers. The price: two conditional writes per call, each of an item of about
10 bytes per grant of the longest window, and at most ``limit / (window + margin + call
time)`` calls.

``fixed``: one counter item per key and calendar window (``RATE#<key>#<len>s#<window
no.>``), taken with a conditional ``ADD``; all windows of a call in one transaction, so a
call that fits the second but not the minute takes neither. Cheap and exact for calendar
windows, but a burst across a boundary puts up to 2N calls into one sliding window.

Either way a caller waits for a free slot up to ``max_wait_seconds``; beyond that it gets
the connector's transient error with ``retry_after_seconds`` so the retry queue waits
instead of a Lambda burning its timeout.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Protocol, Sequence

from botocore.exceptions import ClientError

from ..errors import TransientError

DEFAULT_MARGIN_SECONDS = 0.05
# How often a caller blocked only by calls still in flight looks again (they usually end within
# tens of milliseconds; sleeping a whole window would waste the slot they free).
IN_FLIGHT_POLL_SECONDS = 0.03
# An in-flight grant whose caller never reports back stops holding its slot after this long:
# longer than any API call may take (the client's read timeout is 30 s).
DEFAULT_IN_FLIGHT_CAP_SECONDS = 45.0


def _jitter() -> float:
    """Added to every wait so waiting containers do not all hit the table at the same instant."""
    return random.uniform(0.001, 0.02)


@dataclass(frozen=True)
class Window:
    seconds: int
    limit: int


def windows_for(per_second: int, per_minute: int) -> tuple[Window, ...]:
    return (Window(1, per_second), Window(60, per_minute))


@dataclass(frozen=True)
class Grant:
    """A slot: the call may be made now; ``at`` is the clock reading inside the counted windows.
    ``stamp`` identifies an in-flight grant of a sliding log (whole ms), None elsewhere."""

    at: float
    waited: float
    stamp: int | None = None


class RateLimiter(Protocol):
    def acquire(self) -> Grant:
        """Block until a call fits every window, or raise the limiter's refusal (transient)."""

    def complete(self, grant: Grant) -> None:
        """The call of ``grant`` is over (answered, failed or timed out)."""


class RateLimitReached(TransientError):
    """No slot within the wait a caller may spend: the work waits in the retry queue."""


def refuse_as_transient(message: str, retry_after_seconds: int) -> TransientError:
    return RateLimitReached(message, retry_after_seconds=retry_after_seconds)


class _Refusing:
    """What a limiter says when the wait is too long. A connector names its API (``label``)
    and raises its own transient class (``refusal``)."""

    label: str = "API"
    refusal: Callable[[str, int], TransientError] = staticmethod(refuse_as_transient)

    def _refuse(self, what: str, retry_after_seconds: int) -> TransientError:
        return self.refusal(f"{self.label} {what}", retry_after_seconds)


class _WindowedLimiter(_Refusing):
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
                raise self._refuse(f"rate limit reached ({full.limit} calls per {full.seconds}s); try again later", math.ceil(wait))
            self.sleep(wait + _jitter())

    def complete(self, grant: Grant) -> None:
        """Calendar windows count grants, not arrivals: nothing to do."""


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


# --- sliding log ------------------------------------------------------------------------
@dataclass(frozen=True)
class GrantLog:
    """The shared state of a sliding-log limiter: grant stamps (epoch milliseconds, sorted)
    and the version of the stored item (0 = nothing stored yet)."""

    stamps: tuple[int, ...] = ()
    version: int = 0
    # Stamps (a sub-multiset of ``stamps``) whose calls may not have reached the API yet.
    in_flight: tuple[int, ...] = ()


def _without_one(values: tuple[int, ...], value: int) -> tuple[int, ...]:
    index = values.index(value)
    return values[:index] + values[index + 1:]


class _SlidingLogLimiter(_Refusing):
    """The decision and waiting loop; subclasses say how the log is replaced if unchanged.

    Stamps are whole milliseconds rounded up, so integer arithmetic decides: a grant is
    recorded no earlier than it was made, which can only make the count stricter.
    """

    def __init__(self, key: str, windows: Sequence[Window], *, margin_seconds: float = DEFAULT_MARGIN_SECONDS,
                 max_wait_seconds: float = 10.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 in_flight_cap_seconds: float = DEFAULT_IN_FLIGHT_CAP_SECONDS) -> None:
        if margin_seconds < 0:
            raise ValueError("margin_seconds must be >= 0")
        self._in_flight_cap_ms = round(in_flight_cap_seconds * 1000)
        self.key = key
        self.windows = tuple(windows)
        self.margin_seconds = margin_seconds
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock
        self.sleep = sleep
        self._margin_ms = round(margin_seconds * 1000)
        self._kept_ms = max(w.seconds for w in self.windows) * 1000 + self._margin_ms
        # The last log this object saw. A stale one costs one refused write, never a grant too many.
        self._known = GrantLog()

    def _replace_if_unchanged(self, expected_version: int, stamps: tuple[int, ...],
                              in_flight: tuple[int, ...] = ()) -> tuple[bool, GrantLog]:
        """Store ``stamps`` (of which ``in_flight``) as version expected_version + 1 if the stored
        version is still ``expected_version``: (True, the new log), else (False, the log stored now)."""
        raise NotImplementedError

    def _read(self) -> GrantLog:
        """The stored log now."""
        raise NotImplementedError

    def _counted(self, log: GrantLog, now_ms: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(what each grant counts as now, the stamps to keep, the in-flight ones to keep).
        An in-flight call may reach the API at any moment until it is reported, so it counts as now."""
        counted, kept, flying = [], [], list(log.in_flight)
        for stamp in log.stamps:
            if stamp in flying:
                flying.remove(stamp)
                at = min(now_ms, stamp + self._in_flight_cap_ms)
                in_flight = at == now_ms
            else:
                at, in_flight = stamp, False
            if at > now_ms - self._kept_ms:
                counted.append(at)
                kept.append(stamp)
        kept_in_flight = tuple(s for s in log.in_flight if s in kept and s + self._in_flight_cap_ms > now_ms)
        return tuple(sorted(counted)), tuple(kept), kept_in_flight

    def _wait_ms(self, stamps: tuple[int, ...], now_ms: int) -> tuple[int, Window | None]:
        """How long until one more grant fits every window (0: now), and the window that is full."""
        longest, full = 0, None
        for window in self.windows:
            span = window.seconds * 1000 + self._margin_ms
            inside = [s for s in stamps if s > now_ms - span]
            if len(inside) >= window.limit:
                # Free once the oldest stamps have left the span and limit - 1 remain.
                wait = inside[len(inside) - window.limit] + span - now_ms
                if wait > longest:
                    longest, full = wait, window
        return longest, full

    def acquire(self) -> Grant:
        started = self.clock()
        log = self._known
        while True:
            now = self.clock()
            now_ms = math.ceil(now * 1000)
            # Stamps ahead of our clock (another container's skew) are kept and counted.
            counted, stamps, in_flight = self._counted(log, now_ms)
            wait_ms, full = self._wait_ms(counted, now_ms)
            waited = now - started
            if full is not None and wait_ms >= full.seconds * 1000 + self._margin_ms and in_flight:
                # Full only because of calls still in flight: look again shortly.
                if waited + IN_FLIGHT_POLL_SECONDS > self.max_wait_seconds:
                    raise self._refuse("rate limit reached (calls in flight); try again later", 1)
                self.sleep(IN_FLIGHT_POLL_SECONDS + _jitter())
                log = self._known = self._read()
                continue
            if full is not None:
                wait = wait_ms / 1000
                if waited + wait > self.max_wait_seconds:
                    raise self._refuse(f"rate limit reached ({full.limit} calls per {full.seconds}s); try again later", math.ceil(wait))
                self.sleep(wait + _jitter())
                continue
            if waited > self.max_wait_seconds:
                raise self._refuse("rate limiter busy (too many containers at once); try again later", 1)
            written, log = self._replace_if_unchanged(log.version, tuple(sorted(stamps + (now_ms,))),
                                                      tuple(sorted(in_flight + (now_ms,))))
            self._known = log
            if written:
                return Grant(now, self.clock() - started, stamp=now_ms)
            # Another container wrote first: decide again on its log (no sleep, no read needed).

    def complete(self, grant: Grant) -> None:
        """The call is over: its stamp becomes now (no later than it reached the API) and stops
        counting as in flight. Contended writes are decided again on the winner's log; a
        report that cannot be written (busy table) leaves the slot to ``in_flight_cap``."""
        if grant.stamp is None:
            return
        log = self._known
        for _ in range(20):
            if grant.stamp not in log.in_flight:
                return  # trimmed, or expired by the cap
            done_ms = max(grant.stamp, math.ceil(self.clock() * 1000))
            stamps = tuple(sorted(_without_one(log.stamps, grant.stamp) + (done_ms,)))
            written, log = self._replace_if_unchanged(log.version, stamps, _without_one(log.in_flight, grant.stamp))
            self._known = log
            if written:
                return


class InMemoryGrantLog:
    """The stored log for in-memory sliding limiters; limiter objects sharing one play
    separate containers sharing the StateTable item."""

    def __init__(self) -> None:
        self.current = GrantLog()
        self._lock = threading.Lock()

    def replace_if_unchanged(self, expected_version: int, stamps: tuple[int, ...],
                             in_flight: tuple[int, ...] = ()) -> tuple[bool, GrantLog]:
        with self._lock:
            if self.current.version != expected_version:
                return False, self.current
            self.current = GrantLog(stamps, expected_version + 1, in_flight)
            return True, self.current


class InMemorySlidingLogLimiter(_SlidingLogLimiter):
    """The sliding log in one process (tests, single-process tools): same decisions as the
    DynamoDB one, shared only with limiters given the same ``log``."""

    def __init__(self, key: str, windows: Sequence[Window], *, log: InMemoryGrantLog | None = None,
                 **kwargs: Any) -> None:
        super().__init__(key, windows, **kwargs)
        self.log = log or InMemoryGrantLog()

    def _replace_if_unchanged(self, expected_version, stamps, in_flight=()):
        return self.log.replace_if_unchanged(expected_version, stamps, in_flight)

    def _read(self) -> GrantLog:
        return self.log.current


def _seconds_text(stamp_ms: int) -> str:
    return f"{stamp_ms // 1000}.{stamp_ms % 1000:03d}"


class DynamoSlidingLogLimiter(_SlidingLogLimiter):
    """Shared by every container: ``RATE#<key>`` / ``LOG`` in StateTable, replaced with a
    version-conditional put, expiring by TTL once a minute passes without a call."""

    def __init__(self, client: Any, table: str, key: str, windows: Sequence[Window], **kwargs: Any) -> None:
        super().__init__(key, windows, **kwargs)
        self.client = client
        self.table = table

    def _item_key(self) -> dict[str, Any]:
        return {"pk": {"S": f"RATE#{self.key}"}, "sk": {"S": "LOG"}}

    @staticmethod
    def _log_of(item: dict[str, Any] | None) -> GrantLog:
        if not item:
            return GrantLog()
        stamps = sorted(int(Decimal(v["N"]) * 1000) for v in item.get("grants", {}).get("L", []))
        in_flight = sorted(int(Decimal(v["N"]) * 1000) for v in item.get("in_flight", {}).get("L", []))
        return GrantLog(tuple(stamps), int(item["version"]["N"]), tuple(in_flight))

    def _read(self) -> GrantLog:
        return self._log_of(self.client.get_item(TableName=self.table, Key=self._item_key(),
                                                 ConsistentRead=True).get("Item"))

    def _replace_if_unchanged(self, expected_version, stamps, in_flight=()):
        newest = max(stamps)
        item = {
            **self._item_key(),
            "grants": {"L": [{"N": _seconds_text(s)} for s in stamps]},
            "version": {"N": str(expected_version + 1)},
            "expires_at": {"N": str(newest // 1000 + (self._kept_ms + self._in_flight_cap_ms) // 1000 + 60)},
        }
        if in_flight:
            item["in_flight"] = {"L": [{"N": _seconds_text(s)} for s in in_flight]}
        request: dict[str, Any] = {"TableName": self.table, "Item": item,
                                   "ExpressionAttributeNames": {"#version": "version"},
                                   # The refused write returns the stored item: no read to catch up.
                                   "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if expected_version:
            request["ConditionExpression"] = "#version = :expected"
            request["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        else:
            request["ConditionExpression"] = "attribute_not_exists(#version)"
        try:
            self.client.put_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            current = exc.response.get("Item")
            if current is None:  # the item is gone (TTL) or the service did not return it
                current = self.client.get_item(TableName=self.table, Key=self._item_key(),
                                               ConsistentRead=True).get("Item")
            return False, self._log_of(current)
        return True, GrantLog(stamps, expected_version + 1, tuple(in_flight))
