"""An export's clone at T of lab-pg (ops.etl.clone): a point-in-time recovery into a new server, read through the
Reader as a clone, never the writer; deleted after the block, an exception inside it included; found by the janitor
when its process was killed; a T outside the restorable window refused in one line before anything is created."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from ops.aws import Aws
from ops.errors import CannotRun, UsageError
from ops.etl.clone import clone_at
from ops.etl.extract_pg import Reader
from ops.lab import lab as lab_core
from ops.lab.pg import pgcluster, pgrestore, pgservers
from ops.lease import lab_ledger
from tests.conftest import REPO, Cli, traversable_tmpdir, write_config

SCHEMA = "etl_clone"
BEFORE, AFTER = 120, 40


def cluster(cli: Cli) -> pgservers.Cluster:
    c = pgcluster.get(cli.lab_dir)
    assert c is not None
    return c


def restores_left(cli: Cli) -> list[Path]:
    return sorted(pgrestore.restores_dir(cluster(cli)).glob("*"))


def records_left(cli: Cli) -> list[str]:
    return [r.drill_id for r in lab_ledger(cli.lab_dir).records() if r.drill_id.startswith("etl-")]


def wait_lab_age(cli: Cli, seconds: float) -> None:
    """A restore starts from a base backup completed before T: the lab's, taken when it came up."""
    age = time.time() - cluster(cli).entry["created_at"]
    if age < seconds:
        time.sleep(seconds - age)


def rows_on_both_sides_of_t(cli: Cli, table: str) -> datetime:
    """BEFORE rows committed before T, AFTER rows after it, on the writer; T on the writer's clock."""
    with psycopg.connect(cluster(cli).writer().dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")
        conn.execute(f"CREATE TABLE {SCHEMA}.{table} (id bigint PRIMARY KEY, side text NOT NULL)")
        conn.execute(f"INSERT INTO {SCHEMA}.{table} SELECT i, 'before' FROM generate_series(1, {BEFORE}) i")
        time.sleep(0.3)
        t = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        time.sleep(0.3)
        conn.execute(f"INSERT INTO {SCHEMA}.{table} SELECT i, 'after' FROM generate_series({BEFORE + 1}, {BEFORE + AFTER}) i")
    return t.astimezone(timezone.utc)


def read_ids(reader: Reader, relation: str) -> list[int]:
    ids: list[int] = []
    for batch in reader.batches(relation, {"id": "bigint", "side": "string"}):
        ids += batch.column(0).to_pylist()
    return sorted(ids)


def janitor_leftovers(cli: Cli) -> list[dict[str, str]]:
    result = cli("janitor", "--dry-run", "--json")
    return [x for x in json.loads(result.stdout)["leftovers"] if x["drill_id"].startswith("etl-")]


def test_the_clone_holds_the_rows_committed_by_t_and_none_after_and_is_deleted(lab: Cli) -> None:
    wait_lab_age(lab, 20)
    t = rows_on_both_sides_of_t(lab, "items")
    cfg = lab.config.for_env("lab")
    said: list[str] = []
    with clone_at(cfg, cfg.env("lab"), "localpg:lab-pg", t, said.append) as clone:
        assert clone.t == t
        assert len(restores_left(lab)) == 1 and len(records_left(lab)) == 1
        assert janitor_leftovers(lab) == [], "a clone whose run is alive is no leftover"
        with Reader(clone.dsn, clone.label, clone_of=clone.t) as reader:
            snap = reader.snapshot(f"{SCHEMA}.items", ("id",))
            ids = read_ids(reader, f"{SCHEMA}.items")
            assert reader.at == t
        # The writer check still holds on the clone: without clone_of it is a server not in recovery, refused.
        with pytest.raises(CannotRun, match="the writer"):
            Reader(clone.dsn, clone.label).__enter__()
    assert snap.rows == BEFORE and ids == list(range(1, BEFORE + 1))
    # Negative control: the estate's own reader, read now, has the rows after T the clone left out.
    with Reader(cluster(lab).replicas()[0].dsn(), "lab-pg's reader") as reader:
        assert reader.snapshot(f"{SCHEMA}.items", ("id",)).rows == BEFORE + AFTER
    assert restores_left(lab) == [] and records_left(lab) == []
    assert any("was deleted (seen gone)" in line for line in said), said


def test_naming_the_writer_or_a_reader_as_a_clone_is_refused(lab: Cli) -> None:
    """clone_of is no way around the writer check: a server running since before T is not a clone of T; nor is a
    server still in recovery (a clone not yet at T, or a reader)."""
    t = datetime.now(timezone.utc) - timedelta(seconds=1)
    with pytest.raises(CannotRun, match="before the clone's T"):
        Reader(cluster(lab).writer().dsn(), "lab-pg's writer", clone_of=t).__enter__()
    with pytest.raises(CannotRun, match="still recovering"):
        Reader(cluster(lab).replicas()[0].dsn(), "lab-pg's reader", clone_of=t).__enter__()


def test_the_clone_is_deleted_after_an_exception_inside_the_block(lab: Cli) -> None:
    wait_lab_age(lab, 20)
    t = rows_on_both_sides_of_t(lab, "failing")
    cfg = lab.config.for_env("lab")
    said: list[str] = []
    with pytest.raises(RuntimeError, match="the export failed"):
        with clone_at(cfg, cfg.env("lab"), "localpg:lab-pg", t, said.append):
            assert len(restores_left(lab)) == 1
            raise RuntimeError("the export failed")
    assert restores_left(lab) == [] and records_left(lab) == []
    assert any("was deleted (seen gone)" in line for line in said), said


KILLED_RUN = """
import sys, time
from datetime import datetime
from pathlib import Path
from ops import config
from ops.etl.clone import clone_at
from ops.proc import interruptible

config_path, lab_dir, source, at, secret = sys.argv[1:6]
cfg = config.load(Path(config_path), environ={"DBOPS_LAB_DIR": lab_dir}).for_env("lab")
when = None if at == "latest" else datetime.fromisoformat(at)
with interruptible():  # as the CLI runs it: the first SIGINT or SIGTERM raises KeyboardInterrupt
    with clone_at(cfg, cfg.env("lab"), source, when, lambda m: print(m, flush=True), secret_arn=secret or None):
        print("CLONE READY", flush=True)
        time.sleep(120)
"""


def kill_inside_the_block(cli: Cli, source: str, at: str, secret: str = "", sig: int = signal.SIGKILL) -> str:
    """Run clone_at in a process of its own, send it `sig` once the clone is available; what it printed after."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(cli.config_path), str(cli.lab_dir), source, at, secret],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "CLONE READY" in line:
                break
        assert any("CLONE READY" in line for line in seen), "".join(seen) + (proc.stderr.read() if proc.stderr else "")
    finally:
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=120)
    return rest


def test_ctrl_c_inside_the_block_deletes_the_clone_and_says_so(lab: Cli) -> None:
    wait_lab_age(lab, 20)
    t = rows_on_both_sides_of_t(lab, "interrupted")
    said = kill_inside_the_block(lab, "localpg:lab-pg", t.isoformat(), sig=signal.SIGINT)
    assert "was deleted (seen gone)" in said, said
    assert restores_left(lab) == [] and records_left(lab) == []


def test_a_clone_left_by_a_killed_run_is_found_and_deleted_by_the_janitor(lab: Cli) -> None:
    wait_lab_age(lab, 20)
    t = rows_on_both_sides_of_t(lab, "killed")
    kill_inside_the_block(lab, "localpg:lab-pg", t.isoformat())
    left = restores_left(lab)
    assert len(left) == 1, "a killed run cannot delete its clone"
    [found] = janitor_leftovers(lab)
    assert found["why"] == "its drill process is gone" and found["drill_id"] == left[0].name
    assert restores_left(lab) == left, "--dry-run deletes nothing"
    swept = lab("janitor")
    assert swept.exit_code == 0, swept.output
    assert restores_left(lab) == [] and records_left(lab) == []


@pytest.mark.parametrize("shift, says", [(timedelta(days=400), "before the earliest restorable time"),
                                         (-timedelta(hours=1), "is not in the past")])
def test_a_t_outside_the_restorable_window_is_one_line_exit_2_and_creates_nothing(lab: Cli, shift: timedelta, says: str) -> None:
    cfg = lab.config.for_env("lab")
    said: list[str] = []
    with pytest.raises(UsageError) as caught:
        with clone_at(cfg, cfg.env("lab"), "localpg:lab-pg", datetime.now(timezone.utc) - shift, said.append):
            pytest.fail("no clone is made for a T outside the window")
    assert caught.value.exit_code == 2 and says in str(caught.value) and "\n" not in str(caught.value)
    assert said == [] and restores_left(lab) == [] and records_left(lab) == []


def test_a_localpg_source_needs_an_explicit_t(lab: Cli) -> None:
    cfg = lab.config.for_env("lab")
    with pytest.raises(UsageError, match="explicit time only: give --at"):
        with clone_at(cfg, cfg.env("lab"), "localpg:lab-pg", None, lambda _: None):
            pytest.fail("lab-pg recovers to an explicit time")
    assert restores_left(lab) == []


# --- Aurora (the lab's: real servers behind the RDS API) ----------------------------------------------------------

AURORA = "etl-aur"
AUR_USER, AUR_PASSWORD = "dbops", "etl-aurora-Pa55word"


@pytest.fixture(scope="module")
def aurora_lab(pg_available) -> Iterator[tuple[Cli, Aws, str]]:  # type: ignore[no-untyped-def]
    """A lab of its own with a one-instance aurora-postgresql cluster made through boto3, and its master secret."""
    root = traversable_tmpdir("dbops-etl-aur-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    aws = Aws.for_env(cli.config, cli.config.env("lab"))
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier=AURORA, Engine="aurora-postgresql", EngineVersion="15.4", MasterUsername=AUR_USER,
                          MasterUserPassword=AUR_PASSWORD, DatabaseName="app", BackupRetentionPeriod=7, StorageEncrypted=True)
    rds.create_db_instance(DBInstanceIdentifier=f"{AURORA}-1", DBClusterIdentifier=AURORA, Engine="aurora-postgresql",
                           DBInstanceClass="db.t3.medium")
    endpoint = rds.describe_db_clusters(DBClusterIdentifier=AURORA)["DBClusters"][0]["Endpoint"]
    arn = aws.client("secretsmanager").create_secret(Name=f"{AURORA}/master", SecretString=json.dumps(
        {"username": AUR_USER, "password": AUR_PASSWORD, "host": endpoint, "port": 5432, "dbname": "app"}))["ARN"]
    yield cli, aws, arn
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def aurora_cluster(aws: Aws) -> dict[str, Any]:
    return aws.client("rds").describe_db_clusters(DBClusterIdentifier=AURORA)["DBClusters"][0]


def restore_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The parameters of every RestoreDBClusterToPointInTime request the code under test sends (observed, not changed)."""
    sent: list[dict[str, Any]] = []
    plain = Aws.client

    def client(self: Aws, service: str, *args: Any, **kwargs: Any) -> Any:
        made = plain(self, service, *args, **kwargs)
        if service == "rds":
            made.meta.events.register("provide-client-params.rds.RestoreDBClusterToPointInTime",
                                      lambda params, **_: sent.append(dict(params)))
        return made

    monkeypatch.setattr(Aws, "client", client)
    return sent


def test_an_aurora_clone_of_the_latest_restorable_time_is_copy_on_write_and_read_as_a_clone(
        aurora_lab: tuple[Cli, Aws, str], monkeypatch: pytest.MonkeyPatch) -> None:
    cli, aws, arn = aurora_lab
    writer = aurora_cluster(aws)["Endpoint"]
    with psycopg.connect(make_conninfo(host=writer, port=5432, user=AUR_USER, password=AUR_PASSWORD, dbname="app",
                                       sslmode="require", connect_timeout=3), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.items (id bigint PRIMARY KEY, side text NOT NULL)")
        conn.execute(f"INSERT INTO {SCHEMA}.items SELECT i, 'before' FROM generate_series(1, {BEFORE}) i")
        committed = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    # The rows are in a copy of the latest restorable time once the archive holds them (archive_timeout 10 s).
    deadline = time.monotonic() + 60
    while (aurora_cluster(aws).get("LatestRestorableTime") or committed) <= committed and time.monotonic() < deadline:
        time.sleep(1)
    sent = restore_calls(monkeypatch)
    cfg = cli.config.for_env("lab")
    said: list[str] = []
    with clone_at(cfg, cfg.env("lab"), f"aurora:{AURORA}", None, said.append, secret_arn=arn) as clone:
        [request] = sent
        assert request["RestoreType"] == "copy-on-write" and request["UseLatestRestorableTime"] is True
        assert "RestoreToTime" not in request
        clusters = {c["DBClusterIdentifier"]: c for c in aws.client("rds").describe_db_clusters()["DBClusters"]}
        [name] = [n for n in clusters if n != AURORA]
        clone_id = {t["Key"]: t["Value"] for t in clusters[name]["TagList"]}["dbops:drill-id"]
        # RDS keeps identifiers in lower case; the tag keeps the id as it was given.
        assert name == request["DBClusterIdentifier"].lower() and clone_id.startswith("etl-") and name.endswith(f"-{clone_id.lower()}")
        assert committed < clone.t <= aurora_cluster(aws)["LatestRestorableTime"]
        with Reader(clone.dsn, clone.label, clone_of=clone.t) as reader:
            assert reader.snapshot(f"{SCHEMA}.items", ("id",)).rows == BEFORE
            assert reader.at == clone.t
    assert any("at most" in line and "db.t4g.medium" in line and "VolumeBytesUsed" in line for line in said), said
    assert [c["DBClusterIdentifier"] for c in aws.client("rds").describe_db_clusters()["DBClusters"]] == [AURORA]
    assert not list(lab_ledger(cli.lab_dir).records())


def test_an_aurora_clone_above_the_drill_cost_policy_is_refused_creating_nothing(aurora_lab: tuple[Cli, Aws, str]) -> None:
    cli, aws, arn = aurora_lab
    cfg = cli.config.for_env("lab").with_policy(max_drill_cost_usd=0.01)
    with pytest.raises(UsageError) as caught:
        with clone_at(cfg, cfg.env("lab"), f"aurora:{AURORA}", None, lambda _: None, secret_arn=arn):
            pytest.fail("a clone above the policy's cost is never made")
    line = str(caught.value)
    assert "above --max-cost 0.01 USD" in line and "1 x db.t4g.medium for 6.00 h" in line and "\n" not in line
    assert [c["DBClusterIdentifier"] for c in aws.client("rds").describe_db_clusters()["DBClusters"]] == [AURORA]
    assert not list(lab_ledger(cli.lab_dir).records())


def test_an_aurora_clone_left_by_a_killed_run_is_found_by_its_tags_when_its_record_is_gone(aurora_lab: tuple[Cli, Aws, str]) -> None:
    """The record is one way the janitor finds a clone; the tags on the cluster are the other, for a record that
    cannot be read or was lost. RDS keeps the cluster's identifier in lower case, the tag the id as given."""
    cli, aws, arn = aurora_lab
    rds = aws.client("rds")
    # A commit the archive holds before the clone is asked for (archive_timeout 10 s), as in the test above.
    writer = aurora_cluster(aws)["Endpoint"]
    with psycopg.connect(make_conninfo(host=writer, port=5432, user=AUR_USER, password=AUR_PASSWORD, dbname="app",
                                       sslmode="require", connect_timeout=3), autocommit=True) as conn:
        committed = conn.execute("SELECT clock_timestamp() FROM pg_catalog.txid_current() t").fetchone()[0]
    deadline = time.monotonic() + 60
    while (aurora_cluster(aws).get("LatestRestorableTime") or committed) <= committed and time.monotonic() < deadline:
        time.sleep(1)
    kill_inside_the_block(cli, f"aurora:{AURORA}", "latest", arn)
    [record] = lab_ledger(cli.lab_dir).records()
    lab_ledger(cli.lab_dir).delete_record(record.drill_id)
    result = cli("janitor", "--dry-run", "--json")
    [found] = [x for x in json.loads(result.stdout)["leftovers"] if x["kind"] == "aurora-cluster"]
    assert found["drill_id"] == record.drill_id and found["why"].startswith("its drill process is gone"), found
    deadline = time.monotonic() + 60
    while len(rds.describe_db_clusters()["DBClusters"]) > 1 and time.monotonic() < deadline:
        assert cli("janitor").exit_code in (0, 1)
        time.sleep(1)
    assert [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]] == [AURORA]
