"""Options shared by many commands, defined once."""

from __future__ import annotations

from pathlib import Path

import click

env_option = click.option("--env", "env_name", metavar="ENV", help="Env from dbops.toml (default: defaults.env or $DBOPS_ENV).")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine output on stdout; human output on stderr.")
report_dir_option = click.option("--report-dir", type=click.Path(path_type=Path), help="Where reports are written (default: defaults.report_dir).")
junit_option = click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML to this path.")
confirm_option = click.option("--confirm", metavar="NAME", help="Required on a protected env: the name of the env or target acted on.")
publish_metrics_option = click.option("--publish-metrics", is_flag=True, help="Put the measurements to CloudWatch.")


def report_options(f):  # type: ignore[no-untyped-def]
    for opt in (publish_metrics_option, junit_option, report_dir_option, json_option, env_option):
        f = opt(f)
    return f
