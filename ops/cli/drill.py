"""dbops drill failover|restore"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ops.cli.context import app, emit
from ops.cli.options import confirm_option, report_options
from ops.cli.tf import require_confirm
from ops.report import Report

if TYPE_CHECKING:
    from datetime import datetime


@click.group()
def drill() -> None:
    """Failover and restore drills measured from the client side."""


def finish(report: Report, env, report_dir, junit, publish_metrics: bool, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    """Write the report, optionally publish metrics, print the verdict; return the exit code."""
    from ops import report as report_mod

    cfg = app().config
    paths = report_mod.write(report, report_dir or cfg.report_dir, junit)
    if publish_metrics:
        from ops.aws import Aws
        from ops.metrics import publish

        n = publish(Aws.for_env(cfg, env), report)
        click.echo(f"published {n} metrics to CloudWatch namespace dbops", err=True)
    lines = [report.summary]
    for name, value in report.measurements.items():
        shown = "not measured" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append(f"  {name:<32} {shown}")
    lines.append(f"report: {paths['json']}")
    emit({**report.to_dict(), "paths": {k: str(v) for k, v in paths.items()}}, as_json, "\n".join(lines))
    return report.exit_code


@drill.command()
@click.argument("target")
@click.option("--to", "to", metavar="READER", help="Fail over to this reader (default: the control plane chooses).")
@click.option("--rto", type=click.FloatRange(min=0.1), help="Objective for client write downtime, seconds (default: policy rto_seconds).")
@click.option("--canary-hz", type=click.FloatRange(min=1, max=1000), default=20.0, show_default=True, help="Canary writes per second.")
@confirm_option
@report_options
def failover(target: str, to: str | None, rto: float | None, canary_hz: float, confirm: str | None,
             env_name: str | None, as_json: bool, report_dir, junit, publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Fail TARGET over while a canary writes to it; judge by client write downtime and lost writes."""
    from ops.drills.common import interruptible
    from ops.drills.failover import FailoverOptions, run_failover
    from ops.report import Journal
    from ops.targets.registry import open_cluster

    cfg = app().config.with_policy(rto_seconds=rto)
    env = cfg.env(env_name)
    require_confirm(env, confirm, target)
    with interruptible():
        cluster = open_cluster(cfg, env, target)
        opts = FailoverOptions(to=to, rto_s=cfg.policy.rto_seconds, canary_hz=canary_hz,
                               max_lost_writes=cfg.policy.max_lost_writes, max_lag_s=cfg.policy.max_replica_lag_s)
        report = run_failover(cluster, opts, Journal("failover", target, env.name))
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


def parse_time(text: str) -> "datetime":
    """ISO 8601; a time without a zone is UTC."""
    from datetime import datetime, timezone

    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"'{text}' is not an ISO 8601 time (e.g. 2026-11-23T03:00:00Z)", param_hint="--at") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


@drill.command()
@click.argument("target")
@click.option("--at", "at", metavar="TIME", help="Restore to this time (ISO 8601, UTC if no zone); must be in the past.")
@click.option("--minutes-ago", type=click.FloatRange(min=0, min_open=True), help="Restore to this many minutes ago.")
@click.option("--latest", is_flag=True, help="Restore to the latest restorable time.")
@click.option("--keep", is_flag=True, help="Keep the restored target (tagged; the janitor removes it once expired).")
@click.option("--timeout", type=click.FloatRange(min=1), default=1800.0, show_default=True, help="Seconds to wait for the restore.")
@confirm_option
@report_options
def restore(target: str, at: str | None, minutes_ago: float | None, latest: bool, keep: bool, timeout: float,
            confirm: str | None, env_name: str | None, as_json: bool, report_dir, junit, publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Restore TARGET to a point in time into a new target and check the rows, not just the resource."""
    from datetime import datetime, timedelta, timezone

    from ops.drills.common import interruptible
    from ops.drills.restore import RestoreOptions, run_restore
    from ops.errors import UsageError
    from ops.report import Journal
    from ops.targets.registry import open_restorable

    if sum(x is not None and x is not False for x in (at, minutes_ago, latest or None)) > 1:
        raise UsageError("give at most one of --at, --minutes-ago, --latest")
    when = parse_time(at) if at else (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago) if minutes_ago else None)
    cfg = app().config
    env = cfg.env(env_name)
    require_confirm(env, confirm, target)
    with interruptible():
        restorable = open_restorable(cfg, env, target)
        opts = RestoreOptions(at=when, latest=latest, keep=keep, rpo_s=cfg.policy.rpo_seconds, timeout_s=timeout)
        report = run_restore(restorable, opts, Journal("restore", target, env.name))
    return finish(report, env, report_dir, junit, publish_metrics, as_json)
