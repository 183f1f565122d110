"""Fault injection and rate limiting, both configurable at runtime and thread-safe.

Faults are drawn from ``random.Random(seed)`` in call order, so a single-threaded client
sees the same faults on every run with the same seed. ``script`` holds one-shot faults
that are used first (the next matching call gets them), for exact test scenarios.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Fault", "FaultConfig", "FaultInjector", "RateLimiter"]


@dataclass
class Fault:
    kind: str  # "jst" (HTTP 200 with a transient JST code), "http" (HTTP 5xx), "timeout" (hang, no answer), "latency"
    code: int = 0  # JST code for kind "jst", HTTP status for kind "http"
    delay: float = 0.0  # seconds to wait before answering (latency) or hanging (timeout)
    apply_effect: bool = False  # process the call first, then answer with the fault (a lost answer)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultConfig:
    error_rate: float = 0.0  # fraction of matching calls answered with an error
    http_fraction: float = 0.5  # of those errors, the fraction answered with HTTP 5xx (the rest: JST code)
    # 199 (too many calls a second) is the one JST code every source calls transient; 150/160
    # mean "internal error" in one table only (and 150 "may not refresh" in another), so the
    # bridge treats them as permanent unless a deployment says otherwise (ErrorPolicy).
    jst_codes: list[int] = field(default_factory=lambda: [199])
    http_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    latency_ms: float = 0.0  # added to every matching call, before it is counted (the way in)
    latency_jitter_ms: float = 0.0  # and up to this much more, drawn per call (calls overtake each other)
    timeout_rate: float = 0.0  # fraction of matching calls that hang
    hang_seconds: float = 30.0  # how long a hanging call waits before the connection is closed unanswered
    apply_effect_rate: float = 0.0  # fraction of errors whose call was processed anyway (response lost)
    paths: list[str] = field(default_factory=list)  # path prefixes targeted; empty = every API path
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.config = FaultConfig()
        self._random = random.Random(0)
        self.script: deque[tuple[str | None, Fault]] = deque()

    def configure(self, **settings: Any) -> FaultConfig:
        """Replace the settings given (others keep their values) and re-seed."""
        with self._lock:
            unknown = set(settings) - set(FaultConfig.__dataclass_fields__)
            if unknown:
                raise ValueError(f"unknown fault settings: {sorted(unknown)}")
            values = self.config.to_dict()
            values.update(settings)
            self.config = FaultConfig(**values)
            self._random = random.Random(self.config.seed)
            return self.config

    def reset(self) -> None:
        with self._lock:
            self.config = FaultConfig()
            self._random = random.Random(0)
            self.script.clear()

    def add(self, kind: str, *, path: str | None = None, code: int = 0, delay: float = 0.0,
            apply_effect: bool = False, times: int = 1) -> None:
        """Queue a one-shot fault for the next call matching ``path`` (a prefix; None = any)."""
        if kind not in ("jst", "http", "timeout", "latency"):
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind == "jst" and not code:
            code = 160
        if kind == "http" and not code:
            code = 503
        if kind == "timeout" and not delay:
            delay = self.config.hang_seconds
        with self._lock:
            for _ in range(times):
                self.script.append((path, Fault(kind, code, delay, apply_effect)))

    def draw(self, path: str) -> Fault | None:
        with self._lock:
            for i, (prefix, fault) in enumerate(self.script):
                if prefix is None or path.startswith(prefix):
                    del self.script[i]
                    return fault
            c = self.config
            if c.paths and not any(path.startswith(p) for p in c.paths):
                return None
            if not (c.error_rate or c.timeout_rate or c.latency_ms or c.latency_jitter_ms):
                return None
            r = self._random
            delay = (c.latency_ms + (r.uniform(0.0, c.latency_jitter_ms) if c.latency_jitter_ms else 0.0)) / 1000.0
            if c.timeout_rate and r.random() < c.timeout_rate:
                return Fault("timeout", 0, c.hang_seconds)
            if c.error_rate and r.random() < c.error_rate:
                effect = bool(c.apply_effect_rate) and r.random() < c.apply_effect_rate
                if r.random() < c.http_fraction:
                    return Fault("http", r.choice(c.http_statuses), delay, effect)
                return Fault("jst", r.choice(c.jst_codes), delay, effect)
            return Fault("latency", 0, delay) if delay else None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"config": self.config.to_dict(),
                    "script": [{"path": p, **f.to_dict()} for p, f in self.script]}


class RateLimiter:
    """Per app_key: more than ``per_second`` calls in the last second -> 199, more than
    ``per_minute`` in the last minute -> 200. Refused calls are not counted."""

    def __init__(self, per_second: int | None = 5, per_minute: int | None = 100, clock=time.monotonic) -> None:
        self._lock = threading.Lock()
        self.per_second = per_second
        self.per_minute = per_minute
        self.enabled = True
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}

    def configure(self, *, per_second: int | None = ..., per_minute: int | None = ..., enabled: bool | None = None) -> dict:
        with self._lock:
            if per_second is not ...:
                self.per_second = per_second
            if per_minute is not ...:
                self.per_minute = per_minute
            if enabled is not None:
                self.enabled = enabled
            self._calls.clear()
            return self.snapshot_unlocked()

    def snapshot_unlocked(self) -> dict:
        return {"per_second": self.per_second, "per_minute": self.per_minute, "enabled": self.enabled}

    def snapshot(self) -> dict:
        with self._lock:
            return self.snapshot_unlocked()

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def check(self, key: str) -> int:
        """0 when allowed (and counted), else 199 or 200."""
        with self._lock:
            if not self.enabled:
                return 0
            now = self._clock()
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - 60.0:
                calls.popleft()
            if self.per_second is not None and sum(1 for t in calls if t > now - 1.0) >= self.per_second:
                return 199
            if self.per_minute is not None and len(calls) >= self.per_minute:
                return 200
            calls.append(now)
            return 0
