"""A restore's cost bound and its one instance, priced and chosen before anything is created.

The prices are the catalog's; DescribeOrderableDBInstanceOptions answers through botocore's
Stubber in pages, as the API reference documents (Marker, MaxRecords), since the choice must
read past the first page.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from ops import config
from ops.cost import restore as rc
from ops.cost.estimate import load_catalog
from ops.drills.restore import RestoreOptions, restore_hours
from ops.errors import ConfigError, UsageError
from ops.targets.aurora import RESTORE_INSTANCE_CLASSES, choose_instance_class, restore_network

CATALOG = load_catalog("us-east-1", Path(rc.__file__).with_name("prices.json"))
P = {k: v.get("usd") for k, v in CATALOG["prices"].items()}
GB = 1024 ** 3


def test_the_dynamodb_restore_price_is_in_the_catalog_with_its_source() -> None:
    entry = CATALOG["prices"]["dynamodb.restore"]
    assert entry["usd"] == 0.15 and entry["unit"] == "GB restored"
    assert entry["source"].startswith("AWS pricing page: Amazon DynamoDB pricing") and entry["date"]


def test_an_aurora_restore_is_its_instance_hours_and_the_volume_for_those_hours() -> None:
    cost = rc.aurora(CATALOG, "db.t4g.medium", 50 * GB, hours=1.5)
    expected = P["rds.aurora-postgresql.db.t4g.medium"] * 1.5 + 50 * P["rds.aurora.storage"] * 1.5 / 730
    assert cost.usd == pytest.approx(expected)
    assert "1 x db.t4g.medium for 1.50 h" in cost.basis and "50.00 GB" in cost.basis
    # Aurora bills an instance at least 10 minutes
    assert rc.aurora(CATALOG, "db.t4g.medium", 0, hours=0.01).usd == pytest.approx(P["rds.aurora-postgresql.db.t4g.medium"] / 6)
    # the AWS Backup round trip adds its recovery point's backup storage
    with_point = rc.aurora(CATALOG, "db.t4g.medium", 50 * GB, hours=1.5, backup_point=True)
    assert with_point.usd == pytest.approx(expected + 50 * P["rds.aurora.backup_storage"] * 24 / 730)


def test_a_class_the_catalog_does_not_price_refuses_rather_than_guessing() -> None:
    with pytest.raises(UsageError, match="cannot be bounded.*db.x9.huge"):
        rc.aurora(CATALOG, "db.x9.huge", GB, hours=1)


def test_a_dynamodb_restore_prices_the_indexes_only_when_they_are_restored() -> None:
    without = rc.dynamodb(CATALOG, 10 * GB, 30 * GB, hours=2, with_indexes=False)
    with_them = rc.dynamodb(CATALOG, 10 * GB, 30 * GB, hours=2, with_indexes=True)
    assert without.usd == pytest.approx(10 * P["dynamodb.restore"] + 10 * P["dynamodb.storage"] * 2 / 730)
    assert with_them.usd == pytest.approx(40 * P["dynamodb.restore"] + 40 * P["dynamodb.storage"] * 2 / 730)
    assert "on demand: no capacity charge" in without.basis
    kept = rc.dynamodb(CATALOG, 10 * GB, 0, hours=2, with_indexes=True, provisioned=(1000, 3000))
    capacity = (1000 * P["dynamodb.provisioned.wcu"] + 3000 * P["dynamodb.provisioned.rcu"]) * 2
    assert kept.usd == pytest.approx(10 * P["dynamodb.restore"] + 10 * P["dynamodb.storage"] * 2 / 730 + capacity)


def test_a_cost_above_the_limit_is_one_line_naming_the_bound_and_the_limit() -> None:
    cost = rc.RestoreCost(0.25, "1 x db.t4g.medium for 1.17 h")
    rc.refuse_if_costly("restoring aurora:x", cost, 0.25)  # at the limit: allowed
    with pytest.raises(UsageError) as exc:
        rc.refuse_if_costly("restoring aurora:x", cost, 0.2)
    text = str(exc.value)
    assert "\n" not in text and "0.2500 USD" in text and "--max-cost 0.2 USD" in text and "nothing was created" in text


class _Slow:
    default_timeout_s = 3600.0


def test_the_restore_is_priced_until_its_expiry_tag_kept_or_not() -> None:
    """A cleanup that fails leaves the restore to the janitor, which takes it only once its expiry tag has passed:
    without --keep too it may live that long, so it is priced to then (the tag: at least 6 h, and an hour past
    the drill's longest wait)."""
    assert restore_hours(_Slow(), RestoreOptions()) == pytest.approx(6.0)  # type: ignore[arg-type]
    assert restore_hours(_Slow(), RestoreOptions(keep=True)) == pytest.approx(6.0)  # type: ignore[arg-type]
    long = RestoreOptions(timeout_s=24 * 3600)
    assert restore_hours(_Slow(), long) == pytest.approx((24 * 3600 + 600 + 3600) / 3600)  # type: ignore[arg-type]
    assert restore_hours(_Slow(), RestoreOptions(expires_hours=48)) == pytest.approx(48.0)  # type: ignore[arg-type]


def test_an_io_optimized_source_restores_and_is_priced_as_io_optimized() -> None:
    hours, gb = 6.0, 50
    standard = rc.aurora(CATALOG, "db.t4g.medium", gb * GB, hours, storage_type="aurora")
    optimized = rc.aurora(CATALOG, "db.t4g.medium", gb * GB, hours, storage_type="aurora-iopt1")
    factor = CATALOG["prices"]["rds.aurora.iopt1.instance_factor"]["factor"]
    assert standard.usd == pytest.approx(P["rds.aurora-postgresql.db.t4g.medium"] * hours + gb * P["rds.aurora.storage"] * hours / 730)
    assert optimized.usd == pytest.approx(P["rds.aurora-postgresql.db.t4g.medium"] * factor * hours
                                          + gb * P["rds.aurora.storage.iopt1"] * hours / 730)
    assert optimized.usd > standard.usd and "I/O-Optimized" in optimized.basis and "I/O-Optimized" not in standard.basis


def test_the_aurora_restore_reads_the_sources_storage_type() -> None:
    from ops.targets.aurora import AuroraRestore

    class Source:
        def __init__(self, storage_type: str | None) -> None:
            self.storage_type = storage_type

        def _cluster(self) -> dict:
            return {"StorageType": self.storage_type} if self.storage_type else {}

    def priced(storage_type: str | None) -> float:
        restore = AuroraRestore.__new__(AuroraRestore)
        restore.target = Source(storage_type)  # type: ignore[assignment]
        restore._instance_class = "db.t4g.medium"
        restore.volume_bytes = lambda: 10 * GB  # type: ignore[method-assign]
        return restore.restore_cost(6.0, CATALOG).usd

    assert priced("aurora-iopt1") > priced("aurora") == pytest.approx(priced(None))


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def test_a_table_size_of_zero_for_a_table_with_items_is_not_measured_and_refused_unless_max_cost_is_explicit() -> None:
    stale = rc.table_size({"TableSizeBytes": 0, "ItemCount": 120000, "CreationDateTime": NOW - timedelta(days=30)}, NOW)
    assert stale.not_measured and "ItemCount" in stale.not_measured
    cost = rc.dynamodb(CATALOG, stale, 0, hours=6, with_indexes=False)
    assert cost.not_measured and cost.basis.startswith("size not measured") and "lower bound" in cost.basis
    with pytest.raises(UsageError) as exc:
        rc.refuse_if_costly("restoring dynamodb:orders", cost, 100.0)
    text = str(exc.value)
    assert "\n" not in text and "not measured" in text and "give --max-cost explicitly" in text and "nothing was created" in text
    rc.refuse_if_costly("restoring dynamodb:orders", cost, 100.0, explicit=True)  # the operator's own bound
    # negative control: a size DynamoDB has refreshed is a measurement, bounded by the policy's limit as before
    fresh = rc.table_size({"TableSizeBytes": 5 * GB, "ItemCount": 120000, "CreationDateTime": NOW - timedelta(days=30)}, NOW)
    assert fresh.not_measured is None and fresh.caveat is None
    rc.refuse_if_costly("restoring dynamodb:orders", rc.dynamodb(CATALOG, fresh, 0, 6, False), 100.0)


def test_a_table_created_within_the_size_refresh_says_its_size_may_miss_recent_writes() -> None:
    recent = rc.table_size({"TableSizeBytes": 0, "ItemCount": 0, "CreationDateTime": NOW - timedelta(hours=2)}, NOW)
    assert recent.not_measured is None and "created 2.0 h ago" in (recent.caveat or "")
    assert "not counted" in rc.dynamodb(CATALOG, recent, 0, 6, False).basis


def test_backup_verify_refuses_a_restore_of_a_size_not_measured_unless_max_cost_is_explicit() -> None:
    from ops.checks.verify import refuse_costly_restores

    stale = rc.dynamodb(CATALOG, rc.table_size({"TableSizeBytes": 0, "ItemCount": 5}, NOW), 0, 6, False)
    with pytest.raises(UsageError, match="cannot be bounded.*BKP-RESTORE-LATEST.*give --max-cost explicitly"):
        refuse_costly_restores([("BKP-RESTORE-LATEST[dynamodb:orders]", stale)], 1.0)
    refuse_costly_restores([("BKP-RESTORE-LATEST[dynamodb:orders]", stale)], 1.0, explicit=True)


def _option(cls: str) -> dict:
    return {"Engine": "aurora-postgresql", "EngineVersion": "15.4", "DBInstanceClass": cls}


def test_the_instance_class_is_the_first_configured_one_the_engine_version_offers_read_past_the_first_page() -> None:
    rds = boto3.client("rds", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(rds)
    asked = {"Engine": "aurora-postgresql", "EngineVersion": "15.4"}
    stub.add_response("describe_orderable_db_instance_options",
                      {"OrderableDBInstanceOptions": [_option("db.r6g.large"), _option("db.r6g.xlarge")], "Marker": "m1"}, asked)
    stub.add_response("describe_orderable_db_instance_options",
                      {"OrderableDBInstanceOptions": [_option("db.t3.medium")]}, {**asked, "Marker": "m1"})
    with stub:
        chosen = choose_instance_class(rds, "aurora-postgresql", "15.4", RESTORE_INSTANCE_CLASSES)
    stub.assert_no_pending_responses()
    # db.t4g.medium is not offered; db.t3.medium (second page) comes before db.r6g.large in the list
    assert chosen == "db.t3.medium"
    stub.add_response("describe_orderable_db_instance_options", {"OrderableDBInstanceOptions": [_option("db.r6g.xlarge")]}, asked)
    with stub, pytest.raises(UsageError, match=r"none of the restore instance classes .* 15\.4.*\[restore\] instance_classes"):
        choose_instance_class(rds, "aurora-postgresql", "15.4", RESTORE_INSTANCE_CLASSES)


def test_the_restored_cluster_takes_the_sources_subnet_group_security_groups_and_port() -> None:
    source = {"DBSubnetGroup": "db-private", "Port": 6432,
              "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-1", "Status": "active"}, {"VpcSecurityGroupId": "sg-2", "Status": "active"}]}
    assert restore_network(source) == {"DBSubnetGroupName": "db-private", "VpcSecurityGroupIds": ["sg-1", "sg-2"], "Port": 6432}


def test_restore_instance_classes_come_from_the_config_and_a_bad_list_is_named(tmp_path: Path) -> None:
    path = tmp_path / "dbops.toml"
    path.write_text('[restore]\ninstance_classes = ["db.r6g.large"]\n[envs.lab]\nendpoint = "embedded"\n')
    assert config.load(path, environ={}).restore_instance_classes == ("db.r6g.large",)
    path.write_text('[envs.lab]\nendpoint = "embedded"\n')
    assert config.load(path, environ={}).restore_instance_classes == RESTORE_INSTANCE_CLASSES
    for bad in ('[]', '"db.t3.medium"', '["t3.medium"]'):
        path.write_text(f"[restore]\ninstance_classes = {bad}\n")
        with pytest.raises(ConfigError, match="restore.instance_classes"):
            config.load(path, environ={})
    path.write_text('[restore]\nclasses = ["db.t3.medium"]\n')
    with pytest.raises(ConfigError, match="unknown key 'restore.classes'"):
        config.load(path, environ={})
