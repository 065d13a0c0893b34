"""Querying the lake's Parquet locally, on DuckDB, with the answer Athena gives (ops.etl.athena.QueryResult).

Each table is a directory in Hive layout (`col=value/` folders, any depth) or a list of Parquet files;
`col=value` folders of a file's path become columns (their values unescaped, Hive's NULL folder NULL),
typed as DuckDB would guess them from every file's value. A table is one scan over its files, which
drops the files its WHERE rules out by their folders' values before it opens them.
`scanned_bytes` is measured, not predicted: DuckDB's profile names every file a scan read, and the
result counts the sizes of those files (Athena's DataScannedInBytes counts the objects it reads). A file
DuckDB ruled out before scanning it counts nothing: no data of it was read.
No DuckDB extension is loaded.

A query from a caller that is not trusted (the MCP server) runs with Bounds, in a process of its own
(query_isolated): DuckDB's interrupt() is only looked at between vectors, and its memory_limit only covers
its buffers, so a scalar function that builds a huge list (`range(1000000000)`, `repeat([1], 300000000)`)
is neither interrupted nor bounded: measured, 47 to 66 s past a 2 s interrupt. The child's address space is
capped (RLIMIT_AS: DuckDB fails such an allocation at once with an out-of-memory error) and the child is
killed at its deadline, whatever it is doing; its answer is bounded as a SQL answer is (ops.query.answer).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import unquote

from ops.errors import UsageError, first_line
from ops.etl import duck
from ops.etl.athena import QueryFailed, QueryResult
from ops.query.answer import take

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = re.compile(r"-?\d{1,18}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(source, (str, Path)):
        root = Path(source)
        if not root.is_dir():
            raise UsageError(f"{root} is not a directory of Parquet files")
        return sorted(p for p in root.rglob("*.parquet") if not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts))
    files = [Path(p) for p in source]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise UsageError(f"not a file: {missing[0]}")
    return files


def _partition_values(path: Path) -> dict[str, str]:
    """A file's Hive folders, their values unescaped (pyarrow writes a value's '/', ' ', '%' URI-escaped)."""
    return {k: unquote(v) for k, v in (part.split("=", 1) for part in path.parent.parts if "=" in part)}


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # the folder of a NULL value, read as NULL whatever the column's type


def _duck_type(values: list[str]) -> str:
    """DuckDB's own choice for a Hive partition column (hive_types_autocast): whole numbers, dates, else text."""
    values = [v for v in values if v != HIVE_NULL]
    if values and all(_INTEGER.fullmatch(v) for v in values):
        return "BIGINT"
    if values and all(_DATE.fullmatch(v) for v in values):
        return "DATE"
    return "VARCHAR"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view(name: str, files: list[Path]) -> str:
    partitions = [_partition_values(f) for f in files]
    keys = sorted({k for p in partitions for k in p})
    missing = [str(f) for f, p in zip(files, partitions) if set(p) != set(keys)]
    if missing:
        raise UsageError(f"table {name}: {missing[0]} is not under every partition folder ({', '.join(keys)})")
    listed = ", ".join(_literal(str(f)) for f in files)
    if not keys:
        return f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}])'
    # One scan over every file: DuckDB prunes files by their folders' values before it opens them (a scan per
    # file, the alternative, costs a footer read and a plan node per file, more than the query on a small lake).
    # The columns are the first file's: a batch's files share one schema (a file that differs fails the query).
    types = ", ".join(f"{_literal(k)}: {_duck_type([p[k] for p in partitions])}" for k in keys)
    return (f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}], hive_partitioning=true, '
            f"hive_types={{{types}}}, hive_types_autocast=false)")


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    info = node.get("extra_info") or {}
    if "Total Files Read" in info or "PARQUET" in f"{node.get('operator_type', '')} {info.get('Function', '')}".upper():
        yield node
    for child in node.get("children") or []:
        yield from _scans(child)


def files_read(profile: dict[str, Any], con: Any, tables: dict[str, list[Path]]) -> list[str]:
    """The files each of a query's Parquet scans read, from DuckDB's profile: a file two scans read (a self-join)
    is listed twice, as Athena counts each scan's bytes. A scan names at most five files and then '...': past
    five, the files are those whose folders pass the scan's File Filters (DuckDB's own expression, run here over
    the files' partition values), checked against the number of files it says it read. A scan that cannot be
    told (no count, no names, a filter that does not evaluate) counts every file it could have read: never
    fewer bytes than were read."""
    everything = [str(f) for fs in tables.values() for f in fs]
    read: list[str] = []
    for root in profile.get("operator") or [profile]:
        for scan in _scans(root):
            info = scan.get("extra_info") or {}
            names = [name.strip() for name in str(info.get("Filename(s)") or "").split(",") if name.strip()]
            if "Total Files Read" not in info:
                read += everything
                continue
            count = int(info.get("Total Files Read") or 0)
            if count == 0:
                continue
            if not names:
                read += everything
            elif names[-1] != "...":
                read += names
            else:
                files = next((fs for fs in tables.values() if names[0] in {str(f) for f in fs}), None)
                passing = _passing(con, files, info.get("File Filters")) if files is not None else None
                read += sorted(passing) if passing is not None and len(passing) == count else \
                    ([str(f) for f in files] if files is not None else everything)
    return read


def _passing(con: Any, files: list[Path], file_filters: str | None) -> set[str] | None:
    """The files whose partition values pass DuckDB's File Filters; None when DuckDB cannot evaluate them."""
    import duckdb

    if not file_filters:
        return {str(f) for f in files}
    partitions = [_partition_values(f) for f in files]
    keys = sorted(partitions[0])
    types = {k: _duck_type([p[k] for p in partitions]) for k in keys}
    rows = ", ".join("(" + ", ".join([_literal(str(f))] + [
        f"CAST({'NULL' if p[k] == HIVE_NULL else _literal(p[k])} AS {types[k]})" for k in keys]) + ")"
        for f, p in zip(files, partitions))
    names = ", ".join(["__file"] + [f'"{k}"' for k in keys])
    try:
        return {r[0] for r in con.execute(f"SELECT __file FROM (VALUES {rows}) AS t({names}) WHERE {file_filters}").fetchall()}
    except duckdb.Error:
        return None


MEMORY_LIMIT = "2GB"  # a query that needs more fails (DuckDB spills what it can), never the machine


@dataclass(frozen=True)
class Bounds:
    """What one lake query of a caller that is not trusted may take (the MCP server's lake_query)."""

    timeout_s: float  # wall time: the query is interrupted, and its process killed a little after
    row_limit: int
    memory_limit: str = "512MB"  # DuckDB's buffers (it spills past them)
    threads: int = 1
    address_space_bytes: int = 2 * 1024**3  # the process's, which DuckDB's memory_limit does not cover
    grace_s: float = 5.0  # past the deadline, the time the process has to answer its own interrupt before it is killed


def query_local(sql: str, tables: dict[str, str | Path | Iterable[str | Path]], timeout_s: float | None = None,
                bounds: Bounds | None = None) -> QueryResult:
    """Run one DuckDB query over the tables (name -> Hive directory or Parquet files), in bounded memory, stopped
    after timeout_s (bounds: the limits of the memory, threads and time, and the answer cut as ops.query.answer
    cuts an answer)."""
    import duckdb

    if bounds is not None:
        timeout_s = bounds.timeout_s
    with tempfile.TemporaryDirectory(prefix="dbops-lakequery-") as scratch:
        con = duck.connect()
        try:
            con.execute(f"SET memory_limit='{bounds.memory_limit if bounds else MEMORY_LIMIT}'")
            con.execute(f"SET temp_directory={_literal(scratch)}")
            con.execute(f"SET threads={int(bounds.threads) if bounds else 2}")
            sizes: dict[str, int] = {}
            listed: dict[str, list[Path]] = {}
            began = time.monotonic()  # the engine's work: the views (the files' footers), the plan, the rows
            for name, source in tables.items():
                if not _NAME.fullmatch(name):
                    raise UsageError(f"a table name is a SQL identifier, not {name!r}")
                files = _files(source)
                if not files:
                    raise UsageError(f"table {name}: no Parquet files in {source}")
                sizes.update((str(f), f.stat().st_size) for f in files)
                listed[name] = files
                con.execute(_view(name, files))
            profile = Path(scratch) / "profile.json"
            con.execute("PRAGMA enable_profiling='json'")  # standard mode names the files each scan read
            con.execute(f"SET profiling_output={_literal(str(profile))}")
            started = time.monotonic()
            timer = threading.Timer(timeout_s, con.interrupt) if timeout_s else None
            if timer is not None:
                timer.start()
            taken = None
            try:
                cursor = con.execute(sql)
                if bounds is not None:
                    taken = take(cursor.fetchmany, bounds.row_limit)
                    rows = taken.rows
                else:
                    rows = tuple(tuple(r) for r in cursor.fetchall())
            except duckdb.Error as exc:
                first = str(exc).strip().splitlines()[0]
                if timer is not None and time.monotonic() - started >= timeout_s:
                    raise QueryFailed(f"DuckDB query stopped after its timeout of {timeout_s:g} s") from None
                raise QueryFailed(f"DuckDB query failed: {type(exc).__name__}: {first}") from None
            finally:
                if timer is not None:
                    timer.cancel()
            elapsed_ms = int((time.monotonic() - began) * 1000)
            columns = tuple(d[0] for d in cursor.description)
            con.execute("PRAGMA disable_profiling")
            # A query DuckDB answers without a scan to profile (a constant) may leave no profile: then every
            # file counts, never fewer bytes than were read.
            read = files_read(json.loads(profile.read_text()), con, listed) if profile.exists() else list(sizes)
        finally:
            con.close()
    unknown = set(read) - set(sizes)
    if unknown:
        raise QueryFailed(f"DuckDB read a file not among the tables': {sorted(unknown)[0]}")
    return QueryResult(columns, rows, sum(sizes[f] for f in read), elapsed_ms,
                       taken.truncated_by if taken else None, taken.values_cut if taken else 0)


def query_isolated(sql: str, tables: dict[str, str | Path | Iterable[str | Path]], bounds: Bounds) -> QueryResult:
    """query_local with bounds, in a process of its own: its address space capped, killed at its deadline."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # not fork: the caller may be a server with threads
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_isolated, args=(send, sql, {k: str(v) if isinstance(v, (str, Path)) else [str(f) for f in v] for k, v in tables.items()}, bounds),
                        name="dbops-lake-query", daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(bounds.timeout_s + bounds.grace_s):
            raise QueryFailed(f"DuckDB query stopped after its timeout of {bounds.timeout_s:g} s (its process was ended)")
        try:
            outcome, value = receive.recv()
        except EOFError:
            child.join(1)
            raise QueryFailed(f"DuckDB query's process ended without an answer (exit code {child.exitcode})") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    if outcome == "result":
        return value
    kind, message = value
    raise (UsageError if kind == "usage" else QueryFailed)(message)


def _isolated(send: Any, sql: str, tables: dict[str, str | list[str]], bounds: Bounds) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (bounds.address_space_bytes, bounds.address_space_bytes))
    try:
        send.send(("result", query_local(sql, tables, bounds=bounds)))
    except UsageError as exc:
        send.send(("error", ("usage", str(exc))))
    except Exception as exc:  # anything else the query raised is its failure, said in one line
        first = first_line(exc)
        send.send(("error", ("failed", first if isinstance(exc, QueryFailed) else f"DuckDB query failed: {first}")))
    finally:
        send.close()
