"""Cold start: each function's import-and-init time against `python -c "import boto3"`.

Both are measured side by side in the same run, alternating, as whole fresh Python
processes (interpreter start included in both), and the median of N rounds is compared.
Goal: ratio <= 1.3 for every function.

The handlers defer boto3 to the first call that needs AWS (runtime.aws_client), so the
table also shows "init + first AWS client" (the handler module plus a DynamoDB client),
the cost the first invocation of a container pays in total.

    python bench/cold_start.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "local"))

LOAD_HANDLER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.lambda_handler)
"""
FIRST_CLIENT = "\nfrom o2o_bridge import runtime\nruntime.aws_client('dynamodb')\n"

GOAL = 1.3


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    from o2o_local.template import load_template

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    env = dict(os.environ)
    env.update({
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "STATE_TABLE": "bench", "IDEMPOTENCY_TABLE": "bench", "RETRY_QUEUE_URL": "bench", "RETRY_DLQ_URL": "bench",
        "POWERTOOLS_SERVICE_NAME": "o2o-bridge", "POWERTOOLS_METRICS_NAMESPACE": "O2OBridge",
    })
    python = sys.executable
    template = load_template()
    baseline_argv = [python, "-c", "import boto3"]
    # Warm the OS file cache so the first sample is not an outlier for either side.
    timed(baseline_argv, env)

    print(f"{'function':24} {'init s':>8} {'boto3 s':>8} {'ratio':>6} {'+client s':>10} {'ratio':>6}  goal <= {GOAL}")
    worst = 0.0
    for name, function in sorted(template.functions.items()):
        app = str(function.code_dir / "app.py")
        init_argv = [python, "-c", LOAD_HANDLER, app]
        client_argv = [python, "-c", LOAD_HANDLER + FIRST_CLIENT, app]
        timed(init_argv, env)
        init, base, first = [], [], []
        for _ in range(args.rounds):
            base.append(timed(baseline_argv, env))
            init.append(timed(init_argv, env))
            first.append(timed(client_argv, env))
        b, i, f = statistics.median(base), statistics.median(init), statistics.median(first)
        worst = max(worst, i / b)
        print(f"{name:24} {i:8.3f} {b:8.3f} {i / b:6.2f} {f:10.3f} {f / b:6.2f}")
    print(f"worst init ratio: {worst:.2f} ({'meets' if worst <= GOAL else 'MISSES'} the goal of {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
