"""dbops failover"""

from __future__ import annotations

import click

from ops.cli.context import app, finish, require_write
from ops.cli.options import FiniteFloat, NonEmpty, report_options


@click.command()
@click.argument("target")
@click.option("--to", "to", metavar="READER", type=NonEmpty(), help="Fail over to this reader (default: the control plane chooses).")
@click.option("--timeout", "timeout_s", type=FiniteFloat(min=1, max=3600), default=300.0, show_default=True,
              help="Seconds to wait for the control plane to report a new writer.")
@report_options
def failover(target: str, to: str | None, timeout_s: float, confirm: tuple[str, ...], env_name: str | None, as_json: bool,
             report_dir, junit, publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Fail TARGET over now, and nothing else: for a writer that is down, when the drill (which writes
    through the writer first) cannot run. Times the control plane; no canary, no heal.

    The policy's stop condition alarms are not consulted: this is the call for a writer that is down, when
    those alarms are expected to be in ALARM. It is sent once and cannot be taken back."""
    from ops.drills.common import guarded, interruptible, new_drill_id
    from ops.drills.failover import validate
    from ops.drills.failover_call import run_failover_call
    from ops.errors import UsageError
    from ops.lease import ledger_for
    from ops.report import Journal
    from ops.targets.registry import open_cluster

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    require_write(env, confirm, target)
    with interruptible():
        cluster = open_cluster(cfg, env, target)
        problem = validate(cluster.describe(lag=False), to)
        if problem:
            raise UsageError(problem)
        drill_id = new_drill_id("failover-call")
        with ledger_for(cfg, env).acquire(target, drill_id, hours=max(1.0, timeout_s / 3600 + 0.5)) as lease:
            journal = Journal("failover-call", target, env.name)
            journal.details["drill_id"] = drill_id
            report = guarded(journal, lambda: run_failover_call(cluster, to, timeout_s, journal), app().debug)
            report = lease.judge(report)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)
