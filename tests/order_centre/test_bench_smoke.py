"""bench/reports.py runs end to end at a tiny size (the 1 M-row figures come from the bench itself)."""

import importlib.util
from pathlib import Path


def test_the_reports_bench_prints_its_figures(tmp_path, capsys):
    path = Path(__file__).resolve().parents[2] / "bench" / "reports.py"
    spec = importlib.util.spec_from_file_location("bench_reports", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--rows", "3000", "--days", "3", "--stores", "2", "--skus", "20",
                       "--ledger", str(tmp_path / "ledger")]) == 0
    out = capsys.readouterr().out
    assert "generated 3,0" in out and "peak" in out
    assert "BEFORE compaction" in out and "AFTER compaction, the same" in out and "objects merged" in out
    for name in ("pickup-summary", "stock-ledger", "cod", "member-spending"):
        assert name in out
