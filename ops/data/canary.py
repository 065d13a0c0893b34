"""The canary writer and its verifier: what a client sees during a failover.

The writer inserts increasing sequence numbers at a fixed rate and records, for every
acknowledged commit, the client time and which server acknowledged it (its address and
port as the server itself reports them, so a proxy or a moving DNS name cannot hide a
change of writer). Every refused write is kept with its SQLSTATE and the server it
reached. It reconnects on any failure through a DSN that follows the writer. The verifier
reads the new writer afterwards: an acknowledged sequence number that is missing there is
a lost write.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import psycopg

from ops.data.ddl import create_if_absent

TABLE = "dbops_canary"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    drill_id  text        NOT NULL,
    seq       bigint      NOT NULL,
    client_ts timestamptz NOT NULL,
    PRIMARY KEY (drill_id, seq)
)
"""
# Dead peers must surface in seconds, not at the kernel's default of minutes.
CLIENT_OPTIONS = "keepalives=1 keepalives_idle=1 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=3000"


READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction: the server reached is no longer a writer
# Which server acknowledged the write, in the server's own words.
SERVER_ID = "coalesce(host(inet_server_addr()), 'local') || ':' || current_setting('port')"


@dataclass(frozen=True)
class Ack:
    seq: int
    at: float  # monotonic time the commit was acknowledged
    wall: float  # epoch seconds of the same moment
    server: str = ""  # address:port of the server that acknowledged it


@dataclass(frozen=True)
class Failure:
    seq: int
    at: float
    error: str
    sqlstate: str | None = None
    server: str | None = None  # address:port the connection had reached, when it had

    @property
    def read_only(self) -> bool:
        return self.sqlstate == READ_ONLY_SQLSTATE


@dataclass
class CanaryLog:
    acks: list[Ack] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    reconnects: int = 0

    @property
    def acked_seqs(self) -> set[int]:
        return {a.seq for a in self.acks}

    def refused_read_only(self, since: float | None = None) -> int:
        return sum(1 for f in self.failures if f.read_only and (since is None or f.at >= since))


def client_dsn(dsn: str) -> str:
    return f"{dsn} {CLIENT_OPTIONS} application_name=dbops-canary"


def ensure_table(dsn: str) -> None:
    with psycopg.connect(client_dsn(dsn), autocommit=True) as conn:
        create_if_absent(conn, DDL)


class Canary:
    """Writes to the writer at `hz` in a background thread until stopped."""

    def __init__(self, dsn: str, drill_id: str, hz: float = 20.0, clock: Callable[[], float] = time.monotonic) -> None:
        if hz <= 0:
            raise ValueError("canary rate must be positive")
        self.dsn = client_dsn(dsn)
        self.drill_id = drill_id
        self.interval = 1.0 / hz
        self.clock = clock
        self.log = CanaryLog()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dbops-canary", daemon=True)
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()
        self.stopped_at: float | None = None  # once stopped, nothing more is measured: an outage ends here

    def start(self) -> "Canary":
        ensure_table(self.dsn)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> CanaryLog:
        if self.stopped_at is None:
            self.stopped_at = self.clock()
        self._stop.set()
        if self._thread.ident is None:  # never started
            return self.log
        self._thread.join(timeout)
        if self._thread.is_alive() and self._conn is not None:
            # A commit still waiting (e.g. on a synchronous standby): break the socket.
            try:
                self._conn.pgconn.finish()
            except Exception:  # noqa: BLE001
                pass
            self._thread.join(5)
        return self.log

    def wait_for_acks(self, count: int, timeout: float) -> bool:
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            if len(self.log.acks) >= count:
                return True
            time.sleep(self.interval)
        return False

    def outage_so_far(self, since: float) -> float:
        """The longest stretch without an ack since `since`, the silence up to now included while the canary
        writes; once it is stopped, up to when it stopped (a rollback after it is not client downtime)."""
        end = self.stopped_at if self.stopped_at is not None else self.clock()
        return longest_outage(list(self.log.acks), since, end)

    def acks_after(self, t: float) -> int:
        return sum(1 for a in self.log.acks if a.at > t)

    def steady_on_new_writer(self, old_server: str, after: float, count: int) -> float | None:
        """When the last `count` attempts were all acknowledged by a server other than old_server.

        Returns the time of the first ack of that run, or None while there is no such run:
        writes are steady on a new writer only when consecutive attempts succeed there.
        """
        attempts = sorted([(a.at, a.server) for a in self.log.acks if a.at > after]
                          + [(f.at, None) for f in self.log.failures if f.at > after])
        run = attempts[-count:]
        if len(run) < count or any(server is None or server == old_server for _, server in run):
            return None
        return run[0][0]

    def _reached(self) -> str | None:
        conn = self._conn
        if conn is None or conn.closed:
            return None
        try:
            return f"{conn.info.hostaddr or conn.info.host}:{conn.info.port}"
        except Exception:  # noqa: BLE001 — a broken connection may not say where it was
            return None

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.dsn, autocommit=True)
        self.log.reconnects += 1
        return conn

    def _run(self) -> None:
        seq = 0
        next_at = self.clock()
        while not self._stop.is_set():
            seq += 1  # a failed attempt never reuses its number: it may have committed anyway
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                wall = time.time()
                server = self._conn.execute(
                    f"INSERT INTO {TABLE} (drill_id, seq, client_ts) VALUES (%s, %s, to_timestamp(%s)) RETURNING {SERVER_ID}",
                    (self.drill_id, seq, wall),
                ).fetchone()[0]
                now = self.clock()
                self.log.acks.append(Ack(seq, now, time.time(), server))
            except Exception as exc:  # noqa: BLE001 — every failure is data for the drill
                text = str(exc).strip()
                self.log.failures.append(Failure(seq, self.clock(), text.splitlines()[0][:200] if text else type(exc).__name__,
                                                 getattr(exc, "sqlstate", None), self._reached()))
                if self._conn is not None:
                    try:
                        self._conn.close()
                    except Exception:  # noqa: BLE001
                        pass
                    self._conn = None
            next_at += self.interval
            now = self.clock()
            if next_at < now:
                next_at = now  # behind after an outage: resume the rate, do not burst
            self._stop.wait(max(0.0, next_at - now))
        if self._conn is not None:
            self._conn.close()


def present_seqs(dsn: str, drill_id: str) -> set[int]:
    with psycopg.connect(client_dsn(dsn), autocommit=True) as conn:
        rows = conn.execute(f"SELECT seq FROM {TABLE} WHERE drill_id = %s", (drill_id,)).fetchall()
    return {r[0] for r in rows}


def lost_writes(acked: set[int], present: set[int]) -> list[int]:
    """Acknowledged sequence numbers that the database does not have."""
    return sorted(acked - present)


def longest_gap_spanning(acks: list[Ack], start: float, end: float) -> float | None:
    """The longest gap between consecutive acks that overlaps [start, end].

    None when no ack followed the window: writes never came back.
    """
    times = sorted(a.at for a in acks)
    if not any(t >= end for t in times):
        return None
    longest = 0.0
    prev: float | None = None
    for t in times:
        if prev is not None and t > prev and prev <= end and t >= start:
            longest = max(longest, t - prev)
        prev = t
    return longest


def longest_outage(acks: list[Ack], start: float, end: float) -> float:
    """The longest stretch without an ack that overlaps [start, end], the stretch from the
    last ack to `end` included: a lower bound of the downtime when writes never came back."""
    times = sorted(a.at for a in acks if a.at <= end)
    longest, prev = 0.0, None
    for t in times:
        if prev is not None and t >= start:
            longest = max(longest, t - prev)
        prev = t
    return max(longest, end - (prev if prev is not None else start))


def servers_in_order(acks: list[Ack]) -> list[tuple[str, int]]:
    """The servers that acknowledged writes, in order, with how many acks each run had."""
    runs: list[tuple[str, int]] = []
    for a in sorted(acks, key=lambda a: a.at):
        if runs and runs[-1][0] == a.server:
            runs[-1] = (a.server, runs[-1][1] + 1)
        else:
            runs.append((a.server, 1))
    return runs


def purge(dsn: str, drill_id: str) -> int:
    """Delete one drill's canary rows (and nobody else's)."""
    with psycopg.connect(client_dsn(dsn), autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()[0]:
            return 0
        return conn.execute(f"DELETE FROM {TABLE} WHERE drill_id = %s", (drill_id,)).rowcount


MAX_RUNS = 400  # a report keeps at most this many runs of attempts, however long the drill or flappy the writer


def attempt_runs(log: CanaryLog, t0: float, max_runs: int = MAX_RUNS) -> list[dict[str, object]]:
    """Every attempt of the canary, relative to t0, compressed into runs of equal outcome.

    An outcome is "acknowledged" (with the server that acknowledged it), "read-only" (refused by a server that
    no longer takes writes) or "refused" (any other failure). A run is {"from", "to", "outcome", "server", "n"}:
    a drill of ten minutes with a steady writer is a handful of runs, not its thousands of attempts. A writer
    that flaps past `max_runs` has neighbouring runs merged (`ops.report_html.fold_runs`): the counts and the
    span of time stay exact, and a run that merged different outcomes says "mixed".
    """
    from ops.report_html import fold_runs

    attempts = sorted([(a.at, "acknowledged", a.server) for a in log.acks]
                      + [(f.at, "read-only" if f.read_only else "refused", "") for f in log.failures])
    runs: list[dict[str, object]] = []
    for at, outcome, server in attempts:
        t = round(at - t0, 3)
        last = runs[-1] if runs else None
        if last is not None and last["outcome"] == outcome and last["server"] == server:
            last["to"], last["n"] = t, int(last["n"]) + 1  # type: ignore[call-overload]
        else:
            runs.append({"from": t, "to": t, "outcome": outcome, "server": server, "n": 1})
    return fold_runs(runs, max_runs)
