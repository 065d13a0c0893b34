"""The lab's Cost Explorer and Budgets, through boto3, against an estate built with boto3 in a lab
emulator (ops.lab.aws.emulator_server, without Aurora's backing servers: what is billed is what the
RDS API holds).

Expected amounts are written out from the price list (ops/cost/prices.json) and the usage
assumptions (ops/cost/usage.toml) by hand, not computed with the lab's own code.
"""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ops import config as config_mod
from ops.lab.aws import settings
from ops.lab.process import free_port
from ops.proc import port_open
from tests.conftest import REPO, Cli, traversable_tmpdir, write_config

RDS, DDB, KMS, CW, SM, BK = ("Amazon Relational Database Service", "Amazon DynamoDB", "AWS Key Management Service",
                             "AmazonCloudWatch", "AWS Secrets Manager", "AWS Backup")
ACCOUNT = "123456789012"
ESTATE_TAGS = [{"Key": "managed-by", "Value": "dbops"}, {"Key": "env", "Value": "lab"}]

# Whole-day amounts of the estate below, by hand from the catalog and the usage assumptions.
INSTANCE_DAY = 2 * 0.082 * 24                      # two db.t3.medium
PROVISIONED_DAY = (5 + 2) * 0.00065 * 24 + (5 + 2) * 0.00013 * 24  # table "ledger" + its GSI, WCU and RCU
MONTHLY = {                                        # USD a month, spread over the days of the month
    (RDS, "Aurora:StorageUsage"): 20 * 0.10,
    (RDS, "Aurora:StorageIOUsage"): 5 * 0.20,
    (DDB, "TimedStorage-ByteHrs"): 5 * 0.25 + 1 * 0.25,   # orders (5 GB) + ledger (1 GB)
    (DDB, "WriteRequestUnits"): 10 * 0.625,               # orders: 10 M writes
    (DDB, "ReadRequestUnits"): 40 * 0.125,                # orders: 40 M reads
    (DDB, "TimedPITRStorage-ByteHrs"): 5 * 0.20,          # orders has PITR
    (KMS, "us-east-1-KMS-Keys"): 1.00,
    (CW, "CW:AlarmMonitorUsage"): 0.10,
    (SM, "AWSSecretsManager-Secrets"): 0.40,
    (BK, "WarmStorage-ByteHrs"): 10 * 0.10,
}
HOURLY_DAY = {(RDS, "InstanceUsage:db.t3.medium"): INSTANCE_DAY,
              (DDB, "WriteCapacityUnit-Hrs"): 7 * 0.00065 * 24, (DDB, "ReadCapacityUnit-Hrs"): 7 * 0.00013 * 24}
SCRATCH_MONTHLY = 1 * 0.25 + 1 * 0.625 + 5 * 0.125     # the untagged on-demand table: default assumptions


def days_in(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def day_amounts(day: date) -> dict[tuple[str, str], float]:
    """What a whole day of the estate costs, by service and usage type."""
    return {**{k: v / days_in(day) for k, v in MONTHLY.items()}, **HOURLY_DAY}


def first_of(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def start_emulator(log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DBOPS_LAB_DIR"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ops.lab.aws.emulator_server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO, env=env)
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"emulator did not start; see {log}")
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


class Lab:
    def __init__(self, url: str) -> None:
        self.url = url

    def client(self, service: str, validate: bool = True):  # type: ignore[no-untyped-def]
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.url, aws_access_key_id="testing",
                            aws_secret_access_key="testing", config=Config(parameter_validation=validate,
                                                                             retries={"max_attempts": 1, "mode": "standard"}))

    @contextmanager
    def settings(self, **values: Any) -> Iterator[None]:
        before = {k: v["value"] for k, v in settings.remote(self.url).items() if k in values}
        settings.remote(self.url, values)
        try:
            yield
        finally:
            settings.remote(self.url, before)

    def usage(self, start: date, end: date, granularity: str = "MONTHLY", **extra: Any) -> list[dict]:
        """Every page of a GetCostAndUsage answer grouped by SERVICE and USAGE_TYPE."""
        ce = self.client("ce")
        params = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}, "Granularity": granularity,
                  "Metrics": ["UnblendedCost", "UsageQuantity"],
                  "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}], **extra}
        pages, token = [], None
        while True:
            page = ce.get_cost_and_usage(**params, **({"NextPageToken": token} if token else {}))
            pages.append(page)
            token = page.get("NextPageToken")
            if not token:
                return pages

    def amounts(self, start: date, end: date, **extra: Any) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for page in self.usage(start, end, **extra):
            for period in page["ResultsByTime"]:
                for g in period["Groups"]:
                    key = tuple(g["Keys"])
                    out[key] = out.get(key, 0.0) + float(g["Metrics"]["UnblendedCost"]["Amount"])  # type: ignore[index]
        return out


@pytest.fixture(scope="module")
def celab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    proc, url = start_emulator(tmp_path_factory.mktemp("ce-emulator") / "emulator.log")
    celab = Lab(url)
    try:
        build_estate(celab)
        yield celab
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def build_estate(celab: Lab) -> None:
    rds = celab.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="cx-aurora", Engine="aurora-postgresql", MasterUsername="dbops",
                          MasterUserPassword="not-a-secret-1", Tags=ESTATE_TAGS)
    for n in (1, 2):
        rds.create_db_instance(DBInstanceIdentifier=f"cx-aurora-{n}", DBClusterIdentifier="cx-aurora", Engine="aurora-postgresql",
                               DBInstanceClass="db.t3.medium", Tags=ESTATE_TAGS)
    ddb = celab.client("dynamodb")
    key = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
    ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST", Tags=ESTATE_TAGS, **key)
    ddb.update_continuous_backups(TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.create_table(TableName="ledger", BillingMode="PROVISIONED", Tags=ESTATE_TAGS,
                     ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
                     GlobalSecondaryIndexes=[{"IndexName": "by-day", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                              "Projection": {"ProjectionType": "ALL"},
                                              "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2}}], **key)
    # Made today and not tagged as the estate: billed from its creation, so no whole day yet.
    ddb.create_table(TableName="scratch", BillingMode="PAY_PER_REQUEST", **key)
    kms = celab.client("kms")
    kms.create_key(Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in ESTATE_TAGS])
    celab.client("cloudwatch").put_metric_alarm(AlarmName="cx-cpu", MetricName="CPUUtilization", Namespace="AWS/RDS", Statistic="Average",
                                              Period=60, EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold",
                                              Tags=ESTATE_TAGS)
    celab.client("secretsmanager").create_secret(Name="cx-aurora/master", SecretString="{}", Tags=ESTATE_TAGS)
    celab.client("backup").create_backup_vault(BackupVaultName="cx-vault", BackupVaultTags={t["Key"]: t["Value"] for t in ESTATE_TAGS})
    logs = celab.client("logs")
    logs.create_log_group(logGroupName="/cx/postgresql", tags={t["Key"]: t["Value"] for t in ESTATE_TAGS})
    logs.create_log_stream(logGroupName="/cx/postgresql", logStreamName="writer")
    logs.put_log_events(logGroupName="/cx/postgresql", logStreamName="writer",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "checkpoint complete"}])


def mtd_window(today: date) -> tuple[date, date]:
    """Month to date, or on the first of a month the whole last month."""
    return (first_of(today), today) if today.day > 1 else (previous_month(today), today)


def expected_over(start: date, end: date) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    day = start
    while day < end:
        for k, v in day_amounts(day).items():
            out[k] = out.get(k, 0.0) + v
        day += timedelta(days=1)
    return out


def forecast_over(start: date, end: date) -> float:
    """What a forecast from today adds up to: the estate and the untagged table, billed now, for every day."""
    total, day = 0.0, start
    while day < end:
        total += sum(day_amounts(day).values()) + SCRATCH_MONTHLY / days_in(day)
        day += timedelta(days=1)
    return total


def test_month_to_date_prices_every_whole_day_of_the_estate(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    start, end = mtd_window(today)
    got = celab.amounts(start, end)
    expected = expected_over(start, end)
    logs = {k: v for k, v in got.items() if k[0] == CW and k[1] != "CW:AlarmMonitorUsage"}
    assert all(v < 1e-6 for v in logs.values())  # a few bytes of log stored: billed, but not a cent
    assert {k: round(v, 6) for k, v in got.items() if k not in logs} == {k: round(v, 6) for k, v in expected.items()}
    # The untagged table made today has no whole day yet; billed from its creation it would add its share.
    with celab.settings(cost_history_tag=""):
        everything = celab.amounts(start, end)
    extra = everything[(DDB, "WriteRequestUnits")] - got[(DDB, "WriteRequestUnits")]
    assert extra == pytest.approx(0.625 * (end - start).days / days_in(start), rel=1e-6)
    assert sum(everything.values()) - sum(got.values()) == pytest.approx(SCRATCH_MONTHLY * (end - start).days / days_in(start), rel=1e-6)


def test_the_estate_is_billed_from_its_backdated_start_only(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    created = celab.client("rds").describe_db_instances(DBInstanceIdentifier="cx-aurora-1")["DBInstances"][0]["InstanceCreateTime"]
    begin = created.astimezone(timezone.utc) - timedelta(days=62)
    first_day = begin.date()
    pages = celab.usage(first_day - timedelta(days=2), first_day + timedelta(days=2), granularity="DAILY",
                      Filter={"Dimensions": {"Key": "USAGE_TYPE", "Values": ["InstanceUsage:db.t3.medium"]}})
    by_day = {p["TimePeriod"]["Start"]: sum(float(g["Metrics"]["UnblendedCost"]["Amount"]) for g in p["Groups"])
              for page in pages for p in page["ResultsByTime"]}
    assert by_day[(first_day - timedelta(days=2)).isoformat()] == 0
    assert by_day[(first_day - timedelta(days=1)).isoformat()] == 0
    share = 1 - (begin - datetime.combine(first_day, datetime.min.time(), tzinfo=timezone.utc)).total_seconds() / 86400
    assert by_day[first_day.isoformat()] == pytest.approx(INSTANCE_DAY * share, rel=1e-3)  # from the hour it was made
    assert by_day[(first_day + timedelta(days=1)).isoformat()] == pytest.approx(INSTANCE_DAY)
    # Less history: the first billed day moves with the setting.
    with celab.settings(cost_history_days=3):
        before = celab.amounts(today - timedelta(days=10), today - timedelta(days=4))
        recent = celab.amounts(today - timedelta(days=2), today)
    assert before == {}
    assert recent[(RDS, "InstanceUsage:db.t3.medium")] == pytest.approx(2 * INSTANCE_DAY)


def test_today_has_no_cost_yet_and_the_current_month_is_estimated(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    pages = celab.usage(today, today + timedelta(days=1), granularity="DAILY")
    assert pages[0]["ResultsByTime"][0]["Groups"] == [] and pages[0]["ResultsByTime"][0]["Estimated"] is True
    periods = [p for page in celab.usage(previous_month(today), today + timedelta(days=1)) for p in page["ResultsByTime"]]
    assert [p["Estimated"] for p in periods] == [False, True]
    assert periods[0]["TimePeriod"] == {"Start": previous_month(today).isoformat(), "End": first_of(today).isoformat()}
    ungrouped = celab.client("ce").get_cost_and_usage(TimePeriod={"Start": previous_month(today).isoformat(), "End": first_of(today).isoformat()},
                                                    Granularity="MONTHLY", Metrics=["UnblendedCost"])
    total = float(ungrouped["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"])
    assert total == pytest.approx(sum(expected_over(previous_month(today), first_of(today)).values()), abs=1e-4)
    assert "GroupDefinitions" not in ungrouped and ungrouped["ResultsByTime"][0]["Groups"] == []


def test_filters_and_groups_by_service_and_tag(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    start, end = mtd_window(today)
    expected = expected_over(start, end)
    ce = celab.client("ce")
    period = {"Start": start.isoformat(), "End": end.isoformat()}
    ddb_lab = {"And": [{"Dimensions": {"Key": "SERVICE", "Values": [DDB]}},
                       {"Tags": {"Key": "env", "Values": ["lab"], "MatchOptions": ["EQUALS"]}}]}
    answer = ce.get_cost_and_usage(TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost"], Filter=ddb_lab)
    ddb_total = sum(v for (s, _), v in expected.items() if s == DDB)
    assert float(answer["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"]) == pytest.approx(ddb_total, rel=1e-6)
    # Not RDS, and a tag nothing carries: the rest, and nothing.
    not_rds = ce.get_cost_and_usage(TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost"],
                                    Filter={"Not": {"Dimensions": {"Key": "SERVICE", "Values": [RDS]}}})
    rest = sum(v for (s, _), v in expected.items() if s != RDS)
    assert float(not_rds["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"]) == pytest.approx(rest, abs=1e-4)
    nobody = ce.get_cost_and_usage(TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost"],
                                   Filter={"Tags": {"Key": "env", "Values": ["prod"]}})
    assert float(nobody["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"]) == 0
    # Grouped by a tag: "env$lab" for the estate, "env$" for what lacks the tag (the untagged table, billed with history for all).
    with celab.settings(cost_history_tag=""):
        by_tag = ce.get_cost_and_usage(TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost", "UsageQuantity"],
                                       GroupBy=[{"Type": "TAG", "Key": "env"}])
        absent = ce.get_cost_and_usage(TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost"],
                                       Filter={"Tags": {"Key": "env", "MatchOptions": ["ABSENT"]}})
    groups = {g["Keys"][0]: g["Metrics"] for g in by_tag["ResultsByTime"][0]["Groups"]}
    assert set(groups) == {"env$lab", "env$"}
    scratch = SCRATCH_MONTHLY * (end - start).days / days_in(start)
    assert float(groups["env$"]["UnblendedCost"]["Amount"]) == pytest.approx(scratch, rel=1e-6)
    assert float(absent["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"]) == pytest.approx(scratch, rel=1e-6)
    assert groups["env$lab"]["UsageQuantity"]["Unit"] == "N/A"  # hours, GB-months and requests do not add up
    assert by_tag["GroupDefinitions"] == [{"Type": "TAG", "Key": "env"}]
    hours = celab.usage(start, end, Filter={"Dimensions": {"Key": "USAGE_TYPE", "Values": ["InstanceUsage:db.t3.medium"]}})
    quantity = hours[0]["ResultsByTime"][0]["Groups"][0]["Metrics"]["UsageQuantity"]
    assert quantity["Unit"] == "Hrs" and float(quantity["Amount"]) == pytest.approx(2 * 24 * (end - start).days)


def test_pages_add_up_to_the_whole_answer_and_tokens_belong_to_their_query(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    start, end = today - timedelta(days=6), today
    whole = celab.usage(start, end, granularity="DAILY")
    assert len(whole) == 1
    with celab.settings(cost_page_size=4):
        pages = celab.usage(start, end, granularity="DAILY")
        assert len(pages) > 3
        merged: dict[tuple[str, str, str], str] = {}
        for page in pages:
            for p in page["ResultsByTime"]:
                for g in p["Groups"]:
                    key = (p["TimePeriod"]["Start"], *g["Keys"])
                    assert key not in merged  # every group on exactly one page
                    merged[key] = g["Metrics"]["UnblendedCost"]["Amount"]
        assert merged == {(p["TimePeriod"]["Start"], *g["Keys"]): g["Metrics"]["UnblendedCost"]["Amount"]
                          for p in whole[0]["ResultsByTime"] for g in p["Groups"]}
        ce = celab.client("ce")
        token = pages[0]["NextPageToken"]
        with pytest.raises(ClientError) as changed:
            ce.get_cost_and_usage(TimePeriod={"Start": start.isoformat(), "End": end.isoformat()}, Granularity="DAILY",
                                  Metrics=["UnblendedCost"], NextPageToken=token)
        assert changed.value.response["Error"]["Code"] == "RequestChangedException"
        with pytest.raises(ClientError) as bad:
            ce.get_cost_and_usage(TimePeriod={"Start": start.isoformat(), "End": end.isoformat()}, Granularity="DAILY",
                                  Metrics=["UnblendedCost"], NextPageToken="not-a-token")
        assert bad.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_forecast_is_the_daily_rate_for_every_day_left(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    ce = celab.client("ce")
    end = next_month(today)
    monthly = ce.get_cost_forecast(TimePeriod={"Start": today.isoformat(), "End": end.isoformat()}, Metric="UNBLENDED_COST",
                                   Granularity="MONTHLY")
    assert float(monthly["Total"]["Amount"]) == pytest.approx(forecast_over(today, end), rel=1e-6)
    assert monthly["Total"]["Unit"] == "USD"
    assert [r["TimePeriod"] for r in monthly["ForecastResultsByTime"]] == [{"Start": today.isoformat(), "End": end.isoformat()}]
    assert "PredictionIntervalLowerBound" not in monthly["ForecastResultsByTime"][0]
    daily = ce.get_cost_forecast(TimePeriod={"Start": today.isoformat(), "End": (today + timedelta(days=3)).isoformat()},
                                 Metric="UNBLENDED_COST", Granularity="DAILY", PredictionIntervalLevel=80,
                                 Filter={"Dimensions": {"Key": "SERVICE", "Values": [RDS]}})
    rows = daily["ForecastResultsByTime"]
    assert len(rows) == 3
    for row in rows:
        day = date.fromisoformat(row["TimePeriod"]["Start"])
        rds_day = sum(v for (s, _), v in day_amounts(day).items() if s == RDS)
        assert float(row["MeanValue"]) == pytest.approx(rds_day, rel=1e-6)
        assert row["PredictionIntervalLowerBound"] == row["PredictionIntervalUpperBound"] == row["MeanValue"]
    # No whole billing cycle of history: Cost Explorer cannot forecast.
    with celab.settings(cost_history_days=0):
        with pytest.raises(ClientError) as unavailable:
            ce.get_cost_forecast(TimePeriod={"Start": today.isoformat(), "End": end.isoformat()}, Metric="UNBLENDED_COST",
                                 Granularity="MONTHLY")
    assert unavailable.value.response["Error"]["Code"] == "DataUnavailableException"
    assert "Insufficient amount of historical data" in unavailable.value.response["Error"]["Message"]


def _period(start: date, end: date) -> dict[str, str]:
    return {"Start": start.isoformat(), "End": end.isoformat()}


TODAY = datetime.now(timezone.utc).date()
USAGE_OK: dict[str, Any] = {"TimePeriod": _period(previous_month(TODAY), TODAY + timedelta(days=1)), "Granularity": "MONTHLY",
                            "Metrics": ["UnblendedCost"]}
FORECAST_OK: dict[str, Any] = {"TimePeriod": _period(TODAY, next_month(TODAY)), "Metric": "UNBLENDED_COST", "Granularity": "MONTHLY"}


@pytest.mark.parametrize("operation, change, code, message", [
    ("get_cost_and_usage", {"TimePeriod": _period(TODAY, TODAY)}, "ValidationException", "Start date (and hour) should be before end date"),
    ("get_cost_and_usage", {"TimePeriod": _period(TODAY, next_month(TODAY) + timedelta(days=1))}, "ValidationException",
     "end date past the beginning of next month"),
    ("get_cost_and_usage", {"TimePeriod": _period(previous_month(TODAY).replace(year=TODAY.year - 2) + timedelta(days=1), TODAY)},
     "ValidationException", "beyond the past 14 months"),
    ("get_cost_and_usage", {"TimePeriod": {"Start": "2026/11/01", "End": "2026-11-02"}}, "ValidationException", "YYYY-MM-DD"),
    ("get_cost_and_usage", {"Metrics": ["Cost"]}, "ValidationException", "Metric 'Cost'"),
    ("get_cost_and_usage", {"Metrics": []}, "ValidationException", "Metrics is required"),
    ("get_cost_and_usage", {"Granularity": "WEEKLY"}, "ValidationException", "Granularity"),
    ("get_cost_and_usage", {"Granularity": "HOURLY"}, "NotImplemented", "HOURLY"),
    ("get_cost_and_usage", {"Metrics": ["NormalizedUsageAmount"]}, "NotImplemented", "NormalizedUsageAmount"),
    ("get_cost_and_usage", {"Filter": {"Dimensions": {"Key": "SERVICE", "Values": [RDS]}, "Tags": {"Key": "env", "Values": ["lab"]}}},
     "ValidationException", "exactly one of"),
    ("get_cost_and_usage", {"Filter": {"Dimensions": {"Key": "COLOUR", "Values": ["red"]}}}, "ValidationException", "not a dimension"),
    ("get_cost_and_usage", {"Filter": {"Dimensions": {"Key": "SERVICE", "Values": [RDS], "MatchOptions": ["STARTS_WITH"]}}},
     "ValidationException", "MatchOptions"),
    ("get_cost_and_usage", {"Filter": {"Dimensions": {"Key": "AZ", "Values": ["us-east-1a"]}}}, "NotImplemented", "AZ"),
    ("get_cost_and_usage", {"Filter": {"CostCategories": {"Key": "team", "Values": ["db"]}}}, "NotImplemented", "CostCategories"),
    ("get_cost_and_usage", {"GroupBy": [{"Type": "DIMENSION", "Key": k} for k in ("SERVICE", "USAGE_TYPE", "REGION")]},
     "ValidationException", "at most two"),
    ("get_cost_and_usage", {"GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}] * 2}, "ValidationException", "twice"),
    ("get_cost_and_usage", {"GroupBy": [{"Type": "DIMENSION", "Key": "OPERATION"}]}, "NotImplemented", "OPERATION"),
    ("get_cost_forecast", {"TimePeriod": _period(TODAY - timedelta(days=1), next_month(TODAY))}, "ValidationException",
     "no later than the current date"),
    ("get_cost_forecast", {"TimePeriod": _period(next_month(TODAY), TODAY + timedelta(days=1))}, "ValidationException",
     f"Requested Start: {next_month(TODAY).isoformat()} must be before requested End"),
    ("get_cost_forecast", {"Granularity": "HOURLY"}, "ValidationException", "only DAILY and MONTHLY"),
    ("get_cost_forecast", {"Metric": "USAGE_QUANTITY"}, "ValidationException", "GetUsageForecast"),
    ("get_cost_forecast", {"PredictionIntervalLevel": 50}, "ValidationException", "51 to 99"),
    ("get_cost_forecast", {"Granularity": "DAILY", "TimePeriod": _period(TODAY, TODAY + timedelta(days=120))},
     "ValidationException", "3 months of DAILY"),
    ("get_anomalies", {"DateInterval": {"EndDate": TODAY.isoformat()}}, "ValidationException", "DateInterval.StartDate"),
    ("get_anomalies", {"DateInterval": {"StartDate": TODAY.isoformat(), "EndDate": (TODAY - timedelta(days=2)).isoformat()}},
     "ValidationException", "after its EndDate"),
    ("get_anomalies", {"TotalImpact": {"NumericOperator": "MORE", "StartValue": 1}}, "ValidationException", "NumericOperator"),
])
def test_bad_input_is_refused_as_the_service_refuses_it(celab: Lab, operation: str, change: dict, code: str, message: str) -> None:
    ce = celab.client("ce", validate=False)
    good = {"get_cost_and_usage": USAGE_OK, "get_cost_forecast": FORECAST_OK,
            "get_anomalies": {"DateInterval": {"StartDate": (TODAY - timedelta(days=30)).isoformat()}}}[operation]
    getattr(ce, operation)(**good)  # the same request without the fault is answered
    with pytest.raises(ClientError) as refused:
        getattr(ce, operation)(**{**good, **change})
    assert refused.value.response["Error"]["Code"] == code
    assert message in refused.value.response["Error"]["Message"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == (501 if code == "NotImplemented" else 400)


def test_overrun_scenario_bills_a_forgotten_instance_from_the_first_of_the_month(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    ce = celab.client("ce")
    fc: dict[str, Any] = {"TimePeriod": _period(today, next_month(today)), "Metric": "UNBLENDED_COST", "Granularity": "MONTHLY"}
    this_month = (lambda: celab.amounts(first_of(today), today)) if today.day > 1 else (lambda: {})
    normal, normal_fc = this_month(), float(ce.get_cost_forecast(**fc)["Total"]["Amount"])
    assert (RDS, "InstanceUsage:db.r6g.xlarge") not in normal
    with celab.settings(cost_scenario="overrun"):
        over, over_fc = this_month(), float(ce.get_cost_forecast(**fc)["Total"]["Amount"])
        last_month = celab.amounts(previous_month(today), first_of(today))
    assert over.get((RDS, "InstanceUsage:db.r6g.xlarge"), 0.0) == pytest.approx(0.519 * 24 * (today.day - 1))
    assert over_fc - normal_fc == pytest.approx(0.519 * 24 * (next_month(today) - today).days)
    assert (RDS, "InstanceUsage:db.r6g.xlarge") not in last_month  # it began this month


def test_anomaly_scenario_reports_yesterdays_burst_and_bills_it(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    yesterday = today - timedelta(days=1)
    ce = celab.client("ce")
    window = {"StartDate": (today - timedelta(days=30)).isoformat(), "EndDate": today.isoformat()}
    assert ce.get_anomalies(DateInterval=window)["Anomalies"] == []  # normal: nothing to report
    before = celab.amounts(yesterday, today)[(DDB, "WriteRequestUnits")]
    with celab.settings(cost_scenario="anomaly"):
        found = ce.get_anomalies(DateInterval=window)["Anomalies"]
        during = celab.amounts(yesterday, today)[(DDB, "WriteRequestUnits")]
        big = ce.get_anomalies(DateInterval=window, TotalImpact={"NumericOperator": "GREATER_THAN", "StartValue": 100})["Anomalies"]
        other_monitor = ce.get_anomalies(DateInterval=window, MonitorArn=f"arn:aws:ce::{ACCOUNT}:anomalymonitor/other")["Anomalies"]
        older = ce.get_anomalies(DateInterval={"StartDate": (today - timedelta(days=30)).isoformat(),
                                               "EndDate": (today - timedelta(days=2)).isoformat()})["Anomalies"]
    assert len(found) == 1
    anomaly = found[0]
    assert anomaly["AnomalyStartDate"] == anomaly["AnomalyEndDate"] == yesterday.isoformat()
    cause = anomaly["RootCauses"][0]
    assert (cause["Service"], cause["UsageType"], cause["LinkedAccount"], cause["Region"]) == (DDB, "WriteRequestUnits", ACCOUNT, "us-east-1")
    assert anomaly["Impact"]["TotalImpact"] == pytest.approx(12.8 * 0.625)
    assert anomaly["Impact"]["TotalExpectedSpend"] == pytest.approx(round(before, 2))
    assert anomaly["Impact"]["TotalActualSpend"] == pytest.approx(round(during, 2), abs=0.011)
    assert during - before == pytest.approx(12.8 * 0.625)  # Cost Explorer bills the burst on its day
    assert anomaly["MonitorArn"] == f"arn:aws:ce::{ACCOUNT}:anomalymonitor/dbops-lab-services"
    assert big == [] and other_monitor == [] and older == []


def test_budgets_calculated_spend_agrees_with_cost_explorer(celab: Lab) -> None:
    today = datetime.now(timezone.utc).date()
    budgets, ce = celab.client("budgets"), celab.client("ce")
    budget = {"BudgetLimit": {"Amount": "200", "Unit": "USD"}, "TimeUnit": "MONTHLY", "BudgetType": "COST"}
    budgets.create_budget(AccountId=ACCOUNT, Budget={"BudgetName": "cx-all", **budget})
    budgets.create_budget(AccountId=ACCOUNT, Budget={"BudgetName": "cx-ddb", "CostFilters": {"Service": [DDB]}, **budget})
    budgets.create_budget(AccountId=ACCOUNT, Budget={"BudgetName": "cx-given", **budget,
                                                     "CalculatedSpend": {"ActualSpend": {"Amount": "7", "Unit": "USD"}}})
    try:
        def ce_month(filter_: dict | None = None) -> tuple[float, float]:
            extra = {"Filter": filter_} if filter_ else {}
            actual = 0.0
            if today.day > 1:
                r = ce.get_cost_and_usage(TimePeriod=_period(first_of(today), today), Granularity="MONTHLY", Metrics=["UnblendedCost"], **extra)
                actual = float(r["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"])
            rest = float(ce.get_cost_forecast(TimePeriod=_period(today, next_month(today)), Metric="UNBLENDED_COST",
                                              Granularity="MONTHLY", **extra)["Total"]["Amount"])
            return actual, actual + rest

        spend = {b["BudgetName"]: b["CalculatedSpend"] for b in budgets.describe_budgets(AccountId=ACCOUNT)["Budgets"]}
        for name, filter_ in (("cx-all", None), ("cx-ddb", {"Dimensions": {"Key": "SERVICE", "Values": [DDB]}})):
            actual, forecast = ce_month(filter_)
            assert float(spend[name]["ActualSpend"]["Amount"]) == pytest.approx(actual, abs=1e-6), name
            assert float(spend[name]["ForecastedSpend"]["Amount"]) == pytest.approx(forecast, abs=1e-6), name
        assert float(spend["cx-all"]["ForecastedSpend"]["Amount"]) > float(spend["cx-ddb"]["ForecastedSpend"]["Amount"]) > 0
        assert spend["cx-given"]["ActualSpend"]["Amount"] == "7"  # a budget's own figures are kept
        one = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="cx-all")["Budget"]["CalculatedSpend"]
        assert one == spend["cx-all"]
        with celab.settings(cost_scenario="overrun"):
            over = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="cx-all")["Budget"]["CalculatedSpend"]
        assert float(over["ForecastedSpend"]["Amount"]) - float(spend["cx-all"]["ForecastedSpend"]["Amount"]) == pytest.approx(
            0.519 * 24 * days_in(today))
        with celab.settings(cost_history_days=0):  # no billing cycle yet: no forecast, as AWS leaves it out
            fresh = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="cx-all")["Budget"]["CalculatedSpend"]
        assert "ForecastedSpend" not in fresh
        budgets.create_budget(AccountId=ACCOUNT, Budget={"BudgetName": "cx-op", "CostFilters": {"Operation": ["Write"]}, **budget})
        with pytest.raises(ClientError) as unknown:
            budgets.describe_budget(AccountId=ACCOUNT, BudgetName="cx-op")
        assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    finally:
        for name in ("cx-all", "cx-ddb", "cx-given", "cx-op"):
            try:
                budgets.delete_budget(AccountId=ACCOUNT, BudgetName=name)
            except ClientError:
                pass


def test_throttle_fault_fails_every_cost_explorer_call(celab: Lab) -> None:
    ce = celab.client("ce")
    with celab.settings(cost_fault="throttle"):
        for call in (lambda: ce.get_cost_and_usage(**USAGE_OK), lambda: ce.get_cost_forecast(**FORECAST_OK),
                     lambda: ce.get_anomalies(DateInterval={"StartDate": TODAY.isoformat()})):
            with pytest.raises(ClientError) as throttled:
                call()
            assert throttled.value.response["Error"]["Code"] == "LimitExceededException"
    assert ce.get_cost_and_usage(**USAGE_OK)["ResultsByTime"]


# --- dbops cost check against this estate --------------------------------------------------------

def lab_budget() -> float:
    """The lab's monthly objective, as the repository's dbops.toml sets it."""
    return config_mod.load(REPO / "dbops.toml", environ={}).for_env("lab").policy.monthly_budget_usd


# This module's estate runs its instance every hour (no schedule): about 80 USD a month, so its objective
# is its own, as an always-on estate's would be.
ESTATE_BUDGET = 200.0


@pytest.fixture(scope="module")
def checker(celab: Lab) -> Iterator[Cli]:
    root = traversable_tmpdir("dbops-ce-check-")
    cli = Cli(write_config(root, extra=f"\n[envs.lab.policy]\nmonthly_budget_usd = {ESTATE_BUDGET}\n", endpoint=celab.url), root / ".lab")
    limit = {"Amount": f"{ESTATE_BUDGET:.2f}", "Unit": "USD"}
    celab.client("budgets").create_budget(AccountId=ACCOUNT, Budget={"BudgetName": "dbops-lab", "BudgetLimit": limit,
                                                                  "TimeUnit": "MONTHLY", "BudgetType": "COST"})
    yield cli
    celab.client("budgets").delete_budget(AccountId=ACCOUNT, BudgetName="dbops-lab")


def check(cli: Cli) -> tuple[int, dict[str, Any], dict[str, str]]:
    result = cli("cost", "check", "--env", "lab", "--no-cache", "--json")
    data = json.loads(result.stdout)
    return result.exit_code, data, {c["id"]: c["status"] for c in data["checks"]}


def test_cost_check_passes_the_normal_month_of_the_lab(celab: Lab, checker: Cli) -> None:
    code, data, checks = check(checker)
    assert code == 0, data
    assert checks == {"COST-BUDGET": "pass", "COST-STORAGE": "pass", "COST-ANOMALIES": "pass", "COST-AWS-BUDGET": "pass"}
    assert data["details"]["projection_method"] == "month-to-date + Cost Explorer forecast"
    today = datetime.now(timezone.utc).date()
    month = sum(expected_over(first_of(today), today).values()) + forecast_over(today, next_month(today))
    assert data["measurements"]["projected_usd"] == pytest.approx(month, abs=0.02)
    assert data["measurements"]["month_to_date_usd"] == pytest.approx(sum(expected_over(first_of(today), today).values()), abs=0.02)
    if today.day > 1:  # the master secret is one of the estate's services
        services = {row["service"]: row["mtd_usd"] for row in data["details"]["services"]}
        assert services[SM] == pytest.approx(round(0.40 * (today.day - 1) / days_in(today), 2))
    # Aurora I/O is not storage: storage is Aurora and DynamoDB storage, PITR and backup.
    storage = sum(v for (s, u), v in MONTHLY.items() if u in ("Aurora:StorageUsage", "TimedStorage-ByteHrs", "TimedPITRStorage-ByteHrs",
                                                               "WarmStorage-ByteHrs"))
    assert data["measurements"]["projected_storage_usd"] == pytest.approx(storage, abs=0.02)


def test_cost_check_fails_the_overrun_month(celab: Lab, checker: Cli) -> None:
    with celab.settings(cost_scenario="overrun"):
        code, data, checks = check(checker)
    assert code == 1, data
    assert checks["COST-BUDGET"] == "fail" and data["status"] == "fail"
    assert data["measurements"]["projected_usd"] > ESTATE_BUDGET
    assert checks["COST-AWS-BUDGET"] == "pass"  # Budgets sees the same overrun
    assert RDS in data["details"]["top_movers"]


def test_cost_check_warns_of_the_anomaly(celab: Lab, checker: Cli) -> None:
    with celab.settings(cost_scenario="anomaly"):
        code, data, checks = check(checker)
    assert code == 0, data
    assert checks["COST-ANOMALIES"] == "warn" and checks["COST-BUDGET"] == "pass"
    assert "1 anomaly(ies) in 30 days; largest 8.00 USD on Amazon DynamoDB" in next(
        c["detail"] for c in data["checks"] if c["id"] == "COST-ANOMALIES")


def test_cost_check_with_no_history_is_inconclusive_and_a_throttled_read_is_an_error(celab: Lab, checker: Cli) -> None:
    with celab.settings(cost_history_days=0):
        code, data, checks = check(checker)
    assert code == 4 and data["status"] == "inconclusive"
    assert checks["COST-BUDGET"] == "unknown"
    with celab.settings(cost_fault="throttle"):
        result = checker("cost", "check", "--env", "lab", "--no-cache", "--json")
    assert result.exit_code == 2, result.output
    assert "LimitExceededException" in result.stderr
