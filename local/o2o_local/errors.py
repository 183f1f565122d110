"""The error the local stack's commands report to the operator.

It is a BridgeError when the bridge's layer is installed (always, in this project), so
the ``o2o`` CLI prints it as one ``o2o: ...`` line with exit 2 instead of a traceback.
"""

from __future__ import annotations

try:
    from o2o_bridge.errors import BridgeError as _Base
except ImportError:  # the local stack used on its own
    _Base = RuntimeError  # type: ignore[misc,assignment]


class LocalStackError(_Base):  # type: ignore[valid-type,misc]
    """A problem an operator can fix; the message says how."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
