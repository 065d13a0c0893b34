"""Stop conditions of a drill: CloudWatch alarms by name and a limit on client-side downtime.

They are checked before the fault (an alarm in ALARM, or a name CloudWatch does not know: the drill does
not start) and watched while it runs by one thread. A trip stops the drill the way Ctrl-C does: SIGINT to
the main thread, so the drill's own interrupt path stops the fault and runs its rollback (fail back, delete
the restore, stop the load) and the report is aborted, exit 3, with GUARD-STOP naming what tripped.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from ops.errors import CannotRun, UsageError
from ops.permissions import declare, need
from ops.report import Check, Journal, Report

CALLS = declare("drills.guard", need("cloudwatch:DescribeAlarms", on="alarm"))

MAX_ALARMS = 100  # DescribeAlarms takes at most 100 AlarmNames (and 100 records a page)
DOWNTIME_POLL_S = 0.05  # the canary's downtime is read locally: often enough to stop within a tenth of a second
BLIND_LIMIT_S = 15.0  # alarms unread for this long stop the drill: a guard that cannot see is no guard
STOP_JOIN_S = 15.0  # the longest the drill waits for the watcher to finish its last read (10 s read timeout)


@dataclass(frozen=True)
class StopConditions:
    alarms: tuple[str, ...] = ()
    max_downtime_s: float | None = None  # client write downtime so far above this stops the drill
    alarm_poll_s: float = 2.0

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


def refusal(names: tuple[str, ...], states: dict[str, str], where: str) -> str | None:
    """Why the drill must not start, or None."""
    missing = [n for n in names if n not in states]
    if missing:
        return f"stop condition alarm {', '.join(missing)} not found in {where}: the drill did not start"
    firing = [n for n in names if states[n] == "ALARM"]
    if firing:
        return f"alarm {', '.join(firing)} is in ALARM: the drill did not start"
    return None


def trip_reason(names: tuple[str, ...], states: dict[str, str] | None, downtime_s: float | None,
                limit_s: float | None) -> str | None:
    """Why the running drill must stop now, or None. states None: the alarms were not read this time."""
    if states is not None:
        missing = [n for n in names if n not in states]
        if missing:
            return f"alarm {missing[0]} no longer exists: the stop condition cannot be watched"
        firing = [n for n in names if states[n] == "ALARM"]
        if firing:
            return f"alarm {firing[0]} is in ALARM"
    if limit_s is not None and downtime_s is not None and downtime_s > limit_s:
        return f"client write downtime {downtime_s:.3f}s so far is over the limit of {limit_s:g}s"
    return None


def interrupt_main_thread() -> None:
    """A trip arrives as Ctrl-C would: a real SIGINT to the main thread, so a blocking call there (a sleep,
    a socket read, an event loop's wakeup) returns and the drill's interrupt handler runs."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]


class Guard:
    """Checks the stop conditions before a drill and watches them while it runs."""

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
        self._stopped = False
        self.tripped: str | None = None
        self.reads = 0
        self.read_failures: list[str] = []
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

    @contextmanager
    def watching(self, journal: Journal) -> Iterator["Guard"]:
        if self.conditions.empty:
            yield self
            return
        if self._interrupt is interrupt_main_thread and threading.current_thread() is not threading.main_thread():
            # A SIGINT would stop whatever the main thread runs (a server), not this drill: never run one blind.
            raise CannotRun("stop conditions are watched only for a drill run on the main thread")
        journal.event("guard", f"watching stop conditions: {self.conditions.describe()}")
        thread = threading.Thread(target=self._watch, args=(journal,), name="dbops-guard", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            with self._lock:  # after this no trip can be sent: the drill has ended
                self._stopped = True
            self._done.set()
            thread.join(STOP_JOIN_S)

    def _watch(self, journal: Journal) -> None:
        names, limit = self.conditions.alarms, self.conditions.max_downtime_s
        interval = DOWNTIME_POLL_S if limit is not None else self.conditions.alarm_poll_s
        next_read = self._clock()
        blind_since: float | None = None
        first = True  # the first look is at once: a drill that trips early is stopped early
        while not self._done.wait(0 if first else interval):
            first = False
            states = None
            if names and self._clock() >= next_read:
                next_read = self._clock() + self.conditions.alarm_poll_s
                try:
                    assert self._read is not None
                    states = self._read(names)
                    self.reads += 1
                    blind_since = None
                except Exception as exc:  # noqa: BLE001 — read again; unread for too long stops the drill
                    self.read_failures.append(f"{type(exc).__name__}: {exc}")
                    blind_since = blind_since or self._clock()
                    if self._clock() - blind_since >= self._blind_limit_s:
                        self._trip(journal, f"the stop condition alarms could not be read for {self._blind_limit_s:g}s "
                                            f"(last: {self.read_failures[-1]})")
                        return
            downtime = self._downtime() if self._downtime is not None else None
            if downtime is not None:
                self.worst_downtime_s = max(downtime, self.worst_downtime_s or 0.0)
            why = trip_reason(names, states, downtime, limit)
            if why:
                self._trip(journal, why)
                return

    def _trip(self, journal: Journal, why: str) -> None:
        with self._lock:
            if self._stopped:
                return
            self.tripped = why
            journal.event("abort", f"stop condition: {why}; stopping the drill and rolling back")
            self._interrupt()

    def judge(self, report: Report) -> Report:
        """The report with GUARD-STOP: what tripped (the run is aborted), or what was watched without a trip."""
        if self.conditions.empty:
            return report
        details = dict(report.details, stop_conditions={
            "alarms": list(self.conditions.alarms), "max_downtime_s": self.conditions.max_downtime_s,
            "alarm_reads": self.reads, "read_failures": self.read_failures[-5:], "tripped": self.tripped})
        if self.tripped is None:
            watched = [f"alarm(s) {', '.join(self.conditions.alarms)} read {self.reads} time(s), none in ALARM"] \
                if self.conditions.alarms else []
            if self.conditions.max_downtime_s is not None:
                seen = "not measured" if self.worst_downtime_s is None else f"at most {self.worst_downtime_s:.3f}s"
                watched.append(f"client write downtime {seen} (limit {self.conditions.max_downtime_s:g}s)")
            check = Check("GUARD-STOP", "pass", "no stop condition tripped: " + "; ".join(watched))
            return replace(report, checks=report.checks + (check,), details=details)
        check = Check("GUARD-STOP", "fail", f"stopped: {self.tripped}")
        summary = f"ABORTED (GUARD-STOP): {self.tripped}; " + report.summary.removeprefix("ABORTED: ")
        return replace(report, status="aborted", summary=summary, checks=report.checks + (check,), details=details)


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
    cloudwatch = aws.client("cloudwatch")
    return Guard(conditions, lambda names: read_alarm_states(cloudwatch, names), where=f"env {env.name} ({env.region})")
