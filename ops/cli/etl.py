"""dbops etl run|status|check: the analytics export's pipelines, declared in dbops.toml's [pipelines.NAME]."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from ops.cli.context import app, emit, finish, require_write
from ops.cli.options import env_option, json_option, report_dir_option, report_options

KIND = "etl"


@click.group()
def etl() -> None:
    """Export the estate's tables into the analytics lake at a point in time, behind data-quality gates."""


def _pipeline(name: str) -> Any:
    from ops.etl.config import pipeline

    cfg = app().config
    return pipeline(cfg.pipelines, name, cfg.source)


@etl.command()
@click.argument("pipeline_name", metavar="PIPELINE")
@click.option("--at", "at", metavar="TIME", help="Export as of this time (ISO 8601, UTC if no zone): DynamoDB by an export at "
              "it, PostgreSQL from a clone made at it. Default: DynamoDB's latest exportable time; PostgreSQL's reader "
              "(or a clone of its latest restorable time, for tables declared extract = \"clone\").")
@report_options
def run(pipeline_name: str, at: str | None, confirm: tuple[str, ...], env_name: str | None, as_json: bool, report_dir: Path | None,
        junit: Path | None, publish_metrics: bool) -> int:
    """Run PIPELINE once: extract every table (never from a writer), check its contract, data quality and
    reconciliation with the source, then publish the batch to the lake (S3 Parquet, Glue), or quarantine it
    and fail (exit 1). A rerun of a point in time already published publishes nothing."""
    from ops.aws import Aws
    from ops.cli.drill import parse_time
    from ops.drills.common import guarded, interruptible
    from ops.etl.clone import clone_at
    from ops.etl.leftovers import RUN_LEASE_HOURS, lease_target
    from ops.lease import ledger_for, new_drill_id
    from ops.etl.run import run_pipeline
    from ops.query.endpoints import endpoint_of
    from ops.report import Journal
    from ops.targets.registry import open_cluster

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    pipeline = _pipeline(pipeline_name)
    when = parse_time(at) if at else None
    require_write(env, confirm, f"etl:{pipeline.name}")
    aws = Aws.for_env(cfg, env)

    @contextmanager
    def open_source(source: str, when: datetime | None, clone: bool, progress: Callable[[str], None]) -> Iterator[tuple]:
        if not clone:
            endpoint = endpoint_of(open_cluster(cfg, env, source), "reader")
            yield endpoint.dsn, endpoint.label, None
            return
        with clone_at(cfg, env, source, when, progress) as made:
            yield made.dsn, made.label, made.t

    journal = Journal(KIND, f"pipeline:{pipeline.name}", env.name)
    with interruptible():
        # One run of a pipeline at a time, on any host: two would interleave their Glue switches.
        # Longer than any run; a run killed with -9 leaves it to expire (or to `dbops janitor`). A lost lease stops the
        # run before its next manifest or Glue switch, and its report is an error (LEASE), as a drill's is.
        with ledger_for(cfg, env).acquire(lease_target(pipeline.name), new_drill_id("etl"), hours=RUN_LEASE_HOURS) as lease:
            report = guarded(journal, lambda: run_pipeline(pipeline, aws, open_source, when, journal, lease), app().debug)
            report = lease.judge(report)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


@etl.command()
@click.argument("pipeline_name", metavar="PIPELINE", required=False)
@report_dir_option
@env_option
@json_option
def status(pipeline_name: str | None, report_dir: Path | None, env_name: str | None, as_json: bool) -> None:
    """Each pipeline's runs from the report history: success rate, rows, duration, the last data-quality results."""
    from ops.etl.history import summarize

    cfg = app().config
    env = cfg.env(env_name)
    names = [_pipeline(pipeline_name).name] if pipeline_name else sorted(cfg.pipelines)
    rows = [summarize(report_dir or cfg.report_dir, name, env.name) for name in names]
    lines = [r["line"] for r in rows] or ["no pipelines declared (dbops.toml [pipelines.NAME])"]
    emit(rows, as_json, "\n".join(lines))


@etl.command()
@click.argument("pipeline_name", metavar="PIPELINE")
@report_dir_option
@env_option
@json_option
def check(pipeline_name: str, report_dir: Path | None, env_name: str | None, as_json: bool) -> int:
    """Run PIPELINE's data-quality rules on what is published (the newest batch of each table, read back from
    S3 and checked against its manifest), and compare the Glue catalog with it (table location, batch, every
    partition). Reads only; exit 1 when a rule fails or Glue serves anything else, 4 when nothing is published."""
    from ops.aws import Aws
    from ops.drills.common import guarded, interruptible
    from ops.etl.check import check_published
    from ops.report import Journal

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    pipeline = _pipeline(pipeline_name)
    aws = Aws.for_env(cfg, env)
    journal = Journal("etl-check", f"pipeline:{pipeline.name}", env.name)
    with interruptible():
        report = guarded(journal, lambda: check_published(pipeline, aws, journal), app().debug)
    return finish(report, env, report_dir, None, False, as_json)


@etl.command()
@click.argument("pipeline_name", metavar="PIPELINE")
@click.argument("sql", metavar="SQL")
@click.option("--engine", type=click.Choice(["athena", "duckdb"]), default="athena", show_default=True,
              help="athena: the pipeline's workgroup over the Glue tables; duckdb: here, over the newest batches read from S3.")
@click.option("--max-bytes", type=click.IntRange(1, 10**15), default=1 << 30, show_default=True,
              help="Stop the query once it scans more than this (Athena bills what it scans).")
@click.option("--timeout", "timeout_s", type=click.IntRange(1, 3600), default=300, show_default=True)
@env_option
@json_option
def query(pipeline_name: str, sql: str, engine: str, max_bytes: int, timeout_s: int, env_name: str | None, as_json: bool) -> None:
    """Run one read-only SQL query (DuckDB's dialect; transpiled for Athena) over PIPELINE's published tables.
    Tables are named as the pipeline names them; on Athena they are the Glue database's."""
    import shutil
    import tempfile

    from ops.aws import Aws
    from ops.errors import UsageError

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    pipeline = _pipeline(pipeline_name)
    _read_only(sql, {t.name for t in pipeline.tables})
    aws = Aws.for_env(cfg, env)
    if engine == "athena":
        from ops.etl.athena import run_query, to_athena

        if not pipeline.destination.workgroup:
            raise UsageError(f"pipeline {pipeline.name} names no Athena workgroup (destination.workgroup)")
        result = run_query(aws.client("athena"), to_athena(sql), pipeline.destination.database, pipeline.destination.workgroup,
                           None, timeout_s, max_bytes)
    else:
        from ops.etl import lake
        from ops.etl.lakequery import query_local

        work = Path(tempfile.mkdtemp(prefix="dbops-etl-query-"))
        try:
            s3 = aws.client("s3")
            tables = {}
            for spec in pipeline.tables:
                manifest = lake.latest(s3, lake.Place(pipeline.destination.bucket, pipeline.destination.prefix, spec.name))
                if manifest is not None and manifest["files"]:
                    tables[spec.name] = lake.download(s3, pipeline.destination.bucket, manifest, work)
            result = query_local(sql, tables, timeout_s)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if result.scanned_bytes > max_bytes:
            raise UsageError(f"the query scanned {result.scanned_bytes} bytes, more than --max-bytes {max_bytes}")
    rows = [dict(zip(result.columns, r)) for r in result.rows]
    lines = ["\t".join(result.columns), *("\t".join("" if v is None else str(v) for v in r) for r in result.rows),
             f"({len(result.rows)} row(s), {result.scanned_bytes} bytes scanned, {result.elapsed_ms} ms on {engine})"]
    emit({"columns": list(result.columns), "rows": rows, "scanned_bytes": result.scanned_bytes, "elapsed_ms": result.elapsed_ms,
          "engine": engine}, as_json, "\n".join(lines))


def _read_only(sql: str, tables: set[str]) -> None:
    """One SELECT (or WITH ... SELECT, or a set operation of them) over the pipeline's tables: nothing that
    writes, no file or table function, no other table."""
    import sqlglot
    from sqlglot import exp

    from ops.errors import UsageError

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
    named = tables | {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for t in tree.find_all(exp.Table):
        if not isinstance(t.this, exp.Identifier) or t.name not in named:
            raise UsageError(f"etl query reads the pipeline's tables only ({', '.join(sorted(tables))}), not {t.sql('duckdb')}")
    for f in tree.find_all(exp.Func):
        name = (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
        if name.startswith(("read_", "readcsv", "readparquet", "readjson", "glob", "sniff", "parquet_", "query")):
            raise UsageError(f"etl query reads the pipeline's tables only: no file or table functions ({name})")
