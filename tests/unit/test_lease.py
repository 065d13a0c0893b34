"""Leases: one drill at a time per target, whatever the spelling of the target's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.errors import Busy
from ops.lease import DynamoLedger, FileLedger, Ledger


@pytest.fixture(scope="module")
def ddb(lease_table: object) -> object:
    return lease_table


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


# --- what became of the lease is in the drill's report ---------------------------------------------

def passed_report():  # type: ignore[no-untyped-def]
    from ops.report import Journal

    journal = Journal("restore", "aurora:orders", "prod", echo=None)
    journal.check("RESTORE-ROWS", "pass", "every marker found")
    return journal.finish()


class Flaky:
    """The lease table's client, with UpdateItem (the renewal) refused while `failing` is set."""

    def __init__(self, ddb: object) -> None:
        self._ddb = ddb
        self.failing = True

    def __getattr__(self, name: str) -> object:
        return getattr(self._ddb, name)

    def update_item(self, **kwargs: object) -> object:
        if self.failing:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}},
                              "UpdateItem")
        return self._ddb.update_item(**kwargs)  # type: ignore[attr-defined]


@pytest.mark.parametrize("failing", [True, False])
def test_a_lease_whose_renewals_fail_until_it_expires_is_reported_lost(ddb: object, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                      failing: bool) -> None:
    import time

    flaky = Flaky(ddb)
    flaky.failing = failing
    ledger = DynamoLedger(flaky, "leases", "prod", scope=f"flaky-{failing}-{tmp_path.name}", renew_every_s=0.4)
    with ledger.acquire("aurora:orders", "restore-1", hours=1.5 / 3600) as lease:  # a 1.5 s lease, held for 2.5 s
        time.sleep(2.5)
        report = lease.judge(passed_report())
    warned = capsys.readouterr().err
    if failing:
        assert report.status == "error" and report.exit_code == 2, report
        check = next(c for c in report.checks if c.id == "LEASE")
        assert check.status == "error" and "expired" in check.detail and "lost its lease" in check.detail
        assert report.summary.startswith("ERROR (LEASE)")
        assert "renewal failed: AWS UpdateItem failed: ProvisionedThroughputExceededException" in warned  # said at once
        assert len(report.details["lease"]["renewal_failures"]) >= 3
    else:  # negative control: renewed in time, the report is the drill's own
        assert report.status == "pass" and "lease" not in report.details
        assert "LEASE" not in {c.id for c in report.checks} and "renewal failed" not in warned


def test_a_lease_taken_over_by_another_drill_is_reported_lost(ddb: object, tmp_path: Path) -> None:
    import time

    scope = f"taken-{tmp_path.name}"
    ledger = DynamoLedger(ddb, "leases", "prod", scope=scope, renew_every_s=0.3)
    with ledger.acquire("aurora:orders", "restore-mine", hours=1) as lease:
        key = {"S": f"dbops-drill-lease:{scope}:aurora:orders"}
        ddb.put_item(TableName="leases", Item={  # type: ignore[attr-defined]
            "LockID": key, "target": {"S": "aurora:orders"}, "drill_id": {"S": "restore-theirs"},
            "owner": {"S": "other-host:4242:1"}, "started_at": {"S": "2026-11-23T00:00:00Z"}, "expires_at": {"S": "2099-01-01T00:00:00Z"}})
        time.sleep(1.0)
        report = lease.judge(passed_report())
    assert report.status == "error"
    detail = next(c.detail for c in report.checks if c.id == "LEASE")
    assert "restore-theirs" in detail and "lost its lease" in detail, detail
    assert ddb.get_item(TableName="leases", Key={"LockID": key})["Item"]["drill_id"]["S"] == "restore-theirs"  # type: ignore[attr-defined]
    ddb.delete_item(TableName="leases", Key={"LockID": key})  # type: ignore[attr-defined]


class RetriedPut:
    """PutItem as botocore's retry makes it after a timeout whose first attempt was written: the item is put, then
    the same conditional put is sent again and answers ConditionalCheckFailedException."""

    def __init__(self, ddb: object) -> None:
        self._ddb = ddb

    def __getattr__(self, name: str) -> object:
        return getattr(self._ddb, name)

    def put_item(self, **kwargs: object) -> object:
        self._ddb.put_item(**kwargs)  # type: ignore[attr-defined]
        return self._ddb.put_item(**kwargs)  # type: ignore[attr-defined]


def test_a_retried_put_that_finds_the_drills_own_lease_has_acquired_it(ddb: object, tmp_path: Path) -> None:
    retried = DynamoLedger(RetriedPut(ddb), "leases", "prod", scope=f"retry-{tmp_path.name}")
    with retried.acquire("aurora:orders", "restore-own", hours=1) as lease:
        assert lease.holder.drill_id == "restore-own"
        # Negative control: the same put finding another drill's live lease is refused.
        plain = DynamoLedger(ddb, "leases", "prod", scope=f"retry-{tmp_path.name}")
        with pytest.raises(Busy, match="drill restore-own"):
            plain.acquire("aurora:orders", "restore-other", hours=1)
    plain.acquire("aurora:orders", "restore-other", hours=1).release()  # released: taken again


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
