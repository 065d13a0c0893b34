"""What a killed `etl run` (or a prune killed between a manifest and its files) leaves in the lake: files under a
batch's prefix, `PREFIX/TABLE/data/batch=ID/`, with no manifest. No reader sees them (a batch exists only once its
manifest does), but they cost storage and a rerun of that T has to overwrite them.

A batch prefix without a manifest is also what a running pipeline is writing. So a pipeline whose lease
`etl:PIPELINE` is held is not looked at (nor any other pipeline writing the same table's prefix), and the
deletion itself holds that lease: no run of the pipeline can start while its leftovers go, and a manifest
written meanwhile (a run that ended between the listing and the deletion) keeps its batch.

The lease alone is not trusted: a run whose lease was lost (or a run of a version that took none) may still be
writing. A prefix is a leftover only once its newest object is older than a run's lease (RUN_LEASE_HOURS), and
S3's clock decides: the newest LastModified against the Date of the listing's own response, both S3's, never this
host's clock. A listing whose response carries no Date cannot tell an age: nothing of it is a leftover.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Callable

from ops.etl import lake, prune
from ops.etl.config import Pipeline
from ops.permissions import declare, need

CALLS = declare(
    "etl.leftovers",
    need("s3:ListObjectsV2", "lake-bucket", "s3:ListBucket", why="a table's batch prefixes and its manifests"),
    need("s3:GetObject", "lake-object", why="a manifest written since the listing keeps its batch"),
    need("s3:GetObject", "kms-key", "kms:Decrypt"),  # the lake's bucket encrypts with its own key (SSE-KMS)
    need("s3:DeleteObjects", "lake-object", "s3:DeleteObject", why="files under a batch prefix with no manifest"),
)

BATCH_DIR = re.compile(r"batch=(\d{8}T\d{12}Z)/")
LEASE_HOURS = 0.5  # the janitor's own hold of a pipeline's lease while it deletes; released at once after
RUN_LEASE_HOURS = 6.0  # the lease `etl run` takes: longer than any run; files younger than that may be a run's


def lease_target(pipeline: str) -> str:
    return f"etl:{pipeline}"


@dataclass(frozen=True)
class Orphan:
    pipeline: str
    place: lake.Place
    batch: str
    files: int

    @property
    def url(self) -> str:
        return f"s3://{self.place.bucket}/{self.place.data(self.batch)}"


def places(pipeline: Pipeline) -> list[lake.Place]:
    dest = pipeline.destination
    return [lake.Place(dest.bucket, dest.prefix, t.name) for t in pipeline.tables]


def orphans(s3: Any, pipelines: list[Pipeline], held: set[str], min_age: timedelta = timedelta(hours=RUN_LEASE_HOURS)) -> list[Orphan]:
    """Batch prefixes with files and no manifest, of pipelines no run holds (`held`: lease targets held now), whose
    newest file is older than min_age on S3's clock; a table's prefix that a running pipeline also writes is not
    looked at."""
    busy = {p for pl in pipelines if lease_target(pl.name) in held for p in places(pl)}
    found = []
    for pl in pipelines:
        if lease_target(pl.name) in held:
            continue
        for place in places(pl):
            if place in busy:
                continue
            try:
                published = set(prune.batches(s3, place))
                batches = data_batches(s3, place)
            except s3.exceptions.NoSuchBucket:  # a lake not made yet, or gone: nothing can be left in it
                continue
            for batch, seen in batches.items():
                if batch not in published and seen.age is not None and seen.age > min_age:
                    found.append(Orphan(pl.name, place, batch, seen.files))
    return found


@dataclass
class Seen:
    """A batch prefix as one listing saw it: how many files, and its newest file's age on S3's clock (None: the
    listing's response had no Date to measure it against)."""

    files: int
    age: timedelta | None


def data_batches(s3: Any, place: lake.Place) -> dict[str, Seen]:
    """Each batch id that has files under the table's data prefix, with how many and how old its newest is."""
    root = f"{place.prefix}/{place.table}/data/"
    counts: dict[str, int] = {}
    newest: dict[str, datetime] = {}
    now: datetime | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=root):
        now = s3_now(page) if now is None else now  # the first page's: the earliest S3 time of the listing
        for o in page.get("Contents", []):
            m = BATCH_DIR.match(o["Key"][len(root):])
            if m:
                batch = m.group(1)
                counts[batch] = counts.get(batch, 0) + 1
                newest[batch] = max(newest.get(batch, o["LastModified"]), o["LastModified"])
    return {b: Seen(n, now - newest[b] if now is not None else None) for b, n in counts.items()}


def s3_now(response: dict[str, Any]) -> datetime | None:
    """S3's time when it answered: the response's HTTP Date header (RFC 7231, whole seconds), or None without one."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


def delete(s3: Any, orphan: Orphan, hold: Callable[[str], Any]) -> bool:
    """Delete the orphan's files while holding its pipeline's lease (`hold(target)`: a context manager, Busy when a
    run holds it). True once they are gone; False when a manifest appeared meanwhile (it is a batch now)."""
    with hold(lease_target(orphan.pipeline)):
        if lake.published(s3, orphan.place, orphan.batch) is not None:
            return False
        prune.delete_prefix(s3, orphan.place.bucket, orphan.place.data(orphan.batch))
        return True
