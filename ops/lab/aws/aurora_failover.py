"""FailoverDBCluster in the lab: the old writer stops, the target reader is promoted, the events the
service sends are kept, the cluster endpoint follows after the modelled DNS delay, and the old
writer comes back as a reader."""

from __future__ import annotations

import threading
import traceback
from typing import Any

from ops.lab.aws import settings
from ops.lab.aws.aurora_proxy import repoint_proxies
from ops.lab.aws.aurora_servers import Backing, log

def event(backend: Any, cluster: Any, message: str, category: str = "failover") -> None:
    """A cluster event as DescribeEvents lists it."""
    from moto.core.utils import utcnow

    item = type("LabEvent", (), {})()
    item.source_identifier = cluster.db_cluster_identifier
    item.source_type = "db-cluster"
    item.message = message
    item.event_categories = [category]
    item.source_arn = cluster.arn
    item.date = utcnow()
    backend.events.append(item)


def failover(backend: Any, cluster: Any, b: Backing, target: Any) -> None:
    """The real failover behind FailoverDBCluster, in the background as the service does it."""
    old_instance = cluster.writer
    same_az = getattr(old_instance, "availability_zone", None) == getattr(target, "availability_zone", None)
    event(backend, cluster, f"Started {'same' if same_az else 'cross'} AZ failover to DB instance: {target.db_instance_identifier}")
    cluster._dbops_status = "failing-over"

    def run() -> None:
        with b.lock:
            c = b.cluster
            old, new = c.writer(), c.member(target.db_instance_identifier)
            try:
                c.stop_member(old, mode="fast")  # the old writer goes down: its clients are cut off
                c.promote(new, timeout=60)
                c.set_writer(new)
                for other in c.replicas():
                    if other.name != old.name:
                        c.repoint(other, new)
                c.save()
                old_instance.status = "rebooting"  # it comes back as a reader
                cluster.failover(target)
                cluster._dbops_status = None
                event(backend, cluster, f"Completed failover to DB instance: {target.db_instance_identifier}")
                delay = float(settings.get("aurora_endpoint_delay_s"))  # registered by ops.lab.aws.aurora
                if b.writer_endpoint is not None:
                    b.writer_endpoint.point_to((new.host, new.port), after_s=delay)
                repoint_proxies(b)  # a proxy follows the writer itself, without waiting for DNS
                log(f"{b.cluster_id}: {new.name} promoted; the cluster endpoint follows in {delay:g}s")
            except Exception as exc:  # noqa: BLE001 — the service reports a failed failover as an event
                traceback.print_exc()
                cluster._dbops_status = None
                event(backend, cluster, "Cluster failover failed, check the health of your cluster instances and try again.")
                log(f"{b.cluster_id}: failover failed: {exc}")
                return
            try:
                how = c.rebuild(old, new)
                c.wait_streaming(old, 30)
                log(f"{b.cluster_id}: {old.name} is back as a reader ({how})")
            except Exception:  # noqa: BLE001 — the instance stays out of service; the drill's POST-HA says so
                traceback.print_exc()
                old_instance.status = "incompatible-restore"
                return
            old_instance.status = "available"

    threading.Thread(target=run, name=f"failover-{b.cluster_id}", daemon=True).start()
