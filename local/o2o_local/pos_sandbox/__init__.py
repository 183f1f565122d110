"""The 店+ store-system sandbox of the local stack (docs/pos-sandbox.md).

- ``server``: ``PosSandbox`` (HTTP on 127.0.0.1, /api P1–P14, /__admin__/, event emission)
- ``state``: the in-memory store system, idempotency records, stock versions
- ``faults``: error rates, latency, timeouts per path, deterministic seed
- ``openapi``: docs/openapi/pos-api.yaml as JSON Schema validators
- ``demo``: the demo merchant (ent_id 10010)
"""

from .demo import DEMO_API_KEY, DEMO_ENT_ID, DEMO_WEBHOOK_SECRET, demo_seed
from .server import API_PREFIX, EmitResult, PosSandbox, sign

__all__ = ["API_PREFIX", "DEMO_API_KEY", "DEMO_ENT_ID", "DEMO_WEBHOOK_SECRET", "EmitResult", "PosSandbox",
           "demo_seed", "seed_demo", "sign"]


def seed_demo(sandbox: PosSandbox) -> list[str]:
    """Seed ``sandbox`` with the demo merchant (same as ``sandbox.seed_demo()``)."""
    return sandbox.seed_demo()
