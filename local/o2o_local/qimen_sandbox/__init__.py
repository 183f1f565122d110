"""A local 奇门 WMS (a 3PL cloud warehouse behind the 奇门 gateway) for the bridge's tests,
demo and local stack. It checks the bridge's signs with its own implementation. See
docs/qimen-sandbox.md."""

from .server import DEMO, QimenSandbox
from .signing import gateway_sign

__all__ = ["DEMO", "QimenSandbox", "gateway_sign"]
