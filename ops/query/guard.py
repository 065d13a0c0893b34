"""Which SQL a read-only caller may send: parsed by PostgreSQL's own parser (pglast), judged on the tree.

Allowed: exactly one SELECT (VALUES and TABLE are SELECTs to the parser), EXPLAIN of one without
ANALYZE, and SHOW. Refused, with the reason named: anything else at the top, a statement that writes
anywhere in the tree (a WITH holding INSERT/UPDATE/DELETE/MERGE), SELECT INTO, a locking clause
(FOR UPDATE/SHARE), and calls of functions with side effects or that run a string as SQL.

The parser is the first line, not the guarantee: a SELECT may call a user-defined function that writes,
which no parse can see. The session that runs the statement is READ ONLY (ops.query.readonly); that
is what stops a write the guard let through.
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
})
_DENIED_PATTERNS = (
    r"pg_(try_)?advisory.*", r"lo_.*", r"dblink.*", r"pg_ls_.*", r"pg_sleep.*", r"txid_.*", r"pg_current_xact_id.*",
    r"pg_create_.*", r"pg_drop_.*", r"pg_logical_slot_.*", r"pg_replication_origin_.*", r"pg_stat_reset.*",
    r"pg_file_.*", r"query_to_xml.*", r"cursor_to_xml.*", r"crosstab\d*", r"binary_upgrade_.*", r"hypopg_(create|drop)_.*",
)
_DENIED_PATTERN = re.compile("|".join(f"(?:{p})" for p in _DENIED_PATTERNS))


def denied_function(name: str) -> bool:
    name = name.lower()
    return name in _DENIED_EXACT or _DENIED_PATTERN.fullmatch(name) is not None


def guard(sql: str) -> str:
    """The statement's kind (SELECT, EXPLAIN, SHOW) when a read-only caller may run it; Refused naming why otherwise."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    if not sql or not sql.strip():
        raise Refused("refused: no statement given")
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        raise Refused(f"refused: the statement does not parse ({exc})") from None
    if len(statements) != 1:
        raise Refused(f"refused: exactly one statement is allowed, not {len(statements)}"
                      if statements else "refused: no statement given (only a comment or a semicolon)")
    top = statements[0].stmt
    kind = _top_kind(top)
    for node in _walk(top):
        _check(node)
    return kind


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
        name = node.funcname[-1].sval
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
