"""Only "measured and met" is a pass: the status set, its exit codes, metrics and the weekly order."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ops import report
from ops.aws import Aws
from ops.metrics import publish
from tests.conftest import REPO


def journal(*checks: tuple[str, str], required: tuple[str, ...] = ("A", "B")) -> report.Journal:
    j = report.Journal("failover", "localpg:lab-pg", "lab", echo=None)
    j.require(*required)
    for cid, status in checks:
        j.check(cid, status, f"detail of {cid}")
    return j


def test_an_unknown_objective_is_inconclusive_never_pass() -> None:
    r = journal(("A", "pass"), ("B", "unknown")).finish()
    assert r.status == "inconclusive" and r.exit_code == 4
    assert r.details["inconclusive_because"] == ["B: detail of B"]


def test_an_objective_never_judged_is_inconclusive() -> None:
    assert journal(("A", "pass")).finish().status == "inconclusive"


def test_no_checks_at_all_is_inconclusive() -> None:
    assert journal(required=()).finish().status == "inconclusive"


def test_optional_unknown_and_warn_may_pass() -> None:
    assert journal(("A", "pass"), ("B", "warn"), ("PRE-LAG", "unknown")).finish().status == "pass"


def test_fail_and_error_outrank_inconclusive() -> None:
    assert journal(("A", "fail"), ("B", "unknown")).finish().status == "fail"
    assert journal(("A", "error"), ("B", "unknown")).finish().status == "error"


def test_worst_orders_inconclusive_between_pass_and_fail() -> None:
    assert report.worst(["pass", "inconclusive"]) == "inconclusive"
    assert report.worst(["inconclusive", "fail"]) == "fail"
    assert report.worst(["fail", "error", "aborted"]) == "aborted"


def test_junit_marks_an_unmeasured_objective_as_an_error_not_skipped() -> None:
    suite = ET.fromstring(report.render_junit(journal(("A", "pass"), ("B", "unknown"), ("X", "unknown")).finish()))
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["B"].find("error").get("type") == "inconclusive"  # type: ignore[union-attr]
    assert cases["X"].find("skipped") is not None  # an optional unknown stays skipped
    missing = ET.fromstring(report.render_junit(journal(("A", "pass")).finish()))
    assert any(c.get("name") == "B" and c.find("error") is not None for c in missing.findall("testcase"))


def sent_metrics(r: report.Report) -> dict[str, float]:
    cw = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cw)
    stub.add_response("put_metric_data", {}, {"Namespace": "dbops", "MetricData": ANY})
    aws = Aws(region="us-east-1")
    aws.client = lambda service, region=None: cw  # type: ignore[method-assign]
    with stub:
        captured: list[dict] = []
        cw.meta.events.register("before-parameter-build.cloudwatch.PutMetricData", lambda params, **_: captured.append(params))
        publish(aws, r)
    return {f"{d['MetricName']}/{','.join(x['Name'] for x in d['Dimensions'])}": d["Value"] for d in captured[0]["MetricData"]}


@pytest.mark.parametrize("checks, failed, runs, inconclusive", [
    ((("A", "pass"), ("B", "pass")), 0.0, 1.0, 0.0),
    ((("A", "pass"), ("B", "fail")), 1.0, 1.0, 0.0),
    ((("A", "pass"), ("B", "unknown")), 0.0, 0.0, 1.0),
])
def test_an_inconclusive_drill_is_never_counted_as_a_successful_run(checks, failed, runs, inconclusive) -> None:  # type: ignore[no-untyped-def]
    sent = sent_metrics(journal(*checks).finish())
    assert sent["DrillFailed/Env"] == failed
    assert sent["DrillRuns/Env,Kind"] == runs, "the missed-drill alarm counts only runs that reached a verdict"
    assert sent["DrillInconclusive/Env"] == inconclusive


@pytest.mark.parametrize("kind", ["backup", "cost", "connections", "throughput"])
def test_a_check_that_is_no_recovery_drill_never_counts_as_a_drill_run(kind: str) -> None:
    """A passing backup check must not keep the missed-failover alarm quiet."""
    j = report.Journal(kind, "aurora:db", "prod", echo=None)
    j.check("A", "pass", "measured")
    sent = sent_metrics(j.finish())
    assert not [k for k in sent if k.startswith("DrillRuns")], sent
    assert sent["DrillFailed/Env"] == 0.0


@pytest.mark.parametrize("codes, worst", [
    ((0, 0, 0, 0), 0), ((0, 4, 0, 0), 4), ((4, 1, 0, 0), 1), ((1, 4, 2, 0), 2), ((2, 3, 4, 1), 3), ((0, 0, 0, 7), 7),
])
def test_drill_weekly_exits_with_the_worst_code_in_severity_order(tmp_path: Path, codes: tuple[int, ...], worst: int) -> None:
    fake = tmp_path / "dbops"
    steps = {"failover": codes[0], "restore": codes[1], "verify": codes[2], "check": codes[3]}
    fake.write_text("#!/usr/bin/env bash\ncase \"$2\" in\n" + "".join(f"  {k}) exit {v} ;;\n" for k, v in steps.items()) + "esac\n")
    fake.chmod(0o755)
    proc = subprocess.run([str(REPO / "scripts" / "drill-weekly"), "lab"], env={"DBOPS": str(fake), "JUNIT_DIR": str(tmp_path / "j"),
                                                                                "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == worst, proc.stdout


def test_a_null_replay_lag_is_zero_only_when_the_replica_has_replayed_everything() -> None:
    from ops.lab.pg.pgservers import lag_seconds

    assert lag_seconds(None, 0) == 0.0
    assert lag_seconds(None, 8192) is None, "behind but not reporting: unknown, not 0"
    assert lag_seconds(None, None) is None
    assert lag_seconds(2.5, 8192) == 2.5


def test_each_measurement_is_published_with_its_unit() -> None:
    cw = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cw)
    stub.add_response("put_metric_data", {}, {"Namespace": "dbops", "MetricData": ANY})
    aws = Aws(region="us-east-1")
    aws.client = lambda service, region=None: cw  # type: ignore[method-assign]
    j = report.Journal("connections", "localpg:lab-pg", "lab", echo=None)
    for name, value in (("setup_p95_ms", 12.5), ("client_write_downtime_s", 0.4), ("pool_utilization", 0.9),
                        ("unused_index_bytes", 8192), ("cost_usd", 0.02), ("tps", 50.0), ("lost_writes", 0),
                        ("offered_writes_per_second", 9.5), ("wal_bytes_during_workload", 4096), ("best_p95_gain", 0.6)):
        j.measure(name, value)
    j.check("A", "pass", "measured")
    captured: list[dict] = []
    cw.meta.events.register("before-parameter-build.cloudwatch.PutMetricData", lambda params, **_: captured.append(params))
    with stub:
        publish(aws, j.finish())
    units = {d["MetricName"]: d["Unit"] for d in captured[0]["MetricData"] if len(d["Dimensions"]) == 2}
    assert units == {"setup_p95_ms": "Milliseconds", "DrillRTOSeconds": "Seconds", "pool_utilization": "None",
                     "unused_index_bytes": "Bytes", "cost_usd": "None", "tps": "Count/Second", "LostWrites": "Count",
                     "offered_writes_per_second": "Count/Second", "wal_bytes_during_workload": "Bytes", "best_p95_gain": "None",
                     "DrillFailed": "Count"}
