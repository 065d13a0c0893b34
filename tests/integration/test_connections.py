"""Many clients: refused directly when they exceed max_connections, served through the pooler."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

import pytest

from ops.lab import lab as lab_core
from ops.lab.pg import pgcluster, pgservers, pooler
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.faults.helpers import one_line, run


@pytest.fixture(scope="module")
def plab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    from tests.conftest import require

    require(pooler.binary() is not None, "pgbouncer is not installed (make install installs it)")
    root = traversable_tmpdir("dbops-conn-")
    # Set-up time and a few tens of ms of query time are this machine's (two cores shared with the other tests):
    # the objectives judged here are refusals, errors, pool use and queueing measured in seconds.
    cli = Cli(write_config(root, "[envs.lab.policy]\nconnection_setup_p95_ms = 20000\nquery_overhead_p95_ms = 200\n"
                                 "pool_wait_max_ms = 500\n"), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def drill(cli: Cli, *args: str) -> tuple[int, dict]:
    result = run(cli, "drill", "connections", "localpg:lab-pg", "--json", *args, timeout=300)
    return result.returncode, json.loads(result.stdout)


def _max_connections(cli: Cli) -> int:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    return int(cluster.query(cluster.writer(), "SHOW max_connections")[0][0])


def test_more_clients_than_the_server_has_free_are_refused_before_any_connects(plab: Cli) -> None:
    """Straight to the server, a load that would take the application's connections is not started."""
    result = run(plab, "drill", "connections", "localpg:lab-pg", "--clients", str(_max_connections(plab) - 5), "--time", "2")
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result.stderr)
    assert "max_connections" in line and "--allow-exhaustion" in line, line
    assert result.stdout == ""  # no report: nothing ran


def test_a_via_that_is_the_server_itself_is_held_to_its_free_connections(plab: Cli) -> None:
    cluster = pgcluster.get(plab.lab_dir)
    assert cluster is not None
    via = f"127.0.0.1:{cluster.writer_port()}"
    result = run(plab, "drill", "connections", "localpg:lab-pg", "--via", via, "--clients", str(_max_connections(plab)), "--time", "1")
    assert result.returncode == 2 and "--allow-exhaustion" in one_line(result.stderr), result.stdout + result.stderr


def test_an_endpoint_nobody_listens_on_is_one_line_not_a_drill_of_refusals(plab: Cli) -> None:
    result = run(plab, "drill", "connections", "localpg:lab-pg", "--via", "127.0.0.1:1", "--clients", "20", "--time", "1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot connect to 127.0.0.1:1" in one_line(result.stderr)
    assert result.stdout == ""


def test_more_clients_than_max_connections_directly_fail_with_the_refusals_counted(plab: Cli) -> None:
    max_connections = _max_connections(plab)
    code, data = drill(plab, "--clients", str(max_connections + 30), "--time", "2", "--allow-exhaustion")
    m = data["measurements"]
    assert code == 1 and data["status"] == "fail"
    assert m["refused_too_many_connections"] >= 30, m
    assert m["connected"] + m["refused_connections"] == max_connections + 30
    assert {c["id"]: c["status"] for c in data["checks"]}["CONN-ERRORS"] == "fail"


def test_a_thousand_clients_share_the_pools_server_connections_and_its_shortfall_is_counted(plab: Cli) -> None:
    """2 queries/s of 20 ms from each of 1,000 clients is 40 server connections' work for a pool of 20: every
    client connects and shares the pool, and the queries it could not serve fail the drill."""
    code, data = drill(plab, "--clients", "1000", "--via", "pooler", "--time", "5", "--rate", "2", "--query-ms", "20")
    checks = {c["id"]: c["status"] for c in data["checks"]}
    m = data["measurements"]
    assert m["connected"] == 1000 and m["refused_connections"] == 0 and m["query_errors"] == 0, m
    assert m["pool_server_connections_max"] <= pooler.POOL_SIZE, "a thousand clients shared the pool's server connections"
    assert m["queries_served"] < 0.8 * m["queries_scheduled"] == 0.8 * 10000, m
    assert checks["CONN-QUERIES-SERVED"] == "fail" and checks["POOL-UTILIZATION"] == "fail" and code == 1, checks


def test_a_saturated_pool_fails_although_its_utilization_is_high(plab: Cli) -> None:
    """200 clients of 300 ms queries at 1/s need 60 server connections; the pool has 20. Its connections are
    busy nearly all the time, which alone reads as a well-used pool: the queueing behind them fails the drill."""
    code, data = drill(plab, "--clients", "200", "--via", "pooler", "--rate", "1", "--query-ms", "300", "--time", "8")
    checks = {c["id"]: c for c in data["checks"]}
    m = data["measurements"]
    assert m["pool_utilization"] >= 0.8, m  # what POOL-UTILIZATION alone would pass
    assert m["queries_scheduled"] == 1600 and m["queries_served"] < 0.8 * 1600, m
    assert m["query_overhead_p95_ms"] > 1000 and m["pool_wait_max_ms"] > 1000 and m["pool_clients_waiting_max"] > 100, m
    for cid in ("CONN-QUERIES-SERVED", "CONN-QUERY-OVERHEAD", "POOL-WAIT", "POOL-UTILIZATION"):
        assert checks[cid]["status"] == "fail", checks[cid]
    assert "saturated" in checks["POOL-UTILIZATION"]["detail"]
    assert checks["POOL-ALIVE"]["status"] == "pass" and code == 1 and data["status"] == "fail"
    assert f"{m['queries_served']} of 1600 scheduled queries served" in data["summary"], data["summary"]


def test_a_pool_that_keeps_up_passes_every_objective(plab: Cli) -> None:
    """Negative control of the one above: 18 clients busy 90 % of the time fit the pool's 20 server connections,
    which stay busy without anyone queueing."""
    _pool_drained(plab)  # server connections earlier tests left idle would count as open and unused
    code, data = drill(plab, "--clients", "18", "--via", "pooler", "--rate", "1", "--query-ms", "900", "--time", "8")
    checks = {c["id"]: c["status"] for c in data["checks"]}
    m = data["measurements"]
    assert code == 0 and set(checks.values()) == {"pass"}, ([c["detail"] for c in data["checks"] if c["status"] != "pass"], m)
    assert set(checks) == {"CONN-SETUP-P95", "CONN-ERRORS", "CONN-QUERIES-SERVED", "CONN-QUERY-OVERHEAD", "POOL-WAIT",
                           "POOL-UTILIZATION", "POOL-ALIVE", "STEADY-STATE"}
    assert m["queries_served"] == m["queries_scheduled"] == 18 * 8, m
    assert m["pool_utilization"] >= 0.8 and m["pool_wait_max_ms"] < 500, m


def _pool_drained(cli: Cli, within_s: float = 30.0) -> None:
    """Wait until the pooler holds no server connection (it closes idle ones after server_idle_timeout)."""
    import psycopg

    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None and cluster.pooler() is not None
    deadline = time.monotonic() + within_s
    with psycopg.connect(cluster.pooler().admin_dsn(), autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:  # type: ignore[union-attr]
        while time.monotonic() < deadline:
            cur = conn.execute("SHOW POOLS")
            names = [d.name for d in cur.description or []]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
            if not sum(r["sv_active"] + r["sv_idle"] + r["sv_used"] for r in rows if r["database"] != "pgbouncer"):
                return
            time.sleep(0.5)
    raise AssertionError(f"the pooler still holds server connections after {within_s:g}s")


def test_pool_utilization_fails_when_the_pool_mostly_idles(plab: Cli) -> None:
    """Negative control: a trickle of instant queries leaves the pool's open server connections idle."""
    code, data = drill(plab, "--clients", "50", "--via", "pooler", "--time", "4", "--rate", "0.5")
    checks = {c["id"]: c for c in data["checks"]}
    assert checks["POOL-UTILIZATION"]["status"] == "fail", checks["POOL-UTILIZATION"]
    assert code == 1


def test_failover_through_the_pooler_is_measured_like_a_direct_one(plab: Cli) -> None:
    direct = run(plab, "drill", "failover", "localpg:lab-pg", "--json")
    pooled = run(plab, "drill", "failover", "localpg:lab-pg", "--via", "pooler", "--json")
    assert direct.returncode == 0, direct.stdout + direct.stderr
    assert pooled.returncode == 0, pooled.stdout + pooled.stderr
    d, p = json.loads(direct.stdout)["measurements"], json.loads(pooled.stdout)["measurements"]
    assert d["lost_writes"] == p["lost_writes"] == 0
    assert p["client_write_downtime_s"] > 0
    status = pgcluster.status(plab.lab_dir)
    assert status["pooler"]["state"] == "running"
    cluster = pgcluster.get(plab.lab_dir)
    assert cluster is not None
    with open(cluster.pooler().ini) as f:  # type: ignore[union-attr]
        assert f"port={cluster.writer().port}" in f.read(), "the pooler follows the writer"


def test_a_server_that_stops_answering_mid_load_fails_the_drill_within_its_query_timeout(plab: Cli) -> None:
    """SIGSTOP of the writer and its backends: the queries time out and are counted, the drill does not wait for it."""
    import signal
    import subprocess
    import time

    from tests.faults.helpers import read_until, spawn

    cluster = pgcluster.get(plab.lab_dir)
    assert cluster is not None
    proc = spawn(plab, "drill", "connections", "localpg:lab-pg", "--clients", "5", "--time", "8", "--json")
    seen: list[str] = []
    assert proc.stderr is not None and read_until(proc.stderr, "clients connected", seen), "".join(seen)
    time.sleep(1)
    postmaster = subprocess.run(["pgrep", "-f", f"postgres -D {cluster.writer().path}"], capture_output=True, text=True).stdout.split()
    backends = subprocess.run(["pgrep", "-P", postmaster[0]], capture_output=True, text=True).stdout.split()
    stopped = [int(p) for p in postmaster + backends]
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        proc.kill()
    data = json.loads(out)
    assert proc.returncode == 1 and data["status"] == "fail", err
    assert data["details"]["query_errors_by_class"].get("timeout", 0) > 0, data["details"]
    assert took < 30, f"the drill waited {took:.0f}s for a server that did not answer"


@contextmanager
def writer_stopped(cli: Cli) -> Iterator[None]:
    """SIGSTOP of the writer's postmaster and backends: a server that stops answering; SIGCONT on the way out.
    The postmaster's pid is its data directory's postmaster.pid; a backend that exits between the listing and
    the signal is skipped, and every process stopped is continued whatever happens in between."""
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    postmaster = (Path(cluster.writer().path) / "postmaster.pid").read_text().split()[0]
    backends = subprocess.run(["pgrep", "-P", postmaster], capture_output=True, text=True).stdout.split()
    stopped: list[int] = []
    try:
        for pid in [int(postmaster)] + [int(p) for p in backends]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _pooler_log(cli: Cli) -> Path:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None and cluster.pooler() is not None
    return cluster.pooler().home / "pgbouncer.log"  # type: ignore[union-attr]


def _answers_through_the_pooler(cli: Cli, within_s: float) -> str | None:
    """None when SELECT 1 through the pooler is answered within within_s; else the last error."""
    import psycopg

    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None and cluster.pooler() is not None
    deadline, error = time.monotonic() + within_s, "not tried"
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(cluster.pooler().dsn(cluster.admin_user, pgservers.DBNAME), connect_timeout=3) as conn:  # type: ignore[union-attr]
                conn.execute("SELECT 1").fetchone()
            return None
        except psycopg.Error as exc:
            error = str(exc)
            time.sleep(0.5)
    return error


def test_a_writer_that_stops_answering_under_pooled_load_leaves_the_pooler_answering(plab: Cli) -> None:
    """The drill's timed-out queries end by closing their connections, not by cancel requests through the pooler
    (a cancel forwarded to the stopped server killed PgBouncer 1.18 once the server answered again)."""
    from tests.faults.helpers import read_until, spawn

    cluster = pgcluster.get(plab.lab_dir)
    assert cluster is not None and cluster.pooler() is not None
    pooler_pid = cluster.pooler().pid()  # type: ignore[union-attr]
    log = _pooler_log(plab)
    logged = log.stat().st_size
    proc = spawn(plab, "drill", "connections", "localpg:lab-pg", "--clients", "30", "--via", "pooler", "--time", "12", "--json")
    seen: list[str] = []
    try:
        assert proc.stderr is not None and read_until(proc.stderr, "clients connected", seen), "".join(seen)
        time.sleep(3)
        with writer_stopped(plab):
            out, err = proc.communicate(timeout=90)
        time.sleep(2)  # the server answers again: a cancel request the pooler forwarded would now complete
    finally:
        proc.kill()
    with open(log, encoding="utf-8", errors="replace") as f:
        f.seek(logged)
        during = f.read()
    assert cluster.pooler().pid() == pooler_pid, f"the pooler died: {during[-500:]}"  # type: ignore[union-attr]
    assert _answers_through_the_pooler(plab, within_s=10) is None
    assert "cancel" not in during and "FATAL" not in during, during[-2000:]
    assert "cancel" not in "".join(seen) + err, err  # psycopg's "query not terminated after cancellation" lines
    assert "Traceback" not in err
    data = json.loads(out)
    checks = {c["id"]: c for c in data["checks"]}
    assert proc.returncode == 1 and checks["CONN-ERRORS"]["status"] == "fail", checks
    assert checks["POOL-ALIVE"]["status"] == "pass", checks.get("POOL-ALIVE")
    status = run(plab, "lab", "status")
    assert status.returncode == 0 and "pooler     running" in status.stdout, status.stdout + status.stderr


def test_an_interrupted_drill_severs_its_connections_without_a_cancel_request(plab: Cli) -> None:
    """SIGTERM while every query waits on a stopped writer: the drill reports aborted at once and the pooler
    receives no cancel request."""
    from tests.faults.helpers import read_until, spawn

    log = _pooler_log(plab)
    logged = log.stat().st_size
    proc = spawn(plab, "drill", "connections", "localpg:lab-pg", "--clients", "20", "--via", "pooler", "--time", "20", "--json")
    seen: list[str] = []
    try:
        assert proc.stderr is not None and read_until(proc.stderr, "clients connected", seen), "".join(seen)
        with writer_stopped(plab):
            time.sleep(2)  # every client's query is now waiting on the writer
            proc.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            out, err = proc.communicate(timeout=30)
            took = time.monotonic() - t0
        time.sleep(2)
    finally:
        proc.kill()
    assert proc.returncode == 3 and json.loads(out)["status"] == "aborted", err
    assert took < 5, f"the drill took {took:.1f}s to stop"
    assert "cancel" not in err and "Traceback" not in err, err
    with open(log, encoding="utf-8", errors="replace") as f:
        f.seek(logged)
        during = f.read()
    assert "cancel" not in during and "FATAL" not in during, during[-2000:]
    assert _answers_through_the_pooler(plab, within_s=10) is None


def test_lab_status_shows_a_dead_pooler_and_exits_1_until_lab_up_starts_it(plab: Cli) -> None:
    """Killed, the pooler leaves its pid file; its pid here names a live process that is no pooler, as a
    reused pid would: neither lab status nor lab up takes it for the pooler."""
    cluster = pgcluster.get(plab.lab_dir)
    assert cluster is not None and cluster.pooler() is not None
    pooler_pid = cluster.pooler().pid()  # type: ignore[union-attr]
    assert pooler_pid is not None
    os.kill(pooler_pid, signal.SIGKILL)
    other = subprocess.Popen(["sleep", "120"])
    try:
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{pooler_pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        cluster.pooler().pidfile.write_text(f"{other.pid}\n")  # type: ignore[union-attr]
        status = run(plab, "lab", "status")
        assert status.returncode == 1, status.stdout + status.stderr
        assert "pooler     stopped" in status.stdout and "DOWN: lab-pg pooler stopped" in status.stdout, status.stdout
        shown = json.loads(run(plab, "lab", "status", "--json").stdout)
        assert shown["postgres"]["pooler"]["state"] == "stopped" and shown["down"] == ["lab-pg pooler stopped"], shown
        refused = run(plab, "drill", "connections", "localpg:lab-pg", "--via", "pooler", "--clients", "2", "--time", "1")
        assert refused.returncode == 2 and "not running" in one_line(refused.stderr), refused.stderr
        assert "not installed" not in refused.stderr
        up = run(plab, "lab", "up")
        assert up.returncode == 0, up.stdout + up.stderr
    finally:
        other.kill()
        other.wait()
        run(plab, "lab", "up")
    status = run(plab, "lab", "status")
    assert status.returncode == 0 and "pooler     running" in status.stdout, status.stdout
    assert _answers_through_the_pooler(plab, within_s=10) is None


@contextmanager
def application_holding(cli: Cli, n: int) -> Iterator[list]:
    """The application's own sessions, straight to the server, held open."""
    import psycopg

    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    held = [psycopg.connect(cluster.writer().dsn(), autocommit=True) for _ in range(n)]
    try:
        yield held
    finally:
        for conn in held:
            conn.close()


def test_through_the_pooler_the_load_is_bounded_by_its_pool_and_the_servers_free_connections(plab: Cli) -> None:
    """The pooler may open its pool (20) on the server whatever the number of clients. With the application
    holding all but about ten of the server's connections, a drill of 100 clients through it could take
    the rest: refused before any client connects. Negative controls: 5 clients (5 server connections at
    most) run, and so do the 100 once the application lets its connections go."""
    _pool_drained(plab)
    usable = int((_max_connections(plab) - 3) * 0.9)  # superuser_reserved_connections 3, a tenth kept
    with application_holding(plab, usable - 10):
        refused = run(plab, "drill", "connections", "localpg:lab-pg", "--via", "pooler", "--clients", "100", "--time", "1")
        assert refused.returncode == 2 and refused.stdout == "", refused.stdout + refused.stderr
        line = one_line(refused.stderr)
        assert "may open 20 server connection(s)" in line and "pool_size 20" in line and "pg_stat_activity" in line, line
        assert "CloudWatch DatabaseConnections not measured" in line and "--allow-exhaustion" in line, line
        few, data = drill(plab, "--via", "pooler", "--clients", "5", "--time", "2")
        assert few in (0, 1) and "may open 5 server connection(s)" in data["details"]["server_connections"], data["details"]
        forced, data = drill(plab, "--via", "pooler", "--clients", "100", "--time", "1", "--allow-exhaustion")
        assert forced in (0, 1) and data["details"]["server_connections"].startswith("--allow-exhaustion"), data["details"]
    _pool_drained(plab)
    code, data = drill(plab, "--via", "pooler", "--clients", "100", "--time", "2")
    assert code in (0, 1) and "may open 20 server connection(s)" in data["details"]["server_connections"], data


@pytest.mark.parametrize("taken", [True, False])
def test_a_lease_taken_over_mid_drill_stops_the_load_at_once_and_the_report_says_why(plab: Cli, lease_table: object,
                                                                                        taken: bool) -> None:
    """A drill that lost its lease stops loading the target within a second or so (it polls the lease's loss
    four times a second, then severs its connections), not at the end of its --time; the report is an error
    that names the lease and the drill that holds it now. Negative control: a lease held throughout runs the
    load for its whole time and passes."""
    import threading

    from ops.cli.drill import _lost
    from ops.data.clients import ConnectionsOptions
    from ops.drills.connections import run_connections
    from ops.lease import DynamoLedger
    from ops.report import Journal

    cluster = pgcluster.get(plab.lab_dir)
    assert cluster is not None
    ddb = lease_table
    scope = f"stop-{taken}"
    ledger = DynamoLedger(ddb, "leases", "prod", scope=scope, renew_every_s=0.3)
    opts = ConnectionsOptions(clients=5, rate_per_client=5.0, duration_s=20.0, query_ms=0.0, ramp_s=0.2, setup_p95_ms=20000,
                              pool_utilization_min=0.0, query_overhead_p95_ms=1000, pool_wait_max_ms=1000)
    key = {"S": f"dbops-drill-lease:{scope}:localpg:lab-pg"}

    def take_over() -> None:
        ddb.put_item(TableName="leases", Item={  # type: ignore[attr-defined]
            "LockID": key, "target": {"S": "localpg:lab-pg"}, "drill_id": {"S": "connections-theirs"},
            "owner": {"S": "other-host:4242:1"}, "started_at": {"S": "2026-11-23T00:00:00Z"}, "expires_at": {"S": "2099-01-01T00:00:00Z"}})

    with ledger.acquire("localpg:lab-pg", "connections-mine", hours=1) as lease:
        if taken:
            threading.Timer(2.0, take_over).start()
        journal = Journal("connections", "localpg:lab-pg", "prod", echo=None)
        t0 = time.monotonic()
        report = run_connections(cluster.writer().dsn(), None, opts, journal, "the writer", should_stop=lambda: _lost(lease))
        took = time.monotonic() - t0
        report = lease.judge(report)
    if not taken:
        assert report.status == "pass", report.summary
        assert took >= opts.duration_s and "stopped_early" not in report.details
        return
    assert took < 8.0, f"the load ran {took:.1f}s after its lease was lost at 2s (its --time is {opts.duration_s:g}s)"
    assert report.status == "error"
    assert "connections-theirs" in report.details["stopped_early"] and "lost its lease" in report.details["stopped_early"]
    assert report.summary.startswith("ERROR") and "connections-theirs" in report.summary
    assert any(c.id == "LEASE" and c.status == "error" for c in report.checks)
    assert any(e.phase == "stop" and "connections-theirs" in e.message for e in report.events)
    ddb.delete_item(TableName="leases", Key={"LockID": key})  # type: ignore[attr-defined]


def test_an_ipv6_via_in_brackets_is_connected_to_not_looked_up_as_a_name(plab: Cli) -> None:
    result = run(plab, "drill", "connections", "localpg:lab-pg", "--via", "[::1]:1", "--clients", "20", "--time", "1")
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result.stderr)
    assert "cannot connect to" in line and "::1" in line and "translate host name" not in line, line
    # without brackets, where the address ends and the port begins is a guess: refused before connecting
    bare = run(plab, "drill", "connections", "localpg:lab-pg", "--via", "::1:1", "--clients", "20", "--time", "1")
    assert bare.returncode == 2 and "write an IPv6 address in brackets" in one_line(bare.stderr), bare.stderr
