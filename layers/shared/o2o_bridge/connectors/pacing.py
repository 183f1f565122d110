"""Pacing calls to one outside API account across every Lambda that uses it.

An API such as JST or 旺店通 counts calls per app (per second, per minute). Each Lambda
container has its own process, so the count lives in DynamoDB (StateTable) and every
container takes its slots there. A connector builds one limiter per account, with a key
naming the account (JST: the app key; 旺店通: ``wdt:<sid>:<appkey>``), its windows, and
the transient error its callers expect.

Two ways of counting:

``sliding`` (the default): sliding counts. One item per key (``RATE#<key>`` / ``LOG``)
holds, for each window, the grants of the last window counted in 60 buckets of 1/60 of the
window (a 1 s window: 17 ms buckets; a minute: 1 s buckets), and a ``version``: a fixed size
(a few hundred bytes, one write unit) whatever the limit. A call is granted when fewer than
``limit`` grants lie in the buckets reaching into the last ``seconds + margin + send
allowance`` of every window, and the grant is recorded with one write conditional on the
version read: two containers that decided on the same state cannot both write, the loser
re-decides on the winner's counts (returned by the refused write). So no interval of a
window's length, wherever it starts, ever holds more than the limit: the strictest way the
API could count is respected, at the price of at most one bucket of the window.

An API counts a call when it *arrives*, which is after its grant. For the grants in the shared
item each window is lengthened by the send allowance (default 100 ms), the most a granted call
may take to reach the API: the client sends at once after its grant, and a grant whose own
write took more than half the allowance is given up (its slot wasted, never overspent). The
margin (default 50 ms) covers clock skew between containers. So a call costs one conditional
write, and across containers at most ``limit / (window + margin + allowance)`` calls go out per
window. A client that sends inside ``calling()`` tells the limiter when the answer came; the
limiter object that granted the call then counts it by that (it arrived before its answer):
in flight, it counts; answered, until a window after the answer, with no allowance and no
margin. So the calls of one process are paced at one window plus a round trip, whatever the
network's latency or jitter, and other containers still count them by their grants.

``fixed``: one counter item per key and calendar window (``RATE#<key>#<len>s#<window
no.>``), taken with a conditional ``ADD``; all windows of a call in one transaction, so a
call that fits the second but not the minute takes neither. Cheap and exact for calendar
windows, but a burst across a boundary puts up to 2N calls into one sliding window.

Either way a caller waits for a free slot up to ``max_wait_seconds``; beyond that it gets
the connector's transient error with ``retry_after_seconds`` so the retry queue waits
instead of a Lambda burning its timeout.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

from botocore.exceptions import ClientError

from ..errors import TransientError

DEFAULT_MARGIN_SECONDS = 0.05
# The most a granted call may take from its grant to the API (the grant's write returning, the
# request going out, the network): every sliding window is lengthened by it.
DEFAULT_SEND_ALLOWANCE_SECONDS = 0.1
# Each sliding window is counted in this many buckets: a fixed-size item, at most one bucket
# (1/60 of the window) counted longer than the window.
BUCKETS_PER_WINDOW = 60


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
    """A slot: the call may be made now; ``at`` is the clock reading inside the counted windows;
    ``number`` names a call made through ``calling()`` (0: a bare ``acquire()``)."""

    at: float
    waited: float
    number: int = 0


class RateLimiter(Protocol):
    def acquire(self) -> Grant:
        """Block until a call fits every window, or raise the limiter's refusal (transient).
        The caller sends its call at once."""

    def calling(self, riders: Any = None) -> Any:
        """``with limiter.calling(): send(...)``: a slot as ``acquire()`` gives it, the call
        sent inside the block, and the block's end taken as the call's answer (the API received
        it before then), which a limiter may use to count the call more tightly. ``riders``
        (ports.GrantRiders): record writes sent with the grant, in its request, where the limiter
        writes its grant to StateTable; else written on their own before the grant. Either way
        they are sent (or refused) before the block's body runs."""


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

    @contextmanager
    def calling(self, riders: Any = None) -> Iterator[Grant]:
        """A slot for one call sent inside the block (calendar windows learn nothing from its answer).
        ``riders`` are written on their own first: a fixed window's counters take no riders."""
        if riders is not None:
            riders.send_apart()
        yield self.acquire()


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


# --- sliding counts -----------------------------------------------------------------------
@dataclass(frozen=True)
class GrantLog:
    """The shared state of a sliding limiter: for each window (in the limiter's order) the
    grants counted per bucket, ``((bucket number, grants), ...)`` oldest first, and the
    version of the stored item (0 = nothing stored yet)."""

    buckets: tuple[tuple[tuple[int, int], ...], ...] = ()
    version: int = 0


# A call this process made and saw answered counts until its answer plus the window plus this
# much: both instants are read in whole ms, so the next call's earliest arrival is then strictly
# more than a window after the answer (the sandbox, like JST, counts the last 1 s / 60 s).
OWN_RESOLUTION_MS = 1
# How often a caller looks again while the window is full of this process's calls in flight
# (their answers, not a time, free it).
IN_FLIGHT_POLL_SECONDS = 0.01


@dataclass
class _OwnCall:
    """A call made through ``calling()`` by this limiter object: granted at ``at_ms`` (the
    instant its shared bucket holds); in flight until ``answered`` (a clock reading) is set."""

    at_ms: int
    answered: float | None = None


class _SlidingLogLimiter(_Refusing):
    """The decision and waiting loop; subclasses say how the counts are replaced if unchanged.

    Each window is cut into ``BUCKETS_PER_WINDOW`` buckets of ``window / BUCKETS_PER_WINDOW``
    (whole ms, rounded up); a grant is counted in the bucket of its time (epoch ms, rounded up)
    and a bucket counts for the whole window while any part of it lies inside the window:
    at most one bucket longer than the exact log, never a grant too few.

    A grant is all the shared counts say of a call: it reached the API at most the send
    allowance after it (and, from another container, the margin for clock skew). A call made
    through ``calling()`` is known better here, in the process that made it: the API received
    it between its grant and its answer. So this object counts its own calls by what it saw,
    not by the grant's bucket: in flight, it counts (however late it may arrive); answered, it
    counts until a window after its answer, with no allowance and no margin (one clock). Other
    containers still count it by its bucket. Same write, same item: only the decision is tighter.
    """

    def __init__(self, key: str, windows: Sequence[Window], *, margin_seconds: float = DEFAULT_MARGIN_SECONDS,
                 send_allowance_seconds: float = DEFAULT_SEND_ALLOWANCE_SECONDS,
                 max_wait_seconds: float = 10.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if margin_seconds < 0 or send_allowance_seconds < 0:
            raise ValueError("margin_seconds and send_allowance_seconds must be >= 0")
        self.key = key
        self.windows = tuple(windows)
        self.margin_seconds = margin_seconds
        self.send_allowance_seconds = send_allowance_seconds
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock
        self.sleep = sleep
        widened_ms = round(margin_seconds * 1000) + round(send_allowance_seconds * 1000)
        self._bucket_ms = tuple(math.ceil(w.seconds * 1000 / BUCKETS_PER_WINDOW) for w in self.windows)
        self._span_ms = tuple(w.seconds * 1000 + widened_ms for w in self.windows)
        self._kept_ms = max(b + s for b, s in zip(self._bucket_ms, self._span_ms))
        # The last counts this object saw. Stale ones cost one refused write, never a grant too many.
        self._known = GrantLog()
        # This object's calls made through calling() that may still count (see the class doc).
        self._own: dict[int, _OwnCall] = {}
        self._numbers = itertools.count(1)
        # One decision (and its write) at a time per object: threads of one process never race
        # each other for the stored item (a lost race would cost a second write).
        self._deciding = threading.Lock()

    # Whether _replace_if_unchanged sends GrantRiders in the grant's own request (the StateTable
    # item); a limiter that cannot has them written on their own before it decides.
    joins_riders = False

    def _replace_if_unchanged(self, expected_version: int, log: GrantLog,
                              riders: Any = None) -> tuple[bool, GrantLog]:
        """Store ``log`` as version expected_version + 1 if the stored version is still
        ``expected_version``: (True, the stored log), else (False, the log stored now).
        ``riders`` (only where ``joins_riders``): sent in the same request, all or none; they tell
        themselves what came of them (a refused rider: the grant is decided again, alone)."""
        raise NotImplementedError

    def _counted(self, log: GrantLog, now_ms: int) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Each window's buckets that still reach into it (later ones, another container's
        skewed clock, count too)."""
        if len(log.buckets) != len(self.windows):
            return tuple(() for _ in self.windows)  # nothing stored yet
        return tuple(tuple((b, n) for b, n in buckets if (b + 1) * size > now_ms - span)
                     for buckets, size, span in zip(log.buckets, self._bucket_ms, self._span_ms))

    def _ends(self, counted: tuple[tuple[tuple[int, int], ...], ...], now_ms: int) -> list[list[tuple[float, int, bool]]]:
        """Per window, oldest first, ``(ms when they stop counting, calls, own)``: the shared buckets
        less this object's own calls, which count by what it saw of them (``inf``: in flight)."""
        own = list(self._own.values())
        ends: list[list[tuple[float, int, bool]]] = []
        for window, buckets, size, span in zip(self.windows, counted, self._bucket_ms, self._span_ms):
            counts = dict(buckets)
            window_ends: list[tuple[float, int, bool]] = []
            for call in own:
                bucket = call.at_ms // size
                if counts.get(bucket, 0) > 0:
                    counts[bucket] -= 1  # its grant; counted below by what this object knows
                if call.answered is None:
                    window_ends.append((math.inf, 1, True))
                else:
                    end = math.ceil(call.answered * 1000) + window.seconds * 1000 + OWN_RESOLUTION_MS
                    if end > now_ms:
                        window_ends.append((end, 1, True))
            window_ends.extend(((b + 1) * size + span, n, False) for b, n in counts.items() if n)
            window_ends.sort()
            ends.append(window_ends)
        return ends

    def _wait_ms(self, ends: list[list[tuple[float, int, bool]]], now_ms: int) -> tuple[float, Window | None, bool]:
        """How long until one more grant fits every window (0: now; ``inf``: not before an own
        call in flight is answered), the window that is full, and whether an own call's end
        (not a shared bucket) is what the wait is for."""
        longest: float = 0
        full, own = None, False
        for window, window_ends in zip(self.windows, ends):
            inside = sum(n for _, n, _ in window_ends)
            for end, calls, mine in window_ends:  # oldest first: free once enough have left the window
                if inside < window.limit:
                    break
                inside -= calls
                wait = end - now_ms
                if wait > longest:
                    longest, full, own = wait, window, mine
        return longest, full, own

    def _with_grant(self, counted: tuple[tuple[tuple[int, int], ...], ...], now_ms: int) -> GrantLog:
        buckets = []
        for window_buckets, size in zip(counted, self._bucket_ms):
            counts = dict(window_buckets)
            counts[now_ms // size] = counts.get(now_ms // size, 0) + 1
            buckets.append(tuple(sorted(counts.items())))
        return GrantLog(tuple(buckets))

    def _forget_own(self, now_ms: int) -> None:
        """Drop own calls that count nowhere any more (their answer and their bucket are past)."""
        for number, call in list(self._own.items()):
            if call.answered is not None and math.ceil(call.answered * 1000) + self._kept_ms < now_ms:
                del self._own[number]

    def acquire(self) -> Grant:
        return self._take(tracked=False)[0]

    @contextmanager
    def calling(self, riders: Any = None) -> Iterator[Grant]:
        if riders is not None and not self.joins_riders:
            riders.send_apart()
            riders = None
        grant, call = self._take(tracked=True, riders=riders)
        try:
            yield grant
        except BaseException:
            # No answer: the request may still be on its way (a timeout); it counts as a bare
            # grant would, from now.
            call.answered = self.clock() + self.send_allowance_seconds
            raise
        call.answered = self.clock()

    def _take(self, *, tracked: bool, riders: Any = None) -> tuple[Grant, _OwnCall]:
        started = self.clock()
        while True:
            with self._deciding:
                log = self._known
                now = self.clock()
                now_ms = math.ceil(now * 1000)
                self._forget_own(now_ms)
                counted = self._counted(log, now_ms)
                wait_ms, full, own = self._wait_ms(self._ends(counted, now_ms), now_ms)
                waited = now - started
                if full is None:
                    if waited > self.max_wait_seconds:
                        raise self._refuse("rate limiter busy (too many containers at once); try again later", 1)
                    # Riders go with the first grant written; once sent (written, or refused by
                    # their own conditions) the grant is decided again alone if it must be.
                    pending = riders if riders is not None and not riders.sent else None
                    written, log = self._replace_if_unchanged(log.version, self._with_grant(counted, now_ms),
                                                              **({"riders": pending} if pending is not None else {}))
                    self._known = log
                    after = self.clock()
                    # A slow write: the call might reach the API after the allowance its grant is
                    # counted with. The slot is given up (wasted, never overspent); a refused write
                    # (another container first) decides again on the counts it returned.
                    if written and after - now <= self.send_allowance_seconds / 2:
                        call = _OwnCall(now_ms)
                        number = 0
                        if tracked:
                            number = next(self._numbers)
                            self._own[number] = call
                        return Grant(now, after - started, number), call
                    continue
            if math.isinf(wait_ms):  # the window is full of our own calls in flight
                if waited + IN_FLIGHT_POLL_SECONDS > self.max_wait_seconds:
                    raise self._refuse(f"rate limit reached ({full.limit} calls per {full.seconds}s, in flight); "
                                       "try again later", 1)
                self.sleep(IN_FLIGHT_POLL_SECONDS)
                continue
            wait = wait_ms / 1000
            if waited + wait > self.max_wait_seconds:
                raise self._refuse(f"rate limit reached ({full.limit} calls per {full.seconds}s); try again later",
                                   math.ceil(wait))
            # Jitter keeps containers waiting on the same shared bucket from writing at once; the
            # end of an own call is this process's alone (its threads decide one at a time).
            self.sleep(wait + (0.0 if own else _jitter()))


class InMemoryGrantLog:
    """The stored counts for in-memory sliding limiters; limiter objects sharing one play
    separate containers sharing the StateTable item."""

    def __init__(self) -> None:
        self.current = GrantLog()
        self._lock = threading.Lock()

    def replace_if_unchanged(self, expected_version: int, log: GrantLog) -> tuple[bool, GrantLog]:
        with self._lock:
            if self.current.version != expected_version:
                return False, self.current
            self.current = GrantLog(log.buckets, expected_version + 1)
            return True, self.current


class InMemorySlidingLogLimiter(_SlidingLogLimiter):
    """The sliding counts in one process (tests, single-process tools): same decisions as the
    DynamoDB one, shared only with limiters given the same ``log``."""

    def __init__(self, key: str, windows: Sequence[Window], *, log: InMemoryGrantLog | None = None,
                 **kwargs: Any) -> None:
        super().__init__(key, windows, **kwargs)
        self.log = log or InMemoryGrantLog()

    def _replace_if_unchanged(self, expected_version, log, riders=None):
        return self.log.replace_if_unchanged(expected_version, log)


def _buckets_text(buckets: tuple[tuple[int, int], ...]) -> str:
    """``((62500, 3), (62504, 1))`` -> ``"62500 0:3 4:1"``: the first bucket, then offsets."""
    if not buckets:
        return ""
    first = buckets[0][0]
    return " ".join([str(first), *(f"{b - first}:{n}" for b, n in buckets)])


def _buckets_of(text: str) -> tuple[tuple[int, int], ...]:
    if not text:
        return ()
    first, *pairs = text.split(" ")
    return tuple((int(first) + int(offset), int(n)) for offset, n in (p.split(":") for p in pairs))


class DynamoSlidingLogLimiter(_SlidingLogLimiter):
    """Shared by every container: ``RATE#<key>`` / ``LOG`` in StateTable, replaced with one
    version-conditional put per grant, expiring by TTL once a window passes without a call."""

    def __init__(self, client: Any, table: str, key: str, windows: Sequence[Window], **kwargs: Any) -> None:
        super().__init__(key, windows, **kwargs)
        self.client = client
        self.table = table

    def _item_key(self) -> dict[str, Any]:
        return {"pk": {"S": f"RATE#{self.key}"}, "sk": {"S": "LOG"}}

    def _log_of(self, item: dict[str, Any] | None) -> GrantLog:
        if not item:
            return GrantLog()
        buckets = tuple(_buckets_of(item.get(f"w{w.seconds}", {}).get("S", "")) for w in self.windows)
        return GrantLog(buckets, int(item["version"]["N"]))

    joins_riders = True

    def _replace_if_unchanged(self, expected_version, log, riders=None):
        newest_ms = max((b + 1) * size for buckets, size in zip(log.buckets, self._bucket_ms) for b, _ in buckets)
        item = {
            **self._item_key(),
            "version": {"N": str(expected_version + 1)},
            "expires_at": {"N": str((newest_ms + self._kept_ms) // 1000 + 60)},
        }
        for window, buckets in zip(self.windows, log.buckets):
            item[f"w{window.seconds}"] = {"S": _buckets_text(buckets)}
        request: dict[str, Any] = {"TableName": self.table, "Item": item,
                                   "ExpressionAttributeNames": {"#version": "version"},
                                   # The refused write returns the stored item: no read to catch up.
                                   "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if expected_version:
            request["ConditionExpression"] = "#version = :expected"
            request["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        else:
            request["ConditionExpression"] = "attribute_not_exists(#version)"
        if riders is not None:
            return self._replace_joined(request, riders, expected_version, log)
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
        return True, GrantLog(log.buckets, expected_version + 1)

    def _replace_joined(self, request: dict[str, Any], riders: Any, expected_version: int,
                        log: GrantLog) -> tuple[bool, GrantLog]:
        """The grant's conditional put and ``riders``' writes in one TransactWriteItems, the grant
        first. The reasons DynamoDB gives per item tell a refused rider (its own condition: the
        riders are refused, nothing written, and the grant is decided again alone) from a lost
        grant race (the grant's condition: decided again on the counts its refusal returned,
        riders still pending) and from a conflict with another transaction on one of the items
        (neither condition failed: decided again, riders still pending)."""
        from .aws.dynamodb_state import TRANSACTION_MAX, DynamoStateStore

        store = DynamoStateStore(self.client, self.table)
        items = store.together_items(riders.ent_id, riders.writes, trace=riders.trace)
        if len(items) + 1 > TRANSACTION_MAX:  # no room for the grant: they go on their own
            riders.send_apart()
            return self._replace_if_unchanged(expected_version, log)
        try:
            self.client.transact_write_items(TransactItems=[{"Put": request}, *items])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            grant, theirs = (reasons[0], reasons[1:]) if reasons else ({}, [])
            if any(r.get("Code") == "ConditionalCheckFailed" for r in theirs):
                riders.sent, riders.refused = True, store.together_refusals(riders.ent_id, riders.writes, theirs)
            if grant.get("Code") == "ConditionalCheckFailed":
                current = grant.get("Item")
                if current is None:
                    current = self.client.get_item(TableName=self.table, Key=self._item_key(),
                                                   ConsistentRead=True).get("Item")
                return False, self._log_of(current)
            if riders.sent:  # the riders' conditions failed, the grant's held: the grant alone
                return self._replace_if_unchanged(expected_version, log)
            # A conflict with another request on one of these items: nothing written, decide again.
            self.sleep(random.uniform(0.001, 0.01))
            return False, self._known
        riders.sent, riders.refused = True, None
        return True, GrantLog(log.buckets, expected_version + 1)
