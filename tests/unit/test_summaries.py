"""One-line summaries name the checks that decided the verdict, and say "not measured" for what was
not: never a figure its check could not judge, never None."""

from __future__ import annotations

from pathlib import Path

from ops import config as config_mod
from ops import live
from ops.drills import connections, latency
from ops.query import audit, pgbench
from ops.query.pgbench import Script
from ops.report import Journal, write
from tests.conftest import write_config
from tests.unit.test_query_judge import POLICY, _evidence, audit_of, snapshot, stmt, table

SLOW = Script(Path("slow.sql"), 1, "slow")


def latency_report(transactions: int, latency_ms: float):  # type: ignore[no-untyped-def]
    """The latency drill's judgement of what pgbench logged: 10 tx/s scheduled for 8 s (80 transactions)."""
    opts = latency.LatencyOptions(scripts=(SLOW,), clients=2, rate=10, duration_s=8, p95_ms=3_600_000, min_transactions=50,
                                  gain_min=0.6)
    journal = Journal("latency", "localpg:lab-pg", "lab", echo=None)
    journal.require("LAT-ERRORS", "LAT-RATE", "LAT-P95[slow]")
    journal.objectives.update({"p95_ms": opts.p95_ms, "errors": 0, "min_transactions": opts.min_transactions})
    run = pgbench.Run(0, ["pgbench"], [pgbench.Tx(0, int(latency_ms * 1000), 0)] * transactions, tps=transactions / 8)
    latency.judge(run, opts, journal)
    return journal.finish()


def test_a_latency_p95_of_too_few_transactions_is_not_measured_and_the_rate_that_failed_is_named() -> None:
    report = latency_report(3, 3250)
    assert report.status == "fail"
    line = latency.summary(report)
    assert line.startswith("FAIL (LAT-RATE): slow p95 not measured (3 transactions, 50 needed)"), line
    assert "3 of 80 scheduled transactions done" in line, line
    assert "3250" not in line and "objective" not in line and "e+06" not in line, line
    # Negative control: enough transactions, the p95 is judged and shown with its objective.
    passed = latency.summary(latency_report(80, 3250))
    assert passed == "PASS: slow p95 3250.00 ms (objective 3600000 ms), 0 errors", passed


def audit_report(a: audit.Audit):  # type: ignore[no-untyped-def]
    journal = Journal("query-audit", "localpg:lab-pg", "lab", echo=None)
    journal.require(*audit.OBJECTIVES)
    return audit.audit_report(a, POLICY, journal)


def test_an_audit_whose_missing_index_check_could_not_judge_does_not_say_no_missing_index() -> None:
    tables = [table("orders", 100000, 10, 990)]
    unjudged = audit_of(snapshot(statements=[stmt()], tables=tables, extensions={"pg_stat_statements": "1.10"}),
                        [_evidence(None, "hypopg is not created in database app")])
    report = audit_report(unjudged)
    assert report.status == "inconclusive"
    line = audit.summary(report)
    assert line.startswith("INCONCLUSIVE (not measured: QUERY-MISSING-INDEXES): index utilization 99.0%, "
                           "missing indexes not measured"), line
    assert "no missing index" not in line, line
    # Negative control: the same statement planned without a sequential scan: judged, and said so.
    s = stmt()
    judged = audit_of(snapshot(statements=[s], tables=tables), [audit.Evidence(s, audit.Plan(8.3, ["Index Scan"]))])
    assert audit.summary(audit_report(judged)) == "PASS: index utilization 99.0%, 1 top statement(s) judged, no missing index"


def test_an_audit_on_young_statistics_shows_no_utilization_figure() -> None:
    report = audit_report(audit_of(snapshot(age_s=30, statements=[stmt()], tables=[table("orders", 100000, 0, 500)])))
    line = audit.summary(report)
    assert line.startswith("INCONCLUSIVE (not measured: QUERY-STATS-WINDOW, QUERY-INDEX-UTILIZATION"), line
    assert "index utilization not measured" in line and "100.0%" not in line, line


def test_an_aborted_connections_drill_is_not_measured_in_the_runbook_never_none(tmp_path: Path) -> None:
    cfg = config_mod.load(write_config(tmp_path), environ={})
    journal = Journal("connections", "localpg:lab-pg", "lab", echo=None)
    journal.details["via"] = "pooler"
    journal.require("CONN-SETUP-P95", "CONN-ERRORS")
    journal.event("abort", "interrupted")
    write(journal.finish("aborted", "ABORTED: interrupted"), cfg.report_dir)
    line = live.pooling(cfg, "localpg:lab-pg")["connections_pooled"]
    assert line.startswith("ABORTED ") and "None" not in line, line
    assert "clients connected not measured, set-up p95 not measured, refusals not measured" in line, line
    # Negative control: what a drill measured is shown as it was measured.
    measured = {"connected": 200, "clients": 200, "setup_p95_ms": 12.34, "refused_connections": 0, "query_errors": 0,
                "queries_scheduled": 1600, "queries_served": 1600, "query_overhead_p95_ms": 4.0}
    assert connections.figures(measured) == ("200 of 200 clients connected, set-up p95 12.3 ms, 0 refused, 0 query errors, "
                                             "1600 of 1600 scheduled queries served, query time beyond its work p95 4.0 ms")


def test_the_failover_runbook_values_say_not_measured_for_what_an_aborted_drill_left_null(tmp_path: Path) -> None:
    cfg = config_mod.load(write_config(tmp_path), environ={})
    journal = Journal("failover", "localpg:lab-pg", "lab", echo=None)
    journal.mark_not_measured("lost_writes", "interrupted before the verification")
    journal.mark_not_measured("client_write_downtime_s", "interrupted before the verification")
    write(journal.finish("aborted", "ABORTED: interrupted"), cfg.report_dir)
    failover = live.drills(cfg, "localpg:lab-pg")["failover"]
    assert (failover["lost"], failover["downtime"]) == ("not measured", "not measured"), failover
