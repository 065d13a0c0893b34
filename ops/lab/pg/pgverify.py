"""What backup verification reads from lab-pg: pg_verifybackup, the archive, pg_stat_archiver."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from ops.lab.pg import pgbin

SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")


def verify_backup(backup: Path) -> tuple[bool, str]:
    """pg_verifybackup against the backup's manifest (files and the WAL it needs)."""
    proc = pgbin.run("pg_verifybackup", str(backup), timeout=3600, check=False)
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode == 0, (text[-1] if text else f"exit {proc.returncode}")


def backup_start_segment(backup: Path) -> str:
    label = (backup / "backup_label").read_text()
    m = re.search(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)", label)
    if not m:
        raise ValueError(f"{backup}/backup_label has no START WAL LOCATION")
    return m.group(1)


def parse_lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def timeline_switches(archive: Path, tli: int) -> list[tuple[int, int]]:
    """(timeline, LSN where it ended) for every ancestor of tli, from its history file."""
    history = archive / f"{tli:08X}.history"
    out = []
    if history.exists():
        for line in history.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit():
                out.append((int(parts[0]), parse_lsn(parts[1])))
    return out


def expected_segments(archive: Path, start: str, current: str, segment_size: int) -> list[str]:
    """The segments from start up to (not including) current, in order, that an unbroken archive holds.

    A segment is looked for on the timeline that owned its last byte, following the
    history of the current timeline across failovers.
    """
    per_id = 0x100000000 // segment_size
    def segno(name: str) -> int:
        m = SEGMENT.match(name)
        assert m, name
        return int(m.group(2), 16) * per_id + int(m.group(3), 16)

    current_tli = int(current[:8], 16)
    switches = timeline_switches(archive, current_tli)
    names = []
    for n in range(segno(start), segno(current)):
        last_byte = (n + 1) * segment_size - 1
        tli = next((t for t, end in switches if last_byte < end), current_tli)
        names.append(f"{tli:08X}{n // per_id:08X}{n % per_id:08X}")
    return names


# The segment being written. pg_walfile_name names the preceding segment for an LSN exactly at a segment
# boundary (the PostgreSQL manual says so): a writer idle right after a WAL switch would have its last,
# completed, archived segment taken for the one in progress, and a hole there go unseen.
CURRENT_SEGMENT = "pg_walfile_name(pg_current_wal_lsn() + 1)"


def missing_segments(archive: Path, start: str, current: str, segment_size: int) -> list[str]:
    """Segments from start up to (not including) current that the archive lacks."""
    return [name for name in expected_segments(archive, start, current, segment_size) if not (archive / name).exists()]


def continuous_segments(archive: Path, start: str, current: str, segment_size: int) -> tuple[list[str], str | None]:
    """The segments from start that the archive holds without a gap, and the first one missing (None: no gap
    before current). A restore replays WAL in order: nothing after the first missing segment is reached."""
    held = []
    for name in expected_segments(archive, start, current, segment_size):
        if not (archive / name).exists():
            return held, name
        held.append(name)
    return held, None


_COMMIT = re.compile(r"desc: (?:COMMIT|ABORT) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")


def last_commit_time(archive: Path, segment: str) -> datetime | None:
    """The newest commit (or abort) timestamp in one archived segment, read with pg_waldump; None if it has none.
    pg_waldump stops with an error at the zeros after a WAL switch: what it printed before is the segment."""
    proc = pgbin.run("pg_waldump", "--path", str(archive), "--rmgr", "Transaction", segment, segment, timeout=120, check=False)
    times = _COMMIT.findall(proc.stdout)
    if not times:
        return None
    return datetime.fromisoformat(max(times)).replace(tzinfo=timezone.utc)
