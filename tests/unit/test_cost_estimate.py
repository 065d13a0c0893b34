"""Plan-time estimates: each resource type's arithmetic against a hand computation from the catalog."""

import json
from datetime import date
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from ops.cost import estimate as est
from ops.cost.prices import refresh_catalog
from ops.errors import ConfigError, UsageError

CATALOG = est.load_catalog("us-east-1")
P = {k: v["usd"] for k, v in CATALOG["prices"].items() if "usd" in v}
USAGE = {
    "aurora": {"storage_gb": 20, "io_million_per_month": 5, "backup_gb": 3},
    "dynamodb": {"storage_gb": 1, "write_million_per_month": 1, "read_million_per_month": 5,
                 "tables": {"orders": {"storage_gb": 5, "write_million_per_month": 10, "read_million_per_month": 40}}},
    "backup": {"storage_gb": 10},
}


def rc(address: str, type_: str, after: dict, actions: tuple = ("create",)) -> dict:
    return {"address": address, "type": type_, "mode": "managed", "change": {"actions": list(actions), "after": after}}


def one(resource: dict) -> est.Line:
    lines = est.estimate({"resource_changes": [resource]}, CATALOG, USAGE).lines
    assert len(lines) == 1
    return lines[0]


def test_aurora_instance_by_class() -> None:
    line = one(rc("i", "aws_rds_cluster_instance", {"instance_class": "db.t3.medium"}))
    assert line.usd == pytest.approx(P["rds.aurora-postgresql.db.t3.medium"] * 730)  # 0.082 * 730 = 59.86
    assert line.usd == pytest.approx(59.86)


def test_aurora_cluster_storage_io_backup() -> None:
    line = one(rc("c", "aws_rds_cluster", {"engine": "aurora-postgresql"}))
    assert line.usd == pytest.approx(20 * 0.10 + 5 * 0.20 + 3 * 0.021)


def test_dynamodb_on_demand_with_pitr_and_per_table_usage() -> None:
    line = one(rc("t", "aws_dynamodb_table", {"name": "orders", "billing_mode": "PAY_PER_REQUEST",
                                               "point_in_time_recovery": [{"enabled": True}]}))
    assert line.usd == pytest.approx(5 * 0.25 + 10 * 0.625 + 40 * 0.125 + 5 * 0.20)  # 13.50
    line = one(rc("t", "aws_dynamodb_table", {"name": "other", "billing_mode": "PAY_PER_REQUEST",
                                               "point_in_time_recovery": [{"enabled": False}]}))
    assert line.usd == pytest.approx(1 * 0.25 + 1 * 0.625 + 5 * 0.125)


def test_dynamodb_provisioned() -> None:
    line = one(rc("t", "aws_dynamodb_table", {"name": "x", "billing_mode": "PROVISIONED", "read_capacity": 10,
                                               "write_capacity": 5, "point_in_time_recovery": []}))
    assert line.usd == pytest.approx(1 * 0.25 + (5 * 0.00065 + 10 * 0.00013) * 730)


def test_backup_kms_alarms_secrets() -> None:
    assert one(rc("v", "aws_backup_vault", {})).usd == pytest.approx(10 * 0.10)
    assert one(rc("k", "aws_kms_key", {})).usd == pytest.approx(1.00)
    assert one(rc("a", "aws_cloudwatch_metric_alarm", {"metric_query": []})).usd == pytest.approx(0.10)
    three = [{"id": "e", "metric": []}, {"id": "m1", "metric": [{"metric_name": "x"}]}, {"id": "m2", "metric": [{"metric_name": "y"}]}]
    assert one(rc("a", "aws_cloudwatch_metric_alarm", {"metric_query": three})).usd == pytest.approx(0.20)
    assert one(rc("s", "aws_secretsmanager_secret", {})).usd == pytest.approx(0.40)


def test_deleted_and_free_resources_cost_nothing() -> None:
    plan = {"resource_changes": [rc("k", "aws_kms_key", {}, actions=("delete",)), rc("v", "aws_vpc", {})]}
    assert est.estimate(plan, CATALOG, USAGE).total == 0


def test_an_instance_class_the_catalog_lacks_is_listed_unpriced_and_the_rest_is_priced() -> None:
    plan = {"resource_changes": [rc("aws_rds_cluster_instance.big", "aws_rds_cluster_instance", {"instance_class": "db.x9.huge"}),
                                 rc("aws_rds_cluster_instance.small", "aws_rds_cluster_instance", {"instance_class": "db.t3.medium"})]}
    result = est.estimate(plan, CATALOG, USAGE)
    assert [line.address for line in result.lines] == ["aws_rds_cluster_instance.small"]
    assert [u.address for u in result.unpriced] == ["aws_rds_cluster_instance.big"]
    assert "rds.aurora-postgresql.db.x9.huge" in result.unpriced[0].reason


def test_prices_refresh_from_the_price_list_api(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"version": "old", "region": "us-east-1", "prices": {
        "rds.aurora-postgresql.db.t3.medium": {"usd": 0.01, "unit": "instance-hour", "source": "x", "date": "2020-01-01"}}}))
    product = {"product": {"attributes": {"instanceType": "db.t3.medium", "databaseEngine": "Aurora PostgreSQL"}},
               "terms": {"OnDemand": {"T.JRTCKXETXF": {"priceDimensions": {"T.JRTCKXETXF.6YS6EN2CT7": {
                   "unit": "Hrs", "pricePerUnit": {"USD": "0.0820000000"}, "description": "$0.082 per db.t3.medium"}}}}}}
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(pricing)
    stub.add_response("get_products", {"PriceList": [json.dumps(product)], "FormatVersion": "aws_v1"})
    with stub:
        refresh_catalog(pricing, path, "us-east-1", today=date(2026, 11, 23))
    data = json.loads(path.read_text())
    entry = data["regions"]["us-east-1"]["prices"]["rds.aurora-postgresql.db.t3.medium"]
    assert entry["usd"] == 0.082 and entry["source"] == "AWS Price List API" and entry["date"] == "2026-11-23"
    assert data["version"] == "2026-11-23"


# --- what the estimate cannot price is listed, never dropped ---------------------------------

def test_unpriced_resources_are_listed_by_address() -> None:
    plan = {"resource_changes": [rc("module.state.aws_s3_bucket.this", "aws_s3_bucket", {}),
                                 rc("aws_vpc.main", "aws_vpc", {}), rc("random_password.master", "random_password", {}),
                                 rc("aws_kms_key.k", "aws_kms_key", {})]}
    result = est.estimate(plan, CATALOG, USAGE)
    assert [line.address for line in result.lines] == ["aws_kms_key.k"]
    assert [u.address for u in result.unpriced] == ["module.state.aws_s3_bucket.this"]
    assert "aws_s3_bucket" in result.unpriced[0].reason


def test_instance_class_unknown_until_apply_is_unpriced_not_a_crash() -> None:
    resource = rc("aws_rds_cluster_instance.this[0]", "aws_rds_cluster_instance", {"cluster_identifier": "db"})
    resource["change"]["after_unknown"] = {"instance_class": True}
    result = est.estimate({"resource_changes": [resource]}, CATALOG, USAGE)
    assert not result.lines
    assert result.unpriced[0].address == "aws_rds_cluster_instance.this[0]"
    assert "instance_class" in result.unpriced[0].reason


# --- DynamoDB GSI provisioned throughput ------------------------------------------------------

def test_dynamodb_provisioned_gsi_throughput_is_priced() -> None:
    line = one(rc("t", "aws_dynamodb_table", {
        "name": "x", "billing_mode": "PROVISIONED", "read_capacity": 10, "write_capacity": 5, "point_in_time_recovery": [],
        "global_secondary_index": [{"name": "by_customer", "read_capacity": 4, "write_capacity": 2},
                                   {"name": "by_day", "read_capacity": 1, "write_capacity": 1}]}))
    assert line.usd == pytest.approx(1 * 0.25 + ((5 + 2 + 1) * 0.00065 + (10 + 4 + 1) * 0.00013) * 730)
    assert "by_customer" in line.basis and "by_day" in line.basis


# --- Aurora I/O-Optimized and Serverless v2 ---------------------------------------------------

def aurora(cluster: dict, *instances: dict, usage: dict | None = None, schedule=None) -> dict[str, est.Line]:  # type: ignore[no-untyped-def]
    plan = {"resource_changes": [rc("aws_rds_cluster.this", "aws_rds_cluster", {"engine": "aurora-postgresql", **cluster}),
                                 *[rc(f"aws_rds_cluster_instance.this[{i}]", "aws_rds_cluster_instance", after)
                                   for i, after in enumerate(instances)]]}
    result = est.estimate(plan, CATALOG, usage or USAGE, schedule)
    assert not result.unpriced, result.unpriced
    return {line.address: line for line in result.lines}


def test_new_prices_are_recorded_with_source_and_date() -> None:
    for key in ("rds.aurora.storage.iopt1", "rds.aurora.iopt1.instance_factor", "rds.aurora-postgresql.serverless-v2.acu"):
        entry = CATALOG["prices"][key]
        assert entry["source"].startswith("AWS pricing page") and entry["date"] == "2026-11-23", key
    assert P["rds.aurora.storage.iopt1"] == 0.225
    assert CATALOG["prices"]["rds.aurora.iopt1.instance_factor"]["factor"] == 1.3
    assert P["rds.aurora-postgresql.serverless-v2.acu"] == 0.12


def test_catalog_version_is_its_newest_price_date() -> None:
    assert CATALOG["version"] == max(entry["date"] for entry in CATALOG["prices"].values())


def test_aurora_io_optimized_has_higher_storage_and_instance_prices_and_no_io_charge() -> None:
    lines = aurora({"cluster_identifier": "db", "storage_type": "aurora-iopt1"},
                   {"instance_class": "db.r6g.large", "cluster_identifier": "db"})
    assert lines["aws_rds_cluster.this"].usd == pytest.approx(20 * 0.225 + 3 * 0.021)  # 4.563, no I/O line
    assert "I/O-Optimized" in lines["aws_rds_cluster.this"].basis
    assert lines["aws_rds_cluster_instance.this[0]"].usd == pytest.approx(0.26 * 1.3 * 730)  # 246.74


def test_instance_finds_its_cluster_when_the_identifier_is_unknown_at_plan_time() -> None:
    lines = aurora({"cluster_identifier": "db", "storage_type": "aurora-iopt1"}, {"instance_class": "db.t3.medium"})
    assert lines["aws_rds_cluster_instance.this[0]"].usd == pytest.approx(0.082 * 1.3 * 730)


def test_aurora_serverless_v2_acu_hours_within_the_clusters_capacity() -> None:
    usage = {**USAGE, "aurora": {**USAGE["aurora"], "serverless_acu_average": 2}}
    scaling = {"cluster_identifier": "db", "serverlessv2_scaling_configuration": [{"min_capacity": 0.5, "max_capacity": 8}]}
    serverless = {"instance_class": "db.serverless", "cluster_identifier": "db"}
    line = aurora(scaling, serverless, usage=usage)["aws_rds_cluster_instance.this[0]"]
    assert line.usd == pytest.approx(2 * 730 * 0.12)  # 175.20
    assert "ACU" in line.basis
    busy = {**usage, "aurora": {**usage["aurora"], "serverless_acu_average": 20}}
    assert aurora(scaling, serverless, usage=busy)["aws_rds_cluster_instance.this[0]"].usd == pytest.approx(8 * 730 * 0.12)
    floor = {"cluster_identifier": "db", "serverlessv2_scaling_configuration": [{"min_capacity": 4, "max_capacity": 16}]}
    assert aurora(floor, serverless, usage=usage)["aws_rds_cluster_instance.this[0]"].usd == pytest.approx(4 * 730 * 0.12)
    iopt = {**scaling, "storage_type": "aurora-iopt1"}
    assert aurora(iopt, serverless, usage=usage)["aws_rds_cluster_instance.this[0]"].usd == pytest.approx(2 * 730 * 0.12 * 1.3)


def test_serverless_instance_without_a_scaling_configuration_is_unpriced() -> None:
    plan = {"resource_changes": [rc("aws_rds_cluster.this", "aws_rds_cluster", {"engine": "aurora-postgresql", "cluster_identifier": "db"}),
                                 rc("aws_rds_cluster_instance.this[0]", "aws_rds_cluster_instance",
                                    {"instance_class": "db.serverless", "cluster_identifier": "db"})]}
    result = est.estimate(plan, CATALOG, {**USAGE, "aurora": {**USAGE["aurora"], "serverless_acu_average": 2}})
    assert [u.address for u in result.unpriced] == ["aws_rds_cluster_instance.this[0]"]
    assert "serverlessv2_scaling_configuration" in result.unpriced[0].reason


# --- price refresh dates only what it refreshed -----------------------------------------------

def _product(usd: str) -> str:
    return json.dumps({"product": {"attributes": {"databaseEngine": "Aurora PostgreSQL"}},
                       "terms": {"OnDemand": {"T": {"priceDimensions": {"T.D": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}}})


def test_refresh_dates_only_the_prices_it_refreshed(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    entry = {"unit": "instance-hour", "source": "AWS pricing page", "date": "2026-01-01"}
    path.write_text(json.dumps({"version": "2026-11-01", "region": "us-east-1", "prices": {
        "rds.aurora-postgresql.db.t3.medium": {"usd": 0.01, **entry},
        "rds.aurora-postgresql.db.x9.huge": {"usd": 9.99, **entry},
        "rds.aurora-postgresql.serverless-v2.acu": {"usd": 0.12, **dict(entry, unit="ACU-hour", date="2026-11-01")},
        "rds.aurora.storage": {"usd": 0.10, **dict(entry, unit="GB-month", date="2026-11-01")}}}))
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(pricing)  # asked for the two instance classes only, never the ACU price
    stub.add_response("get_products", {"PriceList": [_product("0.0820000000")], "FormatVersion": "aws_v1"})
    stub.add_response("get_products", {"PriceList": [], "FormatVersion": "aws_v1"})
    with stub:
        outcome = refresh_catalog(pricing, path, "us-east-1", today=date(2026, 11, 23))
    stub.assert_no_pending_responses()
    prices = json.loads(path.read_text())["regions"]["us-east-1"]["prices"]
    assert prices["rds.aurora-postgresql.db.t3.medium"]["date"] == "2026-11-23"
    assert prices["rds.aurora-postgresql.db.x9.huge"] == {"usd": 9.99, **entry}
    assert prices["rds.aurora-postgresql.serverless-v2.acu"]["date"] == "2026-11-01"
    assert prices["rds.aurora.storage"]["date"] == "2026-11-01"
    assert json.loads(path.read_text())["version"] == "2026-11-23"
    assert outcome.refreshed == ("rds.aurora-postgresql.db.t3.medium",)
    assert "db.x9.huge" in outcome.failed["rds.aurora-postgresql.db.x9.huge"]


def test_refresh_that_refreshes_nothing_leaves_the_catalog_version_alone(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"version": "2026-11-01", "region": "us-east-1", "prices": {
        "rds.aurora-postgresql.db.t3.medium": {"usd": 0.082, "unit": "instance-hour", "source": "x", "date": "2026-11-01"}}}))
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(pricing)
    stub.add_client_error("get_products", "ThrottlingException", "Rate exceeded", 400)
    before = path.read_bytes()
    with stub:
        outcome = refresh_catalog(pricing, path, "us-east-1", today=date(2026, 11, 23))
    assert outcome.refreshed == ()
    assert path.read_bytes() == before, "nothing read: nothing written"


# --- usage assumptions and plan files are validated, one line naming what is wrong -------------

@pytest.mark.parametrize("text, key", [
    ("[aurora]\nstorage_gb = -5\n", "aurora.storage_gb"),
    ("[aurora]\nio_million_per_month = 'lots'\n", "aurora.io_million_per_month"),
    ("[dynamodb]\nread_million_per_month = nan\n", "dynamodb.read_million_per_month"),
    ("[dynamodb.tables.orders]\nwrite_million_per_month = inf\n", "dynamodb.tables.orders.write_million_per_month"),
    ("[backup]\nstorage_gb = true\n", "backup.storage_gb"),
    ("[aurora]\nstorage_gbb = 20\n", "aurora.storage_gbb"),
    ("aurora = 3\n", "aurora"),
])
def test_bad_usage_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "usage.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"'{key}'"):
        est.load_usage(path)


def test_built_in_usage_assumptions_are_valid() -> None:
    assert est.load_usage(est.DEFAULT_USAGE_PATH)["aurora"]["serverless_acu_average"] >= 0


@pytest.mark.parametrize("content, why", [
    (b'{"resources": []}', "format_version"),
    (b'[{"format_version": "1.2"}]', "array"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "UTF-8"),
    (b"", "empty"),
    (b"   \n", "empty"),
    (b'{"format_version": "1.2", "resource_changes": {}}', "resource_changes"),
    (b"{not json", "line 1"),
])
def test_a_file_that_is_not_a_plan_is_refused(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(UsageError, match="not a Terraform plan") as info:
        est.load_plan(path)
    assert why in str(info.value) and "\n" not in str(info.value)


def test_a_plan_without_changes_is_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.15.5", "planned_values": {"root_module": {}}}))
    assert est.estimate(est.load_plan(path), CATALOG, USAGE).total == 0


# --- RDS Proxy: per vCPU-hour of the instances behind it --------------------------------------

def _cluster_with_proxy(*classes: str, prefix: str = "", cid: str = "db") -> list[dict]:
    return [rc(f"{prefix}aws_rds_cluster.this", "aws_rds_cluster", {"engine": "aurora-postgresql", "cluster_identifier": cid}),
            *[rc(f'{prefix}aws_rds_cluster_instance.this["{i + 1}"]', "aws_rds_cluster_instance",
                 {"instance_class": c, "cluster_identifier": cid}) for i, c in enumerate(classes)]]


def _proxy(name: str = "db-proxy", cid: str | None = "db", prefix: str = "") -> list[dict]:
    target = rc(f"{prefix}aws_db_proxy_target.this", "aws_db_proxy_target", {"db_proxy_name": name, "db_cluster_identifier": cid})
    return [rc(f"{prefix}aws_db_proxy.this", "aws_db_proxy", {"name": name, "engine_family": "POSTGRESQL"}), target,
            rc(f"{prefix}aws_db_proxy_default_target_group.this", "aws_db_proxy_default_target_group", {"db_proxy_name": name})]


def test_proxy_price_is_recorded_with_source_date_and_minimum() -> None:
    entry = CATALOG["prices"]["rds.proxy.vcpu"]
    assert entry["usd"] == 0.015 and entry["minimum_vcpus"] == 2 and entry["unit"].startswith("vCPU-hour")
    assert entry["source"].startswith("AWS pricing page: Amazon RDS Proxy") and entry["date"] == "2026-11-23"


def test_every_instance_class_the_catalog_prices_has_its_vcpus() -> None:
    classes = {k.removeprefix("rds.aurora-postgresql.") for k in CATALOG["prices"] if k.startswith("rds.aurora-postgresql.db.")}
    assert classes <= set(est.INSTANCE_VCPUS)


def test_rds_proxy_is_billed_per_vcpu_of_every_instance_of_its_cluster() -> None:
    # prod: a db.r6g.large writer and two readers (2 vCPUs each) behind the proxy; another cluster is not
    plan = {"resource_changes": [*_cluster_with_proxy("db.r6g.large", "db.r6g.large", "db.r6g.large"),
                                 *_cluster_with_proxy("db.r6g.xlarge", prefix="module.other.", cid="other"), *_proxy()]}
    result = est.estimate(plan, CATALOG, USAGE)
    assert not result.unpriced, result.unpriced
    line = next(line for line in result.lines if line.type == "aws_db_proxy")
    assert line.usd == pytest.approx(6 * 0.015 * 730)  # 65.70
    assert line.usd == pytest.approx(65.70)
    assert "6 vCPUs" in line.basis and "3 x db.r6g.large" in line.basis
    assert {line.type for line in result.lines} == {"aws_rds_cluster", "aws_rds_cluster_instance", "aws_db_proxy"}


def test_rds_proxy_below_the_minimum_is_billed_for_two_vcpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(est.INSTANCE_VCPUS, "db.x1.tiny", 1)
    catalog = {**CATALOG, "prices": {**CATALOG["prices"], "rds.aurora-postgresql.db.x1.tiny": {"usd": 0.01}}}
    result = est.estimate({"resource_changes": [*_cluster_with_proxy("db.x1.tiny"), *_proxy()]}, catalog, USAGE)
    line = next(line for line in result.lines if line.type == "aws_db_proxy")
    assert line.usd == pytest.approx(2 * 0.015 * 730)  # 21.90
    assert "minimum 2" in line.basis


def _config(module: dict, **calls: dict) -> dict:
    return {"root_module": {**module, "module_calls": {name: call for name, call in calls.items()}}}


def test_rds_proxy_finds_its_cluster_through_module_outputs_and_variables() -> None:
    # The estate: the target's cluster id is module.aurora.cluster_id, unknown until apply; so are the
    # instances' cluster ids. A second cluster in another module must not be taken for it.
    aurora = {"module": {
        "outputs": {"cluster_id": {"expression": {"references": ["aws_rds_cluster.this.id", "aws_rds_cluster.this"]}}},
        "resources": [{"address": "aws_rds_cluster_instance.this", "expressions": {
            "cluster_identifier": {"references": ["aws_rds_cluster.this.id", "aws_rds_cluster.this"]}}}]}}
    proxy = {"expressions": {"db_cluster_identifier": {"references": ["module.aurora.cluster_id", "module.aurora"]}},
             "module": {"resources": [{"address": "aws_db_proxy_target.this", "expressions": {
                 "db_cluster_identifier": {"references": ["var.db_cluster_identifier"]}}}]}}
    other = {"module": {"resources": []}}
    estate = {"module": {"module_calls": {"aurora": aurora, "proxy": proxy, "other": other}}}
    changes = [*_cluster_with_proxy("db.t3.medium", "db.t3.medium", prefix="module.estate.module.aurora.", cid=None),
               *_cluster_with_proxy("db.r6g.xlarge", prefix="module.estate.module.other.", cid="other"),
               *_proxy(name="lab-aurora-proxy", cid=None, prefix="module.estate.module.proxy[0].")]
    for change in changes:
        change["module_address"] = change["address"].rsplit(".", 2)[0]
    plan = {"resource_changes": changes, "configuration": _config({}, estate=estate)}
    result = est.estimate(plan, CATALOG, USAGE)
    line = next(line for line in result.lines if line.type == "aws_db_proxy")
    assert line.usd == pytest.approx(4 * 0.015 * 730)  # two db.t3.medium, 2 vCPUs each: 43.80
    assert line.address == "module.estate.module.proxy[0].aws_db_proxy.this"
    # without the configuration the cluster cannot be found, and the proxy is listed, not guessed
    plan.pop("configuration")
    unpriced = {u.type: u.reason for u in est.estimate(plan, CATALOG, USAGE).unpriced}
    assert "cluster of module.estate.module.proxy[0].aws_db_proxy_target.this" in unpriced["aws_db_proxy"]


@pytest.mark.parametrize("changes, why", [
    (_proxy()[:1], "no aws_db_proxy_target"),
    ([*_cluster_with_proxy("db.serverless"), *_proxy()], "ACU-hour"),
    ([*_cluster_with_proxy("db.r5.large"), *_proxy()], "db.r5.large"),
])
def test_rds_proxy_that_cannot_be_priced_faithfully_is_listed_with_the_reason(changes: list, why: str) -> None:
    catalog = {**CATALOG, "prices": {**CATALOG["prices"], "rds.aurora-postgresql.db.r5.large": {"usd": 0.29}}}
    usage = {**USAGE, "aurora": {**USAGE["aurora"], "serverless_acu_average": 1}}
    result = est.estimate({"resource_changes": changes}, catalog, usage)
    unpriced = {u.type: u.reason for u in result.unpriced}
    assert why in unpriced["aws_db_proxy"], unpriced
    assert not [line for line in result.lines if line.type == "aws_db_proxy"]


def test_a_refresh_writes_the_users_cache_and_never_the_installed_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         cli_at) -> None:  # type: ignore[no-untyped-def]
    from ops import aws as aws_mod
    from ops.cost import prices

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shipped = est.CATALOG_PATH.read_bytes()
    written: list[Path] = []

    def refresh(pricing: object, path: Path, region: str, today: object = None) -> prices.RefreshOutcome:
        data = json.loads(path.read_text())
        data["regions"][region]["prices"]["rds.aurora-postgresql.db.t3.medium"]["usd"] = 9.99
        path.write_text(json.dumps(data))
        written.append(path)
        return prices.RefreshOutcome(path, ("rds.aurora-postgresql.db.t3.medium",))

    monkeypatch.setattr(prices, "refresh_catalog", refresh)
    monkeypatch.setattr(aws_mod.Aws, "for_env", classmethod(lambda cls, cfg, env: type("A", (), {"client": lambda *a, **k: None})()))
    result = cli_at("cost", "prices", "--refresh")
    assert result.exit_code == 0, result.output
    target = tmp_path / "cache" / "dbops" / "prices.json"
    assert [p.parent for p in written] == [target.parent] and not written[0].exists() and target.is_file()
    assert est.CATALOG_PATH.read_bytes() == shipped, "the installed package is never written"
    assert est.load_catalog("us-east-1")["prices"]["rds.aurora-postgresql.db.t3.medium"]["usd"] == 9.99
    # Negative control: without a refreshed catalog of the user's, the shipped one is read.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    assert est.load_catalog("us-east-1") == prices.regional(json.loads(shipped), "us-east-1")


# --- prices are keyed by region and read by usage type ---------------------------------------------

def _pricing() -> tuple[object, Stubber]:
    pricing = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return pricing, Stubber(pricing)


def _priced(usd: str, sku: str, usage: str) -> str:
    """A GetProducts PriceList item as the Price List API reference shapes it (one JSON string per product)."""
    return json.dumps({"product": {"sku": sku, "productFamily": "Database Instance", "attributes": {
        "instanceType": "db.r6g.large", "databaseEngine": "Aurora PostgreSQL", "usagetype": usage, "regionCode": "eu-west-1"}},
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {"priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
            "unit": "Hrs", "pricePerUnit": {"USD": usd}, "description": f"${usd} per db.r6g.large"}}}}}})


def _one_class_catalog(path: Path) -> None:
    path.write_text(json.dumps({"version": "2026-11-01", "note": "", "regions": {"us-east-1": {"prices": {
        "rds.aurora-postgresql.db.r6g.large": {"usd": 0.26, "unit": "instance-hour", "source": "page", "date": "2026-11-01"},
        "rds.aurora.storage": {"usd": 0.10, "unit": "GB-month", "source": "page", "date": "2026-11-01"}}}}}))


def test_a_refresh_asks_for_the_usage_type_of_the_envs_region_and_keeps_it_apart(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    _one_class_catalog(path)
    pricing, stub = _pricing()
    filters = [{"Type": "TERM_MATCH", "Field": "usagetype", "Value": "EU-InstanceUsage:db.r6g.large"},
               {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "db.r6g.large"},
               {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"},
               {"Type": "TERM_MATCH", "Field": "databaseEngine", "Value": "Aurora PostgreSQL"},
               {"Type": "TERM_MATCH", "Field": "deploymentOption", "Value": "Single-AZ"}]
    stub.add_response("get_products", {"PriceList": [_priced("0.2900000000", "EUSKU1", "EU-InstanceUsage:db.r6g.large")],
                                       "FormatVersion": "aws_v1"}, {"ServiceCode": "AmazonRDS", "Filters": filters})
    with stub:  # the stub refuses any other filter: a location name, or no usage type
        outcome = refresh_catalog(pricing, path, "eu-west-1", today=date(2026, 11, 23))
    stub.assert_no_pending_responses()
    assert outcome.refreshed == ("rds.aurora-postgresql.db.r6g.large",) and not outcome.failed
    eu, us = est.load_catalog("eu-west-1", path), est.load_catalog("us-east-1", path)
    assert eu["prices"]["rds.aurora-postgresql.db.r6g.large"]["usd"] == 0.29
    assert us["prices"]["rds.aurora-postgresql.db.r6g.large"]["usd"] == 0.26  # negative control: us-east-1 untouched
    assert "rds.aurora.storage" not in eu["prices"]  # never read for eu-west-1: not borrowed from us-east-1
    plan = {"resource_changes": [rc("i", "aws_rds_cluster_instance", {"instance_class": "db.r6g.large"}),
                                 rc("c", "aws_rds_cluster", {"engine": "aurora-postgresql"})]}
    in_eu = est.estimate(plan, eu, USAGE)
    assert [line.usd for line in in_eu.lines] == [pytest.approx(0.29 * 730)]
    assert [u.address for u in in_eu.unpriced] == ["c"] and "rds.aurora.storage" in in_eu.unpriced[0].reason
    in_us = est.estimate({"resource_changes": plan["resource_changes"][:1]}, us, USAGE)
    assert [line.usd for line in in_us.lines] == [pytest.approx(0.26 * 730)]


def test_several_products_for_one_usage_type_are_an_ambiguous_price_not_the_first(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    _one_class_catalog(path)
    pricing, stub = _pricing()
    stub.add_response("get_products", {"PriceList": [_priced("0.2600000000", "SKU1", "InstanceUsage:db.r6g.large"),
                                                     _priced("0.9900000000", "SKU2", "InstanceUsage:db.r6g.large")],
                                       "FormatVersion": "aws_v1"})
    with stub:
        outcome = refresh_catalog(pricing, path, "us-east-1", today=date(2026, 11, 23))
    assert outcome.refreshed == ()
    why = outcome.failed["rds.aurora-postgresql.db.r6g.large"]
    assert "2 products" in why and "SKU1" in why and "SKU2" in why, why
    kept = est.load_catalog("us-east-1", path)["prices"]["rds.aurora-postgresql.db.r6g.large"]
    assert kept == {"usd": 0.26, "unit": "instance-hour", "source": "page", "date": "2026-11-01"}


def test_a_region_the_catalog_lacks_is_refused_not_priced_at_another_regions_prices() -> None:
    with pytest.raises(ConfigError, match="no prices for region ap-south-1 .it has us-east-1"):
        est.load_catalog("ap-south-1", est.CATALOG_PATH)
    assert est.load_catalog("us-east-1", est.CATALOG_PATH)["region"] == "us-east-1"  # negative control


def test_a_catalog_written_before_regions_were_keyed_holds_its_one_region(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"version": "2026-11-01", "region": "us-east-1", "prices": {
        "kms.key": {"usd": 1.0, "unit": "key-month", "source": "page", "date": "2026-11-01"}}}))
    assert est.load_catalog("us-east-1", path)["prices"]["kms.key"]["usd"] == 1.0
    with pytest.raises(ConfigError, match="eu-west-1"):
        est.load_catalog("eu-west-1", path)


def test_a_region_whose_usage_type_prefix_is_unknown_is_not_added_empty(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    _one_class_catalog(path)
    pricing, stub = _pricing()
    with stub:  # nothing may be asked: the usage type cannot be named
        outcome = refresh_catalog(pricing, path, "me-central-1", today=date(2026, 11, 23))
    assert outcome.refreshed == () and "prefix of region me-central-1 is not known" in outcome.failed["rds.aurora-postgresql.db.r6g.large"]
    with pytest.raises(ConfigError, match="no prices for region me-central-1"):
        est.load_catalog("me-central-1", path)  # still refused in one line, not an empty catalog that prices nothing


def test_a_refreshed_copy_older_than_the_shipped_catalog_gives_way_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    shipped = json.loads(est.CATALOG_PATH.read_text())
    shipped_version = est._file_version(est.CATALOG_PATH)
    user = est.user_catalog_path()
    user.parent.mkdir(parents=True)
    entry = {"usd": 7.77, "unit": "instance-hour", "source": "AWS Price List API"}
    for date_, chosen in (("2000-01-01", est.CATALOG_PATH), ("9999-12-31", user)):  # older loses, newer wins
        old = json.loads(json.dumps(shipped))
        for region in old["regions"].values():
            for p in region["prices"].values():
                p["date"] = min(p["date"], date_)
        old["regions"]["us-east-1"]["prices"]["rds.aurora-postgresql.db.t3.medium"] = {**entry, "date": date_}
        user.write_text(json.dumps(old))
        path, why = est.catalog_in_use()
        assert path == chosen, (date_, why)
        usd = est.load_catalog("us-east-1")["prices"]["rds.aurora-postgresql.db.t3.medium"]["usd"]
        assert (usd == 7.77) is (chosen == user)
        if chosen == est.CATALOG_PATH:
            assert why == f"shipped, newer than the refreshed copy {user} of {min(shipped_version, date_)}", why


def test_a_schedule_prices_aurora_instances_for_the_windows_hours_and_storage_always() -> None:
    from ops.window import parse

    window = parse(["SUN"], "01:00", 4)
    plan = {"resource_changes": [rc("aws_rds_cluster.this", "aws_rds_cluster", {"engine": "aurora-postgresql"}),
                                 rc("aws_rds_cluster_instance.this[0]", "aws_rds_cluster_instance", {"instance_class": "db.t3.medium"}),
                                 rc("aws_dynamodb_table.t", "aws_dynamodb_table", {"name": "t", "billing_mode": "PROVISIONED",
                                                                                 "write_capacity": 5, "read_capacity": 5})]}
    always = {line.address: line for line in est.estimate(plan, CATALOG, USAGE).lines}
    scheduled = {line.address: line for line in est.estimate(plan, CATALOG, USAGE, window).lines}
    instance = scheduled["aws_rds_cluster_instance.this[0]"]
    assert instance.usd == pytest.approx(P["rds.aurora-postgresql.db.t3.medium"] * 4 * 52 / 12)  # 17.33 h, 1.42 USD
    assert "17.3333 h (schedule SUN 01:00 UTC for 4 h" in instance.basis
    assert always["aws_rds_cluster_instance.this[0]"].usd == pytest.approx(59.86)  # negative control: no schedule, 730 h
    for other in ("aws_rds_cluster.this", "aws_dynamodb_table.t"):  # storage and provisioned tables run always
        assert scheduled[other].usd == pytest.approx(always[other].usd)
    usage = {**USAGE, "aurora": {**USAGE["aurora"], "serverless_acu_average": 2}}
    serverless = aurora({"serverlessv2_scaling_configuration": [{"min_capacity": 0.5, "max_capacity": 4}]},
                        {"instance_class": "db.serverless"}, usage=usage, schedule=window)["aws_rds_cluster_instance.this[0]"]
    assert serverless.usd == pytest.approx(2 * 4 * 52 / 12 * P["rds.aurora-postgresql.serverless-v2.acu"])
