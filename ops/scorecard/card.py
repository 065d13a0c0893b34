"""The scorecard of an env: every target judged, and the drift since the newest scorecard kept."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from ops.clock import iso, utcnow
from ops.config import Config, EnvConfig
from ops.report import list_reports
from ops.scorecard.judge import (BREACHED, KIND, MET, NO_FAILOVER, NOT_MEASURED, OBJECTIVES, RESTORE_TIME, STATUSES,
                                 UNPROVEN, Evidence, age_days, availability, evidence, figure_label, finite, judge)


def is_evidence_of(report: dict[str, Any], env: EnvConfig) -> bool:
    """Evidence of this env only: its name, its account when it declares one (a report naming none is then not
    evidence), and its region when the report names one. Stricter than ops.history.of_env, which lets a report
    without an account stand for any: a status view may show it, a verdict may not rest on it."""
    return (report.get("env") == env.name
            and (env.account_id is None or report.get("account") == env.account_id)
            and (report.get("region") is None or report.get("region") == env.region))


def newest_passing(reports: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The age of the newest passing drill of each kind the target has reports of (a start that cannot be read is none)."""
    out: dict[str, Any] = {}
    for kind in sorted({str(r.get("kind")) for r in reports}):
        passed = [r for r in reports if r.get("kind") == kind and r.get("status") == "pass"
                  and math.isfinite(age_days(r.get("started_at"), now))]
        out[kind] = ({"report": passed[-1]["id"], "age_days": round(age_days(passed[-1].get("started_at"), now), 2)}
                     if passed else {"report": None, "age_days": NOT_MEASURED, "reason": "no passing drill"})
    return out


def _targets(reports: list[dict[str, Any]], named: tuple[str, ...]) -> list[str]:
    kinds = {o.kind for o in OBJECTIVES}
    seen = [t for r in reports if r.get("kind") in kinds for t in str(r.get("target", "")).split(",") if t]
    return list(dict.fromkeys([*named, *sorted(set(seen))]))


def fails_over(target: str) -> bool:
    """A DynamoDB table has no writer to fail over: its failover objectives do not apply (its RPO does)."""
    return target.partition(":")[0] not in NO_FAILOVER


def build_scorecard(config: Config, env: str, report_dir: Path, targets: tuple[str, ...] = (),
                    now: datetime | None = None, max_age_days: float | None = None,
                    on_skip: Callable[[Path, str], None] | None = None) -> dict[str, Any]:
    """Every target's objectives judged against the report history of `env`, and the drift since the last
    scorecard kept in `report_dir`. The targets are those named and those with failover or restore drills;
    `max_age_days` overrides the env's evidence_max_age_days; `on_skip` is told of each file that is not a report."""
    now = now or utcnow()
    env_cfg = config.env(env)
    policy = config.for_env(env).with_policy(evidence_max_age_days=max_age_days).policy
    history = [r for r in list_reports(report_dir, on_skip=on_skip) if r.get("kind") != KIND and is_evidence_of(r, env_cfg)]
    rows = []
    for target in _targets(history, targets):
        mine = [r for r in history if target in str(r.get("target", "")).split(",")]
        applies = [o for o in OBJECTIVES if fails_over(target) or o.kind != "failover"]
        ev = {o.id: evidence(mine, o, now, policy.evidence_max_age_days) for o in (*applies, RESTORE_TIME)}
        objectives = [judge(o, ev[o.id], float(getattr(policy, o.policy_key)), policy.min_evidence_drills) for o in applies]
        # a target that never fails over spends none of its budget on failovers
        own = policy if fails_over(target) else replace(policy, failovers_per_year=0)
        failovers = ev.get("RTO") or Evidence((), f"{target} does not fail over")
        budget = availability(own, failovers, ev[RESTORE_TIME.id], policy.min_evidence_drills)
        if budget is not None:
            objectives.append(budget)
        restore = ev[RESTORE_TIME.id]
        rows.append({"target": target, "objectives": objectives, "newest_passing": newest_passing(mine, now),
                     "restore_time_p95_s": restore.value("p95") if restore.samples else NOT_MEASURED,
                     "restore_time": figure_label("p95", len(restore.samples)) if restore.samples else NOT_MEASURED})
    counts = {s: sum(o["status"] == s for t in rows for o in t["objectives"]) for s in STATUSES}
    card: dict[str, Any] = {"schema": "dbops.scorecard/v1", "env": env, "generated_at": iso(now),
                            "evidence_max_age_days": policy.evidence_max_age_days,
                            "min_evidence_drills": policy.min_evidence_drills,
                            "availability_declared": policy.availability_percent is not None,
                            "targets": rows, "counts": counts}
    previous = latest(report_dir, env_cfg, before=now, on_skip=on_skip)
    card["drift"] = drift(previous, card) if previous else {"since": None, "changes": [], "said": "no earlier scorecard"}
    return card


def latest(report_dir: Path, env: EnvConfig, before: datetime,
           on_skip: Callable[[Path, str], None] | None = None) -> dict[str, Any] | None:
    """The newest scorecard of the env (and its account: none when the env declares none) kept in report_dir,
    started before `before`; its card as kept, which `drift` checks before it reads it."""
    kept = [r for r in list_reports(report_dir, KIND, on_skip) if r.get("env") == env.name
            and r.get("account") == env.account_id and r["started_at"] < iso(before)]
    return {"card": (kept[-1].get("details") or {}).get(KIND), "report": kept[-1]["id"]} if kept else None


def _readable(card: Any) -> bool:
    """Whether a kept card has the shape drift reads: targets, each with objectives that have an id and a status."""
    targets = card.get("targets") if isinstance(card, dict) else None
    return isinstance(targets, list) and all(
        isinstance(t, dict) and isinstance(t.get("target"), str) and isinstance(t.get("objectives"), list)
        and all(isinstance(o, dict) and isinstance(o.get("id"), str) and isinstance(o.get("status"), str)
                for o in t["objectives"]) for t in targets)


def drift(kept: dict[str, Any], card: dict[str, Any]) -> dict[str, Any]:
    """What changed since the kept scorecard: objective statuses, measurements that moved, targets come and gone.
    A kept card that is not one (edited by hand, cut short) measures no drift, and says so."""
    previous = kept["card"]
    if not _readable(previous):
        return {"since": kept["report"], "changes": [],
                "said": f"previous scorecard unreadable (report {kept['report']}): no drift measured"}
    previous = previous | {"report": kept["report"]}

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
        if a.get("objective") != b.get("objective"):  # a loosened objective can turn a breach into a pass
            changes.append({"target": target, "objective": oid, "change": "objective", "from": a.get("objective"),
                            "to": b.get("objective")})
        if a["status"] != b["status"]:
            changes.append({"target": target, "objective": oid, "change": "status", "from": a["status"], "to": b["status"]})
        if a.get("measured") != b.get("measured"):
            entry = {"target": target, "objective": oid, "change": "measured", "from": a.get("measured"), "to": b.get("measured")}
            if finite(a.get("measured")) and finite(b.get("measured")):
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
