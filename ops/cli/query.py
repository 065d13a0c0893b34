"""dbops query audit"""

from __future__ import annotations

import click

from ops.cli.context import app, finish, require_write
from ops.cli.options import FiniteFloat, NonEmpty, report_options, start_if_stopped_option


@click.group()
def query() -> None:
    """Query performance: top statements, index use and missing-index advice, read-only."""


@query.command()
@click.argument("target")
@click.option("--reader", is_flag=True, help="Read the statistics of a reader (Aurora's reader endpoint; a lab-pg replica).")
@click.option("--top", type=click.IntRange(1, 100), default=10, show_default=True, help="Top statements by total time to report and plan.")
@click.option("--min-calls", type=click.IntRange(1, 10**9), help="Calls a statement needs to be judged (default: policy min_statement_calls).")
@click.option("--stats-min-age", type=FiniteFloat(min=0, max=10**9), help="Seconds of statistics needed to judge (default: policy stats_min_age_s).")
@click.option("--secret-arn", metavar="ARN", type=NonEmpty(), help="Master secret of an Aurora cluster not built by this repository.")
@start_if_stopped_option
@report_options
def audit(target: str, reader: bool, top: int, min_calls: int | None, stats_min_age: float | None, secret_arn: str | None,
          start_if_stopped: bool, confirm: tuple[str, ...], env_name: str | None, as_json: bool, report_dir, junit, publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Audit TARGET's queries: pg_stat_statements, index utilization, sequential scans of large tables with
    hypothetical-index evidence (hypopg), unused and duplicate indexes. Advice only: it changes nothing.

    Judged against [policy] index_utilization_min, index_gain_min, min_statement_calls, stats_min_age_s and
    large_table_rows; statistics reset recently or too few calls make it inconclusive (exit 4), never a pass.
    """
    from dataclasses import replace

    from ops.clock import utcnow
    from ops.drills.common import guarded, interruptible
    from ops.drills.stopped import ensure_running, note
    from ops.query.audit import run_audit, summary
    from ops.query.endpoints import endpoint_of
    from ops.report import Journal
    from ops.targets import parse_target
    from ops.targets.registry import open_cluster

    ref = parse_target(target)
    cfg = app().config.for_env(env_name).with_policy(min_statement_calls=min_calls, stats_min_age_s=stats_min_age)
    env = cfg.env(env_name)
    with interruptible():
        cluster = open_cluster(cfg, env, str(ref), secret_arn)
        # Starting a cluster is a write, whatever the audit reads: confirmed as one on a protected env.
        started = ensure_running(cluster, start_if_stopped, env.schedule, utcnow(),
                                 before_start=lambda: require_write(env, confirm, str(ref)))
        endpoint = endpoint_of(cluster, "reader" if reader else "writer")
        journal = Journal("query-audit", str(ref), env.name)
        note(journal, started)
        journal.details["endpoint"] = endpoint.label
        report = guarded(journal, lambda: run_audit(endpoint.dsn, cfg.policy, top, journal, endpoint.label), app().debug)
    if report.status in ("pass", "fail", "inconclusive"):
        report = replace(report, summary=summary(report))
    return finish(report, env, report_dir, junit, publish_metrics, as_json)
