"""The weekly window: where a moment falls, the hours it runs, its config, and what `schedule apply` decides."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ops import config as config_mod
from ops.errors import ConfigError
from ops.scheduling import decide, where
from ops.window import Window, from_setting, parse, stopped_label

SUN_1_TO_5 = parse(["SUN"], "01:00", 4)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_inside_and_outside_the_window() -> None:
    # 2026-12-06 is a Sunday.
    assert SUN_1_TO_5.current(utc(2026, 12, 6, 1, 0)) == (utc(2026, 12, 6, 1), utc(2026, 12, 6, 5))
    assert SUN_1_TO_5.current(utc(2026, 12, 6, 4, 59)) is not None
    assert SUN_1_TO_5.current(utc(2026, 12, 6, 5, 0)) is None  # closed at its end
    assert SUN_1_TO_5.current(utc(2026, 12, 6, 0, 59)) is None
    assert SUN_1_TO_5.current(utc(2026, 12, 13, 0, 45), timedelta(minutes=20)) is not None  # 15 min before it opens
    assert SUN_1_TO_5.current(utc(2026, 12, 13, 0, 35), timedelta(minutes=20)) is None  # 25 min before
    assert SUN_1_TO_5.next_opening(utc(2026, 12, 6, 22)) == utc(2026, 12, 13, 1)


def test_a_window_across_midnight_belongs_to_its_start_day() -> None:
    sat_late = parse(["SAT"], "22:00", 4)
    assert sat_late.current(utc(2026, 12, 6, 1, 30)) == (utc(2026, 12, 5, 22), utc(2026, 12, 6, 2))
    assert sat_late.current(utc(2026, 12, 6, 2, 0)) is None


def test_hours_a_month_and_over_a_span() -> None:
    assert SUN_1_TO_5.hours_per_month() == pytest.approx(4 * 52 / 12)
    assert parse(["SAT", "SUN"], "01:00", 3).hours_per_month() == pytest.approx(2 * 3 * 52 / 12)
    # December 2026 has four Sundays; a span cuts the opening it starts inside.
    assert SUN_1_TO_5.hours_between(utc(2026, 12, 1), utc(2027, 1, 1)) == 16
    assert SUN_1_TO_5.hours_between(utc(2026, 12, 6, 3), utc(2026, 12, 7)) == 2


def test_the_lab_setting_round_trips() -> None:
    w = parse(["WED", "SUN"], "02:30", 6)
    assert w.days == ("WED", "SUN") and w.setting() == "WED,SUN 02:30 6"
    assert from_setting(w.setting()) == w
    assert from_setting("") is None


def test_a_stopped_cluster_is_stopped_by_schedule_only_outside_its_window_and_with_the_schedules_tag() -> None:
    outside, inside = utc(2026, 12, 6, 22), utc(2026, 12, 6, 2)
    tagged = {"dbops:stopped-by": "schedule", "dbops:stopped-at": "2026-12-06T05:00:00Z"}
    assert stopped_label("stopped", SUN_1_TO_5, outside, tagged) == "stopped-by-schedule"
    # Negative controls: stopped by hand (no tag, or another's), outside the window, is a finding, not the schedule's.
    assert stopped_label("stopped", SUN_1_TO_5, outside, {}) == "stopped (not by the schedule)"
    assert stopped_label("stopped", SUN_1_TO_5, outside, {"dbops:stopped-by": "alice"}) == "stopped (not by the schedule)"
    assert stopped_label("stopped", SUN_1_TO_5, inside, tagged) == "stopped"  # a finding: it should run now
    assert stopped_label("stopped", None, outside, tagged) == "stopped"  # no schedule: nothing stopped it on purpose
    assert stopped_label("available", SUN_1_TO_5, outside, tagged) == "available"


def test_schedule_apply_decides_by_state_and_window() -> None:
    assert decide("stopped", True).call == "start"
    assert decide("available", False).call == "stop"
    for status, inside in (("available", True), ("starting", True), ("stopped", False), ("stopping", False)):
        d = decide(status, inside)
        assert d.call is None and d.status == "pass", (status, inside)
    for status, inside in (("stopping", True), ("starting", False), ("failing-over", True), ("modifying", False)):
        d = decide(status, inside)
        assert d.call is None and d.status == "warn", (status, inside)
    assert where(SUN_1_TO_5, utc(2026, 12, 6, 0, 45))[0]  # 20 minutes early counts as inside
    assert not where(SUN_1_TO_5, utc(2026, 12, 6, 5, 0))[0]


BASE = '[envs.lab]\nendpoint = "embedded"\n'


def load(tmp_path: Path, schedule: str) -> config_mod.Config:
    path = tmp_path / "dbops.toml"
    path.write_text(BASE + "[envs.lab.schedule]\n" + schedule)
    return config_mod.load(path, environ={})


def test_the_schedule_is_read_from_the_env(tmp_path: Path) -> None:
    cfg = load(tmp_path, 'days = ["SUN"]\nstart = "01:00"\nhours = 4\n')
    assert cfg.env("lab").schedule == SUN_1_TO_5
    path = tmp_path / "none.toml"
    path.write_text(BASE)
    assert config_mod.load(path, environ={}).env("lab").schedule is None


@pytest.mark.parametrize("table, named", [
    ('days = ["SUNDAY"]\nstart = "01:00"\nhours = 4\n', "envs.lab.schedule.days"),
    ('days = []\nstart = "01:00"\nhours = 4\n', "envs.lab.schedule.days"),
    ('days = ["SUN", "SUN"]\nstart = "01:00"\nhours = 4\n', "envs.lab.schedule.days"),
    ('days = ["SUN"]\nstart = "24:00"\nhours = 4\n', "envs.lab.schedule.start"),
    ('days = ["SUN"]\nstart = "1:00"\nhours = 4\n', "envs.lab.schedule.start"),
    ('days = ["SUN"]\nstart = "0\u00b2:00"\nhours = 4\n', "envs.lab.schedule.start"),  # '²' is a digit to str.isdigit
    ('days = ["SUN"]\nstart = "\u0660\u0661:\u0660\u0660"\nhours = 4\n', "envs.lab.schedule.start"),
    ('days = ["SUN"]\nstart = "01:00"\nhours = 0\n', "envs.lab.schedule.hours"),
    ('days = ["SUN"]\nstart = "01:00"\nhours = 25\n', "envs.lab.schedule.hours"),
    ('days = ["SUN"]\nstart = "01:00"\nhours = 2.5\n', "envs.lab.schedule.hours"),
    ('days = ["SUN"]\nstart = "01:00"\n', "envs.lab.schedule.hours"),
    ('days = ["SUN"]\nstart = "01:00"\nhours = 4\nend = "05:00"\n', "envs.lab.schedule.end"),
    ('days = ["SUN"]\nstart = "01:00"\nhours = 4\nallow_stop = "yes"\n', "envs.lab.schedule.allow_stop"),
])
def test_a_bad_schedule_is_refused_naming_its_key(tmp_path: Path, table: str, named: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, table)
    assert f"'{named}'" in str(refused.value) and "\n" not in str(refused.value)


def test_a_protected_envs_schedule_must_say_allow_stop(tmp_path: Path) -> None:
    window = 'days = ["SUN"]\nstart = "01:00"\nhours = 4\n'
    prod = '[envs.prod]\nendpoint = "https://rds.example.invalid"\nregion = "us-east-1"\n'  # protected by default
    path = tmp_path / "dbops.toml"
    for table in (window, window + "allow_stop = false\n"):
        path.write_text(prod + "[envs.prod.schedule]\n" + table)
        with pytest.raises(ConfigError) as refused:
            config_mod.load(path, environ={})
        assert "'envs.prod.schedule.allow_stop' must be true on a protected env" in str(refused.value)
        assert "\n" not in str(refused.value)
    path.write_text(prod + "[envs.prod.schedule]\n" + window + "allow_stop = true\n")
    assert config_mod.load(path, environ={}).env("prod").schedule == SUN_1_TO_5
    # Negative control: an unprotected env's schedule needs no such line.
    assert load(tmp_path, window).env("lab").schedule == SUN_1_TO_5
    path.write_text(prod + "protected = false\n[envs.prod.schedule]\n" + window)
    assert config_mod.load(path, environ={}).env("prod").schedule == SUN_1_TO_5


def test_the_repositorys_lab_env_has_a_weekly_window_and_the_80_usd_budget() -> None:
    cfg = config_mod.load(Path(__file__).parents[2] / "dbops.toml", environ={})
    assert isinstance(cfg.env("lab").schedule, Window)
    assert cfg.for_env("lab").policy.monthly_budget_usd == 80
    tf = (Path(__file__).parents[2] / "terraform/envs/lab/variables.tf").read_text()
    block = tf[tf.index('variable "account_budget_usd"'):]
    assert "default     = 80\n" in block[:block.index("validation")]


def test_schedule_apply_reports_a_failed_read_or_a_refused_call_as_an_error_and_goes_on() -> None:
    import boto3
    from botocore.stub import Stubber

    from ops.report import Journal
    from ops.scheduling import apply_to

    rds = boto3.client("rds", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    outside = utc(2026, 12, 6, 22)
    def cluster(name: str) -> dict:
        return {"DBClusters": [{"DBClusterIdentifier": name, "Status": "available", "DBClusterArn": arn(name)}]}

    def arn(name: str) -> str:
        return f"arn:aws:rds:us-east-1:123456789012:cluster:{name}"

    def tagged(name: str) -> dict:
        return {"ResourceName": arn(name), "Tags": [{"Key": "dbops:stopped-by", "Value": "schedule"},
                                                    {"Key": "dbops:stopped-at", "Value": "2026-12-06T22:00:00Z"}]}

    with Stubber(rds) as stub:
        stub.add_client_error("describe_db_clusters", "AccessDenied", "not allowed", 403)
        stub.add_response("describe_db_clusters", cluster("b"))
        stub.add_response("add_tags_to_resource", {}, tagged("b"))
        stub.add_client_error("stop_db_cluster", "InvalidDBClusterStateFault", "DbCluster b is in backing-up state", 400)
        stub.add_response("describe_db_clusters", cluster("c"))
        stub.add_response("add_tags_to_resource", {}, tagged("c"))  # tagged before it is stopped
        stub.add_response("stop_db_cluster", {"DBCluster": {"DBClusterIdentifier": "c", "Status": "stopping"}},
                          {"DBClusterIdentifier": "c"})
        stub.add_response("describe_db_clusters", cluster("d"))
        stub.add_client_error("add_tags_to_resource", "AccessDenied", "not allowed", 403)  # untagged: not stopped
        journal = Journal("schedule", "env:lab", "lab", echo=None)
        apply_to(rds, ["a", "b", "c", "d"], SUN_1_TO_5, outside, journal)
        stub.assert_no_pending_responses()
    checks = {c.id: c for c in journal.checks}
    assert checks["SCHED[aurora:a]"].status == "error" and "cannot read its state" in checks["SCHED[aurora:a]"].detail
    assert checks["SCHED[aurora:b]"].status == "error" and "stop refused" in checks["SCHED[aurora:b]"].detail
    assert checks["SCHED[aurora:c]"].status == "pass"  # the others still get theirs
    d = checks["SCHED[aurora:d]"]
    assert d.status == "error" and "left running" in d.detail and "could not be tagged" in d.detail
    assert journal.finish().status == "error"  # never a pass on what failed


def test_schedule_apply_retries_its_reads_and_sends_start_and_stop_once() -> None:
    from ops.aws import Aws
    from ops.scheduling import rds_clients

    reads, calls = rds_clients(Aws(region="us-east-1", endpoint_url="http://127.0.0.1:9"))  # no call is sent
    assert reads.meta.config.retries["total_max_attempts"] > 1  # a throttled DescribeDBClusters is tried again
    assert calls.meta.config.retries["total_max_attempts"] == 1
