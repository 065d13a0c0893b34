"""What a saved plan does, read from `terraform show -json`: the counts, replaces either way round,
and which deletes of resources holding data --allow-destroy must name."""

from __future__ import annotations

from typing import Any

import pytest

from ops.errors import UsageError
from ops.terraform import saved_plan


def _rc(address: str, type_: str, *actions: str) -> dict[str, Any]:
    return {"address": address, "type": type_, "change": {"actions": list(actions)}}


PLAN = {
    "variables": {"region": {"value": "us-east-1"}, "aurora_master_password": {"value": "x"}},
    "resource_changes": [
        _rc("module.t.aws_dynamodb_table.this", "aws_dynamodb_table", "delete", "create"),
        _rc("module.a.aws_rds_cluster.this", "aws_rds_cluster", "create", "delete"),  # create_before_destroy
        _rc("module.k.aws_kms_alias.this", "aws_kms_alias", "delete"),
        _rc("module.k.aws_kms_key.this", "aws_kms_key", "update"),
        _rc("module.m.aws_cloudwatch_metric_alarm.x", "aws_cloudwatch_metric_alarm", "create"),
        _rc("data.aws_region.current", "aws_region", "read"),
        _rc("module.b.aws_backup_plan.this", "aws_backup_plan", "no-op"),
    ],
}


def test_counts_as_terraform_counts_them_with_replaces_apart() -> None:
    summary = saved_plan.summarize(PLAN)
    assert (summary.add, summary.change, summary.destroy, summary.replace) == (3, 1, 3, 2)
    assert summary.line() == "Plan: 3 to add, 1 to change, 3 to destroy. 2 to replace."
    assert [c.action for c in summary.shown()] == ["replace", "replace", "delete", "update", "create"]
    # an alias and an update hold no data; the table and the cluster are replaced either way round
    assert [c.address for c in summary.stateful_removals()] == ["module.t.aws_dynamodb_table.this", "module.a.aws_rds_cluster.this"]


def test_every_stateful_removal_must_be_named_and_nothing_else() -> None:
    pinned = {"region": "us-east-1"}
    with pytest.raises(UsageError, match=r"module.a.aws_rds_cluster.this \(replace\)") as refused:
        saved_plan.checked(PLAN, "prod", pinned, ["module.t.aws_dynamodb_table.this"], destroy_plan=False)
    assert "module.t.aws_dynamodb_table.this" not in str(refused.value)
    with pytest.raises(UsageError, match="does not delete or replace"):
        saved_plan.checked(PLAN, "prod", pinned, ["module.k.aws_kms_alias.this"], destroy_plan=False)
    both = ["module.t.aws_dynamodb_table.this", "module.a.aws_rds_cluster.this"]
    assert saved_plan.checked(PLAN, "prod", pinned, both, destroy_plan=False).replace == 2
    with pytest.raises(UsageError, match="region was 'us-east-1', the env now says 'eu-west-1'"):
        saved_plan.checked(PLAN, "prod", {"region": "eu-west-1"}, both, destroy_plan=False)


def test_an_action_it_does_not_know_is_refused_not_guessed() -> None:
    plan = {"resource_changes": [_rc("aws_dynamodb_table.t", "aws_dynamodb_table", "explode")]}
    with pytest.raises(UsageError, match="does not know"):
        saved_plan.summarize(plan)


def test_a_switch_to_provisioned_with_no_capacity_is_refused_with_the_way_round() -> None:
    def plan(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        rc = _rc("module.t.aws_dynamodb_table.this", "aws_dynamodb_table", "update")
        rc["change"].update(before=before, after=after)
        return {"resource_changes": [rc]}

    on_demand = {"billing_mode": "PAY_PER_REQUEST", "read_capacity": 0, "write_capacity": 0}
    blocked = plan(on_demand, {**on_demand, "billing_mode": "PROVISIONED"})
    assert saved_plan.unappliable_switches(blocked) == ["module.t.aws_dynamodb_table.this"]
    with pytest.raises(UsageError, match="aws dynamodb update-table --billing-mode PROVISIONED"):
        saved_plan.checked(blocked, "prod", {}, [], destroy_plan=False)
    # with a capacity to switch with, and the other way round, there is nothing to refuse
    assert saved_plan.unappliable_switches(plan(on_demand, {"billing_mode": "PROVISIONED", "read_capacity": 5, "write_capacity": 5})) == []
    assert saved_plan.unappliable_switches(plan({**on_demand, "billing_mode": "PROVISIONED"}, on_demand)) == []
