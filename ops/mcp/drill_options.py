"""The options a drill takes over MCP: each kind's measuring knobs, bounded where a value can hurt.

`--allow-drills KIND:NAME` says a drill may run on a target, not that it may do all a shell can: an option
that reaches beyond the target (another endpoint, another secret), lifts a guard (writes, exhaustion,
throttling, cost) or outlives the drill (a kept restore) is refused, naming why, and so is any option not
listed here. A workload is a script of the workloads directory, by name, never a path.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

from mcp.server.mcpserver.exceptions import ToolError

from ops.mcp.common import refuse

Option = str | int | float | bool | list[str]
Rule = Callable[[str, Option, Path], list[str | None]]  # (name, value, workloads dir) -> values to pass (None: a flag)

# Options the server sets itself (where it acts, where the report goes, how it answers) or that only a person gives.
SERVER_OWNED = frozenset({"env", "config", "confirm", "report-dir", "json", "junit", "publish-metrics", "debug", "help"})
# Enough clients to measure set-up time and pool waits, far below the max_connections of any server dbops drills.
MAX_CLIENTS = 50
# A latency drill's transactions a second, all clients together: a measurement, not a load test of the writer.
MAX_LATENCY_RATE = 1000.0
MAX_CANARY_HZ = 100.0  # the canary's writes a second during a failover; more measures nothing finer
WORKLOADS_DIR = "workloads"  # beside dbops.toml: the repository's pgbench scripts

REFUSED = {
    "via": "it sends the target's master credentials to whatever endpoint it names",
    "secret-arn": "it uses any secret the server's credentials can read",
    "read-write": "it lets the workload write as the target's own user",
    "start-if-stopped": "it starts a stopped cluster, and its bill, for a person to stop again",
    "allow-exhaustion": "it lets the drill take the connections the application needs",
    "allow-throttling": "it lets the drill take the capacity the application needs",
    "allow-replicas": "it loads every replica of a global table",
    "allow-gsi-writes": "it loads indexes whose capacity the drill does not budget",
    "max-cost": "the policy's max_drill_cost_usd is the limit over MCP",
    "keep": "a kept restore lives, and costs, after the drill",
    "keep-hours": "a kept restore lives, and costs, after the drill",
}
_WORKLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_REPORT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:-]*")
_WEIGHT = re.compile(r"@\d{1,5}")


def single(name: str, value: Option) -> str | int | float | bool:
    if isinstance(value, list):
        raise ToolError(f"option '{name}' takes one value, not a list")
    return value


def number(most: float | None = None, whole: bool = False) -> Rule:
    """A finite number (or its text); above `most` refused. The command checks its own range as well."""

    def rule(name: str, value: Option, _: Path) -> list[str]:
        given = single(name, value)
        try:
            if isinstance(given, bool):
                raise ValueError
            x = float(given)
        except ValueError:
            raise ToolError(f"option '{name}' must be a number, not '{given}'") from None
        if not math.isfinite(x):
            raise ToolError(f"option '{name}' must be a finite number, not '{given}'")
        if whole and x != int(x):
            raise ToolError(f"option '{name}' must be a whole number, not '{given}'")
        if most is not None and x > most:
            raise refuse(f"option '{name}' {given} is above {most:g}, the most over MCP")
        return [str(int(x)) if whole else str(given)]

    return rule


def flag(name: str, value: Option, _: Path) -> list[str | None]:
    if not isinstance(value, bool):
        raise ToolError(f"option '{name}' is a flag: true or false, not '{value}'")
    return [None] if value else []


def text(pattern: str) -> Rule:
    allowed = re.compile(pattern)

    def rule(name: str, value: Option, _: Path) -> list[str]:
        given = str(single(name, value))
        if not allowed.fullmatch(given):
            raise ToolError(f"option '{name}' '{given}' is not a value it takes")
        return [given]

    return rule


def choice(*values: str) -> Rule:
    def rule(name: str, value: Option, _: Path) -> list[str]:
        given = str(single(name, value))
        if given not in values:
            raise ToolError(f"option '{name}' must be one of {', '.join(values)}, not '{given}'")
        return [given]

    return rule


def repeated(name: str, value: Option) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def workloads(name: str, value: Option, directory: Path) -> list[str]:
    """NAME[@WEIGHT] of a file in the workloads directory, as pgbench's -f takes it, with the file's full path."""
    out = []
    for spec in repeated(name, value):
        weight = _WEIGHT.search(spec)
        script = spec[:weight.start()] if weight and weight.end() == len(spec) else spec
        suffix = spec[len(script):]
        if not _WORKLOAD_NAME.fullmatch(script):
            raise refuse(f"workload '{spec}' is not a name: over MCP a workload is a script of the workloads "
                         f"directory, by name ({directory})")
        path = directory / script
        if not path.is_file() or not path.resolve().is_relative_to(directory.resolve()):
            known = sorted(p.name for p in directory.glob("*.sql")) if directory.is_dir() else []
            raise refuse(f"workload '{script}' is not in the workloads directory {directory} "
                         f"(there: {', '.join(known) or 'nothing'})")
        out.append(f"{path}{suffix}")
    return out


def defines(name: str, value: Option, _: Path) -> list[str]:
    return repeated(name, value)


def report_id(name: str, value: Option, _: Path) -> list[str]:
    given = str(single(name, value))
    if not _REPORT_ID.fullmatch(given):
        raise refuse(f"baseline '{given}' is not a report id: over MCP a baseline is a report of the report directory, "
                     "by id (report_list)")
    return [given]


ISO_TIME = r"[0-9T:.+Z -]+"
ALLOWED: dict[str, dict[str, Rule]] = {
    "failover": {"to": text(r"[A-Za-z0-9][A-Za-z0-9_.-]*"), "rto": number(), "canary-hz": number(MAX_CANARY_HZ)},
    "restore": {"at": text(ISO_TIME), "minutes-ago": number(), "latest": flag, "timeout": number(), "with-indexes": flag},
    "connections": {"clients": number(MAX_CLIENTS, whole=True), "rate": number(), "time": number(), "query-ms": number(),
                    "ramp": number()},
    "throughput": {"multiplier": number(), "ramp": number(), "time": number(), "window-hours": number(),
                   "baseline-wcu": number(), "baseline-rcu": number(), "p95-ms": number(), "metrics-wait": number()},
    "latency": {"workload": workloads, "rate": number(MAX_LATENCY_RATE), "clients": number(MAX_CLIENTS, whole=True),
                "time": number(whole=True), "endpoint": choice("writer", "reader"), "define": defines,
                "query-class": choice("indexed", "general"), "p95-ms": number(), "baseline": report_id},
}


def option_args(kind: str, options: dict[str, Option], workloads_dir: Path) -> list[str]:
    """--NAME=VALUE for each option the kind allows over MCP (a flag for True, nothing for False, repeated for a list);
    the `=` form keeps a value that starts with '-' a value."""
    rules = ALLOWED[kind]
    args: list[str] = []
    for name, value in options.items():
        name = name.removeprefix("--")
        if name in SERVER_OWNED:
            raise ToolError(f"option '{name}' is set by the server, not by a tool call")
        if name in REFUSED:
            raise refuse(f"option '{name}' is not allowed over MCP: {REFUSED[name]}")
        if name not in rules:
            raise refuse(f"option '{name}' is not an option of the {kind} drill over MCP (allowed: {', '.join(rules)})")
        args += [f"--{name}" if v is None else f"--{name}={v}" for v in rules[name](name, value, workloads_dir)]
    return args
