"""The rds-proxy module and its switch in the estate: read from the HCL and from offline plans of the
examples (the estate's with the proxy switched on by an override file), and priced by `cost estimate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest

from ops.cost import estimate as est
from tests.terraform.conftest import TF, ExamplePlan, ExamplePlans, hcl_resource, unwrap

CATALOG = est.load_catalog("us-east-1")
USAGE = est.load_usage(est.DEFAULT_USAGE_PATH)


def _load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f)


def _variable_default(env: str, name: str) -> Any:
    blocks = [b[name] for b in _load(TF / "envs" / env / "variables.tf").get("variable", []) if name in b]
    assert len(blocks) == 1, f"envs/{env}: variable {name} not declared once"
    return unwrap(blocks[0].get("default"))


def _estate_argument(env: str, name: str) -> Any:
    calls = [b["estate"] for b in _load(TF / "envs" / env / "main.tf").get("module", []) if "estate" in b]
    return unwrap(calls[0].get(name))


def test_proxy_is_off_in_the_lab_and_on_in_prod_by_default() -> None:
    for env, default in (("lab", False), ("prod", True)):
        assert _variable_default(env, "rds_proxy_enabled") is default, env
        assert _estate_argument(env, "rds_proxy_enabled") == "${var.rds_proxy_enabled}", env
    estate = [b["rds_proxy_enabled"] for b in _load(TF / "modules/estate/variables.tf")["variable"] if "rds_proxy_enabled" in b]
    assert unwrap(estate[0]["default"]) is False  # anyone else composing the estate opts in


def test_proxy_requires_tls_uses_the_secret_and_never_logs_statements() -> None:
    proxy = hcl_resource("rds-proxy", "aws_db_proxy", "this")
    assert proxy["engine_family"] == "POSTGRESQL"
    assert proxy["require_tls"] is True
    assert proxy["debug_logging"] is False
    auth = {k: unwrap(v) for k, v in unwrap(proxy["auth"]).items()}
    assert auth["auth_scheme"] == "SECRETS" and auth["secret_arn"] == "${var.secret_arn}"
    assert auth["iam_auth"] == "${var.iam_auth}"


# --- offline plans ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def estate_with_proxy(example_plans: ExamplePlans) -> ExamplePlan:
    """The estate example planned with the proxy switched on (as prod has it) by an override file."""
    override = example_plans.workdir("estate/complete") / "dbops_test_proxy_override.tf"
    override.write_text('module "estate" {\n  rds_proxy_enabled = true\n}\n')
    try:
        return example_plans.plan("estate/complete")
    finally:
        override.unlink()


def _proxy_line(plan: dict[str, Any]) -> est.Line:
    result = est.estimate(plan, CATALOG, USAGE)
    assert not [u for u in result.unpriced if u.type.startswith("aws_db_proxy")], result.unpriced
    lines = [line for line in result.lines if line.type == "aws_db_proxy"]
    assert len(lines) == 1, result.lines
    return lines[0]


def test_the_module_example_plans_the_proxy_its_target_and_role(example_plans: ExamplePlans) -> None:
    result = example_plans.results["rds-proxy/complete"]
    assert result.error is None, result.error
    types = {rc["type"] for rc in result.changes() if rc["address"].startswith("module.proxy.")}
    assert types == {"aws_db_proxy", "aws_db_proxy_default_target_group", "aws_db_proxy_target", "aws_iam_role",
                     "aws_iam_role_policy", "aws_security_group", "aws_security_group_rule"}
    pool = result.changes("aws_db_proxy_default_target_group")[0]["change"]["after"]["connection_pool_config"][0]
    assert (pool["max_connections_percent"], pool["max_idle_connections_percent"], pool["connection_borrow_timeout"]) == (90, 45, 120)


def test_estate_has_no_proxy_unless_switched_on(example_plans: ExamplePlans, estate_with_proxy: ExamplePlan) -> None:
    assert example_plans.results["estate/complete"].changes("aws_db_proxy") == []
    assert estate_with_proxy.error is None, estate_with_proxy.error
    proxies = estate_with_proxy.changes("aws_db_proxy")
    assert [rc["address"] for rc in proxies] == ["module.estate.module.proxy[0].aws_db_proxy.this"]
    after = proxies[0]["change"]["after"]
    assert after["name"] == "example-aurora-proxy" and after["require_tls"] is True
    assert after["auth"][0]["iam_auth"] == "DISABLED"
    pool = estate_with_proxy.changes("aws_db_proxy_default_target_group")[0]["change"]["after"]["connection_pool_config"][0]
    assert (pool["max_connections_percent"], pool["max_idle_connections_percent"]) == (90, 45)
    # the cluster's security group gets a rule for the proxy, nothing else of the estate changes
    others = {rc["address"] for rc in estate_with_proxy.changes()} - {rc["address"] for rc in example_plans.results["estate/complete"].changes()}
    assert others and all(a.startswith("module.estate.module.proxy[0].") for a in others), others


def test_cost_estimate_prices_the_proxy_on_the_clusters_instances(example_plans: ExamplePlans,
                                                                  estate_with_proxy: ExamplePlan) -> None:
    # rds-proxy example: writer + reader on db.r6g.large, 2 vCPUs each
    line = _proxy_line(example_plans.results["rds-proxy/complete"].plan)  # type: ignore[arg-type]
    assert line.usd == pytest.approx(4 * 0.015 * 730)  # 43.80
    # the estate: its cluster id reaches the proxy's target through module outputs and variables
    line = _proxy_line(estate_with_proxy.plan)  # type: ignore[arg-type]
    assert line.usd == pytest.approx(4 * 0.015 * 730)  # two db.t3.medium
    assert "2 x db.t3.medium" in line.basis


def test_an_iam_auth_mode_the_module_does_not_know_fails_at_plan_time(example_plans: ExamplePlans) -> None:
    result = example_plans.plan("rds-proxy/complete", iam_auth="ENABLED")
    assert result.error is not None and "Invalid value for variable" in result.error, result.error
    assert "iam_auth" in result.error
