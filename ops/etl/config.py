"""A pipeline as dbops.toml declares it: `[pipelines.NAME]`, its destination, its tables and their rules.

    [pipelines.orders]
    schedule = "daily 02:00 UTC"                  # what the runner uses; informational here
    destination = { bucket = "dbops-lab-lake", prefix = "orders", database = "dbops_lab_lake" }
    # kms_key = "alias/dbops-lake" in destination: DynamoDB exports written under that key (SSE-KMS)
    quality = { min_valid = 0.99, min_complete = 0.95 }
    keep_batches = 7                              # published batches kept per table (>= 2); older ones are pruned

    [pipelines.orders.tables.orders]
    source = "localpg:lab-pg"                      # KIND:NAME of a target (aurora, localpg) or dynamodb:TABLE
    from = "orders.orders"                          # PostgreSQL: schema.table
    key = ["id"]                                    # the rows' identity: unique, reconciled by fingerprint
    partition_by = "created_at"                     # a date or timestamp column (by UTC day) or any declared column
    partition_grain = "month"                       # day (default) | month: a date or timestamp's partition size
    contract = "freeze"                             # evolve | freeze | discard_columns (ops.etl.contract)
    extract = "reader"                              # reader | clone: a fast clone at T (ops.etl.clone), for large tables
    columns = { id = "bigint", status = "string", created_at = "timestamp" }
    rules = { not_null = ["id"], accepted_values = { status = ["new", "paid"] } }

Everything is checked when the pipeline is read: a mistake is one line naming the key, exit 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ops.errors import UsageError
from ops.etl.types import arrow_type

NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")  # a Glue/Athena table or column name: lower case, letters, digits, _
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
CONTRACTS = ("evolve", "freeze", "discard_columns")
EXTRACTS = ("reader", "clone")
KEY_TYPES = ("string", "bigint", "int", "date")
# A date or timestamp column partitions by its UTC day or month, in a date column of its own (COLUMN_date, the
# day; COLUMN_month, the month's first day). A partition should hold enough rows to be worth a file: each is
# one object the engines open, and two years of days is 731 small files where months are 24.
GRAINS = ("day", "month")
SOURCE_KINDS = ("aurora", "localpg", "dynamodb")
# The forms KMS accepts for a key: its id, its ARN, alias/NAME, an alias's ARN.
_KEY_ID = r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"  # a UUID, or mrk- and 32 hex
KMS_KEY = re.compile(rf"(arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{{12}}:)?(key/{_KEY_ID}|alias/[A-Za-z0-9/_-]{{1,250}})|{_KEY_ID}")
PG_TABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Destination:
    bucket: str
    prefix: str
    database: str
    workgroup: str | None = None
    kms_key: str | None = None  # DynamoDB exports are written under this KMS key (SSE-KMS); None: the service's AES256


@dataclass(frozen=True)
class TableSpec:
    name: str  # the lake's table
    source: str  # KIND:NAME
    key: tuple[str, ...]
    columns: dict[str, str]
    partition_by: str | None = None
    contract: str = "freeze"
    relation: str | None = None  # PostgreSQL schema.table
    extract: str = "reader"  # PostgreSQL: "reader" (a reader's snapshot) or "clone" (a fast clone at T, made and deleted)
    rules: dict[str, Any] = field(default_factory=dict)
    partition_grain: str = "day"

    @property
    def partition_column(self) -> str | None:
        """The column the lake is partitioned by: partition_by itself, or the date column its grain derives."""
        return partition_column(self.partition_by, self.columns, self.partition_grain)

    @property
    def kind(self) -> str:
        return self.source.split(":", 1)[0]

    @property
    def source_name(self) -> str:
        return self.source.split(":", 1)[1]


@dataclass(frozen=True)
class Pipeline:
    name: str
    destination: Destination
    tables: tuple[TableSpec, ...]
    min_valid: float = 0.99
    min_complete: float = 0.95
    schedule: str | None = None
    keep_batches: int = 7  # published batches kept per table after each run (ops.etl.prune)


def partition_column(column: str | None, declared: dict[str, str], grain: str = "day") -> str | None:
    """The published partition column of partition_by `column` (see GRAINS); any other type partitions by value."""
    if column is None:
        return None
    if declared[column] == "timestamp":
        return f"{column}_{'date' if grain == 'day' else 'month'}"
    if declared[column] == "date" and grain == "month":
        return f"{column}_month"
    return column


def pipeline(pipelines: dict[str, Any], name: str, source: str = "dbops.toml") -> Pipeline:
    if name not in pipelines:
        known = ", ".join(sorted(pipelines)) or "none"
        raise UsageError(f"unknown pipeline '{name}' (declared in {source}: {known})")
    return parse(name, pipelines[name], source)


def parse(name: str, table: dict[str, Any], source: str) -> Pipeline:
    where = f"{source}: pipelines.{name}"
    if not NAME.fullmatch(name):
        raise UsageError(f"{where}: a pipeline name is lower-case letters, digits and _, starting with a letter")
    _known(table, ("schedule", "destination", "quality", "tables", "keep_batches"), where)
    dest = _table(table.get("destination"), f"{where}.destination")
    _known(dest, ("bucket", "prefix", "database", "workgroup", "kms_key"), f"{where}.destination")
    bucket, prefix, database = (dest.get(k) for k in ("bucket", "prefix", "database"))
    if not isinstance(bucket, str) or not BUCKET.fullmatch(bucket):
        raise UsageError(f"{where}.destination.bucket must be an S3 bucket name, got {bucket!r}")
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", prefix):
        raise UsageError(f"{where}.destination.prefix must be a key prefix like 'lake/orders' (no leading or trailing /), got {prefix!r}")
    if not isinstance(database, str) or not NAME.fullmatch(database):
        raise UsageError(f"{where}.destination.database must be a Glue database name (lower case, _), got {database!r}")
    workgroup = dest.get("workgroup")
    if workgroup is not None and not (isinstance(workgroup, str) and re.fullmatch(r"[A-Za-z0-9._-]{1,128}", workgroup)):
        raise UsageError(f"{where}.destination.workgroup must be an Athena workgroup name, got {workgroup!r}")
    kms_key = dest.get("kms_key")
    if kms_key is not None and not (isinstance(kms_key, str) and KMS_KEY.fullmatch(kms_key)):
        raise UsageError(f"{where}.destination.kms_key must be a KMS key id, key ARN, alias/NAME or alias ARN, got {kms_key!r}")
    quality = _table(table.get("quality", {}), f"{where}.quality")
    _known(quality, ("min_valid", "min_complete"), f"{where}.quality")
    shares = {k: _share(quality.get(k, default), f"{where}.quality.{k}") for k, default in (("min_valid", 0.99), ("min_complete", 0.95))}
    tables = _table(table.get("tables"), f"{where}.tables")
    if not tables:
        raise UsageError(f"{where}.tables declares no table")
    specs = tuple(_spec(t, spec, f"{where}.tables.{t}") for t, spec in tables.items())
    from ops.etl import quality

    # The rules are checked against the declared columns now, before any source is read (the partition
    # column a grain adds, COLUMN_date or COLUMN_month, may be ruled too).
    quality.parse_rules({s.name: s.rules for s in specs if s.rules},
                        {s.name: {**s.columns, **({s.partition_column: "date"} if s.partition_column else {})} for s in specs},
                        f"{where}.tables")
    for source in {s.source for s in specs if s.kind != "dynamodb"}:
        modes = {s.extract for s in specs if s.source == source}
        if len(modes) > 1:
            raise UsageError(f"{where}: the tables of {source} share one snapshot: declare one extract for all of them "
                             f"(found {', '.join(sorted(modes))})")
    schedule = table.get("schedule")
    if schedule is not None and not isinstance(schedule, str):
        raise UsageError(f"{where}.schedule must be text")
    return Pipeline(name, Destination(bucket, prefix, database, workgroup, kms_key), specs, shares["min_valid"], shares["min_complete"],
                    schedule, _keep_batches(table.get("keep_batches", 7), f"{where}.keep_batches"))


def _keep_batches(value: Any, where: str) -> int:
    """At least 2: the newest batch and the one before it, which an incremental export builds on and a reader
    that listed the previous batch may still be reading."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise UsageError(f"{where} must be an integer of at least 2, got {value!r}")
    return value


def _spec(name: str, table: Any, where: str) -> TableSpec:
    if not NAME.fullmatch(name):
        raise UsageError(f"{where}: a lake table name is lower-case letters, digits and _, starting with a letter")
    table = _table(table, where)
    _known(table, ("source", "from", "key", "partition_by", "partition_grain", "contract", "columns", "rules", "extract"), where)
    src = table.get("source")
    if not isinstance(src, str) or ":" not in src or src.split(":", 1)[0] not in SOURCE_KINDS or not src.split(":", 1)[1]:
        raise UsageError(f"{where}.source must be KIND:NAME with KIND one of {', '.join(SOURCE_KINDS)}, got {src!r}")
    columns = _table(table.get("columns"), f"{where}.columns")
    if not columns:
        raise UsageError(f"{where}.columns declares no column")
    for col, typ in columns.items():
        if not NAME.fullmatch(col):
            raise UsageError(f"{where}.columns: column name {col!r} must be lower-case letters, digits and _")
        try:
            arrow_type(typ)
        except UsageError as exc:
            raise UsageError(f"{where}.columns.{col}: {exc}") from None
    key = table.get("key")
    if isinstance(key, str):
        key = [key]
    if not isinstance(key, list) or not key or not all(isinstance(k, str) and k in columns for k in key):
        raise UsageError(f"{where}.key must name one or more declared columns, got {table.get('key')!r}")
    odd = [k for k in key if columns[k] not in KEY_TYPES]
    if odd:
        raise UsageError(f"{where}.key: {', '.join(odd)} is of type {columns[odd[0]]}; a key column is one of {', '.join(KEY_TYPES)} "
                         "(its text is the same in PostgreSQL and DuckDB, which the reconciliation's fingerprint compares)")
    part = table.get("partition_by")
    if part is not None and part not in columns:
        raise UsageError(f"{where}.partition_by must name a declared column, got {part!r}")
    grain = table.get("partition_grain", "day")
    if grain not in GRAINS:
        raise UsageError(f"{where}.partition_grain must be one of {', '.join(GRAINS)}, got {grain!r}")
    if "partition_grain" in table and (part is None or columns[part] not in ("date", "timestamp")):
        raise UsageError(f"{where}.partition_grain is for a partition_by of a date or timestamp column")
    contract = table.get("contract", "freeze")
    if contract not in CONTRACTS:
        raise UsageError(f"{where}.contract must be one of {', '.join(CONTRACTS)}, got {contract!r}")
    relation = table.get("from")
    kind = src.split(":", 1)[0]
    if kind == "dynamodb":
        if relation is not None:
            raise UsageError(f"{where}.from is for PostgreSQL sources; a DynamoDB source is the table its source names")
    elif not isinstance(relation, str) or not PG_TABLE.fullmatch(relation):
        raise UsageError(f"{where}.from must be the source's schema.table, got {relation!r}")
    rules = _table(table.get("rules", {}), f"{where}.rules")
    extract = table.get("extract", "reader")
    if extract not in EXTRACTS or (kind == "dynamodb" and "extract" in table):
        raise UsageError(f"{where}.extract must be one of {', '.join(EXTRACTS)} for a PostgreSQL source "
                         f"(a DynamoDB source is exported at T), got {extract!r}")
    return TableSpec(name, src, tuple(key), dict(columns), part, contract, relation, rules=dict(rules), extract=extract,
                     partition_grain=grain)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a table")
    return value


def _known(table: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for k in table:
        if k not in keys:
            raise UsageError(f"{where}: unknown key '{k}' (known: {', '.join(keys)})")


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise UsageError(f"{where} must be a share between 0 and 1, got {value!r}")
    return float(value)
