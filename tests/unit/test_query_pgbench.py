"""pgbench as the latency drill drives it: scripts, credentials in the environment, the per-transaction
log and the verdicts (percentiles: test_percentiles.py) — each with the case that must not pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.drills.latency import LatencyOptions, judge
from ops.errors import UsageError
from ops.query import pgbench
from ops.query.pgbench import Run, Script, Settings, Tx
from ops.report import Journal

DSN = "host=db.example port=5432 user=app password=s3cret-Pa55 dbname=app sslmode=require connect_timeout=2"


def test_credentials_reach_pgbench_through_the_environment_never_its_command_line(tmp_path: Path) -> None:
    script = tmp_path / "w.sql"
    script.write_text("SELECT 1;\n")
    env = pgbench.environment(DSN, read_only=True, base={"PATH": "/usr/bin", "PGPASSWORD": "inherited", "PGSERVICE": "x"})
    assert env["PGPASSWORD"] == "s3cret-Pa55" and env["PGUSER"] == "app" and env["PGSSLMODE"] == "require"
    assert "PGSERVICE" not in env  # nothing inherited from the caller's PG* variables
    assert env["PGOPTIONS"] == "-c default_transaction_read_only=on"
    args = pgbench.argv(Path("/usr/bin/pgbench"), Settings(pgbench.parse_scripts([str(script)]), 2, 5, 10.0), tmp_path / "tx")
    assert not any("s3cret" in a or "db.example" in a or "app" == a for a in args)
    assert "--rate" in args and "--log" in args and f"{script.resolve()}@1" in args


def test_read_write_drops_the_guard_and_read_only_follows_the_writer_by_role() -> None:
    assert "PGOPTIONS" not in pgbench.environment(DSN, read_only=False, base={})
    multi = "host=h1,h2 port=1,2 user=u dbname=d target_session_attrs=read-write"
    # read-write asks whether the session may write, which a read-only session denies: `primary` asks for the writer.
    assert pgbench.environment(multi, read_only=True, base={})["PGTARGETSESSIONATTRS"] == "primary"
    assert pgbench.environment(multi, read_only=False, base={})["PGTARGETSESSIONATTRS"] == "read-write"


def test_a_connection_parameter_without_an_environment_variable_is_refused() -> None:
    with pytest.raises(UsageError, match="keepalives"):
        pgbench.environment(DSN + " keepalives=1", read_only=True, base={})


def test_workload_specs_take_weights_like_pgbench(tmp_path: Path) -> None:
    a, b = tmp_path / "orders.sql", tmp_path / "sub" / "orders.sql"
    b.parent.mkdir()
    for p in (a, b):
        p.write_text("\\set x random(1, 10)\nSELECT :x;\n")
    scripts = pgbench.parse_scripts([f"{a}@9", str(b)])
    assert [(s.weight, s.label) for s in scripts] == [(9, "orders"), (1, "orders-2")]


@pytest.mark.parametrize("spec, fragment", [
    ("missing.sql", "no such file"), ("{a}@x", "not an integer"), ("{a}@-1", "within 0.."), ("{a}@0", "every weight is 0"),
    ("{empty}", "has no command"), ("@3", "must name a file"), ("{meta}", "sends no SQL statement"),
])
def test_bad_workloads_are_refused(tmp_path: Path, spec: str, fragment: str) -> None:
    a, empty, meta = tmp_path / "a.sql", tmp_path / "empty.sql", tmp_path / "meta.sql"
    a.write_text("SELECT 1;\n")
    empty.write_text("-- nothing\n\n")
    meta.write_text("\\set a 1\n")
    with pytest.raises(UsageError, match=fragment):
        pgbench.parse_scripts([spec.format(a=a, empty=empty, meta=meta)])


@pytest.mark.parametrize("text, sends", [
    ("\\set a 1\n", False),
    ("-- think time\n\\set a random(1, \\\n  10)\n\\sleep 5 ms\n;\n/* SELECT 1; */\n", False),
    ("\\set a 1\nSELECT :a;\n", True),
    ("SELECT 1 \\gset\n", True),
    ("\\startpipeline\nSELECT 1;\n\\endpipeline\n", True),
])
def test_a_workload_of_meta_commands_only_sends_nothing(text: str, sends: bool) -> None:
    assert pgbench.sends_sql(text) is sends


def test_pgbench_s_parser_refuses_a_malformed_script_naming_it(pg_available, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok, bad, unclosed = tmp_path / "ok.sql", tmp_path / "typo.sql", tmp_path / "unclosed.sql"
    ok.write_text("\\set n random(1, :customers)\nSELECT :n;\n")
    bad.write_text("SELECT 1;\n\\sett a 1\n")
    unclosed.write_text("\\if :a = 1\nSELECT 1;\n")
    binary = pgbench.binary()
    pgbench.validate(binary, pgbench.parse_scripts([str(ok)]), (("customers", "10"),))  # accepted: nothing raised
    with pytest.raises(UsageError) as refused:
        pgbench.validate(binary, pgbench.parse_scripts([str(ok), f"{bad}@3"]), ())
    assert str(refused.value) == f'--workload {bad}: pgbench cannot parse it: typo.sql:2: invalid command in command "sett"'
    with pytest.raises(UsageError, match=r"unclosed.sql.*\\if without matching \\endif"):
        pgbench.validate(binary, pgbench.parse_scripts([str(unclosed)]), ())


def test_log_dirs_of_killed_drills_go_and_live_ones_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import tempfile

    from ops.proc import start_time

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    me = os.getpid()
    mine, dead, unknown = (tmp_path / f"dbops-pgbench-{me}.{start_time(me)}-ab_1", tmp_path / f"dbops-pgbench-{me}.1-cd2",
                           tmp_path / "dbops-pgbench-x9")  # dead: this pid with another start time, a recycled pid
    for d in (mine, dead, unknown):
        d.mkdir()
        (d / "tx.1").write_text("0 1 100 0 1 1\n")
    pgbench.remove_orphan_log_dirs()
    assert mine.exists() and unknown.exists() and not dead.exists()


def test_defines_are_pgbench_variables() -> None:
    assert pgbench.parse_defines(["customers=10000", "x_1=a=b"]) == (("customers", "10000"), ("x_1", "a=b"))
    for bad in ("1x=3", "novalue", "=3"):
        with pytest.raises(UsageError):
            pgbench.parse_defines([bad])


def test_log_lines_with_rate_failures_and_retries() -> None:
    assert pgbench.parse_log_line("0 1 119385 0 1795471392 199412 86") == Tx(0, 119385, 86)
    assert pgbench.parse_log_line("3 7 failed 1 1795471392 199412 4 0") == Tx(1, None, 4)
    assert pgbench.parse_log_line("3 7 skipped 1 1795471392 199412 4") is None
    assert pgbench.parse_log_line("2 1 5000 0 1795471392 1") == Tx(0, 5000, None)
    assert pgbench.parse_log_line("garbage") is None


def options(scripts: tuple[Script, ...], **kw) -> LatencyOptions:  # type: ignore[no-untyped-def]
    base = dict(scripts=scripts, clients=2, rate=10.0, duration_s=5, p95_ms=10.0, min_transactions=50, gain_min=0.6)
    return LatencyOptions(**{**base, **kw})


SCRIPTS = (Script(Path("/w/orders.sql"), 3, "orders"), Script(Path("/w/report.sql"), 1, "report"))


def journal() -> Journal:
    return Journal("latency", "localpg:lab-pg", "lab", echo=False)


def test_each_script_is_judged_by_its_own_p95() -> None:
    txs = [Tx(0, 2000, 10) for _ in range(100)] + [Tx(1, 30000, 10) for _ in range(60)]
    j = journal()
    j.require("LAT-ERRORS", "LAT-P95[orders]", "LAT-P95[report]")
    judge(Run(0, [], txs, [], 32.0), options(SCRIPTS), j)
    report = j.finish()
    checks = {c.id: c.status for c in report.checks}
    assert checks == {"LAT-P95[orders]": "pass", "LAT-P95[report]": "fail", "LAT-ERRORS": "pass", "LAT-RATE": "pass"}
    assert report.status == "fail"
    assert report.details["scripts"]["orders"]["p95_ms"] == 2.0 and report.measurements["report.p95_ms"] == 30.0


def test_failed_transactions_and_aborted_clients_fail_the_drill() -> None:
    txs = [Tx(0, 2000, 1) for _ in range(99)] + [Tx(0, None, 1)]
    j = journal()
    judge(Run(2, [], txs, [(0, "ERROR: division by zero")], None), options(SCRIPTS[:1]), j)
    report = j.finish()
    assert report.measurements["errors"] == 2 and report.measurements["failed_transactions"] == 1
    assert {c.id: c.status for c in report.checks}["LAT-ERRORS"] == "fail"
    assert report.details["aborted_by_error"] == {"ERROR: division by zero": 1}
    assert report.measurements["tps"] is None and "tps" in report.not_measured


def test_too_few_transactions_are_inconclusive_never_a_pass() -> None:
    j = journal()
    j.require("LAT-ERRORS", "LAT-P95[orders]")
    judge(Run(0, [], [Tx(0, 1000, 1) for _ in range(49)], [], 9.8), options(SCRIPTS[:1]), j)
    report = j.finish()
    assert report.status == "inconclusive"
    assert "fewer than 50" in report.details["inconclusive_because"][0]


def test_gain_against_a_baseline_needs_the_objective_fraction() -> None:
    baseline = {"started_at": "t0", "details": {"scripts": {"orders": {"p95_ms": 100.0}}}}
    for p95_us, status in ((39000, "pass"), (41000, "fail")):
        j = journal()
        judge(Run(0, [], [Tx(0, p95_us, 1) for _ in range(60)], [], 12.0), options(SCRIPTS[:1], baseline=baseline, p95_ms=50.0), j)
        report = j.finish()
        assert {c.id: c.status for c in report.checks}["LAT-GAIN[orders]"] == status
    j = journal()
    judge(Run(0, [], [Tx(0, 1000, 1) for _ in range(60)], [], 12.0),
          options(SCRIPTS[:1], baseline={"details": {"scripts": {"other": {"p95_ms": 5.0}}}}), j)
    assert {c.id: c.status for c in j.finish().checks}["LAT-GAIN[orders]"] == "unknown"


def test_a_weight_zero_script_is_measured_but_not_judged() -> None:
    scripts = (Script(Path("/w/a.sql"), 1, "a"), Script(Path("/w/b.sql"), 0, "b"))
    j = journal()
    judge(Run(0, [], [Tx(0, 1000, 1) for _ in range(60)], [], 12.0), options(scripts), j)
    assert {c.id for c in j.finish().checks} == {"LAT-P95[a]", "LAT-ERRORS", "LAT-RATE"}


@pytest.mark.parametrize("done, status", [(200, "pass"), (144, "pass"), (143, "fail"), (67, "fail"), (0, "fail")])
def test_a_server_that_could_not_keep_the_rate_fails_it(done: int, status: str) -> None:
    """20/s for 10 s schedules 200 (Poisson): fewer than 200 - 4 x sqrt(200) = 143.4 is a server falling behind."""
    from ops.drills import latency

    j = Journal("latency", "localpg:lab-pg", "lab", echo=None)
    opts = latency.LatencyOptions(scripts=(), clients=2, rate=20.0, duration_s=10, p95_ms=10, min_transactions=50, gain_min=0.6)
    latency.judge_rate(done, opts, j)
    assert {c.id: c.status for c in j.finish().checks}["LAT-RATE"] == status


PROGRESS = ["progress: 1.0 s, 20.0 tps, lat 1.520 ms stddev 0.310, 0 failed, lag 0.120 ms",
            "progress: 2.0 s, 19.0 tps, lat 1.480 ms stddev 0.290, 0 failed, lag 0.110 ms",
            "progress: 4.0 s, 0.0 tps, lat 0.000 ms stddev 0.000, 0 failed, lag 0.000 ms"]


def test_progress_lines_count_the_transactions_pgbench_completed() -> None:
    run = Run(-9, [])
    assert run.progress_transactions is None
    run.progress = [p for p in map(pgbench.parse_progress, PROGRESS + ["pgbench: error: x"]) if p]
    assert run.progress == [(1.0, 20.0), (2.0, 19.0), (4.0, 0.0)]
    assert run.progress_transactions == 39


def test_a_stopped_pgbench_s_transactions_come_from_its_progress_lines() -> None:
    """pgbench stopped loses the unwritten part of its log: 39 done by its progress lines, 5 in its log."""
    run = Run(-9, [], [Tx(0, 1500, 100) for _ in range(5)], overran_s=30.0)
    run.progress = [pgbench.parse_progress(line) for line in PROGRESS]  # type: ignore[misc]
    j = journal()
    judge(run, options(SCRIPTS[:1], rate=10.0, duration_s=4), j)
    report = j.finish()
    assert report.measurements["transactions"] == 39 and report.measurements["transactions_logged"] == 5
    assert report.measurements["transactions_in_progress_lines"] == 39
    assert report.details["transactions_counted_from"].startswith("pgbench's --progress lines (its per-transaction log holds 5")
    rate = {c.id: c for c in report.checks}["LAT-RATE"]
    assert rate.status == "pass" and "39 transactions completed of 40" in rate.detail and "--progress lines" in rate.detail


def test_a_log_that_holds_more_than_the_progress_lines_is_the_count() -> None:
    run = Run(0, [], [Tx(0, 1500, 100) for _ in range(41)], tps=10.2)
    run.progress = [(1.0, 20.0), (2.0, 19.0)]
    j = journal()
    judge(run, options(SCRIPTS[:1], rate=10.0, duration_s=4), j)
    report = j.finish()
    assert report.measurements["transactions"] == 41
    assert report.details["transactions_counted_from"] == "pgbench's per-transaction log"


def test_a_log_line_cut_where_pgbench_was_stopped_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "tx.123").write_text("0 1 1500 0 1700000000 100 20\n0 2 1400 0 1700000000 200 30\n0 3 15")
    assert len(pgbench.read_logs(tmp_path, "tx")) == 2


@pytest.mark.parametrize("meta", ["\\shell touch /tmp/x", "  \\setshell out echo 1", "\\SHELL psql -c 'CREATE TABLE t()'"])
def test_a_workload_that_runs_a_program_is_refused(tmp_path: Path, meta: str) -> None:
    script = tmp_path / "w.sql"
    script.write_text(f"{meta}\nSELECT 1;\n")
    with pytest.raises(UsageError, match="runs a program on this machine"):
        pgbench.parse_scripts([str(script)])
    # Negative control: the same SQL with a meta-command that runs nothing is a workload.
    script.write_text("\\set id random(1, 10)\nSELECT :id;\n")
    assert pgbench.parse_scripts([str(script)])[0].path == script.resolve()


def test_pgbench_is_given_no_credentials_of_other_systems() -> None:
    base = {"AWS_SECRET_ACCESS_KEY": "s", "AWS_ACCESS_KEY_ID": "k", "GITHUB_TOKEN": "t", "PGPASSWORD": "inherited",
            "HOME": "/root", "LANG": "C.UTF-8"}
    env = pgbench.environment("host=127.0.0.1 port=5432 user=u password=p dbname=d", read_only=True, base=base)
    assert not {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "GITHUB_TOKEN"} & set(env)
    assert env["PGPASSWORD"] == "p" and env["HOME"] == "/root" and env["LANG"] == "C.UTF-8"
