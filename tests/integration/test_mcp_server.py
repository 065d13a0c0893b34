"""`dbops mcp` against the running lab, driven by the SDK's own clients: over stdio (the server a child of the
client) and over streamable HTTP behind the bearer token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from ops.lab.process import free_port
from ops.mcp import audit, cost_tools
from ops.mcp.server import build, stdio_caller
from ops.mcp.settings import McpSettings
from ops.scorecard import build_scorecard
from ops.proc import port_open
from tests.conftest import REPO, Cli

TOOLS = {"estate", "status", "runbook_list", "runbook_show", "report_list", "report_show", "cost_check", "drill", "janitor",
         "scorecard", "report_trend", "sql_query", "sql_explain", "query_audit", "lake_tables", "lake_query"}
CALL_TIMEOUT_S = 120


def environ(lab: Cli) -> dict[str, str]:
    return {k: v for k, v in lab.env().items() if v}


def text(result: Any) -> str:
    return " ".join(c.text for c in result.content)


def audit_lines(lab: Cli) -> list[dict[str, Any]]:
    path = lab.config.report_dir / audit.AUDIT_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_over_stdio_every_tool_answers_from_the_lab_and_an_allowed_drill_runs(lab: Cli) -> None:
    workloads = lab.config.root / "workloads"  # over MCP a workload is named, from the directory beside dbops.toml
    workloads.mkdir(exist_ok=True)
    (workloads / "mcp-select.sql").write_text("SELECT 1;\n")
    params = StdioServerParameters(command=sys.executable, args=["-m", "ops", "mcp", "--allow-drills", "localpg:lab-pg,janitor:lab"],
                                   env=environ(lab), cwd=str(REPO))
    before = len(audit_lines(lab))
    kept_scorecards = sorted((lab.config.report_dir / "scorecard").glob("*.json"))
    calls: list[str] = []

    async def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        with anyio.fail_after(300):
            async with Client(params, read_timeout_seconds=CALL_TIMEOUT_S) as client:
                async def tool(tool_name: str, **args: Any) -> Any:
                    calls.append(tool_name)
                    return await client.call_tool(tool_name, args)

                out["tools"] = {t.name for t in (await client.list_tools()).tools}
                out["estate"] = await tool("estate")
                out["status"] = await tool("status")
                out["books"] = await tool("runbook_list")
                out["book"] = await tool("runbook_show", name="aurora-failover", target="localpg:lab-pg")
                out["bad"] = await tool("runbook_show", name="aurora-failover", target="nosuchkind:x")
                out["drill"] = await tool("drill", kind="latency", target="localpg:lab-pg", timeout_s=120,
                                          options={"workload": "mcp-select.sql", "clients": 2, "rate": 100, "time": 1})
                out["other"] = await tool("drill", kind="latency", target="localpg:not-allowed", options={"workload": "mcp-select.sql"})
                report_id = out["drill"].structured_content["report_id"]
                out["janitor"] = await tool("janitor", dry_run=True, timeout_s=120)
                out["listed"] = await tool("report_list", kind="latency")
                out["shown"] = await tool("report_show", report_id=report_id)
                out["card"] = await tool("scorecard", targets=["localpg:lab-pg"])
                out["trend"] = await tool("report_trend", kind="latency", measurement="p95_ms")
                out["no_trend"] = await tool("report_trend", kind="latency")
                out["sql"] = await tool("sql_query", target="localpg:lab-pg", sql="SELECT pg_is_in_recovery() AS standby")
                out["dml"] = await tool("sql_query", target="localpg:lab-pg",
                                        sql="WITH gone AS (DELETE FROM pg_class RETURNING 1) SELECT count(*) FROM gone")
                out["resource"] = await client.read_resource(f"report://{report_id}")
                out["runbook_resource"] = await client.read_resource("runbook://aurora-failover")
                out["triage"] = await client.get_prompt("triage", {"target": "localpg:lab-pg"})
                out["why"] = await client.get_prompt("why_drill_failed", {})
        return out

    out = anyio.run(session)
    assert TOOLS <= out["tools"]
    assert "localpg:lab-pg" in [t["id"] for t in out["estate"].structured_content["targets"]]
    assert "localpg:lab-pg" in [r["target"] for r in out["status"].structured_content["targets"]]
    assert "aurora-failover" in out["books"].structured_content
    assert not out["book"].is_error and "localpg:lab-pg" in text(out["book"])
    assert out["bad"].is_error and text(out["bad"]).startswith("unknown target kind 'nosuchkind'")

    drill = out["drill"].structured_content
    assert not out["drill"].is_error, text(out["drill"])
    report_path = lab.config.report_dir / "latency" / f"{drill['report_id']}.json"
    written = json.loads(report_path.read_text())  # the report the drill wrote, read independently of the server
    assert written["status"] in ("pass", "fail"), written["summary"]  # enough transactions to judge a p95 by
    assert drill["status"] == written["status"] and drill["exit_code"] == {"pass": 0, "fail": 1}[written["status"]]
    assert drill["measurements"]["p95_ms"] == written["measurements"]["p95_ms"]
    assert written["target"] == "localpg:lab-pg" and written["env"] == "lab"
    assert out["other"].is_error and text(out["other"]).startswith("refused: localpg:not-allowed is not allowed")
    assert not out["janitor"].is_error, text(out["janitor"])
    assert out["janitor"].structured_content["exit_code"] in (0, 1, 4) and out["janitor"].structured_content["result"]
    assert drill["report_id"] in [r["id"] for r in out["listed"].structured_content["reports"]]
    assert json.loads(text(out["shown"]))["status"] == written["status"]
    card = out["card"].structured_content  # the card `build_scorecard` makes of the same history, and nothing kept
    own = build_scorecard(lab.config, "lab", lab.config.report_dir, ("localpg:lab-pg",))
    judged = lambda c: {(t["target"], o["id"]): (o["status"], str(o.get("measured"))) for t in c["targets"] for o in t["objectives"]}  # noqa: E731
    assert judged(card) == judged(own)
    assert {o["id"] for t in card["targets"] for o in t["objectives"]} >= {"RTO", "RPO", "LOST-WRITES"}
    assert kept_scorecards == sorted((lab.config.report_dir / "scorecard").glob("*.json"))
    points = out["trend"].structured_content["points"]
    assert points[-1]["id"] == drill["report_id"] and points[-1]["value"] == written["measurements"]["p95_ms"]
    assert out["sql"].structured_content["rows"] == [[True]], text(out["sql"])  # the reader, a standby
    assert out["dml"].is_error and text(out["dml"]).startswith("refused:") and "DELETE" in text(out["dml"])
    assert out["no_trend"].is_error and text(out["no_trend"]).startswith("measurement is needed for kind 'latency'")
    assert json.loads(out["resource"].contents[0].text)["started_at"] == written["started_at"]
    assert "localpg:lab-pg" in out["runbook_resource"].contents[0].text
    assert "localpg:lab-pg" in out["triage"].messages[0].content.text
    assert "env 'lab'" in out["why"].messages[0].content.text

    every = audit_lines(lab)[before:]
    lines = [line for line in every if line["outcome"] != "started"]
    assert [line["tool"] for line in lines] == calls  # one line per call, in order, and nothing else
    # and one more before each command that ran (the allowed drill, the janitor), paired by `call`
    started = [(line["tool"], line["call"]) for line in every if line["outcome"] == "started"]
    assert started == [(line["tool"], line["call"]) for line in lines if "call" in line]
    assert [tool for tool, _ in started] == ["drill", "janitor"]
    assert {line["caller"] for line in lines} == {f"stdio pid {os.getpid()}"}  # the client that started the server
    assert [line["outcome"].split(":")[0] for line in lines].count("refused") == 2


def wait_for_port(port: int, proc: subprocess.Popen, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while not port_open("127.0.0.1", port):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < end, f"dbops mcp did not listen on {port} within {deadline_s:g} s"
        time.sleep(0.1)


def test_over_http_a_missing_or_wrong_token_is_401_and_the_right_one_is_served(lab: Cli, tmp_path: Path) -> None:
    token = "t0ken-" + os.urandom(12).hex()
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ops", "mcp", "--http", str(port), "--token-file", str(token_file)],
                            env={**os.environ, **environ(lab)}, cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    before = len(audit_lines(lab))
    try:
        wait_for_port(port, proc)
        hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        headers = {"Accept": "application/json, text/event-stream"}
        statuses = [httpx2.post(url, json=hello, headers={**headers, **auth}, timeout=10).status_code
                    for auth in ({}, {"Authorization": "Bearer wrong-" + token}, {"Authorization": token},
                                 {"Authorization": f"Bearer {token}"})]
        assert statuses[:3] == [401, 401, 401] and statuses[3] != 401, statuses

        async def session() -> tuple[set[str], Any, Any]:
            forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}  # no proxy is trusted
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}", **forged}, timeout=CALL_TIMEOUT_S) as http:
                async with Client(streamable_http_client(url, http_client=http), read_timeout_seconds=CALL_TIMEOUT_S) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    return (names, await client.call_tool("drill", {"kind": "latency", "target": "localpg:lab-pg"}),
                            await client.call_tool("report_list", {}))

        names, refused, listed = anyio.run(session)
        assert TOOLS <= names
        assert refused.is_error and text(refused) == ("refused: localpg:lab-pg is not allowed: the server was started "
                                                      "without --allow-drills localpg:lab-pg")
        assert not listed.is_error
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    lines = audit_lines(lab)[before:]
    assert [line["tool"] for line in lines] == ["drill", "report_list"]
    assert all(line["caller"].startswith("http 127.0.0.1:") and "token sha256:" in line["caller"] for line in lines)
    assert not any("203.0.113.9" in line["caller"] for line in lines)
    assert token not in (lab.config.report_dir / audit.AUDIT_FILE).read_text()
    assert token not in stderr and "sha256:" in stderr  # given by file: only its fingerprint is shown


def test_a_generated_token_is_printed_once_to_stderr_and_nothing_to_stdout(cli_at: Cli) -> None:
    """No lab: the gate answers before any tool could run."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ops", "mcp", "--http", f"127.0.0.1:{port}"],
                            env={**os.environ, **environ(cli_at)}, cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc)
        url = f"http://127.0.0.1:{port}/mcp"
        hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        without = httpx2.post(url, json=hello, timeout=10).status_code
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=30)
    token = stderr.split("bearer token (shown once): ", 1)[1].split()[0]
    assert without == 401 and len(token) >= 32
    assert stdout == "" and stderr.count(token) == 1


def test_cost_check_answers_from_the_cache_only_unless_paid_requests_are_allowed(lab: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environ(lab).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    cfg = lab.config
    month = "2025-03"  # a month nothing else asks about: its answers are not in the cache yet

    def session_of(paid: bool, *months: str) -> list[Any]:
        settings = McpSettings(config_path=lab.config_path, env="lab", protected=False, report_dir=cfg.report_dir,
                               allow_paid_requests=paid)

        async def session() -> list[Any]:
            async with Client(build(settings, stdio_caller)) as client:
                return [await client.call_tool("cost_check", {"month": m}) for m in months]

        return anyio.run(session)

    def check(paid: bool) -> Any:
        return session_of(paid, month)[0]

    before = len(audit_lines(lab))
    cache_only, paid, cached = check(False), check(True), check(False)
    assert cache_only.is_error and text(cache_only).startswith("refused: cost_check: no fresh cached answer to GetCostAndUsage")
    assert "--allow-paid-requests" in text(cache_only)
    assert not paid.is_error and paid.structured_content["ce_paid_requests"] > 0
    assert paid.structured_content["ce_paid_requests_this_session"] == paid.structured_content["ce_paid_requests"]
    assert paid.structured_content["ce_paid_requests_session_max"] == cost_tools.MAX_PAID_REQUESTS
    assert not cached.is_error and cached.structured_content["ce_paid_requests"] == 0
    assert cached.structured_content["status"] == paid.structured_content["status"]
    assert cached.structured_content["measurements"] == {**paid.structured_content["measurements"],
                                                         "ce_paid_requests": 0, "ce_request_cost_usd": 0.0}
    lines = audit_lines(lab)[before:]
    assert [line.get("ce_paid_requests") for line in lines] == [None, paid.structured_content["ce_paid_requests"], 0]

    # a session's paid requests stop at the cap: here exactly what one uncached month takes
    monkeypatch.setattr(cost_tools, "MAX_PAID_REQUESTS", paid.structured_content["ce_paid_requests"])
    within, past = session_of(True, "2025-04", "2025-05")
    assert not within.is_error and within.structured_content["ce_paid_requests_this_session"] == cost_tools.MAX_PAID_REQUESTS
    assert past.is_error and text(past).startswith(f"refused: cost_check: this server has made its "
                                                   f"{cost_tools.MAX_PAID_REQUESTS} paid Cost Explorer requests")


def test_a_stdio_client_that_goes_away_mid_call_ends_the_server_quietly_and_the_call_is_audited(cli_at: Cli) -> None:
    """No lab: a dry-run janitor takes long enough (a command started) for the client to leave while it runs."""
    proc = subprocess.Popen([sys.executable, "-m", "ops", "mcp", "--allow-drills", "janitor:lab"],
                            env={**os.environ, **environ(cli_at)}, cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for message in ({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
                        {"jsonrpc": "2.0", "method": "notifications/initialized"},
                        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "janitor",
                                                                                       "arguments": {"dry_run": True}}}):
            proc.stdin.write((json.dumps(message) + "\n").encode())
            proc.stdin.flush()
            if message.get("id") == 1:
                assert b'"id":1' in proc.stdout.readline()  # initialized
        log = cli_at.config.report_dir / audit.AUDIT_FILE

        def wait_for_lines(n: int) -> None:
            end = time.monotonic() + 30
            while len(log.read_text().splitlines() if log.exists() else []) < n:
                assert time.monotonic() < end and proc.poll() is None, f"no {n} audit lines within 30 s"
                time.sleep(0.02)

        wait_for_lines(1)  # "started": the janitor's command runs
        proc.stdout.close()  # the client stops reading: the answer to the call in flight meets a broken pipe
        wait_for_lines(2)  # the call's outcome: its answer, written next, meets the broken pipe
        proc.stdin.close()  # and the client is gone
        exit_code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert exit_code == 0 and stderr == "", stderr
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["tool"], line["outcome"]) for line in lines] == [("janitor", "started"), ("janitor", "ok")]
