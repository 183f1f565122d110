"""A local JST (聚水潭) open-platform sandbox for the bridge's tests, demo and local stack.

It implements JST's side from JST's published open-platform API, independently of the
bridge's client (its own sign check). See docs/jst-sandbox.md.
"""

from .server import CLOUD_DEMO, DEMO, JstCompanySandbox, JstSandbox
from .signing import old_api_sign, openweb_sign, push_sign

__all__ = ["JstSandbox", "JstCompanySandbox", "DEMO", "CLOUD_DEMO", "openweb_sign", "push_sign", "old_api_sign",
           "jst_sandbox_factory", "jst_cloud_sandbox_factory"]


def jst_sandbox_factory(host: str = "127.0.0.1", port: int = 8801, *, callback_base_url: str | None = None,
                        demo: bool = True) -> JstSandbox:
    """For local/o2o_local/sandboxes.py: a not-yet-started sandbox, seeded with the demo tenant."""
    sandbox = JstSandbox(host, port)
    if demo:
        sandbox.seed_demo(callback_base_url=callback_base_url)
    return sandbox


def jst_cloud_sandbox_factory(host: str = "127.0.0.1", port: int = 8803) -> JstCompanySandbox:
    """For local/o2o_local/sandboxes.py: the cloud-warehouse tenant's own JST company (10020)."""
    sandbox = JstCompanySandbox(host, port, ent_id="10020")
    sandbox.state.seed(**CLOUD_DEMO)
    return sandbox
