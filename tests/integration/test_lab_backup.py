"""AWS Backup in the lab: jobs, recovery points and restore jobs through boto3, the checks that read
them (with a fault switch for each), and `backup verify --restore-latest` restoring recovery
points and checking rows.

One lab for the module (the emulator; no lab-pg: nothing here needs it), with the estate the lab
Terraform env makes, built with boto3: a CMK, a vault encrypted with it, plan `dbops-lab`
selecting by the tag backup=dbops (table `orders`, cluster `lab-aurora`), plan `by-arn` selecting
table `sessions` by ARN, and table `loose` that no plan covers.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError

from ops.aws import Aws, paged
from ops.checks import collect
from ops.drills.common import DRILL_TAG, new_drill_id
from ops.drills.recovery_point_restore import run_point_restore
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from ops.lab.aws.backup_selections import selects
from ops.lease import lab_ledger
from ops.report import Journal
from ops.targets import parse_target, recovery_point
from ops.targets.aurora import AuroraRestore, AuroraTarget
from ops.targets.dynamodb import DynamoTarget
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.faults.helpers import read_until, spawn

VAULT = "dbops-lab"
TABLES = ("orders", "sessions", "loose")
CLUSTER = "lab-aurora"
USER, PASSWORD = "dbops", "lab-backup-Pa55word"


@dataclass
class Estate:
    cli: Cli
    aws: Aws
    key: str
    role: str
    plan: str
    by_arn: str
    secret: str

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    def arn(self, target: str) -> str:
        ref = parse_target(target)
        if ref.kind == "dynamodb":
            return self.client("dynamodb").describe_table(TableName=ref.name)["Table"]["TableArn"]
        return self.client("rds").describe_db_clusters(DBClusterIdentifier=ref.name)["DBClusters"][0]["DBClusterArn"]

    def setting(self, **values: Any) -> None:
        settings.remote(emulator.endpoint(self.cli.lab_dir), values)  # type: ignore[arg-type]

    def backup(self, target: str, **extra: Any) -> dict[str, Any]:
        """StartBackupJob into the vault, waited for until it ended."""
        b = self.client("backup")
        job = b.start_backup_job(BackupVaultName=VAULT, ResourceArn=self.arn(target), IamRoleArn=self.role, **extra)
        return wait_job(b, job["BackupJobId"])


def wait_job(backup: Any, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = backup.describe_backup_job(BackupJobId=job_id)
        if job["State"] not in ("CREATED", "PENDING", "RUNNING", "ABORTING") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def wait_restore_job(backup: Any, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = backup.describe_restore_job(RestoreJobId=job_id)
        if job["Status"] in ("COMPLETED", "FAILED", "ABORTED") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def build(aws: Aws) -> dict[str, str]:
    kms, iam, b, ddb, rds, sm = (aws.client(s) for s in ("kms", "iam", "backup", "dynamodb", "rds", "secretsmanager"))
    key = kms.create_key(Description="dbops-lab")["KeyMetadata"]["Arn"]
    role = iam.create_role(RoleName="dbops-lab-backup", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    b.create_backup_vault(BackupVaultName=VAULT, EncryptionKeyArn=key)
    tagged = [{"Key": "backup", "Value": "dbops"}]
    for name in TABLES:
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                         SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
                         **({"Tags": tagged} if name == "orders" else {}))
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        for i in range(20):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"order-{i}"}, "total": {"N": str(i)}})
    # As the Terraform module makes it: a master password, kept in a secret the drills read; a security group of its own.
    ec2 = aws.client("ec2")
    sg = ec2.create_security_group(GroupName=f"{CLUSTER}-db", Description="the cluster's",
                                   VpcId=ec2.describe_vpcs()["Vpcs"][0]["VpcId"])["GroupId"]
    rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", EngineVersion="15.4", MasterUsername=USER,
                          MasterUserPassword=PASSWORD, DatabaseName="app", BackupRetentionPeriod=7, StorageEncrypted=True,
                          KmsKeyId=key, CopyTagsToSnapshot=True, Tags=tagged, VpcSecurityGroupIds=[sg])
    rds.create_db_instance(DBInstanceIdentifier=f"{CLUSTER}-1", DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql",
                           DBInstanceClass="db.t3.medium")
    endpoint = rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["Endpoint"]
    secret = sm.create_secret(Name=f"{CLUSTER}/master", SecretString=json.dumps(
        {"username": USER, "password": PASSWORD, "host": endpoint, "port": 5432, "dbname": "app"}))["ARN"]
    daily = {"RuleName": "daily", "TargetBackupVaultName": VAULT, "ScheduleExpression": "cron(0 5 * * ? *)",
             "StartWindowMinutes": 60, "CompletionWindowMinutes": 360,
             "Lifecycle": {"DeleteAfterDays": 7}, "RecoveryPointTags": {"env": "lab"}}
    plan = b.create_backup_plan(BackupPlan={"BackupPlanName": "dbops-lab", "Rules": [
        daily, {"RuleName": "continuous", "TargetBackupVaultName": VAULT, "EnableContinuousBackup": True,
                "Lifecycle": {"DeleteAfterDays": 7}}]})["BackupPlanId"]
    b.create_backup_selection(BackupPlanId=plan, BackupSelection={"SelectionName": "by-tag", "IamRoleArn": role, "ListOfTags": [
        {"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "dbops"}]})
    sessions = ddb.describe_table(TableName="sessions")["Table"]["TableArn"]
    by_arn = b.create_backup_plan(BackupPlan={"BackupPlanName": "by-arn", "Rules": [
        dict(daily, Lifecycle={"DeleteAfterDays": 3})]})["BackupPlanId"]
    b.create_backup_selection(BackupPlanId=by_arn, BackupSelection={"SelectionName": "sessions", "IamRoleArn": role,
                                                                   "Resources": [sessions]})
    return {"key": key, "role": role, "plan": plan, "by_arn": by_arn, "secret": secret}


@pytest.fixture(scope="module")
def estate(pg_available) -> Iterator[Estate]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-bk-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    try:
        cfg = cli.config
        aws = Aws.for_env(cfg, cfg.env("lab"))
        e = Estate(cli, aws, **build(aws))
        e.setting(backup_job_seconds=0.5, backup_restore_seconds=0.5, ddb_restorable_lag_s=1)  # the restore drills wait for it, not 5 minutes
        yield e
    finally:
        lab_core.down(cli.config, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


def findings(result: Any) -> dict[str, dict[str, str]]:
    return {c["id"]: c for c in json.loads(result.stdout)["checks"]}


def leftovers(e: Estate) -> dict[str, Any]:
    """What drills could leave: tables, clusters, drill records, recovery points tagged by a drill."""
    b = e.client("backup")
    drill_points = [p["RecoveryPointArn"] for p in b.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"]
                    if DRILL_TAG in b.list_tags(ResourceArn=p["RecoveryPointArn"])["Tags"]]
    return {"tables": sorted(e.client("dynamodb").list_tables()["TableNames"]),
            "clusters": [c["DBClusterIdentifier"] for c in e.client("rds").describe_db_clusters()["DBClusters"]],
            "records": [r.drill_id for r in lab_ledger(e.cli.lab_dir).records()], "drill_points": drill_points}


CLEAN = {"tables": sorted(TABLES), "clusters": [CLUSTER], "records": [], "drill_points": []}


# --- the plans' rules, jobs and recovery points ----------------------------------------------


def test_lab_backup_run_backs_up_what_the_plans_select_by_tag_and_by_arn(estate: Estate) -> None:
    e = estate
    result = e.cli("lab", "backup", "run", "--json")
    assert result.exit_code == 0, result.output
    jobs = {j["ResourceArn"]: j for j in json.loads(result.stdout)["jobs"]}
    assert set(jobs) == {e.arn("dynamodb:orders"), e.arn("dynamodb:sessions"), e.arn(f"aurora:{CLUSTER}")}, "loose is in no selection"
    assert "skipped rule continuous of plan dbops-lab" in result.stderr
    assert {j["State"] for j in jobs.values()} == {"COMPLETED"}
    assert jobs[e.arn("dynamodb:orders")]["CreatedBy"]["BackupPlanId"] == e.plan
    assert jobs[e.arn("dynamodb:sessions")]["CreatedBy"]["BackupPlanId"] == e.by_arn
    b = e.client("backup")
    for target, delete_after in (("dynamodb:orders", 7), ("dynamodb:sessions", 3), (f"aurora:{CLUSTER}", 7)):
        job = jobs[e.arn(target)]
        assert job["IamRoleArn"] == e.role and job["PercentDone"] == "100.0" and job["BackupSizeInBytes"] > 0
        assert job["CompletionDate"] >= job["CreationDate"] and job["ResourceType"] in ("DynamoDB", "Aurora")
        point = b.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=job["RecoveryPointArn"])
        assert point["Status"] == "COMPLETED" and point["ResourceArn"] == e.arn(target)
        assert point["IsEncrypted"] is True and point["EncryptionKeyArn"] == e.key  # the vault's key; the cluster's for Aurora
        assert point["Lifecycle"] == {"DeleteAfterDays": delete_after}
        assert point["CalculatedLifecycle"]["DeleteAt"] - point["CreationDate"] == timedelta(days=delete_after)
        assert b.list_tags(ResourceArn=job["RecoveryPointArn"])["Tags"] == {"env": "lab"}
        listed = b.list_recovery_points_by_resource(ResourceArn=e.arn(target))["RecoveryPoints"]
        assert job["RecoveryPointArn"] in [p["RecoveryPointArn"] for p in listed]
    assert jobs[e.arn("dynamodb:orders")]["RecoveryPointArn"].startswith("arn:aws:backup:us-east-1:123456789012:recovery-point:")
    aurora_point = jobs[e.arn(f"aurora:{CLUSTER}")]["RecoveryPointArn"]
    snapshot = aurora_point.split(":cluster-snapshot:", 1)[1]
    assert snapshot.startswith("awsbackup:job-")
    assert e.client("rds").describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot)["DBClusterSnapshots"]
    listed = e.client("dynamodb").list_backups(TableName="orders", BackupType="AWS_BACKUP")["BackupSummaries"]
    assert {s["BackupType"] for s in listed} == {"AWS_BACKUP"}
    by_plan = b.list_recovery_points_by_backup_vault(BackupVaultName=VAULT, ByBackupPlanId=e.by_arn)["RecoveryPoints"]
    assert {p["ResourceArn"] for p in by_plan} == {e.arn("dynamodb:sessions")}
    assert b.list_backup_jobs(ByResourceArn=e.arn("dynamodb:loose"))["BackupJobs"] == []


def test_list_backups_answers_each_backup_type_and_time_bound_as_the_api_reference_says(estate: Estate) -> None:
    e = estate
    ddb = e.client("dynamodb")
    # A table of its own: the module's tables keep the jobs the other tests expect.
    ddb.create_table(TableName="listing", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    first = ddb.create_backup(TableName="listing", BackupName="user-1")["BackupDetails"]
    second = ddb.create_backup(TableName="listing", BackupName="user-2")["BackupDetails"]
    job = e.backup("dynamodb:listing")
    assert job["State"] == "COMPLETED", job
    try:
        def listed(**kw: Any) -> list[str]:
            return [s["BackupName"] for s in paged(ddb, "list_backups", "BackupSummaries", TableName="listing", **kw)]

        by_aws_backup = listed(BackupType="AWS_BACKUP")
        assert len(by_aws_backup) == 1 and by_aws_backup[0].startswith("awsbackup-job-")
        assert listed() == listed(BackupType="USER") == ["user-1", "user-2"], "USER is the default"
        assert listed(BackupType="ALL") == ["user-1", "user-2"], "ALL is USER and SYSTEM"
        assert listed(BackupType="SYSTEM") == []
        at = first["BackupCreationDateTime"]
        assert "user-1" in listed(TimeRangeLowerBound=at), "the lower bound is inclusive"
        assert "user-1" not in listed(TimeRangeUpperBound=at), "the upper bound is exclusive"
        page = ddb.list_backups(TableName="listing", Limit=1)
        assert [s["BackupName"] for s in page["BackupSummaries"]] == ["user-1"]
        assert page["LastEvaluatedBackupArn"] == first["BackupArn"]
        rest = ddb.list_backups(TableName="listing", Limit=1, ExclusiveStartBackupArn=page["LastEvaluatedBackupArn"])
        assert [s["BackupName"] for s in rest["BackupSummaries"]] == ["user-2"]
        for body in ({"TableName": "listing", "TimeRangeLowerBound": 1e18}, {"TableName": "listing", "TimeRangeUpperBound": "soon"}):
            status, answer = raw_dynamodb(e, "ListBackups", body)  # values botocore would not send
            assert status == 400 and "ValidationException" in answer, (status, answer)
        for bad in ({"BackupType": "EVERY"}, {"Limit": 101}):  # botocore itself refuses Limit 0
            with pytest.raises(ClientError) as raised:
                ddb.list_backups(TableName="listing", **bad)
            assert raised.value.response["Error"]["Code"] == "ValidationException"
    finally:
        for arn in (first["BackupArn"], second["BackupArn"]):
            ddb.delete_backup(BackupArn=arn)
        ddb.delete_table(TableName="listing")


def raw_dynamodb(e: Estate, operation: str, body: dict[str, Any]) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    url = emulator.endpoint(e.cli.lab_dir)
    assert url is not None
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_backup_verify_sees_a_backup_aws_backup_made_that_the_default_listing_hides(estate: Estate) -> None:
    e = estate
    ddb = e.client("dynamodb")
    job = e.backup("dynamodb:sessions")
    assert job["State"] == "COMPLETED", job
    state = collect.dynamodb(e.client, "sessions", collect.backup_selections(e.client))
    types = {s["BackupType"] for s in state["backups"].value}
    assert "AWS_BACKUP" in types
    # Negative control: the call made before, without BackupType, lists USER backups only.
    assert "AWS_BACKUP" not in {s["BackupType"] for s in paged(ddb, "list_backups", "BackupSummaries",
                                                                               TableName="sessions")}
    checks = findings(e.cli("backup", "verify", "dynamodb:sessions", "--json"))
    newest = checks["BKP-DDB-NEWEST-BACKUP[dynamodb:sessions]"]
    assert newest["status"] == "pass" and "AWS_BACKUP" in newest["detail"], newest


def test_a_job_is_created_then_running_then_completed(estate: Estate) -> None:
    e = estate
    b = e.client("backup")
    e.setting(backup_job_seconds=3.0)
    try:
        started = b.start_backup_job(BackupVaultName=VAULT, ResourceArn=e.arn("dynamodb:orders"), IamRoleArn=e.role,
                                     Lifecycle={"DeleteAfterDays": 1})
        first = b.describe_backup_job(BackupJobId=started["BackupJobId"])
        assert first["State"] == "CREATED" and first["PercentDone"] == "0.0" and "CompletionDate" not in first
        time.sleep(1.2)
        running = b.describe_backup_job(BackupJobId=started["BackupJobId"])
        assert running["State"] == "RUNNING" and 0 < float(running["PercentDone"]) < 100
        point = b.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=started["RecoveryPointArn"])
        assert point["Status"] == "CREATING"
        done = wait_job(b, started["BackupJobId"])
    finally:
        e.setting(backup_job_seconds=0.5)
    assert done["State"] == "COMPLETED" and done["PercentDone"] == "100.0" and done["RecoveryPointArn"] == started["RecoveryPointArn"]
    assert "CreatedBy" not in done, "an on-demand job belongs to no plan"
    assert b.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=started["RecoveryPointArn"])["Status"] == "COMPLETED"


def test_list_backup_jobs_filters_and_pages(estate: Estate) -> None:
    e = estate
    b = e.client("backup")
    e.backup("dynamodb:sessions")
    e.backup("dynamodb:sessions")
    every = b.list_backup_jobs()["BackupJobs"]
    paged = [j for page in b.get_paginator("list_backup_jobs").paginate(PaginationConfig={"PageSize": 1}) for j in page["BackupJobs"]]
    assert [j["BackupJobId"] for j in paged] == [j["BackupJobId"] for j in every] and len(every) >= 2
    first = b.list_backup_jobs(MaxResults=1)
    assert len(first["BackupJobs"]) == 1 and first["NextToken"]
    sessions = b.list_backup_jobs(ByResourceArn=e.arn("dynamodb:sessions"))["BackupJobs"]
    assert len(sessions) >= 2 and {j["ResourceName"] for j in sessions} == {"sessions"}
    assert {j["ResourceType"] for j in b.list_backup_jobs(ByResourceType="DynamoDB")["BackupJobs"]} == {"DynamoDB"}
    assert b.list_backup_jobs(ByState="FAILED", ByResourceArn=e.arn("dynamodb:sessions"))["BackupJobs"] == []
    newest = max(j["CreationDate"] for j in every)
    assert b.list_backup_jobs(ByCreatedAfter=newest + timedelta(seconds=1))["BackupJobs"] == []
    assert len(b.list_backup_jobs(ByCreatedBefore=newest + timedelta(seconds=1))["BackupJobs"]) == len(every)
    assert b.list_backup_jobs(ByBackupVaultName="no-such-vault")["BackupJobs"] == []
    with pytest.raises(ClientError, match="InvalidParameterValueException"):
        b.list_backup_jobs(NextToken="not-a-token")
    with pytest.raises(ClientError, match="InvalidParameterValueException"):
        b.list_backup_jobs(MaxResults=1001)


def test_errors_are_the_services(estate: Estate) -> None:
    e = estate
    b = e.client("backup")
    orders = e.arn("dynamodb:orders")
    cases = [
        (lambda: b.start_backup_job(BackupVaultName="no-such-vault", ResourceArn=orders, IamRoleArn=e.role), "ResourceNotFoundException"),
        (lambda: b.start_backup_job(BackupVaultName=VAULT, ResourceArn=orders.replace("orders", "nothing"), IamRoleArn=e.role),
         "ResourceNotFoundException"),
        (lambda: b.start_backup_job(BackupVaultName=VAULT, ResourceArn="arn:aws:s3:::bucket", IamRoleArn=e.role),
         "InvalidParameterValueException"),
        (lambda: b.start_backup_job(BackupVaultName=VAULT, ResourceArn=orders, IamRoleArn=e.role,
                                    Lifecycle={"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 60}), "InvalidParameterValueException"),
        (lambda: b.describe_backup_job(BackupJobId="00000000-0000-0000-0000-000000000000"), "ResourceNotFoundException"),
        (lambda: b.describe_restore_job(RestoreJobId="00000000-0000-0000-0000-000000000000"), "ResourceNotFoundException"),
        (lambda: b.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn="arn:aws:backup:us-east-1:123456789012:recovery-point:X"),
         "ResourceNotFoundException"),
        (lambda: b.list_recovery_points_by_backup_vault(BackupVaultName="no-such-vault"), "ResourceNotFoundException"),
        (lambda: b.start_restore_job(RecoveryPointArn="arn:aws:backup:us-east-1:123456789012:recovery-point:X", Metadata={}),
         "ResourceNotFoundException"),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code, caught.value
    point = e.backup("dynamodb:orders")["RecoveryPointArn"]
    with pytest.raises(ClientError, match="MissingParameterValueException"):
        b.start_restore_job(RecoveryPointArn=point, Metadata={"encryptionType": "Default"}, IamRoleArn=e.role)
    with pytest.raises(ClientError, match="InvalidParameterValueException"):
        b.start_restore_job(RecoveryPointArn=point, Metadata={"targetTableName": "x"}, IamRoleArn=e.role, ResourceType="Aurora")


def test_a_dynamodb_recovery_point_holds_the_items_at_backup_time(estate: Estate) -> None:
    e = estate
    ddb, b = e.client("dynamodb"), e.client("backup")
    ddb.put_item(TableName="sessions", Item={"pk": {"S": "before-backup"}, "total": {"N": "1"}})
    point = e.backup("dynamodb:sessions")["RecoveryPointArn"]
    ddb.put_item(TableName="sessions", Item={"pk": {"S": "after-backup"}, "total": {"N": "2"}})
    ddb.put_item(TableName="sessions", Item={"pk": {"S": "before-backup"}, "total": {"N": "99"}})
    metadata = b.get_recovery_point_restore_metadata(BackupVaultName=VAULT, RecoveryPointArn=point)["RestoreMetadata"]
    assert metadata["targetTableName"] == "sessions" and metadata["encryptionType"] == "KMS" and metadata["kmsMasterKeyArn"] == e.key
    job_id = b.start_restore_job(RecoveryPointArn=point, Metadata={**metadata, "targetTableName": "sessions-copy"},
                                 IamRoleArn=e.role, ResourceType="DynamoDB")["RestoreJobId"]
    assert b.describe_restore_job(RestoreJobId=job_id)["Status"] == "PENDING"
    try:
        job = wait_restore_job(b, job_id)
        assert job["Status"] == "COMPLETED", job
        assert job["CreatedResourceArn"] == ddb.describe_table(TableName="sessions-copy")["Table"]["TableArn"]
        assert job["RecoveryPointCreationDate"] and job["CompletionDate"] >= job["CreationDate"] and job["IamRoleArn"] == e.role
        assert ddb.get_item(TableName="sessions-copy", Key={"pk": {"S": "before-backup"}})["Item"]["total"] == {"N": "1"}
        assert "Item" not in ddb.get_item(TableName="sessions-copy", Key={"pk": {"S": "after-backup"}})
        assert ddb.describe_table(TableName="sessions-copy")["Table"]["SSEDescription"]["KMSMasterKeyArn"] == e.key
        assert job_id in [r["RestoreJobId"] for r in b.list_restore_jobs(ByStatus="COMPLETED")["RestoreJobs"]]
        assert job_id not in [r["RestoreJobId"] for r in b.list_restore_jobs(ByStatus="FAILED")["RestoreJobs"]]
        assert b.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=point)["LastRestoreTime"]
    finally:
        ddb.delete_table(TableName="sessions-copy")
        ddb.delete_item(TableName="sessions", Key={"pk": {"S": "before-backup"}})
        ddb.delete_item(TableName="sessions", Key={"pk": {"S": "after-backup"}})
    b.delete_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=point)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            b.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=point)
            time.sleep(0.2)


# --- the checks that read them, each shown to fail ---------------------------------------------


def test_backup_verify_has_no_unknown_aws_backup_findings_after_lab_backup_run(estate: Estate) -> None:
    e = estate
    assert e.cli("lab", "backup", "run").exit_code == 0
    targets = [f"aurora:{CLUSTER}", "dynamodb:orders", "dynamodb:sessions"]
    result = e.cli("backup", "verify", *targets, "--json")
    checks = findings(result)
    aws_backup = {cid: c for cid, c in checks.items()
                  if any(k in cid for k in ("-COVERED[", "-LAST-JOB[", "-POINTS-ENCRYPTED[", "-NEWEST-BACKUP["))}
    assert len(aws_backup) == 3 * 3 + 2
    assert {cid: c["status"] for cid, c in aws_backup.items() if c["status"] != "pass"} == {}
    assert "unknown" not in {c["status"] for cid, c in checks.items() if "LAST-JOB" in cid or "POINTS" in cid}
    # Negative control: a table no job ever ran for fails, read as an answer, not unknown.
    loose = findings(e.cli("backup", "verify", "dynamodb:loose", "--json"))
    assert loose["BKP-DDB-LAST-JOB[dynamodb:loose]"]["status"] == "fail"
    assert "no AWS Backup job for it in the last 30 days" in loose["BKP-DDB-LAST-JOB[dynamodb:loose]"]["detail"]
    assert loose["BKP-DDB-POINTS-ENCRYPTED[dynamodb:loose]"]["status"] == "warn"


def test_a_waiver_in_the_config_turns_its_failure_into_a_warning_that_names_it(estate: Estate) -> None:
    root = traversable_tmpdir("dbops-waiver-")
    until = (datetime.now(timezone.utc) + timedelta(days=30)).date().isoformat()
    waiver = ('\n[[envs.lab.waivers]]\ncheck = "BKP-DDB-LAST-JOB"\ntarget = "dynamodb:loose"\n'
              f'reason = "loose is a scratch table no plan covers"\nexpires = {until}\n')
    waived = Cli(write_config(root, extra=waiver), estate.cli.lab_dir)
    try:
        found = findings(waived("backup", "verify", "dynamodb:loose", "--json"))["BKP-DDB-LAST-JOB[dynamodb:loose]"]
        assert found["status"] == "warn" and f"waived until {until}: loose is a scratch table" in found["detail"], found
        # Negative control: the same estate without the waiver.
        plain = findings(estate.cli("backup", "verify", "dynamodb:loose", "--json"))["BKP-DDB-LAST-JOB[dynamodb:loose]"]
        assert plain["status"] == "fail"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("target", ["dynamodb:orders", f"aurora:{CLUSTER}"])
@pytest.mark.parametrize("fault, check, words", [
    ("job-failed", "LAST-JOB", "is FAILED: Insufficient privileges to perform this action."),
    ("job-expired", "LAST-JOB", "is EXPIRED: Backup job expired before completion."),
    ("point-unencrypted", "POINTS-ENCRYPTED", "recovery points are not encrypted"),
])
def test_each_fault_fails_backup_verify(estate: Estate, target: str, fault: str, check: str, words: str) -> None:
    e = estate
    cid = f"BKP-{'DDB' if target.startswith('dynamodb') else 'AURORA'}-{check}[{target}]"
    set_ = e.cli("lab", "set", f"backup_fault={fault}")
    assert set_.exit_code == 0, set_.output
    job = e.backup(target)
    assert json.loads(e.cli("lab", "settings", "--json").stdout)["backup_fault"]["value"] == "none", "a fault is used once"
    try:
        result = e.cli("backup", "verify", target, "--json")
        assert result.exit_code == 1, result.output
        found = findings(result)[cid]
        assert found["status"] == "fail" and words in found["detail"], found
        if fault != "point-unencrypted":
            assert job.get("RecoveryPointArn") not in b_points(e, target), "a job that did not complete leaves no recovery point"
    finally:
        if fault == "point-unencrypted":
            b = e.client("backup")
            b.delete_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=job["RecoveryPointArn"])
            deadline = time.monotonic() + 10
            while job["RecoveryPointArn"] in b_points(e, target) and time.monotonic() < deadline:
                time.sleep(0.2)
    # Negative control: the next job has no fault, and the same check passes.
    following = e.backup(target)
    assert following["State"] == "COMPLETED", following.get("StatusMessage")
    assert findings(e.cli("backup", "verify", target, "--json"))[cid]["status"] == "pass"


def b_points(e: Estate, target: str) -> set[str]:
    return {p["RecoveryPointArn"] for p in e.client("backup").list_recovery_points_by_resource(ResourceArn=e.arn(target))["RecoveryPoints"]}


def test_a_bad_fault_name_is_refused_in_one_line(estate: Estate) -> None:
    result = estate.cli("lab", "set", "backup_fault=explode")
    assert result.exit_code == 2 and "backup_fault is one of none, job-failed" in result.output


# --- --restore-latest: restoring recovery points and checking rows ---------------------------


def test_restore_latest_restores_the_newest_recovery_point_and_checks_rows(estate: Estate) -> None:
    e = estate
    result = e.cli("backup", "verify", "dynamodb:orders", "--restore-latest", "--json")
    checks = findings(result)
    assert "BKP-RESTORE-LATEST[dynamodb:orders]" in checks, "the point-in-time restore drill runs beside it"
    rp = checks["BKP-RECOVERY-POINT-RESTORE[dynamodb:orders]"]
    assert rp["status"] == "pass", rp
    assert "10 rows before it present" in rp["detail"] and "after it absent" in rp["detail"] and "fingerprints match" in rp["detail"]
    for line in ("on-demand backup job", "into vault dbops-lab (plan dbops-lab, rule daily)", "restore job",
                 "orders-restore-", "was deleted (seen gone)"):
        assert line in result.stderr, line
    assert leftovers(e) == CLEAN
    b = e.client("backup")
    restore = b.list_restore_jobs()["RestoreJobs"][0]
    assert restore["Status"] == "COMPLETED" and ":table/orders-restore-" in restore["CreatedResourceArn"]


def test_restore_latest_judges_the_plans_last_job_before_its_own_backup_job_runs(estate: Estate) -> None:
    e = estate
    assert e.cli("lab", "set", "backup_fault=job-failed").exit_code == 0
    assert e.backup("dynamodb:sessions")["State"] == "FAILED"
    try:
        result = e.cli("backup", "verify", "dynamodb:sessions", "--restore-latest", "--json")
        checks = findings(result)
        assert checks["BKP-RECOVERY-POINT-RESTORE[dynamodb:sessions]"]["status"] == "pass", "the drill's own job completed"
        last = checks["BKP-DDB-LAST-JOB[dynamodb:sessions]"]
        assert last["status"] == "fail" and "is FAILED" in last["detail"], last
    finally:
        assert e.backup("dynamodb:sessions")["State"] == "COMPLETED"


def test_a_table_made_again_under_a_deleted_ones_name_does_not_inherit_its_backups(estate: Estate) -> None:
    e = estate
    ddb = e.client("dynamodb")

    def make() -> None:
        ddb.create_table(TableName="reborn", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        ddb.update_continuous_backups(TableName="reborn", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})

    make()
    ddb.create_backup(TableName="reborn", BackupName="before-delete")
    ddb.delete_table(TableName="reborn")
    make()
    try:
        listed = paged(ddb, "list_backups", "BackupSummaries", TableName="reborn", BackupType="ALL")
        assert {s["BackupType"] for s in listed} == {"USER", "SYSTEM"}, "the service lists the old table's backups by name"
        newest = findings(e.cli("backup", "verify", "dynamodb:reborn", "--json"))["BKP-DDB-NEWEST-BACKUP[dynamodb:reborn]"]
        assert newest["status"] == "warn" and "no on-demand backup" in newest["detail"], newest
    finally:
        for s in paged(ddb, "list_backups", "BackupSummaries", TableName="reborn", BackupType="ALL"):
            ddb.delete_backup(BackupArn=s["BackupArn"])
        ddb.delete_table(TableName="reborn")
        for s in paged(ddb, "list_backups", "BackupSummaries", TableName="reborn", BackupType="ALL"):
            ddb.delete_backup(BackupArn=s["BackupArn"])


def point_side(e: Estate, target: str) -> tuple[Any, Any]:
    ref = parse_target(target)
    if ref.kind == "dynamodb":
        restorable: Any = DynamoTarget(ref, e.aws)
    else:
        restorable = AuroraRestore(AuroraTarget(ref, e.aws, e.secret))
    side = recovery_point.from_restorable(restorable)
    return side, recovery_point.RecoveryPoints(e.client("backup"), side.arn)


def point_restore(e: Estate, target: str, spy: dict[str, Any] | None = None) -> Any:
    side, points = point_side(e, target)
    if spy is not None:
        usable = side.make_usable

        def make_usable(handle, tags, timeout, progress):  # type: ignore[no-untyped-def]
            usable(handle, tags, timeout, progress)
            spy["tags"] = side_tags(e, target, handle.name)
            if target.startswith("aurora"):
                rds = e.client("rds")
                spy["cluster"] = rds.describe_db_clusters(DBClusterIdentifier=handle.name)["DBClusters"][0]
                spy["instances"] = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [handle.name]}])["DBInstances"]

        side.make_usable = make_usable
    journal = Journal("restore", target, "lab", echo=None)
    report = run_point_restore(side, points, journal, new_drill_id("restore"), lab_ledger(e.cli.lab_dir), lambda _: None)
    return report, {c.id: c for c in report.checks}


def side_tags(e: Estate, target: str, name: str) -> dict[str, str]:
    if target.startswith("dynamodb"):
        ddb = e.client("dynamodb")
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        return {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    cluster = e.client("rds").describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return {t["Key"]: t["Value"] for t in cluster.get("TagList", [])}


@pytest.mark.parametrize("target", ["dynamodb:orders", f"aurora:{CLUSTER}"])
def test_a_recovery_point_restore_checks_rows_tags_and_deletes_what_it_made(estate: Estate, target: str) -> None:
    e = estate
    spy: dict[str, Any] = {}
    report, checks = point_restore(e, target, spy)
    assert report.status == "pass", report.summary
    for cid in ("RP-BACKUP-JOB", "RP-RESTORE-JOB", "RESTORE-TAGGED", "ROWS-BEFORE-T-PRESENT", "ROWS-AFTER-T-ABSENT", "ROWS-FINGERPRINT"):
        assert checks[cid].status == "pass", checks[cid]
    assert report.measurements["markers_before_t"] >= 10 and report.measurements["markers_after_t"] >= 10
    assert spy["tags"][DRILL_TAG] == report.details["drill_id"] and {"dbops:expires-at", "dbops:owner"} <= set(spy["tags"])
    assert report.details["recovery_point"]["made_by_this_run"] is True
    assert report.details["restored_target_deleted"] is True
    assert leftovers(e) == CLEAN
    if target.startswith("aurora"):
        # the same one instance as a point-in-time restore: a small class the version offers, never public,
        # in the source's subnet group, security groups and port
        source = e.client("rds").describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
        [instance] = spy["instances"]
        assert (instance["DBInstanceClass"], instance["PubliclyAccessible"]) == ("db.t4g.medium", False)
        for key in ("DBSubnetGroup", "Port", "VpcSecurityGroups"):
            assert spy["cluster"][key] == source[key], key


@pytest.mark.parametrize("target, fault, check", [
    ("dynamodb:orders", "restore-live-data", "ROWS-AFTER-T-ABSENT"),
    (f"aurora:{CLUSTER}", "restore-live-data", "ROWS-AFTER-T-ABSENT"),
    ("dynamodb:orders", "restore-failed", "RP-RESTORE-JOB"),
    ("dynamodb:orders", "job-failed", "RP-BACKUP-JOB"),
])
def test_a_restore_that_is_not_the_recovery_point_fails(estate: Estate, target: str, fault: str, check: str) -> None:
    """Negative controls: a restore of the live data shows rows written after the point; a failed job fails."""
    e = estate
    e.setting(backup_fault=fault)
    report, checks = point_restore(e, target)
    assert report.status == "fail" and checks[check].status == "fail", report.summary
    assert leftovers(e) == CLEAN, "what the drill made is deleted whatever the verdict"


def test_without_a_data_plane_the_rows_are_unknown_never_a_pass(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    e = estate
    monkeypatch.setattr(AuroraTarget, "has_data_plane", False)
    report, checks = point_restore(e, f"aurora:{CLUSTER}")
    assert checks["RP-RESTORE-JOB"].status == "pass"
    assert {checks[c].status for c in ("ROWS-BEFORE-T-PRESENT", "ROWS-AFTER-T-ABSENT", "ROWS-FINGERPRINT")} == {"unknown"}
    assert report.status == "inconclusive" and report.summary.startswith("INCONCLUSIVE (not measured: ROWS-")
    assert "NOT VERIFIED" in report.summary
    assert leftovers(e) == CLEAN


def test_a_resource_no_plan_covers_fails_the_recovery_point_restore(estate: Estate) -> None:
    report, checks = point_restore(estate, "dynamodb:loose")
    assert checks["RP-BACKUP-JOB"].status == "fail" and "no AWS Backup plan covers it" in checks["RP-BACKUP-JOB"].detail
    assert report.status == "fail" and leftovers(estate) == CLEAN


def test_a_killed_recovery_point_restore_is_cleaned_by_the_janitor(estate: Estate) -> None:
    e = estate
    proc = spawn(e.cli, "backup", "verify", "dynamodb:orders", "--restore-latest")
    assert proc.stderr is not None
    seen: list[str] = []
    assert read_until(proc.stderr, "restore  restore job", seen), "".join(seen)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    drill = next(line for line in seen if "AWS Backup restore restore-" in line).split("AWS Backup restore ", 1)[1].split(" ")[0]
    ddb = e.client("dynamodb")
    restored = f"orders-{drill}"
    deadline = time.monotonic() + 30
    while restored not in ddb.list_tables()["TableNames"] and time.monotonic() < deadline:
        time.sleep(0.2)  # the restore job goes on without its drill
    assert [r.drill_id for r in lab_ledger(e.cli.lab_dir).records()] == [drill], "noted before the restore job started"
    janitor_until_done(e)
    assert leftovers(e) == CLEAN, "the restored table, the record and the drill's own recovery point"


def janitor_until_done(e: Estate, runs: int = 8) -> str:
    """`dbops janitor` until a run has nothing pending; its output."""
    for _ in range(runs):
        swept = e.cli("janitor")
        assert swept.exit_code == 0, swept.output
        if "still being deleted" not in swept.output:
            return swept.output
        time.sleep(1)
    raise AssertionError(f"still pending after {runs} janitor runs: {swept.output}")


def test_a_point_restore_killed_once_its_backup_job_started_is_not_done_before_its_recovery_point_is_gone(estate: Estate) -> None:
    e = estate
    e.setting(backup_job_seconds=3)
    try:
        proc = spawn(e.cli, "backup", "verify", "dynamodb:orders", "--restore-latest")
        assert proc.stderr is not None
        seen: list[str] = []
        assert read_until(proc.stderr, "recovery point tagged", seen), "".join(seen)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        e.setting(backup_job_seconds=0.5)
    records = list(lab_ledger(e.cli.lab_dir).records())
    assert len(records) == 1 and [r["kind"] for r in records[0].resources] == ["backup-job"], records
    out = janitor_until_done(e)
    # A run that has nothing pending has left nothing: the job's recovery point included (negative control: it was made).
    assert leftovers(e) == CLEAN, out
    job = e.client("backup").describe_backup_job(BackupJobId=records[0].resources[0]["name"])
    assert job["State"] in ("COMPLETED", "ABORTED"), job


# --- what needs no lab -------------------------------------------------------------------------


ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"


@pytest.mark.parametrize("selection, tags, selected", [
    ({"Resources": [ARN]}, {}, True),
    ({"Resources": ["arn:aws:dynamodb:*:*:table/*"]}, {}, True),
    ({"Resources": ["*"], "NotResources": [ARN]}, {}, False),
    ({"ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "dbops"}]}, {"backup": "dbops"}, True),
    ({"ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "dbops"}]}, {"backup": "no"}, False),
    ({"Resources": ["*"], "Conditions": {"StringEquals": [{"ConditionKey": "aws:ResourceTag/env", "ConditionValue": "lab"}]}},
     {"env": "prod"}, False),
    ({"Conditions": {"StringLike": [{"ConditionKey": "aws:ResourceTag/env", "ConditionValue": "la*"}]}}, {"env": "lab"}, True),
    ({"Resources": ["arn:aws:rds:*:*:cluster:*"]}, {}, False),
])
def test_a_selection_covers_what_aws_backup_would(selection: dict, tags: dict, selected: bool) -> None:
    assert selects(selection, ARN, tags) is selected


def test_lab_backup_run_has_help_and_verify_help_names_both_restores(cli_at: Cli) -> None:
    run = cli_at("lab", "backup", "run", "--help")
    assert run.exit_code == 0 and "selections cover" in run.output
    verify = cli_at("backup", "verify", "--help")
    assert "BKP-RESTORE-LATEST" in verify.output and "BKP-RECOVERY-POINT-RESTORE" in verify.output
    assert "point-in-time" in verify.output and "recovery point" in verify.output
    assert cli_at("lab", "backup", "run").exit_code == 2, "no lab running: one line, exit 2"
