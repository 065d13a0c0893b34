"""The analytics lake as Terraform plans it (the module's example and the estate's, offline): what
`dbops cost estimate` makes of the plan, item by item, and the variables' validation. (The export
policy names the key's ARN, known only after apply: tests/terraform/test_lab_apply.py reads it.)"""

from __future__ import annotations

import pytest

from ops.cost import estimate as est
from tests.terraform.conftest import ExamplePlans

CATALOG = est.load_catalog("us-east-1")
USAGE = est.load_usage(est.DEFAULT_USAGE_PATH)
LAKE_TYPES = {"aws_s3_bucket", "aws_athena_workgroup", "aws_glue_catalog_database", "aws_kms_key"}


def test_the_estates_lake_is_priced_item_by_item_under_40_usd_a_month(example_plans: ExamplePlans) -> None:
    plan = example_plans.results["estate/complete"].plan
    assert plan is not None, example_plans.results["estate/complete"].error
    result = est.estimate(plan, CATALOG, USAGE)
    lake = [line for line in result.lines if line.address.startswith("module.estate.module.lake.")]
    assert {line.type for line in lake} == LAKE_TYPES
    assert not [u for u in result.unpriced if u.address.startswith("module.estate.module.lake.")]
    subtotal = result.by_module()["module.estate.module.lake"]
    print("lake:", ", ".join(f"{line.type} {line.usd:.2f}" for line in lake), f"= {subtotal:.2f} USD/month")
    assert subtotal == pytest.approx(sum(line.usd for line in lake))
    assert subtotal == pytest.approx(5.90, abs=0.01)  # 0.55 S3 + 4.35 Athena + 0 Glue + 1 KMS
    assert subtotal < 40
    # Negative control: ten times the queries, each scanning ten times as much, is over the 40 USD line;
    # the workgroup's 1 GiB cutoff still bounds each query.
    heavy = {**USAGE, "lake": {**USAGE["lake"], "queries_per_day": 3000, "scanned_mb_per_query": 1000}}
    over = est.estimate(plan, CATALOG, heavy).by_module()["module.estate.module.lake"]
    assert over > 40


def test_the_workgroups_cutoff_in_the_plan_is_the_one_priced(example_plans: ExamplePlans) -> None:
    plan = example_plans.results["analytics-lake/complete"].plan
    assert plan is not None
    workgroup = next(rc for rc in plan["resource_changes"] if rc["type"] == "aws_athena_workgroup")
    configuration = workgroup["change"]["after"]["configuration"][0]
    assert configuration["bytes_scanned_cutoff_per_query"] == 1024 ** 3
    assert configuration["enforce_workgroup_configuration"] is True
    assert configuration["result_configuration"][0]["encryption_configuration"][0]["encryption_option"] == "SSE_KMS"
    huge = {**USAGE, "lake": {**USAGE["lake"], "scanned_mb_per_query": 100_000}}
    line = next(x for x in est.estimate(plan, CATALOG, huge).lines if x.type == "aws_athena_workgroup")
    assert line.usd == pytest.approx(300 * 730 / 24 * 1024 / 1024 ** 2 * 5.0)  # held to 1 GiB a query


def test_bad_lake_variables_fail_at_plan_naming_the_variable(example_plans: ExamplePlans) -> None:
    for variable, value in (("bytes_scanned_cutoff_per_query", "1000"), ("bytes_scanned_cutoff_per_query", "15000000.5"),
                            ("transient_expiration_days", "0"), ("transient_expiration_days", "31")):
        result = example_plans.plan("analytics-lake/complete", **{variable: value})
        assert result.plan is None, f"{variable}={value} planned"
        assert f"The {variable} must" in (result.error or ""), result.error
    # Negative control: the smallest cutoff Athena takes plans.
    assert example_plans.plan("analytics-lake/complete", bytes_scanned_cutoff_per_query="10485760").plan is not None


def lifecycle_rules(plan: dict, address_suffix: str) -> dict[str, dict]:
    bucket = next(rc for rc in plan["resource_changes"]
                  if rc["type"] == "aws_s3_bucket" and rc["address"].endswith(address_suffix))
    return {r["id"]: r for r in bucket["change"]["after"]["lifecycle_rule"]}


def test_exports_and_quarantined_batches_of_each_pipeline_expire_and_old_versions_leave_no_markers(
        example_plans: ExamplePlans) -> None:
    plan = example_plans.results["analytics-lake/complete"].plan
    assert plan is not None, example_plans.results["analytics-lake/complete"].error
    rules = lifecycle_rules(plan, "module.lake.aws_s3_bucket.this")
    for pipeline in ("lake/orders", "lake/sessions"):
        name = pipeline.replace("/", "-")
        exports, quarantine = rules[f"exports-{name}"], rules[f"quarantine-{name}"]
        assert (exports["prefix"], exports["expiration"][0]["days"]) == (f"{pipeline}/_exports/", 7)
        assert (quarantine["prefix"], quarantine["expiration"][0]["days"]) == (f"{pipeline}/_quarantine/", 30)
        assert exports["enabled"] and quarantine["enabled"]
    versions = rules["noncurrent-versions-and-incomplete-uploads"]
    assert versions["noncurrent_version_expiration"][0]["days"] == 30
    assert versions["expiration"][0]["expired_object_delete_marker"] is True
    # The estate's lake gets the same rules for the prefixes its pipelines are declared with.
    estate = example_plans.results["estate/complete"].plan
    assert estate is not None
    assert {"exports-lake-orders", "quarantine-lake-orders"} <= set(lifecycle_rules(estate, "module.lake.aws_s3_bucket.this"))
    # Negative control: other days reach the plan (nothing above is a constant of the test's own).
    other = example_plans.plan("analytics-lake/complete", export_expiration_days="3", quarantine_expiration_days="90").plan
    assert other is not None
    changed = lifecycle_rules(other, "module.lake.aws_s3_bucket.this")
    assert changed["exports-lake-orders"]["expiration"][0]["days"] == 3
    assert changed["quarantine-lake-orders"]["expiration"][0]["days"] == 90


def test_bad_expiry_days_fail_at_plan_naming_the_variable(example_plans: ExamplePlans) -> None:
    for variable, value in (("export_expiration_days", "0"), ("export_expiration_days", "1.5"),
                            ("quarantine_expiration_days", "366"), ("quarantine_expiration_days", "0")):
        result = example_plans.plan("analytics-lake/complete", **{variable: value})
        assert result.plan is None, f"{variable}={value} planned"
        assert f"The {variable} must" in (result.error or ""), result.error
