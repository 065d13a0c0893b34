"""What a killed `etl run` (or a prune killed between a manifest and its files) leaves in the lake: files under a
batch's prefix, `PREFIX/TABLE/data/batch=ID/`, with no manifest. No reader sees them (a batch exists only once its
manifest does), but they cost storage and a rerun of that T has to overwrite them.

A batch prefix without a manifest is also what a running pipeline is writing. So a pipeline whose lease
`etl:PIPELINE` is held is not looked at (nor any other pipeline writing the same table's prefix), and the
deletion itself holds that lease: no run of the pipeline can start while its leftovers go, and a manifest
written meanwhile (a run that ended between the listing and the deletion) keeps its batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


def orphans(s3: Any, pipelines: list[Pipeline], held: set[str]) -> list[Orphan]:
    """Batch prefixes with files and no manifest, of pipelines no run holds (`held`: lease targets held now);
    a table's prefix that a running pipeline also writes is not looked at."""
    busy = {p for pl in pipelines if lease_target(pl.name) in held for p in places(pl)}
    found = []
    for pl in pipelines:
        if lease_target(pl.name) in held:
            continue
        for place in places(pl):
            if place in busy:
                continue
            published = set(prune.batches(s3, place))
            for batch, files in data_batches(s3, place).items():
                if batch not in published:
                    found.append(Orphan(pl.name, place, batch, files))
    return found


def data_batches(s3: Any, place: lake.Place) -> dict[str, int]:
    """Each batch id that has files under the table's data prefix, with how many."""
    root = f"{place.prefix}/{place.table}/data/"
    counts: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=root):
        for o in page.get("Contents", []):
            m = BATCH_DIR.match(o["Key"][len(root):])
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def delete(s3: Any, orphan: Orphan, hold: Callable[[str], Any]) -> bool:
    """Delete the orphan's files while holding its pipeline's lease (`hold(target)`: a context manager, Busy when a
    run holds it). True once they are gone; False when a manifest appeared meanwhile (it is a batch now)."""
    with hold(lease_target(orphan.pipeline)):
        if lake.published(s3, orphan.place, orphan.batch) is not None:
            return False
        prune.delete_prefix(s3, orphan.place.bucket, orphan.place.data(orphan.batch))
        return True
