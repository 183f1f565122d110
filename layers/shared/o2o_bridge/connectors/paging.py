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


def read_rows(source: str, rows: Iterable[Any], model: Any, key_field: str, *, ts_field: str = "ts") -> list[Any]:
    """The rows of a poll's page read with ``model``: a row the model refuses becomes a
    ``MalformedRow`` (source, the row as it came, what is wrong, its business key or a digest) in
    its place, so the poll parks that one row and goes on instead of failing the whole page."""
    from pydantic import ValidationError

    found: list[Any] = []
    for row in rows:
        try:
            found.append(model.model_validate(row))
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
            found.append(malformed(source, row, problem, key_field, ts_field=ts_field))
    return found


def malformed(source: str, row: Any, problem: str, key_field: str, *, ts_field: str = "ts") -> Any:
    """A ``MalformedRow`` for ``row`` (also for a row a mapper could not make sense of)."""
    import hashlib
    import json

    from ..ports import MalformedRow

    raw = row if isinstance(row, dict) else {"value": row}
    try:
        ts = int(raw.get(ts_field) or 0)
    except (TypeError, ValueError):
        ts = 0
    key = str(raw.get(key_field) or hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:24])
    return MalformedRow(source, raw, problem[:500], key, ts)


def mapped_or_malformed(source: str, record: Any, mapper: Callable[[Any], T], key_field: str) -> Any:
    """``mapper(record)`` (a row in the bridge's terms), or a ``MalformedRow`` when the record
    already is one or the mapper cannot make sense of it: whatever is wrong is this row's alone."""
    from ..ports import MalformedRow

    if isinstance(record, MalformedRow):
        return record
    try:
        return mapper(record)
    except Exception as exc:  # noqa: BLE001 - a row the bridge cannot read is parked, not a failed page
        raw = record.model_dump(mode="json") if hasattr(record, "model_dump") else record
        return malformed(source, raw, f"{type(exc).__name__}: {exc}", key_field)


def key_or_malformed(field: str) -> Callable[[Any], Any]:
    """``keep_latest``'s key for rows that may hold ``MalformedRow``s (each kept by its own key)."""
    from ..ports import MalformedRow

    return lambda record: ("malformed", record.key) if isinstance(record, MalformedRow) else getattr(record, field)


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
