"""Which SQL a read-only caller may send: parsed by PostgreSQL's own parser (pglast), judged on the tree.

Allowed: exactly one SELECT (VALUES and TABLE are SELECTs to the parser), EXPLAIN of one without
ANALYZE, and SHOW. Refused, with the reason named: anything else at the top, a statement that writes
anywhere in the tree (a WITH holding INSERT/UPDATE/DELETE/MERGE), SELECT INTO, a locking clause
(FOR UPDATE/SHARE), and calls of functions with side effects or that run a string as SQL.

The parser is the first line, not the guarantee: a SELECT may call a user-defined function that writes,
which no parse can see. The session that runs the statement is READ ONLY (ops.query.readonly); that
is what stops a write the guard let through. What READ ONLY does not stop is a change of server state
(a lock, a setting, a notification, an index page, a reset counter): side effects live in VOLATILE
functions, so right before a statement runs, every function it names is looked up in the server's own
catalog and a name with a volatile overload is refused (refuse_volatile), bar a few builtins that only
read a clock, the random generator or the replication position.

The text is capped in bytes before it is parsed: the parser recurses once per nesting level of an
expression and overflows a worker thread's stack (a segfault that takes the whole process) on a few tens
of kilobytes of `1+1+1...`.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from ops.errors import UsageError


class Refused(UsageError):
    """A statement the read-only guard does not let through; its message names why."""


# Statements by the name a user knows them by; anything not listed is named from its node's class.
_STATEMENT_NAMES = {
    "InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "MergeStmt": "MERGE",
    "CopyStmt": "COPY", "VariableSetStmt": "SET/RESET", "TransactionStmt": "transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT)",
    "DoStmt": "DO", "CallStmt": "CALL", "ListenStmt": "LISTEN", "UnlistenStmt": "UNLISTEN", "NotifyStmt": "NOTIFY",
    "PrepareStmt": "PREPARE", "ExecuteStmt": "EXECUTE", "DeallocateStmt": "DEALLOCATE", "DeclareCursorStmt": "DECLARE CURSOR",
    "FetchStmt": "FETCH", "ClosePortalStmt": "CLOSE", "VacuumStmt": "VACUUM/ANALYZE", "LockStmt": "LOCK",
    "CreateTableAsStmt": "CREATE TABLE AS", "CreateStmt": "CREATE TABLE", "DropStmt": "DROP", "TruncateStmt": "TRUNCATE",
    "AlterTableStmt": "ALTER TABLE", "GrantStmt": "GRANT/REVOKE", "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
    "ReindexStmt": "REINDEX", "ClusterStmt": "CLUSTER", "CheckPointStmt": "CHECKPOINT", "LoadStmt": "LOAD",
    "DiscardStmt": "DISCARD", "IndexStmt": "CREATE INDEX", "CreateFunctionStmt": "CREATE FUNCTION",
}
_WRITES = ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")

# Functions with side effects (on the server, its files, other sessions, sequences, locks, WAL, slots),
# that sleep (a denial of service), or that run a string as SQL (a second statement the guard never sees).
_DENIED_EXACT = frozenset({
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "set_config",
    "pg_read_file", "pg_read_binary_file", "pg_stat_file", "nextval", "setval", "pg_switch_wal", "pg_promote",
    "pg_logical_emit_message", "pg_notify", "pg_create_restore_point", "pg_log_backend_memory_contexts",
    "pg_import_system_collations", "pg_replication_slot_advance", "pg_wal_replay_pause", "pg_wal_replay_resume",
    "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup", "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot", "pg_truncate_visibility_map", "pg_export_snapshot", "ts_stat", "crosstab",
    "pg_stat_statements_reset", "hypopg_reset",
    # ts_rewrite(tsquery, text) runs its text as SQL; the brin and gin ones change index pages even in READ ONLY.
    "ts_rewrite", "brin_summarize_new_values", "brin_summarize_range", "brin_desummarize_range", "gin_clean_pending_list",
    "pg_prewarm", "connectby", "pg_stat_kcache_reset", "pg_qualstats_reset", "pg_wait_sampling_reset_profile",
    "hypopg_hide_index", "hypopg_unhide_index", "hypopg_unhide_all_indexes", "table_import_from_s3", "query_export_to_s3",
})
_DENIED_PATTERNS = (
    r"pg_(try_)?advisory.*", r"lo_.*", r"dblink.*", r"pg_ls_.*", r"pg_sleep.*", r"txid_.*", r"pg_current_xact_id.*",
    r"pg_create_.*", r"pg_drop_.*", r"pg_logical_slot_.*", r"pg_replication_origin_.*", r"pg_stat_reset.*",
    r"pg_file_.*", r"query_to_xml.*", r"cursor_to_xml.*", r"crosstab\d*", r"binary_upgrade_.*", r"hypopg_(create|drop)_.*",
    # a whole database, schema or table as XML: unbounded reads the row limit cannot cut
    r"(database|schema|table)_to_xml.*", r"pg_buffercache_evict.*", r"pg_background_.*",
    # Aurora's and RDS's calls out to S3, Lambda and paid ML services
    r"aws_s3\..*", r"aws_lambda\..*", r"aws_ml\..*", r"aws_sagemaker\..*", r"aws_comprehend\..*", r"aws_bedrock\..*",
)
_DENIED_PATTERN = re.compile("|".join(f"(?:{p})" for p in _DENIED_PATTERNS))


# The parser overflows an 8 MB thread stack from about 22 000 nesting levels (`SELECT 1+1+1...`, 2 bytes a level,
# ~44 KB); 16 KB is 8 000 levels at most, with room to spare for smaller stacks.
MAX_SQL_BYTES = 16 * 1024

# Volatile builtins a SELECT may name: each only reads (a clock, the session's random generator, the WAL position
# or recovery state of the server) and changes nothing another session or a later statement could see.
HARMLESS_VOLATILE = frozenset({
    "random", "clock_timestamp", "timeofday", "gen_random_uuid",
    "pg_is_in_recovery", "pg_current_wal_lsn", "pg_current_wal_insert_lsn", "pg_current_wal_flush_lsn",
    "pg_last_wal_receive_lsn", "pg_last_wal_replay_lsn", "pg_last_xact_replay_timestamp",
})


def denied_function(name: str) -> bool:
    name = name.lower()
    return name in _DENIED_EXACT or _DENIED_PATTERN.fullmatch(name) is not None


def _parse(sql: str) -> Any:
    """The one statement in sql, parsed (its RawStmt); Refused when there is not exactly one, or it is too long to parse."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    if not sql or not sql.strip():
        raise Refused("refused: no statement given")
    size = len(sql.encode("utf-8"))
    if size > MAX_SQL_BYTES:
        raise Refused(f"refused: SQL of {size} bytes is longer than the {MAX_SQL_BYTES} allowed")
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        raise Refused(f"refused: the statement does not parse ({exc})") from None
    if len(statements) != 1:
        raise Refused(f"refused: exactly one statement is allowed, not {len(statements)}"
                      if statements else "refused: no statement given (only a comment or a semicolon)")
    return statements[0]


def guard(sql: str) -> str:
    """The statement's kind (SELECT, EXPLAIN, SHOW) when a read-only caller may run it; Refused naming why otherwise."""
    top = _parse(sql).stmt
    kind = _top_kind(top)
    for node in _walk(top):
        _check(node)
    return kind


# What the query audit may plan besides a SELECT: planning (PREPARE, EXPLAIN EXECUTE without ANALYZE) never runs
# a statement, and a top statement that writes has scans worth an index as much as a SELECT does.
_PLANNED_WRITES = ("InsertStmt", "UpdateStmt", "DeleteStmt")


def prepared_select(text: str, writes: bool = False) -> tuple[str, int]:
    """(the body PREPARE takes, its number of $n parameters) for a statement that is one guarded SELECT, or, with
    writes (the query audit's planner only), one INSERT, UPDATE or DELETE with nothing that writes inside it.

    The body is the text as given, comments and all: PostgreSQL reads it with the same scanner that parsed it
    here, so nothing in it can end the statement early. Refused when it is anything else."""
    top = _parse(text).stmt
    if writes and type(top).__name__ in _PLANNED_WRITES:
        _check_below(top)
    elif guard(text) != "SELECT":
        raise Refused("refused: not a read-only SELECT")
    params = [n.number for n in _walk(top) if type(n).__name__ == "ParamRef"]
    return text.strip(), max(params, default=0)


def check_prepare(sql: str, writes: bool = False) -> None:
    """sql (what is sent) is one PREPARE of one guarded SELECT (with writes: or of one INSERT, UPDATE or DELETE
    with nothing that writes inside it); Refused otherwise."""
    top = _parse(sql).stmt
    allowed = ("SelectStmt", *_PLANNED_WRITES) if writes else ("SelectStmt",)
    if type(top).__name__ != "PrepareStmt" or type(top.query).__name__ not in allowed:
        raise Refused("refused: not one PREPARE of a SELECT" + (", INSERT, UPDATE or DELETE" if writes else ""))
    if type(top.query).__name__ == "SelectStmt":
        for node in _walk(top.query):
            _check(node)
    else:
        _check_below(top.query)


def _check_below(statement: Any) -> None:
    """Every node under a planned INSERT, UPDATE or DELETE (not the statement itself) as the guard checks a SELECT's:
    no data-modifying WITH, no denied function (the planner folds immutable calls)."""
    nodes = _walk(statement)
    next(nodes)
    for node in nodes:
        _check(node)


def function_names(sql: str) -> set[tuple[str | None, str]]:
    """Every function sql calls by name: (schema or None, name), as the parser folded them."""
    names: set[tuple[str | None, str]] = set()
    for node in _walk(_parse(sql).stmt):
        if type(node).__name__ == "FuncCall":
            parts = [p.sval for p in node.funcname]
            names.add((parts[-2] if len(parts) > 1 else None, parts[-1]))
    return names


_VOLATILE = """
SELECT DISTINCT coalesce(a.schema || '.', '') || a.name
FROM unnest(%s::text[], %s::text[]) AS a(schema, name)
JOIN pg_proc p ON p.proname = a.name
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.provolatile = 'v'
  AND CASE WHEN a.schema IS NULL THEN n.nspname = ANY (current_schemas(true)) ELSE n.nspname = a.schema END
  AND NOT (n.nspname = 'pg_catalog' AND p.proname = ANY (%s::text[]))
ORDER BY 1"""


def refuse_volatile(conn: Any, sql: str) -> None:
    """Refused when sql names a function with a VOLATILE overload on this server (one catalog query, in the
    caller's transaction): an unqualified name is looked up in the session's search path, as the call would be."""
    names = sorted(function_names(sql), key=lambda n: (n[0] or "", n[1]))
    if not names:
        return
    rows = conn.execute(_VOLATILE, ([s for s, _ in names], [n for _, n in names], sorted(HARMLESS_VOLATILE))).fetchall()
    if rows:
        more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
        raise Refused(f"volatile function {rows[0][0]}(){more} may change state: refused")


def _name(node: Any) -> str:
    cls = type(node).__name__
    if cls == "VariableSetStmt":
        verb = "RESET" if node.kind.name.startswith("VAR_RESET") else "SET"
        return f"{verb} {node.name}" if node.name else verb
    if cls == "TransactionStmt":
        word = node.kind.name.removeprefix("TRANS_STMT_").replace("_", " ")
        return f"transaction control ({word})"
    return _STATEMENT_NAMES.get(cls, re.sub(r"Stmt$", "", cls))


def _top_kind(top: Any) -> str:
    cls = type(top).__name__
    if cls == "SelectStmt":
        return "SELECT"
    if cls == "VariableShowStmt":
        return "SHOW"
    if cls == "ExplainStmt":
        options = {(o.defname or "").lower() for o in top.options or ()}
        if "analyze" in options:
            raise Refused("refused: EXPLAIN ANALYZE runs the statement; EXPLAIN without ANALYZE is allowed")
        if type(top.query).__name__ != "SelectStmt":
            raise Refused(f"refused: EXPLAIN of {_name(top.query)}: only EXPLAIN of a SELECT is allowed")
        return "EXPLAIN"
    raise Refused(f"refused: {_name(top)} is not read-only SQL (only SELECT, EXPLAIN without ANALYZE and SHOW are allowed)")


def _check(node: Any) -> None:
    cls = type(node).__name__
    if cls in _WRITES:
        raise Refused(f"refused: the statement writes ({_name(node)} inside it, e.g. in a WITH)")
    if cls == "IntoClause":
        raise Refused("refused: SELECT INTO creates a table")
    if cls == "LockingClause":
        raise Refused("refused: a locking clause (FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE) takes row locks")
    if cls == "FuncCall":
        parts = [p.sval for p in node.funcname]
        name = parts[-1] if denied_function(parts[-1]) else ".".join(parts[-2:])
        if denied_function(name):
            raise Refused(f"refused: function {name}() has side effects, sleeps or runs SQL text, and is denied")
    if cls.endswith("Stmt") and cls not in ("SelectStmt", "ExplainStmt", "VariableShowStmt"):
        raise Refused(f"refused: {_name(node)} inside the statement is not read-only SQL")


def _walk(node: Any) -> Iterator[Any]:
    """Every AST node under node (node included), depth first."""
    from pglast import ast

    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, ast.Node):
            yield item
            stack.extend(getattr(item, attr) for attr in item if getattr(item, attr) is not None)
