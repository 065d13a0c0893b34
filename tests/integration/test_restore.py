"""Restore drills, backup verification and the janitor on a real lab-pg and the emulator,
with negative controls and interrupt tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from ops.aws import Aws
from ops.data import markers
from ops.lab import lab as lab_core
from ops.lab.aws import emulator
from ops.lab.aws import settings as lab_settings
from ops.lab.pg import pgcluster, pgrestore, pgservers
from ops.lease import lab_ledger
from tests.conftest import REPO, Cli, traversable_tmpdir, write_config


@pytest.fixture(scope="module")
def rlab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    """A lab of its own: these tests corrupt backups and remove WAL segments."""
    root = traversable_tmpdir("dbops-rs-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def cluster(cli: Cli) -> pgservers.Cluster:
    c = pgcluster.get(cli.lab_dir)
    assert c is not None
    return c


def restores_left(cli: Cli) -> list[Path]:
    return list(pgrestore.restores_dir(cluster(cli)).glob("*"))


def wait_lab_age(cli: Cli, seconds: float) -> None:
    age = time.time() - cluster(cli).entry["created_at"]
    if age < seconds:
        time.sleep(seconds - age)


def test_restore_to_24s_ago_checks_rows_and_leaves_nothing(rlab: Cli) -> None:
    wait_lab_age(rlab, 45)  # the base backup and heartbeat rows must predate T
    result = rlab("drill", "restore", "localpg:lab-pg", "--minutes-ago", "0.4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    checks = {c["id"]: c for c in data["checks"]}
    for cid in ("ROWS-BEFORE-T-PRESENT", "ROWS-AFTER-T-ABSENT", "ROWS-FINGERPRINT", "RPO"):
        assert checks[cid]["status"] == "pass", checks[cid]
    m = data["measurements"]
    assert m["markers_before_t"] >= 10 and m["markers_after_t"] >= 10
    assert m["restore_duration_s"] > 0 and m["rpo_s"] is not None
    assert data["details"]["fingerprints"]["source"] == data["details"]["fingerprints"]["restored"]
    assert restores_left(rlab) == []


def test_judging_against_an_earlier_time_than_restored_to_fails(rlab: Cli) -> None:
    """Negative control: the same restored rows judged against T - 2 s must show rows that should be absent."""
    c = cluster(rlab)
    with markers.connect(c.multi_host_dsn()) as conn:
        markers.write(conn, "neg-before", 10)
        time.sleep(2.5)
        t = markers.server_now(conn)
        markers.write(conn, "neg-after", 5)
    pgrestore.archive_through_now(c)
    restored = pgrestore.restore(c, t, "negative-control", "2099-01-01T00:00:00Z", lambda _: None, timeout=120)
    try:
        with markers.connect(c.multi_host_dsn()) as conn:
            source = markers.read(conn)
        with markers.connect(restored.dsn()) as conn:
            got = markers.read(conn)
        right = markers.judge(source, got, t, exact=True)
        assert not right.missing and not right.unexpected and right.fingerprints_match
        wrong = markers.judge(source, got, t - timedelta(seconds=2), exact=True)
        assert wrong.unexpected, "rows between T-2s and T are in the restore and must be flagged"
        when = {m.key(): m.committed_at for m in source}
        assert all(t - timedelta(seconds=2) < when[k] <= t for k in wrong.unexpected)
    finally:
        pgrestore.delete(restored.path)


def verify_findings(cli: Cli, *targets: str) -> tuple[int, dict[str, str]]:
    result = cli("backup", "verify", *targets, "--json")
    data = json.loads(result.stdout)
    return result.exit_code, {c["id"]: c["status"] for c in data["checks"]}


def test_corrupted_base_backup_fails_pg_verifybackup(rlab: Cli) -> None:
    code, found = verify_findings(rlab, "localpg:lab-pg")
    assert code == 0 and found["BKP-PG-VERIFYBACKUP[localpg:lab-pg]"] == "pass"
    c = cluster(rlab)
    newest = pgrestore.backups(c)[-1]
    corrupt = newest.with_name(newest.name + ".corrupt")
    subprocess.run(["cp", "-a", str(newest), str(corrupt)], check=True)
    os.utime(corrupt / "backup_manifest")  # the newest backup now
    try:
        victim = next(p for p in sorted((corrupt / "base").rglob("*")) if p.is_file() and p.stat().st_size > 8192)
        with victim.open("r+b") as f:
            f.seek(4096)
            f.write(b"\xde\xad\xbe\xef" * 16)
        code, found = verify_findings(rlab, "localpg:lab-pg")
        assert found["BKP-PG-VERIFYBACKUP[localpg:lab-pg]"] == "fail"
        assert code == 1
    finally:
        shutil.rmtree(corrupt)


def test_missing_wal_segment_fails_continuity(rlab: Cli) -> None:
    c = cluster(rlab)
    for _ in range(3):
        pgrestore.archive_through_now(c)
    start = pgrestore.backups(c)[-1]
    from ops.lab.pg.pgverify import backup_start_segment

    first = backup_start_segment(start)
    segments = sorted(p for p in c.archive.iterdir() if len(p.name) == 24 and p.name > first)
    victim = segments[len(segments) // 2]
    aside = victim.with_name(victim.name + ".aside")
    victim.rename(aside)
    try:
        code, found = verify_findings(rlab, "localpg:lab-pg")
        assert found["BKP-PG-WAL-CONTINUITY[localpg:lab-pg]"] == "fail", (victim.name, first, [s.name for s in segments])
        assert code == 1
    finally:
        aside.rename(victim)
    code, found = verify_findings(rlab, "localpg:lab-pg")
    assert found["BKP-PG-WAL-CONTINUITY[localpg:lab-pg]"] == "pass"


def test_latest_restorable_time_ends_at_the_first_gap_in_the_archive(rlab: Cli) -> None:
    """Segments archived a couple of seconds apart (the heartbeat commits in each), one taken out: the latest
    restorable time is the newest commit before the gap, status says the archive is broken, and the
    lag grows from there; put back, the archive is whole again."""
    from datetime import datetime, timezone

    from ops.lab.pg.pgverify import backup_start_segment

    c = cluster(rlab)
    for _ in range(4):
        time.sleep(2.0)
        pgrestore.archive_through_now(c)
    first = backup_start_segment(pgrestore.backups(c)[-1])
    segments = sorted(p for p in c.archive.iterdir() if len(p.name) == 24 and p.name > first)
    victim, before = segments[-2], segments[-3]
    whole = pgrestore.restorable(c)
    assert whole.archive_gap is None and whole.latest is not None
    aside = victim.with_name(victim.name + ".aside")
    victim.rename(aside)
    try:
        broken = pgrestore.restorable(c)
        assert broken.archive_gap == victim.name
        assert broken.latest is not None
        assert broken.latest <= datetime.fromtimestamp(before.stat().st_mtime, timezone.utc)  # not past the gap
        assert broken.latest >= datetime.fromtimestamp(before.stat().st_mtime, timezone.utc) - timedelta(seconds=5)
        assert broken.latest < whole.latest - timedelta(seconds=2)
        result = rlab("status", "--json")
        assert result.exit_code == 0, result.output
        row = next(r for r in json.loads(result.stdout)["targets"] if r["target"] == "localpg:lab-pg")
        assert row["health"] == f"degraded: WAL segment {victim.name} missing from the archive", row
    finally:
        aside.rename(victim)
    assert pgrestore.restorable(c).archive_gap is None


@pytest.fixture(scope="module")
def table(rlab: Cli) -> str:
    cfg = rlab.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    ddb.create_table(TableName="drill-orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     SSESpecification={"Enabled": True, "SSEType": "KMS"})
    ddb.update_continuous_backups(TableName="drill-orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    for i in range(25):
        ddb.put_item(TableName="drill-orders", Item={"pk": {"S": f"order-{i}"}, "total": {"N": str(i)}})
    # The latest restorable time trails now by the service's 5 minutes unless told otherwise.
    endpoint = emulator.endpoint(rlab.lab_dir)
    assert endpoint is not None
    lab_settings.remote(endpoint, {"ddb_restorable_lag_s": 0.2})
    return "drill-orders"


def tables(cli: Cli) -> list[str]:
    cfg = cli.config
    return Aws.for_env(cfg, cfg.env("lab")).client("dynamodb").list_tables()["TableNames"]


def test_dynamodb_restore_latest_checks_rows_and_leaves_nothing(rlab: Cli, table: str) -> None:
    result = rlab("drill", "restore", f"dynamodb:{table}", "--latest", "--json")
    data = json.loads(result.stdout)
    checks = {c["id"]: c["status"] for c in data["checks"]}
    assert checks["ROWS-BEFORE-T-PRESENT"] == checks["ROWS-AFTER-T-ABSENT"] == checks["ROWS-FINGERPRINT"] == "pass"
    assert checks["NOT-CARRIED-PITR"] == "warn"
    # The RPO is the lab's latest restorable time, 0.2 s behind now.
    assert checks["RPO"] == "pass" and data["measurements"]["rpo_s"] < 2
    assert data["status"] == "pass" and result.exit_code == 0, result.output
    assert tables(rlab) == [table]
    cfg = rlab.config
    scan = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb").scan(TableName=table)["Items"]
    left = [i for i in scan if i.get("dbops_marker", {}).get("S") != "heartbeat"]  # the lab's heartbeat items stay
    assert len(left) == 25, "the drill removes its markers from the application's table"


def test_table_without_pitr_fails(rlab: Cli) -> None:
    cfg = rlab.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    ddb.create_table(TableName="no-pitr", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    try:
        code, found = verify_findings(rlab, "dynamodb:no-pitr")
        assert found["BKP-DDB-PITR[dynamodb:no-pitr]"] == "fail"
        assert code == 1
        drill = rlab("drill", "restore", "dynamodb:no-pitr", "--latest")
        assert drill.exit_code == 2 and "point-in-time recovery is disabled" in drill.output
    finally:
        ddb.delete_table(TableName="no-pitr")


def test_junit_has_one_case_per_finding(rlab: Cli, table: str) -> None:
    junit = rlab.lab_dir.parent / "backup.xml"
    result = rlab("backup", "verify", "localpg:lab-pg", f"dynamodb:{table}", "--json", "--junit", str(junit))
    data = json.loads(result.stdout)
    xml = junit.read_text()
    assert xml.count("<testcase") == len(data["checks"]) > 8
    assert xml.count("<failure") == sum(c["status"] == "fail" for c in data["checks"])


def run_and_interrupt(cli: Cli, args: list[str], marker: str, sig: int = signal.SIGINT) -> tuple[int, str]:
    """Start a drill; freeze it right after it prints `marker`, signal it, let it go on."""
    env = {**os.environ, **cli.env()}
    env.pop("AWS_ENDPOINT_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "ops", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            proc.send_signal(signal.SIGSTOP)
            proc.send_signal(sig)
            proc.send_signal(signal.SIGCONT)
            break
    out, err = proc.communicate(timeout=120)
    return proc.returncode, "".join(seen) + err


@pytest.mark.parametrize("phase_line", ["markers  wrote 10 markers before T", "restore  copying base backup", "verify   reading markers"])
def test_sigint_at_each_phase_exits_3_and_leaves_nothing_after_janitor(rlab: Cli, phase_line: str) -> None:
    code, err = run_and_interrupt(rlab, ["drill", "restore", "localpg:lab-pg"], phase_line)
    assert code == 3, err
    assert "Traceback" not in err
    rlab("janitor")
    assert restores_left(rlab) == []


@pytest.mark.parametrize("phase_line", ["markers  wrote 10 markers before T", "restore  restoring", "verify   reading markers"])
def test_sigint_dynamodb_restore_at_each_phase(rlab: Cli, table: str, phase_line: str) -> None:
    code, err = run_and_interrupt(rlab, ["drill", "restore", f"dynamodb:{table}", "--latest"], phase_line)
    assert code == 3, err
    rlab("janitor")
    assert tables(rlab) == [table]


def test_janitor_removes_what_a_killed_drill_left(rlab: Cli) -> None:
    from datetime import datetime, timezone

    from ops.lease import lab_ledger

    code, _ = run_and_interrupt(rlab, ["drill", "restore", "localpg:lab-pg", "--timeout", "72000"], "restore  replaying WAL",
                                signal.SIGKILL)
    assert code == -signal.SIGKILL
    left = restores_left(rlab)
    assert len(left) == 1, "a SIGKILLed drill cannot clean up: its restore is left behind"
    [record] = lab_ledger(rlab.lab_dir).records()
    lives = datetime.strptime(record.expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)
    assert lives > timedelta(hours=20), "a 20 h restore is no leftover to a janitor on another host before it could end"
    dry = rlab("janitor", "--dry-run", "--json")
    assert json.loads(dry.stdout)["leftovers"][0]["why"] == "its drill process is gone"
    assert restores_left(rlab) == left
    swept = rlab("janitor")
    assert swept.exit_code == 0, swept.output
    assert restores_left(rlab) == [], swept.output
    assert not subprocess.run(["pgrep", "-f", str(left[0])], capture_output=True).stdout, "its postgres was stopped"


def test_kept_restore_survives_the_janitor_until_asked(rlab: Cli) -> None:
    assert rlab("drill", "restore", "localpg:lab-pg", "--keep").exit_code == 0
    assert len(restores_left(rlab)) == 1
    assert json.loads(rlab("janitor", "--json").stdout)["leftovers"] == []
    # Kept on purpose: --include-unexpired (for what crashed drills left) leaves it; naming its drill removes it.
    assert json.loads(rlab("janitor", "--include-unexpired", "--json").stdout)["leftovers"] == []
    drill_id = restores_left(rlab)[0].name
    assert len(json.loads(rlab("janitor", "--drill", drill_id, "--json").stdout)["leftovers"]) == 1
    assert restores_left(rlab) == []


def test_backup_verify_restore_latest_adds_a_restore_drill_finding(rlab: Cli) -> None:
    result = rlab("backup", "verify", "localpg:lab-pg", "--restore-latest", "--json")
    assert result.exit_code == 0, result.output
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    finding = checks["BKP-RESTORE-LATEST[localpg:lab-pg]"]
    assert finding["status"] == "pass" and "fingerprints match" in finding["detail"]
    assert restores_left(rlab) == []


def test_what_a_restore_does_not_carry_includes_index_autoscaling_and_metric_math_alarms(rlab: Cli, table: str) -> None:
    from ops.targets import parse_target
    from ops.targets.dynamodb import DynamoTarget

    aws = Aws.for_env(rlab.config, rlab.config.env("lab"))
    scaling, cw = aws.client("application-autoscaling"), aws.client("cloudwatch")
    index = f"table/{table}/index/by-total"
    scaling.register_scalable_target(ServiceNamespace="dynamodb", ResourceId=index, MinCapacity=1, MaxCapacity=10,
                                     ScalableDimension="dynamodb:index:WriteCapacityUnits")
    cw.put_metric_alarm(AlarmName="drill-orders-throttles", EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                        Metrics=[{"Id": "m1", "ReturnData": True, "MetricStat": {"Metric": {
                            "Namespace": "AWS/DynamoDB", "MetricName": "ThrottledRequests",
                            "Dimensions": [{"Name": "TableName", "Value": table}]}, "Period": 60, "Stat": "Sum"}}])
    try:
        found = {cid: detail for cid, _, detail in DynamoTarget(parse_target(f"dynamodb:{table}"), aws).not_carried_over(None)}  # type: ignore[arg-type]
        assert "1 autoscaling target" in found["NOT-CARRIED-AUTOSCALING"]
        assert "drill-orders-throttles" in found["NOT-CARRIED-ALARMS"]
    finally:
        scaling.deregister_scalable_target(ServiceNamespace="dynamodb", ResourceId=index,
                                           ScalableDimension="dynamodb:index:WriteCapacityUnits")
        cw.delete_alarms(AlarmNames=["drill-orders-throttles"])


@pytest.fixture(scope="module")
def indexed(rlab: Cli, table: str) -> str:
    """A provisioned table with a global secondary index: what a restore would copy and bill by default.
    (After `table`, which sets the lab's restorable lag to 0.2 s: --latest then restores past the markers.)"""
    ddb = Aws.for_env(rlab.config, rlab.config.env("lab")).client("dynamodb")
    ddb.create_table(TableName="indexed-orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "total", "AttributeType": "N"}],
                     BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 50},
                     GlobalSecondaryIndexes=[{"IndexName": "by-total", "KeySchema": [{"AttributeName": "total", "KeyType": "HASH"}],
                                              "Projection": {"ProjectionType": "ALL"},
                                              "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}])
    ddb.update_continuous_backups(TableName="indexed-orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    for i in range(25):
        ddb.put_item(TableName="indexed-orders", Item={"pk": {"S": f"order-{i}"}, "total": {"N": str(i)}})
    return "indexed-orders"


def kept_restore(cli: Cli, table: str, *extra: str) -> dict:
    """Run a restore drill that keeps its copy; return the copy's description and remove it."""
    result = cli("drill", "restore", f"dynamodb:{table}", "--latest", "--keep", "--json", *extra)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ddb = Aws.for_env(cli.config, cli.config.env("lab")).client("dynamodb")
    copy = ddb.describe_table(TableName=f"{table}-{data['details']['drill_id']}")["Table"]
    assert cli("janitor", "--drill", data["details"]["drill_id"], "--json").exit_code == 0
    return {"table": copy, "report": data}


def test_a_dynamodb_restore_is_on_demand_without_secondary_indexes_unless_asked(rlab: Cli, indexed: str) -> None:
    plain = kept_restore(rlab, indexed)
    assert plain["table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert not plain["table"].get("GlobalSecondaryIndexes")
    assert plain["report"]["status"] == "pass", plain["report"]["checks"]
    cost = next(e["message"] for e in plain["report"]["events"] if e["phase"] == "cost")
    assert "the table without its secondary indexes, TableSizeBytes" in cost and "on demand: no capacity charge" in cost
    # Negative control: asked for, the indexes come back (still on demand)
    full = kept_restore(rlab, indexed, "--with-indexes")
    assert [i["IndexName"] for i in full["table"]["GlobalSecondaryIndexes"]] == ["by-total"]
    assert full["table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert not [t for t in tables(rlab) if t.startswith(f"{indexed}-")]


def test_restores_above_max_cost_are_refused_in_one_line_before_anything_is_created(rlab: Cli, table: str) -> None:
    before = tables(rlab)
    drill = rlab("drill", "restore", f"dynamodb:{table}", "--latest", "--max-cost", "0")
    assert drill.exit_code == 2
    line = [ln for ln in drill.output.splitlines() if ln.strip()]
    assert len(line) == 1 and "above --max-cost 0 USD" in line[0] and "GB restored" in line[0], drill.output
    verify = rlab("backup", "verify", "localpg:lab-pg", f"dynamodb:{table}", "--restore-latest", "--max-cost", "0")
    assert verify.exit_code == 2
    line = [ln for ln in verify.output.splitlines() if ln.strip()]
    assert len(line) == 1 and "the restores of --restore-latest would cost up to" in line[0], verify.output
    assert f"BKP-RECOVERY-POINT-RESTORE[dynamodb:{table}]" in line[0] and "BKP-RESTORE-LATEST[localpg:lab-pg] 0.0000 USD" in line[0]
    assert tables(rlab) == before and restores_left(rlab) == []


@pytest.mark.parametrize("flags, hours", [(("--keep-hours", "48"), 48.0), (("--keep",), 6.0)])
def test_keep_hours_keeps_the_restore_that_long(rlab: Cli, flags: tuple[str, ...], hours: float) -> None:
    result = rlab("drill", "restore", "localpg:lab-pg", *flags, "--json")
    assert result.exit_code == 0, result.output
    [left] = restores_left(rlab)
    [record] = [r for r in lab_ledger(rlab.lab_dir).records() if r.drill_id == left.name]
    lives = datetime.strptime(record.expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)
    assert record.kept and timedelta(hours=hours - 0.1) < lives <= timedelta(hours=hours), lives  # --keep alone: the default 6 h
    owner = json.loads((left / "owner.json").read_text())
    assert owner["expires_at"] == record.expires_at
    assert json.loads(rlab("janitor", "--json").stdout)["leftovers"] == []
    assert len(json.loads(rlab("janitor", "--drill", left.name, "--json").stdout)["leftovers"]) == 1
    assert restores_left(rlab) == []


def set_lab(cli: Cli, **values: object) -> None:
    endpoint = emulator.endpoint(cli.lab_dir)
    assert endpoint is not None
    lab_settings.remote(endpoint, values)


def rows_checks(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c["id"]: c["status"] for c in json.loads(result.stdout)["checks"]}


def test_the_clock_knob_shifts_the_date_header_and_dynamodb_s_times(rlab: Cli, table: str) -> None:
    cfg = rlab.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")

    def seen() -> tuple[float, float]:
        answer = ddb.describe_continuous_backups(TableName=table)
        from email.utils import parsedate_to_datetime

        date = parsedate_to_datetime(answer["ResponseMetadata"]["HTTPHeaders"]["date"]).timestamp()
        latest = answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["LatestRestorableDateTime"]
        return date - time.time(), latest.timestamp() - time.time()

    date_skew, latest_skew = seen()
    assert -1.5 < date_skew < 0.5 and -1.5 < latest_skew < 0.5  # negative control: no knob, no skew
    set_lab(rlab, service_clock_offset_s=30)
    try:
        date_skew, latest_skew = seen()
        assert 28.5 < date_skew < 30.5 and 28.5 < latest_skew < 30.5
    finally:
        set_lab(rlab, service_clock_offset_s=0)


@contextlib.contextmanager
def skewed_table(cli: Cli, offset_s: float) -> Iterator[str]:
    """A table with point-in-time recovery made once the service's clock runs offset_s ahead of the host's.

    Made after the clock is set: the lab's heartbeat keys its items by the second of the service's clock,
    and a table that lived before the clock was stepped back would hold items of seconds still to come."""
    cfg = cli.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    name = f"skew-{int(time.time() * 1000) % 10**9}"
    set_lab(cli, service_clock_offset_s=offset_s)
    try:
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        for i in range(5):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"order-{i}"}})
        yield name
    finally:
        set_lab(cli, service_clock_offset_s=0)
        ddb.delete_table(TableName=name)


@pytest.mark.parametrize("offset_s", [0.6, -0.6, 30.0, -30.0])
def test_dynamodb_restore_passes_with_the_client_behind_or_ahead_of_the_service(rlab: Cli, table: str, offset_s: float) -> None:
    """T and the markers' times are read on the service's clock (its Date headers), whatever the client's says."""
    with skewed_table(rlab, offset_s) as name:
        result = rlab("drill", "restore", f"dynamodb:{name}", "--json")
    checks = rows_checks(result)
    data = json.loads(result.stdout)
    rows = [c for c in data["checks"] if c["id"].startswith("ROWS-")]
    assert checks["ROWS-BEFORE-T-PRESENT"] == checks["ROWS-AFTER-T-ABSENT"] == checks["ROWS-FINGERPRINT"] == "pass", (rows, result.output)
    assert data["measurements"]["markers_before_t"] >= 10 and data["measurements"]["markers_after_t"] >= 10
    assert result.exit_code == 0, result.output
    t = datetime_of(data["details"]["restore_time"])
    assert t.microsecond == 0, "T is a whole second: the service takes no fractions"


def datetime_of(text: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(text)


@pytest.mark.parametrize("offset_s", [30.0, -30.0])
def test_a_restore_timed_by_the_client_s_clock_fails_when_it_is_off(rlab: Cli, table: str, offset_s: float,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the same drill trusting the client's clock (offset taken as zero, as before) fails
    the rows on one side of T when the service runs 30 s ahead or behind."""
    from ops.clock import ServiceClock

    with skewed_table(rlab, offset_s) as name:
        if offset_s > 0:
            time.sleep(35)  # a T 30 s early is still in the restorable window
        monkeypatch.setattr(ServiceClock, "offset_bounds", lambda self: (0.0, 0.0))
        result = rlab("drill", "restore", f"dynamodb:{name}", "--json")
    checks = rows_checks(result)
    failed = "ROWS-BEFORE-T-PRESENT" if offset_s > 0 else "ROWS-AFTER-T-ABSENT"
    assert checks.get(failed) == "fail", result.output
    assert result.exit_code == 1


def test_a_past_t_with_nothing_of_the_drill_s_before_it_is_said_before_the_restore(rlab: Cli) -> None:
    """A table nothing writes heartbeat items into, as on AWS: a restore to a past T has no row of the drill's
    before T. The drill says so in one line before it restores, and the verdict is inconclusive."""
    cfg = rlab.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    set_lab(rlab, ddb_heartbeat=False, ddb_restorable_lag_s=0.2)
    try:
        ddb.create_table(TableName="quiet-orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        ddb.update_continuous_backups(TableName="quiet-orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        ddb.put_item(TableName="quiet-orders", Item={"pk": {"S": "order-1"}})
        time.sleep(4)
        t = datetime_of(ddb.describe_continuous_backups(TableName="quiet-orders")["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"]["LatestRestorableDateTime"].isoformat()) - timedelta(seconds=1)
        result = rlab("drill", "restore", "dynamodb:quiet-orders", "--at", t.isoformat(), "--json")
    finally:
        set_lab(rlab, ddb_heartbeat=True)
        ddb.delete_table(TableName="quiet-orders")
    said = result.output.find("rows before T cannot be verified")
    assert said >= 0, result.output
    assert said < result.output.find("restore  restoring dynamodb:quiet-orders"), "said before the restore starts"
    assert rows_checks(result)["ROWS-BEFORE-T-PRESENT"] == "unknown"
    assert json.loads(result.stdout)["status"] == "inconclusive" and result.exit_code == 4


def test_a_past_t_with_heartbeat_items_before_it_is_verified(rlab: Cli) -> None:
    """Negative control: where heartbeat items were written before T, nothing is said and the rows pass.

    On a table of its own: the module's table lived through the other tests' clock steps, and holds
    heartbeat items of seconds the service's clock has only now come back to."""
    cfg = rlab.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    set_lab(rlab, ddb_heartbeat=True, ddb_restorable_lag_s=0.2)
    with skewed_table(rlab, 0.0) as name:
        pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        time.sleep(max(0.0, pitr["EarliestRestorableDateTime"].timestamp() + 15 - time.time()))
        t = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"]["LatestRestorableDateTime"] - timedelta(seconds=3)
        result = rlab("drill", "restore", f"dynamodb:{name}", "--at", t.isoformat(), "--json")
    assert "cannot be verified" not in result.output
    assert rows_checks(result)["ROWS-BEFORE-T-PRESENT"] == "pass", result.output


def test_only_the_drill_s_own_markers_and_the_heartbeat_are_its_evidence(rlab: Cli) -> None:
    """Another drill's markers and rows of another writer in the markers' table are not counted (nor read)."""
    c = cluster(rlab)
    with markers.connect(c.multi_host_dsn()) as conn:
        markers.write(conn, "restore-20990101T000000Z-0ther0:before", 40, interval_s=0)
        markers.write(conn, "app-writer", 30, interval_s=0)
    try:
        result = rlab("drill", "restore", "localpg:lab-pg", "--json")
        data = json.loads(result.stdout)
        assert result.exit_code == 0, result.output
        t = datetime_of(data["details"]["restore_time"])
        with markers.connect(c.multi_host_dsn()) as conn:
            heartbeat_before_t = markers.count_before(conn, "no-such-drill", t)
            everything = markers.read(conn)
        assert data["measurements"]["markers_before_t"] == 10 + heartbeat_before_t
        # Negative control: read without a drill id, the other drill's and the other writer's rows are there.
        sources = {m.source for m in everything}
        assert {"restore-20990101T000000Z-0ther0:before", "app-writer"} <= sources
    finally:
        with markers.connect(c.multi_host_dsn()) as conn:
            conn.execute("DELETE FROM dbops_markers WHERE source IN ('restore-20990101T000000Z-0ther0:before', 'app-writer')")


@pytest.mark.parametrize("trust_client_clock", [False, True])
def test_the_rpo_is_measured_on_the_service_s_clock(rlab: Cli, table: str, trust_client_clock: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The latest restorable time is 25 s behind the service's now (RPO objective 20 s); the client runs 10 s
    behind the service. Read on the service's clock the RPO is 25 s and fails; read on the client's (the
    negative control) it would be 15 s and pass."""
    from ops.clock import ServiceClock

    root = traversable_tmpdir("dbops-rpo-")
    strict = Cli(write_config(root), rlab.lab_dir)
    strict.config_path.write_text(strict.config_path.read_text().replace("max_lost_writes = 0", "max_lost_writes = 0\nrpo_seconds = 20"))
    cfg = rlab.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    earliest = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"].timestamp()
    time.sleep(max(0.0, earliest + 30 - time.time()))  # the window is longer than the lag
    if trust_client_clock:
        monkeypatch.setattr(ServiceClock, "offset_bounds", lambda self: (0.0, 0.0))
    set_lab(rlab, service_clock_offset_s=10, ddb_restorable_lag_s=25)
    try:
        result = strict("drill", "restore", f"dynamodb:{table}", "--timeout", "3", "--json")
    finally:
        set_lab(rlab, service_clock_offset_s=0, ddb_restorable_lag_s=0.2)
        shutil.rmtree(root, ignore_errors=True)
    data = json.loads(result.stdout)
    rpo = data["measurements"]["rpo_s"]
    if trust_client_clock:
        assert 14 < rpo < 17 and rows_checks(result)["RPO"] == "pass", result.output
    else:
        assert 24 < rpo < 27 and rows_checks(result)["RPO"] == "fail", result.output
    assert result.exit_code != 0  # the drill then cannot wait 3 s for a restorable time 25 s behind
