"""Evidence and verdicts: one objective's measurements among a target's reports, and what they prove."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ops.config import Policy
from ops.percentiles import percentile


KIND = "scorecard"
MET, BREACHED, UNPROVEN = "PolicyMet", "PolicyBreached", "Unproven"
STATUSES = (MET, BREACHED, UNPROVEN)
NOT_MEASURED = "not measured"
MINUTES_PER_YEAR = 525_960  # 365.25 days
EVIDENCE_STATUSES = ("pass", "fail")  # error, inconclusive and aborted drills did not judge what they measured


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


@dataclass(frozen=True)
class Evidence:
    samples: tuple[Sample, ...]  # within the max age, oldest first
    why_none: str  # why there is no sample, when there is none

    def value(self, aggregate: str) -> float:
        values = [s.value for s in self.samples]
        return percentile(values, 0.95) if aggregate == "p95" else max(values)

    @property
    def passed(self) -> bool:
        return any(s.status == "pass" for s in self.samples)


def budget_minutes(availability_percent: float) -> float:
    """The downtime a year an availability objective allows: 99.99 % is 52.6 minutes."""
    return (1 - availability_percent / 100) * MINUTES_PER_YEAR


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def age_days(started_at: Any, now: datetime) -> float:
    """Days since a report started; a time that cannot be read is infinitely old: never fresh evidence."""
    try:
        return (now - datetime.fromisoformat(str(started_at).replace("Z", "+00:00"))).total_seconds() / 86400
    except (ValueError, TypeError):  # TypeError: a time without a zone
        return math.inf


def evidence(reports: list[dict[str, Any]], obj: Objective, now: datetime, max_age_days: float) -> Evidence:
    """The measurements of `obj` among one target's reports (oldest first), and why there are none."""
    of_kind = [r for r in reports if r.get("kind") == obj.kind]
    if not of_kind:
        return Evidence((), f"no {obj.kind} drill in the report history")
    measured, judged = [], [r for r in of_kind if r.get("status") in EVIDENCE_STATUSES]
    for r in judged:
        value = (r.get("measurements") or {}).get(obj.measurement)
        if obj.measurement not in (r.get("not_measured") or {}) and finite(value):
            measured.append(Sample(r["id"], r.get("started_at", ""), r["status"], float(value)))
    recent = tuple(s for s in measured if age_days(s.started_at, now) <= max_age_days)
    if recent:
        return Evidence(recent, "")
    if measured:
        newest = measured[-1]
        return Evidence((), f"the newest {obj.measurement} is {age_days(newest.started_at, now):.1f} days old "
                            f"(evidence_max_age_days {max_age_days:g}): report {newest.report}")
    if not judged:
        statuses = sorted({str(r.get("status")) for r in of_kind})
        return Evidence((), f"{len(of_kind)} {obj.kind} drill(s), none judged its objectives ({', '.join(statuses)})")
    return Evidence((), f"{obj.measurement} not measured by any of {len(judged)} {obj.kind} drill(s)")


def judge(obj: Objective, ev: Evidence, limit: float) -> dict[str, Any]:
    """One objective's verdict from its evidence."""
    row: dict[str, Any] = {"id": obj.id, "objective": limit, "unit": obj.unit, "measurement": obj.measurement,
                           "reports": [s.report for s in ev.samples], "samples": len(ev.samples)}
    if not ev.samples:
        return row | {"status": UNPROVEN, "measured": NOT_MEASURED, "reason": ev.why_none}
    value = ev.value(obj.aggregate)
    row |= {"measured": value, "aggregate": f"{obj.aggregate} of {len(ev.samples)} drill(s)"}
    if value > limit:
        return row | {"status": BREACHED, "reason": f"{obj.aggregate} {value:g} {obj.unit} > objective {limit:g} {obj.unit}"}
    if not ev.passed:
        return row | {"status": UNPROVEN, "reason": f"{obj.aggregate} {value:g} {obj.unit} is within the objective, "
                                                     "but only failed drills measured it"}
    return row | {"status": MET, "reason": f"{obj.aggregate} {value:g} {obj.unit} <= objective {limit:g} {obj.unit}"}


def availability(policy: Policy, failover: Evidence, restore: Evidence) -> dict[str, Any] | None:
    """The year's downtime budget against measured failovers and restores; None when no objective is declared."""
    if policy.availability_percent is None:
        return None
    budget = budget_minutes(policy.availability_percent)
    row: dict[str, Any] = {"id": AVAILABILITY, "objective": policy.availability_percent, "unit": "%",
                           "budget_minutes_per_year": round(budget, 3), "failovers_per_year": policy.failovers_per_year,
                           "restores_per_year": policy.restores_per_year}
    # No event spends more than the whole year: a corrupt or absurd figure stays a finite breach, not an overflow.
    per_failover = min(failover.value("p95") / 60, MINUTES_PER_YEAR) if failover.samples else None
    per_restore = min(restore.value("p95") / 60, MINUTES_PER_YEAR) if restore.samples else None
    row["one_failover_minutes"] = NOT_MEASURED if per_failover is None else round(per_failover, 3)
    row["one_failover_share_percent"] = NOT_MEASURED if per_failover is None else round(100 * per_failover / budget, 3)
    row["one_restore_minutes"] = NOT_MEASURED if per_restore is None else round(per_restore, 3)
    if not policy.failovers_per_year and not policy.restores_per_year:
        return row | {"status": UNPROVEN, "measured": NOT_MEASURED, "spent_minutes_per_year": NOT_MEASURED,
                      "reason": "no failover or restore a year is declared for it (failovers_per_year, restores_per_year): "
                                "nothing measured spends its budget"}
    missing = []
    if per_failover is None and policy.failovers_per_year:
        missing.append(f"failover downtime ({failover.why_none})")
    if per_restore is None and policy.restores_per_year:
        missing.append(f"restore time ({restore.why_none})")
    if missing:
        return row | {"status": UNPROVEN, "measured": NOT_MEASURED, "spent_minutes_per_year": NOT_MEASURED,
                      "reason": "not measured: " + "; ".join(missing)}
    spent = min(policy.failovers_per_year * (per_failover or 0.0) + policy.restores_per_year * (per_restore or 0.0),
                MINUTES_PER_YEAR)
    share = 100 * spent / budget
    row |= {"measured": round(100 - 100 * spent / MINUTES_PER_YEAR, 6), "spent_minutes_per_year": round(spent, 3),
            "spent_share_percent": round(share, 3)}
    said = (f"{policy.failovers_per_year} failover(s) and {policy.restores_per_year} restore(s) a year spend "
            f"{spent:.1f} of {budget:.1f} min ({share:.1f} %)")
    if spent > budget:
        return row | {"status": BREACHED, "reason": said}
    passed = (failover.passed or not policy.failovers_per_year) and (restore.passed or not policy.restores_per_year)
    if not passed:
        return row | {"status": UNPROVEN, "reason": said + ", but only failed drills measured it"}
    return row | {"status": MET, "reason": said}
