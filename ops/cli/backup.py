"""dbops backup verify"""

from __future__ import annotations

import click

from ops.cli.context import app, finish, require_confirm
from ops.cli.options import report_options


@click.group()
def backup() -> None:
    """Verify backups: recovery points, ages, encryption, coverage, WAL archive."""


@backup.command()
@click.argument("targets", nargs=-1)
@click.option("--restore-latest", is_flag=True, help="Also run a restore drill to the latest restorable time of each target.")
@report_options
def verify(targets: tuple[str, ...], restore_latest: bool, confirm: tuple[str, ...], env_name: str | None, as_json: bool,
           report_dir, junit, publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Check the backups of TARGETS (default: every target of the env); one finding per check per target.

    Reading needs no confirmation on a protected env; --restore-latest creates restores and
    needs --confirm naming each target (or the env).
    """
    from ops.checks.verify import default_targets, require_exists, verify as run_verify
    from ops.drills.common import guarded, interruptible
    from ops.report import Journal
    from ops.targets import parse_target

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    for t in targets:
        parse_target(t)  # a bad target is a usage error before anything is read
    if targets:
        require_exists(cfg, env, list(targets))
    chosen = list(targets) or default_targets(cfg, env)
    if restore_latest:
        for t in chosen:
            if env.name not in confirm:
                require_confirm(env, confirm, t)
    journal = Journal("backup", ",".join(chosen) if targets else f"estate:{env.name}", env.name)
    with interruptible():
        def run():  # type: ignore[no-untyped-def]
            if restore_latest:
                _restore_latest(cfg, env, chosen, journal)
            return run_verify(cfg, env, chosen, journal)

        report = guarded(journal, run, app().debug)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


def _restore_latest(cfg, env, targets: list[str], journal) -> None:  # type: ignore[no-untyped-def]
    """A restore drill to the latest restorable time per target; its verdict becomes an objective finding."""
    from ops.drills.common import guarded, new_drill_id
    from ops.drills.restore import RestoreOptions, run_restore
    from ops.errors import Busy
    from ops.lease import ledger_for
    from ops.report import Journal
    from ops.targets.registry import open_restorable

    ledger = ledger_for(cfg, env)
    status_of = {"pass": "pass", "fail": "fail", "error": "error", "aborted": "error", "inconclusive": "unknown"}
    for target in targets:
        restorable = open_restorable(cfg, env, target)
        drill_id = new_drill_id("restore")
        sub_journal = Journal("restore", target, env.name, echo=None)
        journal.event("restore", f"restore drill {drill_id} of {target} to its latest restorable time")
        try:
            with ledger.acquire(target, drill_id, hours=(restorable.default_timeout_s + 3600) / 3600):
                sub = guarded(sub_journal, lambda: run_restore(restorable, RestoreOptions(latest=True, rpo_s=cfg.policy.rpo_seconds),
                                                               sub_journal, drill_id, ledger))
        except Busy as exc:
            journal.check(f"BKP-RESTORE-LATEST[{target}]", "error", str(exc), objective=True)
            continue
        journal.check(f"BKP-RESTORE-LATEST[{target}]", status_of[sub.status], sub.summary, objective=True)
        if sub.status == "aborted":
            raise KeyboardInterrupt
