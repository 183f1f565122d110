"""Business flows, one module per scenario of ARCHITECTURE.md. Plain Python over ports.

``kit`` holds what they share (the context, effects done once, retried steps, scheduled
work per tenant). ``import_all()`` imports every flow module so each registers its retry
commands with ``o2o_bridge.retry.commands``; the retry worker calls it before its first
message. Store events reach flows through ``o2o_bridge.events.dispatch.FLOWS``.
"""

from __future__ import annotations

import importlib
import pkgutil


def import_all() -> list[str]:
    """Import every module of this package (new scenario modules need no registration)."""
    names = []
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
        names.append(module.name)
    return names
