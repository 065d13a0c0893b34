"""The servers behind the lab's emulated Aurora clusters: one `Backing` per cluster (a PostgreSQL cluster
of lab-pg's making, one server per DB instance on an address of its own, the writer and reader
endpoints that forward to them), the registry of backings, and starting, stopping and discarding
their servers. Runs inside the emulator process; ops.lab.aws.aurora binds it to moto's RDS API."""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ops.lab import process
from ops.lab.aws import aurora_tls, settings
from ops.lab.aws.endpoint import Endpoint
from ops.lab.pg import pgbin, pgcluster, pgrestore, pgservers

ADMIN = "rdsadmin"  # the lab's own superuser on each server, as Aurora has one; trusted from loopback only
MAX_READERS = 15
SERVER_MAX_CONNECTIONS = 100
# Small segments and a short archive timeout: the latest restorable time trails by seconds, not minutes.
SERVER_CONF = [
    "unix_socket_directories = ''",
    "archive_timeout = '10s'",
    "shared_buffers = '16MB'",
    f"max_connections = {SERVER_MAX_CONNECTIONS}",
    "ssl = on",
    "password_encryption = 'scram-sha-256'",
    "shared_preload_libraries = 'pg_stat_statements'",
    "log_line_prefix = '%m [%p] %u@%d '",
]
HBA = [
    "local all all trust",
    f"host all {ADMIN} 127.0.0.0/8 trust",
    f"host replication {ADMIN} 127.0.0.0/8 trust",
    "hostssl all all 127.0.0.0/8 scram-sha-256",
    "host all all 127.0.0.0/8 scram-sha-256",
]

backings: dict[str, "Backing"] = {}
registry_lock = threading.RLock()


def lab_dir() -> Path | None:
    value = os.environ.get("DBOPS_LAB_DIR")
    return Path(value) if value else None


def root() -> Path | None:
    d = lab_dir()
    return d / "aurora" if d else None


def log(message: str) -> None:
    print(f"[aurora] {message}", flush=True)


@dataclass
class Backing:
    """One emulated Aurora cluster's servers and endpoints."""

    cluster_id: str
    net: str  # 127.a.b: the addresses of this cluster's endpoints and instances
    port: int
    master_user: str
    master_password: str
    dbname: str | None
    cluster: pgservers.Cluster
    writer_endpoint: Endpoint | None = None
    reader_endpoint: Endpoint | None = None
    account: str = "123456789012"
    region: str = "us-east-1"
    pending_data: Path | None = None  # recovered data waiting for the cluster's first instance
    failed: str | None = None  # why the cluster's data could not be made (a restore that failed)
    # Set once the cluster's data exists (at once for a new cluster; when a restore has recovered it).
    ready: threading.Event = field(default_factory=threading.Event)
    lock: threading.RLock = field(default_factory=threading.RLock)
    slots: dict[str, int] = field(default_factory=dict)
    proxies: dict[str, Any] = field(default_factory=dict)  # DB proxy name -> its PgBouncer
    proxy_targets: set[str] = field(default_factory=set)  # DB proxies registered to the cluster, running or not yet
    # While the cluster is stopped: the latest restorable time when it stopped (nothing is written since).
    stopped_restorable: datetime | None = None
    _next_reader: int = 0

    def address(self, slot: int) -> str:
        return f"{self.net}.{slot}"

    @property
    def writer_address(self) -> str:
        return self.address(1)

    @property
    def reader_address(self) -> str:
        return self.address(2)

    def instance_address(self, instance_id: str) -> str | None:
        slot = self.slots.get(instance_id)
        return self.address(10 + slot) if slot is not None else None

    def member(self, instance_id: str) -> pgservers.Member | None:
        return next((m for m in self.cluster.members if m.name == instance_id), None)

    def choose_reader(self) -> tuple[str, int] | None:
        readers = [m for m in self.cluster.replicas() if self.cluster.is_running(m)]
        if not readers:
            return None
        self._next_reader = (self._next_reader + 1) % len(readers)
        m = readers[self._next_reader]
        return (m.host, m.port)

    def latest_restorable(self) -> datetime | None:
        """What the archive can restore to: up to now when no WAL was written after the last archived
        segment (an idle cluster), else the time that segment was switched away from."""
        try:
            row = self.cluster.query(self.cluster.writer(), """
                SELECT last_archived_wal, last_archived_time,
                       last_archived_wal = pg_walfile_name(pg_current_wal_lsn() - 1)
                         AND (pg_walfile_name_offset(pg_current_wal_lsn())).file_offset = 0,
                       now()
                  FROM pg_stat_archiver""")
        except Exception:  # noqa: BLE001 — a writer that is down restores nothing newer
            return None
        last_wal, archived_at, idle, now = row[0]
        last = pgrestore.archived_until(self.cluster.archive, last_wal, archived_at)
        latest = now if idle and last is not None else last
        # A restore replays the base backup and the archive in order (pgrestore, as for lab-pg): it stops at
        # the first segment missing from the archive, and so does the time it can reach.
        try:
            bound = pgrestore.restorable(self.cluster)
        except Exception:  # noqa: BLE001 — the writer went away between the two reads
            return None
        if bound.archive_gap is not None and latest is not None:
            return min(latest, bound.latest) if bound.latest is not None else None
        return latest


def _new_cluster(cluster_id: str, net: str) -> pgservers.Cluster:
    base = root()
    assert base is not None
    home = base / cluster_id
    if home.exists():
        stop_servers(home)
        shutil.rmtree(home)
    pgbin.ensure_traversable(base.parent.resolve())
    pgbin.make_dir(home, 0o755)
    for sub in ("archive", "backups", "sock"):
        pgbin.make_dir(home / sub, 0o755)
    cert, key = aurora_tls.for_network(base / "tls", net)
    entry = {
        "name": cluster_id, "root": str(home), "mode": "async", "members": [], "writer": None, "created_at": time.time(),
        "path": str(home / "cluster.json"), "admin_user": ADMIN, "hba": HBA,
        "conf": [*SERVER_CONF, f"ssl_cert_file = '{cert}'", f"ssl_key_file = '{key}'"],
    }
    return pgservers.Cluster(base.parent, entry)


def claim_network(port: int) -> tuple[str, Endpoint, Endpoint]:
    """Addresses no other lab on this machine uses: owning 127.a.b.1 at the cluster's port (the
    writer endpoint, bound here) claims 127.a.b.*; several labs may run at once."""
    start = secrets.randbelow(200 * 200)
    for n in range(200 * 200):
        a, b = 20 + (start + n) // 200 % 200, 1 + (start + n) % 200
        net = f"127.{a}.{b}"
        try:
            writer = Endpoint(None, host=f"{net}.1", port=port)
        except OSError:
            continue
        try:
            reader = Endpoint(None, host=f"{net}.2", port=port)
        except OSError:
            writer.stop()
            continue
        return net, writer.start(), reader.start()
    raise LabLimit("no free loopback addresses for another Aurora cluster")


def _start_endpoints(b: Backing) -> None:
    writer = b.cluster.writer()
    assert b.writer_endpoint is not None and b.reader_endpoint is not None
    b.writer_endpoint.point_to((writer.host, writer.port))
    b.reader_endpoint.point_to(b.choose_reader)


def _create_master(b: Backing, m: pgservers.Member) -> None:
    import psycopg
    from psycopg import sql

    with b.cluster.connect(m) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} CREATEDB CREATEROLE IN ROLE pg_monitor, pg_signal_backend")
                     .format(sql.Identifier(b.master_user), sql.Literal(b.master_password)))
        conn.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(b.master_user)))
        if b.dbname and b.dbname != pgservers.DBNAME:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(b.dbname), sql.Identifier(b.master_user)))
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    # Extensions live in each database: the cluster's own database gets pg_stat_statements (and hypopg
    # where installed), as an operator creates them with rds_superuser, whose statistics resets the
    # master user may run, as on Aurora.
    from psycopg.conninfo import make_conninfo

    master = sql.Identifier(b.master_user)
    with psycopg.connect(make_conninfo(m.dsn(), dbname=b.dbname or pgservers.DBNAME), autocommit=True) as conn:
        for name in pgcluster.EXTENSIONS:
            if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION pg_stat_reset() TO {}").format(master))
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO {}").format(master))


def _member_entry(b: Backing, instance_id: str) -> dict[str, Any]:
    used = set(b.slots.values())
    slot = next(i for i in range(0, MAX_READERS + 1) if i not in used)
    b.slots[instance_id] = slot
    return {"name": instance_id, "port": b.port, "datadir": str(Path(b.cluster.entry["root"]) / instance_id),
            "host": b.address(10 + slot)}
def add_instance(b: Backing, instance_id: str) -> None:
    """The server of a new DB instance: the writer if the cluster has none yet, else a reader."""
    with b.lock:
        c = b.cluster
        if c.entry["writer"] is not None and len(c.replicas()) >= MAX_READERS:
            raise LabLimit(f"the lab backs at most {MAX_READERS} readers per Aurora cluster")
        entry = _member_entry(b, instance_id)
        c.entry["members"].append(entry)
        m = pgservers.Member(**entry, user=ADMIN)
        if c.entry["writer"] is None:
            c.entry["writer"] = instance_id
            if b.pending_data is not None:
                b.pending_data.rename(m.path)  # the recovered data of a restore becomes the writer
                b.pending_data = None
                (m.path / "recovery.signal").unlink(missing_ok=True)
                (m.path / "standby.signal").unlink(missing_ok=True)
                c.write_conf(m, None)
                c.start_member(m)
            else:
                pgbin.run("initdb", "-D", str(m.path), "-U", ADMIN, "--auth=trust", "-k", "-E", "UTF8", "--locale=C",
                          "--wal-segsize=1")
                c.write_conf(m, None)
                c.start_member(m)
                _create_master(b, m)
            c.save()
            c.take_backup()
            _start_endpoints(b)
            log(f"{b.cluster_id}: writer {instance_id} at {m.host}:{m.port}")
        else:
            c.save()
            c.add_replica(m, c.writer())
            c.wait_streaming(m, 30)
            log(f"{b.cluster_id}: reader {instance_id} at {m.host}:{m.port}")
        apply_archiving(b)


def remove_instance(b: Backing, instance_id: str) -> None:
    with b.lock:
        c = b.cluster
        m = b.member(instance_id)
        if m is None:
            return
        was_writer = c.entry["writer"] == instance_id
        c.stop_member(m, mode="immediate")
        shutil.rmtree(m.path, ignore_errors=True)
        c.entry["members"] = [e for e in c.entry["members"] if e["name"] != instance_id]
        b.slots.pop(instance_id, None)
        if was_writer:
            c.entry["writer"] = None
            if c.entry["members"]:
                new = c.members[0]
                c.promote(new, timeout=60)
                c.set_writer(new)
                for other in c.replicas():
                    c.repoint(other, new)
                if b.writer_endpoint is not None:
                    b.writer_endpoint.point_to((new.host, new.port))
        c.save()


def stop_servers(home: Path) -> None:
    """Stop every server of a backing cluster directory, and its proxies' PgBouncers."""
    for pid_file in home.glob("proxy-*/pgbouncer.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # no pid to stop
        if process.runs_from(pid, "pgbouncer", pid_file.parent / "pgbouncer.ini"):  # a stale file's pid is not ours
            process.stop(pid)
    for pid_file in home.glob("*/postmaster.pid"):
        pgbin.run("pg_ctl", "-D", str(pid_file.parent), "-m", "fast", "-w", "-t", "30", "stop", check=False)


def stop_all(lab: Path) -> list[str]:
    """Stop the servers of every backing cluster under a lab dir (the emulator may be gone already)."""
    stopped = []
    base = lab / "aurora"
    for home in sorted(p for p in base.glob("*") if (p / "cluster.json").exists()):
        running = [p.parent.name for p in home.glob("*/postmaster.pid")]
        stop_servers(home)
        stopped += [f"aurora/{home.name}/{name}" for name in running]
    return stopped


def discard_all(lab: Path) -> None:
    """A new emulator is an empty world: servers and data of the previous one go."""
    stop_all(lab)
    shutil.rmtree(lab / "aurora", ignore_errors=True)


class LabLimit(Exception):
    pass


def register(backend: Any, cluster: Any, master_user: str, master_password: str, dbname: str | None) -> Backing:
    """The cluster's backing, made once: at CreateDBCluster, so its endpoints never change afterwards."""
    with registry_lock:
        known = backing_of(cluster.db_cluster_identifier)
        if known is not None:
            known.master_user, known.master_password, known.dbname = master_user, master_password, dbname
            return known
        net, writer, reader = claim_network(int(cluster.port))
        b = Backing(cluster.db_cluster_identifier, net, int(cluster.port), master_user, master_password, dbname,
                    _new_cluster(cluster.db_cluster_identifier, net), writer_endpoint=writer, reader_endpoint=reader,
                    account=backend.account_id, region=backend.region_name)
        backings[b.cluster_id] = b
    return b


def backing_of(cluster_id: str | None) -> Backing | None:
    """Identifiers are case-insensitive in RDS; moto keeps them in lower case."""
    return backings.get(cluster_id.lower()) if cluster_id else None


def apply_archiving(b: Backing) -> None:
    """aurora_archiving off: archive_command fails, as a broken archive does; on: the real one."""
    c = b.cluster
    on = bool(settings.get("aurora_archiving"))  # registered by ops.lab.aws.aurora
    conf = [line for line in c.entry["conf"] if not line.startswith("archive_command")]
    if not on:
        conf.append("archive_command = 'false'")
    if conf != c.entry["conf"]:
        c.entry["conf"] = conf
        c.save()
        for m in c.members:
            c.write_conf(m, None if m.name == c.entry["writer"] else c.writer())
            c.reload(m)
