"""What the Glue catalog serves for a table, compared with its newest published manifest (`dbops etl check`).

Athena reads what Glue says, not what the manifests say: a table pointed at another batch, a partition missing
(its rows vanish from every query), an extra one (rows of another batch, or of nothing) or a partition pointed at
another prefix (rows of another batch mixed in) all serve readers something other than the published batch, while
the batch's own files are intact. Collected once per table (served), judged without AWS (differences).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Served:
    """A Glue table as readers see it: where it points, which batch it says it is, its partitions."""

    location: str | None
    batch: str | None  # the table's dbops:batch parameter
    partition_keys: tuple[str, ...]
    partitions: dict[str, str]  # Glue's partition value (the value itself, not the path's escaping) -> its Location


def served(glue: Any, database: str, table: str) -> Served | None:
    """The table and every partition of it (GetTable, then GetPartitions page by page: its NextToken is followed
    by the paginator); None when Glue has no such table (EntityNotFoundException). Any other error is raised."""
    try:
        t = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None
    keys = tuple(k["Name"] for k in t.get("PartitionKeys", []))
    partitions: dict[str, str] = {}
    if keys:
        # One partition key per dbops table: Values holds one value, in the order of PartitionKeys.
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
            for p in page["Partitions"]:
                partitions[p["Values"][0]] = p.get("StorageDescriptor", {}).get("Location", "")
    return Served(t.get("StorageDescriptor", {}).get("Location"), t.get("Parameters", {}).get("dbops:batch"), keys, partitions)


def published(place: lake.Place, manifest: dict[str, Any]) -> Served:
    """What Glue serves when it is pointed at the manifest's batch (as ops.etl.lake.register points it)."""
    location = f"s3://{place.bucket}/{place.data(manifest['batch'])}"
    partition = manifest.get("partition")
    values = lake.partition_values(manifest["files"], partition)
    return Served(location, manifest["batch"], (partition,) if partition else (),
                  {unquote(v): f"{location}{partition}={v}/" for v in values})


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


def _named(key: str, values: list[str]) -> str:
    return ", ".join(f"{key}={v}" for v in values[:MAX_NAMED]) + _more(values)


def _more(values: list[str]) -> str:
    return f" (and {len(values) - MAX_NAMED} more)" if len(values) > MAX_NAMED else ""
