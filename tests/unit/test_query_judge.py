"""The audit's verdicts as pure functions of what it read: statistics window, utilization, missing
and duplicate indexes — each with the case that must not pass."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ops.config import Policy
from ops.query import audit
from ops.query.plans import Hypothetical, Plan, SeqScan, _walk, candidates, filter_columns, sort_columns
from ops.query.stats import Index, Snapshot, Statement, Table, Window

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
POLICY = Policy(stats_min_age_s=600, min_statement_calls=50, large_table_rows=10000, index_utilization_min=0.9, index_gain_min=0.6)
COLS = ["id", "customer_id", "status", "total_cents", "created_at"]


def snapshot(age_s: float = 3600, statements=None, tables=None, indexes=None, extensions=None, error=None) -> Snapshot:  # type: ignore[no-untyped-def]
    window = Window(NOW, NOW - timedelta(seconds=age_s), None, NOW - timedelta(days=3))
    return Snapshot("app", "15.4", False, extensions if extensions is not None else {"pg_stat_statements": "1.10", "hypopg": "1.3.1"},
                    {"pg_stat_statements", "hypopg"}, window, statements or [], error, tables or [], indexes or [])


def stmt(calls: int = 100, total: float = 1000.0, queryid: int = 1) -> Statement:
    return Statement(queryid, "SELECT * FROM orders.orders WHERE customer_id = $1", calls, total, total / calls, 50.0, calls)


def table(name: str, rows: int, seq: int, idx: int) -> Table:
    return Table(hash(name) % 1000, "orders", name, seq, idx, rows, rows * 100)


def audit_of(snap: Snapshot, evidence=None) -> audit.Audit:  # type: ignore[no-untyped-def]
    top = audit.top_statements(snap, 10)
    judged = [s for s in top if s.calls >= POLICY.min_statement_calls]
    return audit.Audit(snap, top, judged, evidence if evidence is not None else [audit.Evidence(s) for s in judged],
                       "hypopg" in snap.extensions)


def test_young_statistics_are_inconclusive_never_a_pass() -> None:
    a = audit_of(snapshot(age_s=30, statements=[stmt()], tables=[table("orders", 100000, 0, 500)]))
    findings = {f.id: f for f in audit.judge(a, POLICY)}
    assert findings["QUERY-STATS-WINDOW"].status == "unknown" and "30s old" in findings["QUERY-STATS-WINDOW"].detail
    assert findings["QUERY-INDEX-UTILIZATION"].status == "unknown"  # 100 % measured, but not over enough time
    assert findings["QUERY-UNUSED-INDEXES"].status == "unknown"


def test_too_few_calls_are_inconclusive() -> None:
    a = audit_of(snapshot(statements=[stmt(calls=49)], tables=[table("orders", 100000, 0, 500)]))
    findings = {f.id: f for f in audit.judge(a, POLICY)}
    assert findings["QUERY-STATS-WINDOW"].status == "unknown" and "most: 49" in findings["QUERY-STATS-WINDOW"].detail
    assert findings["QUERY-MISSING-INDEXES"].status == "unknown"


def test_missing_pg_stat_statements_is_unknown_with_the_reason() -> None:
    a = audit_of(snapshot(error="pg_stat_statements is not created in database app"))
    findings = {f.id: f for f in audit.judge(a, POLICY)}
    assert findings["QUERY-STATS-WINDOW"].status == "unknown" and "not created" in findings["QUERY-STATS-WINDOW"].detail
    assert findings["QUERY-MISSING-INDEXES"].status == "unknown"


def test_utilization_is_weighted_over_large_tables_only() -> None:
    tables = [table("orders", 100000, 10, 90), table("order_items", 200000, 0, 900), table("small", 100, 10000, 0)]
    a = audit_of(snapshot(statements=[stmt()], tables=tables))
    assert audit.utilization(audit.large_tables(a.snapshot, POLICY)) == pytest.approx(0.99)
    assert audit.judge_utilization(a, POLICY, True).status == "pass"
    low = audit_of(snapshot(statements=[stmt()], tables=[table("orders", 100000, 200, 800)]))
    finding = audit.judge_utilization(low, POLICY, True)
    assert finding.status == "fail" and "80.0%" in finding.detail and "orders.orders" in finding.detail


def test_no_large_table_or_no_scan_is_unknown() -> None:
    assert audit.judge_utilization(audit_of(snapshot(tables=[table("small", 10, 5, 0)])), POLICY, True).status == "unknown"
    assert audit.judge_utilization(audit_of(snapshot(tables=[table("orders", 100000, 0, 0)])), POLICY, True).status == "unknown"


def _evidence(gain_cost_after: float | None, hypopg_error: str | None = None) -> audit.Evidence:
    s = stmt()
    scan = SeqScan("orders", "orders", "orders", "(orders.customer_id = $1)", (), 2269.0)
    ev = audit.Evidence(s, Plan(2270.0, ["Seq Scan on orders"], [scan]), large_scans=[scan])
    best = None if gain_cost_after is None else Hypothetical(("customer_id",), "CREATE INDEX CONCURRENTLY ON orders.orders (customer_id)",
                                                              gain_cost_after, True, ("Index Scan",))
    ev.advice.append(audit.Advice("orders.orders", scan.filter, best, [best] if best else [], hypopg_error))
    return ev


def test_an_index_that_cuts_the_cost_enough_is_a_missing_index() -> None:
    a = audit_of(snapshot(statements=[stmt()]), [_evidence(4.5)])
    finding = audit.judge_missing(a, POLICY)
    assert finding.status == "fail" and "CREATE INDEX CONCURRENTLY ON orders.orders (customer_id)" in finding.detail


def test_an_index_below_the_gain_objective_is_not_advised() -> None:
    a = audit_of(snapshot(statements=[stmt()]), [_evidence(2270.0 * 0.5)])  # 50 % less: below index_gain_min 60 %
    finding = audit.judge_missing(a, POLICY)
    assert finding.status == "pass" and "best 50%" in finding.detail


def test_without_hypopg_the_gain_is_unknown_and_says_so() -> None:
    a = audit_of(snapshot(statements=[stmt()], extensions={"pg_stat_statements": "1.10"}),
                 [_evidence(None, "hypopg is not created in database app (installed on this server): ...")])
    finding = audit.judge_missing(a, POLICY)
    assert finding.status == "unknown" and "hypopg" in finding.detail


def test_a_scan_whose_hypothetical_indexes_could_not_be_planned_is_unknown_and_one_without_candidates_passes() -> None:
    unplanned = audit_of(snapshot(statements=[stmt()]),
                         [_evidence(None, "hypothetical index on ('customer_id',) could not be planned: out of memory")])
    finding = audit.judge_missing(unplanned, POLICY)
    assert finding.status == "unknown" and "could not be planned" in finding.detail
    full_scan = audit_of(snapshot(statements=[stmt()]),
                         [_evidence(None, "no column of its filter or sort an index could serve (a full scan)")])
    assert audit.judge_missing(full_scan, POLICY).status == "pass"


def test_a_statement_that_could_not_be_planned_is_unknown() -> None:
    s = stmt()
    a = audit_of(snapshot(statements=[s]), [audit.Evidence(s, plan_error="could not determine data type of parameter $1")])
    assert audit.judge_missing(a, POLICY).status == "unknown"


def test_no_seq_scan_of_a_large_table_passes() -> None:
    s = stmt()
    a = audit_of(snapshot(statements=[s]), [audit.Evidence(s, Plan(8.3, ["Index Scan"]))])
    assert audit.judge_missing(a, POLICY).status == "pass"


def index(oid: int, name: str, keys: tuple[int, ...], unique: bool = False, constraint: str | None = None, scans: int = 5,
          table_oid: int = 1) -> Index:
    return Index(oid, table_oid, "orders", "orders", name, scans, 8192 * oid, unique, constraint == "p", True, constraint, "btree",
                 keys, tuple(1978 for _ in keys), None, None, f"CREATE INDEX {name} ...")


def test_duplicates_and_leading_prefixes_are_found_and_the_constraint_is_kept() -> None:
    idx = [index(1, "orders_pkey", (1,), unique=True, constraint="p"), index(2, "orders_id_copy", (1,)),
           index(3, "by_customer_created", (2, 5)), index(4, "by_customer", (2,)), index(5, "by_created", (5,)),
           index(6, "other_table_customer", (2,), table_oid=2)]
    found = {(i.name, o.name, why) for i, o, why in audit.duplicates(idx)}
    assert found == {("orders_id_copy", "orders_pkey", "duplicates"), ("by_customer", "by_customer_created", "is a leading prefix of")}
    a = audit_of(snapshot(indexes=idx))
    finding = audit.judge_duplicates(a)
    assert finding.status == "fail" and "orders.orders_id_copy" in finding.detail and "kB" in finding.detail


def test_distinct_indexes_are_not_duplicates() -> None:
    idx = [index(1, "orders_pkey", (1,), unique=True, constraint="p"), index(3, "by_customer_created", (2, 5)), index(5, "by_created", (5,))]
    assert audit.judge_duplicates(audit_of(snapshot(indexes=idx))).status == "pass"


def test_unused_indexes_are_a_warning_and_constraints_are_never_unused() -> None:
    idx = [index(1, "orders_pkey", (1,), unique=True, constraint="p", scans=0), index(3, "by_status", (3,), scans=0),
           index(5, "by_created", (5,), scans=7)]
    a = audit_of(snapshot(indexes=idx))
    finding = audit.judge_unused(a, True)
    assert finding.status == "warn" and "by_status" in finding.detail and "orders_pkey" not in finding.detail


def test_filter_and_sort_columns_give_equality_first_candidates() -> None:
    eq, rng = filter_columns("((o.customer_id = $1) AND ((o.status)::text = $2) AND (o.created_at >= ($3 - $4)) AND (o.id <> $5))",
                             "o", COLS)
    assert eq == ["customer_id", "status"] and rng == ["created_at"]
    assert filter_columns("(x.customer_id = $1)", "o", COLS) == ([], [])  # another alias's column
    assert sort_columns(("o.created_at DESC", "o.id"), "o", COLS) == ["created_at", "id"]
    assert sort_columns(("lower(o.status)", "o.id"), "o", COLS) == []
    scan = SeqScan("orders", "orders", "orders", "(orders.customer_id = $1)", ("orders.created_at DESC",), 100.0)
    assert candidates(scan, COLS) == [("customer_id", "created_at"), ("customer_id",), ("created_at",)]
    assert candidates(SeqScan("orders", "orders", "orders", None, (), 1.0), COLS) == []
    assert filter_columns("(orders.customer_id = ANY ($1))", "orders", COLS) == (["customer_id"], [])


def test_seq_scans_are_found_under_a_sort_through_gather() -> None:
    root = {"Node Type": "Limit", "Total Cost": 10.0, "Plans": [{"Node Type": "Gather Merge", "Plans": [
        {"Node Type": "Sort", "Sort Key": ["orders.created_at DESC"], "Plans": [
            {"Node Type": "Seq Scan", "Schema": "orders", "Relation Name": "orders", "Alias": "orders",
             "Filter": "(orders.customer_id = $1)", "Total Cost": 9.0}]}]}]}
    plan = Plan(10.0, [])
    _walk(root, [], plan)
    assert plan.seq_scans == [SeqScan("orders", "orders", "orders", "(orders.customer_id = $1)", ("orders.created_at DESC",), 9.0)]


def test_hypothetical_gain_counts_only_when_the_plan_uses_the_index() -> None:
    used = Hypothetical(("a",), "x", 10.0, True, ())
    assert used.gain(100.0) == pytest.approx(0.9)
    assert Hypothetical(("a",), "x", 10.0, False, ()).gain(100.0) == 0.0


def test_top_statements_whose_text_this_user_cannot_read_are_unknown_never_a_pass() -> None:
    hidden = Statement(2, "<insufficient privilege>", 500, 9000.0, 18.0, 50.0, 500)
    a = audit_of(snapshot(statements=[hidden, stmt()]), [audit.Evidence(hidden)])
    finding = audit.judge_missing(a, POLICY)
    assert finding.status == "unknown" and "not visible" in finding.detail and "pg_read_all_stats" in finding.detail
    visible = audit_of(snapshot(statements=[stmt()]), [audit.Evidence(stmt())])
    assert audit.judge_missing(visible, POLICY).status == "pass", "negative control: a readable statement without scans passes"
