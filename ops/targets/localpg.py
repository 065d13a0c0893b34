"""The local PostgreSQL HA cluster of the lab as a cluster target."""

from __future__ import annotations

from pathlib import Path

from ops.errors import UsageError
from ops.lab import pgcluster
from ops.targets import TargetRef
from ops.targets.base import ClusterState, MemberState


class LocalPgTarget:
    def __init__(self, ref: TargetRef, lab_dir: Path) -> None:
        cluster = pgcluster.get(lab_dir)
        if ref.name != pgcluster.NAME or cluster is None:
            raise UsageError(f"no local PostgreSQL cluster '{ref.name}' in {lab_dir} (run `dbops lab up`; the lab's is {pgcluster.NAME})")
        self.ref = ref
        self.lab_dir = lab_dir
        self.cluster = cluster

    @property
    def has_data_plane(self) -> bool:
        return True

    def _reload(self) -> pgcluster.Cluster:
        self.cluster = pgcluster.get(self.lab_dir) or self.cluster
        return self.cluster

    def describe(self) -> ClusterState:
        cluster = self._reload()
        members = []
        for m in cluster.describe():
            role = "writer" if m["role"] == "writer" else "reader"
            status = {"running": "available"}.get(m["state"], m["state"])
            if role == "reader" and status == "available" and m.get("replication") != "streaming":
                status = "not-replicating"
            if role == "writer" and m.get("in_recovery"):
                status = "in-recovery"
            members.append(MemberState(m["name"], role, status, lag_s=m.get("lag_s"), detail=f"port {m['port']}"))
        writer = next((m for m in members if m.role == "writer"), None)
        status = "available" if writer and writer.healthy else "degraded"
        return ClusterState(self.ref.name, status, writer.name if writer else None, tuple(members))

    def failover(self, to: str | None, timeout: float) -> None:
        """Fence the writer (fast shutdown), promote the chosen replica, record the new writer."""
        cluster = self._reload()
        old = cluster.writer()
        new = cluster.member(to) if to else cluster.replicas()[0]
        cluster.stop_member(old, mode="fast", timeout=timeout)
        cluster.promote(new, timeout=timeout)
        cluster.set_writer(new)
        for m in cluster.replicas():
            if m.name != old.name:
                cluster.repoint(m, new)

    def after_failover(self, old_writer: str) -> str:
        cluster = self._reload()
        old = cluster.member(old_writer)
        if cluster.entry["writer"] == old_writer:
            # The promotion did not happen: un-fence the old writer so the lab keeps serving.
            cluster.start_member(old)
            for m in cluster.replicas():
                cluster.repoint(m, old)
            return f"no failover happened; {old_writer} restarted as the writer"
        how = cluster.rebuild(old, cluster.writer())
        streaming = cluster.wait_streaming(old, timeout=60)
        return f"{old_writer} rebuilt as a replica by {how}; {'streaming' if streaming else 'NOT streaming'}"

    def writer_dsn(self) -> str | None:
        return self._reload().multi_host_dsn(connect_timeout=1)
