"""The template's schedules, fired locally: on demand (``fire``) or on their cron in a
background thread (``start``/``stop``), with EventBridge Scheduler's payload (the
schedule's Input, else ``{}``)."""

from __future__ import annotations

import json
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from zoneinfo import ZoneInfo

from . import lambda_runtime
from .cron import RateSchedule, parse_expression
from .template import FunctionSpec, ScheduleSpec, Template

__all__ = ["ScheduledJob", "Scheduler"]

Invoke = Callable[[FunctionSpec, Any], Any]
Log = Callable[[str], None]


def _stdout(line: str) -> None:
    print(line, flush=True)


@dataclass
class ScheduledJob:
    function: FunctionSpec
    schedule: ScheduleSpec
    next_at: datetime | None  # None: never fires again (or disabled)

    @property
    def label(self) -> str:
        return f"{self.function.name} {self.schedule.expression} {self.schedule.timezone}"


class Scheduler:
    def __init__(self, template: Template, invoke: Invoke | None = None, *, log: Log | None = _stdout,
                 clock: Callable[[], datetime] | None = None):
        self.template = template
        self.invoke = invoke or lambda_runtime.invoke
        self.log = log or (lambda line: None)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._started_at = self.clock()
        self.jobs: list[ScheduledJob] = []
        for spec in template.functions.values():
            for schedule in spec.schedules:
                parse_expression(schedule.expression)  # a bad expression fails here, not at 02:10
                job = ScheduledJob(spec, schedule, None)
                job.next_at = self._next(job, self._started_at) if schedule.enabled else None
                self.jobs.append(job)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _next(self, job: ScheduledJob, after: datetime) -> datetime | None:
        parsed = parse_expression(job.schedule.expression)
        tz = ZoneInfo(job.schedule.timezone)
        if isinstance(parsed, RateSchedule):
            return parsed.next_after(after, tz, anchor=self._started_at)
        return parsed.next_after(after, tz)

    # -- on demand -------------------------------------------------------------------------------
    def fire(self, short_name: str, schedule_name: str | None = None) -> Any:
        """Run a schedule function now with its schedule's payload; return its result
        (exceptions propagate). A disabled schedule can be fired too."""
        spec = self.template.function(short_name)
        if not spec.schedules:
            raise KeyError(f"{spec.name} has no schedule (trigger: {spec.trigger})")
        schedule = spec.schedules[0]
        if schedule_name is not None:
            schedule = next((s for s in spec.schedules if s.name == schedule_name), None)
            if schedule is None:
                raise KeyError(f"{spec.name} has no schedule {schedule_name!r}; "
                               f"it has {', '.join(s.name for s in spec.schedules)}")
        return self._fire(spec, schedule.event())

    def _fire(self, spec: FunctionSpec, event: Any) -> Any:
        """Invoke the function with its schedule's event; a fan-out's tenant runs (queued on
        the function's own queue) run right after, as Lambda's event source would run them."""
        from .drain import run_queued_tenant_runs

        return run_queued_tenant_runs(self.template, spec, self.invoke(spec, event), invoke=self.invoke)

    def due(self, now: datetime) -> list[ScheduledJob]:
        """The jobs whose firing time has come by ``now``; each is moved to its next time
        (missed firings collapse into one, as EventBridge does not catch up)."""
        ready = [job for job in self.jobs if job.next_at is not None and job.next_at <= now]
        for job in ready:
            job.next_at = self._next(job, now)
        return ready

    # -- background loop --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="o2o-local-scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.clock()
            for job in self.due(now):
                threading.Thread(target=self._run, args=(job, now), name=f"o2o-local-{job.function.name}",
                                 daemon=True).start()
            upcoming = [job.next_at for job in self.jobs if job.next_at is not None]
            wait = min(((min(upcoming) - self.clock()).total_seconds() if upcoming else 1.0), 1.0)
            self._stop.wait(max(wait, 0.05))

    def _run(self, job: ScheduledJob, at: datetime) -> None:
        stamp = at.astimezone(ZoneInfo(job.schedule.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")
        try:
            result = self._fire(job.function, job.schedule.event(at))
        except Exception as error:  # noqa: BLE001 - one line per firing, the loop goes on
            print(traceback.format_exc().rstrip(), file=sys.stderr, flush=True)
            self.log(f"[scheduler] {stamp} {job.label}: ERROR {type(error).__name__}: {error}")
            return
        self.log(f"[scheduler] {stamp} {job.label}: ok {_short(result)}")

    def describe(self) -> list[str]:
        lines = []
        for job in self.jobs:
            when = ("disabled" if not job.schedule.enabled
                    else "never again" if job.next_at is None
                    else "next " + job.next_at.strftime("%Y-%m-%d %H:%M %Z"))
            lines.append(f"{job.label} ({when})")
        return lines


def _short(result: Any, limit: int = 200) -> str:
    text = json.dumps(result, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
