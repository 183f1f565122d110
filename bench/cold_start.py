"""Cold start: each function's init *with the AWS clients it uses* against `import boto3` plus
one client.

Every figure is a whole fresh Python process measured from outside (interpreter start included
on both sides): its CPU time (user + system, from the operating system's accounting of the
child, ``os.wait4``) and its wall time. The judged figure: the handler module, then one client
for every AWS service the function's policies in template.yaml grant it (DynamoDB, SQS, Secrets
Manager, KMS, S3, ...), read from the template, not from the code. That is every client the
function may make, not only those a typical first request makes: the bridge makes its clients
on first use, and a first request that fails or falls back makes the rest (SQS), so the bench
counts them all. What the first request then does (the modules it imports on its path, the
pydantic models it validates with, built on first use) is not in the figure. Each client is
made the bridge's way: ``runtime.aws_client`` on the one shared session, Secrets Manager
through the secret resolver's Powertools provider. The baseline is `import boto3` and one
DynamoDB client.

Both sides import compiled bytecode, as a container does: the layer ships the bridge and its
libraries compiled for the runtime's Python (scripts/build_layer.sh, given a python3.12; it
warns without one) and the runtime ships boto3 compiled. Here the children write and read it
under a private ``PYTHONPYCACHEPREFIX``, filled by one warm-up run of every case, so a
developer's ``PYTHONDONTWRITEBYTECODE`` does not make the bench time the compiler.

On a shared machine the load changes from one second to the next, so each round runs the
baseline and then every case (in a shuffled order), and a function's ratio is the median over
the rounds of its figure / the same round's baseline. The goal is judged on CPU time: on a box
whose load exceeds its cores, a child's wall time is mostly its wait for a core; the wall ratio
is printed beside it. Shown too:
- with ``--import-only``, the import alone (no client), and
- the floor: `import boto3` and the same clients without any bridge code, over the baseline:
  what the ratio would be if the bridge's own modules cost nothing. A function granted several
  services cannot get under its floor however lean its imports are.
Goal: ratio <= 1.3 for every function.

    python bench/cold_start.py [--rounds 7] [--only pos_events,health] [--import-only]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
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
# The bridge's clients: one shared session; Secrets Manager as the secret resolver makes it.
CLIENTS = """
from o2o_bridge import runtime
for service in sys.argv[2:]:
    if service == "secretsmanager":
        runtime.secret_resolver().provider()
    else:
        runtime.aws_client(service)
"""
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


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process, as the operating system accounts them."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[2:]} failed (exit status {os.waitstatus_to_exitcode(status)})")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> int:
    from o2o_local.template import load_template

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated function names (default: every function)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--import-only", action="store_true", help="also time each handler's import alone")
    args = parser.parse_args()

    bytecode = tempfile.TemporaryDirectory(prefix="cold-start-pyc-")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env.update({
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "STATE_TABLE": "bench", "IDEMPOTENCY_TABLE": "bench", "RETRY_QUEUE_URL": "bench", "RETRY_DLQ_URL": "bench",
        "POWERTOOLS_SERVICE_NAME": "o2o-bridge", "POWERTOOLS_METRICS_NAMESPACE": "O2OBridge",
        "PYTHONPYCACHEPREFIX": bytecode.name,
    })
    python = sys.executable
    template = load_template()
    wanted = {name for name in args.only.split(",") if name}
    functions = {name: f for name, f in sorted(template.functions.items()) if not wanted or name in wanted}
    baseline_argv = [python, "-c", BASELINE]
    cases: dict[tuple[str, str], list[str]] = {}
    services: dict[str, list[str]] = {}
    for name, function in functions.items():
        app = str(function.code_dir / "app.py")
        services[name] = services_of(template, function)
        if args.import_only:
            cases[(name, "import")] = [python, "-c", LOAD_HANDLER, app]
        cases[(name, "judged")] = [python, "-c", LOAD_HANDLER + CLIENTS, app, *services[name]]
        clients = "".join(f"boto3.client({s!r})\n" for s in services[name]) or "pass\n"
        cases[(name, "floor")] = [python, "-c", "import boto3\n" + clients]
    # One run of everything first: the bytecode is written, and the OS file cache holds both
    # sides' files, so no first sample is an outlier.
    timed(baseline_argv, env)
    for argv in cases.values():
        timed(argv, env)

    rng = random.Random(args.seed)
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    wall: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    bases: list[tuple[float, float]] = []
    for _ in range(args.rounds):
        base = timed(baseline_argv, env)
        bases.append(base)
        order = list(cases)
        rng.shuffle(order)
        for key in order:
            spent = timed(cases[key], env)
            cpu[key].append(spent[0] / base[0])
            wall[key].append(spent[1] / base[1])
        print(f"round {len(bases)}/{args.rounds}: baseline {base[0]:.3f} s CPU, {base[1]:.3f} s wall", flush=True)
    bytecode.cleanup()
    base_cpu = statistics.median(b[0] for b in bases)
    base_wall = statistics.median(b[1] for b in bases)
    spread = (max(b[1] for b in bases) - min(b[1] for b in bases)) / base_wall

    print(f"baseline: import boto3 + one DynamoDB client, median {base_cpu:.3f} s CPU, {base_wall:.3f} s wall over "
          f"{args.rounds} rounds (wall spread {spread:.0%}: the machine's load); judged: handler import + a client "
          f"per service its policies grant (every client it may make, not only a typical first request's; not counted: "
          f"what the first request then imports and builds), bytecode compiled as the layer ships it. Ratios: median over the rounds of the child's CPU (wall) time / that "
          f"round's baseline")
    print(f"{'function':24} {'clients':38} {'judged':>7} {'wall':>6} {'import':>7} {'floor':>6}  goal <= {GOAL} (CPU)")
    worst, worst_name, above_floor = 0.0, "", []
    for name in functions:
        judged = statistics.median(cpu[(name, "judged")])
        judged_wall = statistics.median(wall[(name, "judged")])
        imported = statistics.median(cpu[(name, "import")]) if args.import_only else float("nan")
        floor = statistics.median(cpu[(name, "floor")])
        if judged > worst:
            worst, worst_name = judged, name
        above_floor.append(judged - floor)
        shown = f"{imported:7.2f}" if args.import_only else f"{'-':>7}"
        print(f"{name:24} {','.join(services[name]) or '-':38} {judged:7.2f} {judged_wall:6.2f} {shown} {floor:6.2f}"
              f"{'' if judged <= GOAL else '  over' + (' (its floor is too)' if floor > GOAL else '')}")
    print(f"worst ratio (import + clients, CPU): {worst:.2f} ({worst_name}; "
          f"{'meets' if worst <= GOAL else 'MISSES'} the goal of {GOAL}); the bridge's own imports add "
          f"{statistics.median(above_floor):.2f} x baseline (median over the functions) above each floor "
          f"({statistics.median(above_floor) * base_cpu * 1000:.0f} ms CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
