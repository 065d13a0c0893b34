"""`dbops query audit` and `dbops drill latency` on the seeded lab, with the index that supports a
customer's order history dropped (the negative control) and then created.

One lab for the module: lab-pg seeded with 100 000 orders. The sequence runs once (module
fixture) as a user would: seed without the index, latency drill, audit; seed with the index,
latency drill against the first as baseline, audit. The tests then judge what it measured,
each against evidence read from the server independently where there is some.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from ops.config import Policy
from ops.lab import lab as lab_core
from ops.lab.pg import pgcluster, pgservers
from ops.query.audit import run_audit
from ops.query.stats import read_only_session
from ops.report import Journal
from tests.conftest import REPO, Cli, require, traversable_tmpdir, write_config

ROWS = "100000"
LOAD = ("--rate", "25", "--clients", "2", "--time", "6")
WORKLOAD = str(REPO / "workloads" / "orders.sql")
INDEX = "CREATE INDEX CONCURRENTLY ON orders.orders (customer_id, created_at)"


def hypopg_installed() -> bool:
    import subprocess

    from ops.lab.pg import pgbin

    share = subprocess.run([str(pgbin.bindir() / "pg_config"), "--sharedir"], capture_output=True, text=True).stdout.strip()
    return (Path(share) / "extension" / "hypopg.control").exists()


@pytest.fixture(scope="module")
def qlab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    require(hypopg_installed(), "hypopg is not installed (make install installs postgresql-15-hypopg)")
    root = traversable_tmpdir("dbops-query-")
    cli = Cli(write_config(root, extra="[envs.lab.policy]\nstats_min_age_s = 1\n"), root / ".lab")
    try:
        lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
        yield cli
    finally:
        lab_core.down(cli.config, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


def writer_dsn(cli: Cli, dbname: str = "postgres") -> str:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    return cluster.writer().dsn().replace(f"dbname={pgservers.DBNAME}", f"dbname={dbname}")


def run_json(cli: Cli, *args: str, expect: int) -> dict[str, Any]:
    result = cli(*args, "--json")
    assert result.exit_code == expect, (result.exit_code, result.stdout[-2000:], result.stderr[-3000:])
    return json.loads(result.stdout)


def table_counters(cli: Cli) -> dict[str, tuple[int, int]]:
    rows = pgcluster.get(cli.lab_dir).query(  # type: ignore[union-attr]
        pgcluster.get(cli.lab_dir).writer(),  # type: ignore[union-attr]
        "SELECT schemaname || '.' || relname, seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE schemaname = 'orders'")
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.fixture(scope="module")
def control(qlab: Cli) -> dict[str, Any]:
    """The negative control, then the fix: every report, and the server's own counters at each audit."""
    out: dict[str, Any] = {}
    seeded = qlab("lab", "seed-orders", "--rows", ROWS, "--without-index")
    assert seeded.exit_code == 0, seeded.output
    out["seed_without"] = seeded.stdout
    out["before"] = run_json(qlab, "drill", "latency", "localpg:lab-pg", "--workload", WORKLOAD, *LOAD, expect=1)
    time.sleep(1.0)  # the server flushes its table counters at most once a second
    out["counters_before"] = table_counters(qlab)
    out["audit_before"] = run_json(qlab, "query", "audit", "localpg:lab-pg", expect=1)
    seeded = qlab("lab", "seed-orders", "--rows", ROWS)
    assert seeded.exit_code == 0, seeded.output
    out["seed_with"] = seeded.stdout
    junit = qlab.lab_dir.parent / "latency-junit.xml"
    out["junit"] = junit
    out["after"] = run_json(qlab, "drill", "latency", "localpg:lab-pg", "--workload", WORKLOAD, *LOAD,
                            "--baseline", out["before"]["paths"]["json"], "--junit", str(junit), "--publish-metrics", expect=0)
    time.sleep(1.0)
    out["counters_after"] = table_counters(qlab)
    out["audit_after"] = run_json(qlab, "query", "audit", "localpg:lab-pg", expect=0)
    return out


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


def test_seed_loads_the_orders_dataset_and_resets_the_statistics(qlab: Cli, control: dict[str, Any]) -> None:
    assert "loaded 100000 orders" in control["seed_without"] and "index orders.orders_customer_created_idx absent" in control["seed_without"]
    assert "kept the 100000 orders" in control["seed_with"] and "created" in control["seed_with"]
    assert "statistics reset" in control["seed_with"] and "replayed by 1 replica(s)" in control["seed_with"]
    cluster = pgcluster.get(qlab.lab_dir)
    assert cluster is not None
    counts = cluster.query(cluster.writer(), "SELECT (SELECT count(*) FROM orders.customers), (SELECT count(*) FROM orders.orders), "
                                             "(SELECT count(*) FROM orders.order_items)")[0]
    assert counts == (10000, 100000, 200000)


def test_without_the_index_the_workloads_p95_misses_the_objective(control: dict[str, Any]) -> None:
    before = control["before"]
    assert before["status"] == "fail"
    assert checks(before)["LAT-P95[orders]"]["status"] == "fail"
    assert before["measurements"]["orders.p95_ms"] > before["objectives"]["p95_ms"] == 10
    assert before["measurements"]["errors"] == 0 and checks(before)["LAT-ERRORS"]["status"] == "pass"
    assert before["measurements"]["transactions"] >= 50


def test_without_the_index_the_audit_names_the_missing_index_with_its_evidence(control: dict[str, Any]) -> None:
    audit = control["audit_before"]
    assert audit["status"] == "fail"
    missing = checks(audit)["QUERY-MISSING-INDEXES"]
    assert missing["status"] == "fail" and INDEX in missing["detail"]
    assert INDEX in audit["summary"]
    advice = [a for a in audit["details"]["advice"] if a.get("worth_it")]
    assert advice and all(a["index"] == INDEX and a["table"] == "orders.orders" for a in advice)
    for a in advice:
        assert any("Seq Scan on orders" in line for line in a["plan_before"])
        assert any("Index Scan" in line and "btree_orders_orders_customer_id_created_at" in line for line in a["plan_after"])
        assert a["cost_after"] < a["cost_before"] * 0.4 and a["gain"] >= 0.6
    md = Path(audit["paths"]["md"]).read_text()
    assert "Missing-index evidence: orders.orders" in md and "Plan before" in md and "With hypothetical" in md


def test_without_the_index_utilization_is_measured_below_the_objective(control: dict[str, Any]) -> None:
    audit = control["audit_before"]
    assert checks(audit)["QUERY-INDEX-UTILIZATION"]["status"] == "fail"
    # Independent evidence: the server's own counters for the large tables, read by the test.
    seq, idx = (sum(v[i] for k, v in control["counters_before"].items() if k != "orders.customers") for i in (0, 1))
    assert audit["measurements"]["index_utilization"] == pytest.approx(idx / (idx + seq), abs=0.02)
    assert audit["measurements"]["index_utilization"] < 0.9
    assert control["counters_before"]["orders.orders"][1] == 0  # no index could serve orders.orders


def test_with_the_index_p95_meets_the_objective_and_drops_by_at_least_60_percent(control: dict[str, Any]) -> None:
    before, after = control["before"], control["after"]
    assert after["status"] == "pass", after["checks"]
    assert after["measurements"]["orders.p95_ms"] <= 10
    drop = 1 - after["measurements"]["orders.p95_ms"] / before["measurements"]["orders.p95_ms"]
    assert drop >= 0.6
    assert checks(after)["LAT-GAIN[orders]"]["status"] == "pass"
    assert after["measurements"]["orders.p95_gain"] == pytest.approx(drop, abs=0.002)


def test_without_index_work_between_the_runs_the_gain_objective_fails(qlab: Cli, control: dict[str, Any]) -> None:
    again = run_json(qlab, "drill", "latency", "localpg:lab-pg", "--workload", WORKLOAD, *LOAD,
                     "--baseline", control["after"]["paths"]["json"], expect=1)
    assert checks(again)["LAT-P95[orders]"]["status"] == "pass"
    assert checks(again)["LAT-GAIN[orders]"]["status"] == "fail" and again["measurements"]["orders.p95_gain"] < 0.6


def test_with_the_index_the_audit_measures_utilization_above_90_percent(control: dict[str, Any]) -> None:
    audit = control["audit_after"]
    assert audit["status"] == "pass", audit["checks"]
    assert checks(audit)["QUERY-MISSING-INDEXES"]["status"] == "pass"
    assert audit["measurements"]["index_utilization"] >= 0.9
    seq, idx = (sum(v[i] for k, v in control["counters_after"].items() if k != "orders.customers") for i in (0, 1))
    assert audit["measurements"]["index_utilization"] == pytest.approx(idx / (idx + seq), abs=0.02)
    assert audit["measurements"]["missing_indexes"] == 0


def test_top_statements_carry_calls_mean_and_max(control: dict[str, Any]) -> None:
    top = control["audit_after"]["details"]["statements"]
    ranged = next(s for s in top if "FROM orders.orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2" in s["text"])
    assert ranged["calls"] >= 50 and 0 < ranged["mean_ms"] <= ranged["max_ms"] and ranged["judged"]
    assert [s["total_ms"] for s in top] == sorted((s["total_ms"] for s in top), reverse=True)


def test_both_commands_write_reports_junit_and_metrics(qlab: Cli, control: dict[str, Any]) -> None:
    for key, kind in (("after", "latency"), ("audit_after", "query-audit")):
        report = control[key]
        assert report["schema"] == "dbops.report/v1" and report["kind"] == kind
        assert Path(report["paths"]["json"]).parent.name == kind and Path(report["paths"]["md"]).exists()
        assert set(report["details"]["required"]) <= {c["id"] for c in report["checks"]}
    junit = control["junit"].read_text()
    assert junit.count("<testcase") == len(control["after"]["checks"]) and 'failures="0"' in junit
    from ops.aws import Aws

    cfg = qlab.config
    cw = Aws.for_env(cfg, cfg.env("lab")).client("cloudwatch")
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="dbops")["Metrics"]}
    assert {"orders.p95_ms", "DrillFailed", "DrillInconclusive"} <= names
    assert "DrillRuns" not in names, "a query audit or latency drill is no failover or restore for the missed-drill alarms"


def test_the_audit_session_cannot_write_and_times_out(qlab: Cli, control: dict[str, Any]) -> None:
    with read_only_session(writer_dsn(qlab)) as conn:
        assert conn.execute("SHOW transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "5s"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE orders.written_by_the_audit (a int)")


def test_an_audit_changes_nothing_in_the_database(qlab: Cli, control: dict[str, Any]) -> None:
    cluster = pgcluster.get(qlab.lab_dir)
    assert cluster is not None
    shape = ("SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2")
    before = cluster.query(cluster.writer(), shape)
    run_json(qlab, "query", "audit", "localpg:lab-pg", expect=0)
    assert cluster.query(cluster.writer(), shape) == before


def test_a_literal_written_by_a_query_never_appears_in_the_report(qlab: Cli, control: dict[str, Any], tmp_path: Path) -> None:
    secret, tag = "s3cret-7f3a9c", "tenant-c0mment-55e1"
    script = tmp_path / "literal.sql"
    script.write_text("\\set cid random(1, 10000)\n"
                      f"SELECT count(*) FROM orders.orders WHERE status = '{secret}' AND customer_id = :cid /* {tag} */;\n")
    run_json(qlab, "drill", "latency", "localpg:lab-pg", "--workload", str(script), "--rate", "40", "--time", "2", expect=0)
    result = qlab("query", "audit", "localpg:lab-pg", "--json", "--min-calls", "20")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    texts = [s["text"] for s in report["details"]["statements"]]
    # Positive control: the statement is in the report, as pg_stat_statements normalized it.
    assert any("FROM orders.orders WHERE status = $1 AND customer_id = $2" in t for t in texts), texts
    everything = result.stdout + result.stderr + Path(report["paths"]["md"]).read_text() + Path(report["paths"]["json"]).read_text()
    assert secret not in everything and tag not in everything


def test_young_statistics_or_too_few_calls_are_inconclusive_not_pass(qlab: Cli, control: dict[str, Any]) -> None:
    young = run_json(qlab, "query", "audit", "localpg:lab-pg", "--stats-min-age", "86400", expect=4)
    assert young["status"] == "inconclusive" and checks(young)["QUERY-STATS-WINDOW"]["status"] == "unknown"
    assert "QUERY-STATS-WINDOW" in young["details"]["inconclusive_because"][0]
    few = run_json(qlab, "query", "audit", "localpg:lab-pg", "--min-calls", "1000000", expect=4)
    assert checks(few)["QUERY-STATS-WINDOW"]["status"] == "unknown" and "min_statement_calls" in checks(few)["QUERY-STATS-WINDOW"]["detail"]


def test_duplicate_and_unused_indexes_are_reported_with_their_size(qlab: Cli, control: dict[str, Any]) -> None:
    cluster = pgcluster.get(qlab.lab_dir)
    assert cluster is not None
    w = cluster.writer()
    cluster.execute(w, "CREATE INDEX order_items_order_id_idx ON orders.order_items (order_id)")
    cluster.execute(w, "CREATE INDEX orders_status_idx ON orders.orders (status)")
    try:
        report = run_json(qlab, "query", "audit", "localpg:lab-pg", expect=1)
    finally:
        cluster.execute(w, "DROP INDEX orders.order_items_order_id_idx, orders.orders_status_idx")
    dup = checks(report)["QUERY-DUPLICATE-INDEXES"]
    assert dup["status"] == "fail" and "orders.order_items_order_id_idx" in dup["detail"] and "order_items_pkey" in dup["detail"]
    assert "MB" in dup["detail"] or "kB" in dup["detail"]
    unused = checks(report)["QUERY-UNUSED-INDEXES"]
    assert unused["status"] == "warn" and "orders.orders_status_idx" in unused["detail"]
    assert report["measurements"]["duplicate_index_bytes"] > 0 and report["measurements"]["unused_index_bytes"] > 0
    assert checks(control["audit_after"])["QUERY-DUPLICATE-INDEXES"]["status"] == "pass"  # the negative control


def _load_table(dsn: str, extensions: tuple[str, ...]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for ext in extensions:
            conn.execute(f"CREATE EXTENSION {ext}")
        conn.execute("CREATE TABLE events AS SELECT i AS id, i % 500 AS account FROM generate_series(1, 30000) i")
        conn.execute("ANALYZE events")
        for i in range(60):
            conn.execute("SELECT id FROM events WHERE account = %s", (i,))


def test_without_hypopg_or_pg_stat_statements_the_audit_says_so_and_is_inconclusive(qlab: Cli, control: dict[str, Any]) -> None:
    cluster = pgcluster.get(qlab.lab_dir)
    assert cluster is not None
    for db in ("nohypo", "plain"):
        cluster.execute(cluster.writer(), f"CREATE DATABASE {db}")
    _load_table(writer_dsn(qlab, "nohypo"), ("pg_stat_statements",))
    _load_table(writer_dsn(qlab, "plain"), ())
    policy = Policy(stats_min_age_s=0, min_statement_calls=50)
    report = run_audit(writer_dsn(qlab, "nohypo"), policy, 10, Journal("query-audit", "t", "lab", echo=False), "nohypo")
    found = {c.id: c for c in report.checks}
    assert found["QUERY-MISSING-INDEXES"].status == "unknown" and "hypopg is not created in database nohypo" in found["QUERY-MISSING-INDEXES"].detail
    assert found["QUERY-INDEX-UTILIZATION"].status == "fail"  # every scan of events is sequential: measured all the same
    assert any("Seq Scan on events" in line for a in report.details["advice"] for line in a["plan_before"])
    report = run_audit(writer_dsn(qlab, "plain"), policy, 10, Journal("query-audit", "t", "lab", echo=False), "plain")
    found = {c.id: c for c in report.checks}
    assert report.status == "inconclusive"
    assert "pg_stat_statements is not created in database plain" in found["QUERY-STATS-WINDOW"].detail


def test_reader_endpoint_runs_the_workload_on_a_replica(qlab: Cli, control: dict[str, Any]) -> None:
    def calls_on_writer() -> int:
        cluster = pgcluster.get(qlab.lab_dir)
        return cluster.query(cluster.writer(), "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements "  # type: ignore[union-attr]
                                               "WHERE query LIKE %s", ("%FROM orders.customers WHERE id = $1%",))[0][0]

    writer_calls = calls_on_writer()
    report = run_json(qlab, "drill", "latency", "localpg:lab-pg", "--workload", WORKLOAD, "--endpoint", "reader",
                      "--rate", "25", "--time", "3", "--clients", "2", "--p95-ms", "1000", expect=0)
    # Where the workload ran is the point here, not its latency (a busy machine's p95 passes 10 ms).
    assert "reader" in report["details"]["endpoint"] and report["measurements"]["transactions"] >= 50
    assert calls_on_writer() == writer_calls  # not one of them reached the writer
    audit = run_json(qlab, "query", "audit", "localpg:lab-pg", "--reader", "--stats-min-age", "0", expect=0)
    assert audit["details"]["reader"] is True
    customers = next(s for s in audit["details"]["statements"] if "FROM orders.customers WHERE id = $1" in s["text"])
    assert customers["calls"] >= report["measurements"]["transactions"]


def test_runbooks_render_the_query_objectives_live(qlab: Cli, control: dict[str, Any]) -> None:
    for name in ("slow-queries", "index-bloat"):
        result = qlab("runbook", "show", name, "--target", "localpg:lab-pg")
        assert result.exit_code == 0, result.output
        writer = pgcluster.get(qlab.lab_dir).entry["writer"]  # type: ignore[union-attr]
        assert f"| writer | {writer} (127.0.0.1:" in result.stdout
        assert "dbops query audit localpg:lab-pg --env lab" in result.stdout
        assert "90 %" in result.stdout and "10000 rows" in result.stdout
    slow = qlab("runbook", "show", "slow-queries", "--target", "localpg:lab-pg").stdout
    assert "p95 ≤ 10.0 ms indexed, ≤ 50.0 ms in general" in slow and "younger than 1.0 s" in slow
