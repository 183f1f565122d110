"""What a stranger learns from a JST push edge: answers and time per kind of refusal.

Reads pushes through the bridge's real edge (``connectors.jushuitan.inbound.read_push``) with
the demo tenant held in memory (a tenant lookup is one DynamoDB GetItem for known and unknown
entIds alike, so it is left out), timing each call from outside with ``perf_counter``:

- a genuine signed push (accepted),
- an unknown entId, a foreign storageCode, a wrong sign, a wrong token, a stale ts (refused).

Printed per kind: the answer (status and message), and the median and 90th percentile time in
microseconds over ``--n`` calls, interleaved so machine noise hits every kind alike. No
assertions and no timing goals: it prints its figures.

Usage (from the repository root):

    .venv/bin/python bench/push_auth.py            # 2000 calls per kind
    .venv/bin/python bench/push_auth.py --n 20000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


class Tenants:
    def __init__(self, tenant) -> None:
        self.tenant = tenant

    def get(self, ent_id):
        return self.tenant if ent_id == self.tenant.ent_id else None


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    # The work itself, without the refusal deadline (bench/edge_timing.py shows the deadline).
    os.environ["O2O_REFUSAL_DEADLINE_MS"] = "0"

    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    from o2o_bridge.connectors.jushuitan.inbound import read_push
    from o2o_bridge.connectors.jushuitan.signing import legacy_push_sign
    from o2o_bridge.errors import BridgeError
    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((ROOT / "local" / "tenants" / "demo.yaml").read_text(encoding="utf-8"))
    doc["jushuitan"]["callback"] = {"partner_key": "demo-partner-key"}  # a merchant with a partner key
    tenants = Tenants(parse_tenant(doc))
    sample = json.loads((ROOT / "events" / "delivery_callback.json").read_text(encoding="utf-8"))

    def signed(ts: float, **changes) -> dict:
        query = {"entId": "10010", "storageCode": "133242", "method": "logistics.upload", "partnerid": "jst",
                 "ts": str(int(ts))}
        covered = {k: v for k, v in query.items() if k not in ("method", "partnerid")}
        return {**query, "sign": legacy_push_sign("logistics.upload", "jst", covered, "demo-partner-key"), **changes}

    now = time.time()
    kinds = {
        "genuine signed push": signed(now),
        "unknown entId": signed(now, entId="99999"),
        "foreign storageCode": signed(now, storageCode="555"),
        "wrong sign": signed(now, sign="0" * 32),
        "wrong token (no sign)": {"entId": "10010", "storageCode": "133242", "token": "guess"},
        "stale ts (2017)": signed(1500000000),
    }
    events = {kind: APIGatewayProxyEventV2({**sample, "queryStringParameters": query}) for kind, query in kinds.items()}
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    answers: dict[str, str] = {}
    for _ in range(args.n):
        for kind, event in events.items():
            started = time.perf_counter()
            try:
                read_push(event, tenants, now=now)
                answer = "200 accepted"
            except BridgeError as error:
                answer = f"{error.status_code if hasattr(error, 'status_code') else 500} {error.message}"
            times[kind].append(time.perf_counter() - started)
            answers[kind] = answer
    print(f"{'kind':24} {'answer':56} {'median µs':>10} {'p90 µs':>8}")
    for kind in kinds:
        series = sorted(times[kind])
        print(f"{kind:24} {answers[kind]:56} {statistics.median(series) * 1e6:10.1f} "
              f"{series[int(len(series) * 0.9)] * 1e6:8.1f}")


if __name__ == "__main__":
    main()
