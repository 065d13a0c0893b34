"""Reading the analytics lake: its tables as dbops.toml declares them, and one read-only query over them.

The query is `dbops etl query`'s: one SELECT over a pipeline's tables (checked by sqlglot in DuckDB's
dialect: nothing that writes, no file or table function, no other table), on Athena in the pipeline's
workgroup (stopped once it scans more than max_bytes) or here on DuckDB over the newest batches
(refused when it scanned more than max_bytes).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ops.errors import UsageError
from ops.etl.athena import QueryResult

NO_LAKE = "no analytics lake is configured: dbops.toml declares no [pipelines.NAME]"


def tables(cfg: Any) -> dict[str, Any]:
    """Every pipeline's destination and tables, as declared; {"lake": None, "note": ...} when there are none."""
    from ops.etl.config import pipeline

    if not cfg.pipelines:
        return {"lake": None, "note": NO_LAKE}
    out = []
    for name in sorted(cfg.pipelines):
        p = pipeline(cfg.pipelines, name, cfg.source)
        out.append({"pipeline": p.name, "bucket": p.destination.bucket, "prefix": p.destination.prefix,
                    "database": p.destination.database, "workgroup": p.destination.workgroup,
                    "tables": [{"name": t.name, "source": t.source, "columns": dict(t.columns),
                                "partition_by": t.partition_column, "key": list(t.key)} for t in p.tables]})
    return {"lake": out}


def run_lake_query(cfg: Any, env: Any, pipeline_name: str, sql: str, engine: str, max_bytes: int, timeout_s: int,
                   progress: Any = None, bounds: Any = None) -> QueryResult:
    """One read-only SELECT over the pipeline's published tables, bounded in bytes scanned. With bounds
    (ops.etl.lakequery.Bounds, for a caller that is not trusted): on DuckDB in a process of its own with its
    memory, threads and time bounded; on either engine the answer bounded in rows and bytes."""
    from ops.aws import Aws
    from ops.etl.config import pipeline

    if not cfg.pipelines:
        raise UsageError(NO_LAKE)
    if engine not in ("athena", "duckdb"):
        raise UsageError(f"engine must be athena or duckdb, not '{engine}'")
    p = pipeline(cfg.pipelines, pipeline_name, cfg.source)
    used = read_only(sql, {t.name for t in p.tables})
    aws = Aws.for_env(cfg, env)
    if engine == "athena":
        from ops.etl.athena import run_query, to_athena

        if not p.destination.workgroup:
            raise UsageError(f"pipeline {p.name} names no Athena workgroup (destination.workgroup)")
        extra: dict[str, Any] = {} if progress is None else {"progress": progress}
        if bounds is not None:
            extra["max_rows"] = bounds.row_limit + 1  # one more than answered: says whether the answer was cut
        answer = run_query(aws.client("athena"), to_athena(sql), p.destination.database, p.destination.workgroup,
                           None, timeout_s, max_bytes, **extra)
        return answer if bounds is None else _bounded(answer, bounds.row_limit)
    from ops.etl import lake
    from ops.etl.lakequery import query_isolated, query_local

    work = Path(tempfile.mkdtemp(prefix="dbops-etl-query-"))
    try:
        s3 = aws.client("s3")
        found = {}
        for spec in (t for t in p.tables if t.name in used):  # only the tables the query reads are downloaded
            manifest = lake.latest(s3, lake.Place(p.destination.bucket, p.destination.prefix, spec.name))
            if manifest is not None and manifest["files"]:
                found[spec.name] = lake.download(s3, p.destination.bucket, manifest, work)
        result = query_local(sql, found, timeout_s) if bounds is None else query_isolated(sql, found, bounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if result.scanned_bytes > max_bytes:
        raise UsageError(f"the query scanned {result.scanned_bytes} bytes, more than the {max_bytes} allowed")
    return result


def _bounded(answer: QueryResult, row_limit: int) -> QueryResult:
    """Athena's answer cut as a DuckDB answer is (run_query read at most one row more than the limit)."""
    from dataclasses import replace

    from ops.query.answer import take

    rows = iter(answer.rows)
    taken = take(lambda n: [r for _, r in zip(range(n), rows)], row_limit)
    return replace(answer, rows=taken.rows, truncated_by=taken.truncated_by, values_cut=taken.values_cut)


def read_only(sql: str, names: set[str]) -> set[str]:
    """One SELECT (or WITH ... SELECT, or a set operation of them) over the pipeline's tables: nothing that
    writes, no file or table function, no other table. Returns the pipeline's tables it reads."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise UsageError(f"the query does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], (exp.Select, exp.SetOperation)):
        kind = type(statements[0]).__name__ if len(statements) == 1 else f"{len(statements)} statements"
        raise UsageError(f"etl query runs one SELECT only, not {kind}")
    tree = statements[0]
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Copy, exp.Merge, exp.Alter)
    if any(tree.find_all(*writes)):
        raise UsageError("etl query reads only: the query writes")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    used: set[str] = set()
    for t in tree.find_all(exp.Table):
        if t.db or t.catalog:  # orders in another database (Athena: another catalog) is not the pipeline's
            raise UsageError(f"etl query reads the pipeline's tables only ({', '.join(sorted(names))}), named without a "
                             f"catalog or database, not {t.sql('duckdb')}")
        if not isinstance(t.this, exp.Identifier) or t.name not in names | ctes:
            raise UsageError(f"etl query reads the pipeline's tables only ({', '.join(sorted(names))}), not {t.sql('duckdb')}")
        if t.name in names:  # a CTE of a table's own name may read the table: downloaded all the same
            used.add(t.name)
    for f in tree.find_all(exp.Func):
        name = (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
        if name.startswith(("read_", "readcsv", "readparquet", "readjson", "glob", "sniff", "parquet_", "query")):
            raise UsageError(f"etl query reads the pipeline's tables only: no file or table functions ({name})")
        # rows or lists made from nothing: range(1000000000) costs minutes of CPU and no file is read
        if name in ("generate_series", "range"):
            raise UsageError(f"etl query reads the pipeline's tables only: no series of rows or values made from nothing ({name})")
    return used
