"""`dbops cost estimate --env lab` prices the lab's drill-runner from the env's own plan."""

import json

import pytest


def test_the_lab_runner_is_priced_and_nothing_of_it_is_left_unpriced(lab) -> None:  # type: ignore[no-untyped-def]
    result = lab("cost", "estimate", "--env", "lab", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == (1 if data["over_budget"] else 0), result.output
    runner = {line["address"]: line for line in data["lines"] if line["address"].startswith("module.runner.")}
    tasks = {a for a, line in runner.items() if line["type"] == "aws_cloudwatch_event_target" and "Fargate" in line["basis"]}
    assert len(tasks) == 6  # weekly drill, window start and end, three daily commands
    assert runner["module.runner.aws_cloudwatch_event_target.task_failed"]["usd"] == 0  # an SNS notice
    assert "module.runner.aws_cloudwatch_log_group.this" in runner
    assert [u["address"] for u in data["unpriced"] if u["address"].startswith("module.runner.")] == []
    weekly = runner['module.runner.aws_cloudwatch_event_target.this["weekly-drill"]']
    assert weekly["usd"] == pytest.approx(730 / 168 * 1.0 * (0.5 * 0.04048 + 1 * 0.004445), abs=0.005)  # 0.11 USD
    assert "cron(0 1 ? * SUN *)" in weekly["basis"]
    alarms = [a for a in data["lines"] if "rule_failed_invocations" in a["address"]]
    assert len(alarms) == 5 and all(a["usd"] == pytest.approx(0.10) for a in alarms)
    # what the runner adds is small beside the estate: well under a dollar and a half
    assert sum(line["usd"] for line in runner.values()) + sum(a["usd"] for a in alarms) < 1.5
