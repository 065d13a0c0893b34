"""The lab's local PostgreSQL HA cluster `lab-pg`: a primary and streaming replicas on
loopback, a WAL archive and base backups, all under `.lab/pg/`.

It is the stand-in for Aurora's data plane: failover fences the primary and promotes a
replica with pg_promote; the old primary comes back as a replica through pg_rewind
(or a fresh base backup), so the lab is HA again for the next drill.

Its servers are an ops.lab.pg.pgservers cluster; this module is lab-pg's lifecycle: created on first
use, started with every member in a role it can safely have (after an interrupted drill too), its
heartbeat and pooler, stopped, and its status.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ops.errors import LabError
from ops.lab import process, state
from ops.lab.pg import pgbin
from ops.lab.pg import pooler as pooler_mod
from ops.lab.pg.pgservers import KEY, NAME, USER, Cluster, Echo, Member
from ops.lab.pg.pgservers import quiet as _quiet

HEARTBEAT_KEY = "heartbeat"


def start_heartbeat(cluster: "Cluster") -> None:
    entry = state.read(cluster.lab_dir).get(HEARTBEAT_KEY)
    if entry and process.is_running(entry["pid"], entry.get("started")):
        return
    log = open(cluster.root / "heartbeat.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops.lab.pg.heartbeat", cluster.multi_host_dsn(connect_timeout=1)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    state.update(cluster.lab_dir, HEARTBEAT_KEY, {"pid": proc.pid, "started": process.start_time(proc.pid)})


def stop_heartbeat(lab_dir: Path) -> bool:
    entry = state.read(lab_dir).get(HEARTBEAT_KEY)
    if not entry:
        return False
    stopped = process.stop(entry["pid"], entry.get("started"), timeout=5)
    state.update(lab_dir, HEARTBEAT_KEY, None)
    return stopped


def _entry(lab_dir: Path) -> dict[str, Any] | None:
    return state.read(lab_dir).get(KEY)


def get(lab_dir: Path) -> Cluster | None:
    entry = _entry(lab_dir)
    return Cluster(lab_dir, entry) if entry else None


def start(lab_dir: Path, replicas: int = 1, sync: bool = False, echo: Echo = _quiet) -> tuple[Cluster, bool]:
    """Start lab-pg; create it on first use. Returns (cluster, started_now).

    An existing cluster is started as its members really are, not as the state file says:
    see `reconcile`. A running cluster keeps its number of replicas (`replicas` applies at
    creation only; the caller says so).
    """
    cluster = get(lab_dir)
    if cluster and not cluster.entry.get("ready", True):
        # A `lab up` killed while it created lab-pg: its members may lack their settings (a server on the
        # default port) or their base backup; the lab's own data, nothing of value yet: made again.
        echo(f"{NAME}: its creation was interrupted; creating it again")
        stop(lab_dir)
        cluster = None
    if cluster and any(m.path.exists() for m in cluster.members):
        started = reconcile(cluster, echo)
        if cluster.sync != sync:
            cluster.entry["mode"] = "sync" if sync else "async"
            cluster.save()
            for m in cluster.members:
                cluster.write_conf(m, None if m.name == cluster.entry["writer"] else cluster.writer())
                cluster.reload(m)
            echo(f"{NAME}: replication is now {cluster.entry['mode']}")
        start_heartbeat(cluster)
        cluster.start_pooler(echo)
        return cluster, started
    cluster = create(lab_dir, replicas, sync, echo)
    start_heartbeat(cluster)
    cluster.start_pooler(echo)
    return cluster, True


def timeline(cluster: Cluster, m: Member) -> int:
    """The member's timeline: from the server if it runs, else from its control file."""
    if cluster.is_running(m):
        try:
            row = cluster.query(m, "SELECT CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver) "
                                   "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END")
            if row and row[0][0]:
                return int(row[0][0])
        except Exception:  # noqa: BLE001 — fall back to the control file
            pass
    proc = pgbin.run("pg_controldata", str(m.path), check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("Latest checkpoint's TimeLineID:"):
            return int(line.split(":", 1)[1])
    return 0


def configured_primary(m: Member) -> bool:
    return m.path.exists() and not (m.path / "standby.signal").exists()


def reconcile(cluster: Cluster, echo: Echo = _quiet) -> bool:
    """Start every member in the role it can safely have; never start two primaries.

    A drill killed in the middle of a failover can leave two members configured as primary
    (the old writer fenced, the new one promoted) or a replica that diverged from the
    writer. The member on the newest timeline is the writer; every other member is started
    as its replica and, if it does not stream, rebuilt (pg_rewind, else a base backup).
    Returns whether anything was started or rebuilt.
    """
    primaries = [m for m in cluster.members if configured_primary(m)]
    if not primaries:
        raise LabError(f"no member of {NAME} is configured as primary (an interrupted rebuild?); "
                       f"members: {', '.join(m.name for m in cluster.members)} — remove {cluster.root} and run `dbops lab up` again")
    writer = max(primaries, key=lambda m: (timeline(cluster, m), m.name == cluster.entry["writer"]))
    changed = False
    if len(primaries) > 1:
        others = ", ".join(f"{m.name} (timeline {timeline(cluster, m)})" for m in primaries if m is not writer)
        echo(f"{NAME}: {len(primaries)} members are configured as primary; keeping {writer.name} "
             f"(timeline {timeline(cluster, writer)}) and rejoining {others} as replicas")
        for m in primaries:
            if m is not writer:
                cluster.stop_member(m, mode="fast")
    if cluster.entry["writer"] != writer.name:
        echo(f"{NAME}: the state file named {cluster.entry['writer']} the writer; the servers say {writer.name}")
        cluster.entry["writer"] = writer.name
        cluster.save()
    if not cluster.is_running(writer):
        cluster.start_member(writer)
        changed = True
    for m in cluster.replicas():
        if cluster.is_running(m) and not configured_primary(m) and cluster.wait_streaming(m, timeout=2):
            continue
        changed = True
        if m.path.exists() and not configured_primary(m):
            try:
                cluster.write_conf(m, writer)
                if cluster.is_running(m):
                    cluster.reload(m)
                else:
                    cluster.start_member(m)
                if cluster.wait_streaming(m, timeout=15):
                    echo(f"{NAME}: {m.name} streaming from {writer.name}")
                    continue
            except LabError as exc:
                echo(f"{NAME}: {m.name} did not start as a replica ({exc})")
        if m.path.exists():
            how = cluster.rebuild(m, writer, echo)
        else:
            cluster.add_replica(m, writer, echo)
            how = "base backup"
        streaming = cluster.wait_streaming(m, timeout=30)
        echo(f"{NAME}: {m.name} rejoined as a replica of {writer.name} by {how}; {'streaming' if streaming else 'NOT streaming'}")
    return changed


def running_postmasters(root: Path) -> list[Path]:
    """Data directories under root whose postmaster is alive."""
    found = []
    for pid_file in root.rglob("postmaster.pid"):
        try:
            if process.is_running(int(pid_file.read_text().splitlines()[0])):
                found.append(pid_file.parent)
        except (OSError, ValueError, IndexError):
            continue
    return found


# Created in the lab's database at creation: pg_stat_statements (dbops query audit) and, where the
# package is installed (make install), hypopg for hypothetical-index evidence.
EXTENSIONS = ("pg_stat_statements", "hypopg")


def create_extensions(cluster: Cluster, m: Member) -> list[str]:
    with cluster.connect(m) as conn:
        # Before its replicas exist: a synchronous lab's commit would wait for a standby forever.
        conn.execute("SET synchronous_commit = local")
        available = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions WHERE name = ANY(%s)",
                                                (list(EXTENSIONS),)).fetchall()}
        made = [name for name in EXTENSIONS if name in available]
        for name in made:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
    return made


def create(lab_dir: Path, replicas: int, sync: bool, echo: Echo = _quiet) -> Cluster:
    lab_dir.mkdir(parents=True, exist_ok=True)
    pgbin.ensure_traversable(lab_dir.resolve())
    root = lab_dir.resolve() / "pg"
    if root.exists():
        alive = running_postmasters(root)
        if alive:
            raise LabError(f"{root} has running PostgreSQL servers ({', '.join(str(p) for p in alive)}) the lab state does not "
                           f"know of; stop them (pg_ctl -D DIR stop) before `dbops lab up` creates {NAME} again")
        shutil.rmtree(root)
    pgbin.make_dir(root, 0o755)
    members = [{"name": f"pg{i}", "port": process.free_port(), "datadir": str(root / f"pg{i}")} for i in range(replicas + 1)]
    cluster = Cluster(lab_dir, {
        "name": NAME, "root": str(root), "mode": "sync" if sync else "async",
        "members": members, "writer": "pg0", "created_at": time.time(), "ready": False,
    })
    for sub in ("archive", "backups", "sock"):
        pgbin.make_dir(root / sub, 0o755 if sub != "sock" else 0o777)
    cluster.save()
    primary = cluster.writer()
    started = time.monotonic()
    pgbin.run("initdb", "-D", str(primary.path), "-U", USER, "--auth=trust", "-k", "-E", "UTF8", "--locale=C")
    cluster.write_conf(primary, None)
    cluster.start_member(primary)
    create_extensions(cluster, primary)
    echo(f"{NAME}: primary {primary.name} on port {primary.port}")
    for m in cluster.replicas():
        cluster.add_replica(m, primary, echo)
    cluster.take_backup(echo)
    for m in cluster.replicas():
        cluster.wait_streaming(m, 30)
    cluster.entry["ready"] = True
    cluster.save()
    echo(f"{NAME}: ready in {time.monotonic() - started:.1f}s ({cluster.entry['mode']} replication, {replicas} replica(s))")
    return cluster


def stop(lab_dir: Path) -> list[str]:
    cluster = get(lab_dir)
    if not cluster:
        return []
    stopped = [f"{NAME}/heartbeat"] if stop_heartbeat(lab_dir) else []
    p = cluster.pooler()
    if p is not None and pooler_mod.stop(p):
        stopped.append(f"{NAME}/pooler")
    # Replicas first, so the writer's shutdown does not wait on walsenders for long.
    for m in sorted(cluster.members, key=lambda m: m.name == cluster.entry["writer"]):
        if cluster.is_running(m):
            cluster.stop_member(m)
            stopped.append(f"{NAME}/{m.name}")
    return stopped


def status(lab_dir: Path) -> dict[str, Any]:
    cluster = get(lab_dir)
    if not cluster:
        return {"name": NAME, "state": "absent", "members": []}
    members = cluster.describe()
    running = [m for m in members if m["state"] == "running"]
    # Which members really accept writes, as each server says of itself, whatever the state file says.
    primaries = [m["name"] for m in running if m.get("in_recovery") is False]
    overall = "running" if len(running) == len(members) else ("stopped" if not running else "degraded")
    if len(primaries) > 1:
        overall = "split-brain"
    elif running and primaries and primaries != [cluster.entry["writer"]]:
        overall = "writer-mismatch"
    p = cluster.pooler()
    pooled = {"port": p.port, "state": "running" if p.pid() else "stopped"} if p else {"state": "absent"}
    return {"name": NAME, "state": overall, "mode": cluster.entry["mode"], "writer": cluster.entry["writer"],
            "accepting_writes": primaries, "members": members, "pooler": pooled}


def writer_dsn(lab_dir: Path) -> str | None:
    cluster = get(lab_dir)
    if not cluster or not cluster.is_running(cluster.writer()):
        return None
    return cluster.multi_host_dsn()
