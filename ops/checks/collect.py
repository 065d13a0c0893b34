"""Collectors: read each target's backup state once into a dict the checks judge."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import botocore.exceptions

from ops.aws import paged, safe_read
from ops.checks.registry import Read
from ops.targets.recovery_point import covered_by, read_selections
from ops.permissions import declare, need

__all__ = ["covered_by", "backup_selections", "backup_service_state", "aurora", "dynamodb"]

ClientFor = Callable[[str], Any]


def backup_selections(client_for: ClientFor) -> Read:
    """Every AWS Backup selection of every plan: their tag conditions and resource ARNs."""
    backup = client_for("backup")
    return safe_read(lambda: read_selections(backup))


def backup_service_state(client_for: ClientFor, arn: str) -> dict[str, Read]:
    backup = client_for("backup")
    return {
        "jobs": safe_read(lambda: paged(backup, "list_backup_jobs", "BackupJobs", ByResourceArn=arn)),
        "recovery_points": safe_read(lambda: paged(backup, "list_recovery_points_by_resource", "RecoveryPoints", ResourceArn=arn)),
    }


def this_incarnation(read: Read, key: str, born: datetime | None) -> Read:
    """Only what was made since the resource was: a table or cluster deleted and made again under the
    same name finds the old one's backups, jobs and recovery points under the same name and ARN."""
    if not read.ok or born is None:
        return read
    return Read(value=[x for x in read.value if not isinstance(x.get(key), datetime) or x[key] >= born])


# A starting cluster too: it has taken no write since it stopped (its restorable time is the stop's).
STOPPED = ("stopping", "stopped", "starting")
EVENT_DAYS = 14  # how far back RDS keeps events (DescribeEvents)


def aurora(client_for: ClientFor, name: str, selections: Read) -> dict[str, Any]:
    rds = client_for("rds")
    cluster = safe_read(lambda: rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0])
    snapshots = safe_read(lambda: paged(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots", DBClusterIdentifier=name))
    state: dict[str, Any] = {"name": name, "cluster": cluster, "snapshots": snapshots, "selections": selections,
                             "now": datetime.now(timezone.utc)}
    if cluster.ok and cluster.value.get("Status") in STOPPED:
        # A stopped (or starting) cluster has written nothing since its stop: what its restorable time is judged at.
        state["events"] = safe_read(lambda: paged(rds, "describe_events", "Events", SourceIdentifier=name, SourceType="db-cluster",
                                                  StartTime=state["now"] - timedelta(days=EVENT_DAYS)))
    if cluster.ok:
        born = cluster.value.get("ClusterCreateTime")
        state["snapshots"] = this_incarnation(snapshots, "SnapshotCreateTime", born)
        state.update(_since(backup_service_state(client_for, cluster.value["DBClusterArn"]), born))
    return state


def _since(service_state: dict[str, Read], born: datetime | None) -> dict[str, Read]:
    return {"jobs": this_incarnation(service_state["jobs"], "CreationDate", born),
            "recovery_points": this_incarnation(service_state["recovery_points"], "CreationDate", born)}


# ListBackups answers USER backups unless asked; ALL is USER and SYSTEM; AWS_BACKUP (backups AWS Backup made
# before its advanced DynamoDB features, which list theirs in AWS Backup only) must be asked for by name.
LISTED_BACKUP_TYPES = ("ALL", "AWS_BACKUP")


# DynamoDB serves ListBackups at 5 requests a second per account (DynamoDB quotas, "API-specific limits");
# beyond that it answers LimitExceededException. Pages are paced process-wide, with headroom for other callers.
LIST_BACKUPS_INTERVAL_S = 0.25
LIMIT_RETRIES = 5  # LimitExceededException waited out at 0.5, 1, 2, 4, 8 s, then the read fails


class Pacer:
    """At most one call per `interval_s`, across threads (a backup verify reads several tables at once)."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval_s, self.clock, self.sleep = interval_s, clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next:
                self.sleep(self._next - now)
                now = self.clock()
            self._next = now + self.interval_s


LIST_BACKUPS_PACE = Pacer(LIST_BACKUPS_INTERVAL_S)
_PACES: dict[Any, Pacer] = {}
_paces_lock = threading.Lock()


def list_backups_pace(account_region: Any) -> Pacer:
    """The pace of one account and region's ListBackups (the quota is theirs): a fleet's accounts do not wait for each other."""
    if account_region is None:
        return LIST_BACKUPS_PACE
    with _paces_lock:
        return _PACES.setdefault(account_region, Pacer(LIST_BACKUPS_INTERVAL_S))


# What collecting a target's backup state reads.
CALLS = declare(
    "backup.collect",
    need("rds:DescribeDBClusters", on="rds-cluster"),
    need("rds:DescribeDBClusterSnapshots", on="rds-cluster"),
    need("rds:DescribeDBClusterSnapshots", on="rds-cluster-snapshot"),
    need("rds:DescribeEvents", on="*"),  # when a stopped cluster stopped
    need("dynamodb:DescribeTable", on="dynamodb-table"),
    need("dynamodb:DescribeContinuousBackups", on="dynamodb-table"),
    need("dynamodb:ListTagsOfResource", on="dynamodb-table"),
    need("dynamodb:ListBackups", on="*"),
    need("backup:ListBackupJobs", on="*"),
    need("backup:ListRecoveryPointsByResource", on="*"),
)


def _list_backups(ddb: Any, pace: Pacer, **kwargs: Any) -> dict[str, Any]:
    """One ListBackups page, paced; LimitExceededException (the account's rate) waited out a bounded number of times."""
    for attempt in range(LIMIT_RETRIES + 1):
        pace.wait()
        try:
            return ddb.list_backups(**kwargs)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "LimitExceededException" or attempt == LIMIT_RETRIES:
                raise
            pace.sleep(0.5 * 2 ** attempt)
    raise AssertionError("unreachable")


def table_backups(ddb: Any, name: str | None, pace: Pacer = LIST_BACKUPS_PACE) -> list[dict[str, Any]]:
    """Every on-demand backup DynamoDB lists for the table (None: for every table of the account and region),
    of every type, each once; every page, paced."""
    found: dict[str, dict[str, Any]] = {}
    table = {"TableName": name} if name is not None else {}
    for kind in LISTED_BACKUP_TYPES:
        start: dict[str, str] = {}
        while True:
            page = _list_backups(ddb, pace, BackupType=kind, **table, **start)
            for summary in page.get("BackupSummaries", []):
                found.setdefault(summary["BackupArn"], summary)
            if not page.get("LastEvaluatedBackupArn"):
                break
            start = {"ExclusiveStartBackupArn": page["LastEvaluatedBackupArn"]}
    return list(found.values())


# Above this many tables of one account and region, their backups are listed once for the account (ListBackups
# without TableName, 100 a page) rather than twice a table: at ListBackups' 5 calls a second, 1,000 tables
# listed one by one take 400 s whatever the concurrency.
ACCOUNT_LISTING_MIN_TABLES = 8


def account_backups(client_for: ClientFor, pace: Pacer = LIST_BACKUPS_PACE) -> Read:
    """Every on-demand backup of the account and region, by the name of its table."""
    ddb = client_for("dynamodb")

    def by_table() -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for summary in table_backups(ddb, None, pace):
            out.setdefault(summary["TableName"], []).append(summary)
        return out

    return safe_read(by_table)


def dynamodb(client_for: ClientFor, name: str, selections: Read, listed: Read | None = None,
             pace: Pacer = LIST_BACKUPS_PACE) -> dict[str, Any]:
    """`listed`: the account's backups by table (account_backups), when read once for many tables."""
    ddb = client_for("dynamodb")
    table = safe_read(lambda: ddb.describe_table(TableName=name)["Table"])
    if listed is None:
        backups = safe_read(lambda: table_backups(ddb, name, pace))
    else:
        backups = Read(value=listed.value.get(name, [])) if listed.ok else listed
    state: dict[str, Any] = {
        "name": name, "table": table, "selections": selections, "now": datetime.now(timezone.utc),
        "continuous": safe_read(lambda: ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]),
        "backups": backups,
    }
    if table.ok:
        arn, born = table.value["TableArn"], table.value.get("CreationDateTime")
        state["backups"] = this_incarnation(state["backups"], "BackupCreationDateTime", born)
        state["tags"] = safe_read(lambda: paged(ddb, "list_tags_of_resource", "Tags", ResourceArn=arn))
        state.update(_since(backup_service_state(client_for, arn), born))
    return state
