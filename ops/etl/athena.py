"""Running a query on Athena, and one SQL definition for both engines.

`run_query` is the StartQueryExecution / GetQueryExecution / GetQueryResults round trip: it polls
with a bounded backoff until the query settles, says on stderr what it waits for once that takes
longer than a moment, pages the results and types each value by the column's Athena type. A query
that fails or is cancelled is one error naming Athena's reason; one still running at the timeout is
stopped (StopQueryExecution), and so is one that scans more than the caller allows, each saying so.

`to_athena` turns a query written for DuckDB into Athena's dialect (Trino), so the lake's queries are
written once and run on DuckDB locally (ops.etl.lakequery) and on Athena.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from ops.errors import DbopsError, UsageError
from ops.permissions import declare, need

QUERIES = declare(
    "etl.athena",
    *(need(f"athena:{call}", "athena-workgroup") for call in
      ("StartQueryExecution", "GetQueryExecution", "GetQueryResults", "StopQueryExecution")),
    # Athena reads the catalog and the lake, and writes the results, as the caller.
    need("athena:StartQueryExecution", "glue-table", "glue:GetTable"),
    need("athena:StartQueryExecution", "glue-table", "glue:GetPartitions"),
    need("athena:StartQueryExecution", "lake-object", "s3:GetObject"),
    need("athena:StartQueryExecution", "lake-object", "s3:PutObject"),
)

FIRST_POLL_S = 0.1
MAX_POLL_S = 2.0  # the longest pause between two polls: a settled query is seen within this
QUIET_S = 2.0  # a wait longer than this says what it waits for
PROGRESS_EVERY_S = 5.0
PAGE = 1000  # GetQueryResults' largest page
SETTLED = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class QueryResult:
    """A query's answer on either engine: column names, typed rows, bytes of data read, its run time."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    scanned_bytes: int
    elapsed_ms: int
    truncated_by: str | None = None  # "row_limit" | "byte_limit" when the answer was bounded (ops.query.answer)
    values_cut: int = 0  # values cut to the answer's bound on one value


class QueryFailed(DbopsError):
    """The engine ran the query and it failed (or was cancelled, or was stopped): the message says why."""


def to_athena(duckdb_sql: str) -> str:
    """The same query in Athena's dialect (Trino)."""
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        statements = sqlglot.transpile(duckdb_sql, read="duckdb", write="athena")
    except ParseError as exc:
        raise UsageError(f"the query does not parse as DuckDB SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise UsageError(f"one query is expected, not {len(statements)} statements")
    return statements[0]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_query(athena: Any, sql: str, database: str, workgroup: str, output: str | None, timeout_s: float,
              max_bytes: int | None, *, progress: Callable[[str], None] = _stderr,
              sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
              max_rows: int | None = None) -> QueryResult:
    """Run one query on Athena and return its rows. output None: the workgroup's result location. max_rows: read
    at most this many rows of the result (its pages are fetched no further)."""
    if timeout_s <= 0:
        raise UsageError(f"the query timeout is a positive number of seconds, not {timeout_s}")
    request: dict[str, Any] = {"QueryString": sql, "QueryExecutionContext": {"Database": database}, "WorkGroup": workgroup}
    if output:
        request["ResultConfiguration"] = {"OutputLocation": output}
    query_id = athena.start_query_execution(**request)["QueryExecutionId"]
    execution = _wait(athena, query_id, timeout_s, max_bytes, progress, sleep, clock)
    status, stats = execution["Status"], execution.get("Statistics") or {}
    if status["State"] != "SUCCEEDED":
        reason = status.get("StateChangeReason") or (status.get("AthenaError") or {}).get("ErrorMessage") or "no reason given"
        raise QueryFailed(f"Athena query {query_id} {status['State']}: {reason}")
    scanned = int(stats.get("DataScannedInBytes", 0))
    if max_bytes is not None and scanned > max_bytes:
        raise QueryFailed(f"Athena query {query_id} scanned {scanned} bytes, more than the {max_bytes} allowed")
    columns, rows = _results(athena, query_id, max_rows)
    return QueryResult(columns, rows, scanned, int(stats.get("TotalExecutionTimeInMillis", 0)))


def _wait(athena: Any, query_id: str, timeout_s: float, max_bytes: int | None, progress: Callable[[str], None],
          sleep: Callable[[float], None], clock: Callable[[], float]) -> dict[str, Any]:
    started = clock()
    deadline = started + timeout_s
    pause, told = FIRST_POLL_S, started + QUIET_S - PROGRESS_EVERY_S
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if state in SETTLED:
            return execution
        scanned = int((execution.get("Statistics") or {}).get("DataScannedInBytes", 0))
        now = clock()
        if max_bytes is not None and scanned > max_bytes:
            _stop(athena, query_id)
            raise QueryFailed(f"Athena query {query_id} scanned {scanned} bytes, more than the {max_bytes} allowed; stopped it")
        if now >= deadline:
            _stop(athena, query_id)
            raise QueryFailed(f"Athena query {query_id} was still {state} after {timeout_s:g} s; stopped it")
        if now - told >= PROGRESS_EVERY_S:
            told = now
            progress(f"Athena query {query_id}: {state} for {now - started:.0f} s, {scanned} bytes scanned "
                     f"(stopped at {timeout_s:g} s)")
        # Wake for the deadline and for the next line of progress, whichever comes first.
        sleep(max(min(pause, deadline - now, told + PROGRESS_EVERY_S - now), 0.01))
        pause = min(pause * 2, MAX_POLL_S)


def _stop(athena: Any, query_id: str) -> None:
    athena.stop_query_execution(QueryExecutionId=query_id)


def _results(athena: Any, query_id: str, max_rows: int | None = None) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
    columns: list[dict[str, Any]] = []
    rows: list[tuple[Any, ...]] = []
    request: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": PAGE}
    first = True
    while True:
        page = athena.get_query_results(**request)
        result = page["ResultSet"]
        if first:
            columns = result["ResultSetMetadata"]["ColumnInfo"]
        data = result.get("Rows") or []
        if first and data:
            data = data[1:]  # a SELECT's first row is its column names
        first = False
        rows += [tuple(_value(cell.get("VarCharValue"), column["Type"]) for cell, column in zip(row["Data"], columns))
                 for row in data]
        if not page.get("NextToken") or (max_rows is not None and len(rows) >= max_rows):
            return tuple(c["Name"] for c in columns), tuple(rows[:max_rows])
        request["NextToken"] = page["NextToken"]


def _value(text: str | None, athena_type: str) -> Any:
    """A result value as Python holds it, by its column's Athena type (text for a type not listed)."""
    if text is None:
        return None
    kind = athena_type.lower()
    if kind in ("bigint", "integer", "int", "smallint", "tinyint"):
        return int(text)
    if kind in ("double", "float", "real"):
        return float(text)
    if kind.startswith("decimal"):
        return Decimal(text)
    if kind == "boolean":
        return text == "true"
    if kind == "date":
        return date.fromisoformat(text)
    if kind.startswith("timestamp"):
        return datetime.fromisoformat(text)
    return text
