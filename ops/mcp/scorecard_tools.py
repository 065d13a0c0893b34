"""The resilience scorecard and a measurement's trend, read from the report history (nothing is written)."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ops.mcp.common import answers, loaded
from ops.mcp.evidence import plain
from ops.mcp.settings import McpSettings

TREND_POINTS = 500  # the newest points a trend answers with: a long history stays a short answer


def register(server: MCPServer, settings: McpSettings) -> None:
    @server.tool(description="The resilience scorecard, as `dbops scorecard --json`: each target's RTO, lost writes, "
                             "RPO and availability budget judged PolicyMet / PolicyBreached / Unproven against what "
                             "drills measured, and the drift since the last kept scorecard. Targets: KIND:NAME, "
                             "default those with drills in the history. Read only: the card is not kept.")
    @answers
    def scorecard(targets: list[str] | None = None) -> dict[str, Any]:
        from ops.scorecard import build_scorecard

        cfg, env = loaded(settings)
        return plain(build_scorecard(cfg, env.name, settings.report_dir, tuple(targets or ())))

    @server.tool(description="One measurement across the report history, oldest first, as `dbops report trend`: "
                             "each report's time, target, verdict and value ('not measured' with its reason). "
                             "MEASUREMENT defaults by KIND (failover: client_write_downtime_s; restore: "
                             "restore_duration_s; cost: projected_usd).")
    @answers
    def report_trend(kind: str | None = None, target: str | None = None,
                     measurement: str | None = None) -> dict[str, Any]:
        from ops.history import of_env
        from ops.report import list_reports
        from ops.report_html import TREND_DEFAULTS, trend_points

        _, env = loaded(settings)
        measurement = measurement or TREND_DEFAULTS.get(kind or "")
        if not measurement:
            raise ToolError("measurement is needed" + (f" for kind '{kind}'" if kind else " without kind")
                            + f" (defaults: {', '.join(f'{k}: {m}' for k, m in TREND_DEFAULTS.items())})")
        reports = [r for r in list_reports(settings.report_dir, kind) if of_env(r, env)
                   and (target is None or target in str(r.get("target", "")).split(","))]
        points = trend_points(reports, measurement)
        shown = [{**p, "at": p["at"].isoformat(),
                  "value": "not measured" if p["value"] is None else p["value"]} for p in points[-TREND_POINTS:]]
        return plain({"measurement": measurement, "points": shown, "left_out": max(len(points) - TREND_POINTS, 0)})
