"""Aurora PostgreSQL clusters through the RDS API (plain boto3)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from ops.aws import Aws
from ops.errors import UsageError
from ops.targets import TargetRef
from ops.targets.base import ClusterState, MemberState


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
        cluster = self._cluster()
        secret_arn = self.secret_arn or (cluster.get("MasterUserSecret") or {}).get("SecretArn")
        if not secret_arn:
            raise UsageError(f"no credentials for {self.ref}: give the master secret ARN (Terraform output) or enable the RDS-managed secret")
        secret = json.loads(self.aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
        # The password is only ever in this DSN, handed to libpq; never printed or reported.
        return (
            f"host={cluster['Endpoint']} port={cluster.get('Port', 5432)} dbname={secret.get('dbname', 'postgres')} "
            f"user={secret['username']} password={secret['password']} sslmode=require connect_timeout=2"
        )
