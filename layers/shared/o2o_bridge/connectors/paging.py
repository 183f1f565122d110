"""Reading and writing outside APIs in pieces: time windows no longer than an API takes,
one record per key when windows and pages overlap, uploads cut into batches.

Shared by the connectors (JST's 7-day modified windows, 旺店通's 60-minute trade and
30-day stock windows); each connector keeps its own paging rules next to its client.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")


def split_window(begin: datetime, end: datetime, max_span: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive windows of at most ``max_span`` covering [begin, end]; they share their edges
    so a record modified exactly at an edge is read by both (dedupe drops the repeat)."""
    if end < begin:
        raise ValueError(f"window end {end} is before its begin {begin}")
    windows = []
    start = begin
    while True:
        stop = min(start + max_span, end)
        windows.append((start, stop))
        if stop >= end:
            return windows
        start = stop


def keep_latest(records: Iterable[T], key: Callable[[T], Any], ts: Callable[[T], int]) -> list[T]:
    """One record per key: the version with the highest ts (first-seen order kept)."""
    best: dict[Any, T] = {}
    for record in records:
        k = key(record)
        if k not in best or ts(record) > ts(best[k]):
            best[k] = record
    return list(best.values())


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive chunks of ``size`` (the last may be shorter)."""
    if size <= 0:
        raise ValueError("batch size must be positive")
    for start in range(0, len(items), size):
        yield list(items[start:start + size])
