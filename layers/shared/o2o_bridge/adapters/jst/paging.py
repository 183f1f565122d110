"""Reading JST lists without losing or repeating records (§4 "Pagination", "Time windows").

- ``ts`` cursor scans: keep page_index=1, pass ``start_ts`` (``ts`` on inventory) = the
  largest ts seen, stop when a page brings nothing newer. The filter is "≥", so the
  record at the cursor comes back and is dropped as a duplicate; a record modified during
  the scan comes back with a higher ts and that version is kept.
- Modified-time windows are at most 7 days: a longer range is split, and each window is
  paged by page_index.
- Uploads with a per-call maximum are cut into full batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")

MAX_WINDOW = timedelta(days=7)
# A page whose records all sit at one ts value could loop forever; a real ts (SQL Server
# rowversion) is unique per row, so this only guards against a misbehaving server.
MAX_PAGES = 10_000


def split_window(begin: datetime, end: datetime, max_span: timedelta = MAX_WINDOW) -> list[tuple[datetime, datetime]]:
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


@dataclass
class TsScan:
    """The result of a ts scan: the records (deduplicated) and the cursor to store."""

    records: list
    next_ts: int
    pages: int


def scan_by_ts(
    fetch: Callable[[int], tuple[Sequence[T], bool]],
    *,
    start_ts: int,
    key: Callable[[T], Any],
    ts: Callable[[T], int] = lambda r: r.ts,
    max_pages: int = MAX_PAGES,
) -> TsScan:
    """Scan from ``start_ts``: ``fetch(cursor)`` returns (page records, has_next).

    Stops when JST says there is no next page, or when a page brings no ts beyond the
    cursor (only repeats of the boundary record). ``next_ts`` is the highest ts seen:
    storing it and scanning again from it re-reads at most that one record.
    """
    cursor = start_ts
    seen: list[T] = []
    pages = 0
    while pages < max_pages:
        page, has_next = fetch(cursor)
        pages += 1
        seen.extend(page)
        highest = max((ts(r) for r in page), default=cursor)
        if not has_next or highest <= cursor:
            break
        cursor = highest
    return TsScan(keep_latest(seen, key, ts), max([cursor, *(ts(r) for r in seen)]), pages)


def pages_by_index(fetch: Callable[[int], tuple[Sequence[T], bool]], max_pages: int = MAX_PAGES) -> Iterator[T]:
    """Every record of a page_index scan (base data, one modified window)."""
    for index in range(1, max_pages + 1):
        page, has_next = fetch(index)
        yield from page
        if not has_next or not page:
            return


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive chunks of ``size`` (the last may be shorter)."""
    if size <= 0:
        raise ValueError("batch size must be positive")
    for start in range(0, len(items), size):
        yield list(items[start:start + size])
