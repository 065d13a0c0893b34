"""The lab's DynamoDB throughput model through boto3, and `dbops drill throughput` on it: a provisioned
table with too little capacity throttles and fails the drill, a warmed on-demand table at 10x passes,
the cost is refused before anything is written, the drill's items go afterwards (and by the janitor
after a SIGKILL), the application's items are never touched — each verdict with its negative control."""

from __future__ import annotations

import json
import math
import shutil
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest
from botocore.exceptions import ClientError

from ops.aws import Aws
from ops.data import ddb_load
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from ops.lab.aws.ddb_capacity import ON_DEMAND_MESSAGE, PROVISIONED_MESSAGE
from ops.lease import lab_ledger
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.faults.helpers import read_until, spawn

DEFAULTS = {"ddb_throttling": True, "ddb_burst_s": 300, "ddb_ondemand_initial_peak_wru": 2000, "ddb_ondemand_initial_peak_rru": 6000,
            "ddb_ondemand_peak_window_s": 1800, "ddb_partition_wcu": 1000, "ddb_partition_rcu": 3000, "ddb_restorable_lag_s": 300,
            "ddb_app_table": "", "ddb_app_wcu": 0, "ddb_app_rcu": 0,
            "ddb_metrics_delay_s": 0}
# The emulator shares two cores with the rest of the suite: the latency objective is the drill's
# argument here, its negative control a p95 no request can meet.
CONFIG = '\n[envs.lab.policy]\nthroughput_p95_ms = 3000\n'
QUICK = ("--ramp", "1", "--time", "4", "--metrics-wait", "10")


@pytest.fixture(scope="module")
def tlab() -> Iterator[Cli]:
    """An emulator of its own (no PostgreSQL): these tests turn its DynamoDB settings."""
    root = traversable_tmpdir("dbops-tp-")
    cli = Cli(write_config(root, CONFIG), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def lab_set(tlab: Cli) -> Iterator[Callable[..., None]]:
    endpoint = emulator.endpoint(tlab.lab_dir)
    assert endpoint

    def set_(**values: Any) -> None:
        settings.remote(endpoint, values)

    yield set_
    settings.remote(endpoint, DEFAULTS)


def aws(cli: Cli, retries: bool = True) -> Aws:
    cfg = cli.config
    shared = Aws.for_env(cfg, cfg.env("lab"))
    return shared if retries else Aws(region=shared.region, endpoint_url=shared.endpoint_url, max_attempts=1)


def make_table(ddb: Any, name: str, provisioned: tuple[int, int] | None = None, **extra: Any) -> dict[str, Any]:
    capacity = ({"ProvisionedThroughput": {"ReadCapacityUnits": provisioned[1], "WriteCapacityUnits": provisioned[0]}}
                if provisioned else {"BillingMode": "PAY_PER_REQUEST"})
    extra.setdefault("AttributeDefinitions", [{"AttributeName": "pk", "AttributeType": "S"}])
    return ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], **capacity, **extra)["TableDescription"]


def put_app_items(ddb: Any, name: str, n: int) -> dict[str, Any]:
    """The application's own items (retried through throttles, as its SDK would); returns them by key."""
    items = {f"order-{i}": {"pk": {"S": f"order-{i}"}, "total": {"N": str(10 * i)}, "note": {"S": "the application's"}} for i in range(n)}
    for item in items.values():
        for attempt in range(200):
            try:
                ddb.put_item(TableName=name, Item=item)
                break
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ddb_load.THROTTLE_CODES:
                    raise
                time.sleep(0.1)
    return items


def app_items_now(ddb: Any, name: str, keys: list[str]) -> dict[str, Any]:
    out = {}
    for k in keys:
        for attempt in range(200):
            try:
                out[k] = ddb.get_item(TableName=name, Key={"pk": {"S": k}}, ConsistentRead=True).get("Item")
                break
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ddb_load.THROTTLE_CODES:
                    raise
                time.sleep(0.1)
    return out


def baseline_traffic(ddb: Any, name: str, units: int) -> None:
    """`units` writes (BatchWriteItem) and `units` strongly consistent reads (BatchGetItem) of the
    application's items within one minute: a peak of units/60 a second in CloudWatch."""
    if datetime.now(timezone.utc).second > 50:
        time.sleep(61 - datetime.now(timezone.utc).second)
    keys = [f"base-{i}" for i in range(units)]
    pending = [{"PutRequest": {"Item": {"pk": {"S": k}, "v": {"N": "1"}}}} for k in keys]
    while pending:
        batch, pending = pending[:25], pending[25:]
        left = ddb.batch_write_item(RequestItems={name: batch}).get("UnprocessedItems", {}).get(name, [])
        pending += left
        if left:
            time.sleep(0.2)
    wanted = [{"pk": {"S": k}} for k in keys]
    while wanted:
        batch, wanted = wanted[:100], wanted[100:]
        left = ddb.batch_get_item(RequestItems={name: {"Keys": batch, "ConsistentRead": True}}).get("UnprocessedKeys", {})
        wanted += left.get(name, {}).get("Keys", [])
        if left:
            time.sleep(0.2)
    time.sleep(1.5)  # the lab publishes each second


def touch(ddb: Any, table: str) -> None:
    """One read of the table early in a minute: CloudWatch (published as the minute runs) holds the minute
    the drill then starts in, so its watch for other clients' throttles covers that minute too."""
    if datetime.now(timezone.utc).second > 45:
        time.sleep(61 - datetime.now(timezone.utc).second)
    ddb.get_item(TableName=table, Key={"pk": {"S": "touch"}})
    time.sleep(1.5)  # the lab publishes each second


def drill(cli: Cli, table: str, *args: str, **env: str) -> tuple[Any, dict[str, Any]]:
    result = cli("drill", "throughput", f"dynamodb:{table}", *args, "--json", **env)
    try:
        return result, json.loads(result.stdout)
    except ValueError:
        return result, {}


def checks(data: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in data["checks"]}


def drill_items_left(ddb: Any, table: str, drill_id: str, items: int) -> set[int]:
    desc = ddb.describe_table(TableName=table)["Table"]
    found = ddb_load.present(ddb, desc, drill_id, list(range(1, items + 1)))
    manifest = ddb.get_item(TableName=table, Key=ddb_load.item_key(desc, drill_id, 0), ConsistentRead=True).get("Item")
    return found | ({0} if manifest else set())


def burst(ddb: Any, table: str, n: int, key: Callable[[int], str] = lambda i: f"b-{i}-{time.time_ns()}",
          pause: float = 0.0) -> tuple[int, list[ClientError]]:
    ok, throttled = 0, []
    for i in range(n):
        try:
            ddb.put_item(TableName=table, Item={"pk": {"S": key(i)}})
            ok += 1
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ddb_load.THROTTLE_CODES:
                raise
            throttled.append(exc)
        if pause:
            time.sleep(pause)
    return ok, throttled


def metric_sum(cli: Cli, metric: str, dims: dict[str, str], namespace: str = "AWS/DynamoDB") -> float | None:
    cw = aws(cli).client("cloudwatch")
    end = datetime.now(timezone.utc) + timedelta(minutes=2)
    points = cw.get_metric_statistics(Namespace=namespace, MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
                                      StartTime=end - timedelta(minutes=30), EndTime=end, Period=60, Statistics=["Sum"])["Datapoints"]
    return sum(p["Sum"] for p in points) if points else None


# --- the lab's throughput model, through boto3 ----------------------------------------------------------


def test_provisioned_capacity_throttles_with_the_services_error_and_keeps_up_to_300s_of_burst(tlab: Cli, lab_set) -> None:
    raw = aws(tlab, retries=False).client("dynamodb")
    make_table(raw, "m-burst", provisioned=(2, 5))
    time.sleep(4)  # 4 s unused at 2 WCU: 8 units of burst capacity
    started = time.monotonic()
    ok, throttled = burst(raw, "m-burst", 20)
    refilled = 2 * (time.monotonic() - started)
    assert 8 <= ok <= 8 + refilled + 1 and throttled, (ok, refilled)
    err = throttled[0].response
    assert err["Error"] == {"Code": "ProvisionedThroughputExceededException", "Message": PROVISIONED_MESSAGE}
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400 and err["ResponseMetadata"]["RetryAttempts"] == 0
    # Negative control: with burst capacity cut to one second, the same idle time keeps only 2 units.
    lab_set(ddb_burst_s=1)
    make_table(raw, "m-noburst", provisioned=(2, 5))
    time.sleep(4)
    started = time.monotonic()
    ok, throttled = burst(raw, "m-noburst", 20)
    refilled = 2 * (time.monotonic() - started)
    assert ok <= 2 + refilled + 1 < 8, (ok, refilled)


def test_on_demand_serves_double_the_previous_peak_and_a_new_peak_counts_only_after_the_window(tlab: Cli, lab_set) -> None:
    lab_set(ddb_ondemand_initial_peak_wru=5, ddb_ondemand_initial_peak_rru=5, ddb_ondemand_peak_window_s=2)
    raw = aws(tlab, retries=False).client("dynamodb")
    make_table(raw, "m-peak")
    warm = raw.describe_table(TableName="m-peak")["Table"]["WarmThroughput"]
    assert warm["WriteUnitsPerSecond"] == 10 and warm["ReadUnitsPerSecond"] == 10, "a new table: double its previous peak"
    ok, throttled = burst(raw, "m-peak", 30)
    assert ok >= 10 and throttled, ok
    assert throttled[0].response["Error"] == {"Code": "ThrottlingException", "Message": ON_DEMAND_MESSAGE}
    # Negative control: the peak just served is not yet the previous peak.
    assert raw.describe_table(TableName="m-peak")["Table"]["WarmThroughput"]["WriteUnitsPerSecond"] == 10
    time.sleep(2.5)
    raised = raw.describe_table(TableName="m-peak")["Table"]["WarmThroughput"]["WriteUnitsPerSecond"]
    assert raised > 10, raised  # double the peak the burst reached: up to 2 x 10, less when this client sent slower
    ok, throttled = burst(raw, "m-peak", raised - 2)
    assert not throttled, f"{len(throttled)} throttled below double the previous peak"


def test_a_hot_partition_key_throttles_where_spread_keys_do_not(tlab: Cli, lab_set) -> None:
    lab_set(ddb_partition_wcu=5)
    raw = aws(tlab, retries=False).client("dynamodb")
    make_table(raw, "m-hot")
    started = time.monotonic()
    ok, throttled = burst(raw, "m-hot", 15, key=lambda i: "the-hot-key")
    seconds = math.ceil(time.monotonic() - started)
    # 5 units a second on one partition: 8 of 15 within a second, 5 more for each further second a busy machine
    # takes to send them.
    assert throttled and ok <= 8 + 5 * (seconds - 1), (ok, seconds)
    assert throttled[0].response["Error"]["Code"] == "ThrottlingException"
    time.sleep(1.1)
    ok, throttled = burst(raw, "m-hot", 15)  # negative control: 15 keys, 1 write each
    assert ok == 15 and not throttled


def test_consumed_capacity_follows_the_item_size_and_the_read_consistency(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "m-units")

    def put(key: str, size: int) -> float:
        return ddb.put_item(TableName="m-units", Item={"pk": {"S": key}, "p": {"S": "x" * size}},
                            ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]["CapacityUnits"]

    def get(key: str, consistent: bool) -> float:
        return ddb.get_item(TableName="m-units", Key={"pk": {"S": key}}, ConsistentRead=consistent,
                            ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]["CapacityUnits"]

    assert put("small", 900) == 1.0  # up to 1 KB: one write unit
    assert put("two", 1500) == 2.0
    assert put("big", 5000) == 5.0
    assert put("big", 10) == 5.0, "a write is charged for the larger of the item before and after"
    assert put("big2", 5000) == 5.0
    assert get("big2", True) == 2.0 and get("big2", False) == 1.0  # 4 KB a read unit; eventually consistent: half
    assert get("small", False) == 0.5 and get("absent", True) == 1.0
    assert ddb.delete_item(TableName="m-units", Key={"pk": {"S": "big2"}}, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]["CapacityUnits"] == 5.0
    assert "ConsumedCapacity" not in ddb.get_item(TableName="m-units", Key={"pk": {"S": "small"}}), "only when asked for"


def test_cloudwatch_gets_consumed_capacity_and_throttles_from_the_requests(tlab: Cli, lab_set) -> None:
    raw = aws(tlab, retries=False).client("dynamodb")
    make_table(raw, "m-metrics", provisioned=(1, 5))
    consumed, throttled = 0.0, 0
    for i in range(12):
        try:
            consumed += raw.put_item(TableName="m-metrics", Item={"pk": {"S": f"k{i}"}},
                                     ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]["CapacityUnits"]
        except ClientError:
            throttled += 1
    assert throttled > 0
    time.sleep(1.5)
    table = {"TableName": "m-metrics"}
    assert metric_sum(tlab, "ConsumedWriteCapacityUnits", table) == consumed
    assert metric_sum(tlab, "WriteThrottleEvents", table) == throttled
    assert metric_sum(tlab, "ThrottledRequests", {**table, "Operation": "PutItem"}) == throttled
    read, read_throttled = 0.0, 0
    for i in range(40):
        try:
            read += raw.get_item(TableName="m-metrics", Key={"pk": {"S": "k0"}}, ConsistentRead=True,
                                 ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]["CapacityUnits"]
        except ClientError:
            read_throttled += 1
    assert read_throttled > 0
    time.sleep(1.5)
    assert metric_sum(tlab, "ConsumedReadCapacityUnits", table) == read
    assert metric_sum(tlab, "ReadThrottleEvents", table) == read_throttled
    assert metric_sum(tlab, "ThrottledRequests", {**table, "Operation": "GetItem"}) == read_throttled
    # Negative control: with the model off (plain moto) nothing throttles, and no throttle is published.
    lab_set(ddb_throttling=False)
    make_table(raw, "m-unmetered", provisioned=(1, 5))
    ok, errors = burst(raw, "m-unmetered", 12)
    assert ok == 12 and not errors
    time.sleep(1.5)
    assert metric_sum(tlab, "WriteThrottleEvents", {"TableName": "m-unmetered"}) is None


def test_a_batch_returns_throttled_items_unprocessed_writes_only_the_others_and_keeps_their_history(tlab: Cli, lab_set) -> None:
    lab_set(ddb_restorable_lag_s=1)
    raw = aws(tlab, retries=False).client("dynamodb")
    make_table(raw, "m-batch", provisioned=(3, 100))
    raw.update_continuous_backups(TableName="m-batch", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    time.sleep(1)  # 3 units of unused capacity
    keys = [f"batch-{i}" for i in range(10)]
    answer = raw.batch_write_item(RequestItems={"m-batch": [{"PutRequest": {"Item": {"pk": {"S": k}}}} for k in keys]})
    unprocessed = {r["PutRequest"]["Item"]["pk"]["S"] for r in answer["UnprocessedItems"].get("m-batch", [])}
    processed = set(keys) - unprocessed
    assert processed and unprocessed, answer
    with pytest.raises(ClientError) as all_throttled:
        raw.batch_write_item(RequestItems={"m-batch": [{"PutRequest": {"Item": {"pk": {"S": k}}}} for k in sorted(unprocessed)]})
    assert all_throttled.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    ddb = aws(tlab).client("dynamodb")  # reads retried: a new table has no unused capacity kept yet
    present = {k for k in keys if ddb.get_item(TableName="m-batch", Key={"pk": {"S": k}}, ConsistentRead=True).get("Item")}
    assert present == processed, "an unprocessed item is not written"
    time.sleep(2)
    ddb.restore_table_to_point_in_time(SourceTableName="m-batch", TargetTableName="m-batch-restored", UseLatestRestorableTime=True)
    restored = {k for k in keys if ddb.get_item(TableName="m-batch-restored", Key={"pk": {"S": k}}).get("Item")}
    assert restored == processed, "the item history (point-in-time recovery) keeps what the metered writes wrote"


# --- the drill --------------------------------------------------------------------------------------------


def test_a_provisioned_table_with_too_little_capacity_throttles_and_the_drill_fails(tlab: Cli, lab_set) -> None:
    # One second of burst: the minute `touch` may wait would otherwise bank enough unused capacity to serve the hold.
    lab_set(ddb_burst_s=1)
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-small", provisioned=(5, 5))
    app = put_app_items(ddb, "tp-small", 5)
    refused, data = drill(tlab, "tp-small", "--baseline-wcu", "3", "--baseline-rcu", "3", *QUICK)
    assert refused.exit_code == 2 and checks(data)["PRE-CAPACITY"] == "fail", refused.output
    assert "throttle the application's requests too" in refused.output
    assert ddb.scan(TableName="tp-small")["Count"] == len(app), "refused before anything was written"
    touch(ddb, "tp-small")
    result, data = drill(tlab, "tp-small", "--baseline-wcu", "3", "--baseline-rcu", "3", "--allow-throttling", *QUICK)
    assert result.exit_code == 1, result.output
    found, m = checks(data), data["measurements"]
    assert data["status"] == "fail" and found["TP-THROTTLES"] == "fail" and found["TP-RATE"] == "fail"
    assert found["PRE-CAPACITY"] == "warn", "10x of 3 WCU is beyond the 5 provisioned"
    assert m["throttled_requests"] > 0 and m["writes_throttled"] > 0 and m["retries"] == 0
    assert m["achieved_wcu"] < 0.9 * m["target_wcu"] and m["target_wcu"] == 30
    assert m["cloudwatch_throttle_events"] >= m["throttled_requests"], "CloudWatch saw the drill's throttles too"
    # Negative control of the stop condition below: throttles that are all the drill's own neither stop nor fail it as another's.
    assert found["TP-OTHER-CLIENTS"] == "pass" and found["TP-TABLE-THROTTLES"] == "pass" and data["status"] == "fail"
    assert m["cost_usd"] == 0 and "paid whether used or not" in data["details"]["cost"]["actual"]
    assert app_items_now(ddb, "tp-small", list(app)) == app, "the application's items are untouched"
    assert drill_items_left(ddb, "tp-small", data["details"]["drill_id"], 40) == set()
    assert list(lab_ledger(tlab.lab_dir).records()) == []


def test_enough_provisioned_capacity_does_not_throttle_and_a_p95_no_request_meets_fails(tlab: Cli) -> None:
    """Negative control of the one above (the same drill, capacity enough) and of the latency objective."""
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-ample", provisioned=(200, 200))
    time.sleep(0.5)
    result, data = drill(tlab, "tp-ample", "--baseline-wcu", "3", "--baseline-rcu", "3", "--p95-ms", "0.001", *QUICK)
    found = checks(data)
    assert result.exit_code == 1 and data["status"] == "fail", result.output
    assert found["TP-THROTTLES"] == "pass" and found["TP-RATE"] == "pass" and found["PRE-CAPACITY"] == "pass"
    assert found["TP-P95"] == "fail" and data["measurements"]["write_p95_ms"] > 0.001


def test_a_warmed_on_demand_table_takes_10x_its_peak_and_a_cold_one_throttles(tlab: Cli, lab_set) -> None:
    # On-demand figures scaled down so the lab reaches them: a new table serves 20 units a second at once, not 4,000.
    lab_set(ddb_ondemand_initial_peak_wru=10, ddb_ondemand_initial_peak_rru=10)
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-warm")
    make_table(ddb, "tp-cold")
    # pre-warmed for its peak minute's burst of batches (unthrottled) and for 10x of the peak
    ddb.update_table(TableName="tp-warm", WarmThroughput={"ReadUnitsPerSecond": 600, "WriteUnitsPerSecond": 600})
    app = put_app_items(ddb, "tp-warm", 10)
    baseline_traffic(ddb, "tp-warm", 180)  # 3 WCU/s and 3 RCU/s at the peak minute
    junit = tlab.lab_dir.parent / "tp-warm.xml"
    result, data = drill(tlab, "tp-warm", "--junit", str(junit), *QUICK)
    assert result.exit_code == 0, result.output
    m, found = data["measurements"], checks(data)
    assert data["status"] == "pass" and data["summary"].startswith("PASS: 10x the peak")
    # the peak minute: the baseline's 180 units, with the application's 10 items when they fell in the same minute
    assert m["peak_wcu"] in (3.0, 3.167) and m["peak_rcu"] == 3.0
    assert m["target_wcu"] == pytest.approx(10 * m["peak_wcu"], abs=0.01) and m["target_rcu"] == 30
    assert f"CloudWatch ConsumedWriteCapacityUnits: {round(60 * m['peak_wcu']):g} units in the minute of" in data["details"]["baseline"]["wcu"]
    assert m["throttled_requests"] == 0 and m["achieved_wcu"] >= 27 and m["achieved_rcu"] >= 27
    assert m["write_p95_ms"] > 0 and m["read_p95_ms"] > 0 and m["consumed_write_units"] > 0
    assert found["TP-TABLE-THROTTLES"] == "pass" and m["cloudwatch_write_units"] >= m["consumed_write_units"]
    cost = data["details"]["cost"]
    expected = (m["consumed_write_units"] * 0.625 + m["consumed_read_units"] * 0.125) / 1e6
    assert abs(cost["usd"] - expected) < 1e-12 and 0 < cost["estimate_usd"] <= 1
    assert app_items_now(ddb, "tp-warm", list(app)) == app
    assert drill_items_left(ddb, "tp-warm", data["details"]["drill_id"], 40) == set()
    cases = {c.get("name"): c for c in ET.parse(junit).getroot()}
    assert {"TP-THROTTLES", "TP-P95", "TP-RATE"} <= set(cases) and not cases["TP-THROTTLES"].findall("failure")
    # Negative control: the same 10x on a table still at its initial capacity is refused above its warm throughput ...
    refused, data = drill(tlab, "tp-cold", "--baseline-wcu", "3", "--baseline-rcu", "3", *QUICK)
    assert refused.exit_code == 2 and checks(data)["PRE-CAPACITY"] == "fail", refused.output
    assert "above its warm throughput" in refused.output and ddb.scan(TableName="tp-cold")["Count"] == 0
    # ... and, allowed to throttle, throttles.
    result, data = drill(tlab, "tp-cold", "--baseline-wcu", "3", "--baseline-rcu", "3", "--allow-throttling", "--publish-metrics", *QUICK)
    assert result.exit_code == 1, result.output
    found = checks(data)
    assert found["TP-THROTTLES"] == "fail" and found["PRE-CAPACITY"] == "warn" and data["measurements"]["throttled_requests"] > 0
    dims = {"Target": "dynamodb:tp-cold", "Env": "lab"}
    assert metric_sum(tlab, "throttled_requests", dims, namespace="dbops") == data["measurements"]["throttled_requests"]
    assert metric_sum(tlab, "DrillFailed", dims, namespace="dbops") == 1


def into_the_minute(seconds: float) -> None:
    """Wait until at least `seconds` of the minute under way have passed."""
    second = datetime.now(timezone.utc).second + datetime.now(timezone.utc).microsecond / 1e6
    if second < seconds:
        time.sleep(seconds - second)


def test_what_the_application_consumes_now_is_budgeted_and_a_load_the_capacity_holds_but_it_leaves_no_room_for_is_refused(
        tlab: Cli, lab_set) -> None:
    """50 WCU provisioned; the budget is 40 (a fifth kept) less what the application consumes. 10x of 3.3 WCU is 33:
    within 50 and within 40, but not within what an application writing 45 a second leaves."""
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-shared", provisioned=(50, 50))
    make_table(ddb, "tp-alone", provisioned=(50, 50))
    lab_set(ddb_app_table="tp-shared", ddb_app_wcu=45)
    time.sleep(12)
    into_the_minute(10)  # CloudWatch holds at least 10 s of the application's writes in the minute under way
    refused, data = drill(tlab, "tp-shared", "--baseline-wcu", "3.3", "--baseline-rcu", "0", *QUICK)
    assert refused.exit_code == 2 and checks(data)["PRE-CAPACITY"] == "fail", refused.output
    detail = next(c["detail"] for c in data["checks"] if c["id"] == "PRE-CAPACITY")
    assert "33.0 WCU/s" in detail and "less 20% headroom" in detail and "the table consumes" in detail, detail
    assert 7 < data["measurements"]["current_wcu"] <= 46, data["measurements"]
    assert ddb.scan(TableName="tp-shared")["Count"] == 0, "refused before anything was written"
    # A smaller retry right away: the refused drill's minutes still hold the application's writes
    time.sleep(4)
    retried, data = drill(tlab, "tp-shared", "--baseline-wcu", "3.0", "--baseline-rcu", "0", *QUICK)
    assert retried.exit_code == 2 and checks(data)["PRE-CAPACITY"] == "fail", retried.output
    assert 7 < data["measurements"]["current_wcu"] <= 46, data["measurements"]
    assert ddb.scan(TableName="tp-shared")["Count"] == 0
    # Negative control: the same drill on the same capacity with no application runs, and nothing throttles.
    touch(ddb, "tp-alone")
    result, data = drill(tlab, "tp-alone", "--baseline-wcu", "3.3", "--baseline-rcu", "0", *QUICK)
    found = checks(data)
    assert found["PRE-CAPACITY"] == "pass" and data["measurements"]["current_wcu"] == 0, result.output
    assert found["TP-THROTTLES"] == "pass" and found["TP-OTHER-CLIENTS"] == "pass" and result.exit_code == 0, result.output


def test_another_clients_throttles_stop_the_load_at_once_and_the_drill_exits_3_saying_why(tlab: Cli, lab_set) -> None:
    """An application writing 10 a second to a 20 WCU table; the drill (allowed to throttle) adds 30: the
    application's requests throttle, and the drill stops long before its 90 s — at the latest once the
    minute the first of them fell in is over (its negative control: the tp-small drill above, whose
    throttles are all its own, runs to its end)."""
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-neighbour", provisioned=(20, 20))
    lab_set(ddb_app_table="tp-neighbour", ddb_app_wcu=10)
    time.sleep(3)
    started = time.monotonic()
    result, data = drill(tlab, "tp-neighbour", "--baseline-wcu", "3", "--baseline-rcu", "0", "--allow-throttling",
                         "--ramp", "1", "--time", "90", "--metrics-wait", "5")
    took = time.monotonic() - started
    assert result.exit_code == 3 and data["status"] == "aborted", result.output
    found = checks(data)
    assert found["TP-OTHER-CLIENTS"] == "fail" and found["PRE-CAPACITY"] == "warn"
    assert data["summary"].startswith("STOPPED: another client's requests were throttled"), data["summary"]
    assert "of its own" in data["details"]["stopped"]
    assert took < 80 and data["measurements"]["requests"] < 30 * 75, (took, data["measurements"])
    assert drill_items_left(ddb, "tp-neighbour", data["details"]["drill_id"], 30) == set()
    assert list(lab_ledger(tlab.lab_dir).records()) == []


def test_a_drill_shorter_than_cloudwatchs_publication_lag_says_other_clients_were_not_measured(tlab: Cli, lab_set) -> None:
    """CloudWatch publishing each minute 600 s after it ends (AWS: a minute or more): a 5 s drill sees none of its
    minutes, so the watch for other clients' throttles measured nothing and says so; with no lag it measures."""
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-lagged", provisioned=(200, 200))
    lab_set(ddb_metrics_delay_s=600)
    touch(ddb, "tp-lagged")
    result, data = drill(tlab, "tp-lagged", "--baseline-wcu", "3", "--baseline-rcu", "3", *QUICK)
    found = checks(data)
    detail = next(c["detail"] for c in data["checks"] if c["id"] == "TP-OTHER-CLIENTS")
    assert found["TP-OTHER-CLIENTS"] == "unknown" and "not measured" in detail and "published none of the drill's minutes" in detail, detail
    assert found["TP-TABLE-THROTTLES"] == "unknown" and found["TP-THROTTLES"] == "pass", result.output
    # Negative control: published as the minute runs, the same drill's minutes are measured and named.
    lab_set(ddb_metrics_delay_s=0)
    touch(ddb, "tp-lagged")
    result, data = drill(tlab, "tp-lagged", "--baseline-wcu", "3", "--baseline-rcu", "3", *QUICK)
    detail = next(c["detail"] for c in data["checks"] if c["id"] == "TP-OTHER-CLIENTS")
    assert checks(data)["TP-OTHER-CLIENTS"] == "pass" and "minute(s) CloudWatch had published" in detail, detail
    assert result.exit_code == 0, result.output


def test_a_global_table_is_refused_unless_allowed_and_then_its_writes_are_priced_per_replica(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-global")
    ddb.update_table(TableName="tp-global", ReplicaUpdates=[{"Create": {"RegionName": "us-west-2"}}, {"Create": {"RegionName": "eu-west-1"}}])
    replicas = ddb.describe_table(TableName="tp-global")["Table"]["Replicas"]
    cache = tlab.lab_dir.parent / "tp-cache"  # a refreshed catalog (XDG_CACHE_HOME/dbops/prices.json) with the replicas' regions
    shipped = json.loads((Path(ddb_load.__file__).parents[1] / "cost" / "prices.json").read_text())
    east = shipped["regions"]["us-east-1"]
    doubled = {k: {**v, "usd": 2 * v["usd"]} if "usd" in v else v for k, v in east["prices"].items()}
    (cache / "dbops").mkdir(parents=True, exist_ok=True)
    (cache / "dbops" / "prices.json").write_text(json.dumps({**shipped, "regions": {
        "us-east-1": east, "us-west-2": east, "eu-west-1": {**east, "prices": doubled}}}))
    assert [(r["RegionName"], r["ReplicaStatus"]) for r in replicas] == [("us-west-2", "ACTIVE"), ("eu-west-1", "ACTIVE")]
    refused, data = drill(tlab, "tp-global", "--baseline-wcu", "1", "--baseline-rcu", "1", *QUICK, XDG_CACHE_HOME=str(cache))
    assert refused.exit_code == 2 and checks(data)["PRE-REPLICAS"] == "fail", refused.output
    assert "--allow-replicas" in next(c["detail"] for c in data["checks"] if c["id"] == "PRE-REPLICAS")
    assert ddb.scan(TableName="tp-global")["Count"] == 0, "refused before anything was written"
    # the shipped catalog has no prices for the replicas' regions: refused in one line, not priced at us-east-1's
    refused = tlab("drill", "throughput", "dynamodb:tp-global", "--baseline-wcu", "1", "--baseline-rcu", "1", "--allow-replicas", *QUICK)
    assert refused.exit_code == 2 and "replica region us-west-2 of tp-global cannot be priced" in refused.output, refused.output
    assert len(refused.output.strip().splitlines()) == 1 and ddb.scan(TableName="tp-global")["Count"] == 0, refused.output
    result, data = drill(tlab, "tp-global", "--baseline-wcu", "1", "--baseline-rcu", "1", "--allow-replicas", *QUICK,
                         XDG_CACHE_HOME=str(cache))
    m, cost = data["measurements"], data["details"]["cost"]
    assert checks(data)["PRE-REPLICAS"] == "warn" and m["consumed_write_units"] > 0, result.output
    # us-east-1 and us-west-2 at 0.625 USD a million write request units, eu-west-1 at twice that
    assert cost["usd"] == pytest.approx((4 * m["consumed_write_units"] * 0.625 + m["consumed_read_units"] * 0.125) / 1e6, abs=1e-12)
    assert "in each of 2 replica(s) (us-west-2 x 0.625, eu-west-1 x 1.25" in cost["actual"] and "replica" in cost["estimate"]
    # Negative control: with its replicas removed the same table is loaded without the flag and priced once.
    ddb.update_table(TableName="tp-global", ReplicaUpdates=[{"Delete": {"RegionName": "us-west-2"}}, {"Delete": {"RegionName": "eu-west-1"}}])
    assert "Replicas" not in ddb.describe_table(TableName="tp-global")["Table"]
    result, data = drill(tlab, "tp-global", "--baseline-wcu", "1", "--baseline-rcu", "1", *QUICK, XDG_CACHE_HOME=str(cache))
    m, cost = data["measurements"], data["details"]["cost"]
    assert "PRE-REPLICAS" not in checks(data) and "replica" not in cost["actual"], result.output
    assert cost["usd"] == pytest.approx((m["consumed_write_units"] * 0.625 + m["consumed_read_units"] * 0.125) / 1e6, abs=1e-12)


def test_a_table_whose_index_takes_the_drills_items_is_refused_unless_allowed_and_then_priced_per_index(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    index = lambda name, key: {"IndexName": name, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],  # noqa: E731
                               "Projection": {"ProjectionType": "KEYS_ONLY"}}
    make_table(ddb, "tp-indexed", GlobalSecondaryIndexes=[index("by-marker", "dbops_marker")],
               AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "dbops_marker", "AttributeType": "S"}])
    refused, data = drill(tlab, "tp-indexed", "--baseline-wcu", "1", "--baseline-rcu", "1", *QUICK)
    assert refused.exit_code == 2 and checks(data)["PRE-GSI"] == "fail", refused.output
    assert "(by-marker)" in next(c["detail"] for c in data["checks"] if c["id"] == "PRE-GSI")
    assert ddb.scan(TableName="tp-indexed")["Count"] == 0, "refused before anything was written"
    result, data = drill(tlab, "tp-indexed", "--baseline-wcu", "1", "--baseline-rcu", "1", "--allow-gsi-writes", *QUICK)
    m, cost = data["measurements"], data["details"]["cost"]
    assert checks(data)["PRE-GSI"] == "warn" and m["consumed_write_units"] > 0, result.output
    assert cost["usd"] == pytest.approx((2 * m["consumed_write_units"] * 0.625 + m["consumed_read_units"] * 0.125) / 1e6, abs=1e-12)
    assert "global secondary index(es) (by-marker)" in cost["actual"]
    # Negative control: an index keyed on an attribute the drill's items lack takes none of them
    make_table(ddb, "tp-other-index", GlobalSecondaryIndexes=[index("by-customer", "customer")],
               AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "customer", "AttributeType": "S"}])
    result, data = drill(tlab, "tp-other-index", "--baseline-wcu", "1", "--baseline-rcu", "1", *QUICK)
    assert "PRE-GSI" not in checks(data) and "index" not in data["details"]["cost"]["actual"] and result.exit_code == 0, result.output


def test_an_earlier_drill_run_with_another_report_directory_is_left_out_of_the_peak_by_its_ledger_window(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-elsewhere", provisioned=(100, 100))
    here, there = tlab.lab_dir.parent / "reports-host-a", tlab.lab_dir.parent / "reports-host-b"
    first, data = drill(tlab, "tp-elsewhere", "--baseline-wcu", "3", "--baseline-rcu", "0", "--report-dir", str(here), *QUICK)
    assert first.exit_code == 0, first.output
    windows = lab_ledger(tlab.lab_dir).windows("dynamodb:tp-elsewhere")
    assert [w.drill_id for w in windows] == [data["details"]["drill_id"]]
    # Another host: none of the first drill's reports, but its window in the ledger. The table's only traffic was that drill.
    second = tlab("drill", "throughput", "dynamodb:tp-elsewhere", "--report-dir", str(there), "--metrics-wait", "0")
    assert second.exit_code == 2 and "consumed no capacity over the last 24 h" in second.stderr, second.output
    # Negative control: without the window the first drill's load is taken for the table's peak.
    shutil.rmtree(tlab.lab_dir / "leases" / "windows")
    third, data = drill(tlab, "tp-elsewhere", "--report-dir", str(there), "--multiplier", "1000", *QUICK)
    assert third.exit_code == 2 and checks(data)["PRE-CAPACITY"] == "fail", third.output
    assert data["measurements"]["peak_wcu"] > 0.5, "the first drill's own minute"


def test_a_rate_the_client_cannot_send_is_inconclusive_not_a_pass(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-fast")
    # 600 writes a second: several times what the emulator answers on this machine (100-200 requests a second).
    result, data = drill(tlab, "tp-fast", "--baseline-wcu", "60", "--baseline-rcu", "0", "--ramp", "0", "--time", "2",
                         "--metrics-wait", "5")
    assert result.exit_code == 4, result.output
    found = checks(data)
    assert data["status"] == "inconclusive" and found["TP-RATE"] == "unknown" and found["TP-THROTTLES"] == "pass"
    assert data["measurements"]["offered_writes_per_second"] < 540 and data["summary"].startswith("INCONCLUSIVE")
    assert drill_items_left(ddb, "tp-fast", data["details"]["drill_id"], 600) == set()


def test_a_low_rate_is_judged_within_its_counts_chance_spread_and_a_hold_too_short_for_it_is_not_measured(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-low")
    # 1 RCU/s for 5 s: 5 reads, too few for any count to tell a shortfall from chance
    result, data = drill(tlab, "tp-low", "--baseline-rcu", "0.1", "--baseline-wcu", "0", "--ramp", "0", "--time", "5",
                         "--metrics-wait", "5")
    assert result.exit_code == 4 and checks(data)["TP-RATE"] == "unknown", result.output
    rate = next(c["detail"] for c in data["checks"] if c["id"] == "TP-RATE")
    assert "not measured: 5 reads expected at the multiple" in rate and "at least 18 needed" in rate and "client" not in rate
    assert data["measurements"]["achieved_rcu"] is None and data["measurements"]["offered_reads_per_second"] is None
    assert "served not measured / not measured" in data["summary"] and "TP-RATE" in data["summary"]
    # 3 RCU/s for 10 s: 30 reads, judged
    result, data = drill(tlab, "tp-low", "--baseline-rcu", "0.3", "--baseline-wcu", "0", "--ramp", "0", "--time", "10",
                         "--metrics-wait", "5")
    assert checks(data)["TP-RATE"] == "pass", result.output
    assert data["measurements"]["reads_scheduled_at_multiple"] == 30 and data["measurements"]["achieved_rcu"] >= 0.9 * 3
    assert drill_items_left(ddb, "tp-low", data["details"]["drill_id"], 1) == set()


def test_a_client_throttled_on_its_side_at_a_low_rate_is_still_caught(tlab: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control of the one above: one worker whose every read waits 3 s before it is sent
    sends about 7 of the 40 reads 2 RCU/s schedules over 20 s, under the 12 chance allows."""
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-held")
    run, load_client = ddb_load.LoadTarget.run, ddb_load.LoadTarget.load_client

    class HeldBack:
        def __init__(self, client: Any) -> None:
            self._client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self._client, name)

        def get_item(self, **kwargs: Any) -> Any:
            time.sleep(3)
            return self._client.get_item(**kwargs)

    monkeypatch.setattr(ddb_load.LoadTarget, "load_client", lambda self, connections=10: HeldBack(load_client(self, connections)))
    monkeypatch.setattr(ddb_load.LoadTarget, "run", lambda self, *a: run(self, *a[:7], 1, *a[8:]))
    result, data = drill(tlab, "tp-held", "--baseline-rcu", "0.2", "--baseline-wcu", "0", "--ramp", "0", "--time", "20",
                         "--metrics-wait", "5")
    assert result.exit_code == 4 and data["status"] == "inconclusive", result.output
    rate = next(c["detail"] for c in data["checks"] if c["id"] == "TP-RATE")
    assert checks(data)["TP-RATE"] == "unknown" and "the client sent only" in rate and "40 scheduled" in rate
    assert data["measurements"]["offered_reads_per_second"] < 12 / 20 and data["measurements"]["reads_not_sent"] > 0


def test_a_ledger_window_that_cannot_be_written_strands_no_drill_record(tlab: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """AccessDenied on the ledger's windows: at the start the drill stops before its record exists and before
    anything is written; at its end the record is deleted all the same (its negative control: every other
    drill here, whose windows are written, leaves no record either)."""
    from ops.lease import FileLedger

    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-window")
    put_window, calls = FileLedger.put_window, []

    def denied_on(n: int) -> Callable[..., None]:
        def put(self: Any, window: Any) -> None:
            calls.append(window)
            if len(calls) == n:
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized: dynamodb:PutItem"}},
                                  "PutItem")
            put_window(self, window)
        return put

    monkeypatch.setattr(FileLedger, "put_window", denied_on(2))  # the window closed at the cleanup
    result, data = drill(tlab, "tp-window", "--baseline-wcu", "1", "--baseline-rcu", "1", *QUICK)
    assert len(calls) == 2 and data["details"]["items_deleted"] is True, result.output
    assert any("window could not be closed" in e["message"] for e in data["events"]), data["events"]
    assert list(lab_ledger(tlab.lab_dir).records()) == [], "the record is deleted though its window could not be closed"
    calls.clear()
    monkeypatch.setattr(FileLedger, "put_window", denied_on(1))  # the window opened at the start
    result, _ = drill(tlab, "tp-window", "--baseline-wcu", "1", "--baseline-rcu", "1", *QUICK)
    assert result.exit_code != 0 and len(calls) == 1 and "AccessDenied" in result.output, result.output
    assert list(lab_ledger(tlab.lab_dir).records()) == [] and ddb.scan(TableName="tp-window")["Count"] == 0


def test_a_drill_above_the_cost_ceiling_is_refused_in_one_line_before_anything_is_written(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-costly")
    app = put_app_items(ddb, "tp-costly", 3)
    # 10 x 20,000 WCU for 10 s: 2 million write request units, 1.25 USD at 0.625 USD a million.
    result = tlab("drill", "throughput", "dynamodb:tp-costly", "--baseline-wcu", "20000", "--ramp", "0", "--time", "10")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "above --max-cost 1 USD" in lines[0] and "nothing was written" in lines[0], result.stderr
    assert ddb.scan(TableName="tp-costly")["Count"] == len(app), "nothing written"
    assert list(lab_ledger(tlab.lab_dir).records()) == []
    assert not list((tlab.lab_dir.parent / "reports").glob("throughput/*costly*")), "no report: the drill never started"
    # Negative control: the same drill under a higher ceiling is not refused for its cost (stopped here by a busy lease).
    lease = lab_ledger(tlab.lab_dir).acquire("dynamodb:tp-costly", "holder", hours=1)
    try:
        result = tlab("drill", "throughput", "dynamodb:tp-costly", "--baseline-wcu", "20000", "--ramp", "0", "--time", "10",
                      "--max-cost", "2")
        assert result.exit_code == 2 and "is held by drill holder" in result.stderr and "max-cost" not in result.stderr
    finally:
        lease.release()
    assert ddb.scan(TableName="tp-costly")["Count"] == len(app)


def test_capacity_autoscaling_may_raise_is_priced_and_held_to_the_cost_ceiling(tlab: Cli) -> None:
    """Provisioned 5 WCU scaling to 40,000: 10x of 3 WCU raises it, and the raised capacity is paid by the hour."""
    a = aws(tlab)
    ddb = a.client("dynamodb")
    make_table(ddb, "tp-scaled", provisioned=(5, 5))
    a.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="dynamodb", ResourceId="table/tp-scaled", ScalableDimension="dynamodb:table:WriteCapacityUnits",
        MinCapacity=5, MaxCapacity=40000)
    result = tlab("drill", "throughput", "dynamodb:tp-scaled", "--baseline-wcu", "3", "--allow-throttling", *QUICK)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "autoscaling may add up to 39995 WCU" in lines[0] and "above --max-cost 1 USD" in lines[0], lines[0]
    assert ddb.scan(TableName="tp-scaled")["Count"] == 0, "nothing written"


def test_a_table_without_traffic_has_no_peak_and_the_drill_says_so(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-idle")
    result = tlab("drill", "throughput", "dynamodb:tp-idle")
    assert result.exit_code == 2
    assert "consumed no capacity over the last 24 h" in result.stderr and "--baseline-wcu" in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_an_item_in_the_drills_key_space_stops_it_unchanged(tlab: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    ddb = aws(tlab).client("dynamodb")
    desc = make_table(ddb, "tp-collide")
    drill_id = "throughput-20260101T000000Z-c0ffee"
    monkeypatch.setattr("ops.drills.common.new_drill_id", lambda kind: drill_id)
    foreign = ddb_load.item_key(desc, drill_id, 0) | {"dbops_marker": {"S": "someone-else"}, "owner": {"S": "application"}}
    ddb.put_item(TableName="tp-collide", Item=foreign)
    result, data = drill(tlab, "tp-collide", "--baseline-wcu", "1", "--baseline-rcu", "1", *QUICK)
    assert result.exit_code == 2 and data["status"] == "error", result.output
    assert "already holds an item" in data["summary"] and "nothing was overwritten" in data["summary"]
    assert ddb.get_item(TableName="tp-collide", Key=ddb_load.item_key(desc, drill_id, 0), ConsistentRead=True)["Item"] == foreign
    assert ddb.scan(TableName="tp-collide")["Count"] == 1 and list(lab_ledger(tlab.lab_dir).records()) == []


def test_the_janitor_removes_what_a_killed_drill_left_and_only_that(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    desc = make_table(ddb, "tp-kill")
    app = put_app_items(ddb, "tp-kill", 10)
    proc = spawn(tlab, "drill", "throughput", "dynamodb:tp-kill", "--baseline-wcu", "2", "--baseline-rcu", "2",
                 "--ramp", "0", "--time", "120", "--metrics-wait", "0")
    assert proc.stderr is not None
    seen: list[str] = []
    assert read_until(proc.stderr, "] load ", seen), "".join(seen)
    drill_id = next(line for line in seen if "pre      drill throughput-" in line).split("drill ", 1)[1].split(":")[0]
    time.sleep(2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    records = list(lab_ledger(tlab.lab_dir).records())
    assert [(r.drill_id, r.target, r.markers) for r in records] == [(drill_id, "dynamodb:tp-kill", True)]
    left = drill_items_left(ddb, "tp-kill", drill_id, 20)
    assert 0 in left and len(left) > 5, "a SIGKILLed drill cannot clean up: its manifest and items are left"
    # One key of the drill's space now holds another writer's item: the janitor must leave it alone.
    other = ddb_load.item_key(desc, drill_id, 1) | {"dbops_marker": {"S": "another-writer"}, "dbops_seq": {"N": "1"}}
    ddb.put_item(TableName="tp-kill", Item=other)
    dry = tlab("janitor", "--dry-run", "--json")
    assert dry.exit_code == 0 and drill_items_left(ddb, "tp-kill", drill_id, 20) == left - {1}
    swept = tlab("janitor")
    assert swept.exit_code == 0, swept.output
    assert drill_items_left(ddb, "tp-kill", drill_id, 20) == set()
    assert ddb.get_item(TableName="tp-kill", Key=ddb_load.item_key(desc, drill_id, 1), ConsistentRead=True)["Item"] == other
    assert app_items_now(ddb, "tp-kill", list(app)) == app
    assert list(lab_ledger(tlab.lab_dir).records()) == []


def test_an_interrupted_drill_removes_its_items_and_exits_3(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-sigint")
    app = put_app_items(ddb, "tp-sigint", 5)
    proc = spawn(tlab, "drill", "throughput", "dynamodb:tp-sigint", "--baseline-wcu", "2", "--baseline-rcu", "2",
                 "--ramp", "0", "--time", "120", "--metrics-wait", "0", "--json")
    assert proc.stderr is not None
    seen: list[str] = []
    assert read_until(proc.stderr, "] load ", seen), "".join(seen)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    data = json.loads(out)
    assert data["status"] == "aborted" and data["details"]["items_deleted"] is True
    assert drill_items_left(ddb, "tp-sigint", data["details"]["drill_id"], 20) == set()
    assert app_items_now(ddb, "tp-sigint", list(app)) == app and list(lab_ledger(tlab.lab_dir).records()) == []


def test_the_throttling_runbook_renders_live_values_and_refuses_a_table_that_is_not_there(tlab: Cli) -> None:
    ddb = aws(tlab).client("dynamodb")
    make_table(ddb, "tp-runbook")
    result = tlab("runbook", "show", "dynamodb-throttling", "--target", "dynamodb:tp-runbook")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "| table status | ACTIVE |" in text and "Name=TableName,Value=tp-runbook" in text
    assert "no throttled request at 10.0x" in text and "at most 3000.0 ms" in text  # this env's own objective
    for syntax in ("{{", "}}", "{%", "%}"):
        assert syntax not in text
    missing = tlab("runbook", "show", "dynamodb-throttling", "--target", "dynamodb:no-such-table")
    assert missing.exit_code == 2 and "no DynamoDB table 'no-such-table'" in missing.stderr
