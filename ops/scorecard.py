"""The resilience scorecard: each target's objectives against what drills measured in the report history.

Only a measurement is evidence: a drill that passed or failed with the figure recorded, newer than the
policy's `evidence_max_age_days`. A figure marked "not measured", an error, inconclusive or aborted drill,
or no drill at all proves nothing, and the objective is Unproven. A measurement over its objective is
PolicyBreached whatever the drill's verdict; within it, PolicyMet needs a passing drill among the evidence.
`build_scorecard` reads and judges, prints and writes nothing; `to_report` makes the report it is kept as,
and the next scorecard's drift is measured against the newest one kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ops.clock import iso, utcnow
from ops.config import Config, Policy
from ops.history import of_env
from ops.percentiles import percentile
from ops.report import Check, Report, list_reports

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


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _age_days(started_at: str, now: datetime) -> float:
    return (now - datetime.fromisoformat(started_at.replace("Z", "+00:00"))).total_seconds() / 86400


def evidence(reports: list[dict[str, Any]], obj: Objective, now: datetime, max_age_days: float) -> Evidence:
    """The measurements of `obj` among one target's reports (oldest first), and why there are none."""
    of_kind = [r for r in reports if r.get("kind") == obj.kind]
    if not of_kind:
        return Evidence((), f"no {obj.kind} drill in the report history")
    measured, judged = [], [r for r in of_kind if r.get("status") in EVIDENCE_STATUSES]
    for r in judged:
        value = (r.get("measurements") or {}).get(obj.measurement)
        if obj.measurement not in (r.get("not_measured") or {}) and _finite(value):
            measured.append(Sample(r["id"], r["started_at"], r["status"], float(value)))
    recent = tuple(s for s in measured if _age_days(s.started_at, now) <= max_age_days)
    if recent:
        return Evidence(recent, "")
    if measured:
        newest = measured[-1]
        return Evidence((), f"the newest {obj.measurement} is {_age_days(newest.started_at, now):.1f} days old "
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


def newest_passing(reports: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The age of the newest passing drill of each kind the target has reports of."""
    out: dict[str, Any] = {}
    for kind in sorted({str(r.get("kind")) for r in reports}):
        passed = [r for r in reports if r.get("kind") == kind and r.get("status") == "pass"]
        out[kind] = ({"report": passed[-1]["id"], "age_days": round(_age_days(passed[-1]["started_at"], now), 2)}
                     if passed else {"report": None, "age_days": NOT_MEASURED, "reason": "no passing drill"})
    return out


def _targets(reports: list[dict[str, Any]], named: tuple[str, ...]) -> list[str]:
    kinds = {o.kind for o in OBJECTIVES}
    seen = [t for r in reports if r.get("kind") in kinds for t in str(r.get("target", "")).split(",") if t]
    return list(dict.fromkeys([*named, *sorted(set(seen))]))


def build_scorecard(config: Config, env: str, report_dir: Path, targets: tuple[str, ...] = (),
                    now: datetime | None = None, max_age_days: float | None = None) -> dict[str, Any]:
    """Every target's objectives judged against the report history of `env`, and the drift since the last
    scorecard kept in `report_dir`. The targets are those named and those with failover or restore drills;
    `max_age_days` overrides the env's evidence_max_age_days."""
    now = now or utcnow()
    env_cfg = config.env(env)
    policy = config.for_env(env).with_policy(evidence_max_age_days=max_age_days).policy
    history = [r for r in list_reports(report_dir) if r.get("kind") != KIND and of_env(r, env_cfg)]
    rows = []
    for target in _targets(history, targets):
        mine = [r for r in history if target in str(r.get("target", "")).split(",")]
        ev = {o.id: evidence(mine, o, now, policy.evidence_max_age_days) for o in (*OBJECTIVES, RESTORE_TIME)}
        objectives = [judge(o, ev[o.id], float(getattr(policy, o.policy_key))) for o in OBJECTIVES]
        budget = availability(policy, ev["RTO"], ev[RESTORE_TIME.id])
        if budget is not None:
            objectives.append(budget)
        restore = ev[RESTORE_TIME.id]
        rows.append({"target": target, "objectives": objectives, "newest_passing": newest_passing(mine, now),
                     "restore_time_p95_s": restore.value("p95") if restore.samples else NOT_MEASURED})
    counts = {s: sum(o["status"] == s for t in rows for o in t["objectives"]) for s in STATUSES}
    card: dict[str, Any] = {"schema": "dbops.scorecard/v1", "env": env, "generated_at": iso(now),
                            "evidence_max_age_days": policy.evidence_max_age_days,
                            "availability_declared": policy.availability_percent is not None,
                            "targets": rows, "counts": counts}
    previous = latest(report_dir, env, before=now)
    card["drift"] = drift(previous, card) if previous else {"since": None, "changes": [], "said": "no earlier scorecard"}
    return card


def latest(report_dir: Path, env: str, before: datetime) -> dict[str, Any] | None:
    """The newest scorecard of the env kept in report_dir, started before `before`."""
    kept = [r for r in list_reports(report_dir, KIND) if r.get("env") == env and r["started_at"] < iso(before)
            and isinstance((r.get("details") or {}).get(KIND), dict)]
    return kept[-1]["details"][KIND] | {"report": kept[-1]["id"]} if kept else None


def drift(previous: dict[str, Any], card: dict[str, Any]) -> dict[str, Any]:
    """What changed since the previous scorecard: objective statuses, measurements that moved, targets come and gone."""
    def index(c: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(t["target"], o["id"]): o for t in c.get("targets", []) for o in t.get("objectives", [])}

    old, new = index(previous), index(card)
    changes: list[dict[str, Any]] = []
    for key in sorted(old.keys() | new.keys()):
        target, oid = key
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            changes.append({"target": target, "objective": oid, "change": "added" if a is None else "removed",
                            "status": (b or a)["status"]})  # type: ignore[index]
            continue
        if a["status"] != b["status"]:
            changes.append({"target": target, "objective": oid, "change": "status", "from": a["status"], "to": b["status"]})
        if a.get("measured") != b.get("measured"):
            entry = {"target": target, "objective": oid, "change": "measured", "from": a.get("measured"), "to": b.get("measured")}
            if _finite(a.get("measured")) and _finite(b.get("measured")):
                entry["delta"] = round(b["measured"] - a["measured"], 6)
            changes.append(entry)
    said = f"{len(changes)} change(s) since {previous.get('generated_at')}" if changes else f"no change since {previous.get('generated_at')}"
    return {"since": previous.get("report"), "since_generated_at": previous.get("generated_at"), "changes": changes, "said": said}


def exit_code(card: dict[str, Any], fail_on: str | None) -> int:
    """1 when the --fail-on condition holds: any objective breached, or (unproven) any breached or unproven,
    or no target at all to judge: an empty scorecard proves nothing."""
    counts = card["counts"]
    if fail_on == "breached":
        return int(counts[BREACHED] > 0)
    if fail_on == "unproven":
        return int(counts[BREACHED] + counts[UNPROVEN] > 0 or not card["targets"])
    return 0


def summary(card: dict[str, Any]) -> str:
    c = card["counts"]
    if not card["targets"]:
        return (f"scorecard of env {card['env']}: no target has failover or restore drills in the report history, "
                f"nothing is proven; drift: {card['drift']['said']}")
    return (f"scorecard of env {card['env']}: {len(card['targets'])} target(s), {c[MET]} met, {c[BREACHED]} breached, "
            f"{c[UNPROVEN]} unproven; drift: {card['drift']['said']}")


def _shown(value: Any) -> str:
    return f"{value:g}" if _finite(value) else str(value)


def _check_status(status: str) -> str:
    return {MET: "pass", BREACHED: "fail"}.get(status, "unknown")


def to_report(card: dict[str, Any], region: str | None = None, account: str | None = None) -> Report:
    """The report a scorecard is kept as: one objective check per target objective, its figures as measurements."""
    measurements: dict[str, float | int | None] = {}
    not_measured: dict[str, str] = {}
    limits: dict[str, float | int] = {}
    checks = []
    for t in card["targets"]:
        for o in t["objectives"]:
            name = f"{t['target']}.{o['id']}"
            checks.append(Check(name, _check_status(o["status"]), f"{o['status']}: {o['reason']}", objective=True))
            limits[name] = o["objective"]
            if _finite(o.get("measured")):
                measurements[name] = o["measured"]
            else:
                measurements[name], not_measured[name] = None, o["reason"]
    statuses = {c.status for c in checks}
    status = "fail" if "fail" in statuses else "inconclusive" if "unknown" in statuses or not checks else "pass"
    details: dict[str, Any] = {KIND: card, "markdown_sections": [("Scorecard", render_markdown(card, heading=False))]}
    if status == "inconclusive":
        details["inconclusive_because"] = [c.id for c in checks if c.status == "unknown"] or ["no target has drills to judge"]
    return Report(kind=KIND, target=f"env:{card['env']}", env=card["env"], started_at=card["generated_at"],
                  finished_at=card["generated_at"], status=status, summary=summary(card), measurements=measurements,
                  not_measured=not_measured, objectives=limits, checks=tuple(checks), events=(), details=details,
                  region=region, account=account)


def render_markdown(card: dict[str, Any], heading: bool = True) -> str:
    lines = [f"# Resilience scorecard — env {card['env']}", "", f"{summary(card)}", ""] if heading else []
    lines += [f"Generated {card['generated_at']}; evidence is at most {card['evidence_max_age_days']:g} days old.", "",
              "| target | objective | status | measured | objective | why |", "|---|---|---|---|---|---|"]
    for t in card["targets"]:
        for o in t["objectives"]:
            lines.append(f"| {t['target']} | {o['id']} | {o['status']} | {_shown(o['measured'])} | {_shown(o['objective'])} {o['unit']} "
                         f"| {o['reason'].replace('|', '/')} |")
    budgets = [(t["target"], o) for t in card["targets"] for o in t["objectives"] if o["id"] == AVAILABILITY]
    if budgets:
        lines += ["", "## Availability budget", "", "| target | budget min/year | one failover | share of budget | spent min/year |",
                  "|---|---|---|---|---|"]
        for target, o in budgets:
            share = o["one_failover_share_percent"]
            lines.append(f"| {target} | {o['budget_minutes_per_year']:g} | {_shown(o['one_failover_minutes'])} min "
                         f"| {_shown(share)}{' %' if _finite(share) else ''} | {_shown(o['spent_minutes_per_year'])} |")
    elif not card.get("availability_declared"):
        lines += ["", "No availability objective declared (`availability_percent` in [policy] or [envs.NAME.policy])."]
    lines += ["", "## Newest passing drill of each kind", ""]
    for t in card["targets"]:
        ages = ", ".join(f"{k}: {_shown(v['age_days'])}{' days' if _finite(v['age_days']) else ''}" for k, v in t["newest_passing"].items())
        lines.append(f"- {t['target']}: {ages or 'no drill'}")
    lines += ["", "## Drift", "", card["drift"]["said"]]
    for c in card["drift"]["changes"]:
        moved = f"{_shown(c.get('from'))} -> {_shown(c.get('to'))}" if c["change"] in ("status", "measured") else c.get("status", "")
        lines.append(f"- {c['target']} {c['objective']}: {c['change']} {moved}")
    return "\n".join(lines) + "\n"


def render_junit(card: dict[str, Any], fail_on: str | None) -> str:
    """One test case per target objective: breached is a failure; unproven is a failure under --fail-on unproven,
    else a skipped case whose message says it was not measured (CI counts it as not run, never as passed)."""
    from xml.sax.saxutils import quoteattr

    suite = f"dbops.scorecard.{card['env']}"
    cases, tests, failures, skipped = [], 0, 0, 0
    for t in card["targets"]:
        for o in t["objectives"]:
            tests += 1
            cases.append(f"  <testcase classname={quoteattr(suite + '.' + t['target'])} name={quoteattr(o['id'])}>")
            if o["status"] == BREACHED or (o["status"] == UNPROVEN and fail_on == "unproven"):
                failures += 1
                cases.append(f"    <failure type={quoteattr(o['status'])} message={quoteattr(o['status'] + ': ' + o['reason'])}/>")
            elif o["status"] == UNPROVEN:
                skipped += 1
                cases.append(f"    <skipped message={quoteattr('Unproven: ' + o['reason'])}/>")
            cases.append("  </testcase>")
    if not card["targets"]:  # an empty scorecard proves nothing: said, never an empty suite that reads as green
        tests += 1
        cases.append(f"  <testcase classname={quoteattr(suite)} name=\"targets\">")
        said = quoteattr("Unproven: no target has failover or restore drills in the report history")
        if fail_on == "unproven":
            failures += 1
            cases.append(f"    <failure type=\"Unproven\" message={said}/>")
        else:
            skipped += 1
            cases.append(f"    <skipped message={said}/>")
        cases.append("  </testcase>")
    head = (f'<testsuite name={quoteattr(suite)} tests="{tests}" '
            f'failures="{failures}" errors="0" skipped="{skipped}" timestamp={quoteattr(card["generated_at"])}>')
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', head, *cases, "</testsuite>"]) + "\n"
