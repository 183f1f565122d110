"""Tell the bridge's per-container caches (o2o_bridge.runtime) that the environment changed.

The layer builds its settings and AWS clients once per container; when the local stack
changes the environment in this process (start, stop, ``drain --now``) they are rebuilt.
Nothing happens when the layer is not loaded.
"""

from __future__ import annotations

import sys


def reset_bridge_runtime() -> None:
    runtime = sys.modules.get("o2o_bridge.runtime")
    if runtime is not None and hasattr(runtime, "reset"):
        runtime.reset()
