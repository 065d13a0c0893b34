"""What a lab Athena query reads: its Glue tables, the partitions its WHERE can match, their Parquet objects.

Athena knows a table's partitions from the Glue Data Catalog (a partition not registered in Glue is
not read, even when its objects are in S3), and reads the objects under each partition's location.
A query's WHERE prunes partitions: a conjunct that names only partition columns of one table is
evaluated, on DuckDB, over the table's partition values, and a partition it rejects is not read.
Anything harder to decide (an OR across tables, a subquery, an outer join) reads every partition,
so pruning never drops a row. The objects read are what the query's DataScannedInBytes counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import duckdb
from sqlglot import exp

from ops.etl import duck

CATALOG = "awsdatacatalog"
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Hive's name for a NULL partition value, which Athena reads as NULL


class QueryFailed(Exception):
    """The query fails with this reason, worded as Athena words it."""


@dataclass(frozen=True)
class Partition:
    values: tuple[str, ...]
    location: str


@dataclass(frozen=True)
class GlueTable:
    database: str
    name: str
    location: str
    columns: tuple[tuple[str, str], ...]  # (name, Hive type)
    partition_keys: tuple[tuple[str, str], ...]
    partitions: tuple[Partition, ...]


@dataclass
class TableScan:
    """One Glue table of a query: the partitions it reads and the objects under them."""

    table: GlueTable
    partitions: list[Partition] = field(default_factory=list)
    objects: list[tuple[str, str, int, dict[str, str]]] = field(default_factory=list)  # bucket, key, size, partition values


def _position(sql: str, node: exp.Expression) -> str:
    """Trino's 'line L:C' of a table reference (1-based): where its qualified name starts in the query text."""
    starts = [part.meta["start"] for part in getattr(node, "parts", []) if "start" in part.meta]
    if not starts:
        return "line 1:1"
    start = min(starts)
    line = sql.count("\n", 0, start) + 1
    return f"line {line}:{start - (sql.rfind(chr(10), 0, start) + 1) + 1}"


def real_tables(tree: exp.Expression) -> list[exp.Table]:
    """The query's table references that are catalog tables (not its CTEs, not table functions)."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return [t for t in tree.find_all(exp.Table)
            if isinstance(t.this, exp.Identifier) and not (not t.db and t.name.lower() in ctes)]


def _glue_backend(account: str, region: str) -> Any:
    from moto.glue.models import glue_backends

    return glue_backends[account][region]


def glue_table(sql: str, node: exp.Table, database: str, account: str, region: str) -> GlueTable:
    from moto.glue.exceptions import DatabaseNotFoundException, TableNotFoundException

    db = (node.db or database or "default").lower()
    name = node.name.lower()
    qualified = f"{CATALOG}.{db}.{name}"
    backend = _glue_backend(account, region)
    try:
        table = backend.get_table(db, name)
    except DatabaseNotFoundException:
        raise QueryFailed(f"SCHEMA_NOT_FOUND: {_position(sql, node)}: Schema '{db}' does not exist") from None
    except TableNotFoundException:
        raise QueryFailed(f"TABLE_NOT_FOUND: {_position(sql, node)}: Table '{qualified}' does not exist") from None
    described = table.as_dict()
    storage = described.get("StorageDescriptor") or {}
    location = storage.get("Location")
    if not location:
        raise QueryFailed(f"HIVE_METASTORE_ERROR: Table '{qualified}' has no StorageDescriptor.Location")
    keys = tuple((k["Name"].lower(), k.get("Type", "string")) for k in described.get("PartitionKeys") or [])
    partitions = tuple(
        Partition(tuple(str(v) for v in p.values),
                  ((p.partition_input.get("StorageDescriptor") or {}).get("Location")
                   or _hive_location(location, keys, p.values)))
        for p in list(table.partitions.values()))
    return GlueTable(db, name, location, tuple((c["Name"].lower(), c.get("Type", "string"))
                                                for c in storage.get("Columns") or []), keys, partitions)


def _hive_location(location: str, keys: tuple[tuple[str, str], ...], values: list[str]) -> str:
    return location.rstrip("/") + "/" + "/".join(f"{k}={v}" for (k, _), v in zip(keys, values)) + "/"


def duck_type(hive_type: str) -> str:
    """A Glue (Hive) column type in DuckDB's words: decimal(10,2) -> DECIMAL(10, 2), string -> TEXT."""
    return exp.DataType.build(hive_type, dialect="hive").sql("duckdb")


def _conjuncts(node: exp.Expression | None) -> Iterator[exp.Expression]:
    while isinstance(node, exp.Paren):
        node = node.this
    if node is None:
        return
    if isinstance(node, exp.And):
        yield from _conjuncts(node.left)
        yield from _conjuncts(node.right)
    else:
        yield node


def _prunable(conjunct: exp.Expression, node: exp.Table, keys: set[str], sole_table: bool) -> bool:
    if conjunct.find(exp.Select, exp.Subquery, exp.AggFunc):
        return False
    columns = list(conjunct.find_all(exp.Column))
    if not columns:
        return False
    ours = {node.alias_or_name.lower(), node.name.lower()}
    for column in columns:
        if column.name.lower() not in keys:
            return False
        if column.table and column.table.lower() not in ours:
            return False
        if not column.table and not sole_table:
            return False
    return True


def _occurrence_filters(node: exp.Table, keys: set[str]) -> list[exp.Expression] | None:
    """The WHERE conjuncts that decide this table reference's partitions, or None when every
    partition must be read (an outer join, a reference outside a SELECT's FROM or JOIN)."""
    select = node.parent.parent if isinstance(node.parent, (exp.From, exp.Join)) else None
    if not isinstance(select, exp.Select):
        return None
    joins = select.args.get("joins") or []
    if any(j.side for j in joins):
        return None
    where = select.args.get("where")
    return [c for c in _conjuncts(where.this if where else None)
            if _prunable(c, node, keys, sole_table=not joins)]


def matching_partitions(table: GlueTable, occurrences: list[exp.Table]) -> list[Partition]:
    """The partitions any reference of the table can read (every one where pruning cannot decide)."""
    if not table.partition_keys or not table.partitions:
        return list(table.partitions)
    keys = {k for k, _ in table.partition_keys}
    wanted: set[int] = set()
    con = duck.connect()
    try:
        con.execute("SET enable_external_access=false")
        declared = ", ".join(f'"{k}" {duck_type(t)}' for k, t in table.partition_keys)
        con.execute(f"CREATE TABLE parts (i INTEGER, {declared})")
        values = ", ".join(f"CAST(? AS {duck_type(t)})" for _, t in table.partition_keys)
        for i, p in enumerate(table.partitions):
            con.execute(f"INSERT INTO parts SELECT ?, {values}", [i, *(None if v == HIVE_NULL else v for v in p.values)])
        for node in occurrences:
            filters = _occurrence_filters(node, keys)
            if not filters:
                return list(table.partitions)
            condition = " AND ".join(_unqualified(f).sql("duckdb") for f in filters)
            try:
                wanted.update(i for (i,) in con.execute(f"SELECT i FROM parts WHERE {condition}").fetchall())
            except duckdb.Error:
                return list(table.partitions)  # the query itself reports what is wrong with it
    finally:
        con.close()
    return [p for i, p in enumerate(table.partitions) if i in wanted]


def _unqualified(conjunct: exp.Expression) -> exp.Expression:
    copy = conjunct.copy()
    for column in copy.find_all(exp.Column):
        column.set("table", None)
        column.set("db", None)
        column.set("catalog", None)
    return copy


def _split_s3(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise QueryFailed(f"HIVE_METASTORE_ERROR: location {url} is not an s3:// URL")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    return bucket, prefix


def s3_backend(account: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account]["aws"]


def list_objects(account: str, location: str) -> list[tuple[str, str, int]]:
    """(bucket, key, size) of the data objects under a location, as Athena lists them (a key ending
    in '/' or named with a leading '_' or '.' is not data)."""
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import FakeDeleteMarker

    bucket_name, prefix = _split_s3(location)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    try:
        bucket = s3_backend(account).get_bucket(bucket_name)
    except MissingBucket:
        raise QueryFailed(f"HIVE_FILESYSTEM_ERROR: the bucket of {location} does not exist") from None
    found = []
    for name, key in list(bucket.keys.items()):
        if not name.startswith(prefix) or name.endswith("/") or isinstance(key, FakeDeleteMarker):
            continue
        if any(part.startswith(("_", ".")) for part in name[len(prefix):].split("/")):
            continue
        found.append((bucket_name, name, key.size))
    return sorted(found)


def object_bytes(account: str, bucket: str, key: str) -> bytes:
    return s3_backend(account).get_object(bucket, key).value


def plan(sql: str, tree: exp.Expression, database: str, account: str, region: str) -> dict[tuple[str, str], TableScan]:
    """Each Glue table the query reads, with the partitions and objects it reads."""
    by_table: dict[tuple[str, str], tuple[GlueTable, list[exp.Table]]] = {}
    for node in real_tables(tree):
        key = ((node.db or database or "default").lower(), node.name.lower())
        if key not in by_table:
            by_table[key] = (glue_table(sql, node, database, account, region), [])
        by_table[key][1].append(node)
    scans = {}
    for key, (table, nodes) in by_table.items():
        scan = TableScan(table)
        if table.partition_keys:
            scan.partitions = matching_partitions(table, nodes)
            for p in scan.partitions:
                values = dict(zip((k for k, _ in table.partition_keys), p.values))
                scan.objects += [(b, k, size, values) for b, k, size in list_objects(account, p.location)]
        else:
            scan.objects = [(b, k, size, {}) for b, k, size in list_objects(account, table.location)]
        scans[key] = scan
    return scans
