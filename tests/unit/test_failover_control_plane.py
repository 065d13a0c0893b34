"""The failover drill's dealings with the control plane, against a cluster whose control plane answers
as RDS documents it (refusals as botocore ClientErrors with RDS's error codes), without a data plane."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from ops.drills.failover import FailoverOptions, run_failover
from ops.report import Journal
from ops.targets import parse_target
from ops.targets.base import ClusterState, Heal, MemberState


class ControlPlaneOnly:
    """A two-member cluster: the failover is refused with `refusal`, fails with `broken`, or swaps the
    writer `takes_s` after the call."""

    has_data_plane = False

    def __init__(self, refusal: str | None = None, broken: Exception | None = None, takes_s: float = 0.0) -> None:
        self.ref = parse_target("aurora:orders")
        self.refusal, self.broken, self.takes_s = refusal, broken, takes_s
        self.writer, self.called_at = "orders-1", None
        self.reads = 0
        self.heals = 0

    def describe(self, lag: bool = True) -> ClusterState:
        reader = "orders-2" if self.writer == "orders-1" else "orders-1"
        return ClusterState("orders", "available", self.writer, (
            MemberState(self.writer, "writer", "available"), MemberState(reader, "reader", "available", lag_s=0.0)))

    def current_writer(self) -> str | None:
        self.reads += 1
        if self.called_at is not None and time.monotonic() - self.called_at >= self.takes_s:
            self.writer = "orders-2"
        return self.writer

    def failover(self, to: str | None, timeout: float) -> None:
        if self.refusal:
            raise ClientError({"Error": {"Code": self.refusal, "Message": f"{self.refusal} for orders"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "FailoverDBCluster")
        if self.broken:
            raise self.broken
        self.called_at = time.monotonic()

    def after_failover(self, old_writer: str, timeout: float) -> Heal:
        self.heals += 1
        return Heal(True, f"{old_writer} is back as a reader")

    def writer_dsn(self) -> str | None:
        return None


def drill(target: ControlPlaneOnly) -> tuple[object, dict[str, str], float]:
    started = time.monotonic()
    report = run_failover(target, FailoverOptions(rto_s=10), Journal("failover", "aurora:orders", "prod", echo=None), "d-1")  # type: ignore[arg-type]
    return report, {c.id: c.status for c in report.checks}, time.monotonic() - started


@pytest.mark.parametrize("refusal", ["AccessDenied", "InvalidDBClusterStateFault", "Throttling"])
def test_a_refused_failover_call_is_an_error_and_nothing_is_healed(refusal: str) -> None:
    target = ControlPlaneOnly(refusal=refusal)
    report, checks, took = drill(target)
    assert checks["FO-COMPLETED"] == "error" and report.status == "error"  # type: ignore[attr-defined]
    detail = next(c.detail for c in report.checks if c.id == "FO-COMPLETED")  # type: ignore[attr-defined]
    assert "refused, nothing was failed over" in detail and refusal in detail
    assert checks["POST-HA"] == "unknown" and target.heals == 0, "the writer never changed: no heal to wait out"
    assert took < 5


def test_a_failover_that_started_and_broke_is_a_failure_and_is_healed() -> None:
    target = ControlPlaneOnly(broken=RuntimeError("promotion failed"))
    report, checks, _ = drill(target)
    assert checks["FO-COMPLETED"] == "fail" and report.status == "fail"  # type: ignore[attr-defined]
    assert checks["POST-HA"] == "pass" and target.heals == 1, "a promotion that broke half-way may have left a member to mend"


def test_the_control_plane_is_polled_about_once_a_second_with_one_read_each_time() -> None:
    target = ControlPlaneOnly(takes_s=3.0)
    report, checks, took = drill(target)
    assert checks["FO-COMPLETED"] == "pass" and checks["FO-WRITER"] == "pass", report
    # Pre-checks read the cluster with describe(); the watch polls current_writer: 3 s at about 1 Hz.
    assert 3 <= target.reads <= 6, target.reads
    assert target.heals == 1


def call(target: ControlPlaneOnly, to: str | None = None, timeout_s: float = 10.0):  # type: ignore[no-untyped-def]
    from ops.drills.failover_call import run_failover_call

    report = run_failover_call(target, to, timeout_s, Journal("failover-call", "aurora:orders", "prod", echo=None))  # type: ignore[arg-type]
    return report, {c.id: c.status for c in report.checks}


def test_failover_now_times_the_control_plane_and_touches_nothing_else() -> None:
    target = ControlPlaneOnly(takes_s=2.0)
    report, checks = call(target)
    assert report.status == "pass" and checks == {"FO-COMPLETED": "pass", "FO-WRITER": "pass"}, report.checks
    assert 2.0 <= report.measurements["api_failover_s"] < 5.0
    assert target.heals == 0 and target.reads <= 4
    assert report.summary.startswith("PASS: aurora:orders failed over to orders-2 in ")


def test_failover_now_refused_is_an_error_and_a_writer_that_never_changes_fails() -> None:
    refused, checks = call(ControlPlaneOnly(refusal="InvalidDBClusterStateFault"))
    assert refused.status == "error" and checks["FO-COMPLETED"] == "error"
    assert "InvalidDBClusterStateFault" in refused.summary
    stuck, checks = call(ControlPlaneOnly(takes_s=60.0), timeout_s=2.5)
    assert stuck.status == "fail" and checks["FO-COMPLETED"] == "fail" and "no new writer within 2s" in stuck.summary


def test_failover_now_on_a_protected_env_needs_the_env_and_target_named(cli_at) -> None:  # type: ignore[no-untyped-def]
    result = cli_at("failover", "aurora:prod-aurora", "--env", "prod")
    assert result.exit_code == 2 and "add --confirm prod:aurora:prod-aurora" in result.output


def test_a_failover_call_that_timed_out_is_not_known_to_be_refused_and_the_cluster_is_healed() -> None:
    from botocore.exceptions import ReadTimeoutError

    target = ControlPlaneOnly(broken=ReadTimeoutError(endpoint_url="https://rds.us-east-1.amazonaws.com"))
    report, checks, _ = drill(target)
    detail = next(c.detail for c in report.checks if c.id == "FO-COMPLETED")  # type: ignore[attr-defined]
    assert checks["FO-COMPLETED"] == "error" and "outcome is not known" in detail
    assert target.heals == 1, "the service may have started it: heal as after any failover"


class SlowFailover(ControlPlaneOnly):
    """A failover call that takes a second, recording when it returned and when the heal began."""

    def __init__(self) -> None:
        super().__init__()
        self.returned_at: float | None = None
        self.healed_at: float | None = None

    def failover(self, to: str | None, timeout: float) -> None:
        time.sleep(1.0)
        self.writer, self.returned_at = "orders-2", time.monotonic()

    def after_failover(self, old_writer: str, timeout: float) -> Heal:
        self.healed_at = time.monotonic()
        return super().after_failover(old_writer, timeout)


def test_an_interrupt_while_the_failover_call_starts_waits_for_the_call_before_healing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import threading

    from ops.proc import interruptible

    start = threading.Thread.start

    def start_under_a_signal(thread: threading.Thread) -> None:
        if thread.name == "dbops-failover":
            os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode: inside start(), as a Ctrl-C can be
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_under_a_signal)
    target = SlowFailover()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with interruptible(lambda _: None):
            report, checks, _ = drill(target)
    finally:  # an interrupted block keeps its handler, as a stopping dbops does: not this test process
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert report.status == "aborted"  # type: ignore[attr-defined]
    assert target.returned_at is not None, "the interrupt was held until the call had started, so it ran"
    assert target.healed_at is not None and target.healed_at >= target.returned_at, "healed only once the call returned"
    assert checks["POST-HA"] == "pass"
