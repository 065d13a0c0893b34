"""The local PostgreSQL HA cluster of the lab as a cluster target."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from pathlib import Path
from typing import Any

from ops.errors import UsageError
from ops.lab.pg import pgcluster, pgservers
from ops.targets import TargetRef
from ops.targets.base import ClientEndpoint, ClusterState, Heal, MemberState, parse_host_port, pgbouncer_console


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

    def _reload(self) -> pgservers.Cluster:
        self.cluster = pgcluster.get(self.lab_dir) or self.cluster
        return self.cluster

    def describe(self, lag: bool = True) -> ClusterState:
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

    def current_writer(self) -> str | None:
        return self.describe(lag=False).writer

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

    def after_failover(self, old_writer: str, timeout: float = 600.0) -> Heal:
        cluster = self._reload()
        old = cluster.member(old_writer)
        if cluster.entry["writer"] == old_writer:
            # The promotion did not happen: un-fence the old writer so the lab keeps serving.
            cluster.start_member(old)
            for m in cluster.replicas():
                cluster.repoint(m, old)
            streaming = all(cluster.wait_streaming(m, timeout=min(30.0, timeout)) for m in cluster.replicas())
            return Heal(streaming, f"no failover happened; {old_writer} restarted as the writer; "
                                   f"replicas {'streaming' if streaming else 'NOT streaming'}")
        how = cluster.rebuild(old, cluster.writer())
        streaming = cluster.wait_streaming(old, timeout=min(30.0, timeout))
        return Heal(streaming, f"{old_writer} rebuilt as a replica by {how}; {'streaming' if streaming else 'NOT streaming'}")

    def writer_dsn(self) -> str | None:
        return self._reload().multi_host_dsn(connect_timeout=1)

    def client_endpoint(self, via: str | None) -> ClientEndpoint:
        """None: the writer, directly; "pooler": the lab's PgBouncer; HOST:PORT: any endpoint."""
        cluster = self._reload()
        if via is None:
            return ClientEndpoint(self.writer_dsn() or "", "the writer, directly")
        if via == "pooler":
            p = cluster.pooler()
            if p is None:
                raise UsageError(f"{self.ref} has no pooler (pgbouncer is not installed, or `dbops lab up` has not started it)")
            if p.pid() is None:
                raise UsageError(f"{self.ref}'s pooler is not running (stopped or died: {p.home / 'pgbouncer.log'}); "
                                 "`dbops lab up` starts it again")
            return ClientEndpoint(p.dsn(cluster.admin_user, pgservers.DBNAME), f"the pooler at {p.listen}:{p.port}", p.admin_dsn())
        host, port = parse_host_port(via)
        dsn = f"host={host} port={port} user={cluster.admin_user} dbname={pgservers.DBNAME} connect_timeout=5"
        return ClientEndpoint(dsn, f"{host}:{port}", pgbouncer_console(dsn))


class LocalPgRestore:
    """Restore-test operations of lab-pg: markers, archive, PITR into a new server."""

    exact_times = True
    default_timeout_s = 600.0
    restores_to_latest = False  # recovery goes to an explicit time: --latest takes T = now, then archives through it
    restore_granularity_s = 0.0

    def __init__(self, target: LocalPgTarget) -> None:
        self.target = target
        self.ref = target.ref

    @property
    def has_data_plane(self) -> bool:
        return True

    def restore_cost(self, hours: float, catalog: dict) -> Any:
        """A server on this machine: no AWS charge."""
        from ops.cost.restore import RestoreCost

        return RestoreCost(0.0, "a local PostgreSQL server in the lab: no AWS charge")

    def _conn(self):  # type: ignore[no-untyped-def]
        from ops.data import markers

        return markers.connect(self.target.writer_dsn() or "")

    def pre_checks(self) -> list[tuple[str, str, str]]:
        from ops.lab.pg import pgrestore

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

    def now_bounds(self) -> tuple[datetime, datetime]:
        now = self.now()
        return now, now

    def side_span(self, drill_id: str, side: str) -> tuple[datetime, datetime]:
        times = [m.committed_at for m in self.source_markers(drill_id) if m.source == f"{drill_id}:{side}"]
        return min(times), max(times)

    def rows_before(self, drill_id: str, t: datetime) -> int:
        from ops.data import markers

        with self._conn() as conn:
            return markers.count_before(conn, drill_id, t)

    def restorable_window(self) -> tuple[datetime | None, datetime | None]:
        from ops.lab.pg import pgrestore

        cluster = self.target._reload()
        found = pgrestore.backups(cluster)
        return (pgrestore.backup_end(found[0]) if found else None), pgrestore.latest_restorable_time(cluster)

    def write_markers(self, drill_id: str, side: str, count: int) -> None:
        from ops.data import markers

        with self._conn() as conn:
            markers.write(conn, f"{drill_id}:{side}", count)

    def make_restorable(self, t: datetime, timeout: float, progress) -> None:  # type: ignore[no-untyped-def]
        from ops.lab.pg import pgrestore

        pgrestore.archive_through_now(self.target._reload(), min(timeout, 120.0))

    def plan_restore(self, drill_id: str):  # type: ignore[no-untyped-def]
        from ops.lab.pg import pgrestore

        return pgrestore.plan(self.target._reload(), drill_id)

    def start_restore(self, handle, t: datetime | None, tags: dict[str, str], progress):  # type: ignore[no-untyped-def]
        from ops.lab.pg import pgrestore

        assert t is not None, "lab-pg restores to an explicit time"
        self._t = t
        pgrestore.start(self.target._reload(), handle, t, tags["dbops:expires-at"], progress, self.default_timeout_s)
        return handle

    def wait_restored(self, handle, timeout: float, progress):  # type: ignore[no-untyped-def]
        from ops.lab.pg import pgrestore

        pgrestore.wait(handle, self._t, timeout)
        return handle

    def source_markers(self, drill_id: str) -> list:
        """This drill's markers and the heartbeat's rows: not another drill's, not the application's."""
        from ops.data import markers

        with self._conn() as conn:
            return markers.read(conn, drill_id)

    def restored_dsn(self, handle) -> str:  # type: ignore[no-untyped-def]
        return handle.dsn()

    def restored_markers(self, handle, drill_id: str) -> list:  # type: ignore[no-untyped-def]
        from ops.data import markers

        with markers.connect(self.restored_dsn(handle)) as conn:
            return markers.read(conn, drill_id)

    def remove_markers(self, drill_id: str) -> int:
        from ops.data import markers

        with self._conn() as conn:
            return markers.remove(conn, drill_id)

    def restore_notes(self, handle) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
        from ops.lab.pg import pgrestore

        line = pgrestore.recovery_stop_line(handle)
        return [("RESTORE-RECOVERY-LOG", "pass" if line else "warn", line or "no recovery stop line in the restored server's log")]

    def not_carried_over(self, handle) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
        return [("NOT-CARRIED-REPLICAS", "warn", "the restored server is a lone primary: no replicas, no WAL archiving, no heartbeat")]

    def delete(self, handle) -> None:  # type: ignore[no-untyped-def]
        from ops.lab.pg import pgrestore

        pgrestore.delete(handle.path)

    def deleted(self, handle) -> bool:  # type: ignore[no-untyped-def]
        return not handle.path.exists()

    def mark_kept(self, handle) -> None:  # type: ignore[no-untyped-def]
        import json

        owner = json.loads((handle.path / "owner.json").read_text())
        owner.update(pid=None, started=None)
        (handle.path / "owner.json").write_text(json.dumps(owner))


def live_values(target: LocalPgTarget) -> dict[str, Any]:
    """lab-pg's writer, connections and backups, as runbooks and `dbops status` show them."""
    from ops.lab.pg import pgrestore
    from ops.live import age

    values: dict[str, Any] = {}
    cluster = target.cluster
    w = cluster.writer()
    values["writer_endpoint"] = f"127.0.0.1:{w.port}"
    values["writer_port"] = w.port
    try:
        values["connections"] = str(cluster.query(w, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")[0][0])
    except Exception:  # noqa: BLE001 — a writer that is down has no connections to count
        values["connections"] = "unknown (writer unreachable)"
    backups = pgrestore.backups(cluster)
    window = pgrestore.restorable(cluster)
    latest = window.latest
    values["backup"] = {
        "retention": f"{len(backups)} base backup(s) + WAL archive",
        "latest_restorable": latest.isoformat() if latest else "unknown",
        "restorable_lag": age(latest),
        "newest_backup_age": age(pgrestore.backup_end(backups[-1])) if backups else "no backup",
    }
    if window.archive_gap:
        values["backup"]["archive_gap"] = window.archive_gap
    return values
