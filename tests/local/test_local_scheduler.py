"""The scheduler: due(), fire() and the background loop, with a fake invoke and clock."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from o2o_local.scheduler import Scheduler

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Recorder:
    def __init__(self, fail=False):
        self.calls = []
        self.fail = fail
        self.called = threading.Event()

    def __call__(self, spec, event):
        self.calls.append((spec.name, event))
        self.called.set()
        if self.fail:
            raise RuntimeError("scheduled failure")
        return {"ok": spec.name}


def test_fire_sends_the_schedule_input(fixture_template):
    recorder = Recorder()
    scheduler = Scheduler(fixture_template, invoke=recorder, log=None)
    assert scheduler.fire("tick") == {"ok": "tick"}
    assert scheduler.fire("TickFunction", schedule_name="TickEveryMinute") == {"ok": "tick"}  # disabled ones too
    assert recorder.calls == [("tick", {"kind": "nightly"}), ("tick", {})]
    with pytest.raises(KeyError, match="has no schedule"):
        scheduler.fire("echo")
    with pytest.raises(KeyError, match="known:"):
        scheduler.fire("nope")


def test_due_moves_each_job_to_its_next_time(fixture_template):
    start = datetime(2026, 3, 10, 17, 0, tzinfo=timezone.utc)  # 01:00 in Shanghai
    scheduler = Scheduler(fixture_template, invoke=Recorder(), log=None, clock=lambda: start)
    nightly = next(job for job in scheduler.jobs if job.schedule.name == "Nightly")
    disabled = next(job for job in scheduler.jobs if job.schedule.name == "TickEveryMinute")
    assert nightly.next_at == datetime(2026, 3, 11, 2, 10, tzinfo=SHANGHAI)
    assert disabled.next_at is None
    assert scheduler.due(start + timedelta(hours=1)) == []
    fired_at = start + timedelta(hours=1, minutes=10)
    assert scheduler.due(fired_at) == [nightly]
    assert nightly.next_at == datetime(2026, 3, 12, 2, 10, tzinfo=SHANGHAI)
    assert scheduler.due(fired_at) == []
    assert any("next 2026-03-12 02:10 CST" in line for line in scheduler.describe())
    assert any("disabled" in line for line in scheduler.describe())


@pytest.mark.parametrize("fail", [False, True])
def test_loop_fires_due_jobs_and_prints_one_line(fixture_template, fail):
    start = datetime(2026, 3, 10, 18, 9, 59, 900000, tzinfo=timezone.utc)  # 100 ms before 02:10 Shanghai
    offset = datetime.now(timezone.utc) - start
    lines = []
    recorder = Recorder(fail=fail)
    scheduler = Scheduler(fixture_template, invoke=recorder, log=lines.append,
                          clock=lambda: datetime.now(timezone.utc) - offset)
    scheduler.start()
    try:
        assert recorder.called.wait(5)
    finally:
        scheduler.stop()
    assert recorder.calls == [("tick", {"kind": "nightly"})]
    for _ in range(50):
        if lines:
            break
        threading.Event().wait(0.02)
    (line,) = lines
    assert line.startswith("[scheduler] 2026-03-11 02:10:00 CST tick cron(10 2 * * ? *) Asia/Shanghai: ")
    assert ("ERROR RuntimeError: scheduled failure" in line) if fail else line.endswith('ok {"ok": "tick"}')


def test_bad_expression_fails_at_start(fixture_template):
    import copy

    from o2o_local.cron import CronError

    template = copy.deepcopy(fixture_template)
    schedule = template.functions["tick"].schedules[0]
    template.functions["tick"].schedules[0] = type(schedule)("cron(0 12 L * ? *)", "UTC", "x")
    with pytest.raises(CronError, match="unsupported in the local scheduler"):
        Scheduler(template, invoke=Recorder(), log=None)
