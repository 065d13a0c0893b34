"""StopDBCluster and StartDBCluster in the lab: the cluster's servers stop and start with it.

As the RDS API reference has them: StopDBCluster takes an `available` cluster, StartDBCluster a
`stopped` one; any other state is InvalidDBClusterStateFault. Each ends with the cluster event RDS sends
(RDS-EVENT-0150 "DB cluster stopped", RDS-EVENT-0151 "DB cluster started"). The call answers at once with the
cluster `stopping` (`starting`); its instances follow the same states. Stopping switches the writer's
WAL so the archive holds every commit, records the latest restorable time (a stopped cluster writes
nothing, so it stays there while stopped), then stops the proxies and the servers: readers first, so
none is left streaming from nothing. The endpoints stay bound, so a client's connection through them is
closed at once (and one to an instance's address refused). Starting starts the writer, then the
readers (still standbys of it), then the proxies; the cluster and its instances are `available` once
every server accepts connections.

Not modelled: AWS starts a cluster stopped for 7 days by itself (the lab's clusters live for minutes).
"""

from __future__ import annotations

import threading
import traceback
from datetime import datetime, timezone
from typing import Any

from ops.lab.aws.aurora_failover import event
from ops.lab.aws.aurora_metrics import wake
from ops.lab.aws.aurora_proxy import start_registered, stop_proxy
from ops.lab.aws.aurora_servers import Backing, log


def _instances(backend: Any, b: Backing) -> list[Any]:
    return [backend.databases[m.name] for m in b.cluster.members if m.name in backend.databases]


def _refuse(rds: Any, cluster: Any, expected: str) -> None:
    raise rds.InvalidDBClusterStateFault(f"DbCluster {cluster.db_cluster_identifier} is in {cluster.status} state "
                                         f"but expected it to be one of {expected}.")


def stop(rds: Any, backend: Any, cluster: Any, b: Backing) -> Any:
    if cluster.status != "available":
        _refuse(rds, cluster, "available")
    cluster._dbops_status = "stopping"
    instances = _instances(backend, b)
    for instance in instances:
        instance.status = "stopping"

    def run() -> None:
        try:
            with b.lock:
                c = b.cluster
                try:
                    c.execute(c.writer(), "SELECT pg_switch_wal()")
                except Exception:  # noqa: BLE001 — a writer already down has nothing more to archive
                    pass
                b.stopped_restorable = b.latest_restorable() or datetime.now(timezone.utc)
                for name in list(b.proxies):
                    stop_proxy(b, name)
                for m in [*c.replicas(), c.writer()]:
                    c.stop_member(m, mode="fast")
            for instance in instances:
                instance.status = "stopped"
            cluster.status = "stopped"
            event(backend, cluster, "DB cluster stopped", "notification")  # RDS-EVENT-0150
            log(f"{b.cluster_id}: stopped")
        except Exception:  # noqa: BLE001 — a stop that failed leaves the cluster as it was, as RDS does
            traceback.print_exc()
            for instance in instances:
                instance.status = "available"
        finally:
            cluster._dbops_status = None

    threading.Thread(target=run, name=f"stop-{b.cluster_id}", daemon=True).start()
    return cluster


def start(rds: Any, backend: Any, cluster: Any, b: Backing) -> Any:
    if cluster.status != "stopped":
        _refuse(rds, cluster, "stopped")
    cluster._dbops_status = "starting"
    instances = _instances(backend, b)
    for instance in instances:
        instance.status = "starting"

    def run() -> None:
        try:
            with b.lock:
                c = b.cluster
                for m in [c.writer(), *c.replicas()]:
                    c.start_member(m)
                for m in c.replicas():
                    c.wait_streaming(m, 60)
                start_registered(b)
                b.stopped_restorable = None
            for instance in instances:
                instance.status = "available"
            cluster.status = "available"
            event(backend, cluster, "DB cluster started", "notification")  # RDS-EVENT-0151
            log(f"{b.cluster_id}: started")
            wake.set()
        except Exception:  # noqa: BLE001 — a cluster whose servers did not start stays stopped
            traceback.print_exc()
            for instance in instances:
                instance.status = "stopped"
            cluster.status = "stopped"
        finally:
            cluster._dbops_status = None

    threading.Thread(target=run, name=f"start-{b.cluster_id}", daemon=True).start()
    return cluster
