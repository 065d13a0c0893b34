"""DynamoDB point-in-time recovery in the lab's emulator, through boto3: item history for every
write API, the restorable window and its refusals, the heartbeat, and restore drills judged by
rows — each with its negative control."""

from __future__ import annotations

import json
import math
import shutil
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest
from botocore.exceptions import ClientError

from ops.aws import Aws
from ops.data import ddb_markers
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from ops.lab.aws.ddb_pitr import BASE, History
from tests.conftest import Cli, traversable_tmpdir, write_config

DEFAULTS = {"ddb_restorable_lag_s": 300, "ddb_restore_ignores_time": False, "ddb_heartbeat": True}


@pytest.fixture(scope="module")
def dlab() -> Iterator[Cli]:
    """An emulator of its own (no PostgreSQL): these tests turn the lab's DynamoDB settings."""
    root = traversable_tmpdir("dbops-ddb-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def aged(dlab: Cli) -> str:
    """Tables with PITR made as the module starts, so the heartbeat has written into them by the
    time a test restores one to a few seconds ago: one with an application's items, one to beat."""
    ddb = client(dlab)
    make_table(ddb, "aged-orders")
    for i in range(12):
        ddb.put_item(TableName="aged-orders", Item={"pk": {"S": f"order-{i}"}, "total": {"N": str(i)}})
    make_table(ddb, "beat-orders")
    make_table(ddb, "beat-plain", pitr=False)
    return "aged-orders"


def endpoint(cli: Cli) -> str:
    found = emulator.endpoint(cli.lab_dir)
    assert found
    return found


@pytest.fixture
def lab_set(dlab: Cli) -> Iterator[Callable[..., None]]:
    """Change the lab's settings for one test; the service's defaults come back after it."""
    def set_(**values: Any) -> None:
        settings.remote(endpoint(dlab), values)

    yield set_
    settings.remote(endpoint(dlab), DEFAULTS)


def client(cli: Cli) -> Any:
    cfg = cli.config
    return Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")


def make_table(ddb: Any, name: str, pitr: bool = True, sort_key: bool = False, **pitr_spec: Any) -> None:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if sort_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST")
    if pitr:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, **pitr_spec})


def contents(ddb: Any, name: str) -> list[str]:
    """A table's items (a test's own table: scanned), less the lab heartbeat's."""
    items = ddb.scan(TableName=name, ConsistentRead=True)["Items"]
    return sorted(json.dumps(i, sort_keys=True) for i in items if i.get("dbops_marker", {}).get("S") != "heartbeat")


def next_second() -> datetime:
    """Sleep into the next whole second; return it. RestoreDateTime travels as whole seconds."""
    now = time.time()
    second = math.floor(now) + 1
    time.sleep(second - now + 0.05)
    return datetime.fromtimestamp(second, timezone.utc)


def restored(ddb: Any, source: str, target: str, **when: Any) -> list[str]:
    ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target, **when)
    return contents(ddb, target)


def window(ddb: Any, name: str) -> dict[str, Any]:
    return ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]


def error_of(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    e = caught.value.response
    return e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Message"]


def k(pk: str, sk: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


def test_restore_to_a_time_gives_every_item_as_it_was_then(dlab: Cli, lab_set: Callable[..., None]) -> None:
    lab_set(ddb_restorable_lag_s=0)
    ddb = client(dlab)
    name = "hist-orders"
    make_table(ddb, name, pitr=False, sort_key=True)
    for pk in ("keep", "changed", "gone"):
        ddb.put_item(TableName=name, Item=k(pk, 1) | {"v": {"N": "1"}})
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})

    ddb.put_item(TableName=name, Item=k("a", 1) | {"v": {"N": "1"}, "note": {"S": "new"}})
    ddb.update_item(TableName=name, Key=k("changed", 1), UpdateExpression="SET v = :v, note = :n",
                    ExpressionAttributeValues={":v": {"N": "2"}, ":n": {"S": "updated"}})
    ddb.delete_item(TableName=name, Key=k("gone", 1))
    ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": k("b", 1) | {"v": {"N": "1"}}}},
                                              {"PutRequest": {"Item": k("b", 2) | {"v": {"N": "1"}}}}]})
    t1 = next_second()
    at_t1 = contents(ddb, name)

    ddb.update_item(TableName=name, Key=k("a", 1), UpdateExpression="ADD v :one REMOVE note",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": name, "Item": k("c", 1) | {"v": {"N": "1"}}}},
        {"Update": {"TableName": name, "Key": k("b", 1), "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "9"}}}},
        {"Delete": {"TableName": name, "Key": k("b", 2)}},
        {"ConditionCheck": {"TableName": name, "Key": k("changed", 1), "ConditionExpression": "attribute_exists(pk)"}},
    ])
    ddb.execute_statement(Statement=f'UPDATE "{name}" SET v = ? WHERE pk = ? AND sk = ?',
                          Parameters=[{"N": "7"}, {"S": "keep"}, {"N": "1"}])
    ddb.batch_write_item(RequestItems={name: [{"DeleteRequest": {"Key": k("changed", 1)}}]})
    t2 = next_second()
    at_t2 = contents(ddb, name)

    with pytest.raises(ddb.exceptions.TransactionCanceledException):  # cancelled: it changes nothing, at no time
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": k("d", 1)}},
            {"ConditionCheck": {"TableName": name, "Key": k("gone", 1), "ConditionExpression": "attribute_exists(pk)"}},
        ])
    ddb.delete_item(TableName=name, Key=k("a", 1))
    ddb.put_item(TableName=name, Item=k("gone", 1) | {"v": {"N": "3"}})
    now = contents(ddb, name)

    assert len({tuple(at_t1), tuple(at_t2), tuple(now)}) == 3, "each phase changed the table"
    assert restored(ddb, name, "hist-orders-t1", RestoreDateTime=t1) == at_t1
    assert restored(ddb, name, "hist-orders-t2", RestoreDateTime=t2) == at_t2
    assert restored(ddb, name, "hist-orders-latest", UseLatestRestorableTime=True) == now
    summary = ddb.describe_table(TableName="hist-orders-t1")["Table"]["RestoreSummary"]
    assert summary["RestoreDateTime"] == t1 and summary["SourceTableArn"].endswith(f"table/{name}")
    assert window(ddb, "hist-orders-t1")["PointInTimeRecoveryStatus"] == "DISABLED", "a restored table starts without PITR"
    # Negative control: a restore that ignores the time (plain moto) is caught by the same comparison.
    lab_set(ddb_restore_ignores_time=True)
    assert restored(ddb, name, "hist-orders-t1-plain", RestoreDateTime=t1) == now != at_t1


def test_the_restorable_window_trails_now_by_the_lag_and_a_time_outside_it_is_refused(dlab: Cli, lab_set: Callable[..., None]) -> None:
    lab_set(ddb_restorable_lag_s=2)
    ddb = client(dlab)
    name = "window-orders"
    before = datetime.now(timezone.utc)
    make_table(ddb, name, RecoveryPeriodInDays=7)
    after = datetime.now(timezone.utc)
    first = window(ddb, name)
    assert before - timedelta(seconds=0.01) <= first["EarliestRestorableDateTime"] <= after, "earliest = when PITR was enabled"
    assert first["LatestRestorableDateTime"] == first["EarliestRestorableDateTime"], "the lag reaches back before it: latest = earliest"
    assert first["RecoveryPeriodInDays"] == 7
    time.sleep(3.2)
    second = window(ddb, name)
    lag = (datetime.now(timezone.utc) - second["LatestRestorableDateTime"]).total_seconds()
    assert 2 <= lag < 2.5 and second["EarliestRestorableDateTime"] == first["EarliestRestorableDateTime"]
    lab_set(ddb_restorable_lag_s=0)  # negative control: the same read follows the lab's lag
    assert (datetime.now(timezone.utc) - window(ddb, name)["LatestRestorableDateTime"]).total_seconds() < 0.5
    lab_set(ddb_restorable_lag_s=2)

    earliest = second["EarliestRestorableDateTime"]
    refused = ("InvalidRestoreTimeException", 400, "An invalid restore time was specified. RestoreDateTime must be between "
                                                   "EarliestRestorableDateTime and LatestRestorableDateTime.")
    for when in (datetime.now(timezone.utc), earliest - timedelta(seconds=2)):
        assert error_of(lambda: ddb.restore_table_to_point_in_time(
            SourceTableName=name, TargetTableName="window-out", RestoreDateTime=when)) == refused
    inside = datetime.fromtimestamp(math.ceil(earliest.timestamp()), timezone.utc)
    assert restored(ddb, name, "window-in", RestoreDateTime=inside) == []
    assert ddb.describe_table(TableName="window-in")["Table"]["RestoreSummary"]["RestoreDateTime"] == inside

    assert error_of(lambda: ddb.restore_table_to_point_in_time(
        SourceTableName=name, TargetTableName="window-in", UseLatestRestorableTime=True))[0] == "TableAlreadyExistsException"
    assert error_of(lambda: ddb.restore_table_to_point_in_time(
        SourceTableName="no-such-table", TargetTableName="window-x", UseLatestRestorableTime=True))[0] == "TableNotFoundException"
    assert error_of(lambda: ddb.restore_table_to_point_in_time(
        SourceTableName=name, TargetTableName="window-x", RestoreDateTime=inside, UseLatestRestorableTime=True))[0] == "ValidationException"
    assert error_of(lambda: ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 36}))[0] == "ValidationException"
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    assert error_of(lambda: ddb.restore_table_to_point_in_time(
        SourceTableName=name, TargetTableName="window-x", UseLatestRestorableTime=True))[0] == "PointInTimeRecoveryUnavailableException"
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    again = window(ddb, name)
    assert again["EarliestRestorableDateTime"] > earliest + timedelta(seconds=3), "enabling again resets the earliest restorable time"
    assert again["RecoveryPeriodInDays"] == 35, "the service's default recovery period"


def test_the_window_and_the_history_are_bounded_by_the_recovery_period() -> None:
    day = 86400.0
    now = 100 * day
    assert History(now - 40 * day, 35).window(now, 300) == (now - 35 * day, now - 300)
    assert History(now - 2 * day, 35).window(now, 300) == (now - 2 * day, now - 300)
    assert History(now - 100, 35).window(now, 300) == (now - 100, now - 100), "never a latest before the earliest"
    h = History(0.0, 1)
    key = ("k", None)
    full = [(BASE, "pre")]
    for i in range(1, 20001):  # a write every 10 s for 2.3 days into a 1-day window
        h.record(key, i * 10.0, f"v{i}", "pre")
        full.append((i * 10.0, f"v{i}"))
    kept = h.items[key]
    assert day / 10 <= len(kept) <= 2 * day / 10 + 2 < len(full), "the window is kept, at most twice over, not the whole history"
    last = 200000.0
    for t in (last, last - day, last - day + 5, last - 3333.0):
        expected = [v for w, v in full if w <= t][-1]
        assert h.state_at(key, t) == expected, t
    h.sweep(last + 2 * day)
    assert key not in h.items, "a key unchanged for the whole window keeps no history: its current item is its item"




def age_at_least(ddb: Any, name: str, seconds: float) -> None:
    enabled = window(ddb, name)["EarliestRestorableDateTime"]
    time.sleep(max(0.0, seconds - (datetime.now(timezone.utc) - enabled).total_seconds()))


def drill(cli: Cli, *args: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    result = cli("drill", "restore", *args, "--json")
    report = json.loads(result.stdout)
    return result.exit_code, report, {c["id"]: c["status"] for c in report["checks"]}


def test_a_drill_minutes_ago_passes_on_the_heartbeat_rows_and_fails_against_a_restore_that_ignores_time(
        dlab: Cli, aged: str, lab_set: Callable[..., None]) -> None:
    ddb = client(dlab)
    lab_set(ddb_restorable_lag_s=0.5)
    age_at_least(ddb, aged, 6.5)
    code, report, checks = drill(dlab, f"dynamodb:{aged}", "--minutes-ago", "0.05")
    assert code == 0, report["summary"]
    assert checks["ROWS-BEFORE-T-PRESENT"] == checks["ROWS-AFTER-T-ABSENT"] == checks["ROWS-FINGERPRINT"] == checks["RPO"] == "pass"
    m = report["measurements"]
    assert m["markers_before_t"] >= 1, "rows before T are the heartbeat's: the drill writes only after an explicit T"
    assert m["markers_after_t"] >= 10 + 2
    assert 0.5 <= m["rpo_s"] < 2, "the RPO is the lab's latest restorable time, 0.5 s behind"
    left = [json.loads(i) for i in contents(ddb, aged)]
    assert not [i for i in left if i.get("dbops_marker", {}).get("S", "heartbeat") != "heartbeat"], "its markers are gone"
    assert ddb.list_tables()["TableNames"].count(aged) == 1 and not [t for t in ddb.list_tables()["TableNames"] if "-restore-" in t]

    # Negative control: the same drill against a restore that copies today's items whatever the time.
    lab_set(ddb_restore_ignores_time=True, ddb_restorable_lag_s=1.5)
    code, report, checks = drill(dlab, f"dynamodb:{aged}", "--minutes-ago", "0.05")
    assert code == 1 and report["status"] == "fail", report["summary"]
    assert checks["ROWS-AFTER-T-ABSENT"] == "fail" and checks["ROWS-BEFORE-T-PRESENT"] == "pass"
    assert 1.5 <= report["measurements"]["rpo_s"] < 3, "the measured RPO follows the lab's lag"


def test_backup_verify_and_the_runbook_show_the_measured_restorable_lag(dlab: Cli, aged: str, lab_set: Callable[..., None]) -> None:
    ddb = client(dlab)
    age_at_least(ddb, aged, 6)
    lab_set(ddb_restorable_lag_s=0)
    found = {c["id"]: c for c in json.loads(dlab("backup", "verify", f"dynamodb:{aged}", "--json").stdout)["checks"]}
    assert found[f"BKP-DDB-RESTORABLE[dynamodb:{aged}]"]["status"] == "pass"
    assert "latest restorable time 0s old" in found[f"BKP-DDB-RESTORABLE[dynamodb:{aged}]"]["detail"]
    book = dlab("runbook", "show", "dynamodb-pitr", "--target", f"dynamodb:{aged}").stdout
    assert "(0 s ago behind)" in book and "emulator" not in book
    # Negative control: 5 s behind against a 2 s objective fails, and says how far behind it is.
    strict_root = dlab.config_path.parent / "strict"
    strict_root.mkdir(exist_ok=True)
    strict = Cli(write_config(strict_root, extra="[envs.lab.policy]\nrpo_seconds = 2\n"), dlab.lab_dir)
    lab_set(ddb_restorable_lag_s=5)
    result = strict("backup", "verify", f"dynamodb:{aged}", "--json")
    finding = {c["id"]: c for c in json.loads(result.stdout)["checks"]}[f"BKP-DDB-RESTORABLE[dynamodb:{aged}]"]
    assert finding["status"] == "fail" and "5s old (RPO 2s)" in finding["detail"] and result.exit_code == 1
    assert "(5 s ago behind)" in dlab("runbook", "show", "dynamodb-pitr", "--target", f"dynamodb:{aged}").stdout


def test_the_heartbeat_writes_one_item_a_second_into_each_table_with_pitr(dlab: Cli, lab_set: Callable[..., None]) -> None:
    ddb = client(dlab)
    age_at_least(ddb, "beat-orders", 2.6)
    second = int(time.time()) - 1
    table = ddb.describe_table(TableName="beat-orders")["Table"]
    items = ddb.batch_get_item(RequestItems={
        "beat-orders": {"Keys": [ddb_markers.heartbeat_key(table, s) for s in (second - 1, second)], "ConsistentRead": True},
        "beat-plain": {"Keys": [ddb_markers.heartbeat_key(table, s) for s in (second - 1, second)], "ConsistentRead": True},
    })["Responses"]
    assert items["beat-plain"] == [], "no heartbeat in a table without point-in-time recovery"
    beats = sorted(items["beat-orders"], key=lambda i: int(i["dbops_seq"]["N"]))
    assert [int(i["dbops_seq"]["N"]) for i in beats] == [second - 1, second]
    for item in beats:
        written = float(item["dbops_written_at"]["N"])
        assert item["dbops_marker"]["S"] == "heartbeat" and int(item["dbops_seq"]["N"]) + 0.5 <= written < int(item["dbops_seq"]["N"]) + 1
    # Negative control: switched off, no item appears for the second after.
    lab_set(ddb_heartbeat=False)
    off = int(time.time()) + 1
    time.sleep(off + 0.95 - time.time())
    later = [ddb_markers.heartbeat_key(table, off)]
    assert ddb.batch_get_item(RequestItems={"beat-orders": {"Keys": later}})["Responses"]["beat-orders"] == []


def test_without_heartbeat_rows_an_explicit_time_is_inconclusive_as_on_aws(dlab: Cli, lab_set: Callable[..., None]) -> None:
    lab_set(ddb_restorable_lag_s=0.5, ddb_heartbeat=False)
    ddb = client(dlab)
    make_table(ddb, "quiet-orders")
    ddb.put_item(TableName="quiet-orders", Item={"pk": {"S": "order-1"}})
    age_at_least(ddb, "quiet-orders", 4)  # T whole seconds after the earliest: RestoreDateTime travels truncated to seconds
    code, report, checks = drill(dlab, "dynamodb:quiet-orders", "--minutes-ago", "0.03")
    assert code == 4 and report["status"] == "inconclusive", report["summary"]
    assert checks["ROWS-BEFORE-T-PRESENT"] == "unknown" and checks["ROWS-AFTER-T-ABSENT"] == "pass" and checks["RPO"] == "pass"
