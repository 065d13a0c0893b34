"""A scorecard as it is kept (a report), read (Markdown) and gated on (JUnit XML)."""

from __future__ import annotations

from typing import Any

from ops.report import Check, Report, xml_attr  # a target or reason from a hand edit may hold any character
from ops.scorecard.card import summary
from ops.scorecard.judge import AVAILABILITY, BREACHED, KIND, MET, UNPROVEN, finite


def _shown(value: Any) -> str:
    return f"{value:g}" if finite(value) else str(value)


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
            if finite(o.get("measured")):
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
            figure = _shown(o["measured"]) + (f" ({o['aggregate']})" if o.get("aggregate") else "")
            lines.append(f"| {t['target']} | {o['id']} | {o['status']} | {figure} | {_shown(o['objective'])} {o['unit']} "
                         f"| {o['reason'].replace('|', '/')} |")
    budgets = [(t["target"], o) for t in card["targets"] for o in t["objectives"] if o["id"] == AVAILABILITY]
    if budgets:
        lines += ["", "## Availability budget", "", "| target | budget min/year | one failover | share of budget | spent min/year |",
                  "|---|---|---|---|---|"]
        for target, o in budgets:
            share = o["one_failover_share_percent"]
            one = o["one_failover_minutes"]
            lines.append(f"| {target} | {o['budget_minutes_per_year']:g} | {_shown(one)}{' min' if finite(one) else ''} "
                         f"| {_shown(share)}{' %' if finite(share) else ''} | {_shown(o['spent_minutes_per_year'])} |")
    elif not card.get("availability_declared"):
        lines += ["", "No availability objective declared (`availability_percent` in [policy] or [envs.NAME.policy])."]
    lines += ["", "## Newest passing drill of each kind", ""]
    for t in card["targets"]:
        ages = ", ".join(f"{k}: {v['age_days']:g} days" if v["report"] else f"{k}: no passing drill" for k, v in t["newest_passing"].items())
        lines.append(f"- {t['target']}: {ages or 'no drill'}")
    lines += ["", "## Drift", "", card["drift"]["said"]]
    for c in card["drift"]["changes"]:
        moved = f"{_shown(c.get('from'))} -> {_shown(c.get('to'))}" if c["change"] in ("status", "measured", "objective") else c.get("status", "")
        lines.append(f"- {c['target']} {c['objective']}: {c['change']} {moved}")
    return "\n".join(lines) + "\n"


def render_junit(card: dict[str, Any], fail_on: str | None) -> str:
    """One test case per target objective: breached is a failure; unproven is a failure under --fail-on unproven,
    else a skipped case whose message says it was not measured (CI counts it as not run, never as passed)."""
    suite = f"dbops.scorecard.{card['env']}"
    cases, tests, failures, skipped = [], 0, 0, 0
    for t in card["targets"]:
        for o in t["objectives"]:
            tests += 1
            cases.append(f"  <testcase classname={xml_attr(suite + '.' + t['target'])} name={xml_attr(o['id'])}>")
            if o["status"] == BREACHED or (o["status"] == UNPROVEN and fail_on == "unproven"):
                failures += 1
                cases.append(f"    <failure type={xml_attr(o['status'])} message={xml_attr(o['status'] + ': ' + o['reason'])}/>")
            elif o["status"] == UNPROVEN:
                skipped += 1
                cases.append(f"    <skipped message={xml_attr('Unproven: ' + o['reason'])}/>")
            cases.append("  </testcase>")
    if not card["targets"]:  # an empty scorecard proves nothing: said, never an empty suite that reads as green
        tests += 1
        cases.append(f"  <testcase classname={xml_attr(suite)} name=\"targets\">")
        said = xml_attr("Unproven: no target has failover or restore drills in the report history")
        if fail_on == "unproven":
            failures += 1
            cases.append(f"    <failure type=\"Unproven\" message={said}/>")
        else:
            skipped += 1
            cases.append(f"    <skipped message={said}/>")
        cases.append("  </testcase>")
    head = (f'<testsuite name={xml_attr(suite)} tests="{tests}" '
            f'failures="{failures}" errors="0" skipped="{skipped}" timestamp={xml_attr(card["generated_at"])}>')
    # all skipped reads as "not run" in CI; the suite itself says that nothing was proven either way
    counts = card["counts"]
    said = (['  <properties>', '    <property name="verdict" value="nothing proven"/>', '  </properties>']
            if counts[MET] == 0 and counts[BREACHED] == 0 else [])
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', head, *said, *cases, "</testsuite>"]) + "\n"
