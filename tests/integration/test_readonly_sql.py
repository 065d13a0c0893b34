"""Read-only SQL and explain (ops.query.readonly) on the lab's real PostgreSQL, through lab-pg's endpoints.

Each refusal and each stop is checked against the server itself: row counts and a sequence read on a
separate, writable connection before and after; the write a parser cannot see (a SELECT of a function
that inserts) is shown to write when allowed to (the negative control) and to be stopped by READ ONLY.
"""

from __future__ import annotations

import json
import time
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


def test_write_the_parser_cannot_see_is_stopped_by_read_only(probe: str) -> None:
    sql = f"SELECT {SCHEMA}.sneaky_write()"
    assert guard(sql) == "SELECT"  # a function's body is beyond any parse of the call
    before = state(probe)
    with pytest.raises(CannotRun, match="READ ONLY transaction refused a write"):
        run_read_only(probe, sql, "the lab's writer")
    assert state(probe) == before
    # The negative control: the same call on a writable session does write, so READ ONLY is what stopped it.
    with psycopg.connect(probe) as conn:
        conn.execute(sql)
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.items").fetchone()[0] == before[0] + 1
        conn.rollback()


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
