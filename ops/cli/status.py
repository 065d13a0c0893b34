"""dbops status"""

from __future__ import annotations

import click

from ops.cli.context import app, emit, progress
from ops.cli.options import concurrency_option, env_option, json_option


@click.command()
@env_option
@json_option
@concurrency_option
def status(env_name: str | None, as_json: bool, concurrency: int | None) -> int:
    """The on-call overview: health, writer, lag, connections, backups, last drill, budget burn per target.

    An env that lists regions or accounts is read in all of them (targets KIND:NAME@ACCOUNT/REGION),
    --concurrency targets at a time. An account or region that could not be read is one line on stderr
    and exit code 4: the overview is not whole."""
    from ops.aws import adaptive_retries
    from ops.status import rows, table

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    with adaptive_retries():  # many concurrent reads: the client slows itself after a throttle
        data = rows(cfg, env, concurrency, progress)
    emit({"env": env.name, "targets": data}, as_json, table(data))
    unread = [r for r in data if str(r["health"]).startswith("error: not read")]
    for row in unread:
        click.echo(f"dbops: {row['target']}: {row['health']}", err=True)
    return 4 if unread else 0
