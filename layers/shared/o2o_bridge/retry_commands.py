"""The retry command registry: name -> the flow step that re-runs it.

Kept apart from retry.py (the envelopes, pydantic) so that flow modules can register their
commands when they are imported without loading the models into every cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .retry import CommandContext

Command = Callable[["CommandContext"], None]


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


# Every flow registers its retryable commands here when it is imported.
commands = CommandRegistry()
