"""What the Glue catalog serves for a table, compared with its newest published manifest (`dbops etl check`).

Athena reads what Glue says, not what the manifests say: a table pointed at another batch, a partition missing
(its rows vanish from every query), an extra one (rows of another batch, or of nothing) or a partition pointed at
another prefix (rows of another batch mixed in) all serve readers something other than the published batch, while
the batch's own files are intact. So does a stale schema: Athena reads each file's columns by the names and types
Glue gives (the table's, and each partition's own StorageDescriptor.Columns), so a column of another type fails
or misreads every query of it. Collected once per table (served), judged without AWS (differences).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ops.etl import lake
from ops.permissions import declare, need

READS = declare(  # the check's reads of the catalog
    "etl.catalog-reads",
    need("glue:GetTable", "glue-table"),
    need("glue:GetPartitions", "glue-table"),
)
MAX_NAMED = 5  # differences of one kind named in full; the rest are counted
Column = tuple[str, str]  # (name, Hive type) as Glue holds a column


@dataclass(frozen=True)
class Served:
    """A Glue table as readers see it: where it points, which batch it says it is, its partitions."""

    location: str | None
    batch: str | None  # the table's dbops:batch parameter
    partition_keys: tuple[str, ...]
    partitions: dict[str, str]  # Glue's partition value (the value itself, not the path's escaping) -> its Location
    columns: tuple[Column, ...] = ()  # the table's StorageDescriptor.Columns, then its PartitionKeys
    partition_columns: dict[str, tuple[Column, ...]] = field(default_factory=dict)  # value -> its StorageDescriptor.Columns


def served(glue: Any, database: str, table: str) -> Served | None:
    """The table and every partition of it (GetTable, then GetPartitions page by page: its NextToken is followed
    by the paginator); None when Glue has no such table (EntityNotFoundException). Any other error is raised."""
    try:
        t = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None
    keys = tuple(k["Name"] for k in t.get("PartitionKeys", []))
    partitions: dict[str, str] = {}
    part_columns: dict[str, tuple[Column, ...]] = {}
    if keys:
        # One partition key per dbops table: Values holds one value, in the order of PartitionKeys.
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
            for p in page["Partitions"]:
                partitions[p["Values"][0]] = p.get("StorageDescriptor", {}).get("Location", "")
                part_columns[p["Values"][0]] = _columns(p.get("StorageDescriptor", {}).get("Columns", []))
    storage = t.get("StorageDescriptor", {})
    return Served(storage.get("Location"), t.get("Parameters", {}).get("dbops:batch"), keys, partitions,
                  _columns(storage.get("Columns", [])) + _columns(t.get("PartitionKeys", [])), part_columns)


def _columns(glue_columns: list[dict[str, Any]]) -> tuple[Column, ...]:
    """Glue's Column list as (name, type)."""
    return tuple((c["Name"], c.get("Type", "")) for c in glue_columns)


def _by_name(columns: tuple[Column, ...]) -> dict[str, str]:
    """Columns by name, as Athena matches them: Hive's names and types are case-insensitive, and a Parquet file's
    columns are read by name, so neither case nor the order of Glue's columns is compared."""
    return {c.lower(): t.lower().replace(" ", "") for c, t in columns}


def published(place: lake.Place, manifest: dict[str, Any]) -> Served:
    """What Glue serves when it is pointed at the manifest's batch (as ops.etl.lake.register points it)."""
    location = f"s3://{place.bucket}/{place.data(manifest['batch'])}"
    partition = manifest.get("partition")
    values = lake.partition_values(manifest["files"], partition)
    # As lake.register writes them: the data columns in the files and every partition, the partition key's last.
    data = _columns([{"Name": c, "Type": lake.glue_type(t)} for c, t in manifest["columns"].items() if c != partition])
    key = _columns([{"Name": partition, "Type": lake.glue_type(manifest["columns"][partition])}]) if partition else ()
    return Served(location, manifest["batch"], (partition,) if partition else (),
                  {unquote(v): f"{location}{partition}={v}/" for v in values}, data + key, {unquote(v): data for v in values})


def differences(name: str, glue: Served | None, want: Served) -> list[str]:
    """Each way the Glue table `name` serves other than the published batch; [] when it serves exactly it."""
    if glue is None:
        return [f"{name}: Glue has no table {name}: readers see no batch (batch {want.batch} is published)"]
    found = []
    if glue.batch != want.batch:
        found.append(f"{name}: Glue's table says batch {glue.batch or 'none'}, the newest published is {want.batch}")
    if glue.location != want.location:
        found.append(f"{name}: Glue's table points at {glue.location}, not {want.location}")
    if glue.partition_keys != want.partition_keys:
        found.append(f"{name}: Glue's table is partitioned by {', '.join(glue.partition_keys) or 'nothing'}, "
                     f"the batch by {', '.join(want.partition_keys) or 'nothing'}")
        return found  # partitions of another key are not comparable value by value
    if _by_name(glue.columns) != _by_name(want.columns):
        found.append(f"{name}: Glue's table columns differ from the batch's: {_schema_change(glue.columns, want.columns)}")
    stale = sorted(v for v in set(want.partitions) & set(glue.partition_columns)
                   if _by_name(glue.partition_columns[v]) != _by_name(want.partition_columns[v]))
    if stale:
        key = want.partition_keys[0]
        found.append(f"{name}: {len(stale)} partition(s) whose columns differ from the batch's: "
                     + "; ".join(f"{key}={v}: {_schema_change(glue.partition_columns[v], want.partition_columns[v])}"
                                 for v in stale[:MAX_NAMED]) + _more(stale))
    missing = sorted(set(want.partitions) - set(glue.partitions))
    extra = sorted(set(glue.partitions) - set(want.partitions))
    moved = sorted(v for v in set(want.partitions) & set(glue.partitions) if glue.partitions[v] != want.partitions[v])
    key = want.partition_keys[0] if want.partition_keys else ""
    if missing:
        found.append(f"{name}: {len(missing)} partition(s) of the batch missing in Glue (their rows are not served): "
                     f"{_named(key, missing)}")
    if extra:
        found.append(f"{name}: {len(extra)} partition(s) in Glue that the batch does not have: "
                     + "; ".join(f"{key}={v} at {glue.partitions[v]}" for v in extra[:MAX_NAMED]) + _more(extra))
    if moved:
        found.append(f"{name}: {len(moved)} partition(s) pointed away from the batch: "
                     + "; ".join(f"{key}={v} at {glue.partitions[v]}, not {want.partitions[v]}" for v in moved[:MAX_NAMED])
                     + _more(moved))
    return found


def _schema_change(served: tuple[Column, ...], wanted: tuple[Column, ...]) -> str:
    """How served columns differ from wanted ones: each column retyped, missing or extra."""
    have, want = _by_name(served), _by_name(wanted)
    said = [f"{c} is {have[c]}, not {t}" for c, t in want.items() if c in have and have[c] != t]
    said += [f"{c} ({t}) missing" for c, t in want.items() if c not in have]
    said += [f"{c} ({t}) not in the batch" for c, t in have.items() if c not in want]
    return ", ".join(said)


def _named(key: str, values: list[str]) -> str:
    return ", ".join(f"{key}={v}" for v in values[:MAX_NAMED]) + _more(values)


def _more(values: list[str]) -> str:
    return f" (and {len(values) - MAX_NAMED} more)" if len(values) > MAX_NAMED else ""
