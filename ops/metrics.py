"""Publish a report's measurements to CloudWatch (namespace dbops)."""

from __future__ import annotations

from ops.aws import Aws
from ops.report import Report
from ops.permissions import declare, need

NAMESPACE = "dbops"

# --publish-metrics: the measurements, into dbops' own namespace only.
CALLS = declare("metrics.publish", need("cloudwatch:PutMetricData", on="*", when="dbops-namespace"))
# Names the monitoring module's alarms and dashboards expect.
METRIC_NAMES = {
    "client_write_downtime_s": "DrillRTOSeconds",
    "lost_writes": "LostWrites",
    "api_failover_s": "ApiFailoverSeconds",
    "restore_duration_s": "RestoreDurationSeconds",
    "rpo_s": "RPOSeconds",
    "failed_backup_findings": "FailedBackupFindings",
}

RECOVERY_DRILLS = ("failover", "restore")  # the drills the missed-drill alarms watch, one alarm per kind


# CloudWatch units by a measurement's name: its suffix says what it counts. Ratios and money have no
# CloudWatch unit ("None"); a figure without a known suffix is a count.
UNITS_BY_SUFFIX = (("_ms", "Milliseconds"), ("_per_second", "Count/Second"), ("_s", "Seconds"), ("_bytes", "Bytes"),
                   ("_usd", "None"), ("_rcu", "Count/Second"), ("_wcu", "Count/Second"), ("_gain", "None"),
                   ("_utilization", "None"))
RATIOS = {"pool_utilization", "index_utilization", "best_index_gain"}
RATES = {"tps"}


def unit_of(name: str) -> str:
    if name in RATIOS:
        return "None"
    if name in RATES:
        return "Count/Second"
    if "_bytes_" in name:  # wal_bytes_during_workload
        return "Bytes"
    return next((unit for suffix, unit in UNITS_BY_SUFFIX if name.endswith(suffix)), "Count")


def publish(aws: Aws, report: Report) -> int:
    """Put every measured value; a value that was not measured is not sent. Returns the count."""
    dims = [{"Name": "Target", "Value": report.target}, {"Name": "Env", "Value": report.env}]
    data = [
        {"MetricName": METRIC_NAMES.get(name, name), "Dimensions": dims, "Value": float(value), "Unit": unit_of(name)}
        for name, value in report.measurements.items() if value is not None
    ]
    # DrillFailed: a missed objective, a run that could not run, or an interrupted one.
    # DrillRuns counts only recovery drills that reached a verdict (pass or fail), per kind: an
    # inconclusive failover measured nothing, and a backup check or cost check is no failover,
    # so neither keeps the monitoring module's missed-drill alarm of that kind quiet.
    failed = 1.0 if report.status in ("fail", "error", "aborted") else 0.0
    concluded = 1.0 if report.status in ("pass", "fail") else 0.0
    inconclusive = 1.0 if report.status == "inconclusive" else 0.0
    env_only = [{"Name": "Env", "Value": report.env}]
    # Per env as well: the monitoring module alarms on a failed or a missing weekly drill.
    data += [
        {"MetricName": "DrillFailed", "Dimensions": dims, "Value": failed, "Unit": "Count"},
        {"MetricName": "DrillFailed", "Dimensions": env_only, "Value": failed, "Unit": "Count"},
        {"MetricName": "DrillInconclusive", "Dimensions": env_only, "Value": inconclusive, "Unit": "Count"},
    ]
    if report.kind in RECOVERY_DRILLS:
        data.append({"MetricName": "DrillRuns", "Dimensions": env_only + [{"Name": "Kind", "Value": report.kind}],
                     "Value": concluded, "Unit": "Count"})
    cw = aws.client("cloudwatch")
    for i in range(0, len(data), 20):
        cw.put_metric_data(Namespace=NAMESPACE, MetricData=data[i : i + 20])
    return len(data)
