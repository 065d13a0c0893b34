"""The restore drill: restore to a time T, then check rows, not resources.

pre-checks -> markers on both sides of T -> restore into a new, tagged target (timed)
-> every marker at or before T present, every marker after T absent, fingerprints of the
rows as of T equal -> what the restore did not carry over -> delete unless --keep.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from ops.data.markers import GUARD_S, Marker, judge
from ops.drills.common import DRILL_TAG, EXPIRES_TAG, expiry, new_drill_id
from ops.errors import UsageError
from ops.lab import process
from ops.report import Journal, Report

OWNER_TAG = "dbops:owner"
KEPT = "kept"  # owner of a restored target kept with --keep: it lives until it expires
MARKERS_PER_SIDE = 10


class Restorable(Protocol):
    ref: Any
    exact_times: bool

    @property
    def has_data_plane(self) -> bool: ...
    def pre_checks(self) -> list[tuple[str, str, str]]: ...
    def now(self) -> datetime: ...
    def write_markers(self, source: str, count: int) -> None: ...
    def make_restorable(self, t: datetime, timeout: float) -> None: ...
    def latest_restorable_time(self) -> datetime | None: ...
    def restore(self, t: datetime | None, drill_id: str, tags: dict[str, str], echo: Any, timeout: float) -> Any: ...
    def source_markers(self, drill_id: str) -> list[Marker]: ...
    def restored_markers(self, handle: Any, drill_id: str) -> list[Marker]: ...
    def remove_markers(self, drill_id: str) -> None: ...
    def restore_notes(self, handle: Any) -> list[tuple[str, str, str]]: ...
    def not_carried_over(self, handle: Any) -> list[tuple[str, str, str]]: ...
    def delete(self, handle: Any) -> None: ...
    def mark_kept(self, handle: Any) -> None: ...


@dataclass(frozen=True)
class RestoreOptions:
    at: datetime | None = None  # an explicit T in the past
    latest: bool = False
    keep: bool = False
    rpo_s: float = 300.0
    timeout_s: float = 1800.0
    expires_hours: float = 6.0


def owner_tag() -> str:
    """host:pid:start — the janitor removes a leftover whose owner process is gone."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process.start_time(pid)}"


def run_restore(target: Restorable, opts: RestoreOptions, journal: Journal, hooks: dict | None = None) -> Report:
    hooks = hooks or {}
    drill_id = new_drill_id("restore")
    tags = {DRILL_TAG: drill_id, EXPIRES_TAG: expiry(opts.expires_hours), OWNER_TAG: owner_tag()}
    journal.details["drill_id"] = drill_id
    journal.objectives["rpo_s"] = opts.rpo_s
    journal.event("pre", f"drill {drill_id}: checking {target.ref}")
    for cid, status, detail in target.pre_checks():
        journal.check(cid, status, detail)
    if any(c.status == "fail" for c in journal.checks):
        return journal.finish("error", f"pre-checks failed, the drill did not start: {journal.failed_detail()}")

    latest = target.latest_restorable_time()
    if getattr(target, "emulated", False):
        journal.mark_not_measured("rpo_s", "the emulator does not advance the latest restorable time")
        journal.check("RPO", "unknown", "not measured: the emulator does not advance the latest restorable time")
    elif latest is not None:
        journal.measure("rpo_s", max(0.0, (datetime.now(timezone.utc) - latest).total_seconds()))
        journal.check("RPO", "pass" if journal.measurements["rpo_s"] <= opts.rpo_s else "fail",
                      f"latest restorable time {latest.isoformat()} is {journal.measurements['rpo_s']:.1f}s old (objective {opts.rpo_s:g}s)")
    else:
        journal.mark_not_measured("rpo_s", "the target reports no latest restorable time")

    handle = None
    aborted = False
    try:
        t = _choose_t(target, opts, drill_id, journal)
        if "before_restore" in hooks:
            hooks["before_restore"](drill_id)
        journal.event("restore", f"restoring {target.ref} to {t.isoformat() if t else 'its latest restorable time'} "
                                 f"as a new target tagged {DRILL_TAG}={drill_id}")
        if not target.exact_times:
            time.sleep(2 * GUARD_S)  # client-clock markers: keep them clear of T
        started = time.monotonic()
        handle = target.restore(t, drill_id, tags, lambda m: journal.event("restore", m), opts.timeout_s)
        journal.measure("restore_duration_s", time.monotonic() - started)
        if t is None:
            # The service fixed T when the restore began: markers written now are after it.
            t = handle.restored_to
            time.sleep(2 * GUARD_S)
            journal.event("markers", f"T = {t.isoformat()} (the restore's own restore time)")
            _write_side(target, drill_id, "after", journal)
        journal.details["restore_time"] = t.isoformat()
        journal.event("restore", f"restored target usable after {journal.measurements['restore_duration_s']:.1f}s")
        if "after_restore" in hooks:
            hooks["after_restore"](drill_id)
        _verify(target, handle, t, drill_id, journal)
        for cid, status, detail in target.restore_notes(handle) + target.not_carried_over(handle):
            journal.check(cid, status, detail)
    except KeyboardInterrupt:
        aborted = True
        journal.event("abort", "interrupted: deleting what the drill created")
    finally:
        target.remove_markers(drill_id)
        if handle is not None and not (opts.keep and not aborted):
            journal.event("cleanup", f"deleting the restored target {getattr(handle, 'name', handle)}")
            target.delete(handle)
            journal.details["restored_target_deleted"] = True
        elif handle is not None:
            target.mark_kept(handle)
            journal.event("cleanup", f"kept the restored target {handle.name} (--keep); `dbops janitor` removes it after {tags[EXPIRES_TAG]}")
    if aborted:
        return journal.finish("aborted", "interrupted; the restored target was deleted")
    report = journal.finish()
    return _with_summary(report)


def _write_side(target: Restorable, drill_id: str, side: str, journal: Journal) -> None:
    if target.has_data_plane:
        target.write_markers(f"{drill_id}:{side}", MARKERS_PER_SIDE)
        journal.event("markers", f"wrote {MARKERS_PER_SIDE} markers {side} T")


def _choose_t(target: Restorable, opts: RestoreOptions, drill_id: str, journal: Journal) -> datetime | None:
    """Pick T and make sure there are markers on both sides of it, and a commit after it.

    None means "the latest restorable time", which a table service fixes itself when the
    restore starts; the markers after T are written once it has.
    """
    if opts.at is not None:
        now = target.now()
        if opts.at >= now:
            raise UsageError(f"restore time {opts.at.isoformat()} is not in the past (now {now.isoformat()})")
        t = opts.at
        journal.event("markers", f"T = {t.isoformat()}: rows written before T must already exist (heartbeat, canary, earlier drills)")
        _write_side(target, drill_id, "after", journal)
        target.make_restorable(t, opts.timeout_s)
        return t
    _write_side(target, drill_id, "before", journal)
    if opts.latest and not target.exact_times:
        return None
    gap = 0.2 if target.exact_times else 2 * GUARD_S
    time.sleep(gap)
    t = target.now()
    time.sleep(gap)
    journal.event("markers", f"T = {t.isoformat()}")
    _write_side(target, drill_id, "after", journal)
    target.make_restorable(t, opts.timeout_s)
    return t


def _verify(target: Restorable, handle: Any, t: datetime, drill_id: str, journal: Journal) -> None:
    if not target.has_data_plane:
        for cid in ("ROWS-BEFORE-T-PRESENT", "ROWS-AFTER-T-ABSENT", "ROWS-FINGERPRINT"):
            journal.check(cid, "unknown", "not verified: no data plane (the emulator runs no database)")
        return
    journal.event("verify", "reading markers from the source and the restored target")
    verdict = judge(target.source_markers(drill_id), target.restored_markers(handle, drill_id), t, target.exact_times)
    record_verdict(verdict, journal)


def record_verdict(verdict, journal: Journal) -> None:  # type: ignore[no-untyped-def]
    journal.measure("markers_before_t", verdict.expected_present)
    journal.measure("markers_after_t", verdict.expected_absent)
    journal.measure("markers_missing", len(verdict.missing))
    journal.measure("markers_unexpected", len(verdict.unexpected))
    if verdict.ambiguous:
        journal.measure("markers_too_close_to_t", verdict.ambiguous)
    if verdict.expected_present == 0:
        journal.check("ROWS-BEFORE-T-PRESENT", "fail", "no marker was written before T: nothing to judge the restore by")
    else:
        journal.check("ROWS-BEFORE-T-PRESENT", "pass" if not verdict.missing else "fail",
                      f"{verdict.expected_present - len(verdict.missing)} of {verdict.expected_present} rows written at or before T are present"
                      + (f"; missing {verdict.missing[:5]}" if verdict.missing else ""))
    if verdict.expected_absent == 0:
        journal.check("ROWS-AFTER-T-ABSENT", "fail", "no marker was written after T: a restore to a later time would pass unnoticed")
    else:
        journal.check("ROWS-AFTER-T-ABSENT", "pass" if not verdict.unexpected else "fail",
                      f"{verdict.expected_absent - len(verdict.unexpected)} of {verdict.expected_absent} rows written after T are absent"
                      + (f"; present: {verdict.unexpected[:5]}" if verdict.unexpected else ""))
    journal.check("ROWS-FINGERPRINT", "pass" if verdict.fingerprints_match else "fail",
                  f"source {verdict.source_fingerprint[:16]} vs restored {verdict.restored_fingerprint[:16]} (rows as of T)")
    journal.details["fingerprints"] = {"source": verdict.source_fingerprint, "restored": verdict.restored_fingerprint}


def _with_summary(report: Report) -> Report:
    m = report.measurements
    if report.status == "pass" and m.get("markers_before_t") is not None:
        text = (f"{m['markers_before_t']} rows before T present, {m['markers_after_t']} after T absent, fingerprints match; "
                f"restored in {m.get('restore_duration_s', 0):.1f}s")
    elif report.status == "pass":
        text = "control plane only: rows NOT VERIFIED (no data plane)"
    else:
        text = "; ".join(c.detail for c in report.checks if c.status in ("fail", "error")) or report.status
    return replace(report, summary=f"{report.status.upper()}: {text}")
