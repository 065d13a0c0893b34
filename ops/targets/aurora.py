"""Aurora PostgreSQL clusters through the RDS API (plain boto3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from psycopg.conninfo import make_conninfo

from ops.aws import Aws
from ops.clock import wait_for, wait_until
from ops.config import DEFAULT_RESTORE_INSTANCE_CLASSES
from ops.data.markers import Marker
from ops.errors import CannotRun, ConfigError, RestoreFailed, UsageError
from ops.targets import TargetRef
from ops.targets.base import ClientEndpoint, ClusterState, Heal, MemberState, parse_host_port, pgbouncer_console, wait_restorable
from ops.permissions import declare, need
from ops.window import tags_of

# Aurora point-in-time restores take tens of minutes (the restore, then the new instance).
RESTORE_TIMEOUT_S = 3600.0
RESTORABLE_WAIT_S = 15 * 60
# Instance states the RDS API documents that a new instance does not leave by itself.
TERMINAL_STATUSES = ("failed", "incompatible-restore", "incompatible-parameters", "incompatible-network",
                     "inaccessible-encryption-credentials", "storage-full")

DRILL_TAG_KEY = "dbops:drill-id"
# A restore drill's one instance: the first of these (smallest first) the engine version offers
# (config [restore] instance_classes overrides it).
RESTORE_INSTANCE_CLASSES = DEFAULT_RESTORE_INSTANCE_CLASSES


# What the RDS, CloudWatch and Secrets Manager calls below need.
READS = declare(
    "aurora.reads",
    need("rds:DescribeDBClusters", on="rds-cluster"),
    need("rds:DescribeDBInstances", on="rds-db"),
    need("cloudwatch:GetMetricStatistics", on="*"),
    need("secretsmanager:GetSecretValue", on="secret"),
    need("secretsmanager:GetSecretValue", action="kms:Decrypt", on="kms-key", when="via-secretsmanager",
         why="a master secret under a customer managed key is decrypted with it"),
)
PROXY = declare(  # a drill --via an RDS Proxy: its endpoints and its pool's MaxConnectionsPercent
    "aurora.proxy",
    need("rds:DescribeDBProxies", on="rds-proxy"),
    need("rds:DescribeDBProxyEndpoints", on="rds-proxy"),
    need("rds:DescribeDBProxyTargetGroups", on="rds-proxy"),
)
# Writes on a cluster of the estate are held to the env's clusters (their dbops:env tag).
FAILOVER = declare("aurora.failover", need("rds:FailoverDBCluster", on="rds-cluster", when="estate-env"))
# --start-if-stopped: a drill starts a cluster its schedule stopped.
START = declare("aurora.start", need("rds:StartDBCluster", on="rds-cluster", when="estate-env"))
RESTORE = declare(
    "aurora.restore",
    need("rds:DescribeOrderableDBInstanceOptions", on="*"),
    need("rds:RestoreDBClusterToPointInTime", on="rds-cluster", when="estate-env",
         why="authorized on the source cluster: one of the env's"),
    need("rds:RestoreDBClusterToPointInTime", on="restored-cluster", when="drill-tagging",
         why="authorized on the new cluster too; the request tags it with the drill id"),
    need("rds:RestoreDBClusterToPointInTime", on="rds-cluster-parameter-group", when="drill-tagging",
         why="the restore takes the source's DB cluster parameter group"),
    need("rds:RestoreDBClusterToPointInTime", on="rds-subnet-group", when="drill-tagging",
         why="the restore goes into the source's DB subnet group"),
    need("rds:RestoreDBClusterToPointInTime", action="rds:AddTagsToResource", on="restored-cluster", when="drill-tagging",
         why="the restored cluster is tagged with the drill id at creation"),
    need("rds:RestoreDBClusterToPointInTime", action="kms:CreateGrant", on="kms-key", when="via-rds-dynamodb-for-aws-resource",
         why="a cluster encrypted with a customer managed key is restored under it"),
    need("rds:RestoreDBClusterToPointInTime", action="kms:DescribeKey", on="kms-key", when="via-rds-dynamodb",
         why="a cluster encrypted with a customer managed key is restored under it"),
    need("rds:CreateDBInstance", on="restored-db", when="drill-tagging"),
    need("rds:CreateDBInstance", on="restored-cluster", when="drill-tagging", why="the instance joins the restored cluster"),
    need("rds:CreateDBInstance", action="rds:AddTagsToResource", on="restored-db", when="drill-tagging",
         why="the restore's instance is tagged with the drill id at creation"),
    need("rds:DeleteDBInstance", on="restored-db", when="drill-tagged"),
    need("rds:DeleteDBCluster", on="restored-cluster", when="drill-tagged"),
)


class AuroraTarget:
    def __init__(self, ref: TargetRef, aws: Aws, secret_arn: str | None = None, tls_root_cert: Path | None = None,
                 proxy_tls_root_cert: Path | None = None, verified_only: bool = False, env_name: str = "") -> None:
        self.ref = ref
        self.aws = aws
        self.rds = aws.client("rds")
        self.secret_arn = secret_arn
        self.tls_root_cert = tls_root_cert  # CA bundle: the server's certificate and host name are verified
        self.proxy_tls_root_cert = proxy_tls_root_cert or tls_root_cert  # for a --via endpoint (RDS Proxy)
        # Off the lab, a password never goes over a connection whose server was not verified.
        self.verified_only, self.env_name = verified_only, env_name
        self._cluster()  # an unknown cluster is a usage error before anything starts

    # Every Aurora cluster has a database behind its endpoint (the lab runs real servers behind its own).
    has_data_plane = True

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

    def _latest_metric(self, name: str, instance_id: str) -> float | None:
        """The newest Maximum of an AWS/RDS metric of an instance over the last 5 minutes; None if none."""
        return self._latest_point(name, instance_id)[0]

    def _latest_point(self, name: str, instance_id: str) -> tuple[float | None, datetime | None]:
        """The newest one-minute Maximum of an AWS/RDS metric of an instance over the last 5 minutes, and the start
        of its minute; (None, None) if none."""
        cw = self.aws.client("cloudwatch")
        now = datetime.now(timezone.utc)
        stats = cw.get_metric_statistics(
            Namespace="AWS/RDS", MetricName=name, Dimensions=[{"Name": "DBInstanceIdentifier", "Value": instance_id}],
            StartTime=now - timedelta(minutes=5), EndTime=now, Period=60, Statistics=["Maximum"],
        )["Datapoints"]
        if not stats:
            return None, None
        newest = max(stats, key=lambda d: d["Timestamp"])
        return float(newest["Maximum"]), newest["Timestamp"]

    def replica_lag_s(self, instance_id: str) -> float | None:
        """AuroraReplicaLag (milliseconds) of the last 5 minutes from CloudWatch; None if not reported."""
        lag_ms = self._latest_metric("AuroraReplicaLag", instance_id)
        return None if lag_ms is None else lag_ms / 1000.0

    def connections_metric(self, instance_id: str | None) -> tuple[float | None, str]:
        """DatabaseConnections of an instance: the highest one-minute Maximum of the last 5 minutes."""
        if instance_id is None:
            return None, "no writer instance to read it of"
        cw = self.aws.client("cloudwatch")
        now = datetime.now(timezone.utc)
        points = cw.get_metric_statistics(
            Namespace="AWS/RDS", MetricName="DatabaseConnections", Dimensions=[{"Name": "DBInstanceIdentifier", "Value": instance_id}],
            StartTime=now - timedelta(minutes=5), EndTime=now, Period=60, Statistics=["Maximum"])["Datapoints"]
        if not points:
            return None, f"no data point of {instance_id} in the last 5 minutes"
        return max(float(p["Maximum"]) for p in points), f"{instance_id}, highest one-minute Maximum of the last 5 minutes"

    def proxy_connections_metric(self, proxy: str) -> tuple[float | None, str]:
        """DatabaseConnectionsCurrentlyInUse of an RDS Proxy (AWS/RDS, dimension ProxyName: all its targets): RDS
        publishes it for each instance serving the proxy, so each one-minute period is summed over them; the
        highest of the last 5 minutes."""
        cw = self.aws.client("cloudwatch")
        now = datetime.now(timezone.utc)
        points = cw.get_metric_statistics(
            Namespace="AWS/RDS", MetricName="DatabaseConnectionsCurrentlyInUse", Dimensions=[{"Name": "ProxyName", "Value": proxy}],
            StartTime=now - timedelta(minutes=5), EndTime=now, Period=60, Statistics=["Sum"])["Datapoints"]
        if not points:
            return None, f"no data point of proxy {proxy} in the last 5 minutes"
        return max(float(p["Sum"]) for p in points), f"proxy {proxy}, highest one-minute Sum of the last 5 minutes"

    def proxy_at(self, host: str) -> tuple[str, float | None] | None:
        """The RDS Proxy whose endpoint (default or custom) is host, and its MaxConnectionsPercent; None: no proxy there."""
        import botocore.exceptions

        name = None
        for page in self.rds.get_paginator("describe_db_proxies").paginate():
            name = next((p["DBProxyName"] for p in page.get("DBProxies", []) if p.get("Endpoint") == host), None)
            if name:
                break
        if name is None:
            try:
                for page in self.rds.get_paginator("describe_db_proxy_endpoints").paginate():
                    name = next((e["DBProxyName"] for e in page.get("DBProxyEndpoints", []) if e.get("Endpoint") == host), None)
                    if name:
                        break
            except botocore.exceptions.ClientError:
                name = None
        if name is None:
            return None
        try:
            groups = self.rds.describe_db_proxy_target_groups(DBProxyName=name)["TargetGroups"]
        except botocore.exceptions.ClientError:
            return name, None
        default = next((g for g in groups if g.get("IsDefault") or g.get("TargetGroupName") == "default"), None)
        percent = ((default or {}).get("ConnectionPoolConfig") or {}).get("MaxConnectionsPercent")
        return name, float(percent) if isinstance(percent, (int, float)) else None

    def writer_connections(self) -> str:
        writer = self.describe(lag=False).writer
        count = self._latest_metric("DatabaseConnections", writer) if writer else None
        return "unknown (no CloudWatch datapoints in 5 minutes)" if count is None else f"{count:.0f} (CloudWatch, {writer})"

    def describe(self, lag: bool = True) -> ClusterState:
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
            lag_ms, lag_at = self._latest_point("AuroraReplicaLag", iid) if role == "reader" and lag else (None, None)
            members.append(MemberState(iid, role, status, lag_s=None if lag_ms is None else lag_ms / 1000.0, lag_at=lag_at,
                                       detail=f"promotion tier {m.get('PromotionTier', '-')}"))
        return ClusterState(self.ref.name, cluster["Status"], writer, tuple(members))

    def cluster_status(self) -> str:
        return str(self._cluster()["Status"])

    def cluster_tags(self) -> dict[str, str]:
        return tags_of(self._cluster().get("TagList"))

    def start(self, timeout: float = 1800.0, call: bool = True) -> bool:
        """StartDBCluster (call=False: one already starting), then wait until the cluster and its instances are
        available; whether they were in time."""
        if call:
            self.aws.client("rds", attempts=1).start_db_cluster(DBClusterIdentifier=self.ref.name)

        def available() -> bool:
            state = self.describe(lag=False)
            return state.status == "available" and all(m.status == "available" for m in state.members)

        return wait_until(available, timeout, interval=2)

    def current_writer(self) -> str | None:
        """One DescribeDBClusters: its members say which is the writer (RDS API rate limits are account-wide)."""
        return next((m["DBInstanceIdentifier"] for m in self._cluster().get("DBClusterMembers", []) if m["IsClusterWriter"]), None)

    def failover(self, to: str | None, timeout: float) -> None:
        kwargs: dict[str, Any] = {"DBClusterIdentifier": self.ref.name}
        if to:
            kwargs["TargetDBInstanceIdentifier"] = to
        self.aws.client("rds", attempts=1).failover_db_cluster(**kwargs)

    def after_failover(self, old_writer: str, timeout: float = 600.0) -> Heal:
        """Aurora keeps the old writer in the cluster and brings it back as a reader: whole once it is an available reader."""
        seen: dict[str, Any] = {}

        def back_as_reader() -> bool:
            member = self.describe(lag=False).member(old_writer)
            seen["member"] = member
            return member is not None and member.role == "reader" and member.status == "available"

        if wait_until(back_as_reader, timeout, interval=5):
            return Heal(True, f"{old_writer} is back in {self.ref.name} as an available reader")
        member = seen.get("member")
        where = f"{member.role}, {member.status}" if member else "not a member of the cluster"
        return Heal(False, f"{old_writer} is not an available reader after {timeout:.0f}s ({where})")

    def writer_dsn(self) -> str | None:
        return self.dsn_for(self._cluster())

    def client_endpoint(self, via: str | None) -> ClientEndpoint:
        """None: the cluster (writer) endpoint; HOST:PORT: another endpoint in front of it (a proxy, a pooler),
        with the same master credentials and TLS."""
        if via is None:
            return ClientEndpoint(self.writer_dsn() or "", "the cluster endpoint", connections_metric=self._writer_connections_metric)
        if via == "pooler":
            raise UsageError(f"--via pooler names the lab's PgBouncer of lab-pg; for {self.ref} give the proxy's HOST:PORT")
        host, port = parse_host_port(via)
        cluster = dict(self._cluster(), Endpoint=host, Port=port)
        dsn = self.dsn_for(cluster, ca=self.proxy_tls_root_cert)
        proxy = self.proxy_at(host)
        in_use = (lambda: self.proxy_connections_metric(proxy[0])) if proxy is not None else None
        return ClientEndpoint(dsn, f"{host}:{port}", pgbouncer_console(dsn), proxy, self._writer_connections_metric, in_use)

    def _writer_connections_metric(self) -> tuple[float | None, str]:
        return self.connections_metric(self.current_writer())

    def probe(self) -> None:
        """Connect once through the writer endpoint with the master secret: wrong credentials or no
        route to the cluster stop a drill in one line, before it starts."""
        import psycopg

        try:
            with psycopg.connect(self.writer_dsn() or "", connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            first = (str(exc).strip().splitlines() or ["connection failed"])[-1].strip()
            where = f" (credentials from secret {self.secret_arn})" if self.secret_arn else ""
            raise CannotRun(f"{self.ref}: cannot connect to the writer endpoint{where}: {first}") from None

    def dsn_for(self, cluster: dict[str, Any], secret_of: dict[str, Any] | None = None, ca: Path | None = None) -> str:
        """libpq DSN of a cluster's endpoint, TLS required; credentials from the master secret
        (--secret-arn, the env's Terraform outputs, or the cluster's RDS-managed secret)."""
        ca = ca or self.tls_root_cert
        if ca is None and self.verified_only:
            raise ConfigError(f"envs.{self.env_name}.tls_root_cert is not set: connections to {self.ref} verify the server "
                              "(sslmode=verify-full) and carry a password; set it to the RDS CA bundle (global-bundle.pem)")
        owner = secret_of or cluster
        secret_arn = self.secret_arn or (owner.get("MasterUserSecret") or {}).get("SecretArn")
        if not secret_arn:
            raise UsageError(f"no credentials for {self.ref}: give --secret-arn, or apply the env whose outputs name the "
                             "master secret, or enable the RDS-managed master secret")
        try:
            secret = json.loads(self.aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
            user, password = secret["username"], secret["password"]
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"secret {secret_arn} holds no JSON with username and password") from None
        # The password is only ever in this DSN, handed to libpq; never printed or reported.
        tls = {"sslmode": "verify-full", "sslrootcert": str(ca)} if ca is not None else {"sslmode": "require"}
        dbname = secret.get("dbname") or cluster.get("DatabaseName") or "postgres"  # RDS-managed secrets name none
        return make_conninfo(host=cluster["Endpoint"], port=cluster.get("Port", 5432), dbname=dbname,
                             user=user, password=password, connect_timeout=2, **tls)


@dataclass(frozen=True)
class RestoredCluster:
    name: str
    instance: str
    restored_to: datetime | None = None
    # A restore to the latest restorable time: RDS does not say which time it took, only that it is
    # between the source's latest restorable times read before and after the call.
    restored_by: datetime | None = None


def restored_names(source: str, drill_id: str) -> tuple[str, str]:
    """Cluster and instance identifiers of a drill's restore (63 characters at most)."""
    name = f"{source[: 62 - len(drill_id)]}-{drill_id}"[:63].rstrip("-")
    return name, f"{name[:61]}-1"


def orderable_classes(rds: Any, engine: str, version: str) -> set[str]:
    """The DB instance classes the engine version can be ordered with in this region."""
    paginator = rds.get_paginator("describe_orderable_db_instance_options")
    return {o["DBInstanceClass"] for page in paginator.paginate(Engine=engine, EngineVersion=version)
            for o in page["OrderableDBInstanceOptions"]}


def choose_instance_class(rds: Any, engine: str, version: str, candidates: tuple[str, ...]) -> str:
    """The first of candidates (listed smallest first) that the engine version offers."""
    offered = orderable_classes(rds, engine, version)
    chosen = next((c for c in candidates if c in offered), None)
    if chosen is None:
        raise UsageError(f"none of the restore instance classes ({', '.join(candidates)}) is offered for {engine} {version} "
                         "(DescribeOrderableDBInstanceOptions): set [restore] instance_classes in dbops.toml")
    return chosen


def restore_network(source: dict[str, Any]) -> dict[str, Any]:
    """The source cluster's subnet group, security groups and port, for the restored cluster."""
    out: dict[str, Any] = {"VpcSecurityGroupIds": [g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", [])]}
    if source.get("DBSubnetGroup"):
        out["DBSubnetGroupName"] = source["DBSubnetGroup"]
    if source.get("Port"):
        out["Port"] = int(source["Port"])
    return out


def add_restore_instance(rds: Any, source: dict[str, Any], cluster_id: str, instance_id: str, instance_class: str,
                         tags: dict[str, str]) -> None:
    """The one instance of a restored cluster (both restore paths): the chosen small class, never publicly
    accessible, tagged at creation. Its subnets, security groups and port are the cluster's."""
    rds.create_db_instance(DBInstanceIdentifier=instance_id, DBClusterIdentifier=cluster_id, Engine=source["Engine"],
                           DBInstanceClass=instance_class, PubliclyAccessible=False,
                           Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


class AuroraRestore:
    """Restore-test operations of an Aurora cluster: RestoreDBClusterToPointInTime plus an instance."""

    exact_times = True
    default_timeout_s = RESTORE_TIMEOUT_S
    restores_to_latest = True  # UseLatestRestorableTime
    restore_granularity_s = 0.0  # RestoreToTime carries fractions of a second; commit times are exact

    def __init__(self, target: AuroraTarget, instance_classes: tuple[str, ...] = RESTORE_INSTANCE_CLASSES,
                 copy_on_write: bool = False) -> None:
        self.target = target
        self.ref = target.ref
        self.rds = target.rds
        self.instance_classes = instance_classes
        # A restore to the latest restorable time shares the source's pages until either writes them. RDS takes
        # copy-on-write with UseLatestRestorableTime only (RestoreToTime "can't be specified if the RestoreType
        # parameter is copy-on-write"): a restore to an explicit T is always a full copy.
        self.copy_on_write = copy_on_write
        self._instance_class: str | None = None

    def instance_class(self) -> str:
        """The restored cluster's instance class, chosen once per drill."""
        if self._instance_class is None:
            source = self.target._cluster()
            self._instance_class = choose_instance_class(self.rds, source["Engine"], source.get("EngineVersion", ""),
                                                         self.instance_classes)
        return self._instance_class

    def volume_bytes(self) -> float:
        """The source's cluster volume, the newest VolumeBytesUsed of the last day (Aurora publishes it per cluster)."""
        cw = self.target.aws.client("cloudwatch")
        now = datetime.now(timezone.utc)
        points = cw.get_metric_statistics(
            Namespace="AWS/RDS", MetricName="VolumeBytesUsed", Dimensions=[{"Name": "DBClusterIdentifier", "Value": self.ref.name}],
            StartTime=now - timedelta(days=1), EndTime=now, Period=300, Statistics=["Maximum"])["Datapoints"]
        if not points:
            raise UsageError(f"{self.ref}: no VolumeBytesUsed in CloudWatch over the last day: the size of the restore is not "
                             "measured, so its cost cannot be bounded")
        return float(max(points, key=lambda d: d["Timestamp"])["Maximum"])

    def restore_cost(self, hours: float, catalog: dict[str, Any], backup_point: bool = False) -> Any:
        from ops.cost import restore as restore_cost

        return restore_cost.aurora(catalog, self.instance_class(), self.volume_bytes(), hours, backup_point,
                                   self.target._cluster().get("StorageType"))

    @property
    def has_data_plane(self) -> bool:
        return self.target.has_data_plane

    def probe(self) -> None:
        self.target.probe()

    def pre_checks(self) -> list[tuple[str, str, str]]:
        c = self.target._cluster()
        return [
            ("PRE-AVAILABLE", "pass" if c["Status"] == "available" else "fail", f"cluster {self.ref.name} is {c['Status']}"),
            ("PRE-BACKUPS", "pass" if c.get("BackupRetentionPeriod", 0) >= 1 else "fail", f"backup retention {c.get('BackupRetentionPeriod')} day(s)"),
        ]

    def now(self) -> datetime:
        from ops.data import markers

        with self._markers_conn() as conn:
            return markers.server_now(conn)  # the database's clock, the one RestoreToTime is compared with

    def now_bounds(self) -> tuple[datetime, datetime]:
        now = self.now()
        return now, now

    def side_span(self, drill_id: str, side: str) -> tuple[datetime, datetime]:
        times = [m.committed_at for m in self.source_markers(drill_id) if m.source == f"{drill_id}:{side}"]
        return min(times), max(times)

    def rows_before(self, drill_id: str, t: datetime) -> int:
        from ops.data import markers

        with self._markers_conn() as conn:
            return markers.count_before(conn, drill_id, t)

    def restorable_window(self) -> tuple[datetime | None, datetime | None]:
        c = self.target._cluster()
        return c.get("EarliestRestorableTime"), c.get("LatestRestorableTime")

    def _markers_conn(self):  # type: ignore[no-untyped-def]
        from ops.data import markers

        return markers.connect(self.target.writer_dsn() or "")

    def write_markers(self, drill_id: str, side: str, count: int) -> None:
        from ops.data import markers

        with self._markers_conn() as conn:
            markers.write(conn, f"{drill_id}:{side}", count)

    def make_restorable(self, t: datetime, timeout: float, progress: Callable[[str], None]) -> None:
        wait_restorable(self.ref, lambda: self.restorable_window()[1], t, min(timeout, RESTORABLE_WAIT_S), 5, progress)

    def plan_restore(self, drill_id: str) -> RestoredCluster:
        return RestoredCluster(*restored_names(self.ref.name, drill_id))

    def start_restore(self, handle: RestoredCluster, t: datetime | None, tags: dict[str, str], progress: Callable[[str], None]) -> RestoredCluster:
        """The cluster and its instance are tagged at creation (both APIs take Tags)."""
        source = self.target._cluster()
        instance_class = self.instance_class()
        kwargs: dict[str, Any] = {"SourceDBClusterIdentifier": self.ref.name, "DBClusterIdentifier": handle.name,
                                  "Tags": [{"Key": k, "Value": v} for k, v in tags.items()], **restore_network(source)}
        kwargs.update({"RestoreToTime": t} if t is not None else {"UseLatestRestorableTime": True})
        if t is None and self.copy_on_write:
            kwargs["RestoreType"] = "copy-on-write"
        latest_before = source.get("LatestRestorableTime")
        if t is None and latest_before is None:
            raise CannotRun(f"{self.ref} reports no latest restorable time: nothing to restore to")
        for src, dst in (("DBClusterParameterGroup", "DBClusterParameterGroupName"), ("KmsKeyId", "KmsKeyId")):
            if source.get(src):
                kwargs[dst] = source[src]
        self.rds.restore_db_cluster_to_point_in_time(**kwargs)
        latest_after = self.target._cluster().get("LatestRestorableTime") if t is None else None
        add_restore_instance(self.rds, source, handle.name, handle.instance, instance_class, tags)
        if t is None:
            return RestoredCluster(handle.name, handle.instance, latest_before, latest_after or latest_before)
        return RestoredCluster(handle.name, handle.instance, t)

    def wait_restored(self, handle: RestoredCluster, timeout: float, progress: Callable[[str], None]) -> RestoredCluster:
        state = {"status": "creating"}

        def available() -> bool:
            state["status"] = self.rds.describe_db_instances(DBInstanceIdentifier=handle.instance)["DBInstances"][0]["DBInstanceStatus"]
            if state["status"] in TERMINAL_STATUSES:
                raise RestoreFailed(f"restored cluster {handle.name} will not become available: instance {handle.instance} is {state['status']}")
            return state["status"] == "available"

        if not wait_for(f"{handle.instance} of the restored cluster to become available", available, timeout, 3, progress, every=30):
            raise CannotRun(f"restored cluster {handle.name} not available within {timeout:.0f}s (instance {state['status']})")
        return handle

    def source_markers(self, drill_id: str) -> list[Marker]:
        from ops.data import markers

        with self._markers_conn() as conn:
            return markers.read(conn, drill_id)

    def restored_dsn(self, handle: RestoredCluster) -> str:
        """The restored cluster's endpoint; it keeps the source's master credentials (they are in the restored data)."""
        restored = self.rds.describe_db_clusters(DBClusterIdentifier=handle.name)["DBClusters"][0]
        return self.target.dsn_for(restored, secret_of=self.target._cluster())

    def restored_markers(self, handle: RestoredCluster, drill_id: str) -> list[Marker]:
        from ops.data import markers

        with markers.connect(self.restored_dsn(handle)) as conn:
            return markers.read(conn, drill_id)

    def remove_markers(self, drill_id: str) -> int:
        from ops.data import markers

        with self._markers_conn() as conn:
            return markers.remove(conn, drill_id)

    def restore_notes(self, handle: RestoredCluster) -> list[tuple[str, str, str]]:
        restored = self.rds.describe_db_clusters(DBClusterIdentifier=handle.name)["DBClusters"][0]
        tags = {t["Key"]: t["Value"] for t in restored.get("TagList", [])}
        return [("RESTORE-TAGGED", "pass" if DRILL_TAG_KEY in tags else "fail", f"restored cluster {handle.name} tagged {tags.get(DRILL_TAG_KEY, 'NOT TAGGED')}")]

    def not_carried_over(self, handle: RestoredCluster) -> list[tuple[str, str, str]]:
        source = self.target._cluster()
        readers = sum(not m["IsClusterWriter"] for m in source["DBClusterMembers"])
        out = [("NOT-CARRIED-INSTANCES", "warn", f"the restore has 1 instance ({self.instance_class()}, not publicly accessible); "
                                                 f"the source has {readers} reader(s) more, to add by hand")]
        out.append(("NOT-CARRIED-INSTANCE-PARAMETERS", "warn", "instance parameter groups, Performance Insights and enhanced monitoring are not restored; set them on new instances"))
        return out

    def mark_kept(self, handle: RestoredCluster) -> None:
        arn = self.rds.describe_db_clusters(DBClusterIdentifier=handle.name)["DBClusters"][0]["DBClusterArn"]
        self.rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "dbops:owner", "Value": "kept"}])

    def delete(self, handle: RestoredCluster) -> None:
        delete_cluster_step(self.rds, handle.name, [handle.instance])

    def deleted(self, handle: RestoredCluster) -> bool:
        return delete_cluster_step(self.rds, handle.name, [handle.instance])


def delete_cluster_step(rds: Any, cluster: str, instances: list[str], final_snapshot: str | None = None) -> bool:
    """One step of deleting a cluster: its instances first, then the cluster (with a final snapshot when one is
    named: a cluster no drill record vouches for keeps its data). True once both are seen gone.

    Aurora refuses to delete a cluster that still has instances, so this is called again
    until it returns True; every call is safe to repeat.
    """
    left = []
    for iid in instances:
        try:
            status = rds.describe_db_instances(DBInstanceIdentifier=iid)["DBInstances"][0]["DBInstanceStatus"]
        except rds.exceptions.DBInstanceNotFoundFault:
            continue
        left.append(iid)
        if status != "deleting":
            try:
                rds.delete_db_instance(DBInstanceIdentifier=iid, SkipFinalSnapshot=True)
            except (rds.exceptions.DBInstanceNotFoundFault, rds.exceptions.InvalidDBInstanceStateFault):
                pass
    try:
        status = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["Status"]
    except rds.exceptions.DBClusterNotFoundFault:
        return not left
    if not left and status != "deleting":
        try:
            final = {"FinalDBSnapshotIdentifier": final_snapshot} if final_snapshot else {"SkipFinalSnapshot": True}
            rds.delete_db_cluster(DBClusterIdentifier=cluster, **final)
        except (rds.exceptions.DBClusterNotFoundFault, rds.exceptions.InvalidDBClusterStateFault):
            pass
    return False
