"""Stop conditions and steady state on real failover drills: lab-pg and CloudWatch alarms in the lab's emulator."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from ops.aws import Aws
from ops.drills.common import guarded, new_drill_id
from ops.drills.failover import FailoverOptions, run_failover
from ops.drills.steady import SteadyState
from ops.lab.pg import pgcluster
from ops.lab.pg.localpg import LocalPgTarget
from ops.report import Journal
from ops.targets import parse_target
from tests.conftest import Cli, traversable_tmpdir, write_config

TARGET = "localpg:lab-pg"


@pytest.fixture(scope="module")
def glab(lab: Cli) -> Iterator[Cli]:
    """The session's lab, under a config that reads the alarms every second (the least the policy allows) and
    writes reports of its own."""
    root = traversable_tmpdir("dbops-guard-")
    yield Cli(write_config(root, extra="\n[envs.lab.policy]\nstop_alarm_poll_s = 1\n"), lab.lab_dir)
    shutil.rmtree(root, ignore_errors=True)


def cloudwatch(cli: Cli) -> Any:
    cfg = cli.config
    return Aws.for_env(cfg, cfg.env("lab")).client("cloudwatch")


def new_alarm(cli: Cli, state: str = "OK") -> str:
    name = f"dbops-test-guard-{uuid.uuid4().hex[:8]}"
    cw = cloudwatch(cli)
    cw.put_metric_alarm(AlarmName=name, Namespace="dbops/test", MetricName="Errors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="set by the test")
    return name


def writer(cli: Cli) -> str:
    return pgcluster.get(cli.lab_dir).entry["writer"]  # type: ignore[union-attr,no-any-return]


def assert_whole(cli: Cli) -> None:
    status = pgcluster.status(cli.lab_dir)
    assert status["state"] == "running", status
    assert status["accepting_writes"] == [status["writer"]], status  # one writer, the one the lab names
    replicas = [m for m in status["members"] if m["role"] == "replica"]
    assert replicas and all(m["replication"] == "streaming" for m in replicas), status


def checks(data: dict) -> dict[str, dict]:
    return {c["id"]: c for c in data["checks"]}


def nothing_left(cli: Cli, drill_id: str) -> None:
    dry = cli("janitor", "--dry-run", "--json", "--drill", drill_id)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["leftovers"] == []


class AlarmAsTheFailoverStarts(LocalPgTarget):
    """The alarm goes off as the fault begins, and the fault lasts long enough for a 0.2 s poll to see it."""

    alarm = ""
    cloudwatch: Any = None

    def failover(self, to: str | None, timeout: float) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=self.alarm, StateValue="ALARM", StateReason="set mid-failover by the test")
        time.sleep(1.0)
        super().failover(to, timeout)


def test_alarm_going_off_mid_failover_stops_it_heals_the_cluster_and_leaves_nothing(glab: Cli) -> None:
    """Through the drill's own code path with a 0.2 s alarm poll (the policy allows 1 s at least: the fault here
    lasts about a second)."""
    from ops.drills.guard import Guard, StopConditions, read_alarm_states

    alarm = new_alarm(glab)
    cw = cloudwatch(glab)
    target = AlarmAsTheFailoverStarts(parse_target(TARGET), glab.lab_dir)
    target.alarm, target.cloudwatch = alarm, cw
    guard = Guard(StopConditions((alarm,), alarm_poll_s=0.2), lambda names: read_alarm_states(cw, names))
    journal = Journal("failover", TARGET, "lab", echo=False)
    steady = SteadyState(target, 5.0)
    steady.record()
    report = guarded(journal, lambda: run_failover(target, FailoverOptions(rto_s=30), journal, new_drill_id("failover"), guard=guard),
                     guard=guard, steady=steady)
    data = report.to_dict()
    assert data["status"] == "aborted"
    assert checks(data)["GUARD-STOP"]["status"] == "fail"
    assert f"alarm {alarm} is in ALARM" in checks(data)["GUARD-STOP"]["detail"]
    assert data["summary"].startswith(f"ABORTED (GUARD-STOP): alarm {alarm} is in ALARM")
    assert checks(data)["POST-HA"]["status"] == "pass", data["checks"]  # the rollback ran: the cluster was healed
    assert checks(data)["STEADY-STATE"]["status"] in ("pass", "unknown"), data["checks"]
    assert any(e["phase"] == "abort" and alarm in e["message"] for e in data["events"])
    assert_whole(glab)
    assert "rows_left" not in data["details"]  # the canary's rows were removed
    assert any(e["phase"] == "cleanup" and e["message"].startswith("removed ") for e in data["events"])


def test_failover_with_the_alarm_ok_and_a_generous_downtime_limit_passes(glab: Cli) -> None:
    """The negative control of both stop conditions: watched throughout, neither trips."""
    alarm = new_alarm(glab)
    result = glab("drill", "failover", TARGET, "--stop-on-alarm", alarm, "--abort-after-downtime", "30", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    guard = checks(data)["GUARD-STOP"]
    assert guard["status"] == "pass" and "none in ALARM" in guard["detail"] and "limit 30s" in guard["detail"]
    assert data["details"]["stop_conditions"]["alarm_reads"] >= 1
    assert checks(data)["STEADY-STATE"]["status"] == "pass", data["checks"]
    assert_whole(glab)


@pytest.mark.parametrize("limit, rto, fo_rto", [("0.001", "60", "unknown"), ("0.1", "0.1", "fail")])
def test_downtime_over_a_tiny_limit_stops_the_failover_and_heals(glab: Cli, limit: str, rto: str, fo_rto: str) -> None:
    """The trip proves writes were refused for at least the limit: a breach of the RTO when the limit is at least
    the RTO (kept as a lower bound, which the scorecard counts as a breach), else nothing about it. The lost writes
    are counted all the same: that is a read, after the heal."""
    result = glab("drill", "failover", TARGET, "--abort-after-downtime", limit, "--rto", rto, "--json")
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "aborted"
    assert f"is over the limit of {limit}s" in checks(data)["GUARD-STOP"]["detail"]
    assert "POST-HA" in checks(data) and checks(data)["POST-HA"]["status"] == "pass", data["checks"]
    assert data["measurements"]["client_write_downtime_s"] > float(limit)
    assert data["details"]["downtime_is_lower_bound"] is True
    assert checks(data)["FO-RTO"]["status"] == fo_rto, checks(data)["FO-RTO"]
    assert checks(data)["FO-LOST-WRITES"]["status"] == "pass" and data["measurements"]["lost_writes"] == 0
    assert_whole(glab)
    nothing_left(glab, data["details"]["drill_id"])


def reports(cli: Cli) -> list[Path]:
    return sorted((cli.config.report_dir / "failover").glob("*.json"))


def test_alarm_already_in_alarm_or_unknown_refuses_the_drill_and_touches_nothing(glab: Cli) -> None:
    firing = new_alarm(glab, "ALARM")
    ok = new_alarm(glab)
    before, written = writer(glab), reports(glab)
    for name, says in ((firing, f"alarm {firing} is in ALARM: the drill did not start"),
                       ("dbops-test-no-such-alarm", "stop condition alarm dbops-test-no-such-alarm not found in env lab (us-east-1) or not visible to this role")):
        result = glab("drill", "failover", TARGET, "--stop-on-alarm", ok, "--stop-on-alarm", name)
        assert result.exit_code == 2, result.output
        assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output
    assert writer(glab) == before and reports(glab) == written  # no failover, no report
    lease_records = list((glab.lab_dir / "leases" / "records").glob("*"))
    assert not [r for r in lease_records if "failover" in r.name and r.stat().st_mtime > time.time() - 60]


class LeavesAReplicaDown(LocalPgTarget):
    """A failover whose heal forgets a member: the drill's own checks cannot see it, the steady state does."""

    def after_failover(self, old_writer: str, timeout: float = 600.0) -> Any:
        heal = super().after_failover(old_writer, timeout)
        cluster = self._reload()
        cluster.stop_member(cluster.replicas()[0])
        return heal


def test_a_drill_that_leaves_the_cluster_worse_fails_steady_state(glab: Cli) -> None:
    target = LeavesAReplicaDown(parse_target(TARGET), glab.lab_dir)
    journal = Journal("failover", TARGET, "lab", echo=False)
    steady = SteadyState(target, 5.0)
    steady.record()
    try:
        report = guarded(journal, lambda: run_failover(target, FailoverOptions(rto_s=30), journal, new_drill_id("failover")),
                         steady=steady)
        assert report.status == "fail", report.checks
        check = {c.id: c for c in report.checks}["STEADY-STATE"]
        assert check.status == "fail" and "0 healthy reader(s), was 1" in check.detail
        assert report.summary.startswith("FAIL (STEADY-STATE): left worse than found")
    finally:
        cluster = pgcluster.get(glab.lab_dir)
        assert cluster is not None
        for member in cluster.replicas():
            cluster.start_member(member)
            cluster.wait_streaming(member, 30)
    assert_whole(glab)


def test_alarm_going_off_during_a_load_drill_stops_the_load(glab: Cli) -> None:
    """The connections drill's rollback is its load stopped: 20 s of load ends within seconds of the alarm."""
    alarm = new_alarm(glab)
    timer = threading.Timer(2.0, lambda: cloudwatch(glab).set_alarm_state(AlarmName=alarm, StateValue="ALARM",
                                                                          StateReason="set during the load by the test"))
    timer.start()
    started = time.monotonic()
    try:
        result = glab("drill", "connections", TARGET, "--clients", "2", "--time", "20", "--stop-on-alarm", alarm, "--json")
    finally:
        timer.cancel()
    took = time.monotonic() - started
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "aborted" and f"alarm {alarm} is in ALARM" in checks(data)["GUARD-STOP"]["detail"]
    assert took < 12, f"the load ran on for {took:.1f}s after the alarm"
    assert data["details"]["stop_conditions"]["stood_down_at_s"] is not None  # its load ended: the guard stood down
    assert checks(data)["STEADY-STATE"]["status"] == "pass", data["checks"]
    assert_whole(glab)


class SlowHealRaisesAnAlarm(LocalPgTarget):
    """A heal that takes a while (minutes on Aurora) and an alarm that goes off during it, as real alarms do a
    period or more after the fault."""

    alarm = ""
    cloudwatch: Any = None
    heal_s = 2.5

    def after_failover(self, old_writer: str, timeout: float = 600.0) -> Any:
        self.cloudwatch.set_alarm_state(AlarmName=self.alarm, StateValue="ALARM", StateReason="set during the heal by the test")
        time.sleep(self.heal_s)
        return super().after_failover(old_writer, timeout)


def test_a_long_heal_and_an_alarm_during_it_do_not_abort_a_finished_failover(glab: Cli) -> None:
    """Once the fault is over the canary's downtime no longer grows (the guard saw at most what clients saw, not the
    heal's seconds), and the alarm that goes off during the rollback is a warn, never a stop."""
    from ops.drills.guard import Guard, StopConditions, read_alarm_states

    alarm = new_alarm(glab)
    cw = cloudwatch(glab)
    target = SlowHealRaisesAnAlarm(parse_target(TARGET), glab.lab_dir)
    target.alarm, target.cloudwatch = alarm, cw
    limit = 30.0  # never reached: what the guard saw is compared with what clients saw
    guard = Guard(StopConditions((alarm,), max_downtime_s=limit, alarm_poll_s=0.2), lambda names: read_alarm_states(cw, names))
    journal = Journal("failover", TARGET, "lab", echo=False)
    report = guarded(journal, lambda: run_failover(target, FailoverOptions(rto_s=30), journal, new_drill_id("failover"), guard=guard),
                     guard=guard)
    by_id = {c.id: c for c in report.checks}
    assert report.status == "pass", (report.summary, report.checks)
    assert by_id["GUARD-STOP"].status == "pass" and f"(limit {limit:g}s)" in by_id["GUARD-STOP"].detail
    assert guard.worst_downtime_s is not None
    assert guard.worst_downtime_s <= report.measurements["client_write_downtime_s"] + 0.05, (guard.worst_downtime_s, report.measurements)
    assert by_id["GUARD-AFTER-FAULT"].status == "warn" and f"alarm {alarm} went to ALARM at +" in by_id["GUARD-AFTER-FAULT"].detail
    assert by_id["FO-LOST-WRITES"].status == "pass" and by_id["POST-HA"].status == "pass"
    assert_whole(glab)


@pytest.mark.parametrize("drill", [("failover",), ("connections", "--clients", "1", "--time", "1"),
                                   ("latency", "--time", "1"), ("restore", "--latest")])
def test_an_alarm_in_alarm_refuses_before_a_stopped_cluster_is_started(glab: Cli, monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path, drill: tuple[str, ...]) -> None:
    """--start-if-stopped starts a cluster (billed, and slow): a drill its alarms refuse must not start it first."""
    import ops.cli.drill as drill_cli

    if drill[0] == "latency":
        (tmp_path / "select.sql").write_text("SELECT 1;\n")
        drill = (*drill, "--workload", str(tmp_path / "select.sql"))

    started: list[object] = []
    monkeypatch.setattr(drill_cli, "ensure_running", lambda *args, **kw: started.append(args))
    firing = new_alarm(glab, "ALARM")
    result = glab("drill", drill[0], TARGET, *drill[1:], "--start-if-stopped", "--stop-on-alarm", firing)
    assert result.exit_code == 2, result.output
    assert f"alarm {firing} is in ALARM: the drill did not start" in result.stderr
    assert started == []


def test_the_policys_alarms_hold_for_backup_restores_but_not_for_the_bare_failover(glab: Cli, tmp_path: Path) -> None:
    firing = new_alarm(glab, "ALARM")
    cli = Cli(write_config(tmp_path, extra=f'\n[envs.lab.policy]\nstop_on_alarms = ["{firing}"]\n'), glab.lab_dir)
    before = writer(glab)
    result = cli("backup", "verify", TARGET, "--restore-latest")
    assert result.exit_code == 2, result.output
    assert f"alarm {firing} is in ALARM: the drill did not start" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert writer(glab) == before
    assert not list((tmp_path / "reports").rglob("*.json"))  # refused before anything ran: no report
    # The bare failover is the call for a writer that is down, when such alarms fire: they do not hold it back. A
    # member that does not exist stops it at its own check, which comes after where an alarm check would be.
    bare = cli("failover", TARGET, "--to", "no-such-member")
    assert bare.exit_code == 2 and "no-such-member" in bare.stderr and firing not in bare.stderr, bare.output
    assert writer(glab) == before
