"""An env's Aurora cluster by its weekly window, on the lab: `schedule apply` stops it outside the window and
starts it inside (its servers with it), `status` shows it stopped-by-schedule, drills refuse a stopped
cluster unless told to start it, and `backup verify` judges its RPO at the stop."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from ops.aws import Aws
from ops.lab import lab as lab_core
from ops.window import DAYS
from tests.conftest import Cli, traversable_tmpdir, write_config

CLUSTER = "sched-aurora"
TARGET = f"aurora:{CLUSTER}"

# An env whose Terraform outputs name the cluster: the estate `schedule apply` and `status` read.
OUTPUTS_ONLY = f"""
variable "region" {{
  type    = string
  default = "us-east-1"
}}
variable "account_id" {{
  type    = string
  default = ""
}}
variable "aws_endpoint" {{
  type    = string
  default = ""
}}
output "dbops_targets" {{
  value = ["{TARGET}"]
}}
"""


def window_toml(opens: datetime, hours: int) -> str:
    return f'\n[envs.lab.schedule]\ndays = ["{DAYS[opens.weekday()]}"]\nstart = "{opens:%H:%M}"\nhours = {hours}\n'


class Sched:
    def __init__(self, root: Path) -> None:
        now = datetime.now(timezone.utc)
        lab_dir = root / ".lab"
        # Inside: opened an hour ago for 3 h. Outside: opens in 3 h (further than the 20-minute lead).
        self.inside = Cli(self._config(root, "inside", window_toml(now - timedelta(hours=1), 3)), lab_dir)
        self.outside = Cli(self._config(root, "outside", window_toml(now + timedelta(hours=3), 1)), lab_dir)
        self.always = Cli(self._config(root, "always", ""), lab_dir)

    @staticmethod
    def _config(root: Path, name: str, extra: str) -> Path:
        d = root / name
        d.mkdir()
        path = write_config(d, extra=extra)
        text = path.read_text().replace(str(Path(__file__).parents[2] / "terraform/envs/lab"), str(root / "tf"), 1)
        path.write_text(text)
        return path


@pytest.fixture(scope="module")
def sched(pg_available) -> Iterator[Sched]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-sched-")
    (root / "tf").mkdir()
    (root / "tf" / "main.tf").write_text(OUTPUTS_ONLY)
    s = Sched(root)
    lab_core.up(s.always.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    try:
        for verb in ("plan", "apply"):
            result = s.always("tf", verb, "--env", "lab")
            assert result.exit_code == 0, result.output
        rds = aws(s).client("rds")
        rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", EngineVersion="15.4",
                              MasterUsername="dbops", ManageMasterUserPassword=True, StorageEncrypted=True,
                              BackupRetentionPeriod=7)
        for i in range(2):
            rds.create_db_instance(DBInstanceIdentifier=f"{CLUSTER}-{i}", DBClusterIdentifier=CLUSTER,
                                   Engine="aurora-postgresql", DBInstanceClass="db.t3.medium", PromotionTier=i)
        wait_for(s, "available")
        yield s
    finally:
        lab_core.down(s.always.config, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


def aws(s: Sched) -> Aws:
    cfg = s.always.config
    return Aws.for_env(cfg, cfg.env("lab"))


def state(s: Sched) -> tuple[str, list[str]]:
    rds = aws(s).client("rds")
    cluster = rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
    instances = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [CLUSTER]}])["DBInstances"]
    return cluster["Status"], sorted(i["DBInstanceStatus"] for i in instances)


def wait_for(s: Sched, status: str, timeout: float = 120.0) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        cluster, instances = state(s)
        if cluster == status and set(instances) == {status}:
            return time.monotonic() - began
        time.sleep(0.5)
    raise AssertionError(f"{CLUSTER} not {status} after {timeout:.0f} s: {state(s)}")


def dsn(s: Sched) -> str:
    from ops.targets.registry import open_cluster

    cfg = s.always.config
    return open_cluster(cfg, cfg.env("lab"), TARGET).writer_dsn()


def instance_addresses(s: Sched) -> list[tuple[str, int]]:
    rds = aws(s).client("rds")
    instances = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [CLUSTER]}])["DBInstances"]
    return [(i["Endpoint"]["Address"], i["Endpoint"]["Port"]) for i in instances]


def refused(host: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return True
    return False


def apply(cli: Cli) -> tuple[int, dict]:
    result = cli("schedule", "apply", "--env", "lab", "--json")
    return result.exit_code, json.loads(result.stdout)


def stopped(s: Sched) -> None:
    """The cluster stopped by the schedule, as a test's starting point (one stopped by hand is started first)."""
    if state(s)[0] == "stopped" and tags(s).get("dbops:stopped-by") != "schedule":
        running(s)
    if state(s)[0] != "stopped":
        code, _ = apply(s.outside)
        assert code == 0
        wait_for(s, "stopped")


def running(s: Sched) -> None:
    if state(s)[0] != "available":
        code, _ = apply(s.inside)
        assert code == 0
        wait_for(s, "available")


def test_schedule_apply_stops_outside_the_window_and_starts_inside_it_and_is_idempotent(sched: Sched) -> None:
    running(sched)
    with psycopg.connect(dsn(sched), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    # Outside: stopped; the servers go with it.
    code, data = apply(sched.outside)
    assert code == 0, data
    assert {c["id"]: c["status"] for c in data["checks"]} == {f"SCHED[{TARGET}]": "pass"}
    assert f"{TARGET}: available -> stopping" in data["summary"]
    print(f"stopped in {wait_for(sched, 'stopped'):.1f} s")
    assert all(refused(host, port) for host, port in instance_addresses(sched))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn(sched), connect_timeout=3).close()
    # Again outside: nothing to do, nothing called.
    code, data = apply(sched.outside)
    assert code == 0 and "nothing to start or stop" in data["summary"], data
    assert state(sched)[0] == "stopped"
    # Inside: started, instances too, the data as it was.
    code, data = apply(sched.inside)
    assert code == 0, data
    assert f"{TARGET}: stopped -> starting" in data["summary"]
    assert state(sched)[0] == "starting"
    print(f"available in {wait_for(sched, 'available'):.1f} s")
    with psycopg.connect(dsn(sched)) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [(42,)]
    code, data = apply(sched.inside)
    assert code == 0 and "nothing to start or stop" in data["summary"], data


def tags(s: Sched) -> dict[str, str]:
    cluster = aws(s).client("rds").describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
    return {t["Key"]: t["Value"] for t in cluster.get("TagList", [])}


def test_schedule_apply_tags_a_cluster_before_it_stops_it_and_removes_the_tags_when_it_starts_it(sched: Sched) -> None:
    running(sched)
    assert "dbops:stopped-by" not in tags(sched)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    code, data = apply(sched.outside)
    assert code == 0 and f"{TARGET}: available -> stopping" in data["summary"], data
    stamped = tags(sched)
    assert stamped["dbops:stopped-by"] == "schedule", stamped
    at = datetime.strptime(stamped["dbops:stopped-at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before - timedelta(seconds=1) <= at <= datetime.now(timezone.utc)
    wait_for(sched, "stopped")
    code, data = apply(sched.inside)
    assert code == 0 and f"{TARGET}: stopped -> starting" in data["summary"], data
    assert not {"dbops:stopped-by", "dbops:stopped-at"} & set(tags(sched)), tags(sched)
    wait_for(sched, "available")


def test_schedule_apply_leaves_running_a_cluster_a_drill_holds_and_stops_it_once_released(sched: Sched) -> None:
    from ops.lease import lab_ledger

    running(sched)
    # A drill's lease on the cluster, taken as drills take it (its ledger, the cluster named in other letters).
    with lab_ledger(sched.outside.config.lab_dir).acquire(f"aurora:{CLUSTER.upper()}", "failover-held-by-test", hours=1.0):
        code, data = apply(sched.outside)
        assert code == 0, data
        check = next(c for c in data["checks"] if c["id"] == f"SCHED[{TARGET}]")
        assert check["status"] == "warn" and "left running" in check["detail"], check
        assert "failover-held-by-test" in check["detail"] and "stops it" in check["detail"], check
        assert "nothing to start or stop" in data["summary"], data
        time.sleep(1)
        assert state(sched)[0] == "available"  # never sent StopDBCluster
    # Negative control: the lease given back, the same run stops it.
    code, data = apply(sched.outside)
    assert code == 0 and f"{TARGET}: available -> stopping" in data["summary"], data
    assert {c["id"]: c["status"] for c in data["checks"]} == {f"SCHED[{TARGET}]": "pass"}
    wait_for(sched, "stopped")


def test_stop_and_start_refuse_a_cluster_in_the_wrong_state(sched: Sched) -> None:
    from botocore.exceptions import ClientError

    running(sched)
    rds = aws(sched).client("rds", attempts=1)
    with pytest.raises(ClientError) as not_stopped:
        rds.start_db_cluster(DBClusterIdentifier=CLUSTER)
    assert not_stopped.value.response["Error"]["Code"] == "InvalidDBClusterStateFault"
    rds.stop_db_cluster(DBClusterIdentifier=CLUSTER)
    with pytest.raises(ClientError) as stopping:
        rds.stop_db_cluster(DBClusterIdentifier=CLUSTER)  # stopping, then stopped: not available
    assert stopping.value.response["Error"]["Code"] == "InvalidDBClusterStateFault"
    wait_for(sched, "stopped")


def test_schedule_apply_without_a_schedule_or_confirmation_changes_nothing(sched: Sched, tmp_path: Path) -> None:
    running(sched)
    result = sched.always("schedule", "apply", "--env", "lab")
    assert result.exit_code == 2 and "has no [envs.lab.schedule]" in result.stderr and "Traceback" not in result.output
    protected = tmp_path / "dbops.toml"
    text = sched.outside.config_path.read_text().replace("protected = false", "protected = true", 1)
    # A protected env's schedule stops its clusters only when it says so (its --confirm is given for drills).
    protected.write_text(text)
    result = Cli(protected, sched.outside.lab_dir)("schedule", "apply", "--env", "lab", "--confirm", "lab")
    assert result.exit_code == 2 and "'envs.lab.schedule.allow_stop' must be true" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    protected.write_text(text.replace("[envs.lab.schedule]\n", "[envs.lab.schedule]\nallow_stop = true\n", 1))
    result = Cli(protected, sched.outside.lab_dir)("schedule", "apply", "--env", "lab")
    assert result.exit_code == 2 and "--confirm lab" in result.stderr, result.output
    time.sleep(1)
    assert state(sched)[0] == "available"  # neither refusal stopped it


def status_row(cli: Cli) -> dict:
    result = cli("status", "--env", "lab", "--json")
    assert result.exit_code == 0, result.output
    return next(r for r in json.loads(result.stdout)["targets"] if r["target"] == TARGET)


def status_of(cli: Cli) -> str:
    return status_row(cli)["health"]


def test_status_shows_stopped_by_schedule_outside_the_window_and_a_finding_inside_it(sched: Sched) -> None:
    stopped(sched)
    assert status_of(sched.outside) == "stopped-by-schedule"
    row = status_row(sched.outside)  # CloudWatch's last points are of servers no longer running
    assert row["replica_lag"] == row["connections"] == "not measured (stopped)", row
    inside = status_of(sched.inside)
    assert inside.startswith("stopped: inside its window") and "should run" in inside
    assert status_of(sched.always) == "stopped"


def test_a_cluster_stopped_by_hand_outside_the_window_is_not_stopped_by_schedule(sched: Sched) -> None:
    running(sched)
    aws(sched).client("rds", attempts=1).stop_db_cluster(DBClusterIdentifier=CLUSTER)  # a person's stop: no tag
    wait_for(sched, "stopped")
    try:
        assert status_of(sched.outside) == "stopped (not by the schedule)"
        result = sched.outside("backup", "verify", TARGET, "--env", "lab", "--json")
        restorable = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == f"BKP-AURORA-RESTORABLE[{TARGET}]")
        assert restorable["status"] == "warn" and "stopped, not by its schedule, since" in restorable["detail"], restorable
        assert "an unexpected stop" in restorable["detail"], restorable
        # Positive control: the same cluster stopped by `schedule apply` is the schedule's.
        running(sched)
        stopped(sched)
        assert status_of(sched.outside) == "stopped-by-schedule"
    finally:
        running(sched)


def test_a_drill_on_a_stopped_cluster_is_refused_and_changes_nothing(sched: Sched) -> None:
    stopped(sched)
    for args in (("drill", "failover", TARGET), ("drill", "connections", TARGET, "--clients", "2"),
                 ("drill", "restore", TARGET, "--latest"), ("query", "audit", TARGET),
                 ("drill", "latency", TARGET, "--workload", str(Path(__file__).parents[2] / "workloads" / "orders.sql"))):
        result = sched.outside(*args, "--env", "lab")
        assert result.exit_code == 2, (args, result.output)
        assert "is stopped-by-schedule" in result.stderr and "--start-if-stopped" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert state(sched)[0] == "stopped"
    assert not list((sched.outside.config.report_dir).glob("failover/*.json"))


def test_a_failover_drill_with_start_if_stopped_starts_the_cluster_first_and_never_counts_the_stop(sched: Sched) -> None:
    stopped(sched)
    result = sched.outside("drill", "failover", TARGET, "--env", "lab", "--start-if-stopped", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    started = data["details"]["started_if_stopped"]
    assert started["was"] == "stopped-by-schedule" and started["start_s"] > 0
    assert any("was stopped-by-schedule: started (--start-if-stopped) in" in e["message"] for e in data["events"])
    m = data["measurements"]
    # The failover's downtime, measured from its trigger after the start: not the time the cluster was stopped.
    assert m["lost_writes"] == 0 and m["client_write_downtime_s"] <= 60
    print(f"started in {started['start_s']:.1f} s; failover downtime {m['client_write_downtime_s']:.3f} s")
    assert state(sched)[0] == "available"


def test_backup_verify_judges_a_stopped_clusters_rpo_and_snapshot_age_at_its_stop(sched: Sched) -> None:
    from ops.checks.backups import aurora_restorable, aurora_snapshot_age
    from ops.checks.collect import aurora as collect_aurora
    from ops.checks.registry import Read

    running(sched)
    rds = aws(sched).client("rds")
    rds.create_db_cluster_snapshot(DBClusterIdentifier=CLUSTER, DBClusterSnapshotIdentifier="sched-before-stop")
    stopped(sched)
    result = sched.outside("backup", "verify", TARGET, "--env", "lab", "--json")
    data = json.loads(result.stdout)
    restorable = next(c for c in data["checks"] if c["id"] == f"BKP-AURORA-RESTORABLE[{TARGET}]")
    assert restorable["status"] == "pass", restorable
    assert "stopped by its schedule since" in restorable["detail"] and "judged at the stop" in restorable["detail"]
    cfg = sched.outside.config.for_env("lab")
    env = cfg.env("lab")
    client = aws(sched).client
    s = collect_aurora(lambda service: client(service), CLUSTER, Read(value=[]))
    assert s["events"].ok and any("DB cluster stopped" in e["Message"] for e in s["events"].value)
    # A day stopped: judged at the stop it still passes; the same state judged at now (as a running cluster is) fails.
    # So is the newest snapshot's age (26 h at most): two days on it is as fresh at the stop as it was.
    later = dict(s, now=s["now"] + timedelta(days=2))
    as_if_running = dict(later, cluster=Read(value=dict(s["cluster"].value, Status="available")))
    for judge in (aurora_restorable, aurora_snapshot_age):
        assert judge(later, cfg.policy, env).status == "pass", judge(later, cfg.policy, env)
        assert judge(as_if_running, cfg.policy, env).status == "fail"
        # Negative control: with the stop's event gone, it is not measured (unknown), never a pass.
        finding = judge(dict(s, events=Read(value=[])), cfg.policy, env)
        assert finding.status == "unknown" and "not measured" in finding.detail
    assert "at the cluster's stop" in aurora_snapshot_age(later, cfg.policy, env).detail
