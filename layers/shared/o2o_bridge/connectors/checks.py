"""What every connector's `o2o tenant doctor` checks are made of: a one-line result, and
the outside system's base data fetched once and shared by the checks (a failed fetch is
remembered, so it fails only the checks that need it, once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import BridgeError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str
    # A rule the bridge cannot verify through the system's API: passes, but a person must act on it.
    warning: bool = False

    def line(self) -> str:
        return f"{'!' if self.warning else '✓' if self.ok else '✗'} {self.name}: {self.reason}"


class Lookups:
    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, name: str, fetch: Callable[[], Any]) -> Any:
        if name not in self._cache:
            try:
                self._cache[name] = fetch()
            except BridgeError as exc:
                self._cache[name] = exc
        value = self._cache[name]
        if isinstance(value, BridgeError):
            raise value
        return value
