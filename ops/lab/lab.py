"""The embedded lab: the AWS emulator and, beside it, the local PostgreSQL HA cluster.

Each part has start/stop/status; `up` starts what is not running, `down` stops exactly
what the state file says `up` started, and removes nothing else.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ops.config import Config
from ops.errors import Busy, LabError
from ops.lab import emulator

Echo = Callable[[str], None]


@dataclass(frozen=True)
class LabOptions:
    replicas: int = 1
    sync: bool = False
    with_postgres: bool = True


@contextmanager
def lifecycle(lab_dir: Path) -> Iterator[None]:
    """One `lab up` or `lab down` at a time."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lab_dir / "lifecycle.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"another `dbops lab up` or `lab down` is running on {lab_dir}; wait for it") from None
        yield
    finally:
        os.close(fd)


def up(cfg: Config, opts: LabOptions, echo: Echo) -> dict[str, Any]:
    with lifecycle(cfg.lab_dir):
        entry, started = emulator.start(cfg.lab_dir)
        echo(f"emulator: {'started' if started else 'already running'} at {entry['endpoint']} (pid {entry['pid']})")
        if opts.with_postgres:
            _up_postgres(cfg, opts, echo)
    return status(cfg)


def _up_postgres(cfg: Config, opts: LabOptions, echo: Echo) -> None:
    from ops.lab import pgcluster
    from ops.lease import lab_ledger

    try:
        # A drill that holds lab-pg is moving its members around: starting them now could make two writers.
        lease = lab_ledger(cfg.lab_dir).acquire(f"localpg:{pgcluster.NAME}", "lab-up", hours=1)
    except Busy as exc:
        echo(f"{pgcluster.NAME}: left as it is: {exc}")
        return
    with lease:
        existing = pgcluster.get(cfg.lab_dir)
        if existing is not None and len(existing.replicas()) != opts.replicas:
            echo(f"{pgcluster.NAME}: --replicas {opts.replicas} ignored: the lab already has {len(existing.replicas())} "
                 f"replica(s); `dbops lab down` and remove {existing.root} to create it again with another count")
        cluster, started = pgcluster.start(cfg.lab_dir, replicas=opts.replicas, sync=opts.sync, echo=echo)
        echo(f"{pgcluster.NAME}: {'started' if started else 'already running'}; writer {cluster.entry['writer']} on port {cluster.writer_port()}")


def down(cfg: Config, echo: Echo) -> None:
    from ops.lab import pgcluster

    from ops.lab import aurora

    with lifecycle(cfg.lab_dir):
        for name in pgcluster.stop(cfg.lab_dir):
            echo(f"{name}: stopped")
        echo(f"emulator: {'stopped' if emulator.stop(cfg.lab_dir) else 'was not running'}")
        for name in aurora.stop_all(cfg.lab_dir.resolve()):  # what the emulator did not stop itself
            echo(f"{name}: stopped")


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
