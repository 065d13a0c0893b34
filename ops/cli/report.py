"""dbops report list|show|trend"""

from __future__ import annotations

from pathlib import Path

import click

from ops.cli.context import app, emit, warn_skipped
from ops.cli.options import NonEmpty, json_option, report_dir_option
from ops.errors import UsageError


def _dir(report_dir: Path | None) -> Path:
    return report_dir or app().config.report_dir


@click.group()
def report() -> None:
    """List and show reports, their HTML pages, and a measurement's trend."""


@report.command("list")
@report_dir_option
@click.option("--kind", help="Only reports of this kind (failover, restore, backup, cost).")
@json_option
def list_(report_dir: Path | None, kind: str | None, as_json: bool) -> None:
    """List reports, oldest first."""
    from ops.report import list_reports, printable

    rows = list_reports(_dir(report_dir), kind, warn_skipped())
    lines = [f"{r['id']:<48} {r['kind']:<10} {r['status']:<8} {r['target']}" for r in rows] or ["no reports"]
    emit([{k: r[k] for k in ("id", "kind", "target", "status", "started_at", "path")} for r in rows], as_json,
         printable("\n".join(lines)))


@report.command()
@report_dir_option
@click.argument("report_id")
@click.option("--html", "as_html", is_flag=True,
              help="Print the path of the report's HTML page (written beside the JSON first if it is missing).")
@json_option
def show(report_dir: Path | None, report_id: str, as_html: bool, as_json: bool) -> None:
    """Show one report (Markdown; --json for the JSON; --html for its page's path)."""
    from ops.report import list_reports, printable, write_html

    if as_html and as_json:
        raise UsageError("--html and --json: choose one")
    unreadable: dict[str, str] = {}
    for r in list_reports(_dir(report_dir), on_skip=lambda path, why: unreadable.setdefault(path.stem, f"{path.name} is "
                                                                                          f"not a readable report: {why}")):
        if r["id"] == report_id:
            path = Path(r["path"])
            if as_html:
                page = path.with_suffix(".html")
                if not page.exists() and write_html(path) is None:
                    raise UsageError(f"the HTML page of {report_id} could not be written beside {path}")
                click.echo(str(page))  # exactly the page write_html writes: the JSON's own name
                return
            if as_json:
                click.echo(path.read_text())
                return
            try:
                click.echo(printable(path.with_suffix(".md").read_text()))
            except (OSError, UnicodeDecodeError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                raise UsageError(f"report {report_id} has no Markdown beside its JSON ({why}): "
                                 f"`dbops report show {report_id} --json` shows it") from None
            return
    if report_id in unreadable:
        raise UsageError(unreadable[report_id])
    raise UsageError(f"no report '{report_id}' under {_dir(report_dir)} (see `dbops report list`)")


@report.command()
@report_dir_option
@click.option("--kind", type=NonEmpty(), help="Only reports of this kind (default: every kind).")
@click.option("--target", type=NonEmpty(), help="Only reports of this target (KIND:NAME).")
@click.option("--env", "env_name", type=NonEmpty(), metavar="ENV",
              help="Only reports of this env (default: every env; each env's figures are a line of their own).")
@click.option("--measurement", type=NonEmpty(), metavar="NAME",
              help="The measurement to plot (default for failover: client_write_downtime_s; restore: "
                   "restore_duration_s; cost: projected_usd).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the HTML page with the plot here.")
@json_option
def trend(report_dir: Path | None, kind: str | None, target: str | None, env_name: str | None, measurement: str | None,
          out: Path | None, as_json: bool) -> None:
    """One measurement across the report history: a table here, a plot in --out's HTML page."""
    from ops.report import list_reports, printable, write_exclusive
    from ops.report_html import TREND_DEFAULTS, render_trend, trend_points, trend_text

    if target is not None and not all(target.partition(":")[::2]):
        raise UsageError(f"--target '{target}' must be KIND:NAME")
    measurement = measurement or TREND_DEFAULTS.get(kind or "")
    if measurement is None:
        raise UsageError("--measurement NAME is needed" + (f" for kind '{kind}'" if kind else " without --kind")
                         + f" (defaults: {', '.join(f'{k}: {m}' for k, m in TREND_DEFAULTS.items())})")
    if out is not None and out.exists():
        raise UsageError(f"{out} exists: a trend page is never written over")
    reports = [r for r in list_reports(_dir(report_dir), kind, warn_skipped())
               if (target is None or r.get("target") == target or target in str(r.get("target", "")).split(","))
               and (env_name is None or r.get("env") == env_name)]
    points = trend_points(reports, measurement)
    scope = ", ".join(x for x in (env_name and f"env {env_name}", kind and f"kind {kind}", target and f"target {target}")
                      if x) or "every report"
    text = trend_text(points, measurement)
    if out is not None:
        page = render_trend(points, measurement, scope)
        try:
            written = write_exclusive(out, page)
        except OSError as exc:
            raise UsageError(f"{out} not written: {exc.strerror or exc}") from None
        text += f"\npage: {written}"
    emit([{**p, "at": p["at"].isoformat()} for p in points], as_json, printable(text))
