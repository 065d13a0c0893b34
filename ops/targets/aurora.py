"""Aurora PostgreSQL clusters through the RDS API (plain boto3)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ops.aws import Aws
from ops.errors import UsageError
from ops.targets import TargetRef
from ops.targets.base import ClusterState, MemberState, wait_restorable

DRILL_TAG_KEY = "dbops:drill-id"


class AuroraTarget:
    def __init__(self, ref: TargetRef, aws: Aws, secret_arn: str | None = None) -> None:
        self.ref = ref
        self.aws = aws
        self.rds = aws.client("rds")
        self.secret_arn = secret_arn
        self._cluster()  # an unknown cluster is a usage error before anything starts

    @property
    def has_data_plane(self) -> bool:
        # The emulator answers the RDS API but runs no database behind the endpoints.
        return not self.aws.emulated

    def _cluster(self) -> dict[str, Any]:
        try:
            return self.rds.describe_db_clusters(DBClusterIdentifier=self.ref.name)["DBClusters"][0]
        except self.rds.exceptions.DBClusterNotFoundFault:
            raise UsageError(f"no Aurora cluster '{self.ref.name}' in {self.aws.region}") from None

    def _instances(self) -> dict[str, dict[str, Any]]:
        paginator = self.rds.get_paginator("describe_db_instances")
        out = {}
        for page in paginator.paginate(Filters=[{"Name": "db-cluster-id", "Values": [self.ref.name]}]):
            for inst in page["DBInstances"]:
                out[inst["DBInstanceIdentifier"]] = inst
        return out

    def replica_lag_s(self, instance_id: str) -> float | None:
        """AuroraReplicaLag (milliseconds) of the last 5 minutes from CloudWatch; None if not reported."""
        cw = self.aws.client("cloudwatch")
        now = datetime.now(timezone.utc)
        stats = cw.get_metric_statistics(
            Namespace="AWS/RDS", MetricName="AuroraReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": instance_id}],
            StartTime=now - timedelta(minutes=5), EndTime=now, Period=60, Statistics=["Maximum"],
        )["Datapoints"]
        if not stats:
            return None
        latest = max(stats, key=lambda d: d["Timestamp"])
        return float(latest["Maximum"]) / 1000.0

    def describe(self) -> ClusterState:
        cluster = self._cluster()
        instances = self._instances()
        members = []
        writer = None
        for m in cluster.get("DBClusterMembers", []):
            iid = m["DBInstanceIdentifier"]
            role = "writer" if m["IsClusterWriter"] else "reader"
            if role == "writer":
                writer = iid
            status = instances.get(iid, {}).get("DBInstanceStatus", "unknown")
            lag = self.replica_lag_s(iid) if role == "reader" else None
            members.append(MemberState(iid, role, status, lag_s=lag, detail=f"promotion tier {m.get('PromotionTier', '-')}"))
        return ClusterState(self.ref.name, cluster["Status"], writer, tuple(members))

    def failover(self, to: str | None, timeout: float) -> None:
        kwargs: dict[str, Any] = {"DBClusterIdentifier": self.ref.name}
        if to:
            kwargs["TargetDBInstanceIdentifier"] = to
        self.rds.failover_db_cluster(**kwargs)

    def after_failover(self, old_writer: str) -> str:
        return f"Aurora keeps {old_writer} in the cluster as a reader; nothing to rebuild"

    def writer_dsn(self) -> str | None:
        if not self.has_data_plane:
            return None
        return self.dsn_for(self._cluster())

    def dsn_for(self, cluster: dict[str, Any], secret_of: dict[str, Any] | None = None) -> str:
        """libpq DSN of a cluster's endpoint; credentials from the master secret of secret_of (default: itself)."""
        owner = secret_of or cluster
        secret_arn = self.secret_arn or (owner.get("MasterUserSecret") or {}).get("SecretArn")
        if not secret_arn:
            raise UsageError(f"no credentials for {self.ref}: give the master secret ARN (Terraform output) or enable the RDS-managed secret")
        secret = json.loads(self.aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
        # The password is only ever in this DSN, handed to libpq; never printed or reported.
        return (
            f"host={cluster['Endpoint']} port={cluster.get('Port', 5432)} dbname={secret.get('dbname', 'postgres')} "
            f"user={secret['username']} password={secret['password']} sslmode=require connect_timeout=2"
        )

@dataclass(frozen=True)
class RestoredCluster:
    name: str
    instance: str


class AuroraRestore:
    """Restore-test operations of an Aurora cluster: RestoreDBClusterToPointInTime plus an instance."""

    exact_times = True

    def __init__(self, target: AuroraTarget) -> None:
        self.target = target
        self.ref = target.ref
        self.rds = target.rds

    @property
    def has_data_plane(self) -> bool:
        return self.target.has_data_plane

    @property
    def emulated(self) -> bool:
        return self.target.aws.emulated

    def pre_checks(self) -> list[tuple[str, str, str]]:
        c = self.target._cluster()
        return [
            ("PRE-AVAILABLE", "pass" if c["Status"] == "available" else "fail", f"cluster {self.ref.name} is {c['Status']}"),
            ("PRE-BACKUPS", "pass" if c.get("BackupRetentionPeriod", 0) >= 1 else "fail", f"backup retention {c.get('BackupRetentionPeriod')} day(s)"),
        ]

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def _markers_conn(self):  # type: ignore[no-untyped-def]
        from ops.data import markers

        return markers.connect(self.target.writer_dsn() or "")

    def write_markers(self, source: str, count: int) -> None:
        from ops.data import markers

        with self._markers_conn() as conn:
            markers.write(conn, source, count)

    def latest_restorable_time(self) -> datetime | None:
        return self.target._cluster().get("LatestRestorableTime")

    def make_restorable(self, t: datetime, timeout: float) -> None:
        wait_restorable(self.ref, self.latest_restorable_time, t, timeout, interval=5)

    def restore(self, t: datetime, drill_id: str, tags: dict[str, str], echo, timeout: float) -> RestoredCluster:  # type: ignore[no-untyped-def]
        source = self.target._cluster()
        name = f"{self.ref.name}-{drill_id}"[:63].rstrip("-")
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        kwargs: dict[str, Any] = {
            "SourceDBClusterIdentifier": self.ref.name, "DBClusterIdentifier": name, "RestoreToTime": t,
            "Tags": tag_list, "VpcSecurityGroupIds": [g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", [])],
        }
        for src, dst in (("DBSubnetGroup", "DBSubnetGroupName"), ("DBClusterParameterGroup", "DBClusterParameterGroupName"), ("KmsKeyId", "KmsKeyId")):
            if source.get(src):
                kwargs[dst] = source[src]
        self.rds.restore_db_cluster_to_point_in_time(**kwargs)
        writer = next((m["DBInstanceIdentifier"] for m in source["DBClusterMembers"] if m["IsClusterWriter"]), None)
        instance_class = self.rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0]["DBInstanceClass"] if writer else "db.t3.medium"
        instance = f"{name}-1"[:63]
        self.rds.create_db_instance(DBInstanceIdentifier=instance, DBClusterIdentifier=name, Engine=source["Engine"],
                                    DBInstanceClass=instance_class, Tags=tag_list)
        restored = RestoredCluster(name, instance)
        deadline = time.monotonic() + timeout
        while True:
            status = self.rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]["DBInstanceStatus"]
            if status == "available":
                return restored
            if time.monotonic() > deadline:
                raise UsageError(f"restored cluster {name} not available within {timeout:.0f}s (instance {status})")
            echo(f"waiting for {instance}: {status}")
            time.sleep(15)

    def source_markers(self, drill_id: str) -> list:
        from ops.data import markers

        with self._markers_conn() as conn:
            return markers.read(conn)

    def restored_markers(self, handle: RestoredCluster, drill_id: str) -> list:
        """The restored cluster keeps the source's master credentials (they are in the restored data)."""
        from ops.data import markers

        restored = self.rds.describe_db_clusters(DBClusterIdentifier=handle.name)["DBClusters"][0]
        with markers.connect(self.target.dsn_for(restored, secret_of=self.target._cluster())) as conn:
            return markers.read(conn)

    def remove_markers(self, drill_id: str) -> None:
        pass

    def restore_notes(self, handle: RestoredCluster) -> list[tuple[str, str, str]]:
        restored = self.rds.describe_db_clusters(DBClusterIdentifier=handle.name)["DBClusters"][0]
        tags = {t["Key"]: t["Value"] for t in restored.get("TagList", [])}
        return [("RESTORE-TAGGED", "pass" if DRILL_TAG_KEY in tags else "fail", f"restored cluster {handle.name} tagged {tags.get(DRILL_TAG_KEY, 'NOT TAGGED')}")]

    def not_carried_over(self, handle: RestoredCluster) -> list[tuple[str, str, str]]:
        source = self.target._cluster()
        readers = sum(not m["IsClusterWriter"] for m in source["DBClusterMembers"])
        out = [("NOT-CARRIED-INSTANCES", "warn", f"the restore has 1 instance; the source has {readers} reader(s) more, to add by hand")]
        out.append(("NOT-CARRIED-INSTANCE-PARAMETERS", "warn", "instance parameter groups, Performance Insights and enhanced monitoring are not restored; set them on new instances"))
        return out

    def mark_kept(self, handle: RestoredCluster) -> None:
        arn = self.rds.describe_db_clusters(DBClusterIdentifier=handle.name)["DBClusters"][0]["DBClusterArn"]
        self.rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "dbops:owner", "Value": "kept"}])

    def delete(self, handle: RestoredCluster) -> None:
        for call, kwargs in ((self.rds.delete_db_instance, {"DBInstanceIdentifier": handle.instance, "SkipFinalSnapshot": True}),
                             (self.rds.delete_db_cluster, {"DBClusterIdentifier": handle.name, "SkipFinalSnapshot": True})):
            try:
                call(**kwargs)
            except (self.rds.exceptions.DBInstanceNotFoundFault, self.rds.exceptions.DBClusterNotFoundFault):
                pass
