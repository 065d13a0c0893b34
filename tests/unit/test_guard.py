"""Stop conditions: the judgement of alarm states and downtime, the watcher thread, the policy and flags."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from ops import config
from ops.drills.guard import Guard, StopConditions, refusal, stop_conditions, trip_reason
from ops.errors import CannotRun, ConfigError, UsageError
from ops.report import Journal

WAIT_S = 5.0  # the longest a test waits for the watcher; a pass takes a few polls


def journal() -> Journal:
    return Journal("failover", "localpg:lab-pg", "lab", echo=False)


def test_only_alarm_state_or_downtime_over_the_limit_trips() -> None:
    names = ("db-errors", "db-latency")
    assert trip_reason(names, {"db-errors": "OK", "db-latency": "INSUFFICIENT_DATA"}, 0.4, 0.5) is None
    assert trip_reason(names, {"db-errors": "OK", "db-latency": "ALARM"}, None, None) == "alarm db-latency is in ALARM"
    assert "no longer found or not visible to this role" in (trip_reason(names, {"db-errors": "OK"}, None, None) or "")
    assert "0.600s so far is over the limit of 0.5s" in (trip_reason(names, None, 0.6, 0.5) or "")
    assert trip_reason(names, None, 0.6, None) is None  # no limit: downtime alone never trips


def test_refusal_names_a_missing_or_firing_alarm() -> None:
    where = "env lab (us-east-1)"
    assert refusal(("a", "b"), {"a": "OK", "b": "INSUFFICIENT_DATA"}, where) is None
    assert refusal(("a", "b"), {"a": "OK"}, where) == ("stop condition alarm b not found in env lab (us-east-1) or not visible "
                                                       "to this role: the drill did not start")
    assert refusal(("a",), {"a": "ALARM"}, where) == "alarm a is in ALARM: the drill did not start"


def test_check_before_refuses_in_one_line_and_reads_once() -> None:
    reads: list[tuple[str, ...]] = []

    def read(names: tuple[str, ...]) -> dict[str, str]:
        reads.append(names)
        return {"a": "ALARM"}

    with pytest.raises(CannotRun, match="alarm a is in ALARM") as err:
        Guard(StopConditions(("a",)), read).check_before()
    assert err.value.exit_code == 2 and reads == [("a",)]

    def broken(names: tuple[str, ...]) -> dict[str, str]:
        raise TimeoutError("read timed out")

    with pytest.raises(CannotRun, match="could not be read .*read timed out"):
        Guard(StopConditions(("a",)), broken).check_before()
    Guard(StopConditions(("a",)), lambda names: {"a": "OK"}).check_before()  # the negative control: no refusal


def watched(guard: Guard, j: Journal, until: threading.Event) -> None:
    with guard.watching(j):
        assert until.wait(WAIT_S), "the watcher did not get there in time"


def test_alarm_going_off_mid_drill_interrupts_once_and_the_report_names_it() -> None:
    states = iter(["OK", "OK", "ALARM"])
    interrupts: list[float] = []
    sent = threading.Event()

    def interrupt() -> None:
        interrupts.append(time.monotonic())
        sent.set()

    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), lambda names: {"db-errors": next(states, "ALARM")},
                  interrupt=interrupt)
    j = journal()
    watched(guard, j, sent)
    assert len(interrupts) == 1 and guard.reads == 3
    assert guard.tripped == "alarm db-errors is in ALARM" and not guard.tripped_by_downtime
    assert any(e.phase == "abort" and "db-errors" in e.message for e in j.events)
    report = guard.judge(j.finish("aborted", "ABORTED: interrupted; canary stopped, healed"))
    assert report.status == "aborted"
    assert report.summary == "ABORTED (GUARD-STOP): alarm db-errors is in ALARM; interrupted; canary stopped, healed"
    assert [(c.id, c.status) for c in report.checks] == [("GUARD-STOP", "fail")]


def test_alarm_staying_ok_never_interrupts_and_says_what_was_watched() -> None:
    reads = threading.Event()
    count = [0]

    def read(names: tuple[str, ...]) -> dict[str, str]:
        count[0] += 1
        if count[0] >= 3:
            reads.set()
        return {"db-errors": "OK"}

    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), read, interrupt=lambda: pytest.fail("interrupted"))
    j = journal()
    j.check("FO-RTO", "pass", "ok")
    watched(guard, j, reads)
    report = guard.judge(j.finish())
    assert report.status == "pass" and guard.tripped is None
    check = report.checks[-1]
    assert check.id == "GUARD-STOP" and check.status == "pass" and "none in ALARM" in check.detail
    assert report.details["stop_conditions"]["alarm_reads"] >= 3


def test_downtime_over_the_limit_trips_and_under_it_does_not() -> None:
    for downtime, trips in ((0.7, True), (0.3, False)):
        sent = threading.Event()
        guard = Guard(StopConditions(max_downtime_s=0.5), interrupt=sent.set)
        guard.watch_downtime(lambda d=downtime: d)
        with guard.watching(journal()):
            assert sent.wait(0.5) is trips
        assert (guard.tripped is not None) is trips and guard.tripped_by_downtime is trips
        assert guard.worst_downtime_s == downtime


def test_alarms_unread_for_too_long_stop_the_drill() -> None:
    sent = threading.Event()

    def read(names: tuple[str, ...]) -> dict[str, str]:
        raise ConnectionError("endpoint down")

    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), read, interrupt=sent.set, blind_limit_s=0.1)
    watched(guard, journal(), sent)
    assert guard.tripped is not None and "could not be read for 0.1s" in guard.tripped and "endpoint down" in guard.tripped


def test_no_interrupt_is_sent_once_the_drill_has_ended() -> None:
    """A read still under way when the drill ends, answering ALARM, must not interrupt what runs next."""
    started = threading.Event()

    def slow_read(names: tuple[str, ...]) -> dict[str, str]:
        started.set()
        time.sleep(0.3)
        return {"db-errors": "ALARM"}

    guard = Guard(StopConditions(("db-errors",)), slow_read, interrupt=lambda: pytest.fail("interrupted after the end"))
    with guard.watching(journal()):
        assert started.wait(WAIT_S)
    assert guard.tripped is None


def test_flags_add_alarms_to_the_policy_and_replace_its_downtime_limit() -> None:
    policy = config.Policy(stop_on_alarms=("policy-alarm",), abort_after_downtime_s=30.0, stop_alarm_poll_s=1.0)
    c = stop_conditions(policy, ("flag-alarm", "policy-alarm"), 2.0, measures_downtime=True, drill="failover")
    assert c == StopConditions(("policy-alarm", "flag-alarm"), 2.0, 1.0)
    assert stop_conditions(policy, (), None, True, "failover").max_downtime_s == 30.0
    # A drill without a canary: the policy's limit does not apply, the flag is refused.
    assert stop_conditions(policy, (), None, False, "restore").max_downtime_s is None
    with pytest.raises(UsageError, match="--abort-after-downtime needs a canary: the restore drill"):
        stop_conditions(policy, (), 5.0, False, "restore")


def load_text(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "dbops.toml"
    path.write_text(text)
    return config.load(path, environ={})


def test_policy_and_env_stop_conditions_are_read_and_validated(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, '[policy]\nstop_on_alarms = ["a", "b"]\nabort_after_downtime_s = 20\n'
                              '[envs.lab]\nendpoint = "embedded"\n[envs.lab.policy]\nstop_on_alarms = ["c"]\n')
    assert cfg.policy.stop_on_alarms == ("a", "b") and cfg.policy.abort_after_downtime_s == 20.0
    assert cfg.for_env("lab").policy.stop_on_alarms == ("c",)
    assert cfg.policy.stop_alarm_poll_s == 10.0  # the account's CloudWatch API rate is shared: a read every 10 s by default
    assert load_text(tmp_path, "[policy]\nstop_alarm_poll_s = 1\n").policy.stop_alarm_poll_s == 1.0  # the least allowed
    for bad, key in (('stop_on_alarms = "a"', "policy.stop_on_alarms"), ('stop_on_alarms = ["a", "a"]', "policy.stop_on_alarms"),
                     ('stop_on_alarms = [""]', "policy.stop_on_alarms"), ("abort_after_downtime_s = 0", "policy.abort_after_downtime_s"),
                     ("stop_alarm_poll_s = 0.5", "policy.stop_alarm_poll_s")):
        with pytest.raises(ConfigError, match=f"'{key}' must be"):
            load_text(tmp_path, f"[policy]\n{bad}\n")


def test_composite_alarms_are_asked_for_and_read() -> None:
    """DescribeAlarms answers metric alarms only unless AlarmTypes names composites too (the lab's emulator has
    no composite alarms: the answer is shaped as the API reference documents it)."""
    import boto3
    from botocore.stub import Stubber

    from ops.drills.guard import read_alarm_states

    cw = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(cw) as stub:
        stub.add_response("describe_alarms", {
            "MetricAlarms": [{"AlarmName": "db-errors", "StateValue": "OK"}],
            "CompositeAlarms": [{"AlarmName": "db-health", "StateValue": "ALARM"}]},
            {"AlarmNames": ["db-errors", "db-health", "gone"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 100})
        states = read_alarm_states(cw, ("db-errors", "db-health", "gone"))
        stub.assert_no_pending_responses()
    assert states == {"db-errors": "OK", "db-health": "ALARM"}
    assert trip_reason(("db-errors", "db-health"), states, None, None) == "alarm db-health is in ALARM"


def test_a_drill_off_the_main_thread_is_not_run_blind() -> None:
    """A SIGINT would stop the main thread's work (a server), not the drill: watching from another thread refuses."""
    errors: list[BaseException] = []

    def drill() -> None:
        try:
            with Guard(StopConditions(("a",)), lambda names: {"a": "OK"}).watching(journal()):
                pass
        except CannotRun as exc:
            errors.append(exc)

    t = threading.Thread(target=drill)
    t.start()
    t.join(WAIT_S)
    assert len(errors) == 1 and "main thread" in str(errors[0])


def test_after_stand_down_an_alarm_is_an_observation_never_an_interrupt() -> None:
    """Alarms go off minutes after the fault, during the rollback: that is noted as a warn, the drill is not stopped."""
    state = {"db-errors": "OK"}
    seen_alarm = threading.Event()

    def read(names: tuple[str, ...]) -> dict[str, str]:
        if state["db-errors"] == "ALARM":
            seen_alarm.set()
        return dict(state)

    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), read, interrupt=lambda: pytest.fail("interrupted"))
    j = journal()
    j.check("FO-RTO", "pass", "ok")
    with guard.watching(j):
        deadline = time.monotonic() + WAIT_S
        while not guard.reads and time.monotonic() < deadline:  # guarded: read OK once before the fault ends
            time.sleep(0.01)
        guard.stand_down()
        state["db-errors"] = "ALARM"
        assert seen_alarm.wait(WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while not guard.after_fault and time.monotonic() < deadline:  # the read that saw it is judged at the next tick
            time.sleep(0.01)
    report = guard.judge(j.finish())
    assert report.status == "pass" and guard.tripped is None
    by_id = {c.id: c for c in report.checks}
    assert by_id["GUARD-STOP"].status == "pass"
    assert by_id["GUARD-AFTER-FAULT"].status == "warn"
    assert "db-errors went to ALARM at +" in by_id["GUARD-AFTER-FAULT"].detail
    assert "after the fault" in by_id["GUARD-AFTER-FAULT"].detail


def test_downtime_is_not_watched_after_stand_down() -> None:
    """The canary is stopped for the rollback: whatever its downtime reads then is not a trip."""
    downtime = [0.1]
    guard = Guard(StopConditions(max_downtime_s=0.5), interrupt=lambda: pytest.fail("interrupted"))
    guard.watch_downtime(lambda: downtime[0])
    with guard.watching(journal()):
        time.sleep(0.1)
        guard.stand_down()
        downtime[0] = 100.0
        time.sleep(0.2)
    assert guard.tripped is None and guard.worst_downtime_s == 0.1


def test_a_watcher_that_fails_outside_its_read_trips_and_never_passes() -> None:
    """Fail closed: an error in the watcher itself stops the drill rather than leaving it unguarded."""
    sent = threading.Event()

    def broken_downtime() -> float:
        raise RuntimeError("canary log corrupted")

    guard = Guard(StopConditions(max_downtime_s=5.0), interrupt=sent.set)
    guard.watch_downtime(broken_downtime)
    j = journal()
    with guard.watching(j):
        assert sent.wait(WAIT_S)
    assert guard.tripped is not None and "canary log corrupted" in guard.tripped
    report = guard.judge(j.finish("aborted", "ABORTED: interrupted"))
    assert {c.id: c.status for c in report.checks}["GUARD-STOP"] == "fail"


def test_a_hung_alarm_read_does_not_stall_the_downtime_check_and_counts_as_blind() -> None:
    release = threading.Event()
    calls = [0]

    def read(names: tuple[str, ...]) -> dict[str, str]:
        calls[0] += 1
        if calls[0] > 1:
            release.wait(WAIT_S)  # hangs: the network stopped answering
        return {"db-errors": "OK"}

    try:
        # The downtime goes over its limit while the second read hangs: the trip must not wait for the read.
        sent = threading.Event()
        downtime = [0.0]
        guard = Guard(StopConditions(("db-errors",), max_downtime_s=0.5, alarm_poll_s=0.01), read, interrupt=sent.set,
                      blind_limit_s=60)
        guard.watch_downtime(lambda: downtime[0])
        with guard.watching(journal()):
            time.sleep(0.1)
            downtime[0] = 1.0
            assert sent.wait(1.0), "a hung read stalled the downtime check"
        assert guard.tripped is not None and "over the limit" in guard.tripped

        # A read that hangs is blindness, measured from the last good read.
        calls[0] = 0
        sent = threading.Event()
        guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), read, interrupt=sent.set, blind_limit_s=0.3)
        with guard.watching(journal()):
            assert sent.wait(2.0), "a hung read left the drill unguarded"
        assert guard.tripped is not None and "could not be read for 0.3s" in guard.tripped
    finally:
        release.set()


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the watcher did not get there in time"
        time.sleep(0.01)


def test_guard_stop_is_unknown_when_the_alarms_were_not_seen() -> None:
    """Never read, unread since the last good read, or never OK (INSUFFICIENT_DATA): not a pass."""
    def never(names: tuple[str, ...]) -> dict[str, str]:
        raise ConnectionError("endpoint down")

    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), never, interrupt=lambda: None)
    j = journal()
    j.check("FO-RTO", "pass", "ok")
    with guard.watching(j):
        time.sleep(0.05)
    check = guard.judge(j.finish()).checks[-1]
    assert check.id == "GUARD-STOP" and check.status == "unknown" and "not read" in check.detail

    answers = iter([{"db-errors": "OK"}])

    def then_fails(names: tuple[str, ...]) -> dict[str, str]:
        try:
            return next(answers)
        except StopIteration:
            raise ConnectionError("endpoint down") from None

    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), then_fails, interrupt=lambda: None)
    j = journal()
    with guard.watching(j):
        until(lambda: bool(guard.read_failures))
    check = guard.judge(j.finish()).checks[-1]
    assert guard.reads == 1 and check.status == "unknown" and "endpoint down" in check.detail

    guard = Guard(StopConditions(("db-errors", "db-latency"), alarm_poll_s=0.01),
                  lambda names: {"db-errors": "OK", "db-latency": "INSUFFICIENT_DATA"}, interrupt=lambda: None)
    j = journal()
    with guard.watching(j):
        until(lambda: guard.reads >= 1)
    check = guard.judge(j.finish()).checks[-1]
    assert check.status == "unknown" and "not guarded by db-latency: INSUFFICIENT_DATA" in check.detail

    # The negative control: read, all OK, the last read good.
    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), lambda names: {"db-errors": "OK"}, interrupt=lambda: None)
    j = journal()
    with guard.watching(j):
        until(lambda: guard.reads >= 1)
    assert guard.judge(j.finish()).checks[-1].status == "pass"


def test_a_watcher_thread_that_died_is_not_a_pass() -> None:
    broken = threading.Event()

    def clock() -> float:
        if broken.is_set():
            raise RuntimeError("clock broke")
        return time.monotonic()

    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=0.01), lambda names: {"db-errors": "OK"},
                  interrupt=lambda: None, clock=clock)
    j = journal()
    with guard.watching(j):
        time.sleep(0.05)
        guard.stand_down()  # no trip can be sent any more: a failure now can only be reported
        broken.set()
        until(lambda: guard.watcher_failed is not None)
    check = guard.judge(j.finish()).checks[-1]
    assert guard.tripped is None and check.status == "unknown" and "watcher" in check.detail and "clock broke" in check.detail


def test_the_guards_alarm_read_is_granted_on_star_so_composite_alarms_are_answered() -> None:
    """DescribeAlarms answers composite alarms only to a permission scoped to "*" (its API reference): granted on
    the alarm ARNs, a composite stop condition would read as missing."""
    from ops.drills import guard as guard_mod
    from ops.permissions import policy

    doc = policy(guard_mod.CALLS.needs, "us-east-1", "123456789012", "leases")
    grants = [s for s in doc["Statement"] if "cloudwatch:DescribeAlarms" in s["Action"]]
    assert [g["Resource"] for g in grants] == ["*"]


def test_a_drill_shorter_than_one_read_still_counts_the_read_it_started() -> None:
    def slow_ok(names: tuple[str, ...]) -> dict[str, str]:
        time.sleep(0.2)
        return {"db-errors": "OK"}

    guard = Guard(StopConditions(("db-errors",), alarm_poll_s=1), slow_ok, interrupt=lambda: pytest.fail("interrupted"))
    j = journal()
    with guard.watching(j):
        time.sleep(0.06)  # the read has started, not answered
    assert guard.reads == 1
    assert guard.judge(j.finish()).checks[-1].status == "pass"
