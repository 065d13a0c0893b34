"""The `dbops` command line: a lazy click group; subcommands import their code on use.

`dbops --help` imports no AWS or Terraform code. Expected errors print one line and
exit with their code; anything unexpected prints one line too, and its traceback only
with --debug.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from ops.cli.context import AppContext
from ops.errors import EXIT_ABORTED, EXIT_CANNOT_RUN, DbopsError, describe

# name -> (module:attribute, one-line help). Help text lives here so --help loads nothing.
COMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("ops.cli.lab:lab", "Start, stop and inspect the embedded lab (AWS emulator, local PostgreSQL)."),
    "runbook": ("ops.cli.runbook:runbook", "On-call runbooks rendered with live values from the estate."),
    "status": ("ops.cli.status:status", "The on-call overview of every target."),
    "tf": ("ops.cli.tf:tf", "Terraform plan, apply, destroy and output for an env."),
    "estate": ("ops.cli.estate:estate", "Show the estate's targets from Terraform outputs and the lab."),
    "backup": ("ops.cli.backup:backup", "Verify backups: recovery points, ages, encryption, coverage, WAL archive."),
    "cost": ("ops.cli.cost:cost", "Spend against the budget (Cost Explorer) and plan-time cost estimates."),
    "drill": ("ops.cli.drill:drill", "Failover, restore, connections, latency and throughput drills measured from the client side."),
    "failover": ("ops.cli.failover:failover", "Fail a cluster over now, nothing else (writer down): control-plane timing and a report."),
    "janitor": ("ops.cli.janitor:janitor", "Delete what interrupted drills and etl runs left behind."),
    "report": ("ops.cli.report:report", "List and show reports, their HTML pages, and a measurement's trend."),
    "schedule": ("ops.cli.schedule:schedule", "Start and stop the env's Aurora clusters by its weekly window."),
    "query": ("ops.cli.query:query", "Query performance: top statements, index use, missing-index advice (read-only)."),
    "etl": ("ops.cli.etl:etl", "Export tables into the analytics lake at a point in time, behind data-quality gates."),
    "permissions": ("ops.cli.permissions:permissions", "The least-privilege IAM policy the named commands need, from the calls they declare."),
    "mcp": ("ops.cli.mcp:mcp", "Serve the estate, reports and runbooks to an assistant over the Model Context Protocol (stdio or HTTP on loopback)."),
    "scorecard": ("ops.cli.scorecard:scorecard", "RTO, RPO and availability budget per target against what drills measured."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked (click docs' LazyGroup)."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module_name, attr = self.lazy[name][0].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class RootGroup(LazyGroup):
    """Maps exceptions and returned exit codes to the exit codes in DESIGN."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        from ops import callrecord

        debug = bool(ctx.params.get("debug"))
        callrecord.set_command(" ".join(self.command_words(ctx)) or None)
        try:
            rv = super().invoke(ctx)
        except click.UsageError as exc:
            # A bad flag or value is one line like every other could-not-run error, not click's usage block.
            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            _fail(exc.format_message().replace("\n", " ") + where, EXIT_CANNOT_RUN, False)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except DbopsError as exc:
            _fail(str(exc), exc.exit_code, debug)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_ABORTED, debug)
        except BrokenPipeError:
            # the output's reader went away (`| head`): what is left to print goes nowhere, as for a SIGTERM
            import os
            import sys

            for stream in (sys.stdout, sys.stderr):
                try:
                    os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
                except (OSError, ValueError):
                    pass
            raise click.exceptions.Exit(EXIT_ABORTED) from None
        except Exception as exc:  # noqa: BLE001 — the one place an unexpected error becomes a line
            known = describe(exc)
            if debug:
                raise
            if known:
                _fail(known, EXIT_CANNOT_RUN, False)
            _fail(f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", EXIT_CANNOT_RUN, False)
        finally:
            callrecord.set_command(None)
        if isinstance(rv, int) and rv:
            ctx.exit(rv)
        return rv

    def command_words(self, ctx: click.Context) -> list[str]:
        """The words naming the command about to run ("drill", "failover"), as `dbops permissions` takes them."""
        args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        words: list[str] = []
        command: click.Command | None = self
        for arg in args:
            if arg.startswith("-") or not isinstance(command, click.Group):
                break
            command = command.get_command(ctx, arg)
            if command is None:
                break
            words.append(arg)
        return words


def _fail(message: str, code: int, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    click.echo(f"dbops: error: {message}", err=True)
    raise click.exceptions.Exit(code)


@click.group(cls=RootGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="DBOPS_CONFIG", help="Path to dbops.toml (default: found upwards from the current directory).")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.version_option(package_name="dbops", prog_name="dbops")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool) -> None:
    """dbops — drills, restore tests, backup and cost checks, and runbooks for a database estate on AWS."""
    ctx.obj = AppContext(config_path=config_path, debug=debug)


def main(argv: list[str] | None = None) -> None:
    from ops.proc import ignore_interrupts_on_the_way_out, interrupted

    try:
        cli.main(args=argv, prog_name="dbops")
    except SystemExit as exc:
        if exc.code == EXIT_ABORTED or interrupted():
            ignore_interrupts_on_the_way_out()
        raise
