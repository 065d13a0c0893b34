"""cost check | estimate on bad input: one clear line on stderr, exit 2, no traceback, nothing changed.
And the estimate's exit code: 0 within the budget, 1 over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ops.cli import cli
from tests.conftest import Cli


def assert_one_line_error(result, *fragments: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output and "unexpected error" not in result.output
    assert "within" not in result.output and "0.00" not in result.stdout
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def plan_file(root: Path, *resources: dict) -> Path:
    path = root / "plan.json"
    path.write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.15.5", "planned_values": {"root_module": {}},
                                "resource_changes": list(resources)}))
    return path


def rc(address: str, type_: str, after: dict) -> dict:
    return {"address": address, "type": type_, "mode": "managed", "change": {"actions": ["create"], "after": after}}


# --- cost estimate --plan -----------------------------------------------------------------------

@pytest.mark.parametrize("content, why", [
    (b'{"resources": [], "version": 4}', "format_version"),
    (b'[{"format_version": "1.2"}]', "array"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe\xfd", "UTF-8"),
    (b"", "empty"),
])
def test_estimate_of_a_file_that_is_not_a_plan(cli_at: Cli, fresh_root: Path, content: bytes, why: str) -> None:
    path = fresh_root / "not-a-plan.json"
    path.write_bytes(content)
    before = tree(fresh_root)
    assert_one_line_error(cli_at("cost", "estimate", "--plan", str(path)), "not a Terraform plan", why)
    assert tree(fresh_root) == before


def test_plan_and_env_together_is_a_usage_error(cli_at: Cli, fresh_root: Path) -> None:
    path = plan_file(fresh_root, rc("aws_kms_key.k", "aws_kms_key", {}))
    before = tree(fresh_root)
    assert_one_line_error(cli_at("cost", "estimate", "--plan", str(path), "--env", "prod"), "--plan", "--env")
    assert tree(fresh_root) == before


@pytest.mark.parametrize("text, key", [
    ("[aurora]\nstorage_gb = -20\n", "aurora.storage_gb"),
    ("[dynamodb]\nwrite_million_per_month = \"ten\"\n", "dynamodb.write_million_per_month"),
    ("[backup]\nstorage_gb = nan\n", "backup.storage_gb"),
    ("[dynamodb.tables.orders]\nread_million_per_month = inf\n", "dynamodb.tables.orders.read_million_per_month"),
])
def test_bad_usage_value_is_named_before_anything_runs(cli_at: Cli, fresh_root: Path, text: str, key: str) -> None:
    usage = fresh_root / "usage.toml"
    usage.write_text(text)
    before = tree(fresh_root)
    # --env lab: the lab is not running, so an error about anything but the usage file means it ran first
    assert_one_line_error(cli_at("cost", "estimate", "--env", "lab", "--usage", str(usage)), key)
    path = plan_file(fresh_root, rc("aws_kms_key.k", "aws_kms_key", {}))
    assert_one_line_error(cli_at("cost", "estimate", "--plan", str(path), "--usage", str(usage)), key)
    path.unlink()
    assert tree(fresh_root) == before


def test_estimate_exit_code_is_1_over_the_budget_and_0_within(cli_at: Cli, fresh_root: Path) -> None:
    over = plan_file(fresh_root, rc("aws_rds_cluster_instance.big", "aws_rds_cluster_instance", {"instance_class": "db.r6g.xlarge"}))
    result = cli_at("cost", "estimate", "--plan", str(over))
    assert result.exit_code == 1, result.output
    assert "OVER" in result.stdout and "378.87" in result.stdout
    within = plan_file(fresh_root, rc("aws_kms_key.k", "aws_kms_key", {}))
    result = cli_at("cost", "estimate", "--plan", str(within), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total_usd"] == 1.0 and data["over_budget"] is False and data["unpriced"] == []


def test_estimate_prices_instances_for_the_envs_schedule_and_says_so(fresh_root: Path) -> None:
    from tests.conftest import write_config

    scheduled = Cli(write_config(fresh_root, extra='\n[envs.lab.schedule]\ndays = ["SUN"]\nstart = "01:00"\nhours = 4\n'),
                    fresh_root / ".lab")
    path = plan_file(fresh_root, rc("aws_rds_cluster_instance.big", "aws_rds_cluster_instance", {"instance_class": "db.r6g.xlarge"}))
    result = scheduled("cost", "estimate", "--plan", str(path))
    assert result.exit_code == 0, result.output  # 0.519 USD x 17.33 h = 9.00 USD: within the 80 USD budget
    assert "9.00" in result.stdout and "within" in result.stdout
    assert "Aurora instance hours: 17.3333 h a month, the schedule SUN 01:00 UTC for 4 h; storage always" in result.stdout
    (fresh_root / "always").mkdir()
    always = Cli(write_config(fresh_root / "always"), fresh_root / ".lab")
    result = always("cost", "estimate", "--plan", str(path))
    assert result.exit_code == 1 and "378.87" in result.stdout  # negative control: no schedule, 730 h, over
    assert "730 h a month (no schedule: always on)" in result.stdout


def test_estimate_lists_what_it_could_not_price(cli_at: Cli, fresh_root: Path) -> None:
    path = plan_file(fresh_root, rc("aws_kms_key.k", "aws_kms_key", {}), rc("module.state.aws_s3_bucket.this", "aws_s3_bucket", {}),
                     rc("aws_vpc.main", "aws_vpc", {}))
    result = cli_at("cost", "estimate", "--plan", str(path))
    assert result.exit_code == 0, result.output
    assert "module.state.aws_s3_bucket.this" in result.stdout and "not priced" in result.stdout
    assert "aws_vpc.main" not in result.stdout  # no charge of its own: not a gap in the estimate
    data = json.loads(cli_at("cost", "estimate", "--plan", str(path), "--json").stdout)
    assert [u["address"] for u in data["unpriced"]] == ["module.state.aws_s3_bucket.this"]
    assert "aws_s3_bucket" in data["unpriced"][0]["reason"]


# --- cost check -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-5", "lots"])
def test_budget_that_is_not_a_positive_finite_number(cli_at: Cli, fresh_root: Path, value: str) -> None:
    before = tree(fresh_root)
    assert_one_line_error(cli_at("cost", "check", "--budget", value), "--budget")
    assert tree(fresh_root) == before


@pytest.mark.parametrize("profile", [None, "nowhere"])
def test_missing_credentials_is_one_clear_line(cli_at: Cli, fresh_root: Path, profile: str | None) -> None:
    empty = fresh_root / "empty-aws-file"
    empty.write_text("")
    env = {**cli_at.env(), "AWS_ENDPOINT_URL": None, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
           "AWS_SESSION_TOKEN": None, "AWS_PROFILE": profile, "AWS_DEFAULT_PROFILE": None,
           "AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None, "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
           "AWS_WEB_IDENTITY_TOKEN_FILE": None, "AWS_ROLE_ARN": None}
    before = tree(fresh_root)
    result = CliRunner().invoke(cli, ["cost", "check", "--env", "prod"], env=env, catch_exceptions=False)
    line = assert_one_line_error(result, "credentials")
    assert "prod" in line
    assert tree(fresh_root) == before  # no report, no cache


def test_estimate_at_a_region_the_catalog_lacks_is_one_line(cli_at: Cli, fresh_root: Path) -> None:
    path = plan_file(fresh_root, rc("aws_kms_key.k", "aws_kms_key", {}))
    before = tree(fresh_root)
    assert_one_line_error(cli_at("cost", "estimate", "--plan", str(path), "--region", "ap-south-1"),
                          "no prices for region ap-south-1")
    assert tree(fresh_root) == before
    result = cli_at("cost", "estimate", "--plan", str(path), "--region", "us-east-1", "--json")  # negative control
    assert result.exit_code == 0 and json.loads(result.stdout)["region"] == "us-east-1", result.output


@pytest.mark.parametrize("usd, shown", [("NaN", "nan"), ("Infinity", "inf"), ("-0.01", "-0.01"), ('"0.1"', "'0.1'")])
def test_a_price_that_is_not_a_finite_number_at_least_zero_is_one_line_naming_the_file_and_key(
        cli_at: Cli, fresh_root: Path, usd: str, shown: str) -> None:
    """A NaN price makes `cost > max_cost` false, so it would let every cost through: the user's catalog is
    checked as it is loaded, whatever command reads it."""
    from ops.cost.estimate import CATALOG_PATH

    cache = fresh_root / "cache"
    (cache / "dbops").mkdir(parents=True)
    user_catalog = cache / "dbops" / "prices.json"
    text = CATALOG_PATH.read_text()
    good = json.loads(text)["regions"]["us-east-1"]["prices"]["rds.aurora.storage"]["usd"]
    user_catalog.write_text(text.replace(f'"rds.aurora.storage": {{"usd": {good},', f'"rds.aurora.storage": {{"usd": {usd},', 1))
    assert user_catalog.read_text() != text, "the catalog's layout changed: the test no longer edits the price"
    path = plan_file(fresh_root, rc("aws_kms_key.k", "aws_kms_key", {}))
    before = tree(fresh_root)
    line = assert_one_line_error(cli_at("cost", "estimate", "--plan", str(path), XDG_CACHE_HOME=str(cache)),
                                 str(user_catalog), "rds.aurora.storage", "finite number >= 0")
    assert shown in line
    assert tree(fresh_root) == before
    user_catalog.write_text(text)  # negative control: the same catalog with its own price is used
    result = cli_at("cost", "estimate", "--plan", str(path), "--json", XDG_CACHE_HOME=str(cache))
    assert result.exit_code == 0, result.output
