"""A PITR restore drill of lab-pg over about 1 GB of data, next to the same restore done by hand.

    .venv/bin/python benchmarks/restore_local.py [--gb 1.0]

Loads the data after the base backup (so the restore copies the backup and replays the
WAL of the whole load), runs `dbops drill restore`, then repeats the raw steps — copy the
base backup with cp, start PostgreSQL with the same recovery target, wait for promotion —
and prints restore_duration_s next to the raw time. Goal: drill overhead under 20 %.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from ops.config import parse
from ops.drills.common import new_drill_id
from ops.drills.restore import RestoreOptions, run_restore
from ops.lab import lab as lab_core
from ops.lab import process
from ops.lab.pg import pgbin, pgcluster, pgrestore, pgservers
from ops.report import Journal
from ops.targets import parse_target
from ops.lab.pg.localpg import LocalPgRestore, LocalPgTarget


def load(cluster: pgservers.Cluster, gb: float) -> float:
    rows = int(gb * 1024**3 / 250)  # about 250 bytes a row on disk with its header
    started = time.monotonic()
    with psycopg.connect(cluster.writer().dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_load (id bigint, payload text)")
        step = 500_000
        for start in range(0, rows, step):
            conn.execute("INSERT INTO bench_load SELECT g, repeat(md5(g::text), 6) FROM generate_series(%s, %s) g",
                         (start, min(rows, start + step) - 1))
        size = conn.execute("SELECT pg_total_relation_size('bench_load')").fetchone()[0]
    print(f"loaded {rows:,} rows, {size / 1024**3:.2f} GiB in {time.monotonic() - started:.1f}s")
    return size


def raw_restore(cluster: pgservers.Cluster, t, dest: Path) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """cp + pg_ctl start with the recovery target + wait for promotion, timed."""
    base = pgrestore.choose_backup(cluster, t)
    port = process.free_port()
    t0 = time.monotonic()
    subprocess.run(pgbin.as_pg_user(["cp", "-a", str(base), str(dest)]), check=True)
    copied = time.monotonic() - t0
    (dest / "dbops.conf").write_text(
        f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{cluster.socket_dir}'\n"
        "max_connections = 60\nmax_wal_senders = 10\ntrack_commit_timestamp = on\nhot_standby = on\narchive_mode = off\n"
        f"primary_conninfo = ''\nrestore_command = 'cp {cluster.archive}/%f %p'\n"
        f"recovery_target_time = '{t.isoformat()}'\nrecovery_target_action = 'promote'\nrecovery_target_timeline = 'latest'\n")
    (dest / "postgresql.auto.conf").write_text("")
    (dest / "standby.signal").unlink(missing_ok=True)
    (dest / "recovery.signal").touch()
    pgbin.own(dest)
    pgbin.run("pg_ctl", "-D", str(dest), "-l", str(dest.parent / "raw.log"), "-w", "-t", "3600", "start", timeout=3700, check=False)
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    break
        except psycopg.OperationalError:
            pass
        time.sleep(0.05)
    total = time.monotonic() - t0
    pgbin.run("pg_ctl", "-D", str(dest), "-m", "immediate", "stop", check=False)
    return copied, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gb", type=float, default=1.0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dbops-bench-"))
    root.chmod(0o755)
    cfg = parse({}, root, None, {"DBOPS_LAB_DIR": str(root / ".lab")})
    try:
        lab_core.up(cfg, lab_core.LabOptions(), lambda _: None)
        cluster = pgcluster.get(cfg.lab_dir)
        assert cluster is not None
        load(cluster, args.gb)
        target = LocalPgRestore(LocalPgTarget(parse_target("localpg:lab-pg"), cfg.lab_dir))
        scratch = cluster.root / "raw-restore"
        pgbin.make_dir(scratch, 0o755)
        # Raw, drill, raw again: the page cache favours whichever reads the archive second.
        from ops.data import markers

        with markers.connect(cluster.multi_host_dsn()) as conn:
            t_raw = markers.server_now(conn)
            markers.write(conn, "bench", 5)
        pgrestore.archive_through_now(cluster)
        raw_runs = [raw_restore(cluster, t_raw, scratch / "data")]
        shutil.rmtree(scratch / "data", ignore_errors=True)
        report = run_restore(target, RestoreOptions(timeout_s=3600), Journal("restore", "localpg:lab-pg", "bench", echo=None),
                             new_drill_id("restore"))
        print(f"drill: {report.summary}")
        drill_s = report.measurements["restore_duration_s"]
        raw_runs.append(raw_restore(cluster, t_raw, scratch / "data"))
        raw = sum(r[1] for r in raw_runs) / len(raw_runs)
        print(f"restore_duration_s (drill)       {drill_s:.2f}s")
        for i, (copied, total) in enumerate(raw_runs, 1):
            print(f"raw cp + replay by hand, run {i}   {total:.2f}s (of which cp {copied:.2f}s)")
        print(f"drill overhead over raw (mean)   {100 * (drill_s - raw) / raw:+.1f}%  (goal: under 20%)")
        shutil.rmtree(scratch, ignore_errors=True)
    finally:
        lab_core.down(cfg, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
