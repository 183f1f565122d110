"""Lambda's init phase (o2o_bridge/init_phase.py): the garbage collector off from the bridge's
first import until the handler module's ``init_phase.ready`` has built its clients, then on
again for requests; outside Lambda nothing changes. Each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {"AWS_DEFAULT_REGION": "us-east-1", "STATE_TABLE": "t", "IDEMPOTENCY_TABLE": "t", "RETRY_QUEUE_URL": "q",
       "RETRY_DLQ_URL": "q", "POWERTOOLS_SERVICE_NAME": "o2o-bridge", "POWERTOOLS_METRICS_NAMESPACE": "O2OBridge",
       "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
PROBE = """
import gc, importlib.util, json, sys
import o2o_bridge
off_after_package = not gc.isenabled()
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from o2o_bridge import runtime
print(json.dumps({"off_after_package": off_after_package, "on_after_import": gc.isenabled(),
                  "frozen": gc.get_freeze_count(), "clients": runtime.aws_client.cache_info().currsize}))
"""


def probe(function: str, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "functions" / function / "app.py")],
                          capture_output=True, text=True, env={**ENV, **env}, check=True)
    return json.loads(done.stdout)


def test_in_lambda_the_init_runs_without_the_collector_and_builds_the_granted_clients():
    seen = probe("pos_events", AWS_LAMBDA_FUNCTION_NAME="o2o-PosEvents")
    assert seen["off_after_package"] and seen["on_after_import"]
    assert seen["frozen"] > 10_000  # the modules and clients made at init, out of the collector's sight
    assert seen["clients"] == 4  # dynamodb, kms, secretsmanager, sqs: pos_events' grants (its facts go to SQS)


def test_outside_lambda_the_collector_is_untouched_and_no_client_is_built_at_import():
    seen = probe("pos_events")
    assert not seen["off_after_package"] and seen["on_after_import"]
    assert seen["frozen"] == 0 and seen["clients"] == 0


def test_an_invocation_turns_the_collector_back_on_if_the_handler_never_said_ready():
    code = ("import gc, o2o_bridge\nfrom o2o_bridge import runtime\nassert not gc.isenabled()\n"
            "with runtime.invocation(None):\n    assert gc.isenabled()\n")
    subprocess.run([sys.executable, "-c", code], env={**ENV, "AWS_LAMBDA_FUNCTION_NAME": "x"}, check=True)
