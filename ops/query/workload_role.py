"""A workload that must not write: a role of its own that cannot, and the evidence that it did not.

A session setting (default_transaction_read_only) is the workload's to undo: `BEGIN READ WRITE` or
`SET default_transaction_read_only = off` in a script and it writes. So a read-only workload logs in
as a role made for the drill, a member of pg_read_all_data and nothing else, with a password only the
drill knows and a validity that ends soon after the drill; the drill drops it when the workload ends
(with anything it created: DROP OWNED, only when it owns or was granted something: DROP OWNED needs the
role's own privileges, which Aurora's master user, not a superuser, lacks). A role the drill could not
drop is named to the drill (a warn check), and the janitor finds it once its validity has ended.

What PUBLIC may do the role may do too (CREATE in a schema where PUBLIC has it, TEMP tables, a table
granted to PUBLIC, a SECURITY DEFINER function), and the drill does not change the database's grants.
So whether the workload wrote is measured, not assumed, from what the server counts:

- objects the role owns when the workload ends (pg_shdepend): anything it created and kept;
- rows written, per table (pg_stat_all_tables, catalogs included), between the moment the workload
  starts and the moment its sessions are gone: a table the role may write, or owns, that changed;
- the role's own statements in pg_stat_statements (its oid is new: every entry is the workload's):
  a statement that writes and completed;
- the database's tuple counters and the server's WAL position, reported for context: other clients
  (an application, the lab's heartbeat) write too, and a SELECT sets hint bits that are WAL-logged.

A change the role could not have made by its own grants (a table it may not write, the catalogs) is
someone else's unless the role could have caused it: catalogs that change while the role may create
objects and its statements cannot be read, or tables written while it may call SECURITY DEFINER
functions, leave the question open (unknown), never a pass.
"""

from __future__ import annotations

import re
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from ops.errors import CannotRun
from ops.proc import held_interrupts
from ops.query.sqltext import first_keyword, strip_comments

ROLE_PREFIX = "dbops_ro_"
TAG = "dbops:latency-write-check"  # in a comment of the drill's own statements

# Statements that read, by their first keyword; anything else that completed changed something.
_READS = {"SELECT", "VALUES", "TABLE", "WITH", "SHOW", "SET", "RESET", "BEGIN", "START", "COMMIT", "END", "ROLLBACK",
          "ABORT", "SAVEPOINT", "RELEASE", "PREPARE", "EXECUTE", "DEALLOCATE", "DECLARE", "FETCH", "MOVE", "CLOSE",
          "DISCARD", "LISTEN", "UNLISTEN", "LOCK", "EXPLAIN"}
# Statements that run code which may write (its writes are in the counters, not in the statement).
_MAY_WRITE = {"DO", "CALL"}
_WRITE_WORDS = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|INTO|CREATE|DROP|ALTER|TRUNCATE|COPY)\b", re.I)
# Functions PUBLIC may call that change something no table counter shows: WAL messages for logical decoding,
# sequences, large objects, notifications to the application's listeners.
_WRITING_FUNCTIONS = re.compile(r"\b(pg_logical_emit_message|nextval|setval|lo_creat|lo_create|lo_import|lo_unlink|lo_put"
                                r"|lo_from_bytea|lo_truncate|lowrite|pg_notify)\s*\(", re.I)


def statement_effect(text: str) -> str:
    """'write', 'may-write' or 'read' for one normalized statement text. A read whose text names a write
    (a data-modifying WITH, SELECT ... INTO, EXPLAIN ANALYZE INSERT, PREPARE ... AS UPDATE) is a write."""
    word = first_keyword(text)
    if word in _MAY_WRITE:
        return "may-write"
    body = re.sub(r"\"[^\"]*\"", " ", strip_comments(text))  # a quoted identifier named "insert" is a name
    if word == "COPY" and re.search(r"\bTO\s+STDOUT\b", body, re.I):
        return "read"  # COPY (query) TO STDOUT sends rows to the client
    if word not in _READS:
        return "write"
    if _WRITING_FUNCTIONS.search(body):
        return "write"
    if word in ("WITH", "SELECT", "PREPARE", "EXPLAIN") and _WRITE_WORDS.search(body):
        if word == "EXPLAIN" and not re.search(r"\bANALY[SZ]E\b", body, re.I):
            return "read"
        return "write"
    return "read"


@dataclass(frozen=True)
class TableCount:
    name: str  # schema.table
    rows_written: int  # n_tup_ins + n_tup_upd + n_tup_del
    catalog: bool
    role_may_write: bool  # by a grant (PUBLIC's included) or as its owner


@dataclass(frozen=True)
class Counters:
    wal_lsn: str
    database_rows_written: int
    tables: dict[int, TableCount]


@dataclass(frozen=True)
class Statement:
    text: str
    calls: int
    rows: int


@dataclass(frozen=True)
class Evidence:
    before: Counters
    after: Counters
    wal_bytes: int
    owned: tuple[str, ...]  # objects the role owns
    statements: tuple[Statement, ...] | None  # None: pg_stat_statements could not be read
    statements_missing: str  # why, when None
    can_create: bool  # CREATE or TEMP on the database, or CREATE on a schema
    security_definer: tuple[str, ...]  # SECURITY DEFINER functions outside pg_catalog the role may execute


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | unknown
    detail: str
    measurements: dict[str, int] = field(default_factory=dict)


def judge(ev: Evidence) -> Verdict:
    """Whether the workload wrote: fail on what is the workload's, unknown on what may be, else pass."""
    changed = {oid: t for oid, t in ev.after.tables.items()
               if t.name != "pg_catalog.pg_statistic"  # ANALYZE (autovacuum's); the role owns no table to analyze
               and t.rows_written - (ev.before.tables[oid].rows_written if oid in ev.before.tables else 0) > 0}

    def delta(oid: int) -> int:
        return ev.after.tables[oid].rows_written - (ev.before.tables[oid].rows_written if oid in ev.before.tables else 0)

    writable = {oid: t for oid, t in changed.items() if t.role_may_write and not t.catalog}
    catalogs = {oid: t for oid, t in changed.items() if t.catalog}
    others = {oid: t for oid, t in changed.items() if not t.role_may_write and not t.catalog}
    writes = [s for s in ev.statements or () if statement_effect(s.text) == "write"]
    may_write = [s for s in ev.statements or () if statement_effect(s.text) == "may-write"]
    measured = {"workload_objects_owned": len(ev.owned),
                "rows_written_where_workload_may_write": sum(delta(o) for o in writable),
                "rows_written_during_workload": ev.after.database_rows_written - ev.before.database_rows_written,
                "wal_bytes_during_workload": ev.wal_bytes}
    if ev.statements is not None:
        measured["workload_write_statements"] = sum(s.calls for s in writes)

    def tables(group: dict[int, TableCount]) -> str:
        top = sorted(group, key=delta, reverse=True)
        return ", ".join(f"{group[o].name} ({delta(o)})" for o in top[:5]) + (f" and {len(top) - 5} more" if len(top) > 5 else "")

    wrote = []
    if ev.owned:
        wrote.append(f"its role owns {len(ev.owned)} object(s) it created: {', '.join(ev.owned[:5])}")
    if writes:
        kinds = sorted({first_keyword(s.text) for s in writes})
        wrote.append(f"it ran {sum(s.calls for s in writes)} statement(s) that write ({', '.join(kinds)}), "
                     f"{sum(s.rows for s in writes)} rows")
    if writable:
        wrote.append(f"rows were written to tables its role may write: {tables(writable)}")
    if wrote:
        return Verdict("fail", "the workload wrote: " + "; ".join(wrote), measured)
    open_questions = []
    if catalogs and (may_write or ev.security_definer or (ev.can_create and ev.statements is None)):
        why = ("it ran DO/CALL" if may_write else
               f"it may call SECURITY DEFINER functions ({', '.join(ev.security_definer[:3])})" if ev.security_definer else
               f"its role may create objects and its statements are not known ({ev.statements_missing})")
        open_questions.append(f"the catalogs changed ({tables(catalogs)}) and {why}")
    if others and ev.security_definer:
        open_questions.append(f"tables its role may not write changed ({tables(others)}) and it may call SECURITY DEFINER "
                              f"functions ({', '.join(ev.security_definer[:3])})")
    if open_questions:
        return Verdict("unknown", "whether the workload wrote is not measured: " + "; ".join(open_questions), measured)
    seen = (f"{measured['rows_written_during_workload']} rows were written to the database by other clients"
            + (f" ({tables(others)})" if others else "") + f"; WAL advanced {ev.wal_bytes} bytes")
    statements = ("its statements in pg_stat_statements only read" if ev.statements is not None
                  else f"its statements not read ({ev.statements_missing})")
    return Verdict("pass", f"the workload wrote nothing: its role owns no object, no table it may write changed, "
                           f"{statements}; {seen}", measured)


@dataclass(frozen=True)
class WorkloadRole:
    name: str
    oid: int
    dsn: str  # the admin DSN with the role's credentials: handed to libpq only


def connect_admin(dsn: str) -> Any:
    """A connection to create, read and drop workload roles (the drill's, and the janitor's)."""
    import psycopg

    from ops.query.endpoints import for_read_only

    return psycopg.connect(for_read_only(dsn), autocommit=True, connect_timeout=5, application_name="dbops-latency-drill-admin")


def _q(sql: str) -> str:
    return f"/* {TAG} */ {sql}"


@contextmanager
def read_only_role(admin_dsn: str, drill_id: str, clients: int, hours: float,
                   on_event: Any = lambda message: None, login_dsn: str | None = None,
                   replicated_within_s: float = 30.0, on_left: Any = lambda message: None) -> Iterator[WorkloadRole]:
    """A login role for the workload, member of pg_read_all_data only; dropped (with what it owns) at the end.
    Each step opens a connection of its own (connect_timeout 5 s): one held across the workload would hang
    with a server that stops answering.

    The role is made on the writer (admin_dsn); login_dsn is where the workload logs in when that is
    another server (a reader): the role reaches it by replication, and is waited for there.
    on_left hears, in one line naming the role, that the role could not be dropped at the end."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = ROLE_PREFIX + re.sub(r"[^a-z0-9]", "", drill_id.rsplit("-", 1)[-1].lower()) + secrets.token_hex(2)
    password = secrets.token_urlsafe(24)
    until = (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S+00")
    try:
        with connect_admin(admin_dsn) as conn:
            for left in drop_expired(conn):
                on_event(left)
            # The password goes as a verifier computed here: the plain text never reaches the server or its log.
            verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), None).decode()
            try:
                conn.execute(sql.SQL(_q("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                                        "CONNECTION LIMIT {} PASSWORD {} VALID UNTIL {} IN ROLE pg_read_all_data")).format(
                    sql.Identifier(name), sql.Literal(clients + 2), sql.Literal(verifier), sql.Literal(until)))
            except psycopg.Error as exc:
                raise CannotRun(f"cannot create the workload's read-only role (a member of pg_read_all_data): "
                                f"{_first_line(exc)}; --read-write runs the workload as the target's own user") from None
            try:
                conn.execute(sql.SQL(_q("ALTER ROLE {} SET default_transaction_read_only = on")).format(sql.Identifier(name)))
                oid = conn.execute(_q("SELECT oid::bigint FROM pg_roles WHERE rolname = %s"), (name,)).fetchone()[0]
            except BaseException:
                on_event(drop(conn, name))
                raise
    except psycopg.OperationalError as exc:
        raise CannotRun(f"cannot connect to create the workload's read-only role: {_first_line(exc)}") from None
    on_event(f"the workload runs as role {name}: a member of pg_read_all_data only, valid until {until}")
    params = conninfo_to_dict(login_dsn or admin_dsn)
    params.update(user=name, password=password)
    try:
        if login_dsn is not None:
            _wait_replicated(login_dsn, name, replicated_within_s)
        yield WorkloadRole(name, int(oid), make_conninfo(**params))
    finally:
        # An interrupt during the drop waits for it: a role left behind keeps read access to every table.
        with held_interrupts(on_event, f"dropping role {name}"):
            try:
                with connect_admin(admin_dsn) as conn:
                    said = drop(conn, name)
                    left = exists(conn, name)
            except psycopg.Error as exc:
                said, left = f"role {name} NOT dropped: {_first_line(exc)}", True
            if left:
                said = (said if "NOT dropped" in said else f"role {name} NOT dropped") + (
                    f" (it cannot log in after {until}; then the next read-only latency drill or `dbops janitor` drops it)")
                on_left(said)
            on_event(said)


def _wait_replicated(dsn: str, name: str, timeout_s: float) -> None:
    """Until the role made on the writer is there on the server of dsn (a reader, by replication)."""
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                if conn.execute(_q("SELECT 1 FROM pg_roles WHERE rolname = %s"), (name,)).fetchone():
                    return
        except psycopg.OperationalError as exc:
            raise CannotRun(f"cannot connect to the reader to find the workload's role: {_first_line(exc)}") from None
        if time.monotonic() > deadline:
            raise CannotRun(f"the workload's role {name}, made on the writer, had not reached the reader after {timeout_s:g} s "
                            "(replication lag)")
        time.sleep(0.2)


def end_sessions(admin_dsn: str, role: WorkloadRole, timeout_s: float = 10.0) -> int:
    """Terminate what is left of the role's sessions and wait until they are gone (their counters flushed)."""
    with connect_admin(admin_dsn) as conn:
        ended = conn.execute(_q("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usesysid = %s::oid"),
                             (role.oid,)).fetchone()[0]
        deadline = time.monotonic() + timeout_s
        while conn.execute(_q("SELECT count(*) FROM pg_stat_activity WHERE usesysid = %s::oid"), (role.oid,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise CannotRun(f"the sessions of role {role.name} did not end within {timeout_s:g} s")
            time.sleep(0.1)
    return int(ended)


def expired(conn: Any) -> list[str]:
    """The workload roles of drills that ended without dropping theirs (killed, or a server that stopped
    answering): those whose validity has ended and that have no session left."""
    return [r[0] for r in conn.execute(_q(
        "SELECT rolname FROM pg_roles r WHERE rolname LIKE %s AND rolvaliduntil < now() "
        "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.usesysid = r.oid)"), (ROLE_PREFIX.replace("_", r"\_") + "%",)).fetchall()]


def drop_expired(conn: Any) -> list[str]:
    return [drop(conn, name) for name in expired(conn)]


def exists(conn: Any, name: str) -> bool:
    return bool(conn.execute(_q("SELECT count(*) FROM pg_roles WHERE rolname = %s"), (name,)).fetchone()[0])


def drop(conn: Any, name: str) -> str:
    """DROP ROLE, after DROP OWNED (what the workload created or was granted, in this database) when there is
    any; what happened, in one line.

    DROP OWNED needs the role's own privileges: a superuser has them, a CREATEROLE user that is not one (the
    master user of Aurora and RDS) only as a member of the role. So it runs only when the role owns or was
    granted something (pg_shdepend), and where it is denied the admin takes the role's membership first
    (CREATEROLE may grant it); DROP ROLE then ends that membership with the role."""
    import psycopg
    from psycopg import sql

    ident = sql.Identifier(name)
    try:
        conn.execute(_q("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s"), (name,))
        if _depended_on(conn, name):
            try:
                conn.execute(sql.SQL(_q("DROP OWNED BY {}")).format(ident))
            except psycopg.errors.InsufficientPrivilege:
                conn.execute(sql.SQL(_q("GRANT {} TO CURRENT_USER")).format(ident))
                conn.execute(sql.SQL(_q("DROP OWNED BY {}")).format(ident))
        conn.execute(sql.SQL(_q("DROP ROLE {}")).format(ident))
    except psycopg.Error as exc:
        return f"role {name} NOT dropped: {_first_line(exc)} (it cannot log in after its VALID UNTIL)"
    return f"role {name} dropped, with anything it owned"


def _depended_on(conn: Any, name: str) -> bool:
    """Whether anything (an object it owns, a grant to it) depends on the role, in any database."""
    return bool(conn.execute(_q(
        "SELECT EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid "
        "WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = %s)"), (name,)).fetchone()[0])


def counters(admin_dsn: str, role: WorkloadRole) -> Counters:
    import psycopg

    try:
        return _counters(admin_dsn, role)
    except psycopg.Error as exc:
        raise CannotRun(f"the server's write counters could not be read: {_first_line(exc)}") from None


def _counters(admin_dsn: str, role: WorkloadRole) -> Counters:
    with connect_admin(admin_dsn) as conn:
        lsn, rows = conn.execute(_q(
            "SELECT pg_current_wal_insert_lsn()::text, (SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
            "WHERE datname = current_database())")).fetchone()
        tables = {int(r[0]): TableCount(r[1], int(r[2]), bool(r[3]), bool(r[4])) for r in conn.execute(_q(
            "SELECT s.relid::bigint, s.schemaname || '.' || s.relname, s.n_tup_ins + s.n_tup_upd + s.n_tup_del, "
            "s.schemaname IN ('pg_catalog', 'information_schema'), "
            "c.relowner = %(role)s::oid OR has_table_privilege(%(role)s::oid, s.relid, 'INSERT, UPDATE, DELETE, TRUNCATE') "
            "FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.schemaname <> 'pg_toast'"), {"role": role.oid}).fetchall()}
    return Counters(lsn, int(rows), tables)


def evidence_after(admin_dsn: str, role: WorkloadRole, before: Counters) -> Evidence:
    """End the role's sessions, then read what they did; a failed read is CannotRun, in one line."""
    import psycopg

    try:
        end_sessions(admin_dsn, role)
        return evidence(admin_dsn, role, before)
    except psycopg.Error as exc:
        raise CannotRun(f"the server could not be read after the workload: {_first_line(exc)}") from None


def evidence(admin_dsn: str, role: WorkloadRole, before: Counters) -> Evidence:
    """Read after the role's sessions are gone (end_sessions): every counter they moved is flushed."""
    import psycopg

    after = _counters(admin_dsn, role)
    with connect_admin(admin_dsn) as conn:
        wal = conn.execute(_q("SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)::bigint"), (after.wal_lsn, before.wal_lsn)).fetchone()[0]
        owned = tuple(r[0] for r in conn.execute(_q(
            "SELECT CASE WHEN d.datname = current_database() OR s.dbid = 0 THEN pg_describe_object(s.classid, s.objid, s.objsubid) "
            "ELSE 'an object in database ' || coalesce(d.datname, s.dbid::text) END "
            "FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid "
            "WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = %s::oid AND s.deptype = 'o' ORDER BY 1"), (role.oid,)).fetchall())
        can_create = bool(conn.execute(_q(
            "SELECT has_database_privilege(%(role)s::oid, current_database(), 'CREATE, TEMP') OR EXISTS "
            "(SELECT 1 FROM pg_namespace WHERE has_schema_privilege(%(role)s::oid, oid, 'CREATE'))"), {"role": role.oid}).fetchone()[0])
        definer = tuple(r[0] for r in conn.execute(_q(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.prosecdef "
            "AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) "
            "AND has_function_privilege(%s::oid, p.oid, 'EXECUTE') ORDER BY 1"), (role.oid,)).fetchall())
        schema = conn.execute(_q("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements'")).fetchone()
        statements: tuple[Statement, ...] | None = None
        missing = ""
        if schema is None:
            missing = "pg_stat_statements is not created in this database"
        else:
            try:
                from psycopg import sql

                statements = tuple(Statement(r[0] or "", int(r[1]), int(r[2])) for r in conn.execute(sql.SQL(_q(
                    "SELECT query, calls, rows FROM {}.pg_stat_statements WHERE userid = %s::oid "
                    "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")).format(
                    sql.Identifier(schema[0])), (role.oid,)).fetchall())
            except psycopg.Error as exc:
                missing = f"pg_stat_statements could not be read: {_first_line(exc)}"
    return Evidence(before, after, int(wal), owned, statements, missing, can_create, definer)


def _first_line(exc: BaseException) -> str:
    from ops.query.sqltext import message

    return message(str(exc))
