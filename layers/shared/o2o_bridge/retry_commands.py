"""The retry command registry: name -> what re-runs it. o2o_bridge/wiring.py builds the
worker's registry over its explicit table of flow steps (``RETRY_COMMANDS``), each looked up
at its first message.

Kept apart from retry.py (the envelopes, pydantic), so building it loads no models.
"""

from __future__ import annotations

from typing import Any, Callable

Command = Callable[[Any], None]  # called with a retry.CommandContext (the envelope and its tenant)


class CommandRegistry:
    """Name -> the flow step that re-runs it. Flows register what they may enqueue."""

    def __init__(self, lookup: Callable[[str], Command | None] | None = None) -> None:
        self._commands: dict[str, Command] = {}
        # Finds a command not registered yet (wiring's table), at its first use; kept once found.
        self._lookup = lookup

    def register(self, name: str) -> Callable[[Command], Command]:
        def decorator(fn: Command) -> Command:
            if name in self._commands and self._commands[name] is not fn:
                raise ValueError(f"retry command {name!r} is registered twice")
            self._commands[name] = fn
            return fn

        return decorator

    def get(self, name: str) -> Command | None:
        command = self._commands.get(name)
        if command is None and self._lookup is not None:
            command = self._lookup(name)
            if command is not None:
                self._commands[name] = command
        return command

    def names(self) -> list[str]:
        return sorted(self._commands)

