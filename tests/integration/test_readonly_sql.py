"""Read-only SQL and explain (ops.query.readonly) on the lab's real PostgreSQL, through lab-pg's endpoints.

Each refusal and each stop is checked against the server itself: row counts and a sequence read on a
separate, writable connection before and after; the write a parser cannot see (a SELECT of a function
that inserts) is shown to write when allowed to (the negative control) and to be stopped by READ ONLY.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from ops.errors import CannotRun
from ops.query.endpoints import endpoint_of
from ops.query.guard import Refused, guard
from ops.query.readonly import explain, run_read_only
from tests.conftest import Cli

SCHEMA = "mcp_sql_probe"


@pytest.fixture(scope="module")
def writer(lab: Cli) -> str:
    from ops.targets.registry import open_cluster

    cfg = lab.config
    return endpoint_of(open_cluster(cfg, cfg.env("lab"), "localpg:lab-pg"), "writer").dsn


@pytest.fixture(scope="module")
def probe(writer: str) -> Iterator[str]:
    """A schema of the test's own: a table with a sequence, a function that writes, 20 000 rows without an index."""
    with psycopg.connect(writer, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.items (id bigserial PRIMARY KEY, customer int NOT NULL, note text)")
        conn.execute(f"INSERT INTO {SCHEMA}.items (customer, note) SELECT g % 500, 'n' || g FROM generate_series(1, 20000) g")
        conn.execute(f"ANALYZE {SCHEMA}.items")
        conn.execute(f"CREATE FUNCTION {SCHEMA}.sneaky_write() RETURNS int LANGUAGE sql VOLATILE AS "
                     f"$$ INSERT INTO {SCHEMA}.items (customer, note) VALUES (-1, 'sneaky') RETURNING 1 $$")
    yield writer
    with psycopg.connect(writer, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def state(dsn: str) -> tuple[int, int, int]:
    """(rows, the sequence's last value, indexes on the table), read on a connection of the test's own."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(f"SELECT (SELECT count(*) FROM {SCHEMA}.items), (SELECT last_value FROM {SCHEMA}.items_id_seq), "
                            f"(SELECT count(*) FROM pg_indexes WHERE schemaname = '{SCHEMA}')").fetchone()


@pytest.mark.parametrize("sql", [
    f"WITH d AS (DELETE FROM {SCHEMA}.items RETURNING id) SELECT count(*) FROM d",
    f"SELECT nextval('{SCHEMA}.items_id_seq')",
    f"INSERT INTO {SCHEMA}.items (customer) VALUES (1)",
    f"SELECT 1; DELETE FROM {SCHEMA}.items",
    f"SET TRANSACTION READ WRITE",
])
def test_refused_statement_changes_nothing(probe: str, sql: str) -> None:
    before = state(probe)
    with pytest.raises(Refused):
        run_read_only(probe, sql, "the lab's writer")
    assert state(probe) == before


def test_a_volatile_function_is_refused_by_the_servers_catalog(probe: str) -> None:
    sql = f"SELECT {SCHEMA}.sneaky_write()"
    assert guard(sql) == "SELECT"  # a function's body is beyond any parse of the call
    before = state(probe)
    with pytest.raises(Refused, match=f"volatile function {SCHEMA}.sneaky_write\\(\\) may change state: refused"):
        run_read_only(probe, sql, "the lab's writer")
    with pytest.raises(Refused, match="volatile function setseed"):  # a builtin on no list, found through the search path
        run_read_only(probe, "SELECT setseed(0.5)", "the lab's writer")
    assert state(probe) == before
    # The negative control: stable and harmless volatile builtins run.
    got = run_read_only(probe, "SELECT lower('A'), now() IS NOT NULL, random() < 2, pg_is_in_recovery()", "the lab's writer")
    assert got.rows == (("a", True, True, False),)


def test_write_the_parser_cannot_see_is_stopped_by_read_only(probe: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the catalog's volatility wrong (a function declared STABLE that writes), READ ONLY still stops the write."""
    from ops.query import guard as guard_mod

    monkeypatch.setattr(guard_mod, "refuse_volatile", lambda conn, sql: None)
    sql = f"SELECT {SCHEMA}.sneaky_write()"
    before = state(probe)
    with pytest.raises(CannotRun, match="READ ONLY transaction refused a write"):
        run_read_only(probe, sql, "the lab's writer")
    assert state(probe) == before
    # The negative control: the same call on a writable session does write, so READ ONLY is what stopped it.
    with psycopg.connect(probe) as conn:
        conn.execute(sql)
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.items").fetchone()[0] == before[0] + 1
        conn.rollback()


def test_the_session_is_read_only_with_the_timeout_asked(probe: str) -> None:
    assert run_read_only(probe, "SHOW transaction_read_only", "the lab's writer").rows == (("on",),)
    assert run_read_only(probe, "SHOW statement_timeout", "the lab's writer", timeout_ms=1234).rows == (("1234ms",),)


def test_the_server_takes_one_statement_even_past_the_guard(probe: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the guard fooled into counting one statement, the prepared statement's protocol still runs one."""
    from ops.query import guard as guard_mod

    monkeypatch.setattr(guard_mod, "guard", lambda sql: "SELECT")
    monkeypatch.setattr(guard_mod, "refuse_volatile", lambda conn, sql: None)
    before = state(probe)
    with pytest.raises(CannotRun, match="cannot insert multiple commands into a prepared statement"):
        run_read_only(probe, f"SELECT 1; SELECT {SCHEMA}.sneaky_write()", "the lab's writer")
    assert state(probe) == before


def test_statement_timeout_stops_a_slow_select(probe: str) -> None:
    slow = "SELECT count(*) FROM generate_series(1, 4000) a CROSS JOIN generate_series(1, 4000) b"
    began = time.monotonic()
    with pytest.raises(CannotRun, match="stopped by its statement timeout of 200 ms"):
        run_read_only(probe, slow, "the lab's writer", timeout_ms=200)
    stopped_after = time.monotonic() - began
    assert stopped_after < 2.0, stopped_after
    # The negative control: given time, the same statement answers (so it was the timeout that stopped it).
    done = run_read_only(probe, slow, "the lab's writer", timeout_ms=30_000)
    assert done.rows == ((16_000_000,),)
    assert done.elapsed_ms > 200, done.elapsed_ms


def test_row_limit_truncates_and_says_so(probe: str) -> None:
    cut = run_read_only(probe, "SELECT g FROM generate_series(1, 50) g", "the lab's writer", row_limit=10)
    assert cut.rows == tuple((i,) for i in range(1, 11)) and cut.truncated
    whole = run_read_only(probe, "SELECT g FROM generate_series(1, 50) g", "the lab's writer", row_limit=50)
    assert len(whole.rows) == 50 and not whole.truncated


def test_a_huge_result_stops_at_the_row_limit_on_the_server(probe: str) -> None:
    """400 million rows: read whole, they would run into the timeout; through the cursor, 6 rows are made and sent."""
    got = run_read_only(probe, f"SELECT a.id, b.id FROM {SCHEMA}.items a CROSS JOIN {SCHEMA}.items b", "the lab's writer",
                        row_limit=5, timeout_ms=3000)
    assert len(got.rows) == 5 and got.truncated and got.elapsed_ms < 1000, got.elapsed_ms


def test_an_answer_is_bounded_in_bytes_each_value_and_the_whole(probe: str) -> None:
    """Ten rows of 20 MB: one is kept, cut to 8 KB, and fetching stops; 400 rows of 4 KB stop near 1 MB."""
    from ops.query.answer import MAX_ANSWER_BYTES, MAX_VALUE_BYTES

    huge = run_read_only(probe, "SELECT g, repeat('x', 20000000) AS x FROM generate_series(1, 10) g", "the lab's writer")
    assert huge.truncated_by == "byte_limit" and [r[0] for r in huge.rows] == [1] and huge.values_cut == 1
    assert huge.rows[0][1].endswith("… [value cut: 20000000 bytes]") and len(huge.rows[0][1]) < MAX_VALUE_BYTES + 40
    assert huge.elapsed_ms < 3000, huge.elapsed_ms
    many = run_read_only(probe, "SELECT repeat('y', 4000) FROM generate_series(1, 400)", "the lab's writer")
    assert many.truncated and many.truncated_by == "byte_limit" and 200 < len(many.rows) < 400
    assert MAX_ANSWER_BYTES <= len(json.dumps(many.to_dict())) < MAX_ANSWER_BYTES + 40_000
    whole = run_read_only(probe, "SELECT repeat('y', 4000) FROM generate_series(1, 100)", "the lab's writer")
    assert len(whole.rows) == 100 and not whole.truncated and whole.values_cut == 0


def test_values_come_back_json_safe(probe: str) -> None:
    got = run_read_only(probe, "SELECT 1.10::numeric AS n, '2026-01-02 03:04:05+00'::timestamptz AS ts, '\\x0102'::bytea AS b, "
                               "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, interval '90 minutes' AS i, "
                               "'{\"k\": [1, 2]}'::jsonb AS j, ARRAY[1, 2] AS a, 'NaN'::float8 AS nan, NULL::text AS nothing",
                       "the lab's writer")
    assert got.columns == ("n", "ts", "b", "u", "i", "j", "a", "nan", "nothing")
    assert got.rows == (("1.10", "2026-01-02T03:04:05+00:00", {"base64": "AQI="}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                         "1:30:00", {"k": [1, 2]}, [1, 2], "nan", None),)
    json.dumps(got.to_dict(), allow_nan=False)


def test_reader_endpoint_reaches_a_replica(lab: Cli, probe: str) -> None:
    from ops.targets.registry import open_cluster

    cfg = lab.config
    cluster = open_cluster(cfg, cfg.env("lab"), "localpg:lab-pg")
    reader = endpoint_of(cluster, "reader")
    assert run_read_only(reader.dsn, "SELECT pg_is_in_recovery()", reader.label).rows == ((True,),)
    assert run_read_only(probe, "SELECT pg_is_in_recovery()", "the lab's writer").rows == ((False,),)


def test_connection_failure_is_one_line_without_the_password() -> None:
    with pytest.raises(CannotRun) as caught:
        run_read_only("host=127.0.0.1 port=1 user=u password=Sup3rSecretPw dbname=d", "SELECT 1", "a closed port")
    text = str(caught.value)
    assert text.startswith("cannot connect to a closed port: ") and "Sup3rSecretPw" not in text and "\n" not in text


def test_explain_advises_a_hypothetical_index_and_creates_none(probe: str) -> None:
    before = state(probe)
    got = explain(probe, f"SELECT * FROM {SCHEMA}.items WHERE customer = 42", "the lab's writer")
    assert got.hypopg is None
    assert got.plan["Plan"]["Node Type"] == "Seq Scan" and "Actual Rows" not in got.plan["Plan"]  # planned, not run
    (advice,) = got.advice
    assert advice.table == f"{SCHEMA}.items" and advice.best is not None
    assert advice.best.columns == ("customer",) and advice.best.cost_after < advice.cost_before
    assert advice.to_dict()["index"] == f"CREATE INDEX CONCURRENTLY ON {SCHEMA}.items (customer)"
    assert state(probe) == before  # the hypothetical index is no index


def test_explain_gives_no_advice_where_an_index_serves(probe: str) -> None:
    """The negative control: a lookup by primary key scans no table sequentially, so nothing is advised."""
    got = explain(probe, f"SELECT * FROM {SCHEMA}.items WHERE id = 42", "the lab's writer")
    assert got.advice == () and "Index" in got.plan["Plan"]["Node Type"]


def test_explain_takes_a_select_only(probe: str) -> None:
    with pytest.raises(Refused, match="EXPLAIN ANALYZE runs the statement"):
        explain(probe, f"EXPLAIN ANALYZE SELECT * FROM {SCHEMA}.items", "the lab's writer")
    with pytest.raises(Exception, match="explain takes a SELECT"):
        explain(probe, "SHOW work_mem", "the lab's writer")


# Statements whose comment markers sit inside a dollar-quoted string or a quoted identifier: a comment stripper
# that does not know those quotes cuts them into several statements that commit and then write.
SMUGGLED = [
    (f"SELECT $x$/*$x$ AS a, '*/ $x$; COMMIT; BEGIN READ WRITE; CREATE TABLE {SCHEMA}.pwned(); "
     f"DELETE FROM {SCHEMA}.items; COMMIT; SELECT 1 --' AS b FROM pg_class", "pwned"),
    (f'SELECT 1 AS "--", 2 AS b\n, 3 AS "; COMMIT; BEGIN READ WRITE; CREATE TABLE {SCHEMA}.pwned2(); COMMIT; SELECT 1 AS "\n, 4 AS "--"',
     "pwned2"),
]


def created(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.{table}",)).fetchone()[0]


@pytest.mark.parametrize("sql,table", SMUGGLED)
def test_explain_of_a_smuggled_statement_runs_nothing_but_the_plan(probe: str, sql: str, table: str) -> None:
    assert guard(sql) == "SELECT"  # to PostgreSQL's parser it is one SELECT of strings and names
    before = state(probe)
    got = explain(probe, sql, "the lab's writer")
    assert got.plan["Plan"]["Node Type"]  # it was planned, as the one SELECT it is
    assert not created(probe, table) and state(probe) == before


def test_the_query_audit_never_runs_a_statement_planted_in_pg_stat_statements(lab: Cli, probe: str) -> None:
    """An unprivileged role runs a smuggling statement and one with a side effect until they are top statements; the
    audit (as the master) plans the first as the one SELECT it is, does not plan the second, and nothing they carry runs."""
    from dataclasses import replace

    from ops.query.audit import gather
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    planted = (f'SELECT (SELECT count(*) FROM pg_class a, pg_class b) AS "--", 2 AS b\n, 3 AS "; COMMIT; BEGIN READ WRITE; '
               f'CREATE TABLE {SCHEMA}.planted(); COMMIT; SELECT 1 AS "\n, 4 AS "--"')
    with psycopg.connect(probe, autocommit=True) as conn:
        if not conn.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_stat_statements')").fetchone()[0]:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("DROP ROLE IF EXISTS mcp_sql_planter")
        conn.execute("CREATE ROLE mcp_sql_planter LOGIN PASSWORD 'planter-pw'")
    try:
        params = conninfo_to_dict(probe)
        params.update(user="mcp_sql_planter", password="planter-pw")
        with psycopg.connect(make_conninfo(**params), autocommit=True) as conn:
            for _ in range(200):
                conn.execute(planted)
                conn.execute("SELECT count(*), pg_try_advisory_lock(4242) FROM pg_class a, pg_class b")
        policy = replace(lab.config.policy, min_statement_calls=200)
        audit = gather(probe, policy, 200)
        (ev,) = [ev for ev in audit.evidence if ev.statement.text and "planted" in ev.statement.text]
        assert not created(probe, "planted")
        assert ev.plan is not None and ev.plan_error is None  # planned as one SELECT of strange names
        (locks,) = [ev for ev in audit.evidence if ev.statement.text and "pg_try_advisory_lock" in ev.statement.text]
        assert locks.plan is None and locks.plan_error == ("not planned: not a read-only SELECT, INSERT, UPDATE or DELETE "
                                                           "(function pg_try_advisory_lock() has side effects, sleeps or "
                                                           "runs SQL text, and is denied)")
    finally:
        with psycopg.connect(probe, autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS mcp_sql_planter")


# --- the same, as MCP tools on a server of the test's own (the SDK's client, in memory) -----------------------


@pytest.fixture
def mcp_server(lab: Cli, probe: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> object:
    """The tools on the session's lab; reports go to a directory of the test's own, not the lab's shared one."""
    from mcp.server.mcpserver import MCPServer

    from ops.mcp import sql_tools
    from ops.mcp.settings import McpSettings

    monkeypatch.setenv("DBOPS_LAB_DIR", str(lab.lab_dir))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    srv = MCPServer("dbops-test")
    sql_tools.register(srv, McpSettings(lab.config_path, "lab", False, tmp_path / "reports", sql_row_limit=5,
                                        sql_statement_timeout_ms=200))
    return srv


def call(srv: object, name: str, arguments: dict) -> object:
    import asyncio

    from mcp import Client

    async def go() -> object:
        async with Client(srv) as client:
            return await client.call_tool(name, arguments)

    return asyncio.run(go())


def test_mcp_sql_query_reads_the_reader_unless_the_writer_is_asked(mcp_server: object) -> None:
    on_reader = call(mcp_server, "sql_query", {"target": "localpg:lab-pg", "sql": "SELECT pg_is_in_recovery() AS r"})
    on_writer = call(mcp_server, "sql_query", {"target": "localpg:lab-pg", "sql": "SELECT pg_is_in_recovery() AS r", "writer": True})
    assert not on_reader.is_error and on_reader.structured_content["rows"] == [[True]]
    assert "reader" in on_reader.structured_content["endpoint"]
    assert not on_writer.is_error and on_writer.structured_content["rows"] == [[False]]


def test_mcp_sql_query_keeps_the_servers_row_limit_and_timeout(mcp_server: object) -> None:
    cut = call(mcp_server, "sql_query", {"target": "localpg:lab-pg", "sql": "SELECT g FROM generate_series(1, 9) g", "writer": True})
    assert cut.structured_content["rows"] == [[1], [2], [3], [4], [5]] and cut.structured_content["truncated"]
    slow = call(mcp_server, "sql_query", {"target": "localpg:lab-pg", "writer": True,
                                          "sql": "SELECT count(*) FROM generate_series(1, 4000) a CROSS JOIN generate_series(1, 4000) b"})
    assert slow.is_error and "stopped by its statement timeout of 200 ms" in slow.content[0].text


def test_mcp_volatile_function_is_refused_and_changes_nothing(mcp_server: object, probe: str) -> None:
    before = state(probe)
    got = call(mcp_server, "sql_query", {"target": "localpg:lab-pg", "sql": f"SELECT {SCHEMA}.sneaky_write()", "writer": True})
    assert got.is_error and f"volatile function {SCHEMA}.sneaky_write() may change state: refused" in got.content[0].text
    assert state(probe) == before


def test_mcp_sql_explain_advises_an_index(mcp_server: object) -> None:
    got = call(mcp_server, "sql_explain", {"target": "localpg:lab-pg", "writer": True,
                                           "sql": f"SELECT * FROM {SCHEMA}.items WHERE customer = 7"})
    assert not got.is_error, got.content
    (advice,) = got.structured_content["advice"]
    assert advice["index"] == f"CREATE INDEX CONCURRENTLY ON {SCHEMA}.items (customer)" and 0 < advice["gain"] <= 1


def test_mcp_query_audit_writes_its_report_as_the_command_does(mcp_server: object, tmp_path: Path) -> None:
    got = call(mcp_server, "query_audit", {"target": "localpg:lab-pg", "top": 3})
    assert not got.is_error, got.content
    report = got.structured_content
    assert report["kind"] == "query-audit" and report["status"] in ("pass", "fail", "inconclusive", "error")
    path = Path(report["paths"]["json"])
    written = json.loads(path.read_text())
    assert path.parent == tmp_path / "reports" / "query-audit" and written["started_at"] == report["started_at"]
    checks = {c["id"]: c["status"] for c in written["checks"]}
    assert {"QUERY-STATS-WINDOW", "QUERY-INDEX-UTILIZATION", "QUERY-MISSING-INDEXES"} <= set(checks)
    if checks["QUERY-STATS-WINDOW"] == "unknown":  # the lab's statistics are minutes old: never a pass
        assert report["status"] == "inconclusive"


def test_planning_leaves_the_sessions_other_prepared_statements_be(probe: str) -> None:
    """Through a transaction pooler the session is shared: only the statement the planner prepared is dropped."""
    from ops.query.plans import PREPARED, generic_plan
    from ops.query.stats import read_only_session

    with read_only_session(probe) as conn:
        conn.execute("PREPARE another_clients AS SELECT 1")
        plan = generic_plan(conn, f"SELECT * FROM {SCHEMA}.items WHERE customer = $1")
        left = {r[0] for r in conn.execute("SELECT name FROM pg_prepared_statements").fetchall()}
    assert plan.seq_scans and "another_clients" in left and PREPARED not in left


def test_the_query_audit_plans_top_updates_deletes_and_inserts_without_running_them(lab: Cli, probe: str) -> None:
    """Top statements that write are planned (their scans judged) and never run: rows they would change, added after
    they were recorded, are as they were; the lock preparing an UPDATE takes ends with its plan."""
    from dataclasses import replace

    from ops.query.audit import gather
    from ops.query.plans import generic_plan
    from ops.query.stats import read_only_session

    writes = (f"UPDATE {SCHEMA}.items SET note = 'changed' WHERE customer = 9999",
              f"DELETE FROM {SCHEMA}.items WHERE customer = 9998",
              f"INSERT INTO {SCHEMA}.items (customer, note) SELECT customer, note FROM {SCHEMA}.items WHERE customer = 9997")
    with psycopg.connect(probe, autocommit=True) as conn:
        if not conn.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_stat_statements')").fetchone()[0]:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        for _ in range(200):
            for sql in writes:
                conn.execute(sql)  # no row matches yet: nothing changes
        conn.execute(f"INSERT INTO {SCHEMA}.items (customer, note) VALUES (9999, 'kept'), (9998, 'kept'), (9997, 'kept')")
    try:
        audit = gather(probe, replace(lab.config.policy, min_statement_calls=200), 200)
        for word in ("UPDATE", "DELETE", "INSERT"):
            (ev,) = [ev for ev in audit.evidence if ev.statement.text and ev.statement.text.startswith(word)
                     and f"{SCHEMA}.items" in ev.statement.text]
            assert ev.plan_error is None and ev.plan is not None, (word, ev.plan_error)
            assert [s.table for s in ev.plan.seq_scans] == ["items"], word
        with psycopg.connect(probe, autocommit=True) as conn:
            assert conn.execute(f"SELECT customer, note FROM {SCHEMA}.items WHERE customer > 9000 ORDER BY 1").fetchall() == \
                [(9997, "kept"), (9998, "kept"), (9999, "kept")]
        with read_only_session(probe) as conn:
            generic_plan(conn, writes[0], writes=True)
            held = conn.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND mode = 'RowExclusiveLock' "
                                "AND relation = %s::regclass", (f"{SCHEMA}.items",)).fetchone()[0]
        assert held == 0
        from ops.targets.registry import open_cluster

        reader = endpoint_of(open_cluster(lab.config, lab.config.env("lab"), "localpg:lab-pg"), "reader")
        with read_only_session(reader.dsn) as conn:  # a standby plans them too (READ ONLY, and in recovery)
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            assert all(generic_plan(conn, sql, writes=True).seq_scans for sql in writes)
    finally:
        with psycopg.connect(probe, autocommit=True) as conn:
            conn.execute(f"DELETE FROM {SCHEMA}.items WHERE customer > 9000")


def test_an_error_of_the_statement_is_not_called_a_connection_failure(probe: str) -> None:
    """PostgreSQL's 54000 is an OperationalError to psycopg, as a dropped connection is: it is the statement's."""
    with pytest.raises(CannotRun) as failed:
        run_read_only(probe, "SELECT chr(0)", "the lab's writer")
    assert str(failed.value) == "the statement failed: null character not permitted"


def test_the_safe_form_of_an_error_carries_its_sqlstate_and_no_value_it_read(probe: str) -> None:
    from ops.query.sqltext import safe_message

    with pytest.raises(CannotRun) as failed:
        run_read_only(probe, "SELECT ('customer1@example.somewhere')::regclass", "the lab's writer")
    assert "customer1@example" in str(failed.value)  # the caller is told what the server said
    assert safe_message(failed.value) == '3F000 invalid_schema_name: schema "?" does not exist'


def test_the_answer_says_which_role_served_it(lab: Cli, probe: str) -> None:
    from ops.targets.registry import open_cluster

    reader = endpoint_of(open_cluster(lab.config, lab.config.env("lab"), "localpg:lab-pg"), "reader")
    assert run_read_only(reader.dsn, "SELECT 1", reader.label).served_by == "reader"
    assert run_read_only(probe, "SELECT 1", "the lab's writer").served_by == "writer"
    assert explain(probe, "SELECT 1", "the lab's writer").served_by == "writer"


def test_mcp_says_so_when_the_reader_asked_for_is_served_by_the_writer(mcp_server: object, probe: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Aurora's reader endpoint of a cluster without a reader resolves to the writer: here a reader endpoint whose
    DSN reaches the writer stands for it."""
    from ops.mcp import sql_tools
    from ops.query.endpoints import Endpoint

    asked = call(mcp_server, "sql_query", {"target": "localpg:lab-pg", "sql": "SELECT 1 AS one"})
    assert asked.structured_content["served_by"] == "reader" and "note" not in asked.structured_content
    monkeypatch.setattr(sql_tools, "endpoint", lambda *_: Endpoint("reader", probe, "the reader endpoint of localpg:lab-pg"))
    got = call(mcp_server, "sql_query", {"target": "localpg:lab-pg", "sql": "SELECT 1 AS one"})
    assert not got.is_error and got.structured_content["served_by"] == "writer"
    assert got.structured_content["note"].startswith("the reader endpoint of localpg:lab-pg was asked, and the writer answered")
    planned = call(mcp_server, "sql_explain", {"target": "localpg:lab-pg", "sql": "SELECT 1 AS one"})
    assert planned.structured_content["served_by"] == "writer" and "the writer answered" in planned.structured_content["note"]
