"""A local 旺店通 ERP 企业版 open-API sandbox for the bridge's tests, demo and local stack.

It implements the ERP's side independently of the bridge's client (its own sign check).
See docs/wdt-sandbox.md.
"""

from .endpoints import CODES, sign_of
from .server import DEMO, WdtSandbox

__all__ = ["WdtSandbox", "DEMO", "CODES", "sign_of", "wdt_sandbox_factory"]


def wdt_sandbox_factory(host: str = "127.0.0.1", port: int = 8804, *, demo: bool = True) -> WdtSandbox:
    """For local/o2o_local/sandboxes.py: a not-yet-started sandbox, seeded with the demo tenant."""
    sandbox = WdtSandbox(host, port)
    if demo:
        sandbox.seed_demo()
    return sandbox
