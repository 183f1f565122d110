"""Ledger compaction: a closed day's single-fact objects merged into one object per tenant and
day, locally and in S3, without a reader ever counting a row twice or missing one."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from pathlib import Path

import boto3
import pytest
import yaml

from o2o_bridge.cli import main as o2o
from o2o_bridge.cli.order_centre.engines import DuckDbEngine, run_report, with_distinct_ledger
from o2o_bridge.cli.order_centre.reports import REPORTS
from o2o_bridge.connectors.aws.s3_ledger import S3Ledger
from o2o_bridge.connectors.files.ledger import FileLedger
from o2o_bridge.errors import BadRequest
from o2o_bridge.flows import ledger_compaction
from o2o_bridge.ledger import COMPACTED_GZIP, COMPACTED_PLAIN, CompactedMeanwhile, Fact, FactLine

from .test_reports import E, ledger_dir, pickup  # noqa: F401  (the reports' ledger of known facts)

SH = timezone(timedelta(hours=8))
LATER = datetime(2026, 12, 10, 3, 30, tzinfo=SH)  # the 03:30 run, days after the facts


def every_report(root, day_from="2026-12-01", day_to="2026-12-03"):
    engine = DuckDbEngine(root)
    return {name: sorted(map(repr, run_report(engine, report, E, day_from, day_to)[1]))
            for name, report in REPORTS.items()}


def test_a_closed_day_becomes_one_object_and_every_report_reads_the_same(ledger_dir):  # noqa: F811
    before = every_report(ledger_dir)
    ledger = FileLedger(ledger_dir)
    loose = len(ledger.loose_objects(E, "2026-12-02"))
    summary = ledger_compaction.compact_closed_days(ledger, now=LATER, lookback_days=14)
    assert summary["failed"] == [] and summary["days_left"] == 0
    assert summary["days_compacted"] == 4  # days 1-3 of tenant 10010 and the other tenant's day 2
    mine = summary["tenants"][E]
    assert (mine["ok"], mine["days_compacted"], mine["days_left"]) == (True, 3, 0) and mine["objects_merged"] > loose
    day = ledger_dir / f"tenant={E}" / "day=2026-12-02"
    assert [p.name for p in day.iterdir() if not p.name.startswith(".")] == [COMPACTED_PLAIN]
    assert loose > 1 and ledger.loose_objects(E, "2026-12-02") == []
    assert every_report(ledger_dir) == before
    # Nothing left to do: a second run merges nothing and rewrites nothing.
    written = (day / COMPACTED_PLAIN).stat().st_mtime_ns
    again = ledger_compaction.compact_closed_days(ledger, now=LATER, lookback_days=14)
    assert again["days_compacted"] == 0 and (day / COMPACTED_PLAIN).stat().st_mtime_ns == written


def test_readers_count_a_fact_once_while_it_is_in_both_forms_and_a_straggler_is_folded_in(ledger_dir):  # noqa: F811
    before = every_report(ledger_dir)
    day = ledger_dir / f"tenant={E}" / "day=2026-12-02"
    kept = ledger_dir.parent / "kept"
    shutil.copytree(day, kept)
    ledger = FileLedger(ledger_dir)
    ledger.compact_day(E, "2026-12-02")
    # The moment between the compacted object's write and the small objects' deletion: both there.
    for path in kept.iterdir():
        shutil.copy(path, day / path.name)
    assert every_report(ledger_dir) == before
    # A replayed step appends an already-compacted fact again: still counted once.
    ledger.compact_day(E, "2026-12-02")
    pickup(ledger, 1, "S001", 2, "picked_up")
    assert len(ledger.loose_objects(E, "2026-12-02")) == 2
    assert every_report(ledger_dir) == before
    # A fact that really is new on the closed day shows, and the next compaction folds it in once.
    ledger.append(Fact(E, "sale.completed", "sale:late", datetime(2026, 12, 2, 21, tzinfo=SH), store_code="S001",
                       doc_no="late", payment="cash", amount=Decimal("10.00"), lines=(FactLine("SKU-A", 1),)))
    with_late = every_report(ledger_dir)
    assert with_late["daily-retail"] != before["daily-retail"]
    assert ledger.compact_day(E, "2026-12-02").merged_objects == 3
    assert every_report(ledger_dir) == with_late


def test_the_report_sql_reads_a_deduplicated_ledger_as_athena_is_asked_to(ledger_dir):  # noqa: F811
    """AthenaEngine wraps each report in with_distinct_ledger: the same text run here over a table
    holding every fact twice gives the report of the facts once."""
    engine = DuckDbEngine(ledger_dir)
    engine.connection.execute("CREATE TABLE twice AS SELECT * FROM ledger UNION ALL SELECT * FROM ledger")
    for name, report in REPORTS.items():
        expected = run_report(engine, report, E, "2026-12-01", "2026-12-03")[1]
        wrapped = with_distinct_ledger(report.query(None), "twice")
        assert sorted(map(repr, engine.run(wrapped, report.parameters(E, "2026-12-01", "2026-12-03", None))[1])) \
            == sorted(map(repr, expected)), name


def test_an_open_day_is_never_compacted(tmp_path):
    ledger = FileLedger(tmp_path)
    now = datetime(2026, 12, 3, 10, tzinfo=SH)
    ledger.append(Fact(E, "sale.completed", "sale:today", now, store_code="S001", doc_no="T", amount=Decimal("1")))
    with pytest.raises(BadRequest, match="not closed"):
        ledger_compaction.compact_day(ledger, E, "2026-12-03", now=now)
    assert ledger_compaction.compact_closed_days(ledger, now=now)["days_compacted"] == 0
    assert len(ledger.loose_objects(E, "2026-12-03")) == 1
    # Shortly after midnight in Shanghai (16:00 UTC) the day is closed.
    assert ledger_compaction.compact_day(ledger, E, "2026-12-03", now=datetime(2026, 12, 3, 16, 1, tzinfo=timezone.utc))[
        "merged_objects"] == 1


def facts_in(s3, bucket, prefix):
    import gzip

    rows = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        text = gzip.decompress(body) if item["Key"].endswith(".gz") else body
        rows += [json.loads(line) for line in text.decode().splitlines()]
    return rows


def test_the_s3_ledger_compacts_with_a_conditional_write_and_a_concurrent_run_deletes_nothing():
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="ledger-test")
        ledger = S3Ledger(s3, "ledger-test")
        for n in range(5):
            pickup(ledger, n, "S001", 2, "picked_up")
        prefix = f"ledger/tenant={E}/day=2026-12-02/"
        rows = sorted(map(json.dumps, facts_in(s3, "ledger-test", prefix)))
        done = ledger.compact_day(E, "2026-12-02")
        assert (done.merged_objects, done.rows) == (10, len(rows))
        assert [i["Key"] for i in s3.list_objects_v2(Bucket="ledger-test", Prefix=prefix)["Contents"]] == \
            [prefix + COMPACTED_GZIP]  # gzip in S3: Athena bills the bytes it scans
        assert sorted(map(json.dumps, facts_in(s3, "ledger-test", prefix))) == rows
        assert ledger.tenants() == [E]

        # Two compactions of one day: the other one writes between this one's reads and its
        # write; this one's conditional write fails and it deletes nothing (the new fact stays).
        pickup(ledger, 100, "S002", 2, "picked_up")
        other = S3Ledger(s3, "ledger-test")

        class Racing:
            def __getattr__(self, name):
                return getattr(s3, name)

            def put_object(self, **request):
                if request["Key"].endswith(COMPACTED_GZIP) and not getattr(self, "raced", False):
                    self.raced = True
                    pickup(other, 101, "S002", 2, "picked_up")
                    other.compact_day(E, "2026-12-02")
                return s3.put_object(**request)

        with pytest.raises(CompactedMeanwhile):
            S3Ledger(Racing(), "ledger-test").compact_day(E, "2026-12-02")
        found = {row["fact_key"] for row in facts_in(s3, "ledger-test", prefix)}
        assert {"dispatched:100:0", "picked_up:100", "dispatched:101:0", "picked_up:101"} <= found


def test_the_scheduled_function_compacts_each_tenant_in_its_own_run_and_a_failing_tenant_stops_nobody(aws):
    """The 03:30 firing fans out one run per registered tenant (as every scheduled job): a tenant
    whose day cannot be merged fails its own run, counted and named; the other's day is compacted."""
    from o2o_bridge import runtime
    from o2o_bridge.flows.kit import TenantFailures
    from o2o_bridge.ledger import day_folder
    from o2o_bridge.tenant import parse_tenant

    from handlers import invoke

    other = "20020"
    demo = yaml.safe_load((Path(__file__).resolve().parents[2] / "local/tenants/demo.yaml").read_text("utf-8"))
    for ent_id in (E, other):
        runtime.state_store().put(parse_tenant({**demo, "ent_id": ent_id}))
    # The test's own S3 client: it breaks and removes objects the bridge's client may not touch
    # (its model holds only the operations the bridge calls: scripts/trim_botocore_models.py).
    ledger, s3, bucket = runtime.ledger_store(), boto3.client("s3", region_name="us-east-1"), aws["LEDGER_BUCKET"]
    yesterday = datetime.now(SH) - timedelta(days=1)
    for ent_id in (E, other):
        ledger.append(Fact(ent_id, "sale.completed", "sale:Y1", yesterday, store_code="S001", doc_no="Y1",
                           amount=Decimal("5")))
    ledger.append(Fact(E, "sale.completed", "sale:T1", datetime.now(SH), store_code="S001", doc_no="T1",
                       amount=Decimal("5")))
    folder = {ent_id: "ledger/" + day_folder(ent_id, yesterday.date().isoformat()) for ent_id in (E, other)}
    [broken] = s3.list_objects_v2(Bucket=bucket, Prefix=folder[other])["Contents"]
    s3.put_object(Bucket=bucket, Key=broken["Key"], Body=b"{not json")  # an object nobody can merge

    with pytest.raises(TenantFailures, match=other) as failed:
        invoke("compact_ledger", {"job": "compact_ledger", "scheduled_time": "2026-12-02T19:30:00Z"})
    assert failed.value.message.startswith(f"compact_ledger failed for tenant(s) {other}: DaysNotCompacted")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=folder[E])
    assert [i["Key"].rsplit("/", 1)[1] for i in listed["Contents"]] == [COMPACTED_GZIP]  # today's fact untouched
    assert [i["Key"] for i in s3.list_objects_v2(Bucket=bucket, Prefix=folder[other])["Contents"]] == [broken["Key"]]

    # An operator runs one tenant now: its summary, one tenant.
    s3.delete_object(Bucket=bucket, Key=broken["Key"])
    ledger.append(Fact(other, "sale.completed", "sale:Y2", yesterday, store_code="S001", doc_no="Y2",
                       amount=Decimal("7")))
    result = invoke("compact_ledger", {"ent_id": other})
    assert result["tenants"][other]["ok"] and result["tenants"][other]["days_compacted"] == 1


def test_o2o_ledger_compact_runs_one_day_and_refuses_an_open_one(ledger_dir, capsys):  # noqa: F811
    pickup(FileLedger(ledger_dir), 50, "S001", 1, "picked_up")
    assert o2o(["ledger", "compact", "--tenant", E, "--day", "2026-12-01", "--ledger-dir", str(ledger_dir),
                "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["merged_objects"], done["rows"]) == (3, 6) and done["bytes_after"] <= done["bytes_before"]
    assert o2o(["ledger", "compact", "--tenant", E, "--day", "2026-12-01", "--ledger-dir", str(ledger_dir)]) == 0
    assert "nothing to compact" in capsys.readouterr().out
    today = datetime.now(SH).date().isoformat()
    assert o2o(["ledger", "compact", "--tenant", E, "--day", today, "--ledger-dir", str(ledger_dir)]) == 2
    assert "not closed" in capsys.readouterr().err
