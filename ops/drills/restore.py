"""The restore drill: restore to a time T, then check rows, not resources.

pre-checks -> markers on both sides of T -> restore into a new target, noted in the drill
record before it is created and tagged at creation where the API can -> every marker at or
before T present, every marker after T absent, fingerprints of the rows as of T equal ->
what the restore did not carry over -> remove the drill's markers from the source ->
delete the restored target (reported deleted only once it is seen gone) unless --keep.

Objectives (not judged means inconclusive, never a pass): RPO, RESTORE-COMPLETED,
ROWS-BEFORE-T-PRESENT, ROWS-AFTER-T-ABSENT, ROWS-FINGERPRINT. A restore that does not complete
(a broken backup, a hole in the WAL archive) fails RESTORE-COMPLETED: the drill ran, the
estate failed it. Other RESTORE-* and NOT-CARRIED-* are findings that may warn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from ops.data.markers import MARKERS_PER_SIDE, Marker, RowVerdict, judge
from ops.drills.common import DRILL_TAG, EXPIRES_TAG, OWNER_TAG, deferred_interrupts, expiry, expiry_hours, stand_down
from ops.errors import CannotRun, RestoreFailed, UsageError
from ops.lease import Record
from ops.proc import owner_id
from ops.progress import journal_wait
from ops.report import Journal, Report, headline, measured

KEPT = "kept"  # owner of a restored target kept with --keep: it lives until it expires
OBJECTIVES = ("RPO", "RESTORE-COMPLETED", "ROWS-BEFORE-T-PRESENT", "ROWS-AFTER-T-ABSENT", "ROWS-FINGERPRINT")
Progress = Callable[[str], None]


class Restorable(Protocol):
    ref: Any
    exact_times: bool  # marker times are the database's commit times (else read with a guard band)
    default_timeout_s: float  # how long a restore of this kind may take (the service's documented figures)
    restores_to_latest: bool  # the service restores to its own latest restorable time when asked (--latest)
    restore_granularity_s: float  # 1.0 where the service takes T in whole seconds, else 0

    @property
    def has_data_plane(self) -> bool: ...
    def pre_checks(self) -> list[tuple[str, str, str]]: ...
    def now(self) -> datetime:
        """The service's time (its database's clock, or its Date headers): never this client's."""
    def now_bounds(self) -> tuple[datetime, datetime]:
        """The service's time now: at least, at most."""
    def side_span(self, drill_id: str, side: str) -> tuple[datetime, datetime]:
        """The service times between which the drill's markers of one side were written."""
    def rows_before(self, drill_id: str, t: datetime) -> int:
        """Rows the drill can judge by (its markers, a heartbeat's) written before t."""
    def restorable_window(self) -> tuple[datetime | None, datetime | None]: ...
    def write_markers(self, drill_id: str, side: str, count: int) -> None: ...
    def make_restorable(self, t: datetime, timeout: float, progress: Progress) -> None: ...
    def plan_restore(self, drill_id: str) -> Any:
        """The restored target's handle (its name) before anything is created."""
    def start_restore(self, handle: Any, t: datetime | None, tags: dict[str, str], progress: Progress) -> Any: ...
    def wait_restored(self, handle: Any, timeout: float, progress: Progress) -> Any: ...
    def source_markers(self, drill_id: str) -> list[Marker]: ...
    def restored_markers(self, handle: Any, drill_id: str) -> list[Marker]: ...
    def restored_dsn(self, handle: Any) -> str:
        """libpq DSN of the restored target (PostgreSQL kinds: a DynamoDB table has none)."""
    def remove_markers(self, drill_id: str) -> int: ...
    def restore_notes(self, handle: Any) -> list[tuple[str, str, str]]: ...
    def not_carried_over(self, handle: Any) -> list[tuple[str, str, str]]: ...
    def delete(self, handle: Any) -> None: ...
    def deleted(self, handle: Any) -> bool: ...
    def mark_kept(self, handle: Any) -> None: ...


@dataclass(frozen=True)
class RestoreOptions:
    at: datetime | None = None  # an explicit T in the past
    latest: bool = False
    keep: bool = False
    rpo_s: float = 300.0
    timeout_s: float | None = None  # None: the target's default
    expires_hours: float = 6.0
    delete_wait_s: float = 600.0
    max_cost_usd: float = 1.0  # policy max_drill_cost_usd, or --max-cost
    max_cost_explicit: bool = False  # --max-cost was given: it also accepts a restore whose size is not measured
    cost: Any = None  # the bound priced before the drill starts (ops.cost.restore.RestoreCost)


def restore_hours(target: Restorable, opts: RestoreOptions) -> float:
    """The longest the restored target may live: until its expiry tag. The drill deletes it after the restore's
    timeout and the deletion wait, but a cleanup that fails (a throttled or refused delete, a killed process)
    leaves it to the janitor, which takes only what has expired; with --keep it lives until then by design."""
    wait_s = (opts.timeout_s or target.default_timeout_s) + opts.delete_wait_s
    return expiry_hours(wait_s, opts.expires_hours)


def bound_cost(target: Any, opts: RestoreOptions, catalog: dict[str, Any]) -> RestoreOptions:
    """Price the restore before anything starts; above opts.max_cost_usd it is refused (one line, exit 2)."""
    from ops.cost.restore import refuse_if_costly

    cost = target.restore_cost(restore_hours(target, opts), catalog)
    refuse_if_costly(f"restoring {target.ref}", cost, opts.max_cost_usd, opts.max_cost_explicit)
    return replace(opts, cost=cost)


def validate_time(target: Restorable, at: datetime | None) -> None:
    """Refuse a T the target cannot restore to, before anything is written."""
    if at is None:
        return
    if not target.exact_times:
        at = at.replace(microsecond=0)
    now = target.now()
    if at >= now:
        raise UsageError(f"restore time {at.isoformat()} is not in the past (now {now.isoformat()})")
    earliest, _ = target.restorable_window()
    if earliest is not None and at < earliest:
        raise UsageError(f"restore time {at.isoformat()} is before the earliest restorable time of {target.ref} "
                         f"({earliest.isoformat()}): outside the retention window")


def run_restore(target: Restorable, opts: RestoreOptions, journal: Journal, drill_id: str,
                ledger: Any = None, hooks: dict | None = None, guard: Any = None) -> Report:
    """`guard` (ops.drills.guard.Guard) stands down once the restore is verified: its deletion is the rollback."""
    hooks = hooks or {}
    timeout = opts.timeout_s or target.default_timeout_s
    tags = {DRILL_TAG: drill_id, EXPIRES_TAG: expiry(expiry_hours(timeout + opts.delete_wait_s, opts.expires_hours)),
            OWNER_TAG: owner_id()}
    journal.details["drill_id"] = drill_id
    journal.require(*OBJECTIVES)
    journal.objectives["rpo_s"] = opts.rpo_s
    journal.event("pre", f"drill {drill_id}: checking {target.ref}")
    if opts.cost is not None:
        from ops.cost.restore import usd

        journal.measure("cost_estimate_usd", opts.cost.usd)
        journal.event("cost", f"at most {usd(opts.cost.usd)} USD (--max-cost {opts.max_cost_usd:g}): {opts.cost.basis}")
    for cid, status, detail in target.pre_checks():
        journal.check(cid, status, detail)
    if any(c.status == "fail" for c in journal.checks):
        return journal.finish("error", f"ERROR: pre-checks failed, the drill did not start: {journal.failed_detail()}")
    _measure_rpo(target, opts, journal)

    record = Record(drill_id, str(target.ref), journal.env, owner_id(), tags[EXPIRES_TAG], markers=target.has_data_plane)
    if ledger is not None:
        ledger.put_record(record)
    handle = None  # set once a restore may have been started: cleanup then deletes it by name
    restored = False
    aborted = False
    try:
        t = _choose_t(target, opts, drill_id, journal, timeout)
        if "before_restore" in hooks:
            hooks["before_restore"](drill_id)
        planned = target.plan_restore(drill_id)
        record.resources.append({"kind": "restore", "name": planned.name})
        if ledger is not None:
            ledger.put_record(record)  # before the call: a kill between it and the tag leaves a findable name
        journal.event("restore", f"restoring {target.ref} to {t.isoformat() if t else 'its latest restorable time'} "
                                 f"as {planned.name}, tagged {DRILL_TAG}={drill_id}")
        started = time.monotonic()
        handle = planned
        try:
            handle = target.start_restore(planned, t, tags, lambda m: journal.event("restore", m))
            handle = _wait_restored(target, handle, timeout, journal)
            restored = True
        except RestoreFailed as exc:
            # The backup did not restore: the drill's objective failed, it did not fail to run.
            journal.check("RESTORE-COMPLETED", "fail", str(exc), objective=True)
            journal.check("ROWS-BEFORE-T-PRESENT", "fail", f"no rows to read: {exc}")
        if restored:
            journal.measure("restore_duration_s", time.monotonic() - started)
            journal.check("RESTORE-COMPLETED", "pass", f"restored target {handle.name} usable after "
                                                       f"{journal.measurements['restore_duration_s']:.1f}s", objective=True)
            t_latest = None
            if t is None:
                # The service fixed T when the restore began (an API that does not say which: between
                # its latest restorable times before and after the call): markers written now are after it.
                t, t_latest = handle.restored_to, getattr(handle, "restored_by", None)
                between = f" to {t_latest.isoformat()}" if t_latest and t_latest != t else ""
                journal.event("markers", f"T = {t.isoformat()}{between} (the service's latest restorable time)")
                _wait_past(target, (t_latest or t) + timedelta(seconds=target.restore_granularity_s))
                _write_side(target, drill_id, "after", journal)
                if t_latest and t_latest != t:
                    journal.details["restore_time_latest"] = t_latest.isoformat()
            journal.details["restore_time"] = t.isoformat()
            if "after_restore" in hooks:
                hooks["after_restore"](drill_id)
            _verify(target, handle, t, drill_id, journal, t_latest)
            for cid, status, detail in target.restore_notes(handle) + target.not_carried_over(handle):
                journal.check(cid, status, detail)
        stand_down(guard)
    except KeyboardInterrupt:
        aborted = True
        journal.event("abort", "interrupted: removing what the drill created")
    finally:
        stand_down(guard)
        with deferred_interrupts(lambda m: journal.event("cleanup", m), "the drill's cleanup") as deferred:
            pending = _cleanup(target, handle, drill_id, opts.keep and restored and not aborted, opts, tags, journal)
        aborted |= deferred.count > 0
        if ledger is not None:
            if pending:
                record.kept = bool(opts.keep and restored and not aborted)
                ledger.put_record(record)  # the janitor finishes what is pending, or removes a kept copy once expired
            else:
                ledger.delete_record(drill_id)
    if aborted:
        return journal.finish("aborted", f"ABORTED: interrupted; {journal.details.get('cleanup', 'nothing to clean up')}")
    return _with_summary(journal.finish())


def _wait_restored(target: Restorable, handle: Any, timeout: float, journal: Journal) -> Any:
    """The restore's wait, its lines in the journal; on a terminal, shown live with the time against the deadline."""
    with journal_wait(journal, f"restore of {target.ref} as {handle.name}", timeout) as wait:
        return target.wait_restored(handle, timeout, lambda m: (journal.event("wait", m), wait.note(m)))


def _measure_rpo(target: Restorable, opts: RestoreOptions, journal: Journal) -> None:
    _, latest = target.restorable_window()
    if latest is None:
        journal.mark_not_measured("rpo_s", "the target reports no latest restorable time")
        journal.check("RPO", "fail", "no latest restorable time: point-in-time restore is not possible")
    else:
        # Both times on the service's clock (a client clock running behind would understate the RPO), and its
        # latest reading of now: the RPO is never understated by what the clock's guard leaves open.
        rpo = max(0.0, (target.now_bounds()[1] - latest).total_seconds())
        journal.measure("rpo_s", rpo)
        journal.check("RPO", "pass" if rpo <= opts.rpo_s else "fail",
                      f"latest restorable time {latest.isoformat()} is {rpo:.1f}s old (objective {opts.rpo_s:g}s)")


def _cleanup(target: Restorable, handle: Any, drill_id: str, keep: bool, opts: RestoreOptions,
             tags: dict[str, str], journal: Journal) -> bool:
    """Remove the drill's markers and its restored target. Returns whether anything is left pending."""
    pending = []
    if target.has_data_plane:
        try:
            removed = target.remove_markers(drill_id)
            journal.event("cleanup", f"removed {removed} marker(s) of drill {drill_id} from {target.ref}")
        except Exception as exc:  # noqa: BLE001 — the janitor removes them
            pending.append(f"markers in {target.ref}")
            journal.event("cleanup", f"markers not removed ({exc}); `dbops janitor` removes them")
    if handle is not None and keep:
        target.mark_kept(handle)
        pending.append(f"kept {handle.name}")
        journal.details["cleanup"] = f"kept the restored target {handle.name} (--keep); `dbops janitor` removes it after {tags[EXPIRES_TAG]}"
    elif handle is not None:
        journal.event("cleanup", f"deleting the restored target {handle.name}")
        try:
            target.delete(handle)
            from ops.clock import wait_until

            gone = wait_until(lambda: target.deleted(handle), timeout=opts.delete_wait_s, interval=2)
        except Exception as exc:  # noqa: BLE001 — left to the janitor, and said so
            gone = False
            journal.event("cleanup", f"deleting {handle.name} failed: {exc}")
        journal.details["restored_target_deleted"] = gone
        if gone:
            journal.details["cleanup"] = f"the restored target {handle.name} was deleted (seen gone)"
        else:
            pending.append(f"deletion of {handle.name}")
            journal.details["cleanup"] = (f"deletion of {handle.name} is still pending after {opts.delete_wait_s:.0f}s; "
                                          f"`dbops janitor` deletes it (drill {drill_id})")
    else:
        journal.details.setdefault("cleanup", "no restored target was created")
    journal.event("cleanup", journal.details["cleanup"])
    return bool(pending)


def _write_side(target: Restorable, drill_id: str, side: str, journal: Journal) -> None:
    if target.has_data_plane:
        target.write_markers(drill_id, side, MARKERS_PER_SIDE)
        journal.event("markers", f"wrote {MARKERS_PER_SIDE} markers {side} T")


def _choose_t(target: Restorable, opts: RestoreOptions, drill_id: str, journal: Journal, timeout: float) -> datetime | None:
    """Pick T on the service's clock and make sure there are markers on both sides of it, and a commit after it.

    None means "the latest restorable time", which the service fixes itself when the restore
    starts; the markers after T are written once it has.
    """
    progress = lambda m: journal.event("wait", m)  # noqa: E731
    if opts.at is not None:
        t = opts.at if target.exact_times else opts.at.replace(microsecond=0)
        journal.event("markers", f"T = {t.isoformat()}: the rows before T are a heartbeat's, written before the drill began")
        _say_if_unverifiable(target, drill_id, t, journal)
        _write_side(target, drill_id, "after", journal)
        target.make_restorable(t, timeout, progress)
        return t
    _write_side(target, drill_id, "before", journal)
    t = _clear_of_before(target, drill_id)
    if opts.latest and target.restores_to_latest:
        target.make_restorable(t, timeout, progress)  # the latest restorable time has passed the markers before T
        return None
    journal.event("markers", f"T = {t.isoformat()} (the service's clock)")
    _wait_past(target, t + timedelta(seconds=target.restore_granularity_s))
    _write_side(target, drill_id, "after", journal)
    target.make_restorable(t, timeout, progress)
    return t


def _clear_of_before(target: Restorable, drill_id: str) -> datetime:
    """A T after every marker written before it, on the service's clock."""
    if target.exact_times:
        time.sleep(0.2)
        return target.now()  # the database's clock, after their commits
    if not target.has_data_plane:
        return target.now().replace(microsecond=0)
    # The whole second after the latest time the markers may have been written, guard included.
    _, latest = target.side_span(drill_id, "before")
    return latest.replace(microsecond=0) + timedelta(seconds=1)


WAIT_PAST_S = 120.0  # how long the service's clock may take to be surely past a time a second or so ahead


def _wait_past(target: Restorable, when: datetime) -> None:
    """Wait until the service's clock is surely past `when` (its earliest reading, guard included)."""
    deadline = time.monotonic() + WAIT_PAST_S
    while True:
        earliest, _ = target.now_bounds()
        if earliest > when:
            return
        if time.monotonic() > deadline:
            raise CannotRun(f"{target.ref}: the service's clock was not surely past {when.isoformat()} within {WAIT_PAST_S:.0f}s "
                            f"(it reads {earliest.isoformat()} at the earliest)")
        time.sleep(min(1.0, max(0.05, (when - earliest).total_seconds())))


def _say_if_unverifiable(target: Restorable, drill_id: str, t: datetime, journal: Journal) -> None:
    """A T in the past is judged by rows written before it that the drill can read by key: its own markers
    (none yet) and a heartbeat's. Where there are none, say so before the restore, not after it."""
    if not target.has_data_plane or target.rows_before(drill_id, t):
        return
    line = (f"rows before T cannot be verified: nothing the drill reads (its own markers, a heartbeat) was written "
            f"before T = {t.isoformat()}; the restore goes ahead and ROWS-BEFORE-T-PRESENT will be unknown (inconclusive)")
    journal.details["rows_before_t"] = line
    journal.event("markers", line)


def _verify(target: Restorable, handle: Any, t: datetime, drill_id: str, journal: Journal,
            t_latest: datetime | None = None) -> None:
    if not target.has_data_plane:
        for cid in ("ROWS-BEFORE-T-PRESENT", "ROWS-AFTER-T-ABSENT", "ROWS-FINGERPRINT"):
            journal.check(cid, "unknown", "not verified: no data plane (the endpoint has no database behind it)")
        return
    journal.event("verify", "reading markers from the source and the restored target")
    verdict = judge(target.source_markers(drill_id), target.restored_markers(handle, drill_id), t, target.exact_times,
                    t_latest=t_latest, granularity_s=target.restore_granularity_s)
    record_verdict(verdict, journal)


def record_verdict(verdict: RowVerdict, journal: Journal) -> None:
    journal.measure("markers_before_t", verdict.expected_present)
    journal.measure("markers_after_t", verdict.expected_absent)
    journal.measure("markers_missing", len(verdict.missing))
    journal.measure("markers_unexpected", len(verdict.unexpected))
    if verdict.ambiguous:
        journal.measure("markers_too_close_to_t", verdict.ambiguous)
    if verdict.expected_present == 0:
        journal.check("ROWS-BEFORE-T-PRESENT", "unknown", journal.details.get("rows_before_t")
                      or "no marker was written before T: nothing to judge the restore by")
    else:
        journal.check("ROWS-BEFORE-T-PRESENT", "pass" if not verdict.missing else "fail",
                      f"{verdict.expected_present - len(verdict.missing)} of {verdict.expected_present} rows written at or before T are present"
                      + (f"; missing {verdict.missing[:5]}" if verdict.missing else ""))
    if verdict.expected_absent == 0:
        journal.check("ROWS-AFTER-T-ABSENT", "unknown", "no marker was written after T: a restore to a later time would pass unnoticed")
    else:
        journal.check("ROWS-AFTER-T-ABSENT", "pass" if not verdict.unexpected else "fail",
                      f"{verdict.expected_absent - len(verdict.unexpected)} of {verdict.expected_absent} rows written after T are absent"
                      + (f"; present: {verdict.unexpected[:5]}" if verdict.unexpected else ""))
    if verdict.expected_present == 0:
        journal.check("ROWS-FINGERPRINT", "unknown", "no rows as of T to fingerprint")
    else:
        journal.check("ROWS-FINGERPRINT", "pass" if verdict.fingerprints_match else "fail",
                      f"source {verdict.source_fingerprint[:16]} vs restored {verdict.restored_fingerprint[:16]} (rows as of T)")
    journal.details["fingerprints"] = {"source": verdict.source_fingerprint, "restored": verdict.restored_fingerprint}


def _with_summary(report: Report) -> Report:
    m = report.measurements
    if report.status == "pass":
        text = (f"{m['markers_before_t']} rows before T present, {m['markers_after_t']} after T absent, fingerprints match; "
                f"restore duration {measured(m.get('restore_duration_s'), '{:.1f}s')}")
    elif report.status == "inconclusive":
        text = "NOT VERIFIED: " + "; ".join(report.details.get("inconclusive_because", []))
    else:
        text = "; ".join(c.detail for c in report.checks if c.status in ("fail", "error")) or report.status
    return replace(report, summary=headline(report, text))
