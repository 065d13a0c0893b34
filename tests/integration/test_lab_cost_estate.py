"""The lab env as Terraform builds it, seen by Cost Explorer: `cost estimate` and the lab's Cost
Explorer agree on what the same resources cost a month under the lab env's schedule, and `cost check`
passes the lab's normal month and fails its overrun against the lab's own objective (80 USD) and AWS
Budgets limit."""

from __future__ import annotations

import calendar
import json
from datetime import datetime, timedelta, timezone

import pytest

from ops.aws import Aws
from ops.cost.estimate import DEFAULT_USAGE_PATH
from ops.lab.aws import emulator, settings
from ops.terraform.envs import engine_for_env
from tests.conftest import AppliedLab, Cli
from tests.integration.test_lab_cost_explorer import ACCOUNT, DDB, RDS, lab_budget, next_month

pytestmark = pytest.mark.slow


@pytest.fixture
def applied(applied_lab: AppliedLab) -> tuple[Cli, Aws]:
    """The session's applied lab env: its objective is the repository's lab budget."""
    return applied_lab.cli, applied_lab.aws  # type: ignore[return-value]


def month_projection(aws: Aws, service: str | None = None) -> float:
    """Cost Explorer's month: whole days so far plus the forecast of the rest."""
    ce = aws.client("ce")
    today = datetime.now(timezone.utc).date()
    first, end = today.replace(day=1), next_month(today)
    extra = {"Filter": {"Dimensions": {"Key": "SERVICE", "Values": [service]}}} if service else {}
    so_far = 0.0
    if today > first:
        answer = ce.get_cost_and_usage(TimePeriod={"Start": first.isoformat(), "End": today.isoformat()}, Granularity="MONTHLY",
                                       Metrics=["UnblendedCost"], **extra)
        so_far = float(answer["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"])
    rest = ce.get_cost_forecast(TimePeriod={"Start": today.isoformat(), "End": end.isoformat()}, Metric="UNBLENDED_COST",
                                Granularity="MONTHLY", **extra)
    return so_far + float(rest["Total"]["Amount"])


def test_cost_estimate_and_the_labs_cost_explorer_agree_within_5_percent(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws = applied
    plan = cli.lab_dir.parent / "lab-plan.json"  # the lab env planned once, priced twice
    engine = engine_for_env(cli.config, cli.config.env("lab"))
    engine.plan(out=cli.lab_dir.parent / "lab.tfplan")
    plan.write_text(json.dumps(engine.show_json(cli.lab_dir.parent / "lab.tfplan")))
    result = cli("cost", "estimate", "--plan", str(plan), "--json")
    assert result.exit_code == 0, result.output  # within the lab's objective
    estimate = json.loads(result.stdout)
    lines = estimate["lines"]
    by_service = {
        RDS: sum(line["usd"] for line in lines if line["type"].startswith("aws_rds_cluster")),
        DDB: sum(line["usd"] for line in lines if line["type"] == "aws_dynamodb_table"),
    }
    total = month_projection(aws)
    print(f"estimate {estimate['total_usd']:.2f} USD/month, Cost Explorer month {total:.2f} USD "
          f"({100 * (total - estimate['total_usd']) / estimate['total_usd']:+.1f} %)")
    assert total == pytest.approx(estimate["total_usd"], rel=0.05)
    for service, usd in by_service.items():
        assert month_projection(aws, service) == pytest.approx(usd, rel=0.05), service
    # The estate runs by the lab env's schedule: the instances' hours are this month's openings of the window in the
    # lab's Cost Explorer against the estimate's average month (days x hours x 52/12); that is the whole difference.
    window = cli.config.env("lab").schedule
    assert window is not None and estimate["aurora_instance_hours_per_month"] == pytest.approx(window.hours_per_month())
    url = emulator.endpoint(cli.lab_dir)
    assert url is not None and settings.remote(url)["aurora_schedule"]["value"] == window.setting()  # passed by `lab up`
    assert estimate["total_usd"] <= lab_budget()  # the estate's objective, met by the schedule
    # The analytics lake, item by item under the lab's declared usage: under 40 USD a month.
    lake = [line for line in lines if line["address"].startswith("module.estate.module.lake.")]
    print("lab lake:", ", ".join(f"{line['type']} {line['usd']:.2f}" for line in lake),
          f"= {estimate['modules']['module.estate.module.lake']:.2f} USD/month")
    assert {line["type"] for line in lake} == {"aws_s3_bucket", "aws_athena_workgroup", "aws_glue_catalog_database", "aws_kms_key"}
    assert estimate["modules"]["module.estate.module.lake"] == pytest.approx(sum(line["usd"] for line in lake), abs=0.01)
    assert estimate["modules"]["module.estate.module.lake"] < 40
    from ops.cost import estimate as est

    always = est.estimate(json.loads(plan.read_text()), est.load_catalog("us-east-1"), est.load_usage(DEFAULT_USAGE_PATH))
    print(f"always on: {always.total:.2f} USD/month; under the schedule {window.describe()}: {estimate['total_usd']:.2f}")
    assert always.total > lab_budget()  # negative control: the same estate always on is over its objective
    now = datetime.now(timezone.utc)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    hours = window.hours_between(first, (first + timedelta(days=32)).replace(day=1))
    assert month_projection(aws, RDS) - by_service[RDS] == pytest.approx(2 * 0.082 * (hours - window.hours_per_month()), abs=0.01)
    # Negative control: an estimate of other usage disagrees, and the comparison says so.
    heavy = cli.lab_dir.parent / "heavy-usage.toml"
    heavy.write_text(DEFAULT_USAGE_PATH.read_text().replace("write_million_per_month = 10\n", "write_million_per_month = 100\n"))
    other = json.loads(cli("cost", "estimate", "--plan", str(plan), "--json", "--usage", str(heavy)).stdout)
    assert other["total_usd"] == pytest.approx(estimate["total_usd"] + 90 * 0.625)
    assert total != pytest.approx(other["total_usd"], rel=0.05)


def test_the_labs_aws_budget_is_its_objective_and_sees_what_cost_explorer_sees(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws = applied
    estate = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)["estate"]
    budget = aws.client("budgets").describe_budget(AccountId=ACCOUNT, BudgetName=estate["budget_name"])["Budget"]
    assert float(budget["BudgetLimit"]["Amount"]) == lab_budget() == 80
    forecast = float(budget["CalculatedSpend"]["ForecastedSpend"]["Amount"])
    assert forecast == pytest.approx(month_projection(aws), abs=0.01)
    assert 0 < forecast < 0.8 * lab_budget()  # the normal month under the schedule: under the warning line


def test_cost_check_passes_the_applied_lab_and_fails_its_overrun(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws = applied
    result = cli("cost", "check", "--env", "lab", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    statuses = {c["id"]: c["status"] for c in data["checks"]}
    assert statuses == {"COST-BUDGET": "pass", "COST-STORAGE": "pass", "COST-ANOMALIES": "pass", "COST-AWS-BUDGET": "pass"}
    today = datetime.now(timezone.utc).date()
    assert (data["measurements"]["month_to_date_usd"] > 0) == (today.day > 1)
    assert data["measurements"]["projected_usd"] > data["measurements"]["month_to_date_usd"]
    assert data["details"]["projection_method"] == "month-to-date + Cost Explorer forecast"
    url = emulator.endpoint(cli.lab_dir)
    assert url is not None
    settings.remote(url, {"cost_scenario": "overrun"})
    try:
        over = cli("cost", "check", "--env", "lab", "--json", "--no-cache")
    finally:
        settings.remote(url, {"cost_scenario": "normal"})
    assert over.exit_code == 1, over.output
    over_data = json.loads(over.stdout)
    assert {c["id"]: c["status"] for c in over_data["checks"]}["COST-BUDGET"] == "fail"
    assert over_data["measurements"]["projected_usd"] > lab_budget()
    # The cached answer of the first run is not the overrun's: --no-cache asked again.
    assert over_data["measurements"]["projected_usd"] - data["measurements"]["projected_usd"] == pytest.approx(
        0.519 * 24 * calendar.monthrange(today.year, today.month)[1], abs=0.05)
