"""Athena in the lab's emulator runs its queries, on an in-process DuckDB over the lab's S3 and Glue.

moto's Athena answers every query with no rows. Here StartQueryExecution runs the query, the way the
lab's Aurora runs on real PostgreSQL: the query text (Athena SQL, the Trino dialect) is transpiled by
sqlglot to DuckDB's, its tables are Glue tables (ops.lab.aws.athena_scan decides which partitions and
Parquet objects it reads), the objects are read from moto's S3 in this process into Arrow and DuckDB
runs the query over them. No DuckDB extension is loaded and DuckDB may open no file: there is no network.

The API follows the Athena API reference:
- StartQueryExecution answers at once; the query is QUEUED, then RUNNING for at least the lab setting
  athena_min_runtime_ms (a query on Athena takes hundreds of milliseconds), then SUCCEEDED, FAILED
  (Status.StateChangeReason and AthenaError say why) or CANCELLED (StopQueryExecution).
- The output location is ResultConfiguration.OutputLocation, or the workgroup's (the workgroup's wins
  when it enforces its configuration); with neither, the request is refused as Athena refuses it.
  Results are written there as QUERY_ID.csv (header first, every value quoted, NULL empty).
- Statistics.DataScannedInBytes is the size of the objects the query reads; the workgroup's
  BytesScannedCutoffPerQuery fails a query that would read more ("Bytes scanned limit was exceeded").
- GetQueryResults pages by MaxResults (at most 1000) and NextToken; the first page's first row is the
  column names, as Athena answers a SELECT; ResultSetMetadata.ColumnInfo has Athena's type names.
Only SELECT (and WITH ... SELECT) queries run; any other statement fails, saying so.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ops.etl import duck
from ops.lab.aws.athena_scan import HIVE_NULL
from ops.lab.aws import settings

MIN_RUNTIME = "athena_min_runtime_ms"
MAX_PAGE = 1000
KEPT_RUNS = 500  # settled runs kept for GetQueryExecution and GetQueryResults; older ones are forgotten
CUTOFF_REASON = "Bytes scanned limit was exceeded"
# AthenaError.ErrorCategory: 1 system, 2 user (the query or its data), 3 other.
USER_ERROR, SYSTEM_ERROR = 2, 1

_lock = threading.Lock()
_runs: dict[str, Run] = {}


@dataclass
class Run:
    id: str
    query: str
    database: str
    workgroup: str
    output: str  # s3://bucket/prefix/ID.csv
    cutoff: int | None
    account: str
    region: str
    submitted: float = field(default_factory=time.time)
    state: str = "QUEUED"
    reason: str | None = None
    category: int | None = None
    completed: float | None = None
    scanned: int = 0
    engine_ms: int = 0
    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    connection: Any = None

    def finish(self, state: str, reason: str | None = None, category: int | None = None) -> bool:
        """Settle the run unless it has settled already (a stop may come first)."""
        with _lock:
            if self.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return False
            self.state, self.reason, self.category, self.completed = state, reason, category, time.time()
            return True


def register_settings() -> None:
    settings.register(MIN_RUNTIME, 200, "milliseconds a lab Athena query stays RUNNING at least (Athena takes "
                      "hundreds), so a client must poll for its end", minimum=0, maximum=600_000, integer=True)


# --- running a query ---------------------------------------------------------------------------

def _statement(query: str) -> Any:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    from ops.lab.aws.athena_scan import QueryFailed

    try:
        statements = [s for s in sqlglot.parse(query, read="athena") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise QueryFailed(f"line {first.get('line', 1)}:{first.get('col', 1)}: "
                          f"{first.get('description') or str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryFailed("Only one sql statement is allowed. Got: %d" % len(statements))
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise QueryFailed(f"NOT_SUPPORTED: the lab's Athena runs SELECT queries only, not {tree.key.upper()}")
    return tree


def _engine() -> Any:
    con = duck.connect()
    con.execute("SET threads=1")  # the lab shares a small machine
    return con


def _load(con: Any, scans: dict[tuple[str, str], Any], run: Run) -> None:
    """A view per Glue table: its declared columns (missing ones NULL), cast to their Glue types, and its
    partition columns, over the objects the query reads. Counts the bytes read against the cutoff."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ops.lab.aws.athena_scan import QueryFailed, duck_type, object_bytes

    n = 0
    for (db, name), scan in scans.items():
        table = scan.table
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{db}"')
        selects = []
        for bucket, key, size, values in scan.objects:
            if run.stop.is_set():
                return
            run.scanned += size
            if run.cutoff is not None and run.scanned > run.cutoff:
                raise QueryFailed(CUTOFF_REASON)
            try:
                data = pq.read_table(pa.BufferReader(object_bytes(run.account, bucket, key)))
            except (pa.ArrowInvalid, OSError) as exc:
                raise QueryFailed(f"HIVE_CANNOT_OPEN_SPLIT: Error opening Hive split s3://{bucket}/{key}: {exc}") from None
            present = {c.lower(): c for c in data.column_names}
            con.register(f"__object{n}", data)
            parts = [f'CAST("{present[c]}" AS {duck_type(t)}) AS "{c}"' if c in present
                     else f'CAST(NULL AS {duck_type(t)}) AS "{c}"' for c, t in table.columns]
            # Hive's name for a NULL partition value, which Athena reads as NULL.
            parts += [f"CAST({'NULL' if values[k] == HIVE_NULL else _literal(values[k])} AS {duck_type(t)}) AS \"{k}\""
                      for k, t in table.partition_keys]
            selects.append(f"SELECT {', '.join(parts)} FROM __object{n}")
            n += 1
        if not selects:
            empty = [f'CAST(NULL AS {duck_type(t)}) AS "{c}"' for c, t in table.columns + table.partition_keys]
            selects.append(f"SELECT {', '.join(empty)} WHERE false")
        con.execute(f'CREATE VIEW "{db}"."{name}" AS ' + " UNION ALL ".join(selects))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _qualified(tree: Any, database: str) -> str:
    """The query in DuckDB's dialect, each Glue table named database.table (no catalog)."""
    from sqlglot import exp

    from ops.lab.aws.athena_scan import real_tables

    tree = tree.copy()
    for node in real_tables(tree):
        node.set("catalog", None)
        node.set("db", exp.to_identifier((node.db or database or "default").lower(), quoted=True))
        node.set("this", exp.to_identifier(node.name.lower(), quoted=True))
    return tree.sql("duckdb")


def _execute(run: Run) -> None:
    import duckdb

    from ops.lab.aws.athena_scan import QueryFailed, plan

    started = time.monotonic()
    with _lock:
        if run.state == "QUEUED":
            run.state = "RUNNING"
    con = None
    try:
        tree = _statement(run.query)
        scans = plan(run.query, tree, run.database, run.account, run.region)
        con = run.connection = _engine()
        _load(con, scans, run)
        con.execute("SET enable_external_access=false")  # the query reads the views above and nothing else
        if run.stop.is_set():
            return
        cursor = con.execute(_qualified(tree, run.database))
        run.columns = [_column_info(name, kind) for name, kind, *_ in cursor.description]
        run.rows = [[_text(v) for v in row] for row in cursor.fetchall()]
        run.engine_ms = int((time.monotonic() - started) * 1000)
        left = settings.get(MIN_RUNTIME) / 1000 - (time.monotonic() - started)
        if left > 0 and run.stop.wait(left):
            return
        _write_results(run)
        run.finish("SUCCEEDED")
    except QueryFailed as exc:
        run.finish("FAILED", str(exc), USER_ERROR)
    except duckdb.Error as exc:
        if not run.stop.is_set():
            run.finish("FAILED", f"{type(exc).__name__}: {_first_lines(str(exc))}", USER_ERROR)
    except Exception as exc:  # an emulator fault: the query fails saying so, as a service's internal error would
        run.finish("FAILED", f"GENERIC_INTERNAL_ERROR: {type(exc).__name__}: {exc}", SYSTEM_ERROR)
    finally:
        run.engine_ms = run.engine_ms or int((time.monotonic() - started) * 1000)
        if con is not None:
            con.close()


def _first_lines(message: str) -> str:
    return " ".join(line.strip() for line in message.strip().splitlines()[:2] if line.strip())


# --- results -----------------------------------------------------------------------------------

_ATHENA_TYPES = {"BIGINT": "bigint", "HUGEINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint",
                 "TINYINT": "tinyint", "DOUBLE": "double", "FLOAT": "float", "BOOLEAN": "boolean",
                 "DATE": "date", "VARCHAR": "varchar", "UBIGINT": "bigint", "UINTEGER": "bigint"}


def _column_info(name: str, kind: Any) -> dict[str, Any]:
    text = str(kind).upper()
    precision, scale = 0, 0
    if text.startswith("DECIMAL"):
        athena = "decimal"
        precision, scale = (int(x) for x in text[text.index("(") + 1:-1].split(","))
    elif text.startswith("TIMESTAMP"):
        athena, precision = "timestamp", 3
    else:
        athena = _ATHENA_TYPES.get(text, "varchar")
        precision = 2147483647 if athena == "varchar" else 0
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name,
            "Type": athena, "Precision": precision, "Scale": scale, "Nullable": "UNKNOWN",
            "CaseSensitive": athena == "varchar"}


def _text(value: Any) -> str | None:
    """A value as Athena's VarCharValue writes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, (date, Decimal, int)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _write_results(run: Run) -> None:
    from moto.s3.exceptions import MissingBucket

    from ops.lab.aws.athena_scan import QueryFailed, s3_backend

    buffer = io.StringIO()
    buffer.write(",".join(f'"{c["Name"]}"' for c in run.columns) + "\n")
    for row in run.rows:
        # NULL is an empty field and "" a quoted empty string, as Athena writes them.
        buffer.write(",".join("" if v is None else _quoted(v) for v in row) + "\n")
    bucket, _, key = run.output[len("s3://"):].partition("/")
    try:
        s3_backend(run.account).put_object(bucket, key, buffer.getvalue().encode())
    except MissingBucket:
        raise QueryFailed(f"Unable to verify/create output bucket {bucket}") from None


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _page(run: Run, token: str | None, max_results: int) -> dict[str, Any]:
    start = int(base64.b64decode(token).decode().rsplit(":", 1)[1]) if token else 0
    header = [{"Data": [{"VarCharValue": c["Name"]} for c in run.columns]}]
    every = header + [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in run.rows]
    rows = every[start:start + max_results]
    answer: dict[str, Any] = {"UpdateCount": 0, "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": run.columns}}}
    if start + max_results < len(every):
        answer["NextToken"] = base64.b64encode(f"{run.id}:{start + max_results}".encode()).decode()
    return answer


def _execution(run: Run) -> dict[str, Any]:
    status: dict[str, Any] = {"State": run.state, "SubmissionDateTime": run.submitted}
    if run.completed is not None:
        status["CompletionDateTime"] = run.completed
    if run.reason:
        status["StateChangeReason"] = run.reason
    if run.state == "FAILED":
        status["AthenaError"] = {"ErrorCategory": run.category or USER_ERROR, "ErrorType": 1000,
                                 "Retryable": False, "ErrorMessage": run.reason}
    total = int(((run.completed or time.time()) - run.submitted) * 1000)
    return {"QueryExecution": {
        "QueryExecutionId": run.id, "Query": run.query, "StatementType": "DML",
        "ResultConfiguration": {"OutputLocation": run.output},
        "QueryExecutionContext": {"Database": run.database, "Catalog": "AwsDataCatalog"},
        "Status": status,
        "Statistics": {"EngineExecutionTimeInMillis": run.engine_ms, "DataScannedInBytes": run.scanned,
                       "TotalExecutionTimeInMillis": total, "QueryQueueTimeInMillis": 0,
                       "ServicePreProcessingTimeInMillis": 0, "QueryPlanningTimeInMillis": 0,
                       "ServiceProcessingTimeInMillis": 0},
        "WorkGroup": run.workgroup,
        "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}}}


def _keep(run: Run) -> None:
    with _lock:
        _runs[run.id] = run
        settled = [r.id for r in _runs.values() if r.completed is not None]
        for old in settled[:max(0, len(settled) - KEPT_RUNS)]:
            del _runs[old]


# --- the API -----------------------------------------------------------------------------------

def _invalid(message: str) -> tuple[str, dict[str, int]]:
    return json.dumps({"__type": "InvalidRequestException", "Message": message, "AthenaErrorCode": "INVALID_INPUT"}), {"status": 400}


def _output_location(config: dict[str, Any], workgroup: dict[str, Any]) -> str | None:
    wg = workgroup.get("Configuration") or {}
    wg_output = (wg.get("ResultConfiguration") or {}).get("OutputLocation")
    if wg_output and wg.get("EnforceWorkGroupConfiguration", True):
        return wg_output
    return (config or {}).get("OutputLocation") or wg_output


def _install_api() -> None:
    from moto.athena.responses import AthenaResponse

    original_get = AthenaResponse.get_query_execution
    original_results = AthenaResponse.get_query_results
    original_stop = AthenaResponse.stop_query_execution

    def start_query_execution(self: AthenaResponse) -> Any:
        name = self._get_param("WorkGroup") or "primary"
        workgroup = self.athena_backend.get_work_group(name)
        if workgroup is None:
            return _invalid("WorkGroup does not exist")
        output = _output_location(self._get_param("ResultConfiguration") or {}, workgroup)
        if not output or not output.startswith("s3://"):
            return _invalid("No output location provided. An output location is required either through the "
                            "Workgroup result configuration setting or as an API input.")
        context = self._get_param("QueryExecutionContext") or {}
        query = self._get_param("QueryString")
        run_id = self.athena_backend.start_query_execution(query=query, context=context, config={}, workgroup=name,
                                                           execution_parameters=self._get_param("ExecutionParameters"))
        cutoff = (workgroup.get("Configuration") or {}).get("BytesScannedCutoffPerQuery")
        run = Run(run_id, query, context.get("Database") or "default", name,
                  output.rstrip("/") + f"/{run_id}.csv", int(cutoff) if cutoff else None, self.current_account, self.region)
        _keep(run)
        threading.Thread(target=_execute, args=(run,), name=f"athena-{run_id}", daemon=True).start()
        return json.dumps({"QueryExecutionId": run_id})

    def unknown(self: AthenaResponse) -> Any:
        """An id neither run here nor known to moto: refused as Athena refuses it (moto would crash on it)."""
        query_id = self._get_param("QueryExecutionId")
        if query_id in self.athena_backend.executions:
            return None
        return _invalid(f"QueryExecution {query_id} was not found")

    def get_query_execution(self: AthenaResponse) -> Any:
        run = _runs.get(self._get_param("QueryExecutionId"))
        if run is None:
            return unknown(self) or original_get(self)
        return json.dumps(_execution(run), default=str)

    def get_query_results(self: AthenaResponse) -> Any:
        run = _runs.get(self._get_param("QueryExecutionId"))
        if run is None:
            return unknown(self) or original_results(self)
        max_results = self._get_param("MaxResults") or MAX_PAGE
        if not 1 <= int(max_results) <= MAX_PAGE:
            return _invalid(f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
                            f"constraint: Member must have value less than or equal to {MAX_PAGE}")
        if run.state in ("QUEUED", "RUNNING"):
            return _invalid(f"Query has not yet finished. Current state: {run.state}")
        if run.state != "SUCCEEDED":
            return _invalid(f"Query did not finish successfully. Final query state: {run.state}")
        token = self._get_param("NextToken")
        try:
            return json.dumps(_page(run, token, int(max_results)))
        except (ValueError, IndexError):
            return _invalid(f"Invalid NextToken: {token}")

    def stop_query_execution(self: AthenaResponse) -> Any:
        run = _runs.get(self._get_param("QueryExecutionId"))
        if run is None:
            return unknown(self) or original_stop(self)
        if run.finish("CANCELLED", "Query cancelled by user"):
            run.stop.set()
            if run.connection is not None:
                try:
                    run.connection.interrupt()
                except Exception:  # the connection closed between the check and the call: nothing runs
                    pass
        return json.dumps({})

    AthenaResponse.start_query_execution = start_query_execution
    AthenaResponse.get_query_execution = get_query_execution
    AthenaResponse.get_query_results = get_query_results
    AthenaResponse.stop_query_execution = stop_query_execution


def install() -> None:
    register_settings()
    _install_api()  # its routes are ops.lab.aws.athena_api's
