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
    from ops.etl.lakeread import run_lake_query

    cfg = app().config.for_env(env_name)
    result = run_lake_query(cfg, cfg.env(env_name), pipeline_name, sql, engine, max_bytes, timeout_s)
    rows = [dict(zip(result.columns, r)) for r in result.rows]
    lines = ["\t".join(result.columns), *("\t".join("" if v is None else str(v) for v in r) for r in result.rows),
             f"({len(result.rows)} row(s), {result.scanned_bytes} bytes scanned, {result.elapsed_ms} ms on {engine})"]
    emit({"columns": list(result.columns), "rows": rows, "scanned_bytes": result.scanned_bytes, "elapsed_ms": result.elapsed_ms,
          "engine": engine}, as_json, "\n".join(lines))

