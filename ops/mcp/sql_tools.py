"""MCP tools for read-only database access: SQL, explain with index advice, the query audit, and the lake.

Every statement passes the guard (ops.query.guard) and runs in a READ ONLY transaction with the server's
statement timeout and row limit (McpSettings); on the target's reader endpoint unless writer=True is
asked. A refusal, a bad argument or a failure is a tool error with one clear message, never a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ops.mcp.common import answers, loaded  # answers: an AWS or database error dbops can say in one line is that line
from ops.mcp.settings import McpSettings

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

LAKE_TIMEOUT_S = 60  # a lake query over MCP: DuckDB is interrupted, then its process killed; Athena is cancelled


def endpoint(settings: McpSettings, target: str, writer: bool) -> Any:
    """The target's reader endpoint (its writer when asked), resolved as `dbops query audit` resolves it."""
    from ops.query.endpoints import endpoint_of
    from ops.targets import parse_target
    from ops.targets.registry import open_cluster

    cfg, env = loaded(settings)
    ref = parse_target(target)
    return endpoint_of(open_cluster(cfg, env, str(ref), None), "writer" if writer else "reader")


def served(ep: Any, served_by: str) -> dict[str, str]:
    """Which role answered; a note when a reader was asked and the writer answered (Aurora's reader endpoint
    resolves to the writer when the cluster has no reader)."""
    out = {"served_by": served_by}
    if ep.name == "reader" and served_by == "writer":
        out["note"] = (f"{ep.label} was asked, and the writer answered: the cluster has no reader to serve it, so this "
                       "read ran on the writer")
    return out


def _row_limit(settings: McpSettings, asked: int | None) -> int:
    from ops.errors import UsageError

    if asked is None:
        return settings.sql_row_limit
    if not 1 <= asked <= settings.sql_row_limit:
        raise UsageError(f"row_limit must be between 1 and this server's limit of {settings.sql_row_limit}, not {asked}")
    return asked


def register(server: "MCPServer", settings: McpSettings) -> None:
    from mcp.types import ToolAnnotations

    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    @answers
    def sql_query(target: str, sql: str, writer: bool = False, row_limit: int | None = None) -> dict[str, Any]:
        """Run one read-only statement (SELECT, EXPLAIN without ANALYZE, SHOW) on TARGET (KIND:NAME, e.g.
        localpg:lab-pg or aurora:orders), on its reader endpoint unless writer is true. The statement is parsed
        by PostgreSQL's parser and refused, naming why, if it could write; it runs in a READ ONLY transaction
        that is rolled back, under a statement timeout; at most row_limit rows come back (truncated says if
        there were more)."""
        from ops.query.readonly import run_read_only

        limit = _row_limit(settings, row_limit)
        from ops.query.guard import guard

        guard(sql)  # refused before any connection is opened
        ep = endpoint(settings, target, writer)
        rows = run_read_only(ep.dsn, sql, ep.label, limit, settings.sql_statement_timeout_ms)
        return {"target": target, "endpoint": ep.label, **rows.to_dict(), **served(ep, rows.served_by)}

    @server.tool(annotations=read_only)
    @answers
    def sql_explain(target: str, sql: str, writer: bool = False) -> dict[str, Any]:
        """The plan of one SELECT on TARGET (EXPLAIN, FORMAT JSON; never ANALYZE: the statement is not run), with
        hypothetical-index advice (hypopg) for each sequential scan: the index, the estimated cost before and
        after. Nothing is created; the advice is evidence, not an index."""
        from ops.query.guard import guard
        from ops.query.readonly import explain

        guard(sql)
        ep = endpoint(settings, target, writer)
        explained = explain(ep.dsn, sql, ep.label, settings.sql_statement_timeout_ms)
        return {"target": target, "endpoint": ep.label, **explained.to_dict(), **served(ep, explained.served_by)}

    @server.tool(annotations=read_only)
    @answers
    def query_audit(target: str, writer: bool = False, top: int = 10) -> dict[str, Any]:
        """`dbops query audit TARGET`: top statements (pg_stat_statements), index utilization, sequential scans of
        large tables with hypothetical-index evidence, duplicate and unused indexes, judged against the env's
        policy, on its reader endpoint unless writer is true (as sql_query). Reads only; the report is written
        to the report directory as the command writes it."""
        from dataclasses import replace

        from ops import report as report_mod
        from ops.errors import UsageError
        from ops.query.audit import run_audit, summary
        from ops.report import Journal

        if not 1 <= top <= 100:
            raise UsageError(f"top must be between 1 and 100, not {top}")
        cfg, env = loaded(settings)
        ep = endpoint(settings, target, writer)
        journal = Journal("query-audit", target, env.name)
        journal.details["endpoint"] = ep.label
        report = run_audit(ep.dsn, cfg.policy, top, journal, ep.label)
        if report.status in ("pass", "fail", "inconclusive"):
            report = replace(report, summary=summary(report))
        report = replace(report, region=env.region, account=env.account_id)
        paths = report_mod.write(report, settings.report_dir)
        in_recovery = (report.details or {}).get("reader")
        role = "not measured" if in_recovery is None else "reader" if in_recovery else "writer"
        return {**report.to_dict(), "paths": {k: str(v) for k, v in paths.items()}, **served(ep, role)}

    @server.tool(annotations=read_only)
    @answers
    def lake_tables() -> dict[str, Any]:
        """The analytics lake's tables: each pipeline declared in dbops.toml, its destination, and each table's
        source, columns and partitioning. Says so when no lake is configured."""
        from ops.etl.lakeread import tables

        cfg, _ = loaded(settings)
        return tables(cfg)

    @server.tool(annotations=read_only)
    @answers
    def lake_query(pipeline: str, sql: str, engine: str = "duckdb") -> dict[str, Any]:
        """One read-only SELECT over PIPELINE's published tables (DuckDB's dialect; athena runs it in the pipeline's
        workgroup), refused beyond this server's bound of bytes scanned. Only SELECT over the pipeline's own
        tables: nothing that writes, no file or table functions. DuckDB runs it in a process of its own, bounded
        in memory, threads and time; at most the server's row limit comes back, each value cut to 8 KB and the
        answer to 1 MB (truncated_by says which bound cut it)."""
        from ops.errors import UsageError
        from ops.etl.lakequery import Bounds
        from ops.etl.lakeread import run_lake_query
        from ops.query.guard import guard
        from ops.query.readonly import json_safe

        # PostgreSQL's parser first, as for sql_query (DuckDB syntax it does not know is refused), then the
        # lake's own check of the tables and functions named.
        kind = guard(sql)
        if kind != "SELECT":
            raise UsageError(f"lake_query runs one SELECT only, not {kind}")
        cfg, env = loaded(settings)
        bounds = Bounds(LAKE_TIMEOUT_S, settings.sql_row_limit)
        result = run_lake_query(cfg, env, pipeline, sql, engine, settings.lake_max_bytes, LAKE_TIMEOUT_S,
                                progress=lambda _: None, bounds=bounds)
        return {"pipeline": pipeline, "engine": engine, "columns": list(result.columns),
                "rows": [[json_safe(v) for v in r] for r in result.rows], "row_count": len(result.rows),
                "truncated": result.truncated_by is not None, "truncated_by": result.truncated_by,
                "row_limit": bounds.row_limit, "values_cut": result.values_cut, "scanned_bytes": result.scanned_bytes,
                "max_bytes": settings.lake_max_bytes, "elapsed_ms": result.elapsed_ms}
