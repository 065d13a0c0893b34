"""drill and janitor: the only tools that change anything, refused unless the server allows them.

A drill runs on TARGET only when the server was started with `--allow-drills TARGET` (KIND:NAME) on an
env that is not protected; the janitor only with `--allow-drills janitor:ENV`. A protected env refuses
both, always. A drill takes only its kind's measuring knobs as options (drill_options.py). Each runs the
same command a shell would (`dbops drill KIND TARGET ... --json`), as a child process bounded in time,
and answers with its verdict and report id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ops.mcp.common import Ran, answers, loaded, refuse, run_dbops
from ops.mcp.drill_options import WORKLOADS_DIR, Option, option_args
from ops.mcp.settings import McpSettings

MAX_TIMEOUT_S = 3600.0


def allowed(settings: McpSettings, kind: str, name: str) -> None:
    if settings.protected:
        raise refuse(f"env '{settings.env}' is protected: drills and the janitor never run over MCP")
    if (kind, name) not in settings.allow_drills:
        raise refuse(f"{kind}:{name} is not allowed: the server was started without --allow-drills {kind}:{name}")


def timeout_of(timeout_s: float) -> float:
    if not 1 <= timeout_s <= MAX_TIMEOUT_S:
        raise ToolError(f"timeout_s {timeout_s:g} is out of range (1 to {MAX_TIMEOUT_S:g} seconds)")
    return timeout_s


def verdict(ran: Ran, what: str) -> dict[str, Any]:
    """The command's verdict and report id; a command that could not run is a tool error with its one line."""
    if not isinstance(ran.data, dict):
        raise ToolError(ran.error.removeprefix("dbops: error: ") or f"{what} exited {ran.exit_code} without an answer")
    paths = ran.data.get("paths") or {}
    return {"exit_code": ran.exit_code, "status": ran.data.get("status"), "summary": ran.data.get("summary"),
            "report_id": Path(paths["json"]).stem if paths.get("json") else None,
            "measurements": ran.data.get("measurements", {})}


def register(server: MCPServer, settings: McpSettings) -> None:
    @server.tool(description="Run a drill on TARGET (KIND:NAME), as `dbops drill KIND TARGET --OPTION=VALUE ...`; "
                             "only on a target the server was started to allow (--allow-drills) and never on a "
                             "protected env. OPTIONS are the kind's measuring knobs (e.g. clients up to 50, rate, "
                             "time; a latency workload by its name in the workloads directory); an option that "
                             "lifts a guard or reaches beyond the target is refused. Answers the verdict and the report id.")
    @answers
    def drill(kind: Literal["failover", "restore", "connections", "latency", "throughput"], target: str,
              options: dict[str, Option] | None = None, timeout_s: float = 600.0) -> dict[str, Any]:
        target_kind, sep, name = target.partition(":")
        if not sep or not target_kind or not name:
            raise ToolError(f"target '{target}' must be KIND:NAME (see the estate tool)")
        allowed(settings, target_kind, name)
        cfg, _ = loaded(settings)
        args = ["drill", kind, target, *option_args(kind, options or {}, cfg.root / WORKLOADS_DIR), "--env", settings.env,
                f"--report-dir={settings.report_dir}"]
        return verdict(run_dbops(settings, args, timeout_of(timeout_s)), f"dbops drill {kind}")

    @server.tool(description="Delete what interrupted drills and etl runs left behind, as `dbops janitor` (dry_run "
                             "lists only); only when the server was started with --allow-drills janitor:ENV, "
                             "never on a protected env.")
    @answers
    def janitor(dry_run: bool = True, timeout_s: float = 600.0) -> dict[str, Any]:
        allowed(settings, "janitor", settings.env)
        args = ["janitor", "--env", settings.env, *(["--dry-run"] if dry_run else [])]
        ran = run_dbops(settings, args, timeout_of(timeout_s))
        if ran.data is None:
            raise ToolError(ran.error.removeprefix("dbops: error: ") or f"dbops janitor exited {ran.exit_code} without an answer")
        return {"exit_code": ran.exit_code, "result": ran.data}
