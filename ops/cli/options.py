"""Options shared by many commands, defined once, and the parameter types they use."""

from __future__ import annotations

import math
from pathlib import Path

import click


class FiniteFloat(click.ParamType):
    """A float that is finite and within [min, max]: NaN, inf and out-of-range values are usage errors."""

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None, min_open: bool = False) -> None:
        self.min, self.max, self.min_open = min, max, min_open

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"'{value}' is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"'{value}' is not a finite number", param, ctx)
        low_ok = self.min is None or (number > self.min if self.min_open else number >= self.min)
        if not low_ok or (self.max is not None and number > self.max):
            low = "" if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
            high = "" if self.max is None else f"<= {self.max:g}"
            self.fail(f"{number:g} is out of range (must be {' and '.join(x for x in (low, high) if x)})", param, ctx)
        return number


class NonEmpty(click.ParamType):
    """A string that is not empty or blank."""

    name = "text"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        text = str(value).strip()
        if not text:
            self.fail("must not be empty", param, ctx)
        return text


env_option = click.option("--env", "env_name", metavar="ENV", type=NonEmpty(), help="Env from dbops.toml (default: defaults.env or $DBOPS_ENV).")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine output on stdout; human output on stderr.")
report_dir_option = click.option("--report-dir", type=click.Path(path_type=Path, file_okay=False), help="Where reports are written (default: defaults.report_dir).")
junit_option = click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML to this path.")
confirm_option = click.option(
    "--confirm", "confirm", metavar="NAME", multiple=True, type=NonEmpty(),
    help="Required on a protected env: ENV:KIND:NAME for a target acted on, ENV for the whole env (repeatable).")
publish_metrics_option = click.option("--publish-metrics", is_flag=True, help="Put the measurements to CloudWatch.")
# Restores (drill restore, backup verify --restore-latest).
restore_max_cost_option = click.option(
    "--max-cost", type=FiniteFloat(min=0, max=100000),
    help="Refuse when the restores' cost bound is above this, USD (default: policy max_drill_cost_usd).")
with_indexes_option = click.option(
    "--with-indexes", is_flag=True,
    help="Restore a DynamoDB table's secondary indexes too (default: without them; they are restored and billed per GB).")
start_if_stopped_option = click.option(
    "--start-if-stopped", is_flag=True,
    help="A stopped cluster (by its schedule or not) is started first, and the drill says how long that took "
         "(default: refused, exit 2).")

stop_on_alarm_option = click.option(
    "--stop-on-alarm", "stop_on_alarms", metavar="NAME", type=NonEmpty(), multiple=True,
    help="Stop the drill when this CloudWatch alarm (the env's account and region) is in ALARM; refused before it starts "
         "when it already is, or does not exist (repeatable; adds to policy stop_on_alarms).")
abort_after_downtime_option = click.option(
    "--abort-after-downtime", type=FiniteFloat(min=0, max=3600, min_open=True), metavar="S",
    help="Stop the drill once its canary has seen more than S seconds of write downtime (default: policy abort_after_downtime_s).")


def stop_options(f):  # type: ignore[no-untyped-def]
    """A drill's stop conditions: a trip stops the fault, runs the rollback and ends the drill aborted (exit 3)."""
    for opt in (abort_after_downtime_option, stop_on_alarm_option):
        f = opt(f)
    return f


# Fleet reads (backup verify, status): how many targets are read at once. Bounded: every worker is a
# connection to each API, and an API's rate limit is per account (adaptive retries slow down on throttling).
MAX_CONCURRENCY = 256
concurrency_option = click.option(
    "--concurrency", type=click.IntRange(1, MAX_CONCURRENCY), metavar="N",
    help=f"Read N targets at once (1 to {MAX_CONCURRENCY}; default 16; 1 reads them one after another).")


def report_options(f):  # type: ignore[no-untyped-def]
    """What every drill and check takes: output, report and protected-env options."""
    for opt in (confirm_option, publish_metrics_option, junit_option, report_dir_option, json_option, env_option):
        f = opt(f)
    return f
