"""Whose data is this? A drill writes only its own items, never scans or deletes the application's,
and whatever a killed drill left is found and removed by the janitor."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

from ops.aws import Aws
from ops.data import ddb_markers
from ops.data.markers import MARKERS_PER_SIDE
from ops.drills.common import DRILL_TAG, new_drill_id
from ops.drills.restore import RestoreOptions, run_restore
from ops.errors import CannotRun
from ops.lab.aws import emulator, settings
from ops.lease import Record, lab_ledger
from ops.report import Journal
from ops.targets import parse_target
from ops.targets.aurora import AuroraRestore, AuroraTarget
from ops.targets.dynamodb import restored_table_name
from tests.conftest import Cli

DEAD_OWNER = "nohost-that-is-us:1:1"  # another host: the janitor goes by expiry there


def ddb_client(cli: Cli) -> Any:
    cfg = cli.config
    return Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")


def make_table(ddb: Any, name: str, key_type: str, range_type: str | None = None) -> None:
    schema = [{"AttributeName": "id", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "id", "AttributeType": key_type}]
    if range_type:
        schema.append({"AttributeName": "at", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "at", "AttributeType": range_type})
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST")
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def everything(ddb: Any, name: str) -> list[dict]:
    """The application's items (the lab's heartbeat writes marker items of its own into tables with PITR)."""
    items = [i for i in ddb.scan(TableName=name)["Items"] if i.get("dbops_marker", {}).get("S") != "heartbeat"]
    return sorted(items, key=json.dumps)


@pytest.fixture
def numeric_table(lab: Cli) -> Iterator[str]:
    ddb = ddb_client(lab)
    make_table(ddb, "numeric-orders", "N")
    for i in range(1, 21):
        ddb.put_item(TableName="numeric-orders", Item={"id": {"N": str(i)}, "total": {"N": str(100 + i)}, "note": {"S": f"order {i}"}})
    endpoint = emulator.endpoint(lab.lab_dir)
    assert endpoint is not None
    settings.remote(endpoint, {"ddb_restorable_lag_s": 0.2})  # restorable almost at once, not five minutes later
    yield "numeric-orders"
    settings.remote(endpoint, {"ddb_restorable_lag_s": 300})
    ddb.delete_table(TableName="numeric-orders")


def test_a_drill_on_a_numeric_key_table_leaves_application_items_1_to_20_unchanged(lab: Cli, numeric_table: str) -> None:
    ddb = ddb_client(lab)
    before = everything(ddb, numeric_table)
    result = lab("drill", "restore", f"dynamodb:{numeric_table}", "--latest", "--json")
    checks = {c["id"]: c["status"] for c in json.loads(result.stdout)["checks"]}
    assert checks["ROWS-BEFORE-T-PRESENT"] == checks["ROWS-AFTER-T-ABSENT"] == "pass", result.output
    assert everything(ddb, numeric_table) == before, "no application item was overwritten or deleted"
    assert ddb.list_tables()["TableNames"].count(numeric_table) == 1 and not [
        t for t in ddb.list_tables()["TableNames"] if t.startswith(f"{numeric_table}-restore-")]


def test_a_marker_never_overwrites_or_deletes_an_item_it_did_not_write(lab: Cli, numeric_table: str) -> None:
    """Negative control: an application item that happens to sit on a marker's key."""
    ddb = ddb_client(lab)
    table = ddb.describe_table(TableName=numeric_table)["Table"]
    drill_id = new_drill_id("restore")
    squatter = ddb_markers.key_for(table, drill_id, "before", 1) | {"owner": {"S": "the application"}}
    ddb.put_item(TableName=numeric_table, Item=squatter)
    with pytest.raises(CannotRun, match="already exists"):
        ddb_markers.write(ddb, table, drill_id, "before", 3, interval_s=0)
    assert ddb_markers.remove(ddb, table, drill_id, MARKERS_PER_SIDE) == 0
    kept = ddb.get_item(TableName=numeric_table, Key=ddb_markers.key_for(table, drill_id, "before", 1))["Item"]
    assert kept["owner"]["S"] == "the application"


def test_marker_keys_stay_out_of_the_applications_key_space() -> None:
    table = {"TableName": "t", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
             "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}, {"AttributeName": "at", "AttributeType": "S"}]}
    keys = ddb_markers.keys(table, new_drill_id("restore"), MARKERS_PER_SIDE)
    numbers = [int(k["id"]["N"]) for k in keys]
    assert all(n < -9 * 10**37 and len(str(-n)) == 38 for n in numbers), "negative 38-digit numbers, within DynamoDB's precision"
    assert len(set(numbers)) == len(numbers)
    assert all(k["at"]["S"].startswith("dbops-marker#") for k in keys)


def test_a_restore_drill_never_scans_the_source_table(lab: Cli, numeric_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scanned: list[str] = []
    original = Aws.client

    def spying(self: Aws, service: str, region: str | None = None) -> Any:
        client = original(self, service, region)
        if service == "dynamodb":
            client.meta.events.register("before-parameter-build.dynamodb.Scan", lambda params, **_: scanned.append(params["TableName"]))
        return client

    monkeypatch.setattr(Aws, "client", spying)
    result = lab("drill", "restore", f"dynamodb:{numeric_table}", "--latest", "--json")
    assert json.loads(result.stdout)["details"]["drill_id"]
    assert numeric_table not in scanned, scanned
    # Negative control: the spy does see a scan when there is one.
    spying(Aws.for_env(lab.config, lab.config.env("lab")), "dynamodb").scan(TableName=numeric_table, Limit=1)
    assert numeric_table in scanned


def test_the_janitor_finds_an_untagged_restored_table_by_its_record_and_its_name(lab: Cli, numeric_table: str) -> None:
    """A drill killed between RestoreTableToPointInTime and TagResource leaves an untagged table."""
    ddb = ddb_client(lab)
    ledger = lab_ledger(lab.lab_dir)
    recorded, unrecorded = new_drill_id("restore"), new_drill_id("restore")
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for drill_id in (recorded, unrecorded):
        ddb.restore_table_to_point_in_time(SourceTableName=numeric_table, TargetTableName=restored_table_name(numeric_table, drill_id),
                                           UseLatestRestorableTime=True)
    ledger.put_record(Record(recorded, f"dynamodb:{numeric_table}", "lab", DEAD_OWNER, past,
                             resources=[{"kind": "restore", "name": restored_table_name(numeric_table, recorded)}]))
    plain = json.loads(lab("janitor", "--json").stdout)["leftovers"]
    assert [x["drill_id"] for x in plain] == [recorded]
    names = ddb.list_tables()["TableNames"]
    assert restored_table_name(numeric_table, recorded) not in names
    assert restored_table_name(numeric_table, unrecorded) in names, "unrecorded and untagged: kept unless asked"
    asked = json.loads(lab("janitor", "--include-unexpired", "--json").stdout)["leftovers"]
    assert [x["drill_id"] for x in asked] == [unrecorded]
    assert restored_table_name(numeric_table, unrecorded) not in ddb.list_tables()["TableNames"]
    assert not list(ledger.records())


def test_the_janitor_removes_markers_a_killed_drill_left_in_the_source(lab: Cli, numeric_table: str) -> None:
    ddb = ddb_client(lab)
    table = ddb.describe_table(TableName=numeric_table)["Table"]
    app_items = everything(ddb, numeric_table)
    drill_id = new_drill_id("restore")
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lab_ledger(lab.lab_dir).put_record(Record(drill_id, f"dynamodb:{numeric_table}", "lab", DEAD_OWNER, past, markers=True))
    ddb_markers.write(ddb, table, drill_id, "before", MARKERS_PER_SIDE, interval_s=0)
    assert len(everything(ddb, numeric_table)) == len(app_items) + MARKERS_PER_SIDE
    assert lab("janitor").exit_code == 0
    assert everything(ddb, numeric_table) == app_items


def creating(aws: Aws) -> Any:
    """An RDS client for the lab's CreateDBInstance, which answers once the instance's server is up (initdb and
    start: past the 10 s read timeout on a busy machine): sent once and waited for, never retried into DBInstanceAlreadyExists."""
    return Aws(region=aws.region, endpoint_url=aws.endpoint_url, read_timeout=120, max_attempts=1).client("rds")


class InterruptedWhileWaiting(AuroraRestore):
    def wait_restored(self, handle, timeout, progress):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt("Ctrl-C while the restored instance is being created")


def test_an_aurora_restore_interrupted_while_waiting_deletes_what_it_created(lab: Cli) -> None:
    cfg = lab.config
    aws = Aws.for_env(cfg, cfg.env("lab"))
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="wait-src", Engine="aurora-postgresql", EngineVersion="15.4",
                          MasterUsername="dbops", ManageMasterUserPassword=True, BackupRetentionPeriod=7)
    creating(aws).create_db_instance(DBInstanceIdentifier="wait-src-1", DBClusterIdentifier="wait-src", Engine="aurora-postgresql",
                           DBInstanceClass="db.t3.medium")
    try:
        target = InterruptedWhileWaiting(AuroraTarget(parse_target("aurora:wait-src"), aws))
        drill_id = new_drill_id("restore")
        report = run_restore(target, RestoreOptions(latest=True), Journal("restore", "aurora:wait-src", "lab", echo=None),
                             drill_id, lab_ledger(lab.lab_dir))
        assert report.status == "aborted"
        assert report.details["restored_target_deleted"] is True, report.details
        assert "deleted (seen gone)" in report.summary
        left = [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]
                if any(t["Key"] == DRILL_TAG for t in c.get("TagList", []))]
        assert left == [], left
        assert drill_id not in {r.drill_id for r in lab_ledger(lab.lab_dir).records()}
    finally:
        rds.delete_db_instance(DBInstanceIdentifier="wait-src-1", SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier="wait-src", SkipFinalSnapshot=True)


def test_a_latency_drill_on_an_aurora_reader_drops_its_role_and_the_janitor_drops_expired_ones_on_aurora(lab: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Aurora's master user is not a superuser: DROP OWNED BY a role it is not a member of is denied. The drill's
    role still goes at the end, and roles a drill could not drop are found on the Aurora writer by the janitor."""
    import psycopg

    cfg = lab.config
    aws = Aws.for_env(cfg, cfg.env("lab"))
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="ro-src", Engine="aurora-postgresql", EngineVersion="15.4",
                          MasterUsername="dbops", ManageMasterUserPassword=True, BackupRetentionPeriod=7, DatabaseName="app")
    for i in (1, 2):
        creating(aws).create_db_instance(DBInstanceIdentifier=f"ro-src-{i}", DBClusterIdentifier="ro-src", Engine="aurora-postgresql",
                               DBInstanceClass="db.t3.medium", PromotionTier=i)
    try:
        dsn = AuroraTarget(parse_target("aurora:ro-src"), aws).writer_dsn()
        assert dsn

        def roles() -> set[str]:
            with psycopg.connect(dsn, autocommit=True) as conn:
                assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
                return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'dbops\\_ro\\_%'")}

        script = tmp_path / "one.sql"
        script.write_text("SELECT 1;\n")
        result = lab("drill", "latency", "aurora:ro-src", "--workload", str(script), "--rate", "10", "--clients", "1",
                     "--time", "2", "--endpoint", "reader", "--query-class", "general", "--json")
        report = json.loads(result.stdout)
        assert report["details"]["server_in_recovery"] is True and report["details"].get("workload_role"), result.stdout[-2000:]
        assert "LAT-CLEANUP" not in {c["id"] for c in report["checks"]}, report["checks"]
        assert roles() == set(), "the drill's read-only role is dropped at its end"

        # Roles drills could not drop: one owning nothing, one granted a table (DROP OWNED is needed), one still valid.
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE ROLE dbops_ro_gone1 LOGIN VALID UNTIL '2001-01-01'")
            conn.execute("CREATE ROLE dbops_ro_gone2 LOGIN VALID UNTIL '2001-01-01'")
            conn.execute("CREATE TABLE IF NOT EXISTS janitor_granted (id int)")
            conn.execute("GRANT SELECT ON janitor_granted TO dbops_ro_gone2")
            conn.execute("CREATE ROLE dbops_ro_valid LOGIN VALID UNTIL 'infinity'")
        swept = lab("janitor")
        assert swept.exit_code == 0, swept.output
        assert "deleted workload-role aurora:ro-src role dbops_ro_gone1" in swept.output, swept.output
        assert "deleted workload-role aurora:ro-src role dbops_ro_gone2" in swept.output, swept.output
        assert roles() == {"dbops_ro_valid"}, "negative control: a role still valid may be a running drill's"
    finally:
        for i in (1, 2):
            rds.delete_db_instance(DBInstanceIdentifier=f"ro-src-{i}", SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier="ro-src", SkipFinalSnapshot=True)
