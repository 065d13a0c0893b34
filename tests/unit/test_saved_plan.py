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


def test_a_plan_that_errored_is_refused_before_its_counts() -> None:
    errored = {**PLAN, "errored": True}
    with pytest.raises(UsageError, match="is of a plan that failed .errored, incomplete.: it cannot be applied"):
        saved_plan.checked(errored, "lab", {}, ["module.t.aws_dynamodb_table.this", "module.a.aws_rds_cluster.this"], destroy_plan=False)
    # negative control: the same plan, complete, may be applied
    both = ["module.t.aws_dynamodb_table.this", "module.a.aws_rds_cluster.this"]
    assert saved_plan.checked({**PLAN, "errored": False}, "lab", {}, both, destroy_plan=False).replace == 2


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


def _update(address: str, type_: str, before: dict[str, Any], after: dict[str, Any], **marks: Any) -> dict[str, Any]:
    rc = _rc(address, type_, "update")
    rc["change"].update(before=before, after=after, **marks)
    return rc


CLUSTER = {"deletion_protection": True, "skip_final_snapshot": False, "backup_retention_period": 14}
BACKUP_RULES = [{"rule_name": "daily", "lifecycle": [{"delete_after": 35}]},
                {"rule_name": "weekly", "lifecycle": [{"delete_after": 365}]}]


@pytest.mark.parametrize("rc, attribute, before, after", [
    (_update("k", "aws_kms_key", {"is_enabled": True}, {"is_enabled": False}), "is_enabled", "true", "false"),
    (_update("t", "aws_dynamodb_table", {"point_in_time_recovery": [{"enabled": True}]},
             {"point_in_time_recovery": [{"enabled": False}]}), "point_in_time_recovery.enabled", "true", "false"),
    (_update("t", "aws_dynamodb_table", {"deletion_protection_enabled": True}, {"deletion_protection_enabled": False}),
     "deletion_protection_enabled", "true", "false"),
    (_update("c", "aws_rds_cluster", CLUSTER, {**CLUSTER, "deletion_protection": False}), "deletion_protection", "true", "false"),
    (_update("c", "aws_rds_cluster", CLUSTER, {**CLUSTER, "skip_final_snapshot": True}), "skip_final_snapshot", "false", "true"),
    (_update("c", "aws_rds_cluster", CLUSTER, {**CLUSTER, "backup_retention_period": 1}), "backup_retention_period", "14", "1"),
    (_update("i", "aws_db_instance", CLUSTER, {**CLUSTER, "backup_retention_period": 0}), "backup_retention_period", "14", "0"),
    (_update("p", "aws_backup_plan", {"rule": BACKUP_RULES}, {"rule": BACKUP_RULES[:1]}), "rule[weekly]", "present", "removed"),
    (_update("p", "aws_backup_plan", {"rule": BACKUP_RULES},
             {"rule": [BACKUP_RULES[1], {"rule_name": "daily", "lifecycle": [{"delete_after": 7}]}]}),
     "rule[daily].lifecycle.delete_after", "35", "7"),
    (_update("p", "aws_backup_plan", {"rule": [{"rule_name": "daily", "lifecycle": []}]}, {"rule": BACKUP_RULES[:1]}),
     "rule[daily].lifecycle.delete_after", "(never)", "35"),
    (_update("s", "aws_s3_bucket", {"versioning": [{"enabled": True}]}, {"versioning": [{"enabled": False}]}),
     "versioning.enabled", "true", "false"),
    (_update("v", "aws_s3_bucket_versioning", {"versioning_configuration": [{"status": "Enabled"}]},
             {"versioning_configuration": [{"status": "Suspended"}]}), "versioning_configuration.status", "Enabled", "Suspended"),
    (_update("b", "aws_backup_vault", {"force_destroy": False}, {"force_destroy": True}), "force_destroy", "false", "true"),
    # known only at apply: it may be a weakening, so it is one until named
    (_update("c", "aws_rds_cluster", CLUSTER, {"deletion_protection": True, "skip_final_snapshot": False},
             after_unknown={"backup_retention_period": True}), "backup_retention_period", "14", "(known after apply)"),
    # a sensitive value is never printed, and still judged
    (_update("c", "aws_rds_cluster", CLUSTER, {**CLUSTER, "backup_retention_period": 3},
             before_sensitive={"backup_retention_period": True}, after_sensitive={"backup_retention_period": True}),
     "backup_retention_period", "(sensitive)", "(sensitive)"),
])
def test_an_update_that_weakens_what_protects_data_is_named_with_before_and_after(rc, attribute, before, after) -> None:  # type: ignore[no-untyped-def]
    plan = {"resource_changes": [rc]}
    summary = saved_plan.summarize(plan)
    assert [(w.address, w.attribute, w.before, w.after) for w in summary.weakenings] == [(rc["address"], attribute, before, after)]
    assert summary.as_dict()["weakenings"][0]["attribute"] == attribute
    with pytest.raises(UsageError, match="would weaken what protects 1 resource") as refused:
        saved_plan.checked(plan, "prod", {}, [], destroy_plan=False)
    assert f"{rc['address']} {attribute} {before} -> {after}" in str(refused.value)
    assert saved_plan.checked(plan, "prod", {}, [rc["address"]], destroy_plan=False).change == 1


@pytest.mark.parametrize("rc", [
    _update("k", "aws_kms_key", {"is_enabled": False}, {"is_enabled": True}),
    _update("k", "aws_kms_key", {"is_enabled": True, "deletion_window_in_days": 30}, {"is_enabled": True, "deletion_window_in_days": 7}),
    _update("t", "aws_dynamodb_table", {"point_in_time_recovery": [{"enabled": False}]}, {"point_in_time_recovery": [{"enabled": True}]}),
    _update("c", "aws_rds_cluster", CLUSTER, {**CLUSTER, "backup_retention_period": 35}),
    _update("c", "aws_rds_cluster", {**CLUSTER, "deletion_protection": False}, {**CLUSTER, "deletion_protection": True}),
    _update("p", "aws_backup_plan", {"rule": BACKUP_RULES}, {"rule": [*BACKUP_RULES, {"rule_name": "monthly"}]}),
    _update("p", "aws_backup_plan", {"rule": BACKUP_RULES[:1]},
            {"rule": [{"rule_name": "daily", "lifecycle": [{"delete_after": 90}]}]}),
    _update("a", "aws_kms_alias", {"is_enabled": True}, {"is_enabled": False}),  # not a watched type
])
def test_a_strengthening_or_an_unwatched_change_is_no_weakening_and_allow_destroy_on_it_is_a_typo(rc) -> None:  # type: ignore[no-untyped-def]
    plan = {"resource_changes": [rc]}
    assert saved_plan.summarize(plan).weakenings == ()
    assert saved_plan.checked(plan, "prod", {}, [], destroy_plan=False).change == 1
    with pytest.raises(UsageError, match="nor weaken what protects it"):
        saved_plan.checked(plan, "prod", {}, [rc["address"]], destroy_plan=False)


def test_a_deposed_object_is_listed_apart_and_its_delete_named() -> None:
    deposed = {**_rc("module.a.aws_rds_cluster.this", "aws_rds_cluster", "delete"), "deposed": "6f1c2a9e"}
    plan = {"resource_changes": [_rc("module.a.aws_rds_cluster.this", "aws_rds_cluster", "no-op"), deposed]}
    summary = saved_plan.summarize(plan)
    assert summary.shown() == []
    assert [(c.address, c.action, c.deposed) for c in summary.deposed()] == [("module.a.aws_rds_cluster.this", "delete", "6f1c2a9e")]
    assert summary.as_dict()["deposed"] == [{"address": "module.a.aws_rds_cluster.this", "type": "aws_rds_cluster",
                                            "action": "delete", "deposed": "6f1c2a9e"}]
    with pytest.raises(UsageError, match=r"module.a.aws_rds_cluster.this \(delete of deposed object 6f1c2a9e\)"):
        saved_plan.checked(plan, "prod", {}, [], destroy_plan=False)
    assert saved_plan.checked(plan, "prod", {}, ["module.a.aws_rds_cluster.this"], destroy_plan=False).destroy == 1


def test_the_plan_applied_is_a_private_copy_of_the_bytes_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import os
    import stat

    source = tmp_path / "dbops-apply.tfplan"
    source.write_bytes(b"the plan that was read")
    sha = hashlib.sha256(b"the plan that was read").hexdigest()
    private = saved_plan.private_dir()
    try:
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        copy = saved_plan.private_copy(source, private, sha[:12].upper(), max_age_hours=24)
        assert copy.sha256 == sha and 0 <= copy.age_s < 60
        assert stat.S_IMODE(copy.path.stat().st_mode) == 0o600
        source.write_bytes(b"another plan, written since")  # the copy is what was checked, whatever lands at source
        assert copy.path.read_bytes() == b"the plan that was read"
        with pytest.raises(UsageError, match=f"not the plan you read: its sha256 is {saved_plan.short(hashlib.sha256(b'another plan, written since').hexdigest())}"):
            saved_plan.private_copy(source, private, sha, max_age_hours=24)
        with pytest.raises(UsageError, match="is not a plan's sha256"):
            saved_plan.private_copy(source, private, sha[:8], max_age_hours=24)
        # older than the bound: refused; within it, the same file is taken
        old = source.stat().st_mtime - 25 * 3600
        os.utime(source, (old, old))
        with pytest.raises(UsageError, match=r"made 25.0 h ago, outside the 24 h"):
            saved_plan.private_copy(source, private, None, max_age_hours=24)
        (tmp_path / "other").mkdir()
        assert saved_plan.private_copy(source, tmp_path / "other", None, max_age_hours=48).age_s > 24 * 3600
        link = tmp_path / "link.tfplan"
        link.symlink_to(source)
        with pytest.raises(UsageError, match="cannot be read"):
            saved_plan.private_copy(link, private, None, max_age_hours=48)
    finally:
        saved_plan.remove_private(private)
    assert not private.exists()


def test_a_terraform_error_whose_detail_spans_lines_is_one_line() -> None:
    """A provider that dies as it starts (a signal during its handshake) answers a diagnostic of many lines;
    the error dbops prints from it is one."""
    from types import SimpleNamespace

    from ops.errors import TerraformError
    from ops.terraform.engine import EmbeddedEngine

    engine = object.__new__(EmbeddedEngine)
    engine.ws = SimpleNamespace(workdir="/tmp/env")  # type: ignore[attr-defined]
    events = [{"@level": "error", "diagnostic": {"summary": "Unrecognized remote plugin message: ",
                                                 "detail": "Failed to read any lines from plugin's stdout\nThis usually means\n  the plugin was not compiled"}}]
    with pytest.raises(TerraformError) as failed:
        engine._check(SimpleNamespace(retcode=1, error="", value=events), "apply")
    assert "\n" not in str(failed.value) and "Failed to read any lines" in str(failed.value)
