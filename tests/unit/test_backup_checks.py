"""AWS Backup checks fed by botocore's Stubber (moto lacks these APIs), shaped as AWS documents them."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from ops.checks import backups, collect
from ops.checks.registry import Read
from ops.config import EnvConfig, Policy

DATA = Path(__file__).resolve().parents[1] / "data"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
NOW = datetime.now(timezone.utc)


def fixture(name: str, case: str) -> dict:
    """A recorded response; HOURS_AGO_N placeholders become datetimes relative to now."""
    def fix(o):  # type: ignore[no-untyped-def]
        if isinstance(o, dict):
            return {k: fix(v) for k, v in o.items()}
        if isinstance(o, list):
            return [fix(v) for v in o]
        if isinstance(o, str) and o.startswith("HOURS_AGO_"):
            return NOW - timedelta(hours=int(o.rsplit("_", 1)[1]))
        return o
    return fix(json.loads((DATA / name).read_text())[case])


def stubbed_state(jobs_case: str, points_case: str) -> dict:
    client = boto3.client("backup", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("list_backup_jobs", fixture("backup_jobs.json", jobs_case), {"ByResourceArn": ARN})
    stub.add_response("list_recovery_points_by_resource", fixture("recovery_points.json", points_case), {"ResourceArn": ARN})
    with stub:
        state = collect.backup_service_state(lambda _: client, ARN)
    stub.assert_no_pending_responses()
    return {"now": NOW, **state}


ENV = EnvConfig("prod", protected=True)


@pytest.mark.parametrize("case, status", [("completed_recent", "pass"), ("last_failed", "fail"), ("stale", "fail")])
def test_last_backup_job(case: str, status: str) -> None:
    finding = backups.ddb_last_job(stubbed_state(case, "encrypted"), Policy(), ENV)
    assert finding.status == status, finding.detail
    if case == "last_failed":
        assert "FAILED" in finding.detail and "Insufficient privileges" in finding.detail


@pytest.mark.parametrize("case, status", [("encrypted", "pass"), ("one_unencrypted", "fail")])
def test_recovery_points_encrypted(case: str, status: str) -> None:
    finding = backups.ddb_points(stubbed_state("completed_recent", case), Policy(), ENV)
    assert finding.status == status, finding.detail


def test_access_denied_is_an_error_never_a_pass() -> None:
    client = boto3.client("backup", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_client_error("list_backup_jobs", "AccessDeniedException", "not authorized", 403)
    stub.add_client_error("list_recovery_points_by_resource", "AccessDeniedException", "not authorized", 403)
    with stub:
        state = {"now": NOW, **collect.backup_service_state(lambda _: client, ARN)}
    assert backups.ddb_last_job(state, Policy(), ENV).status == "error"
    assert backups.ddb_points(state, Policy(), ENV).status == "error"


def test_backup_lists_are_read_to_the_last_page() -> None:
    """A newer job on page 2 must count: AWS Backup's list calls are paginated."""
    client = boto3.client("backup", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    jobs = fixture("backup_jobs.json", "last_failed")["BackupJobs"]
    recent = fixture("backup_jobs.json", "completed_recent")["BackupJobs"]
    stub.add_response("list_backup_jobs", {"BackupJobs": jobs, "NextToken": "page-2"}, {"ByResourceArn": ARN})
    stub.add_response("list_backup_jobs", {"BackupJobs": recent}, {"ByResourceArn": ARN, "NextToken": "page-2"})
    stub.add_response("list_recovery_points_by_resource", {"RecoveryPoints": [], "NextToken": "p2"}, {"ResourceArn": ARN})
    stub.add_response("list_recovery_points_by_resource", fixture("recovery_points.json", "encrypted"), {"ResourceArn": ARN, "NextToken": "p2"})
    with stub:
        state = {"now": NOW, **collect.backup_service_state(lambda _: client, ARN)}
    stub.assert_no_pending_responses()
    assert len(state["jobs"].value) == len(jobs) + len(recent)
    assert state["recovery_points"].value, "the recovery points of page 2 were read"


def test_failed_recovery_point_read_is_never_none_found() -> None:
    """A failed read of AWS Backup recovery points must not become 'no recovery point' (a warn that passes)."""
    old = {"BackupCreationDateTime": NOW - timedelta(days=10), "BackupStatus": "AVAILABLE"}
    state = {"now": NOW, "backups": Read(value=[old]), "recovery_points": Read(error="AWS ListRecoveryPointsByResource failed: 500")}
    finding = backups.ddb_newest_backup(state, Policy(), ENV)
    assert finding.status == "error", finding
    state["recovery_points"] = Read(error="not implemented", unimplemented=True)
    assert backups.ddb_newest_backup(state, Policy(), ENV).status == "unknown"
    state["backups"] = Read(value=[])
    assert backups.ddb_newest_backup(state, Policy(), ENV).status == "unknown"
    # A fresh on-demand backup is enough whatever the recovery points say.
    state["backups"] = Read(value=[{"BackupCreationDateTime": NOW - timedelta(hours=1), "BackupStatus": "AVAILABLE"}])
    assert backups.ddb_newest_backup(state, Policy(), ENV).status == "pass"
    # Negative control: read fine and empty really is "none found".
    state = {"now": NOW, "backups": Read(value=[]), "recovery_points": Read(value=[])}
    assert backups.ddb_newest_backup(state, Policy(), ENV).status == "warn"


def test_unimplemented_api_is_unknown() -> None:
    state = {"now": NOW, "jobs": Read(error="ListBackupJobs: not implemented by this endpoint", unimplemented=True)}
    assert backups.ddb_last_job(state, Policy(), ENV).status == "unknown"


def test_deletion_protection_fails_only_on_protected_envs() -> None:
    state = {"table": Read(value={"DeletionProtectionEnabled": False})}
    assert backups.ddb_deletion_protection(state, Policy(), ENV).status == "fail"
    assert backups.ddb_deletion_protection(state, Policy(), EnvConfig("lab")).status == "warn"


def test_coverage_by_tag_and_by_arn() -> None:
    selections = [{"plan": "p", "ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "dbops"}]},
                  {"plan": "q", "Resources": [ARN]}]
    assert collect.covered_by(selections, ARN, {}) == ["q"]
    assert collect.covered_by(selections, "arn:other", {"backup": "dbops"}) == ["p"]
    assert collect.covered_by(selections, "arn:other", {"backup": "no"}) == []


def test_aws_budgets_agreement_is_reported() -> None:
    from ops.cost.check import CostOptions, CostSources, _budget_agreement
    from ops.report import Journal
    from datetime import date

    def run(actual: str) -> str:
        budgets = boto3.client("budgets", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        stub = Stubber(budgets)
        stub.add_response("describe_budgets", {"Budgets": [{
            "BudgetName": "dbops-lab", "BudgetLimit": {"Amount": "80.0", "Unit": "USD"}, "TimeUnit": "MONTHLY",
            "BudgetType": "COST", "CalculatedSpend": {"ActualSpend": {"Amount": actual, "Unit": "USD"},
                                                      "ForecastedSpend": {"Amount": "61.0", "Unit": "USD"}}}]},
            {"AccountId": "123456789012"})
        journal = Journal("cost", "estate:lab", "lab", echo=None)
        opts = CostOptions(budget_usd=80, storage_budget_usd=20, month=date(2026, 11, 1), today=date(2026, 11, 21), budget_name="dbops-lab")
        with stub:
            _budget_agreement(CostSources(None, None, None, budgets=budgets, account_id="123456789012"), opts, 60.0, 40.0, journal)
        (check,) = journal.checks
        return check.status + " " + check.detail

    assert run("40.5").startswith("pass") and "agree" in run("40.5")
    assert run("55.0").startswith("warn") and "DISAGREE" in run("55.0")


def test_a_job_still_running_is_not_judged_the_last_ended_one_is() -> None:
    """Tonight's job in its window is no failure; the newest job that ended decides, and a newer running one is named."""
    def job(hours_ago: int, state: str, **extra: object) -> dict:
        return {"BackupJobId": f"job-{hours_ago}", "CreationDate": NOW - timedelta(hours=hours_ago), "State": state, **extra}

    done = job(5, "COMPLETED", CompletionDate=NOW - timedelta(hours=4))
    state = {"now": NOW, "jobs": Read(value=[done, job(0, "RUNNING")])}
    finding = backups.ddb_last_job(state, Policy(), ENV)
    assert finding.status == "pass" and "1 newer job(s) still running" in finding.detail
    failed = job(5, "FAILED", StatusMessage="Insufficient privileges to perform this action.")
    assert backups.aurora_last_job({"now": NOW, "jobs": Read(value=[failed, job(0, "CREATED")])}, Policy(), ENV).status == "fail"
    only_running = backups.ddb_last_job({"now": NOW, "jobs": Read(value=[job(0, "RUNNING")])}, Policy(), ENV)
    assert only_running.status == "unknown" and "no backup job has ended yet" in only_running.detail
    # Negative control: an ended job that is not COMPLETED still fails, running or not beside it.
    for ended in ("EXPIRED", "ABORTED", "PARTIAL"):
        assert backups.ddb_last_job({"now": NOW, "jobs": Read(value=[job(2, ended)])}, Policy(), ENV).status == "fail"


def test_coverage_by_wildcard_arn() -> None:
    selections = [{"plan": "all-tables", "Resources": ["arn:aws:dynamodb:*:*:table/*"]}]
    assert collect.covered_by(selections, ARN, {}) == ["all-tables"]
    assert collect.covered_by(selections, "arn:aws:rds:us-east-1:123456789012:cluster:lab-aurora", {}) == []


def test_coverage_honours_conditions_and_not_resources() -> None:
    """A selection of every resource narrowed by a tag condition covers only what the condition admits."""
    prod_only = [{"plan": "prod", "Resources": ["*"],
                  "Conditions": {"StringEquals": [{"ConditionKey": "aws:ResourceTag/env", "ConditionValue": "prod"}]}}]
    assert collect.covered_by(prod_only, ARN, {"env": "prod"}) == ["prod"]
    assert collect.covered_by(prod_only, ARN, {"env": "lab"}) == []
    assert collect.covered_by([{"plan": "p", "Resources": ["*"], "NotResources": [ARN]}], ARN, {}) == []


def stopped_state(status: str, tags: dict[str, str], stopped_hours_ago: float = 30.0) -> dict:
    """A cluster whose restorable time and newest snapshot are those of its stop, `stopped_hours_ago` ago."""
    stop = NOW - timedelta(hours=stopped_hours_ago)
    cluster = {"DBClusterIdentifier": "c", "Status": status, "LatestRestorableTime": stop - timedelta(seconds=60),
               "TagList": [{"Key": k, "Value": v} for k, v in tags.items()]}
    return {"now": NOW, "cluster": Read(value=cluster),
            "snapshots": Read(value=[{"DBClusterSnapshotIdentifier": "s", "Status": "available",
                                      "SnapshotCreateTime": stop - timedelta(hours=1)}]),
            "events": Read(value=[{"Date": stop, "Message": "DB cluster stopped"}])}


def outside_window_env() -> EnvConfig:
    from ops.window import DAYS, parse

    later = NOW + timedelta(hours=3)  # a window that opens in 3 h: now is outside it
    return EnvConfig("lab", schedule=parse([DAYS[later.weekday()]], f"{later:%H:%M}", 1))


@pytest.mark.parametrize("judge", [backups.aurora_restorable, backups.aurora_snapshot_age])
def test_a_stop_the_schedules_tag_does_not_account_for_is_a_warn_not_a_pass(judge) -> None:  # type: ignore[no-untyped-def]
    env = outside_window_env()
    by_schedule = judge(stopped_state("stopped", {"dbops:stopped-by": "schedule"}), Policy(), env)
    assert by_schedule.status == "pass" and "unexpected" not in by_schedule.detail, by_schedule
    by_hand = judge(stopped_state("stopped", {}), Policy(), env)
    assert by_hand.status == "warn" and "unexpected stop" in by_hand.detail and "dbops:stopped-by" in by_hand.detail, by_hand
    no_schedule = judge(stopped_state("stopped", {}), Policy(), EnvConfig("lab"))
    assert no_schedule.status == "warn" and "no schedule" in no_schedule.detail, no_schedule
    # A stale figure is still a fail, never softened to a warn.
    stale = stopped_state("stopped", {})
    stale["snapshots"] = Read(value=[dict(stale["snapshots"].value[0], SnapshotCreateTime=NOW - timedelta(days=9))])
    stale["cluster"] = Read(value=dict(stale["cluster"].value, LatestRestorableTime=NOW - timedelta(days=9)))
    assert judge(stale, Policy(), env).status == "fail"


@pytest.mark.parametrize("judge", [backups.aurora_restorable, backups.aurora_snapshot_age])
def test_a_starting_cluster_is_judged_at_its_stop_not_at_now(judge) -> None:  # type: ignore[no-untyped-def]
    state = stopped_state("starting", {}, stopped_hours_ago=30)
    finding = judge(state, Policy(), outside_window_env())
    assert finding.status == "pass", finding
    assert ("starting after a stop since" if judge is backups.aurora_restorable else "at the cluster's stop") in finding.detail
    # Negative control: the same figures judged at now (a running cluster's) fail: 30 h is past the RPO and 26 h.
    running = dict(state, cluster=Read(value=dict(state["cluster"].value, Status="available")))
    assert judge(running, Policy(), outside_window_env()).status == "fail"
    # Its stop not found in the events: not measured, never a pass.
    unknown = judge(dict(state, events=Read(value=[])), Policy(), outside_window_env())
    assert unknown.status == "unknown" and "not measured" in unknown.detail
