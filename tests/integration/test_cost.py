"""cost check: Cost Explorer usage from the emulator (seeded results), forecast, anomalies and
budgets from botocore's Stubber (the emulator lacks them), shaped as AWS documents them."""

from __future__ import annotations

import json
import urllib.request
from datetime import date
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from ops.cost.cache import CacheScope, CeCache
from ops.cost.check import CostOptions, CostSources, run_cost_check
from ops.lab.process import free_port
from ops.report import Journal

RDS, DDB = "Amazon Relational Database Service", "Amazon DynamoDB"
TODAY = date(2026, 11, 21)  # 20 days of November in, 10 to go
SCOPE = CacheScope(account="123456789012", endpoint="test", region="us-east-1")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def client(service: str, endpoint: str | None = None):  # type: ignore[no-untyped-def]
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")


def post(endpoint: str, path: str, body: dict | None = None) -> None:
    req = urllib.request.Request(endpoint + path, data=json.dumps(body or {}).encode(), method="POST")
    urllib.request.urlopen(req).read()


def usage(groups: dict[tuple[str, str], float], token: str | None = None, estimated: bool = False) -> dict:
    page = {"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-21"}, "Total": {}, "Estimated": estimated,
                               "Groups": [{"Keys": list(k), "Metrics": {"UnblendedCost": {"Amount": f"{v:.4f}", "Unit": "USD"}}}
                                          for k, v in groups.items()]}],
            "DimensionValueAttributes": [], "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]}
    if token:
        page["NextPageToken"] = token
    return page


def seed(endpoint: str, *results: dict) -> None:
    post(endpoint, "/moto-api/reset")
    post(endpoint, "/moto-api/static/ce/cost-and-usage-results", {"results": list(results)})


class Run:
    """One cost check with the emulator for usage and stubs for what it lacks."""

    def __init__(self, endpoint: str, cache_dir: Path) -> None:
        self.endpoint = endpoint
        self.cache = CeCache(cache_dir, SCOPE)
        self.stubbed = client("ce")
        self.stub = Stubber(self.stubbed)
        self.account_id: str | None = SCOPE.account

    def forecast(self, remaining: float) -> None:
        self.stub.add_response("get_cost_forecast", {"Total": {"Amount": f"{remaining:.2f}", "Unit": "USD"},
                                                     "ForecastResultsByTime": [{"TimePeriod": {"Start": "2026-11-21", "End": "2026-12-01"},
                                                                                "MeanValue": f"{remaining:.2f}"}]})

    def forecast_unavailable(self) -> None:
        self.stub.add_client_error("get_cost_forecast", "DataUnavailableException", "Insufficient amount of historical data to generate forecast.", 400)

    def forecast_error(self, code: str = "AccessDeniedException", status: int = 400) -> None:
        self.stub.add_client_error("get_cost_forecast", code, "User is not authorized to perform ce:GetCostForecast", status)

    def monitors(self, *names: str) -> None:
        self.stub.add_response("get_anomaly_monitors", {"AnomalyMonitors": [
            {"MonitorArn": f"arn:aws:ce::123456789012:anomalymonitor/{n}", "MonitorName": n, "MonitorType": "DIMENSIONAL",
             "MonitorDimension": "SERVICE", "CreationDate": "2026-01-01", "DimensionalValueCount": 7} for n in names]}, {})

    def anomalies(self, items: list | None = None) -> None:
        self.monitors("services")
        self.stub.add_response("get_anomalies", {"Anomalies": items or []})

    def anomalies_unimplemented(self) -> None:
        self.stub.add_client_error("get_anomaly_monitors", "NotImplemented", "GetAnomalyMonitors is not implemented", 501)

    def __call__(self, today: date = TODAY, month: date | None = None, budget: float = 80.0,  # type: ignore[no-untyped-def]
                 tag: tuple[str, str] | None = None):
        sources = CostSources(usage=client("ce", self.endpoint), forecast=self.stubbed, anomalies=self.stubbed,
                              account_id=self.account_id)
        opts = CostOptions(budget_usd=budget, storage_budget_usd=20.0, month=month or today.replace(day=1), today=today, tag=tag)
        with self.stub:
            report = run_cost_check(sources, opts, self.cache, Journal("cost", "estate:lab", "lab", echo=None))
        self.stub.assert_no_pending_responses()
        return report


def statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.id: c.status for c in report.checks}


@pytest.mark.parametrize("mtd, remaining, status, code", [(30.0, 10.0, "pass", 0), (50.0, 15.0, "warn", 0), (70.0, 20.0, "fail", 1)])
def test_verdict_against_the_budget(endpoint: str, tmp_path: Path, mtd: float, remaining: float, status: str, code: int) -> None:
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): mtd * 0.9, (DDB, "USE1-TimedStorage-ByteHrs"): mtd * 0.1}),
         usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): mtd * 0.5}))
    run = Run(endpoint, tmp_path)
    run.forecast(remaining)
    run.anomalies()
    report = run()
    assert statuses(report)["COST-BUDGET"] == status
    assert report.exit_code == code
    assert report.measurements["month_to_date_usd"] == pytest.approx(mtd)
    assert report.measurements["projected_usd"] == pytest.approx(mtd + remaining)
    assert report.measurements["projected_storage_usd"] == pytest.approx(mtd * 0.1 / 20 * 30, abs=0.01)


def test_multi_page_response_is_summed_once(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 11.0}, token="page-2"),
         usage({(DDB, "USE1-WriteRequestUnits"): 4.0}),
         usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast(5.0)
    run.anomalies()
    report = run()
    assert report.measurements["month_to_date_usd"] == pytest.approx(15.0)
    services = {r["service"]: r["mtd_usd"] for r in report.details["services"]}
    assert services == {RDS: 11.0, DDB: 4.0}
    assert report.measurements["ce_paid_requests"] == 3 + 3  # two usage pages, previous month, forecast, monitors, anomalies


def test_data_unavailable_forecast_falls_back_to_a_labelled_linear_projection(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 20.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast_unavailable()
    run.anomalies()
    report = run()
    assert report.measurements["projected_usd"] == pytest.approx(20.0 / 20 * 30)
    assert "LINEAR" in report.details["projection_method"] and "DataUnavailable" in report.details["projection_method"]
    assert "LINEAR" in report.summary


def test_first_day_of_the_month(endpoint: str, tmp_path: Path) -> None:
    first = date(2026, 11, 1)
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 61.0}))  # October, in full
    run = Run(endpoint, tmp_path)
    run.forecast_unavailable()
    run.anomalies()
    report = run(today=first)
    assert report.measurements["month_to_date_usd"] == 0
    assert report.measurements["projected_usd"] == pytest.approx(61.0)
    assert "first day of the month" in report.details["projection_method"]
    run = Run(endpoint, tmp_path / "b")
    run.forecast(70.0)
    run.anomalies()
    report = run(today=first)
    assert report.measurements["projected_usd"] == pytest.approx(70.0)
    assert statuses(report)["COST-BUDGET"] == "warn"


def test_past_month_has_no_forecast_and_estimated_periods_are_labelled(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 90.0}, estimated=True), usage({}))
    run = Run(endpoint, tmp_path)  # no forecast or anomalies queued: none may be asked for
    report = run(month=date(2026, 10, 1))
    assert report.measurements["projected_usd"] == pytest.approx(90.0)
    assert statuses(report)["COST-BUDGET"] == "fail" and report.exit_code == 1
    assert "Estimated" in next(c.detail for c in report.checks if c.id == "COST-BUDGET")


def test_anomalies_on_estate_services_are_listed(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(DDB, "USE1-ReadRequestUnits"): 10.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast(2.0)
    run.anomalies([
        {"AnomalyId": "a1", "AnomalyScore": {"MaxScore": 0.9, "CurrentScore": 0.8}, "Impact": {"MaxImpact": 12.0, "TotalImpact": 25.5},
         "MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m1", "RootCauses": [{"Service": DDB, "Region": "us-east-1"}],
         "AnomalyStartDate": "2026-11-10", "AnomalyEndDate": "2026-11-12", "DimensionValue": DDB},
        {"AnomalyId": "a2", "AnomalyScore": {"MaxScore": 0.5, "CurrentScore": 0.5}, "Impact": {"MaxImpact": 3.0},
         "MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/m1", "RootCauses": [{"Service": "Amazon EC2"}]},
    ])
    report = run()
    assert statuses(report)["COST-ANOMALIES"] == "warn"
    assert [a["AnomalyId"] for a in report.details["anomalies"]] == ["a1"]


@pytest.mark.parametrize("monitors, status", [((), "unknown"), (("services",), "pass")])
def test_no_anomaly_passes_only_when_an_anomaly_monitor_looks(endpoint: str, tmp_path: Path, monitors: tuple, status: str) -> None:
    seed(endpoint, usage({(DDB, "USE1-ReadRequestUnits"): 10.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast(2.0)
    run.monitors(*monitors)
    if monitors:  # negative control: with a monitor, its empty answer is evidence
        run.stub.add_response("get_anomalies", {"Anomalies": []})
    report = run()  # without one, GetAnomalies is not even asked (the stub would complain of an unexpected call)
    check = next(c for c in report.checks if c.id == "COST-ANOMALIES")
    assert check.status == status, check
    assert ("no anomaly monitor" in check.detail) == (not monitors)
    assert report.status == "pass"  # an optional check: unknown there does not stop the budget verdict


OTHER_ACCOUNT = "210987654321"


def monitor(name: str, kind: str = "DIMENSIONAL", dimension: str | None = "SERVICE", created: str = "2026-01-01",
            specification: dict | None = None) -> dict:
    """An AnomalyMonitor as GetAnomalyMonitors answers it (API reference: MonitorType DIMENSIONAL | CUSTOM,
    MonitorDimension of a DIMENSIONAL one, MonitorSpecification an Expression of a CUSTOM one, CreationDate)."""
    out = {"MonitorArn": f"arn:aws:ce::{SCOPE.account}:anomalymonitor/{name}", "MonitorName": name, "MonitorType": kind,
           "CreationDate": created, "LastEvaluatedDate": "2026-11-20"}
    if dimension is not None:
        out["MonitorDimension"] = dimension
    if specification is not None:
        out["MonitorSpecification"] = specification
    return out


def accounts(*ids: str) -> dict:
    return {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": list(ids), "MatchOptions": ["EQUALS"]}}


@pytest.mark.parametrize("monitors, status, why", [
    ([monitor("services")], "pass", None),  # negative control: an AWS managed SERVICE monitor of long standing
    ([monitor("by-account", dimension="LINKED_ACCOUNT")], "unknown", "not SERVICE"),
    ([monitor("by-tag", dimension="TAG")], "unknown", "not SERVICE"),
    ([monitor("new", created="2026-11-01")], "unknown", "created 2026-11-01, after the window's first day 2026-10-22"),
    ([monitor("other", "CUSTOM", None, specification=accounts(OTHER_ACCOUNT))], "unknown", f"not of this account {SCOPE.account}"),
    ([monitor("excluded", "CUSTOM", None, specification={"Not": accounts(SCOPE.account)})], "unknown", "not of this account"),
    ([monitor("ours", "CUSTOM", None, specification={"Or": [accounts(OTHER_ACCOUNT), accounts(SCOPE.account)]})], "pass", None),
    ([monitor("all", "CUSTOM", None, specification={"Tags": {"Key": "project", "Values": ["dbops"]}})], "pass", None),
    ([monitor("undated", created="")], "unknown", "creation date is missing"),
    ([monitor("other", "CUSTOM", None, specification=accounts(OTHER_ACCOUNT)), monitor("services")], "pass", None),
])
def test_an_anomaly_monitor_vouches_only_for_this_accounts_services_over_the_whole_window(
        endpoint: str, tmp_path: Path, monitors: list, status: str, why: str | None) -> None:
    """Any monitor is not enough: one of another dimension, of another account or created within the window
    has not looked at this account's services over the 30 days, so its silence is not a pass."""
    seed(endpoint, usage({(DDB, "USE1-ReadRequestUnits"): 10.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast(2.0)
    run.stub.add_response("get_anomaly_monitors", {"AnomalyMonitors": monitors})
    if status == "pass":
        run.stub.add_response("get_anomalies", {"Anomalies": []})
    report = run()
    check = next(c for c in report.checks if c.id == "COST-ANOMALIES")
    assert check.status == status, check
    if why:
        assert why in check.detail and "says nothing" in check.detail, check.detail


def test_a_custom_monitor_of_listed_accounts_is_not_counted_when_the_account_is_not_known(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(DDB, "USE1-ReadRequestUnits"): 10.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.account_id = None
    run.forecast(2.0)
    run.stub.add_response("get_anomaly_monitors", {"AnomalyMonitors": [
        monitor("ours", "CUSTOM", None, specification=accounts(SCOPE.account))]})
    check = next(c for c in run().checks if c.id == "COST-ANOMALIES")
    assert check.status == "unknown" and "id could not be read" in check.detail, check


def test_month_to_date_is_the_whole_days_through_yesterday(endpoint: str, tmp_path: Path) -> None:
    """Cost Explorer's End is exclusive and today is still being billed: the month to date ends at today, exclusive,
    and the linear projection scales the complete days counted (20 of 30) to the month."""
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 20.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast_unavailable()
    run.anomalies()
    report = run()
    assert any(e.phase == "query" and "2026-11-01 .. 2026-11-21 (exclusive)" in e.message for e in report.events)
    assert "20 day(s)" in report.details["projection_method"]
    assert report.measurements["projected_usd"] == pytest.approx(30.0)


def test_second_check_in_the_cache_window_makes_no_paid_request(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 30.0}), usage({}))
    first = Run(endpoint, tmp_path)
    first.forecast(10.0)
    first.anomalies()
    assert first().measurements["ce_paid_requests"] == 5
    second = Run(endpoint, tmp_path)  # same cache dir; nothing queued on the stub: nothing may be asked
    report = second()
    assert report.measurements["ce_paid_requests"] == 0
    assert report.measurements["projected_usd"] == pytest.approx(40.0)
    uncached = Run(endpoint, tmp_path)
    uncached.cache.enabled = False
    uncached.forecast(10.0)
    uncached.anomalies()
    assert uncached().measurements["ce_paid_requests"] == 5


def test_cost_check_cli_on_the_lab_emulator(lab) -> None:  # type: ignore[no-untyped-def]
    # The lab's Cost Explorer knows no spend: the verdict is inconclusive, never "0 USD, pass".
    result = lab("cost", "check", "--json")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "inconclusive"
    assert "Cost Explorer returned no cost" in data["summary"]
    assert "paid request(s)" in result.stderr
    bad = lab("cost", "check", "--month", "2026-13")
    assert bad.exit_code == 2 and "YYYY-MM" in bad.stderr
    bad = lab("cost", "check", "--tag", "novalue")
    assert bad.exit_code == 2


def test_storage_over_its_own_limit_fails(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(RDS, "USE1-Aurora:StorageUsage"): 16.0, (DDB, "USE1-WriteRequestUnits"): 2.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast(1.0)
    run.anomalies()
    report = run()
    assert statuses(report)["COST-BUDGET"] == "pass"
    assert statuses(report)["COST-STORAGE"] == "fail"  # 16 USD in 20 days -> 24 USD a month, limit 20


def test_cost_estimate_of_the_lab_env(lab) -> None:  # type: ignore[no-untyped-def]
    result = lab("cost", "estimate", "--env", "lab", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == (1 if data["over_budget"] else 0), result.output
    assert all(u["address"] and u["reason"] for u in data["unpriced"])
    types = {line["type"] for line in data["lines"]}
    assert {"aws_rds_cluster_instance", "aws_rds_cluster", "aws_dynamodb_table", "aws_kms_key",
            "aws_cloudwatch_metric_alarm", "aws_secretsmanager_secret", "aws_backup_vault"} <= types
    assert data["total_usd"] == pytest.approx(sum(line["usd"] for line in data["lines"]), abs=0.01)
    human = lab("cost", "estimate", "--env", "lab")
    assert "total" in human.stdout and "USD budget" in human.stdout


# --- honest verdicts: nothing measured is never a pass ---------------------------------------

def test_answer_without_groups_is_inconclusive_not_zero(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({}))
    run = Run(endpoint, tmp_path)  # no forecast may be asked: there is nothing to project
    run.anomalies()
    report = run()
    assert report.status == "inconclusive" and report.exit_code == 4
    assert statuses(report)["COST-BUDGET"] == "unknown" and statuses(report)["COST-STORAGE"] == "unknown"
    assert report.measurements["month_to_date_usd"] is None and report.measurements["projected_usd"] is None
    assert "Cost Explorer returned no cost for the estate's services in 2026-11-01..2026-11-21" in report.summary
    assert "\n" not in report.summary


def test_answer_without_results_by_time_is_inconclusive(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint)  # nothing queued: the emulator answers {"ResultsByTime": []}
    run = Run(endpoint, tmp_path)
    run.anomalies()
    report = run()
    assert report.status == "inconclusive"
    assert "returned no cost" in report.summary


def test_tag_that_matches_nothing_is_inconclusive_and_says_so(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({}))
    run = Run(endpoint, tmp_path)
    run.anomalies()
    report = run(tag=("team", "nobody"))
    assert report.status == "inconclusive" and report.exit_code == 4
    assert "(tag team=nobody matched nothing?)" in report.summary


def test_past_month_without_cost_is_inconclusive(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({}))
    report = Run(endpoint, tmp_path)(month=date(2026, 10, 1))
    assert report.status == "inconclusive"
    assert "2026-10-01..2026-11-01" in report.summary


def test_first_day_without_history_or_forecast_is_inconclusive(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast_unavailable()
    run.anomalies()
    report = run(today=date(2026, 11, 1))
    assert report.status == "inconclusive"
    assert statuses(report)["COST-BUDGET"] == "unknown"


def test_forecast_that_failed_is_an_error_not_a_linear_projection(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 20.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast_error()
    run.anomalies()
    report = run()
    assert report.status == "error" and report.exit_code == 2
    budget = next(c for c in report.checks if c.id == "COST-BUDGET")
    assert budget.status == "error" and "AccessDenied" in budget.detail
    assert report.measurements["projected_usd"] is None
    assert "LINEAR" not in report.summary and "LINEAR" not in report.details["projection_method"]
    assert report.measurements["month_to_date_usd"] == pytest.approx(20.0)


def test_objectives_are_budget_and_storage_and_optional_checks_may_be_unknown(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 20.0}), usage({}))
    run = Run(endpoint, tmp_path)
    run.forecast(5.0)
    run.anomalies_unimplemented()
    report = run()
    assert statuses(report)["COST-ANOMALIES"] == "unknown"
    assert report.status == "pass" and report.exit_code == 0
    assert report.details["required"] == ["COST-BUDGET", "COST-STORAGE"]
    assert {c.id for c in report.checks if c.objective} == {"COST-BUDGET", "COST-STORAGE"}


def test_without_an_account_id_the_cache_is_not_used_and_the_report_says_so(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 30.0}), usage({}))
    for _ in range(2):
        run = Run(endpoint, tmp_path)
        run.cache = CeCache(tmp_path, None, off_reason="the account id could not be read (AccessDenied)")
        run.forecast(10.0)
        run.anomalies()
        report = run()
        assert report.measurements["ce_paid_requests"] == 5  # asked again: nothing was kept under a shared key
        assert report.details["ce_cache"] == "off: the account id could not be read (AccessDenied)"
        assert any(e.phase == "cache" and "not used" in e.message for e in report.events)
    assert not list(tmp_path.glob("*.json"))


def test_status_burn_comes_from_this_months_check_even_when_a_past_month_was_checked_later(endpoint: str, tmp_path: Path) -> None:
    from ops import config as config_mod
    from ops import live
    from ops.report import write
    from tests.conftest import write_config

    cfg = config_mod.load(write_config(tmp_path), environ={})
    seed(endpoint, usage({(RDS, "USE1-InstanceUsage:db.t3.medium"): 30.0}), usage({}))
    run = Run(endpoint, tmp_path / "cache")
    run.forecast(10.0)
    run.anomalies()
    write(run(), cfg.report_dir)  # November, 40 USD projected
    assert live.budget(cfg, today=TODAY)["burn"] == "40.00 USD projected, 50% of the budget"

    seed(endpoint, usage({}))
    later = Run(endpoint, tmp_path / "cache-2")(month=date(2026, 10, 1))  # October: nothing billed, inconclusive
    assert later.status == "inconclusive"
    write(later, cfg.report_dir)
    budget = live.budget(cfg, today=TODAY)
    assert budget["burn"] == "40.00 USD projected, 50% of the budget" and budget["verdict"] == "PASS", budget

    # Negative control: in December neither check says anything about the month's spend.
    december = live.budget(cfg, today=date(2026, 12, 2))
    assert december["burn"].startswith("not measured: no cost check of 2026-12") and december["verdict"] == "never run", december
