"""Superseded batches pruned after a run publishes: a table keeps its newest `keep_batches` batches, the batch
Glue points at and the batch the run just published; every older batch of the pipeline goes.

A batch goes manifest first, so it stops being published at once (lake.latest and readers of manifests no longer
see it), then its files under `PREFIX/TABLE/data/batch=ID/`. A prune killed in between leaves files without a
manifest, which `dbops janitor` finds (ops.etl.leftovers). Nothing outside the table's own `_manifests/` and
`data/batch=ID/` prefixes is deleted, and a batch whose manifest names another pipeline is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.etl import lake
from ops.permissions import declare, need

CALLS = declare(
    "etl.lake-prune",
    need("s3:ListObjectsV2", "lake-bucket", "s3:ListBucket"),
    need("s3:GetObject", "lake-object"),
    need("s3:DeleteObject", "lake-object", why="a superseded batch's manifest, first"),
    need("s3:DeleteObjects", "lake-object", "s3:DeleteObject", why="a superseded batch's files, after its manifest"),
    need("glue:GetTable", "glue-table", why="the batch Glue points at is kept"),
)


@dataclass
class Pruned:
    deleted: list[str] = field(default_factory=list)  # batch ids whose manifest and files are gone
    kept: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # batch ids left alone, each with why


def batches(s3: Any, place: lake.Place) -> list[str]:
    """The table's published batch ids, oldest first (ids sort by time); only batch-named manifests count."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=f"{place.prefix}/{place.table}/_manifests/")
    names = [o["Key"].rsplit("/", 1)[1] for page in pages for o in page.get("Contents", [])]
    return sorted(n[: -len(".json")] for n in names if lake.MANIFEST_NAME.fullmatch(n))


def glue_batch(glue: Any, database: str, table: str, pipeline: str) -> str | None:
    """The batch this pipeline's Glue table points at (None: no table, or another pipeline's)."""
    try:
        params = glue.get_table(DatabaseName=database, Name=table)["Table"].get("Parameters", {})
    except glue.exceptions.EntityNotFoundException:
        return None
    if params.get("dbops:pipeline") != pipeline:
        return None
    return params.get("dbops:batch") or None


def to_keep(ids: list[str], keep: int, pointed: str | None, just_published: str | None) -> set[str]:
    return set(ids[-keep:]) | {b for b in (pointed, just_published) if b}


def prune(s3: Any, glue: Any, database: str, place: lake.Place, pipeline: str, keep: int,
          just_published: str | None = None) -> Pruned:
    if keep < 2:
        raise ValueError("keep_batches is at least 2")
    ids = batches(s3, place)
    kept = to_keep(ids, keep, glue_batch(glue, database, place.table, pipeline), just_published)
    out = Pruned(kept=sorted(b for b in ids if b in kept))
    for batch in [b for b in ids if b not in kept]:
        manifest = lake.published(s3, place, batch)
        if manifest is None:
            continue  # gone since the listing
        if manifest.get("pipeline") != pipeline or manifest.get("table") != place.table:
            out.skipped.append(f"{batch}: its manifest names pipeline {manifest.get('pipeline')!r}, table {manifest.get('table')!r}")
            continue
        # DeleteObject answers 204 whether or not the key exists; with versioning on it adds a delete marker and the
        # lifecycle rule on noncurrent versions removes the data later.
        s3.delete_object(Bucket=place.bucket, Key=place.manifest(batch))
        delete_prefix(s3, place.bucket, place.data(batch))
        out.deleted.append(batch)
    return out


def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Every object under prefix (which ends with '/'). Returns how many were deleted."""
    if not prefix.endswith("/"):
        raise ValueError(f"{prefix!r}: a batch's prefix ends with /")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
    return lake.delete_keys(s3, bucket, keys, "a superseded batch's file")
