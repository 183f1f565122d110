"""Slots for the sandboxes of the local stack: the JST open platform, the 店+ store
system and 旺店通 ERP 企业版. A slot whose sandbox is not built yet says so (no fake server here).

A sandbox factory takes the host to bind and returns a ``Sandbox``: ``start()`` gives its
address (or None when it is not available), ``environment()`` the variables a tenant or
the CLI needs to reach it, ``stop()`` ends it.
"""

from __future__ import annotations

import os

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import LocalStackError

__all__ = ["SANDBOXES", "Sandbox", "UnavailableSandbox", "start_sandboxes"]


class Sandbox(Protocol):
    name: str  # "JST sandbox", "店+ sandbox"

    def start(self) -> str | None: ...

    def status(self) -> str: ...  # one line: the address, or why there is none

    def environment(self) -> dict[str, str]: ...

    def stop(self) -> None: ...

    # Optional: ``connect_bridge(api_url)`` tells a sandbox where the bridge's HTTP API is.


@dataclass
class UnavailableSandbox:
    name: str
    reason: str

    def start(self) -> str | None:
        return None

    def status(self) -> str:
        return f"{self.name}: {self.reason}"

    def environment(self) -> dict[str, str]:
        return {}

    def stop(self) -> None:
        pass


SandboxFactory = Callable[[str], Sandbox]

def _jst_sandbox(host: str) -> Sandbox:
    from .jst_sandbox import jst_sandbox_factory

    from . import sample_documents

    # The demo tenant's jushuitan.base_url is http://127.0.0.1:8801.
    sandbox = jst_sandbox_factory(host, port=int(os.environ.get("O2O_JST_SANDBOX_PORT", "8801")))
    if sample_documents.enabled():  # what events/*.json refer to
        sample_documents.seed_jst(sandbox)
    return sandbox


def _jst_cloud_sandbox(host: str) -> Sandbox:
    from .jst_sandbox import jst_cloud_sandbox_factory

    # The cloud-warehouse tenant (10020) is a JST company of its own: its jushuitan.base_url is
    # http://127.0.0.1:8803, so it never sees the demo tenant's JST documents, nor they its.
    return jst_cloud_sandbox_factory(host, port=int(os.environ.get("O2O_JST_CLOUD_SANDBOX_PORT", "8803")))


def _pos_sandbox(host: str) -> Sandbox:
    from .pos_sandbox import PosSandbox

    # Port 8802 (O2O_POS_SANDBOX_PORT): the demo tenant's pos.base_url is http://127.0.0.1:8802/api.
    from . import sample_documents

    sandbox = PosSandbox.for_local_stack(host)
    if sample_documents.enabled():  # what events/*.json refer to
        sample_documents.seed_store(sandbox)
    return sandbox


def _wdt_sandbox(host: str) -> Sandbox:
    from .wdt_sandbox import wdt_sandbox_factory

    # The 旺店通 demo tenant's wangdiantong.base_url is http://127.0.0.1:8804/openapi2.
    return wdt_sandbox_factory(host, port=int(os.environ.get("O2O_WDT_SANDBOX_PORT", "8804")))


def _qimen_sandbox(host: str) -> Sandbox:
    from .qimen_sandbox import QimenSandbox

    # Port 8805 (O2O_QIMEN_SANDBOX_PORT): the cloud-warehouse tenant's qimen.gateway_url.
    return QimenSandbox.for_local_stack(host)


SANDBOXES: dict[str, SandboxFactory] = {
    "jst": _jst_sandbox,
    "jst_cloud": _jst_cloud_sandbox,
    "pos": _pos_sandbox,
    "wdt": _wdt_sandbox,
    "qimen": _qimen_sandbox,
}


def start_sandboxes(host: str = "127.0.0.1") -> dict[str, tuple[Sandbox, str | None]]:
    """Start every slot of SANDBOXES: key -> (sandbox, its address or None)."""
    started: dict[str, tuple[Sandbox, str | None]] = {}
    try:
        for key, factory in SANDBOXES.items():
            sandbox = factory(host)
            try:
                started[key] = (sandbox, sandbox.start())
            except OSError as error:  # the port is taken, most often by another `o2o local up`
                port = getattr(sandbox, "port", "?")
                raise LocalStackError(
                    f"cannot start the {sandbox.name} on {host}:{port}: {error.strerror or error}. "
                    "Is another `o2o local up` (or make demo) running? Stop it, or use --no-sandboxes") from None
    except BaseException:
        for sandbox, _ in started.values():
            sandbox.stop()
        raise
    return started
