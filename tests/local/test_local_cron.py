"""EventBridge cron / rate / at expressions and their next firing."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from o2o_local.cron import CronError, UnsupportedCronFeature, aws_weekday, next_fire, parse_expression

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_nightly_0210_shanghai_across_the_utc_day_boundary():
    # 2026-03-10 17:00 UTC is 2026-03-11 01:00 in Shanghai: the next 02:10 is that same
    # Shanghai morning, which is still 2026-03-10 in UTC.
    fire = next_fire("cron(10 2 * * ? *)", "Asia/Shanghai", datetime(2026, 3, 10, 17, 0, tzinfo=UTC))
    assert fire == datetime(2026, 3, 11, 2, 10, tzinfo=SHANGHAI)
    assert fire.astimezone(UTC) == datetime(2026, 3, 10, 18, 10, tzinfo=UTC)
    # just after it fired, the next one is a day later
    again = next_fire("cron(10 2 * * ? *)", "Asia/Shanghai", fire)
    assert again == datetime(2026, 3, 12, 2, 10, tzinfo=SHANGHAI)
    # in UTC the same expression means 02:10 UTC
    assert next_fire("cron(10 2 * * ? *)", "UTC", datetime(2026, 3, 10, 17, 0, tzinfo=UTC)) == \
        datetime(2026, 3, 11, 2, 10, tzinfo=UTC)


def test_steps():
    after = datetime(2026, 1, 1, 10, 3, 30, tzinfo=SHANGHAI)
    assert next_fire("cron(0/2 * * * ? *)", "Asia/Shanghai", after) == datetime(2026, 1, 1, 10, 4, tzinfo=SHANGHAI)
    assert next_fire("cron(0/15 * * * ? *)", "Asia/Shanghai", after) == datetime(2026, 1, 1, 10, 15, tzinfo=SHANGHAI)
    assert next_fire("cron(*/20 * * * ? *)", "UTC", datetime(2026, 1, 1, 10, 41, tzinfo=UTC)) == \
        datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    parsed = parse_expression("cron(5/20 8-18/5 * * ? *)")
    assert sorted(parsed.minutes) == [5, 25, 45] and sorted(parsed.hours) == [8, 13, 18]


def test_exactly_at_a_firing_time_gives_the_next_one():
    at = datetime(2026, 1, 1, 10, 4, tzinfo=UTC)
    assert next_fire("cron(0/2 * * * ? *)", None, at) == datetime(2026, 1, 1, 10, 6, tzinfo=UTC)


def test_hourly_at_minute_five():
    assert next_fire("cron(5 * * * ? *)", "Asia/Shanghai", datetime(2026, 1, 1, 10, 5, tzinfo=SHANGHAI)) == \
        datetime(2026, 1, 1, 11, 5, tzinfo=SHANGHAI)


def test_lists_ranges_and_names():
    parsed = parse_expression("cron(0,30 9 ? JAN-MAR,DEC MON-FRI 2026-2027)")
    assert sorted(parsed.minutes) == [0, 30]
    assert sorted(parsed.months) == [1, 2, 3, 12]
    assert sorted(parsed.days_of_week) == [2, 3, 4, 5, 6]  # AWS: 1=SUN
    assert parsed.days_of_month is None and sorted(parsed.years) == [2026, 2027]
    # Friday 2026-01-02 09:30 -> Monday 2026-01-05 09:00
    assert next_fire("cron(0,30 9 ? JAN-MAR,DEC MON-FRI 2026-2027)", "UTC", datetime(2026, 1, 2, 9, 30, tzinfo=UTC)) == \
        datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    # April-November are skipped
    assert next_fire("cron(0 9 ? JAN-MAR,DEC MON-FRI *)", "UTC", datetime(2026, 3, 31, 10, 0, tzinfo=UTC)) == \
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_aws_weekday_numbers():
    assert aws_weekday(datetime(2026, 1, 4).date()) == 1  # Sunday
    assert aws_weekday(datetime(2026, 1, 10).date()) == 7  # Saturday
    # 1 = SUN: "cron(0 12 ? * 1 *)" fires on Sundays
    assert next_fire("cron(0 12 ? * 1 *)", "UTC", datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 4, 12, 0, tzinfo=UTC)
    assert next_fire("cron(0 12 ? * SAT *)", "UTC", datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 3, 12, 0, tzinfo=UTC)


def test_day_of_month_and_year_bounds():
    assert next_fire("cron(0 0 31 * ? *)", "UTC", datetime(2026, 2, 1, tzinfo=UTC)) == datetime(2026, 3, 31, tzinfo=UTC)
    assert next_fire("cron(0 0 29 2 ? *)", "UTC", datetime(2026, 3, 1, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)
    assert next_fire("cron(0 0 1 1 ? 2020)", "UTC", datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_question_mark_rules():
    with pytest.raises(CronError, match="exactly one of day-of-month and day-of-week"):
        parse_expression("cron(0 12 * * * *)")
    with pytest.raises(CronError, match="exactly one of day-of-month and day-of-week"):
        parse_expression("cron(0 12 ? * ? *)")
    with pytest.raises(CronError, match="only allowed in day-of-month or day-of-week"):
        parse_expression("cron(? 12 * * ? *)")


@pytest.mark.parametrize("expression, feature", [
    ("cron(0 12 L * ? *)", "L"),
    ("cron(0 12 ? * 6L *)", "L"),
    ("cron(0 12 15W * ? *)", "W"),
    ("cron(0 12 ? * 2#1 *)", "#"),
])
def test_l_w_hash_are_unsupported_locally(expression, feature):
    with pytest.raises(UnsupportedCronFeature, match=f"'{feature}' is valid in AWS cron but unsupported in the local scheduler"):
        parse_expression(expression)


def test_names_containing_l_and_w_are_not_mistaken():
    parse_expression("cron(0 12 ? JUL WED *)")


@pytest.mark.parametrize("expression", [
    "cron(0 12 * * ?)", "cron(60 * * * ? *)", "cron(0 24 * * ? *)", "cron(0 0 0 * ? *)",
    "cron(0 0 ? * 8 *)", "cron(0 0 ? FOO * *)", "cron(*/0 * * * ? *)", "cron(1,,2 * * * ? *)",
    "every day", "rate(0 minutes)", "rate(5 minute)", "rate(1 hours)", "rate(x minutes)", "at(2026-13-01T00:00:00)",
])
def test_invalid_expressions(expression):
    with pytest.raises(CronError):
        parse_expression(expression)


def test_rate_and_at():
    anchor = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    rate = parse_expression("rate(5 minutes)")
    assert rate.next_after(datetime(2026, 1, 1, 0, 7, tzinfo=UTC), UTC, anchor=anchor) == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    assert next_fire("rate(1 hour)", "UTC", anchor) == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    assert next_fire("rate(2 days)", "UTC", anchor) == datetime(2026, 1, 3, tzinfo=UTC)
    assert next_fire("at(2026-05-01T08:00:00)", "Asia/Shanghai", anchor) == datetime(2026, 5, 1, 8, 0, tzinfo=SHANGHAI)
    assert next_fire("at(2025-05-01T08:00:00)", "Asia/Shanghai", anchor) is None


def test_daylight_saving_gap_is_skipped():
    # 2026-03-08 02:30 does not exist in New York
    fire = next_fire("cron(30 2 * * ? *)", "America/New_York", datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    assert fire == datetime(2026, 3, 9, 2, 30, tzinfo=ZoneInfo("America/New_York"))


def test_naive_after_is_utc():
    assert next_fire("cron(0 0 * * ? *)", "UTC", datetime(2026, 1, 1, 12)) == datetime(2026, 1, 2, tzinfo=UTC)
