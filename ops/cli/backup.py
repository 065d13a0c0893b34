"""dbops backup verify"""

from __future__ import annotations

import click

from ops.cli.context import app, finish
from ops.cli.options import report_options


@click.group()
def backup() -> None:
    """Verify backups: recovery points, ages, encryption, coverage, WAL archive."""


@backup.command()
@click.argument("targets", nargs=-1)
@click.option("--restore-latest", is_flag=True, help="Also run a restore drill to the latest restorable time of each target.")
@report_options
def verify(targets: tuple[str, ...], restore_latest: bool, env_name: str | None, as_json: bool, report_dir, junit,
           publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Check the backups of TARGETS (default: every target of the env); one finding per check per target."""
    from ops.checks.verify import default_targets, verify as run_verify
    from ops.drills.common import interruptible
    from ops.report import Journal
    from ops.targets import parse_target

    cfg = app().config
    env = cfg.env(env_name)
    for t in targets:
        parse_target(t)  # a bad target is a usage error before anything is read
    chosen = list(targets) or default_targets(cfg, env)
    journal = Journal("backup", ",".join(chosen) if targets else f"estate:{env.name}", env.name)
    with interruptible():
        if restore_latest:
            _restore_latest(cfg, env, chosen, journal)
        report = run_verify(cfg, env, chosen, journal)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


def _restore_latest(cfg, env, targets: list[str], journal) -> None:  # type: ignore[no-untyped-def]
    """A restore drill to the latest restorable time per target; its verdict becomes a finding."""
    from ops.drills.restore import RestoreOptions, run_restore
    from ops.report import Journal
    from ops.targets.registry import open_restorable

    for target in targets:
        sub = run_restore(open_restorable(cfg, env, target), RestoreOptions(latest=True, rpo_s=cfg.policy.rpo_seconds),
                          Journal("restore", target, env.name, echo=None))
        status = {"pass": "pass", "fail": "fail", "error": "error", "aborted": "error"}[sub.status]
        journal.check(f"BKP-RESTORE-LATEST[{target}]", status, sub.summary)
