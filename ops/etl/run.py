"""One run of a pipeline: extract each table at a point in time, judge the batch, publish it or quarantine it.

Order, for every table of the pipeline (tables of one PostgreSQL source share one snapshot, so references
between them hold at the same T):

1. extract, never from the writer: a reader's REPEATABLE READ snapshot (PostgreSQL) or
   ExportTableToPointInTime at T (DynamoDB; no read capacity consumed), spooled to local Parquet;
2. the schema contract, against the source's columns;
3. data quality over the whole batch (ops.etl.quality), completeness against the source's count at T;
4. reconciliation: the spool's row count and key fingerprint against the source's at T;
5. publish (ops.etl.lake): files, then the manifest, then the Glue catalog. A batch that fails 2-4 is
   uploaded under the quarantine prefix with its verdict instead, and the run fails (exit 1).

Transient failures (a reader's recovery conflict or lost connection, throttling, 5xx, a reset connection) are
retried with capped exponential backoff and full jitter, each step as a whole (an upload of every file, the
export's wait, its read into the spool); every AWS call of the run also retries inside botocore, up to
AWS_ATTEMPTS attempts. Anything else (a refusal, a missing object, a bad answer) stops the run at once in one
line. A rerun of a T already published publishes nothing, but points the Glue table at it when a run was
stopped between the manifest and the catalog; with --at, a table already published at T (manifest and files) is
found before anything is extracted, so the rerun makes no clone and no export (published_at). T is never the
local clock's: the reader's last replayed commit, or DynamoDB's own restorable time.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import botocore.exceptions
import pyarrow as pa
import pyarrow.dataset as pads

from ops.errors import CannotRun, DbopsError, UsageError
from ops.etl import contract, duck, incremental, lake, quality, representable
from ops.etl.config import Pipeline, TableSpec
from ops.etl.representable import Replaced
from ops.permissions import declare, need
from ops.report import derive_status

EXPORT = declare(
    "etl.dynamodb-export",
    need("dynamodb:DescribeTable", "dynamodb-table"),
    need("dynamodb:DescribeContinuousBackups", "dynamodb-table"),
    need("dynamodb:ExportTableToPointInTime", "dynamodb-table"),
    # DynamoDB writes the export's files into the bucket as the caller.
    need("dynamodb:ExportTableToPointInTime", "lake-object", "s3:PutObject"),
    need("dynamodb:DescribeExport", "dynamodb-table", why="an export's ARN is under its table's"),
    # With a destination's kms_key, DynamoDB encrypts the export's files under it as the caller.
    need("dynamodb:ExportTableToPointInTime", "kms-key", "kms:GenerateDataKey", why="SSE-KMS export files"),
    need("kms:DescribeKey", "kms-key", why="the key an export names and the destination's, each as its key ARN"),
)

T = TypeVar("T")
RETRIES = 5  # attempts of one step of the run (each AWS call of it also retries inside botocore)
# botocore's attempts for every AWS call of a run: a batch job can outwait a burst of throttling or 5xx that an
# operator's command (ops.aws: 3) gives up on.
AWS_ATTEMPTS = 5
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
EXPORT_TIMEOUT_S = 3600.0


@dataclass
class TableBatch:
    spec: TableSpec
    at: datetime
    source_rows: int
    source_fingerprint: int | None  # None: the source gives no fingerprint (a DynamoDB export is the copy at T)
    contract: contract.ContractResult
    spool: lake.Spool | None = None
    table: pads.Dataset | None = None  # the spool as DuckDB scans it, file by file, never loaded whole
    chain: int = 0  # incremental batches since the last full export (0: this one is a full export or a snapshot)
    since: datetime | None = None  # an incremental batch: the previous batch's T it was built from
    attribute_types: dict[str, list[str]] | None = None  # DynamoDB: the types each attribute is written as
    replaced: Replaced | None = None  # rows whose date or timestamp the lake cannot hold, published as NULL


def transient(exc: BaseException) -> bool:
    """What a retry may absorb: lost connections and a standby's recovery conflicts, throttling and 5xx."""
    try:
        import psycopg
        import psycopg.errors as pge

        if isinstance(exc, (psycopg.OperationalError, pge.SerializationFailure)) and not isinstance(exc, pge.InsufficientPrivilege):
            return True
    except ImportError:  # pragma: no cover
        pass
    import botocore.exceptions as be

    if isinstance(exc, (be.ConnectionError, be.HTTPClientError)):
        return True
    if isinstance(exc, be.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or "Throttl" in code or code in ("SlowDown", "RequestLimitExceeded", "InternalError")
    return False


def retrying(what: str, fn: Callable[[], T], progress: Callable[[str], None], attempts: int | None = None,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """fn(), again after a transient failure, waiting a random time up to min(cap, base * 2^n) (full jitter);
    at most `attempts` (RETRIES) times."""
    attempts = attempts or RETRIES
    for n in range(attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 — judged by transient(); anything else is raised at once
            if not transient(exc) or n == attempts - 1:
                raise
            pause = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** n))
            progress(f"{what}: {type(exc).__name__}: {_first_line(exc)}; retrying in {pause:.1f} s ({n + 1}/{attempts - 1})")
            sleep(pause)
    raise AssertionError("unreachable")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class Clients:
    """A run's AWS clients: one per service, made on first use, each retrying up to AWS_ATTEMPTS times."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.made: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self.made:
            self.made[service] = self.aws.client(service, attempts=AWS_ATTEMPTS)
        return self.made[service]


# --- extract -------------------------------------------------------------------------------------------------


def extract_pg(dsn: str, label: str, specs: list[TableSpec], work: Path, clone_of: datetime | None = None) -> list[TableBatch]:
    """The source's tables from one snapshot of a reader, or of a clone made at clone_of."""
    from ops.etl.extract_pg import Reader

    out = []
    with Reader(dsn, label, clone_of=clone_of) as reader:
        for spec in specs:
            snap = reader.snapshot(spec.relation or "", spec.key)
            result = contract.check(spec.columns, _schema(snap.columns), spec.contract)
            batch = TableBatch(spec, snap.at, snap.rows, snap.fingerprint, result)
            if result.passed and result.schema_to_publish is not None:
                columns = {f.name: contract.declared_name(f.type) or "string" for f in result.schema_to_publish}
                batch.replaced = Replaced(work / "_replaced" / f"{spec.name}.parquet", spec.key)
                batch.spool = lake.spool_raw(reader.batches(spec.relation or "", columns, batch.replaced), work / spec.name,
                                             columns, spec.partition_by, spec.partition_grain)
                batch.replaced.close()
            out.append(batch)
    # The snapshot is closed before the sort: a reader's open transaction holds back the writer's vacuum
    # (hot_standby_feedback) and invites recovery conflicts for as long as it lasts.
    for batch in out:
        if batch.spool is not None:
            batch.spool = lake.sort(batch.spool, batch.spec.key)
    return out


def _schema(columns: dict[str, str]) -> pa.Schema:
    from ops.etl.types import arrow_type

    return pa.schema([pa.field(c, arrow_type(t)) for c, t in columns.items()])


def dynamodb_at(ddb: Any, table: str) -> tuple[str, datetime, datetime | None]:
    """The table's ARN, the latest time DynamoDB can export it at (whole seconds: the API's precision) and the
    earliest (an incremental export starts no earlier)."""
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise CannotRun(f"dynamodb:{table} has point-in-time recovery off: an export at a point in time needs it")
    latest = pitr["LatestRestorableDateTime"].astimezone(timezone.utc).replace(microsecond=0)
    earliest = pitr.get("EarliestRestorableDateTime")
    return arn, latest, earliest.astimezone(timezone.utc) if earliest else None


def exported_under(aws: Any, sse: tuple[str, str | None], kms_key: str) -> bool:
    """Whether an export's (S3SseAlgorithm, S3SseKmsKeyId) is SSE-KMS under the destination's key.

    Both may name the key in any form KMS takes (key id, key ARN, alias/NAME, alias ARN); DescribeKey takes each
    and answers KeyMetadata.Arn, the key's own ARN, so two names that differ as text compare as the keys they are."""
    algorithm, described = sse
    if algorithm != "KMS" or not described:
        return False
    if described == kms_key:
        return True
    kms = aws.client("kms")
    return bool(kms.describe_key(KeyId=described)["KeyMetadata"]["Arn"] == kms.describe_key(KeyId=kms_key)["KeyMetadata"]["Arn"])


def extract_dynamodb(aws: Any, spec: TableSpec, bucket: str, prefix: str, at: datetime | None, work: Path,
                     progress: Callable[[str], None], kms_key: str | None = None) -> TableBatch:
    from ops.etl import ddb_export

    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    arn, latest, earliest = retrying(f"dynamodb:{spec.source_name}", lambda: dynamodb_at(ddb, spec.source_name), progress)
    t = (at or latest).astimezone(timezone.utc).replace(microsecond=0)
    if at is not None and earliest is not None and t < earliest.replace(microsecond=0):
        raise UsageError(f"--at {t.isoformat()} is before dynamodb:{spec.source_name}'s earliest restorable time "
                         f"{earliest.isoformat()}: no export can be made at it")
    if earliest is not None and t < earliest <= latest:
        # Whole seconds (the API's precision) may round below a window that began within the second.
        t = min(earliest.replace(microsecond=0) + timedelta(seconds=1) if earliest.microsecond else earliest, latest)
    if earliest is not None and (t < earliest or t.microsecond):
        # The window (its latest time in whole seconds) holds no whole second yet: the service refuses any ExportTime.
        raise CannotRun(f"dynamodb:{spec.source_name} has no time to export at yet: its restorable window "
                        f"{earliest.isoformat()} .. {latest.isoformat()} holds no whole second (point-in-time "
                        "recovery was enabled moments ago); run again once its latest restorable time has moved on")
    if t > latest:
        raise UsageError(f"--at {t.isoformat()} is after dynamodb:{spec.source_name}'s latest exportable time {latest.isoformat()}")
    previous = retrying("s3 read of the previous manifest", lambda: lake.latest(s3, lake.Place(bucket, prefix, spec.name)), progress)
    since = incremental_since(previous, spec, t, earliest)
    export_prefix = f"{prefix}/_exports/{spec.name}/{lake.batch_id(t)}"
    if since is not None:
        progress(f"{spec.name}: incremental export of the changes since batch {previous['batch']} ({since.isoformat()})")
    try:
        export_arn = retrying("ExportTableToPointInTime", lambda: ddb_export.start_export(ddb, arn, bucket, export_prefix, t, since, kms_key), progress)
    except botocore.exceptions.ClientError as exc:
        # The service decides which periods it exports incrementally (at least 15 minutes on AWS): a refused
        # period is exported whole instead.
        if since is None or exc.response.get("Error", {}).get("Code") not in ("InvalidExportTimeException", "ValidationException"):
            raise
        progress(f"{spec.name}: the incremental export was refused ({exc.response['Error'].get('Message', '')}); a full export instead")
        since = None
        export_arn = retrying("ExportTableToPointInTime", lambda: ddb_export.start_export(ddb, arn, bucket, export_prefix, t, None, kms_key), progress)
    export = retrying("DescribeExport", lambda: ddb_export.wait(ddb, export_arn, EXPORT_TIMEOUT_S, progress), progress)
    if kms_key and not exported_under(aws, export.sse, kms_key):
        raise CannotRun(f"export {export_arn} is encrypted {export.sse[0]} (key {export.sse[1] or 'none'}), "
                        f"not SSE-KMS under {kms_key} as the destination declares")

    def read() -> tuple[ddb_export.ExportRows, lake.Spool]:  # again from the start: spool() clears its root
        rows = ddb_export.read(s3, export, spec.columns, key=spec.key)
        if since is None:
            return rows, lake.spool(iter(rows), work / spec.name, dict(spec.columns), spec.partition_by, spec.key,
                                        spec.partition_grain)
        before = lake.download(s3, bucket, previous, work / "_previous")
        (work / "_spill").mkdir(parents=True, exist_ok=True)
        merged = incremental.merged(before, rows, rows.schema, list(spec.columns), list(spec.key), work / "_spill")
        return rows, lake.spool(merged, work / spec.name, dict(spec.columns), spec.partition_by, spec.key,
                                    spec.partition_grain)

    rows, spool = retrying(f"s3 read of export {export_arn}", read, progress)
    types, before = rows.types(), (previous or {}).get("attribute_types")
    result = contract.check_items(spec.columns, list(rows.undeclared), types, spec.contract, before)
    if since is None:
        return TableBatch(spec, t, export.item_count, None, result, spool, chain=0, attribute_types=types.published())
    # The service counts no table at T in an incremental export: the batch is its previous batch and its changes
    # (reconciled as such); a full export follows every incremental.FULL_EVERY of them.
    return TableBatch(spec, t, spool.rows, None, result, spool, chain=int(previous.get("chain", 0)) + 1, since=since,
                      # The changed items alone do not show every type the table holds: without the previous batch's
                      # types the batch's are not known, and not written.
                      attribute_types=types.published(before) if before is not None else None)


def incremental_since(previous: dict[str, Any] | None, spec: TableSpec, at: datetime, earliest: datetime | None) -> datetime | None:
    """The previous batch's T when an incremental export from it can build this batch, else None (a full export)."""
    if previous is None or previous.get("columns") is None:
        return None
    declared = {c: t for c, t in previous["columns"].items() if c != previous.get("partition") or c in spec.columns}
    if declared != dict(spec.columns) or int(previous.get("chain", 0)) + 1 >= incremental.FULL_EVERY:
        return None
    since = datetime.fromisoformat(previous["at"])
    return since if incremental.period_ok(since, at, earliest) else None


# --- judge and publish ---------------------------------------------------------------------------------------


def judge(batches: list[TableBatch], pipeline: Pipeline) -> tuple[list[quality.RuleResult], quality.Verdict]:
    """The rules over each spool's Parquet files as they stand: memory stays flat whatever the batch's size
    (DuckDB streams the scans and spills what a unique or reference rule holds beyond its memory limit)."""
    with tempfile.TemporaryDirectory(prefix="dbops-etl-judge-") as spill:
        con = _duckdb(spill)
        try:
            return _judge(batches, pipeline, con)
        finally:
            con.close()


def _duckdb(spill: str) -> Any:
    return duck.connect(memory_limit=duck.RULES_MEMORY, temp_directory=spill)


def _judge(batches: list[TableBatch], pipeline: Pipeline, con: Any) -> tuple[list[quality.RuleResult], quality.Verdict]:
    tables = {b.spec.name: b.spool.dataset() for b in batches if b.spool is not None}
    for b in batches:
        b.table = tables.get(b.spec.name)
    schemas = {b.spec.name: dict(b.spool.columns) for b in batches if b.spool is not None}
    rules = quality.parse_rules({b.spec.name: quality.with_unique_key(b.spec.rules, b.spec.key) for b in batches if b.spool is not None},
                                schemas, f"pipelines.{pipeline.name}.tables")
    keys = {b.spec.name: list(b.spec.key) for b in batches}
    at = min(b.at for b in batches)
    replaced = {b.spec.name: d for b in batches if b.replaced is not None and (d := b.replaced.dataset()) is not None}
    results = quality.evaluate(con, tables, rules, keys, at, {b.spec.name: b.source_rows for b in batches if b.spool is not None},
                               replaced=replaced)
    return results, quality.verdict(results, pipeline.min_valid, pipeline.min_complete,
                                    {b.spec.name: b.contract for b in batches})


def _reconciled(batches: list[TableBatch]) -> str:
    """What a passed reconciliation compared, per kind of batch: never more than was compared."""
    said = []
    for b in batches:
        if b.since is not None:
            said.append(f"{b.spec.name}: incremental since {b.since.isoformat()} (previous batch and its changes, one item per "
                        f"key; the service's count is compared at the next full export, within {incremental.FULL_EVERY} runs)")
        elif b.source_fingerprint is None:
            said.append(f"{b.spec.name}: {b.source_rows} rows, the export's own item count, one item per key")
        else:
            said.append(f"{b.spec.name}: {b.source_rows} rows and the key fingerprint equal the source's at T")
    return "; ".join(said)


def reconcile(b: TableBatch) -> str | None:
    """None when the spool holds exactly the source's rows at T (count, and key fingerprint where the source
    gives one); else what differs."""
    if b.table is None:
        return "nothing was extracted"
    with tempfile.TemporaryDirectory(prefix="dbops-etl-reconcile-") as spill:
        con = _duckdb(spill)
        try:
            duck.register(con, "batch", b.table)
            rows, fp = lake.fingerprint(con, "batch", b.spec.key)
            keys = ", ".join(f'"{k}"' for k in b.spec.key)
            distinct = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM batch)").fetchall()[0][0]
        finally:
            con.close()
    if b.spec.kind == "dynamodb" and distinct != rows:
        return f"{rows - distinct} row(s) share a key with another: a DynamoDB table holds one item per key"
    if rows != b.source_rows:
        return f"{rows} rows published, {b.source_rows} at the source at T"
    if b.source_fingerprint is not None and fp != b.source_fingerprint:
        return "the key fingerprint differs from the source's at T (same count: keys lost and others duplicated or changed)"
    return None


def publish(aws: Any, pipeline: Pipeline, b: TableBatch, progress: Callable[[str], None],
            held: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """The batch's files, its manifest, its Glue table. A batch already published is not written again; if the
    run that published it stopped before the catalog (Glue still at an older batch), Glue is pointed at it.
    held() raises once the run's lease is lost: asked before the manifest and before the Glue switch."""
    s3, glue = aws.client("s3"), aws.client("glue")
    dest = pipeline.destination
    place = lake.Place(dest.bucket, dest.prefix, b.spec.name)
    batch = lake.batch_id(b.at)
    existing = published_whole(s3, place, batch, progress)
    if existing is not None:
        return already_published(glue, pipeline, place, existing, progress)
    assert b.spool is not None
    files = retrying("s3 upload", lambda: lake.upload(s3, b.spool, dest.bucket, place.data(batch)), progress)
    manifest = {"pipeline": pipeline.name, "table": b.spec.name, "batch": batch, "at": b.at.isoformat(),
                "source": b.spec.source, "rows": b.spool.rows, "source_rows": b.source_rows, "fingerprint": str(b.source_fingerprint),
                "columns": b.spool.columns, "partition": b.spool.partition, "key": list(b.spec.key), "files": files,
                "export": "incremental" if b.since else "full", "chain": b.chain, "since": b.since.isoformat() if b.since else None,
                **({"attribute_types": b.attribute_types} if b.attribute_types is not None else {}),
                # Values published as NULL because the lake cannot hold them: etl check judges representable() again.
                **({"replaced": representable.recorded(b.replaced)} if b.replaced is not None and b.replaced.counts else {})}
    stray = retrying("s3 list", lambda: lake.strays(s3, dest.bucket, place.data(batch), files), progress)
    if stray:
        progress(f"{b.spec.name}: {stray} file(s) of an earlier attempt at this T deleted from the batch's prefix")
    lost = retrying("s3 list", lambda: lake.missing_files(s3, dest.bucket, manifest), progress)
    if lost:
        raise CannotRun(f"{b.spec.name}: {len(lost)} of batch {batch}'s {len(files)} uploaded file(s) are not in the bucket "
                        f"as uploaded (e.g. {lost[0]}): no manifest is written; run again")
    held()
    retrying("s3 PutObject manifest", lambda: lake.write_manifest(s3, place, batch, manifest), progress)
    values = lake.partition_values(files, b.spool.partition)
    held()
    switched = retrying("glue", lambda: lake.register(glue, dest.database, place, batch, b.spool.columns, b.spool.partition,
                                                      values, pipeline.name), progress)
    if switched == "newer":
        progress(f"{b.spec.name}: batch {batch} published; Glue stays at a newer batch (a backfill never turns the catalog back)")
    return {"batch": batch, "already_published": False, "rows": b.spool.rows, "files": len(files),
            "bytes": sum(f["bytes"] for f in files), **({"glue": "newer batch kept"} if switched == "newer" else {})}


def published_whole(s3: Any, place: lake.Place, batch: str, progress: Callable[[str], None]) -> dict[str, Any] | None:
    """The batch's manifest when it is published with every file it lists; None when it is not published, or
    has lost a file (said: it is then written again)."""
    existing = retrying("s3 GetObject manifest", lambda: lake.published(s3, place, batch), progress)
    lost = retrying("s3 list", lambda: lake.missing_files(s3, place.bucket, existing), progress) if existing else []
    if lost:
        progress(f"{place.table}: batch {batch} is published but {len(lost)} of its files are missing "
                 f"(e.g. {lost[0]}): it is written again")
        return None
    return existing


def already_published(glue: Any, pipeline: Pipeline, place: lake.Place, manifest: dict[str, Any],
                      progress: Callable[[str], None]) -> dict[str, Any]:
    """A published batch's entry in the run's report; Glue pointed at it if the run that published it stopped
    before the catalog."""
    batch = manifest["batch"]
    repointed = retrying("glue", lambda: _repair_catalog(glue, pipeline.destination.database, place, batch, manifest,
                                                         pipeline.name), progress)
    if repointed:
        progress(f"{place.table}: batch {batch} was published but Glue pointed at {repointed}: Glue now points at {batch}")
    return {"batch": batch, "already_published": True, "rows": manifest["rows"],
            **({"glue_repointed_from": repointed} if repointed else {})}


def batch_at(spec: TableSpec, at: datetime) -> str:
    """The batch a run asked for `at` publishes for this table, as far as it can be told before the extract: a
    DynamoDB export is at whole seconds (the API's precision); a PostgreSQL clone is at `at` itself (localpg and
    Aurora restore to the exact time; a service that rounds it yields another batch id, which is then not found
    here and the run goes on to the clone, its publish writing nothing)."""
    t = at.astimezone(timezone.utc)
    return lake.batch_id(t.replace(microsecond=0) if spec.kind == "dynamodb" else t)


def published_at(aws: Any, pipeline: Pipeline, at: datetime, progress: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """The tables not to extract again for `at`, each with its published manifest: a table whose batch at `at` is
    published whole, together with every other table of its snapshot (a PostgreSQL source's tables are read at
    one snapshot), and which no table extracted by this run references (its reference rule is judged against the
    same batch). A clone and an export are priced: a rerun of a published T must cost nothing."""
    s3 = aws.client("s3")
    dest = pipeline.destination
    found = {}
    for spec in pipeline.tables:
        manifest = published_whole(s3, lake.Place(dest.bucket, dest.prefix, spec.name), batch_at(spec, at), progress)
        if manifest is not None:
            found[spec.name] = manifest
    return {name: found[name] for name in not_extracted(pipeline.tables, set(found))}


def not_extracted(tables: tuple[TableSpec, ...], published: set[str]) -> set[str]:
    """Of the tables published at T, those a run of T need not extract: every table of their snapshot (one
    PostgreSQL source, or one DynamoDB table) published, and none referenced by a table that is extracted."""
    groups: dict[str, list[TableSpec]] = {}
    for spec in tables:
        groups.setdefault(spec.source if spec.kind != "dynamodb" else f"dynamodb-table:{spec.name}", []).append(spec)
    skipped = {g for g, specs in groups.items() if all(s.name in published for s in specs)}
    while True:  # extracting a group may make another referenced: until nothing changes
        extracted = [s for g, specs in groups.items() if g not in skipped for s in specs]
        referenced = {str(target).split(".", 1)[0] for s in extracted for target in dict(s.rules.get("references") or {}).values()}
        needed = {g for g in skipped if any(s.name in referenced for s in groups[g])}
        if not needed:
            return {s.name for g in skipped for s in groups[g]}
        skipped -= needed


def _repair_catalog(glue: Any, database: str, place: lake.Place, batch: str, manifest: dict[str, Any], pipeline: str) -> str | None:
    """Point Glue at a published batch when it points at an older one (or none): the run that wrote the manifest
    stopped before the catalog. Returns the batch Glue pointed at before ("none"), or None when nothing changed.
    A newer batch in Glue stays: a rerun of an older T never turns the catalog back."""
    try:
        pointed = glue.get_table(DatabaseName=database, Name=place.table)["Table"].get("Parameters", {}).get("dbops:batch")
    except glue.exceptions.EntityNotFoundException:
        pointed = None
    if pointed is not None and pointed >= batch:  # batch ids sort by time
        return None
    lake.register(glue, database, place, batch, manifest["columns"], manifest["partition"],
                  lake.partition_values(manifest["files"], manifest["partition"]), pipeline)
    return pointed or "none"


def quarantine(aws: Any, pipeline: Pipeline, b: TableBatch, why: list[str], results: list[quality.RuleResult]) -> str:
    s3 = aws.client("s3")
    dest = pipeline.destination
    place = lake.Place(dest.bucket, dest.prefix, b.spec.name)
    prefix = place.quarantine(lake.batch_id(b.at))
    if b.spool is not None:
        lake.upload(s3, b.spool, dest.bucket, prefix + "data/")
    report = {"table": b.spec.name, "at": b.at.isoformat(), "why": why,
              "rules": [r.as_report() for r in results if r.table == b.spec.name]}
    s3.put_object(Bucket=dest.bucket, Key=prefix + "verdict.json", Body=json.dumps(report, indent=1, default=str).encode())
    return f"s3://{dest.bucket}/{prefix}"


def prune_superseded(aws: Any, pipeline: Pipeline, published: dict[str, dict[str, Any]], journal: Any,
                     progress: Callable[[str], None]) -> None:
    """After a publish, each table's batches beyond the newest keep_batches go (ops.etl.prune). A prune that fails
    leaves the published batch as it is: it is a warning (ETL-PRUNE) and the next run prunes again."""
    from ops.etl import prune

    s3, glue = aws.client("s3"), aws.client("glue")
    dest = pipeline.destination
    done: dict[str, Any] = {}
    failed: list[str] = []
    for table, p in published.items():
        place = lake.Place(dest.bucket, dest.prefix, table)
        try:
            out = retrying(f"prune of {table}", lambda: prune.prune(s3, glue, dest.database, place, pipeline.name,
                                                                   pipeline.keep_batches, p["batch"]), progress)
        except Exception as exc:  # noqa: BLE001 — the batch is published whatever becomes of the older ones
            failed.append(f"{table}: {_first_line(exc)}")
            continue
        done[table] = {"deleted": out.deleted, "kept": len(out.kept), **({"skipped": out.skipped} if out.skipped else {})}
        if out.deleted:
            progress(f"{table}: {len(out.deleted)} superseded batch(es) deleted, {len(out.kept)} kept (keep_batches {pipeline.keep_batches})")
        for why in out.skipped:
            progress(f"{table}: batch {why}: not deleted")
    journal.details["pruned"] = done
    if failed:
        journal.check("ETL-PRUNE", "warn", "superseded batches not pruned (the next run tries again): " + "; ".join(failed))


def work_dir() -> Path:
    """A directory of this run's own, marked with its owner so that the janitor can find it after a kill."""
    from ops.etl import workdir

    return workdir.make()


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _skipped(aws: Any, pipeline: Pipeline, done: dict[str, dict[str, Any]], say: Callable[[str], None]) -> dict[str, Any]:
    dest = pipeline.destination
    return {name: already_published(aws.client("glue"), pipeline, lake.Place(dest.bucket, dest.prefix, name), manifest, say)
            for name, manifest in done.items()}


def _nothing_to_do(aws: Any, pipeline: Pipeline, done: dict[str, dict[str, Any]], journal: Any,
                   say: Callable[[str], None], started: float) -> Any:
    """Every table's batch at T is already published: nothing is extracted (no clone, no export) or written. The
    run's one objective is that T is published; the gates are not judged again (each batch passed them when it
    was published), and the report says so rather than passing them."""
    journal.require("ETL-PUBLISH")
    published = _skipped(aws, pipeline, done, say)
    journal.details["published"] = published
    batches = ", ".join(f"{n} {p['batch']}" for n, p in published.items())
    for check in ("ETL-CONTRACT", "ETL-QUALITY", "ETL-RECONCILE"):
        journal.check(check, "unknown", f"not judged again: already published at this T ({batches}), judged when published")
    repaired = [n for n, p in published.items() if "glue_repointed_from" in p]
    journal.check("ETL-PUBLISH", "pass", f"0 table(s) published; {', '.join(published)} already published at this T: "
                  "nothing extracted, nothing written"
                  + (f"; Glue pointed again at the published batch of {', '.join(repaired)}" if repaired else ""))
    journal.measure("duration_s", time.monotonic() - started)
    status = derive_status(journal.checks, journal.required)
    return journal.finish(summary=f"{status.upper()}: pipeline {pipeline.name}: already published at this T "
                                  f"({len(published)} table(s)): nothing extracted")


class BatchRefused(DbopsError):
    """The batch failed its gates: quarantined, not published."""


class LeaseLost(DbopsError):
    """The run's lease `etl:PIPELINE` was lost (taken over, or expired while its renewals failed): another run may
    be publishing the same tables, so this one publishes nothing more."""


def still_held(lease: Any) -> Callable[[], None]:
    """What publish() asks before each step that readers see: raises LeaseLost once the lease (ops.lease.Lease,
    or None when the run holds none) names why it was lost."""
    def check() -> None:
        why = lease.loss_reason() if lease is not None else None
        if why:
            raise LeaseLost(f"the run lost its lease on {lease.holder.target}: {why}; nothing more is published")
    return check


def catalog_fits(glue: Any, pipeline: Pipeline) -> None:
    """Refuse, before anything is extracted or written, a pipeline whose Glue tables it could not switch: a table
    that another pipeline (or no pipeline) made, or one partitioned by another column than the table's spec now
    gives (a changed partition_by or partition_grain). lake.register refuses the same, but only after the
    manifest, which would leave a published batch Athena never serves."""
    dest = pipeline.destination
    for spec in pipeline.tables:
        try:  # GetTable: the table's PartitionKeys (in order) and its Parameters; EntityNotFoundException when absent
            table = glue.get_table(DatabaseName=dest.database, Name=spec.name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            continue  # the first publish creates it
        owner = table.get("Parameters", {}).get("dbops:pipeline")
        if owner != pipeline.name:
            raise CannotRun(f"Glue table {dest.database}.{spec.name} is not pipeline {pipeline.name}'s (its dbops:pipeline is "
                            f"{owner or 'absent'}): rename the table in the pipeline or drop the Glue table; nothing was written")
        had = [k["Name"] for k in table.get("PartitionKeys", [])]
        want = [spec.partition_column] if spec.partition_column else []
        if had != want:
            raise CannotRun(f"Glue table {dest.database}.{spec.name} is partitioned by {', '.join(had) or 'nothing'}, the "
                            f"pipeline now by {', '.join(want) or 'nothing'}: drop or rename the Glue table to publish the new "
                            "partitioning (its readers' queries change with it); nothing was written")


def run_pipeline(pipeline: Pipeline, aws: Any, open_source: Callable[..., Any], at: datetime | None,
                 journal: Any, lease: Any = None) -> Any:
    """The whole run, written into the journal; returns its report. open_source(source, at, clone, progress) is a
    context manager giving (dsn, label, clone_of) of a PostgreSQL source's reader (at None and clone False), or of
    a clone of it at `at` (None: its latest restorable time) that it deletes on the way out; never the writer.
    lease: the run's `etl:PIPELINE` lease; once it is lost no manifest is written and no Glue table switched."""
    say = lambda m: journal.event("etl", m)  # noqa: E731
    aws = Clients(aws)
    retrying("glue", lambda: catalog_fits(aws.client("glue"), pipeline), say)
    work = work_dir()
    started = time.monotonic()
    try:
        done = published_at(aws, pipeline, at, say) if at is not None else {}
        if done and len(done) == len(pipeline.tables):
            still_held(lease)()  # a published batch's Glue table may be switched back to it (_repair_catalog)
            return _nothing_to_do(aws, pipeline, done, journal, say, started)
        journal.require("ETL-CONTRACT", "ETL-QUALITY", "ETL-RECONCILE", "ETL-PUBLISH")
        for name, manifest in done.items():
            say(f"{name}: batch {manifest['batch']} is already published at this T: not extracted again")
        batches: list[TableBatch] = []
        pg_sources: dict[str, list[TableSpec]] = {}
        for spec in pipeline.tables:
            if spec.name in done:
                continue
            if spec.kind == "dynamodb":
                say(f"{spec.name}: export of dynamodb:{spec.source_name} at {at.isoformat() if at else 'its latest exportable time'}")
                batches.append(extract_dynamodb(aws, spec, pipeline.destination.bucket, pipeline.destination.prefix, at, work, say,
                                                pipeline.destination.kms_key))
            else:
                pg_sources.setdefault(spec.source, []).append(spec)
        for source, specs in pg_sources.items():
            modes = {s.extract for s in specs}
            if len(modes) > 1:
                raise UsageError(f"pipeline {pipeline.name}: the tables of {source} share one snapshot; declare one extract "
                                 f"for all of them (found {', '.join(sorted(modes))})")
            clone = at is not None or "clone" in modes
            with open_source(source, at, clone, say) as (dsn, label, clone_of):
                say(f"{', '.join(s.name for s in specs)}: one snapshot of {label}")
                batches += retrying(f"extract from {label}", lambda: extract_pg(dsn, label, specs, work, clone_of), say)
        for b in batches:
            rows = b.spool.rows if b.spool else 0
            say(f"{b.spec.name}: {rows} rows at {b.at.isoformat()} ({b.source_rows} at the source)")
            journal.measure(f"rows.{b.spec.name}", rows)
        extracted_s = time.monotonic() - started
        journal.measure("extract_s", extracted_s)
        total = sum(b.spool.rows for b in batches if b.spool)
        if extracted_s > 0:
            journal.measure("extract_rows_per_s", total / extracted_s)
        failed_contracts = [f"{b.spec.name}: {b.contract.message}" for b in batches if not b.contract.passed]
        journal.check("ETL-CONTRACT", "fail" if failed_contracts else "pass",
                      "; ".join(failed_contracts) or f"{len(batches)} table(s) match their declared columns ({', '.join(sorted({b.spec.contract for b in batches}))})")
        if failed_contracts:
            # Rows of a schema other than the declared one are not judged by rules written for it.
            results, verdict = [], quality.Verdict("fail", (), ())
            journal.check("ETL-QUALITY", "unknown", "not judged: a table's schema contract failed")
            journal.check("ETL-RECONCILE", "unknown", "not judged: a table's schema contract failed")
            differences: list[str] = []
        else:
            results, verdict = judge(batches, pipeline)
            journal.details["quality"] = [r.as_report() for r in results]
            q_status = {"pass": "pass", "fail": "fail"}.get(verdict.status, "unknown")
            journal.check("ETL-QUALITY", q_status, "; ".join([*verdict.failed, *verdict.not_measured]) or
                          f"{len(results)} rule result(s) pass (valid >= {pipeline.min_valid:.0%}, complete >= {pipeline.min_complete:.0%})")
            differences = [f"{b.spec.name}: {d}" for b in batches if (d := reconcile(b))]
            journal.check("ETL-RECONCILE", "fail" if differences else "pass",
                          "; ".join(differences) or _reconciled(batches))
        refused = bool(failed_contracts or verdict.status != "pass" or differences)
        if refused:
            why = [*failed_contracts, *verdict.failed, *verdict.not_measured, *differences]
            places = [quarantine(aws, pipeline, b, why, results) for b in batches]
            journal.details["quarantined"] = places
            journal.check("ETL-PUBLISH", "fail", f"nothing published; the batch is quarantined at {', '.join(places)}")
        else:
            published = {b.spec.name: publish(aws, pipeline, b, say, still_held(lease)) for b in batches}
            if done:
                still_held(lease)()
            published.update(_skipped(aws, pipeline, done, say))
            journal.details["published"] = published
            again = [n for n, p in published.items() if p["already_published"]]
            repaired = [n for n, p in published.items() if "glue_repointed_from" in p]
            journal.check("ETL-PUBLISH", "pass", f"{len(published) - len(again)} table(s) published"
                          + (f"; {', '.join(again)} already published at this T: nothing written" if again else "")
                          + (f"; Glue pointed again at the published batch of {', '.join(repaired)}" if repaired else ""))
            prune_superseded(aws, pipeline, published, journal, say)
        journal.measure("duration_s", time.monotonic() - started)
        status = derive_status(journal.checks, journal.required)
        return journal.finish(summary=f"{status.upper()}: pipeline {pipeline.name}: {total} rows, "
                                      f"{len(batches)} table(s) in {time.monotonic() - started:.1f} s")
    finally:
        cleanup(work)
