"""What every command gets: the config (loaded on first use), output helpers, the
protected-env rule, and how a finished drill or check is written and reported."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from ops import config as config_mod
from ops.errors import UsageError

if TYPE_CHECKING:
    from ops.config import EnvConfig
    from ops.report import Report


@dataclass
class AppContext:
    config_path: Path | None = None
    debug: bool = False
    _config: config_mod.Config | None = field(default=None, repr=False)

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            self._config = config_mod.load(self.config_path)
        return self._config


def app(ctx: click.Context | None = None) -> AppContext:
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj


def emit(data: Any, as_json: bool, human: str) -> None:
    """--json: data on stdout, human text on stderr. Otherwise human text on stdout."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        if human:
            click.echo(human, err=True)
    else:
        click.echo(human)


def warn_skipped() -> Callable[[Path, str], None]:
    """An `on_skip` for ops.report.list_reports: one warning line on stderr per file that is not a report,
    once per command however often the command lists the report dir."""
    said: set[Path] = set()

    def warn(path: Path, why: str) -> None:
        if path not in said:
            said.add(path)
            from ops.report import printable

            click.echo(printable(f"dbops: warning: {path} skipped: {why}"), err=True)

    return warn


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def confirm_token(env: "EnvConfig", what: str) -> str:
    """What --confirm must say: the env and what is acted on (`prod:aurora:orders`), or the env alone for
    the whole env (`prod`), so a token copied from another env's runbook confirms nothing here."""
    return what if what == env.name else f"{env.name}:{what}"


def require_write(env: "EnvConfig", confirm: tuple[str, ...] | str | None, what: str, whole_env: bool = False) -> None:
    """Before a command writes: a protected env needs --confirm naming the env and exactly what is acted
    on (or the env alone, where `whole_env` allows it), and the credentials must act in the env's
    account (STS), whatever the env."""
    from ops.aws import verify_account

    if "@" in what:
        raise UsageError(f"{what}: a command that writes acts on env '{env.name}''s own account and region only "
                         "(a fleet env's other accounts and regions are read, never written): name it as KIND:NAME")
    given = (confirm,) if isinstance(confirm, str) else tuple(confirm or ())
    token = confirm_token(env, what)
    if env.protected and token not in given and not (whole_env and env.name in given):
        raise UsageError(f"env '{env.name}' is protected: add --confirm {token} to proceed")
    verify_account(app().config, env)


def finish(report: "Report", env: "EnvConfig", report_dir: Path | None, junit: Path | None,
           publish_metrics: bool, as_json: bool) -> int:
    """Write the report, optionally publish metrics, print the verdict; return the verdict's exit code.

    A report that cannot be written (disk full, read-only directory) or metrics that cannot be
    published do not change the verdict: it is printed all the same, with one line naming
    what could not be done.
    """
    from ops import report as report_mod

    cfg = app().config
    report = replace(report, region=env.region, account=env.account_id)
    problems: list[str] = []
    paths: dict[str, Path] = {}
    try:
        paths = report_mod.write(report, report_dir or cfg.report_dir, junit)
    except OSError as exc:
        problems.append(f"report not written: {exc.strerror or exc} ({exc.filename or report_dir or cfg.report_dir})")
    if publish_metrics:
        from ops.aws import Aws, describe_aws_error
        from ops.errors import DbopsError
        from ops.metrics import publish

        try:
            n = publish(Aws.for_env(cfg, env), report)
            click.echo(f"published {n} metrics to CloudWatch namespace dbops", err=True)
        except DbopsError as exc:
            problems.append(f"metrics not published: {exc}")
        except Exception as exc:  # noqa: BLE001 — the verdict stands; say what failed
            problems.append(f"metrics not published: {describe_aws_error(exc) or exc}")
    lines = [report.summary]
    for name, value in report.measurements.items():
        shown = "not measured" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append(f"  {name:<32} {shown}")
    if "json" in paths:
        lines.append(f"report: {paths['json']}")
    if "html" in paths:
        lines.append(f"page: {paths['html']}")
    emit({**report.to_dict(), "paths": {k: str(v) for k, v in paths.items()}}, as_json, "\n".join(lines))
    for problem in problems:
        click.echo(f"dbops: error: {problem}", err=True)
    return report.exit_code
