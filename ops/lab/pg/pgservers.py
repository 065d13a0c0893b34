"""The servers of a PostgreSQL cluster on loopback: a primary and streaming replicas, their configuration
(WAL archive, replication, the lab's settings), processes, queries, replication and promotion (pg_promote,
pg_rewind or a fresh base backup), base backups, a PgBouncer in front and their status.

lab-pg (ops.lab.pg.pgcluster) and the servers behind each of the lab's Aurora clusters are made of it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ops.errors import LabError
from ops.lab import process, state
from ops.lab.pg import pgbin
from ops.lab.pg import pooler as pooler_mod

NAME = "lab-pg"  # how the lab's messages name a cluster of these servers
KEY = "postgres"  # the lab state file's key of a cluster whose entry has no file of its own (lab-pg)
HOST = "127.0.0.1"
USER = "postgres"
DBNAME = "postgres"
# A postmaster that pg_ctl stop has not stopped: how long -m immediate is given, then how long SIGKILL.
IMMEDIATE_STOP_S = 5.0
KILL_WAIT_S = 5.0

Echo = Callable[[str], None]


def quiet(_: str) -> None:
    pass


@dataclass
class Member:
    name: str
    port: int
    datadir: str
    host: str = HOST
    user: str = USER  # the lab's own superuser on this member (trusted from loopback)

    @property
    def path(self) -> Path:
        return Path(self.datadir)

    def dsn(self, connect_timeout: int = 2) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={DBNAME} connect_timeout={connect_timeout}"


class Cluster:
    """A view over a cluster's entry, with the operations on it.

    lab-pg's entry lives in the lab state file; a cluster whose entry has a "path" (the
    backing clusters of the lab's Aurora) keeps it in that JSON file. An entry may also set
    "admin_user" (the lab's superuser, trusted from loopback), "conf" (extra settings) and
    "hba" (the whole pg_hba.conf).
    """

    def __init__(self, lab_dir: Path, entry: dict[str, Any]) -> None:
        self.lab_dir = lab_dir
        self.entry = entry

    @property
    def admin_user(self) -> str:
        return self.entry.get("admin_user", USER)

    # --- layout -------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return Path(self.entry["root"])

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def backups_dir(self) -> Path:
        return self.root / "backups"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def sync(self) -> bool:
        return self.entry.get("mode") == "sync"

    @property
    def members(self) -> list[Member]:
        return [Member(**{**m, "user": self.admin_user}) for m in self.entry["members"]]

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise LabError(f"{NAME} has no member '{name}' (members: {', '.join(m.name for m in self.members)})")

    def writer(self) -> Member:
        return self.member(self.entry["writer"])

    def writer_port(self) -> int:
        return self.writer().port

    def replicas(self) -> list[Member]:
        return [m for m in self.members if m.name != self.entry["writer"]]

    def save(self) -> None:
        if "path" in self.entry:
            state.write_json(Path(self.entry["path"]), self.entry)
        else:
            state.update(self.lab_dir, KEY, self.entry)

    def multi_host_dsn(self, connect_timeout: int = 2) -> str:
        """A DSN that follows the writer: libpq tries each host and keeps the read-write one."""
        hosts = ",".join(m.host for m in self.members)
        ports = ",".join(str(m.port) for m in self.members)
        return (
            f"host={hosts} port={ports} user={self.admin_user} dbname={DBNAME} "
            f"target_session_attrs=read-write connect_timeout={connect_timeout}"
        )

    # --- configuration --------------------------------------------------------------

    def write_conf(self, m: Member, primary: Member | None, *, replicate: bool = True, sync_names: str | None = None) -> None:
        """dbops.conf, included from postgresql.conf: everything the lab sets on a member.

        primary=None makes the member a primary; replicate=False leaves a replica with no
        upstream and no archive to read (replication cut).
        """
        if sync_names is None:
            sync_names = "*" if self.sync else ""
        lines = [
            f"port = {m.port}",
            f"listen_addresses = '{m.host}'",
            f"unix_socket_directories = '{self.socket_dir}'",
            "wal_level = replica",
            "max_wal_senders = 10",
            "wal_keep_size = '512MB'",
            "hot_standby = on",
            "hot_standby_feedback = on",
            "wal_log_hints = on",
            "track_commit_timestamp = on",
            "wal_receiver_status_interval = '1s'",
            "max_connections = 60",
            "shared_preload_libraries = 'pg_stat_statements'",  # what `dbops query audit` reads
            "archive_mode = on",
            # The copy keeps the segment's mtime: when it was switched away from (ops.lab.pg.pgrestore.archived_until).
            f"archive_command = 'test ! -f {self.archive}/%f && cp --preserve=timestamps %p {self.archive}/%f'",
            "archive_timeout = '60s'",
            "recovery_target_timeline = 'latest'",
            f"synchronous_standby_names = '{sync_names}'",
            "logging_collector = off",
            *self.entry.get("conf", []),
        ]
        if primary is not None and replicate:
            lines.append(f"restore_command = 'cp {self.archive}/%f %p'")
            lines.append(f"primary_conninfo = 'host={primary.host} port={primary.port} user={self.admin_user} application_name={m.name}'")
        else:
            lines.append("restore_command = ''")
            lines.append("primary_conninfo = ''")
        conf = m.path / "dbops.conf"
        conf.write_text("\n".join(lines) + "\n")
        pgbin.own(conf)
        if "hba" in self.entry:
            hba = m.path / "pg_hba.conf"
            hba.write_text("\n".join(self.entry["hba"]) + "\n")
            pgbin.own(hba)
        main_conf = m.path / "postgresql.conf"
        if "include_if_exists = 'dbops.conf'" not in main_conf.read_text():
            with main_conf.open("a") as f:
                f.write("\ninclude_if_exists = 'dbops.conf'\n")
        signal = m.path / "standby.signal"
        if primary is not None:
            signal.touch()
            pgbin.own(signal)
        elif signal.exists():
            signal.unlink()
        # ALTER SYSTEM values would override dbops.conf; the lab never keeps any.
        auto = m.path / "postgresql.auto.conf"
        auto.write_text("# managed by dbops: settings live in dbops.conf\n")
        pgbin.own(auto)

    # --- processes ----------------------------------------------------------------

    def log_path(self, m: Member) -> Path:
        return self.root / f"{m.name}.log"

    def is_running(self, m: Member) -> bool:
        return self.postmaster_pid(m) is not None

    def start_member(self, m: Member, timeout: float = 60.0) -> None:
        if self.is_running(m):
            return
        pgbin.run("pg_ctl", "-D", str(m.path), "-l", str(self.log_path(m)), "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10)

    def stop_member(self, m: Member, mode: str = "fast", timeout: float = 30.0) -> str:
        """Stop m's server, whatever state it is in, within about timeout + IMMEDIATE_STOP_S + KILL_WAIT_S seconds.

        pg_ctl stop -m MODE first; a postmaster that has not stopped by then is hung (SIGSTOPped, stuck
        in I/O) and gets -m immediate, then SIGKILL — itself and its children, which a frozen server's
        backends may be too, so none keeps its shared memory attached. Returns how it stopped: the mode,
        "SIGKILL", or "not running". A server still alive after SIGKILL is a LabError.
        """
        if not self.is_running(m):
            return "not running"
        steps = [(mode, timeout)] + ([("immediate", IMMEDIATE_STOP_S)] if mode != "immediate" else [])
        for how, wait in steps:
            try:
                pgbin.run("pg_ctl", "-D", str(m.path), "-m", how, "-w", "-t", str(max(1, int(wait))), "stop",
                          timeout=wait + 10, check=False)
            except subprocess.TimeoutExpired:
                pass  # pg_ctl itself stuck: the next step does not rely on it
            if not self.is_running(m):
                return how
        pid = self.postmaster_pid(m)
        victims = [pid, *process.children(pid)] if pid is not None else []
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)  # a stopped process dies of SIGKILL all the same
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + KILL_WAIT_S
        while (self.is_running(m) or any(process.is_running(v) for v in victims)) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the backends too are gone: none may keep the server's shared memory
        if self.is_running(m):
            raise LabError(f"{m.name}: the postmaster (pid {pid}) outlived pg_ctl stop -m {mode}, -m immediate and SIGKILL")
        # Its lock files name a pid that may linger as a zombie nobody reaps: the next start would take it for a
        # live server ("lock file ... already exists"). The server and its children are gone.
        for lock in (m.path / "postmaster.pid", self.socket_dir / f".s.PGSQL.{m.port}.lock", self.socket_dir / f".s.PGSQL.{m.port}"):
            lock.unlink(missing_ok=True)
        return "SIGKILL"

    def postmaster_pid(self, m: Member) -> int | None:
        try:
            pid = int((m.path / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        # A pid file left by a crash or a reboot may name a pid that is now another process: only a postgres
        # started on this data directory is m's postmaster (stop_member SIGKILLs it and its children).
        return pid if process.is_running(pid) and process.runs_from(pid, "postgres", m.path) else None

    def reload(self, m: Member) -> None:
        if self.is_running(m):
            pgbin.run("pg_ctl", "-D", str(m.path), "reload")

    def connect(self, m: Member, connect_timeout: int = 2):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(m.dsn(connect_timeout), autocommit=True)

    def query(self, m: Member, sql: str, params: tuple = ()) -> list[tuple]:
        with self.connect(m) as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, m: Member, sql: str, params: tuple = ()) -> None:
        with self.connect(m) as conn:
            conn.execute(sql, params)

    def in_recovery(self, m: Member) -> bool:
        return bool(self.query(m, "SELECT pg_is_in_recovery()")[0][0])

    # --- building -------------------------------------------------------------------

    def base_backup(self, source: Member, dest: Path, echo: Echo = quiet) -> Path:
        pgbin.make_dir(dest.parent, 0o755)
        pgbin.run(
            "pg_basebackup", "-D", str(dest), "-h", source.host, "-p", str(source.port), "-U", self.admin_user,
            "-X", "stream", "-c", "fast", "--no-password", timeout=3600,
        )
        echo(f"{NAME}: base backup of {source.name} in {dest}")
        return dest

    def take_backup(self, echo: Echo = quiet) -> Path:
        """A base backup for PITR: plain format with a manifest, under backups/."""
        dest = self.backups_dir / time.strftime("base-%Y%m%dT%H%M%SZ", time.gmtime())
        n = 0
        while dest.exists():
            n += 1
            dest = dest.with_name(f"{dest.name.split('.')[0]}.{n}")
        return self.base_backup(self.writer(), dest, echo)

    def add_replica(self, m: Member, primary: Member, echo: Echo = quiet) -> None:
        if m.path.exists():
            shutil.rmtree(m.path)
        self.base_backup(primary, m.path)
        self.write_conf(m, primary)
        self.start_member(m)
        echo(f"{NAME}: {m.name} streaming from {primary.name} on port {m.port}")

    # --- failover ---------------------------------------------------------------------

    def cut_replication(self, m: Member) -> None:
        """Stop m from receiving WAL: no upstream, no archive. Test and drill use only."""
        self.write_conf(m, self.writer(), replicate=False)
        self.reload(m)

    def promote(self, m: Member, timeout: float) -> None:
        with self.connect(m) as conn:
            conn.execute("SET statement_timeout = 0")
            ok = conn.execute("SELECT pg_promote(true, %s)", (max(1, int(timeout)),)).fetchone()[0]
        if not ok:
            raise LabError(f"pg_promote on {m.name} did not complete within {timeout:.0f}s")

    def set_writer(self, m: Member) -> None:
        self.entry["writer"] = m.name
        self.save()
        self.repoint_pooler()
        # The config file must say what the member now is, so a restart keeps its role.
        sync_names = "" if self.sync else None  # no standby yet: do not block commits (non-strict sync)
        self.write_conf(m, None, sync_names=sync_names)
        self.reload(m)

    def repoint(self, m: Member, primary: Member) -> None:
        self.write_conf(m, primary)
        self.reload(m)

    def rebuild(self, old: Member, primary: Member, echo: Echo = quiet) -> str:
        """Bring a fenced old primary back as a replica of primary. Returns how."""
        self.stop_member(old)
        # pg_rewind reads the source's timeline from pg_control, which a promotion updates
        # only at its next checkpoint: without one it may see "no rewind required".
        self.execute(primary, "CHECKPOINT")
        self.write_conf(old, primary)  # pg_rewind --restore-target-wal reads the target's restore_command
        proc = pgbin.run(
            "pg_rewind", "--target-pgdata", str(old.path),
            f"--source-server={primary.dsn()}", "--restore-target-wal",
            timeout=600, check=False,
        )
        how = "pg_rewind"
        try:
            if proc.returncode != 0:
                raise LabError(f"pg_rewind: {proc.stderr.strip().splitlines()[-1:]}")
            self.write_conf(old, primary)  # pg_rewind copied the source's config files
            self.start_member(old)
        except LabError as exc:
            echo(f"{NAME}: rewinding {old.name} failed ({exc}); taking a fresh base backup")
            self.stop_member(old, mode="immediate")
            shutil.rmtree(old.path)
            self.base_backup(primary, old.path)
            self.write_conf(old, primary)
            self.start_member(old)
            how = "base backup"
        if self.sync:
            self.write_conf(primary, None)
            self.reload(primary)
        return how

    def wait_streaming(self, m: Member, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                rows = self.query(m, "SELECT status FROM pg_stat_wal_receiver")
                if rows and rows[0][0] == "streaming":
                    return True
            except Exception:  # noqa: BLE001 — still starting up
                pass
            time.sleep(0.2)
        return False

    # --- pooler (lab-pg's PgBouncer) ------------------------------------------------------

    def pooler(self) -> "pooler_mod.Pooler | None":
        entry = self.entry.get("pooler")
        return pooler_mod.Pooler(self.root / "pooler", HOST, entry["port"], self.admin_user) if entry else None

    def start_pooler(self, echo: Echo = quiet) -> None:
        """PgBouncer in front of the writer, when the lab has pgbouncer (the lab works without it)."""
        if pooler_mod.binary() is None:
            echo(f"{NAME}: no pooler (pgbouncer is not installed)")
            return
        if "pooler" not in self.entry:
            self.entry["pooler"] = {"port": process.free_port()}
            self.save()
        p = self.pooler()
        assert p is not None
        pooler_mod.configure(p, HOST, self.writer().port, {self.admin_user: ""})
        pooler_mod.start(p)

    def repoint_pooler(self) -> None:
        p = self.pooler()
        if p is not None and p.pid() is not None:
            pooler_mod.configure(p, HOST, self.writer().port, {self.admin_user: ""})
            pooler_mod.reload(p)

    # --- status ----------------------------------------------------------------------

    def replication_rows(self, samples: int = 5) -> dict[str, dict[str, Any]]:
        """pg_stat_replication on the writer, by member name. A streaming replica whose lag is
        not known yet (the writer has just written and the standby has not reported since) is
        sampled again a few times, 0.2 s apart, before its lag is left unknown."""
        for attempt in range(samples):
            try:
                rows = self.query(
                    self.writer(),
                    "SELECT application_name, state, sync_state, "
                    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, "
                    "EXTRACT(EPOCH FROM replay_lag)::float8 FROM pg_stat_replication",
                )
            except Exception:  # noqa: BLE001 — a writer that is down has no replication to show
                return {}
            out = {r[0]: {"state": r[1], "sync_state": r[2], "lag_bytes": r[3], "lag_s": lag_seconds(r[4], r[3])} for r in rows}
            if attempt + 1 == samples or all(v["lag_s"] is not None or v["state"] != "streaming" for v in out.values()):
                return out
            time.sleep(0.2)
        return {}

    def describe(self) -> list[dict[str, Any]]:
        repl = self.replication_rows()
        out = []
        for m in self.members:
            running = self.is_running(m)
            role = "writer" if m.name == self.entry["writer"] else "replica"
            item: dict[str, Any] = {"name": m.name, "port": m.port, "role": role, "state": "running" if running else "stopped"}
            if running:
                try:
                    item["in_recovery"] = self.in_recovery(m)
                except Exception:  # noqa: BLE001
                    item["state"] = "unreachable"
            if role == "replica":
                r = repl.get(m.name)
                item["replication"] = r["state"] if r else "none"
                item["sync_state"] = r["sync_state"] if r else None
                item["lag_bytes"] = r["lag_bytes"] if r else None
                item["lag_s"] = r["lag_s"] if r else None
            out.append(item)
        return out


def lag_seconds(replay_lag_s: float | None, behind_bytes: int | None) -> float | None:
    """A replica's lag from pg_stat_replication: replay_lag is NULL both when the standby has
    caught up and gone idle and when it has not reported yet, so NULL is 0 only when the
    replica has replayed the writer's current LSN; otherwise the lag is not known."""
    if replay_lag_s is not None:
        return replay_lag_s
    return 0.0 if behind_bytes == 0 else None
