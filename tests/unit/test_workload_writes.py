"""Whether a read-only latency workload wrote, judged from the server's counters (ops/query/workload_role.py):
the workload's own writes fail the drill, other clients' writes do not, and what may be either is unknown."""

from __future__ import annotations

import pytest

from ops.query.workload_role import Counters, Evidence, Statement, TableCount, judge, statement_effect

APP, CATALOG, PUBLIC_WRITABLE = 1, 2, 3


def counters(app: int = 0, catalog: int = 0, writable: int = 0, database: int = 0) -> Counters:
    return Counters("0/0", database, {APP: TableCount("public.orders", app, False, False),
                                      CATALOG: TableCount("pg_catalog.pg_class", catalog, True, False),
                                      PUBLIC_WRITABLE: TableCount("public.guestbook", writable, False, True)})


def evidence(after: Counters, *, owned: tuple[str, ...] = (), statements: tuple[Statement, ...] | None = (),
             can_create: bool = True, definer: tuple[str, ...] = ()) -> Evidence:
    return Evidence(counters(), after, 8192, owned, statements, "pg_stat_statements is not created in this database",
                    can_create, definer)


@pytest.mark.parametrize("text, effect", [
    ("SELECT * FROM orders WHERE id = $1", "read"),
    ("BEGIN READ WRITE", "read"),
    ("SET default_transaction_read_only = off", "read"),
    ('SELECT "insert" FROM t', "read"),
    ("EXPLAIN SELECT 1", "read"),
    ("INSERT INTO t VALUES ($1)", "write"),
    ("CREATE TABLE t (n int)", "write"),
    ("DROP TABLE t", "write"),
    ("/* tag */ TRUNCATE t", "write"),
    ("WITH gone AS (DELETE FROM t RETURNING *) SELECT count(*) FROM gone", "write"),
    ("SELECT * INTO t2 FROM t", "write"),
    ("EXPLAIN ANALYZE UPDATE t SET n = $1", "write"),
    ("DO $$ BEGIN PERFORM 1; END $$", "may-write"),
    ("SELECT pg_logical_emit_message(false, $1, repeat($2, $3))", "write"),
    ("SELECT nextval($1)", "write"),
    ("select setval ('s', $1)", "write"),
    ("SELECT lo_from_bytea($1, $2)", "write"),
    ("NOTIFY app_channel", "write"),
    ("SELECT pg_notify($1, $2)", "write"),
    ("COPY (SELECT 1) TO STDOUT", "read"),
    ("COPY t FROM STDIN", "write"),
    ("SELECT next_value FROM t", "read"),
])
def test_each_statement_is_read_or_write_by_what_it_does(text: str, effect: str) -> None:
    assert statement_effect(text) == effect


def test_other_clients_writes_are_not_the_workloads() -> None:
    verdict = judge(evidence(counters(app=40, database=40), statements=(Statement("SELECT 1", 100, 100),)))
    assert verdict.status == "pass", verdict.detail
    assert verdict.measurements["rows_written_during_workload"] == 40
    assert verdict.measurements["workload_write_statements"] == 0
    assert "public.orders (40)" in verdict.detail


@pytest.mark.parametrize("after, kw, found", [
    (counters(), {"owned": ("table public.made",)}, "owns 1 object(s) it created: table public.made"),
    (counters(writable=3, database=3), {}, "tables its role may write: public.guestbook (3)"),
    (counters(catalog=9), {"statements": (Statement("CREATE TABLE t (n int)", 1, 0), Statement("DROP TABLE t", 1, 0))},
     "2 statement(s) that write (CREATE, DROP)"),
])
def test_a_write_of_the_workloads_own_fails(after: Counters, kw: dict, found: str) -> None:  # type: ignore[type-arg]
    verdict = judge(evidence(after, **kw))
    assert verdict.status == "fail" and found in verdict.detail, verdict.detail


@pytest.mark.parametrize("after, kw, found", [
    (counters(catalog=9), {"statements": None}, "the catalogs changed (pg_catalog.pg_class (9)) and its role may create"),
    (counters(catalog=9), {"statements": (Statement("DO $$ BEGIN END $$", 1, 0),)}, "it ran DO/CALL"),
    (counters(app=5), {"definer": ("public.audit_write()",)}, "SECURITY DEFINER functions (public.audit_write())"),
])
def test_a_change_the_workload_may_have_made_is_not_a_pass(after: Counters, kw: dict, found: str) -> None:  # type: ignore[type-arg]
    verdict = judge(evidence(after, **kw))
    assert verdict.status == "unknown" and found in verdict.detail, verdict.detail


def test_catalogs_that_change_while_the_role_cannot_create_are_someone_elses() -> None:
    assert judge(evidence(counters(catalog=9), statements=None, can_create=False)).status == "pass"


def test_catalogs_changed_while_security_definer_functions_were_callable_is_unknown() -> None:
    verdict = judge(evidence(counters(catalog=61), statements=(Statement("SELECT mk()", 61, 61),), definer=("public.mk()",)))
    assert verdict.status == "unknown" and "SECURITY DEFINER" in verdict.detail, verdict.detail
    # Negative control: the same change with no such function to call is another client's.
    assert judge(evidence(counters(catalog=61), statements=(Statement("SELECT 1", 61, 61),))).status == "pass"
