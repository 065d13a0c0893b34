"""dbops janitor"""

from __future__ import annotations

import click

from ops.cli.context import app, emit
from ops.cli.options import env_option, json_option


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--include-unexpired", is_flag=True, help="Also delete drill leftovers whose expiry has not passed yet.")
@env_option
@json_option
def janitor(dry_run: bool, include_unexpired: bool, env_name: str | None, as_json: bool) -> int:
    """Delete what interrupted drills left behind: found by drill record, tag, drill-named table and,
    in the lab, by owner process. Exits 1 when something could not be deleted."""
    from ops.janitor import sweep

    cfg = app().config
    env = cfg.env(env_name)
    lines: list[str] = []
    found, failed = sweep(cfg, env, include_unexpired, dry_run, lines.append)
    emit({"dry_run": dry_run, "leftovers": [f.as_dict() for f in found], "failed": failed}, as_json, "\n".join(lines))
    return 1 if failed else 0
