"""Two sessions creating dbops' tables at the same moment: neither fails."""

from __future__ import annotations

import threading
from typing import Callable

import psycopg

from ops.data.ddl import create_if_absent
from ops.lab.pg import pgcluster
from tests.conftest import Cli

SESSIONS, ROUNDS = 6, 10


def errors_creating_at_once(dsn: str, create: Callable[[psycopg.Connection, str], None]) -> list[str]:
    """SESSIONS sessions create each of ROUNDS new tables at once (a barrier per round); the errors they got."""
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(SESSIONS)]
    errors: list[str] = []
    try:
        for r in range(ROUNDS):
            ddl = f"CREATE TABLE IF NOT EXISTS dbops_ddl_race_{r} (k int PRIMARY KEY)"
            barrier = threading.Barrier(SESSIONS)

            def run(conn: psycopg.Connection) -> None:
                barrier.wait(10)
                try:
                    create(conn, ddl)
                except psycopg.Error as exc:
                    errors.append(type(exc).__name__)

            threads = [threading.Thread(target=run, args=(c,)) for c in conns]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for r in range(ROUNDS):
                conn.execute(f"DROP TABLE IF EXISTS dbops_ddl_race_{r}")
        for c in conns:
            c.close()
    return errors


def test_tables_created_by_many_sessions_at_once_never_fail(lab: Cli) -> None:
    """Negative control: the bare statement, run the same way, fails in some round with a unique violation."""
    cluster = pgcluster.get(lab.lab_dir)
    assert cluster is not None
    dsn = cluster.writer().dsn()
    bare = errors_creating_at_once(dsn, lambda conn, ddl: conn.execute(ddl))
    assert "UniqueViolation" in bare, bare
    assert errors_creating_at_once(dsn, create_if_absent) == []
