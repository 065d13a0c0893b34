"""The janitor on an account: every page of every list is read, one resource that cannot be read or
deleted never stops the others and is named, and a failed read is never "nothing left"."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ops.aws import Aws
from ops.drills.common import DRILL_TAG, EXPIRES_TAG, new_drill_id
from ops.drills.restore import OWNER_TAG
from ops.janitor import _recovery_points
from ops.lease import Record, lab_ledger
from ops.targets.dynamodb import restored_table_name
from tests.conftest import Cli

DEAD_OWNER = "nohost-that-is-us:1:1"  # another host: the janitor goes by expiry there
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
VAULT = "dbops-vault"
VAULT_ARN = f"arn:aws:backup:us-east-1:123456789012:backup-vault:{VAULT}"


def past() -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def drill_tags(drill_id: str) -> list[dict[str, str]]:
    return [{"Key": DRILL_TAG, "Value": drill_id}, {"Key": EXPIRES_TAG, "Value": past()}, {"Key": OWNER_TAG, "Value": DEAD_OWNER}]


def ddb_client(cli: Cli) -> Any:
    cfg = cli.config
    return Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")


def make_table(ddb: Any, name: str, tags: list[dict[str, str]] | None = None) -> None:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     **({"Tags": tags} if tags else {}))


def drop_tables(ddb: Any, *names: str) -> None:
    for name in set(names) & set(ddb.list_tables()["TableNames"]):
        ddb.delete_table(TableName=name)


Rule = tuple[str, Callable[[dict], bool]]


@pytest.fixture
def refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Rule]]:
    """Operation name -> (error code, which calls): a matching call fails as AWS refuses it, after retries."""
    rules: dict[str, Rule] = {}
    original = Aws.client

    def refusing(self: Aws, service: str, region: str | None = None) -> Any:
        client = original(self, service, region)

        def refuse(params: dict, model: Any, **_: Any) -> None:
            rule = rules.get(model.name)
            if rule and rule[1](params):
                raise ClientError({"Error": {"Code": rule[0], "Message": "refused by the test"},
                                   "ResponseMetadata": {"HTTPStatusCode": 400}}, model.name)

        client.meta.events.register("before-parameter-build", refuse)
        return client

    monkeypatch.setattr(Aws, "client", refusing)
    yield rules
    rules.clear()


# --- every page ------------------------------------------------------------------------------


def test_a_drill_tag_on_the_second_page_of_a_tables_tags_is_found(lab: Cli) -> None:
    ddb = ddb_client(lab)
    drill = new_drill_id("restore")
    name = restored_table_name("jan-many-tags", drill)
    make_table(ddb, name, [{"Key": f"team-{i:02}", "Value": "app"} for i in range(10)] + drill_tags(drill))
    try:
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        first = ddb.list_tags_of_resource(ResourceArn=arn)
        assert "NextToken" in first and DRILL_TAG not in {t["Key"] for t in first["Tags"]}, "control: page 1 lacks the drill tag"
        result = lab("janitor", "--json")
        assert result.exit_code == 0, result.output
        assert drill in [x["drill_id"] for x in json.loads(result.stdout)["leftovers"]], result.output
        assert name not in ddb.list_tables()["TableNames"]
    finally:
        drop_tables(ddb, name)


def backup_stub() -> tuple[Any, Stubber]:
    client = boto3.client("backup", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def point(n: int) -> dict[str, Any]:
    return {"RecoveryPointArn": f"arn:aws:backup:us-east-1:123456789012:recovery-point:{n:08d}-aaaa-bbbb-cccc-dddddddddddd",
            "BackupVaultName": VAULT, "BackupVaultArn": VAULT_ARN, "Status": "COMPLETED", "ResourceType": "DynamoDB",
            "ResourceArn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders", "CreationDate": NOW - timedelta(days=2)}


def test_a_drill_tag_on_the_second_page_of_a_recovery_points_tags_is_found() -> None:
    """AWS Backup's ListTags pages with NextToken (botocore has no paginator for it); moto does not page it."""
    client, stub = backup_stub()
    drill = new_drill_id("restore")
    app, ours = point(1), point(2)
    expired = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stub.add_response("list_backup_vaults", {"BackupVaultList": [{"BackupVaultName": VAULT, "BackupVaultArn": VAULT_ARN,
                                                                  "NumberOfRecoveryPoints": 2}]}, {})
    stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [app], "NextToken": "rp-2"},
                      {"BackupVaultName": VAULT})
    stub.add_response("list_tags", {"Tags": {"team": "app"}}, {"ResourceArn": app["RecoveryPointArn"]})
    stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [ours]},
                      {"BackupVaultName": VAULT, "NextToken": "rp-2"})
    stub.add_response("list_tags", {"Tags": {"team": "app"}, "NextToken": "tags-2"}, {"ResourceArn": ours["RecoveryPointArn"]})
    stub.add_response("list_tags", {"Tags": {DRILL_TAG: drill, EXPIRES_TAG: expired, OWNER_TAG: DEAD_OWNER}},
                      {"ResourceArn": ours["RecoveryPointArn"], "NextToken": "tags-2"})
    stub.add_response("delete_recovery_point", {}, {"BackupVaultName": VAULT, "RecoveryPointArn": ours["RecoveryPointArn"]})
    unread: list[str] = []
    with stub:
        found = _recovery_points(SimpleNamespace(client=lambda _: client), False, NOW, set(), unread)
        assert [(x.name, x.drill_id) for x in found] == [(ours["RecoveryPointArn"], drill)]
        assert found[0].delete() is False, "deletion is asynchronous: seen gone on a later run"
    stub.assert_no_pending_responses()
    assert unread == []


# --- one that resists does not stop the others ---------------------------------------------------


def test_a_refused_deletion_or_read_is_named_and_the_others_are_still_removed(lab: Cli, refused: dict[str, Rule]) -> None:
    ddb = ddb_client(lab)
    drills = [new_drill_id("restore") for _ in range(3)]
    denied, throttled, plain = (restored_table_name(n, d) for n, d in zip(("jan-denied", "jan-throttled", "jan-plain"), drills))
    source = "jan-source"
    for name, drill in zip((denied, throttled, plain), drills):
        make_table(ddb, name, drill_tags(drill))
    recorded = new_drill_id("restore")
    restored = restored_table_name(source, recorded)
    make_table(ddb, source)  # the application's table: the record says the drill wrote markers into it
    make_table(ddb, restored)
    ledger = lab_ledger(lab.lab_dir)
    ledger.put_record(Record(recorded, f"dynamodb:{source}", "lab", DEAD_OWNER, past(), markers=True,
                             resources=[{"kind": "restore", "name": restored}]))
    refused["DeleteTable"] = ("AccessDeniedException", lambda p: p["TableName"] == denied)
    refused["ListTagsOfResource"] = ("ThrottlingException", lambda p: p["ResourceArn"].endswith(f"/{throttled}"))
    refused["DeleteItem"] = ("AccessDeniedException", lambda p: p["TableName"] == source)  # its markers
    try:
        result = lab("janitor", "--json")
        assert result.exit_code == 1, result.output
        out = json.loads(result.stdout)
        left = ddb.list_tables()["TableNames"]
        assert plain not in left and restored not in left, "removed although others were refused: " + result.output
        assert denied in left and throttled in left and source in left
        assert [r.drill_id for r in ledger.records() if r.drill_id == recorded], "its markers are not known gone: the record stays"
        assert len(out["not_deleted"]) == out["failed"] == 2, out
        assert any(f"dynamodb-table {denied} " in x and "AccessDenied" in x for x in out["not_deleted"]), out
        assert any(f"drill-record dynamodb:{source} " in x and "DeleteItem" in x for x in out["not_deleted"]), out
        assert len(out["unread"]) == 1 and throttled in out["unread"][0] and "Throttling" in out["unread"][0], out
        assert f"could not delete dynamodb-table {denied}" in result.stderr and "cannot tell" in result.stderr
        # Negative control: once nothing is refused, the next run removes the rest and is clean.
        refused.clear()
        again = lab("janitor", "--json")
        assert again.exit_code == 0, again.output
        assert not {denied, throttled, plain, restored} & set(ddb.list_tables()["TableNames"])
        assert recorded not in {r.drill_id for r in ledger.records()}
    finally:
        refused.clear()
        drop_tables(ddb, denied, throttled, plain, restored, source)
        ledger.delete_record(recorded)


def test_a_drill_tag_alone_on_a_table_of_another_name_is_not_enough_to_delete_it(lab: Cli) -> None:
    ddb = ddb_client(lab)
    drill = new_drill_id("restore")
    stray, other_drill = "jan-app-orders", restored_table_name("jan-src", new_drill_id("restore"))
    make_table(ddb, stray, drill_tags(drill))  # an application table carrying a copied drill tag
    make_table(ddb, other_drill, drill_tags(drill))  # named by one drill, tagged by another
    restored = restored_table_name("jan-src", drill)
    make_table(ddb, restored, drill_tags(drill))  # negative control: name and tag agree
    try:
        result = lab("janitor", "--include-unexpired", "--json")
        assert result.exit_code == 0, result.output
        left = set(ddb.list_tables()["TableNames"])
        assert {stray, other_drill} <= left and restored not in left, result.output
    finally:
        drop_tables(ddb, stray, other_drill, restored)


def test_nothing_of_a_drill_that_holds_its_targets_lease_is_touched(lab: Cli) -> None:
    ddb = ddb_client(lab)
    drill = new_drill_id("restore")
    restored = restored_table_name("jan-leased", drill)
    make_table(ddb, restored, drill_tags(drill))  # expired tags, owner on another host: would go
    ledger = lab_ledger(lab.lab_dir)
    try:
        with ledger.acquire("dynamodb:jan-leased", drill, hours=1):
            result = lab("janitor", "--include-unexpired", "--json")
            assert result.exit_code == 0, result.output
            assert restored in ddb.list_tables()["TableNames"]
            assert f"kept dynamodb-table {restored}: drill {drill} holds its target's lease" in result.stderr
        # Negative control: the lease released, the same leftover goes.
        assert lab("janitor", "--json").exit_code == 0
        assert restored not in ddb.list_tables()["TableNames"]
    finally:
        drop_tables(ddb, restored)


def test_an_aurora_cluster_no_record_vouches_for_is_deleted_with_a_final_snapshot() -> None:
    from ops.targets.aurora import delete_cluster_step

    rds = boto3.client("rds", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(rds)
    cluster = {"DBClusterIdentifier": "orders-restore-x", "Status": "available"}
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": "orders-restore-x"})
    stub.add_response("delete_db_cluster", {"DBCluster": cluster},
                      {"DBClusterIdentifier": "orders-restore-x", "FinalDBSnapshotIdentifier": "orders-restore-x-final"})
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": "orders-restore-x"})
    stub.add_response("delete_db_cluster", {"DBCluster": cluster},
                      {"DBClusterIdentifier": "orders-restore-x", "SkipFinalSnapshot": True})
    with stub:
        assert delete_cluster_step(rds, "orders-restore-x", [], "orders-restore-x-final") is False
        assert delete_cluster_step(rds, "orders-restore-x", []) is False  # a recorded restore: no snapshot
    stub.assert_no_pending_responses()


# --- a failed read is never "nothing left" -------------------------------------------------------


def test_a_refused_list_of_backup_vaults_is_cannot_tell_never_clean(lab: Cli, refused: dict[str, Rule]) -> None:
    clean = lab("janitor", "--json")
    assert clean.exit_code == 0, "control: the lab's vaults are listed: " + clean.output
    refused["ListBackupVaults"] = ("AccessDeniedException", lambda _: True)
    result = lab("janitor", "--json")
    assert result.exit_code == 4, result.output
    unread = json.loads(result.stdout)["unread"]
    assert len(unread) == 1 and "AWS Backup" in unread[0] and "AccessDenied" in unread[0], unread
    assert "cannot tell" in result.stderr


def test_an_endpoint_without_aws_backup_has_no_recovery_points_to_leave() -> None:
    """The one failed read that does mean none: an explicit 501 NotImplemented (an emulator without the service)."""
    client, stub = backup_stub()
    stub.add_client_error("list_backup_vaults", "NotImplemented", "not implemented", 501)
    unread: list[str] = []
    with stub:
        assert _recovery_points(SimpleNamespace(client=lambda _: client), False, NOW, set(), unread) == []
    assert unread == []
    client, stub = backup_stub()
    stub.add_client_error("list_backup_vaults", "AccessDeniedException", "not authorized", 403)
    with stub, pytest.raises(ClientError):  # any other failure is raised, for the janitor to report
        _recovery_points(SimpleNamespace(client=lambda _: client), False, NOW, set(), unread)


def test_an_aurora_recovery_points_tags_are_read_from_rds() -> None:
    """AWS Backup's ListTags may refuse an ARN it does not fully manage: an Aurora point is an RDS cluster snapshot."""
    client, stub = backup_stub()
    rds = boto3.client("rds", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    rds_stub = Stubber(rds)
    drill = new_drill_id("restore")
    arn = "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:awsbackup:job-0123456789abcdef"
    ours = dict(point(3), RecoveryPointArn=arn, ResourceType="Aurora")
    expired = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stub.add_response("list_backup_vaults", {"BackupVaultList": [{"BackupVaultName": VAULT, "BackupVaultArn": VAULT_ARN,
                                                                  "NumberOfRecoveryPoints": 1}]}, {})
    stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": [ours]}, {"BackupVaultName": VAULT})
    rds_stub.add_response("list_tags_for_resource", {"TagList": [{"Key": DRILL_TAG, "Value": drill}, {"Key": EXPIRES_TAG, "Value": expired},
                                                                 {"Key": OWNER_TAG, "Value": DEAD_OWNER}]}, {"ResourceName": arn})
    unread: list[str] = []
    with stub, rds_stub:
        found = _recovery_points(SimpleNamespace(client=lambda name: rds if name == "rds" else client), False, NOW, set(), unread)
    assert [(x.name, x.drill_id) for x in found] == [(arn, drill)] and unread == []
    stub.assert_no_pending_responses()
    rds_stub.assert_no_pending_responses()


def test_drill_id_removes_that_drills_unexpired_restore_and_nothing_else(lab: Cli) -> None:
    ddb = ddb_client(lab)
    future = (datetime.now(timezone.utc) + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    done, other = new_drill_id("restore"), new_drill_id("restore")
    kept = {d: restored_table_name("jan-kept", d) for d in (done, other)}
    for d, name in kept.items():  # kept in an incident: unexpired, owner "kept"
        make_table(ddb, name, [{"Key": DRILL_TAG, "Value": d}, {"Key": EXPIRES_TAG, "Value": future},
                               {"Key": OWNER_TAG, "Value": "kept"}])
    try:
        assert lab("janitor", "--json").exit_code == 0
        assert set(kept.values()) <= set(ddb.list_tables()["TableNames"]), "unexpired: kept by a plain run"
        result = lab("janitor", "--drill", done, "--json")
        assert result.exit_code == 0, result.output
        left = set(ddb.list_tables()["TableNames"])
        assert kept[done] not in left and kept[other] in left, result.output
    finally:
        drop_tables(ddb, *kept.values())


def test_drill_id_that_names_nothing_here_is_one_line_and_a_reported_one_is_not(lab: Cli) -> None:
    unknown, reported = new_drill_id("restore"), new_drill_id("restore")
    for result, fragments in ((lab("janitor", "--drill", unknown), (f"--drill {unknown}: no drill record, tagged resource or report",)),
                              (lab("janitor", "--drill", "restore-yesterday"), ("--drill 'restore-yesterday' is not a drill id",))):
        assert result.exit_code == 2, result.output
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and all(f in lines[0] for f in fragments), result.stderr
        assert "leftover(s) found" not in result.output
    # negative control: a drill that ran here (its report names it) and simply left nothing
    report_dir = lab.config.report_dir
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / f"{reported}.json"
    report.write_text(json.dumps({"details": {"drill_id": reported}}))
    try:
        result = lab("janitor", "--drill", reported)
        assert result.exit_code == 0, result.output
    finally:
        report.unlink()


def test_include_unexpired_leaves_a_restore_kept_on_purpose(lab: Cli) -> None:
    ddb = ddb_client(lab)
    future = (datetime.now(timezone.utc) + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    drill = new_drill_id("restore")
    crashed_drill = new_drill_id("restore")
    kept, crashed = restored_table_name("jan-incident", drill), restored_table_name("jan-crash", crashed_drill)
    make_table(ddb, kept, [{"Key": DRILL_TAG, "Value": drill}, {"Key": EXPIRES_TAG, "Value": future}, {"Key": OWNER_TAG, "Value": "kept"}])
    make_table(ddb, crashed, [{"Key": DRILL_TAG, "Value": crashed_drill}, {"Key": EXPIRES_TAG, "Value": future},
                              {"Key": OWNER_TAG, "Value": DEAD_OWNER}])
    try:
        result = lab("janitor", "--include-unexpired", "--json")
        assert result.exit_code == 0, result.output
        left = set(ddb.list_tables()["TableNames"])
        assert kept in left and crashed not in left, result.output  # negative control: the crashed drill's goes
        assert f"`dbops janitor --drill {drill}` removes it" in result.stderr
    finally:
        drop_tables(ddb, kept, crashed)


def test_leases_that_cannot_be_read_delete_nothing(lab: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.lease import FileLedger

    ddb = ddb_client(lab)
    drill = new_drill_id("restore")
    restored = restored_table_name("jan-blind", drill)
    make_table(ddb, restored, drill_tags(drill))

    def unreadable(self: object) -> list:
        raise PermissionError("leases: permission denied")

    monkeypatch.setattr(FileLedger, "holders", unreadable)
    try:
        result = lab("janitor", "--include-unexpired", "--json")
        assert result.exit_code == 4, result.output
        assert restored in ddb.list_tables()["TableNames"], "a running drill's restore cannot be told apart: kept"
        assert "nothing is deleted (listed only)" in result.stderr
        monkeypatch.undo()
        assert lab("janitor", "--json").exit_code == 0  # negative control: leases readable, it goes
        assert restored not in ddb.list_tables()["TableNames"]
    finally:
        drop_tables(ddb, restored)


def test_a_killed_latency_drills_role_is_dropped_once_its_validity_ended(lab: Cli) -> None:
    import psycopg

    from ops.lab.pg import pgcluster

    dsn = pgcluster.writer_dsn(lab.lab_dir)
    assert dsn is not None
    ended, valid = "dbops_ro_jan0ended", "dbops_ro_jan0valid"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {ended} LOGIN VALID UNTIL '2000-01-01' IN ROLE pg_read_all_data")
        conn.execute(f"CREATE ROLE {valid} LOGIN VALID UNTIL 'infinity' IN ROLE pg_read_all_data")
    try:
        result = lab("janitor", "--json")
        assert result.exit_code == 0, result.output
        with psycopg.connect(dsn, autocommit=True) as conn:
            left = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'dbops_ro_jan0%'")}
        assert left == {valid}, "the ended role goes; one still valid may be a running drill's"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in (ended, valid):
                conn.execute(f"DROP ROLE IF EXISTS {name}")


def test_keep_hours_leaves_an_incidents_young_restores_whatever_their_expiry(lab: Cli) -> None:
    ddb = ddb_client(lab)
    young = new_drill_id("restore")  # started now
    old = f"restore-{datetime.now(timezone.utc) - timedelta(hours=30):%Y%m%dT%H%M%SZ}-abc123"
    tables = {d: restored_table_name("jan-incident", d) for d in (young, old)}
    for d, name in tables.items():  # both expired by their tags, their drills gone: a plain run removes both
        make_table(ddb, name, drill_tags(d))
    try:
        result = lab("janitor", "--keep-hours", "24", "--json")
        assert result.exit_code == 0, result.output
        left = set(ddb.list_tables()["TableNames"])
        assert tables[young] in left and tables[old] not in left, result.output  # the 30 h old one is past the keep period
        assert f"its restore drill {young} started 0.0 h ago, within --keep-hours 24" in result.stderr
        assert [x["drill_id"] for x in json.loads(result.stdout)["leftovers"]] == [old]
        # Negative control: without --keep-hours, the young restore's expired tag is all there is to go by.
        result = lab("janitor", "--json")
        assert result.exit_code == 0 and tables[young] not in set(ddb.list_tables()["TableNames"]), result.output
    finally:
        drop_tables(ddb, *tables.values())


def test_keep_hours_keeps_a_young_restore_but_removes_the_markers_its_drill_wrote_into_the_source(lab: Cli) -> None:
    from ops.data import ddb_markers
    from ops.data.markers import MARKERS_PER_SIDE

    ddb = ddb_client(lab)
    drill = new_drill_id("restore")
    source, restored = "jan-marked", restored_table_name("jan-marked", drill)
    make_table(ddb, source)
    make_table(ddb, restored, drill_tags(drill))
    ddb.put_item(TableName=source, Item={"id": {"S": "order-1"}, "note": {"S": "the application's"}})
    ledger = lab_ledger(lab.lab_dir)
    ledger.put_record(Record(drill, f"dynamodb:{source}", "lab", DEAD_OWNER, past(), [{"kind": "dynamodb", "name": restored}],
                             markers=True))
    ddb_markers.write(ddb, ddb.describe_table(TableName=source)["Table"], drill, "before", MARKERS_PER_SIDE, interval_s=0)
    assert ddb.scan(TableName=source)["Count"] == 1 + MARKERS_PER_SIDE
    try:
        result = lab("janitor", "--keep-hours", "24")
        assert result.exit_code == 0, result.output
        assert [i["id"]["S"] for i in ddb.scan(TableName=source)["Items"]] == ["order-1"], "the markers go, the application's item stays"
        assert restored in ddb.list_tables()["TableNames"], "the young restore is kept"
        assert drill in {r.drill_id for r in ledger.records()}, "its record stays: it names the kept restore"
        # Negative control: once past --keep-hours (a plain run), the restore and the record go too.
        assert lab("janitor").exit_code == 0
        assert restored not in ddb.list_tables()["TableNames"] and drill not in {r.drill_id for r in ledger.records()}
    finally:
        drop_tables(ddb, source, restored)
        ledger.delete_record(drill)


def test_keep_hours_with_drill_is_one_line_and_deletes_nothing(lab: Cli) -> None:
    ddb = ddb_client(lab)
    drill = new_drill_id("restore")
    name = restored_table_name("jan-both", drill)
    make_table(ddb, name, drill_tags(drill))
    try:
        result = lab("janitor", "--drill", drill, "--keep-hours", "24")
        assert result.exit_code == 2, result.output
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "--keep-hours" in lines[0] and "Traceback" not in result.output, result.output
        assert name in ddb.list_tables()["TableNames"]
    finally:
        drop_tables(ddb, name)
