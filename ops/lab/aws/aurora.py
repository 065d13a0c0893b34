"""The lab's Aurora PostgreSQL: a real PostgreSQL cluster behind every emulated one.

Runs inside the emulator process and extends moto's RDS backend:

- CreateDBInstance in an aurora-postgresql cluster starts one PostgreSQL server per DB
  instance: the first is the writer (initdb, the master user and password of the cluster, TLS
  with the lab's own certificate, WAL archiving, a base backup), the others stream from it.
  Each instance listens on an address of its own (127.a.b.<10+n>, a network the cluster claims
  by binding its writer endpoint 127.a.b.1, so several labs can run at once) at the cluster's
  port, so the instance endpoints the API returns reach their servers, and the server a
  client reached can tell it which instance it is.
- The cluster (writer) endpoint and the reader endpoint are TCP endpoints on addresses of
  their own that forward to the writer and to the readers (ops.lab.aws.endpoint).
- FailoverDBCluster: the cluster is `failing-over`; the old writer is stopped (its clients
  are cut off), the target reader promoted; then DescribeDBClusters shows the new writer and
  the cluster `available`, with the events RDS-EVENT-0072/0073 (started) and 0071 (completed)
  of the Aurora event list. The old writer comes back as a reader (pg_rewind, else a base
  backup; its instance is `rebooting` meanwhile). The cluster endpoint moves to the new
  writer `aurora_endpoint_delay_s` after the promotion: Aurora's endpoints are DNS names
  with a 5 s TTL (AWS re:Post, "aurora-mysql-redirected-endpoint-writer"; the AWS Advanced
  Python Wrapper's docs measure DNS updates at 15-20 s). Until it moves, new connections
  through it reach the old writer: refused while it restarts, then read-only.
- LatestRestorableTime is what the WAL archive of the backing cluster really holds (the
  last archived segment; archive_timeout 10 s with 1 MB segments; after a segment missing from
  the archive, the last commit before it, where a restore stops), EarliestRestorableTime
  the end of its first base backup. RestoreDBClusterToPointInTime recovers the backing
  cluster's base backup and archived WAL to RestoreToTime exactly into a new cluster, which
  is `creating` until the restored server has ended recovery; CreateDBInstance on it then
  serves that data as its writer. CreateDBClusterSnapshot takes a base backup;
  RestoreDBClusterFromSnapshot starts from it.
- A DB proxy is a PgBouncer in front of the writer that opens at most its default target group's
  MaxConnectionsPercent of the server's max_connections (max_db_connections), changed at once by
  ModifyDBProxyTargetGroup; clients beyond it wait for a connection, as RDS Proxy's do.
- StopDBCluster/StartDBCluster stop and start the cluster's servers (aurora_power): `stopping`,
  `stopped` (connections through its endpoints closed, to its instances refused), `starting`,
  `available`; a stopped cluster's latest restorable time is where it was when it stopped.
- Every 30 s the lab puts AWS/RDS AuroraReplicaLag (ms), DatabaseConnections and
  CPUUtilization of each instance to CloudWatch, measured on the servers.

Limits (README lists them): at most 15 readers per cluster (Aurora's own maximum);
parameter groups are not applied to the servers; one region and account; no storage
autoscaling, no Serverless v2, no global databases; restarting the emulator starts an
empty world, so backing data of an earlier emulator is removed.

This module binds the parts to moto's RDS API and registers the Aurora settings: the servers and
endpoints behind each cluster (aurora_servers, with aurora_tls), RDS Proxy (aurora_proxy), failover
(aurora_failover), stop and start (aurora_power), restores (aurora_restore) and CloudWatch metrics (aurora_metrics).
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ops.lab.aws import settings
from ops.lab.aws.aurora_failover import failover
from ops.lab.aws.aurora_metrics import publisher, wake
from ops.lab.aws.aurora_power import start as start_cluster
from ops.lab.aws.aurora_power import stop as stop_cluster
from ops.lab.aws.aurora_proxy import (limit_proxy, proxy_address, proxy_server_connections, release_proxy_address, start_proxy,
                                      start_registered, stop_proxy)
from ops.lab.aws.aurora_restore import restore_snapshot, restore_to_time, snapshot, snapshots_dir
from ops.lab.aws.aurora_servers import (MAX_READERS, Backing, add_instance, apply_archiving, backing_of, backings, register,
                                        registry_lock, remove_instance, root, stop_servers)

ENGINE = "aurora-postgresql"
DNS_TTL_S = 5.0

# Registered where the extension is installed, so `dbops lab settings` lists them in this order.
settings.register("aurora_endpoint_delay_s", DNS_TTL_S,
                  "seconds after a failover before the cluster endpoint reaches the new writer (Aurora's DNS TTL is 5 s)",
                  minimum=0, maximum=600)
settings.register("aurora_archiving", True, "WAL archiving of the lab's Aurora clusters; off: the latest restorable time stops")


def _password_of(cluster: Any) -> str:
    secret = getattr(cluster, "master_user_secret", None)
    if getattr(cluster, "manage_master_user_password", False) and secret is not None:
        return json.loads(secret.secret.secret_string)["password"]
    return getattr(cluster, "_master_user_password", "") or ""


def install() -> None:
    """Patch moto's RDS backend so aurora-postgresql clusters get real servers (no-op without a lab dir)."""
    if root() is None:
        return
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.rds import models as rds

    rds_backend = rds.RDSBackend

    # RDS-managed master secrets hold the cluster's own master user and a random password, as RDS makes them.
    def secret_string(self: Any) -> str:
        return json.dumps({"username": getattr(self.resource, "master_username", None) or "postgres",
                           "password": secrets.token_urlsafe(24)})

    rds.MasterUserSecret._generate_secret_string = secret_string

    status = rds.DBCluster.status
    rds.DBCluster.status = property(lambda self: getattr(self, "_dbops_status", None) or status.fget(self), status.fset)
    for name, addr in (("endpoint", "writer_address"), ("reader_endpoint", "reader_address")):
        original = getattr(rds.DBCluster, name)
        setattr(rds.DBCluster, name, property(
            lambda self, o=original, a=addr: getattr(backing_of(self.db_cluster_identifier), a, None) or o.fget(self)))
    latest = rds.DBCluster.latest_restorable_time

    def latest_restorable_time(self: Any) -> datetime:
        b = backing_of(self.db_cluster_identifier)
        if b is None or not b.cluster.entry["members"]:
            return latest.fget(self)
        if b.stopped_restorable is not None:
            return b.stopped_restorable
        return b.latest_restorable() or self.earliest_restorable_time

    rds.DBCluster.latest_restorable_time = property(latest_restorable_time)
    address = rds.DBInstance.address

    def instance_address(self: Any) -> str:
        b = backing_of(getattr(self, "db_cluster_identifier", None))
        found = b.instance_address(self.db_instance_identifier) if b else None
        return found or address.fget(self)

    rds.DBInstance.address = property(instance_address)

    create_cluster = rds_backend.create_db_cluster

    def create_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        cluster = create_cluster(self, kwargs)
        if cluster.engine == ENGINE:
            register(self, cluster, cluster.master_username, _password_of(cluster),
                     getattr(cluster, "database_name", None)).ready.set()
        return cluster

    rds_backend.create_db_cluster = create_db_cluster

    create_instance = rds_backend.create_db_instance

    def create_db_instance(self: Any, db_kwargs: dict[str, Any]) -> Any:
        cluster = self.clusters.get(db_kwargs["db_cluster_identifier"]) if db_kwargs.get("db_cluster_identifier") else None
        if cluster is None or cluster.engine != ENGINE:
            return create_instance(self, db_kwargs)
        cluster_id = cluster.db_cluster_identifier  # as moto keeps it (lower case)
        if db_kwargs.get("publicly_accessible") is None:
            # CreateDBInstance: without PubliclyAccessible, an instance in the default VPC (which has an internet
            # gateway) is publicly accessible; the cluster's subnet group says where the instance is.
            db_kwargs = dict(db_kwargs, publicly_accessible=(getattr(cluster, "db_subnet_group_name", None) or "default") == "default")
        with registry_lock:  # concurrent CreateDBInstance calls (Terraform makes instances in parallel) share one backing
            b = backing_of(cluster_id)
            if b is None:
                b = register(self, cluster, cluster.master_username, _password_of(cluster), getattr(cluster, "database_name", None))
                b.ready.set()
        with b.lock:
            if b.cluster.entry["writer"] is not None and len(b.cluster.replicas()) >= MAX_READERS:
                raise rds.InvalidParameterValue(f"the dbops lab backs at most {MAX_READERS} readers per Aurora cluster")
            instance = create_instance(self, db_kwargs)
        if b.ready.is_set():
            _start_instance(b, instance)
        else:
            # A restored cluster's data is still being recovered: the instance is creating until it serves it.
            instance.status = "creating"
            threading.Thread(target=lambda: (b.ready.wait(900), _start_instance(b, instance)), daemon=True).start()
        return instance

    def _start_instance(b: Backing, instance: Any) -> None:
        if b.failed is not None:
            instance.status = "failed"  # the cluster's data never came to be
            return
        try:
            with b.lock:
                first_writer = b.cluster.entry["writer"] is None
                add_instance(b, instance.db_instance_identifier)
                if first_writer:
                    start_registered(b)
            instance.status = "available"
            wake.set()  # the new instance's metrics now, not in half a minute
        except Exception:  # noqa: BLE001 — the instance says it failed
            traceback.print_exc()
            instance.status = "failed"

    rds_backend.create_db_instance = create_db_instance

    delete_instance = rds_backend.delete_db_instance

    def delete_db_instance(self: Any, db_instance_identifier: str, *args: Any, **kwargs: Any) -> Any:
        instance = self.databases.get(db_instance_identifier)
        b = backing_of(getattr(instance, "db_cluster_identifier", None))
        result = delete_instance(self, db_instance_identifier, *args, **kwargs)
        if b is not None:
            remove_instance(b, db_instance_identifier)
        return result

    rds_backend.delete_db_instance = delete_db_instance

    delete_cluster = rds_backend.delete_db_cluster

    def delete_db_cluster(self: Any, cluster_identifier: str, *args: Any, **kwargs: Any) -> Any:
        result = delete_cluster(self, cluster_identifier, *args, **kwargs)
        with registry_lock:
            b = backings.pop(cluster_identifier.lower(), None)
        if b is not None:
            with b.lock:
                for name in list(b.proxies):
                    stop_proxy(b, name)
                for ep in (b.writer_endpoint, b.reader_endpoint):
                    if ep is not None:
                        ep.stop()
                home = Path(b.cluster.entry["root"])
                stop_servers(home)
                shutil.rmtree(home, ignore_errors=True)
        return result

    rds_backend.delete_db_cluster = delete_db_cluster

    failover_cluster = rds_backend.failover_db_cluster

    def failover_db_cluster(self: Any, db_cluster_identifier: str, target_db_instance_identifier: str | None = None) -> Any:
        b = backing_of(db_cluster_identifier)
        if b is None:
            return failover_cluster(self, db_cluster_identifier, target_db_instance_identifier)
        cluster = self.clusters[b.cluster_id]
        if cluster.status != "available":  # failing over, stopping, stopped, starting
            raise rds.InvalidDBClusterStateFault(f"DbCluster {db_cluster_identifier} is not in available state ({cluster.status}).")
        chosen: dict[str, Any] = {}
        cluster.failover = lambda target: chosen.setdefault("target", target)  # moto validates, the lab fails over
        try:
            failover_cluster(self, db_cluster_identifier, target_db_instance_identifier)
        finally:
            del cluster.failover
        failover(self, cluster, b, chosen["target"])
        return cluster

    rds_backend.failover_db_cluster = failover_db_cluster

    for name, power in (("stop_db_cluster", stop_cluster), ("start_db_cluster", start_cluster)):
        plain = getattr(rds_backend, name)

        def stop_or_start(self: Any, cluster_identifier: str, plain: Any = plain, power: Any = power) -> Any:
            b = backing_of(cluster_identifier)
            if b is None or b.cluster_id not in self.clusters:
                return plain(self, cluster_identifier)
            return power(rds, self, self.clusters[b.cluster_id], b)

        setattr(rds_backend, name, stop_or_start)

    restore_pitr = rds_backend.restore_db_cluster_to_point_in_time

    def restore_db_cluster_to_point_in_time(self: Any, db_cluster_identifier: str, source_db_cluster_identifier: str,
                                            *args: Any, **kwargs: Any) -> Any:
        source = backing_of(source_db_cluster_identifier)
        restore_to = kwargs.get("restore_to_time")
        if source is not None and restore_to is not None:
            t = restore_to if isinstance(restore_to, datetime) else datetime.fromisoformat(str(restore_to).replace("Z", "+00:00"))
            t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
            latest_t = source.latest_restorable()
            if latest_t is None or t > latest_t:
                raise rds.InvalidParameterValue(f"The restore time {t.isoformat()} is after the latest restorable time "
                                                f"{latest_t.isoformat() if latest_t else 'none'} of the source cluster.")
        new = restore_pitr(self, db_cluster_identifier, source_db_cluster_identifier, *args, **kwargs)
        if source is not None:
            if restore_to is None:  # UseLatestRestorableTime: all the archive holds
                t = source.latest_restorable() or datetime.now(timezone.utc)
            restore_to_time(self, source, new, t, to_end=restore_to is None)
        return new

    rds_backend.restore_db_cluster_to_point_in_time = restore_db_cluster_to_point_in_time

    create_snapshot = rds_backend.create_db_cluster_snapshot

    def create_db_cluster_snapshot(self: Any, db_cluster_identifier: str, db_cluster_snapshot_identifier: str,
                                   *args: Any, **kwargs: Any) -> Any:
        result = create_snapshot(self, db_cluster_identifier, db_cluster_snapshot_identifier, *args, **kwargs)
        b = backing_of(db_cluster_identifier)
        if b is not None and b.cluster.entry["writer"]:
            snapshot(b, db_cluster_snapshot_identifier)
        return result

    rds_backend.create_db_cluster_snapshot = create_db_cluster_snapshot

    restore_from_snapshot = rds_backend.restore_db_cluster_from_snapshot

    def restore_db_cluster_from_snapshot(self: Any, from_snapshot_id: str, overrides: dict[str, Any]) -> Any:
        new = restore_from_snapshot(self, from_snapshot_id, overrides)
        snap = self.describe_db_cluster_snapshots(db_cluster_identifier=None, db_snapshot_identifier=from_snapshot_id)[0]
        source_id = (getattr(snap.cluster, "db_cluster_identifier", None) or "").lower()
        if (snapshots_dir() / from_snapshot_id).exists():
            source = backing_of(source_id)
            master = ((source.master_user, source.master_password, source.dbname) if source else
                      (snap.cluster.master_username, _password_of(snap.cluster), getattr(snap.cluster, "database_name", None)))
            restore_snapshot(self, from_snapshot_id, new, master)
        return new

    rds_backend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot

    get_cfg = rds.DBCluster.get_cfg

    def cluster_cfg(self: Any) -> dict[str, Any]:
        # moto expects a stored password, which a cluster whose master secret RDS manages has not.
        if not hasattr(self, "_master_user_password"):
            self._master_user_password = _password_of(self) or secrets.token_urlsafe(16)
        return get_cfg(self)

    rds.DBCluster.get_cfg = cluster_cfg

    delete_snapshot = rds_backend.delete_db_cluster_snapshot

    def delete_db_cluster_snapshot(self: Any, db_snapshot_identifier: str, *args: Any, **kwargs: Any) -> Any:
        result = delete_snapshot(self, db_snapshot_identifier, *args, **kwargs)
        shutil.rmtree(snapshots_dir() / db_snapshot_identifier, ignore_errors=True)  # its data goes with it
        return result

    rds_backend.delete_db_cluster_snapshot = delete_db_cluster_snapshot

    create_proxy = rds_backend.create_db_proxy

    def create_db_proxy(self: Any, *args: Any, **kwargs: Any) -> Any:
        proxy = create_proxy(self, *args, **kwargs)
        proxy.endpoint = proxy_address(proxy.db_proxy_name)  # reachable from the start, as the service's DNS name is
        return proxy

    rds_backend.create_db_proxy = create_db_proxy

    register_targets = rds_backend.register_db_proxy_targets

    def register_db_proxy_targets(self: Any, db_proxy_name: str, target_group_name: str, db_cluster_identifiers: list[str],
                                  db_instance_identifiers: list[str]) -> Any:
        result = register_targets(self, db_proxy_name, target_group_name, db_cluster_identifiers, db_instance_identifiers)
        for cluster_id in db_cluster_identifiers or []:
            b = backing_of(cluster_id)
            if b is not None:
                with b.lock:
                    # The target may be registered before the cluster's first instance exists (Terraform orders
                    # the target after the cluster only): the proxy then starts with the writer.
                    b.proxy_targets.add(db_proxy_name)
                    if b.cluster.entry["writer"]:
                        start_proxy(b, db_proxy_name)
        return result

    rds_backend.register_db_proxy_targets = register_db_proxy_targets

    modify_target_group = rds_backend.modify_db_proxy_target_group

    def modify_db_proxy_target_group(self: Any, proxy_name: str, config: dict[str, Any]) -> Any:
        group = modify_target_group(self, proxy_name, config)
        for b in list(backings.values()):
            with b.lock:
                if proxy_name in b.proxies:
                    limit_proxy(b.proxies[proxy_name], proxy_server_connections(b, proxy_name))
        return group

    rds_backend.modify_db_proxy_target_group = modify_db_proxy_target_group

    deregister_targets = rds_backend.deregister_db_proxy_targets

    def deregister_db_proxy_targets(self: Any, db_proxy_name: str, target_group_name: str, db_cluster_identifiers: list[str],
                                    db_instance_identifiers: list[str]) -> Any:
        for cluster_id in db_cluster_identifiers or []:
            b = backing_of(cluster_id)
            if b is not None:
                with b.lock:
                    b.proxy_targets.discard(db_proxy_name)
                    stop_proxy(b, db_proxy_name)
        return deregister_targets(self, db_proxy_name, target_group_name, db_cluster_identifiers, db_instance_identifiers)

    rds_backend.deregister_db_proxy_targets = deregister_db_proxy_targets

    delete_proxy = rds_backend.delete_db_proxy

    def delete_db_proxy(self: Any, proxy_name: str) -> Any:
        for b in list(backings.values()):
            with b.lock:
                b.proxy_targets.discard(proxy_name)
                stop_proxy(b, proxy_name)
        release_proxy_address(proxy_name)
        return delete_proxy(self, proxy_name)

    rds_backend.delete_db_proxy = delete_db_proxy

    def _on_settings_change() -> None:
        for b in list(backings.values()):
            with b.lock:
                apply_archiving(b)

    settings.on_change(_on_settings_change)

    def put(b: Backing, points: list[dict[str, Any]]) -> None:
        cloudwatch_backends[b.account][b.region].put_metric_data("AWS/RDS", points)

    threading.Thread(target=publisher, args=(put,), name="aurora-metrics", daemon=True).start()
