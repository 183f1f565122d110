"""bench/nightly_stock.py runs end to end at a tiny size (the 1 M-row figures come from the bench itself)."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_the_nightly_stock_bench_prints_its_figures(capsys):
    path = Path(__file__).resolve().parents[2] / "bench" / "nightly_stock.py"
    spec = importlib.util.spec_from_file_location("bench_nightly_stock", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--skus", "600", "--stores", "3", "--changed", "0.2", "--per-second", "50",
                       "--per-minute", "1000"]) == 0
    out = capsys.readouterr().out
    assert "-> minimum" in out and "peak memory" in out and "rate-limit bound" in out
