"""The cluster-target interface every control-plane adapter offers to the drills."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from datetime import datetime, timezone
from typing import Callable

from ops.clock import wait_for
from ops.errors import CannotRun, UsageError
from ops.targets import TargetRef


def wait_restorable(ref: TargetRef, latest: Callable[[], datetime | None], t: datetime, timeout: float, interval: float,
                    progress: Callable[[str], None]) -> None:
    """Wait until the service's latest restorable time has reached t, saying so while it waits."""
    floor = datetime.min.replace(tzinfo=timezone.utc)
    if not wait_for(f"the latest restorable time of {ref} to reach {t:%H:%M:%S} UTC",
                    lambda: (latest() or floor) >= t, timeout, interval, progress):
        raise CannotRun(f"{ref}: latest restorable time did not reach {t.isoformat()} within {timeout:.0f}s "
                        f"(now {latest() or 'none'})")


@dataclass(frozen=True)
class ClientEndpoint:
    """Where a drill's clients connect: the writer directly, or a pooler in front of it."""

    dsn: str
    label: str
    pool_admin_dsn: str | None = None  # a PgBouncer admin console, when the endpoint is one
    # an RDS Proxy: its name and ConnectionPoolConfig.MaxConnectionsPercent (None: it could not be read)
    proxy: tuple[str, float | None] | None = None
    # the server's DatabaseConnections from CloudWatch: (count, how read) or (None, why not measured)
    connections_metric: Callable[[], tuple[float | None, str]] | None = None
    # the RDS Proxy's DatabaseConnectionsCurrentlyInUse from CloudWatch, as connections_metric
    proxy_in_use: Callable[[], tuple[float | None, str]] | None = None


def parse_host_port(via: str) -> tuple[str, int]:
    """HOST:PORT, an IPv6 address in brackets as in a URL ([::1]:6432): the host without them, as libpq takes it.
    An IPv6 address without brackets is refused: where it ends and the port begins is a guess."""
    host, sep, port = via.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--via {via!r} is not 'pooler' or HOST:PORT (an IPv6 address in brackets: [::1]:PORT)")
    if host.startswith("[") and host.endswith("]") and ":" in host:
        return host[1:-1], int(port)
    if ":" in host or "[" in host or "]" in host:
        raise UsageError(f"--via {via!r}: write an IPv6 address in brackets, [ADDRESS]:PORT (e.g. [::1]:6432)")
    return host, int(port)


def pgbouncer_console(dsn: str) -> str | None:
    """The admin console DSN of a PgBouncer at dsn's host and port, if that endpoint is one."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    admin = make_conninfo(**{**conninfo_to_dict(dsn), "dbname": "pgbouncer", "connect_timeout": "3"})
    try:
        with psycopg.connect(admin, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
            conn.execute("SHOW POOLS").fetchall()
        return admin
    except Exception:  # noqa: BLE001 — not a PgBouncer (or no access to its console): no pool figures
        return None


@dataclass(frozen=True)
class Heal:
    """The outcome of making a cluster whole after a failover: judged, never read from prose."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class MemberState:
    name: str
    role: str  # writer | reader
    status: str  # available | stopped | unreachable | ... (as the control plane says)
    lag_s: float | None = None  # replica lag, None when unknown
    detail: str = ""
    lag_at: datetime | None = None  # when the lag figure was measured (a metric's datapoint); None: at the read

    @property
    def healthy(self) -> bool:
        return self.status == "available"


@dataclass(frozen=True)
class ClusterState:
    name: str
    status: str
    writer: str | None
    members: tuple[MemberState, ...]

    @property
    def readers(self) -> list[MemberState]:
        return [m for m in self.members if m.role == "reader"]

    def member(self, name: str) -> MemberState | None:
        return next((m for m in self.members if m.name == name), None)


class ClusterTarget(Protocol):
    ref: TargetRef

    @property
    def has_data_plane(self) -> bool: ...

    def describe(self, lag: bool = True) -> ClusterState:
        """Writer, readers and status; lag=False skips replica-lag reads (cheap enough to poll)."""

    def current_writer(self) -> str | None:
        """The writer the control plane reports now, in one read (polled while a failover runs)."""

    def failover(self, to: str | None, timeout: float) -> None:
        """Start a failover (optionally to a named reader). May return before it completes."""

    def after_failover(self, old_writer: str, timeout: float) -> Heal:
        """Make the cluster whole again after a failover (ok only when it is seen whole)."""

    def writer_dsn(self) -> str | None:
        """libpq DSN that follows the writer; None where there is no data plane."""
