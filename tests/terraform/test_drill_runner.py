"""The drill-runner module, planned offline from its example: when each rule fires, what each task runs,
and what the tasks may do. The applied lab (test_lab_apply.py) checks the same module in the emulator."""

from __future__ import annotations

import json
from typing import Any

import hcl2

from tests.conftest import REPO
from tests.terraform.conftest import TF, ExamplePlan, ExamplePlans, unwrap

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

EXAMPLE = "drill-runner/complete"
EXAMPLE_DIR = TF / "modules" / "drill-runner" / "examples" / "complete"


def by_key(plan: ExamplePlan, type_: str, attribute: str) -> dict[str, Any]:
    """ATTRIBUTE of each planned TYPE resource, by its for_each key (else its name)."""
    return {rc.get("index", rc["name"]): rc["change"]["after"].get(attribute) for rc in plan.changes(type_)}


def schedules(plan: ExamplePlan) -> dict[str, str]:
    return {k: v for k, v in by_key(plan, "aws_cloudwatch_event_rule", "schedule_expression").items() if k != "task_failed"}


def commands(plan: ExamplePlan) -> dict[str, list[str]]:
    inputs = {k: v for k, v in by_key(plan, "aws_cloudwatch_event_target", "input").items() if k != "task_failed"}
    out = {}
    for key, text in inputs.items():
        overrides = json.loads(text)["containerOverrides"]
        assert [o["name"] for o in overrides] == ["dbops"], overrides
        out[key] = overrides[0]["command"]
    return out


def containers(plan: ExamplePlan) -> dict[str, dict[str, Any]]:
    defs = by_key(plan, "aws_ecs_task_definition", "container_definitions")
    out = {}
    for key, text in defs.items():
        (container,) = json.loads(text)
        out[key] = container
    return out


def test_rules_fire_before_at_and_after_the_window_and_daily(example_plans: ExamplePlans) -> None:
    plan = example_plans.results[EXAMPLE]
    assert schedules(plan) == {
        "weekly-drill": "cron(0 1 ? * SUN *)",  # the window's start
        "window-start": "cron(40 0 ? * SUN *)",  # 20 minutes before it: Aurora takes minutes to start
        "window-end": "cron(0 5 ? * SUN *)",  # 01:00 + 4 h
        "daily": "cron(0 6 * * ? *)",
    }


def test_a_window_across_midnight_moves_the_lead_and_the_end_to_the_next_or_previous_day(example_plans: ExamplePlans) -> None:
    early = example_plans.plan(EXAMPLE, window_days='["SUN", "WED"]', window_start="00:10", window_hours="3")
    assert early.error is None, early.error
    assert schedules(early) == {
        "weekly-drill": "cron(10 0 ? * SUN *)",  # the first day listed: one drill a week
        "window-start": "cron(50 23 ? * SAT,TUE *)",  # 00:10 - 20 min is the evening before
        "window-end": "cron(10 3 ? * SUN,WED *)",
        "daily": "cron(0 6 * * ? *)",
    }
    late = example_plans.plan(EXAMPLE, window_days='["SAT"]', window_start="22:30", window_hours="4")
    assert late.error is None, late.error
    assert schedules(late)["window-start"] == "cron(10 22 ? * SAT *)"
    assert schedules(late)["window-end"] == "cron(30 2 ? * SUN *)"  # 22:30 + 4 h is Sunday morning


def test_each_target_runs_its_dbops_command_on_the_env(example_plans: ExamplePlans) -> None:
    drills = ["--confirm", "prod:aurora:prod-aurora"]
    whole_env = ["--confirm", "prod"]  # schedule_confirm: schedule apply's alone, never the drills'
    assert commands(example_plans.results[EXAMPLE]) == {
        # scripts/drill-weekly ENV [--publish-metrics] [--confirm ...]: the image's entrypoint
        "weekly-drill": ["prod", "--publish-metrics", *drills],
        "window-start": ["schedule", "apply", "--env", "prod", *whole_env],
        "window-end": ["schedule", "apply", "--env", "prod", *whole_env],
        "daily-backup-verify": ["backup", "verify", "--env", "prod", "--publish-metrics", *drills],
        "daily-cost-check": ["cost", "check", "--env", "prod", "--publish-metrics", *drills],
        "daily-schedule-apply": ["schedule", "apply", "--env", "prod", *whole_env],
    }
    rules = by_key(example_plans.results[EXAMPLE], "aws_cloudwatch_event_target", "rule")
    rules.pop("task_failed")
    assert rules["weekly-drill"].endswith("-weekly-drill")
    assert {k for k, r in rules.items() if r.endswith("-daily")} == {"daily-backup-verify", "daily-cost-check", "daily-schedule-apply"}


def test_tasks_run_non_root_on_a_read_only_root_with_no_secret_in_the_definition(example_plans: ExamplePlans) -> None:
    plan = example_plans.results[EXAMPLE]
    found = containers(plan)
    assert set(found) == {"drill", "dbops"}
    assert "entryPoint" not in found["drill"]  # the image's own: scripts/drill-weekly
    assert found["dbops"]["entryPoint"] == ["dbops"]
    for container in found.values():
        assert container["user"] == "10001:10001"
        assert container["readonlyRootFilesystem"] is True and container["privileged"] is False
        assert "@sha256:" in container["image"]
        assert "secrets" not in container
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["FAILOVER_TARGET"] == env["RESTORE_TARGET"] == "aurora:prod-aurora"
        assert all(v.startswith("/var/dbops/") for k, v in env.items() if k.endswith("_DIR"))  # the writable scratch volume
        assert container["mountPoints"] == [{"sourceVolume": "scratch", "containerPath": "/var/dbops", "readOnly": False}]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
    for rc in plan.changes("aws_ecs_task_definition"):
        after = rc["change"]["after"]
        assert after["requires_compatibilities"] == ["FARGATE"] and after["network_mode"] == "awsvpc"
        assert [v["name"] for v in after["volume"]] == ["scratch"]


def test_targets_run_fargate_on_a_pinned_platform_in_private_subnets(example_plans: ExamplePlans) -> None:
    for rc in example_plans.results[EXAMPLE].changes("aws_cloudwatch_event_target"):
        if rc["name"] == "task_failed":
            continue
        (ecs,) = rc["change"]["after"]["ecs_target"]
        assert ecs["launch_type"] == "FARGATE" and ecs["task_count"] == 1
        assert ecs["platform_version"] == "1.4.0"  # never LATEST, which moves under a reviewed drill
        (network,) = ecs["network_configuration"]
        assert network["assign_public_ip"] is False
        assert network["subnets"] == ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]


def test_task_role_policy_is_exactly_the_one_given(example_plans: ExamplePlans) -> None:
    policies = by_key(example_plans.results[EXAMPLE], "aws_iam_role_policy", "policy")
    given = json.loads((EXAMPLE_DIR / "task-policy.json").read_text())
    task = [p for p in policies.values() if p is not None and json.loads(p) == given]
    assert len(task) == 1


def test_log_group_is_encrypted_and_kept_a_year_by_default() -> None:
    with (TF / "modules" / "drill-runner" / "variables.tf").open() as f:
        variables = {name: body for block in hcl2.load(f)["variable"] for name, body in block.items()}
    assert unwrap(variables["log_retention_days"]["default"]) == 365
    with (TF / "modules" / "drill-runner" / "main.tf").open() as f:
        groups = [b["aws_cloudwatch_log_group"]["this"] for b in hcl2.load(f)["resource"] if "aws_cloudwatch_log_group" in b]
    assert unwrap(groups[0]["kms_key_id"]) == "${var.kms_key_arn}"


def test_the_database_security_group_admits_the_runner_only_when_given(example_plans: ExamplePlans) -> None:
    without = example_plans.results[EXAMPLE]
    assert {rc["name"] for rc in without.changes("aws_security_group_rule")} == {"https_out"}
    with_db = example_plans.plan(EXAMPLE, db_security_group_id="sg-0123456789abcdef0")
    assert with_db.error is None, with_db.error
    rules = {rc["name"]: rc["change"]["after"] for rc in with_db.changes("aws_security_group_rule")}
    assert set(rules) == {"https_out", "to_cluster", "cluster_from_runner"}
    assert rules["to_cluster"]["type"] == "egress" and rules["to_cluster"]["source_security_group_id"] == "sg-0123456789abcdef0"
    assert rules["cluster_from_runner"]["type"] == "ingress" and rules["cluster_from_runner"]["security_group_id"] == "sg-0123456789abcdef0"
    assert rules["to_cluster"]["from_port"] == rules["cluster_from_runner"]["to_port"] == 5432


def test_a_bad_window_or_an_unpinned_image_fails_the_plan_naming_the_variable(example_plans: ExamplePlans) -> None:
    for variable, value in (("window_start", "25:00"), ("window_days", '["SUNDAY"]'), ("window_hours", "25"),
                            ("image_digest", "latest")):
        result = example_plans.plan(EXAMPLE, **{variable: value})
        assert result.plan is None, f"{variable}={value} planned"
        named = "image" if variable == "image_digest" else variable
        assert f"var.{named}" in (result.error or "") or f"The {named} must" in (result.error or ""), result.error


def test_the_tasks_get_the_env_s_terraform_outputs_and_no_secret(example_plans: ExamplePlans) -> None:
    """The tasks cannot run Terraform: dbops reads the env's outputs from DBOPS_TF_OUTPUTS (ops/terraform/envs.py)."""
    for job, container in containers(example_plans.results[EXAMPLE]).items():
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["DBOPS_TF_OUTPUTS_ENV"] == "prod", job
        outputs = json.loads(env["DBOPS_TF_OUTPUTS"])
        assert outputs["dbops_targets"] == ["aurora:prod-aurora"], job
        details = outputs["dbops_target_details"]["aurora:prod-aurora"]
        assert details["secret_arn"].startswith("arn:aws:secretsmanager:")  # where the secret is, not its value
        assert not any("password" in str(k).lower() for k in details), details


def test_the_lab_passes_the_outputs_dbops_reads_to_its_runner() -> None:
    with (TF / "envs" / "lab" / "main.tf").open() as f:
        parsed = hcl2.load(f)
    runner = next(body for block in parsed["module"] for name, body in block.items() if name == "runner")
    assert unwrap(runner["env_outputs_json"]) == "${jsonencode(local.dbops_outputs)}"
    (local,) = [unwrap(block["dbops_outputs"]) for block in parsed["locals"] if "dbops_outputs" in block]
    assert set(local) == {"dbops_targets", "dbops_target_details"}
    with (TF / "envs" / "lab" / "outputs.tf").open() as f:
        outputs = {name: body for block in hcl2.load(f)["output"] for name, body in block.items()}
    for name in local:  # what the runner gets is what the env's outputs say
        assert unwrap(outputs[name]["value"]) == f"${{local.dbops_outputs.{name}}}"


def test_the_start_lead_is_dbops_s_own_and_not_an_input() -> None:
    """ops/window.py counts a run up to LEAD before the window as inside it: a rule that fired earlier would
    have `schedule apply` judge itself outside the window and leave the cluster stopped."""
    from ops.window import LEAD

    with (TF / "modules" / "drill-runner" / "variables.tf").open() as f:
        variables = {name for block in hcl2.load(f)["variable"] for name in block}
    assert "start_lead_minutes" not in variables
    with (TF / "modules" / "drill-runner" / "main.tf").open() as f:
        locals_ = {k: v for block in hcl2.load(f)["locals"] for k, v in block.items()}
    assert unwrap(locals_["start_lead_minutes"]) * 60 == LEAD.total_seconds()


def test_an_env_without_a_window_has_no_start_or_stop_and_drills_at_its_own_schedule(example_plans: ExamplePlans) -> None:
    plan = example_plans.plan(EXAMPLE, window_days="null", drill_schedule="cron(30 2 ? * WED *)")
    assert plan.error is None, plan.error
    assert schedules(plan) == {"weekly-drill": "cron(30 2 ? * WED *)", "daily": "cron(0 6 * * ? *)"}
    assert set(commands(plan)) == {"weekly-drill", "daily-backup-verify", "daily-cost-check"}  # no schedule apply
    assert not any("schedule" in c for c in commands(plan).values())


def test_the_weekly_drill_has_one_schedule_the_window_s_or_its_own(example_plans: ExamplePlans) -> None:
    neither = example_plans.plan(EXAMPLE, window_days="null")
    both = example_plans.plan(EXAMPLE, drill_schedule="cron(30 2 ? * WED *)")
    for result in (neither, both):
        assert result.plan is None
        assert "The drill_schedule is needed when no window is given, and refused with one" in (result.error or ""), result.error


def test_a_task_size_fargate_does_not_run_fails_the_plan(example_plans: ExamplePlans) -> None:
    for cpu, memory in (("256", "4096"), ("4096", "4096"), ("1024", "1536")):
        result = example_plans.plan(EXAMPLE, cpu=cpu, memory=memory)
        assert result.plan is None, f"cpu {cpu} memory {memory} planned"
        assert "a size Fargate accepts with the cpu given" in (result.error or ""), result.error
    control = example_plans.plan(EXAMPLE, cpu="256", memory="2048")
    assert control.error is None, control.error


def lab_defaults() -> dict[str, Any]:
    with (TF / "envs" / "lab" / "variables.tf").open() as f:
        return {name: unwrap(body.get("default")) for block in hcl2.load(f)["variable"] for name, body in block.items()}


def test_the_lab_runner_window_is_dbops_toml_s() -> None:
    schedule = tomllib.loads((REPO / "dbops.toml").read_text())["envs"]["lab"]["schedule"]
    defaults = lab_defaults()
    assert (defaults["window_days"], defaults["window_start"], defaults["window_hours"]) == \
        (schedule["days"], schedule["start"], schedule["hours"])
    with (TF / "envs" / "lab" / "main.tf").open() as f:
        runner = next(body for block in hcl2.load(f)["module"] for name, body in block.items() if name == "runner")
    for key in ("window_days", "window_start", "window_hours"):
        assert unwrap(runner[key]) == f"${{var.{key}}}"


def test_the_lab_runner_policy_file_is_a_policy_document() -> None:
    policy = json.loads((TF / "envs" / "lab" / "runner-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    assert policy["Statement"] and all(s["Effect"] in ("Allow", "Deny") and s["Action"] for s in policy["Statement"])


def test_a_task_that_fails_or_never_starts_is_told_to_the_alarm_topic(example_plans: ExamplePlans) -> None:
    """The rule's pattern names the cluster's ARN, known after apply: test_lab_apply.py reads it back."""
    plan = example_plans.results[EXAMPLE]
    (target,) = [rc["change"]["after"] for rc in plan.changes("aws_cloudwatch_event_target") if rc["name"] == "task_failed"]
    (transformer,) = target["input_transformer"]
    assert transformer["input_paths"]["exitCode"] == "$.detail.containers[0].exitCode"
    assert "<exitCode>" in transformer["input_template"] and "<reason>" in transformer["input_template"]
    # the notice rule's own failed invocations are alarmed like the schedules'
    alarms = {rc["change"]["after"]["alarm_name"] for rc in plan.changes("aws_cloudwatch_metric_alarm")}
    assert "dbops-example-runner-dbops-example-runner-task-failed-failed-invocations" in alarms
    assert len([a for a in alarms if a.endswith("-failed-invocations")]) == 5
