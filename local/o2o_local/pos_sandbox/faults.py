"""Fault injection for the 店+ sandbox: error rates (5xx / 429), latency and timeouts,
per path prefix, drawn from ``random.Random(seed)`` so a run with the same seed and the
same call order sees the same faults. One-shot faults (``push``) are used first, for exact
test scenarios.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Fault", "FaultInjector", "FaultRule"]


@dataclass
class Fault:
    kind: str  # "http" (answer ``status``), "timeout" (hang, never answer), "latency" (delay, then serve)
    status: int = 503
    delay: float = 0.0  # seconds: latency before serving, or how long a timeout hangs
    retry_after: float | None = None  # Retry-After header on 429 / 503
    apply_effect: bool = False  # serve the call first, then answer the error (the answer was "lost")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultRule:
    path: str = ""  # prefix of the path under /api, e.g. "/warehouses"; "" = every API path
    method: str | None = None  # None = any method
    error_rate: float = 0.0  # fraction of matching calls answered with one of ``statuses``
    statuses: list[int] = field(default_factory=lambda: [500, 502, 503, 429])
    retry_after: float | None = 1.0
    latency_ms: float = 0.0  # added to every matching call
    timeout_rate: float = 0.0  # fraction of matching calls that hang without an answer
    hang_seconds: float = 30.0
    apply_effect_rate: float = 0.0  # fraction of errors whose call was served anyway

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path) and (self.method is None or self.method.upper() == method.upper())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.script: deque[tuple[str, Fault]] = deque()  # (path prefix, fault)
        self.seed = seed
        self._random = random.Random(seed)

    def configure(self, *, seed: int | None = None, **settings: Any) -> FaultRule:
        """Add a rule (the first matching rule wins; a rule for the same path and method is replaced)."""
        unknown = set(settings) - set(FaultRule.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        rule = FaultRule(**settings)
        with self._lock:
            self.rules = [r for r in self.rules if (r.path, r.method) != (rule.path, rule.method)]
            self.rules.append(rule)
            self.rules.sort(key=lambda r: len(r.path), reverse=True)  # most specific first
            if seed is not None:
                self.seed, self._random = seed, random.Random(seed)
        return rule

    def push(self, kind: str = "http", *, path: str = "", status: int = 503, delay: float = 0.0,
             retry_after: float | None = None, apply_effect: bool = False, times: int = 1) -> None:
        """The next ``times`` calls under ``path`` get this fault."""
        with self._lock:
            for _ in range(times):
                self.script.append((path, Fault(kind, status, delay, retry_after, apply_effect)))

    def clear(self, seed: int | None = None) -> None:
        with self._lock:
            self.rules, self.script = [], deque()
            if seed is not None:
                self.seed = seed
            self._random = random.Random(self.seed)

    def draw(self, method: str, path: str) -> Fault | None:
        """The fault for this call, if any (a "latency" fault still serves the call)."""
        with self._lock:
            for index, (prefix, fault) in enumerate(self.script):
                if path.startswith(prefix):
                    del self.script[index]
                    return fault
            rule = next((r for r in self.rules if r.matches(method, path)), None)
            if rule is None:
                return None
            delay = rule.latency_ms / 1000.0
            if rule.timeout_rate and self._random.random() < rule.timeout_rate:
                return Fault("timeout", delay=rule.hang_seconds)
            if rule.error_rate and self._random.random() < rule.error_rate:
                status = self._random.choice(rule.statuses)
                apply_effect = bool(rule.apply_effect_rate) and self._random.random() < rule.apply_effect_rate
                retry_after = rule.retry_after if status in (429, 503) else None
                return Fault("http", status, delay, retry_after, apply_effect)
            return Fault("latency", delay=delay) if delay else None

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "rules": [r.to_dict() for r in self.rules],
                    "script": [{"path": p, **f.to_dict()} for p, f in self.script]}
