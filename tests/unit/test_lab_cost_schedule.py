"""The lab's Cost Explorer ledger bills the estate's Aurora instances for the schedule's openings only
(moto's RDS backend in this process, the emulator's own code)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from ops.lab.aws import cost_usage
from ops.window import parse

ACCOUNT = "123456789012"
PRICE = 0.082  # db.t3.medium, us-east-1
WINDOW = parse(["SUN"], "01:00", 4)


def month_bounds(now: datetime) -> tuple[datetime, datetime, datetime]:
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return previous, first, following


@pytest.fixture
def estate():  # type: ignore[no-untyped-def]
    with mock_aws():
        rds = boto3.client("rds", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        tags = [{"Key": "managed-by", "Value": "dbops"}]
        rds.create_db_cluster(DBClusterIdentifier="lab-aurora", Engine="aurora-postgresql", MasterUsername="u",
                              MasterUserPassword="password1", Tags=tags)
        for i in range(2):
            rds.create_db_instance(DBInstanceIdentifier=f"lab-aurora-{i}", DBClusterIdentifier="lab-aurora",
                                   Engine="aurora-postgresql", DBInstanceClass="db.t3.medium", Tags=tags)
        yield rds


def instance_cost(led: cost_usage.Ledger, start: datetime, end: datetime) -> float:
    charges = led.select(lambda c: c.usage_type.endswith("InstanceUsage:db.t3.medium"))
    return sum(c.on(day)[0] for c in charges.charges for day in cost_usage.days(start.date(), end.date()))


def model(schedule=None) -> cost_usage.Model:  # type: ignore[no-untyped-def]
    catalog, usage = cost_usage.catalog_and_usage()
    return cost_usage.Model(catalog, usage, schedule=schedule)


def test_the_estates_instances_are_billed_for_the_windows_hours(estate) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    previous, first, following = month_bounds(now)
    led = cost_usage.ledger(ACCOUNT, model(WINDOW), now)
    # Last month, all history: each instance for the hours of last month's openings.
    assert instance_cost(led, previous, first) == pytest.approx(2 * PRICE * WINDOW.hours_between(previous, first))
    # This month as Cost Explorer projects it: whole days so far plus the forecast of the rest.
    so_far = led.select(lambda c: c.usage_type.endswith("InstanceUsage:db.t3.medium"))
    month = so_far.actual(first.date(), now.date()) + so_far.forecast(now.date(), following.date())
    assert month == pytest.approx(2 * PRICE * WINDOW.hours_between(first, following))
    # Storage is billed whatever the window: the cluster's storage line is there every day.
    assert any(c.usage_type.endswith("Aurora:StorageUsage") for c in led.charges)
    # Negative control: without a schedule, every hour of the month.
    always = cost_usage.ledger(ACCOUNT, model(), now)
    assert instance_cost(always, previous, first) == pytest.approx(2 * PRICE * 24 * (first - previous).days)


def test_a_stopped_cluster_without_a_schedule_bills_storage_only(estate) -> None:  # type: ignore[no-untyped-def]
    estate.stop_db_cluster(DBClusterIdentifier="lab-aurora")
    led = cost_usage.ledger(ACCOUNT, model(), datetime.now(timezone.utc))
    assert not [c for c in led.charges if "InstanceUsage" in c.usage_type]
    assert [c for c in led.charges if c.usage_type.endswith("Aurora:StorageUsage")]
