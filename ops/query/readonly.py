"""Read-only SQL on a target, and the plan of a SELECT with hypothetical-index advice.

A statement passes ops.query.guard first, then runs in a session that cannot write: the transaction
is BEGIN READ ONLY (and default_transaction_read_only is on), with SET LOCAL statement_timeout,
and it is rolled back, never committed. It is sent by the extended query protocol, which takes one
statement only: a second line behind the guard's own count. A SELECT is read through a server-side
cursor in small batches (ops.query.answer), so at most row_limit + 1 rows ever reach this process (the one
more says the result was truncated), fetching stops once the values received pass 1 MB, and the server stops
producing rows there. Values come back JSON-safe, each cut to 8 KB with a marker.

The explain runs EXPLAIN (FORMAT JSON), never ANALYZE, and tries hypothetical indexes (hypopg) for
each sequential scan with the audit's own code (ops.query.plans). hypopg_create_index writes only
this backend's memory, not the catalog, so it works inside the READ ONLY transaction; the indexes are
dropped (hypopg_reset) before the transaction ends and die with the backend in any case.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from ops.errors import CannotRun, UsageError, last_line
from ops.query import guard as guard_mod
from ops.query.answer import MAX_ANSWER_BYTES, MAX_VALUE_BYTES, json_safe, take
from ops.query.plans import Hypothetical, PlanError, generic_plan, ident, try_indexes
from ops.query.sqltext import message
from ops.query.stats import columns, one_statement, read_only_session

APPLICATION = "dbops-mcp-sql"
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Rows:
    kind: str  # SELECT | EXPLAIN | SHOW
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]  # JSON-safe values, each cut to MAX_VALUE_BYTES
    truncated_by: str | None  # "row_limit" | "byte_limit": the statement had more rows than were taken
    row_limit: int
    elapsed_ms: int
    values_cut: int = 0  # values cut to MAX_VALUE_BYTES (each ends in a marker)
    served_by: str = "not measured"  # reader | writer: the role of the server that answered (pg_is_in_recovery)

    @property
    def truncated(self) -> bool:
        return self.truncated_by is not None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": list(self.columns), "rows": [list(r) for r in self.rows],
                "row_count": len(self.rows), "truncated": self.truncated, "truncated_by": self.truncated_by,
                "row_limit": self.row_limit, "max_answer_bytes": MAX_ANSWER_BYTES, "values_cut": self.values_cut,
                "max_value_bytes": MAX_VALUE_BYTES, "served_by": self.served_by, "elapsed_ms": self.elapsed_ms}


def _check_limits(row_limit: int, timeout_ms: int) -> None:
    if not 1 <= row_limit <= 100_000:
        raise UsageError(f"row_limit must be between 1 and 100000, not {row_limit}")
    if not 1 <= timeout_ms <= 600_000:
        raise UsageError(f"statement_timeout_ms must be between 1 and 600000, not {timeout_ms}")


class _Session:
    """Errors of the session said in one line: no DSN, no password, no quoted values."""

    def __init__(self, dsn: str, label: str, timeout_ms: int) -> None:
        self.dsn, self.label, self.timeout_ms = dsn, label, timeout_ms
        self.served_by = "not measured"  # reader | writer once connected (pg_is_in_recovery)

    def __enter__(self) -> Any:
        import psycopg

        self._cm = read_only_session(self.dsn, APPLICATION, self.timeout_ms, CONNECT_TIMEOUT_S)
        try:
            conn = self._cm.__enter__()
        except psycopg.OperationalError as exc:
            raise CannotRun(f"cannot connect to {self.label}: {message(last_line(exc))}") from None
        # The server parses string literals as the guard's parser did, whatever its configuration says.
        conn.execute("SET LOCAL standard_conforming_strings = on")
        # Which role answers: Aurora's reader endpoint resolves to the writer when the cluster has no reader.
        self.served_by = "reader" if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] else "writer"
        return conn

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        import psycopg

        try:
            self._cm.__exit__(None, None, None)
        except psycopg.Error:
            pass  # the rollback or close of a broken connection: the statement's own error is what counts
        if isinstance(exc, psycopg.Error):
            raise _failure(exc, self.timeout_ms, self.label) from None
        return False


def _failure(exc: BaseException, timeout_ms: int, label: str) -> CannotRun:
    import psycopg

    if isinstance(exc, psycopg.errors.QueryCanceled):
        return CannotRun(f"the statement was stopped by its statement timeout of {timeout_ms} ms")
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return CannotRun(f"the READ ONLY transaction refused a write: {message(str(exc))}")
    if _connection_lost(exc):
        return CannotRun(f"the connection to {label} failed: {message(last_line(exc))}")
    return CannotRun(f"the statement failed: {message(str(exc))}")


def _connection_lost(exc: BaseException) -> bool:
    """The connection, not the statement, failed: an error of the client's with no SQLSTATE (the server went away),
    class 08 (connection exception) or the server shutting the session down. psycopg files many statement errors
    under OperationalError too (54000 `null character not permitted`, 53200 out of memory): those are the statement's."""
    import psycopg

    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return not state or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def run_read_only(dsn: str, sql: str, label: str, row_limit: int = 500, timeout_ms: int = 5000) -> Rows:
    """Run one guarded statement in a READ ONLY transaction, rolled back; at most row_limit rows."""
    _check_limits(row_limit, timeout_ms)
    kind = guard_mod.guard(sql)
    session = _Session(dsn, label, timeout_ms)
    with session as conn:
        guard_mod.refuse_volatile(conn, sql)
        started = time.monotonic()
        if kind == "SELECT":
            # A server-side cursor read in small batches: the server makes and sends only the rows taken (and one
            # batch past the byte bound at most), never the whole result into this process.
            with conn.cursor(name="dbops_read_only") as cur:
                cur.execute(sql)
                taken = take(cur.fetchmany, row_limit)
                names = tuple(d.name for d in cur.description or ())
        else:
            cur = one_statement(conn, sql)
            taken = take(cur.fetchmany if cur.description else lambda _: [], row_limit)
            names = tuple(d.name for d in cur.description or ())
        elapsed = int((time.monotonic() - started) * 1000)
    return Rows(kind, names, taken.rows, taken.truncated_by, row_limit, elapsed, taken.values_cut, session.served_by)


@dataclass
class Advice:
    table: str
    scan_filter: str | None
    cost_before: float  # the statement's estimated cost without the index
    best: Hypothetical | None = None
    tried: list[Hypothetical] = field(default_factory=list)
    note: str | None = None  # why there is no advice for this scan

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self.table, "filter": self.scan_filter, "cost_before": self.cost_before,
                               "tried": [{"columns": list(h.columns), "cost_after": h.cost_after, "used": h.used} for h in self.tried]}
        if self.best is not None:
            out.update(index=self.best.definition, cost_after=self.best.cost_after,
                       gain=round(self.best.gain(self.cost_before), 4))
        else:
            out.update(index=None, note=self.note or "no hypothetical index was used by the planner")
        return out


@dataclass(frozen=True)
class Explained:
    plan: dict[str, Any]  # EXPLAIN (FORMAT JSON)'s plan, as PostgreSQL gave it
    total_cost: float
    advice: tuple[Advice, ...]
    hypopg: str | None  # None when hypopg could be used; else why not
    served_by: str = "not measured"  # reader | writer: the role of the server that planned it

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan, "total_cost": self.total_cost, "hypopg": self.hypopg or "available",
                "advice": [a.to_dict() for a in self.advice], "served_by": self.served_by}


def explain(dsn: str, sql: str, label: str, timeout_ms: int = 5000) -> Explained:
    """The plan of one guarded SELECT (no ANALYZE: it is not run) and hypothetical-index advice per sequential scan."""
    _check_limits(1, timeout_ms)
    kind = guard_mod.guard(sql)
    if kind != "SELECT":
        raise UsageError(f"explain takes a SELECT (it adds EXPLAIN itself), not {kind}")
    body = sql.strip()
    # a newline before the end, so a trailing -- comment cannot reach past the body; what is sent is guarded again
    statement = f"EXPLAIN (FORMAT JSON) {body}\n"
    if guard_mod.guard(statement) != "EXPLAIN":
        raise UsageError("explain takes one SELECT")
    session = _Session(dsn, label, timeout_ms)
    with session as conn:
        guard_mod.refuse_volatile(conn, sql)
        doc = one_statement(conn, statement).fetchone()[0]
        root = (doc if isinstance(doc, list) else json.loads(doc))[0]
        hypopg = _hypopg_missing(conn)
        advice = tuple(_advise(conn, body, hypopg))
    return Explained(root, float(root["Plan"].get("Total Cost", 0.0)), advice, hypopg, session.served_by)


def _hypopg_missing(conn: Any) -> str | None:
    db, created = conn.execute("SELECT current_database(), EXISTS (SELECT FROM pg_extension WHERE extname = 'hypopg')").fetchone()
    return None if created else f"hypopg is not created in database {db}: no hypothetical-index advice (CREATE EXTENSION hypopg)"


def _advise(conn: Any, sql: str, hypopg: str | None) -> Iterator[Advice]:
    try:
        plan = generic_plan(conn, sql)
    except PlanError as exc:
        yield Advice("(statement)", None, 0.0, note=f"its plan could not be had for advice: {exc}")
        return
    seen: set[str] = set()
    for scan in plan.seq_scans:
        if scan.qualified in seen:
            continue
        seen.add(scan.qualified)
        oid = conn.execute("SELECT to_regclass(%s)::oid", (f"{ident(scan.schema)}.{ident(scan.table)}",)).fetchone()[0]
        tried, best, why = try_indexes(conn, sql, scan, columns(conn, oid) if oid is not None else [], plan.total_cost, hypopg)
        yield Advice(scan.qualified, scan.filter, plan.total_cost, best, tried, why)
