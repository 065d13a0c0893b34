"""Stop conditions of a drill: CloudWatch alarms by name and a limit on client-side downtime.

They are checked before the fault (an alarm in ALARM, or a name CloudWatch does not know: the drill does
not start) and watched while it runs by one thread. A trip stops the drill the way Ctrl-C does: SIGINT to
the main thread, so the drill's own interrupt path stops the fault and runs its rollback (fail back, delete
the restore, stop the load) and the report is aborted, exit 3, with GUARD-STOP naming what tripped.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from ops.errors import CannotRun, UsageError
from ops.permissions import declare, need
from ops.report import Check, Journal, Report

CALLS = declare("drills.guard", need("cloudwatch:DescribeAlarms", on="any-alarm",
                                     why="composite alarms are answered only to a permission on *"))

MAX_ALARMS = 100  # DescribeAlarms takes at most 100 AlarmNames (and 100 records a page)
DOWNTIME_POLL_S = 0.05  # the canary's downtime is read locally: often enough to stop within a tenth of a second
BLIND_LIMIT_S = 15.0  # alarms unread for this long stop the drill: a guard that cannot see is no guard
POLL_JITTER = 0.1  # each alarm read is this fraction of the poll interval early or late, at random
LAST_READ_WAIT_S = 2.0  # how long a drill that ended before its first read was answered waits for it
STOP_JOIN_S = 5.0  # the longest the drill waits for the watcher's last look (its reads run in threads of their own)


@dataclass(frozen=True)
class StopConditions:
    alarms: tuple[str, ...] = ()
    max_downtime_s: float | None = None  # client write downtime so far above this stops the drill
    alarm_poll_s: float = 10.0

    @property
    def empty(self) -> bool:
        return not self.alarms and self.max_downtime_s is None

    def describe(self) -> str:
        parts = [f"alarm(s) {', '.join(self.alarms)}"] if self.alarms else []
        if self.max_downtime_s is not None:
            parts.append(f"client write downtime over {self.max_downtime_s:g}s")
        return " or ".join(parts) or "none"


def read_alarm_states(cloudwatch: Any, names: tuple[str, ...]) -> dict[str, str]:
    """Each named alarm's StateValue (OK, ALARM, INSUFFICIENT_DATA); a name CloudWatch does not know is absent.

    AlarmTypes names both kinds: without it DescribeAlarms answers metric alarms only, and a composite
    alarm would read as missing."""
    states: dict[str, str] = {}
    kwargs: dict[str, Any] = {"AlarmNames": list(names), "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                              "MaxRecords": MAX_ALARMS}
    for _ in range(len(names) + 1):  # at most one alarm a name: a NextToken past that is not followed forever
        page = cloudwatch.describe_alarms(**kwargs)
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            states[alarm["AlarmName"]] = alarm["StateValue"]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return states


def missing_and_firing(names: tuple[str, ...], states: dict[str, str]) -> tuple[list[str], list[str]]:
    """The named alarms DescribeAlarms did not answer, and those in ALARM."""
    return [n for n in names if n not in states], [n for n in names if states.get(n) == "ALARM"]


def refusal(names: tuple[str, ...], states: dict[str, str], where: str) -> str | None:
    """Why the drill must not start, or None."""
    missing, firing = missing_and_firing(names, states)
    if missing:
        return f"stop condition alarm {', '.join(missing)} not found in {where} or not visible to this role: the drill did not start"
    if firing:
        return f"alarm {', '.join(firing)} is in ALARM: the drill did not start"
    return None


def trip_reason(names: tuple[str, ...], states: dict[str, str] | None, downtime_s: float | None,
                limit_s: float | None) -> str | None:
    """Why the running drill must stop now, or None. states None: the alarms were not read this time."""
    if states is not None:
        missing, firing = missing_and_firing(names, states)
        if missing:
            return f"alarm {missing[0]} no longer found or not visible to this role: the stop condition cannot be watched"
        if firing:
            return f"alarm {firing[0]} is in ALARM"
    if limit_s is not None and downtime_s is not None and downtime_s > limit_s:
        return f"client write downtime {downtime_s:.3f}s so far is over the limit of {limit_s:g}s"
    return None


def interrupt_main_thread() -> None:
    """A trip arrives as Ctrl-C would: a real SIGINT to the main thread, so a blocking call there (a sleep,
    a socket read, an event loop's wakeup) returns and the drill's interrupt handler runs."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]


class _Read:
    """One read of the alarms in a thread of its own: a read that hangs (a network that stops answering) must
    not hold up the downtime check, and counts as blindness while it lasts."""

    def __init__(self, read: Callable[[tuple[str, ...]], dict[str, str]], names: tuple[str, ...]) -> None:
        self.states: dict[str, str] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(read, names), name="dbops-guard-read", daemon=True).start()

    def _run(self, read: Callable[[tuple[str, ...]], dict[str, str]], names: tuple[str, ...]) -> None:
        try:
            self.states = read(names)
        except BaseException as exc:  # noqa: BLE001 — a failed read is blindness, judged by the watcher
            self.error = exc
        finally:
            self.done.set()


class Guard:
    """Checks the stop conditions before a drill and watches them while it runs.

    The watch has two phases. While the fault runs, a trip stops the drill. Once the drill calls
    `stand_down()` (its fault has ended, its rollback begins) nothing is sent any more: the downtime is not
    read (the canary is off) and an alarm that goes off is recorded as an observation, a warn check. Alarms
    evaluate per period and often go off minutes after the fault: stopping the rollback for them would turn
    a finished drill into an aborted one and skip its last verifications."""

    def __init__(self, conditions: StopConditions, read: Callable[[tuple[str, ...]], dict[str, str]] | None = None,
                 where: str = "the env's account and region", interrupt: Callable[[], None] = interrupt_main_thread,
                 clock: Callable[[], float] = time.monotonic, blind_limit_s: float = BLIND_LIMIT_S) -> None:
        if conditions.alarms and read is None:
            raise ValueError("alarms to watch need a reader")
        self.conditions = conditions
        self._read = read
        self._where = where
        self._interrupt = interrupt
        self._clock = clock
        self._blind_limit_s = blind_limit_s
        self._downtime: Callable[[], float | None] | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stopped = False  # stood down or ended: no trip is sent any more
        self._started_at: float | None = None
        self.stood_down_at: float | None = None  # seconds into the watch
        self.tripped: str | None = None
        self.tripped_by_downtime = False  # the downtime limit tripped: writes were refused at least that long
        self.reads = 0
        self.read_failures: list[str] = []
        self.unread_since_good = False  # the last read attempt of the fault's phase failed
        self.never_ok: set[str] = set()  # named alarms not seen OK while the fault ran
        self.after_fault: list[str] = []  # alarms that went to ALARM after the stand-down
        self._noted: set[str] = set()
        self.watcher_failed: str | None = None  # the watcher thread's own failure (not a read's)
        self.worst_downtime_s: float | None = None

    def check_before(self) -> None:
        """Refuse the drill in one line (exit 2) when an alarm is in ALARM or does not exist; nothing is touched."""
        if not self.conditions.alarms:
            return
        assert self._read is not None
        try:
            states = self._read(self.conditions.alarms)
        except Exception as exc:  # noqa: BLE001 — an unread stop condition is no stop condition
            raise CannotRun(f"stop condition alarms could not be read ({type(exc).__name__}: {exc}): the drill did not start") from None
        why = refusal(self.conditions.alarms, states, self._where)
        if why:
            raise CannotRun(why)

    def watch_downtime(self, downtime_so_far: Callable[[], float | None]) -> None:
        """The drill hands in its client-side downtime so far once its fault has started."""
        self._downtime = downtime_so_far

    def stand_down(self) -> None:
        """The drill's fault has ended and its rollback begins: no trip is sent from now on."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._started_at is not None:
                self.stood_down_at = self._clock() - self._started_at

    @contextmanager
    def watching(self, journal: Journal) -> Iterator["Guard"]:
        if self.conditions.empty:
            yield self
            return
        if self._interrupt is interrupt_main_thread and threading.current_thread() is not threading.main_thread():
            # A SIGINT would stop whatever the main thread runs (a server), not this drill: never run one blind.
            raise CannotRun("stop conditions are watched only for a drill run on the main thread")
        journal.event("guard", f"watching stop conditions: {self.conditions.describe()}")
        self._started_at = self._clock()
        self.never_ok = set(self.conditions.alarms)
        thread = threading.Thread(target=self._watch, args=(journal,), name="dbops-guard", daemon=True)
        try:
            thread.start()  # inside the try: an interrupt inside start() still marks the watch stopped
            yield self
        finally:
            with self._lock:  # after this no trip can be sent: the drill has ended
                self._stopped = True
            if not thread.is_alive() and self.tripped is None and self.watcher_failed is None:
                self.watcher_failed = "the watcher thread ended early"
            self._done.set()
            thread.join(STOP_JOIN_S)

    def _watch(self, journal: Journal) -> None:
        try:
            self._loop(journal)
        except BaseException as exc:  # noqa: BLE001 — fail closed: a watcher that cannot watch stops the drill
            self.watcher_failed = f"{type(exc).__name__}: {exc}"
            self._trip(journal, f"the stop condition watcher failed ({self.watcher_failed}): the drill is no longer guarded")

    def _loop(self, journal: Journal) -> None:
        names, limit = self.conditions.alarms, self.conditions.max_downtime_s
        assert self._started_at is not None
        last_good = next_read = self._started_at
        pending: _Read | None = None
        first = True  # the first look is at once: a drill that trips early is stopped early
        while not self._done.wait(0 if first else DOWNTIME_POLL_S):
            first = False
            now = self._clock()
            fault = not self._stopped
            states = None
            if names and pending is None and now >= next_read:
                assert self._read is not None
                # Jittered: drills started together do not read the account's shared API rate in step.
                pending = _Read(self._read, names)
                next_read = now + self.conditions.alarm_poll_s * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)
            if pending is not None and pending.done.is_set():
                if pending.error is None:
                    states, last_good = pending.states, now
                    self.reads += 1
                else:
                    self.read_failures.append(f"{type(pending.error).__name__}: {pending.error}")
                if fault:
                    self.unread_since_good = pending.error is not None
                pending = None
            if not fault:
                self._observe(journal, names, states, now)
                continue
            if states is not None:
                self.never_ok -= {n for n in names if states.get(n) == "OK"}
            if names and now - last_good >= self._blind_limit_s:
                last = self.read_failures[-1] if self.read_failures else "a read still unanswered"
                self._trip(journal, f"the stop condition alarms could not be read for {self._blind_limit_s:g}s (last: {last})")
                return
            downtime = self._downtime() if self._downtime is not None and limit is not None else None
            if downtime is not None:
                self.worst_downtime_s = max(downtime, self.worst_downtime_s or 0.0)
            alarm_why = trip_reason(names, states, None, None)
            why = alarm_why or trip_reason((), None, downtime, limit)
            if why:
                self.tripped_by_downtime = alarm_why is None
                self._trip(journal, why)
                return
        # A drill shorter than one read: the read it started still says what the alarms were while it ran.
        if pending is not None and self.reads == 0 and pending.done.wait(LAST_READ_WAIT_S) and pending.error is None:
            self.reads += 1
            self.unread_since_good = False
            self.never_ok -= {n for n in names if (pending.states or {}).get(n) == "OK"}
            self._observe(journal, names, pending.states, self._clock())

    def _observe(self, journal: Journal, names: tuple[str, ...], states: dict[str, str] | None, now: float) -> None:
        """After the stand-down: an alarm going off is recorded, once, and never stops the drill."""
        assert self._started_at is not None
        for name in names:
            if states is not None and states.get(name) == "ALARM" and name not in self._noted:
                self._noted.add(name)
                note = f"alarm {name} went to ALARM at +{now - self._started_at:.1f}s, after the fault"
                if self.stood_down_at is not None:
                    note += f" (it ended at +{self.stood_down_at:.1f}s)"
                self.after_fault.append(note)
                journal.event("guard", f"{note}: recorded, the drill's rollback goes on")

    def _trip(self, journal: Journal, why: str) -> None:
        with self._lock:
            if self._stopped:
                return
            self.tripped = why
            journal.event("abort", f"stop condition: {why}; stopping the drill and rolling back")
            self._interrupt()

    def _unguarded(self) -> list[str]:
        """Why the fault was not (fully) watched although nothing tripped: a GUARD-STOP that cannot pass."""
        why = []
        if self.watcher_failed is not None:
            why.append(f"the stop condition watcher failed: {self.watcher_failed}")
        if self.conditions.alarms and self.reads == 0:
            last = f" (last: {self.read_failures[-1]})" if self.read_failures else ""
            why.append(f"alarm(s) {', '.join(self.conditions.alarms)} not read during the drill{last}")
        elif self.conditions.alarms and self.unread_since_good:
            why.append(f"alarms not read since their last good read (last: {self.read_failures[-1]})")
        for name in self.conditions.alarms:
            if self.reads and name in self.never_ok:
                why.append(f"not guarded by {name}: INSUFFICIENT_DATA")
        return why

    def judge(self, report: Report) -> Report:
        """The report with GUARD-STOP: what tripped (the run is aborted), what was watched without a trip, or
        `unknown` when the watch did not see; GUARD-AFTER-FAULT warns of alarms that went off during rollback."""
        if self.conditions.empty:
            return report
        details = dict(report.details, stop_conditions={
            "alarms": list(self.conditions.alarms), "max_downtime_s": self.conditions.max_downtime_s,
            "alarm_reads": self.reads, "read_failures": self.read_failures[-5:], "tripped": self.tripped,
            "stood_down_at_s": self.stood_down_at, "after_fault": self.after_fault, "watcher_failed": self.watcher_failed})
        after = (Check("GUARD-AFTER-FAULT", "warn", "; ".join(self.after_fault) + ": recorded, the drill was not stopped"),) \
            if self.after_fault else ()
        if self.tripped is None:
            unguarded = self._unguarded()
            if unguarded:
                check = Check("GUARD-STOP", "unknown", "stop conditions not measured to the end: " + "; ".join(unguarded))
                return replace(report, checks=report.checks + (check,) + after, details=details)
            watched = [f"alarm(s) {', '.join(self.conditions.alarms)} read {self.reads} time(s), none in ALARM"] \
                if self.conditions.alarms else []
            if self.conditions.max_downtime_s is not None:
                seen = "not measured" if self.worst_downtime_s is None else f"at most {self.worst_downtime_s:.3f}s"
                watched.append(f"client write downtime {seen} (limit {self.conditions.max_downtime_s:g}s)")
            check = Check("GUARD-STOP", "pass", "no stop condition tripped: " + "; ".join(watched))
            return replace(report, checks=report.checks + (check,) + after, details=details)
        check = Check("GUARD-STOP", "fail", f"stopped: {self.tripped}")
        summary = f"ABORTED (GUARD-STOP): {self.tripped}; " + report.summary.removeprefix("ABORTED: ")
        return replace(report, status="aborted", summary=summary, checks=report.checks + (check,) + after, details=details)


def stop_conditions(policy: Any, alarms: tuple[str, ...], max_downtime_s: float | None,
                    measures_downtime: bool, drill: str) -> StopConditions:
    """The flags over the policy: --stop-on-alarm adds to the policy's alarms (a flag never removes a guard),
    --abort-after-downtime replaces its limit. A drill without a client-side downtime measure refuses the flag;
    the policy's limit does not apply to it."""
    if max_downtime_s is not None and not measures_downtime:
        raise UsageError(f"--abort-after-downtime needs a canary: the {drill} drill does not measure client write downtime")
    names = tuple(dict.fromkeys((*policy.stop_on_alarms, *alarms)))
    if len(names) > MAX_ALARMS:
        raise UsageError(f"at most {MAX_ALARMS} stop condition alarms (DescribeAlarms takes {MAX_ALARMS} names); got {len(names)}")
    limit = max_downtime_s if max_downtime_s is not None else (policy.abort_after_downtime_s if measures_downtime else None)
    return StopConditions(names, limit, policy.stop_alarm_poll_s)


def guard_for(cfg: Any, env: Any, conditions: StopConditions) -> Guard:
    """A guard reading the alarms through the env's own client factory (its account and region)."""
    if not conditions.alarms:
        return Guard(conditions)
    from ops.aws import Aws

    aws = Aws.for_env(cfg, env)
    # One attempt a read: the watcher reads again at its next poll, and its blindness counts from the last good
    # read; retries with backoff would only hide how long it has not seen.
    cloudwatch = aws.client("cloudwatch", attempts=1)
    return Guard(conditions, lambda names: read_alarm_states(cloudwatch, names), where=f"env {env.name} ({env.region})")
