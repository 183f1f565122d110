"""Reading JST lists without losing or repeating records (§4 "Pagination", "Time windows").

- ``ts`` cursor scans: keep page_index=1, pass ``start_ts`` (``ts`` on inventory) = the
  largest ts seen, stop when a page brings nothing newer. The filter is "≥", so the
  record at the cursor comes back and is dropped as a duplicate; a record modified during
  the scan comes back with a higher ts and that version is kept. ``iter_ts_pages`` yields the
  scan page by page (fetching the next page only when asked), so a caller stores the cursor
  after each handled page and may stop between pages.
- Modified-time windows are at most 7 days: a longer range is split, and each window is
  paged by page_index.
- Uploads with a per-call maximum are cut into full batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, Sequence, TypeVar

from .. import paging as shared
from ..paging import batches, keep_latest  # noqa: F401 - JST code imports them here

T = TypeVar("T")

MAX_WINDOW = timedelta(days=7)


def split_window(begin: datetime, end: datetime, max_span: timedelta = MAX_WINDOW) -> list[tuple[datetime, datetime]]:
    """JST's modified windows: at most 7 days each (see ``connectors.paging.split_window``)."""
    return shared.split_window(begin, end, max_span)


# A page whose records all sit at one ts value could loop forever; a real ts (SQL Server
# rowversion) is unique per row, so this only guards against a misbehaving server.
MAX_PAGES = 10_000


@dataclass
class TsScan:
    """The result of a ts scan: the records (deduplicated) and the cursor to store."""

    records: list
    next_ts: int
    pages: int


@dataclass
class TsPage:
    """One page of a ts scan, as ``iter_ts_pages`` yields it.

    ``records``: this page's records the scan has not yielded before in that version (the
    repeat of the cursor's edge record is dropped; a record modified during the scan comes
    again with its higher ts). ``next_ts``: the cursor to store once they are handled.
    ``last``: no further page will be fetched (the scan reached the end)."""

    records: list
    next_ts: int
    number: int
    last: bool


def iter_ts_pages(
    fetch: Callable[[int], tuple[Sequence[T], bool]],
    *,
    start_ts: int,
    key: Callable[[T], Any],
    ts: Callable[[T], int] = lambda r: r.ts,
    max_pages: int = MAX_PAGES,
) -> Iterator[TsPage]:
    """The scan of ``scan_by_ts`` one page at a time: a page is fetched only when the caller
    asks for it, so a caller that handles a page, stores ``next_ts`` and stops (out of time)
    has fetched nothing it did not handle; the next run goes on from the stored cursor."""
    cursor = start_ts
    yielded: dict[Any, int] = {}  # key -> highest ts yielded, so no version is yielded twice
    for number in range(1, max_pages + 1):
        page, has_next = fetch(cursor)
        fresh = []
        for record in keep_latest(page, key, ts):
            k, version = key(record), ts(record)
            if k in yielded and yielded[k] >= version:
                continue
            yielded[k] = version
            fresh.append(record)
        highest = max((ts(r) for r in page), default=cursor)
        last = not has_next or highest <= cursor or number == max_pages
        yield TsPage(fresh, max(cursor, highest), number, last)
        if last:
            return
        cursor = highest
        # Only records at the cursor's ts can come back: a long scan's memory stays flat.
        yielded = {k: version for k, version in yielded.items() if version >= cursor}


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
    storing it and scanning again from it re-reads at most that one record. Every page is
    fetched before it returns; a caller that may run out of time uses ``iter_ts_pages``.
    """
    seen: list[T] = []
    next_ts, pages = start_ts, 0
    for page in iter_ts_pages(fetch, start_ts=start_ts, key=key, ts=ts, max_pages=max_pages):
        seen.extend(page.records)
        next_ts, pages = page.next_ts, page.number
    return TsScan(keep_latest(seen, key, ts), next_ts, pages)


def pages_by_index(fetch: Callable[[int], tuple[Sequence[T], bool]], max_pages: int = MAX_PAGES) -> Iterator[T]:
    """Every record of a page_index scan (base data, one modified window)."""
    for index in range(1, max_pages + 1):
        page, has_next = fetch(index)
        yield from page
        if not has_next or not page:
            return
