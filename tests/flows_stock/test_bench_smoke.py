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


def test_the_nightly_stock_bench_keeps_to_the_limit_when_uploads_arrive_late_and_out_of_order(capsys):
    """Each upload reaches the JST sandbox 10-610 ms after it was sent, before the sandbox counts it
    (a slow, jittery network; calls overtake each other), 12 uploads at 2 calls a second: the
    limiter counts its own calls from their answers, so JST refuses none (counted by the sandbox).
    Counted by their grants (``--by-grants``, the limiter before), the same run meets a 199."""
    path = Path(__file__).resolve().parents[2] / "bench" / "nightly_stock.py"
    spec = importlib.util.spec_from_file_location("bench_nightly_stock_jitter", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--skus", "8000", "--stores", "2", "--changed", "0.5", "--per-second", "2",
                       "--per-minute", "1000", "--readers", "2", "--p8-latency-ms", "0",
                       "--jst-latency-ms", "10", "--jst-jitter-ms", "600"]) == 0
    out = capsys.readouterr().out
    assert "(0 refused by the rate limit" in out and "-> minimum" in out
