"""Steady state before and after a drill on a cluster.

The health a drill needs is recorded before it starts (status, writers, healthy readers, replica lag, as
the target's control plane reports them) and read again once it has ended, rollback included. A cluster
left worse than it was found fails STEADY-STATE, whatever the drill's own checks said.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ops.report import Check, Report
from ops.targets.base import ClusterState


@dataclass(frozen=True)
class Health:
    status: str
    writers: int
    healthy_readers: tuple[str, ...]
    max_lag_s: float | None  # the healthy readers' largest lag; None when any of them was not measured

    def __str__(self) -> str:
        lag = "not measured" if self.max_lag_s is None else f"{self.max_lag_s:.3f}s"
        return (f"{self.status}, {self.writers} writer(s), {len(self.healthy_readers)} healthy reader(s)"
                f" ({', '.join(self.healthy_readers) or 'none'}), replica lag {lag}")


def health_of(state: ClusterState) -> Health:
    writers = sum(1 for m in state.members if m.role == "writer" and m.healthy)
    healthy = [m for m in state.readers if m.healthy]
    lags = [m.lag_s for m in healthy]
    max_lag = max(lags) if lags and all(lag is not None for lag in lags) else (0.0 if not healthy else None)
    return Health(state.status, writers, tuple(sorted(m.name for m in healthy)), max_lag)  # type: ignore[arg-type]


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


def judge(before: Health, after: Health | None, max_lag_s: float, read_error: str | None = None) -> Check:
    """STEADY-STATE: fail when left worse; error when the cluster could not be read after; unknown when the lag
    measured before was not measured after (nothing else worse); else pass."""
    if after is None:
        return Check("STEADY-STATE", "error", f"the cluster could not be read after the drill ({read_error}); before: {before}")
    found = worse(before, after, max_lag_s)
    if found:
        return Check("STEADY-STATE", "fail", f"left worse than found: {'; '.join(found)} (before: {before}; after: {after})")
    if before.max_lag_s is not None and after.max_lag_s is None:
        return Check("STEADY-STATE", "unknown", f"replica lag not measured after the drill; otherwise as found: {after}")
    return Check("STEADY-STATE", "pass", f"as found or better: before {before}; after {after}")


class SteadyState:
    """Reads a cluster target's health before a drill and judges it again after."""

    def __init__(self, target: Any, max_lag_s: float) -> None:
        self.target = target
        self.max_lag_s = max_lag_s
        self.before: Health | None = None

    def record(self) -> Health:
        """Before the drill: a read that fails is raised (the drill cannot run without knowing what it found)."""
        self.before = health_of(self.target.describe())
        return self.before

    def judge(self, report: Report) -> Report:
        if self.before is None:
            return report
        try:
            after: Health | None = health_of(self.target.describe())
            error = None
        except Exception as exc:  # noqa: BLE001 — an unread cluster is an error check, never a pass
            after, error = None, f"{type(exc).__name__}: {exc}"
        check = judge(self.before, after, self.max_lag_s, error)
        details = dict(report.details, steady_state={"before": asdict(self.before), "after": asdict(after) if after else None})
        status = report.status
        if check.status in ("fail", "error") and status in ("pass", "inconclusive"):
            status = check.status
        summary = report.summary if status == report.status else \
            f"{status.upper()} (STEADY-STATE): {check.detail}; was: {report.summary}"
        return replace(report, status=status, summary=summary, checks=report.checks + (check,), details=details)


def steady_state_of(target: Any, max_lag_s: float) -> SteadyState | None:
    """A steady state for a target whose control plane describes a cluster; None for other kinds."""
    if target is None or getattr(target, "describe", None) is None:
        return None
    return SteadyState(target, max_lag_s)
