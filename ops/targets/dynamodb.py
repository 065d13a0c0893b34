"""DynamoDB tables through the DynamoDB API (plain boto3): restore-test operations.

Markers are written, read and deleted by key in a key space of their own
(ops.data.ddb_markers); the source table is never scanned. Besides its own markers, a drill
reads the heartbeat items of the seconds around T by key: rows written before T that it did
not write itself, where something writes them (the lab's heartbeat); elsewhere those keys are
absent and the drill judges by its own markers alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from ops.aws import Aws, paged
from ops.data import ddb_markers
from ops.clock import ServiceClock
from ops.data.markers import MARKERS_PER_SIDE, Marker, before_t
from ops.errors import CannotRun, UsageError
from ops.targets import TargetRef
from ops.targets.base import wait_restorable
from ops.permissions import declare, need

# DynamoDB point-in-time restores take at least about 20 minutes whatever the size and usually
# finish within an hour (AWS re:Post knowledge center); the latest restorable time trails the
# current time by about 5 minutes (DynamoDB developer guide, point-in-time recovery).
RESTORE_TIMEOUT_S = 2 * 3600
RESTORABLE_WAIT_S = 15 * 60
RESTORED_NAME = re.compile(r"^(?P<source>.+)-(?P<drill>restore-\d{8}T\d{6}Z-[0-9a-f]{6})$")
HEARTBEAT_WINDOW_S = 10  # heartbeat items read on each side of T: one BatchGetItem of 21 keys


# What the DynamoDB, Application Auto Scaling and CloudWatch calls below need.
READS = declare(
    "dynamodb.reads",
    need("dynamodb:DescribeTable", on="dynamodb-table"),
    need("dynamodb:DescribeContinuousBackups", on="dynamodb-table"),
    need("dynamodb:DescribeTimeToLive", on="dynamodb-table"),
    need("dynamodb:ListTagsOfResource", on="dynamodb-table"),
    need("application-autoscaling:DescribeScalableTargets", on="*"),
    need("cloudwatch:DescribeAlarms", on="alarm"),
)
RESTORE = declare(
    "dynamodb.restore",
    need("dynamodb:RestoreTableToPointInTime", on="dynamodb-table"),
    # The restore writes the restored table's items as its caller (DynamoDB's PITR permissions page).
    *(need("dynamodb:RestoreTableToPointInTime", action=f"dynamodb:{a}", on="restored-table",
           why="a restore writes the new table's items with its caller's permissions")
      for a in ("PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem")),
    need("dynamodb:RestoreTableToPointInTime", action="kms:CreateGrant", on="kms-key", when="via-rds-dynamodb-for-aws-resource",
         why="a table under a customer managed key is restored under it"),
    need("dynamodb:RestoreTableToPointInTime", action="kms:DescribeKey", on="kms-key", when="via-rds-dynamodb",
         why="a table under a customer managed key is restored under it"),
    need("dynamodb:RestoreTableToPointInTime", action="kms:Decrypt", on="kms-key", when="via-rds-dynamodb",
         why="a table under a customer managed key is restored under it"),
    need("dynamodb:TagResource", on="restored-table", when="drill-tagging"),
    need("dynamodb:DeleteTable", on="restored-table", when="drill-tagged"),
)


@dataclass(frozen=True)
class RestoredTable:
    name: str
    restored_to: datetime | None = None  # the RestoreDateTime DynamoDB reports for the new table
    drill_id: str = ""


def restored_table_name(source: str, drill_id: str) -> str:
    """A restored table is named after its drill: found by that name even before it is tagged."""
    return f"{source[: 255 - len(drill_id) - 1]}-{drill_id}"


class DynamoTarget:
    """A table: describe, PITR window, markers as items, restore to a point in time."""

    exact_times = False  # marker times are read on the service's clock through its Date headers, with their guard
    default_timeout_s = RESTORE_TIMEOUT_S
    has_data_plane = True
    restores_to_latest = True  # UseLatestRestorableTime: the service picks T and says which (RestoreSummary)
    # RestoreTableToPointInTime restores "to the state based on the selected date and time
    # (day:hour:minute:second)" (API reference): T is a whole second, and a restore to it may hold
    # all of that second; markers are kept a whole second clear of it.
    restore_granularity_s = 1.0

    def __init__(self, ref: TargetRef, aws: Aws, with_indexes: bool = False) -> None:
        self.ref = ref
        self.aws = aws
        self.with_indexes = with_indexes  # restore the secondary indexes too (they are restored, and billed, per GB)
        self.ddb = aws.client("dynamodb")
        self.clock = ServiceClock.reading(self.ddb)  # every answer's Date header: the service's time, not ours
        self._spans: dict[tuple[str, int], tuple[float, float]] = {}  # marker -> client times its PutItem took
        # T of the restore in progress: source_markers reads the heartbeat items around it. Kept
        # here (as LocalPgRestore keeps its T) rather than passed through the Restorable protocol.
        self._t: datetime | None = None
        try:
            self.table = self.ddb.describe_table(TableName=ref.name)["Table"]
        except self.ddb.exceptions.ResourceNotFoundException:
            raise UsageError(f"no DynamoDB table '{ref.name}' in {aws.region}") from None

    def continuous_backups(self) -> dict[str, Any]:
        return self.ddb.describe_continuous_backups(TableName=self.ref.name)["ContinuousBackupsDescription"]

    def pre_checks(self) -> list[tuple[str, str, str]]:
        pitr = self.continuous_backups().get("PointInTimeRecoveryDescription", {})
        enabled = pitr.get("PointInTimeRecoveryStatus") == "ENABLED"
        out = [
            ("PRE-AVAILABLE", "pass" if self.table["TableStatus"] == "ACTIVE" else "fail", f"table {self.ref.name} is {self.table['TableStatus']}"),
            ("PRE-PITR", "pass" if enabled else "fail", "point-in-time recovery is enabled" if enabled else "point-in-time recovery is disabled: nothing to restore to a point in time"),
        ]
        if self.table.get("StreamSpecification", {}).get("StreamEnabled"):
            out.append(("PRE-STREAM-CONSUMERS", "warn", f"the table has a stream: its consumers will see {2 * MARKERS_PER_SIDE} marker items "
                                                        "(attribute dbops_marker) written and deleted by this drill"))
        return out

    def now_bounds(self) -> tuple[datetime, datetime]:
        """The service's time now: between these two, by what its Date headers and the round trips say."""
        self.ddb.describe_table(TableName=self.ref.name)  # a fresh answer (control plane, no capacity used): its Date narrows the bounds
        return self.clock.now_bounds()

    def now(self) -> datetime:
        earliest, latest = self.now_bounds()
        return earliest + (latest - earliest) / 2

    def restorable_window(self) -> tuple[datetime | None, datetime | None]:
        pitr = self.continuous_backups().get("PointInTimeRecoveryDescription", {})
        return pitr.get("EarliestRestorableDateTime"), pitr.get("LatestRestorableDateTime")

    def write_markers(self, drill_id: str, side: str, count: int) -> None:
        self._spans.update(ddb_markers.write(self.ddb, self.table, drill_id, side, count))

    def side_span(self, drill_id: str, side: str) -> tuple[datetime, datetime]:
        """Service times between which the drill's markers of one side were written."""
        spans = [self.clock.span(*span) for (source, _), span in self._spans.items()
                 if source == ddb_markers.source_name(drill_id, side)]
        return (datetime.fromtimestamp(min(s[0] for s in spans), timezone.utc),
                datetime.fromtimestamp(max(s[1] for s in spans), timezone.utc))

    def _on_service_clock(self, found: list[Marker], offset: tuple[float, float] | None = None) -> list[Marker]:
        """The drill's markers at their service times: the middle of when their PutItem could have been
        applied, with half that span as their uncertainty. Heartbeat items keep their writer's time.
        `offset`: the clock's bounds to use, so that the source and the restore read alike."""
        lo, hi = offset or self.clock.offset_bounds()
        out = []
        for m in found:
            span = self._spans.get(m.key())
            if span is not None:
                earliest, latest = span[0] + lo, span[1] + hi
                m = replace(m, committed_at=datetime.fromtimestamp((earliest + latest) / 2, timezone.utc),
                            uncertainty_s=(latest - earliest) / 2)
            out.append(m)
        return out

    def rows_before(self, drill_id: str, t: datetime) -> int:
        """Rows the drill can judge a restore to t by that were written before it: its own markers and
        the heartbeat items of the seconds before t (read by key; absent where nothing writes them)."""
        wanted = ddb_markers.keys(self.table, drill_id, MARKERS_PER_SIDE) + ddb_markers.heartbeat_keys(self.table, t, HEARTBEAT_WINDOW_S)
        found = self._on_service_clock(ddb_markers.read(self.ddb, self.ref.name, wanted, drill_id))
        return sum(before_t(m, t, self.exact_times) for m in found)

    def make_restorable(self, t: datetime, timeout: float, progress: Callable[[str], None]) -> None:
        wait_restorable(self.ref, lambda: self.restorable_window()[1], t, min(timeout, RESTORABLE_WAIT_S), 5, progress)

    def plan_restore(self, drill_id: str) -> RestoredTable:
        return RestoredTable(restored_table_name(self.ref.name, drill_id), None, drill_id)

    def restore_overrides(self) -> dict[str, Any]:
        """The restored table is on demand (no capacity paid for while it waits) and, unless asked, has no
        secondary indexes: the drill reads its markers by key, and indexes are restored and billed per GB."""
        out: dict[str, Any] = {"BillingModeOverride": "PAY_PER_REQUEST"}
        if not self.with_indexes:
            if self.table.get("GlobalSecondaryIndexes"):
                out["GlobalSecondaryIndexOverride"] = []
            if self.table.get("LocalSecondaryIndexes"):
                out["LocalSecondaryIndexOverride"] = []
        return out

    def restore_cost(self, hours: float, catalog: dict[str, Any], backup_point: bool = False, as_backed_up: bool = False) -> Any:
        """as_backed_up: the restore keeps the source's billing mode and indexes (an AWS Backup restore job
        takes no override)."""
        from ops.cost import restore as restore_cost

        t = self.table
        indexes = t.get("GlobalSecondaryIndexes", []) + t.get("LocalSecondaryIndexes", [])
        index_bytes = float(sum(i.get("IndexSizeBytes", 0) for i in indexes))
        provisioned = None
        if as_backed_up and (t.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED") == "PROVISIONED":
            own = [t.get("ProvisionedThroughput", {})] + [i.get("ProvisionedThroughput", {}) for i in t.get("GlobalSecondaryIndexes", [])]
            provisioned = (float(sum(p.get("WriteCapacityUnits", 0) for p in own)), float(sum(p.get("ReadCapacityUnits", 0) for p in own)))
        size = restore_cost.table_size(t, datetime.now(timezone.utc))
        return restore_cost.dynamodb(catalog, size, index_bytes, hours,
                                     self.with_indexes or as_backed_up, provisioned, backup_point)

    def start_restore(self, handle: RestoredTable, t: datetime | None, tags: dict[str, str], progress: Callable[[str], None]) -> RestoredTable:
        """RestoreTableToPointInTime has no Tags: the table is named after the drill, then tagged."""
        self._t = t
        when: dict[str, Any] = {"RestoreDateTime": t} if t is not None else {"UseLatestRestorableTime": True}
        desc = self.ddb.restore_table_to_point_in_time(SourceTableName=self.ref.name, TargetTableName=handle.name, **when,
                                                       **self.restore_overrides())["TableDescription"]
        self.ddb.tag_resource(ResourceArn=desc["TableArn"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return RestoredTable(handle.name, desc.get("RestoreSummary", {}).get("RestoreDateTime") or t, handle.drill_id)

    def wait_restored(self, handle: RestoredTable, timeout: float, progress: Callable[[str], None]) -> RestoredTable:
        from ops.clock import wait_for

        state = {"status": "CREATING"}

        def active() -> bool:
            state["status"] = self.ddb.describe_table(TableName=handle.name)["Table"]["TableStatus"]
            return state["status"] == "ACTIVE"

        if not wait_for(f"{handle.name} to become ACTIVE (now {state['status']})", active, timeout, 5, progress, every=30):
            raise CannotRun(f"restored table {handle.name} not ACTIVE within {timeout:.0f}s (status {state['status']})")
        if handle.restored_to is None:
            summary = self.ddb.describe_table(TableName=handle.name)["Table"].get("RestoreSummary", {})
            if not summary.get("RestoreDateTime"):
                raise CannotRun(f"restored table {handle.name} reports no RestoreDateTime: the time it was restored to is unknown")
            handle = RestoredTable(handle.name, summary["RestoreDateTime"], handle.drill_id)
        if self._t is None:
            self._t = handle.restored_to  # the latest restorable time the service chose
        return handle

    def _keys(self, drill_id: str) -> list[dict[str, Any]]:
        keys = ddb_markers.keys(self.table, drill_id, MARKERS_PER_SIDE)
        if self._t is not None:
            keys += ddb_markers.heartbeat_keys(self.table, self._t, HEARTBEAT_WINDOW_S)
        return keys

    def source_markers(self, drill_id: str) -> list[Marker]:
        """This drill's markers and the heartbeat items around T, read by key: the table is the
        application's, never scanned."""
        self._offset = self.clock.offset_bounds()  # the restored markers are placed with the same bounds
        return self._on_service_clock(ddb_markers.read(self.ddb, self.ref.name, self._keys(drill_id), drill_id), self._offset)

    def restored_markers(self, handle: RestoredTable, drill_id: str) -> list[Marker]:
        found = ddb_markers.read(self.ddb, handle.name, self._keys(drill_id), drill_id)
        return self._on_service_clock(found, getattr(self, "_offset", None))

    def remove_markers(self, drill_id: str) -> int:
        return ddb_markers.remove(self.ddb, self.table, drill_id, MARKERS_PER_SIDE)

    def restore_notes(self, handle: RestoredTable) -> list[tuple[str, str, str]]:
        """Sizes from DescribeTable's ItemCount (approximate, refreshed about every six hours): no scan of either table."""
        source = self.ddb.describe_table(TableName=self.ref.name)["Table"].get("ItemCount")
        restored = self.ddb.describe_table(TableName=handle.name)["Table"].get("ItemCount")
        detail = (f"ItemCount (approximate, refreshed about every 6 hours): source {source}, restored {restored}; "
                  "the markers are the exact check")
        return [("RESTORE-ITEM-COUNT", "pass" if source == restored else "warn", detail)]

    def not_carried_over(self, handle: RestoredTable) -> list[tuple[str, str, str]]:
        """What a DynamoDB restore does not bring along, from the source's own settings."""
        findings = []
        ttl = self.ddb.describe_time_to_live(TableName=self.ref.name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            findings.append(("NOT-CARRIED-TTL", "warn", f"TTL on {ttl.get('AttributeName')} must be enabled again on the restored table"))
        if self.table.get("StreamSpecification", {}).get("StreamEnabled"):
            findings.append(("NOT-CARRIED-STREAMS", "warn", f"stream ({self.table['StreamSpecification'].get('StreamViewType')}) and its consumers must be set up again"))
        findings.append(("NOT-CARRIED-PITR", "warn", "point-in-time recovery is off on a restored table until enabled"))
        tags = paged(self.ddb, "list_tags_of_resource", "Tags", ResourceArn=self.table["TableArn"])
        if tags:
            findings.append(("NOT-CARRIED-TAGS", "warn", f"{len(tags)} tag(s) of the source ({', '.join(t['Key'] for t in tags)}) are not copied"))
        # ResourceIds takes no wildcard: the table's indexes (table/NAME/index/INDEX) are found by listing.
        scaling = [t for t in paged(self.aws.client("application-autoscaling"), "describe_scalable_targets",
                                    "ScalableTargets", ServiceNamespace="dynamodb")
                   if t["ResourceId"] == f"table/{self.ref.name}" or t["ResourceId"].startswith(f"table/{self.ref.name}/index/")]
        if scaling:
            findings.append(("NOT-CARRIED-AUTOSCALING", "warn", f"{len(scaling)} autoscaling target(s) must be registered again"))
        alarms = []
        # DescribeAlarms answers metric alarms when AlarmTypes is not given; a metric-math alarm names the
        # table inside its Metrics, not in its Dimensions.
        for alarm in paged(self.aws.client("cloudwatch"), "describe_alarms", "MetricAlarms"):
            if self.ref.name in _alarm_tables(alarm):
                alarms.append(alarm["AlarmName"])
        if alarms:
            findings.append(("NOT-CARRIED-ALARMS", "warn", f"{len(alarms)} alarm(s) watch the source only: {', '.join(alarms[:5])}"))
        return findings

    def mark_kept(self, handle: RestoredTable) -> None:
        arn = self.ddb.describe_table(TableName=handle.name)["Table"]["TableArn"]
        self.ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "dbops:owner", "Value": "kept"}])

    def delete(self, handle: RestoredTable) -> None:
        delete_table(self.ddb, handle.name)

    def deleted(self, handle: RestoredTable) -> bool:
        return table_gone(self.ddb, handle.name)


def delete_table(ddb: Any, name: str) -> None:
    try:
        ddb.delete_table(TableName=name)
    except ddb.exceptions.ResourceNotFoundException:
        pass
    except ddb.exceptions.ResourceInUseException:
        pass  # still being created or already being deleted: looked at again until gone


def table_gone(ddb: Any, name: str) -> bool:
    try:
        status = ddb.describe_table(TableName=name)["Table"]["TableStatus"]
    except ddb.exceptions.ResourceNotFoundException:
        return True
    if status == "ACTIVE":
        delete_table(ddb, name)  # a delete refused while the table was still CREATING
    return False


def _alarm_tables(alarm: dict[str, Any]) -> set[str]:
    """The DynamoDB tables a metric alarm watches, by its own metric or any metric of its math."""
    dimension_lists = [alarm.get("Dimensions", [])] + [
        m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []) for m in alarm.get("Metrics", [])]
    return {d.get("Value") for dims in dimension_lists for d in dims if d.get("Name") == "TableName"}
