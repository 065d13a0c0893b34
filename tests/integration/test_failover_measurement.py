"""The failover drill measures what clients see, not what the control plane says.

lab-pg is put behind an endpoint that follows the writer only D seconds after the failover
(as Aurora's cluster endpoint does), and the old writer turns read-only instead of stopping
(as Aurora's old writer comes back as a reader). The control plane reports the new writer
at once; clients keep reaching the old, read-only writer until the endpoint moves.
"""

from __future__ import annotations

import shutil
import time
from typing import Iterator

import pytest

from ops.drills.common import new_drill_id
from ops.drills.failover import FailoverOptions, run_failover
from ops.errors import EndpointUnreachable
from ops.lab import lab as lab_core
from ops.lab.aws.endpoint import Endpoint
from ops.lab.pg import pgcluster, pgservers
from ops.report import Journal
from ops.targets import parse_target
from ops.lab.pg.localpg import LocalPgTarget
from tests.conftest import Cli, traversable_tmpdir, write_config


@pytest.fixture(scope="module")
def mlab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-fm-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


class MovingEndpointTarget(LocalPgTarget):
    """lab-pg reached through an endpoint that moves to the new writer `delay_s` after a failover."""

    def __init__(self, cli: Cli, delay_s: float) -> None:
        super().__init__(parse_target("localpg:lab-pg"), cli.lab_dir)
        self.delay_s = delay_s
        self.endpoint = Endpoint((pgservers.HOST, self.cluster.writer().port)).start()

    def writer_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.endpoint.port} user={pgservers.USER} dbname={pgservers.DBNAME} connect_timeout=1"

    def failover(self, to: str | None, timeout: float) -> None:
        cluster = self._reload()
        old, new = cluster.writer(), cluster.replicas()[0]
        # The old writer stops taking writes at once and drops its client connections, as a demoted writer does.
        cluster.execute(old, "ALTER SYSTEM SET default_transaction_read_only = on")
        cluster.execute(old, "SELECT pg_reload_conf()")
        cluster.execute(old, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'dbops-canary'")
        cluster.promote(new, timeout=timeout)
        cluster.set_writer(new)
        self.endpoint.point_to((pgservers.HOST, new.port), after_s=self.delay_s)


def drill(target: MovingEndpointTarget, rto_s: float = 60.0):  # type: ignore[no-untyped-def]
    try:
        return run_failover(target, FailoverOptions(rto_s=rto_s), Journal("failover", "localpg:lab-pg", "lab", echo=None),
                            new_drill_id("failover"))
    finally:
        target.endpoint.stop()


def test_downtime_covers_the_endpoint_moving_after_the_control_plane_reported(mlab: Cli) -> None:
    delay = 3.0  # the control plane is polled about once a second
    report = drill(MovingEndpointTarget(mlab, delay))
    m = report.measurements
    checks = {c.id: c.status for c in report.checks}
    assert report.status == "pass", report.checks
    # The control plane knew the new writer long before clients could write to it ...
    assert m["api_failover_s"] < delay
    # ... and the downtime is what clients saw: at least the endpoint's delay.
    assert delay <= m["client_write_downtime_s"] < delay + 2.0, m
    assert m["writes_refused_read_only"] > 0, "attempts reached the old writer, now read-only"
    assert m["lost_writes"] == 0 and checks["FO-LOST-WRITES"] == checks["POST-HA"] == "pass"
    servers = [s.rsplit(" x", 1)[0] for s in report.details["servers"]]
    assert len(servers) == 2 and servers[0] != servers[1], "acks came from the old writer, then from the new one"


def test_writes_that_never_reach_a_new_writer_fail_the_rto(mlab: Cli) -> None:
    """Negative control: the control plane reports success, but the endpoint never moves."""
    report = drill(MovingEndpointTarget(mlab, delay_s=3600), rto_s=2.0)
    checks = {c.id: c for c in report.checks}
    assert checks["FO-COMPLETED"].status == "pass"
    assert checks["FO-RTO"].status == "fail" and "never became steady" in checks["FO-RTO"].detail
    assert report.measurements["client_write_downtime_s"] >= 2.0
    assert report.details["downtime_is_lower_bound"] is True
    assert report.measurements["writes_refused_read_only"] > 0
    assert report.status == "fail"


class DarkControlPlaneTarget(MovingEndpointTarget):
    """The control plane stops answering once the failover call has been made, as a dead endpoint does."""

    dark = False

    def describe(self, lag: bool = True):  # type: ignore[no-untyped-def]
        if self.dark:
            raise EndpointUnreachable("AWS endpoint http://127.0.0.1:1 does not answer (ReadTimeoutError)")
        return super().describe(lag=lag)

    def failover(self, to: str | None, timeout: float) -> None:
        self.dark = True
        super().failover(to, timeout)

    def after_failover(self, old_writer: str, timeout: float):  # type: ignore[no-untyped-def]
        self.dark = False  # it answers again for the heal: the lab stays whole for the next test
        return super().after_failover(old_writer, timeout)


def test_a_control_plane_that_stops_answering_is_an_error_at_once_not_a_failed_rto(mlab: Cli) -> None:
    """Without the control plane the drill cannot say the failover completed: error, and no 3x RTO wait."""
    t0 = time.monotonic()
    report = drill(DarkControlPlaneTarget(mlab, delay_s=3600), rto_s=20.0)
    checks = {c.id: c for c in report.checks}
    assert report.status == "error", report.checks
    assert checks["FO-COMPLETED"].status == "error" and "stopped answering" in checks["FO-COMPLETED"].detail
    assert checks["FO-RTO"].status == "error" and "client_write_downtime_s" in report.not_measured
    assert time.monotonic() - t0 < 30, "the watch ended when the endpoint was found dead, not after 3x RTO (60 s)"


class UnreachableControlPlaneTarget(MovingEndpointTarget):
    """The failover call never reaches the service: nothing fails over, and the cluster cannot be read after."""

    def failover(self, to: str | None, timeout: float) -> None:
        raise EndpointUnreachable("AWS endpoint http://127.0.0.1:1 does not answer (ConnectTimeoutError)")

    def after_failover(self, old_writer: str, timeout: float):  # type: ignore[no-untyped-def]
        raise EndpointUnreachable("AWS endpoint http://127.0.0.1:1 does not answer (ConnectTimeoutError)")


def test_a_failover_call_that_never_reached_the_service_is_an_error_not_a_failed_rto(mlab: Cli) -> None:
    """No failover happened: neither a missed RTO nor a concluded drill for the missed-drill alarm."""
    report = drill(UnreachableControlPlaneTarget(mlab, delay_s=0))
    checks = {c.id: c for c in report.checks}
    assert report.status == "error", report.checks
    assert checks["FO-COMPLETED"].status == checks["FO-RTO"].status == "error", report.checks
    assert checks["POST-HA"].status == "unknown" and "nothing to heal" in checks["POST-HA"].detail, "the writer never changed"
    assert "client_write_downtime_s" in report.not_measured


def test_a_replica_that_stopped_replaying_fails_the_lag_precheck(mlab: Cli) -> None:
    """Negative control of PRE-LAG: replay paused on the only reader, its measured lag grows past the objective."""
    import time

    cluster = pgcluster.get(mlab.lab_dir)
    assert cluster is not None
    replica = cluster.replicas()[0]
    cluster.execute(replica, "SELECT pg_wal_replay_pause()")
    try:
        time.sleep(2.5)
        report = run_failover(LocalPgTarget(parse_target("localpg:lab-pg"), mlab.lab_dir), FailoverOptions(max_lag_s=1.0),
                              Journal("failover", "localpg:lab-pg", "lab", echo=None), new_drill_id("failover"))
    finally:
        cluster.execute(replica, "SELECT pg_wal_replay_resume()")
    assert {c.id: c.status for c in report.checks}["PRE-LAG"] == "fail"
    assert report.measurements["replica_lag_before_s"] > 1.0
    assert report.status == "error" and pgcluster.get(mlab.lab_dir).entry["writer"] == cluster.entry["writer"]  # type: ignore[union-attr]
