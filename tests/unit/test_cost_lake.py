"""The analytics lake priced by `dbops cost estimate`: S3 storage and requests, Athena bytes scanned
(held between the per-query minimum and the workgroup's cutoff), the Glue catalog's free tier, each
against a hand computation from the catalog; a change of the declared usage changes the figure."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ops.cost import estimate as est
from ops.errors import ConfigError
from tests.conftest import Cli
from tests.unit.test_cost_cli import plan_file

CATALOG = est.load_catalog("us-east-1")
USAGE = est.load_usage(est.DEFAULT_USAGE_PATH)
LAKE = USAGE["lake"]
DAYS = 730 / 24
TAGS = {"dbops:component": "analytics-lake", "env": "lab"}
MODULE = "module.estate.module.lake"


def rc(address: str, type_: str, after: dict, module: str = MODULE) -> dict:
    return {"address": f"{module}.{address}" if module else address, "module_address": module, "type": type_, "mode": "managed",
            "change": {"actions": ["create"], "after": after}}


def bucket(tags: dict | None = None) -> dict:
    return rc("aws_s3_bucket.this", "aws_s3_bucket", {"bucket": "dbops-lab-lake-123456789012", "tags": TAGS if tags is None else tags})


def workgroup(cutoff: int | None = 1024 ** 3, tags: dict | None = None) -> dict:
    configuration = [{"bytes_scanned_cutoff_per_query": cutoff, "enforce_workgroup_configuration": True}]
    return rc("aws_athena_workgroup.this", "aws_athena_workgroup", {"name": "dbops-lab-lake", "configuration": configuration,
                                                                   "tags": TAGS if tags is None else tags})


def catalog(module: str = MODULE) -> dict:
    return rc("aws_glue_catalog_database.this", "aws_glue_catalog_database", {"name": "dbops_lab_lake"}, module)


def lake(usage: dict | None = None, *resources: dict) -> est.Estimate:
    chosen = copy.deepcopy(USAGE)
    chosen["lake"].update(usage or {})
    return est.estimate({"resource_changes": list(resources or (bucket(), workgroup(), catalog()))}, CATALOG, chosen)


def line(estimate: est.Estimate, type_: str) -> est.Line:
    found = [x for x in estimate.lines if x.type == type_]
    assert len(found) == 1, estimate
    return found[0]


def test_bucket_is_storage_of_the_declared_size_and_requests_of_the_declared_runs_and_queries() -> None:
    got = line(lake(), "aws_s3_bucket")
    puts = DAYS * 1 * 2000
    gets = DAYS * 1 * 5000 + DAYS * 300 * 20
    assert got.usd == pytest.approx(5 * 0.023 + puts / 1000 * 0.005 + gets / 1000 * 0.0004)
    assert got.usd == pytest.approx(0.553, abs=0.001)
    assert "5 GB" in got.basis and "60,833 PUT" in got.basis


def test_more_storage_or_runs_cost_more_by_their_price() -> None:  # negative control of the usage
    base = line(lake(), "aws_s3_bucket").usd
    assert line(lake({"storage_gb": 105}), "aws_s3_bucket").usd == pytest.approx(base + 100 * 0.023)
    assert line(lake({"runs_per_day": 2}), "aws_s3_bucket").usd == pytest.approx(base + DAYS * (2000 * 0.005 + 5000 * 0.0004) / 1000)
    assert line(lake({"queries_per_day": 0}), "aws_s3_bucket").usd < base


def test_athena_bills_the_declared_queries_bytes_at_5_usd_a_tb() -> None:
    got = line(lake(), "aws_athena_workgroup")
    assert got.usd == pytest.approx(300 * DAYS * 100 / 1024 ** 2 * 5.0)  # 0.870 TB: 4.35 USD
    assert got.usd == pytest.approx(4.35, abs=0.01)
    assert "cutoff 1024 MB a query: at most 44.56 USD" in got.basis
    doubled = line(lake({"queries_per_day": 600}), "aws_athena_workgroup").usd
    assert doubled == pytest.approx(2 * got.usd)  # negative control: twice the queries, twice the bill


def test_a_query_is_billed_at_least_10_mb_and_at_most_the_workgroups_cutoff() -> None:
    tiny = line(lake({"scanned_mb_per_query": 1}), "aws_athena_workgroup")
    assert tiny.usd == pytest.approx(300 * DAYS * 10 / 1024 ** 2 * 5.0)
    assert "assumed 1 MB, billed 10" in tiny.basis
    huge = line(lake({"scanned_mb_per_query": 50_000}), "aws_athena_workgroup")
    assert huge.usd == pytest.approx(300 * DAYS * 1024 / 1024 ** 2 * 5.0)  # Athena cancels each at 1 GiB
    uncapped = line(lake({"scanned_mb_per_query": 50_000}, workgroup(cutoff=None)), "aws_athena_workgroup")
    assert uncapped.usd == pytest.approx(300 * DAYS * 50_000 / 1024 ** 2 * 5.0)  # without the guardrail: 50x the bill
    assert "nothing bounds" in uncapped.basis


def test_glue_catalog_is_free_within_the_first_million_objects_and_requests_and_billed_above() -> None:
    assert line(lake(), "aws_glue_catalog_database").usd == 0.0
    assert "within the free tier" in line(lake(), "aws_glue_catalog_database").basis
    above = line(lake({"catalog_objects": 1_200_000, "catalog_requests_million_per_month": 3}), "aws_glue_catalog_database")
    assert above.usd == pytest.approx(200_000 / 100_000 * 1.0 + 2 * 1.0)


def test_what_is_not_the_lake_has_no_usage_assumptions_and_is_listed_unpriced() -> None:
    result = lake(None, bucket(tags={}), workgroup(tags={"env": "lab"}), catalog(module="module.other"))
    assert result.lines == ()
    assert {u.type for u in result.unpriced} == {"aws_s3_bucket", "aws_athena_workgroup", "aws_glue_catalog_database"}
    assert all("no usage assumptions" in u.reason for u in result.unpriced)
    # The provider's default tags count as the resource's own.
    tagged_by_default = rc("aws_s3_bucket.this", "aws_s3_bucket", {"tags": {}, "tags_all": TAGS})
    assert line(lake(None, tagged_by_default), "aws_s3_bucket").usd > 0


def test_subtotal_by_module_counts_nested_modules_in_their_parents() -> None:
    key = rc("module.kms.aws_kms_key.this", "aws_kms_key", {}, MODULE)
    table = rc("aws_dynamodb_table.this", "aws_dynamodb_table", {"name": "orders", "billing_mode": "PAY_PER_REQUEST"},
               'module.estate.module.tables["orders"]')
    result = lake(None, bucket(), workgroup(), catalog(), key, table)
    modules = result.by_module()
    lake_usd = sum(x.usd for x in result.lines if x.address.startswith(MODULE + "."))
    assert modules[MODULE] == pytest.approx(lake_usd)
    assert modules[f"{MODULE}.module.kms"] == pytest.approx(1.0)
    assert modules['module.estate.module.tables["orders"]'] == pytest.approx(line(result, "aws_dynamodb_table").usd)
    assert modules["module.estate"] == pytest.approx(result.total)
    assert set(modules) == {"module.estate", MODULE, f"{MODULE}.module.kms", 'module.estate.module.tables["orders"]'}


def test_the_default_lab_lake_with_its_key_is_under_40_usd_a_month() -> None:
    key = rc("module.kms.aws_kms_key.this", "aws_kms_key", {}, MODULE)
    result = lake(None, bucket(), workgroup(), catalog(), key)
    assert result.by_module()[MODULE] == pytest.approx(0.553 + 4.35 + 0 + 1.0, abs=0.01)
    assert result.by_module()[MODULE] < 40


@pytest.mark.parametrize("text, fragment", [
    ("[lake]\nqueries_a_day = 3\n", "unknown key 'lake.queries_a_day'"),
    ("[lake]\nscanned_mb_per_query = -1\n", "'lake.scanned_mb_per_query' must be a finite number >= 0"),
])
def test_bad_lake_usage_is_refused_naming_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "usage.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        est.load_usage(path)


def test_cli_prints_each_lake_item_and_the_lakes_subtotal(cli_at: Cli, fresh_root: Path) -> None:
    key = rc("module.kms.aws_kms_key.this", "aws_kms_key", {}, MODULE)
    plan = plan_file(fresh_root, bucket(), workgroup(), catalog(), key)
    result = cli_at("cost", "estimate", "--plan", str(plan))
    assert result.exit_code == 0, result.output
    for address in ("aws_s3_bucket.this", "aws_athena_workgroup.this", "aws_glue_catalog_database.this", "module.kms.aws_kms_key.this"):
        assert f"{MODULE}.{address}" in result.stdout
    subtotal = next(x for x in result.stdout.splitlines() if x.strip().startswith(MODULE + " "))
    assert float(subtotal.split()[-1]) == pytest.approx(5.90, abs=0.01)
    data = json.loads(cli_at("cost", "estimate", "--plan", str(plan), "--json").stdout)
    assert data["modules"][MODULE] == pytest.approx(5.90, abs=0.01)
    heavier = fresh_root / "heavier.toml"
    heavier.write_text(est.DEFAULT_USAGE_PATH.read_text().replace("queries_per_day = 300 ", "queries_per_day = 3000 "))
    other = json.loads(cli_at("cost", "estimate", "--plan", str(plan), "--json", "--usage", str(heavier)).stdout)
    assert other["modules"][MODULE] == pytest.approx(data["modules"][MODULE] + 9 * 4.35 + 9 * 300 * DAYS * 20 / 1000 * 0.0004, abs=0.02)
