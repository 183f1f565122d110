"""Where a report's SQL runs: DuckDB over the ledger's files (local stack, bench), Athena over
the bucket (a deployed stack). Both take the same text and return (column names, rows)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol, Sequence

from o2o_bridge.errors import BridgeError, ConfigurationError
from o2o_bridge.ledger import COMPACTED_GZIP, ROW_COLUMN_TYPES_DUCKDB, ROW_COLUMNS, deduplicated_ledger_sql

from .reports import Report

Rows = list[tuple[Any, ...]]


class Engine(Protocol):
    def run(self, sql: str, parameters: Sequence[str]) -> tuple[list[str], Rows]: ...


def run_report(engine: Engine, report: Report, tenant: str, day_from: str, day_to: str,
               store: str | None = None) -> tuple[list[str], Rows]:
    return engine.run(report.query(store), report.parameters(tenant, day_from, day_to, store))


class DuckDbEngine:
    """The ledger's files under ``root`` (``tenant=E/day=D/*.jsonl``: the ledger writer's batch
    objects, single facts and, for a compacted day, ``compacted.jsonl``), read with hive
    partitioning so ``tenant`` and ``day`` come from the path as in Athena.

    A fact key may be in several objects of its day (sent again by a replayed step, so in another
    batch; in a batch object and the compacted one while a compaction runs): the view ``ledger``
    reads each fact once, the version recorded first (``ledger.deduplicated_ledger_sql``, the
    same query Athena runs)."""

    def __init__(self, root: str | Path, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        try:
            import duckdb
        except ModuleNotFoundError:
            raise ConfigurationError("o2o report needs DuckDB for a local ledger: pip install 'o2o-bridge[reports]'") \
                from None
        self.root = Path(root)
        self.connection = duckdb.connect()
        # Its progress bar writes to stdout, which is the report's (csv, --json).
        self.connection.execute("SET enable_progress_bar = false")
        if threads:
            self.connection.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.connection.execute(f"SET memory_limit = '{memory_limit}'")
        # Single facts and the local compacted.jsonl; a bucket's compacted.jsonl.gz copied here reads too.
        patterns = [str(self.root / "tenant=*" / "day=*" / name).replace("'", "''")
                    for name in ("*.jsonl", COMPACTED_GZIP)]
        present = [p for p, name in zip(patterns, ("*.jsonl", COMPACTED_GZIP))
                   if any(self.root.glob(f"tenant=*/day=*/{name}"))]
        if not present:  # an empty ledger is a report of nothing
            empty = ", ".join(f"CAST(NULL AS {ROW_COLUMN_TYPES_DUCKDB[kind]}) AS {name}"
                              for name, kind in ROW_COLUMNS.items())
            self.connection.execute(f"CREATE VIEW ledger AS SELECT {empty}, CAST(NULL AS VARCHAR) AS tenant, "
                                    "CAST(NULL AS VARCHAR) AS day WHERE false")
            return
        files = "[" + ", ".join(f"'{p}'" for p in present) + "]"
        hive = "hive_partitioning = true, hive_types = {'tenant': 'VARCHAR', 'day': 'VARCHAR'}"
        # Types are detected from a sample of 8 files: a compacted day is thousands of rows of every
        # kind, and DuckDB's default of 32 large files makes opening a compacted ledger 6x slower. A
        # sample that misses a column falls back to the declared schema below.
        detected = f"read_json({files}, format = 'newline_delimited', maximum_sample_files = 8, {hive})"
        if _detected_types_are_safe(self.connection, detected):
            # DuckDB reads only the columns a query needs when it detected the types itself
            # (about 2.5x faster than with a declared schema); the casts give the view the
            # table's types whatever it detected.
            casts = ", ".join(f"CAST({name} AS {ROW_COLUMN_TYPES_DUCKDB[kind]}) AS {name}"
                              for name, kind in ROW_COLUMNS.items())
            self.connection.execute(f"CREATE VIEW ledger_objects AS SELECT {casts}, tenant, day FROM {detected}")
        else:
            columns = ", ".join(f"'{name}': '{ROW_COLUMN_TYPES_DUCKDB[kind]}'" for name, kind in ROW_COLUMNS.items())
            self.connection.execute(f"CREATE VIEW ledger_objects AS SELECT * FROM read_json({files}, "
                                    f"format = 'newline_delimited', columns = {{{columns}}}, {hive})")
        self.connection.execute(f"CREATE VIEW ledger AS {deduplicated_ledger_sql('ledger_objects')}")

    def run(self, sql: str, parameters: Sequence[str]) -> tuple[list[str], Rows]:
        cursor = self.connection.execute(sql, list(parameters))
        return [d[0] for d in cursor.description], cursor.fetchall()


_STRINGS = {"VARCHAR"}
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT"}
_NUMBERS = _INTEGERS | {"DOUBLE", "FLOAT"}


def _detected_types_are_safe(connection: Any, source: str) -> bool:
    """DuckDB detects types from a sample of the files. A column that was null in every sampled
    row is typed NULL, and its values in the other files would read as NULL without an error:
    then (or on any other surprise) the declared schema is used instead."""
    detected = {row[0]: str(row[1]).strip('"').upper()
                for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    for name, kind in ROW_COLUMNS.items():
        if kind == "string":
            allowed = _STRINGS | ({"TIMESTAMP"} if name in ("occurred_at", "recorded_at") else set())
        else:
            allowed = _NUMBERS if kind == "double" else _INTEGERS
        if detected.get(name) not in allowed:
            return False
    return True


def with_distinct_ledger(sql: str, table: str) -> str:
    """A report's SQL (over ``ledger``) reading ``table`` with each fact once: the version of a
    fact key recorded first (``ledger.deduplicated_ledger_sql``). Athena prunes the partitions
    through it (tenant and day partition its window), so the bytes scanned are the same."""
    source = f"ledger AS ({deduplicated_ledger_sql(table)})"
    body = sql.lstrip()
    if body[:5].upper() == "WITH ":
        return f"WITH {source},\n{body[5:]}"
    return f"WITH {source}\n{body}"


class AthenaEngine:
    """The Glue table over the ledger bucket, in the stack's workgroup (results encrypted there);
    each report reads it through ``with_distinct_ledger``."""

    def __init__(self, client: Any, *, database: str, workgroup: str, poll_seconds: float = 1.0,
                 timeout_seconds: float = 300) -> None:
        self.client = client
        self.database = database
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds

    def run(self, sql: str, parameters: Sequence[str]) -> tuple[list[str], Rows]:
        sql = with_distinct_ledger(sql, f'"{self.database}"."ledger"')
        request: dict[str, Any] = {"QueryString": sql, "QueryExecutionContext": {"Database": self.database},
                                   "WorkGroup": self.workgroup}
        if parameters:  # Athena binds execution parameters as SQL literals
            request["ExecutionParameters"] = ["'" + str(p).replace("'", "''") + "'" for p in parameters]
        started = self.client.start_query_execution(**request)
        query_id = started["QueryExecutionId"]
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            status = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            if status["State"] == "SUCCEEDED":
                break
            if status["State"] in ("FAILED", "CANCELLED"):
                raise BridgeError(f"Athena query {query_id} {status['State'].lower()}: "
                                  f"{status.get('StateChangeReason', 'no reason given')}")
            if time.monotonic() > deadline:
                raise BridgeError(f"Athena query {query_id} still running after {self.timeout_seconds:.0f} s")
            time.sleep(self.poll_seconds)
        names: list[str] = []
        types: list[str] = []
        rows: Rows = []
        first = True
        for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            result = page["ResultSet"]
            if not names:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                names = [c["Name"] for c in info]
                types = [c.get("Type", "varchar") for c in info]
            for row in result.get("Rows", []):
                values = [cell.get("VarCharValue") for cell in row.get("Data", [])]
                if first:
                    first = False
                    if values == names:
                        continue  # Athena repeats the header as the first row of a SELECT
                rows.append(tuple(_typed(v, t) for v, t in zip(values, types)))
        return names, rows


def _typed(value: str | None, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("integer", "bigint", "smallint", "tinyint"):
        return int(value)
    if kind in ("double", "float", "real", "decimal"):
        return float(value)
    return value
