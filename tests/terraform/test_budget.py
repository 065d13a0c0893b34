"""The account's AWS Budgets budget has its own variable: it counts the whole account (no filter), so its limit
is not the estate's objective (monthly_budget_usd in dbops.toml), which `dbops cost check` judges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

from ops.config import load
from tests.terraform.conftest import TF, unwrap

REPO = TF.parent


def _load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f)


def _variables(path: Path) -> dict[str, dict[str, Any]]:
    return {name: body for block in _load(path).get("variable", []) for name, body in block.items()}


def _module_call(path: Path, name: str) -> dict[str, Any]:
    return next(block[name] for block in _load(path).get("module", []) if name in block)


def test_the_account_budget_limit_comes_from_its_own_variable() -> None:
    budget = _module_call(TF / "modules/estate/main.tf", "budget")
    assert unwrap(budget["monthly_limit_usd"]) == "${var.account_budget_usd}"
    estate_vars = _variables(TF / "modules/estate/variables.tf")
    assert "account_budget_usd" in estate_vars and "monthly_budget_usd" not in estate_vars  # no second, unused budget figure
    assert "not this estate alone" in unwrap(estate_vars["account_budget_usd"]["description"])
    assert unwrap(estate_vars["account_budget_usd"]["validation"])


def test_each_env_sets_the_account_budget_and_prod_has_no_guessed_default() -> None:
    for env in ("lab", "prod"):
        call = _module_call(TF / "envs" / env / "main.tf", "estate")
        assert unwrap(call["account_budget_usd"]) == "${var.account_budget_usd}", env
        assert "monthly_budget_usd" not in call, env
    prod = _variables(TF / "envs/prod/variables.tf")["account_budget_usd"]
    assert "default" not in prod  # the account's budget is set for the account, never taken from a default
    lab = _variables(TF / "envs/lab/variables.tf")["account_budget_usd"]
    # The lab account runs the lab estate alone: there the two figures agree (and negative control: in prod they need not).
    cfg = load(REPO / "dbops.toml", environ={})
    assert unwrap(lab["default"]) == cfg.for_env("lab").policy.monthly_budget_usd


def test_dbops_passes_terraform_no_budget_of_its_own(tmp_path: Path) -> None:
    from ops.terraform.envs import workspace_for

    cfg = load(REPO / "dbops.toml", environ={})
    ws = workspace_for(cfg, cfg.env("prod"))
    assert "monthly_budget_usd" not in ws.variables and "account_budget_usd" not in ws.variables
    assert ws.variables["region"] == cfg.env("prod").region  # negative control: the env's own inputs still go
