"""EventBridge schedule expressions: ``cron(...)``, ``rate(...)`` and ``at(...)``.

``parse_expression`` validates an expression; ``next_fire`` gives the first firing
strictly after a moment, in the schedule's time zone (zoneinfo).

AWS cron has six fields: minutes hours day-of-month month day-of-week year. Supported:
``*``, ``?`` (in exactly one of the two day fields), numbers, ranges ``a-b``, lists ``a,b``,
steps ``a/b`` and ``a-b/c`` and ``*/b``, month names JAN-DEC, weekday names SUN-SAT
(AWS numbering 1=SUN .. 7=SAT). ``L``, ``W`` and ``#`` are rejected: the local scheduler
does not implement them.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

__all__ = [
    "AtSchedule", "CronError", "CronSchedule", "RateSchedule", "UnsupportedCronFeature",
    "next_fire", "parse_cron", "parse_expression",
]

MONTHS = {name: number for number, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
WEEKDAYS = {name: number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
FIELDS = (  # name, low, high, names
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 1, 7, WEEKDAYS),
    ("year", 1970, 2199, {}),
)
RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


class CronError(ValueError):
    """The schedule expression is not valid."""


class UnsupportedCronFeature(CronError):
    """Valid for AWS, but the local scheduler does not implement it (L, W, #)."""


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?"
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # AWS numbering 1=SUN..7=SAT; None: "?"
    years: frozenset[int]

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return aws_weekday(day) in self.days_of_week

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        start = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for year in sorted(y for y in self.years if y >= start.year):
            for month in sorted(self.months):
                if (year, month) < (start.year, start.month):
                    continue
                first_day = start.day if (year, month) == (start.year, start.month) else 1
                for day_number in range(first_day, calendar.monthrange(year, month)[1] + 1):
                    day = date(year, month, day_number)
                    if not self.day_matches(day):
                        continue
                    for hour in hours:
                        for minute in minutes:
                            wall = datetime(year, month, day_number, hour, minute)
                            if wall < start:
                                continue
                            moment = _aware(wall, tz)
                            if moment is not None and moment > after:
                                return moment
        return None


@dataclass(frozen=True)
class RateSchedule:
    expression: str
    seconds: int

    def next_after(self, after: datetime, tz: ZoneInfo, anchor: datetime | None = None) -> datetime:
        """Firings at anchor + k * period (anchor: when the scheduler started; default: after)."""
        anchor = anchor or after
        period = timedelta(seconds=self.seconds)
        if after < anchor:
            return anchor.astimezone(tz)
        steps = int((after - anchor) / period) + 1
        return (anchor + steps * period).astimezone(tz)


@dataclass(frozen=True)
class AtSchedule:
    expression: str
    wall: datetime  # naive, in the schedule's time zone

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime | None:
        moment = self.wall.replace(tzinfo=tz)
        return moment if moment > after else None


Schedule = CronSchedule | RateSchedule | AtSchedule


def aws_weekday(day: date) -> int:
    """AWS numbering: 1=SUN, 2=MON, ... 7=SAT."""
    return (day.weekday() + 1) % 7 + 1


def _aware(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """``wall`` in ``tz``, or None when that wall time does not exist (DST gap)."""
    moment = wall.replace(tzinfo=tz)
    round_trip = moment.astimezone(dt_timezone.utc).astimezone(tz).replace(tzinfo=None)
    return moment if round_trip == wall else None


# -- parsing -----------------------------------------------------------------------------------

_WRAPPED = re.compile(r"^\s*(cron|rate|at)\((.*)\)\s*$", re.IGNORECASE)


def parse_expression(expression: str) -> Schedule:
    match = _WRAPPED.match(expression or "")
    if not match:
        raise CronError(f"{expression!r}: expected cron(...), rate(...) or at(...)")
    kind, body = match.group(1).lower(), match.group(2).strip()
    if kind == "cron":
        return parse_cron(body, expression)
    if kind == "rate":
        return _parse_rate(body, expression)
    return _parse_at(body, expression)


def parse_cron(body: str, expression: str | None = None) -> CronSchedule:
    expression = expression or f"cron({body})"
    parts = body.split()
    if len(parts) != 6:
        raise CronError(f"{expression}: AWS cron needs 6 fields (minutes hours day-of-month month "
                        f"day-of-week year), got {len(parts)}")
    for text in parts:
        for feature in ("L", "W", "#"):
            if feature in text.upper() and not _is_name(text, feature):
                raise UnsupportedCronFeature(
                    f"{expression}: {feature!r} is valid in AWS cron but unsupported in the local scheduler")
    dom_text, dow_text = parts[2], parts[4]
    if (dom_text == "?") == (dow_text == "?"):
        raise CronError(f"{expression}: exactly one of day-of-month and day-of-week must be '?'")
    values = []
    for text, (name, low, high, names) in zip(parts, FIELDS):
        if text == "?":
            if name not in ("day-of-month", "day-of-week"):
                raise CronError(f"{expression}: '?' is only allowed in day-of-month or day-of-week")
            values.append(None)
        else:
            values.append(frozenset(_parse_field(text, name, low, high, names, expression)))
    minutes, hours, dom, months, dow, years = values
    return CronSchedule(expression, minutes, hours, dom, months, dow, years)


def _is_name(text: str, feature: str) -> bool:
    """True when the letter only occurs inside a month/weekday name (JUL, WED, ...)."""
    stripped = text.upper()
    for name in list(MONTHS) + list(WEEKDAYS):
        stripped = stripped.replace(name, "")
    return feature not in stripped


def _parse_field(text: str, name: str, low: int, high: int, names: dict[str, int], expression: str) -> set[int]:
    result: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{expression}: empty list item in {name}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{expression}: bad step {item!r} in {name}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, name, low, high, names, expression), _value(last, name, low, high, names, expression)
        else:
            start = _value(base, name, low, high, names, expression)
            end = high if slash else start
        span = end - start if end >= start else (high - start) + (end - low) + 1  # wrap-around range
        for offset in range(0, span + 1, step):
            value = start + offset
            result.add(value if value <= high else value - (high - low + 1))
    return result


def _value(text: str, name: str, low: int, high: int, names: dict[str, int], expression: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise CronError(f"{expression}: {text!r} is not a valid {name} value")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{expression}: {name} value {value} outside {low}-{high}")
    return value


def _parse_rate(body: str, expression: str) -> RateSchedule:
    parts = body.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1].lower() not in RATE_UNITS:
        raise CronError(f"{expression}: expected rate(<positive integer> minute(s)|hour(s)|day(s))")
    value, unit = int(parts[0]), parts[1].lower()
    if value <= 0:
        raise CronError(f"{expression}: the rate must be a positive integer")
    if (value == 1) != (not unit.endswith("s")):
        raise CronError(f"{expression}: AWS wants the singular unit for 1 and the plural otherwise")
    return RateSchedule(expression, value * RATE_UNITS[unit])


def _parse_at(body: str, expression: str) -> AtSchedule:
    try:
        return AtSchedule(expression, datetime.strptime(body, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise CronError(f"{expression}: expected at(yyyy-mm-ddThh:mm:ss)") from None


def next_fire(expression: str, timezone: str | None, after: datetime) -> datetime | None:
    """First firing of ``expression`` strictly after ``after`` (aware), in ``timezone``.

    Returns None when the expression never fires again (an ``at()`` in the past, a cron
    whose years are over). A naive ``after`` is taken as UTC.
    """
    if after.tzinfo is None:
        after = after.replace(tzinfo=dt_timezone.utc)
    tz = ZoneInfo(timezone or "UTC")
    return parse_expression(expression).next_after(after, tz)
