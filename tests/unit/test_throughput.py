"""The throughput drill's arithmetic and verdicts, and the lab's throughput model with a clock of its
own — the service's figures (burst capacity, on-demand previous peak, partitions), each with its
negative control. No emulator."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from ops.config import parse
from ops.cost.estimate import load_catalog
from ops.data import ddb_load, ddb_markers
from ops.data.ddb_load import MinuteSum, Op, TableInfo, Tally, due_at, planned_requests
from ops.drills import throughput as tp
from ops.errors import ConfigError, UsageError
from ops.lab.aws import ddb_capacity as cap
from ops.lab.aws import settings
from ops.report import Journal
from tests.conftest import Cli

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
STRING_TABLE = {"TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
NUMBER_TABLE = {"TableName": "n", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}, {"AttributeName": "at", "AttributeType": "B"}]}


# --- the schedule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("start, end, ramp, hold", [(3, 30, 2, 4), (30, 30, 2, 4), (3, 30, 0, 4), (0.5, 5, 1, 1), (100, 1000, 30, 60)])
def test_the_schedule_sends_what_it_plans_ramping_then_holding(start: float, end: float, ramp: float, hold: float) -> None:
    times = []
    while (t := due_at(len(times), start, end, ramp, hold)) is not None:
        times.append(t)
    assert len(times) == planned_requests(start, end, ramp, hold)
    assert times == sorted(times) and times[0] == 0 and times[-1] < ramp + hold
    held = [t for t in times if t >= ramp]
    assert len(held) == pytest.approx(end * hold, abs=1.01), "the multiple, held"
    if ramp and start != end and len(held) >= 50:
        first = [t for t in times if t < ramp / 10]
        assert len(first) < len(held) * (ramp / 10) / hold, "the ramp starts below the multiple"


def test_a_stream_with_no_rate_sends_nothing() -> None:
    assert due_at(0, 0.0, 0.0, 2, 4) is None and planned_requests(0.0, 0.0, 2, 4) == 0


# --- the baseline -----------------------------------------------------------------------------------------


def minutes(*totals: float) -> list[MinuteSum]:
    return [MinuteSum(T0 + timedelta(minutes=i), float(v)) for i, v in enumerate(totals)]


def test_the_peak_is_the_busiest_minute_sum_over_60() -> None:
    rate, minute, dropped = tp.peak(minutes(60, 300, 120), [])
    assert rate == 5.0 and minute is not None and minute.at == T0 + timedelta(minutes=1) and dropped == 0
    assert tp.peak([], []) == (0.0, None, 0)


def test_minutes_of_earlier_throughput_drills_are_not_the_peak() -> None:
    sums = minutes(60, 3000, 120)  # minute 1: an earlier drill's own load
    reports = [{"kind": "throughput", "target": "dynamodb:t", "started_at": (T0 + timedelta(minutes=1, seconds=10)).isoformat(),
                "finished_at": (T0 + timedelta(minutes=1, seconds=40)).isoformat()},
               {"kind": "throughput", "target": "dynamodb:other", "started_at": T0.isoformat(), "finished_at": T0.isoformat()},
               {"kind": "restore", "target": "dynamodb:t", "started_at": T0.isoformat(), "finished_at": T0.isoformat()}]
    excluded = tp.excluded_intervals(reports, "dynamodb:t")
    assert len(excluded) == 1
    rate, minute, dropped = tp.peak(sums, excluded)
    assert dropped == 3 and rate == 0.0, "the drill's minute and a minute either side of it are left out"
    rate, _, _ = tp.peak(sums, tp.excluded_intervals(reports, "dynamodb:elsewhere"))
    assert rate == 50.0, "negative control: without the drill's record its minute is the peak"


class FakeTarget:
    name = "t"

    def __init__(self, writes: list[MinuteSum], reads: list[MinuteSum]) -> None:
        self.sums = {"ConsumedWriteCapacityUnits": writes, "ConsumedReadCapacityUnits": reads}

    def minute_sums(self, metric: str, start: datetime, end: datetime) -> list[MinuteSum]:
        return self.sums[metric]


def test_a_table_with_no_traffic_is_refused_unless_a_baseline_is_given() -> None:
    quiet = FakeTarget([], [])
    with pytest.raises(UsageError, match="consumed no capacity over the last 24 h.*--baseline-wcu"):
        tp.baseline(quiet, tp.ThroughputOptions(), [])
    base = tp.baseline(quiet, tp.ThroughputOptions(baseline_wcu=4.0), [])
    assert (base.wcu, base.rcu) == (4.0, 0.0) and base.wcu_from == "--baseline-wcu 4" and "no ConsumedReadCapacityUnits" in base.rcu_from
    writes_only = tp.baseline(FakeTarget(minutes(120), []), tp.ThroughputOptions(), [])
    assert (writes_only.wcu, writes_only.rcu) == (2.0, 0.0)


# --- cost ---------------------------------------------------------------------------------------------------


def info(on_demand: bool = True, wcu: float = 0, rcu: float = 0, **extra: Any) -> TableInfo:
    return TableInfo(name="t", status="ACTIVE", on_demand=on_demand, provisioned_wcu=wcu, provisioned_rcu=rcu, warm_wcu=extra.get("warm_wcu"),
                     warm_rcu=extra.get("warm_rcu"), max_on_demand_wru=None, max_on_demand_rru=None, stream=extra.get("stream", False),
                     ttl_attribute=None, description=STRING_TABLE, autoscaling=extra.get("autoscaling", {}))


def test_on_demand_costs_the_request_units_at_the_catalogs_prices() -> None:
    catalog = load_catalog("us-east-1")
    cost = tp.price(info(), 1_000_000, 1_000_000, catalog)
    assert cost.usd == pytest.approx(0.625 + 0.125) and "0.625 USD per million" in cost.note and "0.125 USD per million" in cost.note
    assert tp.price(info(), 2_000_000, 0, catalog).usd == pytest.approx(1.25)


def test_provisioned_capacity_is_paid_anyway_and_the_drill_adds_nothing() -> None:
    cost = tp.price(info(on_demand=False, wcu=100, rcu=200), 5_000_000, 5_000_000, load_catalog("us-east-1"))
    assert cost.usd == 0.0 and "paid whether used or not" in cost.note and "0.0910 USD an hour" in cost.note  # 100 x 0.00065 + 200 x 0.00013


def test_autoscaling_that_the_load_raises_is_priced_up_to_its_maximum() -> None:
    """A provisioned table whose write capacity scales 100 -> 1,000: the drill may pay 900 WCU for its hour and the next."""
    scaled = info(on_demand=False, wcu=100, rcu=200, autoscaling={"write": (100.0, 1000.0)})
    cost = tp.price(scaled, 5_000_000, 0, load_catalog("us-east-1"), targets=(500.0, 0.0), seconds=90)
    assert cost.usd == pytest.approx(900 * 0.00065 * 2) and "autoscaling may add up to 900 WCU for about 2 h" in cost.note
    within = tp.price(scaled, 5_000_000, 0, load_catalog("us-east-1"), targets=(80.0, 0.0), seconds=90)
    assert within.usd == 0.0, "a load within the provisioned capacity raises nothing"
    unread = tp.price(info(on_demand=False, wcu=100, rcu=200, autoscaling=None), 5_000_000, 0, load_catalog("us-east-1"), targets=(500.0, 0.0),
                      seconds=90)
    assert unread.usd == pytest.approx((40000 - 100) * 0.00065 * 2), "autoscaling not read: priced up to the table quota, never 0"


def plan_of(estimate_usd: float) -> tp.Plan:
    base = tp.Baseline(3, 3, "", "", T0, T0, 0)
    return tp.Plan(info(), base, 10, (3, 30), (3, 30), 1, 4, 30, 150, 150, 8, tp.Cost(0, 0, estimate_usd, "on-demand: ..."))


def test_a_drill_above_the_ceiling_is_refused_and_one_at_it_is_not() -> None:
    tp.refuse_if_costly(plan_of(1.0), 1.0)
    with pytest.raises(UsageError, match=r"about 1\.0001 USD .* above --max-cost 1 USD: nothing was written"):
        tp.refuse_if_costly(plan_of(1.0001), 1.0)


def capacity_check(wcu: float, peak: float, current: float, allow_throttling: bool = False) -> tuple[str, str]:
    base = tp.Baseline(peak, 0.0, "", "", T0, T0, 0, current, 0.0, f"{current:.3f} WCU/s ...")
    p = tp.Plan(info(on_demand=False, wcu=wcu, rcu=10), base, 10, (peak, 10 * peak), (0, 0), 1, 4, 30, 150, 0, 8, tp.Cost(0, 0, 0, ""))
    return next((s, d) for c, s, d in tp.pre_checks(p, allow_throttling) if c == "PRE-CAPACITY")


def test_the_drill_is_budgeted_against_the_capacity_less_headroom_less_what_the_application_consumes_now() -> None:
    # 1,050 WCU provisioned, a peak of 100, 10x: 1,000 fits the capacity but not what the application leaves.
    status, detail = capacity_check(1050, 100, current=100)
    assert status == "fail", detail
    assert "a budget of 740.0 WCU/s" in detail and "less 20% headroom" in detail and "at most 7.40x fits" in detail
    # Idle, the headroom alone keeps 1,000 out of 1,050; negative control: capacity that leaves the budget takes it.
    assert capacity_check(1050, 100, current=0)[0] == "fail"
    status, detail = capacity_check(1400, 100, current=100)
    assert status == "pass" and "a budget of 1020.0 WCU/s" in detail
    status, detail = capacity_check(1050, 100, current=100, allow_throttling=True)
    assert status == "warn" and "about 6300 s at this rate" in detail  # 1,050 x 300 / (1,000 + 100 - 1,050)


class PartialTarget(FakeTarget):
    """CloudWatch as it stands 30 s into a minute: the minute under way holds 30 s of use."""

    def minute_sums(self, metric: str, start: datetime, end: datetime) -> list[MinuteSum]:
        return [m for m in self.sums[metric] if start - timedelta(minutes=1) < m.at < end]


def test_current_use_is_the_busiest_recent_minute_and_the_minute_under_way_counts_for_the_seconds_it_has_run() -> None:
    now = T0 + timedelta(minutes=10, seconds=30)
    writes = [MinuteSum(T0 + timedelta(minutes=i), 600.0) for i in range(2, 10)] + [MinuteSum(T0 + timedelta(minutes=10), 900.0)]
    rate, source = tp.current_use(PartialTarget(writes, []), tp.ThroughputOptions(), [], now)
    assert rate["write"] == pytest.approx(30.0) and rate["read"] == 0.0, "900 units in the 30 s run so far: 30 a second"
    assert "minute under way" in source
    assert "the busiest of the 6 minute(s) CloudWatch has published of the last 5 (12:05 to 12:10 UTC" in source, source


def test_current_use_counts_the_minutes_of_earlier_drills_refused_or_not_as_the_application_consumes_in_them() -> None:
    now = T0 + timedelta(minutes=10, seconds=30)
    # the application writes 30 WCU/s; a drill was refused 4 s ago, another ran two minutes ago
    busy = [MinuteSum(T0 + timedelta(minutes=i), 1800.0) for i in range(5, 10)]
    refused = {"kind": "throughput", "target": "dynamodb:t", "started_at": (now - timedelta(seconds=5)).isoformat(),
               "finished_at": (now - timedelta(seconds=4)).isoformat(), "details": {"load": tp.NOT_STARTED}}
    ran = {"kind": "throughput", "target": "dynamodb:t", "started_at": (now - timedelta(minutes=3)).isoformat(),
           "finished_at": (now - timedelta(minutes=2)).isoformat(), "details": {}}
    excluded = tp.excluded_intervals([refused, ran], "dynamodb:t")
    rate, source = tp.current_use(PartialTarget(busy, []), tp.ThroughputOptions(), excluded, now)
    assert rate["write"] == pytest.approx(30.0), source
    # negative control: a table nobody writes to reads idle, drills' minutes or not
    quiet = [MinuteSum(T0 + timedelta(minutes=i), 0.0) for i in range(5, 10)]
    assert tp.current_use(PartialTarget(quiet, []), tp.ThroughputOptions(), excluded, now)[0]["write"] == 0.0


def test_a_drill_refused_before_sending_anything_leaves_no_minute_out_of_the_peak() -> None:
    sums = minutes(60, 3000, 120)  # minute 1: the application's own peak, a drill refused in it
    refused = {"kind": "throughput", "target": "dynamodb:t", "started_at": (T0 + timedelta(minutes=1, seconds=10)).isoformat(),
               "finished_at": (T0 + timedelta(minutes=1, seconds=11)).isoformat(), "details": {"load": tp.NOT_STARTED}}
    assert tp.excluded_intervals([refused], "dynamodb:t") == []
    assert tp.peak(sums, tp.excluded_intervals([refused], "dynamodb:t"))[0] == 50.0
    ran = {**refused, "details": {"load_started": True}}  # negative control: a drill that ran is left out
    assert tp.peak(sums, tp.excluded_intervals([ran], "dynamodb:t"))[0] == 0.0  # its minute and one either side


def test_current_use_never_reads_a_minute_cloudwatch_has_not_published_as_nothing_consumed() -> None:
    now = T0 + timedelta(minutes=10, seconds=30)
    # CloudWatch's newest minute is 12:04 (lagging), the application wrote 6,000 units a minute until then
    lagging = [MinuteSum(T0 + timedelta(minutes=i), 6000.0) for i in range(5)]
    rate, source = tp.current_use(PartialTarget(lagging, []), tp.ThroughputOptions(), [], now)
    assert rate["write"] == 100.0, "the day's peak stands for a current use CloudWatch has not published"
    assert "published no minute of the last 5" in source and "the newest it has is 12:04 UTC" in source, source
    # Negative controls: a published recent minute is read as it is (a quiet one is quiet) ...
    quieter = lagging + [MinuteSum(T0 + timedelta(minutes=8), 60.0)]
    rate, source = tp.current_use(PartialTarget(quieter, []), tp.ThroughputOptions(), [], now)
    assert rate["write"] == 1.0 and "1 minute(s) CloudWatch has published of the last 5 (12:08 to 12:08 UTC" in source, source
    # ... and a table with no data point in the whole day consumed nothing, and says why
    rate, source = tp.current_use(PartialTarget([], []), tp.ThroughputOptions(), [], now)
    assert rate == {"write": 0.0, "read": 0.0} and "no ConsumedWriteCapacityUnits or ConsumedReadCapacityUnits data point" in source


def test_a_global_table_is_refused_unless_allowed_and_its_writes_are_priced_once_more_per_replica() -> None:
    global_info = replace(info(), replicas=("us-west-2", "eu-west-1"))
    p = replace(plan_of(0.0), info=global_info)
    refused = {c: (s, d) for c, s, d in tp.pre_checks(p)}
    assert refused["PRE-REPLICAS"][0] == "fail" and "2 replica(s) (us-west-2, eu-west-1)" in refused["PRE-REPLICAS"][1]
    assert {c: s for c, s, _ in tp.pre_checks(p, allow_replicas=True)}["PRE-REPLICAS"] == "warn"
    assert "PRE-REPLICAS" not in {c for c, _, _ in tp.pre_checks(plan_of(0.0))}, "negative control: a table of one region"
    catalog = load_catalog("us-east-1")
    regions = {"us-west-2": catalog, "eu-west-1": priced(catalog, "eu-west-1", 2.0)}  # eu-west-1 at twice the price
    cost = tp.price(global_info, 1_000_000, 1_000_000, catalog, replica_catalogs=regions)
    assert cost.usd == pytest.approx(0.625 + 0.625 + 2 * 0.625 + 0.125), "each replica at its own region's price"
    assert "replicated write request units in each of 2 replica(s) (us-west-2 x 0.625, eu-west-1 x 1.25" in cost.note, cost.note
    assert tp.price(info(), 1_000_000, 1_000_000, catalog).usd == pytest.approx(0.625 + 0.125)
    scaled = replace(info(on_demand=False, wcu=100, rcu=200, autoscaling={"write": (100.0, 1000.0)}), replicas=("us-west-2",))
    assert tp.price(scaled, 5_000_000, 0, catalog, targets=(500.0, 0.0), seconds=90,
                    replica_catalogs=regions).usd == pytest.approx(2 * 900 * 0.00065 * 2)


def test_a_global_secondary_index_the_drills_items_land_in_is_refused_unless_allowed_and_priced_once_more() -> None:
    table = {**STRING_TABLE, "GlobalSecondaryIndexes": [
        {"IndexName": "by-pk", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]},
        {"IndexName": "by-marker", "KeySchema": [{"AttributeName": "dbops_marker", "KeyType": "HASH"},
                                                 {"AttributeName": "expires", "KeyType": "RANGE"}]},
        {"IndexName": "by-customer", "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"}]}]}
    assert ddb_load.indexes_written(table) == ("by-pk",), "an index keyed on an attribute the drill's items lack takes none of them"
    assert ddb_load.indexes_written(table, ttl_attribute="expires") == ("by-pk", "by-marker"), "the TTL attribute is on every item"
    indexed = replace(info(), indexes_written=("by-pk",))
    p = replace(plan_of(0.0), info=indexed)
    refused = {c: (s, d) for c, s, d in tp.pre_checks(p)}["PRE-GSI"]
    assert refused[0] == "fail" and "(by-pk)" in refused[1] and "--allow-gsi-writes" in refused[1], refused
    assert {c: s for c, s, _ in tp.pre_checks(p, allow_gsi_writes=True)}["PRE-GSI"] == "warn"
    assert "PRE-GSI" not in {c for c, _, _ in tp.pre_checks(plan_of(0.0))}, "negative control: a table without such an index"
    cost = tp.price(indexed, 1_000_000, 0, load_catalog("us-east-1"))
    assert cost.usd == pytest.approx(2 * 0.625) and "in each of 1 global secondary index(es) (by-pk)" in cost.note, cost.note
    # the table's own units of an answer: ConsumedCapacity.Table with INDEXES (CapacityUnits counts the indexes too)
    assert ddb_load.table_units({"ConsumedCapacity": {"CapacityUnits": 2.0, "Table": {"CapacityUnits": 1.0}}}) == 1.0
    assert ddb_load.table_units({"ConsumedCapacity": {"CapacityUnits": 1.0}}) == 1.0


def priced(catalog: dict[str, Any], region: str, factor: float) -> dict[str, Any]:
    return {**catalog, "region": region, "prices": {k: {**v, "usd": v["usd"] * factor} if "usd" in v else v
                                                          for k, v in catalog["prices"].items()}}


def test_a_replica_in_a_region_the_catalog_lacks_refuses_the_drill_rather_than_take_another_regions_price() -> None:
    global_info = replace(info(), replicas=("ap-southeast-9",))
    with pytest.raises(UsageError, match=r"replica region ap-southeast-9 of t cannot be priced: .*no prices for region ap-southeast-9"):
        tp.price(global_info, 1000, 0, load_catalog("us-east-1"))
    # Negative control: the same replica with its region's prices is priced
    assert tp.price(global_info, 1_000_000, 0, load_catalog("us-east-1"),
                    replica_catalogs={"ap-southeast-9": priced(load_catalog("us-east-1"), "ap-southeast-9", 1.5)}).usd == \
        pytest.approx(0.625 * 2.5)


def stubbed_table(description: dict[str, Any], global_table: dict[str, Any] | None, asked: bool = True) -> Any:
    """LoadTarget.info() against DynamoDB answering as its API reference shapes DescribeTable, DescribeTimeToLive
    and DescribeGlobalTable (None: GlobalTableNotFoundException) — moto has no global tables of version 2017.11.29."""
    import boto3
    from botocore.stub import Stubber

    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    ddb, scaling = session.client("dynamodb"), session.client("application-autoscaling")
    stub, scaling_stub = Stubber(ddb), Stubber(scaling)
    stub.add_response("describe_table", {"Table": description}, {"TableName": "orders"})
    stub.add_response("describe_time_to_live", {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}, {"TableName": "orders"})
    if not asked:
        pass  # no DescribeGlobalTable is expected: one made fails the Stubber
    elif global_table is None:
        stub.add_client_error("describe_global_table", "GlobalTableNotFoundException", "Global table not found",
                              expected_params={"GlobalTableName": "orders"})
    else:
        stub.add_response("describe_global_table", {"GlobalTableDescription": global_table}, {"GlobalTableName": "orders"})
    scaling_stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
    stub.activate()
    scaling_stub.activate()
    aws = SimpleNamespace(region="us-east-1", client=lambda name: {"dynamodb": ddb, "application-autoscaling": scaling}.get(name, ddb))
    target = ddb_load.LoadTarget("orders", aws)
    found = target.info()
    stub.assert_no_pending_responses()
    return found


LEGACY_TABLE = {"TableName": "orders", "TableStatus": "ACTIVE", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "ProvisionedThroughput": {"ReadCapacityUnits": 100, "WriteCapacityUnits": 100},
                "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}


def test_a_global_table_of_version_2017_is_found_by_describe_global_table_and_a_plain_table_is_not_one() -> None:
    legacy = stubbed_table(LEGACY_TABLE, {
        "GlobalTableName": "orders", "GlobalTableStatus": "ACTIVE",
        "GlobalTableArn": "arn:aws:dynamodb::123456789012:global-table/orders",
        "ReplicationGroup": [{"RegionName": "us-east-1", "ReplicaStatus": "ACTIVE"}, {"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"}]})
    assert legacy.replicas == ("eu-west-1",), "DescribeTable says nothing of a 2017.11.29 global table's replicas"
    assert {c: s for c, s, _ in tp.pre_checks(replace(plan_of(0.0), info=legacy))}["PRE-REPLICAS"] == "fail"
    # Negative control: GlobalTableNotFoundException is a table of one region
    assert stubbed_table(LEGACY_TABLE, None).replicas == ()
    # a table of version 2019.11.21 is described by DescribeTable alone
    current = {**LEGACY_TABLE, "GlobalTableVersion": "2019.11.21", "Replicas": [{"RegionName": "us-west-2", "ReplicaStatus": "ACTIVE"}]}
    assert stubbed_table(current, None, asked=False).replicas == ("us-west-2",)


def test_windows_of_earlier_drills_in_the_ledger_are_left_out_like_their_reports() -> None:
    from ops.lease import Window

    sums = minutes(60, 3000, 120)
    window = Window("throughput-x", "dynamodb:t", "prod", "throughput", (T0 + timedelta(minutes=1, seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    (T0 + timedelta(minutes=1, seconds=40)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    rate, _, dropped = tp.peak(sums, tp.excluded_intervals([], "dynamodb:t", [window]))
    assert rate == 0.0 and dropped == 3, "no report of it here, but its window in the ledger"
    assert tp.peak(sums, tp.excluded_intervals([], "dynamodb:t", []))[0] == 50.0


# --- the key space ------------------------------------------------------------------------------------------


def test_load_items_live_in_the_marker_key_space_and_never_meet_a_restore_drills_markers() -> None:
    drill = "throughput-20261123T120000Z-abcdef"
    key = ddb_load.item_key(STRING_TABLE, drill, 7)["pk"]["S"]
    assert key == f"{ddb_markers.PREFIX}{drill}#load#000007"
    number = ddb_load.item_key(NUMBER_TABLE, drill, 7)
    digits = number["id"]["N"]
    assert digits.startswith("-9") and len(digits) == 39 and number["at"]["B"].startswith(ddb_markers.PREFIX.encode())
    ours = {ddb_load.item_key(NUMBER_TABLE, drill, s)["id"]["N"] for s in range(0, 50)}
    markers = {ddb_markers.key_for(NUMBER_TABLE, drill, side, s)["id"]["N"] for side in ddb_markers.SIDES for s in range(1, 11)}
    beats = {ddb_markers.heartbeat_key(NUMBER_TABLE, 1_800_000_000 + s)["id"]["N"] for s in range(50)}
    assert len(ours) == 50 and not ours & markers and not ours & beats
    assert ddb_load.owns(drill) and not ddb_load.owns("restore-20261123T120000Z-abcdef")
    with pytest.raises(ValueError):
        ddb_load.item_key(STRING_TABLE, drill, ddb_load.MAX_ITEMS + 1)


# --- verdicts -----------------------------------------------------------------------------------------------


def tally(writes: int, reads: int, throttled: int = 0, latency_s: float = 0.01, hold_s: float = 4, ramp_s: float = 1) -> Tally:
    t = Tally()
    for kind, n in (("write", writes), ("read", reads)):
        for i in range(n):
            outcome = "throttled" if i < throttled else "ok"
            t.ops.append(Op(kind, ramp_s + hold_s * i / max(1, n), latency_s, outcome, 0.0 if outcome == "throttled" else 1.0))
    return t


def judged(t: Tally, p95_ms: float = 100.0, target: float = 30.0) -> tuple[str, dict[str, str]]:
    p = tp.Plan(info(), tp.Baseline(3, 3, "", "", T0, T0, 0), 10, (3, target), (3, target), 1, 4, 30, 150, 150, 8, tp.Cost(0, 0, 0, ""))
    journal = Journal("throughput", "dynamodb:t", "lab", echo=False)
    journal.require(*tp.OBJECTIVES)
    tp._judge(t, p, tp.ThroughputOptions(p95_ms=p95_ms), journal)
    report = journal.finish()
    return report.status, {c.id: c.status for c in report.checks}


def test_a_drill_served_at_the_multiple_without_a_throttle_passes() -> None:
    status, found = judged(tally(120, 120))
    assert status == "pass" and found == {"TP-THROTTLES": "pass", "TP-P95": "pass", "TP-RATE": "pass", "TP-ERRORS": "pass"}


def test_one_throttled_request_fails_the_drill() -> None:
    status, found = judged(tally(120, 120, throttled=1))
    assert status == "fail" and found["TP-THROTTLES"] == "fail" and found["TP-RATE"] == "pass"


def test_a_rate_sent_but_not_served_fails() -> None:
    status, found = judged(tally(120, 120, throttled=60))
    assert status == "fail" and found["TP-RATE"] == "fail"


def test_a_rate_the_client_could_not_send_is_inconclusive() -> None:
    status, found = judged(tally(40, 40))  # 10 a second sent of the 30 wanted
    assert status == "inconclusive" and found["TP-RATE"] == "unknown" and found["TP-THROTTLES"] == "pass"


def reads_judged(sent: int, served: int, rate: float, hold_s: float) -> Any:
    """The report of a drill that sent `sent` reads over the hold at `rate` a second (no writes), `served` of them served."""
    t = Tally()
    for i in range(sent):
        outcome = "ok" if i < served else "throttled"
        t.ops.append(Op("read", 1 + hold_s * i / max(1, sent), 0.01, outcome, 1.0 if outcome == "ok" else 0.0))
    p = tp.Plan(info(), tp.Baseline(0, rate / 10, "", "", T0, T0, 0), 10, (0, 0), (rate / 10, rate), 1, hold_s, 1, 0,
                math.ceil(rate * (hold_s + 1)), 8, tp.Cost(0, 0, 0, ""))
    journal = Journal("throughput", "dynamodb:t", "lab", echo=False)
    journal.require(*tp.OBJECTIVES)
    journal.details.update(multiplier=10, hold_s=hold_s)
    tp._judge(t, p, tp.ThroughputOptions(p95_ms=100.0), journal)
    return tp.with_summary(journal.finish())


def rate_check(report: Any) -> Any:
    return next(c for c in report.checks if c.id == "TP-RATE")


def test_a_low_rate_over_a_short_hold_does_not_blame_a_client_within_the_schedules_chance_spread() -> None:
    # 1 RCU/s for 30 s: 25 reads sent and served is 0.83/s, under the 10 % tolerance by a count of 2,
    # well within what chance does to a count of 27.
    report = reads_judged(25, 25, rate=1.0, hold_s=30)
    check = rate_check(report)
    assert check.status == "pass" and "client" not in check.detail, check.detail
    assert "25 units served of 25 requests sent, 30 scheduled" in check.detail and report.status == "pass"
    assert report.measurements["achieved_rcu"] == pytest.approx(25 / 30, abs=0.001)
    # of the 30 sent, the table must serve 7 (27 less four standard deviations of it)
    assert rate_check(reads_judged(30, 7, rate=1.0, hold_s=30)).status == "pass"
    assert rate_check(reads_judged(30, 6, rate=1.0, hold_s=30)).status == "fail"


def test_a_client_that_really_sent_too_little_at_a_low_rate_is_still_caught_and_a_table_that_served_too_little_fails() -> None:
    # 1 RCU/s for 60 s: a rate at the tolerance gives 54, by chance down to 24.6.
    at_floor = rate_check(reads_judged(25, 25, rate=1.0, hold_s=60))
    assert at_floor.status == "pass", at_floor.detail
    short = reads_judged(24, 24, rate=1.0, hold_s=60)
    assert rate_check(short).status == "unknown" and short.status == "inconclusive"
    assert "the client sent only 0.40 requests/s of the 1.00 wanted" in rate_check(short).detail
    unserved = reads_judged(60, 24, rate=1.0, hold_s=60)
    assert rate_check(unserved).status == "fail" and unserved.status == "fail"
    assert "24 units served of 60 requests sent" in rate_check(unserved).detail


@pytest.mark.parametrize("sent", [3, 5])
def test_a_hold_too_short_to_judge_the_rate_says_not_measured_and_gives_no_figure(sent: int) -> None:
    # 1 RCU/s for 5 s: 5 reads expected; chance alone may leave a rate at the tolerance with none.
    report = reads_judged(sent, sent, rate=1.0, hold_s=5)
    check = rate_check(report)
    assert check.status == "unknown" and report.status == "inconclusive"
    assert "not measured: 5 reads expected at the multiple" in check.detail and "at least 18 needed" in check.detail
    assert "client" not in check.detail and "/s served" not in check.detail
    assert report.measurements["achieved_rcu"] is None and report.measurements["offered_reads_per_second"] is None
    assert "served not measured / not measured" in report.summary and "TP-RATE" in report.summary
    # the count it asks for is enough: 18 reads over 18 s are judged
    assert rate_check(reads_judged(18, 18, rate=1.0, hold_s=18)).status == "pass"


def test_the_latency_and_throughput_drills_take_the_chance_spread_from_one_function() -> None:
    from ops.drills import common, latency

    assert tp.fewest_by_chance is common.fewest_by_chance and latency.fewest_by_chance is common.fewest_by_chance
    assert common.fewest_by_chance(100) == 60 and common.fewest_by_chance(16) == 0 and common.fewest_by_chance(5) == 0
    assert tp.rate_judgeable_from(0.1) == 18 and tp.rate_judgeable_from(0.5) == 33


def test_p95_above_the_objective_fails_and_too_few_requests_leave_it_unknown() -> None:
    assert judged(tally(120, 120, latency_s=0.2), p95_ms=100)[1]["TP-P95"] == "fail"
    status, found = judged(tally(10, 10), target=2.5)
    assert found["TP-P95"] == "unknown" and status == "inconclusive"


def test_a_request_failing_otherwise_than_by_throttling_fails_the_drill() -> None:
    t = tally(120, 120)
    t.ops[5].outcome = "error:InternalServerError"
    status, found = judged(t)
    assert status == "fail" and found["TP-ERRORS"] == "fail" and found["TP-THROTTLES"] == "pass"


def test_the_capacity_pre_check_warns_of_provisioned_capacity_burst_and_warm_throughput() -> None:
    p = plan_of(0.0)

    def found(**kwargs: Any) -> dict[str, tuple[str, str]]:
        return {c: (s, d) for c, s, d in tp.pre_checks(replace(p, info=info(**kwargs)))}

    small = found(on_demand=False, wcu=5, rcu=5)
    assert small["PRE-CAPACITY"][0] == "fail" and "throttle the application's requests too" in small["PRE-CAPACITY"][1]
    allowed = {c: (s, d) for c, s, d in tp.pre_checks(replace(p, info=info(on_demand=False, wcu=5, rcu=5)), allow_throttling=True)}
    assert allowed["PRE-CAPACITY"][0] == "warn" and "about 60 s at this rate" in allowed["PRE-CAPACITY"][1]  # 5 x 300 / (30 - 5)
    # Autoscaling acts minutes after the load begins: even a maximum above the target does not keep the application whole.
    scaled = found(on_demand=False, wcu=5, rcu=5, autoscaling={"write": (5.0, 100.0), "read": (5.0, 100.0)})
    assert scaled["PRE-CAPACITY"][0] == "fail" and "read autoscaling 5-100; write autoscaling 5-100" in scaled["PRE-CAPACITY"][1]
    unread = found(on_demand=False, wcu=5, rcu=5, autoscaling=None)
    assert unread["PRE-CAPACITY"][0] == "fail" and "autoscaling could not be read" in unread["PRE-CAPACITY"][1]
    assert found(on_demand=False, wcu=50, rcu=50)["PRE-CAPACITY"][0] == "pass"
    cold = found(warm_wcu=20, warm_rcu=20, stream=True)
    assert cold["PRE-CAPACITY"][0] == "fail" and "warm throughput 20" in cold["PRE-CAPACITY"][1] and cold["PRE-STREAM-CONSUMERS"][0] == "warn"
    assert "--allow-throttling" in cold["PRE-CAPACITY"][1]
    warm = found(warm_wcu=4000, warm_rcu=12000)
    assert warm["PRE-CAPACITY"][0] == "pass" and "PRE-STREAM-CONSUMERS" not in warm


def test_an_on_demand_table_beyond_its_maximum_or_warm_throughput_is_refused_unless_throttling_is_allowed() -> None:
    p = plan_of(0.0)  # 30 WCU/s at the multiple

    def capacity(allow_throttling: bool = False, **kwargs: Any) -> tuple[str, str]:
        status = {c: (s, d) for c, s, d in tp.pre_checks(replace(p, info=replace(info(**kwargs), **kwargs.pop("limits", {}))),
                                                            allow_throttling)}
        return status["PRE-CAPACITY"]

    capped = {"max_on_demand_wru": 25.0}
    status, detail = capacity(warm_wcu=4000, warm_rcu=12000, limits=capped)
    assert status == "fail" and "above its maximum on-demand throughput 25" in detail, detail
    assert capacity(True, warm_wcu=4000, warm_rcu=12000, limits=capped)[0] == "warn"
    assert capacity(warm_wcu=4000, warm_rcu=12000, limits={"max_on_demand_wru": 100.0})[0] == "pass"  # negative control
    # warm throughput 36: 30 is above it less a fifth (28.8) and refused; 40 less a fifth (32) holds it
    assert capacity(warm_wcu=36, warm_rcu=12000)[0] == "fail" and capacity(True, warm_wcu=36, warm_rcu=12000)[0] == "warn"
    assert capacity(warm_wcu=40, warm_rcu=12000)[0] == "pass"
    # a table that reports no warm throughput: what it serves at once is not measured, never a pass
    status, detail = capacity()
    assert status == "unknown" and "not measured" in detail and "no warm throughput of writes" in detail, detail


# --- policy and command line ------------------------------------------------------------------------------


def test_the_throughput_policy_is_read_and_checked(tmp_path: Any) -> None:
    cfg = parse({"policy": {"throughput_multiplier": 4, "throughput_p95_ms": 15, "max_drill_cost_usd": 0.5}}, tmp_path, None, {})
    assert (cfg.policy.throughput_multiplier, cfg.policy.throughput_p95_ms, cfg.policy.max_drill_cost_usd) == (4.0, 15.0, 0.5)
    assert cfg.policy.throughput_rate_tolerance == 0.1
    with pytest.raises(ConfigError, match="policy.throughput_rate_tolerance"):
        parse({"policy": {"throughput_rate_tolerance": 1.5}}, tmp_path, None, {})
    with pytest.raises(ConfigError, match="policy.throughput_multiplier"):
        parse({"policy": {"throughput_multiplier": 0.5}}, tmp_path, None, {})


@pytest.mark.parametrize("args, says", [
    (["dynamodb:t", "--multiplier", "0.5"], "0.5 is out of range"),
    (["dynamodb:t", "--multiplier", "nan"], "not a finite number"),
    (["dynamodb:t", "--time", "0"], "out of range"),
    (["dynamodb:t", "--baseline-wcu", "-1"], "out of range"),
    (["aurora:c", "--baseline-wcu", "1"], "the throughput drill takes dynamodb:TABLE"),
])
def test_bad_input_is_refused_in_one_line_before_anything_runs(cli_at: Cli, args: list[str], says: str) -> None:
    result = cli_at("drill", "throughput", *args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and says in lines[0], result.stderr


def test_help_loads(cli_at: Cli) -> None:
    result = cli_at("drill", "throughput", "--help")
    assert result.exit_code == 0 and "--baseline-wcu" in result.stdout and "--max-cost" in result.stdout


# --- the lab's throughput model, on a clock of its own --------------------------------------------------------


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The lab settings at the service's figures, kept in this process only."""
    cap.register()
    values: dict[str, Any] = {}
    monkeypatch.setattr(settings, "get", lambda name: values.get(name, settings._registry[name].default))
    return values


def table(on_demand: bool = True, wcu: int = 0, rcu: int = 0) -> Any:
    warm = {"WriteUnitsPerSecond": 4000, "ReadUnitsPerSecond": 12000} if on_demand else {"WriteUnitsPerSecond": wcu, "ReadUnitsPerSecond": rcu}
    return SimpleNamespace(name="t", billing_mode="PAY_PER_REQUEST" if on_demand else "PROVISIONED",
                           throughput={"WriteCapacityUnits": wcu, "ReadCapacityUnits": rcu}, warm_throughput=warm)


def near(value: int, n: int) -> bool:
    """n requests served, or n + 1: a request is admitted while any capacity is left and may overdraw it."""
    return value in (n, n + 1)


def served(state: cap.Capacity, t: Any, kind: str, n: int, now: float, key: str | None = None) -> int:
    ok = 0
    for _ in range(n):
        if state.admit(t, kind, key, now) is None:
            state.charge(t, kind, key, 1.0, now)
            ok += 1
    return ok


def test_a_provisioned_table_keeps_at_most_300_seconds_of_unused_capacity(model: dict[str, Any]) -> None:
    t = table(on_demand=False, wcu=5, rcu=5)
    state = cap.Capacity(t, now=0.0)
    assert state.admit(t, "write", None, 0.0) == "TableWriteProvisionedThroughputExceeded", "a new table has no burst kept"
    assert near(served(state, t, "write", 100, now=10.0), 50)  # 10 s unused: 50 units
    assert near(served(state, t, "write", 5000, now=10_000.0), 1500)  # capped at 300 s x 5 WCU
    model["ddb_burst_s"] = 1
    state = cap.Capacity(t, now=0.0)
    assert near(served(state, t, "write", 100, now=10.0), 5), "negative control: one second of burst"


def test_a_new_on_demand_table_serves_4000_writes_or_12000_reads_or_a_linear_mix(model: dict[str, Any]) -> None:
    t = table()
    assert near(served(cap.Capacity(t, 0.0), t, "write", 5000, now=1.0), 4000)
    assert near(served(cap.Capacity(t, 0.0), t, "read", 20000, now=1.0), 12000)
    state = cap.Capacity(t, 0.0)
    assert served(state, t, "write", 2000, 1.0) == 2000 and near(served(state, t, "read", 10000, 1.0), 6000), "half of each"


def test_on_demand_doubles_the_previous_peak_only_once_it_is_30_minutes_old(model: dict[str, Any]) -> None:
    t = table()
    state = cap.Capacity(t, 0.0)
    for second in range(100, 110):  # 4,000 writes a second, the most it serves at once
        assert served(state, t, "write", 4000, float(second)) == 4000
    assert state.on_demand_limit(t, "write", 100 + 1799.0) == 4000, "negative control: within 30 minutes the peak is not yet the previous one"
    assert state.on_demand_limit(t, "write", 109 + 1800.0) == 8000
    assert near(served(state, t, "write", 9000, 109 + 1800.0), 8000)
    state.warm(t, 109 + 1800.0)
    assert t.warm_throughput["WriteUnitsPerSecond"] == 8000, "DescribeTable's WarmThroughput follows"


def test_a_table_switched_to_on_demand_starts_from_half_its_highest_provisioned_capacity(model: dict[str, Any]) -> None:
    t = table(on_demand=False, wcu=10_000, rcu=100)
    state = cap.Capacity(t, 0.0)
    t.billing_mode = "PAY_PER_REQUEST"
    state.follow(t, 1.0)
    assert state.on_demand_limit(t, "write", 2.0) == 10_000 and state.on_demand_limit(t, "read", 2.0) == 12_000


def test_a_partition_key_gets_at_most_1000_wcu_or_3000_rcu_a_second(model: dict[str, Any]) -> None:
    t = table()
    state = cap.Capacity(t, 0.0)
    assert near(served(state, t, "write", 2000, 1.0, key="hot"), 1000)
    assert state.admit(t, "write", "hot", 1.0) == "TableWriteKeyRangeThroughputExceeded"
    assert state.admit(t, "read", "hot", 1.0) is not None, "reads and writes share the partition"
    assert served(state, t, "write", 1000, 1.0, key="cold") == 1000, "negative control: another key"
    assert near(served(cap.Capacity(t, 0.0), t, "read", 5000, 1.0, key="hot"), 3000)


def test_capacity_units_follow_the_documented_item_sizes() -> None:
    assert cap.item_size({"pk": {"S": "abc"}}) == 5
    assert cap.value_size({"N": "12345"}) == 4 and cap.value_size({"BOOL": True}) == 1 and cap.value_size({"NULL": True}) == 1
    assert cap.write_units(1024) == 1 and cap.write_units(1025) == 2 and cap.write_units(0) == 1
    assert cap.read_units(4096, True) == 1 and cap.read_units(4097, True) == 2 and cap.read_units(10, False) == 0.5
    assert math.isclose(cap.read_units(0, False), 0.5)


# --- another client's throttles during the load ---------------------------------------------------------------


class TableMetrics:
    """CloudWatch's AWS/DynamoDB minutes of a table, each event at its time, as published at the clock's time:
    `lag_s` behind it as the minute runs (the lab without a delay), or each minute whole `delay_s` after it ended (AWS)."""

    name = "t"

    def __init__(self, clock: dict[str, float], lag_s: float = 0.0, delay_s: float | None = None) -> None:
        self.clock, self.lag_s, self.delay_s = clock, lag_s, delay_s
        self.events: dict[str, list[float]] = {"WriteThrottleEvents": [], "ConsumedWriteCapacityUnits": []}
        self.fail_after: int | None = None  # reads answered before CloudWatch fails
        self.calls = 0

    def visible(self, t: float) -> bool:
        now = self.clock["now"]
        if self.delay_s is None:
            return t <= now - self.lag_s
        return t // 60 * 60 + 60 + self.delay_s <= now

    def minute_sums(self, metric: str, start: datetime, end: datetime) -> list[MinuteSum]:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("AccessDenied: cloudwatch:GetMetricStatistics")
        minutes: dict[float, float] = {}
        for t in self.events.get(metric, []):
            if self.visible(t) and start.timestamp() <= t // 60 * 60 < end.timestamp():
                minutes[t // 60 * 60] = minutes.get(t // 60 * 60, 0.0) + 1
        return [MinuteSum(datetime.fromtimestamp(m, timezone.utc), n) for m, n in sorted(minutes.items())]

    def total(self, metric: str, start: datetime, end: datetime) -> float | None:  # LoadTarget's, over the minutes
        sums = self.minute_sums(metric, start, end)
        return sum(m.total for m in sums) if sums else None


def watched(drill_throttles: list[float], others: list[float], lag_s: float, at: float, delay_s: float | None = None,
            app_from: float = 0.0) -> tp.OtherClients:
    """A load started at T0 + 5 s, consuming every second until 200 s, its throttled requests sent (and answered)
    at the given seconds; an application consuming every second from app_from; CloudWatch read `at` seconds after T0."""
    clock = {"now": T0.timestamp() + 5}
    cw = TableMetrics(clock, lag_s, delay_s)
    cw.events["ConsumedWriteCapacityUnits"] = [T0.timestamp() + s for s in range(int(app_from), 5)] + \
                                              [T0.timestamp() + 5.5 + s for s in range(195)]
    for s in drill_throttles:
        cw.events["WriteThrottleEvents"].append(T0.timestamp() + s + 0.002)  # the service counts it as it answers
    cw.events["WriteThrottleEvents"] += [T0.timestamp() + s for s in others]
    watch = tp.OtherClients(cw, __import__("threading").Event(), 2.0, now=lambda: datetime.fromtimestamp(clock["now"], timezone.utc))
    load = Tally(started_at=T0.timestamp() + 5)
    for s in drill_throttles:
        load.ops.append(Op("write", s - 5, 0.005, "throttled"))
    clock["now"] = T0.timestamp() + at
    watch.start = lambda *a: None  # type: ignore[method-assign]  # polled by hand here
    watch.tally, watch.extra_own = load, 0
    return watch


def test_the_drills_own_throttles_never_stop_it_even_those_cloudwatch_has_not_published_yet() -> None:
    heavy = [5 + i * 0.05 for i in range(1600)]  # 20 a second from 5 s to 85 s, across the minute's end
    for at, lag in ((30, 1.0), (61, 1.0), (62, 0.0), (70, 5.0)):
        excess = watched([s for s in heavy if s < at], [], lag, at)._excess()
        assert excess is not None and excess[0] <= 0, (at, lag, excess)


def test_one_throttle_of_another_client_stops_the_drill_once_cloudwatch_has_it() -> None:
    heavy = [5 + i * 0.05 for i in range(1600)]  # 20 a second from 5 s to 85 s
    # in the minute under way, behind a second of the drill's own not yet published: not seen yet
    assert watched([s for s in heavy if s < 30], [20.0], 1.0, 30)._excess()[0] <= 0  # type: ignore[index]
    # once its minute is over and published, the settled bound finds it however busy the drill is
    found = watched([s for s in heavy if s < 62], [20.0], 1.0, 62)._excess()
    assert found is not None and found[0] >= 1 and "to 12:01 UTC" in found[1], found
    # with nothing of the drill's unpublished, the live bound finds it at once
    found = watched([s for s in heavy if s < 30], [20.0], 0.0, 30)._excess()
    assert found is not None and found[0] >= 1 and "minute(s) it had published since 12:00" in found[1], found


def watch_verdict(watch: tp.OtherClients, reads_at: list[float]) -> tuple[str, str]:
    clock = watch.target.clock  # type: ignore[attr-defined]
    for at in reads_at:
        clock["now"] = T0.timestamp() + at
        if watch.poll():
            break
    journal = Journal("throughput", "dynamodb:t", "lab")
    watch.judge(journal)
    return journal.checks[-1].status, journal.checks[-1].detail


def test_a_drill_shorter_than_cloudwatchs_lag_measures_no_minute_and_says_so_rather_than_passing() -> None:
    polls = [7 + 2 * i for i in range(44)]  # every 2 s over a 90 s load
    # AWS: each minute published whole 70 s after it ended; another client throttled at 20 s and 70 s
    status, detail = watch_verdict(watched([], [20.0, 70.0], 0.0, 5, delay_s=70), polls)
    assert status == "unknown" and "not measured" in detail and "published none of the drill's minutes" in detail, detail
    assert "pass" not in detail
    # Negative control: published as the minute runs, the same throttles stop the load ...
    status, detail = watch_verdict(watched([], [20.0, 70.0], 1.0, 5), polls)
    assert status == "fail" and "another client's requests were throttled" in detail, detail
    # ... and with none, every minute read is measured, and named
    status, detail = watch_verdict(watched([], [], 1.0, 5), polls)
    assert status == "pass" and "2 minute(s) CloudWatch had published (12:00 to 12:01 UTC)" in detail, detail


def test_a_failed_read_leaves_the_watch_not_measured_even_after_a_good_one() -> None:
    watch = watched([], [], 1.0, 5)
    watch.target.fail_after = watch.target.calls + 4  # type: ignore[attr-defined]  # one poll reads 4 metrics
    status, detail = watch_verdict(watch, [10, 12, 14])
    assert watch.measured and status == "unknown" and "a CloudWatch read failed (" in detail and "AccessDenied" in detail, detail
    # Negative control: the same reads, none failing
    assert watch_verdict(watched([], [], 1.0, 5), [10, 12, 14])[0] == "pass"


def test_throttles_before_the_drill_in_its_first_minute_are_not_counted_when_cloudwatch_had_not_published_it() -> None:
    # another client throttled 2 s before the drill began; minutes published whole 10 s after they end
    watch = watched([], [3.0], 0.0, 5, delay_s=10)
    assert watch.since == T0 + timedelta(minutes=1) and watch.before is None
    status, detail = watch_verdict(watch, [75, 77])
    assert status == "unknown" and "from 12:01 UTC" in detail, detail  # its first minute is left out, the next not out yet
    # Negative control: a throttle of another client inside the watched minute stops the load once it is published
    status, detail = watch_verdict(watched([], [3.0, 65.0], 0.0, 5, delay_s=10), [75, 131])
    assert status == "fail" and "1 throttle events" in detail, detail
    # ... and a first minute CloudWatch had published as the drill began is watched, less what it held then
    watch = watched([], [3.0], 0.0, 5)
    assert watch.since == T0 and watch.before == 1.0
    assert watch_verdict(watch, [10, 12])[0] == "pass"


def test_a_table_the_application_already_fills_has_no_multiple_to_offer() -> None:
    status, detail = capacity_check(1050, 100, current=900)
    assert status == "fail" and "no multiple fits what the application leaves" in detail and "at most" not in detail, detail
