"""Powertools Tracer on every handler, built on the first invocation in Lambda only: the
X-Ray SDK (and the botocore it imports) stays out of the cold start's init phase."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from o2o_bridge import tracing as observability

ROOT = Path(__file__).resolve().parents[2]


def test_importing_a_handler_does_not_import_the_xray_sdk():
    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('h', sys.argv[1])\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "print(sorted(n for n in sys.modules if n.startswith('aws_xray_sdk')))")
    env = {"AWS_LAMBDA_FUNCTION_NAME": "o2o-PosEvents", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin",
           "STATE_TABLE": "t", "IDEMPOTENCY_TABLE": "t", "RETRY_QUEUE_URL": "q", "RETRY_DLQ_URL": "q"}
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "functions" / "pos_events" / "app.py")],
                          capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


class FakeTracer:
    def __init__(self):
        self.wrapped = []

    def capture_lambda_handler(self, handler):
        self.wrapped.append(handler)
        return lambda event, context: ("traced", handler(event, context))


def test_in_lambda_the_tracer_wraps_the_handler_once_on_its_first_call(monkeypatch):
    fake = FakeTracer()
    monkeypatch.setattr(observability, "tracer", lambda: fake)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "o2o-Health")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    handler = observability.traced(lambda event, context: event["n"])
    assert fake.wrapped == []  # nothing built at import
    assert handler({"n": 1}, None) == ("traced", 1) and handler({"n": 2}, None) == ("traced", 2)
    assert len(fake.wrapped) == 1


def test_an_invocation_xray_does_not_record_runs_the_bare_handler(monkeypatch):
    # Tracing: PassThrough with no caller that samples, or Active past its 1 a second and 5 %:
    # Lambda says Sampled=0 (or sets no header); the Tracer is not even built.
    fake = FakeTracer()
    monkeypatch.setattr(observability, "tracer", lambda: fake)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "o2o-Health")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    handler = observability.traced(lambda event, context: event["n"])
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
    assert handler({"n": 1}, None) == 1
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    assert handler({"n": 2}, None) == 2
    assert fake.wrapped == []
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")  # the next is recorded
    assert handler({"n": 3}, None) == ("traced", 3) and len(fake.wrapped) == 1


def test_outside_lambda_or_disabled_the_handler_runs_untraced(monkeypatch):
    monkeypatch.setattr(observability, "tracer", lambda: (_ for _ in ()).throw(AssertionError("built")))
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert observability.traced(lambda e, c: e)(5, None) == 5
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "x")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert observability.traced(lambda e, c: e)(6, None) == 6
