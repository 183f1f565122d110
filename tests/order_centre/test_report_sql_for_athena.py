"""The report SQL is valid for Athena, not only for DuckDB: the exact text Athena is sent (each
report over the deduplicated ledger, for all stores and for one) read by sqlglot as
Athena's Trino dialect, every function one Trino has, every column one the Glue table has, no
division of two integers (Trino truncates it, DuckDB does not), and the text as Athena reads
it, run here, gives the rows DuckDB's local run gives."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from o2o_bridge.cli.order_centre.engines import DuckDbEngine, run_report, with_distinct_ledger
from o2o_bridge.cli.order_centre.reports import REPORTS
from o2o_bridge.connectors.files.ledger import FileLedger
from o2o_bridge.ledger import ROW_COLUMNS, Fact, FactLine

from .test_reports import E, at, ledger_dir  # noqa: F401  (the reports' ledger of known facts)

DATABASE = "o2o_ledger"
TRINO_TYPES = {"string": "varchar", "int": "integer", "bigint": "bigint", "double": "double"}
# The Glue table (its columns are ROW_COLUMNS: tests/template/test_ledger_resources.py) and its
# partition keys, as Athena sees them.
GLUE_TABLE = {DATABASE: {"ledger": {**{name: TRINO_TYPES[kind] for name, kind in ROW_COLUMNS.items()},
                                    "tenant": "varchar", "day": "varchar"}}}
CASES = [(name, store) for name in REPORTS for store in (None, "S001")]


def athena_text(name: str, store: str | None) -> str:
    """What AthenaEngine sends as the QueryString."""
    return with_distinct_ledger(REPORTS[name].query(store), f'"{DATABASE}"."ledger"')


def read_as_athena(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="athena", error_level=ErrorLevel.RAISE)


def functions_trino_lacks(tree: exp.Expression) -> list[str]:
    """sqlglot knows Trino's functions; any other call parses as an anonymous one."""
    return [call.sql("athena") for call in tree.find_all(exp.Anonymous)]


def against_the_glue_table(tree: exp.Expression) -> exp.Expression:
    """Every column resolved to one of the Glue table (or of the query's own CTEs), typed."""
    qualified = qualify(tree.copy(), schema=GLUE_TABLE, dialect="athena", validate_qualify_columns=True)
    return annotate_types(qualified, schema=GLUE_TABLE, dialect="athena")


def integer_divisions(tree: exp.Expression) -> list[str]:
    """``a / b`` of two integers: Trino truncates (3 / 4 = 0), DuckDB gives 0.75."""
    integers = exp.DataType.INTEGER_TYPES
    return [div.sql("athena") for div in tree.find_all(exp.Div)
            if div.this.type and div.this.type.is_type(*integers)
            and div.expression.type and div.expression.type.is_type(*integers)]


@pytest.mark.parametrize(("name", "store"), CASES)
def test_athena_reads_the_query_it_is_sent_against_the_glue_table(name, store):
    tree = read_as_athena(athena_text(name, store))
    assert functions_trino_lacks(tree) == [], f"{name}: functions Athena does not have"
    assert integer_divisions(against_the_glue_table(tree)) == [], f"{name}: Athena would truncate these"
    placeholders = len(list(tree.find_all(exp.Placeholder)))
    assert placeholders == len(REPORTS[name].parameters(E, "2026-12-02", "2026-12-03", store))


@pytest.fixture
def ledger_with_a_member(ledger_dir):  # noqa: F811
    """The reports' ledger and a member who bought at the till and online (member-spending)."""
    from decimal import Decimal

    ledger = FileLedger(ledger_dir)
    for kind, key, delivery in (("sale.completed", "sale:M1", None), ("fulfilment.shipped", "shipped:M2", "express")):
        ledger.append(Fact(E, kind, key, at(2, 12), store_code="S001", doc_no=key, member_hash="ab" * 32,
                           delivery=delivery, amount=Decimal("50.00"), lines=(FactLine("SKU-C", 1, Decimal("50.00")),)))
    return ledger_dir


@pytest.mark.parametrize(("name", "store"), CASES)
def test_the_query_as_athena_reads_it_gives_the_rows_duckdb_gives(ledger_with_a_member, name, store):
    """Athena's reading written out for DuckDB by sqlglot and run over the same ledger: the
    same rows as the local report (what sqlglot had to rewrite did not change the answer)."""
    engine = DuckDbEngine(ledger_with_a_member)
    local = run_report(engine, REPORTS[name], E, "2026-12-02", "2026-12-03", store)
    engine.connection.execute(f"CREATE SCHEMA {DATABASE}")
    engine.connection.execute(f"CREATE VIEW {DATABASE}.ledger AS SELECT * FROM main.ledger")
    as_athena_reads_it = read_as_athena(athena_text(name, store)).sql("duckdb")
    athena = engine.run(as_athena_reads_it, REPORTS[name].parameters(E, "2026-12-02", "2026-12-03", store))
    assert athena == local and local[1], f"{name}: Athena's reading differs (or the fixture gave no rows)"


@pytest.mark.parametrize("duckdb_only", [
    "SELECT list_value(qty, 1) FROM ledger",
    "SELECT strftime(occurred_at, '%Y') FROM ledger",
    "SELECT * FROM read_json('ledger/*.jsonl')",
])
def test_the_check_catches_what_only_duckdb_has(duckdb_only):
    assert functions_trino_lacks(read_as_athena(duckdb_only))


def test_the_check_catches_a_column_the_glue_table_lacks_and_an_integer_division():
    from sqlglot.errors import OptimizeError

    with pytest.raises(OptimizeError):
        against_the_glue_table(read_as_athena(f'SELECT store FROM "{DATABASE}"."ledger"'))
    rate = (f'WITH p AS (SELECT COUNT(io_id) AS done, COUNT(*) AS orders FROM "{DATABASE}"."ledger") '
            "SELECT done / orders AS rate FROM p")
    assert integer_divisions(against_the_glue_table(read_as_athena(rate))) == ['"p"."done" / "p"."orders"']
