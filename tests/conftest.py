"""Shared test setup: no test reaches real AWS.

Unit tests use moto's in-process mock (``aws`` fixture) or in-memory fakes (tests/fakes.py);
integration tests start a moto server and the local API emulator on 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Safe defaults before boto3 is imported anywhere: dummy credentials, a fixed region.
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "O2OBridgeTest",
    "POWERTOOLS_SERVICE_NAME": "o2o-bridge",
    "POWERTOOLS_DEV": "false",
    # Refusals at the public edges wait for a deadline (refusal_time.py); tests assert answers, not
    # times, so they skip the wait. tests/security/test_edge_answers.py checks the deadline itself.
    "O2O_REFUSAL_DEADLINE_MS": "0",
}.items():
    os.environ.setdefault(name, value)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def aws(monkeypatch):
    """moto's in-process AWS with the template's tables and queues, and the runtime pointed at them."""
    from aws_setup import template_aws

    with template_aws(monkeypatch) as names:
        yield names
