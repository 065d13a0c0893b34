"""Plan-time estimates: each resource type's arithmetic against a hand computation from the catalog."""

import json
from datetime import date
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from ops.cost import estimate as est
from ops.cost.prices import refresh_catalog
from ops.errors import ConfigError

CATALOG = est.load_catalog()
P = {k: v["usd"] for k, v in CATALOG["prices"].items()}
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


def test_unknown_instance_class_names_the_missing_price() -> None:
    with pytest.raises(ConfigError, match="rds.aurora-postgresql.db.x9.huge"):
        one(rc("i", "aws_rds_cluster_instance", {"instance_class": "db.x9.huge"}))


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
        refresh_catalog(pricing, path, today=date(2026, 11, 23))
    data = json.loads(path.read_text())
    entry = data["prices"]["rds.aurora-postgresql.db.t3.medium"]
    assert entry["usd"] == 0.082 and entry["source"] == "AWS Price List API" and entry["date"] == "2026-11-23"
    assert data["version"] == "2026-11-23"
