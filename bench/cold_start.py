"""Cold start: each function's init *with the AWS clients it uses* against `import boto3` plus
one client.

Every figure is a whole fresh Python process measured from outside (interpreter start included
on both sides): its CPU time (user + system, from the operating system's accounting of the
child, ``os.wait4``) and its wall time. The judged figure: the handler module, then one client
for every AWS service the function's policies in template.yaml grant it (DynamoDB, SQS, Secrets
Manager, KMS, S3, ...), read from the template, not from the code. That is every client the
function may make, not only those a typical first request makes. The children run as in a
Lambda container (``AWS_LAMBDA_FUNCTION_NAME`` set), so the handler's import is Lambda's init
phase: the garbage collector off until the handler module's last line, ``runtime.ready``,
has built its clients (o2o_bridge/init_phase.py), the clients' service models the bridge's
trimmed ones (scripts/trim_botocore_models.py). After the import the child builds every
granted client again the bridge's way (``runtime.aws_client``; Secrets Manager through the
secret resolver's Powertools provider): one the handler did not build at init is built here,
with the collector on, and counted; the child fails if the import left the collector off. The
baseline is `import boto3` and one DynamoDB client, stock: its full model, the collector on.

``+tracer``: the judged figure plus what the first invocation X-Ray records builds before its own
work, the Powertools Tracer (the X-Ray SDK, botocore and httpx patched; ``tracing.traced`` builds
it at the first such call rather than at import), so nothing moved out of the init phase goes
unseen. With ``TracingMode=PassThrough`` (template.yaml's default) no invocation is recorded and
it is never built.

``+models``: the judged figure plus the bridge's pydantic models a request validates with, the
tenant model (``o2o_bridge.tenant``, every request of a function granted DynamoDB, where the
tenants are kept, reads one) and the retry envelope (``o2o_bridge.retry``: a transient failure
queues one; the retry worker reads one per message), with pydantic itself. A handler that does not
import them at init imports them at its first request, with the collector on; one that does pays
nothing more here. So functions whose init leaves the models to the first request are compared
with the same work as those whose init imports them. What the first request then does on its own
path (its flow's modules, its calls) is in no figure.

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
- with ``--import-only``, the import alone (its init clients included, no others), and
- the floor: stock `import boto3` and the same clients (full models, the collector on) without
  any bridge code, over the baseline: what the ratio would be with stock boto3 if the bridge's
  own modules cost nothing. The bridge's trimmed models and init phase can take a function
  below its floor.
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
import gc
assert gc.isenabled(), "the handler's import left the garbage collector off"
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
# What the first invocation builds before its own work (tracing.traced, in Lambda).
TRACER = """
from o2o_bridge import tracing
assert tracing.tracing_wanted()
tracing.tracer()
"""
# What a request validates with, imported after the init phase as a first request imports it.
MODELS = """
import o2o_bridge.tenant, o2o_bridge.retry
"""
BASELINE = "import boto3\nboto3.client('dynamodb')\n"

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
    from o2o_local.template import load_template, services_of

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
        # A Lambda container: the handler's import is the init phase (o2o_bridge/init_phase.py), and
        # the X-Ray SDK samples as in Lambda (LAMBDA_TASK_ROOT: no sampling client of its own).
        "AWS_LAMBDA_FUNCTION_NAME": "o2o-bench", "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
    })
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
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
        cases[(name, "tracer")] = [python, "-c", LOAD_HANDLER + CLIENTS + TRACER, app, *services[name]]
        if "dynamodb" in services[name]:
            cases[(name, "models")] = [python, "-c", LOAD_HANDLER + CLIENTS + MODELS, app, *services[name]]
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

    print(f"baseline: stock import boto3 + one DynamoDB client, median {base_cpu:.3f} s CPU, {base_wall:.3f} s wall "
          f"over {args.rounds} rounds (wall spread {spread:.0%}: the machine's load); judged: handler import (Lambda's "
          f"init phase) + a client per service its policies grant (every client it may make, not only a typical "
          f"first request's), bytecode compiled as the layer ships it; +tracer: that and what the first invocation "
          f"builds before its own work; +models: judged and the tenant model and retry envelope (pydantic), imported "
          f"after the init where the init did not (functions granted DynamoDB). Ratios: median over the rounds of the child's CPU (wall) time / that round's "
          f"baseline")
    print(f"{'function':24} {'clients':38} {'judged':>7} {'wall':>6} {'+tracer':>8} {'+models':>8} {'import':>7} "
          f"{'floor':>6}  goal <= {GOAL} (CPU)")
    worst, worst_name, above_floor, first_call = 0.0, "", [], []
    worst_models, worst_models_name = 0.0, ""
    for name in functions:
        judged = statistics.median(cpu[(name, "judged")])
        judged_wall = statistics.median(wall[(name, "judged")])
        traced = statistics.median(cpu[(name, "tracer")])
        imported = statistics.median(cpu[(name, "import")]) if args.import_only else float("nan")
        floor = statistics.median(cpu[(name, "floor")])
        if judged > worst:
            worst, worst_name = judged, name
        above_floor.append(judged - floor)
        first_call.append(traced - judged)
        shown = f"{imported:7.2f}" if args.import_only else f"{'-':>7}"
        if (name, "models") in cpu:
            with_models = statistics.median(cpu[(name, "models")])
            if with_models > worst_models:
                worst_models, worst_models_name = with_models, name
            models_shown = f"{with_models:8.2f}"
        else:
            models_shown = f"{'-':>8}"
        print(f"{name:24} {','.join(services[name]) or '-':38} {judged:7.2f} {judged_wall:6.2f} {traced:8.2f} "
              f"{models_shown} {shown} {floor:6.2f}{'' if judged <= GOAL else '  over'}")
    print(f"worst ratio (import + clients, CPU): {worst:.2f} ({worst_name}; "
          f"{'meets' if worst <= GOAL else 'MISSES'} the goal of {GOAL}); judged - floor (the bridge's imports, less "
          f"what its init phase and trimmed models save): {statistics.median(above_floor):+.2f} x baseline (median "
          f"over the functions, {statistics.median(above_floor) * base_cpu * 1000:+.0f} ms CPU); the first "
          f"invocation's Tracer adds {statistics.median(first_call):.2f} x ({statistics.median(first_call) * base_cpu * 1000:.0f} ms CPU)")
    if worst_models_name:
        print(f"with the models a request validates with (+models), the worst is {worst_models:.2f} ({worst_models_name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
