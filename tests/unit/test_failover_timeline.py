"""The failover report's timeline (what its HTML page plots): a moment that happened is kept whatever the verdict."""

from __future__ import annotations

from ops.data.canary import Ack, CanaryLog, Failure
from ops.drills.failover import DrillContext, FailoverOptions, _judge_downtime
from ops.report import Journal

TRIGGER = 100.0


def judged(api_at: float | None) -> Journal:
    """A drill whose failover call errored after the control plane had already reported the new writer."""
    journal = Journal("failover", "aurora:orders", "lab", echo=None)
    log = CanaryLog(acks=[Ack(i, TRIGGER - 1 + i * 0.1, 0, "127.0.0.1:5433") for i in range(10)]
                    + [Ack(i, TRIGGER + 1 + i * 0.1, 0, "127.0.0.1:5434") for i in range(10, 13)],
                    failures=[Failure(i, TRIGGER + 0.5 + i * 0.01, "connection refused") for i in range(100, 110)])
    ctx = DrillContext(target=None, journal=journal, drill_id="d-1", old_server="127.0.0.1:5433")  # type: ignore[arg-type]
    _judge_downtime(ctx, log, TRIGGER, None, FailoverOptions(rto_s=10), journal,
                    cut_short="the failover call failed: ClientError: throttled", api_at=api_at)
    return journal


def test_a_new_writer_seen_before_the_call_failed_stays_on_the_timeline() -> None:
    marks = judged(api_at=TRIGGER + 1.75).details["timeline_s"]
    assert marks["new writer reported"] == 1.75
    assert marks["failover triggered"] == 0.0 and marks["endpoint moved"] == 2.0
    assert "new writer reported" not in judged(api_at=None).details["timeline_s"]  # not seen: absent, never zero
