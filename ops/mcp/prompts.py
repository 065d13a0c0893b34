"""Prompts: triage of a target along the failover runbook, and why last night's drills failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS

from ops.clock import parse_iso
from ops.errors import UsageError, describe
from ops.mcp.common import loaded
from ops.mcp.settings import McpSettings

FAILED = ("fail", "error", "inconclusive", "aborted")
LAST_NIGHT = timedelta(hours=24)
NOT_MEASURED = "Say 'not measured' for any figure the material does not give; never estimate one."


@dataclass(frozen=True)
class Window:
    """The env's reports in a window of time: how many were examined, those that did not pass, how many were skipped."""

    examined: int  # started in the window
    failed: list[dict[str, Any]]  # oldest first
    skipped: int  # the start time missing, unreadable or without a zone: when they ran is not known


def started_at(report: dict[str, Any]) -> datetime | None:
    """When the report's run started, if it says so with a time zone."""
    return parse_iso(report.get("started_at"))


def reports_since(settings: McpSettings, since: datetime) -> Window:
    """The env's drill and check reports started since `since`."""
    from ops.history import of_env
    from ops.report import list_reports

    _, env = loaded(settings)
    unreadable: list[Path] = []  # not a report at all (its env and start unknown): whether it ran in the window is not known
    ours = [r for r in list_reports(settings.report_dir, on_skip=lambda path, _why: unreadable.append(path)) if of_env(r, env)]
    dated = [(r, started_at(r)) for r in ours]
    recent = [r for r, started in dated if started is not None and started >= since]
    return Window(len(recent), [r for r in recent if r.get("status") in FAILED],
                  sum(started is None for _, started in dated) + len(unreadable))


def counted(n: int) -> str:
    return f"{n} report{'' if n == 1 else 's'}"


def skipped_note(n: int) -> str:
    if not n:
        return ""
    return (f" {counted(n)} {'was' if n == 1 else 'were'} skipped: their start time is missing, unreadable or without a "
            "time zone, so whether they ran in the window is not known.")


def describe_report(r: dict[str, Any]) -> str:
    checks = "\n".join(f"  - {c.get('id')}: {c.get('status')} — {c.get('detail')}" for c in r.get("checks", []))
    return (f"Report {r['id']} ({r.get('kind')} on {r.get('target')}, started {r.get('started_at')}): "
            f"{str(r.get('status')).upper()}\nSummary: {r.get('summary')}\nChecks:\n{checks or '  (none)'}")


def register(server: MCPServer, settings: McpSettings) -> None:
    @server.prompt(description="Triage TARGET (KIND:NAME): walk the failover runbook with its live values.")
    def triage(target: str) -> str:
        from ops.runbooks import render

        cfg, env = loaded(settings)
        book = render(cfg, env, "aurora-failover", target)
        return (f"I am on call for env '{env.name}' and {target} needs triage. Walk me through the failover runbook "
                f"below, step by step, with the live values it shows: at each step say what the value means for the "
                f"decision and what to check next, and stop at any step that needs a person's confirmation. "
                f"{NOT_MEASURED}\n\n{book}")

    @server.prompt(description="Find last night's failed drills and checks (the last 24 hours) and explain why each "
                               "failed from its checks.")
    def why_drill_failed() -> str:
        since = datetime.now(timezone.utc) - LAST_NIGHT
        window = reports_since(settings, since)
        where = f"(since {since:%Y-%m-%d %H:%M} UTC, report directory {settings.report_dir})"
        if not window.examined:
            return (f"There are no drill or check reports of env '{settings.env}' in the last 24 hours {where}: "
                    f"{counted(0)} examined.{skipped_note(window.skipped)} Say that nothing was run, so nothing was "
                    "measured: this is not a pass, and list nothing as a failure.")
        if not window.failed:
            return (f"None of the {counted(window.examined)} of env '{settings.env}' in the last 24 hours failed "
                    f"{where}.{skipped_note(window.skipped)} Say so, and list nothing as a failure.")
        body = "\n\n".join(describe_report(r) for r in window.failed)
        return (f"{len(window.failed)} of the {counted(window.examined)} of env '{settings.env}' in the last 24 hours "
                f"did not pass {where}.{skipped_note(window.skipped)} For each that did not pass, explain why from its "
                f"checks (the failed, errored or unknown ones decided it), say whether it is the system or the drill's "
                f"set-up that failed, and what to do next (the failed-drill runbook, `dbops report show ID`). "
                f"{NOT_MEASURED}\n\n{body}")


def bad_arguments(prompt: Any, arguments: dict[str, Any]) -> str | None:
    """A required argument missing or an argument the prompt does not take, in one line (the SDK raises either as a
    crash, with its traceback in the log)."""
    takes = {a.name: a.required for a in prompt.arguments or []}
    missing = [name for name, required in takes.items() if required and name not in arguments]
    if missing:
        return f"prompt {prompt.name}: missing argument {', '.join(missing)}"
    unknown = sorted(k for k in arguments if k not in takes)
    if unknown:
        return f"prompt {prompt.name}: unknown argument {', '.join(unknown)} (it takes {', '.join(takes) or 'none'})"
    return None


def _said(exc: BaseException) -> tuple[int, str] | None:
    """The one line of a dbops error anywhere in the chain (the SDK wraps what a prompt raises in a ValueError)."""
    while exc is not None:
        known = describe(exc)
        if known is not None:
            return (INVALID_PARAMS if isinstance(exc, UsageError) else INTERNAL_ERROR), known
        exc = exc.__cause__  # type: ignore[assignment]
    return None


def answered_in_one_line(server: MCPServer) -> Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]:
    """A server middleware: prompts/get with bad input (an unknown prompt or argument, a target that is not one)
    is an invalid-params error of one line; only a crash is logged with its traceback."""

    async def prompt_errors(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method != "prompts/get" or not isinstance(ctx.params, dict):
            return await call_next(ctx)
        name, arguments = str(ctx.params.get("name")), ctx.params.get("arguments") or {}
        prompts = {p.name: p for p in await server.list_prompts()}
        if name not in prompts:
            raise MCPError(INVALID_PARAMS, f"unknown prompt '{name}' (prompts: {', '.join(sorted(prompts))})")
        said = bad_arguments(prompts[name], arguments) if isinstance(arguments, dict) else None
        if said is not None:
            raise MCPError(INVALID_PARAMS, said)
        try:
            return await call_next(ctx)
        except MCPError:
            raise
        except Exception as exc:
            known = _said(exc)
            if known is None:
                logging.getLogger(__name__).exception("prompt %r failed", name)
                raise MCPError(INTERNAL_ERROR, "unexpected error in the prompt (the server's log has its traceback)") from None
            raise MCPError(*known) from None

    return prompt_errors
