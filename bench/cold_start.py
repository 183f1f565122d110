"""Cold start: each function's init *with the AWS clients it uses* against `import boto3` plus
one client.

Both are measured side by side in the same run, alternating, as whole fresh Python
processes (interpreter start included in both), and the median of N rounds is compared.
The judged figure is what a container pays before its first answer: the handler module,
then one client (made the bridge's way, ``runtime.aws_client``) for every AWS service the
function's policies in template.yaml grant it (DynamoDB, SQS, Secrets Manager, KMS, S3,
...), read from the template, not from the code. The baseline is `import boto3` and one
DynamoDB client. Goal: ratio <= 1.3 for every function. The import alone is shown too.

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
CLIENTS = "\nfrom o2o_bridge import runtime\nfor service in sys.argv[2:]:\n    runtime.aws_client(service)\n"
BASELINE = "import boto3\nboto3.client('dynamodb')\n"

# A policy (SAM policy template, or an IAM action prefix) -> the boto3 service that uses it.
SERVICES = {"DynamoDB": "dynamodb", "SQS": "sqs", "SecretsManager": "secretsmanager", "KMS": "kms", "S3": "s3",
            "Lambda": "lambda", "Firehose": "firehose", "Athena": "athena", "CloudWatch": "cloudwatch"}
ACTIONS = {"dynamodb": "dynamodb", "sqs": "sqs", "secretsmanager": "secretsmanager", "kms": "kms", "s3": "s3",
           "lambda": "lambda", "firehose": "firehose", "athena": "athena", "cloudwatch": "cloudwatch"}


def services_of(template, function) -> list[str]:
    """The AWS services a function's policies let it call: the clients its first invocations make."""
    resources = template.resources
    found: set[str] = set()

    def statements(policy):
        if isinstance(policy, dict) and "Ref" in policy:   # a managed policy defined in the template
            document = (resources.get(policy["Ref"], {}).get("Properties") or {}).get("PolicyDocument") or {}
            return document.get("Statement") or []
        if isinstance(policy, dict) and "Statement" in policy:
            return policy["Statement"]
        return []

    policies = (resources[function.logical_id].get("Properties") or {}).get("Policies") or []
    for policy in policies if isinstance(policies, list) else [policies]:
        if isinstance(policy, dict):
            for name in policy:
                for prefix, service in SERVICES.items():
                    if name.startswith(prefix) and name.endswith("Policy"):
                        found.add(service)
        for statement in statements(policy):
            actions = statement.get("Action") or []
            for action in [actions] if isinstance(actions, str) else actions:
                service = ACTIONS.get(str(action).split(":")[0].lower())
                if service:
                    found.add(service)
    return sorted(found)

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
    baseline_argv = [python, "-c", BASELINE]
    # Warm the OS file cache so the first sample is not an outlier for either side.
    timed(baseline_argv, env)

    print(f"baseline: import boto3 + one DynamoDB client; judged: handler import + a client per service "
          f"its policies grant; median of {args.rounds} rounds")
    print(f"{'function':24} {'clients':28} {'judged s':>9} {'base s':>7} {'ratio':>6} {'import s':>9}  goal <= {GOAL}")
    worst, worst_name = 0.0, ""
    for name, function in sorted(template.functions.items()):
        app = str(function.code_dir / "app.py")
        services = services_of(template, function)
        init_argv = [python, "-c", LOAD_HANDLER, app]
        judged_argv = [python, "-c", LOAD_HANDLER + CLIENTS, app, *services]
        timed(judged_argv, env)
        init, base, judged = [], [], []
        for _ in range(args.rounds):
            base.append(timed(baseline_argv, env))
            judged.append(timed(judged_argv, env))
            init.append(timed(init_argv, env))
        b, i, j = statistics.median(base), statistics.median(init), statistics.median(judged)
        if j / b > worst:
            worst, worst_name = j / b, name
        print(f"{name:24} {','.join(services) or '-':28} {j:9.3f} {b:7.3f} {j / b:6.2f} {i:9.3f}")
    print(f"worst ratio (import + clients): {worst:.2f} ({worst_name}; "
          f"{'meets' if worst <= GOAL else 'MISSES'} the goal of {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
