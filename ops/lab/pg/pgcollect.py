"""lab-pg's backup state, read once, for the localpg backup checks (ops.checks.backups) to judge."""

from __future__ import annotations

from typing import Any

from ops.lab.pg import pgrestore, pgverify
from ops.lab.pg.pgservers import Cluster


def collect(cluster: Cluster) -> dict[str, Any]:
    writer = cluster.writer()
    found = pgrestore.backups(cluster)
    state: dict[str, Any] = {"name": cluster.entry["name"], "backups": found, "archive": cluster.archive}
    state["now"] = cluster.query(writer, "SELECT now()")[0][0]
    row = cluster.query(writer, "SELECT archived_count, last_archived_wal, last_archived_time, failed_count, "
                                "last_failed_wal, last_failed_time FROM pg_stat_archiver")[0]
    state["archiver"] = dict(zip(("archived_count", "last_archived_wal", "last_archived_time", "failed_count",
                                  "last_failed_wal", "last_failed_time"), row))
    state["current_segment"] = cluster.query(writer, f"SELECT {pgverify.CURRENT_SEGMENT}")[0][0]
    size = cluster.query(writer, "SELECT setting::bigint * (CASE unit WHEN 'B' THEN 1 WHEN 'MB' THEN 1048576 ELSE 1 END) "
                                 "FROM pg_settings WHERE name = 'wal_segment_size'")[0][0]
    state["segment_size"] = int(size)
    if found:
        newest = found[-1]
        state["newest_backup"] = newest
        state["newest_backup_end"] = pgrestore.backup_end(newest)
        state["verify"] = pgverify.verify_backup(newest)
        state["start_segment"] = pgverify.backup_start_segment(newest)
        # Read here, with the rest of the archive's state: the check judges the list.
        state["missing_segments"] = pgverify.missing_segments(cluster.archive, state["start_segment"], state["current_segment"], int(size))
    return state


