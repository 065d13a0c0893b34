"""What every tool module shares: the config in the server's env, dbops errors as tool errors,
refusals said as such, a bound on calls that reach out at once, and a dbops command run as a
subprocess with --json."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from ops import config as config_mod
from ops.errors import describe
from ops.mcp.audit import REFUSED, mark_started
from ops.mcp.http import TOKEN_ENV
from ops.mcp.settings import McpSettings

F = TypeVar("F", bound=Callable[..., Any])


def loaded(settings: McpSettings) -> tuple[config_mod.Config, config_mod.EnvConfig]:
    """The config as `dbops --config` loads it, narrowed to the server's env (read per call: reports and outputs change)."""
    cfg = config_mod.load(settings.config_path).for_env(settings.env)
    return cfg, cfg.env(settings.env)


def refuse(message: str) -> ToolError:
    """A tool error the audit log records as a refusal (outcome `refused: ...`)."""
    return ToolError(REFUSED + message)


def answers(fn: F) -> F:
    """A dbops error (or an AWS or database error dbops can say in one line) becomes a tool error with that line."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ToolError:
            raise
        except Exception as exc:
            known = describe(exc)
            if known is None:
                raise
            raise ToolError(known.strip() or type(exc).__name__) from None  # the client gets one line (messages.one_line)

    return wrapper  # type: ignore[return-value]


# Calls that may open a database connection, ask AWS or start a command, at once per server: the SDK runs each
# sync tool in a thread (40 at most), and an assistant asking in parallel would hold that many connections.
MAX_CONCURRENT_CALLS = 4
SLOT_WAIT_S = 30.0  # how long a call waits for a slot before it is refused as busy
# Tools that only read the report directory and the runbooks: they take no slot.
FILES_ONLY = frozenset({"runbook_list", "report_list", "report_show", "scorecard", "report_trend"})


def call_slots(most: int = MAX_CONCURRENT_CALLS) -> Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]:
    """A server middleware (one per server) letting `most` tool calls that reach out run at once; a call that finds
    none free within SLOT_WAIT_S is refused as busy (every other tool, FILES_ONLY, passes at once)."""
    slots = anyio.Semaphore(most)

    async def bounded(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method != "tools/call" or str((ctx.params or {}).get("name")) in FILES_ONLY:
            return await call_next(ctx)
        with anyio.move_on_after(SLOT_WAIT_S):
            async with slots:
                return await call_next(ctx)
        busy = (f"{REFUSED}busy: {most} calls that reach a database, AWS or a command are running; ask again when "
                f"one has answered (waited {SLOT_WAIT_S:g} s)")
        return CallToolResult(content=[TextContent(type="text", text=busy)], is_error=True)

    return bounded


@dataclass(frozen=True)
class Ran:
    exit_code: int
    data: Any  # the command's --json output, or None when it printed none
    error: str  # its stderr's last line: what a command that could not run said


# What a drill stopped at its timeout is given to clean up before SIGKILL: a failover's heal may wait 600 s
# (heal_timeout_s) and a restore's cleanup its deletion wait (600 s), and a drill killed in them leaves its
# report unwritten and its leftovers to the janitor.
STOP_GRACE_S = 900.0


def child_environ(settings: McpSettings) -> dict[str, str]:
    """The server's environment for a command it runs, in its config, without the bearer token (a drill needs none)."""
    environ = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if settings.config_path is not None:
        environ["DBOPS_CONFIG"] = str(settings.config_path)
    return environ


def run_dbops(settings: McpSettings, args: list[str], timeout_s: float) -> Ran:
    """`dbops ARGS --json` in the server's config, as a child process bounded in time (the same code a shell runs)."""
    mark_started()
    proc = subprocess.Popen([sys.executable, "-m", "ops", *args, "--json"], env=child_environ(settings), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        # SIGTERM first: a drill aborts cleanly (cleanup runs, its report says aborted); SIGKILL only if it hangs
        proc.terminate()
        try:
            proc.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise ToolError(f"dbops {' '.join(args[:2])} did not finish within {timeout_s:g} s (stopped)") from None
    try:
        data = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        data = None
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return Ran(proc.returncode, data, lines[-1] if lines else "")
