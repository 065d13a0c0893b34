"""dbops estate show"""

from __future__ import annotations

import click

from ops.cli.context import app, emit
from ops.cli.options import env_option, json_option


@click.group()
def estate() -> None:
    """Show the estate's targets from Terraform outputs and the lab."""


@estate.command()
@env_option
@json_option
def show(env_name: str | None, as_json: bool) -> None:
    """List every target of the env as KIND:NAME with what is known of it."""
    from ops.estate import inventory

    cfg = app().config
    env = cfg.env(env_name)
    targets = inventory(cfg, env)
    lines = [f"estate of env {env.name}: {len(targets)} target(s)"]
    for t in targets:
        extra = ", ".join(f"{k}={v}" for k, v in t.items() if k not in ("id", "kind", "name", "source"))
        lines.append(f"  {t['id']:<28} [{t['source']}] {extra}")
    emit({"env": env.name, "targets": targets}, as_json, "\n".join(lines))
