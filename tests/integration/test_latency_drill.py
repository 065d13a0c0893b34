"""The latency drill's own guarantees on the session lab: errors counted, the workload kept read-only,
one drill per target, an interrupt stops pgbench, bad input refused before anything runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ops.lab.pg import pgcluster
from ops.lease import lab_ledger
from ops.query.pgbench import remove_orphan_log_dirs
from tests.conftest import REPO, Cli
from tests.faults.helpers import one_line, read_until, spawn


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def scalar(cli: Cli, sql: str) -> int:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    return cluster.query(cluster.writer(), sql)[0][0]


def test_errors_are_counted_by_class_and_fail_the_drill(lab: Cli, tmp_path: Path) -> None:
    bad = script(tmp_path, "divide.sql", "\\set d random(0, 0)\nSELECT 1 / :d;\n")
    result = lab("drill", "latency", "localpg:lab-pg", "--workload", bad, "--clients", "3", "--rate", "20", "--time", "2", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["LAT-ERRORS"]["status"] == "fail"
    assert report["measurements"]["aborted_clients"] == 3 and report["measurements"]["errors"] == 3  # each client stops at its first
    assert report["details"]["aborted_by_error"] == {"ERROR:  division by zero": 3}
    assert checks["LAT-P95[divide]"]["status"] == "unknown"  # nothing completed: no latency to judge


def test_the_workload_cannot_write_unless_asked(lab: Cli, tmp_path: Path) -> None:
    cluster = pgcluster.get(lab.lab_dir)
    assert cluster is not None
    cluster.execute(cluster.writer(), "CREATE TABLE latency_scratch (n int)")
    try:
        writes = script(tmp_path, "writes.sql", "INSERT INTO latency_scratch VALUES (1);\n")
        refused = lab("drill", "latency", "localpg:lab-pg", "--workload", writes, "--clients", "2", "--rate", "20", "--time", "2", "--json")
        assert refused.exit_code == 1, refused.output
        report = json.loads(refused.stdout)
        assert "cannot execute INSERT in a read-only transaction" in next(iter(report["details"]["aborted_by_error"]))
        assert {c["id"]: c["status"] for c in report["checks"]}["LAT-READ-ONLY"] == "pass"
        assert scalar(lab, "SELECT count(*) FROM latency_scratch") == 0
        allowed = lab("drill", "latency", "localpg:lab-pg", "--workload", writes, "--read-write", "--clients", "2", "--rate", "50",
                      "--time", "3", "--p95-ms", "2000", "--json")  # commits wait for the disk: this test is about the guard
        assert allowed.exit_code == 0, allowed.output
        report = json.loads(allowed.stdout)
        assert scalar(lab, "SELECT count(*) FROM latency_scratch") == report["measurements"]["transactions"] >= 50
        assert report["details"]["read_only"] is False
        assert "LAT-READ-ONLY" not in {c["id"] for c in report["checks"]}
    finally:
        cluster.execute(cluster.writer(), "DROP TABLE latency_scratch")


WORKLOAD_ROLES = "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, 'dbops_ro_') AND rolvaliduntil > now()"


@pytest.mark.parametrize("name, text", [
    ("begin-read-write", "BEGIN READ WRITE;\nCREATE TABLE IF NOT EXISTS latency_made (n int);\n"
                         "INSERT INTO latency_made VALUES (1);\nCOMMIT;\n"),
    ("read-only-off", "SET default_transaction_read_only = off;\nINSERT INTO latency_scratch VALUES (1);\n"),
    ("drop", "BEGIN READ WRITE;\nDROP TABLE latency_scratch;\nCOMMIT;\n"),
])
def test_a_workload_that_undoes_read_only_transactions_still_cannot_write(lab: Cli, tmp_path: Path, name: str,
                                                                          text: str) -> None:
    cluster = pgcluster.get(lab.lab_dir)
    assert cluster is not None
    cluster.execute(cluster.writer(), "CREATE TABLE latency_scratch (n int)")
    try:
        result = lab("drill", "latency", "localpg:lab-pg", "--workload", script(tmp_path, f"{name}.sql", text),
                     "--clients", "1", "--rate", "10", "--time", "2", "--json")
        report = json.loads(result.stdout)
        checks = {c["id"]: c for c in report["checks"]}
        assert result.exit_code == 1 and checks["LAT-ERRORS"]["status"] == "fail", result.output
        refusals = report["details"]["aborted_by_error"]
        assert refusals and all("permission denied" in e or "must be owner" in e for e in refusals), refusals  # grants stop it
        assert scalar(lab, "SELECT count(*) FROM latency_scratch") == 0  # still there, still empty
        assert scalar(lab, "SELECT count(*) FROM pg_class WHERE relname = 'latency_made'") == 0
        assert checks["LAT-READ-ONLY"]["status"] == "pass", checks["LAT-READ-ONLY"]
        assert scalar(lab, WORKLOAD_ROLES) == 0  # the drill's role went with it
    finally:
        cluster.execute(cluster.writer(), "DROP TABLE latency_scratch")


@pytest.mark.parametrize("name, text, found", [
    ("creates", "BEGIN READ WRITE;\nCREATE TABLE IF NOT EXISTS latency_made (n int);\nINSERT INTO latency_made VALUES (1);\nCOMMIT;\n",
     "owns 1 object(s) it created: table latency_made"),
    ("inserts", "SET default_transaction_read_only = off;\nINSERT INTO latency_scratch VALUES (1);\n",
     "tables its role may write: public.latency_scratch"),
    ("creates-and-drops", "BEGIN READ WRITE;\nCREATE TABLE latency_brief (n int);\nDROP TABLE latency_brief;\nCOMMIT;\n",
     "statement(s) that write (CREATE, DROP)"),
])
def test_a_write_made_through_public_grants_is_detected_and_fails_the_drill(lab: Cli, tmp_path: Path, name: str, text: str,
                                                                            found: str) -> None:
    """Grants to PUBLIC (a database made before PostgreSQL 15, an application's own) reach the drill's role too:
    the write happens, and the server's counters show it."""
    cluster = pgcluster.get(lab.lab_dir)
    assert cluster is not None
    grants = ("CREATE TABLE latency_scratch (n int)", "GRANT INSERT ON latency_scratch TO PUBLIC",
              "GRANT CREATE ON SCHEMA public TO PUBLIC")
    for sql in grants:
        cluster.execute(cluster.writer(), sql)
    try:
        result = lab("drill", "latency", "localpg:lab-pg", "--workload", script(tmp_path, f"{name}.sql", text),
                     "--clients", "1", "--rate", "10", "--time", "2", "--p95-ms", "2000", "--json")
        report = json.loads(result.stdout)
        checks = {c["id"]: c for c in report["checks"]}
        assert result.exit_code == 1 and report["status"] == "fail", result.output
        assert checks["LAT-READ-ONLY"]["status"] == "fail" and found in checks["LAT-READ-ONLY"]["detail"], checks["LAT-READ-ONLY"]
        assert checks["LAT-ERRORS"]["status"] == "pass", checks["LAT-ERRORS"]  # nothing refused it: only the counters tell
        assert report["measurements"]["workload_write_statements"] >= 10
        assert scalar(lab, "SELECT count(*) FROM pg_class WHERE relname = 'latency_made'") == 0  # dropped with the role
        assert scalar(lab, WORKLOAD_ROLES) == 0
    finally:
        cluster.execute(cluster.writer(), "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cluster.execute(cluster.writer(), "DROP TABLE latency_scratch")


def test_a_read_only_workload_passes_while_other_clients_write(lab: Cli, tmp_path: Path) -> None:
    """The negative control: the lab's heartbeat writes a row a second during the drill; they are not the workload's."""
    reads = script(tmp_path, "reads.sql", "SELECT count(*) FROM dbops_markers;\n")
    # 120 transactions scheduled: a p95 needs 50 (min_statement_calls), which 60 missed by Poisson chance now and then.
    result = lab("drill", "latency", "localpg:lab-pg", "--workload", reads, "--clients", "2", "--rate", "40", "--time", "3",
                 "--p95-ms", "2000", "--json")
    report = json.loads(result.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["LAT-READ-ONLY"]["status"] == "pass", checks["LAT-READ-ONLY"]
    assert report["measurements"]["rows_written_during_workload"] >= 2  # the heartbeat's, counted and not blamed
    assert report["measurements"]["workload_write_statements"] == 0
    assert result.exit_code == 0, result.output


def test_a_held_target_refuses_the_drill_in_one_line(lab: Cli, tmp_path: Path) -> None:
    ok = script(tmp_path, "one.sql", "SELECT 1;\n")
    with lab_ledger(lab.lab_dir).acquire("localpg:lab-pg", "failover-20261123T000000Z-abcdef", hours=1):
        result = lab("drill", "latency", "localpg:lab-pg", "--workload", ok, "--time", "1")
    assert result.exit_code == 2
    assert "held by drill failover-20261123T000000Z-abcdef" in one_line(result.stderr)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _drill_running_pgbench(lab: Cli, tmp_path: Path, **env: str) -> tuple[subprocess.Popen, int]:
    """A latency drill of two minutes, once its pgbench runs: the drill's process and pgbench's pid."""
    ok = script(tmp_path, "steady.sql", "SELECT 1;\n")
    proc = spawn(lab, "drill", "latency", "localpg:lab-pg", "--workload", ok, "--time", "120", "--rate", "10", "--json", **env)
    seen: list[str] = []
    assert proc.stderr is not None and read_until(proc.stderr, "pgbench:", seen), "".join(seen)
    deadline = time.monotonic() + 10
    pgbench: list[int] = []
    while not pgbench and time.monotonic() < deadline:
        time.sleep(0.2)
        pgbench = [p for p in _children(proc.pid) if "pgbench" in Path(f"/proc/{p}/cmdline").read_text()]
    assert len(pgbench) == 1
    time.sleep(1.0)
    return proc, pgbench[0]


def test_an_interrupt_stops_pgbench_and_writes_an_aborted_report(lab: Cli, tmp_path: Path) -> None:
    proc, pgbench = _drill_running_pgbench(lab, tmp_path)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert time.monotonic() - started < 15
    assert not Path(f"/proc/{pgbench}").exists() or "pgbench" not in Path(f"/proc/{pgbench}/cmdline").read_text()
    report = json.loads(out)
    assert report["status"] == "aborted" and report["kind"] == "latency"
    with lab_ledger(lab.lab_dir).acquire("localpg:lab-pg", "after-interrupt", hours=1):
        pass  # the lease went with the drill


def test_a_killed_drill_takes_pgbench_with_it(lab: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A temporary directory of the drill's own: any pgbench run elsewhere removes the orphan log directory of a
    # killed drill it finds in the shared one, which this test must still see.
    own = tmp_path / "tmp"
    own.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    proc, pgbench = _drill_running_pgbench(lab, tmp_path, TMPDIR=str(own))
    proc.kill()  # SIGKILL: no handler, no finally
    proc.wait(timeout=10)
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbops-latency-drill'"
    deadline = time.monotonic() + 5
    while (Path(f"/proc/{pgbench}").exists() or scalar(lab, sessions)) and time.monotonic() < deadline:
        time.sleep(0.1)
    stat = Path(f"/proc/{pgbench}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", "pgbench outlived its drill"
    assert scalar(lab, sessions) == 0, "pgbench's sessions outlived its drill"
    # Its log directory stays behind (no finally ran); the next drill's pgbench run removes it.
    left = list(Path(tempfile.gettempdir()).glob(f"dbops-pgbench-{proc.pid}.*"))
    assert len(left) == 1
    remove_orphan_log_dirs()
    assert not left[0].exists()


@pytest.mark.parametrize("text, fragment", [
    ("\\set a 1\n\\sleep 10 ms\n", "think.sql: the workload sends no SQL statement"),
    ("SELECT 1;\n\\sett a 1\n", 'think.sql: pgbench cannot parse it: think.sql:2: invalid command in command "sett"'),
    ("\\set a 1 +\nSELECT :a;\n", 'think.sql: pgbench cannot parse it: think.sql:1: syntax error in command "set"'),
])
def test_a_workload_pgbench_cannot_use_is_refused_before_anything_runs(cli_at: Cli, tmp_path: Path, text: str,
                                                                      fragment: str) -> None:
    result = cli_at("drill", "latency", "localpg:lab-pg", "--workload", script(tmp_path, "think.sql", text))
    assert result.exit_code == 2, result.output
    assert fragment in one_line(result.stderr)
    assert not cli_at.lab_dir.exists() and not (cli_at.lab_dir.parent / "reports").exists()


@pytest.mark.parametrize("args, fragment", [
    (("--workload", "workloads/orders.sql", "--rate", "nan"), "--rate"),
    (("--workload", "workloads/orders.sql", "--rate", "0"), "--rate"),
    (("--workload", "workloads/orders.sql", "--clients", "0"), "--clients"),
    (("--workload", "workloads/orders.sql", "--time", "0"), "--time"),
    (("--workload", "workloads/orders.sql", "--endpoint", "primary"), "--endpoint"),
    (("--workload", "workloads/orders.sql", "--p95-ms", "inf"), "--p95-ms"),
    (("--workload", "nowhere.sql",), "no such file"),
    (("--workload", "workloads/orders.sql@x",), "not an integer"),
    (("--workload", "workloads/orders.sql", "--define", "1x=2"), "--define"),
    (("--workload", "workloads/orders.sql", "--baseline", "no-such-report"), "--baseline"),
    ((), "--workload"),
])
def test_bad_input_is_refused_before_anything_runs(cli_at: Cli, args: tuple[str, ...], fragment: str) -> None:
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        result = cli_at("drill", "latency", "localpg:lab-pg", *args)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2, result.output
    assert fragment in one_line(result.stderr)
    assert not cli_at.lab_dir.exists() and not (cli_at.lab_dir.parent / "reports").exists()


def test_query_audit_of_an_unknown_target_is_one_line(cli_at: Cli) -> None:
    for target, fragment in (("localpg:nope", "no local PostgreSQL cluster"), ("dynamodb:orders", "not a cluster target"),
                             ("bogus", "KIND:NAME")):
        result = cli_at("query", "audit", target)
        assert result.exit_code == 2 and fragment in one_line(result.stderr)


def test_a_server_that_stops_answering_fails_the_drill_instead_of_holding_it(lab: Cli, tmp_path: Path) -> None:
    """SIGSTOP of the writer and its backends: pgbench is stopped 30 s after its --time, and the drill fails."""
    cluster = pgcluster.get(lab.lab_dir)
    assert cluster is not None
    ok = script(tmp_path, "steady.sql", "SELECT 1;\n")
    proc = spawn(lab, "drill", "latency", "localpg:lab-pg", "--workload", ok, "--time", "4", "--rate", "20", "--json")
    seen: list[str] = []
    assert proc.stderr is not None and read_until(proc.stderr, "pgbench:", seen), "".join(seen)
    time.sleep(1.5)
    postmaster = subprocess.run(["pgrep", "-f", f"postgres -D {cluster.writer().path}"], capture_output=True, text=True).stdout.split()
    stopped = [int(p) for p in postmaster + subprocess.run(["pgrep", "-P", postmaster[0]], capture_output=True, text=True).stdout.split()]
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        out, err = proc.communicate(timeout=90)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        proc.kill()
    report = json.loads(out)
    checks = {c["id"]: c for c in report["checks"]}
    assert proc.returncode == 1 and report["status"] == "fail", err
    assert checks["LAT-ERRORS"]["status"] == "fail" and "stopped answering" in checks["LAT-ERRORS"]["detail"], checks
    assert checks["LAT-RATE"]["status"] == "fail", checks["LAT-RATE"]
    # About 1.5 s at 20/s before the stop: pgbench's unwritten log went with it, its progress lines did not.
    measured = report["measurements"]
    assert measured["transactions"] == measured["transactions_in_progress_lines"] >= 15, measured
    assert measured["transactions_logged"] < measured["transactions"], measured
    assert "counted from pgbench's --progress lines" in checks["LAT-RATE"]["detail"], checks["LAT-RATE"]


WHO_AM_I = ("SELECT (current_user LIKE 'dbops\\_ro\\_%')::int AS ro \\gset\n"
            "\\if :ro = 0\n"
            "SELECT 1 / 0;\n"  # the target's own user: every transaction fails
            "\\endif\n")


def test_a_workload_on_a_reader_runs_as_the_drills_read_only_role_not_the_targets_own_user(lab: Cli, tmp_path: Path) -> None:
    who = script(tmp_path, "who.sql", WHO_AM_I)
    result = lab("drill", "latency", "localpg:lab-pg", "--endpoint", "reader", "--workload", who, "--clients", "2", "--rate", "40",
                 "--time", "3", "--p95-ms", "2000", "--json")
    report = json.loads(result.stdout)
    checks = {c["id"]: c["status"] for c in report["checks"]}
    assert report["details"]["server_in_recovery"] is True
    assert checks["LAT-ERRORS"] == "pass" and report["measurements"]["errors"] == 0, report["checks"]
    assert report["details"]["workload_role"].startswith("dbops_ro_"), report["details"]
    assert checks["LAT-READ-ONLY"] == "pass" and result.exit_code == 0, result.output
    assert not scalar(lab, f"SELECT count(*) FROM pg_roles WHERE rolname = '{report['details']['workload_role']}'"), "dropped"
    # Negative control: as the target's own user (--read-write) the same script fails every transaction.
    own = lab("drill", "latency", "localpg:lab-pg", "--endpoint", "reader", "--workload", who, "--read-write", "--clients", "2",
              "--rate", "40", "--time", "2", "--p95-ms", "2000", "--json")
    own_report = json.loads(own.stdout)
    assert {c["id"]: c["status"] for c in own_report["checks"]}["LAT-ERRORS"] == "fail" and own.exit_code == 1, own.output


def test_more_clients_than_the_server_has_free_are_refused_before_pgbench_starts(lab: Cli, tmp_path: Path) -> None:
    import psycopg

    from ops.data import server_room

    ok = script(tmp_path, "one.sql", "SELECT 1;\n")
    cluster = pgcluster.get(lab.lab_dir)
    assert cluster is not None
    with psycopg.connect(cluster.writer().dsn(), autocommit=True) as conn:
        free = server_room.room(conn).free
    held = [psycopg.connect(cluster.writer().dsn(), autocommit=True) for _ in range(max(0, free - 8))]
    try:
        refused = lab("drill", "latency", "localpg:lab-pg", "--workload", ok, "--clients", "12", "--time", "1")
        assert refused.exit_code == 2 and refused.stdout == "", refused.output
        line = one_line(refused.stderr)
        assert "may open 14 server connection(s)" in line and "pgbench's 12" in line and "lower --clients" in line, line
        # Negative control: a load that fits (2 clients and the drill's own 2) runs.
        fits = lab("drill", "latency", "localpg:lab-pg", "--workload", ok, "--clients", "2", "--rate", "20", "--time", "1", "--json")
        assert fits.exit_code in (0, 4) and "may open 4 server connection(s)" in json.loads(fits.stdout)["details"]["server_connections"]
    finally:
        for conn in held:
            conn.close()


@pytest.mark.parametrize("lost", [True, False])
def test_a_lost_lease_stops_pgbench_at_once_and_the_report_says_why(lab: Cli, tmp_path: Path, lost: bool) -> None:
    """The drill polls its lease's loss while pgbench runs: lost 1.5 s into a 20 s load, pgbench is stopped
    within seconds and the report is an error naming why. Negative control: a lease held throughout runs the
    load for its whole time and is not stopped."""
    from ops.drills.latency import LatencyOptions, Where, run_latency
    from ops.query.pgbench import parse_scripts
    from ops.report import Journal

    cluster = pgcluster.get(lab.lab_dir)
    assert cluster is not None
    reads = script(tmp_path, "reads.sql", "SELECT 1;\n")
    started = time.monotonic()
    reason = "the drill lost its lease on localpg:lab-pg: taken over by latency-theirs"
    duration = 20 if lost else 3
    opts = LatencyOptions(scripts=parse_scripts([reads]), clients=2, rate=20, duration_s=duration, p95_ms=1000,
                          min_transactions=1, gain_min=0.0, read_only=False,
                          should_stop=(lambda: reason if time.monotonic() - started > 1.5 else None) if lost else (lambda: None))
    journal = Journal("latency", "localpg:lab-pg", "lab", echo=None)
    report = run_latency(Where(cluster.writer().dsn(), "the writer", "latency-mine"), opts, journal)
    took = time.monotonic() - started
    if not lost:
        assert report.status == "pass" and took >= duration - 0.5 and "stopped_early" not in report.details, (report.summary, took)
        return
    assert took < 8, f"pgbench ran {took:.1f}s after the lease was lost at 1.5s (its --time is {duration}s)"
    assert report.status == "error" and report.details["stopped_early"] == reason, report.summary
    assert reason in report.summary and any(e.phase == "stop" for e in report.events)


def test_an_interrupt_during_the_roles_drop_waits_for_it_then_stops_the_drill(lab: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop condition or a Ctrl-C arriving as the workload's role is dropped: the role still goes, then the drill stops."""
    from ops.query import workload_role

    dsn = pgcluster.writer_dsn(lab.lab_dir)
    assert dsn is not None
    real_drop = workload_role.drop

    def interrupted_drop(conn: object, name: str) -> str:
        signal.raise_signal(signal.SIGINT)  # arrives as the drop begins
        return real_drop(conn, name)

    monkeypatch.setattr(workload_role, "drop", interrupted_drop)
    events: list[str] = []
    name = None
    with pytest.raises(KeyboardInterrupt):
        with workload_role.read_only_role(dsn, "latency-interrupt-drop", 1, 0.1, on_event=events.append,
                                          on_left=events.append) as role:
            name = role.name
    assert name is not None and scalar(lab, f"SELECT count(*) FROM pg_roles WHERE rolname = '{name}'") == 0
    assert any("interrupt deferred: dropping role" in e for e in events), events


def test_an_interrupt_while_pgbench_is_stopped_waits_for_the_stop(lab: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second signal (a stop condition, a Ctrl-C) landing while pgbench is being stopped must not leave it running."""
    from ops.query import pgbench

    dsn = pgcluster.writer_dsn(lab.lab_dir)
    assert dsn is not None
    real_stop = pgbench._stop
    stopped: list[int] = []

    def interrupted_stop(proc: subprocess.Popen) -> None:
        stopped.append(proc.pid)
        signal.raise_signal(signal.SIGINT)  # arrives as the stop begins
        real_stop(proc)

    monkeypatch.setattr(pgbench, "_stop", interrupted_stop)

    def first_progress(line: str) -> None:
        if line.startswith("progress:"):
            raise KeyboardInterrupt("the drill was stopped")

    settings = pgbench.Settings(pgbench.parse_scripts([script(tmp_path, "one.sql", "SELECT 1;\n")]), 1, 20, 10.0, progress_s=1)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        pgbench.run(settings, pgbench.environment(dsn, read_only=True), first_progress)
    assert stopped and time.monotonic() - started < 15
    assert not Path(f"/proc/{stopped[0]}").exists(), "pgbench was left running"
