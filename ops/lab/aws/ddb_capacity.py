"""DynamoDB throughput in the lab's emulator: capacity units, throttling and CloudWatch metrics.

Plain moto serves every request and reports a fixed ConsumedCapacity. Here each data-plane request
that reaches the emulator over HTTP (PutItem, UpdateItem, DeleteItem, GetItem, BatchWriteItem,
BatchGetItem, Query, Scan) is metered and may be throttled as the service documents it:

- Capacity units (DynamoDB developer guide, "Read and write operations"): a write consumes one unit
  per 1 KB of the larger of the item before and after it, at least one; a read one unit per 4 KB
  strongly consistent, half of that eventually consistent, at least that much for an item that is not
  there. A conditional write whose condition fails still consumes write capacity. Item size is the
  sum of attribute names and values (numbers: one byte per two significant digits plus one).
- Provisioned tables: the table's ReadCapacityUnits and WriteCapacityUnits a second, plus burst
  capacity — "DynamoDB currently retains up to 5 minutes (300 seconds) of unused read and write
  capacity" (AWS re:Post knowledge center, "dynamodb-spiky-workloads-short-intervals"); the
  `ddb_burst_s` setting. A new table starts with no unused capacity kept. Beyond it:
  ProvisionedThroughputExceededException, HTTP 400.
- On-demand tables: "New on-demand tables will be able to sustain up to 4,000 writes per second and
  12,000 reads per second ... throttling can still occur if the throughput exceeds twice the previous
  peak within the same 30 minutes" (developer guide, "Pre-warming a table for on-demand capacity
  mode"): a new table's previous peak is 2,000 write or 6,000 read request units, and reads and
  writes share it as "any linear combination of the two" (developer guide, "Initial throughput and
  scaling properties"). The lab's reading: a table serves at once up to double the highest units a
  second it served at least `ddb_ondemand_peak_window_s` (1,800 s) ago, or its warm throughput
  (DescribeTable WarmThroughput, raised by UpdateTable) if that is higher. A table switched from
  provisioned starts from half the most capacity it was ever provisioned with, if that is higher.
  Beyond it: ThrottlingException, HTTP 400, with the message the service gives on-demand tables.
- Partitions: "If a resulting hot partition exceeds the per partition limits of 3,000 RCU or 1,000
  WCU per second, or a combination of both, your table throttles" (the same re:Post article); burst
  capacity does not help a hot partition. The lab keeps one partition per partition key value, the
  most one key can ever get.
- Every table: the default table-level quota of 40,000 read and 40,000 write units a second
  (developer guide, "Service quotas, Throughput default quotas").

A batch with some items throttled returns them as UnprocessedItems / UnprocessedKeys; a batch with
all of them throttled fails with the exception. CloudWatch gets what the service publishes
(namespace AWS/DynamoDB, one-minute data points): ConsumedReadCapacityUnits and
ConsumedWriteCapacityUnits (dimension TableName; "get the Sum value over a span of one minute, and
divide it by ... 60 to calculate the average ... per second", developer guide, "DynamoDB metrics and
dimensions"), ReadThrottleEvents and WriteThrottleEvents (one per throttled item; TableName) and
ThrottledRequests (one per request with every item throttled; TableName and Operation), flushed
every second. `ddb_metrics_delay_s` (0 by default: the minute under way is published as it runs)
holds each minute back until that many seconds after it ended, then publishes it whole, as AWS
publishes DynamoDB's minutes a minute or more late.

Not metered: transactions, PartiQL, secondary indexes, and the lab's own heartbeat (it writes
without a request). `ddb_throttling=false` turns the model off (plain moto: nothing throttles).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from bisect import bisect_right
from datetime import datetime, timezone
from typing import Any, Callable

from ops.lab.aws import settings

ENABLED = "ddb_throttling"
BURST = "ddb_burst_s"
INITIAL_WRU = "ddb_ondemand_initial_peak_wru"
INITIAL_RRU = "ddb_ondemand_initial_peak_rru"
PEAK_WINDOW = "ddb_ondemand_peak_window_s"
PARTITION_WCU = "ddb_partition_wcu"
PARTITION_RCU = "ddb_partition_rcu"
METRICS_DELAY = "ddb_metrics_delay_s"

SERVICE_BURST_S = 300  # "retains up to 5 minutes (300 seconds) of unused read and write capacity"
SERVICE_INITIAL_PEAK_WRU = 2000  # a new on-demand table's previous peak: 4,000 writes a second at once
SERVICE_INITIAL_PEAK_RRU = 6000  # ... and 12,000 reads
SERVICE_PEAK_WINDOW_S = 1800  # "twice the previous peak within the same 30 minutes"
SERVICE_PARTITION_WCU = 1000  # "per partition limits of 3,000 RCU or 1,000 WCU per second"
SERVICE_PARTITION_RCU = 3000
TABLE_QUOTA_UNITS = 40000  # default table-level read and write throughput quota (units a second)
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
NAMESPACE = "AWS/DynamoDB"
FLUSH_EVERY_S = 1.0
PRUNE_EVERY_S = 10.0

PROVISIONED_MESSAGE = ("The level of configured provisioned throughput for the table was exceeded. "
                       "Consider increasing your provisioning level with the UpdateTable API.")
ON_DEMAND_MESSAGE = ("Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling "
                     "your table or index so please try again shortly. If exceptions persist, check if you have a hot key: "
                     "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html")
PROVISIONED_ERROR = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
THROTTLING_ERROR = "com.amazon.coral.availability#ThrottlingException"
KINDS = ("read", "write")

log = logging.getLogger(__name__)
_installed = False


# --- sizes and units --------------------------------------------------------------------------------


def value_size(value: Any) -> int:
    """Bytes of one attribute value as DynamoDB counts them (developer guide, "Item sizes and formats")."""
    if not isinstance(value, dict) or len(value) != 1:
        return 0
    (kind, v), = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        digits = str(v).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v) if isinstance(v, (bytes, bytearray)) else len(_b64(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: x}) for x in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(str(k).encode()) + value_size(x) for k, x in v.items())
    return 0


def _b64(text: Any) -> bytes:
    try:
        return base64.b64decode(text)
    except (ValueError, TypeError):
        return str(text).encode()


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(str(name).encode()) + value_size(v) for name, v in (item or {}).items())


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / WRITE_UNIT_BYTES)))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / READ_UNIT_BYTES)) * (1.0 if consistent else 0.5)


# --- the throughput state of a table ------------------------------------------------------------------


class _Bucket:
    __slots__ = ("tokens", "at")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens, self.at = tokens, at

    def level(self, rate: float, cap: float, now: float) -> float:
        if now > self.at:
            self.tokens = min(cap, self.tokens + rate * (now - self.at))
            self.at = now
        return self.tokens


def on_demand(table: Any) -> bool:
    mode = getattr(table, "billing_mode", None)
    if mode is None:
        # moto's restored tables (backups, point-in-time) keep the source's capacity but not its mode: a
        # table without capacity units is an on-demand one, as its source was
        return not any(_provisioned(table, k) for k in KINDS)
    return mode == "PAY_PER_REQUEST"


def _provisioned(table: Any, kind: str) -> float:
    return float((getattr(table, "throughput", None) or {}).get("WriteCapacityUnits" if kind == "write" else "ReadCapacityUnits") or 0)


_WARM_KEY = {"write": "WriteUnitsPerSecond", "read": "ReadUnitsPerSecond"}


class Capacity:
    """What one table can serve now: token buckets for its provisioned or on-demand capacity and its
    partitions, and the peaks it served (for the on-demand previous-peak rule)."""

    def __init__(self, table: Any, now: float) -> None:
        self.lock = threading.Lock()
        self.mode = "PAY_PER_REQUEST" if on_demand(table) else "PROVISIONED"
        self.initial = {"write": float(settings.get(INITIAL_WRU)), "read": float(settings.get(INITIAL_RRU))}
        self.max_provisioned = {k: _provisioned(table, k) for k in KINDS} if self.mode == "PROVISIONED" else {k: 0.0 for k in KINDS}
        self.buckets = {k: _Bucket(0.0, now) for k in KINDS}  # provisioned: units, no unused capacity kept yet
        self.demand = _Bucket(1.0, now)  # on-demand: seconds of the table's capacity, reads and writes together
        self.keys: dict[str, _Bucket] = {}  # per partition key value: seconds of a partition's capacity
        self.peak_at: dict[str, list[float]] = {k: [] for k in KINDS}  # when each new highest second was served
        self.peak: dict[str, list[float]] = {k: [] for k in KINDS}  # ... and how many units it served
        self.second: dict[str, tuple[int, float]] = {k: (0, 0.0) for k in KINDS}
        self.pruned_at = now

    def __deepcopy__(self, memo: dict[int, Any]) -> "Capacity":
        return self  # moto copies a table to roll a transaction back: the same table, the same capacity

    def follow(self, table: Any, now: float) -> None:
        """Take in a change of billing mode or provisioned capacity (UpdateTable)."""
        mode = "PAY_PER_REQUEST" if on_demand(table) else "PROVISIONED"
        if mode == "PROVISIONED":
            for k in KINDS:
                self.max_provisioned[k] = max(self.max_provisioned[k], _provisioned(table, k))
        if mode == self.mode:
            return
        self.mode = mode
        if mode == "PAY_PER_REQUEST":
            # "half the maximum previous write capacity units and read capacity units provisioned since the
            # table was created, or the settings for a newly created table ..., whichever is higher"
            for k in KINDS:
                self.initial[k] = max(self.initial[k], self.max_provisioned[k] / 2)
            self.demand = _Bucket(1.0, now)
            _raise_warm(table, {k: 2 * self.initial[k] for k in KINDS})
        else:
            self.buckets = {k: _Bucket(0.0, now) for k in KINDS}

    def previous_peak(self, kind: str, now: float) -> float:
        i = bisect_right(self.peak_at[kind], now - float(settings.get(PEAK_WINDOW))) - 1
        return max(self.initial[kind], self.peak[kind][i] if i >= 0 else 0.0)

    def on_demand_limit(self, table: Any, kind: str, now: float) -> float:
        warm = float((getattr(table, "warm_throughput", None) or {}).get(_WARM_KEY[kind]) or 0)
        return min(float(TABLE_QUOTA_UNITS), max(2 * self.previous_peak(kind, now), warm))

    def _partition_limit(self, kind: str) -> float:
        return float(settings.get(PARTITION_WCU if kind == "write" else PARTITION_RCU))  # at least 1: the setting's range

    def _provisioned_cap(self, rate: float) -> float:
        return rate * float(settings.get(BURST))  # at least one second's units: the setting's range

    def admit(self, table: Any, kind: str, key: str | None, now: float) -> str | None:
        """None if the request may go ahead, else why it is throttled (a ThrottlingReasons reason)."""
        self.follow(table, now)
        side = "Write" if kind == "write" else "Read"
        if key is not None:
            bucket = self.keys.get(key)
            if bucket is not None and bucket.level(1.0, 1.0, now) <= 0:
                return f"Table{side}KeyRangeThroughputExceeded"
        if self.mode == "PAY_PER_REQUEST":
            if self.demand.level(1.0, 1.0, now) <= 0:
                return f"Table{side}KeyRangeThroughputExceeded"
        else:
            rate = min(_provisioned(table, kind), float(TABLE_QUOTA_UNITS))
            if self.buckets[kind].level(rate, self._provisioned_cap(rate), now) <= 0:
                return f"Table{side}ProvisionedThroughputExceeded"
        return None

    def charge(self, table: Any, kind: str, key: str | None, units: float, now: float) -> None:
        """Take units a request consumed (it was admitted, or is not throttled at all)."""
        if key is not None:
            bucket = self.keys.get(key)
            if bucket is None:
                bucket = self.keys[key] = _Bucket(1.0, now)
            bucket.level(1.0, 1.0, now)
            bucket.tokens -= units / self._partition_limit(kind)
        if self.mode == "PAY_PER_REQUEST":
            self.demand.level(1.0, 1.0, now)
            self.demand.tokens -= units / max(1e-9, self.on_demand_limit(table, kind, now))
        else:
            rate = min(_provisioned(table, kind), float(TABLE_QUOTA_UNITS))
            self.buckets[kind].level(rate, self._provisioned_cap(rate), now)
            self.buckets[kind].tokens -= units
        second, served = self.second[kind]
        second, served = (second, served + units) if second == int(now) else (int(now), units)
        self.second[kind] = (second, served)
        peaks, ats = self.peak[kind], self.peak_at[kind]
        if not peaks or served > peaks[-1]:
            if ats and ats[-1] == second:
                peaks[-1] = served
            else:
                ats.append(float(second))
                peaks.append(served)
        if now - self.pruned_at >= PRUNE_EVERY_S:
            self.keys = {k: b for k, b in self.keys.items() if b.level(1.0, 1.0, now) < 1.0}
            self.pruned_at = now

    def warm(self, table: Any, now: float) -> None:
        """DescribeTable's WarmThroughput of an on-demand table: what it serves at once now."""
        if self.mode == "PAY_PER_REQUEST":
            _raise_warm(table, {k: 2 * self.previous_peak(k, now) for k in KINDS})


def _raise_warm(table: Any, units: dict[str, float]) -> None:
    warm = getattr(table, "warm_throughput", None)
    if not isinstance(warm, dict):
        return
    for kind, value in units.items():
        key = _WARM_KEY[kind]
        warm[key] = int(max(float(warm.get(key) or 0), min(value, TABLE_QUOTA_UNITS)))
    warm["Status"] = "ACTIVE"


def capacity(table: Any) -> Capacity:
    state = getattr(table, "dbops_capacity", None)
    if state is None:
        state = table.dbops_capacity = Capacity(table, time.time())
    return state


# --- CloudWatch ---------------------------------------------------------------------------------------


_points: dict[tuple[str, str, str, tuple[tuple[str, str], ...], int], float] = {}
_points_lock = threading.Lock()
_publisher: threading.Thread | None = None


def _add(account: str, region: str, metric: str, dims: tuple[tuple[str, str], ...], value: float, now: float) -> None:
    global _publisher
    minute = int(now // 60) * 60
    with _points_lock:
        key = (account, region, metric, dims, minute)
        _points[key] = _points.get(key, 0.0) + value
        if _publisher is None or not _publisher.is_alive():
            _publisher = threading.Thread(target=_publish_forever, name="dbops-ddb-metrics", daemon=True)
            _publisher.start()


def flush() -> int:
    """Put what was measured since the last flush to the emulator's CloudWatch; returns the data points put."""
    from moto.cloudwatch.models import cloudwatch_backends

    delay = settings.get(METRICS_DELAY)
    # a minute is published whole, `delay` seconds after it ended; with no delay, as it runs
    due = time.time() - 60 - delay if delay > 0 else float("inf")
    with _points_lock:
        taken = {key: value for key, value in _points.items() if key[4] <= due}
        for key in taken:
            del _points[key]
    by_backend: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (account, region, metric, dims, minute), value in taken.items():
        by_backend.setdefault((account, region), []).append({
            "MetricName": metric, "Dimensions": [{"Name": n, "Value": v} for n, v in dims], "Value": value, "Unit": "Count",
            # one data point a minute, at the minute's start, as the service publishes them (naive UTC, as moto keeps time)
            "Timestamp": datetime.fromtimestamp(minute, timezone.utc).replace(tzinfo=None),
        })
    for (account, region), points in by_backend.items():
        cloudwatch_backends[account][region].put_metric_data(NAMESPACE, points)
    return len(taken)


def _publish_forever() -> None:
    while True:
        time.sleep(FLUSH_EVERY_S)
        try:
            flush()
        except Exception:  # noqa: BLE001 — the emulator resets its backends under us; publish the next ones
            log.exception("DynamoDB metrics")


class _Meter:
    """What one request did to one table: units consumed, items throttled."""

    def __init__(self, handler: Any, table: Any, operation: str) -> None:
        self.account, self.region = handler.current_account, handler.region
        self.table, self.operation = table, operation

    def consumed(self, kind: str, units: float, now: float) -> None:
        if units:
            metric = "ConsumedWriteCapacityUnits" if kind == "write" else "ConsumedReadCapacityUnits"
            _add(self.account, self.region, metric, (("TableName", self.table.name),), units, now)

    def throttled(self, kind: str, events: int, whole_request: bool, now: float) -> None:
        if events:
            metric = "WriteThrottleEvents" if kind == "write" else "ReadThrottleEvents"
            _add(self.account, self.region, metric, (("TableName", self.table.name),), float(events), now)
        if whole_request:
            _add(self.account, self.region, "ThrottledRequests",
                 (("TableName", self.table.name), ("Operation", self.operation)), 1.0, now)


# --- the errors the service answers with -----------------------------------------------------------------


def throttled_error(table: Any, reason: str) -> Exception:
    """ProvisionedThroughputExceededException (provisioned) or ThrottlingException (on demand), HTTP 400,
    with the service's message and its ThrottlingReasons."""
    from moto.core.exceptions import JsonRESTError

    if on_demand(table):
        error_type, message = THROTTLING_ERROR, ON_DEMAND_MESSAGE
    else:
        error_type, message = PROVISIONED_ERROR, PROVISIONED_MESSAGE
    exc = JsonRESTError(error_type, message)
    exc.description = json.dumps({"__type": error_type, "message": message,
                                  "ThrottlingReasons": [{"reason": reason, "resource": getattr(table, "table_arn", table.name)}]})
    return exc


# --- the requests --------------------------------------------------------------------------------------


def _table(handler: Any, name: Any) -> Any:
    if not isinstance(name, str):
        return None
    try:
        return handler.dynamodb_backend.get_table(name)
    except Exception:  # noqa: BLE001 — moto answers a missing table itself
        return None


def _key_of(table: Any, attrs: dict[str, Any] | None) -> dict[str, Any] | None:
    attrs = attrs or {}
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    if not all(n in attrs for n in names):
        return None
    return {n: attrs[n] for n in names}


def _partition(table: Any, key: dict[str, Any] | None) -> str | None:
    if key is None:
        return None
    return json.dumps(key.get(table.hash_key_attr), sort_keys=True, default=str)


def _stored_size(handler: Any, table: Any, key: dict[str, Any] | None) -> int:
    if key is None:
        return 0
    try:
        item = handler.dynamodb_backend.get_item(table.name, key)
    except Exception:  # noqa: BLE001 — a key moto refuses is refused by the request itself
        return 0
    return item_size(item.to_json()["Attributes"]) if item is not None else 0


def _report_capacity(body: dict[str, Any], wanted: str, table_name: str, kind: str, units: float) -> None:
    body.pop("ConsumedCapacityUnits", None)
    if wanted in ("TOTAL", "INDEXES"):
        consumed: dict[str, Any] = {"TableName": table_name, "CapacityUnits": units,
                                    ("WriteCapacityUnits" if kind == "write" else "ReadCapacityUnits"): units}
        if wanted == "INDEXES":
            consumed["Table"] = {"CapacityUnits": units}
        body["ConsumedCapacity"] = consumed
    else:
        body.pop("ConsumedCapacity", None)


def _single(operation: str, kind: str, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """PutItem, UpdateItem, DeleteItem, GetItem: admitted or throttled, then charged what they consumed."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed

    def wrapped(self: Any) -> Any:
        table = _table(self, self.body.get("TableName"))
        if table is None or not settings.get(ENABLED):
            return original(self)
        key = _key_of(table, self.body.get("Item") if operation == "PutItem" else self.body.get("Key"))
        partition = _partition(table, key)
        meter = _Meter(self, table, operation)
        state = capacity(table)
        now = time.time()
        with state.lock:
            reason = state.admit(table, kind, partition, now)
        if reason:
            meter.throttled(kind, 1, True, now)
            raise throttled_error(table, reason)
        before = _stored_size(self, table, key)
        consistent = bool(self.body.get("ConsistentRead"))
        failed: Exception | None = None
        try:
            result = original(self)
        except ConditionalCheckFailed as exc:  # a failed condition still consumes write capacity
            result, failed = None, exc
        if kind == "write":
            after = 0 if failed or operation == "DeleteItem" else _stored_size(self, table, key)
            units = write_units(max(before, after, item_size(self.body.get("Item")) if operation == "PutItem" else 0))
        else:
            units = read_units(before, consistent)
        now = time.time()
        with state.lock:
            state.charge(table, kind, partition, units, now)
        meter.consumed(kind, units, now)
        if failed is not None:
            raise failed
        _report_capacity(result.result, self.body.get("ReturnConsumedCapacity", "NONE"), table.name, kind, units)
        return result

    return wrapped


def _scan_or_query(operation: str, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Query and Scan: admitted or throttled by the table, charged by the size of what they returned."""

    def wrapped(self: Any) -> Any:
        table = _table(self, self.body.get("TableName"))
        if table is None or not settings.get(ENABLED):
            return original(self)
        meter, state, now = _Meter(self, table, operation), capacity(table), time.time()
        with state.lock:
            reason = state.admit(table, "read", None, now)
        if reason:
            meter.throttled("read", 1, True, now)
            raise throttled_error(table, reason)
        result = original(self)
        size = sum(item_size(i) for i in result.result.get("Items", []) if isinstance(i, dict))
        units = read_units(size, bool(self.body.get("ConsistentRead")))
        now = time.time()
        with state.lock:
            state.charge(table, "read", None, units, now)
        meter.consumed("read", units, now)
        _report_capacity(result.result, self.body.get("ReturnConsumedCapacity", "NONE"), table.name, "read", units)
        return result

    return wrapped


def _batch_write(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """BatchWriteItem: each put or delete admitted or returned in UnprocessedItems; all throttled: the exception."""

    def wrapped(self: Any) -> Any:
        requested = self.body.get("RequestItems")
        if not settings.get(ENABLED) or not isinstance(requested, dict):
            return original(self)
        tables = {name: _table(self, name) for name in requested}
        if any(t is None for t in tables.values()):
            return original(self)
        now = time.time()
        admitted: dict[str, list[Any]] = {}
        unprocessed: dict[str, list[Any]] = {}
        units: dict[str, float] = {}
        reasons: dict[str, str] = {}
        for name, requests in requested.items():
            table, state = tables[name], capacity(tables[name])
            for request in requests or []:
                put = (request or {}).get("PutRequest")
                attrs = put.get("Item") if put else ((request or {}).get("DeleteRequest") or {}).get("Key")
                key = _key_of(table, attrs)
                partition = _partition(table, key)
                with state.lock:
                    reason = state.admit(table, "write", partition, now)
                    if reason is None:
                        used = write_units(max(_stored_size(self, table, key), item_size(attrs) if put else 0))
                        state.charge(table, "write", partition, used, now)
                if reason:
                    reasons[name] = reason
                    unprocessed.setdefault(name, []).append(request)
                else:
                    admitted.setdefault(name, []).append(request)
                    units[name] = units.get(name, 0.0) + used
        for name in requested:
            meter = _Meter(self, tables[name], "BatchWriteItem")
            meter.throttled("write", len(unprocessed.get(name, [])), name not in admitted, now)
            meter.consumed("write", units.get(name, 0.0), now)
        if not admitted:
            name = next(iter(reasons))
            raise throttled_error(tables[name], reasons[name])
        self.body["RequestItems"] = admitted
        try:
            result = original(self)
        finally:
            self.body["RequestItems"] = requested
        result.result["UnprocessedItems"] = unprocessed
        if self.body.get("ReturnConsumedCapacity", "NONE") in ("TOTAL", "INDEXES"):
            result.result["ConsumedCapacity"] = [{"TableName": n, "CapacityUnits": u, "WriteCapacityUnits": u} for n, u in units.items()]
        else:
            result.result.pop("ConsumedCapacity", None)
        return result

    return wrapped


def _batch_get(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """BatchGetItem: each key admitted or returned in UnprocessedKeys; all throttled: the exception."""

    def wrapped(self: Any) -> Any:
        requested = self.body.get("RequestItems")
        if not settings.get(ENABLED) or not isinstance(requested, dict):
            return original(self)
        tables = {name: _table(self, name) for name in requested}
        if any(t is None for t in tables.values()):
            return original(self)
        now = time.time()
        admitted: dict[str, dict[str, Any]] = {}
        unprocessed: dict[str, dict[str, Any]] = {}
        units: dict[str, float] = {}
        reasons: dict[str, str] = {}
        for name, spec in requested.items():
            table, state = tables[name], capacity(tables[name])
            consistent = bool((spec or {}).get("ConsistentRead"))
            for key in (spec or {}).get("Keys", []):
                partition = _partition(table, _key_of(table, key))
                with state.lock:
                    reason = state.admit(table, "read", partition, now)
                    if reason is None:
                        used = read_units(_stored_size(self, table, _key_of(table, key)), consistent)
                        state.charge(table, "read", partition, used, now)
                into = unprocessed if reason else admitted
                into.setdefault(name, {**{k: v for k, v in spec.items() if k != "Keys"}, "Keys": []})["Keys"].append(key)
                if reason:
                    reasons[name] = reason
                else:
                    units[name] = units.get(name, 0.0) + used
        for name in requested:
            meter = _Meter(self, tables[name], "BatchGetItem")
            meter.throttled("read", len(unprocessed.get(name, {}).get("Keys", [])), name not in admitted, now)
            meter.consumed("read", units.get(name, 0.0), now)
        if not admitted:
            name = next(iter(reasons))
            raise throttled_error(tables[name], reasons[name])
        self.body["RequestItems"] = admitted
        try:
            result = original(self)
        finally:
            self.body["RequestItems"] = requested
        result.result["UnprocessedKeys"] = unprocessed
        if self.body.get("ReturnConsumedCapacity", "NONE") in ("TOTAL", "INDEXES"):
            result.result["ConsumedCapacity"] = [{"TableName": n, "CapacityUnits": u, "ReadCapacityUnits": u} for n, u in units.items()]
        else:
            result.result.pop("ConsumedCapacity", None)
        return result

    return wrapped


def _install_tables() -> None:
    """Tables get their throughput state when they are made; on-demand ones the lab's warm throughput."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    create_table, update_table = DynamoDBBackend.create_table, DynamoDBBackend.update_table

    def create_table_metered(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        table = create_table(self, name, *args, **kwargs)
        state = capacity(table)
        if on_demand(table) and not kwargs.get("warm_throughput"):
            table.warm_throughput = {"Status": "ACTIVE"}
            _raise_warm(table, {k: 2 * state.initial[k] for k in KINDS})
        return table

    def update_table_metered(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        table = update_table(self, name, *args, **kwargs)
        state = capacity(table)
        with state.lock:
            state.follow(table, time.time())
        return table

    DynamoDBBackend.create_table = create_table_metered
    DynamoDBBackend.update_table = update_table_metered

    describe_table = DynamoHandler.describe_table

    def describe_table_warm(self: Any) -> Any:
        table = _table(self, self.body.get("TableName"))
        if table is not None:
            state = capacity(table)
            with state.lock:
                state.follow(table, time.time())
                state.warm(table, time.time())
        return describe_table(self)

    DynamoHandler.describe_table = describe_table_warm


def _install_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler

    for attr, operation, kind in (("put_item", "PutItem", "write"), ("update_item", "UpdateItem", "write"),
                                  ("delete_item", "DeleteItem", "write"), ("get_item", "GetItem", "read")):
        setattr(DynamoHandler, attr, _single(operation, kind, getattr(DynamoHandler, attr)))
    DynamoHandler.query = _scan_or_query("Query", DynamoHandler.query)
    DynamoHandler.scan = _scan_or_query("Scan", DynamoHandler.scan)
    DynamoHandler.batch_write_item = _batch_write(DynamoHandler.batch_write_item)
    DynamoHandler.batch_get_item = _batch_get(DynamoHandler.batch_get_item)


def register() -> None:
    """The lab settings of DynamoDB throughput, with the service's figures as defaults."""
    settings.register(ENABLED, True, "meter DynamoDB requests and throttle them as the service does (false: plain moto, nothing throttles)")
    units = {"minimum": 1, "maximum": TABLE_QUOTA_UNITS, "integer": True}
    settings.register(BURST, SERVICE_BURST_S, "seconds of unused provisioned capacity a table keeps as burst capacity (DynamoDB: 300)",
                      minimum=1, maximum=3600)
    settings.register(INITIAL_WRU, SERVICE_INITIAL_PEAK_WRU,
                      "previous peak of a new on-demand table, write request units a second (DynamoDB: 2,000, so 4,000 at once)", **units)
    settings.register(INITIAL_RRU, SERVICE_INITIAL_PEAK_RRU,
                      "previous peak of a new on-demand table, read request units a second (DynamoDB: 6,000, so 12,000 at once)", **units)
    settings.register(PEAK_WINDOW, SERVICE_PEAK_WINDOW_S,
                      "seconds before a new on-demand peak counts as the previous peak (DynamoDB: double the previous peak within 30 minutes)",
                      minimum=1, maximum=86_400)
    settings.register(PARTITION_WCU, SERVICE_PARTITION_WCU, "write units a second one partition key can get (DynamoDB: 1,000 WCU per partition)",
                      **units)
    settings.register(METRICS_DELAY, 0, "seconds after a minute ends before its CloudWatch data points are published, whole "
                      "(0: the minute under way is published as it runs; AWS: a minute or more)", minimum=0, maximum=3600)
    settings.register(PARTITION_RCU, SERVICE_PARTITION_RCU, "read units a second one partition key can get (DynamoDB: 3,000 RCU per partition)",
                      **units)


def install() -> None:
    """Register the settings and meter moto's DynamoDB requests (idempotent)."""
    global _installed
    if _installed:
        return
    register()
    _install_tables()
    _install_requests()
    _installed = True
