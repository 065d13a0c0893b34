"""The local PostgreSQL HA cluster of the lab as a cluster target."""

from __future__ import annotations

from datetime import datetime
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


class LocalPgRestore:
    """Restore-test operations of lab-pg: markers, archive, PITR into a new server."""

    exact_times = True

    def __init__(self, target: LocalPgTarget) -> None:
        self.target = target
        self.ref = target.ref

    @property
    def has_data_plane(self) -> bool:
        return True

    def _conn(self):  # type: ignore[no-untyped-def]
        from ops.data import markers

        return markers.connect(self.target.writer_dsn() or "")

    def pre_checks(self) -> list[tuple[str, str, str]]:
        from ops.lab import pgrestore

        cluster = self.target._reload()
        out = []
        state = self.target.describe()
        out.append(("PRE-AVAILABLE", "pass" if state.status == "available" else "fail", f"writer {state.writer}: {state.status}"))
        found = pgrestore.backups(cluster)
        out.append(("PRE-BASE-BACKUP", "pass" if found else "fail",
                    f"{len(found)} base backup(s); newest {found[-1].name}" if found else "no base backup to restore from"))
        failed = cluster.query(cluster.writer(), "SELECT failed_count, last_failed_wal FROM pg_stat_archiver")[0]
        out.append(("PRE-ARCHIVING", "pass" if not failed[0] else "warn",
                    "WAL archiving has no failures" if not failed[0] else f"{failed[0]} archive failures, last {failed[1]}"))
        return out

    def now(self) -> datetime:
        from ops.data import markers

        with self._conn() as conn:
            return markers.server_now(conn)

    def write_markers(self, source: str, count: int) -> None:
        from ops.data import markers

        with self._conn() as conn:
            markers.write(conn, source, count)

    def make_restorable(self, t: datetime, timeout: float) -> None:
        from ops.lab import pgrestore

        pgrestore.archive_through_now(self.target._reload(), timeout)

    def latest_restorable_time(self) -> datetime | None:
        from ops.lab import pgrestore

        return pgrestore.latest_restorable_time(self.target._reload())

    def restore(self, t: datetime, drill_id: str, tags: dict[str, str], echo, timeout: float):  # type: ignore[no-untyped-def]
        from ops.lab import pgrestore

        return pgrestore.restore(self.target._reload(), t, drill_id, tags["dbops:expires-at"], echo, timeout)

    def source_markers(self, drill_id: str) -> list:
        """Every marker: the heartbeat's, earlier drills' and this one's."""
        from ops.data import markers

        with self._conn() as conn:
            return markers.read(conn)

    def restored_markers(self, handle, drill_id: str) -> list:  # type: ignore[no-untyped-def]
        from ops.data import markers

        with markers.connect(handle.dsn()) as conn:
            return markers.read(conn)

    def remove_markers(self, drill_id: str) -> None:
        pass  # dbops_markers is dbops' own table; the markers stay as history

    def restore_notes(self, handle) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
        from ops.lab import pgrestore

        line = pgrestore.recovery_stop_line(handle)
        return [("RESTORE-RECOVERY-LOG", "pass" if line else "warn", line or "no recovery stop line in the restored server's log")]

    def not_carried_over(self, handle) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
        return [("NOT-CARRIED-REPLICAS", "warn", "the restored server is a lone primary: no replicas, no WAL archiving, no heartbeat")]

    def delete(self, handle) -> None:  # type: ignore[no-untyped-def]
        from ops.lab import pgrestore

        pgrestore.delete(handle.path)

    def mark_kept(self, handle) -> None:  # type: ignore[no-untyped-def]
        import json

        owner = json.loads((handle.path / "owner.json").read_text())
        owner.update(pid=None, started=None)
        (handle.path / "owner.json").write_text(json.dumps(owner))
