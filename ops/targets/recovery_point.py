"""AWS Backup for one resource (plain boto3): the plan that covers it, on-demand backup jobs,
its recovery points, restore jobs, and the resource a restore job creates.

A restore job cannot tag what it creates (StartRestoreJob has no Tags), so the restored
table or cluster is named after the drill (`<source>-<drill id>`, as the point-in-time
restores are), noted in the drill record before the job starts, and tagged as soon as it
exists. AWS Backup restores an Aurora cluster without instances: one instance is added,
tagged at creation, so the restored data can be read.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any, Callable

from ops.aws import paged
from ops.clock import wait_for
from ops.data.markers import Marker
from ops.errors import CannotRun
from ops.targets.aurora import AuroraRestore, RestoredCluster, add_restore_instance, delete_cluster_step, restore_network, restored_names
from ops.targets.dynamodb import DynamoTarget, RestoredTable, delete_table, restored_table_name, table_gone
from ops.permissions import declare, need

Progress = Callable[[str], None]
ENDED_JOB_STATES = ("COMPLETED", "FAILED", "EXPIRED", "ABORTED", "PARTIAL")
ENDED_RESTORE_STATES = ("COMPLETED", "FAILED", "ABORTED")
# Recovery point statuses that mean "ready to restore" (the API lists COMPLETED and AVAILABLE).
USABLE_POINT_STATES = ("COMPLETED", "AVAILABLE")
# An on-demand backup of a DynamoDB table takes seconds to minutes; an Aurora cluster snapshot
# minutes to hours for a large cluster.
BACKUP_JOB_TIMEOUT_S = 2 * 3600.0
# The shortest retention AWS Backup accepts: a point a drill made and could not delete goes by itself.
DRILL_POINT_RETENTION_DAYS = 1


# AWS Backup's plans, selections, jobs and recovery points: what covers a resource, and a restore of its newest point.
READS = declare(
    "backup.plans",
    need("backup:ListBackupPlans", on="*"),
    need("backup:ListBackupSelections", on="backup-plan"),
    need("backup:GetBackupSelection", on="backup-plan"),
)
RESTORE = declare(
    "backup.restore",
    need("backup:GetBackupPlan", on="backup-plan"),
    need("backup:StartBackupJob", on="backup-vault"),
    need("backup:StartBackupJob", action="iam:PassRole", on="backup-role", when="to-backup",
         why="the job runs as the plan's backup role"),
    need("backup:DescribeBackupJob", on="*"),
    need("backup:ListRecoveryPointsByResource", on="*"),
    # Both read a point through its vault (/backup-vaults/NAME/recovery-points/ARN): granted on either ARN.
    need("backup:DescribeRecoveryPoint", on="backup-vault"),
    need("backup:DescribeRecoveryPoint", on="recovery-point"),
    need("backup:GetRecoveryPointRestoreMetadata", on="backup-vault"),
    need("backup:GetRecoveryPointRestoreMetadata", on="recovery-point"),
    need("backup:StartRestoreJob", on="recovery-point"),
    need("backup:StartRestoreJob", action="iam:PassRole", on="backup-role", when="to-backup",
         why="the restore runs as the plan's backup role"),
    need("backup:DescribeRestoreJob", on="*"),
    need("backup:DeleteRecoveryPoint", on="recovery-point", when="drill-tagged"),
    need("rds:DescribeDBClusters", on="rds-cluster"),
    need("rds:AddTagsToResource", on="restored-cluster", when="drill-tagging"),
    need("rds:AddTagsToResource", on="restored-db", when="drill-tagging"),
    need("dynamodb:DescribeTable", on="dynamodb-table"),
    need("dynamodb:ListTagsOfResource", on="dynamodb-table"),
    need("dynamodb:TagResource", on="restored-table", when="drill-tagging"),
)


def _condition_holds(kind: str, condition: dict[str, str], tags: dict[str, str]) -> bool:
    key = condition.get("ConditionKey", "").removeprefix("aws:ResourceTag/")
    value, wanted = tags.get(key), condition.get("ConditionValue", "")
    return {"StringEquals": value == wanted, "StringNotEquals": value != wanted,
            "StringLike": value is not None and fnmatch.fnmatchcase(value, wanted),
            "StringNotLike": value is None or not fnmatch.fnmatchcase(value, wanted)}.get(kind, False)


def covered_by(selections: list[dict[str, Any]], arn: str, tags: dict[str, str]) -> list[str]:
    """The plans whose selections cover a resource, as AWS Backup selects: by ARN (wildcards allowed) or by a
    STRINGEQUALS tag, and then only if every one of the selection's Conditions holds and NotResources spares it."""
    def matches(patterns: list[str]) -> bool:
        return any(p == "*" or p == arn or fnmatch.fnmatchcase(arn, p) for p in patterns)

    plans = []
    for s in selections:
        resources, list_of_tags, conditions = s.get("Resources") or [], s.get("ListOfTags") or [], s.get("Conditions") or {}
        by_tag = any(c.get("ConditionType") == "STRINGEQUALS" and tags.get(c.get("ConditionKey")) == c.get("ConditionValue")
                     for c in list_of_tags)
        chosen = matches(resources) or by_tag or (not resources and not list_of_tags and any(conditions.values()))
        if (chosen and all(_condition_holds(kind, c, tags) for kind, items in conditions.items() for c in items or [])
                and not matches(s.get("NotResources") or [])):
            plans.append(s["plan"])
    return plans


def read_selections(backup: Any) -> list[dict[str, Any]]:
    """Every selection of every plan, with its plan's name and id."""
    selections = []
    for plan in paged(backup, "list_backup_plans", "BackupPlansList"):
        for sel in paged(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan["BackupPlanId"]):
            full = backup.get_backup_selection(BackupPlanId=plan["BackupPlanId"], SelectionId=sel["SelectionId"])
            selections.append({"plan": plan["BackupPlanName"], "plan_id": plan["BackupPlanId"], **full["BackupSelection"]})
    return selections


@dataclass(frozen=True)
class BackupPath:
    """Where the plan that covers a resource puts its recovery points, and the role it backs up with."""

    plan: str
    rule: str
    vault: str
    role: str


def backup_path(backup: Any, arn: str, tags: dict[str, str]) -> BackupPath | None:
    """The first plan covering the resource and its first scheduled (not continuous) rule; None when no plan covers it."""
    selections = read_selections(backup)
    for s in selections:
        if not covered_by([s], arn, tags):
            continue
        plan = backup.get_backup_plan(BackupPlanId=s["plan_id"])["BackupPlan"]
        for rule in plan.get("Rules", []):
            if not rule.get("EnableContinuousBackup"):
                return BackupPath(s["plan"], rule["RuleName"], rule["TargetBackupVaultName"], s["IamRoleArn"])
    return None


class RecoveryPoints:
    """The AWS Backup side of one resource."""

    def __init__(self, backup: Any, resource_arn: str) -> None:
        self.backup = backup
        self.arn = resource_arn

    def start_backup(self, path: BackupPath, tags: dict[str, str], token: str) -> dict[str, Any]:
        return self.backup.start_backup_job(
            BackupVaultName=path.vault, ResourceArn=self.arn, IamRoleArn=path.role, IdempotencyToken=token,
            Lifecycle={"DeleteAfterDays": DRILL_POINT_RETENTION_DAYS}, RecoveryPointTags=tags)

    def wait_job(self, job_id: str, timeout: float, progress: Progress) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def ended() -> bool:
            seen.update(self.backup.describe_backup_job(BackupJobId=job_id))
            return seen["State"] in ENDED_JOB_STATES

        if not wait_for(f"backup job {job_id} to end", ended, timeout, 1, progress, every=10):
            raise CannotRun(f"backup job {job_id} did not end within {timeout:.0f}s (state {seen.get('State')})")
        return seen

    def newest(self) -> dict[str, Any] | None:
        done = [p for p in paged(self.backup, "list_recovery_points_by_resource", "RecoveryPoints", ResourceArn=self.arn)
                if p.get("Status") in USABLE_POINT_STATES]
        return max(done, key=lambda p: p["CreationDate"]) if done else None

    def describe(self, vault: str, point_arn: str) -> dict[str, Any]:
        return self.backup.describe_recovery_point(BackupVaultName=vault, RecoveryPointArn=point_arn)

    def restore_metadata(self, vault: str, point_arn: str) -> dict[str, str]:
        return dict(self.backup.get_recovery_point_restore_metadata(BackupVaultName=vault, RecoveryPointArn=point_arn)["RestoreMetadata"])

    def start_restore(self, point_arn: str, metadata: dict[str, str], role: str, resource_type: str) -> str:
        return self.backup.start_restore_job(RecoveryPointArn=point_arn, Metadata=metadata, IamRoleArn=role,
                                             ResourceType=resource_type)["RestoreJobId"]

    def wait_restore(self, job_id: str, timeout: float, progress: Progress, on_progress: Callable[[], None]) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def ended() -> bool:
            seen.update(self.backup.describe_restore_job(RestoreJobId=job_id))
            on_progress()
            return seen["Status"] in ENDED_RESTORE_STATES

        if not wait_for(f"restore job {job_id} to end", ended, timeout, 1, progress, every=10):
            raise CannotRun(f"restore job {job_id} did not end within {timeout:.0f}s (status {seen.get('Status')})")
        return seen

    def delete(self, vault: str, point_arn: str) -> None:
        try:
            self.backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point_arn)
        except self.backup.exceptions.ResourceNotFoundException:
            pass

    def gone(self, vault: str, point_arn: str) -> bool:
        try:
            status = self.describe(vault, point_arn).get("Status")
        except self.backup.exceptions.ResourceNotFoundException:
            return True
        if status not in ("DELETING",):
            self.delete(vault, point_arn)
        return False


# --- the resource a restore job creates, per kind ---------------------------------------------


class TableFromPoint:
    """A DynamoDB table restored from a recovery point into `<source>-<drill id>`."""

    resource_type = "DynamoDB"
    exact_times = False  # markers carry client times: a guard band applies near the point's times

    def __init__(self, target: DynamoTarget) -> None:
        self.target = target
        self.ref = target.ref
        self.ddb = target.ddb
        self.arn = target.table["TableArn"]
        self.has_data_plane = target.has_data_plane
        self.default_timeout_s = target.default_timeout_s

    def probe(self) -> None:
        """Nothing to connect to first: the table's API is the data plane."""

    def tags(self) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in paged(self.ddb, "list_tags_of_resource", "Tags", ResourceArn=self.arn)}

    def plan(self, drill_id: str) -> Any:
        return RestoredTable(restored_table_name(self.ref.name, drill_id), None, drill_id)

    def metadata(self, base: dict[str, str], handle: Any) -> dict[str, str]:
        """AWS Backup's DynamoDB restore metadata names the table and its encryption only (targetTableName,
        encryptionType, kmsMasterKeyArn): the restored table keeps the source's billing mode and indexes,
        and the cost bound prices them so."""
        return {**base, "targetTableName": handle.name}

    def restore_cost(self, hours: float, catalog: dict[str, Any]) -> Any:
        return self.target.restore_cost(hours, catalog, backup_point=True, as_backed_up=True)

    def tag_created(self, handle: Any, tags: dict[str, str]) -> bool:
        """Tag the restored table if it exists yet; True once tagged."""
        try:
            arn = self.ddb.describe_table(TableName=handle.name)["Table"]["TableArn"]
        except self.ddb.exceptions.ResourceNotFoundException:
            return False
        self.ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return True

    def make_usable(self, handle: Any, tags: dict[str, str], timeout: float, progress: Progress) -> None:
        state = {"status": "CREATING"}

        def active() -> bool:
            state["status"] = self.ddb.describe_table(TableName=handle.name)["Table"]["TableStatus"]
            return state["status"] == "ACTIVE"

        if not wait_for(f"{handle.name} to become ACTIVE", active, timeout, 5, progress, every=30):
            raise CannotRun(f"restored table {handle.name} not ACTIVE within {timeout:.0f}s (status {state['status']})")

    def write_markers(self, drill_id: str, side: str, count: int) -> None:
        self.target.write_markers(drill_id, side, count)

    def source_markers(self, drill_id: str) -> list[Marker]:
        return self.target.source_markers(drill_id)

    def restored_markers(self, handle: Any, drill_id: str) -> list[Marker]:
        return self.target.restored_markers(handle, drill_id)

    def remove_markers(self, drill_id: str) -> int:
        return self.target.remove_markers(drill_id)

    def delete(self, handle: Any) -> None:
        delete_table(self.ddb, handle.name)

    def deleted(self, handle: Any) -> bool:
        return table_gone(self.ddb, handle.name)


class ClusterFromPoint:
    """An Aurora cluster restored from a recovery point into `<source>-<drill id>`, with one instance added."""

    resource_type = "Aurora"
    exact_times = True  # marker times are the database's commit times

    def __init__(self, restore: AuroraRestore) -> None:
        self.restore = restore
        self.ref = restore.ref
        self.rds = restore.rds
        cluster = restore.target._cluster()
        self.arn = cluster["DBClusterArn"]
        self.default_timeout_s = restore.default_timeout_s

    @property
    def has_data_plane(self) -> bool:
        return self.restore.has_data_plane

    def probe(self) -> None:
        """Connect once with the master secret: wrong credentials stop the drill in one line before it writes."""
        if self.has_data_plane:
            self.restore.probe()

    def tags(self) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.restore.target._cluster().get("TagList", [])}

    def plan(self, drill_id: str) -> Any:
        return RestoredCluster(*restored_names(self.ref.name, drill_id))

    def metadata(self, base: dict[str, str], handle: Any) -> dict[str, str]:
        """The source's subnet group, security groups and port as they are now, not as the point recorded them
        (AWS Backup's restore metadata takes VpcSecurityGroupIds as a JSON list, Port as text)."""
        network = restore_network(self.restore.target._cluster())
        out = {**base, "DBClusterIdentifier": handle.name, "VpcSecurityGroupIds": json.dumps(network["VpcSecurityGroupIds"])}
        if "DBSubnetGroupName" in network:
            out["DBSubnetGroupName"] = network["DBSubnetGroupName"]
        if "Port" in network:
            out["Port"] = str(network["Port"])
        return out

    def restore_cost(self, hours: float, catalog: dict[str, Any]) -> Any:
        return self.restore.restore_cost(hours, catalog, backup_point=True)

    def tag_created(self, handle: Any, tags: dict[str, str]) -> bool:
        try:
            arn = self.rds.describe_db_clusters(DBClusterIdentifier=handle.name)["DBClusters"][0]["DBClusterArn"]
        except self.rds.exceptions.DBClusterNotFoundFault:
            return False
        self.rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return True

    def make_usable(self, handle: Any, tags: dict[str, str], timeout: float, progress: Progress) -> None:
        """AWS Backup restores the cluster only: add one instance (tagged at creation) and wait for it."""
        add_restore_instance(self.rds, self.restore.target._cluster(), handle.name, handle.instance,
                             self.restore.instance_class(), tags)
        self.restore.wait_restored(handle, timeout, progress)

    def write_markers(self, drill_id: str, side: str, count: int) -> None:
        self.restore.write_markers(drill_id, side, count)

    def source_markers(self, drill_id: str) -> list[Marker]:
        return self.restore.source_markers(drill_id)

    def restored_markers(self, handle: Any, drill_id: str) -> list[Marker]:
        return self.restore.restored_markers(handle, drill_id)

    def remove_markers(self, drill_id: str) -> int:
        return self.restore.remove_markers(drill_id)

    def delete(self, handle: Any) -> None:
        delete_cluster_step(self.rds, handle.name, [handle.instance])

    def deleted(self, handle: Any) -> bool:
        return delete_cluster_step(self.rds, handle.name, [handle.instance])


def from_restorable(restorable: Any) -> Any:
    """The recovery-point side of a target opened by ops.targets.registry.open_restorable."""
    if isinstance(restorable, DynamoTarget):
        return TableFromPoint(restorable)
    if isinstance(restorable, AuroraRestore):
        return ClusterFromPoint(restorable)
    raise CannotRun(f"{restorable.ref} has no AWS Backup recovery points (only Aurora clusters and DynamoDB tables do)")

