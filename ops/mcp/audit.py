"""The audit log: one JSON line per tool call in REPORT_DIR/mcp-audit.jsonl.

A line says when, which tool, the arguments as given (values under keys named like a secret
replaced; a statement under `sql` with its constants masked, and the sha256 of its full text), who
called (never a token: its short fingerprint), the outcome and how long it took; a call that starts a
command (a drill, the janitor) has a "started" line before it too. It never holds what a tool returned:
no row of data reaches the log. The file is created 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import math
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from ops.query.sqltext import safe_message

AUDIT_FILE = "mcp-audit.jsonl"
REFUSED = "refused: "  # the first words of a tool error that is a refusal, not a failure
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|credential|api[_-]?key|auth", re.IGNORECASE)
REDACTED = "[redacted]"
# What a tool calls just before it starts a command (a drill, the janitor), set per call by the middleware.
_starting: ContextVar[Callable[[], None] | None] = ContextVar("dbops_mcp_starting", default=None)


def mark_started() -> None:
    """Before a command that may run for minutes: the call's "started" line, so a server killed while the command
    runs still leaves one (the line after it, with the outcome, carries the same `call`)."""
    announce = _starting.get()
    if announce is not None:
        announce()


SQL_KEY = "sql"
# The scanner's constants: strings of every quoting (E'', $$, U&''), bit strings, numbers; and comments, which
# hold whatever their writer put there.
_MASKS = {**dict.fromkeys(("SCONST", "USCONST", "BCONST", "XCONST"), "'?'"), **dict.fromkeys(("ICONST", "FCONST"), "?"),
          **dict.fromkeys(("SQL_COMMENT", "C_COMMENT"), "/*?*/")}


def masked_sql(value: Any) -> dict[str, str]:
    """The statement with each constant replaced by ? ('?' for a string) and each comment by /*?*/, as
    pg_stat_statements normalizes it, plus the sha256 of the full text; only the hash when it does not scan."""
    text = str(value)
    out = {"sha256": hashlib.sha256(text.encode()).hexdigest()}
    if not isinstance(value, str):
        return out
    from pglast import parser

    try:
        tokens = parser.scan(text)
    except Exception:  # noqa: BLE001 — pglast's ParseError and any other scanner failure: the hash alone is logged
        return out
    masked = text
    for token in reversed(tokens):  # from the end, so the offsets of the earlier tokens still hold
        mask = _MASKS.get(token.name)
        if mask is not None:
            masked = masked[:token.start] + mask + masked[token.end + 1:]
    return {"masked": masked, **out}


def redact(value: Any) -> Any:
    """The arguments as given, with the value of every key named like a secret replaced and every statement masked
    (at any depth)."""
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else masked_sql(v) if k == SQL_KEY else redact(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


class AuditLog:
    """Appends one line per call; each line is one write to a file opened for appending, so lines never interleave."""

    def __init__(self, report_dir: Path) -> None:
        self.path = report_dir / AUDIT_FILE

    def check_writable(self) -> None:
        """Before serving: a server that cannot write its audit log does not start (OSError names the path)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(self.open())

    def open(self) -> int:
        """Opened for appending; created 0600 (the arguments of SQL tools are in it), never briefly readable by others."""
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, entry: dict[str, Any], fd: int | None = None) -> None:
        """One line, through `fd` when the call holds the file open already."""
        line = json_line(entry).encode()
        if fd is not None:
            os.write(fd, line)
            return
        fd = self.open()
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def json_line(entry: dict[str, Any]) -> str:
    """Strict JSON: a number that is not finite (NaN, Infinity, as a client may send one) is written as a string."""
    try:
        return json.dumps(entry, default=str, separators=(",", ":"), allow_nan=False) + "\n"
    except ValueError:
        return json.dumps(_finite(entry), default=str, separators=(",", ":"), allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _request_error(exc: Exception) -> str:
    """What failed in a malformed request, without the values given (pydantic's input_value repeats them)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors(include_input=False)]
        return "invalid request: " + "; ".join(problems)
    return f"{type(exc).__name__}: {exc}"


def logged_arguments(arguments: Any) -> Any:
    """The arguments redacted; arguments that are not an object (a malformed call) only as the hash of their text."""
    if arguments is None or isinstance(arguments, dict):
        return redact(arguments or {})
    return {"sha256": hashlib.sha256(str(arguments).encode()).hexdigest()}


def not_audited(log: AuditLog, exc: OSError) -> Any:
    """The answer to a call whose audit line cannot be written: it is refused before anything runs."""
    from mcp.types import CallToolResult, TextContent

    said = f"{REFUSED}the audit log {log.path} cannot be written ({exc.strerror or exc}): the call was not run"
    print(f"dbops mcp: {said}", file=sys.stderr, flush=True)  # the operator's side: the log cannot say it
    return CallToolResult(content=[TextContent(type="text", text=said)], is_error=True)


def _outcome(result: Any) -> tuple[str, dict[str, Any]]:
    """ok / refused: ... / error: ..., and the counters a tool's structured answer declares for the audit."""
    data = result.model_dump(by_alias=True, exclude_none=True) if hasattr(result, "model_dump") else result
    if not isinstance(data, dict):
        return "ok", {}
    if data.get("isError"):
        texts = [c.get("text", "") for c in data.get("content") or [] if isinstance(c, dict)]
        message = " ".join(t for t in texts if t).strip() or "error"
        return safe_message(message if message.startswith(REFUSED) else f"error: {message}"), {}
    structured = data.get("structuredContent") or {}
    counted = {k: structured[k] for k in ("ce_paid_requests",) if isinstance(structured, dict) and k in structured}
    return "ok", counted


def middleware(log: AuditLog, caller_of: Callable[[Any], str]) -> Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]:
    """A server middleware (mcp's `(ctx, call_next)`) that writes one audit line for every tools/call request."""

    async def audit(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method != "tools/call" or ctx.request_id is None:
            return await call_next(ctx)
        params = ctx.params if isinstance(ctx.params, dict) else {}
        entry: dict[str, Any] = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "tool": str(params.get("name", "")),
            "arguments": logged_arguments(params.get("arguments")),
            "caller": caller_of(ctx),
        }
        try:  # held open for the whole call: a call whose line cannot be written never runs
            fd = log.open()
        except OSError as exc:
            return not_audited(log, exc)

        def announce() -> None:
            entry["call"] = uuid.uuid4().hex[:12]
            log.append({**entry, "outcome": "started"}, fd)

        starting = _starting.set(announce)  # the SDK runs a sync tool in a thread with a copy of this context
        started = time.monotonic()
        outcome, counted = "error: the call did not complete", {}
        try:
            result = await call_next(ctx)
            outcome, counted = _outcome(result)
            return result
        except Exception as exc:  # a protocol error (unknown method, malformed params): logged, then passed on
            outcome = safe_message(f"error: {_request_error(exc)}")
            raise
        finally:
            _starting.reset(starting)
            entry.update(outcome=outcome, **counted, duration_s=round(time.monotonic() - started, 3))
            try:
                log.append(entry, fd)
            finally:
                os.close(fd)

    return audit
