"""Read-only tools and resources over what dbops knows: the estate, `status`, runbooks with live values, reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError

from ops.mcp.common import answers, loaded
from ops.mcp.settings import McpSettings

REPORT_FIELDS = ("id", "kind", "target", "status", "started_at", "summary")


def plain(data: Any) -> Any:
    """JSON-safe (dates and paths as text), as `dbops --json` prints them."""
    return json.loads(json.dumps(data, default=str))


def find_report(settings: McpSettings, report_id: str) -> Path:
    from ops.report import list_reports

    for r in list_reports(settings.report_dir):
        if r["id"] == report_id:
            return Path(r["path"])
    raise ToolError(f"no report '{report_id}' under {settings.report_dir} (see report_list)")


def register(server: MCPServer, settings: McpSettings) -> None:
    @server.tool(description="Every target of the env (KIND:NAME) with what Terraform outputs and the lab say of it.")
    @answers
    def estate() -> dict[str, Any]:
        from ops.estate import inventory

        cfg, env = loaded(settings)
        return plain({"env": env.name, "targets": inventory(cfg, env)})

    @server.tool(description="The on-call overview, as `dbops status`: health, writer, lag, connections, backups, "
                             "last drill and budget burn per target.")
    @answers
    def status() -> dict[str, Any]:
        from ops.status import rows

        cfg, env = loaded(settings)
        return plain({"env": env.name, "targets": rows(cfg, env)})

    @server.tool(description="The runbooks and the target kinds each is written for.")
    @answers
    def runbook_list() -> dict[str, list[str]]:
        from ops.runbooks import available

        cfg, _ = loaded(settings)
        return available(cfg)

    @server.tool(description="Runbook NAME rendered with live values of TARGET (KIND:NAME; default: the env's first "
                             "target of a fitting kind), as Markdown.")
    @answers
    def runbook_show(name: str, target: str | None = None) -> str:
        from ops.runbooks import render

        cfg, env = loaded(settings)
        return render(cfg, env, name, target)

    @server.tool(description="Drill and check reports in the server's report directory, oldest first "
                             "(KIND: failover, restore, latency, connections, backup, cost ...).")
    @answers
    def report_list(kind: str | None = None) -> dict[str, Any]:
        from ops.report import list_reports

        rows = [{k: r.get(k) for k in REPORT_FIELDS} for r in list_reports(settings.report_dir, kind)]
        return plain({"report_dir": settings.report_dir, "reports": rows})

    @server.tool(description="One report by id (see report_list): its JSON, or its Markdown with format='md'.")
    @answers
    def report_show(report_id: str, format: Literal["json", "md"] = "json") -> str:
        path = find_report(settings, report_id)
        return path.with_suffix(".md").read_text() if format == "md" else path.read_text()

    for book in _runbook_names(settings):
        _runbook_resource(server, settings, book)

    @server.resource("report://{report_id}", name="report", mime_type="application/json",
                     description="A drill or check report by id (see the report_list tool).")
    def report(report_id: str) -> str:
        try:
            return find_report(settings, report_id).read_text()
        except ToolError as exc:
            raise ResourceNotFoundError(str(exc)) from None


def _runbook_names(settings: McpSettings) -> list[str]:
    from ops.runbooks import available

    cfg, _ = loaded(settings)
    return list(available(cfg))


def _runbook_resource(server: MCPServer, settings: McpSettings, book: str) -> None:
    """runbook://NAME: the runbook rendered now, for the env's default target of its kind."""

    @server.resource(f"runbook://{book}", name=f"runbook {book}", mime_type="text/markdown",
                     description=f"Runbook {book} rendered with live values of the env's default target.")
    def runbook() -> str:
        from ops.errors import DbopsError
        from ops.runbooks import render

        cfg, env = loaded(settings)
        try:
            return render(cfg, env, book, None)
        except DbopsError as exc:
            from mcp.server.mcpserver.exceptions import ResourceError

            raise ResourceError(str(exc)) from None
