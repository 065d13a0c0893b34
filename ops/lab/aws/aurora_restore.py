"""Restores of the lab's Aurora clusters: RestoreDBClusterToPointInTime recovers the source's base backup
and WAL archive to the time asked into a new cluster, CreateDBClusterSnapshot takes a base backup and
RestoreDBClusterFromSnapshot starts a new cluster from it; each new cluster is `creating` until its data
is there for its first instance."""

from __future__ import annotations

import shutil
import threading
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from ops.lab.aws.aurora_servers import Backing, log, register, root
from ops.lab.pg import pgbin, pgrestore

def restore_to_time(backend: Any, source: Backing, new_cluster: Any, t: datetime, to_end: bool = False) -> None:
    """Recover the source's base backup and archive to t for a new cluster (`creating` until done)."""
    target = register(backend, new_cluster, source.master_user, source.master_password, source.dbname)
    target.ready.clear()  # its instances wait for the recovered data
    new_cluster._dbops_status = "creating"
    new_id = new_cluster.db_cluster_identifier

    def run() -> None:
        try:
            restored = pgrestore.plan(source.cluster, f"pitr-{new_id}")
            # With no archived commit after t (a quiet cluster, or t at its last commit), the archive's end is t: a
            # recovery target would never be reached. Replayed as it is now: a segment archived later is after t.
            held = pgrestore.segments(source.cluster.archive)
            whole = to_end or not pgrestore.commit_after(source.cluster.archive, t, held)
            try:
                pgrestore.start(source.cluster, restored, t, "2099-01-01T00:00:00Z", log, timeout=600, to_end=whole,
                                last_segment=held[-1] if whole and held else None)
                pgrestore.wait(restored, t, timeout=600)
                log(f"{new_id}: restored to {t.isoformat()} ({pgrestore.recovery_stop_line(restored)})")
                pgbin.run("pg_ctl", "-D", str(restored.datadir), "-m", "fast", "-w", "stop", check=False)
                _adopt(target, restored.datadir)
            finally:
                pgrestore.delete(restored.path)
            new_cluster._dbops_status = None
        except Exception as exc:  # noqa: BLE001 — the cluster says it failed
            traceback.print_exc()
            new_cluster._dbops_status = "failed"
            target.failed = str(exc)
            target.ready.set()
            log(f"{new_id}: restore failed: {exc}")

    threading.Thread(target=run, name=f"restore-{new_id}", daemon=True).start()


def _adopt(b: Backing, datadir: Path) -> None:
    """The cluster's first instance will serve datadir."""
    pending = Path(b.cluster.entry["root"]) / "restored-data"
    shutil.move(str(datadir), str(pending))
    b.pending_data = pending
    b.cluster.save()
    b.ready.set()


def snapshot(b: Backing, snapshot_id: str) -> None:
    with b.lock:
        dest = snapshots_dir() / snapshot_id
        shutil.rmtree(dest, ignore_errors=True)
        b.cluster.base_backup(b.cluster.writer(), dest)


def snapshots_dir() -> Path:
    base = root()
    assert base is not None
    return base / "snapshots"


def restore_snapshot(backend: Any, snapshot_id: str, new_cluster: Any, master: tuple[str, str, str | None]) -> None:
    """A new cluster started from the base backup a snapshot took (recovery to its end)."""
    target = register(backend, new_cluster, *master)
    target.ready.clear()  # its instances wait for the snapshot's data
    new_cluster._dbops_status = "creating"

    def run() -> None:
        try:
            work = snapshots_dir() / f".{snapshot_id}.{new_cluster.db_cluster_identifier}"
            shutil.copytree(snapshots_dir() / snapshot_id, work, symlinks=True)
            pgbin.own(work)
            work.chmod(0o700)
            _adopt(target, work)
            new_cluster._dbops_status = None
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            new_cluster._dbops_status = "failed"
            target.failed = str(exc)
            target.ready.set()
            log(f"{new_cluster.db_cluster_identifier}: restore from snapshot {snapshot_id} failed: {exc}")

    threading.Thread(target=run, daemon=True).start()
