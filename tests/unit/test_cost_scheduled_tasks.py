"""Plan-time prices of the drill-runner: Fargate tasks EventBridge starts, and log groups, against a hand
computation from the catalog; what cannot be counted is listed unpriced with its reason, never guessed."""

from pathlib import Path

import pytest

from ops.cost import estimate as est
from ops.errors import ConfigError

CATALOG = est.load_catalog("us-east-1")
VCPU_H, GB_H = CATALOG["prices"]["ecs.fargate.vcpu"]["usd"], CATALOG["prices"]["ecs.fargate.memory"]["usd"]
USAGE = {"fargate": {"run_minutes": 5, "targets": {"weekly-drill": {"run_minutes": 60}}},
         "logs": {"ingest_gb_per_month": 0.1, "groups": {"/big": {"ingest_gb_per_month": 2}}}}
WEEKS = 730 / 168  # weeks in the estimator's 730-hour month


def rc(address: str, type_: str, after: dict, module: str = "") -> dict:
    return {"address": f"{module}{address}", "type": type_, "mode": "managed", "module_address": module.rstrip("."),
            "change": {"actions": ["create"], "after": after}}


def runner(schedule: str = "cron(0 1 ? * SUN *)", target_id: str = "weekly-drill", arn: str | None = "arn:td:drill:1",
           launch_type: str = "FARGATE", cpu: str = "512", memory: str = "1024") -> list[dict]:
    return [
        rc("aws_cloudwatch_event_rule.this", "aws_cloudwatch_event_rule", {"name": "r", "schedule_expression": schedule}),
        rc("aws_ecs_task_definition.this", "aws_ecs_task_definition", {"arn": arn, "cpu": cpu, "memory": memory}),
        rc("aws_cloudwatch_event_target.this", "aws_cloudwatch_event_target", {
            "rule": "r", "target_id": target_id,
            "ecs_target": [{"launch_type": launch_type, "task_count": 1, "task_definition_arn": arn}]}),
    ]


def priced(changes: list[dict], plan_extra: dict | None = None) -> est.Estimate:
    return est.estimate({"resource_changes": changes, **(plan_extra or {})}, CATALOG, USAGE)


@pytest.mark.parametrize("expression, runs", [
    ("cron(0 6 * * ? *)", 730 / 24),  # daily
    ("cron(0 1 ? * SUN *)", WEEKS),
    ("cron(40 23 ? * SAT,TUE *)", 2 * WEEKS),
    ("cron(0,30 1,2 ? * MON *)", 4 * WEEKS),
    ("rate(1 hour)", 730),
    ("rate(30 minutes)", 1460),
    ("rate(2 days)", 730 / 48),
])
def test_runs_a_month_of_a_schedule_expression(expression: str, runs: float) -> None:
    assert est.runs_per_month(expression) == pytest.approx(runs)


@pytest.mark.parametrize("expression", ["cron(0/5 * * * ? *)", "cron(0 1 ? 1 SUN *)", "cron(0 1 L * ? *)",
                                        "cron(0 1 ? * 2#1 *)", "rate(0 hours)", "at(2026-12-24T00:00:00)"])
def test_a_schedule_it_cannot_count_is_not_priced(expression: str) -> None:
    with pytest.raises(est.NotPriced, match="schedule"):
        est.runs_per_month(expression)


def test_a_scheduled_fargate_task_is_its_runs_times_minutes_times_its_size() -> None:
    result = priced(runner())
    (line,) = result.lines
    assert line.type == "aws_cloudwatch_event_target"
    # 4.35 runs x 1 h x (0.5 vCPU x 0.04048 + 1 GB x 0.004445) = 0.107
    assert line.usd == pytest.approx(WEEKS * 1.0 * (0.5 * VCPU_H + 1 * GB_H))
    assert line.usd == pytest.approx(0.1073, abs=1e-4)
    assert "60 min" in line.basis and "cron(0 1 ? * SUN *)" in line.basis
    daily = priced(runner(schedule="cron(0 6 * * ? *)", target_id="daily-cost-check", cpu="1024", memory="2048")).lines[0]
    assert daily.usd == pytest.approx(730 / 24 * 5 / 60 * (1 * VCPU_H + 2 * GB_H))  # the default 5 minutes


def test_the_task_definition_is_found_from_the_configuration_when_its_arn_is_unknown() -> None:
    module = "module.runner."
    changes = [rc(r["address"], r["type"], r["change"]["after"], module) for r in runner(arn=None)]
    changes.append(rc('aws_ecs_task_definition.this["other"]', "aws_ecs_task_definition",
                      {"arn": None, "cpu": "512", "memory": "1024"}, module))
    configuration = {"root_module": {"module_calls": {"runner": {"module": {"resources": [{
        "address": "aws_cloudwatch_event_target.this",
        "expressions": {"ecs_target": [{"task_definition_arn": {
            "references": ["aws_ecs_task_definition.this[each.value.task].arn", "aws_ecs_task_definition.this"]}}]}}]}}}}}
    result = priced(changes, {"configuration": configuration})
    assert [line.type for line in result.lines] == ["aws_cloudwatch_event_target"], result.unpriced
    # two definitions of different sizes behind one for_each: which one runs is not known, so it is not guessed
    changes[-1]["change"]["after"]["cpu"] = "4096"
    result = priced(changes, {"configuration": configuration})
    assert result.lines == ()
    assert "not known until apply" in result.unpriced[0].reason
    # without the configuration the task definition cannot be found at all
    assert "not in the plan" in priced(changes).unpriced[0].reason


@pytest.mark.parametrize("change, why", [
    ({"launch_type": "EC2"}, "only Fargate"),
    ({"schedule": None}, "runs on events"),
    ({"arn": "arn:td:gone:1"}, "not in the plan"),
])
def test_a_target_that_cannot_be_priced_faithfully_is_listed_with_the_reason(change: dict, why: str) -> None:
    changes = runner(**{k: v for k, v in change.items() if k != "arn"})
    if "arn" in change:
        changes[2]["change"]["after"]["ecs_target"][0]["task_definition_arn"] = change["arn"]
    result = priced(changes)
    assert result.lines == ()
    assert [u.type for u in result.unpriced] == ["aws_cloudwatch_event_target"]
    assert why in result.unpriced[0].reason


def test_rules_task_definitions_and_clusters_cost_nothing_of_their_own() -> None:
    free = [rc("c", "aws_ecs_cluster", {}), rc("d", "aws_ecs_task_definition", {"cpu": "512", "memory": "1024"}),
            rc("r", "aws_cloudwatch_event_rule", {"name": "r", "schedule_expression": "rate(1 day)"})]
    result = priced(free)
    assert result.lines == () and result.unpriced == ()


def test_a_log_group_is_its_ingestion_and_the_months_it_keeps() -> None:
    (line,) = priced([rc("g", "aws_cloudwatch_log_group", {"name": "/dbops/runner", "retention_in_days": 365})]).lines
    stored = 0.1 * 365 / (730 / 24)  # 1.2 GB at steady state
    assert line.usd == pytest.approx(0.1 * 0.50 + stored * 0.03)
    (big,) = priced([rc("g", "aws_cloudwatch_log_group", {"name": "/big", "retention_in_days": 30})]).lines
    assert big.usd == pytest.approx(2 * 0.50 + 2 * 30 / (730 / 24) * 0.03)  # the group's own assumption
    forever = priced([rc("g", "aws_cloudwatch_log_group", {"name": "/dbops/runner", "retention_in_days": 0})])
    assert forever.lines == () and "kept forever" in forever.unpriced[0].reason


@pytest.mark.parametrize("text, key", [
    ("[fargate]\nrun_minutes = -1\n", "fargate.run_minutes"),
    ("[fargate.targets.weekly-drill]\nrun_minutes = 'long'\n", "fargate.targets.weekly-drill.run_minutes"),
    ("[fargate.targets]\nweekly-drill = 60\n", "fargate.targets.weekly-drill"),
    ("[logs]\ningest_gb = 1\n", "logs.ingest_gb"),
])
def test_bad_runner_usage_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "usage.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"'{key}'"):
        est.load_usage(path)


def test_built_in_assumptions_give_the_weekly_drill_an_hour_and_other_runs_five_minutes() -> None:
    usage = est.load_usage(est.DEFAULT_USAGE_PATH)
    assert usage["fargate"]["run_minutes"] == 5
    assert usage["fargate"]["targets"]["weekly-drill"]["run_minutes"] == 60
    assert usage["logs"]["ingest_gb_per_month"] > 0


def test_a_notice_to_an_sns_topic_costs_nothing_and_any_other_target_is_not_guessed() -> None:
    notice = rc("aws_cloudwatch_event_target.task_failed", "aws_cloudwatch_event_target",
                {"rule": "f", "target_id": "alarm-topic", "arn": "arn:aws:sns:us-east-1:123456789012:dbops-lab"})
    (line,) = priced([notice]).lines
    assert line.usd == 0 and "SNS" in line.basis
    # the topic's ARN unknown at plan time: found from the configuration's reference
    unknown = rc("aws_cloudwatch_event_target.task_failed", "aws_cloudwatch_event_target", {"rule": "f", "arn": None})
    configuration = {"root_module": {"resources": [{"address": "aws_cloudwatch_event_target.task_failed",
                                                    "expressions": {"arn": {"references": ["aws_sns_topic.alarms.arn", "aws_sns_topic.alarms"]}}}]}}
    assert priced([unknown], {"configuration": configuration}).lines[0].usd == 0
    lambda_target = rc("aws_cloudwatch_event_target.t", "aws_cloudwatch_event_target",
                       {"rule": "f", "arn": "arn:aws:lambda:us-east-1:123456789012:function:f"})
    result = priced([lambda_target])
    assert result.lines == () and "not estimated" in result.unpriced[0].reason
