"""The lab's transient faults (api_error_every, api_reset_every, api_throttle_every): every Nth first attempt is
answered a service fault or a throttle in its protocol's shape, or has its connection reset. dbops's clients
(ops.aws: standard retries) ride through them; a client that does not retry sees each one (the negative control)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from ops.aws import Aws
from ops.etl import ddb_export
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from tests.conftest import Cli, traversable_tmpdir, write_config

CALM = {"api_error_every": 0, "api_reset_every": 0, "api_throttle_every": 0}
CALLS = 12


@pytest.fixture(scope="module")
def flab() -> Iterator[Cli]:
    """An emulator of its own (no PostgreSQL): these tests make it fail requests."""
    root = traversable_tmpdir("dbops-faults-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def faults(flab: Cli) -> Iterator[Callable[..., dict[str, int]]]:
    """Turn fault knobs for one test; returns the emulator's fault counts. Calm again after the test."""
    endpoint = emulator.endpoint(flab.lab_dir)
    assert endpoint

    def set_and_count(**values: Any) -> dict[str, int]:
        if values:
            settings.remote(endpoint, values)
        with urllib.request.urlopen(endpoint + "/moto-api/dbops-lab/api-faults", timeout=10) as answer:
            return json.loads(answer.read())

    yield set_and_count
    settings.remote(endpoint, CALM)


def retrying(cli: Cli) -> Aws:
    return Aws.for_env(cli.config, cli.config.env("lab"))


def not_retrying(cli: Cli) -> Aws:
    shared = retrying(cli)
    return Aws(region=shared.region, endpoint_url=shared.endpoint_url, max_attempts=1)


def calls(aws: Aws) -> list[Callable[[], Any]]:
    """One read of each protocol: DynamoDB (JSON), S3 (REST-XML), RDS (query)."""
    ddb, s3, rds = aws.client("dynamodb"), aws.client("s3"), aws.client("rds")
    return [ddb.list_tables, s3.list_buckets, rds.describe_db_clusters]


def outcomes(aws: Aws) -> list[str]:
    """What each of CALLS rounds of calls got: "ok" or the error's code or class."""
    got = []
    for _ in range(CALLS):
        for call in calls(aws):
            try:
                call()
                got.append("ok")
            except ClientError as exc:
                got.append(f"{exc.response['ResponseMetadata']['HTTPStatusCode']} {exc.response['Error']['Code']}")
            except ConnectionClosedError:
                got.append("closed")
    return got


def test_service_faults_are_retried_by_dbops_clients_and_seen_without_retries(
        flab: Cli, faults: Callable[..., dict[str, int]]) -> None:
    before = faults(api_error_every=2)
    assert outcomes(retrying(flab)) == ["ok"] * CALLS * 3
    retried = faults()
    assert retried["errors"] - before["errors"] >= CALLS, "half the first attempts were answered a fault"

    unretried = outcomes(not_retrying(flab))
    assert unretried.count("ok") == len(unretried) // 2, unretried
    assert set(unretried) - {"ok"} == {"500 InternalServerError", "503 SlowDown", "500 InternalFailure"}, unretried


def test_reset_connections_are_retried_by_dbops_clients_and_seen_without_retries(
        flab: Cli, faults: Callable[..., dict[str, int]]) -> None:
    before = faults(api_reset_every=3)
    assert outcomes(retrying(flab)) == ["ok"] * CALLS * 3
    assert faults()["resets"] - before["resets"] >= CALLS
    unretried = outcomes(not_retrying(flab))
    assert set(unretried) == {"ok", "closed"} and unretried.count("closed") == len(unretried) // 3, unretried


def test_throttles_are_retried_by_dbops_clients_and_s3_throttles_as_aws_does(
        flab: Cli, faults: Callable[..., dict[str, int]]) -> None:
    """S3 has no throttling error: it answers 503 SlowDown, which every SDK retries (a 400 would not be)."""
    before = faults(api_throttle_every=2)
    assert outcomes(retrying(flab)) == ["ok"] * CALLS * 3
    assert faults()["throttled"] - before["throttled"] >= CALLS
    unretried = outcomes(not_retrying(flab))
    assert unretried.count("ok") == len(unretried) // 2, unretried
    assert set(unretried) - {"ok"} == {"400 ThrottlingException", "503 SlowDown", "400 Throttling"}, unretried


def test_calm_lab_answers_every_first_attempt(flab: Cli, faults: Callable[..., dict[str, int]]) -> None:
    """The control of the two above: with the knobs at 0, a client without retries sees no fault."""
    before = faults(**CALM)
    assert outcomes(not_retrying(flab)) == ["ok"] * CALLS * 3
    after = faults()
    assert (after["errors"], after["resets"]) == (before["errors"], before["resets"])


def test_a_table_export_rides_through_faults(flab: Cli, faults: Callable[..., dict[str, int]]) -> None:
    """Start (its ClientToken makes a retried start the same export), wait and read under both faults."""
    faults(ddb_restorable_lag_s=0, ddb_heartbeat=False, ddb_export_delay_s=0, ddb_export_items_per_file=5)
    aws = retrying(flab)
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    s3.create_bucket(Bucket="fault-exports")
    ddb.create_table(TableName="faulty", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.update_continuous_backups(TableName="faulty", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    for i in range(20):
        ddb.put_item(TableName="faulty", Item={"pk": {"S": f"k{i:02d}"}, "n": {"N": str(i)}})
    second = int(time.time()) + 1
    time.sleep(second + 0.05 - time.time())
    at = datetime.fromtimestamp(second, timezone.utc)
    arn = ddb.describe_table(TableName="faulty")["Table"]["TableArn"]

    before = faults(api_error_every=3, api_reset_every=4)
    export = ddb_export.wait(ddb, ddb_export.start_export(ddb, arn, "fault-exports", "f", at), 20, lambda _: None)
    rows = [r for b in ddb_export.read(s3, export, {"pk": "string", "n": "bigint"}) for r in b.to_pylist()]
    after = faults()
    assert sorted(r["n"] for r in rows) == list(range(20))
    assert after["errors"] > before["errors"] and after["resets"] > before["resets"], "the faults were met"
    listed = ddb.list_exports(TableArn=arn)["ExportSummaries"]
    assert len(listed) == 1, "a retried start is the same export"
