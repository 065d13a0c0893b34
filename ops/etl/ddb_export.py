"""A DynamoDB table as of a time, through ExportTableToPointInTime: start the export, wait for it, read it.

The export's files are read as the DynamoDB developer guide documents them ("DynamoDB table export
output format"): manifest-summary.json names manifest-files.json, which lists every data file with its
item count and MD5. Each file is checked against the manifest before a row of it is given out: a missing
file, another MD5 or another count is an ExportInvalid error, never a shorter table. Files are read one
at a time through a temporary file, and rows are given out in batches of at most `batch_rows`, so
memory does not grow with the table.

Values are decoded from DynamoDB JSON to the declared columns (ops.etl.types): an absent attribute or
NULL is a null. A value of a DynamoDB type its column does not take (text in a number, a map in a
string) is the attribute retyped at the source: it is read as a null and counted, with the item's key,
in `ExportRows.types()` for the caller's schema contract to judge (ops.etl.contract.check_items), and so is a
value of the right type that does not fit (a fraction in an int, a number out of range, a date that is not
one), counted as "N that does not fit". Top-level attributes no column declares are counted in `ExportRows.undeclared`.

An incremental export gives change rows: the declared columns from the new image (only the keys for a
delete), `CHANGE_COLUMN` ("put" or "delete") and `WRITTEN_COLUMN` (the write's time).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import IO, Any, Callable, Iterator, Mapping

import pyarrow as pa
from botocore.exceptions import ClientError

from ops.errors import DbopsError
from ops.etl.contract import ItemTypes
from ops.etl.types import arrow_type

CHANGE_COLUMN = "_change"
WRITTEN_COLUMN = "_written_at"
BATCH_ROWS = 10_000
POLL_FIRST_S = 1.0
POLL_MAX_S = 15.0
MAX_KEYS = 10  # keys kept per retyped attribute, to name the items in the verdict
_CHUNK = 1 << 20


class ExportFailed(DbopsError):
    """The export did not complete (FAILED, or not done in time)."""


class ExportInvalid(DbopsError):
    """The export's files are not what its manifests say: a file missing, changed or short."""

    exit_code = 1


@dataclass(frozen=True)
class Export:
    """A completed export, as DescribeExport tells it."""

    arn: str
    bucket: str
    manifest_key: str  # the summary manifest (ExportManifest)
    incremental: bool
    item_count: int
    sse: tuple[str, str | None] = ("AES256", None)  # (S3SseAlgorithm, S3SseKmsKeyId) DescribeExport answered


def client_token(table_arn: str, bucket: str, prefix: str, at: datetime, since: datetime | None,
                 kms_key: str | None = None) -> str:
    """The same export asked twice (a retried call, a rerun) is one export: the token is its parameters'."""
    said = "|".join([table_arn, bucket, prefix, at.isoformat(), since.isoformat() if since else ""]
                    + ([kms_key] if kms_key else []))
    return hashlib.sha256(said.encode()).hexdigest()[:32]


def start_export(ddb: Any, table_arn: str, bucket: str, prefix: str, at: datetime,
                 since: datetime | None = None, kms_key: str | None = None) -> str:
    """Start a full export of the table as of `at`, or (with `since`) an incremental one of the changes in
    [since, at), its files encrypted under `kms_key` when one is given. Returns the export's ARN."""
    request: dict[str, Any] = {"TableArn": table_arn, "S3Bucket": bucket, "S3Prefix": prefix,
                               "ExportFormat": "DYNAMODB_JSON",
                               "ClientToken": client_token(table_arn, bucket, prefix, at, since, kms_key)}
    if kms_key:
        # S3SseAlgorithm "KMS" with S3SseKmsKeyId: the export's files are written with SSE-KMS under that key
        # (without them the service's default is AES256, SSE-S3). DescribeExport answers both back.
        request.update(S3SseAlgorithm="KMS", S3SseKmsKeyId=kms_key)
    if since is None:
        request.update(ExportType="FULL_EXPORT", ExportTime=at)
    else:
        request.update(ExportType="INCREMENTAL_EXPORT", IncrementalExportSpecification={
            "ExportFromTime": since, "ExportToTime": at, "ExportViewType": "NEW_IMAGE"})
    return ddb.export_table_to_point_in_time(**request)["ExportDescription"]["ExportArn"]


def wait(ddb: Any, export_arn: str, timeout_s: float, progress: Callable[[str], None],
         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> Export:
    """Poll DescribeExport (1 s, doubling to 15 s) until the export completes; FAILED or the timeout is ExportFailed."""
    started = clock()
    pause = POLL_FIRST_S
    while True:
        described = ddb.describe_export(ExportArn=export_arn)["ExportDescription"]
        status = described["ExportStatus"]
        waited = clock() - started
        progress(f"export {export_arn}: {status} after {waited:.0f} s")
        if status == "COMPLETED":
            return Export(export_arn, described["S3Bucket"], described["ExportManifest"],
                          described.get("ExportType") == "INCREMENTAL_EXPORT", int(described.get("ItemCount", 0)),
                          (described.get("S3SseAlgorithm", "AES256"), described.get("S3SseKmsKeyId")))
        if status == "FAILED":
            raise ExportFailed(f"export {export_arn} FAILED: {described.get('FailureCode', 'no code')}: "
                               f"{described.get('FailureMessage', 'no message')}")
        if waited >= timeout_s:
            raise ExportFailed(f"export {export_arn} still {status} after {waited:.0f} s (timeout {timeout_s:g} s)")
        sleep(min(pause, max(0.0, timeout_s - waited)))
        pause = min(pause * 2, POLL_MAX_S)


def read(s3: Any, export: Export, columns: Mapping[str, str], batch_rows: int = BATCH_ROWS,
         key: tuple[str, ...] = ()) -> ExportRows:
    """The export's rows as Arrow record batches of the declared columns (name -> declared type); `key` names
    the attributes an item of a retyped attribute is reported by."""
    return ExportRows(s3, export, dict(columns), batch_rows, tuple(key))


@dataclass
class ExportRows:
    """Iterates the export's record batches; afterwards says what it read (files, items, undeclared attributes)."""

    s3: Any
    export: Export
    columns: dict[str, str]
    batch_rows: int
    key: tuple[str, ...] = ()
    undeclared: dict[str, int] = field(default_factory=dict)  # attribute -> items that carry it
    seen: dict[str, dict[str, int]] = field(default_factory=dict)  # declared attribute -> DynamoDB type -> items
    misfits: dict[str, dict[str, int]] = field(default_factory=dict)  # declared attribute -> type it does not take -> items
    misfit_keys: dict[str, list[str]] = field(default_factory=dict)  # declared attribute -> first keys of those items
    files_read: int = 0
    items_read: int = 0

    def __post_init__(self) -> None:
        fields = [pa.field(name, arrow_type(kind)) for name, kind in self.columns.items()]
        if self.export.incremental:
            fields += [pa.field(CHANGE_COLUMN, pa.string(), nullable=False),
                       pa.field(WRITTEN_COLUMN, pa.timestamp("us", tz="UTC"), nullable=False)]
        self.schema = pa.schema(fields)
        self._decoders = {name: _decoder(name, kind) for name, kind in self.columns.items()}

    def types(self) -> ItemTypes:
        """The DynamoDB types the items read carried per declared attribute (after the iteration)."""
        return ItemTypes(self.items_read, not self.export.incremental, self.seen, self.misfits,
                         {a: tuple(k) for a, k in self.misfit_keys.items()})

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        summary = json.loads(self._get(self.export.manifest_key, "the summary manifest"))
        if summary.get("exportArn") not in (None, self.export.arn):
            raise ExportInvalid(f"{self.export.manifest_key} is the summary of {summary.get('exportArn')}, not of {self.export.arn}")
        listed = [json.loads(line) for line in self._get(summary["manifestFilesS3Key"], "the files manifest").splitlines()
                  if line.strip()]
        expected = int(summary.get("itemCount", 0))
        if expected != self.export.item_count:
            raise ExportInvalid(f"the summary manifest counts {expected} items, DescribeExport {self.export.item_count}")
        if sum(int(f["itemCount"]) for f in listed) != expected:
            raise ExportInvalid(f"the files manifest lists {sum(int(f['itemCount']) for f in listed)} items, "
                                f"the summary {expected}")
        rows: list[dict[str, Any]] = []
        for entry in listed:
            for row in self._file_rows(entry):
                rows.append(row)
                if len(rows) >= self.batch_rows:
                    yield self._batch(rows)
                    rows = []
            self.files_read += 1
        if rows:
            yield self._batch(rows)
        if self.items_read != expected:
            raise ExportInvalid(f"read {self.items_read} items, the summary says {expected}")

    def _get(self, key: str, what: str) -> str:
        try:
            return self.s3.get_object(Bucket=self.export.bucket, Key=key)["Body"].read().decode()
        except ClientError as exc:
            _raise_if_transient(exc)
            raise ExportInvalid(f"{what} s3://{self.export.bucket}/{key} cannot be read: "
                                f"{exc.response.get('Error', {}).get('Code', exc)}") from None

    def _file_rows(self, entry: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        key = entry["dataFileS3Key"]
        with tempfile.TemporaryFile() as spool:
            self._download_checked(key, entry["md5Checksum"], spool)
            spool.seek(0)
            with gzip.open(spool, "rt") as lines:
                count = sum(1 for line in lines if line.strip())
            if count != int(entry["itemCount"]):
                raise ExportInvalid(f"data file {key} holds {count} items, the manifest says {entry['itemCount']}")
            spool.seek(0)
            with gzip.open(spool, "rt") as lines:
                for number, line in enumerate((text for text in lines if text.strip()), start=1):
                    self.items_read += 1
                    yield self._row(json.loads(line), key, number)

    def _download_checked(self, key: str, md5_b64: str, spool: IO[bytes]) -> None:
        try:
            body = self.s3.get_object(Bucket=self.export.bucket, Key=key)["Body"]
        except ClientError as exc:
            _raise_if_transient(exc)
            raise ExportInvalid(f"data file s3://{self.export.bucket}/{key} named in the manifest cannot be read: "
                                f"{exc.response.get('Error', {}).get('Code', exc)}") from None
        digest = hashlib.md5()
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
            spool.write(chunk)
        got = base64.b64encode(digest.digest()).decode()
        if got != md5_b64:
            raise ExportInvalid(f"data file {key} has MD5 {got}, the manifest says {md5_b64}")

    def _row(self, line: Mapping[str, Any], key: str, number: int) -> dict[str, Any]:
        if self.export.incremental:
            image = line.get("NewImage")
            attrs = image if image is not None else line["Keys"]
        else:
            attrs = line["Item"]
        for name in attrs:
            if name not in self.columns:
                self.undeclared[name] = self.undeclared.get(name, 0) + 1
        row = {}
        for name, decode in self._decoders.items():
            value = attrs.get(name)
            kind = next(iter(value), "") if value else ""
            if kind:
                counts = self.seen.setdefault(name, {})
                counts[kind] = counts.get(kind, 0) + 1
            try:
                row[name] = decode(value)
            except OtherType:
                row[name] = None
                self._misfit(name, kind, attrs)
            except (ValueError, ArithmeticError, TypeError):
                # A value of the right type that does not fit its column (a fraction in a bigint, a date that is
                # not one): the item's data, judged with the retyped ones, never the whole export refused.
                row[name] = None
                self._misfit(name, f"{kind} that does not fit", attrs)
        if self.export.incremental:
            row[CHANGE_COLUMN] = "put" if line.get("NewImage") is not None else "delete"
            micros = int(line["Metadata"]["WriteTimestampMicros"]["N"])
            row[WRITTEN_COLUMN] = datetime.fromtimestamp(micros // 1_000_000, timezone.utc).replace(microsecond=micros % 1_000_000)
        return row

    def _misfit(self, name: str, kind: str, attrs: Mapping[str, Any]) -> None:
        counts = self.misfits.setdefault(name, {})
        counts[kind] = counts.get(kind, 0) + 1
        keys = self.misfit_keys.setdefault(name, [])
        if len(keys) < MAX_KEYS:
            keys.append("/".join(str(next(iter(attrs[k].values()))) if attrs.get(k) else "" for k in self.key))

    def _batch(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        arrays = [pa.array([r[f.name] for r in rows], type=f.type) for f in self.schema]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _raise_if_transient(exc: ClientError) -> None:
    """A 5xx (S3's 503 SlowDown included) says nothing about the export's files: the caller may read again."""
    if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
        raise exc


def _decoder(name: str, kind: str) -> Callable[[Any], Any]:
    """A function from one DynamoDB JSON value ({"S": ...}, {"N": ...}, ...) to the column's Python value."""
    convert = _CONVERTERS.get(kind) or _decimal_converter(arrow_type(kind))

    def decode(value: Any) -> Any:
        if value is None or "NULL" in value:
            return None
        (tag, raw), = value.items()
        return convert(tag, raw)

    return decode


class OtherType(ValueError):
    """A value of a DynamoDB type the column does not take: the attribute was retyped at the source."""


def _want(tag: str, allowed: str, kind: str) -> None:
    if tag not in allowed.split(","):
        raise OtherType(f"a DynamoDB {_TYPE_NAMES.get(tag, tag)} ({tag}) does not fit a {kind} column")


def _string(tag: str, raw: Any) -> str:
    _want(tag, "S", "string")
    return raw


def _integer(bits: int) -> Callable[[str, Any], int]:
    def convert(tag: str, raw: Any) -> int:
        _want(tag, "N", "bigint" if bits == 64 else "int")
        number = Decimal(raw)
        if number != number.to_integral_value():
            raise ValueError(f"{raw} is not a whole number")
        if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
            raise ValueError(f"{raw} is out of the {bits}-bit range")
        return int(number)

    return convert


def _double(tag: str, raw: Any) -> float:
    _want(tag, "N", "double")
    return float(raw)


def _boolean(tag: str, raw: Any) -> bool:
    _want(tag, "BOOL", "boolean")
    return bool(raw)


def _date(tag: str, raw: Any) -> date:
    _want(tag, "S", "date")
    return date.fromisoformat(raw)


def _timestamp(tag: str, raw: Any) -> datetime:
    """An ISO-8601 string (no zone: UTC) or a number of epoch seconds."""
    _want(tag, "S,N", "timestamp")
    if tag == "N":
        return datetime.fromtimestamp(float(Decimal(raw)), timezone.utc)
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _decimal_converter(kind: pa.Decimal128Type) -> Callable[[str, Any], Decimal]:
    exponent = Decimal(1).scaleb(-kind.scale)

    def convert(tag: str, raw: Any) -> Decimal:
        _want(tag, "N", f"decimal({kind.precision},{kind.scale})")
        try:
            number = Decimal(raw)
            exact = number.quantize(exponent)
        except InvalidOperation:
            raise ValueError(f"{raw} does not fit decimal({kind.precision},{kind.scale})") from None
        if exact != number or len(exact.as_tuple().digits) > kind.precision:
            raise ValueError(f"{raw} does not fit decimal({kind.precision},{kind.scale}) without rounding")
        return exact

    return convert


_CONVERTERS: dict[str, Callable[[str, Any], Any]] = {
    "string": _string, "bigint": _integer(64), "int": _integer(32), "double": _double,
    "boolean": _boolean, "date": _date, "timestamp": _timestamp,
}
_TYPE_NAMES = {"S": "string", "N": "number", "B": "binary", "BOOL": "boolean", "M": "map", "L": "list",
               "SS": "string set", "NS": "number set", "BS": "binary set"}
