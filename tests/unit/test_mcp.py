"""The MCP server's own rules, in process (the SDK's in-memory client): refusals, one-line errors, the audit
log, the bearer gate and `dbops mcp`'s bad input."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path

import anyio
import pytest
from mcp import Client

from ops.mcp import audit, http, messages
from ops.mcp.drill_options import option_args
from ops.mcp.server import build, stdio_caller
from ops.mcp.settings import McpSettings
from tests.conftest import Cli, write_config


def settings_for(root: Path, env: str = "lab", protected: bool = False, **extra) -> McpSettings:  # type: ignore[no-untyped-def]
    return McpSettings(config_path=write_config(root), env=env, protected=protected, report_dir=root / "reports", **extra)


def call(settings: McpSettings, *calls: tuple[str, dict]) -> list:  # type: ignore[type-arg]
    async def run() -> list:  # type: ignore[type-arg]
        async with Client(build(settings, stdio_caller)) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(run)


def text(result) -> str:  # type: ignore[no-untyped-def]
    return " ".join(c.text for c in result.content)


def audit_lines(settings: McpSettings) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (settings.report_dir / audit.AUDIT_FILE).read_text().splitlines()]


def test_a_drill_is_refused_unless_its_target_is_allowed_and_always_on_a_protected_env(tmp_path: Path) -> None:
    allowed = frozenset({("localpg", "lab-pg"), ("janitor", "prod")})
    unprotected = settings_for(tmp_path, allow_drills=frozenset({("localpg", "lab-pg")}))
    protected = settings_for(tmp_path, env="prod", protected=True, allow_drills=allowed)
    other, janitor = call(unprotected, ("drill", {"kind": "latency", "target": "localpg:other"}), ("janitor", {}))
    on_prod, janitor_on_prod = call(protected, ("drill", {"kind": "latency", "target": "localpg:lab-pg"}), ("janitor", {}))
    assert other.is_error and text(other) == ("refused: localpg:other is not allowed: the server was started without "
                                              "--allow-drills localpg:other")
    assert janitor.is_error and "--allow-drills janitor:lab" in text(janitor)
    for result in (on_prod, janitor_on_prod):
        assert result.is_error and text(result) == "refused: env 'prod' is protected: drills and the janitor never run over MCP"
    assert [line["outcome"].split(":")[0] for line in audit_lines(unprotected)] == ["refused"] * 4


def test_a_bad_argument_is_one_line_and_the_server_keeps_serving(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, allow_drills=frozenset({("localpg", "lab-pg")}))
    bad_kind, missing, owned, listed, unbounded = call(
        settings, ("drill", {"kind": "bogus", "target": "localpg:lab-pg"}), ("runbook_show", {}),
        ("drill", {"kind": "latency", "target": "localpg:lab-pg", "options": {"confirm": "lab:localpg:lab-pg"}}),
        ("report_list", {}), ("drill", {"kind": "latency", "target": "localpg:lab-pg", "timeout_s": 0}))
    assert bad_kind.is_error and text(bad_kind).startswith("bad argument kind: Input should be 'failover'")
    assert missing.is_error and text(missing) == "bad argument name: Field required"
    assert owned.is_error and text(owned) == "option 'confirm' is set by the server, not by a tool call"
    assert unbounded.is_error and text(unbounded) == "timeout_s 0 is out of range (1 to 3600 seconds)"
    assert all("\n" not in text(r) for r in (bad_kind, missing, owned, unbounded))
    assert not listed.is_error and listed.structured_content["reports"] == []


def test_every_call_is_one_audit_line_with_secrets_redacted(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    call(settings, ("report_list", {"kind": "latency"}),
         ("drill", {"kind": "latency", "target": "localpg:lab-pg", "options": {"password": "hunter2-secret", "clients": 2}}))
    lines = audit_lines(settings)
    assert [line["tool"] for line in lines] == ["report_list", "drill"]
    assert lines[0]["outcome"] == "ok" and lines[0]["arguments"] == {"kind": "latency"}
    assert lines[1]["arguments"]["options"] == {"password": "[redacted]", "clients": 2}
    assert lines[1]["outcome"].startswith("refused: ") and lines[1]["caller"].startswith("stdio pid ")
    assert all(set(line) >= {"time", "tool", "arguments", "caller", "outcome", "duration_s"} for line in lines)
    assert "hunter2" not in (settings.report_dir / audit.AUDIT_FILE).read_text()


def test_cost_check_refuses_a_month_that_is_not_one_before_asking_anything(tmp_path: Path) -> None:
    (result,) = call(settings_for(tmp_path), ("cost_check", {"month": "2020-13"}))
    assert result.is_error and text(result) == "month '2020-13' is not a month as YYYY-MM"


def test_redact_reaches_every_depth() -> None:
    given = {"a": 1, "Token": "x", "nested": [{"db_password": "y", "sql": "SELECT 'literal'"}], "apiKey": "z"}
    assert audit.redact(given) == {"a": 1, "Token": "[redacted]", "nested": [{"db_password": "[redacted]", "sql": {
        "masked": "SELECT '?'", "sha256": hashlib.sha256(b"SELECT 'literal'").hexdigest()}}], "apiKey": "[redacted]"}


def test_a_statement_is_logged_with_its_constants_masked_and_the_hash_of_its_full_text() -> None:
    sql = ("SELECT * FROM people WHERE ssn = '123-45-6789' AND note = E'it\\'s' AND k = $tag$secret$tag$ "
           "AND id = 4242 AND b = B'101' -- owner 'alice'\n/* card '4111' */ LIMIT 5")
    masked = audit.redact({"sql": sql})["sql"]
    assert masked == {"masked": "SELECT * FROM people WHERE ssn = '?' AND note = '?' AND k = '?' AND id = ? AND b = '?' "
                                "/*?*/\n/*?*/ LIMIT ?", "sha256": hashlib.sha256(sql.encode()).hexdigest()}
    unterminated = "SELECT * FROM people WHERE ssn = '123-45-6789"
    assert audit.redact({"sql": unterminated}) == {"sql": {"sha256": hashlib.sha256(unterminated.encode()).hexdigest()}}
    assert audit.redact({"sql": 42}) == {"sql": {"sha256": hashlib.sha256(b"42").hexdigest()}}


def test_the_audit_log_holds_no_literal_of_a_statement_and_is_created_private(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    previous = os.umask(0o022)
    try:
        call(settings, ("sql_query", {"target": "localpg:lab-pg", "sql": "SELECT * FROM people WHERE ssn = '123-45-6789'"}))
    finally:
        os.umask(previous)
    path = settings.report_dir / audit.AUDIT_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (line,) = audit_lines(settings)
    assert line["arguments"]["sql"]["masked"] == "SELECT * FROM people WHERE ssn = '?'"
    assert "123-45-6789" not in path.read_text()


def test_the_audit_file_is_private_from_its_creation(tmp_path: Path) -> None:
    log = audit.AuditLog(tmp_path / "reports")
    previous = os.umask(0o022)
    try:
        log.check_writable()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_one_line_keeps_a_message_and_hides_a_crash() -> None:
    assert messages.one_line("Error executing tool x: refused: no") == "refused: no"
    assert messages.one_line("Error executing tool x") == "unexpected error in the tool (the server's log has its traceback)"
    many = ("2 validation errors for xArguments\na\n  Field required [type=missing, input_value={}, input_type=dict]\n"
            "    For further information visit https://errors.pydantic.dev\nb\n  Input should be a valid integer [type=int_parsing]\n")
    assert messages.one_line(many) == "bad argument a: Field required; bad argument b: Input should be a valid integer"


def test_the_bearer_gate_accepts_only_the_token() -> None:
    gate = http.BearerGate(lambda *a: None, "s3cret-token-0123456789")  # type: ignore[arg-type, return-value]
    assert gate.allows("s3cret-token-0123456789")
    assert not gate.allows("s3cret-token-012345678") and not gate.allows(None) and not gate.allows("")
    assert http.bearer_of([(b"authorization", b"Bearer abc")]) == "abc"
    assert http.bearer_of([(b"authorization", b"Basic abc")]) is None
    assert http.fingerprint("abc") != http.fingerprint("abd") and "abc" not in http.fingerprint("abc")


def test_options_become_equals_arguments_and_a_workload_is_a_name_in_the_workloads_directory(tmp_path: Path) -> None:
    (tmp_path / "select.sql").write_text("SELECT 1;\n")
    (tmp_path / "b.sql").write_text("SELECT 2;\n")
    given = {"clients": "2", "rate": 5, "endpoint": "reader", "workload": ["select.sql@3", "b.sql"], "define": ["a=1"]}
    assert option_args("latency", given, tmp_path) == [
        "--clients=2", "--rate=5", "--endpoint=reader", f"--workload={tmp_path / 'select.sql'}@3",
        f"--workload={tmp_path / 'b.sql'}", "--define=a=1"]
    assert option_args("restore", {"latest": True, "with-indexes": False}, tmp_path) == ["--latest"]


@pytest.mark.parametrize("kind, options, message", [
    ("failover", {"via": "evil.example:5432"}, "refused: option 'via' is not allowed over MCP: it sends the target's "
                                                "master credentials to whatever endpoint it names"),
    ("latency", {"secret-arn": "arn:aws:secretsmanager:us-east-1:1:secret:x"},
     "refused: option 'secret-arn' is not allowed over MCP: it uses any secret the server's credentials can read"),
    ("latency", {"read-write": True}, "refused: option 'read-write' is not allowed over MCP: it lets the workload write "
                                      "as the target's own user"),
    ("connections", {"clients": 10, "allow-exhaustion": True}, "refused: option 'allow-exhaustion' is not allowed over MCP"),
    ("connections", {"clients": 10, "start-if-stopped": True}, "refused: option 'start-if-stopped' is not allowed over MCP"),
    ("throughput", {"allow-throttling": True}, "refused: option 'allow-throttling' is not allowed over MCP"),
    ("restore", {"keep": True}, "refused: option 'keep' is not allowed over MCP"),
    ("restore", {"max-cost": 1000}, "refused: option 'max-cost' is not allowed over MCP"),
    ("connections", {"clients": 5000}, "refused: option 'clients' 5000 is above 50, the most over MCP"),
    ("latency", {"clients": 51}, "refused: option 'clients' 51 is above 50, the most over MCP"),
    ("connections", {"clients": "ten"}, "option 'clients' must be a number, not 'ten'"),
    ("connections", {"clients": 2.5}, "option 'clients' must be a whole number, not '2.5'"),
    ("connections", {"clients": True}, "option 'clients' must be a number, not 'True'"),
    ("connections", {"bogus": 1}, "refused: option 'bogus' is not an option of the connections drill over MCP "
                                  "(allowed: clients, rate, time, query-ms, ramp)"),
    ("latency", {"workload": "/etc/passwd"}, "refused: workload '/etc/passwd' is not a name: over MCP a workload is "
                                             "a script of the workloads directory, by name"),
    ("latency", {"workload": "../dbops.toml"}, "refused: workload '../dbops.toml' is not a name"),
    ("latency", {"workload": "nosuch.sql"}, "refused: workload 'nosuch.sql' is not in the workloads directory"),
    ("latency", {"baseline": "/tmp/report.json"}, "refused: baseline '/tmp/report.json' is not a report id"),
    ("latency", {"rate": [1, 2]}, "option 'rate' takes one value, not a list"),
])
def test_a_drill_option_outside_its_kinds_allow_list_is_refused_naming_why(tmp_path: Path, kind: str, options: dict,  # type: ignore[type-arg]
                                                                           message: str) -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    (tmp_path / "select.sql").write_text("SELECT 1;\n")
    with pytest.raises(ToolError) as raised:
        option_args(kind, options, tmp_path)
    assert str(raised.value).startswith(message), str(raised.value)


def test_a_workload_linked_out_of_the_workloads_directory_is_refused(tmp_path: Path) -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    workloads, outside = tmp_path / "workloads", tmp_path / "secret.sql"
    workloads.mkdir()
    outside.write_text("SELECT 1;\n")
    (workloads / "linked.sql").symlink_to(outside)
    with pytest.raises(ToolError, match=r"^refused: workload 'linked.sql' is not in the workloads directory"):
        option_args("latency", {"workload": "linked.sql"}, workloads)


def test_a_refused_drill_option_reaches_no_command_and_is_audited_as_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, allow_drills=frozenset({("localpg", "lab-pg")}))
    (via,) = call(settings, ("drill", {"kind": "connections", "target": "localpg:lab-pg",
                                       "options": {"clients": 2, "via": "10.0.0.9:5432"}}))
    assert via.is_error and text(via).startswith("refused: option 'via' is not allowed over MCP")
    assert [line["outcome"].split(":")[0] for line in audit_lines(settings)] == ["refused"]
    assert not (settings.report_dir / "connections").exists()  # no drill ran: it would have written its report


def test_the_bearer_token_comes_from_the_flag_the_file_the_environment_or_is_generated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.cli.mcp import bearer_token
    from ops.errors import UsageError
    from ops.mcp.http import TOKEN_ENV

    token_file = tmp_path / "token"
    token_file.write_text("from-the-file-0123456789\n")
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment-0123")
    assert bearer_token(token_file) == ("from-the-file-0123456789", f"--token-file {token_file}")
    assert bearer_token(None) == ("from-the-environment-0123", f"${TOKEN_ENV}")
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(UsageError, match=r"^\$DBOPS_MCP_TOKEN: a bearer token must be at least 16 characters"):
        bearer_token(None)
    monkeypatch.delenv(TOKEN_ENV)
    generated, source = bearer_token(None)
    assert source == "generated" and len(generated) >= 32 and generated != bearer_token(None)[0]


def test_the_bearer_token_is_not_passed_to_the_commands_the_tools_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.mcp.common import child_environ
    from ops.mcp.http import TOKEN_ENV

    monkeypatch.setenv(TOKEN_ENV, "from-the-environment-0123")
    monkeypatch.setenv("DBOPS_LAB_DIR", "/lab")
    settings = settings_for(tmp_path)
    environ = child_environ(settings)
    assert TOKEN_ENV not in environ
    assert environ["DBOPS_CONFIG"] == str(settings.config_path) and environ["DBOPS_LAB_DIR"] == "/lab"


@pytest.mark.parametrize("args, fragment", [
    (["mcp", "--env", "prod", "--allow-drills", "localpg:lab-pg"], "env 'prod' is protected: --allow-drills is refused"),
    (["mcp", "--allow-drills", "lab-pg"], "--allow-drills 'lab-pg' must be KIND:NAME"),
    (["mcp", "--allow-drills", "nosuch:x"], "unknown kind 'nosuch'"),
    (["mcp", "--http", "0.0.0.0:8080"], "listens on 127.0.0.1 only"),
    (["mcp", "--http", "70000"], "not a port"),
    (["mcp", "--token", "0123456789abcdef"], "No such option '--token'"),  # a token on argv is in ps and the history
    (["mcp", "--token-file", "/nonexistent/token"], "--token-file is for --http"),
    (["mcp", "--http", "8080", "--token-file", "/nonexistent/token"], "--token-file /nonexistent/token: No such file"),
])
def test_bad_input_is_one_line_exit_2(cli_at: Cli, args: list[str], fragment: str) -> None:
    result = cli_at(*args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.output, result.output


def test_a_server_that_cannot_write_its_audit_log_does_not_start(cli_at: Cli, fresh_root: Path) -> None:
    (fresh_root / "reports").write_text("a file where the report directory should be")
    result = cli_at("mcp")
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and line.startswith(f"dbops: error: the audit log {fresh_root / 'reports' / audit.AUDIT_FILE} "
                                                 "cannot be written (")
    assert line.endswith("): the server does not start without it")


def test_a_drill_is_logged_as_started_before_its_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from ops.mcp import common

    settings = settings_for(tmp_path, allow_drills=frozenset({("localpg", "lab-pg"), ("janitor", "lab")}))
    seen: list[list[dict]] = []  # type: ignore[type-arg]
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(audit_lines(settings))  # what a server killed while the command runs would have left
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(common.subprocess, "Popen", popen)
    drill, refused, janitor = call(
        settings, ("drill", {"kind": "connections", "target": "localpg:lab-pg", "options": {"clients": 2}}),
        ("drill", {"kind": "connections", "target": "localpg:lab-pg", "options": {"via": "10.0.0.9:5432"}}),
        ("janitor", {"dry_run": True}))
    assert drill.is_error and text(drill).startswith("no local PostgreSQL cluster 'lab-pg'")  # no lab: the command ran and said so
    assert refused.is_error and not janitor.is_error
    (started_drill,), (*_, started_janitor) = seen
    assert started_drill["outcome"] == started_janitor["outcome"] == "started"
    assert started_drill["tool"] == "drill" and started_drill["arguments"]["options"] == {"clients": 2}
    lines = audit_lines(settings)
    assert [(line["tool"], line["outcome"].split(":")[0]) for line in lines] == [
        ("drill", "started"), ("drill", "error"), ("drill", "refused"), ("janitor", "started"), ("janitor", "ok")]
    assert lines[0]["call"] == lines[1]["call"] != lines[3]["call"] == lines[4]["call"] and "call" not in lines[2]
    assert "duration_s" not in lines[0] and "duration_s" in lines[1]


def prompt_text(settings: McpSettings, name: str) -> str:
    async def run() -> str:
        async with Client(build(settings, stdio_caller)) as client:
            return (await client.get_prompt(name, {})).messages[0].content.text

    return anyio.run(run)


def write_report(settings: McpSettings, report_id: str, status: str, started_at: object, env: str = "lab") -> None:
    from ops.report import SCHEMA

    (settings.report_dir / "latency").mkdir(parents=True, exist_ok=True)
    report = {"schema": SCHEMA, "kind": "latency", "target": "localpg:lab-pg", "env": env, "status": status,
              "summary": f"{report_id} summary", "checks": [{"id": "P95", "status": status, "detail": "p95 3 ms"}]}
    if started_at is not ...:
        report["started_at"] = started_at
    (settings.report_dir / "latency" / f"{report_id}.json").write_text(json.dumps(report))


def test_why_drill_failed_skips_reports_without_an_aware_start_and_counts_what_it_examined(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    settings = settings_for(tmp_path)
    now = datetime.now(timezone.utc)
    write_report(settings, "r-failed", "fail", (now - timedelta(hours=2)).isoformat())
    write_report(settings, "r-passed", "pass", (now - timedelta(hours=3)).isoformat().replace("+00:00", "Z"))
    write_report(settings, "r-old", "fail", (now - timedelta(hours=30)).isoformat())
    write_report(settings, "r-naive", "fail", (now - timedelta(hours=1)).replace(tzinfo=None).isoformat())
    write_report(settings, "r-null", "fail", None)
    write_report(settings, "r-missing", "fail", ...)
    write_report(settings, "r-garbled", "fail", "last tuesday")
    write_report(settings, "r-other-env", "fail", (now - timedelta(hours=1)).isoformat(), env="prod")
    said = prompt_text(settings, "why_drill_failed")
    assert "Report r-failed " in said and "r-passed summary" not in said
    assert all(f"Report {r} " not in said for r in ("r-old", "r-naive", "r-null", "r-missing", "r-garbled", "r-other-env"))
    assert "1 of the 2 reports of env 'lab' in the last 24 hours did not pass" in said
    assert "4 reports were skipped: their start time is missing, unreadable or without a time zone" in said


def test_why_drill_failed_says_no_report_was_examined_rather_than_that_none_failed(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    settings = settings_for(tmp_path)
    write_report(settings, "r-naive", "fail", datetime.now().isoformat())
    none = prompt_text(settings, "why_drill_failed")
    assert none.startswith("There are no drill or check reports of env 'lab' in the last 24 hours")
    assert "0 reports examined" in none and "1 report was skipped" in none
    write_report(settings, "r-passed", "pass", (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat())
    passed = prompt_text(settings, "why_drill_failed")
    assert passed.startswith("None of the 1 report of env 'lab' in the last 24 hours failed")


def test_paid_cost_explorer_requests_stop_at_the_sessions_cap_and_cached_answers_do_not_count(tmp_path: Path) -> None:
    from ops.cost.cache import CacheScope, CeCache
    from ops.mcp.cost_tools import MAX_PAID_REQUESTS, OverPaidCap, PaidBudget, capped

    budget = PaidBudget(2)  # one server session's
    sent: list[int] = []

    def ask(month: int) -> dict:  # type: ignore[type-arg]
        sent.append(month)
        return {"month": month}

    def tool_call() -> CeCache:  # each call of the tool makes its own cache over the same directory
        return capped(CeCache(tmp_path, CacheScope("123456789012", "aws", "us-east-1")), budget)

    first, second = tool_call(), tool_call()
    assert first.call("GetCostAndUsage", {"m": 1}, lambda: ask(1)) == {"month": 1}
    assert second.call("GetCostAndUsage", {"m": 1}, lambda: ask(1)) == {"month": 1}  # cached: not paid
    assert second.call("GetCostAndUsage", {"m": 2}, lambda: ask(2)) == {"month": 2}
    with pytest.raises(OverPaidCap):
        second.call("GetCostAndUsage", {"m": 3}, lambda: ask(3))
    assert sent == [1, 2] and budget.spent == 2 and second.hits == 1
    assert 1 <= MAX_PAID_REQUESTS <= 100


def test_at_most_four_calls_that_reach_out_run_at_once_and_a_fifth_is_refused_as_busy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from ops.mcp import common, drill_tools
    from ops.mcp.common import Ran

    settings = settings_for(tmp_path, allow_drills=frozenset({("janitor", "lab")}))
    release, lock = threading.Event(), threading.Lock()
    running, most = [0], [0]

    def held(_settings: McpSettings, _args: list[str], _timeout_s: float) -> Ran:  # a janitor that runs until released
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(timeout=20)
        with lock:
            running[0] -= 1
        return Ran(0, {"deleted": []}, "")

    monkeypatch.setattr(drill_tools, "run_dbops", held)
    monkeypatch.setattr(common, "SLOT_WAIT_S", 0.5)

    async def run() -> tuple[list, object]:  # type: ignore[type-arg]
        results: list = []  # type: ignore[type-arg]
        async with Client(build(settings, stdio_caller)) as client:
            async def janitor() -> None:
                results.append(await client.call_tool("janitor", {"dry_run": True}))

            with anyio.fail_after(20):
                async with anyio.create_task_group() as group:
                    for _ in range(common.MAX_CONCURRENT_CALLS + 2):
                        group.start_soon(janitor)
                    while len(results) < 2:  # the two beyond the limit give up after SLOT_WAIT_S
                        await anyio.sleep(0.05)
                    listed = await client.call_tool("report_list", {})  # reads files only: never waits for a slot
                    release.set()
        return results, listed

    results, listed = anyio.run(run)
    busy = [r for r in results if r.is_error]
    assert most[0] == common.MAX_CONCURRENT_CALLS == 4
    assert len(busy) == 2 and all(text(r).startswith("refused: busy: 4 calls that reach a database, AWS or a command "
                                                       "are running") for r in busy)
    assert not listed.is_error  # type: ignore[attr-defined]
    outcomes = [line["outcome"].split(":")[0] for line in audit_lines(settings) if line["tool"] == "janitor"]
    assert outcomes.count("refused") == 2 and outcomes.count("ok") == 4


def test_a_call_whose_audit_line_cannot_be_written_is_refused_and_never_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.mcp import drill_tools
    from ops.mcp.common import Ran

    settings = settings_for(tmp_path, allow_drills=frozenset({("janitor", "lab")}))
    ran: list[list[str]] = []

    def janitor_ran(_settings: McpSettings, args: list[str], _timeout_s: float) -> Ran:
        ran.append(args)
        return Ran(0, {"deleted": []}, "")

    monkeypatch.setattr(drill_tools, "run_dbops", janitor_ran)
    server = build(settings, stdio_caller)  # the log was writable when the server started
    log_path = settings.report_dir / audit.AUDIT_FILE
    log_path.unlink()
    log_path.mkdir()  # and is not any more

    async def run() -> list:  # type: ignore[type-arg]
        async with Client(server) as client:
            return [await client.call_tool("janitor", {"dry_run": True}), await client.call_tool("report_list", {})]

    for result in anyio.run(run):
        assert result.is_error and text(result) == (f"refused: the audit log {log_path} cannot be written (Is a directory): "
                                                     "the call was not run")
    assert ran == []


@pytest.mark.parametrize("kind", ["../../../tmp/x", "/tmp/x", "**", "latency/..", "a b", ""])
def test_a_report_kind_that_is_not_a_plain_name_is_refused(tmp_path: Path, kind: str) -> None:
    from ops.errors import UsageError
    from ops.report import list_reports

    settings = settings_for(tmp_path)
    outside = tmp_path / "x"
    outside.mkdir()
    write_report(settings, "r-inside", "pass", "2026-01-01T00:00:00+00:00")
    (outside / "r-outside.json").write_text((settings.report_dir / "latency" / "r-inside.json").read_text())
    with pytest.raises(UsageError, match=r"^report kind '.*' is not a kind: letters, digits, '-' and '_' only$"):
        list_reports(settings.report_dir, kind)
    (listed,) = call(settings, ("report_list", {"kind": kind}))
    assert listed.is_error and text(listed).startswith("report kind ")
    assert [r["id"] for r in list_reports(settings.report_dir, "latency")] == ["r-inside"]  # a plain name still lists


def test_report_list_kind_on_the_cli_is_one_line_exit_2(cli_at: Cli) -> None:
    result = cli_at("report", "list", "--kind", "../../../tmp/x")
    assert result.exit_code == 2 and result.output.strip() == (
        "dbops: error: report kind '../../../tmp/x' is not a kind: letters, digits, '-' and '_' only"), result.output


def _strict_json(line: str) -> dict:  # type: ignore[type-arg]
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_an_audit_line_is_valid_json_with_a_number_that_is_not_finite(tmp_path: Path) -> None:
    log = audit.AuditLog(tmp_path)
    log.append({"tool": "sql_query", "arguments": {"row_limit": float("nan"), "timeout_s": [float("inf"), -float("inf")]}})
    (line,) = (tmp_path / audit.AUDIT_FILE).read_text().splitlines()
    assert _strict_json(line)["arguments"] == {"row_limit": "NaN", "timeout_s": ["Infinity", "-Infinity"]}


def test_arguments_that_are_not_an_object_are_audited_without_their_value(tmp_path: Path) -> None:
    from mcp.types import CallToolRequestParams
    from pydantic import ValidationError

    log = audit.AuditLog(tmp_path)
    given = {"name": "sql_query", "arguments": "SELECT ssn FROM people WHERE ssn = '123-45-6789'"}

    class Ctx:
        method, request_id, params = "tools/call", 1, given

    async def handler(_ctx: object) -> object:
        return CallToolRequestParams.model_validate(given)

    with pytest.raises(ValidationError):
        anyio.run(audit.middleware(log, lambda _ctx: "test"), Ctx(), handler)
    (line,) = (tmp_path / audit.AUDIT_FILE).read_text().splitlines()
    assert "123-45-6789" not in line and "input_value" not in line
    assert _strict_json(line)["outcome"] == "error: invalid request: arguments: Input should be a valid dictionary"


@pytest.mark.parametrize("tool, arguments, message", [
    ("status", {"target": "x:y"}, "bad argument target: status takes no arguments"),
    ("report_list", {"kind": "latency", "extra": 1, "more": 2}, "bad argument extra, more: report_list takes kind only"),
    ("janitor", {"dry_run": "yes"}, "bad argument dry_run: true or false, not 'yes'"),
    ("janitor", {"dry_run": "true"}, "bad argument dry_run: true or false, not 'true'"),
    ("janitor", {"dry_run": 1}, "bad argument dry_run: true or false, not 1"),
])
def test_an_unknown_argument_or_a_bool_that_is_not_one_is_refused(tmp_path: Path, tool: str, arguments: dict,  # type: ignore[type-arg]
                                                                  message: str) -> None:
    settings = settings_for(tmp_path, allow_drills=frozenset({("janitor", "lab")}))
    (result,) = call(settings, (tool, arguments))
    assert result.is_error and text(result) == message
    # The audit keeps the message's shape, not the values it quoted (a client's value can be a row's data).
    masked = re.sub(r"'[^']*'", "'?'", message)
    assert [line["outcome"] for line in audit_lines(settings)] == [f"error: {masked}"]


def test_the_audit_outcome_of_a_tool_error_holds_no_double_quoted_value(tmp_path: Path) -> None:
    from mcp.types import CallToolResult, TextContent

    log = audit.AuditLog(tmp_path)
    said = 'relation "customer1@example" does not exist; "unterminated'

    class Ctx:
        method, request_id, params = "tools/call", 1, {"name": "sql_query", "arguments": {}}

    async def handler(_ctx: object) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=said)], is_error=True)

    result = anyio.run(audit.middleware(log, lambda _ctx: "test"), Ctx(), handler)
    assert result.content[0].text == said  # the client is told the full message
    (line,) = (tmp_path / audit.AUDIT_FILE).read_text().splitlines()
    assert json.loads(line)["outcome"] == 'error: relation "?" does not exist; "?"'


def prompt_error(settings: McpSettings, name: str, arguments: dict):  # type: ignore[no-untyped-def, type-arg]
    """The error a prompts/get answers (None when it answers a prompt)."""
    from mcp.shared.exceptions import MCPError

    async def run() -> MCPError | None:
        async with Client(build(settings, stdio_caller)) as client:
            try:
                await client.get_prompt(name, arguments)
            except MCPError as exc:
                return exc
            return None

    return anyio.run(run)


@pytest.mark.parametrize("name, arguments, message", [
    ("triage", {"target": "../../etc:passwd"}, "unknown target kind '../../etc' in '../../etc:passwd' (known: "),
    ("triage", {}, "prompt triage: missing argument target"),
    ("why_drill_failed", {"x": "y"}, "prompt why_drill_failed: unknown argument x (it takes none)"),
    ("nosuch", {}, "unknown prompt 'nosuch' (prompts: triage, why_drill_failed)"),
])
def test_a_prompt_with_bad_input_answers_one_line_and_logs_no_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, arguments: dict, message: str) -> None:  # type: ignore[type-arg]
    error = prompt_error(settings_for(tmp_path), name, arguments)
    assert error is not None and str(error).startswith(message) and "\n" not in str(error), str(error)
    assert error.error.code == -32602  # invalid params, not an internal error
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


def test_a_port_in_use_is_one_line_exit_2_and_nothing_is_announced(cli_at: Cli) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli_at("mcp", "--http", str(port))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"dbops: error: 127.0.0.1:{port} is in use (Address already in use): another server listens there"
