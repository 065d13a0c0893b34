"""The lab's Aurora PostgreSQL: a real PostgreSQL cluster behind every emulated one.

Runs inside the emulator process and extends moto's RDS backend:

- CreateDBInstance in an aurora-postgresql cluster starts one PostgreSQL server per DB
  instance: the first is the writer (initdb, the master user and password of the cluster, TLS
  with the lab's own certificate, WAL archiving, a base backup), the others stream from it.
  Each instance listens on an address of its own (127.a.b.<10+n>, a network the cluster claims
  by binding its writer endpoint 127.a.b.1, so several labs can run at once) at the cluster's
  port, so the instance endpoints the API returns reach their servers, and the server a
  client reached can tell it which instance it is.
- The cluster (writer) endpoint and the reader endpoint are TCP endpoints on addresses of
  their own that forward to the writer and to the readers (ops.lab.endpoint).
- FailoverDBCluster: the cluster is `failing-over`; the old writer is stopped (its clients
  are cut off), the target reader promoted; then DescribeDBClusters shows the new writer and
  the cluster `available`, with the events RDS-EVENT-0072/0073 (started) and 0071 (completed)
  of the Aurora event list. The old writer comes back as a reader (pg_rewind, else a base
  backup; its instance is `rebooting` meanwhile). The cluster endpoint moves to the new
  writer `aurora_endpoint_delay_s` after the promotion: Aurora's endpoints are DNS names
  with a 5 s TTL (AWS re:Post, "aurora-mysql-redirected-endpoint-writer"; the AWS Advanced
  Python Wrapper's docs measure DNS updates at 15-20 s). Until it moves, new connections
  through it reach the old writer: refused while it restarts, then read-only.
- LatestRestorableTime is what the WAL archive of the backing cluster really holds (the
  last archived segment; archive_timeout 10 s with 1 MB segments; after a segment missing from
  the archive, the last commit before it, where a restore stops), EarliestRestorableTime
  the end of its first base backup. RestoreDBClusterToPointInTime recovers the backing
  cluster's base backup and archived WAL to RestoreToTime exactly into a new cluster, which
  is `creating` until the restored server has ended recovery; CreateDBInstance on it then
  serves that data as its writer. CreateDBClusterSnapshot takes a base backup;
  RestoreDBClusterFromSnapshot starts from it.
- Every 30 s the lab puts AWS/RDS AuroraReplicaLag (ms), DatabaseConnections and
  CPUUtilization of each instance to CloudWatch, measured on the servers.

Limits (README lists them): at most 15 readers per cluster (Aurora's own maximum);
parameter groups are not applied to the servers; one region and account; no storage
autoscaling, no Serverless v2, no global databases; restarting the emulator starts an
empty world, so backing data of an earlier emulator is removed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from ops.lab import pgbin, pgcluster, pgrestore, process, settings
from ops.lab.endpoint import Endpoint

ENGINE = "aurora-postgresql"
ADMIN = "rdsadmin"  # the lab's own superuser on each server, as Aurora has one; trusted from loopback only
MAX_READERS = 15
METRICS_EVERY_S = 30.0
DNS_TTL_S = 5.0
# Small segments and a short archive timeout: the latest restorable time trails by seconds, not minutes.
SERVER_CONF = [
    "unix_socket_directories = ''",
    "archive_timeout = '10s'",
    "shared_buffers = '16MB'",
    "max_connections = 100",
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

settings.register("aurora_endpoint_delay_s", DNS_TTL_S,
                  "seconds after a failover before the cluster endpoint reaches the new writer (Aurora's DNS TTL is 5 s)",
                  minimum=0, maximum=600)
settings.register("aurora_archiving", True, "WAL archiving of the lab's Aurora clusters; off: the latest restorable time stops")

_backings: dict[str, "Backing"] = {}
_registry_lock = threading.RLock()


def lab_dir() -> Path | None:
    value = os.environ.get("DBOPS_LAB_DIR")
    return Path(value) if value else None


def root() -> Path | None:
    d = lab_dir()
    return d / "aurora" if d else None


def _log(message: str) -> None:
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
    cluster: pgcluster.Cluster
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

    def member(self, instance_id: str) -> pgcluster.Member | None:
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
        segment (an idle cluster), else the time that segment was archived."""
        try:
            row = self.cluster.query(self.cluster.writer(), """
                SELECT last_archived_time,
                       last_archived_wal = pg_walfile_name(pg_current_wal_lsn() - 1)
                         AND (pg_walfile_name_offset(pg_current_wal_lsn())).file_offset = 0,
                       now()
                  FROM pg_stat_archiver""")
        except Exception:  # noqa: BLE001 — a writer that is down restores nothing newer
            return None
        last, idle, now = row[0]
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


# --- servers ----------------------------------------------------------------------------------


_tls_lock = threading.RLock()  # clusters made at once must not each write a CA of their own


def _lab_ca(dir_: Path) -> tuple[Path, Path]:
    """The lab's certificate authority: clients verify the lab's servers against it (sslmode=verify-full),
    as they verify Aurora's against the RDS CA bundle. Called under _tls_lock."""
    cert, key = dir_ / "ca.crt", dir_ / "ca.key"
    if cert.exists() and key.exists():
        return cert, key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pgbin.make_dir(dir_, 0o755)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dbops lab CA")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(private, hashes.SHA256()))
    _write_pair(certificate, private, cert, key)
    return cert, key


def _tls(dir_: Path, net: str) -> tuple[Path, Path]:
    """A server certificate, signed by the lab's CA, for every address of one claimed network 127.a.b.*
    (the endpoints, the instances): a client that checks the host name against it (verify-full) passes."""
    with _tls_lock:
        return _server_cert(dir_, net)


def _server_cert(dir_: Path, net: str) -> tuple[Path, Path]:
    cert, key = dir_ / f"{net}.crt", dir_ / f"{net}.key"
    if cert.exists() and key.exists():
        return cert, key
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_cert_path, ca_key_path = _lab_ca(dir_)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    private = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    addresses = [x509.IPAddress(ipaddress.ip_address(f"{net}.{i}")) for i in range(256)]
    certificate = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{net}.0/24")]))
                   .issuer_name(ca_cert.subject).public_key(private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                   .add_extension(x509.SubjectAlternativeName(addresses), critical=False)
                   .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    _write_pair(certificate, private, cert, key)
    return cert, key


def _write_pair(certificate: Any, private: Any, cert: Path, key: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    pgbin.own(cert)
    pgbin.own(key)
    key.chmod(0o600)


def _new_cluster(cluster_id: str, net: str) -> pgcluster.Cluster:
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
    cert, key = _tls(base / "tls", net)
    entry = {
        "name": cluster_id, "root": str(home), "mode": "async", "members": [], "writer": None, "created_at": time.time(),
        "path": str(home / "cluster.json"), "admin_user": ADMIN, "hba": HBA,
        "conf": [*SERVER_CONF, f"ssl_cert_file = '{cert}'", f"ssl_key_file = '{key}'"],
    }
    return pgcluster.Cluster(base.parent, entry)


def _claim_network(port: int) -> tuple[str, Endpoint, Endpoint]:
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


def _create_master(b: Backing, m: pgcluster.Member) -> None:
    import psycopg
    from psycopg import sql

    with b.cluster.connect(m) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} CREATEDB CREATEROLE IN ROLE pg_monitor, pg_signal_backend")
                     .format(sql.Identifier(b.master_user), sql.Literal(b.master_password)))
        conn.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(b.master_user)))
        if b.dbname and b.dbname != pgcluster.DBNAME:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(b.dbname), sql.Identifier(b.master_user)))
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    # Extensions live in each database: the cluster's own database gets pg_stat_statements (and hypopg
    # where installed), as an operator creates them with rds_superuser, whose statistics resets the
    # master user may run, as on Aurora.
    from psycopg.conninfo import make_conninfo

    master = sql.Identifier(b.master_user)
    with psycopg.connect(make_conninfo(m.dsn(), dbname=b.dbname or pgcluster.DBNAME), autocommit=True) as conn:
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
        m = pgcluster.Member(**entry, user=ADMIN)
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
            for name in sorted(b.proxy_targets - set(b.proxies)):  # registered before the cluster had a writer
                start_proxy(b, name)
            _log(f"{b.cluster_id}: writer {instance_id} at {m.host}:{m.port}")
        else:
            c.save()
            c.add_replica(m, c.writer())
            c.wait_streaming(m, 30)
            _log(f"{b.cluster_id}: reader {instance_id} at {m.host}:{m.port}")
        _apply_archiving(b)


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


# --- RDS Proxy -----------------------------------------------------------------------------------


_proxy_nets: dict[str, tuple[str, Endpoint, Endpoint]] = {}  # proxy name -> its claimed network


def proxy_address(name: str) -> str:
    """A proxy's own address, fixed at CreateDBProxy (before it has a target): 127.a.b.3 of a network it claims."""
    if name not in _proxy_nets:
        _proxy_nets[name] = _claim_network(5432)
    return f"{_proxy_nets[name][0]}.3"


def release_proxy_address(name: str) -> None:
    claimed = _proxy_nets.pop(name, None)
    if claimed is not None:
        claimed[1].stop()
        claimed[2].stop()


def start_proxy(b: Backing, name: str) -> str:
    """A DB proxy of the cluster: PgBouncer on its own address at 5432 (RDS Proxy listens on 5432 whatever
    the cluster's port), TLS required, the master user's password, re-pointed at once on a failover."""
    from ops.lab import pooler

    home = Path(b.cluster.entry["root"]) / f"proxy-{name}"
    p = pooler.Pooler(home, proxy_address(name), 5432, ADMIN)
    proxy_address(name)
    cert, key = _tls(root() / "tls", _proxy_nets[name][0])  # type: ignore[operator]
    writer = b.cluster.writer()
    pooler.configure(p, writer.host, writer.port, {b.master_user: b.master_password, ADMIN: secrets.token_urlsafe(16)},
                     tls=(cert, key))
    pooler.start(p)
    b.proxies[name] = p
    return p.listen


def repoint_proxies(b: Backing) -> None:
    from ops.lab import pooler

    writer = b.cluster.writer()
    for p in b.proxies.values():
        text = p.ini.read_text()  # the same settings and auth file, the new writer
        p.ini.write_text("\n".join(f"* = host={writer.host} port={writer.port}" if line.startswith("* = host=") else line
                                   for line in text.splitlines()) + "\n")
        pooler.reload(p)


def stop_proxy(b: Backing, name: str) -> None:
    from ops.lab import pooler

    p = b.proxies.pop(name, None)
    if p is not None:
        pooler.stop(p)


# --- failover ---------------------------------------------------------------------------------


def _event(backend: Any, cluster: Any, message: str) -> None:
    from moto.core.utils import utcnow

    event = type("LabEvent", (), {})()
    event.source_identifier = cluster.db_cluster_identifier
    event.source_type = "db-cluster"
    event.message = message
    event.event_categories = ["failover"]
    event.source_arn = cluster.arn
    event.date = utcnow()
    backend.events.append(event)


def failover(backend: Any, cluster: Any, b: Backing, target: Any) -> None:
    """The real failover behind FailoverDBCluster, in the background as the service does it."""
    old_instance = cluster.writer
    same_az = getattr(old_instance, "availability_zone", None) == getattr(target, "availability_zone", None)
    _event(backend, cluster, f"Started {'same' if same_az else 'cross'} AZ failover to DB instance: {target.db_instance_identifier}")
    cluster._dbops_status = "failing-over"

    def run() -> None:
        with b.lock:
            c = b.cluster
            old, new = c.writer(), c.member(target.db_instance_identifier)
            try:
                c.stop_member(old, mode="fast")  # the old writer goes down: its clients are cut off
                c.promote(new, timeout=60)
                c.set_writer(new)
                for other in c.replicas():
                    if other.name != old.name:
                        c.repoint(other, new)
                c.save()
                old_instance.status = "rebooting"  # it comes back as a reader
                cluster.failover(target)
                cluster._dbops_status = None
                _event(backend, cluster, f"Completed failover to DB instance: {target.db_instance_identifier}")
                delay = float(settings.get("aurora_endpoint_delay_s"))
                if b.writer_endpoint is not None:
                    b.writer_endpoint.point_to((new.host, new.port), after_s=delay)
                repoint_proxies(b)  # a proxy follows the writer itself, without waiting for DNS
                _log(f"{b.cluster_id}: {new.name} promoted; the cluster endpoint follows in {delay:g}s")
            except Exception as exc:  # noqa: BLE001 — the service reports a failed failover as an event
                traceback.print_exc()
                cluster._dbops_status = None
                _event(backend, cluster, "Cluster failover failed, check the health of your cluster instances and try again.")
                _log(f"{b.cluster_id}: failover failed: {exc}")
                return
            try:
                how = c.rebuild(old, new)
                c.wait_streaming(old, 30)
                _log(f"{b.cluster_id}: {old.name} is back as a reader ({how})")
            except Exception:  # noqa: BLE001 — the instance stays out of service; the drill's POST-HA says so
                traceback.print_exc()
                old_instance.status = "incompatible-restore"
                return
            old_instance.status = "available"

    threading.Thread(target=run, name=f"failover-{b.cluster_id}", daemon=True).start()


# --- restores ---------------------------------------------------------------------------------


def register(backend: Any, cluster: Any, master_user: str, master_password: str, dbname: str | None) -> Backing:
    """The cluster's backing, made once: at CreateDBCluster, so its endpoints never change afterwards."""
    with _registry_lock:
        known = _backing_of(cluster.db_cluster_identifier)
        if known is not None:
            known.master_user, known.master_password, known.dbname = master_user, master_password, dbname
            return known
        net, writer, reader = _claim_network(int(cluster.port))
        b = Backing(cluster.db_cluster_identifier, net, int(cluster.port), master_user, master_password, dbname,
                    _new_cluster(cluster.db_cluster_identifier, net), writer_endpoint=writer, reader_endpoint=reader,
                    account=backend.account_id, region=backend.region_name)
        _backings[b.cluster_id] = b
    return b


def restore_to_time(backend: Any, source: Backing, new_cluster: Any, t: datetime, to_end: bool = False) -> None:
    """Recover the source's base backup and archive to t for a new cluster (`creating` until done)."""
    target = register(backend, new_cluster, source.master_user, source.master_password, source.dbname)
    target.ready.clear()  # its instances wait for the recovered data
    new_cluster._dbops_status = "creating"
    new_id = new_cluster.db_cluster_identifier

    def run() -> None:
        try:
            restored = pgrestore.plan(source.cluster, f"pitr-{new_id}")
            try:
                pgrestore.start(source.cluster, restored, t, "2099-01-01T00:00:00Z", _log, timeout=600, to_end=to_end)
                pgrestore.wait(restored, t, timeout=600)
                _log(f"{new_id}: restored to {t.isoformat()} ({pgrestore.recovery_stop_line(restored)})")
                pgbin.run("pg_ctl", "-D", str(restored.datadir), "-m", "fast", "-w", "stop", check=False)
                _adopt(target, restored.datadir)
            finally:
                pgrestore.delete(restored.path)
            new_cluster._dbops_status = None
        except Exception as exc:  # noqa: BLE001 — the cluster says it failed
            traceback.print_exc()
            new_cluster._dbops_status = "failed"
            target.failed = str(exc)
            target.ready.set()
            _log(f"{new_id}: restore failed: {exc}")

    threading.Thread(target=run, name=f"restore-{new_id}", daemon=True).start()


def _adopt(b: Backing, datadir: Path) -> None:
    """The cluster's first instance will serve datadir."""
    pending = Path(b.cluster.entry["root"]) / "restored-data"
    shutil.move(str(datadir), str(pending))
    b.pending_data = pending
    b.cluster.save()
    b.ready.set()


def snapshot(b: Backing, snapshot_id: str) -> None:
    with b.lock:
        dest = snapshots_dir() / snapshot_id
        shutil.rmtree(dest, ignore_errors=True)
        b.cluster.base_backup(b.cluster.writer(), dest)


def snapshots_dir() -> Path:
    base = root()
    assert base is not None
    return base / "snapshots"


def restore_snapshot(backend: Any, snapshot_id: str, new_cluster: Any, master: tuple[str, str, str | None]) -> None:
    """A new cluster started from the base backup a snapshot took (recovery to its end)."""
    target = register(backend, new_cluster, *master)
    target.ready.clear()  # its instances wait for the snapshot's data
    new_cluster._dbops_status = "creating"

    def run() -> None:
        try:
            work = snapshots_dir() / f".{snapshot_id}.{new_cluster.db_cluster_identifier}"
            shutil.copytree(snapshots_dir() / snapshot_id, work, symlinks=True)
            pgbin.own(work)
            work.chmod(0o700)
            _adopt(target, work)
            new_cluster._dbops_status = None
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            new_cluster._dbops_status = "failed"
            target.failed = str(exc)
            target.ready.set()
            _log(f"{new_cluster.db_cluster_identifier}: restore from snapshot {snapshot_id} failed: {exc}")

    threading.Thread(target=run, daemon=True).start()


# --- metrics ----------------------------------------------------------------------------------


def _cpu_ticks(pid: int) -> int:
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(proc.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total


def _postmaster_pid(m: pgcluster.Member) -> int | None:
    try:
        return int((m.path / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


_last_cpu: dict[str, tuple[float, int]] = {}


def measure(b: Backing) -> list[dict[str, Any]]:
    """AWS/RDS datapoints of each instance, measured on its server."""
    data: list[dict[str, Any]] = []
    c = b.cluster
    repl = c.replication_rows()
    from moto.core.utils import utcnow

    now = utcnow()  # the emulator keeps naive UTC times
    for m in c.members:
        if not c.is_running(m):
            continue
        dims = [{"Name": "DBInstanceIdentifier", "Value": m.name}]
        try:
            conns = c.query(m, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename <> %s", (ADMIN,))[0][0]
            data.append({"MetricName": "DatabaseConnections", "Dimensions": dims, "Value": float(conns), "Unit": "Count", "Timestamp": now})
        except Exception:  # noqa: BLE001 — a server restarting has nothing to count
            pass
        pid = _postmaster_pid(m)
        if pid:
            ticks, at = _cpu_ticks(pid), time.monotonic()
            prev = _last_cpu.get(m.name)
            _last_cpu[m.name] = (at, ticks)
            if prev and at > prev[0]:
                hz = os.sysconf("SC_CLK_TCK")
                pct = 100.0 * (ticks - prev[1]) / hz / (at - prev[0]) / (os.cpu_count() or 1)
                data.append({"MetricName": "CPUUtilization", "Dimensions": dims, "Value": max(0.0, pct), "Unit": "Percent", "Timestamp": now})
        if m.name != c.entry["writer"]:
            lag = (repl.get(m.name) or {}).get("lag_s")
            if lag is not None:
                data.append({"MetricName": "AuroraReplicaLag", "Dimensions": dims, "Value": lag * 1000.0, "Unit": "Milliseconds", "Timestamp": now})
    return data


def publish_once(put: Callable[[Backing, list[dict[str, Any]]], None]) -> None:
    for b in list(_backings.values()):
        try:
            with b.lock:
                points = measure(b) if b.cluster.entry["writer"] else []
            if points:
                put(b, points)
        except Exception:  # noqa: BLE001 — a cluster in the middle of a change is measured next time
            pass


_wake = threading.Event()


def _publisher(put: Callable[[Backing, list[dict[str, Any]]], None]) -> None:
    while True:
        publish_once(put)
        _wake.wait(METRICS_EVERY_S)
        _wake.clear()


def _apply_archiving(b: Backing) -> None:
    """aurora_archiving off: archive_command fails, as a broken archive does; on: the real one."""
    c = b.cluster
    on = bool(settings.get("aurora_archiving"))
    conf = [line for line in c.entry["conf"] if not line.startswith("archive_command")]
    if not on:
        conf.append("archive_command = 'false'")
    if conf != c.entry["conf"]:
        c.entry["conf"] = conf
        c.save()
        for m in c.members:
            c.write_conf(m, None if m.name == c.entry["writer"] else c.writer())
            c.reload(m)


# --- the moto patches ---------------------------------------------------------------------------


def _backing_of(cluster_id: str | None) -> Backing | None:
    """Identifiers are case-insensitive in RDS; moto keeps them in lower case."""
    return _backings.get(cluster_id.lower()) if cluster_id else None


def _password_of(cluster: Any) -> str:
    secret = getattr(cluster, "master_user_secret", None)
    if getattr(cluster, "manage_master_user_password", False) and secret is not None:
        return json.loads(secret.secret.secret_string)["password"]
    return getattr(cluster, "_master_user_password", "") or ""


def install() -> None:
    """Patch moto's RDS backend so aurora-postgresql clusters get real servers (no-op without a lab dir)."""
    if root() is None:
        return
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.rds import models as rds

    rds_backend = rds.RDSBackend

    # RDS-managed master secrets hold the cluster's own master user and a random password, as RDS makes them.
    def secret_string(self: Any) -> str:
        return json.dumps({"username": getattr(self.resource, "master_username", None) or "postgres",
                           "password": secrets.token_urlsafe(24)})

    rds.MasterUserSecret._generate_secret_string = secret_string

    status = rds.DBCluster.status
    rds.DBCluster.status = property(lambda self: getattr(self, "_dbops_status", None) or status.fget(self), status.fset)
    for name, addr in (("endpoint", "writer_address"), ("reader_endpoint", "reader_address")):
        original = getattr(rds.DBCluster, name)
        setattr(rds.DBCluster, name, property(
            lambda self, o=original, a=addr: getattr(_backing_of(self.db_cluster_identifier), a, None) or o.fget(self)))
    latest = rds.DBCluster.latest_restorable_time

    def latest_restorable_time(self: Any) -> datetime:
        b = _backing_of(self.db_cluster_identifier)
        if b is None or not b.cluster.entry["members"]:
            return latest.fget(self)
        return b.latest_restorable() or self.earliest_restorable_time

    rds.DBCluster.latest_restorable_time = property(latest_restorable_time)
    address = rds.DBInstance.address

    def instance_address(self: Any) -> str:
        b = _backing_of(getattr(self, "db_cluster_identifier", None))
        found = b.instance_address(self.db_instance_identifier) if b else None
        return found or address.fget(self)

    rds.DBInstance.address = property(instance_address)

    create_cluster = rds_backend.create_db_cluster

    def create_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        cluster = create_cluster(self, kwargs)
        if cluster.engine == ENGINE:
            register(self, cluster, cluster.master_username, _password_of(cluster),
                     getattr(cluster, "database_name", None)).ready.set()
        return cluster

    rds_backend.create_db_cluster = create_db_cluster

    create_instance = rds_backend.create_db_instance

    def create_db_instance(self: Any, db_kwargs: dict[str, Any]) -> Any:
        cluster = self.clusters.get(db_kwargs["db_cluster_identifier"]) if db_kwargs.get("db_cluster_identifier") else None
        if cluster is None or cluster.engine != ENGINE:
            return create_instance(self, db_kwargs)
        cluster_id = cluster.db_cluster_identifier  # as moto keeps it (lower case)
        with _registry_lock:  # concurrent CreateDBInstance calls (Terraform makes instances in parallel) share one backing
            b = _backing_of(cluster_id)
            if b is None:
                b = register(self, cluster, cluster.master_username, _password_of(cluster), getattr(cluster, "database_name", None))
                b.ready.set()
        with b.lock:
            if b.cluster.entry["writer"] is not None and len(b.cluster.replicas()) >= MAX_READERS:
                raise rds.InvalidParameterValue(f"the dbops lab backs at most {MAX_READERS} readers per Aurora cluster")
            instance = create_instance(self, db_kwargs)
        if b.ready.is_set():
            _start_instance(b, instance)
        else:
            # A restored cluster's data is still being recovered: the instance is creating until it serves it.
            instance.status = "creating"
            threading.Thread(target=lambda: (b.ready.wait(900), _start_instance(b, instance)), daemon=True).start()
        return instance

    def _start_instance(b: Backing, instance: Any) -> None:
        if b.failed is not None:
            instance.status = "failed"  # the cluster's data never came to be
            return
        try:
            add_instance(b, instance.db_instance_identifier)
            instance.status = "available"
            _wake.set()  # the new instance's metrics now, not in half a minute
        except Exception:  # noqa: BLE001 — the instance says it failed
            traceback.print_exc()
            instance.status = "failed"

    rds_backend.create_db_instance = create_db_instance

    delete_instance = rds_backend.delete_db_instance

    def delete_db_instance(self: Any, db_instance_identifier: str, *args: Any, **kwargs: Any) -> Any:
        instance = self.databases.get(db_instance_identifier)
        b = _backing_of(getattr(instance, "db_cluster_identifier", None))
        result = delete_instance(self, db_instance_identifier, *args, **kwargs)
        if b is not None:
            remove_instance(b, db_instance_identifier)
        return result

    rds_backend.delete_db_instance = delete_db_instance

    delete_cluster = rds_backend.delete_db_cluster

    def delete_db_cluster(self: Any, cluster_identifier: str, *args: Any, **kwargs: Any) -> Any:
        result = delete_cluster(self, cluster_identifier, *args, **kwargs)
        with _registry_lock:
            b = _backings.pop(cluster_identifier.lower(), None)
        if b is not None:
            with b.lock:
                for name in list(b.proxies):
                    stop_proxy(b, name)
                for ep in (b.writer_endpoint, b.reader_endpoint):
                    if ep is not None:
                        ep.stop()
                home = Path(b.cluster.entry["root"])
                stop_servers(home)
                shutil.rmtree(home, ignore_errors=True)
        return result

    rds_backend.delete_db_cluster = delete_db_cluster

    failover_cluster = rds_backend.failover_db_cluster

    def failover_db_cluster(self: Any, db_cluster_identifier: str, target_db_instance_identifier: str | None = None) -> Any:
        b = _backing_of(db_cluster_identifier)
        if b is None:
            return failover_cluster(self, db_cluster_identifier, target_db_instance_identifier)
        cluster = self.clusters[b.cluster_id]
        if getattr(cluster, "_dbops_status", None):
            raise rds.InvalidDBClusterStateFault(f"DbCluster {db_cluster_identifier} is not in available state ({cluster.status}).")
        chosen: dict[str, Any] = {}
        cluster.failover = lambda target: chosen.setdefault("target", target)  # moto validates, the lab fails over
        try:
            failover_cluster(self, db_cluster_identifier, target_db_instance_identifier)
        finally:
            del cluster.failover
        failover(self, cluster, b, chosen["target"])
        return cluster

    rds_backend.failover_db_cluster = failover_db_cluster

    restore_pitr = rds_backend.restore_db_cluster_to_point_in_time

    def restore_db_cluster_to_point_in_time(self: Any, db_cluster_identifier: str, source_db_cluster_identifier: str,
                                            *args: Any, **kwargs: Any) -> Any:
        source = _backing_of(source_db_cluster_identifier)
        restore_to = kwargs.get("restore_to_time")
        if source is not None and restore_to is not None:
            t = restore_to if isinstance(restore_to, datetime) else datetime.fromisoformat(str(restore_to).replace("Z", "+00:00"))
            t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
            latest_t = source.latest_restorable()
            if latest_t is None or t > latest_t:
                raise rds.InvalidParameterValue(f"The restore time {t.isoformat()} is after the latest restorable time "
                                                f"{latest_t.isoformat() if latest_t else 'none'} of the source cluster.")
        new = restore_pitr(self, db_cluster_identifier, source_db_cluster_identifier, *args, **kwargs)
        if source is not None:
            if restore_to is None:  # UseLatestRestorableTime: all the archive holds
                t = source.latest_restorable() or datetime.now(timezone.utc)
            restore_to_time(self, source, new, t, to_end=restore_to is None)
        return new

    rds_backend.restore_db_cluster_to_point_in_time = restore_db_cluster_to_point_in_time

    create_snapshot = rds_backend.create_db_cluster_snapshot

    def create_db_cluster_snapshot(self: Any, db_cluster_identifier: str, db_cluster_snapshot_identifier: str,
                                   *args: Any, **kwargs: Any) -> Any:
        result = create_snapshot(self, db_cluster_identifier, db_cluster_snapshot_identifier, *args, **kwargs)
        b = _backing_of(db_cluster_identifier)
        if b is not None and b.cluster.entry["writer"]:
            snapshot(b, db_cluster_snapshot_identifier)
        return result

    rds_backend.create_db_cluster_snapshot = create_db_cluster_snapshot

    restore_from_snapshot = rds_backend.restore_db_cluster_from_snapshot

    def restore_db_cluster_from_snapshot(self: Any, from_snapshot_id: str, overrides: dict[str, Any]) -> Any:
        new = restore_from_snapshot(self, from_snapshot_id, overrides)
        snap = self.describe_db_cluster_snapshots(db_cluster_identifier=None, db_snapshot_identifier=from_snapshot_id)[0]
        source_id = (getattr(snap.cluster, "db_cluster_identifier", None) or "").lower()
        if (snapshots_dir() / from_snapshot_id).exists():
            source = _backing_of(source_id)
            master = ((source.master_user, source.master_password, source.dbname) if source else
                      (snap.cluster.master_username, _password_of(snap.cluster), getattr(snap.cluster, "database_name", None)))
            restore_snapshot(self, from_snapshot_id, new, master)
        return new

    rds_backend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot

    get_cfg = rds.DBCluster.get_cfg

    def cluster_cfg(self: Any) -> dict[str, Any]:
        # moto expects a stored password, which a cluster whose master secret RDS manages has not.
        if not hasattr(self, "_master_user_password"):
            self._master_user_password = _password_of(self) or secrets.token_urlsafe(16)
        return get_cfg(self)

    rds.DBCluster.get_cfg = cluster_cfg

    delete_snapshot = rds_backend.delete_db_cluster_snapshot

    def delete_db_cluster_snapshot(self: Any, db_snapshot_identifier: str, *args: Any, **kwargs: Any) -> Any:
        result = delete_snapshot(self, db_snapshot_identifier, *args, **kwargs)
        shutil.rmtree(snapshots_dir() / db_snapshot_identifier, ignore_errors=True)  # its data goes with it
        return result

    rds_backend.delete_db_cluster_snapshot = delete_db_cluster_snapshot

    create_proxy = rds_backend.create_db_proxy

    def create_db_proxy(self: Any, *args: Any, **kwargs: Any) -> Any:
        proxy = create_proxy(self, *args, **kwargs)
        proxy.endpoint = proxy_address(proxy.db_proxy_name)  # reachable from the start, as the service's DNS name is
        return proxy

    rds_backend.create_db_proxy = create_db_proxy

    register_targets = rds_backend.register_db_proxy_targets

    def register_db_proxy_targets(self: Any, db_proxy_name: str, target_group_name: str, db_cluster_identifiers: list[str],
                                  db_instance_identifiers: list[str]) -> Any:
        result = register_targets(self, db_proxy_name, target_group_name, db_cluster_identifiers, db_instance_identifiers)
        for cluster_id in db_cluster_identifiers or []:
            b = _backing_of(cluster_id)
            if b is not None:
                with b.lock:
                    # The target may be registered before the cluster's first instance exists (Terraform orders
                    # the target after the cluster only): the proxy then starts with the writer.
                    b.proxy_targets.add(db_proxy_name)
                    if b.cluster.entry["writer"]:
                        start_proxy(b, db_proxy_name)
        return result

    rds_backend.register_db_proxy_targets = register_db_proxy_targets

    deregister_targets = rds_backend.deregister_db_proxy_targets

    def deregister_db_proxy_targets(self: Any, db_proxy_name: str, target_group_name: str, db_cluster_identifiers: list[str],
                                    db_instance_identifiers: list[str]) -> Any:
        for cluster_id in db_cluster_identifiers or []:
            b = _backing_of(cluster_id)
            if b is not None:
                with b.lock:
                    b.proxy_targets.discard(db_proxy_name)
                    stop_proxy(b, db_proxy_name)
        return deregister_targets(self, db_proxy_name, target_group_name, db_cluster_identifiers, db_instance_identifiers)

    rds_backend.deregister_db_proxy_targets = deregister_db_proxy_targets

    delete_proxy = rds_backend.delete_db_proxy

    def delete_db_proxy(self: Any, proxy_name: str) -> Any:
        for b in list(_backings.values()):
            with b.lock:
                b.proxy_targets.discard(proxy_name)
                stop_proxy(b, proxy_name)
        release_proxy_address(proxy_name)
        return delete_proxy(self, proxy_name)

    rds_backend.delete_db_proxy = delete_db_proxy

    def _on_settings_change() -> None:
        for b in list(_backings.values()):
            with b.lock:
                _apply_archiving(b)

    settings.on_change(_on_settings_change)

    def put(b: Backing, points: list[dict[str, Any]]) -> None:
        cloudwatch_backends[b.account][b.region].put_metric_data("AWS/RDS", points)

    threading.Thread(target=_publisher, args=(put,), name="aurora-metrics", daemon=True).start()
