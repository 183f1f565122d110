"""The six order-centre reports over a ledger of known facts: their definitions, every form,
the same SQL for Athena, and the HTML charts as a real browser draws them."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from o2o_bridge.cli import main
from o2o_bridge.cli.order_centre.engines import AthenaEngine, DuckDbEngine, run_report, with_distinct_ledger
from o2o_bridge.cli.order_centre.reports import REPORTS
from o2o_bridge.connectors.files.ledger import FileLedger
from o2o_bridge.ledger import Fact, FactLine

from .browser import columns_of_colour, dump_dom, screenshot

SH = timezone(timedelta(hours=8))
E = "10010"


def at(day, hour=10):
    return datetime(2026, 12, day, hour, tzinfo=SH)


def pickup(ledger, io_id, store, day, outcome, *, cod=None):
    """One pickup order dispatched to ``store`` on ``day`` and how it ended there."""
    lines = (FactLine("SKU-A", 1, Decimal("99.00")),)
    common = dict(store_code=store, doc_no=f"F{io_id}", io_id=str(io_id), delivery="pickup", lines=lines,
                  amount=Decimal("99.00"), cod_amount=cod)
    ledger.append(Fact(E, "fulfilment.dispatched", f"dispatched:{io_id}:0", at(day, 9), **common))
    kind = {"picked_up": "fulfilment.picked_up", "rejected": "fulfilment.rejected", "expired": "pickup.expired",
            "cancelled": "fulfilment.cancelled"}.get(outcome)
    if kind:
        ledger.append(Fact(E, kind, f"{outcome}:{io_id}", at(day, 15), **common))


@pytest.fixture
def ledger_dir(tmp_path):
    ledger = FileLedger(tmp_path / "ledger")
    # Store S001: 4 pickups end there (3 picked up, 1 rejected), 1 still open. S002: 1 of 2 (1 expired).
    for io_id, outcome in ((1, "picked_up"), (2, "picked_up"), (3, "picked_up"), (4, "rejected"), (5, None)):
        pickup(ledger, io_id, "S001", 2, outcome)
    pickup(ledger, 6, "S002", 2, "picked_up", cod=Decimal("99.00"))
    pickup(ledger, 7, "S002", 3, "expired")
    pickup(ledger, 8, "S002", 3, "cancelled")
    # COD: order 6 collected in full; order 9 shipped COD and never collected; 10 collected short.
    ledger.append(Fact(E, "cod.collected", "cod:6", at(2, 16), store_code="S002", doc_no="6", io_id="6",
                       payment="cash", amount=Decimal("99.00")))
    for io_id, collected in ((9, None), (10, Decimal("50.00"))):
        ledger.append(Fact(E, "fulfilment.shipped", f"shipped:{io_id}", at(3), store_code="S001", doc_no=f"F{io_id}",
                           io_id=str(io_id), delivery="express", amount=Decimal("120.00"),
                           cod_amount=Decimal("120.00"), lines=(FactLine("SKU-B", 2, Decimal("120.00")),)))
        if collected:
            ledger.append(Fact(E, "cod.collected", f"cod:{io_id}", at(3, 18), store_code="S001", doc_no=str(io_id),
                               io_id=str(io_id), payment="wechat", amount=collected))
    # Stock at S001: 配货 20 of SKU-A on day 1 (before the period), a sale of 2 and a refund of 1 on day 2.
    ledger.append(Fact(E, "transfer.shipped", "transfer:T1", at(1), store_code="S001", doc_no="T1",
                       lines=(FactLine("SKU-A", 20),)))
    ledger.append(Fact(E, "sale.completed", "sale:X1", at(2, 11), store_code="S001", doc_no="X1", payment="cash",
                       amount=Decimal("198.00"), lines=(FactLine("SKU-A", 2, Decimal("198.00")),)))
    ledger.append(Fact(E, "sale.refunded", "refund:R1", at(3, 11), store_code="S001", doc_no="R1",
                       amount=Decimal("99.00"), lines=(FactLine("SKU-A", 1, Decimal("99.00")),)))
    ledger.append(Fact(E, "stock.counted", "count:K1", at(3, 20), store_code="S001", doc_no="K1",
                       lines=(FactLine("SKU-A", 13),)))
    # Another tenant's facts never show.
    ledger.append(Fact("99999", "sale.completed", "sale:other", at(2), store_code="S001", doc_no="O",
                       amount=Decimal("1000"), lines=(FactLine("SKU-A", 50),)))
    return tmp_path / "ledger"


def rows(ledger_dir, name, day_from="2026-12-02", day_to="2026-12-03", store=None):
    names, found = run_report(DuckDbEngine(ledger_dir), REPORTS[name], E, day_from, day_to, store)
    return [dict(zip(names, row)) for row in found]


def test_pickup_summary_counts_orders_per_store_and_the_rate_over_the_ones_that_ended(ledger_dir):
    s001, s002 = rows(ledger_dir, "pickup-summary")
    assert s001 == {"store": "S001", "pickup_orders": 5, "picked_up": 3, "rejected": 1, "expired": 0, "cancelled": 0,
                    "pickup_rate": 0.75}
    assert (s002["pickup_orders"], s002["picked_up"], s002["expired"], s002["cancelled"], s002["pickup_rate"]) == \
        (3, 1, 1, 1, 0.5)
    assert [r["store"] for r in rows(ledger_dir, "pickup-summary", store="S002")] == ["S002"]


def test_pickup_documents_show_each_document_and_how_it_ended(ledger_dir):
    documents = {r["fulfilment_id"]: r for r in rows(ledger_dir, "pickup-documents")}
    assert {k: v["status"] for k, v in documents.items()} == {
        "F1": "picked_up", "F2": "picked_up", "F3": "picked_up", "F4": "rejected", "F5": "open", "F6": "picked_up",
        "F7": "expired", "F8": "cancelled"}
    assert documents["F1"]["dispatched_at"] == "2026-12-02 09:00:00"
    assert documents["F1"]["ended_at"] == "2026-12-02 15:00:00" and documents["F5"]["ended_at"] is None


def test_stock_ledger_opening_in_out_the_count_and_closing(ledger_dir):
    by_sku = {(r["store"], r["sku"]): r for r in rows(ledger_dir, "stock-ledger")}
    # Opening 20 (配货 before the period); out: 3 pickups + a sale of 2; in: a refund of 1: the book says 16,
    # the count (after every movement) found 13: 3 short, and the closing balance is what was counted.
    assert by_sku[("S001", "SKU-A")] == {"store": "S001", "sku": "SKU-A", "opening": 20, "qty_in": 1, "qty_out": 5,
                                         "count_difference": -3, "closing": 13, "counted": 13}
    assert by_sku[("S001", "SKU-B")]["qty_out"] == 4 and by_sku[("S001", "SKU-B")]["closing"] == -4
    assert by_sku[("S001", "SKU-B")]["count_difference"] == 0 and by_sku[("S001", "SKU-B")]["counted"] is None
    assert by_sku[("S002", "SKU-A")]["qty_out"] == 1


def test_daily_retail_per_day_and_store(ledger_dir):
    report = {(r["day"], r["store"]): r for r in rows(ledger_dir, "daily-retail")}
    day2 = report[("2026-12-02", "S001")]
    assert (day2["sales"], day2["sold_qty"], day2["sales_amount"], day2["online_orders"], day2["online_amount"]) == \
        (1, 2, 198.0, 3, 297.0)
    day3 = report[("2026-12-03", "S001")]
    assert (day3["refunds"], day3["refund_amount"], day3["net_retail"], day3["online_orders"]) == (1, 99.0, -99.0, 2)


def test_store_inout_lists_every_stock_movement_in_time_order(ledger_dir):
    moves = rows(ledger_dir, "store-inout", store="S001")
    assert [(m["kind"], m["sku"], m["qty_in"], m["qty_out"]) for m in moves][:4] == [
        ("sale.completed", "SKU-A", 0, 2),
        ("fulfilment.picked_up", "SKU-A", 0, 1), ("fulfilment.picked_up", "SKU-A", 0, 1),
        ("fulfilment.picked_up", "SKU-A", 0, 1)]
    assert sum(m["qty_in"] for m in moves) == 1 and sum(m["qty_out"] for m in moves) == 9
    assert all(m["occurred_at"][:10] in ("2026-12-02", "2026-12-03") for m in moves)


def test_cod_reconciles_expected_against_collected_per_order(ledger_dir):
    cod = {r["io_id"]: r for r in rows(ledger_dir, "cod")}
    assert {k: (v["expected"], v["collected"], v["missing"], v["status"]) for k, v in cod.items()} == {
        "6": (99.0, 99.0, 0.0, "collected"), "9": (120.0, 0.0, 120.0, "not collected"),
        "10": (120.0, 50.0, 70.0, "short")}
    assert (cod["6"]["store"], cod["6"]["day"]) == ("S002", "2026-12-02")


def test_an_empty_ledger_gives_empty_reports(tmp_path):
    for name in REPORTS:
        assert rows(tmp_path / "nothing", name) == []


def test_the_cli_prints_a_table_csv_and_json(ledger_dir, capsys):
    assert main(["report", "pickup-summary", "--tenant", E, "--from", "2026-12-02", "--to", "2026-12-03",
                 "--ledger-dir", str(ledger_dir)]) == 0
    table = capsys.readouterr().out
    assert "门店自提情况" in table and "75.0%" in table and "(2 rows)" in table
    assert main(["report", "cod", "--tenant", E, "--from", "2026-12-02", "--to", "2026-12-03", "--format", "csv",
                 "--ledger-dir", str(ledger_dir)]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["io_id"]: r["status"] for r in parsed}["9"] == "not collected"
    assert main(["report", "daily-retail", "--tenant", E, "--from", "2026-12-02", "--to", "2026-12-02", "--json",
                 "--ledger-dir", str(ledger_dir)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["sales_amount"] == 198.0


def test_the_cli_writes_an_excel_workbook(ledger_dir, tmp_path, capsys):
    from openpyxl import load_workbook

    target = tmp_path / "stock.xlsx"
    assert main(["report", "stock-ledger", "--tenant", E, "--from", "2026-12-02", "--to", "2026-12-03",
                 "--format", "xlsx", "-o", str(target), "--ledger-dir", str(ledger_dir)]) == 0
    sheet = load_workbook(target).active
    assert sheet["A2"].value == "门店 store" and sheet.max_row == 2 + 3
    assert [c.value for c in sheet[3]][:7] == ["S001", "SKU-A", 20, 1, 5, -3, 13]


def test_bad_days_are_a_usage_error_and_nothing_runs(ledger_dir, capsys):
    assert main(["report", "cod", "--tenant", E, "--from", "2026-12-40", "--to", "2026-12-03",
                 "--ledger-dir", str(ledger_dir)]) == 2
    assert "--from '2026-12-40' is not a day" in capsys.readouterr().err
    assert main(["report", "cod", "--tenant", E, "--from", "2026-12-04", "--to", "2026-12-03",
                 "--ledger-dir", str(ledger_dir)]) == 2


def test_athena_gets_the_same_sql_with_the_parameters_as_literals():
    class FakeAthena:
        def __init__(self):
            self.started = []

        def start_query_execution(self, **request):
            self.started.append(request)
            return {"QueryExecutionId": "q1"}

        def get_query_execution(self, QueryExecutionId):
            return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}

        def get_paginator(self, name):
            class Pages:
                def paginate(self, QueryExecutionId):
                    yield {"ResultSet": {
                        "ResultSetMetadata": {"ColumnInfo": [{"Name": "store", "Type": "varchar"},
                                                             {"Name": "pickup_rate", "Type": "double"}]},
                        "Rows": [{"Data": [{"VarCharValue": "store"}, {"VarCharValue": "pickup_rate"}]},
                                 {"Data": [{"VarCharValue": "S001"}, {"VarCharValue": "0.75"}]}]}}
            return Pages()

    athena = FakeAthena()
    names, found = run_report(AthenaEngine(athena, database="o2o_dev_ledger", workgroup="wg"),
                              REPORTS["pickup-summary"], E, "2026-12-02", "2026-12-03", "S'01")
    assert (names, found) == (["store", "pickup_rate"], [("S001", 0.75)])
    [request] = athena.started
    # Read deduplicated: a fact in a day's compacted object and its own object counts once.
    assert request["QueryString"] == with_distinct_ledger(REPORTS["pickup-summary"].query("S'01"), '"o2o_dev_ledger"."ledger"')
    assert request["ExecutionParameters"] == ["'10010'", "'2026-12-02'", "'2026-12-03'", "'S''01'"]
    assert (request["WorkGroup"], request["QueryExecutionContext"]) == ("wg", {"Database": "o2o_dev_ledger"})


def test_the_html_page_draws_the_pickup_rate_chart_in_a_real_browser(ledger_dir, tmp_path, capsys):
    page = tmp_path / "pickup.html"
    assert main(["report", "pickup-summary", "--tenant", E, "--from", "2026-12-02", "--to", "2026-12-03",
                 "--format", "html", "-o", str(page), "--ledger-dir", str(ledger_dir)]) == 0
    text = page.read_text("utf-8")
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    dom = dump_dom(page)
    assert 'id="pickup-rate-by-store"' in dom and dom.count('class="bar"') == 2 and "75.0%" in dom
    width, height, pixels = screenshot(page, width=700, height=480)
    bars = columns_of_colour(pixels, (0x2F, 0x6D, 0xB5))
    # Two bars drawn, S001's (75%) taller than S002's (50%), in that ratio.
    runs = _runs(bars)
    assert len(runs) == 2, runs
    (_, tall), (_, short) = runs
    assert abs(tall / short - 1.5) < 0.1, (tall, short)


def test_the_daily_retail_page_draws_a_bar_per_day(ledger_dir, tmp_path):
    page = tmp_path / "retail.html"
    assert main(["report", "daily-retail", "--tenant", E, "--from", "2026-12-02", "--to", "2026-12-03",
                 "--format", "html", "-o", str(page), "--ledger-dir", str(ledger_dir)]) == 0
    dom = dump_dom(page)
    assert 'id="daily-retail"' in dom
    assert 'data-label="2026-12-02"' in dom and 'data-label="2026-12-03"' in dom


def _runs(columns: dict[int, int]) -> list[tuple[int, int]]:
    """Adjacent x positions of one colour -> (first x, height) of each bar."""
    runs: list[tuple[int, int]] = []
    for x in sorted(columns):
        if runs and x - 1 in columns:
            first, height = runs[-1]
            runs[-1] = (first, max(height, columns[x]))
        else:
            runs.append((x, columns[x]))
    # The legend's swatch is a 10 px square: not a bar.
    return [run for run in runs if run[1] > 12]


def test_detected_and_declared_schemas_give_the_same_reports(ledger_dir, monkeypatch):
    from o2o_bridge.cli.order_centre import engines

    from o2o_bridge.ledger import batch_objects, fact_message, read_fact_message

    # A fact that fills every column, so DuckDB's sample detects a type for each: stored by the
    # ledger writer, which alone sets recorded_at.
    full = Fact(E, "fulfilment.shipped", "shipped:full", at(2), store_code="S003", doc_no="F99", io_id="99",
                so_id="SO99", delivery="express", reason="r", payment="cash", member_hash="ab" * 16,
                amount=Decimal("10.50"), cod_amount=Decimal("10.50"), lines=(FactLine("SKU-C", 1, Decimal("10.50")),))
    [batch] = batch_objects([read_fact_message(fact_message(full), message_id="m1", sent_ms=1764633600000)])
    assert FileLedger(ledger_dir).put_batch(batch)
    # Types are detected from a few files: compacted days (one file each) put that fact in the sample.
    for day in ("2026-12-01", "2026-12-02", "2026-12-03"):
        FileLedger(ledger_dir).compact_day(E, day)
    fast = engines.DuckDbEngine(ledger_dir)
    assert "CAST(" in fast.connection.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'ledger_objects'").fetchone()[0]
    monkeypatch.setattr(engines, "_detected_types_are_safe", lambda connection, source: False)
    declared = engines.DuckDbEngine(ledger_dir)
    for name, report in REPORTS.items():
        assert run_report(fast, report, E, "2026-12-01", "2026-12-03") == \
            run_report(declared, report, E, "2026-12-01", "2026-12-03"), name


def test_a_count_before_the_period_is_the_opening_balance_the_later_movements_start_from(tmp_path):
    ledger = FileLedger(tmp_path)
    ledger.append(Fact(E, "transfer.shipped", "t", at(1, 8), store_code="S001", doc_no="T", lines=(FactLine("A", 10),)))
    ledger.append(Fact(E, "stock.counted", "k", at(1, 20), store_code="S001", doc_no="K", lines=(FactLine("A", 7),)))
    ledger.append(Fact(E, "sale.completed", "s", at(1, 21), store_code="S001", doc_no="X", amount=Decimal("1"),
                       lines=(FactLine("A", 1, Decimal("1")),)))
    ledger.append(Fact(E, "sale.completed", "s2", at(2, 10), store_code="S001", doc_no="X2", amount=Decimal("1"),
                       lines=(FactLine("A", 2, Decimal("1")),)))
    [row] = rows(tmp_path, "stock-ledger", "2026-12-02", "2026-12-02")
    assert (row["opening"], row["qty_out"], row["count_difference"], row["closing"], row["counted"]) == (6, 2, 0, 4, None)
