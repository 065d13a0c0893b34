"""Listings read as the API reference defines them: every page, and the types asked for by name.

botocore's Stubber answers with more than one page, which the lab's small estate never needs; each
negative control reads only the first page, as the code did before, and misses what the next one holds.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from ops.aws import paged
from ops.checks import collect
from ops.cost.cache import CeCache
from ops.cost.check import CostOptions, CostSources, _anomalies, _budget_agreement
from ops.live import newest_snapshot_time
from ops.report import Journal
from ops.targets.dynamodb import _alarm_tables

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
NOW = datetime.now(timezone.utc)
OPTS = CostOptions(budget_usd=80, storage_budget_usd=20, month=date(2026, 11, 1), today=date(2026, 11, 21), budget_name="dbops-lab")


def client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_table_tags_are_read_past_the_first_page() -> None:
    ddb = client("dynamodb")
    stub = Stubber(ddb)
    stub.add_response("list_tags_of_resource", {"Tags": [{"Key": "team", "Value": "a"}], "NextToken": "t1"}, {"ResourceArn": ARN})
    stub.add_response("list_tags_of_resource", {"Tags": [{"Key": "backup", "Value": "dbops"}]}, {"ResourceArn": ARN, "NextToken": "t1"})
    with stub:
        tags = paged(ddb, "list_tags_of_resource", "Tags", ResourceArn=ARN)
    assert {t["Key"] for t in tags} == {"team", "backup"}
    stub.add_response("list_tags_of_resource", {"Tags": [{"Key": "team", "Value": "a"}], "NextToken": "t1"}, {"ResourceArn": ARN})
    with stub:
        first_page_only = ddb.list_tags_of_resource(ResourceArn=ARN)["Tags"]
    assert "backup" not in {t["Key"] for t in first_page_only}, "the selection's tag is on the second page"


def test_table_backups_asks_for_every_type_and_lists_each_backup_once() -> None:
    ddb = client("dynamodb")
    stub = Stubber(ddb)
    user = {"BackupArn": f"{ARN}/backup/1", "BackupType": "USER", "BackupStatus": "AVAILABLE", "BackupCreationDateTime": NOW}
    aws_backup = {"BackupArn": f"{ARN}/backup/2", "BackupType": "AWS_BACKUP", "BackupStatus": "AVAILABLE",
                  "BackupCreationDateTime": NOW}
    # ALL may or may not carry AWS_BACKUP backups; either way each is listed once.
    stub.add_response("list_backups", {"BackupSummaries": [user, aws_backup]}, {"TableName": "orders", "BackupType": "ALL"})
    stub.add_response("list_backups", {"BackupSummaries": [aws_backup]}, {"TableName": "orders", "BackupType": "AWS_BACKUP"})
    with stub:
        listed = collect.table_backups(ddb, "orders")
    stub.assert_no_pending_responses()
    assert sorted(b["BackupType"] for b in listed) == ["AWS_BACKUP", "USER"]


def test_the_newest_cluster_snapshot_may_be_on_a_later_page() -> None:
    rds = client("rds")
    stub = Stubber(rds)
    old = [{"DBClusterSnapshotIdentifier": f"rds:c-{i}", "SnapshotCreateTime": NOW - timedelta(days=30 - i)} for i in range(3)]
    newest = {"DBClusterSnapshotIdentifier": "manual-today", "SnapshotCreateTime": NOW - timedelta(hours=1)}
    stub.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": old, "Marker": "m1"}, {"DBClusterIdentifier": "c"})
    stub.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": [newest]}, {"DBClusterIdentifier": "c", "Marker": "m1"})
    with stub:
        assert newest_snapshot_time(rds, "c") == newest["SnapshotCreateTime"]
    stub.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": old, "Marker": "m1"}, {"DBClusterIdentifier": "c"})
    with stub:
        first_page = rds.describe_db_cluster_snapshots(DBClusterIdentifier="c")["DBClusterSnapshots"]
    assert max(s["SnapshotCreateTime"] for s in first_page) < newest["SnapshotCreateTime"]


def anomaly(service: str, impact: float) -> dict[str, Any]:
    return {"AnomalyId": f"a-{service}", "AnomalyScore": {"MaxScore": 1.0, "CurrentScore": 1.0},
            "Impact": {"MaxImpact": impact, "TotalImpact": impact}, "MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m",
            "RootCauses": [{"Service": service}]}


def test_anomalies_are_read_past_the_first_page_and_each_page_is_a_paid_request(tmp_path: Any) -> None:
    ce = client("ce")
    stub = Stubber(ce)
    window = {"DateInterval": {"StartDate": (OPTS.today - timedelta(days=30)).isoformat(), "EndDate": OPTS.today.isoformat()}}
    stub.add_response("get_anomaly_monitors", {"AnomalyMonitors": [{"MonitorName": "a", "MonitorType": "DIMENSIONAL", "MonitorDimension": "SERVICE",
                                                                     "CreationDate": "2020-01-01"}],
                                               "NextPageToken": "m2"}, {})
    stub.add_response("get_anomaly_monitors", {"AnomalyMonitors": [{"MonitorName": "b", "MonitorType": "CUSTOM"}]},
                      {"NextPageToken": "m2"})
    stub.add_response("get_anomalies", {"Anomalies": [anomaly("Amazon Simple Storage Service", 3.0)], "NextPageToken": "p2"}, window)
    stub.add_response("get_anomalies", {"Anomalies": [anomaly("Amazon DynamoDB", 8.0)]}, dict(window, NextPageToken="p2"))
    journal = Journal("cost", "estate:lab", "lab", echo=None)
    cache = CeCache(tmp_path, None, 3600)
    opts = replace(OPTS, services=("Amazon DynamoDB",))
    with stub:
        _anomalies(CostSources(None, None, anomalies=ce), cache, opts, journal)
    stub.assert_no_pending_responses()
    (check,) = journal.checks
    assert check.status == "warn" and "1 anomaly" in check.detail and "Amazon DynamoDB" in check.detail
    assert cache.paid_requests == 4  # two pages of monitors, two of anomalies
    assert journal.details["anomaly_monitors"] == ["a", "b"]


def budget(name: str) -> dict[str, Any]:
    return {"BudgetName": name, "BudgetLimit": {"Amount": "80.0", "Unit": "USD"}, "TimeUnit": "MONTHLY", "BudgetType": "COST",
            "CalculatedSpend": {"ActualSpend": {"Amount": "40.0", "Unit": "USD"}}}


def test_the_estates_budget_is_found_past_the_first_page_of_budgets() -> None:
    budgets = client("budgets")
    stub = Stubber(budgets)
    stub.add_response("describe_budgets", {"Budgets": [budget("other-team")], "NextToken": "n2"}, {"AccountId": "123456789012"})
    stub.add_response("describe_budgets", {"Budgets": [budget("dbops-lab")]}, {"AccountId": "123456789012", "NextToken": "n2"})
    journal = Journal("cost", "estate:lab", "lab", echo=None)
    with stub:
        _budget_agreement(CostSources(None, None, None, budgets=budgets, account_id="123456789012"), OPTS, 60.0, 40.0, journal)
    (check,) = journal.checks
    assert check.status == "pass" and "agree" in check.detail, check


def test_a_metric_math_alarm_on_a_table_counts_as_watching_it() -> None:
    plain = {"AlarmName": "a", "Dimensions": [{"Name": "TableName", "Value": "orders"}]}
    math = {"AlarmName": "b", "Metrics": [{"Id": "e1", "Expression": "m1*2"}, {"Id": "m1", "MetricStat": {
        "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": "ThrottledRequests",
                   "Dimensions": [{"Name": "TableName", "Value": "orders"}]}, "Period": 60, "Stat": "Sum"}}]}
    other = {"AlarmName": "c", "Dimensions": [{"Name": "TableName", "Value": "sessions"}]}
    assert [a["AlarmName"] for a in (plain, math, other) if "orders" in _alarm_tables(a)] == ["a", "b"]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def backup_summary(i: int) -> dict[str, Any]:
    return {"BackupArn": f"{ARN}/backup/0163{i:010d}-{i:08x}", "BackupName": f"backup-{i}", "BackupType": "USER",
            "BackupStatus": "AVAILABLE", "BackupCreationDateTime": NOW, "TableName": "orders"}


def called_at(ddb: Any, fake: FakeTime) -> list[float]:
    """When each ListBackups request left, on the fake clock (botocore's own event, independent of the pacer)."""
    times: list[float] = []
    ddb.meta.events.register("before-parameter-build.dynamodb.ListBackups", lambda **_: times.append(fake.now))
    return times


def stub_pages(stub: Stubber, kind: str, pages: int, first: int) -> None:
    for n in range(pages):
        params: dict[str, Any] = {"TableName": "orders", "BackupType": kind}
        if n:
            params["ExclusiveStartBackupArn"] = backup_summary(first + n - 1)["BackupArn"]
        page: dict[str, Any] = {"BackupSummaries": [backup_summary(first + n)]}
        if n < pages - 1:
            page["LastEvaluatedBackupArn"] = backup_summary(first + n)["BackupArn"]
        stub.add_response("list_backups", page, params)


@pytest.mark.parametrize("interval_s", [collect.LIST_BACKUPS_INTERVAL_S, 0.0])
def test_list_backups_pages_stay_under_five_requests_a_second(interval_s: float) -> None:
    ddb = client("dynamodb")
    stub = Stubber(ddb)
    stub_pages(stub, "ALL", 7, 0)
    stub_pages(stub, "AWS_BACKUP", 2, 100)
    fake = FakeTime()
    times = called_at(ddb, fake)
    with stub:
        listed = collect.table_backups(ddb, "orders", pace=collect.Pacer(interval_s, fake.clock, fake.sleep))
    stub.assert_no_pending_responses()
    assert len(listed) == 9 and len(times) == 9  # every page of both types, each backup once
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    if interval_s:
        assert busiest <= 4, times  # 5 a second is the account's limit: headroom for other callers
    else:  # negative control: unpaced, as a plain paginator sends them, all nine leave in the same instant
        assert busiest == 9


@pytest.mark.parametrize("throttled, ok", [(2, True), (collect.LIMIT_RETRIES + 1, False)])
def test_list_backups_waits_out_the_accounts_rate_limit_a_bounded_number_of_times(throttled: int, ok: bool) -> None:
    ddb = client("dynamodb")
    stub = Stubber(ddb)
    for _ in range(throttled):
        stub.add_client_error("list_backups", "LimitExceededException", "Too many requests to ListBackups", 400)
    if ok:
        stub_pages(stub, "ALL", 1, 0)
        stub_pages(stub, "AWS_BACKUP", 1, 100)
    fake = FakeTime()
    with stub:
        if ok:
            assert len(collect.table_backups(ddb, "orders", pace=collect.Pacer(0.25, fake.clock, fake.sleep))) == 2
        else:  # negative control: still limited after the last retry, the read fails (an error finding, never "no backups")
            with pytest.raises(botocore.exceptions.ClientError, match="LimitExceededException"):
                collect.table_backups(ddb, "orders", pace=collect.Pacer(0.25, fake.clock, fake.sleep))
    backoff = [s for s in fake.slept if s >= 0.5]
    assert backoff == [0.5 * 2 ** i for i in range(min(throttled, collect.LIMIT_RETRIES))]
