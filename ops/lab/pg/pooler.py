"""PgBouncer in front of the lab's PostgreSQL, as RDS Proxy stands in front of Aurora.

Debian's pgbouncer (1.18), run as the `postgres` OS user when we are root, in transaction
pooling mode: up to `max_client_conn` clients share `default_pool_size` server connections.
The pooler follows the writer only because the lab re-points it when a failover promotes
a new writer (PgBouncer has no failover detection of its own): `repoint` rewrites its
configuration and reloads it.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ops.errors import LabError
from ops.lab import process
from ops.lab.pg import pgbin

MAX_CLIENT_CONN = 2000
POOL_SIZE = 20
CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def binary() -> str | None:
    found = next((c for c in CANDIDATES if Path(c).exists()), None)
    return found or shutil.which("pgbouncer")


@dataclass(frozen=True)
class Pooler:
    home: Path
    listen: str
    port: int
    admin_user: str

    @property
    def ini(self) -> Path:
        return self.home / "pgbouncer.ini"

    @property
    def pidfile(self) -> Path:
        return self.home / "pgbouncer.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        # A pooler that died (SIGKILL, a FATAL) leaves its pid file; the pid may now be another process's.
        return pid if process.runs_from(pid, "pgbouncer", self.ini) else None

    def dsn(self, user: str, dbname: str) -> str:
        return f"host={self.listen} port={self.port} user={user} dbname={dbname} connect_timeout=5"

    def admin_dsn(self) -> str:
        return self.dsn(self.admin_user, "pgbouncer")


def configure(p: Pooler, server_host: str, server_port: int, users: dict[str, str], tls: tuple[Path, Path] | None = None,
              max_db_connections: int = 0) -> None:
    """Write pgbouncer.ini and its auth file: every database to server_host:server_port (max_db_connections:
    the most server connections it opens for one database, 0 none)."""
    pgbin.make_dir(p.home, 0o755)
    auth = p.home / "userlist.txt"
    auth.write_text("".join(f'"{u}" "{pw}"\n' for u, pw in users.items()))
    auth.chmod(0o600)
    lines = [
        "[databases]",
        f"* = host={server_host} port={server_port}",
        "[pgbouncer]",
        f"listen_addr = {p.listen}",
        f"listen_port = {p.port}",
        "unix_socket_dir =",
        f"pidfile = {p.pidfile}",
        f"logfile = {p.home / 'pgbouncer.log'}",
        f"auth_file = {auth}",
        "auth_type = " + ("scram-sha-256" if any(users.values()) else "trust"),
        f"admin_users = {p.admin_user}",
        f"stats_users = {p.admin_user}",
        "pool_mode = transaction",
        f"max_client_conn = {MAX_CLIENT_CONN}",
        f"default_pool_size = {POOL_SIZE}",
        f"max_db_connections = {max_db_connections}",
        "server_connect_timeout = 3",
        "server_idle_timeout = 10",  # idle server connections go back soon: the lab's servers have few to spare
        "server_login_retry = 1",
        "ignore_startup_parameters = extra_float_digits,options",
    ]
    if tls is not None:
        cert, key = tls
        lines += [f"client_tls_sslmode = require", f"client_tls_cert_file = {cert}", f"client_tls_key_file = {key}",
                  "server_tls_sslmode = require"]
    p.ini.write_text("\n".join(lines) + "\n")
    pgbin.own(p.home)


def start(p: Pooler) -> None:
    exe = binary()
    if exe is None:
        raise LabError("pgbouncer is not installed (Debian package pgbouncer; `make install` installs it when it can)")
    if p.pid() is not None:
        return
    # pgbouncer refuses to start over a pid file whose pid is alive, whoever that pid belongs to now.
    p.pidfile.unlink(missing_ok=True)
    # pgbouncer keeps a descriptor per client: make room for every client it accepts.
    pgbin.run_argv(pgbin.as_pg_user(["sh", "-c", f"ulimit -n {MAX_CLIENT_CONN + 512} && exec {exe} -d {p.ini}"]), "pgbouncer")
    deadline = time.monotonic() + 10
    while not process.port_open(p.listen, p.port, timeout=0.2):
        if time.monotonic() > deadline:
            log = (p.home / "pgbouncer.log").read_text() if (p.home / "pgbouncer.log").exists() else ""
            raise LabError(f"pgbouncer did not start on {p.listen}:{p.port}: {log.strip().splitlines()[-1:] or 'no log'}")
        time.sleep(0.1)


def reload(p: Pooler) -> None:
    pid = p.pid()
    if pid is not None:
        os.kill(pid, signal.SIGHUP)


def stop(p: Pooler) -> bool:
    pid = p.pid()
    return process.stop(pid) if pid is not None else False
