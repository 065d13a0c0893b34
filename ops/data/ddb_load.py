"""Load on a DynamoDB table from items a drill owns, measured as its client sees it.

The items live in the marker key space (ops.data.ddb_markers): `dbops-marker#<drill id>#load#<seq>`
as a string key, a negative 38-digit number starting with -9 as a number key, the string's bytes as
a binary key. Item 0 is the drill's manifest — the number of load items it may write — put before
any of them and deleted after all of them, so whoever cleans up (the drill, or `dbops janitor` after
the drill was killed) reads it by key and knows every key to look at; the table is never scanned.
Every put is conditional (`attribute_not_exists` of the key, or an item this drill wrote): an item
in the key space that is not the drill's stops it, unchanged. Every delete is conditional on
`dbops_marker` naming the drill. A table with TTL on gets the TTL attribute a day ahead on every
item, so even a leftover nobody removes expires.

Requests go through a client with retries off (botocore's `max_attempts` counts retries: 0), so
each throttled request is seen and counted rather than hidden in a retry; the RetryAttempts of
every answer are summed all the same. Each write is one PutItem of an item under 1 KB (one write
unit), each read one strongly consistent GetItem (one read unit), and every answer carries the
ConsumedCapacity the service charged (ReturnConsumedCapacity=TOTAL; writes ask for INDEXES and count
the table's own units: an index's are priced per index, from the index's count).

CloudWatch is read as the service publishes DynamoDB's metrics: namespace AWS/DynamoDB, dimension
TableName, one-minute Sum (GetMetricStatistics, at most 1,440 data points a call).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from ops.data.ddb_markers import PREFIX
from ops.errors import CannotRun
from ops.permissions import declare, need

SPACE = "load"
DRILL_KIND = "throughput"
MANIFEST = 0
MAX_ITEMS = 999_999  # seq fits the 6 digits below the drill's digest in a number key
PAYLOAD_BYTES = 200  # an item well under 1 KB: one write unit, one read unit (strongly consistent)
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")
TTL_AHEAD_S = 86400
BATCH = 100
DELETE_CONCURRENCY = 8
_COUNT_LOCK = threading.Lock()
NAMESPACE = "AWS/DynamoDB"
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0


def owns(drill_id: str) -> bool:
    """Whether a drill id is a throughput drill's (the janitor removes its items by this module)."""
    return drill_id.startswith(f"{DRILL_KIND}-")


def source_name(drill_id: str) -> str:
    return f"{drill_id}:{SPACE}"


def item_key(table: dict[str, Any], drill_id: str, seq: int) -> dict[str, Any]:
    """The key of load item seq (0: the manifest) in a table described by DescribeTable."""
    if not 0 <= seq <= MAX_ITEMS:
        raise ValueError(f"load item {seq} is outside 0..{MAX_ITEMS}")
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    text = f"{PREFIX}{drill_id}#{SPACE}#{seq:06d}"
    key: dict[str, Any] = {}
    for k in table["KeySchema"]:
        t = types[k["AttributeName"]]
        if t == "N":
            digest = int(hashlib.sha256(f"{drill_id}#{SPACE}".encode()).hexdigest(), 16) % 10**31
            key[k["AttributeName"]] = {"N": str(-(9 * 10**37 + digest * 10**6 + seq))}
        elif t == "B":
            key[k["AttributeName"]] = {"B": text.encode()}
        else:
            key[k["AttributeName"]] = {"S": text}
    return key


def _hash_key(table: dict[str, Any]) -> str:
    return next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")


ITEM_ATTRIBUTES = ("dbops_marker", "dbops_seq", "dbops_written_at", "dbops_payload", "dbops_items")


# The throughput drill's load (its own items, by key), the table's replicas and capacity, CloudWatch's view.
CALLS = declare(
    "dynamodb.load",
    need("dynamodb:DescribeTable", on="dynamodb-table"),
    need("dynamodb:DescribeTimeToLive", on="dynamodb-table"),
    need("dynamodb:DescribeGlobalTable", on="dynamodb-global-table"),
    need("dynamodb:PutItem", on="dynamodb-table"),
    need("dynamodb:GetItem", on="dynamodb-table"),
    need("dynamodb:BatchGetItem", on="dynamodb-table"),
    need("dynamodb:DeleteItem", on="dynamodb-table"),
    need("cloudwatch:GetMetricStatistics", on="*"),
    need("application-autoscaling:DescribeScalableTargets", on="*"),
)


def indexes_written(table: dict[str, Any], ttl_attribute: str | None = None) -> tuple[str, ...]:
    """The global secondary indexes a drill's item lands in: every key attribute of the index is one the
    item carries (the table's key, the drill's own attributes, the TTL attribute). DynamoDB writes an
    item to such an index, which consumes that index's write capacity (and, on demand, is billed)."""
    carried = {k["AttributeName"] for k in table.get("KeySchema", [])} | set(ITEM_ATTRIBUTES) | ({ttl_attribute} if ttl_attribute else set())
    return tuple(g["IndexName"] for g in table.get("GlobalSecondaryIndexes") or []
                 if {k["AttributeName"] for k in g.get("KeySchema", [])} <= carried)


def table_units(answer: dict[str, Any]) -> float:
    """The table's own capacity units of an answer: with ReturnConsumedCapacity=INDEXES, ConsumedCapacity.Table
    (CapacityUnits is the table's and its indexes' together); else its CapacityUnits."""
    consumed = answer.get("ConsumedCapacity") or {}
    return float((consumed.get("Table") or {}).get("CapacityUnits") or consumed.get("CapacityUnits") or 0)


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    return (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None


# --- the table --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableInfo:
    """What the drill needs to know of a table, from DescribeTable and DescribeTimeToLive."""

    name: str
    status: str
    on_demand: bool
    provisioned_wcu: float
    provisioned_rcu: float
    warm_wcu: float | None  # WarmThroughput: what the table serves at once (None: not reported)
    warm_rcu: float | None
    max_on_demand_wru: float | None  # OnDemandThroughput, a ceiling the service throttles above
    max_on_demand_rru: float | None
    stream: bool
    ttl_attribute: str | None
    description: dict[str, Any] = field(repr=False, default_factory=dict)
    # Application Auto Scaling of a provisioned table's capacity: {"write": (min, max), "read": ...};
    # None when it could not be read.
    autoscaling: dict[str, tuple[float, float]] | None = field(default_factory=dict)
    replicas: tuple[str, ...] = ()  # regions of a global table's replicas (DescribeTable Replicas or DescribeGlobalTable), this one's left out
    # global secondary indexes whose key attributes the drill's items all carry: each takes every drill write
    indexes_written: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        return "on-demand" if self.on_demand else "provisioned"


@dataclass(frozen=True)
class MinuteSum:
    at: datetime  # the minute's start
    total: float


@dataclass
class Op:
    kind: str  # write | read
    sent: float  # seconds from the start of the load
    latency_s: float
    outcome: str  # ok | throttled | error:<code>
    units: float = 0.0
    retries: int = 0


@dataclass
class Tally:
    """Every request the load sent, and what happened to it."""

    ops: list[Op] = field(default_factory=list)
    not_sent: dict[str, int] = field(default_factory=lambda: {"write": 0, "read": 0})
    written: set[int] = field(default_factory=set)
    written_order: list[int] = field(default_factory=list)  # the same, in the order first written (reads pick from it)
    uncertain: set[int] = field(default_factory=set)  # writes that failed with no answer to trust (a timeout): maybe written
    collision: str | None = None  # a key of the drill's space held an item it did not write
    started_at: float = 0.0  # epoch seconds
    in_flight: int = 0  # requests sent and not yet answered (under lock)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, op: Op) -> None:
        with self.lock:
            self.ops.append(op)


def due_at(i: int, start: float, end: float, ramp_s: float, hold_s: float) -> float | None:
    """When (seconds from the start) the i-th request (from 0) of a stream is due: the rate rises
    linearly from `start` to `end` a second over ramp_s, then stays at `end` for hold_s. None: past the end."""
    if i < 0:
        return None
    ramp_n = (start + end) / 2 * ramp_s
    if i < ramp_n and ramp_s > 0:
        a = (end - start) / (2 * ramp_s)
        if abs(a) < 1e-12:
            return i / start if start > 0 else None
        return (-start + math.sqrt(start * start + 4 * a * i)) / (2 * a)
    if end <= 0:
        return None
    t = ramp_s + (i - ramp_n) / end
    return t if t < ramp_s + hold_s else None


def planned_requests(start: float, end: float, ramp_s: float, hold_s: float) -> int:
    """How many requests a stream sends over its ramp and hold."""
    if end <= 0:
        return 0
    return int(math.ceil((start + end) / 2 * ramp_s + end * hold_s))


class LoadTarget:
    """A DynamoDB table as a drill loads it: its description, its CloudWatch metrics, the drill's items."""

    def __init__(self, name: str, aws: Any) -> None:
        self.name = name
        self.aws = aws
        self.ddb = aws.client("dynamodb")
        self.cw = aws.client("cloudwatch")

    def load_client(self, connections: int = 10) -> Any:
        """The load's own client: no retries (each throttled request is counted), a connection per worker."""
        import botocore.config

        config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 0}, connect_timeout=CONNECT_TIMEOUT_S,
                                        read_timeout=READ_TIMEOUT_S, max_pool_connections=connections,
                                        ignore_configured_endpoint_urls=True)
        return self.aws.session.client("dynamodb", endpoint_url=self.aws.endpoint_url, region_name=self.aws.region, config=config)

    def info(self) -> TableInfo:
        from ops.errors import UsageError

        try:
            t = self.ddb.describe_table(TableName=self.name)["Table"]
        except self.ddb.exceptions.ResourceNotFoundException:
            raise UsageError(f"no DynamoDB table '{self.name}' in {self.aws.region}") from None
        ttl = self.ddb.describe_time_to_live(TableName=self.name).get("TimeToLiveDescription", {})
        mode = (t.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        pt = t.get("ProvisionedThroughput") or {}
        warm = t.get("WarmThroughput") or {}
        ceiling = t.get("OnDemandThroughput") or {}

        def positive(value: Any) -> float | None:
            return float(value) if isinstance(value, (int, float)) and value > 0 else None

        return TableInfo(
            name=self.name, status=t.get("TableStatus", "UNKNOWN"), on_demand=mode == "PAY_PER_REQUEST",
            provisioned_wcu=float(pt.get("WriteCapacityUnits") or 0), provisioned_rcu=float(pt.get("ReadCapacityUnits") or 0),
            warm_wcu=positive(warm.get("WriteUnitsPerSecond")), warm_rcu=positive(warm.get("ReadUnitsPerSecond")),
            max_on_demand_wru=positive(ceiling.get("MaxWriteRequestUnits")), max_on_demand_rru=positive(ceiling.get("MaxReadRequestUnits")),
            stream=bool((t.get("StreamSpecification") or {}).get("StreamEnabled")),
            ttl_attribute=ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
            description=t,
            autoscaling={} if mode == "PAY_PER_REQUEST" else self._autoscaling(),
            replicas=self._replicas(t),
            indexes_written=indexes_written(t, ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None),
        )

    def _replicas(self, t: dict[str, Any]) -> tuple[str, ...]:
        """The regions of the table's replicas, this one's left out. DescribeTable lists them (Replicas) for
        global tables of version 2019.11.21, which it names in GlobalTableVersion; a table of version
        2017.11.29 is described only by DescribeGlobalTable (its ReplicationGroup), and a table that is
        no global table answers GlobalTableNotFoundException there."""
        if t.get("GlobalTableVersion") or t.get("Replicas"):
            regions = [r.get("RegionName") for r in t.get("Replicas") or []]
        else:
            try:
                group = self.ddb.describe_global_table(GlobalTableName=self.name)["GlobalTableDescription"].get("ReplicationGroup")
            except Exception as exc:  # noqa: BLE001 — not found is "no replicas"; anything else must not be taken for it
                if error_code(exc) == "GlobalTableNotFoundException":
                    return ()
                from ops.errors import describe

                raise CannotRun(f"whether {self.name} is a global table of version 2017.11.29 could not be read ({describe(exc) or exc}): "
                                "its replicas' writes cannot be bounded") from None
            regions = [r.get("RegionName") for r in group or []]
        return tuple(r for r in regions if r and r != self.aws.region)

    def _autoscaling(self) -> dict[str, tuple[float, float]] | None:
        """The table's scalable capacity: the drill's load may raise it, and what it is raised to is paid."""
        import botocore.exceptions

        dims = {"dynamodb:table:WriteCapacityUnits": "write", "dynamodb:table:ReadCapacityUnits": "read"}
        try:
            client = self.aws.client("application-autoscaling")
            found = client.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=[f"table/{self.name}"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return None
        return {dims[t["ScalableDimension"]]: (float(t["MinCapacity"]), float(t["MaxCapacity"]))
                for t in found.get("ScalableTargets", []) if t.get("ScalableDimension") in dims}

    # --- CloudWatch ---------------------------------------------------------------------------------

    def minute_sums(self, metric: str, start: datetime, end: datetime) -> list[MinuteSum]:
        """One-minute Sum of an AWS/DynamoDB metric of the table, oldest first (a day per request)."""
        out: list[MinuteSum] = []
        chunk = timedelta(minutes=1440)
        t = start
        while t < end:
            stop = min(end, t + chunk)
            points = self.cw.get_metric_statistics(
                Namespace=NAMESPACE, MetricName=metric, Dimensions=[{"Name": "TableName", "Value": self.name}],
                StartTime=t, EndTime=stop, Period=60, Statistics=["Sum"])["Datapoints"]
            out += [MinuteSum(p["Timestamp"].astimezone(timezone.utc), float(p["Sum"])) for p in points]
            t = stop
        return sorted(out, key=lambda m: m.at)

    def total(self, metric: str, start: datetime, end: datetime) -> float | None:
        """The metric's Sum from start to end; None when CloudWatch has no data point in it."""
        sums = self.minute_sums(metric, start, end)
        return sum(m.total for m in sums) if sums else None

    # --- the drill's items --------------------------------------------------------------------------

    def _item(self, table: dict[str, Any], info: TableInfo, drill_id: str, seq: int, **extra: Any) -> dict[str, Any]:
        now = time.time()
        item = item_key(table, drill_id, seq) | {
            "dbops_marker": {"S": source_name(drill_id)}, "dbops_seq": {"N": str(seq)},
            "dbops_written_at": {"N": f"{now:.6f}"}, **extra,
        }
        if info.ttl_attribute and info.ttl_attribute not in item:
            item[info.ttl_attribute] = {"N": str(int(now) + TTL_AHEAD_S)}
        return item

    def _put(self, client: Any, table: dict[str, Any], item: dict[str, Any], drill_id: str) -> dict[str, Any]:
        return client.put_item(
            TableName=self.name, Item=item, ReturnConsumedCapacity="INDEXES",
            ConditionExpression="attribute_not_exists(#k) OR dbops_marker = :mine",
            ExpressionAttributeNames={"#k": _hash_key(table)}, ExpressionAttributeValues={":mine": {"S": source_name(drill_id)}})

    def write_manifest(self, info: TableInfo, drill_id: str, items: int, deadline_s: float = 60.0) -> tuple[float, int]:
        """Put the manifest (retrying throttles until the deadline). Returns (write units consumed, attempts throttled)."""
        item = self._item(info.description, info, drill_id, MANIFEST, dbops_items={"N": str(items)})
        client = self.load_client()
        throttles = [0]
        answer = _until(deadline_s, lambda: self._put(client, info.description, item, drill_id), self._collision(drill_id, MANIFEST),
                        throttles)
        return table_units(answer), throttles[0]

    def _collision(self, drill_id: str, seq: int) -> Callable[[BaseException], None]:
        def check(exc: BaseException) -> None:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise CannotRun(f"the key of load item {seq} of drill {drill_id} already holds an item in {self.name} that the drill "
                                "did not write; nothing was overwritten, the drill stops") from None
        return check

    def run(self, info: TableInfo, drill_id: str, items: int, writes: tuple[float, float], reads: tuple[float, float],
            ramp_s: float, hold_s: float, workers: int, stop: threading.Event, progress: Callable[[str], None],
            tally: Tally | None = None) -> Tally:
        """Send the writes and reads on schedule from `workers` threads until the schedule ends or stop is set.

        writes/reads are (rate at the start of the ramp, rate at the multiple), requests a second. A
        request is sent when due, or as soon as a worker is free; nothing is sent after the schedule's
        end plus a second: what is left is counted as not sent.
        """
        table = info.description
        client = self.load_client(workers)
        tally = tally if tally is not None else Tally()  # given: another thread reads it while the load runs
        streams = {"write": writes, "read": reads}
        nxt = {"write": 0, "read": 0}
        due = {k: due_at(0, *streams[k], ramp_s, hold_s) if streams[k][1] > 0 else None for k in streams}
        pick = threading.Lock()
        end = ramp_s + hold_s
        start = time.monotonic()
        tally.started_at = time.time()
        payload = "x" * PAYLOAD_BYTES

        def take() -> tuple[str, int, float] | None:
            with pick:
                waiting = [(t, k) for k, t in due.items() if t is not None]
                if not waiting:
                    return None
                t, kind = min(waiting)
                i = nxt[kind]
                nxt[kind] = i + 1
                due[kind] = due_at(i + 1, *streams[kind], ramp_s, hold_s)
                return kind, i, t

        def one(kind: str, i: int) -> None:
            if kind == "write":
                seq = i % items + 1
                item = self._item(table, info, drill_id, seq, dbops_payload={"S": payload})
                call: Callable[[], dict[str, Any]] = lambda: self._put(client, table, item, drill_id)  # noqa: E731
            else:
                with tally.lock:
                    n = len(tally.written_order)
                    seq = tally.written_order[i % n] if n else MANIFEST
                key = item_key(table, drill_id, seq)
                call = lambda: client.get_item(TableName=self.name, Key=key, ConsistentRead=True,  # noqa: E731
                                                  ReturnConsumedCapacity="TOTAL")
            with tally.lock:
                tally.in_flight += 1
            sent = time.monotonic()
            try:
                answer = call()
                op = Op(kind, sent - start, time.monotonic() - sent, "ok",
                        table_units(answer),
                        int(answer.get("ResponseMetadata", {}).get("RetryAttempts") or 0))
                if kind == "write":
                    with tally.lock:
                        if seq not in tally.written:
                            tally.written.add(seq)
                            tally.written_order.append(seq)
            except Exception as exc:  # noqa: BLE001 — every answer is counted by its class
                code = error_code(exc)
                retries = int(((getattr(exc, "response", None) or {}).get("ResponseMetadata") or {}).get("RetryAttempts") or 0)
                outcome = "throttled" if code in THROTTLE_CODES else f"error:{code or type(exc).__name__}"
                op = Op(kind, sent - start, time.monotonic() - sent, outcome, 0.0, retries)
                if code == "ConditionalCheckFailedException" and kind == "write":
                    tally.collision = (f"the key of load item {seq} of drill {drill_id} already holds an item in {self.name} "
                                       "that the drill did not write; nothing was overwritten, the drill stops")
                elif outcome != "throttled" and kind == "write":
                    with tally.lock:
                        tally.uncertain.add(seq)  # cleanup deletes it too, conditionally
                    stop.set()
            with tally.lock:  # counted and no longer in flight at once: a reader never sees it in neither
                tally.ops.append(op)
                tally.in_flight -= 1

        def worker() -> None:
            while not stop.is_set():
                job = take()
                if job is None:
                    return
                kind, i, t = job
                wait = t - (time.monotonic() - start)
                if wait > 0 and stop.wait(wait):
                    return
                if time.monotonic() - start > end + 1.0:
                    with tally.lock:
                        tally.not_sent[kind] += 1
                    continue
                one(kind, i)

        threads = [threading.Thread(target=worker, name=f"dbops-load-{n}", daemon=True) for n in range(workers)]
        for th in threads:
            th.start()
        reported = 0.0
        try:
            while any(th.is_alive() for th in threads):
                for th in threads:
                    th.join(timeout=0.2)  # short joins: an interrupt reaches the main thread at once
                elapsed = time.monotonic() - start
                if elapsed - reported >= 5:
                    reported = elapsed
                    with tally.lock:
                        sent = len(tally.ops)
                        throttled = sum(o.outcome == "throttled" for o in tally.ops)
                    progress(f"{elapsed:.0f}s of {end:.0f}s: {sent} requests, {throttled} throttled")
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=READ_TIMEOUT_S + 1)
        for kind in streams:  # what the schedule still had when it stopped
            tally.not_sent[kind] += max(0, planned_requests(*streams[kind], ramp_s, hold_s) - nxt[kind])
        return tally

    def remove(self, info: TableInfo, drill_id: str, written: set[int] | None = None, deadline_s: float = 300.0) -> Removed:
        """Delete the drill's items (those written, else all the manifest names), then the manifest."""
        return remove(self.load_client(), info.description, drill_id, written, deadline_s)


# --- cleanup, by the drill and by the janitor ------------------------------------------------------------


def _until(deadline_s: float, call: Callable[[], Any], on_error: Callable[[BaseException], None] | None = None,
           throttles: list[int] | None = None) -> Any:
    """call() until it is not throttled, backing off from 50 ms to 2 s, for at most deadline_s
    (each throttled attempt counted in throttles[0])."""
    deadline = time.monotonic() + deadline_s
    pause = 0.05
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 — throttles are waited out, anything else is raised
            if on_error is not None:
                on_error(exc)
            throttled = error_code(exc) in THROTTLE_CODES
            if throttled and throttles is not None:
                with _COUNT_LOCK:
                    throttles[0] += 1
            if not throttled or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2.0, pause * 2)


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def manifest(ddb: Any, table: dict[str, Any], drill_id: str, deadline_s: float = 60.0) -> int | None:
    """How many load items the drill's manifest names (None: no manifest: nothing was written)."""
    answer = _until(deadline_s, lambda: ddb.get_item(TableName=table["TableName"], Key=item_key(table, drill_id, MANIFEST),
                                                     ConsistentRead=True))
    item = answer.get("Item")
    if not item or item.get("dbops_marker", {}).get("S") != source_name(drill_id):
        return None
    return int(item.get("dbops_items", {}).get("N", "0"))


def present(ddb: Any, table: dict[str, Any], drill_id: str, seqs: list[int], deadline_s: float = 120.0) -> set[int]:
    """Which of the drill's load items exist, read by key (BatchGetItem, unprocessed keys retried)."""
    name = table["TableName"]
    found: set[int] = set()
    deadline = time.monotonic() + deadline_s
    for batch in _batches(seqs, BATCH):
        request: dict[str, Any] = {name: {"Keys": [item_key(table, drill_id, s) for s in batch], "ConsistentRead": True,
                                          "ProjectionExpression": "#k, dbops_marker, dbops_seq",
                                          "ExpressionAttributeNames": {"#k": _hash_key(table)}}}
        pause = 0.05
        while request:
            answer = _until(max(1.0, deadline - time.monotonic()), lambda r=request: ddb.batch_get_item(RequestItems=r))
            for item in answer.get("Responses", {}).get(name, []):
                if item.get("dbops_marker", {}).get("S") == source_name(drill_id):
                    found.add(int(item["dbops_seq"]["N"]))
            request = answer.get("UnprocessedKeys") or {}
            if request:
                if time.monotonic() > deadline:
                    raise CannotRun(f"{name}: keys of drill {drill_id}'s load items left unread after {deadline_s:.0f}s (throttled)")
                time.sleep(pause)
                pause = min(2.0, pause * 2)
    return found


@dataclass(frozen=True)
class Removed:
    items: int  # load items deleted (the manifest is not counted)
    write_units: float  # what the deletes consumed
    throttled: int  # delete attempts throttled and retried


def remove(ddb: Any, table: dict[str, Any], drill_id: str, written: set[int] | None = None,
           deadline_s: float = 300.0) -> Removed:
    """Delete a throughput drill's load items and then its manifest, each only if it is the drill's.

    `written`: the items the drill knows it wrote; None (the janitor) reads the manifest and looks up
    every item it names by key. Throttled deletes are retried until deadline_s; items left then raise
    CannotRun (the drill record stays for the janitor).
    """
    name = table["TableName"]
    deadline = time.monotonic() + deadline_s
    if written is None:
        count = manifest(ddb, table, drill_id)
        if count is None:
            return Removed(0, 0.0, 0)
        written = present(ddb, table, drill_id, list(range(1, min(count, MAX_ITEMS) + 1)))
    throttles = [0]
    condition = {"ConditionExpression": "dbops_marker = :mine",
                 "ExpressionAttributeValues": {":mine": {"S": source_name(drill_id)}}, "ReturnConsumedCapacity": "INDEXES"}

    def delete(seq: int) -> float | None:
        """Write units the delete consumed; None: not there, or not the drill's (left alone)."""
        try:
            answer = _until(max(0.0, deadline - time.monotonic()),
                            lambda: ddb.delete_item(TableName=name, Key=item_key(table, drill_id, seq), **condition), throttles=throttles)
        except Exception as exc:  # noqa: BLE001 — throttled past the deadline: pending, for the janitor
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            if error_code(exc) in THROTTLE_CODES:
                raise CannotRun(f"{name}: item(s) of drill {drill_id} not deleted within {deadline_s:.0f}s: "
                                "the table kept throttling the deletes") from None
            raise
        return table_units(answer)

    with ThreadPoolExecutor(max_workers=DELETE_CONCURRENCY) as pool:
        results = list(pool.map(delete, sorted(written)))
    manifest_units = delete(MANIFEST)  # last: while any item is left, the manifest names it
    done = [u for u in results if u is not None]
    return Removed(len(done), sum(done) + (manifest_units or 0.0), throttles[0])
