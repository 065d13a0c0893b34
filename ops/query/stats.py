"""What `dbops query audit` reads, through a session that cannot write.

The session is read-only by construction: every transaction is READ ONLY (the connection's
default_transaction_read_only and the transaction itself), each statement has a timeout,
and nothing is ever committed. Reads: pg_stat_statements (top-level statements of the
current database), pg_stat_user_tables and pg_stat_user_indexes with their sizes, and the
statistics window (when the database's and pg_stat_statements' statistics were last reset).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

AUDIT_TAG = "dbops:query-audit"  # in a comment of every statement the audit sends, so it can leave them out
STATEMENT_TIMEOUT_MS = 5000
LOCK_TIMEOUT_MS = 1000
SESSION_OPTIONS = (f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS} "
                   f"-c lock_timeout={LOCK_TIMEOUT_MS} -c idle_in_transaction_session_timeout=60000")


@dataclass(frozen=True)
class Statement:
    queryid: int
    text: str | None  # pg_stat_statements' normalized text (None: not visible); never put in a report as is
    calls: int
    total_ms: float
    mean_ms: float
    max_ms: float
    rows: int


@dataclass(frozen=True)
class Table:
    oid: int
    schema: str
    name: str
    seq_scan: int
    idx_scan: int
    rows: int  # reltuples (ANALYZE/VACUUM), or the live-tuple counter when larger
    size_bytes: int

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Index:
    oid: int
    table_oid: int
    schema: str
    table: str
    name: str
    idx_scan: int
    size_bytes: int
    unique: bool
    primary: bool
    valid: bool
    constraint: str | None  # p, u, x (exclusion) when the index backs a constraint
    method: str
    keys: tuple[int, ...]  # column numbers; 0 for an expression
    opclasses: tuple[int, ...]
    expressions: str | None
    predicate: str | None
    definition: str


@dataclass(frozen=True)
class Window:
    now: datetime
    database_reset: datetime | None  # pg_stat_database.stats_reset of the current database
    statements_reset: datetime | None  # pg_stat_statements_info.stats_reset
    server_started: datetime

    @property
    def since(self) -> datetime:
        """Start of the statistics the audit reads: the latest reset, else the server's start (a lower bound)."""
        resets = [t for t in (self.database_reset, self.statements_reset) if t is not None]
        return max(resets) if resets else self.server_started

    @property
    def age_s(self) -> float:
        return (self.now - self.since).total_seconds()


@dataclass
class Snapshot:
    database: str
    server_version: str
    in_recovery: bool
    extensions: dict[str, str]  # installed in this database: name -> version
    available: set[str]  # installable on this server
    window: Window
    statements: list[Statement] = field(default_factory=list)
    statements_error: str | None = None  # why pg_stat_statements could not be read
    tables: list[Table] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)


@contextmanager
def read_only_session(dsn: str, application_name: str = "dbops-query-audit", statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
                      connect_timeout_s: int | None = None) -> Iterator[Any]:
    """A connection in a READ ONLY transaction with statement and lock timeouts; rolled back at the end."""
    import psycopg

    from ops.query.endpoints import for_read_only

    extra = {} if connect_timeout_s is None else {"connect_timeout": connect_timeout_s}
    conn = psycopg.connect(for_read_only(dsn), autocommit=False, options=SESSION_OPTIONS, application_name=application_name,
                           prepare_threshold=None, **extra)
    try:
        conn.read_only = True
        conn.execute(f"/* {AUDIT_TAG} */ SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
        yield conn
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


def one_statement(conn: Any, sql: str) -> Any:
    """Execute sql by the extended query protocol, which takes one statement only, and return its cursor. psycopg
    sends a statement without parameters by the simple protocol, which runs any number; in pipeline mode it never does."""
    with conn.pipeline():
        cur = conn.execute(sql)
    return cur


def q(sql: str) -> str:
    """A statement of the audit's own, tagged so it is left out of the statements it reports."""
    return f"/* {AUDIT_TAG} */ {sql}"


def collect(conn: Any, limit: int = 200) -> Snapshot:
    import psycopg

    database, version, in_recovery, now, started, db_reset = conn.execute(q(
        "SELECT current_database(), current_setting('server_version'), pg_is_in_recovery(), now(), "
        "pg_postmaster_start_time(), (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database())")).fetchone()
    extensions = dict(conn.execute(q("SELECT extname, extversion FROM pg_extension")).fetchall())
    available = {r[0] for r in conn.execute(q("SELECT name FROM pg_available_extensions")).fetchall()}
    statements: list[Statement] = []
    statements_error = None
    statements_reset = None
    if "pg_stat_statements" not in extensions:
        where = "installed on this server" if "pg_stat_statements" in available else "available on this server"
        statements_error = (f"pg_stat_statements is not created in database {database} (it is {where}): "
                            "CREATE EXTENSION pg_stat_statements, with the library in shared_preload_libraries")
    else:
        try:
            with conn.transaction():
                statements_reset = conn.execute(q("SELECT stats_reset FROM pg_stat_statements_info")).fetchone()[0]
                rows = conn.execute(q(
                    "SELECT queryid, query, calls, total_exec_time + total_plan_time, mean_exec_time, max_exec_time, rows "
                    "FROM pg_stat_statements "
                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel "
                    "ORDER BY total_exec_time + total_plan_time DESC LIMIT %s"), (limit,)).fetchall()
            statements = [Statement(int(r[0] or 0), r[1], int(r[2]), float(r[3]), float(r[4]), float(r[5]), int(r[6]))
                          for r in rows if not (r[1] or "").lstrip().startswith(f"/* {AUDIT_TAG} */")]
        except psycopg.Error as exc:
            statements_error = f"pg_stat_statements could not be read: {_first_line(exc)}"
    tables = [Table(*r) for r in conn.execute(q(
        "SELECT s.relid::bigint, s.schemaname::text, s.relname::text, coalesce(s.seq_scan, 0), coalesce(s.idx_scan, 0), "
        "greatest(c.reltuples, s.n_live_tup, 0)::bigint, pg_total_relation_size(s.relid) "
        "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid ORDER BY 1")).fetchall()]
    indexes = [Index(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                     tuple(int(x) for x in r[12].split()), tuple(int(x) for x in r[13].split()), r[14], r[15], r[16])
               for r in conn.execute(q(
        "SELECT i.indexrelid::bigint, i.indrelid::bigint, s.schemaname::text, s.relname::text, s.indexrelname::text, "
        "coalesce(s.idx_scan, 0), pg_relation_size(i.indexrelid), i.indisunique, i.indisprimary, i.indisvalid, "
        "(SELECT con.contype::text FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x') LIMIT 1), "
        "am.amname::text, i.indkey::text, i.indclass::text, pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid), "
        "pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid "
        "JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam ORDER BY 1")).fetchall()]
    window = Window(now, db_reset, statements_reset, started)
    return Snapshot(database, version, bool(in_recovery), extensions, available, window, statements, statements_error, tables, indexes)


def columns(conn: Any, table_oid: int) -> list[str]:
    return [r[0] for r in conn.execute(q(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum"),
        (table_oid,)).fetchall()]


def _first_line(exc: BaseException) -> str:
    from ops.query.sqltext import message

    return message(str(exc))
