"""`dbops query audit`: read the statistics and plans once, then judge them against the policy.

Collect (read-only session: ops.query.stats, ops.query.plans), then judge: the checks are
pure functions of the snapshot, the plan evidence and the policy.

Objectives:
- QUERY-STATS-WINDOW: the statistics are old enough (stats_min_age_s) and some top statement
  has min_statement_calls calls; otherwise what follows cannot be trusted: inconclusive.
- QUERY-INDEX-UTILIZATION: idx_scan / (idx_scan + seq_scan), weighted over the tables with
  more than large_table_rows rows, at least index_utilization_min.
- QUERY-MISSING-INDEXES: no top statement sequentially scans a large table that an index
  would serve: a hypothetical index (hypopg) that cuts the statement's estimated cost by
  index_gain_min or more fails the check and is the advice, with the plans before and after.
  Without hypopg the gain cannot be estimated: unknown, saying so.
- QUERY-DUPLICATE-INDEXES: no index duplicates another or is a leading prefix of another
  (no over-indexing: each is write and storage cost).
Also: QUERY-UNUSED-INDEXES (warn: never scanned in the window, not backing a constraint)
and QUERY-SLOW-STATEMENTS (warn: mean time above query_aurora_p95_ms).

Statement text in the report is pg_stat_statements' normalized text only (ops.query.sqltext).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.config import Policy
from ops.query import sqltext
from ops.query.plans import Hypothetical, Plan, PlanError, SeqScan, generic_plan, try_indexes
from ops.query.stats import Index, Snapshot, Statement, Table, collect, columns, read_only_session
from ops.report import Journal, Report, headline, measured

OBJECTIVES = ("QUERY-STATS-WINDOW", "QUERY-INDEX-UTILIZATION", "QUERY-MISSING-INDEXES", "QUERY-DUPLICATE-INDEXES")


@dataclass
class Advice:
    table: str
    scan_filter: str | None
    best: Hypothetical | None
    tried: list[Hypothetical] = field(default_factory=list)
    error: str | None = None  # why no hypothetical index could be tried


@dataclass
class Evidence:
    """One judged statement: its generic plan, the large tables it scans, what an index would do."""

    statement: Statement
    plan: Plan | None = None
    plan_error: str | None = None
    large_scans: list[SeqScan] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)


@dataclass
class Audit:
    snapshot: Snapshot
    top: list[Statement]
    judged: list[Statement]
    evidence: list[Evidence]
    hypopg: bool


def top_statements(snapshot: Snapshot, n: int) -> list[Statement]:
    return sorted(snapshot.statements, key=lambda s: s.total_ms, reverse=True)[:n]


def large_tables(snapshot: Snapshot, policy: Policy) -> list[Table]:
    return [t for t in snapshot.tables if t.rows > policy.large_table_rows]


def gather(dsn: str, policy: Policy, top: int, echo: Any = lambda _: None) -> Audit:
    """Everything the audit judges, read in one read-only transaction."""
    with read_only_session(dsn) as conn:
        snap = collect(conn)
        echo(f"database {snap.database} (PostgreSQL {snap.server_version}{', a reader' if snap.in_recovery else ''}): "
             f"{len(snap.statements)} statements, {len(snap.tables)} tables, {len(snap.indexes)} indexes; statistics of "
             f"{snap.window.age_s:.0f}s")
        chosen = top_statements(snap, top)
        judged = [s for s in chosen if s.calls >= policy.min_statement_calls]
        hypopg = "hypopg" in snap.extensions
        by_name = {(t.schema, t.name): t for t in snap.tables}
        large = {t.qualified for t in large_tables(snap, policy)}
        evidence = []
        for s in judged:
            ev = Evidence(s)
            evidence.append(ev)
            if not s.text or not sqltext.plannable(s.text):
                continue
            try:
                ev.plan = generic_plan(conn, s.text, writes=True)
            except PlanError as exc:
                ev.plan_error = str(exc)
                continue
            seen = set()
            for scan in ev.plan.seq_scans:
                if scan.qualified not in large or scan.qualified in seen:
                    continue
                seen.add(scan.qualified)
                ev.large_scans.append(scan)
                table = by_name[(scan.schema, scan.table)]
                tried, best, why = try_indexes(conn, s.text, scan, columns(conn, table.oid), ev.plan.total_cost,
                                               None if hypopg else hypopg_missing(snap), writes=True)
                ev.advice.append(Advice(scan.qualified, scan.filter, best, tried, why))
        return Audit(snap, chosen, judged, evidence, hypopg)


def hypopg_missing(snap: Snapshot) -> str:
    where = "installed on this server" if "hypopg" in snap.available else "not installed on this server"
    return (f"hypopg is not created in database {snap.database} ({where}): the plan with a hypothetical index, and so the "
            f"gain, cannot be estimated (CREATE EXTENSION hypopg)")


# --- judging: pure functions of the audit and the policy ---------------------------------


@dataclass(frozen=True)
class Finding:
    id: str
    status: str
    detail: str


def judge_window(a: Audit, policy: Policy) -> Finding:
    w = a.snapshot.window
    since = "since the server started (no reset)" if w.since == w.server_started else f"since the reset at {w.since:%Y-%m-%d %H:%M:%S} UTC"
    if a.snapshot.statements_error:
        return Finding("QUERY-STATS-WINDOW", "unknown", a.snapshot.statements_error)
    if w.age_s < policy.stats_min_age_s:
        return Finding("QUERY-STATS-WINDOW", "unknown", f"statistics are {w.age_s:.0f}s old ({since}); at least "
                                                        f"{policy.stats_min_age_s:g}s are needed to judge them (stats_min_age_s)")
    if not a.judged:
        most = max((s.calls for s in a.top), default=0)
        return Finding("QUERY-STATS-WINDOW", "unknown", f"no top statement was called {policy.min_statement_calls} times "
                                                        f"{since} (most: {most}; min_statement_calls)")
    return Finding("QUERY-STATS-WINDOW", "pass", f"statistics of {w.age_s:.0f}s {since}; {len(a.judged)} of the top "
                                                 f"{len(a.top)} statements have at least {policy.min_statement_calls} calls")


def utilization(tables: list[Table]) -> float | None:
    scans = sum(t.idx_scan + t.seq_scan for t in tables)
    return None if scans == 0 else sum(t.idx_scan for t in tables) / scans


def judge_utilization(a: Audit, policy: Policy, window_ok: bool) -> Finding:
    large = large_tables(a.snapshot, policy)
    if not large:
        return Finding("QUERY-INDEX-UTILIZATION", "unknown", f"no table has more than {policy.large_table_rows} rows (large_table_rows)")
    value = utilization(large)
    if value is None:
        return Finding("QUERY-INDEX-UTILIZATION", "unknown", f"no scan of the {len(large)} tables above {policy.large_table_rows} rows "
                                                             "in the statistics window")
    worst = sorted((t for t in large if t.seq_scan), key=lambda t: utilization([t]) or 0.0)[:3]
    low = "; lowest: " + ", ".join(f"{t.qualified} {100 * (utilization([t]) or 0):.0f}% ({t.seq_scan} seq scans, "
                                   f"{t.rows} rows)" for t in worst) if worst else ""
    text = (f"{100 * value:.1f}% of scans of the {len(large)} tables above {policy.large_table_rows} rows used an index "
            f"(objective {100 * policy.index_utilization_min:.0f}%){low}")
    if not window_ok:
        return Finding("QUERY-INDEX-UTILIZATION", "unknown", f"not judged, the statistics window is too short: {text}")
    return Finding("QUERY-INDEX-UTILIZATION", "pass" if value >= policy.index_utilization_min else "fail", text)


def advised(a: Audit, policy: Policy) -> list[tuple[Evidence, Advice]]:
    """Hypothetical indexes that cut a top statement's estimated cost by index_gain_min or more."""
    out = []
    for ev in a.evidence:
        for adv in ev.advice:
            if adv.best is not None and ev.plan is not None and adv.best.gain(ev.plan.total_cost) >= policy.index_gain_min:
                out.append((ev, adv))
    return out


def judge_missing(a: Audit, policy: Policy) -> Finding:
    if a.snapshot.statements_error:
        return Finding("QUERY-MISSING-INDEXES", "unknown", f"no statements to plan: {a.snapshot.statements_error}")
    if not a.judged:
        return Finding("QUERY-MISSING-INDEXES", "unknown", f"no top statement has {policy.min_statement_calls} calls to judge")
    found = advised(a, policy)
    if found:
        by_index: dict[str, list[tuple[Evidence, Advice]]] = {}
        for ev, adv in found:
            assert adv.best is not None
            by_index.setdefault(adv.best.definition, []).append((ev, adv))
        parts = []
        for definition, items in by_index.items():
            gains = [adv.best.gain(ev.plan.total_cost) for ev, adv in items if adv.best and ev.plan]
            parts.append(f"{definition} cuts the estimated cost of {len(items)} top statement(s) by "
                         f"{100 * min(gains):.0f}–{100 * max(gains):.0f}%")
        return Finding("QUERY-MISSING-INDEXES", "fail", f"missing index: {'; '.join(parts)} (objective: no index that cuts a "
                                                       f"top statement's cost by {100 * policy.index_gain_min:.0f}% is missing)")
    # No advice because hypopg is missing or a hypothetical index could not be planned: that scan was not judged.
    unknown = [f"{adv.table}: {adv.error}" for ev in a.evidence for adv in ev.advice
               if adv.best is None and adv.error and not adv.error.startswith("no column")]
    unplanned = [ev for ev in a.evidence if ev.plan_error]
    # A statement whose text this user may not read was never planned: its scans are not known to be fine.
    unseen = [ev for ev in a.evidence if not ev.statement.text or ev.statement.text.startswith("<insufficient privilege>")]
    if unknown:
        return Finding("QUERY-MISSING-INDEXES", "unknown", unknown[0])
    if unplanned:
        return Finding("QUERY-MISSING-INDEXES", "unknown", f"{len(unplanned)} of {len(a.judged)} top statements could not be "
                                                           f"planned, e.g. {sqltext.shown(unplanned[0].statement.text)}: "
                                                           f"{unplanned[0].plan_error}")
    if unseen:
        return Finding("QUERY-MISSING-INDEXES", "unknown", f"{len(unseen)} of {len(a.judged)} top statements' text is not visible "
                                                           "to this user, so they could not be planned (grant it pg_read_all_stats)")
    scans = [(ev, adv) for ev in a.evidence for adv in ev.advice]
    if not scans:
        return Finding("QUERY-MISSING-INDEXES", "pass", f"none of the {len(a.judged)} top statements scans a table above "
                                                        f"{policy.large_table_rows} rows sequentially")
    best = max((adv.best.gain(ev.plan.total_cost) for ev, adv in scans if adv.best and ev.plan), default=0.0)
    return Finding("QUERY-MISSING-INDEXES", "pass", f"{len(scans)} sequential scan(s) of large tables by top statements; no "
                                                    f"index would cut their cost by {100 * policy.index_gain_min:.0f}% "
                                                    f"(best {100 * best:.0f}%)")


def duplicates(indexes: list[Index]) -> list[tuple[Index, Index, str]]:
    """(redundant index, the index that covers it, why): exact duplicates and leading prefixes (btree)."""
    out: list[tuple[Index, Index, str]] = []
    by_table: dict[int, list[Index]] = {}
    for i in indexes:
        if i.valid:
            by_table.setdefault(i.table_oid, []).append(i)
    for group in by_table.values():
        for i in group:
            for other in group:
                if other.oid == i.oid or other.method != i.method or other.predicate != i.predicate or other.expressions != i.expressions:
                    continue
                same = other.keys == i.keys and other.opclasses == i.opclasses
                if same:
                    # Keep the one backing a constraint (or the older); the other is the duplicate.
                    keeper = (other.constraint is not None, -other.oid) > (i.constraint is not None, -i.oid)
                    if keeper:
                        out.append((i, other, "duplicates"))
                    continue
                prefix = (i.method == "btree" and 0 not in i.keys and len(i.keys) < len(other.keys)
                          and other.keys[: len(i.keys)] == i.keys and other.opclasses[: len(i.opclasses)] == i.opclasses)
                if prefix and not i.unique and i.constraint is None:
                    out.append((i, other, "is a leading prefix of"))
    seen: set[int] = set()
    unique_out = []
    for item in out:
        if item[0].oid not in seen:
            seen.add(item[0].oid)
            unique_out.append(item)
    return unique_out


def judge_duplicates(a: Audit) -> Finding:
    found = duplicates(a.snapshot.indexes)
    if not found:
        return Finding("QUERY-DUPLICATE-INDEXES", "pass", f"no duplicate or prefix-redundant index among {len(a.snapshot.indexes)}")
    size = sum(i.size_bytes for i, _, _ in found)
    listed = "; ".join(f"{i.schema}.{i.name} ({_size(i.size_bytes)}) {why} {o.schema}.{o.name}" for i, o, why in found)
    return Finding("QUERY-DUPLICATE-INDEXES", "fail", f"{len(found)} redundant index(es), {_size(size)}: {listed}")


def unused(indexes: list[Index]) -> list[Index]:
    return [i for i in indexes if i.valid and i.idx_scan == 0 and not i.unique and not i.primary and i.constraint is None]


def judge_unused(a: Audit, window_ok: bool) -> Finding:
    found = unused(a.snapshot.indexes)
    if not window_ok:
        return Finding("QUERY-UNUSED-INDEXES", "unknown", "not judged: the statistics window is too short")
    if not found:
        return Finding("QUERY-UNUSED-INDEXES", "pass", "every index that backs no constraint was scanned in the statistics window")
    listed = ", ".join(f"{i.schema}.{i.name} ({_size(i.size_bytes)})" for i in sorted(found, key=lambda i: -i.size_bytes)[:10])
    return Finding("QUERY-UNUSED-INDEXES", "warn", f"{len(found)} index(es) never scanned in the statistics window, "
                                                   f"{_size(sum(i.size_bytes for i in found))}: {listed}")


def judge_slow(a: Audit, policy: Policy) -> Finding:
    slow = [s for s in a.judged if s.mean_ms > policy.query_aurora_p95_ms]
    if not slow:
        return Finding("QUERY-SLOW-STATEMENTS", "pass", f"no top statement's mean time is above {policy.query_aurora_p95_ms:g} ms")
    worst = max(slow, key=lambda s: s.mean_ms)
    return Finding("QUERY-SLOW-STATEMENTS", "warn", f"{len(slow)} top statement(s) take {policy.query_aurora_p95_ms:g} ms or more on "
                                                    f"average, slowest {worst.mean_ms:.1f} ms: {sqltext.shown(worst.text)}")


def judge(a: Audit, policy: Policy) -> list[Finding]:
    window = judge_window(a, policy)
    ok = window.status == "pass"
    return [window, judge_utilization(a, policy, ok), judge_missing(a, policy), judge_duplicates(a), judge_unused(a, ok),
            judge_slow(a, policy)]


# --- the run ---------------------------------------------------------------------------


def run_audit(dsn: str, policy: Policy, top: int, journal: Journal, label: str) -> Report:
    journal.require(*OBJECTIVES)
    journal.objectives.update({
        "index_utilization": policy.index_utilization_min, "index_gain_min": policy.index_gain_min,
        "min_statement_calls": policy.min_statement_calls, "stats_age_s": policy.stats_min_age_s,
        "large_table_rows": policy.large_table_rows})
    journal.event("read", f"statistics and plans through {label}, in a read-only transaction")
    a = gather(dsn, policy, top, lambda m: journal.event("read", m))
    return audit_report(a, policy, journal)


def audit_report(a: Audit, policy: Policy, journal: Journal) -> Report:
    """Judge what was read and finish the report (no database: what `gather` read is all it needs)."""
    findings = judge(a, policy)
    _measure(a, policy, journal)
    details = describe(a, policy)
    journal.details.update(details)
    journal.details["markdown_sections"] = markdown(details, policy)
    for f in findings:
        journal.check(f.id, f.status, f.detail)
    return journal.finish()


def _measure(a: Audit, policy: Policy, journal: Journal) -> None:
    w = a.snapshot.window
    journal.measure("stats_age_s", w.age_s)
    journal.measure("statements", len(a.snapshot.statements))
    journal.measure("statements_judged", len(a.judged))
    large = large_tables(a.snapshot, policy)
    journal.measure("large_tables", len(large))
    journal.measure("large_table_seq_scans", sum(t.seq_scan for t in large))
    journal.measure("large_table_idx_scans", sum(t.idx_scan for t in large))
    value = utilization(large)
    if value is None:
        journal.mark_not_measured("index_utilization", "no scan of a table above large_table_rows in the window")
    else:
        journal.measure("index_utilization", value)
    found = advised(a, policy)
    journal.measure("missing_indexes", len({adv.best.definition for _, adv in found if adv.best}))
    gains = [adv.best.gain(ev.plan.total_cost) for ev in a.evidence for adv in ev.advice if adv.best and ev.plan]
    if gains:
        journal.measure("best_index_gain", max(gains))
    dup = duplicates(a.snapshot.indexes)
    journal.measure("duplicate_indexes", len(dup))
    journal.measure("duplicate_index_bytes", sum(i.size_bytes for i, _, _ in dup))
    un = unused(a.snapshot.indexes)
    journal.measure("unused_indexes", len(un))
    journal.measure("unused_index_bytes", sum(i.size_bytes for i in un))


def describe(a: Audit, policy: Policy) -> dict[str, Any]:
    """The report's details: every list a reader needs, with normalized statement text only."""
    costs = {ev.statement.queryid: ev for ev in a.evidence}
    statements = []
    for s in a.top:
        ev = costs.get(s.queryid)
        statements.append({
            "queryid": str(s.queryid), "text": sqltext.shown(s.text), "calls": s.calls, "total_ms": round(s.total_ms, 3),
            "mean_ms": round(s.mean_ms, 3), "max_ms": round(s.max_ms, 3), "rows": s.rows,
            "judged": ev is not None,
            "plan_cost": round(ev.plan.total_cost, 2) if ev and ev.plan else None,
            "plan_error": ev.plan_error if ev else None,
            "seq_scans_of_large_tables": [scan.qualified for scan in ev.large_scans] if ev else [],
        })
    large = large_tables(a.snapshot, policy)
    tables = [{"table": t.qualified, "rows": t.rows, "seq_scan": t.seq_scan, "idx_scan": t.idx_scan,
               "utilization": None if utilization([t]) is None else round(utilization([t]) or 0.0, 4),
               "size_bytes": t.size_bytes, "large": t in large}
              for t in sorted(a.snapshot.tables, key=lambda t: -t.rows)]
    advice = []
    for ev in a.evidence:
        for adv in ev.advice:
            entry: dict[str, Any] = {"queryid": str(ev.statement.queryid), "statement": sqltext.shown(ev.statement.text),
                                     "table": adv.table, "filter": sqltext.redact_strings(adv.scan_filter or ""),
                                     "plan_before": ev.plan.lines if ev.plan else [],
                                     "cost_before": round(ev.plan.total_cost, 2) if ev.plan else None}
            if adv.best is not None and ev.plan is not None:
                gain = adv.best.gain(ev.plan.total_cost)
                entry.update(index=adv.best.definition, cost_after=round(adv.best.cost_after, 2), gain=round(gain, 4),
                             worth_it=gain >= policy.index_gain_min, plan_after=list(adv.best.lines_after),
                             tried=[{"columns": list(h.columns), "cost_after": round(h.cost_after, 2), "used": h.used,
                                     "gain": round(h.gain(ev.plan.total_cost), 4)} for h in adv.tried])
            else:
                entry.update(index=None, note=adv.error or "no hypothetical index was used by the planner")
            advice.append(entry)
    w = a.snapshot.window
    return {
        "database": a.snapshot.database, "server_version": a.snapshot.server_version, "reader": a.snapshot.in_recovery,
        "extensions": a.snapshot.extensions, "hypopg": a.hypopg or hypopg_missing(a.snapshot),
        "statistics_since": w.since.isoformat(), "statements": statements, "tables": tables, "advice": advice,
        "duplicate_indexes": [{"index": f"{i.schema}.{i.name}", "size_bytes": i.size_bytes, "why": why,
                               "covered_by": f"{o.schema}.{o.name}", "definition": sqltext.redact_strings(i.definition)}
                              for i, o, why in duplicates(a.snapshot.indexes)],
        "unused_indexes": [{"index": f"{i.schema}.{i.name}", "size_bytes": i.size_bytes, "definition": sqltext.redact_strings(i.definition)}
                           for i in unused(a.snapshot.indexes)],
    }


def markdown(d: dict[str, Any], policy: Policy) -> list[tuple[str, str]]:
    rows = ["| # | calls | total ms | mean ms | max ms | statement |", "|---|---|---|---|---|---|"]
    for n, s in enumerate(d["statements"], 1):
        mark = "" if s["judged"] else " (too few calls to judge)"
        text = s["text"].replace("|", "\\|")  # a pipe inside a Markdown table cell
        rows.append(f"| {n} | {s['calls']} | {s['total_ms']:.1f} | {s['mean_ms']:.3f} | {s['max_ms']:.3f} | `{text}`{mark} |")
    util = ["| table | rows | seq scans | index scans | index use | size |", "|---|---|---|---|---|---|"]
    for t in d["tables"]:
        if t["large"]:
            use = "-" if t["utilization"] is None else f"{100 * t['utilization']:.1f}%"
            util.append(f"| {t['table']} | {t['rows']} | {t['seq_scan']} | {t['idx_scan']} | {use} | {_size(t['size_bytes'])} |")
    sections = [("Top statements by total time", "\n".join(rows)),
                (f"Index utilization (tables above {policy.large_table_rows} rows)", "\n".join(util))]
    for adv in d["advice"]:
        body = [f"Statement: `{adv['statement']}`", "", f"Sequential scan of {adv['table']}, filter `{adv['filter']}`", "",
                f"Plan before (estimated cost {adv['cost_before']}):", "", "```", *adv["plan_before"], "```"]
        if adv.get("index"):
            verdict = "worth it" if adv["worth_it"] else f"below index_gain_min {100 * policy.index_gain_min:.0f}%"
            body += ["", f"With hypothetical `{adv['index']}` (estimated cost {adv['cost_after']}, "
                         f"{100 * adv['gain']:.1f}% less: {verdict}):", "", "```", *adv["plan_after"], "```"]
        else:
            body += ["", f"No index advised: {adv['note']}"]
        sections.append((f"Missing-index evidence: {adv['table']}", "\n".join(body)))
    if d["duplicate_indexes"] or d["unused_indexes"]:
        lines = [f"- duplicate: `{x['index']}` ({_size(x['size_bytes'])}) {x['why']} `{x['covered_by']}`" for x in d["duplicate_indexes"]]
        lines += [f"- unused: `{x['index']}` ({_size(x['size_bytes'])})" for x in d["unused_indexes"]]
        sections.append(("Index cost (no over-indexing)", "\n".join(lines)))
    return sections


def summary(report: Report) -> str:
    """One line: the checks that decided the verdict, then each finding as its check judged it (a figure
    whose check could not judge it is not measured)."""
    m = report.measurements
    status = {c.id: c.status for c in report.checks}
    parts = []
    if status.get("QUERY-INDEX-UTILIZATION") in ("pass", "warn", "fail") and m.get("index_utilization") is not None:
        parts.append(f"index utilization {100 * m['index_utilization']:.1f}%")
    else:
        parts.append("index utilization not measured")
    missing = [a for a in report.details.get("advice", []) if a.get("worth_it")]
    if status.get("QUERY-MISSING-INDEXES") == "fail" and missing:
        names = sorted({a["index"] for a in missing})
        parts.append(f"missing index: {'; '.join(names)} (estimated cost -{100 * max(a['gain'] for a in missing):.0f}%)")
    elif status.get("QUERY-MISSING-INDEXES") == "pass":
        parts.append(f"{measured(m.get('statements_judged'))} top statement(s) judged, no missing index")
    else:
        parts.append("missing indexes not measured")
    if status.get("QUERY-DUPLICATE-INDEXES") == "fail":
        parts.append(f"{measured(m.get('duplicate_indexes'))} duplicate index(es)")
    if status.get("QUERY-UNUSED-INDEXES") == "warn":
        parts.append(f"{measured(m.get('unused_indexes'))} unused index(es)")
    text = ", ".join(parts)
    if report.status == "inconclusive":
        text += " — " + "; ".join(report.details.get("inconclusive_because", [])[:1])
    return headline(report, text)


def _size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
