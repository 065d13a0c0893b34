"""Prompts: triage of a target along the failover runbook, and why last night's drills failed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from mcp.server.mcpserver import MCPServer

from ops.mcp.common import loaded
from ops.mcp.settings import McpSettings

FAILED = ("fail", "error", "inconclusive", "aborted")
LAST_NIGHT = timedelta(hours=24)
NOT_MEASURED = "Say 'not measured' for any figure the material does not give; never estimate one."


def failed_since(settings: McpSettings, since: datetime) -> list[dict[str, Any]]:
    """The env's drill and check reports started since `since` whose verdict is not a pass, oldest first."""
    from ops.history import of_env
    from ops.report import list_reports

    _, env = loaded(settings)
    found = []
    for r in list_reports(settings.report_dir):
        started = datetime.fromisoformat(str(r.get("started_at", "")).replace("Z", "+00:00") or "1970-01-01T00:00:00+00:00")
        if r.get("status") in FAILED and started >= since and of_env(r, env):
            found.append(r)
    return found


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
        reports = failed_since(settings, since)
        if not reports:
            return (f"No drill or check of env '{settings.env}' failed since {since:%Y-%m-%d %H:%M} UTC "
                    f"(report directory {settings.report_dir}). Say so, and list nothing as a failure.")
        body = "\n\n".join(describe_report(r) for r in reports)
        return (f"These {len(reports)} drill or check reports of env '{settings.env}' did not pass since "
                f"{since:%Y-%m-%d %H:%M} UTC. For each, explain why from its checks (the failed, errored or unknown "
                f"ones decided it), say whether it is the system or the drill's set-up that failed, and what to do "
                f"next (the failed-drill runbook, `dbops report show ID`). {NOT_MEASURED}\n\n{body}")
