"""Steady state before and after a drill on a cluster.

The health a drill needs is recorded before it starts (status, writers, healthy readers, replica lag, as
the target's control plane reports them) and read again once it has ended, rollback included. A cluster
left worse than it was found fails STEADY-STATE, whatever the drill's own checks said.

Right after a heal a healthy cluster often does not look it yet: a reader still rebooting, the cluster
`modifying`, and AuroraReplicaLag's newest minute the failover's own. So the after-read settles first: while
the cluster is worse only through members in a passing status it is read again, up to `settle_s`; a lag
datapoint from before the drill ended is not the cluster as left (lag not measured, never a failure).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from ops.report import Check, Report, escalated
from ops.targets.base import ClusterState

SETTLE_S = 120.0  # the longest the after-read waits for a cluster still settling after the drill's rollback
SETTLE_POLL_S = 5.0  # one Describe call (and the lag reads) each time: the control plane's API rate is shared
# Statuses (of the cluster or an instance) that pass on their own: a member in one is settling, not lost.
SETTLING = frozenset({"backing-up", "configuring-enhanced-monitoring", "configuring-iam-database-auth",
                      "configuring-log-exports", "failing-over", "maintenance", "modifying", "promoting", "rebooting",
                      "renaming", "resetting-master-credentials", "starting", "storage-optimization", "upgrading"})


@dataclass(frozen=True)
class Health:
    status: str
    writers: int
    healthy_readers: tuple[str, ...]
    max_lag_s: float | None  # the healthy readers' largest lag; None when any of them was not measured
    settling: tuple[str, ...] = ()  # the cluster or members in a passing status (SETTLING)

    def __str__(self) -> str:
        lag = "not measured" if self.max_lag_s is None else f"{self.max_lag_s:.3f}s"
        return (f"{self.status}, {self.writers} writer(s), {len(self.healthy_readers)} healthy reader(s)"
                f" ({', '.join(self.healthy_readers) or 'none'}), replica lag {lag}"
                + (f", settling: {', '.join(self.settling)}" if self.settling else ""))


def health_of(state: ClusterState, lag_since: datetime | None = None) -> Health:
    """With `lag_since`, a lag datapoint from before it is not counted: that reader's lag is not measured."""
    writers = sum(1 for m in state.members if m.role == "writer" and m.healthy)
    healthy = [m for m in state.readers if m.healthy]
    lags = [None if lag_since is not None and m.lag_at is not None and m.lag_at < lag_since else m.lag_s for m in healthy]
    max_lag = max(lags) if lags and all(lag is not None for lag in lags) else (0.0 if not healthy else None)  # type: ignore[type-var]
    settling = ([f"cluster {state.status}"] if state.status in SETTLING else []) + \
        [f"{m.name} {m.status}" for m in state.members if m.status in SETTLING]
    return Health(state.status, writers, tuple(sorted(m.name for m in healthy)), max_lag, tuple(settling))  # type: ignore[arg-type]


def worse(before: Health, after: Health, max_lag_s: float) -> list[str]:
    """How `after` is worse than `before`: each way, in words (empty: not worse)."""
    found = []
    if before.status == "available" and after.status != "available":
        found.append(f"cluster {after.status}, was {before.status}")
    if after.writers < before.writers or (before.writers == 1 and after.writers != 1):
        found.append(f"{after.writers} healthy writer(s), was {before.writers}")
    if len(after.healthy_readers) < len(before.healthy_readers):
        found.append(f"{len(after.healthy_readers)} healthy reader(s), was {len(before.healthy_readers)} "
                     f"({', '.join(before.healthy_readers)})")
    if after.max_lag_s is not None and after.max_lag_s > max(max_lag_s, before.max_lag_s or 0.0):
        found.append(f"replica lag {after.max_lag_s:.3f}s, over {max(max_lag_s, before.max_lag_s or 0.0):g}s")
    return found


def judge(before: Health, after: Health | None, max_lag_s: float, read_error: str | None = None,
          waited_s: float | None = None) -> Check:
    """STEADY-STATE: fail when left worse; error when the cluster could not be read after; unknown when the lag
    measured before was not measured after (nothing else worse); else pass. `waited_s`: how long the after-read
    waited for the cluster to settle."""
    if after is None:
        return Check("STEADY-STATE", "error", f"the cluster could not be read after the drill ({read_error}); before: {before}")
    found = worse(before, after, max_lag_s)
    if found:
        waited = f" after waiting {waited_s:g}s for it to settle" if waited_s else ""
        return Check("STEADY-STATE", "fail", f"left worse than found: {'; '.join(found)}{waited} (before: {before}; after: {after})")
    if before.max_lag_s is not None and after.max_lag_s is None:
        return Check("STEADY-STATE", "unknown", f"replica lag not measured after the drill (no datapoint since it ended); "
                                                f"otherwise as found: {after}")
    if before.max_lag_s is None and after.max_lag_s is None:
        return Check("STEADY-STATE", "pass", f"as found or better, replica lag not measured before or after the drill: not compared; "
                                             f"before {before}; after {after}")
    return Check("STEADY-STATE", "pass", f"as found or better: before {before}; after {after}")


class SteadyState:
    """Reads a cluster target's health before a drill and judges it again after, once it has settled."""

    def __init__(self, target: Any, max_lag_s: float, settle_s: float = SETTLE_S, poll_s: float = SETTLE_POLL_S,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.target = target
        self.max_lag_s = max_lag_s
        self.settle_s = settle_s
        self.poll_s = poll_s
        self._clock, self._sleep, self._now = clock, sleep, now
        self.before: Health | None = None

    def record(self) -> Health:
        """Before the drill: a read that fails is raised (the drill cannot run without knowing what it found)."""
        self.before = health_of(self.target.describe())
        return self.before

    def _after(self) -> tuple[Health | None, str | None, float]:
        """The health as left: read again while it is worse only through what is still settling, up to settle_s."""
        assert self.before is not None
        since, start = self._now(), self._clock()
        while True:
            try:
                after = health_of(self.target.describe(), lag_since=since)
            except Exception as exc:  # noqa: BLE001 — an unread cluster is an error check, never a pass
                return None, f"{type(exc).__name__}: {exc}", self._clock() - start
            waited = self._clock() - start
            if not worse(self.before, after, self.max_lag_s) or not after.settling or waited >= self.settle_s:
                return after, None, waited
            self._sleep(min(self.poll_s, self.settle_s - waited))

    def judge(self, report: Report) -> Report:
        if self.before is None:
            return report
        after, error, waited = self._after()
        check = judge(self.before, after, self.max_lag_s, error, waited_s=round(waited, 1) if waited else None)
        details = dict(report.details, steady_state={"before": asdict(self.before), "after": asdict(after) if after else None,
                                                     "settled_s": round(waited, 3)})
        status, summary = escalated(report, check, check.detail)
        if status == report.status and check.status in ("fail", "error"):
            # an aborted or failed run: its summary still says the cluster was left worse
            summary = f"{report.summary}; STEADY-STATE {check.status}: {check.detail.split(' (before: ')[0]}"
        return replace(report, status=status, summary=summary, checks=report.checks + (check,), details=details)


def steady_state_of(target: Any, max_lag_s: float) -> SteadyState | None:
    """A steady state for a target whose control plane describes a cluster; None for other kinds."""
    if target is None or getattr(target, "describe", None) is None:
        return None
    return SteadyState(target, max_lag_s)
