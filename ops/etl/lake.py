"""The analytics lake: a batch spooled to local Parquet, checked, then published to S3 and the Glue catalog.

A batch is a table's rows at one point in time T, identified by T (`batch_id`). Publishing is atomic:

1. the rows are spooled to local Parquet files, Hive-partitioned and sorted, while they stream in;
2. everything is judged on the spool (DuckDB reads it without loading it): contract, quality,
   reconciliation of its count and key fingerprint with the source's at T;
3. the files are uploaded under the batch's own prefix, `PREFIX/TABLE/data/batch=ID/`, by boto3's managed
   transfer (multipart above TRANSFER's threshold), each request with its SHA-256 (S3 refuses a corrupted
   body or part), where no reader looks yet;
4. the manifest, `PREFIX/TABLE/_manifests/ID.json`, is written last: it lists the files, their sizes and
   SHA-256s (older batches' manifests: MD5s), the rows, the fingerprint and T. A batch without a manifest does not exist for any reader;
5. the Glue table and its partitions are pointed at the batch's prefix (Athena reads what Glue says).

A rerun of the same T finds its manifest and publishes nothing; a run killed before its manifest left
files under a prefix no reader knows, which the next run of that T overwrites. A batch that fails its
gates goes to `PREFIX/_quarantine/TABLE/ID/` with its report, never to `data/`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.dataset as pads

from ops.etl import duck
from ops.etl.config import partition_column
from ops.permissions import declare, need

READS = declare(  # a batch's manifest and files, read back
    "etl.lake-reads",
    need("s3:GetObject", "lake-object"),
    need("s3:ListObjectsV2", "lake-bucket", "s3:ListBucket"),
    need("s3:GetObject", "kms-key", "kms:Decrypt"),  # the lake's bucket encrypts with its own key (SSE-KMS)
)
PUBLISH = declare(
    "etl.lake-publish",
    need("s3:PutObject", "lake-object", why="PutObject, and a multipart upload's create, parts and complete"),
    need("s3:AbortMultipartUpload", "lake-object", why="a failed multipart upload's parts are not left behind"),
    need("s3:DeleteObjects", "lake-object", "s3:DeleteObject", why="stray files of a killed attempt under a batch's own prefix"),
    *(need(f"glue:{call}", "glue-table") for call in
      ("GetTable", "CreateTable", "UpdateTable", "GetPartitions", "BatchCreatePartition",
       "BatchUpdatePartition", "BatchDeletePartition")),
    # The lake's bucket encrypts with its own key (SSE-KMS): writing and reading its objects use the key.
    need("s3:PutObject", "kms-key", "kms:GenerateDataKey"),
    need("s3:CompleteMultipartUpload", "kms-key", "kms:Decrypt", why="S3 reads the parts' data keys to complete an upload"),
)
# Parts of 64 MiB above 64 MiB: a file of any size the lake holds (S3 takes 10,000 parts) goes in parts that are each
# retried alone, none read whole into memory, where one PutObject is capped at 5 GB.
TRANSFER_PART = 64 * 1024 * 1024
_HASH_CHUNK = 1 << 20

ROWS_PER_FILE = 1_000_000
# Rows one partitioned write holds at most: each partition's file keeps its rows in memory until the write
# closes it, and a day's partition rarely fills a row group; past this many rows the write closes its files and
# a new one begins, so memory is bounded by this, not by the batch's size.
SPOOL_ROWS = 1_000_000
SORT_MEMORY = "512MB"
MAX_PARTITIONS = 10_000  # a batch with more partition values is refused: the key chosen is too fine
SEPARATOR = "\x1f"
# Athena's names for the declared types, for the Glue catalog.
GLUE_TYPES = {"string": "string", "bigint": "bigint", "int": "int", "double": "double", "boolean": "boolean",
              "date": "date", "timestamp": "timestamp"}


MANIFEST_NAME = re.compile(r"\d{8}T\d{12}Z\.json")


def batch_id(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass
class Spool:
    """A batch's rows as local Parquet files under `root`, Hive-partitioned."""

    root: Path
    columns: dict[str, str]  # published columns -> declared type (the partition column included)
    partition: str | None
    rows: int = 0
    files: list[Path] = field(default_factory=list)

    def dataset(self) -> pads.Dataset:
        return pads.dataset(str(self.root), format="parquet", partitioning=hive(self.partition, self.columns))


def hive(partition: str | None, columns: dict[str, str]) -> pads.Partitioning | None:
    """The partitioning of a batch's files, its column of its declared type (not guessed from the paths: a
    string partition '007' stays '007')."""
    if not partition:
        return None
    from ops.etl.types import arrow_type

    return pads.partitioning(pa.schema([pa.field(partition, arrow_type(columns[partition]))]), flavor="hive")


def spool(batches: Iterable[pa.RecordBatch], root: Path, declared: dict[str, str], partition_by: str | None,
          sort_by: tuple[str, ...], grain: str = "day") -> Spool:
    """Write the batches as Parquet under root, partitioned (config.partition_column) and sorted within each file
    by `sort_by`, streaming: memory holds one batch, not the table."""
    return sort(spool_raw(batches, root, declared, partition_by, grain), sort_by)


def spool_raw(batches: Iterable[pa.RecordBatch], root: Path, declared: dict[str, str], partition_by: str | None,
              grain: str = "day") -> Spool:
    """The first pass: partitioned files as the batches stream in, unsorted (under root/_raw). A source's snapshot
    needs to stay open only this long: sort() runs after it is closed."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    part = partition_column(partition_by, declared, grain)
    columns = dict(declared)
    if part and part not in declared:
        columns[part] = "date"
    raw = root / "_raw"
    counted = _Counted(_with_partition(batches, partition_by, part, grain))
    stream = iter(counted)
    head, n = next(stream, None), 0
    while head is not None:
        pads.write_dataset(_up_to(SPOOL_ROWS, head, stream), str(raw), schema=counted.schema, format="parquet",
                           partitioning=[part] if part else None, partitioning_flavor="hive" if part else None,
                           basename_template=f"part-{n}-{{i}}.parquet",
                           existing_data_behavior="overwrite_or_ignore", max_rows_per_file=ROWS_PER_FILE,
                           max_rows_per_group=min(ROWS_PER_FILE, 1 << 20), max_partitions=MAX_PARTITIONS)
        head, n = next(stream, None), n + 1
    if counted.rows == 0:
        # An empty source is an empty batch of the declared columns (judged as such), not a batch without columns.
        import pyarrow.parquet as pq
        from ops.etl.types import arrow_type

        raw.mkdir()
        pq.write_table(pa.table({c: pa.array([], arrow_type(t)) for c, t in declared.items()}), raw / "part-empty.parquet")
        part = None
        columns = dict(declared)
    return Spool(root, columns, part, rows=counted.rows)


def sort(raw: Spool, sort_by: tuple[str, ...]) -> Spool:
    """The second pass: each partition sorted by the key into one file (sorted files let the engines skip row
    groups by their min/max), by DuckDB within a bounded memory that spills to disk."""
    root = raw.root
    out = Spool(root / "data", raw.columns, raw.partition, rows=raw.rows)
    out.root.mkdir()
    con = duck.connect(memory_limit=SORT_MEMORY, temp_directory=str(root / "_sort"), threads=2)
    dirs = sorted({p.parent for p in (root / "_raw").rglob("*.parquet")})
    order = ", ".join(f'"{c}"' for c in sort_by)
    for d in dirs:
        target = out.root / d.relative_to(root / "_raw")
        target.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY (SELECT * FROM read_parquet({_literal(str(d / '*.parquet'))}, hive_partitioning = false) "
                    f"ORDER BY {order}) TO {_literal(str(target / 'part-0.parquet'))} (FORMAT parquet, COMPRESSION zstd)")
    con.close()
    shutil.rmtree(root / "_raw", ignore_errors=True)
    shutil.rmtree(root / "_sort", ignore_errors=True)
    out.files = sorted(out.root.rglob("*.parquet"))
    return out


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _up_to(rows: int, head: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """head, then batches of rest until `rows` rows have been given (the last may cross it); rest goes on after."""
    given, batch = 0, head
    while batch is not None:
        yield batch
        given += batch.num_rows
        if given >= rows:
            return
        batch = next(rest, None)


class _Counted:
    """An iterator of record batches that counts their rows and knows their schema before the first one."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self.it = iter(batches)
        self.rows = 0
        self.first = next(self.it, None)
        self.schema = self.first.schema if self.first is not None else None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self.first is not None:
            self.rows += self.first.num_rows
            yield self.first
        for b in self.it:
            self.rows += b.num_rows
            yield b


def _with_partition(batches: Iterable[pa.RecordBatch], column: str | None, part: str | None,
                    grain: str) -> Iterator[pa.RecordBatch]:
    import pyarrow.compute as pc

    for b in batches:
        if part and part != column:
            values = b.column(column)
            if grain == "month":
                values = pc.floor_temporal(values, unit="month")
            derived = pc.cast(values, pa.date32()) if b.num_rows else pa.array([], pa.date32())
            b = pa.RecordBatch.from_arrays([*b.columns, derived], names=[*b.schema.names, part])
        yield b


def fingerprint(con: Any, relation: str, key: tuple[str, ...]) -> tuple[int, int]:
    """Rows and the key fingerprint of a DuckDB relation, as ops.etl.extract_pg.fingerprint_sql computes them
    in PostgreSQL: the sum of the first 60 bits of md5 of the key's text."""
    text = f" || '{SEPARATOR}' || ".join(f'CAST("{k}" AS VARCHAR)' for k in key)
    rows, fp = con.execute(f"SELECT count(*), coalesce(sum(('0x' || substr(md5({text}), 1, 15))::HUGEINT), 0) "
                           f"FROM {relation}").fetchone()
    return int(rows), int(fp)


# --- S3 and Glue -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    bucket: str
    prefix: str  # the pipeline's
    table: str

    def data(self, batch: str) -> str:
        return f"{self.prefix}/{self.table}/data/batch={batch}/"

    def manifest(self, batch: str) -> str:
        return f"{self.prefix}/{self.table}/_manifests/{batch}.json"

    def quarantine(self, batch: str) -> str:
        return f"{self.prefix}/_quarantine/{self.table}/{batch}/"


def published(s3: Any, place: Place, batch: str) -> dict[str, Any] | None:
    """The batch's manifest, or None when the batch was never published. Asked by listing its key first: where
    s3:ListBucket is granted under the lake's prefixes only, a GetObject of a missing key answers 403, not 404."""
    key = place.manifest(batch)
    listed = s3.list_objects_v2(Bucket=place.bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if not listed or listed[0]["Key"] != key:
        return None
    return json.loads(s3.get_object(Bucket=place.bucket, Key=key)["Body"].read())


def batch_prefix(manifest: dict[str, Any]) -> str:
    """The key prefix of a manifest's files, `PREFIX/TABLE/data/batch=ID/` ("" for a batch of no file)."""
    marker = f"batch={manifest['batch']}/"
    return manifest["files"][0]["key"].split(marker, 1)[0] + marker if manifest["files"] else ""


def missing_files(s3: Any, bucket: str, manifest: dict[str, Any]) -> list[str]:
    """The files a manifest lists that are not in the bucket (or not of the size it says)."""
    prefix = batch_prefix(manifest)
    there = {o["Key"]: o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
             for o in page.get("Contents", [])} if prefix else {}
    return [f["key"] for f in manifest["files"] if there.get(f["key"]) != f["bytes"]]


def latest(s3: Any, place: Place) -> dict[str, Any] | None:
    """The newest published batch's manifest (batch ids sort by time), or None."""
    keys = [o["Key"].rsplit("/", 1)[1] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=place.bucket, Prefix=f"{place.prefix}/{place.table}/_manifests/") for o in page.get("Contents", [])]
    batches = [k[: -len(".json")] for k in keys if MANIFEST_NAME.fullmatch(k)]  # nothing else there is a batch
    if not batches:
        return None
    return published(s3, place, max(batches))


def strays(s3: Any, bucket: str, prefix: str, files: list[dict[str, Any]]) -> int:
    """Delete what is under a batch's prefix but not among its files (a killed attempt at the same T with another
    layout): Glue's locations cover the whole prefix, so a reader would read them. Returns how many."""
    listed = {f["key"] for f in files}
    extra = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
             for o in page.get("Contents", []) if o["Key"] not in listed]
    return delete_keys(s3, bucket, extra, "a stray file of an earlier attempt")


def delete_keys(s3: Any, bucket: str, keys: list[str], what: str) -> int:
    """Delete the keys, 1,000 a request (DeleteObjects' limit); in quiet mode the answer lists only the keys that
    failed, and one is an error naming `what` the key was. Returns how many were deleted."""
    for i in range(0, len(keys), 1000):
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})
        if answer.get("Errors"):
            from ops.errors import CannotRun

            e = answer["Errors"][0]
            raise CannotRun(f"s3://{bucket}/{e.get('Key')}: {what} could not be deleted: {e.get('Code')}: {e.get('Message', '')}")
    return len(keys)


def upload(s3: Any, sp: Spool, bucket: str, prefix: str, part_bytes: int = TRANSFER_PART) -> list[dict[str, Any]]:
    """Each spooled file under prefix, by boto3's managed transfer: one PutObject up to part_bytes, a multipart
    upload of part_bytes parts above. Every request carries the SHA-256 of its body (ChecksumAlgorithm), which S3
    computes again and refuses with BadDigest when it differs. Their list, each with the whole file's SHA-256 that
    readers check (a multipart object's own checksum is one of its parts' checksums, not the file's)."""
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=part_bytes, multipart_chunksize=part_bytes, max_concurrency=4)
    out = []
    for f in sp.files:
        rel = f.relative_to(sp.root).as_posix()
        digest = sha256_of(f)
        try:
            s3.upload_file(str(f), bucket, prefix + rel, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Config=config)
        except S3UploadFailedError as exc:
            # The transfer wraps the service's answer: the ClientError is what tells a throttle from a refusal.
            raise (exc.__context__ if exc.__context__ is not None else exc) from None
        out.append({"key": prefix + rel, "bytes": f.stat().st_size, "sha256": digest, "rows": _rows(f)})
    return out


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def write_manifest(s3: Any, place: Place, batch: str, manifest: dict[str, Any]) -> None:
    body = json.dumps(manifest, indent=1, sort_keys=True).encode()
    s3.put_object(Bucket=place.bucket, Key=place.manifest(batch), Body=body, ContentType="application/json",
                  ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode())  # noqa: S324


def register(glue: Any, database: str, place: Place, batch: str, columns: dict[str, str], partition: str | None,
             values: list[str], pipeline: str) -> str:
    """Point the Glue table (created if absent) and its partitions at the batch's prefix: "switched", or "newer"
    when Glue already points at a later batch (a backfill never turns the catalog back).

    The partitions move first (existing values re-pointed, new ones created, then those the batch lacks deleted;
    each partition whole at every moment), the table itself last: its dbops:batch names the batch only once every
    partition is there, so a run killed in between is repaired by the next one. A table this pipeline did not
    create (no dbops:pipeline naming it) is never replaced."""
    from ops.errors import CannotRun

    location = f"s3://{place.bucket}/{place.data(batch)}"
    storage = {
        "Columns": [{"Name": c, "Type": glue_type(t)} for c, t in columns.items() if c != partition],
        "Location": location,
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    }
    table_input = {"Name": place.table, "TableType": "EXTERNAL_TABLE", "StorageDescriptor": storage,
                   "Parameters": {"classification": "parquet", "dbops:batch": batch, "dbops:pipeline": pipeline},
                   "PartitionKeys": [{"Name": partition, "Type": glue_type(columns[partition])}] if partition else []}
    try:
        current = glue.get_table(DatabaseName=database, Name=place.table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        current = None
    if current is not None:
        said = current.get("Parameters", {})
        if said.get("dbops:pipeline") != pipeline:
            raise CannotRun(f"Glue table {database}.{place.table} is not pipeline {pipeline}'s (its dbops:pipeline is "
                            f"{said.get('dbops:pipeline') or 'absent'}): it is not replaced")
        if said.get("dbops:batch", "") > batch:
            return "newer"
        had = [k["Name"] for k in current.get("PartitionKeys", [])]
        if had != [k["Name"] for k in table_input["PartitionKeys"]]:
            raise CannotRun(f"Glue table {database}.{place.table} is partitioned by {', '.join(had) or 'nothing'}, the batch by "
                            f"{partition or 'nothing'}: drop or rename the table to publish the new partitioning (its readers' "
                            "queries change with it)")
    if current is None:
        first = dict(table_input, Parameters=dict(table_input["Parameters"], **{"dbops:batch": ""}))
        glue.create_table(DatabaseName=database, TableInput=first)
    if partition:
        _switch_partitions(glue, database, place.table, storage, location, partition, values)
    glue.update_table(DatabaseName=database, TableInput=table_input)
    return "switched"


def _switch_partitions(glue: Any, database: str, table: str, storage: dict[str, Any], location: str, partition: str,
                       values: list[str]) -> None:
    old = {quote(p["Values"][0], safe="") for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
           for p in page["Partitions"]}

    def part(v: str) -> dict[str, Any]:  # v as the path holds it (Hive escapes it); Glue's value is the value itself
        return {"Values": [unquote(v)], "StorageDescriptor": dict(storage, Location=f"{location}{partition}={v}/")}

    moved = [v for v in values if v in old]
    for i in range(0, len(moved), 100):
        _no_errors(glue.batch_update_partition(DatabaseName=database, TableName=table, Entries=[
            {"PartitionValueList": [unquote(v)], "PartitionInput": part(v)} for v in moved[i:i + 100]]), "BatchUpdatePartition")
    added = [v for v in values if v not in old]
    for i in range(0, len(added), 100):
        _no_errors(glue.batch_create_partition(DatabaseName=database, TableName=table,
                                               PartitionInputList=[part(v) for v in added[i:i + 100]]), "BatchCreatePartition")
    gone = sorted(old - set(values))
    for i in range(0, len(gone), 25):
        _no_errors(glue.batch_delete_partition(DatabaseName=database, TableName=table,
                                               PartitionsToDelete=[{"Values": [unquote(v)]} for v in gone[i:i + 25]]), "BatchDeletePartition")


def partition_values(files: list[dict[str, Any]], partition: str | None) -> list[str]:
    """The partition values of a batch's files, as their paths hold them (Hive's escaping), sorted."""
    return sorted({f["key"].split(f"{partition}=", 1)[1].split("/", 1)[0] for f in files}) if partition else []


def _no_errors(answer: dict[str, Any], call: str) -> None:
    """Glue's batch calls answer 200 with per-partition Errors: one is a failure of the switch."""
    errors = answer.get("Errors") or []
    if errors:
        from ops.errors import CannotRun

        e = errors[0]
        detail = e.get("ErrorDetail", {})
        raise CannotRun(f"Glue {call}: {len(errors)} partition(s) failed, e.g. {e.get('PartitionValues')}: "
                        f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}")


def glue_type(declared: str) -> str:
    return GLUE_TYPES.get(declared, declared)  # decimal(P,S) is the same in both


def download(s3: Any, bucket: str, manifest: dict[str, Any], root: Path) -> Path:
    """The batch's files under root, as the manifest lists them; a file missing or changed is an error."""
    from ops.errors import CannotRun

    lost = missing_files(s3, bucket, manifest)
    if lost:
        raise CannotRun(f"s3://{bucket}/{lost[0]} is listed by batch {manifest['batch']}'s manifest but missing "
                        f"({len(lost)} file(s) missing or of another size)")
    data = root / manifest["table"]
    prefix = batch_prefix(manifest)
    for f in manifest["files"]:
        path = data / f["key"][len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            body = s3.get_object(Bucket=bucket, Key=f["key"])["Body"]
        except s3.exceptions.NoSuchKey:
            raise CannotRun(f"s3://{bucket}/{f['key']} is listed by batch {manifest['batch']}'s manifest but missing") from None
        # Batches published before the SHA-256 was kept list their files' MD5.
        name, digest = ("SHA-256", hashlib.sha256()) if "sha256" in f else ("MD5", hashlib.md5())  # noqa: S324 — integrity
        with path.open("wb") as out:
            for chunk in iter(lambda: body.read(_HASH_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != f.get("sha256", f.get("md5")):
            raise CannotRun(f"s3://{bucket}/{f['key']} differs from its manifest's {name}: the published batch was changed")
    return data
