"""What a stranger can learn from /qimen/callback's timing: a bad sign for a real tenant, an
unknown entId and a tenant without a 奇门 section should answer alike and in about the same
time. Also what an accepted-but-refused call (sign good, document unknown) costs.

The real handler runs in process on moto (the template's tables); each call is timed from
outside the handler, around the invocation, after a warm-up, the kinds interleaved in a
random order so drift hits them alike. Prints median and p90 per kind and the difference of
the medians between a bad sign and an unknown tenant. No assertions.

    .venv/bin/python bench/qimen_callback.py [-n 300]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "layers" / "shared", ROOT / "local", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

# Over the template's function environment too (its Globals set a 250 ms refusal deadline and
# the log level): the work itself, without the deadline (bench/edge_timing.py shows it), and quiet.
BENCH_SETTINGS = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "O2O_REFUSAL_DEADLINE_MS": "0"}
for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                    "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "O2OBridgeBench",
                    "POWERTOOLS_SERVICE_NAME": "o2o-bridge", **BENCH_SETTINGS}.items():
    os.environ.setdefault(name, value)
os.environ.pop("AWS_ENDPOINT_URL", None)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300, help="calls per kind")
    args = parser.parse_args()

    from moto import mock_aws

    with mock_aws():
        from aws_setup import create_template_resources
        from o2o_bridge import runtime
        from o2o_bridge.tenant import parse_tenant
        from o2o_local.stack import invoke_function
        from qimen_wms import api_event, cloud_doc, delivery_confirm, demo_doc, signed_query

        os.environ.update({**create_template_resources(), **BENCH_SETTINGS})
        runtime.reset()
        runtime.state_store().put(parse_tenant(cloud_doc()))
        runtime.state_store().put(parse_tenant(demo_doc()))
        body = delivery_confirm("SO-BENCH", "M1", [("SF1", {"TS001-WHT-M": 1})])
        kinds = {
            "bad sign (known tenant)": lambda: api_event({**signed_query("deliveryorder.confirm", body), "sign": "0" * 32},
                                                         body),
            "unknown tenant": lambda: api_event(signed_query("deliveryorder.confirm", body, ent_id="99999"), body),
            "tenant without 奇门": lambda: api_event(signed_query("deliveryorder.confirm", body, ent_id="10010"), body),
            "good sign, unknown document": lambda: api_event(signed_query("deliveryorder.confirm", body), body),
        }
        timings: dict[str, list[float]] = {kind: [] for kind in kinds}
        for kind, build in kinds.items():  # warm-up: imports, clients, caches
            for _ in range(5):
                invoke_function("qimen_callback", build())
        order = [kind for kind in kinds for _ in range(args.n)]
        random.Random(7).shuffle(order)
        for kind in order:
            event = kinds[kind]()
            started = time.perf_counter()
            result = invoke_function("qimen_callback", event)
            timings[kind].append(time.perf_counter() - started)
            assert result["statusCode"] == 200
    print(f"/qimen/callback, {args.n} calls per kind, in process on moto (ms):")
    for kind, values in timings.items():
        values.sort()
        print(f"  {kind:<30} median {statistics.median(values) * 1000:7.2f}   p90 {values[int(len(values) * 0.9)] * 1000:7.2f}")
    gap = statistics.median(timings["unknown tenant"]) - statistics.median(timings["bad sign (known tenant)"])
    print(f"  unknown tenant - bad sign, medians: {gap * 1000:+.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
