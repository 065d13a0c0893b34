"""Generic plans of normalized statements, their sequential scans, and hypothetical indexes.

PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN). The generic plan of a statement as
pg_stat_statements stores it ($1, $2... in place of its constants) is had by PREPARE-ing
it, forcing the generic plan (plan_cache_mode = force_generic_plan) and EXPLAIN EXECUTE-ing
it with NULL parameters: EXPLAIN does not run it, and the generic plan does not depend on
the values. A parameter whose type PostgreSQL cannot infer is declared text and tried again.

The text planned may come from a caller or from pg_stat_statements (which any database user can fill): it
must be one SELECT the read-only guard lets through (the audit, with writes=True: or one INSERT, UPDATE or
DELETE with nothing that writes inside it; PREPARE and EXPLAIN without ANALYZE never run it, and READ ONLY
allows both), it is prepared as given (PostgreSQL's scanner reads
it as the guard's parser did), what is sent is parsed again, and every statement here goes by the
extended query protocol, which runs one statement only. Only the statement this module prepared is
deallocated: DEALLOCATE ALL through a transaction pooler would drop other clients' statements.

Hypothetical indexes (hypopg) exist in this backend's memory only: created, the statement
prepared and explained again (a prepared statement keeps the plan it was prepared with),
then dropped with hypopg_reset(). Nothing is written; it all runs inside the audit's
read-only transaction, each plan under a savepoint that is rolled back, so one that fails leaves the
others be and the locks preparing took (an UPDATE's row-exclusive lock on its table) end with the plan.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ops.query.guard import Refused, check_prepare, prepared_select
from ops.query.sqltext import redact_strings
from ops.query.stats import one_statement, q

PREPARED = "dbops_query_audit"
MAX_PLAN_LINES = 40


class PlanError(Exception):
    """A statement whose generic plan could not be had (its text says why)."""


@dataclass(frozen=True)
class SeqScan:
    schema: str
    table: str
    alias: str
    filter: str | None
    sort_keys: tuple[str, ...]
    cost: float

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class Plan:
    total_cost: float
    lines: list[str]  # EXPLAIN's text, quoted strings taken out
    seq_scans: list[SeqScan] = field(default_factory=list)
    index_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Hypothetical:
    columns: tuple[str, ...]
    definition: str  # the CREATE INDEX it stands for
    cost_after: float
    used: bool  # the plan with it uses it
    lines_after: tuple[str, ...]

    def gain(self, cost_before: float) -> float:
        return 0.0 if cost_before <= 0 or not self.used else max(0.0, 1.0 - self.cost_after / cost_before)


def plannable_select(text: str, writes: bool = False) -> tuple[str, int]:
    """(body, parameters) of a statement this module may prepare; PlanError saying why not otherwise."""
    try:
        return prepared_select(text, writes)
    except Refused as exc:
        why = str(exc).removeprefix("refused: ")
        what = "a read-only SELECT, INSERT, UPDATE or DELETE" if writes else "a read-only SELECT"
        raise PlanError(f"not planned: not {what}" + ("" if why == "not a read-only SELECT" else f" ({why})")) from None


def _prepare(conn: Any, body: str, n: int, writes: bool) -> None:
    """PREPARE the statement; an untyped parameter is declared text, one at a time."""
    import psycopg

    types = ["unknown"] * n
    for _ in range(n + 1):
        head = f"PREPARE {PREPARED}({', '.join(types)})" if n else f"PREPARE {PREPARED}"
        # a newline before the end, so a trailing -- comment cannot reach past the body
        sql = f"{head} AS {body}\n"
        check_prepare(sql, writes)
        try:
            with conn.transaction():
                one_statement(conn, sql)
            return
        except psycopg.errors.IndeterminateDatatype as exc:
            m = re.search(r"\$(\d+)", str(exc))
            k = int(m.group(1)) - 1 if m else -1
            if not 0 <= k < n or types[k] != "unknown":
                raise PlanError(_why(exc)) from None
            types[k] = "text"
        except psycopg.Error as exc:
            raise PlanError(_why(exc)) from None
    raise PlanError("parameter types could not be inferred")


def _explain(conn: Any, n_params: int) -> tuple[dict[str, Any], list[str]]:
    args = f"({', '.join(['NULL'] * n_params)})" if n_params else ""
    raw = one_statement(conn, q(f"EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {PREPARED}{args}")).fetchone()[0]
    doc = raw if isinstance(raw, list) else json.loads(raw)
    text = [redact_strings(r[0]) for r in one_statement(conn, q(f"EXPLAIN EXECUTE {PREPARED}{args}")).fetchall()]
    if len(text) > MAX_PLAN_LINES:
        text = text[:MAX_PLAN_LINES] + [f"… {len(text) - MAX_PLAN_LINES} more lines"]
    return doc[0]["Plan"], text


def _prepared_plan(conn: Any, body: str, n: int, writes: bool) -> Plan:
    """PREPARE, EXPLAIN EXECUTE and DEALLOCATE the statement, inside the caller's transaction."""
    _deallocate(conn)
    _prepare(conn, body, n, writes)
    try:
        root, lines = _explain(conn, n)
    finally:
        _deallocate(conn)
    plan = Plan(float(root.get("Total Cost", 0.0)), lines)
    _walk(root, [], plan)
    return plan


def generic_plan(conn: Any, text: str, writes: bool = False) -> Plan:
    """The statement's generic plan (raises PlanError when it cannot be had). With writes (the query audit only), an
    INSERT, UPDATE or DELETE is planned too: prepared and explained, never executed."""
    import psycopg

    body, n = plannable_select(text, writes)
    try:
        # rolled back, not released: the locks preparing took (an UPDATE's row-exclusive lock on its table) end here
        with conn.transaction(force_rollback=True):
            conn.execute(q("SET LOCAL plan_cache_mode = force_generic_plan"))
            return _prepared_plan(conn, body, n, writes)
    except psycopg.Error as exc:
        raise PlanError(_why(exc)) from None


def hypothetical(conn: Any, text: str, scan: SeqScan, cols: tuple[str, ...], writes: bool = False) -> Hypothetical:
    """The statement's generic plan with a hypothetical btree index on scan's table (cols)."""
    import psycopg

    body, n = plannable_select(text, writes)
    definition = f"CREATE INDEX ON {ident(scan.schema)}.{ident(scan.table)} ({', '.join(ident(c) for c in cols)})"
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(q("SET LOCAL plan_cache_mode = force_generic_plan"))
            oid = conn.execute(q("SELECT indexrelid FROM hypopg_create_index(%s)"), (definition,)).fetchone()[0]
            try:
                plan = _prepared_plan(conn, body, n, writes)  # prepared after the index exists: the plan sees it
            finally:
                one_statement(conn, q("SELECT hypopg_reset()"))
    except psycopg.Error as exc:
        raise PlanError(_why(exc)) from None
    used = any(f"<{oid}>" in name for name in plan.index_names)
    return Hypothetical(cols, f"CREATE INDEX CONCURRENTLY ON {ident(scan.schema)}.{ident(scan.table)} "
                              f"({', '.join(ident(c) for c in cols)})", plan.total_cost, used, tuple(plan.lines))


def try_indexes(conn: Any, text: str, scan: SeqScan, table_columns: Any, total_cost: float, hypopg_missing: str | None,
                writes: bool = False) -> tuple[list[Hypothetical], Hypothetical | None, str | None]:
    """Each hypothetical index `candidates` proposes for scan, planned; the best the plan uses (the largest gain,
    then the fewest columns); and why there is no advice, or what could not be planned."""
    tries = candidates(scan, table_columns)
    if not tries:
        return [], None, "no column of its filter or sort an index could serve (a full scan)"
    if hypopg_missing:
        return [], None, hypopg_missing
    tried: list[Hypothetical] = []
    note = None
    for cols in tries:
        try:
            tried.append(hypothetical(conn, text, scan, cols, writes=writes))
        except PlanError as exc:
            note = f"hypothetical index on {cols} could not be planned: {exc}"
    best = max((h for h in tried if h.used), key=lambda h: (h.gain(total_cost), -len(h.columns)), default=None)
    return tried, best, note


def _deallocate(conn: Any) -> None:
    """DEALLOCATE this module's statement when the session has it (a prepared statement outlives a rollback)."""
    if conn.execute(q("SELECT EXISTS (SELECT FROM pg_prepared_statements WHERE name = %s)"), (PREPARED,)).fetchone()[0]:
        one_statement(conn, q(f"DEALLOCATE {PREPARED}"))


def _why(exc: BaseException) -> str:
    from ops.query.sqltext import message

    return message(str(exc))


_PASS_THROUGH = ("Gather", "Gather Merge", "Limit", "Materialize", "Memoize")


def _walk(node: dict[str, Any], parents: list[dict[str, Any]], plan: Plan) -> None:
    if node.get("Index Name"):
        plan.index_names.append(node["Index Name"])
    if node.get("Node Type") == "Seq Scan" and node.get("Relation Name"):
        sort: tuple[str, ...] = ()
        for parent in reversed(parents):
            if parent.get("Node Type") in ("Sort", "Incremental Sort"):
                sort = tuple(parent.get("Sort Key") or ())
                break
            if parent.get("Node Type") not in _PASS_THROUGH:
                break
        plan.seq_scans.append(SeqScan(node.get("Schema", "public"), node["Relation Name"], node.get("Alias", node["Relation Name"]),
                                      node.get("Filter"), sort, float(node.get("Total Cost", 0.0))))
    for child in node.get("Plans", []) or []:
        _walk(child, [*parents, node], plan)


_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)'
_COMPARISON = re.compile(rf'(?<![\w$."])(?:(?P<qual>{_NAME})\.)?(?P<col>{_NAME})\)?(?:::[\w ]+?(?:\[\])?)?\)?\s*'
                         r'(?P<op><=|>=|<>|!=|=|<|>)\s*(?P<any>ANY\b)?')


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def filter_columns(expr: str | None, alias: str, columns: list[str]) -> tuple[list[str], list[str]]:
    """(equality columns, range columns) of a scan's filter, in the order they appear."""
    eq: list[str] = []
    rng: list[str] = []
    for m in _COMPARISON.finditer(expr or ""):
        qual, col, op = m.group("qual"), _unquote(m.group("col")), m.group("op")
        if qual is not None and _unquote(qual) != alias:
            continue
        if col not in columns or op in ("<>", "!="):
            continue
        target = eq if op == "=" else rng
        if col not in eq and col not in rng:
            target.append(col)
    return eq, rng


def sort_columns(keys: tuple[str, ...], alias: str, columns: list[str]) -> list[str]:
    out: list[str] = []
    for key in keys:
        key = re.sub(r"\s+(ASC|DESC|NULLS FIRST|NULLS LAST|USING \S+)\b", "", key.strip(), flags=re.I).strip()
        m = re.fullmatch(rf"(?:(?P<qual>{_NAME})\.)?(?P<col>{_NAME})", key)
        if not m or (m.group("qual") and _unquote(m.group("qual")) != alias):
            break  # an expression: an index on columns cannot give this order, nor the keys after it
        col = _unquote(m.group("col"))
        if col not in columns:
            break
        out.append(col)
    return out


def candidates(scan: SeqScan, columns: list[str], limit: int = 4) -> list[tuple[str, ...]]:
    """Indexes worth trying for a sequential scan: equality columns first, then the sort or the range."""
    eq, rng = filter_columns(scan.filter, scan.alias, columns)
    srt = [c for c in sort_columns(scan.sort_keys, scan.alias, columns) if c not in eq]
    found: list[tuple[str, ...]] = []
    for cols in (eq + srt, eq + rng[:1], eq, rng[:1], srt):
        t = tuple(cols)
        if t and t not in found and len(t) <= 8:
            found.append(t)
    return found[:limit]


def ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'
