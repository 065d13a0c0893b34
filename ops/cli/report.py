"""dbops report list|show"""

from __future__ import annotations

from pathlib import Path

import click

from ops.cli.context import app, emit
from ops.cli.options import json_option, report_dir_option
from ops.errors import UsageError


def _dir(report_dir: Path | None) -> Path:
    return report_dir or app().config.report_dir


@click.group()
def report() -> None:
    """List and show drill and check reports."""


@report.command("list")
@report_dir_option
@click.option("--kind", help="Only reports of this kind (failover, restore, backup, cost).")
@json_option
def list_(report_dir: Path | None, kind: str | None, as_json: bool) -> None:
    """List reports, oldest first."""
    from ops.report import list_reports

    rows = list_reports(_dir(report_dir), kind)
    lines = [f"{r['id']:<48} {r['kind']:<10} {r['status']:<8} {r['target']}" for r in rows] or ["no reports"]
    emit([{k: r[k] for k in ("id", "kind", "target", "status", "started_at", "path")} for r in rows], as_json, "\n".join(lines))


@report.command()
@report_dir_option
@click.argument("report_id")
@json_option
def show(report_dir: Path | None, report_id: str, as_json: bool) -> None:
    """Show one report (Markdown; --json for the JSON)."""
    from ops.report import list_reports

    for r in list_reports(_dir(report_dir)):
        if r["id"] == report_id:
            path = Path(r["path"])
            click.echo(path.read_text() if as_json else path.with_suffix(".md").read_text())
            return
    raise UsageError(f"no report '{report_id}' under {_dir(report_dir)} (see `dbops report list`)")
