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

    def key(self) -> tuple[str, int]:
        return (self.source, self.seq)


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)


def ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(DDL)


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


def read(conn: psycopg.Connection) -> list[Marker]:
    """Every marker and every failover-canary row, with commit times (exact when commit timestamps are on)."""
    exact = has_commit_timestamps(conn)
    out: list[Marker] = []
    if _exists(conn, TABLE):
        when = "coalesce(pg_xact_commit_timestamp(xmin), written_at)" if exact else "written_at"
        rows = conn.execute(f"SELECT source, seq, {when}, payload FROM {TABLE}").fetchall()
        out += [Marker(r[0], r[1], r[2], r[3]) for r in rows]
    if _exists(conn, CANARY_TABLE):
        when = "coalesce(pg_xact_commit_timestamp(xmin), client_ts)" if exact else "client_ts"
        rows = conn.execute(f"SELECT drill_id, seq, {when}, client_ts::text FROM {CANARY_TABLE}").fetchall()
        out += [Marker(f"canary:{r[0]}", r[1], r[2], r[3]) for r in rows]
    return sorted(out, key=Marker.key)


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


def judge(source: list[Marker], restored: list[Marker], t: datetime, exact: bool) -> RowVerdict:
    """Rows committed at or before t must be in the restore, with equal values; rows after t must not."""
    guard = 0.0 if exact else GUARD_S
    before = [m for m in source if (m.committed_at - t).total_seconds() <= -guard or (exact and m.committed_at <= t)]
    after = [m for m in source if (m.committed_at - t).total_seconds() > guard]
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
