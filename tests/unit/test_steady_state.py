"""Steady state: a cluster left worse than it was found fails STEADY-STATE."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ops.drills.steady import Health, SteadyState, health_of, judge, worse
from ops.report import Journal
from ops.targets.base import ClusterState, MemberState


def state(*readers: tuple[str, str, float | None], status: str = "available", writer: str = "a") -> ClusterState:
    members = (MemberState(writer, "writer", "available"),) + tuple(MemberState(n, "reader", s, lag) for n, s, lag in readers)
    return ClusterState("lab-pg", status, writer, members)


def test_health_counts_healthy_members_and_their_lag() -> None:
    h = health_of(state(("b", "available", 0.2), ("c", "stopped", None)))
    assert h == Health("available", 1, ("b",), 0.2)
    assert health_of(state(("b", "available", None))).max_lag_s is None  # not measured, never 0


def test_a_lost_reader_a_degraded_cluster_or_a_lagging_reader_is_worse() -> None:
    before = health_of(state(("b", "available", 0.1)))
    assert worse(before, health_of(state(("b", "available", 0.5))), 5.0) == []  # a new writer with the same shape is not worse
    assert worse(before, health_of(state(("b", "not-replicating", None))), 5.0) == ["0 healthy reader(s), was 1 (b)"]
    assert "cluster degraded" in worse(before, health_of(state(("b", "available", 0.1), status="degraded")), 5.0)[0]
    assert worse(before, health_of(state(("b", "available", 9.0))), 5.0) == ["replica lag 9.000s, over 5s"]


def test_judge_fails_when_worse_errors_when_unread_and_is_unknown_when_lag_not_measured() -> None:
    before = health_of(state(("b", "available", 0.1)))
    assert judge(before, health_of(state(("b", "available", 0.1))), 5.0).status == "pass"
    assert judge(before, health_of(state(("b", "stopped", None))), 5.0).status == "fail"
    assert judge(before, None, 5.0, "ConnectionError: down").status == "error"
    assert judge(before, health_of(state(("b", "available", None))), 5.0).status == "unknown"


class Target:
    def __init__(self, *states: ClusterState) -> None:
        self.states = list(states)

    def describe(self, lag: bool = True) -> ClusterState:
        return self.states.pop(0)


def test_a_passing_drill_that_leaves_the_cluster_worse_fails() -> None:
    steady = SteadyState(Target(state(("b", "available", 0.1)), state(("b", "stopped", None))), 5.0)
    steady.record()
    j = Journal("connections", "localpg:lab-pg", "lab", echo=False)
    j.check("CONN-ERRORS", "pass", "no errors")
    report = steady.judge(j.finish(summary="PASS: fine"))
    assert report.status == "fail"
    assert report.summary.startswith("FAIL (STEADY-STATE): left worse than found: 0 healthy reader(s), was 1 (b)")
    assert report.details["steady_state"]["before"]["healthy_readers"] == ("b",)
    # The negative control: the same drill leaving the cluster as found passes.
    steady = SteadyState(Target(state(("b", "available", 0.1)), state(("b", "available", 0.2))), 5.0)
    steady.record()
    again = steady.judge(j.finish(summary="PASS: fine"))
    assert again.status == "pass" and again.checks[-1].status == "pass"


class Clock:
    """Time that moves only when the steady state sleeps: a settle of minutes judged in no time."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def settled(target: Target, clock: Clock, settle_s: float = 120.0, now: datetime | None = None) -> SteadyState:
    return SteadyState(target, 5.0, settle_s=settle_s, clock=clock, sleep=clock.sleep,
                       now=(lambda: now) if now is not None else (lambda: datetime.now(timezone.utc)))


def test_a_reader_still_rebooting_after_the_heal_is_waited_for_not_failed() -> None:
    clock = Clock()
    found = state(("b", "available", 0.1))
    rebooting = state(("b", "rebooting", None), status="modifying")
    steady = settled(Target(found, rebooting, rebooting, state(("b", "available", 0.1))), clock)
    steady.record()
    j = Journal("failover", "aurora:x", "lab", echo=False)
    j.check("FO-RTO", "pass", "ok")
    report = steady.judge(j.finish(summary="PASS: fine"))
    assert report.checks[-1].status == "pass" and report.status == "pass"
    assert len(clock.slept) == 2 and clock.t <= 120

    # Bounded: a reader that never comes back fails once the settle time is spent, saying it waited.
    clock = Clock()
    steady = settled(Target(found, *[rebooting] * 100), clock, settle_s=30)
    steady.record()
    check = steady.judge(Journal("failover", "aurora:x", "lab", echo=False).finish(summary="PASS: fine")).checks[-1]
    assert check.status == "fail" and "after waiting 30s" in check.detail and 30 <= clock.t <= 40


def test_a_member_down_for_good_fails_at_once_without_waiting() -> None:
    clock = Clock()
    steady = settled(Target(state(("b", "available", 0.1)), state(("b", "stopped", None))), clock)
    steady.record()
    check = steady.judge(Journal("failover", "aurora:x", "lab", echo=False).finish(summary="PASS: fine")).checks[-1]
    assert check.status == "fail" and clock.slept == []


def test_lag_is_judged_only_on_datapoints_after_the_drill() -> None:
    """AuroraReplicaLag's newest minute right after a heal is the failover's minute: not the cluster as left."""
    judged_at = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    old, fresh = judged_at - timedelta(seconds=90), judged_at + timedelta(seconds=60)

    def lagging(at: datetime) -> ClusterState:
        return ClusterState("c", "available", "a", (MemberState("a", "writer", "available"),
                                                     MemberState("b", "reader", "available", 9.0, lag_at=at)))

    for at, status in ((old, "unknown"), (fresh, "fail")):
        steady = settled(Target(state(("b", "available", 0.1)), lagging(at)), Clock(), now=judged_at)
        steady.record()
        check = steady.judge(Journal("failover", "aurora:x", "lab", echo=False).finish(summary="PASS: fine")).checks[-1]
        assert check.status == status, check
    assert "replica lag not measured after the drill" in check.detail or status == "fail"


def test_lag_unknown_before_and_after_is_not_claimed_as_found() -> None:
    steady = settled(Target(state(("b", "available", None)), state(("b", "available", None))), Clock())
    steady.record()
    check = steady.judge(Journal("failover", "aurora:x", "lab", echo=False).finish(summary="PASS: fine")).checks[-1]
    assert check.status == "pass" and "replica lag not measured before or after the drill: not compared" in check.detail


def test_a_steady_state_fail_on_an_aborted_run_is_in_its_summary() -> None:
    steady = settled(Target(state(("b", "available", 0.1)), state(("b", "stopped", None))), Clock())
    steady.record()
    report = steady.judge(Journal("failover", "aurora:x", "lab", echo=False).finish("aborted", "ABORTED: interrupted"))
    assert report.status == "aborted"
    assert report.summary == "ABORTED: interrupted; STEADY-STATE fail: left worse than found: 0 healthy reader(s), was 1 (b)"
