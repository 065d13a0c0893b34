"""Point-in-time restore of lab-pg: a base backup plus the WAL archive, replayed to T.

The restored server runs on a free port from `.lab/pg/restores/<drill id>/`, beside an
`owner.json` naming the drill process and an expiry, so `dbops janitor` can remove what an
interrupted drill left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ops.errors import CannotRun, LabError, RestoreFailed
from ops.lab import process
from ops.lab.pg import pgbin
from ops.lab.pg.pgservers import HOST, USER, Cluster

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Restored:
    name: str
    path: Path
    port: int
    user: str = USER

    @property
    def datadir(self) -> Path:
        return self.path / "data"

    def dsn(self) -> str:
        return f"host={HOST} port={self.port} user={self.user} dbname=postgres connect_timeout=2"


def restores_dir(cluster: Cluster) -> Path:
    return cluster.root / "restores"


def backup_start(backup: Path) -> datetime:
    """START TIME from the backup_label of a plain-format base backup."""
    for line in (backup / "backup_label").read_text().splitlines():
        if line.startswith("START TIME:"):
            return datetime.strptime(line.split(":", 1)[1].strip(), "%Y-%m-%d %H:%M:%S %Z").replace(tzinfo=timezone.utc)
    raise LabError(f"{backup}/backup_label has no START TIME")


def backup_end(backup: Path) -> datetime:
    """When the backup was complete: its manifest is written last."""
    return datetime.fromtimestamp((backup / "backup_manifest").stat().st_mtime, timezone.utc)


def backups(cluster: Cluster) -> list[Path]:
    found = [b for b in cluster.backups_dir.glob("base-*") if (b / "backup_manifest").exists()]
    return sorted(found, key=backup_end)


def choose_backup(cluster: Cluster, t: datetime) -> Path:
    usable = [b for b in backups(cluster) if backup_end(b) < t]
    if not usable:
        first = backups(cluster)
        since = f"; the oldest base backup completed at {backup_end(first[0]):%Y-%m-%d %H:%M:%S} UTC" if first else ""
        raise CannotRun(f"no base backup of lab-pg completed before {t:%Y-%m-%d %H:%M:%S.%f} UTC{since}")
    return usable[-1]


def archive_through_now(cluster: Cluster, timeout: float = 60.0) -> str:
    """Switch WAL on the writer and wait until the finished segment is in the archive."""
    writer = cluster.writer()
    segment = cluster.query(writer, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    deadline = time.monotonic() + timeout
    while not (cluster.archive / segment).exists():
        if time.monotonic() > deadline:
            raise LabError(f"WAL segment {segment} was not archived within {timeout:.0f}s")
        time.sleep(0.1)
    return segment


@dataclass(frozen=True)
class Restorable:
    latest: datetime | None  # the latest time a restore reaches; None: none
    archive_gap: str | None = None  # the first segment missing from the WAL archive after the newest base backup's start


def restorable(cluster: Cluster) -> Restorable:
    """The latest restorable time: the end of the archive that continues, without a gap, from the newest base
    backup's start segment. With no gap it is when the last segment was archived; after a gap, the newest
    commit in the last segment before it (none there: the one before, down to the backup's end)."""
    from ops.lab.pg import pgverify

    last_wal, archived_at, current, size = cluster.query(cluster.writer(), (
        f"SELECT last_archived_wal, last_archived_time, {pgverify.CURRENT_SEGMENT}, "
        "(SELECT setting::bigint * (CASE unit WHEN 'B' THEN 1 WHEN 'MB' THEN 1048576 ELSE 1 END) "
        "   FROM pg_settings WHERE name = 'wal_segment_size') FROM pg_stat_archiver"))[0]
    last_archived = archived_until(cluster.archive, last_wal, archived_at)
    found = backups(cluster)
    if not found:
        return Restorable(last_archived)
    held, gap = pgverify.continuous_segments(cluster.archive, pgverify.backup_start_segment(found[-1]), current, int(size))
    if gap is None:
        return Restorable(last_archived)
    for segment in reversed(held):
        committed = pgverify.last_commit_time(cluster.archive, segment)
        if committed is not None:
            return Restorable(committed, gap)
    return Restorable(backup_end(found[-1]) if held else None, gap)


def archived_until(archive: Path, segment: str | None, archived_at: datetime | None) -> datetime | None:
    """Every commit before this time is in the archive: when its newest segment was switched away from (the
    copy's mtime, which the archive command keeps), not when the copy finished (last_archived_time): a
    commit between the two is in the next segment, still only in pg_wal."""
    if segment is None or archived_at is None:
        return archived_at
    try:
        switched = datetime.fromtimestamp((archive / segment).stat().st_mtime, timezone.utc)
    except OSError:
        return archived_at
    return min(archived_at, switched)


def segments(archive: Path) -> list[str]:
    """The WAL segments in the archive, oldest first."""
    return sorted(p.name for p in archive.iterdir() if len(p.name) == 24 and p.name.isalnum())


def commit_after(archive: Path, t: datetime, held: list[str], look_back: int = 4) -> bool:
    """Whether the archived segments `held` have a commit after t (read back from the newest). Recovery to t
    stops before the first such commit; without one it ends with the archive, short of its target, and fails."""
    from ops.lab.pg import pgverify

    for segment in reversed(held[-look_back:]):
        committed = pgverify.last_commit_time(archive, segment)
        if committed is not None:
            return committed > t
    return False


def latest_restorable_time(cluster: Cluster) -> datetime | None:
    return restorable(cluster).latest


def write_owner(path: Path, drill_id: str, expires_at: str, port: int) -> None:
    owner = {"drill_id": drill_id, "pid": os.getpid(), "started": process.start_time(os.getpid()),
             "expires_at": expires_at, "port": port}
    (path / "owner.json").write_text(json.dumps(owner))


def plan(cluster: Cluster, drill_id: str) -> Restored:
    """Where a restore for drill_id goes; nothing is created yet."""
    return Restored(drill_id, restores_dir(cluster) / drill_id, process.free_port(), cluster.admin_user)


def start(cluster: Cluster, restored: Restored, t: datetime, expires_at: str, echo: Echo, timeout: float = 600.0,
          to_end: bool = False, last_segment: str | None = None) -> None:
    """Copy the newest base backup before t and start recovery to t; owner.json first, so the janitor can find it.
    to_end: replay the whole archive, up to last_segment where given (the archive as it was when asked)."""
    base = choose_backup(cluster, t)
    pgbin.make_dir(restores_dir(cluster), 0o755)
    pgbin.make_dir(restored.path, 0o755)
    write_owner(restored.path, restored.name, expires_at, restored.port)
    _restore_into(cluster, base, restored, t, echo, timeout, to_end, last_segment)


def restore(cluster: Cluster, t: datetime, drill_id: str, expires_at: str, echo: Echo, timeout: float = 600.0) -> Restored:
    """plan + start + wait; a restore that fails or is interrupted leaves nothing behind."""
    restored = plan(cluster, drill_id)
    try:
        start(cluster, restored, t, expires_at, echo, timeout)
        wait(restored, t, timeout)
    except BaseException:
        delete(restored.path)
        raise
    return restored


def _restore_command(cluster: Cluster, restored: Restored, last_segment: str | None) -> str:
    """cp from the archive; with last_segment, a script that serves no later segment (of any timeline)."""
    if last_segment is None:
        return f"cp {cluster.archive}/%f %p"
    script = restored.path / "restore-wal"
    script.write_text(f"""#!/bin/sh
# Archived WAL up to segment {last_segment[8:]}: the archive as it was when the restore was asked for.
case "$1" in
  *.history) ;;
  *) [ "$(printf %s "$1" | cut -c9-)" \\> "{last_segment[8:]}" ] && exit 1 ;;
esac
exec cp "{cluster.archive}/$1" "$2"
""")
    script.chmod(0o755)
    return f"{script} %f %p"


def _restore_into(cluster: Cluster, base: Path, restored: Restored, t: datetime, echo: Echo, timeout: float,
                  to_end: bool = False, last_segment: str | None = None) -> None:
    """Recover base to t; to_end: replay all the archive holds (t is then its end, the latest restorable
    time: no commit after it stops recovery, and a target past the last commit would never be reached)."""
    echo(f"copying base backup {base.name}")
    # In-process copy: an interrupt stops it at once (a child running as another user would outlive us).
    shutil.copytree(base, restored.datadir, symlinks=True)
    restored.datadir.chmod(0o700)
    for stale in ("standby.signal", "postmaster.pid", "postmaster.opts"):
        (restored.datadir / stale).unlink(missing_ok=True)
    # The source's own settings first (a recovering server needs max_connections and the like at
    # least as high as the primary's), then what makes this a lone server recovering to t.
    conf = [
        *cluster.entry.get("conf", []),
        f"port = {restored.port}",
        f"listen_addresses = '{HOST}'",
        f"unix_socket_directories = '{cluster.socket_dir}'",
        "wal_level = replica",
        "max_wal_senders = 10",
        "hot_standby = on",
        "track_commit_timestamp = on",
        "archive_mode = off",
        "synchronous_standby_names = ''",
        "primary_conninfo = ''",
        f"restore_command = '{_restore_command(cluster, restored, last_segment)}'",
        *([] if to_end else [f"recovery_target_time = '{t.astimezone(timezone.utc).isoformat()}'",
                             "recovery_target_action = 'promote'"]),
        "recovery_target_timeline = 'latest'",
        "logging_collector = off",
    ]
    (restored.datadir / "dbops.conf").write_text("\n".join(conf) + "\n")
    (restored.datadir / "postgresql.auto.conf").write_text("# managed by dbops\n")
    (restored.datadir / "recovery.signal").touch()
    pgbin.own(restored.path)
    log = restored.path / "postgres.log"
    echo(f"replaying WAL to {t.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S.%f} UTC on port {restored.port}")
    pgbin.run("pg_ctl", "-D", str(restored.datadir), "-l", str(log), "-w", "-t", str(int(timeout)), "start",
              timeout=timeout + 10, check=False)


def wait(restored: Restored, t: datetime, timeout: float) -> None:
    """Until recovery to t has ended and the restored server takes writes; a recovery FATAL stops it at once."""
    import psycopg

    log = restored.path / "postgres.log"
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text() if log.exists() else ""
        if "FATAL" in text and "recovery" in text:
            fatal = next(line for line in text.splitlines() if "FATAL" in line)
            raise RestoreFailed(f"restore to {t.isoformat()} failed: {fatal.split('FATAL:', 1)[1].strip()}")
        try:
            with psycopg.connect(restored.dsn(), autocommit=True) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise LabError(f"restore of lab-pg did not finish within {timeout:.0f}s")
        time.sleep(0.2)


def recovery_stop_line(restored: Restored) -> str | None:
    """What PostgreSQL logged about where recovery stopped."""
    log = restored.path / "postgres.log"
    for line in (log.read_text() if log.exists() else "").splitlines():
        if "recovery stopping" in line or "last completed transaction" in line:
            return line.split("LOG:", 1)[-1].strip()
    return None


def _servers_of(datadir: Path) -> list[int]:
    """Pids of postgres processes started on datadir (one still starting has no postmaster.pid yet)."""
    wanted = str(datadir)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"postgres") and wanted.encode() in argv:
            found.append(int(proc.name))
    return found


def delete(path: Path) -> None:
    """Stop a restored server (running or still starting) and remove its directory."""
    datadir = path / "data"
    for _ in range(5):
        if (datadir / "postmaster.pid").exists():
            pgbin.run("pg_ctl", "-D", str(datadir), "-m", "immediate", "-w", "stop", check=False)
        for pid in _servers_of(datadir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.5)
