"""bench/cost.py runs end to end on one kind of callback and prints its row (the bench stopped at its
first line for a while after a module rename, and nothing noticed). Counts are asserted, never time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_cost_bench_prints_the_row_of_one_kind():
    # Its own process: the bench swaps stdout, boto3's default session and the emulator's handler
    # loader for its meters, and starts a local stack of its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "O2O_"))}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cost.py"), "--only", "product.changed", "-n", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [row] = [line for line in done.stdout.splitlines() if line.startswith("pos_events product.changed ")]
    columns = row[len("pos_events product.changed"):].split()
    happy, rate_limiter, duplicate, write_units = (float(value) for value in columns[:4])
    # The event done with its answer, and its timeline: 2 writes; a repeat 1. A drain of the local
    # stack rebuilds the bridge's runtime as a new container would, and its next callback reads the
    # tenant again (half a read in a row of 2): so the requests are at most half a request above.
    assert write_units == 2.0 and rate_limiter == 0.0
    assert 2.0 <= happy <= 2.5 and 1.0 <= duplicate <= 1.5
    assert "$ per 1 M callbacks by part" in done.stdout and "'est ms' =" in done.stdout
