"""The AWS Backup restore drill: markers, an on-demand backup job through the plan that covers the
target, markers, a restore of the newest recovery point, its rows judged against the point's
creation and completion times, and everything the drill made deleted (`backup verify
--restore-latest` runs it per Aurora cluster and DynamoDB table: BKP-RECOVERY-POINT-RESTORE)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from ops.report import Journal, Report, headline, measured

# a drill record's resource: the on-demand backup job, whose recovery point the janitor deletes
BACKUP_JOB = "backup-job"
RP_OBJECTIVES = ("RP-BACKUP-JOB", "RP-RESTORE-JOB", "ROWS-BEFORE-T-PRESENT", "ROWS-AFTER-T-ABSENT", "ROWS-FINGERPRINT")


def point_restore_waits_s(restore_timeout_s: float, delete_wait_s: float = 600.0) -> float:
    """The longest a point restore may wait: the backup job, the restore, making it usable, deleting it."""
    from ops.targets.recovery_point import BACKUP_JOB_TIMEOUT_S

    return BACKUP_JOB_TIMEOUT_S + 2 * restore_timeout_s + delete_wait_s


def run_point_restore(side: Any, points: Any, journal: Journal, drill_id: str, ledger: Any, progress: Callable[[str], None],
                      expires_hours: float = 6.0, delete_wait_s: float = 600.0, guard: Any = None) -> Report:
    """Back the target up through AWS Backup between markers, restore its newest recovery point, check rows.

    Rows committed before the point's CreationDate must be in the restore and rows committed after
    its CompletionDate must not (a backup is taken somewhere in between: rows inside the window are
    not judged). The restored resource is noted in the drill record before the restore job starts,
    tagged as soon as it exists, and deleted afterwards with the recovery point the drill made;
    each is reported deleted only once seen gone. `guard` (ops.drills.guard.Guard) stands down once the rows
    are checked: the deletions are the rollback.
    """
    import time

    from ops.data.markers import GUARD_S, MARKERS_PER_SIDE
    from ops.drills.common import DRILL_TAG, EXPIRES_TAG, deferred_interrupts, expiry, expiry_hours, stand_down
    from ops.drills.restore import OWNER_TAG
    from ops.lease import Record
    from ops.proc import owner_id
    from ops.targets.recovery_point import BACKUP_JOB_TIMEOUT_S, backup_path

    journal.require(*RP_OBJECTIVES)
    journal.details["drill_id"] = drill_id
    waits = point_restore_waits_s(side.default_timeout_s, delete_wait_s)
    tags = {DRILL_TAG: drill_id, EXPIRES_TAG: expiry(expiry_hours(waits, expires_hours)), OWNER_TAG: owner_id()}
    path = backup_path(points.backup, side.arn, side.tags())
    if path is None:
        journal.check("RP-BACKUP-JOB", "fail", "no AWS Backup plan covers it: there is no vault or role to back it up with")
        return _point_summary(journal.finish())
    journal.details["backup_path"] = {"plan": path.plan, "rule": path.rule, "vault": path.vault}
    side.probe()
    record = Record(drill_id, str(side.ref), journal.env, owner_id(), tags[EXPIRES_TAG], markers=side.has_data_plane)
    ledger.put_record(record)
    own_point: str | None = None
    handle = None
    aborted = False
    margin = 0.0 if side.exact_times else 2 * GUARD_S  # between the markers and the backup, on the service's clock
    try:
        if side.has_data_plane:
            side.write_markers(drill_id, "before", MARKERS_PER_SIDE)
            journal.event("markers", f"wrote {MARKERS_PER_SIDE} markers before the backup")
        time.sleep(margin)
        started = time.monotonic()
        job = points.start_backup(path, tags, drill_id)
        own_point = job.get("RecoveryPointArn")
        # noted at once: a drill killed from here on leaves its record until the job's recovery point is seen gone
        # (the point's tag is listed only once the point exists, after the job has run a while)
        record.resources.append({"kind": BACKUP_JOB, "name": job["BackupJobId"], "vault": path.vault})
        ledger.put_record(record)
        progress(f"on-demand backup job {job['BackupJobId']} of {side.ref} into vault {path.vault} "
                 f"(plan {path.plan}, rule {path.rule}), recovery point tagged {DRILL_TAG}={drill_id}")
        done = points.wait_job(job["BackupJobId"], BACKUP_JOB_TIMEOUT_S, progress)
        journal.measure("backup_job_s", time.monotonic() - started)
        if done["State"] != "COMPLETED":
            own_point = None if done["State"] in ("FAILED", "EXPIRED", "ABORTED") else own_point
            journal.check("RP-BACKUP-JOB", "fail", f"backup job {done['BackupJobId']} is {done['State']}"
                          + (f": {done['StatusMessage']}" if done.get("StatusMessage") else ""))
            return _point_summary(journal.finish())
        own_point = done.get("RecoveryPointArn") or own_point
        journal.check("RP-BACKUP-JOB", "pass", f"backup job {done['BackupJobId']} completed: recovery point {own_point}")
        time.sleep(margin)
        if side.has_data_plane:
            side.write_markers(drill_id, "after", MARKERS_PER_SIDE)
            journal.event("markers", f"wrote {MARKERS_PER_SIDE} markers after the backup")
        newest = points.newest()
        if newest is None:
            journal.check("RP-RESTORE-JOB", "fail", "no completed recovery point is listed for it after a completed backup job")
            return _point_summary(journal.finish())
        vault = newest.get("BackupVaultName") or path.vault
        point = points.describe(vault, newest["RecoveryPointArn"])
        t0, t1 = point["CreationDate"], point.get("CompletionDate") or point["CreationDate"]
        journal.details["recovery_point"] = {"arn": point["RecoveryPointArn"], "created": t0.isoformat(), "completed": t1.isoformat(),
                                             "made_by_this_run": point["RecoveryPointArn"] == own_point}
        handle = side.plan(drill_id)
        record.resources.append({"kind": "restore", "name": handle.name})
        ledger.put_record(record)  # before the restore job: a kill in between leaves a findable name
        metadata = side.metadata(points.restore_metadata(vault, point["RecoveryPointArn"]), handle)
        started = time.monotonic()
        restore_id = points.start_restore(point["RecoveryPointArn"], metadata, path.role, side.resource_type)
        progress(f"restore job {restore_id}: recovery point {point['RecoveryPointArn']} (created {t0.isoformat()}) "
                 f"into {handle.name}")
        tagged = {"done": False}

        def tag_when_there() -> None:
            if not tagged["done"]:
                tagged["done"] = side.tag_created(handle, tags)

        restored = points.wait_restore(restore_id, side.default_timeout_s, progress, tag_when_there)
        if restored["Status"] != "COMPLETED":
            journal.check("RP-RESTORE-JOB", "fail", f"restore job {restore_id} is {restored['Status']}"
                          + (f": {restored['StatusMessage']}" if restored.get("StatusMessage") else ""))
            return _point_summary(journal.finish())
        tag_when_there()
        side.make_usable(handle, tags, side.default_timeout_s, progress)
        journal.measure("restore_duration_s", time.monotonic() - started)
        journal.check("RP-RESTORE-JOB", "pass", f"restore job {restore_id} completed: {restored.get('CreatedResourceArn')}")
        journal.check("RESTORE-TAGGED", "pass" if tagged["done"] else "fail",
                      f"{handle.name} tagged {DRILL_TAG}={drill_id}" if tagged["done"] else f"{handle.name} NOT TAGGED")
        _verify_point_rows(side, handle, t0, t1, drill_id, journal)
        stand_down(guard)
    except KeyboardInterrupt:
        aborted = True
        journal.event("abort", "interrupted: removing what the drill created")
    finally:
        stand_down(guard)
        with deferred_interrupts(lambda m: journal.event("cleanup", m), "the drill's cleanup") as deferred:
            pending = _point_cleanup(side, points, handle, own_point, path.vault, drill_id, journal, delete_wait_s, progress)
        aborted |= deferred.count > 0
        if pending:
            ledger.put_record(record)
        else:
            ledger.delete_record(drill_id)
    if aborted:
        return journal.finish("aborted", f"ABORTED: interrupted; {journal.details.get('cleanup', 'nothing to clean up')}")
    return _point_summary(journal.finish())


def _verify_point_rows(side: Any, handle: Any, t0: Any, t1: Any, drill_id: str, journal: Journal) -> None:
    from ops.data.markers import RowVerdict, judge
    from ops.drills.restore import record_verdict

    if not side.has_data_plane:
        for cid in ("ROWS-BEFORE-T-PRESENT", "ROWS-AFTER-T-ABSENT", "ROWS-FINGERPRINT"):
            journal.check(cid, "unknown", "not verified: no data plane (the endpoint has no database behind it)")
        return
    journal.event("verify", "reading markers from the source and the restored target")
    source, restored = side.source_markers(drill_id), side.restored_markers(handle, drill_id)
    before = judge(source, restored, t0, side.exact_times)  # rows before the point was begun
    after = judge(source, restored, t1, side.exact_times)  # rows after it was complete
    verdict = RowVerdict(before.expected_present, before.missing, after.expected_absent, after.unexpected,
                         len(source) - before.expected_present - after.expected_absent,
                         before.source_fingerprint, before.restored_fingerprint)
    record_verdict(verdict, journal)


def _point_cleanup(side: Any, points: Any, handle: Any, own_point: str | None, vault: str, drill_id: str,
                   journal: Journal, delete_wait_s: float, progress: Callable[[str], None]) -> bool:
    """Markers out of the source, the restored resource and the drill's recovery point deleted. Returns whether any is pending."""
    from ops.clock import wait_until

    def say(message: str) -> None:
        journal.event("cleanup", message)
        progress(message)

    pending: list[str] = []
    said: list[str] = []
    if side.has_data_plane:
        try:
            say(f"removed {side.remove_markers(drill_id)} marker(s) of drill {drill_id} from {side.ref}")
        except Exception as exc:  # noqa: BLE001 — the janitor removes them
            pending.append(f"markers in {side.ref}")
            say(f"markers not removed ({exc}); `dbops janitor` removes them")
    for what, delete, gone in (
        (handle.name if handle is not None else None, lambda: side.delete(handle), lambda: side.deleted(handle)),
        (own_point, lambda: points.delete(vault, own_point), lambda: points.gone(vault, own_point)),
    ):
        if what is None:
            continue
        say(f"deleting {what}")
        try:
            delete()
            seen_gone = wait_until(gone, timeout=delete_wait_s, interval=1)
        except Exception as exc:  # noqa: BLE001 — reported, left to the janitor or the point's lifecycle
            seen_gone = False
            say(f"deleting {what} failed: {exc}")
        if seen_gone:
            said.append(f"{what} was deleted (seen gone)")
        else:
            pending.append(what)
            said.append(f"deletion of {what} is still pending")
    journal.details["restored_target_deleted"] = handle is None or handle.name not in pending
    if pending:
        said.append(f"`dbops janitor` deletes the restored resource (drill {drill_id}); "
                    f"the drill's recovery point expires after its 1-day lifecycle")
    journal.details["cleanup"] = "; ".join(said) or "nothing was created"
    say(journal.details["cleanup"])
    return bool(pending)


def _point_summary(report: Report) -> Report:
    m, d = report.measurements, report.details
    if report.status == "pass":
        point = d.get("recovery_point", {})
        text = (f"recovery point {point.get('arn')} (created {point.get('created')}) restored "
                f"(restore duration {measured(m.get('restore_duration_s'), '{:.1f}s')}): "
                f"{m['markers_before_t']} rows before it present, {m['markers_after_t']} after it absent, fingerprints match")
    elif report.status == "inconclusive":
        text = "NOT VERIFIED: " + "; ".join(d.get("inconclusive_because", []))
    else:
        text = "; ".join(c.detail for c in report.checks if c.status in ("fail", "error")) or report.status
    return replace(report, summary=headline(report, text))
