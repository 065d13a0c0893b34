"""What the lab's estate costs, day by day: the ledger behind the lab's Cost Explorer and Budgets.

Runs inside the emulator. Every resource in the emulator's backends that AWS bills by time is
turned into a `Charge` priced from the price catalog `dbops cost estimate` uses
(ops/cost/prices.json, its us-east-1 list prices, for every region):

| resource (moto backend) | service / usage type | price |
|---|---|---|
| Aurora DB instance, by class | RDS `InstanceUsage:<class>` | instance-hour; x1.3 on an I/O-Optimized cluster (`InstanceUsageIOOptimized:<class>`) |
| Aurora Serverless v2 instance | RDS `Aurora:ServerlessV2Usage` | ACU-hour x the assumed ACUs, within the cluster's min..max |
| Aurora cluster | RDS `Aurora:StorageUsage`, `Aurora:StorageIOUsage`, `Aurora:BackupUsage` (I/O-Optimized: `Aurora:IO-OptimizedStorageUsage`, no I/O) | GB-month, million requests |
| DynamoDB table | DynamoDB `TimedStorage-ByteHrs`, `WriteRequestUnits`/`ReadRequestUnits` (on demand) or `WriteCapacityUnit-Hrs`/`ReadCapacityUnit-Hrs` (table + GSIs), `TimedPITRStorage-ByteHrs` while PITR is on | GB-month, million request units, capacity-unit-hour |
| KMS customer managed key (not pending deletion) | KMS `<region>-KMS-Keys` | key-month |
| CloudWatch alarm | CloudWatch `CW:AlarmMonitorUsage`, one per metric it reads | alarm metric-month |
| CloudWatch log group | CloudWatch `DataProcessing-Bytes` (the bytes put, on their day), `TimedStorage-ByteHrs` (bytes stored) | GB ingested, GB-month |
| Secrets Manager secret (not marked for deletion) | Secrets Manager `AWSSecretsManager-Secrets` | secret-month |
| AWS Backup vault | AWS Backup `WarmStorage-ByteHrs` | GB-month |
| S3 bucket of the analytics lake (tag dbops:component = analytics-lake) | S3 `TimedStorage-ByteHrs`, `Requests-Tier1` (PUT), `Requests-Tier2` (GET) | GB-month, 1,000 requests |
| Athena workgroup of the analytics lake (same tag) | Athena `DataScannedInTB` (each query billed between the minimum and the workgroup's cutoff) | TB scanned |

Usage types outside us-east-1 carry the region's prefix (`USW2-InstanceUsage:...`), as AWS
writes them. Hourly prices are charged for the hours of each day a resource existed; monthly
prices are spread evenly over the days of their month, so a whole month costs the monthly price.

Schedule (`aurora_schedule`, which `dbops lab up` sets to the lab env's [envs.lab.schedule]): the
instances of the estate's Aurora clusters (those with `cost_history_tag`) are billed for the hours of
the window's openings only, over their history and a year ahead (what the forecast reads), whatever
they did in the emulator's own few minutes; a stopped cluster outside the estate bills storage only.

Quantities the emulator does not hold at production scale (Aurora storage, I/O and backup GB,
DynamoDB storage GB and request units, AWS Backup GB, the lake's GB, requests and bytes scanned) are the usage assumptions of
`dbops cost estimate` (ops/cost/usage.toml, per table where it names one); log bytes are what
the emulator's log groups hold. So the lab and the estimate price the same resources alike,
and the figures are deterministic: they depend on the date and on what exists, nothing else.

History: the emulator's resources were all made minutes ago. Resources that carry the tag of
the setting `cost_history_tag` (`managed-by=dbops`, the tag of the lab env's Terraform; empty:
every resource) are billed as if created `cost_history_days` days (62 by default: last month
and this month are whole) before they were — the estate as if applied that long ago; other
resources (a drill's restore, a test's table) are billed from their creation. Each resource is
priced as it is now for its whole history (a class or billing mode changed today rewrites it),
and a deleted resource leaves no history: the emulator forgets it.

Scenarios (`cost_scenario`): `overrun` adds a db.r6g.xlarge instance-hour charge from the first
of the month on (a forgotten restore), `anomaly` a one-day burst of 12.8 million DynamoDB write
request units yesterday, on the first table (8 USD at list price), which GetAnomalies reports.
"""

from __future__ import annotations

import calendar
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Iterable

from ops.cost import prices
from ops.cost.estimate import MB_PER_TB, Pricer, in_lake
from ops.window import Window

RDS = "Amazon Relational Database Service"
DYNAMODB = "Amazon DynamoDB"
KMS = "AWS Key Management Service"
CLOUDWATCH = "AmazonCloudWatch"
SECRETS = "AWS Secrets Manager"
BACKUP = "AWS Backup"
S3 = "Amazon Simple Storage Service"
ATHENA = "Amazon Athena"

DAY_S = 86400.0
GB = 1024.0 ** 3
OVERRUN_CLASS = "db.r6g.xlarge"
ANOMALY_WRITES_MILLION = 12.8
IO_OPTIMIZED = "aurora-iopt1"
SCHEDULE_AHEAD_DAYS = 400

def usage_type(region: str, name: str) -> str:
    """The usage type as AWS writes it in region; a region without a known prefix gets its name upper-cased."""
    try:
        return prices.usage_type(region, name)
    except ValueError:
        return f"{region.upper()}-{name}"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


@dataclass(frozen=True)
class Charge:
    """One billed line of one resource: `usd` and `quantity` per hour, per month, or once (on `start`'s day)."""

    service: str
    usage_type: str
    region: str
    account: str
    unit: str
    usd: float
    quantity: float
    per: str  # "hour" | "month" | "once"
    start: datetime
    end: datetime | None = None
    tags: tuple[tuple[str, str], ...] = ()
    resource: str = ""
    scenario: str = ""  # the cost scenario that adds it, if one does

    @property
    def recurring(self) -> bool:
        return self.per != "once"

    def tag(self, key: str) -> str | None:
        return dict(self.tags).get(key)

    def on(self, day: date) -> tuple[float, float]:
        """Cost and quantity billed on one UTC day."""
        lo, hi = day_start(day), day_start(day + timedelta(days=1))
        if self.per == "once":
            return (self.usd, self.quantity) if lo <= self.start < hi else (0.0, 0.0)
        begin, finish = max(self.start, lo), min(self.end or hi, hi)
        if finish <= begin:
            return 0.0, 0.0
        share = (finish - begin).total_seconds() / DAY_S
        if self.per == "hour":
            return self.usd * 24 * share, self.quantity * 24 * share
        month_share = share / days_in_month(day)
        return self.usd * month_share, self.quantity * month_share

    def full_day(self, day: date) -> tuple[float, float]:
        """What a whole day of it costs (for a forecast): nothing for a one-off charge."""
        if self.per == "hour":
            return self.usd * 24, self.quantity * 24
        if self.per == "month":
            n = days_in_month(day)
            return self.usd / n, self.quantity / n
        return 0.0, 0.0


@dataclass(frozen=True)
class Model:
    """How the lab bills: prices, usage assumptions, history and scenario (from the lab settings)."""

    catalog: dict[str, Any]
    usage: dict[str, Any]
    history_days: float = 62.0
    history_tag: str = "managed-by=dbops"
    scenario: str = "normal"
    schedule: Window | None = None  # the window the estate's Aurora clusters run in (setting aurora_schedule)

    def backdated(self, tags: dict[str, str]) -> bool:
        if not self.history_tag:
            return True
        key, sep, value = self.history_tag.partition("=")
        return key in tags and (not sep or tags[key] == value)


@dataclass
class Ledger:
    """The charges of one account at one moment, and what they add up to."""

    account: str
    now: datetime
    charges: list[Charge] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)  # resources the catalog cannot price, with why

    @property
    def today(self) -> date:
        return self.now.date()

    def select(self, keep: Callable[[Charge], bool]) -> "Ledger":
        return Ledger(self.account, self.now, [c for c in self.charges if keep(c)], self.unpriced)

    def actual(self, start: date, end: date) -> float:
        """Cost over [start, end), complete days only (days before today)."""
        total = 0.0
        for day in days(start, min(end, self.today)):
            total += sum(c.on(day)[0] for c in self.charges)
        return total

    def forecast(self, start: date, end: date) -> float:
        """Cost over [start, end) of what is billed now, a whole day at a time; a charge with an end (a
        scheduled opening) for the part of each day it runs."""
        running = [c for c in self.charges if c.recurring and c.end is None]
        openings = [c for c in self.charges if c.recurring and c.end is not None and c.end > day_start(start)]
        return sum(sum(c.full_day(day)[0] for c in running) + sum(c.on(day)[0] for c in openings) for day in days(start, end))

    def history_start(self) -> datetime | None:
        starts = [c.start for c in self.charges if c.recurring]
        return min(starts) if starts else None

    def has_billing_cycle(self) -> bool:
        """A whole calendar month billed before this one (Cost Explorer's condition for a forecast)."""
        first = self.today.replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        start = self.history_start()
        return start is not None and start <= day_start(previous)


def days(start: date, end: date) -> Iterable[date]:
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def _pairs(tags: Any) -> dict[str, str]:
    """Tags as moto keeps them (a dict, or a list of Key/Value or TagKey/TagValue) as a dict."""
    if not tags:
        return {}
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    out = {}
    for tag in tags:
        key = tag.get("Key", tag.get("TagKey"))
        if key is not None:
            out[str(key)] = str(tag.get("Value", tag.get("TagValue", "")))
    return out


def _regions(backends: Any, account: str) -> list[tuple[str, Any]]:
    per_account = dict.get(backends, account)
    return list(dict.items(per_account)) if per_account is not None else []


class _Builder:
    def __init__(self, account: str, now: datetime, model: Model) -> None:
        self.ledger = Ledger(account, now)
        self.model = model
        self.pricer = Pricer(model.catalog, model.usage)

    def start(self, created: Any, tags: dict[str, str]) -> datetime:
        begin = _utc(created)
        if self.model.backdated(tags):
            begin -= timedelta(days=self.model.history_days)
        return begin

    def add(self, service: str, region: str, name: str, unit: str, usd: float, quantity: float, per: str,
            start: datetime, tags: dict[str, str], resource: str, raw_usage_type: bool = False, scenario: str = "",
            end: datetime | None = None) -> None:
        if usd <= 0 and quantity <= 0:
            return
        self.ledger.charges.append(Charge(service, name if raw_usage_type else usage_type(region, name), region,
                                          self.ledger.account, unit, usd, quantity, per, start, end,
                                          tags=tuple(sorted(tags.items())), resource=resource, scenario=scenario))

    def unpriced(self, resource: str, why: str) -> None:
        self.ledger.unpriced.append(f"{resource}: {why}")


def ledger(account: str, model: Model, now: datetime | None = None) -> Ledger:
    """Every charge of the account's resources in the emulator, and the scenario's."""
    now = now or datetime.now(timezone.utc)
    for attempt in range(3):  # another request thread may add or drop a resource meanwhile
        try:
            b = _Builder(account, now, model)
            _aurora(b)
            _dynamodb(b)
            _kms(b)
            _cloudwatch(b)
            _logs(b)
            _secrets(b)
            _backup(b)
            _lake(b)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    _scenario(b)
    return b.ledger


def _aurora(b: _Builder) -> None:
    from moto.rds.models import rds_backends

    p = b.pricer
    for region, backend in _regions(rds_backends, b.ledger.account):
        clusters = {c.db_cluster_identifier: c for c in list(backend.clusters.values())}
        for cluster in clusters.values():
            if not str(cluster.engine or "").startswith("aurora"):
                b.unpriced(cluster.db_cluster_arn, f"engine {cluster.engine}: only Aurora clusters are priced")
                continue
            tags = _pairs(cluster.tags)
            start, arn = b.start(cluster.created, tags), cluster.db_cluster_arn
            gb, backup_gb = p.use("aurora", "storage_gb"), p.use("aurora", "backup_gb")
            if getattr(cluster, "storage_type", None) == IO_OPTIMIZED:
                b.add(RDS, region, "Aurora:IO-OptimizedStorageUsage", "GB-Mo", gb * p.price("rds.aurora.storage.iopt1"), gb,
                      "month", start, tags, arn)
            else:
                io = p.use("aurora", "io_million_per_month")
                b.add(RDS, region, "Aurora:StorageUsage", "GB-Mo", gb * p.price("rds.aurora.storage"), gb, "month", start, tags, arn)
                b.add(RDS, region, "Aurora:StorageIOUsage", "IOs", io * p.price("rds.aurora.io"), io * 1e6, "month", start, tags, arn)
            b.add(RDS, region, "Aurora:BackupUsage", "GB-Mo", backup_gb * p.price("rds.aurora.backup_storage"), backup_gb,
                  "month", start, tags, arn)
        for db in list(backend.databases.values()):
            cluster = clusters.get(getattr(db, "db_cluster_identifier", None) or "")
            arn = db.db_instance_arn
            if cluster is None or not str(cluster.engine or "").startswith("aurora"):
                b.unpriced(arn, "only DB instances of Aurora clusters are priced")
                continue
            window = b.model.schedule if b.model.backdated(_pairs(cluster.tags)) else None
            if window is None and (db.status == "stopped" or cluster.status == "stopped"):
                continue  # a stopped cluster bills its storage only
            if db.engine != "aurora-postgresql":
                b.unpriced(arn, f"engine {db.engine}: the catalog prices Aurora PostgreSQL instances only")
                continue
            tags = _pairs(db.tags)
            start = b.start(db.created, tags)
            iopt = getattr(cluster, "storage_type", None) == IO_OPTIMIZED
            factor = p.factor("rds.aurora.iopt1.instance_factor") if iopt else 1.0
            cls = db.db_instance_class
            if cls == "db.serverless":
                scaling = getattr(cluster, "serverless_v2_scaling_configuration", None) or {}
                low, high = scaling.get("MinCapacity"), scaling.get("MaxCapacity")
                if low is None or high is None:
                    b.unpriced(arn, "db.serverless without a ServerlessV2ScalingConfiguration")
                    continue
                acu = min(max(p.use("aurora", "serverless_acu_average"), float(low)), float(high))
                name = "Aurora:ServerlessV2IOOptimizedUsage" if iopt else "Aurora:ServerlessV2Usage"
                _hourly(b, window, region, name, "ACU-Hr", acu * p.price("rds.aurora-postgresql.serverless-v2.acu") * factor, acu,
                        start, tags, arn)
                continue
            key = f"rds.aurora-postgresql.{cls}"
            if key not in b.model.catalog["prices"]:
                b.unpriced(arn, f"no price for {cls} in the catalog")
                continue
            name = f"InstanceUsageIOOptimized:{cls}" if iopt else f"InstanceUsage:{cls}"
            _hourly(b, window, region, name, "Hrs", p.price(key) * factor, 1.0, start, tags, arn)


def _hourly(b: _Builder, window: Window | None, region: str, name: str, unit: str, usd: float, quantity: float,
            start: datetime, tags: dict[str, str], arn: str) -> None:
    """An instance's hours: every hour, or under a schedule the window's openings only, up to a year ahead
    (Cost Explorer forecasts 12 months at most)."""
    if window is None:
        b.add(RDS, region, name, unit, usd, quantity, "hour", start, tags, arn)
        return
    for opens, closes in window.openings(start, b.ledger.now + timedelta(days=SCHEDULE_AHEAD_DAYS)):
        b.add(RDS, region, name, unit, usd, quantity, "hour", max(opens, start), tags, arn, end=closes)


def _dynamodb(b: _Builder) -> None:
    from moto.dynamodb.models import dynamodb_backends

    p = b.pricer
    for region, backend in _regions(dynamodb_backends, b.ledger.account):
        for table in list(backend.tables.values()):
            name, arn = table.name, table.table_arn
            tags = _pairs(table.tags)
            start = b.start(table.created_at, tags)
            gb = p.use("dynamodb", "storage_gb", name)
            b.add(DYNAMODB, region, "TimedStorage-ByteHrs", "GB-Mo", gb * p.price("dynamodb.storage"), gb, "month", start, tags, arn)
            if table.billing_mode == "PAY_PER_REQUEST":
                w, r = p.use("dynamodb", "write_million_per_month", name), p.use("dynamodb", "read_million_per_month", name)
                b.add(DYNAMODB, region, "WriteRequestUnits", "WriteRequestUnits", w * p.price("dynamodb.ondemand.write"), w * 1e6,
                      "month", start, tags, arn)
                b.add(DYNAMODB, region, "ReadRequestUnits", "ReadRequestUnits", r * p.price("dynamodb.ondemand.read"), r * 1e6,
                      "month", start, tags, arn)
            else:
                wcu = float(table.throughput.get("WriteCapacityUnits") or 0)
                rcu = float(table.throughput.get("ReadCapacityUnits") or 0)
                for index in table.global_indexes:
                    throughput = getattr(index, "throughput", None) or {}
                    wcu += float(throughput.get("WriteCapacityUnits") or 0)
                    rcu += float(throughput.get("ReadCapacityUnits") or 0)
                b.add(DYNAMODB, region, "WriteCapacityUnit-Hrs", "WriteCapacityUnit-Hrs", wcu * p.price("dynamodb.provisioned.wcu"),
                      wcu, "hour", start, tags, arn)
                b.add(DYNAMODB, region, "ReadCapacityUnit-Hrs", "ReadCapacityUnit-Hrs", rcu * p.price("dynamodb.provisioned.rcu"),
                      rcu, "hour", start, tags, arn)
            pitr = table.continuous_backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
            if pitr == "ENABLED":
                b.add(DYNAMODB, region, "TimedPITRStorage-ByteHrs", "GB-Mo", gb * p.price("dynamodb.pitr"), gb, "month", start, tags, arn)


def _kms(b: _Builder) -> None:
    from moto.kms.models import kms_backends

    for region, backend in _regions(kms_backends, b.ledger.account):
        for key in list(backend.keys.values()):
            # AWS managed keys are free; so are keys pending deletion.
            if key.key_manager != "CUSTOMER" or key.key_state in ("PendingDeletion", "PendingReplicaDeletion"):
                continue
            tags = backend.tagger.get_tag_dict_for_resource(key.id)
            b.add(KMS, region, f"{region}-KMS-Keys", "Keys", b.pricer.price("kms.key"), 1.0, "month",
                  b.start(key.creation_date, tags), tags, key.arn, raw_usage_type=True)


def _cloudwatch(b: _Builder) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    for region, backend in _regions(cloudwatch_backends, b.ledger.account):
        for alarm in list(backend.alarms.values()):
            metrics = sum(1 for q in alarm.metric_data_queries if getattr(q, "metric_stat", None)) or 1
            tags = backend.tagger.get_tag_dict_for_resource(alarm.alarm_arn)
            b.add(CLOUDWATCH, region, "CW:AlarmMonitorUsage", "Alarms", metrics * b.pricer.price("cloudwatch.alarm_metric"),
                  float(metrics), "month", b.start(alarm.configuration_updated_timestamp, tags), tags, alarm.alarm_arn)


def _logs(b: _Builder) -> None:
    from moto.logs.models import logs_backends

    ingest, store = b.pricer.price("cloudwatch.logs.ingest"), b.pricer.price("cloudwatch.logs.storage")
    for region, backend in _regions(logs_backends, b.ledger.account):
        for group in list(backend.groups.values()):
            tags = backend.tagger.get_tag_dict_for_resource(group.arn)
            streams = list(group.streams.values())
            stored = sum(s.stored_bytes for s in streams) / GB
            b.add(CLOUDWATCH, region, "TimedStorage-ByteHrs", "GB-Mo", stored * store, stored, "month",
                  b.start(group.creation_time, tags), tags, group.arn)
            put: dict[date, float] = {}
            for stream in streams:
                for event in list(stream.events):
                    when = datetime.fromtimestamp(event.ingestion_time / 1000, tz=timezone.utc).date()
                    put[when] = put.get(when, 0.0) + len(event.message) / GB
            for when, gbs in sorted(put.items()):
                b.add(CLOUDWATCH, region, "DataProcessing-Bytes", "GB", gbs * ingest, gbs, "once", day_start(when), tags, group.arn)


def _secrets(b: _Builder) -> None:
    from moto.secretsmanager.models import secretsmanager_backends

    for region, backend in _regions(secretsmanager_backends, b.ledger.account):
        seen = set()
        for secret in list(backend.secrets.values()):
            arn = getattr(secret, "arn", None)
            if arn in seen or getattr(secret, "deleted_date", None) is not None or not hasattr(secret, "created_date"):
                continue
            seen.add(arn)
            tags = _pairs(secret.tags)
            b.add(SECRETS, region, "AWSSecretsManager-Secrets", "Secrets", b.pricer.price("secretsmanager.secret"), 1.0, "month",
                  b.start(secret.created_date, tags), tags, str(arn))


def _backup(b: _Builder) -> None:
    from moto.backup.models import backup_backends

    gb = b.pricer.use("backup", "storage_gb")
    for region, backend in _regions(backup_backends, b.ledger.account):
        for vault in list(backend.vaults.values()):
            tags = backend.tagger.get_tag_dict_for_resource(vault.backup_vault_arn)
            b.add(BACKUP, region, "WarmStorage-ByteHrs", "GB-Mo", gb * b.pricer.price("backup.storage"), gb, "month",
                  b.start(vault.creation_date, tags), tags, vault.backup_vault_arn)


def _lake(b: _Builder) -> None:
    """The analytics lake's bucket and workgroup, found by the lake's tag, billed as `cost estimate` prices them."""
    from moto.athena.models import athena_backends
    from moto.s3.models import s3_backends

    p = b.pricer
    for _, backend in _regions(s3_backends, b.ledger.account):
        for bucket in list(backend.buckets.values()):
            tags = backend.tagger.get_tag_dict_for_resource(bucket.arn)
            if not in_lake({"tags": tags}):
                continue
            region, start = bucket.region_name, b.start(bucket.creation_date, tags)
            gb = p.use("lake", "storage_gb")
            puts, gets = p.lake_requests()
            b.add(S3, region, "TimedStorage-ByteHrs", "GB-Mo", gb * p.price("s3.standard.storage"), gb, "month", start, tags, bucket.arn)
            b.add(S3, region, "Requests-Tier1", "Requests", puts / 1000 * p.price("s3.requests.put"), puts, "month", start, tags, bucket.arn)
            b.add(S3, region, "Requests-Tier2", "Requests", gets / 1000 * p.price("s3.requests.get"), gets, "month", start, tags, bucket.arn)
    for region, backend in _regions(athena_backends, b.ledger.account):
        for workgroup in list(backend.work_groups.values()):
            tags = backend.tagger.get_tag_dict_for_resource(workgroup.arn)
            if not in_lake({"tags": tags}):
                continue
            queries, billed_mb = p.athena_billed((workgroup.configuration or {}).get("BytesScannedCutoffPerQuery"))
            tb = queries * billed_mb / MB_PER_TB
            # moto keeps no creation time for a workgroup: billed from now, or over the estate's history by its tags.
            b.add(ATHENA, region, "DataScannedInTB", "Terabytes", tb * p.price("athena.scanned"), tb, "month",
                  b.start(b.ledger.now, tags), tags, workgroup.arn)


def _scenario(b: _Builder) -> None:
    led, p = b.ledger, b.pricer
    if b.model.scenario == "overrun":
        region = next((c.region for c in led.charges if c.service == RDS), "us-east-1")
        b.add(RDS, region, f"InstanceUsage:{OVERRUN_CLASS}", "Hrs", p.price(f"rds.aurora-postgresql.{OVERRUN_CLASS}"), 1.0, "hour",
              day_start(led.today.replace(day=1)), {}, "lab-scenario:overrun", scenario="overrun")
    elif b.model.scenario == "anomaly":
        spike = anomaly_charge(led, p)
        led.charges.append(spike)


def anomaly_charge(led: Ledger, pricer: Pricer) -> Charge:
    """The anomaly scenario's burst: yesterday, on the first on-demand table's writes (or on none)."""
    writes = sorted((c for c in led.charges if c.service == DYNAMODB and c.usage_type.endswith("WriteRequestUnits")),
                    key=lambda c: (c.region, c.resource))
    base = writes[0] if writes else None
    region = base.region if base else "us-east-1"
    return Charge(DYNAMODB, usage_type(region, "WriteRequestUnits"), region, led.account, "WriteRequestUnits",
                  ANOMALY_WRITES_MILLION * pricer.price("dynamodb.ondemand.write"), ANOMALY_WRITES_MILLION * 1e6, "once",
                  day_start(led.today - timedelta(days=1)), tags=base.tags if base else (),
                  resource=base.resource if base else "lab-scenario:anomaly", scenario="anomaly")


_model_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def catalog_and_usage() -> tuple[dict[str, Any], dict[str, Any]]:
    """The price catalog and the built-in usage assumptions, read once per emulator."""
    with _model_lock:
        if not _loaded:
            from ops.cost.estimate import CATALOG_PATH, DEFAULT_USAGE_PATH, load_catalog, load_usage

            # The lab bills every region at the shipped us-east-1 prices, whatever a user refreshed.
            _loaded["catalog"] = load_catalog("us-east-1", CATALOG_PATH)
            _loaded["usage"] = load_usage(DEFAULT_USAGE_PATH)
        return _loaded["catalog"], _loaded["usage"]
