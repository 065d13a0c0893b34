"""The read-only SQL guard (ops.query.guard): what it lets through, and every disguise of a write it refuses,
each with the reason named in its message."""

from __future__ import annotations

import re

import pytest

from ops.errors import UsageError
from ops.query.guard import Refused, denied_function, guard

ALLOWED = [
    ("SELECT 1", "SELECT"),
    ("select * from orders.orders where customer_id = 42 order by created_at desc limit 10;", "SELECT"),
    ("WITH recent AS (SELECT * FROM t WHERE ts > now() - interval '1 day') SELECT count(*) FROM recent", "SELECT"),
    ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n", "SELECT"),
    ("VALUES (1, 'a'), (2, 'b')", "SELECT"),
    ("TABLE pg_stat_activity", "SELECT"),
    ("SELECT 1 UNION SELECT 2 EXCEPT SELECT 3", "SELECT"),
    ("SELECT 'DELETE FROM t; DROP TABLE t' AS text_only", "SELECT"),  # a write in a string literal is only text
    ("SELECT \"pg_sleep_note\" FROM t", "SELECT"),  # a column named like a denied function is no call
    ("SELECT pg_size_pretty(pg_database_size(current_database()))", "SELECT"),
    ("SELECT * FROM generate_series(1, 3) AS g(i)", "SELECT"),
    ("/* why */ SELECT 1 -- trailing comment", "SELECT"),
    ("EXPLAIN SELECT * FROM t WHERE a = 1", "EXPLAIN"),
    ("EXPLAIN (FORMAT JSON, VERBOSE, COSTS) SELECT * FROM t", "EXPLAIN"),
    ("SHOW work_mem", "SHOW"),
    ("SHOW ALL", "SHOW"),
]


@pytest.mark.parametrize("sql,kind", ALLOWED)
def test_read_only_statements_pass(sql: str, kind: str) -> None:
    assert guard(sql) == kind


REFUSED = [
    # DML, plain and disguised
    ("INSERT INTO t VALUES (1)", "INSERT is not read-only"),
    ("UPDATE t SET a = 1", "UPDATE is not read-only"),
    ("DELETE FROM t", "DELETE is not read-only"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE is not read-only"),
    ("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "writes (DELETE"),
    ("WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM x", "writes (INSERT"),
    ("WITH u AS (UPDATE t SET a = a + 1 RETURNING a) SELECT count(*) FROM u", "writes (UPDATE"),
    ("WITH a AS (SELECT 1), b AS (WITH c AS (DELETE FROM t RETURNING 1) SELECT * FROM c) SELECT * FROM a, b", "writes (DELETE"),
    ("WITH m AS (MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.id) SELECT * FROM m", "writes (MERGE"),
    ("SELECT * FROM t WHERE id IN (WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d)", "writes (DELETE"),
    ("SELECT * INTO copy_of_t FROM t", "SELECT INTO creates a table"),
    ("CREATE TABLE t2 AS SELECT * FROM t", "CREATE TABLE AS is not read-only"),
    ("SELECT * FROM t FOR UPDATE", "locking clause"),
    ("SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", "locking clause"),
    ("SELECT * FROM t FOR SHARE", "locking clause"),
    ("SELECT * FROM (SELECT * FROM t FOR KEY SHARE) s", "locking clause"),
    ("COPY t TO STDOUT", "COPY is not read-only"),
    ("COPY (SELECT 1) TO PROGRAM 'id'", "COPY is not read-only"),
    ("COPY t FROM '/etc/passwd'", "COPY is not read-only"),
    # session and transaction state
    ("SET transaction_read_only = off", "SET transaction_read_only is not read-only"),
    ("SET TRANSACTION READ WRITE", "SET TRANSACTION is not read-only"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "SET SESSION CHARACTERISTICS is not read-only"),
    ("set local statement_timeout = 0", "SET statement_timeout is not read-only"),
    ("RESET ALL", "RESET is not read-only"),
    ("SET ROLE postgres", "SET role is not read-only"),
    ("BEGIN", "transaction control (BEGIN)"),
    ("START TRANSACTION READ WRITE", "transaction control (START)"),
    ("COMMIT", "transaction control (COMMIT)"),
    ("ROLLBACK", "transaction control (ROLLBACK)"),
    ("SAVEPOINT s1", "transaction control (SAVEPOINT)"),
    # several statements, however they are hidden
    ("SELECT 1; DELETE FROM t", "exactly one statement is allowed, not 2"),
    ("SELECT 1;SELECT 2", "exactly one statement is allowed, not 2"),
    ("SELECT 1; -- harmless\nCOMMIT; DROP TABLE t", "exactly one statement is allowed, not 3"),
    ("ROLLBACK; SET TRANSACTION READ WRITE; INSERT INTO t VALUES (1)", "exactly one statement is allowed, not 3"),
    # procedural, prepared, cursors, notifications, maintenance
    ("DO $$ BEGIN DELETE FROM t; END $$", "DO is not read-only"),
    ("CALL do_things()", "CALL is not read-only"),
    ("LISTEN chan", "LISTEN is not read-only"),
    ("NOTIFY chan, 'x'", "NOTIFY is not read-only"),
    ("PREPARE p AS DELETE FROM t", "PREPARE is not read-only"),
    ("EXECUTE p", "EXECUTE is not read-only"),
    ("DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t", "DECLARE CURSOR is not read-only"),
    ("VACUUM FULL t", "VACUUM/ANALYZE is not read-only"),
    ("ANALYZE t", "VACUUM/ANALYZE is not read-only"),
    ("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "LOCK is not read-only"),
    ("DROP TABLE t", "DROP is not read-only"),
    ("TRUNCATE t", "TRUNCATE is not read-only"),
    ("GRANT ALL ON t TO public", "GRANT/REVOKE is not read-only"),
    ("REFRESH MATERIALIZED VIEW mv", "REFRESH MATERIALIZED VIEW is not read-only"),
    ("CHECKPOINT", "CHECKPOINT is not read-only"),
    ("LOAD 'somelib'", "LOAD is not read-only"),
    # EXPLAIN of anything but a SELECT, and ANALYZE (it runs the statement)
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM t", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN DELETE FROM t", "EXPLAIN of DELETE"),
    ("EXPLAIN SELECT pg_terminate_backend(1)", "function pg_terminate_backend()"),
    # functions with side effects, wherever they hide
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "function pg_terminate_backend()"),
    ("SELECT pg_cancel_backend(123)", "function pg_cancel_backend()"),
    ("SELECT pg_reload_conf()", "function pg_reload_conf()"),
    ("SELECT pg_rotate_logfile()", "function pg_rotate_logfile()"),
    ("SELECT set_config('transaction_read_only', 'off', true)", "function set_config()"),
    ("SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)", "function set_config()"),
    ("SELECT PG_CATALOG.\"set_config\"('a.b', 'c', true)", "function set_config()"),
    ("SELECT pg_advisory_lock(1)", "function pg_advisory_lock()"),
    ("SELECT pg_try_advisory_xact_lock(1)", "function pg_try_advisory_xact_lock()"),
    ("SELECT lo_import('/etc/passwd')", "function lo_import()"),
    ("SELECT lo_export(16384, '/tmp/x')", "function lo_export()"),
    ("SELECT * FROM dblink('dbname=postgres', 'DELETE FROM t') AS r(x text)", "function dblink()"),
    ("SELECT dblink_exec('DELETE FROM t')", "function dblink_exec()"),
    ("SELECT pg_read_file('/etc/passwd')", "function pg_read_file()"),
    ("SELECT pg_read_binary_file('postgresql.conf')", "function pg_read_binary_file()"),
    ("SELECT * FROM pg_ls_dir('.')", "function pg_ls_dir()"),
    ("SELECT pg_stat_file('postgresql.conf')", "function pg_stat_file()"),
    ("SELECT pg_sleep(10)", "function pg_sleep()"),
    ("SELECT pg_sleep_for('1 hour')", "function pg_sleep_for()"),
    ("SELECT * FROM t WHERE pg_sleep(1) IS NULL", "function pg_sleep()"),
    ("SELECT (SELECT nextval('orders_id_seq'))", "function nextval()"),
    ("SELECT setval('orders_id_seq', 1)", "function setval()"),
    ("SELECT txid_current()", "function txid_current()"),
    ("SELECT pg_current_xact_id()", "function pg_current_xact_id()"),
    ("SELECT pg_switch_wal()", "function pg_switch_wal()"),
    ("SELECT pg_create_physical_replication_slot('s')", "function pg_create_physical_replication_slot()"),
    ("SELECT pg_create_logical_replication_slot('s', 'pgoutput')", "function pg_create_logical_replication_slot()"),
    ("SELECT pg_drop_replication_slot('s')", "function pg_drop_replication_slot()"),
    ("SELECT pg_promote()", "function pg_promote()"),
    ("SELECT pg_logical_emit_message(true, 'p', 'x')", "function pg_logical_emit_message()"),
    ("SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)", "function pg_logical_slot_get_changes()"),
    ("SELECT query_to_xml('DELETE FROM t RETURNING 1', true, true, '')", "function query_to_xml()"),
    ("SELECT pg_notify('chan', 'x')", "function pg_notify()"),
    ("SELECT pg_stat_reset()", "function pg_stat_reset()"),
    ("SELECT CASE WHEN true THEN pg_terminate_backend(1) END", "function pg_terminate_backend()"),
    ("SELECT coalesce(NULL, set_config('a.b', 'c', false))", "function set_config()"),
    ("SELECT * FROM t ORDER BY pg_sleep(1)", "function pg_sleep()"),
    ("SELECT * FROM t JOIN LATERAL (SELECT pg_advisory_lock(t.id)) l ON true", "function pg_advisory_lock()"),
    ("SELECT array_agg(x) FILTER (WHERE pg_cancel_backend(x) ) FROM t", "function pg_cancel_backend()"),
    # what does not parse, or says nothing
    ("SELEC 1", "does not parse"),
    ("SELECT 'unterminated", "does not parse"),
    ("\\! rm -rf /", "does not parse"),
    ("", "no statement given"),
    ("   ", "no statement given"),
    (";", "no statement given"),
    ("-- only a comment", "no statement given"),
]


@pytest.mark.parametrize("sql,reason", REFUSED)
def test_writes_and_side_effects_are_refused_naming_why(sql: str, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        guard(sql)
    assert reason in str(caught.value), str(caught.value)
    assert str(caught.value).startswith("refused: ")


def test_a_refusal_is_a_usage_error_of_one_line() -> None:
    """Bad input is exit 2 on the CLI and a tool error over MCP: one line, no traceback."""
    with pytest.raises(UsageError) as caught:
        guard("SELECT 1;\nDELETE FROM t")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["pg_advisory_unlock_all", "lo_unlink", "dblink_connect", "pg_ls_waldir", "txid_current_if_assigned",
                                  "pg_drop_replication_slot", "cursor_to_xml", "pg_file_write", "PG_SLEEP", "hypopg_create_index"])
def test_deny_list_covers_every_member_of_a_family(name: str) -> None:
    assert denied_function(name)


@pytest.mark.parametrize("name", ["count", "now", "pg_size_pretty", "pg_is_in_recovery", "pg_stat_get_live_tuples", "lower",
                                  "current_setting", "pg_relation_size", "lots", "sleepy"])
def test_deny_list_leaves_ordinary_functions_alone(name: str) -> None:
    assert not denied_function(name)


@pytest.mark.parametrize("sql", [
    "SELECT ts_rewrite('a'::tsquery, 'SELECT pg_sleep(1)')",
    "SELECT brin_summarize_new_values('i'::regclass)",
    "SELECT brin_desummarize_range('i'::regclass, 0)",
    "SELECT gin_clean_pending_list('i'::regclass)",
    "SELECT pg_prewarm('t')",
    "SELECT pg_buffercache_evict(1)",
    "SELECT aws_s3.query_export_to_s3('SELECT 1', 'uri')",
    "SELECT aws_lambda.invoke('f', '{}'::json)",
    "SELECT aws_bedrock.invoke_model('m', 'text/plain', 'application/json', 'x')",
    "SELECT * FROM connectby('t', 'id', 'parent', '1', 0)",
    "SELECT pg_background_launch('DELETE FROM t')",
    "SELECT table_to_xml('t', true, false, '')",
    "SELECT database_to_xml(true, false, '')",
    "SELECT pg_stat_kcache_reset()",
    "SELECT pg_qualstats_reset()",
    "SELECT pg_wait_sampling_reset_profile()",
    "SELECT hypopg_hide_index(1)",
])
def test_functions_that_run_sql_change_pages_or_call_out_are_denied(sql: str) -> None:
    with pytest.raises(Refused, match="is denied"):
        guard(sql)


def test_sql_longer_than_the_cap_is_refused_before_parsing_even_in_a_worker_thread() -> None:
    """120 KB of `+ 1` overflows the parser's stack in a thread (a segfault of the whole process) without the cap."""
    import threading

    from ops.query.guard import MAX_SQL_BYTES

    deep = "SELECT 1" + " + 1" * 30000
    caught: list[BaseException] = []

    def worker() -> None:
        try:
            guard(deep)
        except BaseException as exc:  # noqa: BLE001 - the thread hands it back
            caught.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert isinstance(caught[0], Refused)
    assert str(caught[0]) == f"refused: SQL of {len(deep)} bytes is longer than the {MAX_SQL_BYTES} allowed"
    # The negative control: just under the cap, a deep expression parses in a thread.
    near = "SELECT 1" + "+1" * ((MAX_SQL_BYTES - 8) // 2)
    assert len(near) <= MAX_SQL_BYTES
    thread = threading.Thread(target=lambda: caught.append(guard(near)))  # type: ignore[func-returns-value]
    thread.start()
    thread.join(timeout=30)
    assert caught[1] == "SELECT"


def test_function_names_keep_the_schema_given() -> None:
    from ops.query.guard import function_names

    assert function_names("SELECT lower(x), pg_catalog.upper(y), s.f() FROM t, generate_series(1, 2)") == {
        (None, "lower"), ("pg_catalog", "upper"), ("s", "f"), (None, "generate_series")}


@pytest.mark.parametrize("sql", [
    "UPDATE orders.orders SET status = $1 WHERE customer_id = $2",
    "DELETE FROM orders.orders WHERE created_at < $1",
    "INSERT INTO archive SELECT * FROM orders.orders WHERE created_at < $1",
    "INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
    "WITH recent AS (SELECT id FROM t WHERE ts > $1) UPDATE t SET a = $2 WHERE id IN (SELECT id FROM recent)",
])
def test_the_audit_plans_one_insert_update_or_delete_and_sql_query_still_refuses_it(sql: str) -> None:
    from ops.query.guard import check_prepare, prepared_select

    body, _ = prepared_select(sql, writes=True)
    check_prepare(f"PREPARE p AS {body}\n", writes=True)
    with pytest.raises(Refused):
        guard(sql)
    with pytest.raises(Refused, match="is not read-only SQL"):
        prepared_select(sql)
    with pytest.raises(Refused, match="not one PREPARE of a SELECT"):
        check_prepare(f"PREPARE p AS {body}\n")


@pytest.mark.parametrize("sql,reason", [
    ("WITH gone AS (DELETE FROM t RETURNING id) UPDATE u SET a = 1 WHERE id IN (SELECT id FROM gone)", "writes (DELETE"),
    ("UPDATE t SET a = 1; DELETE FROM t", "exactly one statement"),
    ("DELETE FROM t WHERE id = pg_advisory_lock(1)", "pg_advisory_lock() has side effects"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE is not read-only"),
    ("TRUNCATE t", "TRUNCATE is not read-only"),
    ("INSERT INTO t SELECT * FROM (SELECT * FROM s FOR UPDATE) x", "locking clause"),
])
def test_the_audits_planner_refuses_more_than_one_write_or_a_write_inside_one(sql: str, reason: str) -> None:
    from ops.query.guard import check_prepare, prepared_select

    with pytest.raises(Refused, match=re.escape(reason)):
        prepared_select(sql, writes=True)
    with pytest.raises(Refused):
        check_prepare(f"PREPARE p AS {sql}\n", writes=True)
