"""Bad input: one clear line, exit 2, before anything runs, nothing changed.
And what a run that started says when it cannot finish: a report, and progress while it waits."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ops.aws import Aws
from ops.lab.pg import pgcluster
from tests.conftest import REPO, Cli, write_config
from tests.faults.helpers import one_line, run


def assert_refused(result, *fragments: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("args, fragment", [
    (("drill", "failover", "localpg:lab-pg", "--rto", "nan"), "--rto"),
    (("drill", "failover", "localpg:lab-pg", "--rto", "inf"), "--rto"),
    (("drill", "failover", "localpg:lab-pg", "--canary-hz", "nan"), "--canary-hz"),
    (("drill", "failover", "localpg:lab-pg", "--to", ""), "--to"),
    (("drill", "failover", "localpg:lab-pg", "--to", "  "), "--to"),
    (("drill", "restore", "localpg:lab-pg", "--minutes-ago", "inf"), "--minutes-ago"),
    (("drill", "restore", "localpg:lab-pg", "--minutes-ago", "nan"), "--minutes-ago"),
    (("drill", "restore", "localpg:lab-pg", "--minutes-ago", "1e12"), "--minutes-ago"),
    (("drill", "restore", "localpg:lab-pg", "--timeout", "nan"), "--timeout"),
    (("drill", "restore", "localpg:lab-pg", "--max-cost", "nan"), "--max-cost"),
    (("drill", "restore", "localpg:lab-pg", "--max-cost", "-1"), "--max-cost"),
    (("backup", "verify", "localpg:lab-pg", "--restore-latest", "--max-cost", "inf"), "--max-cost"),
    (("cost", "check", "--budget", "inf"), "--budget"),
    (("drill", "restore", "localpg:lab-pg", "--at", "yesterday"), "--at"),
    (("drill", "failover", "localpg:lab-pg", "--abort-after-downtime", "nan"), "--abort-after-downtime"),
    (("drill", "failover", "localpg:lab-pg", "--abort-after-downtime", "0"), "--abort-after-downtime"),
    (("drill", "failover", "localpg:lab-pg", "--stop-on-alarm", " "), "--stop-on-alarm"),
    (("drill", "restore", "localpg:lab-pg", "--abort-after-downtime", "5"), "--abort-after-downtime needs a canary"),
])
def test_non_finite_and_empty_values_are_refused_before_anything_runs(cli_at: Cli, args: tuple[str, ...], fragment: str) -> None:
    assert_refused(cli_at(*args), fragment)
    assert not cli_at.lab_dir.exists() and not (cli_at.lab_dir.parent / "reports").exists()


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "0"])
def test_non_finite_objective_in_the_config_names_the_key(fresh_root: Path, value: str) -> None:
    path = write_config(fresh_root)
    path.write_text(path.read_text().replace("rto_seconds = 60", f"rto_seconds = {value}"))
    assert_refused(Cli(path, fresh_root / ".lab")("estate", "show"), "policy.rto_seconds")


def test_config_that_is_a_directory_or_empty_is_one_line(fresh_root: Path) -> None:
    assert_refused(Cli(fresh_root, fresh_root / ".lab")("estate", "show"), "is a directory")
    empty = fresh_root / "empty.toml"
    empty.write_text("")
    assert_refused(Cli(empty, fresh_root / ".lab")("estate", "show"), "is empty")


def test_pg_bin_pointing_nowhere_is_an_error_not_ignored(cli_at: Cli) -> None:
    result = run(cli_at, "lab", "up", DBOPS_PG_BIN="/nowhere/bin")
    assert result.returncode == 2, result.stderr
    assert "DBOPS_PG_BIN=/nowhere/bin" in one_line(result.stderr)
    run(cli_at, "lab", "down")


def test_failover_to_a_member_that_is_not_a_reader_is_refused_before_the_drill(lab: Cli) -> None:
    writer = pgcluster.get(lab.lab_dir).entry["writer"]  # type: ignore[union-attr]
    before = sorted((lab.config.report_dir / "failover").glob("*.json")) if (lab.config.report_dir / "failover").exists() else []
    for to in ("nobody", writer):
        line = assert_refused(lab("drill", "failover", "localpg:lab-pg", "--to", to), f"--to {to} is not a reader")
        assert "[" not in line.split("error:", 1)[0]  # no drill output before it
    after = sorted((lab.config.report_dir / "failover").glob("*.json")) if (lab.config.report_dir / "failover").exists() else []
    assert after == before and pgcluster.get(lab.lab_dir).entry["writer"] == writer  # type: ignore[union-attr]


def marker_count(cli: Cli) -> int:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    if not cluster.query(cluster.writer(), "SELECT to_regclass('dbops_markers') IS NOT NULL")[0][0]:
        return 0
    return cluster.query(cluster.writer(), "SELECT count(*) FROM dbops_markers WHERE source <> 'heartbeat'")[0][0]


def test_restore_to_the_future_or_before_the_window_changes_nothing(lab: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.lab.pg import pgrestore

    switched: list[str] = []  # the archive's own timeout may switch WAL meanwhile: the drill's switch is what counts
    monkeypatch.setattr(pgrestore, "archive_through_now", lambda *a, **k: switched.append("switched"))
    markers_before = marker_count(lab)
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert_refused(lab("drill", "restore", "localpg:lab-pg", "--at", future), "not in the past")
    assert_refused(lab("drill", "restore", "localpg:lab-pg", "--at", "2001-01-01T00:00:00Z"), "before the earliest restorable time")
    assert_refused(lab("drill", "restore", "localpg:lab-pg", "--minutes-ago", "50000"), "outside the retention window")
    assert marker_count(lab) == markers_before, "no marker was written"
    assert switched == [], "no WAL switch happened"


def test_backup_verify_of_a_table_that_does_not_exist_is_one_line(lab: Cli) -> None:
    assert_refused(lab("backup", "verify", "dynamodb:no-such-table"), "no DynamoDB table 'no-such-table'")


def test_backup_verify_of_an_empty_estate_is_inconclusive(cli_at: Cli, lab: Cli) -> None:
    """The lab's emulator runs, but this env was never applied and has no lab-pg of its own: nothing to verify."""
    empty = Cli(cli_at.config_path, cli_at.lab_dir)
    cli_at.lab_dir.mkdir(parents=True)
    (cli_at.lab_dir / "state.json").write_text(json.dumps({"emulator": json.loads((lab.lab_dir / "state.json").read_text())["emulator"]}))
    result = empty("backup", "verify", "--json")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "inconclusive" and "no target to verify" in data["summary"]


def test_lab_up_with_another_replica_count_says_it_is_ignored(lab: Cli) -> None:
    result = lab("lab", "up", "--replicas", "3")
    assert result.exit_code == 0
    assert "--replicas 3 ignored" in result.output and "1 replica(s)" in result.output


def test_a_report_that_cannot_be_written_keeps_the_verdict_and_names_the_problem(lab: Cli, fresh_root: Path) -> None:
    not_a_dir = fresh_root / "reports-file"
    not_a_dir.write_text("a file where the report directory should be")
    result = lab("backup", "verify", "localpg:lab-pg", "--report-dir", str(not_a_dir / "sub"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("PASS:"), result.stdout
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("dbops: error:")]
    assert len(errors) == 1 and "report not written" in errors[0], result.stderr


def test_a_wait_that_does_not_end_prints_progress_and_still_writes_a_report(lab: Cli) -> None:
    """A new table's latest restorable time trails five minutes behind: the drill waits, says so, gives up, reports."""
    cfg = lab.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    ddb.create_table(TableName="stuck-pitr", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.update_continuous_backups(TableName="stuck-pitr", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    from ops.lab.aws import emulator, settings

    settings.remote(emulator.endpoint(lab.lab_dir) or "", {"ddb_restorable_lag_s": 300})  # as the service: five minutes behind
    try:
        at = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
        import time

        time.sleep(2)
        result = run(lab, "drill", "restore", "dynamodb:stuck-pitr", "--at", at, "--timeout", "12", "--json")
        assert result.returncode == 2, result.stderr
        assert "waiting for the latest restorable time of dynamodb:stuck-pitr" in result.stderr
        assert "deadline" in result.stderr
        report = json.loads(result.stdout)
        assert report["status"] == "error" and "did not reach" in report["summary"]
        assert any(e["phase"] == "markers" for e in report["events"]), "the report says what it did before stopping"
        left = [i for i in ddb.scan(TableName="stuck-pitr")["Items"] if i.get("dbops_marker", {}).get("S") != "heartbeat"]
        assert left == [], "its markers were removed"
    finally:
        ddb.delete_table(TableName="stuck-pitr")


def test_drill_weekly_runs_on_a_protected_env_with_confirm(lab: Cli, fresh_root: Path) -> None:
    path = write_config(fresh_root)
    path.write_text(path.read_text().replace("protected = false", "protected = true"))
    protected = Cli(path, lab.lab_dir)
    env = {**__import__("os").environ, **protected.env()}
    env.pop("AWS_ENDPOINT_URL", None)
    script = [str(REPO / "scripts" / "drill-weekly"), "lab"]
    junit = fresh_root / "junit"
    refused = subprocess.run(script, env={**env, "JUNIT_DIR": str(junit), "DBOPS": str(Path(sys.executable).parent / "dbops")},
                             capture_output=True, text=True, timeout=300)
    assert "== failover: exit 2" in refused.stdout and "== restore: exit 2" in refused.stdout, refused.stdout
    confirmed = subprocess.run([*script, "--confirm", "lab:localpg:lab-pg"],
                               env={**env, "JUNIT_DIR": str(junit), "DBOPS": str(Path(sys.executable).parent / "dbops")},
                               capture_output=True, text=True, timeout=300)
    out = confirmed.stdout
    for step in ("failover", "restore", "backup"):
        assert f"== {step}: exit 0" in out, out + confirmed.stderr
    assert "== cost: exit 2" not in out, out + confirmed.stderr  # cost check accepts --confirm


# --- dbops lab set: each knob has a type and a range -----------------------------------------


def lab_settings(cli: Cli) -> dict[str, object]:
    from ops.lab.aws import emulator, settings

    return {name: s["value"] for name, s in settings.remote(emulator.endpoint(cli.lab_dir) or "").items()}


@pytest.mark.parametrize("bad", [
    "ddb_throttling=maybe", "ddb_restore_ignores_time=2", "ddb_heartbeat=",
    "ddb_restorable_lag_s=1e308", "ddb_restorable_lag_s=-1", "ddb_restorable_lag_s=nan", "ddb_restorable_lag_s=true",
    "cost_page_size=0", "cost_page_size=2.5", "cost_history_days=ten",
    "ddb_partition_wcu=0", "ddb_partition_rcu=1e9", "ddb_burst_s=0", "aurora_endpoint_delay_s=inf",
    "ddb_app_table=../x",
])
def test_lab_set_refuses_a_value_outside_the_knobs_type_or_range_and_changes_nothing(lab: Cli, bad: str) -> None:
    before = lab_settings(lab)
    name = bad.split("=", 1)[0]
    line = assert_refused(lab("lab", "set", "aurora_endpoint_delay_s=1", bad), f"lab setting {name}")
    assert lab_settings(lab) == before, "a refused value changes none of the settings given with it"
    if name != "ddb_throttling" and "restore" not in name and name != "ddb_heartbeat":
        assert " to " in line, line  # the range is named


@pytest.mark.parametrize("word, meaning", [("no", False), ("off", False), ("false", False), ("0", False), ("NO", False),
                                           ("yes", True), ("on", True), ("true", True), ("1", True)])
def test_lab_set_reads_a_switch_by_its_meaning(lab: Cli, word: str, meaning: bool) -> None:
    try:
        lab("lab", "set", f"ddb_throttling={'false' if meaning else 'true'}")
        result = lab("lab", "set", f"ddb_throttling={word}", f"ddb_restore_ignores_time={word}")
        assert result.exit_code == 0, result.output
        now = lab_settings(lab)
        assert now["ddb_throttling"] is meaning and now["ddb_restore_ignores_time"] is meaning, now
    finally:
        lab("lab", "set", "ddb_throttling=true", "ddb_restore_ignores_time=false")


def test_lab_set_takes_numbers_within_the_range_and_settings_show_it(lab: Cli) -> None:
    try:
        assert lab("lab", "set", "cost_page_size=1", "ddb_restorable_lag_s=0.5", "ddb_partition_wcu=40000").exit_code == 0
        now = lab_settings(lab)
        assert (now["cost_page_size"], now["ddb_restorable_lag_s"], now["ddb_partition_wcu"]) == (1, 0.5, 40000)
        shown = lab("lab", "settings").output
        assert "cost_page_size" in shown and "1 to 10000" in shown, shown
    finally:
        lab("lab", "set", "cost_page_size=100", "ddb_restorable_lag_s=300", "ddb_partition_wcu=1000")


def test_a_price_refresh_the_lab_cannot_answer_writes_nothing_and_says_why_once(lab: Cli, tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.cost import estimate as est

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = lab("cost", "prices", "--refresh")
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines[0] == "0 price(s) refreshed: no catalog written", result.stderr
    assert len(lines) == 2 and "NotImplemented: the AWS Price List API (pricing) is not implemented by the dbops lab emulator (HTTP 501)" \
        in lines[1], result.stderr
    assert "<" not in result.stderr, "no HTML page"
    assert not est.user_catalog_path().exists() and list(tmp_path.iterdir()) in ([], [tmp_path / "dbops"])
    assert not any((tmp_path / "dbops").glob("*")) if (tmp_path / "dbops").exists() else True
    assert result.stdout.startswith(f"catalog {est.CATALOG_PATH} (shipped): version "), result.stdout
    # negative control: a refreshed copy, newer than the shipped one, is the one read and named
    shipped = est.CATALOG_PATH.read_text()
    est.user_catalog_path().parent.mkdir(parents=True, exist_ok=True)
    est.user_catalog_path().write_text(shipped.replace('"date": "', '"date": "9'))
    shown = lab("cost", "prices")
    assert shown.exit_code == 0 and shown.stdout.startswith(f"catalog {est.user_catalog_path()} (refreshed copy): version 9"), shown.output
