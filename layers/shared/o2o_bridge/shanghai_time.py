"""Asia/Shanghai time, as both sides of the bridge count it.

JST writes and reads date-times as ``yyyy-MM-dd HH:mm:ss`` Asia/Shanghai wall time, and the
business day (store capacity, the nightly run's id) is the Shanghai day. One place, so a
flow, an adapter and a push parser never disagree about a timestamp at midnight.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
JST_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_jst_text(moment: datetime) -> str:
    """``moment`` as JST writes it (a naive time is taken as Shanghai wall time already)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(SHANGHAI)
    return moment.strftime(JST_TIME_FORMAT)


def from_jst_text(text: str | None) -> datetime | None:
    """JST's wall time (or an ISO 8601 time) as an aware datetime; None if absent or unreadable."""
    if not text:
        return None
    text = str(text).strip()
    try:
        return datetime.strptime(text[:19], JST_TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


def shanghai_day(moment: datetime) -> str:
    """The business day ``moment`` falls on, ``YYYY-MM-DD``."""
    return moment.astimezone(SHANGHAI).date().isoformat()
