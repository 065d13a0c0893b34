"""dbops runbook list|show"""

from __future__ import annotations

import click

from ops.cli.context import app, emit
from ops.cli.options import env_option, json_option


@click.group()
def runbook() -> None:
    """On-call runbooks rendered with live values from the estate."""


@runbook.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the runbooks and the target kinds each is written for."""
    from ops.runbooks import available

    books = available(app().config)
    emit(books, as_json, "\n".join(f"{name:<24} {' '.join(kinds)}" for name, kinds in books.items()))


@runbook.command()
@click.argument("name")
@click.option("--target", metavar="KIND:NAME", help="Target to render it for (default: the env's first target of a fitting kind).")
@click.option("--format", "fmt", type=click.Choice(["md", "text"]), default="md", show_default=True)
@env_option
def show(name: str, target: str | None, fmt: str, env_name: str | None) -> None:
    """Render runbook NAME with live values."""
    from ops.runbooks import render, to_text

    cfg = app().config.for_env(env_name)
    text = render(cfg, cfg.env(env_name), name, target)
    click.echo(to_text(text) if fmt == "text" else text, nl=False)
