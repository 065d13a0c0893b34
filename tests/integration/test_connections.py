"""Many clients: refused directly when they exceed max_connections, served through the pooler."""

from __future__ import annotations

import json
import os
import shutil
from typing import Iterator

import pytest

from ops.lab import lab as lab_core
from ops.lab import pgcluster, pooler
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.faults.helpers import one_line, run


@pytest.fixture(scope="module")
def plab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    from tests.conftest import require

    require(pooler.binary() is not None, "pgbouncer is not installed (make install installs it)")
    root = traversable_tmpdir("dbops-conn-")
    # Set-up time is this machine's (two cores shared with the other tests): the objective is not what these
    # tests judge; refusals, errors and pool use are.
    cli = Cli(write_config(root, "[envs.lab.policy]\nconnection_setup_p95_ms = 20000\n"), root / ".lab")
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


def test_a_thousand_clients_through_the_pooler_pass(plab: Cli) -> None:
    code, data = drill(plab, "--clients", "1000", "--via", "pooler", "--time", "5", "--rate", "2", "--query-ms", "20")
    checks = {c["id"]: c["status"] for c in data["checks"]}
    m = data["measurements"]
    assert code == 0, (checks, m)
    assert m["connected"] == 1000 and m["refused_connections"] == 0 and m["query_errors"] == 0
    assert m["pool_server_connections_max"] <= pooler.POOL_SIZE, "a thousand clients shared the pool's server connections"
    assert m["pool_utilization"] >= 0.8


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
