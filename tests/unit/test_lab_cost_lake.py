"""The lab's Cost Explorer ledger bills the analytics lake (its tagged bucket and workgroup) as
`dbops cost estimate` prices them, and nothing for a bucket or workgroup outside the lake (moto's
backends in this process, the emulator's own code)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from ops.cost import estimate as est
from ops.lab.aws import cost_usage

ACCOUNT = "123456789012"
LAKE_TAGS = {"managed-by": "dbops", "dbops:component": "analytics-lake"}


def make(bucket: str, workgroup: str, tags: dict[str, str], cutoff: int | None = 1024 ** 3) -> None:
    from moto.athena.models import athena_backends

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    configuration = {"BytesScannedCutoffPerQuery": cutoff} if cutoff else {}
    athena_backends[ACCOUNT]["us-east-1"].create_work_group(workgroup, configuration, "", [{"Key": k, "Value": v} for k, v in tags.items()])


def last_month(led: cost_usage.Ledger, service: str) -> float:
    now = led.now
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    previous = (first - timedelta(days=1)).replace(day=1)
    charges = led.select(lambda c: c.service == service)
    return sum(c.on(day)[0] for c in charges.charges for day in cost_usage.days(previous.date(), first.date()))


def estimated(type_: str, after: dict) -> float:
    catalog, usage = cost_usage.catalog_and_usage()
    rc = {"address": "x", "type": type_, "mode": "managed", "change": {"actions": ["create"], "after": after}}
    return est.estimate({"resource_changes": [rc]}, catalog, usage).lines[0].usd


def test_the_lakes_bucket_and_workgroup_cost_a_month_what_the_estimate_says() -> None:
    with mock_aws():
        make("dbops-lab-lake-123456789012", "dbops-lab-lake", LAKE_TAGS)
        catalog, usage = cost_usage.catalog_and_usage()
        led = cost_usage.ledger(ACCOUNT, cost_usage.Model(catalog, usage), datetime.now(timezone.utc))
    s3, athena = last_month(led, cost_usage.S3), last_month(led, cost_usage.ATHENA)
    assert s3 == pytest.approx(estimated("aws_s3_bucket", {"tags": LAKE_TAGS}))
    assert athena == pytest.approx(estimated("aws_athena_workgroup", {"tags": LAKE_TAGS,
                                                                     "configuration": [{"bytes_scanned_cutoff_per_query": 1024 ** 3}]}))
    assert (s3, athena) == (pytest.approx(0.553, abs=0.001), pytest.approx(4.35, abs=0.01))
    usage_types = {c.usage_type for c in led.charges if c.service in (cost_usage.S3, cost_usage.ATHENA)}
    assert usage_types == {"TimedStorage-ByteHrs", "Requests-Tier1", "Requests-Tier2", "DataScannedInTB"}


def test_a_lower_cutoff_bills_less_and_what_is_not_the_lake_bills_nothing() -> None:
    with mock_aws():
        make("dbops-lab-lake-123456789012", "dbops-lab-lake", LAKE_TAGS, cutoff=50 * 1024 ** 2)  # 50 MB: under the assumed 100 MB
        make("someone-elses-bucket", "adhoc", {"managed-by": "dbops"})
        catalog, usage = cost_usage.catalog_and_usage()
        led = cost_usage.ledger(ACCOUNT, cost_usage.Model(catalog, usage), datetime.now(timezone.utc))
    assert last_month(led, cost_usage.ATHENA) == pytest.approx(300 * 730 / 24 * 50 / 1024 ** 2 * 5.0)
    assert {c.resource.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for c in led.charges
            if c.service in (cost_usage.S3, cost_usage.ATHENA)} == {"dbops-lab-lake-123456789012", "dbops-lab-lake"}
