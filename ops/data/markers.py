"""Marker rows: the rows a restore test judges a restore by.

Every marker is a row of `dbops_markers` whose commit time is known exactly (PostgreSQL
commit timestamps) — the same clock `recovery_target_time` is compared with. The lab's
heartbeat writes one a second; a restore drill writes its own on both sides of T.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg

from ops.data.ddl import create_if_absent

TABLE = "dbops_markers"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    source     text        NOT NULL,
    seq        bigint      NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload    text        NOT NULL,
    PRIMARY KEY (source, seq)
)
"""
MARKERS_PER_SIDE = 10  # markers a restore drill writes on each side of T
# Without commit timestamps a row's write time may precede its commit by a little: rows that
# close to T are ambiguous and left out of the verdict.
GUARD_S = 0.5


@dataclass(frozen=True)
class Marker:
    source: str
    seq: int
    committed_at: datetime
    payload: str
    # How far the real commit time may be from committed_at, either way (seconds). None: a client's
    # time of unknown skew, judged with GUARD_S; a time read on the service's clock carries its own.
    uncertainty_s: float | None = None

    def key(self) -> tuple[str, int]:
        return (self.source, self.seq)


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)


def ensure_table(conn: psycopg.Connection) -> None:
    create_if_absent(conn, DDL)


def has_commit_timestamps(conn: psycopg.Connection) -> bool:
    return conn.execute("SHOW track_commit_timestamp").fetchone()[0] == "on"


def write(conn: psycopg.Connection, source: str, count: int, interval_s: float = 0.05) -> list[int]:
    """Insert `count` markers, one transaction each; returns their sequence numbers."""
    ensure_table(conn)
    start = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {TABLE} WHERE source = %s", (source,)).fetchone()[0]
    seqs = []
    for i in range(1, count + 1):
        conn.execute(f"INSERT INTO {TABLE} (source, seq, payload) VALUES (%s, %s, md5(random()::text))", (source, start + i))
        seqs.append(start + i)
        if interval_s:
            time.sleep(interval_s)
    return seqs


def remove(conn: psycopg.Connection, drill_id: str) -> int:
    """Delete one drill's markers (sources `<drill id>:<side>`); nobody else's rows."""
    if not _exists(conn, TABLE):
        return 0
    return conn.execute(f"DELETE FROM {TABLE} WHERE split_part(source, ':', 1) = %s", (drill_id,)).rowcount


CANARY_TABLE = "dbops_canary"


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0])


HEARTBEAT = "heartbeat"  # the source of the rows a heartbeat writer puts into the markers' table


def _commit_time(exact: bool) -> str:
    return "coalesce(pg_xact_commit_timestamp(xmin), written_at)" if exact else "written_at"


def read(conn: psycopg.Connection, drill_id: str | None = None) -> list[Marker]:
    """One drill's markers and the heartbeat's rows (drill_id given), else every marker and every
    failover-canary row; with commit times (exact when commit timestamps are on). Another drill's
    markers and canary rows, and the application's rows, are never a drill's evidence."""
    exact = has_commit_timestamps(conn)
    out: list[Marker] = []
    if _exists(conn, TABLE):
        when = _commit_time(exact)
        if drill_id is None:
            rows = conn.execute(f"SELECT source, seq, {when}, payload FROM {TABLE}").fetchall()
        else:
            rows = conn.execute(f"SELECT source, seq, {when}, payload FROM {TABLE} "
                                "WHERE split_part(source, ':', 1) = %s OR source = %s", (drill_id, HEARTBEAT)).fetchall()
        out += [Marker(r[0], r[1], r[2], r[3]) for r in rows]
    if drill_id is None and _exists(conn, CANARY_TABLE):
        when = "coalesce(pg_xact_commit_timestamp(xmin), client_ts)" if exact else "client_ts"
        rows = conn.execute(f"SELECT drill_id, seq, {when}, client_ts::text FROM {CANARY_TABLE}").fetchall()
        out += [Marker(f"canary:{r[0]}", r[1], r[2], r[3]) for r in rows]
    return sorted(out, key=Marker.key)


def count_before(conn: psycopg.Connection, drill_id: str, t: datetime) -> int:
    """Rows of one drill's (its markers, the heartbeat's) committed at or before t."""
    if not _exists(conn, TABLE):
        return 0
    when = _commit_time(has_commit_timestamps(conn))
    return conn.execute(f"SELECT count(*) FROM {TABLE} WHERE (split_part(source, ':', 1) = %s OR source = %s) "
                        f"AND {when} <= %s", (drill_id, HEARTBEAT, t)).fetchone()[0]


def server_now(conn: psycopg.Connection) -> datetime:
    return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def fingerprint(markers: list[Marker]) -> str:
    """An ordered hash of rows: equal only when the same rows hold the same values."""
    h = hashlib.sha256()
    for m in sorted(markers, key=Marker.key):
        h.update(f"{m.source}|{m.seq}|{m.committed_at.isoformat()}|{m.payload}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class RowVerdict:
    expected_present: int
    missing: list[tuple[str, int]]
    expected_absent: int
    unexpected: list[tuple[str, int]]
    ambiguous: int
    source_fingerprint: str
    restored_fingerprint: str

    @property
    def fingerprints_match(self) -> bool:
        return self.source_fingerprint == self.restored_fingerprint


def _slack(m: Marker, exact: bool) -> float:
    if m.uncertainty_s is not None:
        return m.uncertainty_s
    return 0.0 if exact else GUARD_S


def before_t(m: Marker, t: datetime, exact: bool) -> bool:
    """Committed at or before t for certain."""
    return (m.committed_at - t).total_seconds() + _slack(m, exact) <= 0


def after_t(m: Marker, t: datetime, exact: bool, granularity_s: float = 0.0) -> bool:
    """Committed after t for certain; where the service takes whole seconds (granularity 1 s) a restore to
    t may hold all of t's second, so only rows from the next second on are after it."""
    late = (m.committed_at - t).total_seconds() - _slack(m, exact)
    return late >= granularity_s if granularity_s else late > 0


def judge(source: list[Marker], restored: list[Marker], t: datetime, exact: bool,
          t_latest: datetime | None = None, granularity_s: float = 0.0) -> RowVerdict:
    """Rows committed at or before t must be in the restore, with equal values; rows after t must not.

    t_latest: where the service only says the restore's time is between t and t_latest (a restore
    to its latest restorable time), rows between the two are judged neither way.
    """
    before = [m for m in source if before_t(m, t, exact)]
    after = [m for m in source if after_t(m, t_latest or t, exact, granularity_s)]
    ambiguous = len(source) - len(before) - len(after)
    restored_keys = {m.key() for m in restored}
    before_keys = {m.key() for m in before}
    missing = sorted(m.key() for m in before if m.key() not in restored_keys)
    unexpected = sorted(m.key() for m in after if m.key() in restored_keys)
    restored_before = [m for m in restored if m.key() in before_keys]
    return RowVerdict(
        expected_present=len(before), missing=missing,
        expected_absent=len(after), unexpected=unexpected, ambiguous=ambiguous,
        source_fingerprint=fingerprint(before), restored_fingerprint=fingerprint(restored_before),
    )
