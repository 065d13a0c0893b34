"""dbops backup verify"""

from __future__ import annotations

import click

from ops.cli.context import app, finish, progress, require_write
from ops.cli.options import concurrency_option, report_options, restore_max_cost_option, with_indexes_option


@click.group()
def backup() -> None:
    """Verify backups: recovery points, ages, encryption, coverage, WAL archive."""


@backup.command()
@click.argument("targets", nargs=-1)
@click.option("--restore-latest", is_flag=True,
              help="Also restore each target twice and check rows: a restore drill to its latest restorable time "
                   "(point-in-time recovery), and, for Aurora and DynamoDB, a restore of its newest AWS Backup recovery "
                   "point, made by an on-demand backup job between markers.")
@restore_max_cost_option
@with_indexes_option
@concurrency_option
@report_options
def verify(targets: tuple[str, ...], restore_latest: bool, max_cost: float | None, with_indexes: bool, concurrency: int | None,
           confirm: tuple[str, ...],
           env_name: str | None, as_json: bool, report_dir, junit, publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Check the backups of TARGETS (default: every target of the env); one finding per check per target.

    Reading needs no confirmation on a protected env; --restore-latest creates restores and
    needs --confirm naming each target (or the env).

    \b
    --restore-latest adds two objective findings per target, beside each other:
      BKP-RESTORE-LATEST          point-in-time restore to the latest restorable time
      BKP-RECOVERY-POINT-RESTORE  (Aurora, DynamoDB) markers, an on-demand AWS Backup job into
                                  the vault of the plan that covers it, with that plan's role,
                                  markers, StartRestoreJob of the newest recovery point; rows
                                  before the point's creation present, after its completion
                                  absent. The restored resource and the drill's recovery point
                                  are deleted afterwards (the point keeps a 1-day lifecycle).

    Before any restore starts, every one is priced for the longest it may live and the run
    is refused when their sum is above --max-cost (policy max_drill_cost_usd).

    An env that lists regions or accounts ([[envs.ENV.accounts]], read through the role each names)
    is read in all of them, --concurrency targets at a time; its targets are KIND:NAME@ACCOUNT/REGION.
    An account or region that cannot be read is one error finding, and the others are read all the same.
    """
    from ops.checks.verify import (default_targets, price_restores, refuse_costly_restores, require_exists,
                                   restore_latest as run_restores, verify as run_verify)
    from ops.estate import Fleet
    from ops.aws import adaptive_retries
    from ops.cost.estimate import load_catalog
    from ops.drills.common import guarded, interruptible
    from ops.report import Journal
    from ops.targets import parse_target

    from ops.errors import UsageError

    if not restore_latest and (max_cost is not None or with_indexes):
        given = "--max-cost" if max_cost is not None else "--with-indexes"
        raise UsageError(f"{given} bounds or shapes the restores of --restore-latest: add --restore-latest, or leave {given} out")
    cfg = app().config.for_env(env_name).with_policy(max_drill_cost_usd=max_cost)
    env = cfg.env(env_name)
    for t in targets:
        parse_target(t)  # a bad target is a usage error before anything is read
    if restore_latest and any(parse_target(t).region for t in targets):
        raise UsageError("--restore-latest restores in the env's own account and region: name targets as KIND:NAME")
    with adaptive_retries():  # many concurrent reads: the client slows itself after a throttle
        if targets:
            require_exists(cfg, env, list(targets), concurrency)
        fleet = Fleet(list(targets), []) if targets else default_targets(cfg, env, concurrency)
        for label, why in fleet.refused:
            progress(f"dbops: {label} not read: {why}")
        chosen = fleet.targets
        costs: list = []
        if restore_latest:
            if fleet.refused or any(parse_target(t).region for t in chosen):
                raise UsageError("--restore-latest restores in the env's own account and region; this env reads others: name its targets")
            for t in chosen:
                require_write(env, confirm, t, whole_env=True)
            costs = price_restores(cfg, env, chosen, load_catalog(env.region), with_indexes)
            refuse_costly_restores(costs, cfg.policy.max_drill_cost_usd, explicit=max_cost is not None)  # one line, exit 2, before anything is created
            from ops.drills.guard import guard_for, stop_conditions

            # The policy's stop conditions hold for these restores as for `dbops drill restore`: checked here, before
            # anything is created, and again before each restore, then watched while it runs.
            guard_for(cfg, env, stop_conditions(cfg.policy, (), None, measures_downtime=False, drill="restore")).check_before()
        journal = Journal("backup", ",".join(chosen) if targets else f"estate:{env.name}", env.name)
        with interruptible():
            def run():  # type: ignore[no-untyped-def]
                # The restores start backup jobs of their own: the plans' jobs are judged before those exist.
                restores = (lambda: run_restores(cfg, env, chosen, journal, costs, with_indexes)) if restore_latest else None
                return run_verify(cfg, env, chosen, journal, then=restores, concurrency=concurrency, refused=fleet.refused,
                                  progress=progress)

            report = guarded(journal, run, app().debug)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)

