"""What a real AWS account needs of the modules and the emulator does not check: keys that let
services publish to encrypted topics, vault events AWS Backup still sends, final snapshots that
do not collide, no drift from AWS's own minor upgrades and autoscaling, and a log group for the
exported PostgreSQL log. Read from the examples' plans and the modules' HCL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.sns.models import sns_backends
from moto.sns.utils import FilterPolicyMatcher

from tests.terraform.conftest import TF, ExamplePlans, hcl_resource, ignored_changes, unwrap

# --- SNS topics encrypted with a CMK ------------------------------------------------------------

# The services that publish the notifications the modules route to SNS.
PUBLISHER = {
    "aws_cloudwatch_metric_alarm": "cloudwatch.amazonaws.com",
    "aws_budgets_budget": "budgets.amazonaws.com",
    "aws_backup_vault_notifications": "backup.amazonaws.com",
    "aws_cloudwatch_event_target": "events.amazonaws.com",  # the drill-runner's failed-task notice
}
# Conditions AWS documents on a key statement for services publishing to encrypted topics.
PUBLISH_CONDITION_KEYS = {"kms:EncryptionContext:aws:sns:topicArn", "aws:SourceAccount", "aws:SourceArn"}


def _publishes_to_sns(rc: dict[str, Any]) -> bool:
    after, unknown = rc["change"]["after"], rc["change"]["after_unknown"]
    if rc["type"] == "aws_cloudwatch_metric_alarm":
        return bool(after.get("alarm_actions") or unknown.get("alarm_actions"))
    if rc["type"] == "aws_budgets_budget":
        return any(n.get("subscriber_sns_topic_arns") for n in after.get("notification", [])) or bool(unknown.get("notification"))
    if rc["type"] == "aws_cloudwatch_event_target":  # a target that starts no ECS task is the topic
        return not after.get("ecs_target")
    return rc["type"] == "aws_backup_vault_notifications"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def services_granted_sns_publishing(policy: dict[str, Any]) -> set[str]:
    """Service principals the key policy lets generate and decrypt data keys for SNS topics."""
    granted: set[str] = set()
    for st in policy["Statement"]:
        actions = set(_as_list(st["Action"]))
        if st["Effect"] != "Allow" or not ({"kms:GenerateDataKey*", "kms:Decrypt"} <= actions or "kms:*" in actions):
            continue
        keys = {k for operator in (st.get("Condition") or {}).values() for k in operator}
        if keys <= PUBLISH_CONDITION_KEYS:
            granted |= set(_as_list((st.get("Principal") or {}).get("Service", [])))
    return granted


def test_every_service_notifying_an_encrypted_topic_may_use_its_key(example_plans: ExamplePlans) -> None:
    checked, missing = [], {}
    for name, result in sorted(example_plans.results.items()):
        # The analytics lake's own key encrypts its bucket and query results, no topic.
        keys = [k for k in result.changes("aws_kms_key") if ".module.lake." not in k["address"]]
        topics = result.changes("aws_sns_topic")
        publishers = {PUBLISHER[rc["type"]] for rc in result.changes(*PUBLISHER) if _publishes_to_sns(rc)}
        if not (keys and topics and publishers):
            continue
        assert len(keys) == 1, f"{name}: which key encrypts the topic?"
        assert all(t["change"]["after_unknown"].get("kms_master_key_id") for t in topics), f"{name}: topic not on the CMK"
        granted = services_granted_sns_publishing(json.loads(keys[0]["change"]["after"]["policy"]))
        if publishers - granted:
            missing[name] = sorted(publishers - granted)  # their notifications would never arrive
        checked.append(name)
    assert missing == {}
    assert {"backup/complete", "estate/complete", "monitoring/complete", "drill-runner/complete"} <= set(checked), checked


def test_estate_grants_the_key_to_exactly_the_topic_publishers(example_plans: ExamplePlans) -> None:
    config = example_plans.results["estate/complete"].plan["configuration"]  # type: ignore[index]
    calls = config["root_module"]["module_calls"]["estate"]["module"]["module_calls"]
    to_key = calls["kms"]["expressions"].get("sns_publisher_principals", {}).get("references")
    to_topic = calls["monitoring"]["expressions"].get("publisher_service_principals", {}).get("references")
    # one list for both, so a publisher added to the topic is added to the key
    assert to_key == to_topic == ["local.sns_publishers"]


def test_key_grant_for_topics_does_not_count_other_statements() -> None:
    # Negative control of the helper: the estate's old key policy had only the kms:CallerAccount
    # statement, which names no topic, and did not list cloudwatch or budgets at all.
    old = {"Statement": [{"Effect": "Allow", "Principal": {"Service": ["rds.amazonaws.com", "backup.amazonaws.com"]},
                          "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                          "Condition": {"StringEquals": {"kms:CallerAccount": "123456789012"}}}]}
    assert services_granted_sns_publishing(old) == set()


# --- AWS Backup vault events ------------------------------------------------------------------

# PutBackupVaultNotifications, BackupVaultEvents: the events AWS Backup sends today, and those
# the API reference lists as deprecated ("do not return statuses or notifications").
CURRENT_VAULT_EVENTS = {
    "BACKUP_JOB_STARTED", "BACKUP_JOB_COMPLETED", "COPY_JOB_STARTED", "COPY_JOB_SUCCESSFUL", "COPY_JOB_FAILED",
    "RESTORE_JOB_STARTED", "RESTORE_JOB_COMPLETED", "RECOVERY_POINT_MODIFIED",
    "S3_BACKUP_OBJECT_FAILED", "S3_RESTORE_OBJECT_FAILED",
}
DEPRECATED_VAULT_EVENTS = {
    "BACKUP_JOB_SUCCESSFUL", "BACKUP_JOB_FAILED", "BACKUP_JOB_EXPIRED", "RESTORE_JOB_SUCCESSFUL",
    "RESTORE_JOB_FAILED", "BACKUP_PLAN_CREATED", "BACKUP_PLAN_MODIFIED",
}


def test_vault_notifies_job_outcomes_with_events_aws_backup_still_sends(example_plans: ExamplePlans) -> None:
    seen = 0
    for name, result in example_plans.results.items():
        for rc in result.changes("aws_backup_vault_notifications"):
            events = set(rc["change"]["after"]["backup_vault_events"])
            assert not events & DEPRECATED_VAULT_EVENTS, f"{name}: deprecated {sorted(events & DEPRECATED_VAULT_EVENTS)}"
            assert events <= CURRENT_VAULT_EVENTS, f"{name}: unknown {sorted(events - CURRENT_VAULT_EVENTS)}"
            assert {"BACKUP_JOB_COMPLETED", "RESTORE_JOB_COMPLETED"} <= events, name
            seen += 1
    assert seen >= 2  # backup/complete and estate/complete


def _attributes(event_type: str, state: str) -> dict[str, dict[str, str]]:
    # Message attributes of an AWS Backup notification (AWS Backup developer guide, examples of events).
    return {"EventType": {"Type": "String", "Value": event_type}, "State": {"Type": "String", "Value": state},
            "AccountId": {"Type": "String", "Value": "123456789012"}}


DELIVERED = [
    ("CloudWatch alarm", {}),
    ("Budgets notification", {}),
    ("failed backup job", _attributes("BACKUP_JOB", "FAILED")),
    ("aborted backup job", _attributes("BACKUP_JOB", "ABORTED")),
    ("expired backup job", _attributes("BACKUP_JOB", "EXPIRED")),
    ("failed restore job", _attributes("RESTORE_JOB", "FAILED")),
]
DROPPED = [
    ("completed backup job", _attributes("BACKUP_JOB", "COMPLETED")),
    ("completed restore job", _attributes("RESTORE_JOB", "COMPLETED")),
]


def email_filter_policies(example_plans: ExamplePlans) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    for name, result in example_plans.results.items():
        for rc in result.changes("aws_sns_topic_subscription"):
            after = rc["change"]["after"]
            if after["protocol"] == "email":
                out[f"{name}: {rc['address']}"] = json.loads(after["filter_policy"]) if after.get("filter_policy") else None
    return out


def test_email_subscribers_get_alarms_and_unfinished_jobs_never_completed_ones(example_plans: ExamplePlans) -> None:
    policies = email_filter_policies(example_plans)
    assert len(policies) >= 3, policies  # backup, monitoring and estate examples
    for where, policy in policies.items():
        assert policy is not None, f"{where}: no filter policy, every completed backup job would be emailed"
        sns_backends["123456789012"]["us-east-1"]._validate_filter_policy(policy, "MessageAttributes")
        matcher = FilterPolicyMatcher(policy, "MessageAttributes")
        for what, attributes in DELIVERED:
            assert matcher.matches(attributes, "{}"), f"{where}: a {what} would not be delivered"
        for what, attributes in DROPPED:
            assert not matcher.matches(attributes, "{}"), f"{where}: a {what} would be emailed"


def test_a_filter_on_state_alone_would_drop_the_alarms() -> None:
    # Why the policy needs its "$or": messages without a State attribute must pass too.
    naive = FilterPolicyMatcher({"State": [{"anything-but": ["COMPLETED"]}]}, "MessageAttributes")
    assert naive.matches(_attributes("BACKUP_JOB", "FAILED"), "{}")
    assert not naive.matches({}, "{}")


# --- Aurora: final snapshot, engine version, PostgreSQL log group -------------------------------

def _aurora_plan(example_plans: ExamplePlans) -> Any:
    result = example_plans.results["aurora-postgres/complete"]
    assert result.error is None, result.error
    return result


def test_final_snapshot_identifier_is_unique_per_cluster_and_never_a_diff(example_plans: ExamplePlans) -> None:
    for name in ("aurora-postgres/complete", "estate/complete"):
        for rc in example_plans.results[name].changes("aws_rds_cluster"):
            after, unknown = rc["change"]["after"], rc["change"]["after_unknown"]
            assert after["skip_final_snapshot"] is False
            # decided when the cluster is created, so a second cluster of the same name gets another one
            assert after.get("final_snapshot_identifier") is None and unknown.get("final_snapshot_identifier") is True, (
                f"{name}: final snapshot identifier is the constant {after.get('final_snapshot_identifier')!r}")
    cluster = hcl_resource("aurora-postgres", "aws_rds_cluster", "this")
    assert "timestamp()" in cluster["final_snapshot_identifier"]
    assert cluster["final_snapshot_identifier"].startswith("${var.name}-final-")
    # and kept from then on: a new timestamp on every plan would be a perpetual diff
    assert "final_snapshot_identifier" in ignored_changes(cluster)


def test_minor_upgrades_by_aws_are_not_drift(example_plans: ExamplePlans) -> None:
    cluster = hcl_resource("aurora-postgres", "aws_rds_cluster", "this")
    instances = hcl_resource("aurora-postgres", "aws_rds_cluster_instance", "this")
    assert instances["auto_minor_version_upgrade"] is True
    assert "engine_version" in ignored_changes(cluster)
    assert "engine_version" not in instances or "engine_version" in ignored_changes(instances)
    for rc in _aurora_plan(example_plans).changes("aws_rds_cluster_instance"):
        assert rc["change"]["after_unknown"].get("engine_version") is True, f"{rc['address']} pins engine_version"
    # The version still chooses the parameter group family at creation.
    families = {rc["change"]["after"]["family"] for rc in _aurora_plan(example_plans).changes(
        "aws_rds_cluster_parameter_group", "aws_db_parameter_group")}
    assert families == {"aurora-postgresql15"}


def _depends_on(plan: dict[str, Any], module_path: list[str], address: str) -> list[str]:
    module = plan["configuration"]["root_module"]
    for call in module_path:
        module = module["module_calls"][call]["module"]
    return next(r.get("depends_on", []) for r in module["resources"] if r["address"] == address)


@pytest.mark.parametrize("name, module_path", [
    ("aurora-postgres/complete", ["aurora"]),
    ("estate/complete", ["estate", "aurora"]),
])
def test_exported_logs_have_a_log_group_with_retention_and_cmk_before_the_cluster(
        example_plans: ExamplePlans, name: str, module_path: list[str]) -> None:
    result = example_plans.results[name]
    groups = {rc["change"]["after"]["name"]: rc for rc in result.changes("aws_cloudwatch_log_group")}
    clusters = result.changes("aws_rds_cluster")
    assert clusters
    for cluster in clusters:
        after = cluster["change"]["after"]
        assert after["enabled_cloudwatch_logs_exports"] == ["postgresql"]
        for log in after["enabled_cloudwatch_logs_exports"]:
            group = groups.get(f"/aws/rds/cluster/{after['cluster_identifier']}/{log}")
            assert group is not None, f"{name}: no log group for the exported {log} log; RDS would make one that never expires"
            assert group["change"]["after"]["retention_in_days"] in (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
            assert group["change"]["after_unknown"].get("kms_key_id") is True, "log group not encrypted with the CMK"
            assert "aws_cloudwatch_log_group.postgresql" in _depends_on(result.plan, module_path, "aws_rds_cluster.this")  # type: ignore[arg-type]


def test_log_retention_outside_what_cloudwatch_accepts_fails_at_plan_time(example_plans: ExamplePlans) -> None:
    result = example_plans.plan("aurora-postgres/complete", log_retention_days="42")
    assert result.error is not None and "Invalid value for variable" in result.error, result.error
    assert "log_retention_days" in result.error


# --- DynamoDB: provisioned tables under autoscaling ---------------------------------------------

def test_provisioned_tables_leave_autoscaled_capacity_to_autoscaling(example_plans: ExamplePlans) -> None:
    result = example_plans.results["dynamodb-table/complete"]
    tables = {rc["address"]: rc for rc in result.changes("aws_dynamodb_table")}
    provisioned = [rc for rc in tables.values() if rc["change"]["after"]["billing_mode"] == "PROVISIONED"]
    on_demand = [rc for rc in tables.values() if rc["change"]["after"]["billing_mode"] == "PAY_PER_REQUEST"]
    assert provisioned and on_demand
    targets = {rc["change"]["after"]["resource_id"] + " " + rc["change"]["after"]["scalable_dimension"]
               for rc in result.changes("aws_appautoscaling_target")}
    for rc in provisioned:
        table = rc["change"]["after"]
        ignored = ignored_changes(hcl_resource("dynamodb-table", rc["type"], rc["name"]))
        assert {"read_capacity", "write_capacity"} <= ignored, f"{rc['address']}: autoscaled capacity would be drift"
        for kind in ("Read", "Write"):
            assert f"table/{table['name']} dynamodb:table:{kind}CapacityUnits" in targets
        for index in table["global_secondary_index"]:
            assert "global_secondary_index" in ignored, f"{rc['address']}: GSI capacity would be drift"
            for kind in ("Read", "Write"):
                assert f"table/{table['name']}/index/{index['name']} dynamodb:index:{kind}CapacityUnits" in targets, (
                    f"{index['name']} is not autoscaled")
    for rc in tables.values():
        # one resource whatever the billing mode: switching it is an UpdateTable, never a new table
        assert (rc["type"], rc["name"], rc.get("index")) == ("aws_dynamodb_table", "this", None), rc["address"]
    for rc in on_demand:
        assert not rc["change"]["after"].get("read_capacity") and not rc["change"]["after"].get("write_capacity")


# --- Prod: what holds data is protected by Terraform and AWS, not only by dbops ----------------

def _module_argument(path: str, module: str, argument: str) -> Any:
    import hcl2

    with (TF / path).open() as f:
        calls = [block[module] for block in hcl2.load(f).get("module", []) if module in block]
    assert len(calls) == 1, f"{path}: module {module} not called once"
    return unwrap(calls[0].get(argument))


def test_prod_protects_what_holds_data_where_the_provider_allows_it(example_plans: ExamplePlans) -> None:
    """Provider 3.39 offers Aurora's deletion_protection and final snapshot, a KMS deletion window,
    and lifecycle prevent_destroy on a root module's own resources; DynamoDB deletion protection and
    backup vault lock come in later providers (`dbops tf apply` refuses those deletes instead)."""
    assert _module_argument("envs/prod/main.tf", "estate", "deletion_protection") is True
    assert _module_argument("modules/estate/examples/complete/main.tf", "estate", "deletion_protection") is True
    result = example_plans.results["estate/complete"]  # the estate as prod composes it
    clusters = [rc["change"]["after"] for rc in result.changes("aws_rds_cluster")]
    assert clusters and all(c["deletion_protection"] is True and c["skip_final_snapshot"] is False for c in clusters)
    keys = [rc["change"]["after"] for rc in result.changes("aws_kms_key")]
    assert keys and all(k["deletion_window_in_days"] == 30 for k in keys)
    bucket = hcl_resource("../bootstrap", "aws_s3_bucket", "state")  # every env's Terraform state
    lifecycle = unwrap(bucket.get("lifecycle")) or {}
    assert unwrap(lifecycle.get("prevent_destroy")) is True, lifecycle
    assert bucket.get("force_destroy") in (None, False)
