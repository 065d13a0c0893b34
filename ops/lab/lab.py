"""The embedded lab: the AWS emulator and, beside it, the local PostgreSQL HA cluster.

Each part has start/stop/status; `up` starts what is not running, `down` stops exactly
what the state file says `up` started, and removes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ops.config import Config
from ops.lab import emulator

Echo = Callable[[str], None]


@dataclass(frozen=True)
class LabOptions:
    replicas: int = 1
    sync: bool = False
    with_postgres: bool = True


def up(cfg: Config, opts: LabOptions, echo: Echo) -> dict[str, Any]:
    entry, started = emulator.start(cfg.lab_dir)
    echo(f"emulator: {'started' if started else 'already running'} at {entry['endpoint']} (pid {entry['pid']})")
    if opts.with_postgres:
        from ops.lab import pgcluster

        cluster, started = pgcluster.start(cfg.lab_dir, replicas=opts.replicas, sync=opts.sync, echo=echo)
        echo(f"{pgcluster.NAME}: {'started' if started else 'already running'}; writer on port {cluster.writer_port()}")
    return status(cfg)


def down(cfg: Config, echo: Echo) -> None:
    from ops.lab import pgcluster

    for name in pgcluster.stop(cfg.lab_dir):
        echo(f"{name}: stopped")
    echo(f"emulator: {'stopped' if emulator.stop(cfg.lab_dir) else 'was not running'}")


def status(cfg: Config) -> dict[str, Any]:
    from ops.lab import pgcluster

    entry = emulator.running(cfg.lab_dir)
    return {
        "lab_dir": str(cfg.lab_dir),
        "emulator": (
            {"state": "running", "endpoint": entry["endpoint"], "pid": entry["pid"]} if entry else {"state": "stopped"}
        ),
        "postgres": pgcluster.status(cfg.lab_dir),
    }


def env_lines(cfg: Config) -> list[str]:
    """Shell export lines for the running lab."""
    entry = emulator.running(cfg.lab_dir)
    if not entry:
        return []
    lines = [
        f"export AWS_ENDPOINT_URL={entry['endpoint']}",
        "export AWS_ACCESS_KEY_ID=testing",
        "export AWS_SECRET_ACCESS_KEY=testing",
        f"export AWS_DEFAULT_REGION={cfg.env('lab').region if 'lab' in cfg.envs else 'us-east-1'}",
    ]
    from ops.lab import pgcluster

    dsn = pgcluster.writer_dsn(cfg.lab_dir)
    if dsn:
        lines.append(f"export DBOPS_LAB_PG_DSN='{dsn}'")
    return lines
