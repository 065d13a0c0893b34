"""Every module has examples/complete, and every example plans offline as a user would run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import hcl2
import pytest

from tests.terraform.conftest import EXAMPLES, TF, ExamplePlans, unwrap

MODULES = sorted(p for p in TF.glob("modules/*") if p.is_dir())
# Data sources the provider answers without calling AWS.
LOCAL_DATA_SOURCES = {"aws_partition", "aws_region"}


def _modules(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield module
    for child in module.get("child_modules", []):
        yield from _modules(child)


def data_sources(plan: dict[str, Any]) -> set[str]:
    """Types of the data sources the plan read, or would read at apply."""
    read = {r["type"] for m in _modules(plan.get("prior_state", {}).get("values", {}).get("root_module", {}))
            for r in m.get("resources", []) if r["mode"] == "data"}
    deferred = {rc["type"] for rc in plan["resource_changes"] if rc["mode"] == "data"}
    return read | deferred


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_every_module_has_a_complete_example(module: Path) -> None:
    example = module / "examples" / "complete"
    for name in ("main.tf", "versions.tf", "outputs.tf", "README.md"):
        assert (example / name).is_file(), f"{example / name} is missing"
    sources = [unwrap(call["source"]) for f in example.glob("*.tf") for call in _module_calls(f)]
    assert "../../" in sources, f"{example} does not call the module it is an example of"
    versions = (example / "versions.tf").read_text()
    assert 'required_version = ">= 1.0"' in versions and 'version = ">= 3.39.0"' in versions


def _module_calls(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [body for block in hcl2.load(f).get("module", []) for body in block.values()]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_plans_offline(example_plans: ExamplePlans, name: str) -> None:
    result = example_plans.results[name]
    assert result.error is None, result.error
    assert result.plan is not None
    actions = {tuple(rc["change"]["actions"]) for rc in result.changes()}
    assert actions == {("create",)}, actions
    module = name.split("/")[0]
    assert any(rc["address"].startswith("module.") for rc in result.changes()), f"{module}: nothing planned"
    assert data_sources(result.plan) <= LOCAL_DATA_SOURCES, data_sources(result.plan)


def test_no_example_waits_on_aws(example_plans: ExamplePlans) -> None:
    # init + plan + show take 3-5 s an example; a provider retrying a call it cannot make
    # (the EC2 call provider 3.x makes at start, without max_retries = 0) adds about 25 s.
    slow = {r.name: round(r.seconds, 1) for r in example_plans.results.values() if r.seconds > 20}
    assert slow == {}
