"""Steady state: a cluster left worse than it was found fails STEADY-STATE."""

from __future__ import annotations

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
