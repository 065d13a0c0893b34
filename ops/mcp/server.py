"""The `dbops mcp` server: an MCPServer (mcp 2.x) built from the settings and the tool modules.

Each tool module exposes `register(server, settings)`. Every tool call passes through the audit
middleware, which writes one line per call to REPORT_DIR/mcp-audit.jsonl.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from typing import Any, Callable

import anyio
from mcp.server.mcpserver import MCPServer

from ops.errors import ConfigError
from ops.mcp import arguments, audit, prompts
from ops.mcp.common import call_slots
from ops.mcp.messages import tool_errors_in_one_line
from ops.mcp.settings import McpSettings

TOOL_MODULES = ("ops.mcp.evidence", "ops.mcp.scorecard_tools", "ops.mcp.sql_tools", "ops.mcp.cost_tools",
                "ops.mcp.drill_tools", "ops.mcp.prompts")

INSTRUCTIONS = """dbops: the database estate of env '{env}' ({mode}).
Read-only tools: estate, status, runbook_list/runbook_show, report_list/report_show, scorecard, report_trend,
cost_check, sql_query/sql_explain (one SELECT, EXPLAIN or SHOW, on the reader), query_audit, lake_tables/lake_query.
drill and janitor run only on what the server was started to allow ({allowed}).
A figure a report does not give is 'not measured': never estimate one."""


def build(settings: McpSettings, caller: Callable[[Any], str]) -> MCPServer:
    allowed = ", ".join(sorted(f"{k}:{n}" for k, n in settings.allow_drills)) or "nothing"
    mode = "protected" if settings.protected else "unprotected"
    server = MCPServer("dbops", instructions=INSTRUCTIONS.format(env=settings.env, mode=mode, allowed=allowed),
                       log_level="WARNING")
    log = audit.AuditLog(settings.report_dir)
    try:
        log.check_writable()
    except OSError as exc:
        raise ConfigError(f"the audit log {log.path} cannot be written ({exc.strerror or exc}): "
                          "the server does not start without it") from None
    server.middleware.append(audit.middleware(log, caller))  # outermost: it logs the line the client gets
    server.middleware.append(arguments.checked(server))  # before a slot is taken: a bad call waits for nothing
    server.middleware.append(call_slots())  # inside the audit: a call refused as busy is logged as refused
    server.middleware.append(tool_errors_in_one_line)
    server.middleware.append(prompts.answered_in_one_line(server))
    for name in TOOL_MODULES:
        importlib.import_module(name).register(server, settings)
    return server


def stdio_caller(_ctx: Any) -> str:
    """Over stdio the caller is the process that started the server."""
    return f"stdio pid {os.getppid()}"


# What the server meets when its client has gone: a write to a closed pipe, a stream closed under it.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, anyio.BrokenResourceError, anyio.ClosedResourceError)


def client_gone(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(client_gone(e) for e in exc.exceptions)
    return isinstance(exc, CLIENT_GONE)


def run_stdio(settings: McpSettings) -> None:
    """Serve until the client closes stdin; a client that goes away mid-call ends the server quietly (the call in
    flight has finished, and its audit line is written, before its answer meets the closed pipe)."""
    server = build(settings, stdio_caller)
    try:
        server.run("stdio")
    except BaseException as exc:
        if not client_gone(exc):
            raise
        # stdout is a broken pipe: Python's own flush at exit would print one more error to stderr
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_http(settings: McpSettings, sock: socket.socket, token: str, announce: Callable[[], None]) -> None:
    """Serve on a socket already bound; `announce` says where once the server is built (its audit log writable)."""
    from ops.mcp import http

    with sock:
        server = build(settings, http.caller)
        app = http.BearerGate(server.streamable_http_app(host=http.LOOPBACK), token)
        announce()
        http.serve(app, sock)
