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
import re
import time
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

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
        os.close(self._open())

    def _open(self) -> int:
        """Opened for appending; created 0600 (the arguments of SQL tools are in it), never briefly readable by others."""
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, default=str, separators=(",", ":")) + "\n"
        fd = self._open()
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def _outcome(result: Any) -> tuple[str, dict[str, Any]]:
    """ok / refused: ... / error: ..., and the counters a tool's structured answer declares for the audit."""
    data = result.model_dump(by_alias=True, exclude_none=True) if hasattr(result, "model_dump") else result
    if not isinstance(data, dict):
        return "ok", {}
    if data.get("isError"):
        texts = [c.get("text", "") for c in data.get("content") or [] if isinstance(c, dict)]
        message = " ".join(t for t in texts if t).strip() or "error"
        return (message if message.startswith(REFUSED) else f"error: {message}"), {}
    structured = data.get("structuredContent") or {}
    counted = {k: structured[k] for k in ("ce_paid_requests",) if isinstance(structured, dict) and k in structured}
    return "ok", counted


def middleware(log: AuditLog, caller_of: Callable[[Any], str]) -> Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]:
    """A server middleware (mcp's `(ctx, call_next)`) that writes one audit line for every tools/call request."""

    async def audit(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method != "tools/call" or ctx.request_id is None:
            return await call_next(ctx)
        params = dict(ctx.params or {})
        entry: dict[str, Any] = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "tool": str(params.get("name", "")),
            "arguments": redact(params.get("arguments") or {}),
            "caller": caller_of(ctx),
        }

        def announce() -> None:
            entry["call"] = uuid.uuid4().hex[:12]
            log.append({**entry, "outcome": "started"})

        starting = _starting.set(announce)  # the SDK runs a sync tool in a thread with a copy of this context
        started = time.monotonic()
        outcome, counted = "error: the call did not complete", {}
        try:
            result = await call_next(ctx)
            outcome, counted = _outcome(result)
            return result
        except Exception as exc:  # a protocol error (unknown method, malformed params): logged, then passed on
            outcome = f"error: {type(exc).__name__}: {exc}"
            raise
        finally:
            _starting.reset(starting)
            entry.update(outcome=outcome, **counted, duration_s=round(time.monotonic() - started, 3))
            log.append(entry)

    return audit
