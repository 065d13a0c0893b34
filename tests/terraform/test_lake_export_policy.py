"""The analytics lake's export policy, as Terraform plans the module's example (offline), grants every IAM action
that `dbops permissions etl run` and `dbops permissions etl check` declare on the lake's resources and on the
tables it exports: the role the module makes for the export can run both commands."""

from __future__ import annotations

from typing import Iterator

import pytest

from ops.cli.permissions import command_calls
from ops.permissions import Need
from tests.terraform.conftest import ExamplePlans, plan_examples

EXAMPLE = "analytics-lake/complete"
# What the module's export policy covers: the lake's bucket, objects, catalog and workgroup, keys (its own, the
# destination's), and the estate's tables it exports. The estate's other resources (a clone's Aurora restore,
# the lease table, metrics) are granted by the runner's policy, not this one.
LAKE_KINDS = {"lake-bucket", "lake-object", "glue-table", "athena-workgroup", "kms-key", "dynamodb-table"}


@pytest.fixture(scope="module")
def lake_plan(provider_mirror, tmp_path_factory) -> Iterator[ExamplePlans]:  # type: ignore[no-untyped-def]
    yield plan_examples(tmp_path_factory.mktemp("lake-policy"), [EXAMPLE])


def etl_needs(*commands: str) -> list[Need]:
    """What the commands' etl modules declare on the lake's resources (their declarations are named etl.*)."""
    table = command_calls()
    return [n for c in commands for calls in table[c] if calls.name.startswith("etl.")
            for n in calls.needs if n.resource in LAKE_KINDS]


def ungranted(needs: list[Need], granted: set[str]) -> dict[str, set[str]]:
    """Each declared action the policy does not grant, with the calls that need it."""
    out: dict[str, set[str]] = {}
    for n in needs:
        if n.action not in granted:
            out.setdefault(n.action, set()).add(n.call)
    return out


def test_the_export_policy_grants_every_action_etl_run_and_etl_check_declare_on_the_lake(lake_plan: ExamplePlans) -> None:
    result = lake_plan.results[EXAMPLE]
    assert result.plan is not None, result.error
    by_sid = result.plan["planned_values"]["outputs"]["export_policy_actions"]["value"]
    granted = {a for actions in by_sid.values() for a in actions}
    needs = etl_needs("etl run", "etl check")
    assert {"glue:BatchUpdatePartition", "kms:DescribeKey", "glue:GetPartitions"} <= {n.action for n in needs}
    assert ungranted(needs, granted) == {}
    # Negative control: a policy without one of them names it, and the call that needs it.
    assert ungranted(needs, granted - {"glue:BatchUpdatePartition"}) == {"glue:BatchUpdatePartition": {"glue:BatchUpdatePartition"}}
