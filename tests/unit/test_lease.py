"""Leases: one drill at a time per target, whatever the spelling of the target's name."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from ops.errors import Busy
from ops.lease import DynamoLedger, FileLedger, Ledger


@pytest.fixture(scope="module")
def ddb() -> Iterator[object]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("dynamodb", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_table(TableName="leases", KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    yield client
    server.stop()


@pytest.fixture(params=["file", "dynamodb"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "file":
        return FileLedger(tmp_path / "leases")
    return DynamoLedger(request.getfixturevalue("ddb"), "leases", f"env-{tmp_path.name}")


def test_an_aurora_cluster_spelt_in_capitals_waits_for_its_lease(ledger: Ledger) -> None:
    with ledger.acquire("aurora:lab-aurora", "first", hours=1):
        with pytest.raises(Busy, match="aurora:lab-aurora is held by"):
            ledger.acquire("aurora:LAB-Aurora", "second", hours=1)


def test_dynamodb_table_names_are_case_sensitive_and_keep_their_own_leases(ledger: Ledger) -> None:
    with ledger.acquire("dynamodb:Orders", "first", hours=1):
        with ledger.acquire("dynamodb:orders", "second", hours=1):
            with pytest.raises(Busy):
                ledger.acquire("dynamodb:Orders", "third", hours=1)


def test_a_released_lease_can_be_taken_again(ledger: Ledger) -> None:
    ledger.acquire("aurora:db", "first", hours=1).release()
    ledger.acquire("aurora:DB", "second", hours=1).release()


@pytest.mark.parametrize("held, other", [
    ("aurora:lab-aurora", "aurora:arn:aws:rds:us-east-1:123456789012:cluster:lab-aurora"),
    ("dynamodb:orders", "dynamodb:arn:aws:dynamodb:us-east-1:123456789012:table/orders"),
])
def test_a_target_named_by_its_arn_waits_for_the_lease_of_its_name(ledger: Ledger, held: str, other: str) -> None:
    with ledger.acquire(held, "first", hours=1):
        with pytest.raises(Busy):
            ledger.acquire(other, "second", hours=1)


def test_two_envs_of_one_account_and_region_wait_for_each_other(ddb: object, tmp_path: Path) -> None:
    scope = f"123456789012:us-east-1:{tmp_path.name}"
    prod = DynamoLedger(ddb, "leases", "prod", scope=scope)
    also_prod = DynamoLedger(ddb, "leases", "prod-oncall", scope=scope)
    elsewhere = DynamoLedger(ddb, "leases", "prod", scope=f"123456789012:eu-west-1:{tmp_path.name}")
    with prod.acquire("aurora:orders", "first", hours=1):
        with pytest.raises(Busy):
            also_prod.acquire("aurora:orders", "second", hours=1)
        elsewhere.acquire("aurora:orders", "third", hours=1).release()  # another region's cluster of that name


@pytest.mark.parametrize("renew_every_s, busy", [(0.5, True), (3600.0, False)])
def test_a_held_lease_is_renewed_past_its_first_expiry(ddb: object, tmp_path: Path, renew_every_s: float, busy: bool) -> None:
    import time

    ledger = DynamoLedger(ddb, "leases", "prod", scope=f"renew-{renew_every_s}-{tmp_path.name}", renew_every_s=renew_every_s)
    with ledger.acquire("aurora:orders", "long-drill", hours=2 / 3600):  # a 2 s lease, held for 3.5 s
        time.sleep(3.5)
        if busy:
            with pytest.raises(Busy):
                ledger.acquire("aurora:orders", "next", hours=1)
        else:  # negative control: not renewed in time, it expired and the next drill takes it over
            ledger.acquire("aurora:orders", "next", hours=1).release()


def test_a_drills_window_outlives_its_record_for_the_target_only_and_expires_after_15_days(ledger: Ledger) -> None:
    from ops.lease import Record, Window

    ledger.put_record(Record("throughput-1", "dynamodb:orders", "lab", "me", "2099-01-01T00:00:00Z", markers=True))
    ledger.put_window(Window("throughput-1", "dynamodb:orders", "lab", "throughput", "2026-12-06T10:00:00Z", "2099-01-01T00:00:00Z"))
    ledger.put_window(Window("throughput-2", "dynamodb:other", "lab", "throughput", "2026-12-06T10:00:00Z", "2099-01-01T00:00:00Z"))
    ledger.put_window(Window("throughput-3", "dynamodb:orders", "lab", "throughput", "2020-01-01T00:00:00Z", "2020-01-01T00:01:00Z"))
    ledger.delete_record("throughput-1")
    assert [w.drill_id for w in ledger.windows("dynamodb:orders")] == ["throughput-1"]
    # the drill's end, once known, replaces its planned one
    ledger.put_window(Window("throughput-1", "dynamodb:orders", "lab", "throughput", "2026-12-06T10:00:00Z", "2099-01-01T00:05:00Z"))
    assert [w.finished_at for w in ledger.windows("dynamodb:arn:aws:dynamodb:us-east-1:123456789012:table/orders")] == ["2099-01-01T00:05:00Z"]
    assert list(ledger.records()) == [], "a window is no record: the janitor has nothing to clean for it"
    assert ledger.windows("dynamodb:nothing") == []
