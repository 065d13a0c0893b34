"""Evidence and verdicts: one objective's measurements among a target's reports, and what they prove."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ops.clock import parse_iso
from ops.config import Policy
from ops.percentiles import percentile


KIND = "scorecard"
MET, BREACHED, UNPROVEN = "PolicyMet", "PolicyBreached", "Unproven"
STATUSES = (MET, BREACHED, UNPROVEN)
NOT_MEASURED = "not measured"
MINUTES_PER_YEAR = 525_960  # 365.25 days
EVIDENCE_STATUSES = ("pass", "fail")  # error, inconclusive and aborted drills did not judge what they measured
P95_MIN_SAMPLES = 20  # nearest-rank p95 of fewer samples is their maximum: the figure is labelled as such
CLOCK_SKEW_S = 300  # a report started further ahead of now than this has a time that cannot be trusted
# A measurement a drill may record as only a lower bound, and the details flag that says so: the failover
# never completed, or its downtime limit stopped it, so writes were refused for at least that long
# (ops/drills/failover.py). A lower bound is evidence of a breach even from an aborted drill: what it proves
# was measured before the stop.
LOWER_BOUNDS = {"client_write_downtime_s": "downtime_is_lower_bound"}


@dataclass(frozen=True)
class Objective:
    id: str
    kind: str  # the report kind that measures it
    measurement: str
    policy_key: str
    aggregate: str  # how several drills' figures are summed up: "p95" or "max"
    unit: str


OBJECTIVES = (
    Objective("RTO", "failover", "client_write_downtime_s", "rto_seconds", "p95", "s"),
    Objective("LOST-WRITES", "failover", "lost_writes", "max_lost_writes", "max", "writes"),
    Objective("RPO", "restore", "rpo_s", "rpo_seconds", "max", "s"),
)
RESTORE_TIME = Objective("RESTORE-TIME", "restore", "restore_duration_s", "", "p95", "s")  # feeds the budget
AVAILABILITY = "AVAILABILITY"
NO_FAILOVER = ("dynamodb",)  # target kinds without a writer to fail over


@dataclass(frozen=True)
class Sample:
    report: str
    started_at: str
    status: str
    value: float
    lower_bound: bool = False  # the true figure is at least this: evidence of a breach only


@dataclass(frozen=True)
class Evidence:
    samples: tuple[Sample, ...]  # within the max age, oldest first; lower bounds included
    why_none: str  # why there is no sample, when there is none

    def value(self, aggregate: str) -> float:
        return aggregate_of(self.samples, aggregate)

    @property
    def passed(self) -> bool:
        return any(s.status == "pass" for s in self.samples)

    @property
    def exact(self) -> "Evidence":
        """The samples whose figure is the measurement itself, not a lower bound of it."""
        kept = tuple(s for s in self.samples if not s.lower_bound)
        return Evidence(kept, self.why_none or (left_out(self.left_out_count) if not kept else ""))

    @property
    def left_out_count(self) -> int:
        return sum(s.lower_bound for s in self.samples)

    def against(self, limit: float) -> "Evidence":
        """The samples that can judge `limit`: a lower bound within it says nothing, over it proves a breach."""
        kept = tuple(s for s in self.samples if not s.lower_bound or s.value > limit)
        return Evidence(kept, self.why_none or (left_out(len(self.samples) - len(kept)) if not kept else ""))


def aggregate_of(samples: tuple[Sample, ...], aggregate: str) -> float:
    values = [s.value for s in samples]
    return percentile(values, 0.95) if aggregate == "p95" else max(values)


def left_out(count: int) -> str:
    return (f"{count} failover(s) left out: the downtime is only a lower bound (the failover never completed), "
            "which within the objective proves nothing")


def figure_label(aggregate: str, count: int) -> str:
    """What the figure is: nearest-rank p95 of fewer than 20 samples is their maximum, and is called so."""
    return f"{'p95' if aggregate == 'p95' and count >= P95_MIN_SAMPLES else 'max'} of {count}"


def too_few(count: int, needed: int) -> str:
    return f"{count} drill{'' if count == 1 else 's'}, {needed} needed"


def budget_minutes(availability_percent: float) -> float:
    """The downtime a year an availability objective allows: 99.99 % is 52.6 minutes."""
    return (1 - availability_percent / 100) * MINUTES_PER_YEAR


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def age_days(started_at: Any, now: datetime) -> float:
    """Days since a report started, never below 0; a time that cannot be read, or one further ahead of now than
    clock skew explains, is infinitely old: never fresh evidence."""
    started = parse_iso(started_at)
    if started is None:
        return math.inf
    seconds = (now - started).total_seconds()
    return math.inf if seconds < -CLOCK_SKEW_S else max(seconds, 0.0) / 86400


def evidence(reports: list[dict[str, Any]], obj: Objective, now: datetime, max_age_days: float) -> Evidence:
    """The measurements of `obj` among one target's reports (oldest first), and why there are none."""
    of_kind = [r for r in reports if r.get("kind") == obj.kind]
    if not of_kind:
        return Evidence((), f"no {obj.kind} drill in the report history")
    flag = LOWER_BOUNDS.get(obj.measurement)
    measured, judged = [], [r for r in of_kind if r.get("status") in EVIDENCE_STATUSES
                            or (r.get("status") == "aborted" and flag and (r.get("details") or {}).get(flag))]
    negative = []  # durations, counts and data loss are never below 0: such a figure was not measured, it was edited
    for r in judged:
        value = (r.get("measurements") or {}).get(obj.measurement)
        if obj.measurement not in (r.get("not_measured") or {}) and finite(value):
            bound = bool(flag and (r.get("details") or {}).get(flag))
            if value < 0:
                negative.append(r["id"])
            else:
                measured.append(Sample(r["id"], r.get("started_at", ""), r["status"], float(value), bound))
    recent = tuple(s for s in measured if age_days(s.started_at, now) <= max_age_days)
    if recent:
        return Evidence(recent, "")
    if negative:
        return Evidence((), f"{obj.measurement}: negative value in report {negative[-1]}"
                            + (f" and {len(negative) - 1} more" if len(negative) > 1 else "") + ": not evidence")
    readable = [s for s in measured if math.isfinite(age_days(s.started_at, now))]
    if readable:
        newest = readable[-1]
        return Evidence((), f"the newest {obj.measurement} is {age_days(newest.started_at, now):.1f} days old "
                            f"(evidence_max_age_days {max_age_days:g}): report {newest.report}")
    if measured:
        return Evidence((), f"{len(measured)} {obj.kind} drill(s) with an unreadable start time (not a time, or more "
                            f"than {CLOCK_SKEW_S // 60} minutes ahead of now): report {measured[-1].report}")
    if not judged:
        statuses = sorted({str(r.get("status")) for r in of_kind})
        return Evidence((), f"{len(of_kind)} {obj.kind} drill(s), none judged its objectives ({', '.join(statuses)})")
    return Evidence((), f"{obj.measurement} not measured by any of {len(judged)} {obj.kind} drill(s)")


def judge(obj: Objective, found: Evidence, limit: float, min_drills: int) -> dict[str, Any]:
    """One objective's verdict from its evidence: one sample over the objective is a breach; within it, a verdict
    needs `min_drills` samples and a passing drill among them."""
    ev = found.against(limit)
    dropped = len(found.samples) - len(ev.samples)
    row: dict[str, Any] = {"id": obj.id, "objective": limit, "unit": obj.unit, "measurement": obj.measurement,
                           "reports": [s.report for s in ev.samples], "samples": len(ev.samples), "left_out": dropped}
    if not ev.samples:
        return row | {"status": UNPROVEN, "measured": NOT_MEASURED, "reason": ev.why_none}
    n, value = len(ev.samples), ev.value(obj.aggregate)
    worst = max(ev.samples, key=lambda s: s.value)
    over = sum(s.value > limit for s in ev.samples)
    label = figure_label(obj.aggregate, n)
    row |= {"measured": value, "aggregate": label, "worst": worst.value, "worst_report": worst.report, "over_objective": over}
    said = f"{label}: {value:g} {obj.unit}"
    notes = ([f"{over} of {n} over the objective (worst {worst.value:g} {obj.unit}, report {worst.report})"] if over else []) \
        + ([left_out(dropped)] if dropped else [])
    tail = "".join(f"; {note}" for note in notes)
    if value > limit:
        return row | {"status": BREACHED, "reason": f"{said} > objective {limit:g} {obj.unit}{tail}"}
    if n < min_drills:
        return row | {"status": UNPROVEN, "reason": f"{said} is within the objective, but {too_few(n, min_drills)}{tail}"}
    if not ev.passed:
        return row | {"status": UNPROVEN, "reason": f"{said} is within the objective, but only failed drills measured it{tail}"}
    return row | {"status": MET, "reason": f"{said} <= objective {limit:g} {obj.unit}{tail}"}


def _minutes(samples: tuple[Sample, ...]) -> float | None:
    """One event's minutes: the p95 of its samples, capped at a year, so an absurd figure stays a finite breach."""
    return min(aggregate_of(samples, "p95") / 60, MINUTES_PER_YEAR) if samples else None


def availability(policy: Policy, failover: Evidence, restore: Evidence, min_drills: int) -> dict[str, Any] | None:
    """The year's downtime budget against measured failovers and restores; None when no objective is declared.
    Lower bounds and terms not measured can only prove it breached; a verdict within it needs every declared
    term measured exactly by `min_drills` drills."""
    if policy.availability_percent is None:
        return None
    budget = budget_minutes(policy.availability_percent)
    row: dict[str, Any] = {"id": AVAILABILITY, "objective": policy.availability_percent, "unit": "%",
                           "budget_minutes_per_year": round(budget, 3), "failovers_per_year": policy.failovers_per_year,
                           "restores_per_year": policy.restores_per_year}
    fo, rs = failover.exact, restore.exact
    per_failover, per_restore = _minutes(fo.samples), _minutes(rs.samples)
    row["one_failover_minutes"] = NOT_MEASURED if per_failover is None else round(per_failover, 3)
    row["one_failover_share_percent"] = NOT_MEASURED if per_failover is None else round(100 * per_failover / budget, 3)
    row["one_restore_minutes"] = NOT_MEASURED if per_restore is None else round(per_restore, 3)
    if not policy.failovers_per_year and not policy.restores_per_year:
        return row | {"status": UNPROVEN, "measured": NOT_MEASURED, "spent_minutes_per_year": NOT_MEASURED,
                      "reason": "no failover or restore a year is declared for it (failovers_per_year, restores_per_year): "
                                "nothing measured spends its budget"}

    def spend(one_failover: float | None, one_restore: float | None) -> float:
        return min(policy.failovers_per_year * (one_failover or 0.0) + policy.restores_per_year * (one_restore or 0.0),
                   MINUTES_PER_YEAR)

    def figures(spent: float) -> dict[str, Any]:
        return {"measured": round(100 - 100 * spent / MINUTES_PER_YEAR, 6), "spent_minutes_per_year": round(spent, 3),
                "spent_share_percent": round(100 * spent / budget, 3)}

    counts = f"{policy.failovers_per_year} failover(s) and {policy.restores_per_year} restore(s) a year spend"
    bounds = failover.left_out_count if policy.failovers_per_year else 0
    # At least this much: lower bounds counted as their figure, a term not measured as nothing.
    least = spend(_minutes(failover.samples), per_restore)
    if least > budget:
        counted = f", counting {bounds} failover(s) whose downtime is only a lower bound" if bounds else ""
        return row | figures(least) | {"status": BREACHED, "reason": f"{counts} at least {least:.1f} of {budget:.1f} min "
                                                                    f"({100 * least / budget:.1f} %){counted}"}
    terms = [("failover downtime", policy.failovers_per_year, fo), ("restore time", policy.restores_per_year, rs)]
    missing = [f"{name} ({ev.why_none})" for name, count, ev in terms if count and not ev.samples]
    if missing:
        return row | {"status": UNPROVEN, "measured": NOT_MEASURED, "spent_minutes_per_year": NOT_MEASURED,
                      "reason": "not measured: " + "; ".join(missing)}
    spent = spend(per_failover, per_restore)
    said = f"{counts} {spent:.1f} of {budget:.1f} min ({100 * spent / budget:.1f} %)"
    tail = f"; {left_out(bounds)}" if bounds else ""
    few = [f"{name} ({too_few(len(ev.samples), min_drills)})" for name, count, ev in terms if count and len(ev.samples) < min_drills]
    if few:
        return row | figures(spent) | {"status": UNPROVEN, "reason": f"{said}, but too few drills: " + ", ".join(few) + tail}
    passed = (fo.passed or not policy.failovers_per_year) and (rs.passed or not policy.restores_per_year)
    if not passed:
        return row | figures(spent) | {"status": UNPROVEN, "reason": f"{said}, but only failed drills measured it{tail}"}
    return row | figures(spent) | {"status": MET, "reason": said + tail}
