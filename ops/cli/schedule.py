"""dbops schedule apply"""

from __future__ import annotations

import click

from ops.cli.context import app, finish, require_write
from ops.cli.options import report_options


@click.group()
def schedule() -> None:
    """The env's Aurora clusters run only in its weekly window ([envs.ENV.schedule] in dbops.toml)."""


@schedule.command()
@report_options
def apply(confirm: tuple[str, ...], env_name: str | None, as_json: bool, report_dir, junit, publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Start the env's Aurora clusters inside the window (or within 20 minutes before it opens), stop them
    outside it. Idempotent: a cluster already in that state, or starting or stopping, is left.

    Exit codes: 0 every cluster is, or is going to, the state the window wants; 2 a call or a read failed;
    4 the env has no Aurora cluster. A protected env needs --confirm ENV.
    """
    from ops.clock import utcnow
    from ops.errors import UsageError
    from ops.report import Journal, headline
    from ops.scheduling import apply as apply_window

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    if env.schedule is None:
        raise UsageError(f"env '{env.name}' has no [envs.{env.name}.schedule] in {cfg.source}: its clusters run always, "
                         "nothing to apply")
    require_write(env, confirm, env.name, whole_env=True)
    journal = Journal("schedule", f"env:{env.name}", env.name)
    apply_window(cfg, env, env.schedule, utcnow(), journal)
    done = [e.message for e in journal.events if e.phase in ("start", "stop")]
    report = journal.finish()
    from dataclasses import replace

    report = replace(report, summary=headline(report, "; ".join(done) if done else "nothing to start or stop"))
    return finish(report, env, report_dir, junit, publish_metrics, as_json)
