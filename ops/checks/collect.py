"""Collectors: read each target's backup state once into a dict the checks judge."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from ops.aws import safe_read
from ops.checks.registry import Read

ClientFor = Callable[[str], Any]


def _paged(client: Any, op: str, key: str, **kwargs: Any) -> list:
    out: list = []
    for page in client.get_paginator(op).paginate(**kwargs):
        out += page.get(key, [])
    return out


def backup_selections(client_for: ClientFor) -> Read:
    """Every AWS Backup selection of every plan: their tag conditions and resource ARNs."""
    backup = client_for("backup")

    def read() -> list[dict[str, Any]]:
        selections = []
        for plan in _paged(backup, "list_backup_plans", "BackupPlansList"):
            for sel in _paged(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan["BackupPlanId"]):
                full = backup.get_backup_selection(BackupPlanId=plan["BackupPlanId"], SelectionId=sel["SelectionId"])
                selections.append({"plan": plan["BackupPlanName"], **full["BackupSelection"]})
        return selections

    return safe_read(read)


def covered_by(selections: list[dict[str, Any]], arn: str, tags: dict[str, str]) -> list[str]:
    plans = []
    for s in selections:
        by_arn = arn in s.get("Resources", []) or "*" in s.get("Resources", [])
        by_tag = any(c.get("ConditionType") == "STRINGEQUALS" and tags.get(c.get("ConditionKey")) == c.get("ConditionValue")
                     for c in s.get("ListOfTags", []))
        if by_arn or by_tag:
            plans.append(s["plan"])
    return plans


def backup_service_state(client_for: ClientFor, arn: str) -> dict[str, Read]:
    backup = client_for("backup")
    return {
        "jobs": safe_read(lambda: _paged(backup, "list_backup_jobs", "BackupJobs", ByResourceArn=arn)),
        "recovery_points": safe_read(lambda: _paged(backup, "list_recovery_points_by_resource", "RecoveryPoints", ResourceArn=arn)),
    }


def aurora(client_for: ClientFor, name: str, selections: Read, emulated: bool = False) -> dict[str, Any]:
    rds = client_for("rds")
    cluster = safe_read(lambda: rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0])
    snapshots = safe_read(lambda: _paged(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots", DBClusterIdentifier=name))
    state: dict[str, Any] = {"name": name, "cluster": cluster, "snapshots": snapshots, "selections": selections,
                             "emulated": emulated, "now": datetime.now(timezone.utc)}
    if cluster.ok:
        state.update(backup_service_state(client_for, cluster.value["DBClusterArn"]))
    return state


def dynamodb(client_for: ClientFor, name: str, selections: Read, emulated: bool = False) -> dict[str, Any]:
    ddb = client_for("dynamodb")
    table = safe_read(lambda: ddb.describe_table(TableName=name)["Table"])
    state: dict[str, Any] = {
        "name": name, "table": table, "selections": selections, "emulated": emulated, "now": datetime.now(timezone.utc),
        "continuous": safe_read(lambda: ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]),
        "backups": safe_read(lambda: _paged(ddb, "list_backups", "BackupSummaries", TableName=name)),
    }
    if table.ok:
        arn = table.value["TableArn"]
        state["tags"] = safe_read(lambda: ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", []))
        state.update(backup_service_state(client_for, arn))
    return state
