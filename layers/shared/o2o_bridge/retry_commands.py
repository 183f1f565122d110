"""The retry command registry: name -> what re-runs it. o2o_bridge/wiring.py builds the
worker's registry from its explicit table of flow steps (``retry_commands``).

Kept apart from retry.py (the envelopes, pydantic), so building it loads no models.
"""

from __future__ import annotations

from typing import Any, Callable

Command = Callable[[Any], None]  # called with a retry.CommandContext (the envelope and its tenant)


class CommandRegistry:
    """Name -> the flow step that re-runs it. Flows register what they may enqueue."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def register(self, name: str) -> Callable[[Command], Command]:
        def decorator(fn: Command) -> Command:
            if name in self._commands and self._commands[name] is not fn:
                raise ValueError(f"retry command {name!r} is registered twice")
            self._commands[name] = fn
            return fn

        return decorator

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def names(self) -> list[str]:
        return sorted(self._commands)

