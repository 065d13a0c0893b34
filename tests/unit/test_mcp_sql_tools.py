"""The SQL and lake tools registered on an MCP server of the test's own, driven by the SDK's client in memory.

No database is needed here: a refusal and a bad argument are answered before any connection is opened
(the target named is the lab's, which is not running), and the lake tools read dbops.toml only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ops.mcp.settings import McpSettings
from tests.conftest import write_config

PIPELINE = """
[pipelines.orders]
destination = { bucket = "dbops-lab-lake", prefix = "orders", database = "dbops_lab_lake" }

[pipelines.orders.tables.orders]
source = "localpg:lab-pg"
from = "orders.orders"
key = ["id"]
partition_by = "created_at"
columns = { id = "bigint", status = "string", created_at = "timestamp" }
"""


def server(root: Path, extra: str = "") -> Any:
    from mcp.server.mcpserver import MCPServer

    from ops.mcp import sql_tools

    srv = MCPServer("dbops-test")
    sql_tools.register(srv, McpSettings(write_config(root, extra=extra, lab_dir=root / ".lab"), "lab", False, root / "reports"))
    return srv


def call(srv: Any, name: str, arguments: dict[str, Any]) -> Any:
    from mcp import Client

    async def go() -> Any:
        async with Client(srv) as client:
            return await client.call_tool(name, arguments)

    return asyncio.run(go())


def error_text(result: Any) -> str:
    assert result.is_error, result
    (content,) = result.content
    assert "\n" not in content.text and "Traceback" not in content.text
    return content.text


def test_tools_are_listed_as_read_only(tmp_path: Path) -> None:
    from mcp import Client

    async def go() -> Any:
        async with Client(server(tmp_path)) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in asyncio.run(go())}
    assert set(tools) == {"sql_query", "sql_explain", "query_audit", "lake_tables", "lake_query"}
    assert all(t.annotations.read_only_hint and not t.annotations.destructive_hint for t in tools.values())


@pytest.mark.parametrize("tool,sql,reason", [
    ("sql_query", "WITH d AS (DELETE FROM orders.orders RETURNING id) SELECT count(*) FROM d", "writes (DELETE"),
    ("sql_query", "COPY orders.orders TO PROGRAM 'sh'", "COPY is not read-only"),
    ("sql_query", "SELECT set_config('transaction_read_only', 'off', true)", "function set_config()"),
    ("sql_query", "SELECT 1; DROP TABLE orders.orders", "exactly one statement is allowed, not 2"),
    ("sql_query", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "SET SESSION CHARACTERISTICS"),
    ("sql_query", "SELECT pg_sleep(60)", "function pg_sleep()"),
    ("sql_explain", "EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("sql_explain", "DELETE FROM orders.orders", "DELETE is not read-only"),
])
def test_destructive_sql_is_a_tool_error_naming_why(tmp_path: Path, tool: str, sql: str, reason: str) -> None:
    text = error_text(call(server(tmp_path), tool, {"target": "localpg:lab-pg", "sql": sql}))
    assert reason in text
    assert "cannot connect" not in text  # refused by the guard, before any connection


@pytest.mark.parametrize("arguments,message", [
    ({"target": "localpg:lab-pg", "sql": "SELECT 1", "row_limit": 501}, "row_limit must be between 1 and this server's limit of 500"),
    ({"target": "localpg:lab-pg", "sql": "SELECT 1", "row_limit": 0}, "row_limit must be between 1"),
    ({"target": "nonsense", "sql": "SELECT 1"}, "target 'nonsense' must be KIND:NAME"),
])
def test_bad_argument_is_one_clear_tool_error(tmp_path: Path, arguments: dict[str, Any], message: str) -> None:
    assert message in error_text(call(server(tmp_path), "sql_query", arguments))


def test_a_target_not_running_is_a_tool_error_not_a_crash(tmp_path: Path) -> None:
    text = error_text(call(server(tmp_path), "sql_query", {"target": "localpg:lab-pg", "sql": "SELECT 1"}))
    assert "Error executing tool sql_query: " in text and text != "Error executing tool sql_query"


def test_lake_tools_say_when_no_lake_is_configured(tmp_path: Path) -> None:
    srv = server(tmp_path)
    listed = call(srv, "lake_tables", {})
    assert not listed.is_error and listed.structured_content["lake"] is None
    assert "no analytics lake is configured" in listed.structured_content["note"]
    assert "no analytics lake is configured" in error_text(call(srv, "lake_query", {"pipeline": "orders", "sql": "SELECT 1"}))


def test_lake_tables_lists_the_declared_pipelines(tmp_path: Path) -> None:
    listed = call(server(tmp_path, PIPELINE), "lake_tables", {})
    (lake,) = listed.structured_content["lake"]
    assert lake["pipeline"] == "orders" and lake["bucket"] == "dbops-lab-lake" and lake["database"] == "dbops_lab_lake"
    (table,) = lake["tables"]
    assert table["name"] == "orders" and table["source"] == "localpg:lab-pg" and table["partition_by"] == "created_at_date"


@pytest.mark.parametrize("sql,reason", [
    ("DELETE FROM orders", "DELETE is not read-only"),
    ("SELECT sum(i) FROM (SELECT unnest(range(1000000000)) i) s", "no series of rows or values made from nothing (generate_series)"),
    ("SELECT generate_series(1, 1000000000) FROM orders", "no series of rows or values made from nothing (generate_series)"),
    ("SHOW work_mem", "lake_query runs one SELECT only, not SHOW"),
    ("SELECT * FROM read_parquet('/etc/*.parquet')", "reads the pipeline's tables only (orders), not READ_PARQUET"),
    ("SELECT * FROM pg_catalog.pg_authid", "reads the pipeline's tables only"),
    ("SELECT 1; SELECT 2", "exactly one statement is allowed"),
    ("SELECT * FROM awsdatacatalog.prod_pii.orders", "reads the pipeline's tables only (orders), named without a catalog "
                                                     "or database, not awsdatacatalog.prod_pii.orders"),
    ("SELECT * FROM prod_pii.orders", "named without a catalog or database, not prod_pii.orders"),
])
def test_lake_query_reads_the_pipelines_tables_only(tmp_path: Path, sql: str, reason: str) -> None:
    assert reason in error_text(call(server(tmp_path, PIPELINE), "lake_query", {"pipeline": "orders", "sql": sql}))


def test_lake_query_downloads_only_the_tables_it_reads() -> None:
    from ops.etl.lakeread import read_only

    names = {"orders", "customers", "events"}
    assert read_only("SELECT count(*) FROM orders", names) == {"orders"}
    assert read_only("WITH c AS (SELECT id FROM customers) SELECT * FROM orders JOIN c ON c.id = orders.customer_id", names) \
        == {"orders", "customers"}
    assert read_only("SELECT 1", names) == set()


@pytest.mark.parametrize("tool,arguments", [
    ("sql_query", {"target": "aurora:orders", "sql": "SELECT 1"}),
    ("sql_explain", {"target": "aurora:orders", "sql": "SELECT 1"}),
    ("query_audit", {"target": "aurora:orders"}),
])
def test_an_aws_error_is_the_one_line_dbops_says_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str,
                                                        arguments: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    from ops.mcp import sql_tools

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "User x is not authorized"}}, "DescribeDBClusters")

    def endpoint(*_: Any) -> Any:
        raise denied

    monkeypatch.setattr(sql_tools, "loaded", lambda settings: (None, type("Env", (), {"name": "lab"})()))
    monkeypatch.setattr(sql_tools, "endpoint", endpoint)
    text = error_text(call(server(tmp_path), tool, arguments))
    assert text == f"Error executing tool {tool}: AWS DescribeDBClusters failed: AccessDeniedException: User x is not authorized"


def test_query_audit_reads_the_reader_unless_the_writer_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.errors import CannotRun
    from ops.mcp import sql_tools

    asked: list[bool] = []

    def endpoint(settings: Any, target: str, writer: bool) -> Any:
        asked.append(writer)
        raise CannotRun("stop here")

    monkeypatch.setattr(sql_tools, "loaded", lambda settings: (None, type("Env", (), {"name": "lab"})()))
    monkeypatch.setattr(sql_tools, "endpoint", endpoint)
    call(server(tmp_path), "query_audit", {"target": "localpg:lab-pg"})
    call(server(tmp_path), "query_audit", {"target": "localpg:lab-pg", "writer": True})
    assert asked == [False, True]
