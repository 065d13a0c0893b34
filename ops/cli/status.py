"""dbops status"""

from __future__ import annotations

import click

from ops.cli.context import app, emit
from ops.cli.options import env_option, json_option


@click.command()
@env_option
@json_option
def status(env_name: str | None, as_json: bool) -> None:
    """The on-call overview: health, writer, lag, connections, backups, last drill, budget burn per target."""
    from ops.status import rows, table

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    data = rows(cfg, env)
    emit({"env": env.name, "targets": data}, as_json, table(data))
