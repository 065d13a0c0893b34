"""DynamoDB tables through the DynamoDB API (plain boto3)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from ops.aws import Aws
from ops.data.markers import Marker
from ops.errors import LabError, UsageError
from ops.targets import TargetRef
from ops.targets.base import wait_restorable

MARKER_PREFIX = "dbops-marker#"


@dataclass(frozen=True)
class RestoredTable:
    name: str
    restored_to: datetime  # the RestoreDateTime DynamoDB reports for the new table
    drill_id: str = ""


class DynamoTarget:
    """A table: describe, PITR window, markers as items, restore to a point in time."""

    exact_times = False  # marker times are client times: a guard band applies near T

    def __init__(self, ref: TargetRef, aws: Aws) -> None:
        self.ref = ref
        self.aws = aws
        self.ddb = aws.client("dynamodb")
        try:
            self.table = self.ddb.describe_table(TableName=ref.name)["Table"]
        except self.ddb.exceptions.ResourceNotFoundException:
            raise UsageError(f"no DynamoDB table '{ref.name}' in {aws.region}") from None

    has_data_plane = True

    @property
    def emulated(self) -> bool:
        return self.aws.emulated

    def _key(self, source: str, seq: int) -> dict[str, Any]:
        types = {a["AttributeName"]: a["AttributeType"] for a in self.table["AttributeDefinitions"]}
        key = {}
        for k in self.table["KeySchema"]:
            t = types[k["AttributeName"]]
            key[k["AttributeName"]] = {"N": str(seq)} if t == "N" else {"S": f"{MARKER_PREFIX}{source}#{seq:09d}"} if t == "S" else {"B": f"{source}#{seq}".encode()}
        return key

    def continuous_backups(self) -> dict[str, Any]:
        return self.ddb.describe_continuous_backups(TableName=self.ref.name)["ContinuousBackupsDescription"]

    def pre_checks(self) -> list[tuple[str, str, str]]:
        pitr = self.continuous_backups().get("PointInTimeRecoveryDescription", {})
        enabled = pitr.get("PointInTimeRecoveryStatus") == "ENABLED"
        return [
            ("PRE-AVAILABLE", "pass" if self.table["TableStatus"] == "ACTIVE" else "fail", f"table {self.ref.name} is {self.table['TableStatus']}"),
            ("PRE-PITR", "pass" if enabled else "fail", "point-in-time recovery is enabled" if enabled else "point-in-time recovery is disabled: nothing to restore to a point in time"),
        ]

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def write_markers(self, source: str, count: int) -> None:
        for seq in range(1, count + 1):
            item = self._key(source, seq) | {
                "dbops_marker": {"S": source}, "dbops_seq": {"N": str(seq)},
                "dbops_written_at": {"N": f"{time.time():.6f}"}, "dbops_payload": {"S": f"{source}-{seq}-{time.time_ns()}"},
            }
            self.ddb.put_item(TableName=self.ref.name, Item=item)
            time.sleep(0.02)

    def latest_restorable_time(self) -> datetime | None:
        return self.continuous_backups().get("PointInTimeRecoveryDescription", {}).get("LatestRestorableDateTime")

    def make_restorable(self, t: datetime, timeout: float) -> None:
        wait_restorable(self.ref, self.latest_restorable_time, t, timeout, interval=2)

    def restore(self, t: datetime | None, drill_id: str, tags: dict[str, str], echo: Callable[[str], None], timeout: float) -> RestoredTable:
        """Restore to t, or to the latest restorable time when t is None."""
        name = f"{self.ref.name}-{drill_id}"[:255]
        when: dict[str, Any] = {"RestoreDateTime": t} if t is not None else {"UseLatestRestorableTime": True}
        desc = self.ddb.restore_table_to_point_in_time(SourceTableName=self.ref.name, TargetTableName=name, **when)["TableDescription"]
        restored = RestoredTable(name, desc.get("RestoreSummary", {}).get("RestoreDateTime") or t or datetime.now(timezone.utc), drill_id)
        arn = desc["TableArn"]
        self.ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        deadline = time.monotonic() + timeout
        while self.ddb.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise LabError(f"restored table {name} not ACTIVE within {timeout:.0f}s")
            echo(f"waiting for {name} to become ACTIVE")
            time.sleep(5)
        return restored

    def _markers(self, table: str) -> list[Marker]:
        out = []
        paginator = self.ddb.get_paginator("scan")
        for page in paginator.paginate(TableName=table, FilterExpression="attribute_exists(dbops_marker)"):
            for item in page["Items"]:
                out.append(Marker(item["dbops_marker"]["S"], int(item["dbops_seq"]["N"]),
                                  datetime.fromtimestamp(float(Decimal(item["dbops_written_at"]["N"])), timezone.utc),
                                  item["dbops_payload"]["S"]))
        return out

    def item_count(self, table: str) -> int:
        return sum(page["Count"] for page in self.ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT"))

    def source_markers(self, drill_id: str) -> list[Marker]:
        """This drill's markers only: the table is the application's, not ours."""
        return [m for m in self._markers(self.ref.name) if m.source.startswith(drill_id)]

    def restored_markers(self, handle: RestoredTable, drill_id: str) -> list[Marker]:
        return [m for m in self._markers(handle.name) if m.source.startswith(drill_id)]

    def remove_markers(self, drill_id: str) -> None:
        for m in self.source_markers(drill_id):
            self.ddb.delete_item(TableName=self.ref.name, Key=self._key(m.source, m.seq))

    def restore_notes(self, handle: RestoredTable) -> list[tuple[str, str, str]]:
        source, restored = self.item_count(self.ref.name), self.item_count(handle.name)
        after = sum(1 for m in self.source_markers(f"{handle.drill_id}:after"))
        expected = source - after
        if restored == expected:
            return [("RESTORE-ITEM-COUNT", "pass", f"restored table holds {restored} items: the source's {source} less the {after} markers written after T")]
        return [("RESTORE-ITEM-COUNT", "warn", f"restored table holds {restored} items, the source {source} with {after} markers after T: "
                                               "other writers changed the source since T, or the restore is incomplete")]

    def not_carried_over(self, handle: RestoredTable) -> list[tuple[str, str, str]]:
        """What a DynamoDB restore does not bring along, from the source's own settings."""
        findings = []
        ttl = self.ddb.describe_time_to_live(TableName=self.ref.name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            findings.append(("NOT-CARRIED-TTL", "warn", f"TTL on {ttl.get('AttributeName')} must be enabled again on the restored table"))
        if self.table.get("StreamSpecification", {}).get("StreamEnabled"):
            findings.append(("NOT-CARRIED-STREAMS", "warn", f"stream ({self.table['StreamSpecification'].get('StreamViewType')}) and its consumers must be set up again"))
        findings.append(("NOT-CARRIED-PITR", "warn", "point-in-time recovery is off on a restored table until enabled"))
        tags = self.ddb.list_tags_of_resource(ResourceArn=self.table["TableArn"]).get("Tags", [])
        if tags:
            findings.append(("NOT-CARRIED-TAGS", "warn", f"{len(tags)} tag(s) of the source ({', '.join(t['Key'] for t in tags)}) are not copied"))
        scaling = self.aws.client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="dynamodb", ResourceIds=[f"table/{self.ref.name}"]).get("ScalableTargets", [])
        if scaling:
            findings.append(("NOT-CARRIED-AUTOSCALING", "warn", f"{len(scaling)} autoscaling target(s) must be registered again"))
        alarms = [a["AlarmName"] for a in self.aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
                  if any(d.get("Name") == "TableName" and d.get("Value") == self.ref.name for d in a.get("Dimensions", []))]
        if alarms:
            findings.append(("NOT-CARRIED-ALARMS", "warn", f"{len(alarms)} alarm(s) watch the source only: {', '.join(alarms[:5])}"))
        return findings

    def mark_kept(self, handle: RestoredTable) -> None:
        arn = self.ddb.describe_table(TableName=handle.name)["Table"]["TableArn"]
        self.ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "dbops:owner", "Value": "kept"}])

    def delete(self, handle: RestoredTable) -> None:
        try:
            self.ddb.delete_table(TableName=handle.name)
        except self.ddb.exceptions.ResourceNotFoundException:
            pass
