"""DynamoDB ExportTableToPointInTime in the lab's emulator: the items as they were at the export time.

Plain moto writes a table's current items, whatever ExportTime says, into one file of a layout of its
own, with no manifests. Here an export is built from the table's item history (ops.lab.aws.ddb_pitr)
and written as the DynamoDB developer guide's "DynamoDB table export output format" documents it:

    PREFIX/AWSDynamoDB/EXPORT_ID/_started                  empty, written first (the bucket is writable)
    PREFIX/AWSDynamoDB/EXPORT_ID/data/NAME.json.gz         JSON lines, at most ddb_export_items_per_file each
    PREFIX/AWSDynamoDB/EXPORT_ID/manifest-files.json       one JSON line per data file: itemCount,
                                                           md5Checksum (base64), etag, dataFileS3Key
    PREFIX/AWSDynamoDB/EXPORT_ID/manifest-summary.json     the export's summary, written last
    (each manifest with a .checksum beside it: the manifest's MD5 in hex)

A full export's line is {"Item": {...}}; an incremental export's is {"Metadata": {"WriteTimestampMicros":
...}, "Keys": ..., "NewImage": ..., "OldImage": ...}: one line per item changed in [ExportFromTime,
ExportToTime) with its image before the period (OldImage, NEW_AND_OLD_IMAGES only) and at its end
(NewImage; absent for a delete). An item created and deleted inside the period has no line.

Validation follows the API reference (ExportTableToPointInTime): a table without point-in-time recovery,
PointInTimeRecoveryUnavailableException; a time outside the restorable window, InvalidExportTimeException;
a ClientToken sent again within 8 hours answers the same export, with other parameters
ImportConflictException (the reference's ClientToken text); a bucket that does not exist fails the
export (FailureCode S3NoSuchBucket). ION answers a ValidationException: the lab writes DynamoDB JSON
only. An incremental period is 15 minutes to 24 hours (the service's bounds; the lab setting
ddb_export_min_incremental_s lowers the minimum for tests).

Exports are asynchronous: IN_PROGRESS until ddb_export_delay_s has passed, then the files are written
and the export is COMPLETED (or FAILED).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
import threading
import time
import uuid
from bisect import bisect_left
from typing import Any, Iterator

from ops.lab.aws import service_clock, settings

DELAY_SETTING = "ddb_export_delay_s"
ITEMS_PER_FILE_SETTING = "ddb_export_items_per_file"
MIN_INCREMENTAL_SETTING = "ddb_export_min_incremental_s"
SERVICE_MIN_INCREMENTAL_S = 15 * 60
MAX_INCREMENTAL_S = 24 * 3600
VIEW_TYPES = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
MAX_LIST_RESULTS = 25
TOKEN_VALID_S = 8 * 3600  # "A client token is valid for 8 hours after the first request that uses it"
_installed = False


class Export:
    """One export task: its request, its state, and the description DescribeExport answers."""

    def __init__(self, arn: str, table: Any, request: dict[str, Any], at: float | None,
                 since: float | None, account_id: str) -> None:
        self.arn = arn
        self.table = table
        self.request = request
        self.at = at  # host clock: the full export's time, the incremental export's end (exclusive)
        self.since = since  # host clock: the incremental export's start (inclusive); None for a full export
        self.account_id = account_id
        self.status = "IN_PROGRESS"
        self.started = time.time()
        self.ended: float | None = None
        self.failure: tuple[str, str] | None = None
        self.item_count = 0
        self.billed_bytes = 0
        # The request's key (id, ARN, alias or alias ARN) as the key's ARN: DescribeExport may answer the key that
        # encrypted the files in another form than the one asked for, and a client must not compare them as text.
        self.kms_key_arn = kms_key_arn(request.get("S3SseKmsKeyId"), account_id, table.region_name)

    @property
    def export_id(self) -> str:
        return self.arn.rsplit("/", 1)[1]

    @property
    def incremental(self) -> bool:
        return self.since is not None

    @property
    def base_key(self) -> str:
        prefix = (self.request.get("S3Prefix") or "").strip("/")
        return f"{prefix + '/' if prefix else ''}AWSDynamoDB/{self.export_id}"

    def describe(self) -> dict[str, Any]:
        shift = service_clock.offset()
        out: dict[str, Any] = {
            "ExportArn": self.arn, "ExportStatus": self.status, "StartTime": self.started + shift,
            "TableArn": self.table.table_arn, "TableId": table_id(self.table),
            "S3Bucket": self.request["S3Bucket"], "S3BucketOwner": self.request.get("S3BucketOwner") or self.account_id,
            "S3Prefix": self.request.get("S3Prefix", ""), "S3SseAlgorithm": self.request.get("S3SseAlgorithm", "AES256"),
            **({"S3SseKmsKeyId": self.kms_key_arn or self.request["S3SseKmsKeyId"]} if self.request.get("S3SseKmsKeyId") else {}),
            "ExportFormat": "DYNAMODB_JSON", "ExportType": self.request.get("ExportType", "FULL_EXPORT"),
            "ItemCount": self.item_count, "BilledSizeBytes": self.billed_bytes,
        }
        if self.request.get("ClientToken"):
            out["ClientToken"] = self.request["ClientToken"]
        if self.incremental:
            out["IncrementalExportSpecification"] = {
                "ExportFromTime": self.since + shift, "ExportToTime": self.at + shift,
                "ExportViewType": self.view_type}
        else:
            out["ExportTime"] = self.at + shift
        if self.status == "COMPLETED":
            out["ExportManifest"] = f"{self.base_key}/manifest-summary.json"
        if self.ended is not None:
            out["EndTime"] = self.ended + shift
        if self.failure:
            out["FailureCode"], out["FailureMessage"] = self.failure
        return out

    @property
    def sse(self) -> dict[str, Any]:
        """How the export's objects are stored: SSE-KMS under the request's key for S3SseAlgorithm KMS, else
        SSE-S3 (AES256), so HeadObject on a file shows the encryption asked for."""
        if self.request.get("S3SseAlgorithm") == "KMS":
            return {"encryption": "aws:kms", "kms_key_id": self.kms_key_arn or self.request.get("S3SseKmsKeyId")}
        return {"encryption": "AES256"}

    @property
    def view_type(self) -> str:
        return (self.request.get("IncrementalExportSpecification") or {}).get("ExportViewType") or "NEW_AND_OLD_IMAGES"


def kms_key_arn(key: str | None, account_id: str, region: str) -> str | None:
    """The ARN of the lab's KMS key `key` names, or None (no key, or none of the lab's)."""
    if not key:
        return None
    from moto.kms.models import kms_backends

    try:
        return str(kms_backends[account_id][region].describe_key(key).arn)
    except (KeyError, AttributeError):  # moto's lookup of an unknown id (KeyError) or alias (AttributeError)
        return None


def table_id(table: Any) -> str:
    """The table's id (moto keeps none): made the first time an export asks, then the same."""
    if not getattr(table, "dbops_table_id", None):
        table.dbops_table_id = str(uuid.uuid4())
    return table.dbops_table_id


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _key_of(table: Any, item: Any) -> tuple[Any, Any]:
    return item.hash_key, item.range_key if table.range_key_attr else None


def full_lines(export: Export, h: Any) -> Iterator[tuple[dict[str, Any], int]]:
    """The table's items at the export time, each as ({"Item": ...}, its size)."""
    table = export.table
    with h.lock:  # writes hold the history's lock: the copy is one moment of the table
        current = [i for i in table.all_items() if _key_of(table, i) not in h.items]
        kept = [h.state_at(key, export.at) for key in list(h.items)]
    for item in current + [i for i in kept if i is not None]:
        yield item.to_json(root_attr_name="Item"), item.size()


def incremental_lines(export: Export, h: Any) -> Iterator[tuple[dict[str, Any], int]]:
    """One line per item changed in [since, at): its keys, its new image (none: deleted), its old one."""
    table = export.table
    with h.lock:
        changes = []
        for key, entries in list(h.items.items()):
            first, end = bisect_left(entries, export.since, key=_when), bisect_left(entries, export.at, key=_when)
            if first == end:
                continue  # not written in the period
            old = entries[first - 1][1] if first > 0 else None
            new, written = entries[end - 1][1], entries[end - 1][0]
            if old is None and new is None:
                continue  # created and deleted inside the period
            changes.append((old, new, written))
    keys = [a for a in (table.hash_key_attr, table.range_key_attr) if a]
    for old, new, written in changes:
        some = new if new is not None else old
        line: dict[str, Any] = {
            "Metadata": {"WriteTimestampMicros": {"N": str(int((written + service_clock.offset()) * 1_000_000))}},
            "Keys": {k: some.attrs[k].to_json() for k in keys}}
        if new is not None:
            line["NewImage"] = new.to_json(root_attr_name="Item")["Item"]
        if old is not None and export.view_type == "NEW_AND_OLD_IMAGES":
            line["OldImage"] = old.to_json(root_attr_name="Item")["Item"]
        yield line, (new or old).size()


def _when(entry: tuple[float, Any]) -> float:
    return entry[0]


def write(export: Export, s3: Any) -> None:
    """Write the data files, then the files manifest, then the summary (a reader that finds the summary
    finds every file it names)."""
    from moto.dynamodb.models.utilities import dynamo_json_dump

    from ops.lab.aws.ddb_pitr import history

    bucket = export.request["S3Bucket"]
    h = history(export.table)
    if h is None:
        raise _Failed("PointInTimeRecoveryUnavailable", "point-in-time recovery was turned off during the export")
    s3.put_object(bucket, f"{export.base_key}/_started", b"", **export.sse)
    per_file = int(settings.get(ITEMS_PER_FILE_SETTING))
    lines = incremental_lines(export, h) if export.incremental else full_lines(export, h)
    manifest: list[str] = []
    chunk: list[str] = []

    def flush() -> None:
        body = gzip.compress(("".join(chunk)).encode())
        key = f"{export.base_key}/data/{secrets.token_hex(13)}.json.gz"
        stored = s3.put_object(bucket, key, body, **export.sse)
        manifest.append(json.dumps({
            "itemCount": len(chunk), "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode(),
            "etag": stored.etag.strip('"'), "dataFileS3Key": key}))
        chunk.clear()

    for line, size in lines:
        chunk.append(dynamo_json_dump(line) + "\n")
        export.item_count += 1
        export.billed_bytes += size
        if len(chunk) >= per_file:
            flush()
    if chunk or not manifest:
        flush()  # an empty table still has one (empty) data file, as an empty partition does
    files_text = "\n".join(manifest) + "\n"
    _put_with_checksum(s3, bucket, f"{export.base_key}/manifest-files", files_text, export.sse)
    export.ended = time.time()
    shift = service_clock.offset()
    summary = {
        "version": "2020-06-30", "exportArn": export.arn,
        "startTime": _iso(export.started + shift), "endTime": _iso(export.ended + shift),
        "tableArn": export.table.table_arn, "tableId": table_id(export.table),
        "s3Bucket": bucket, "s3Prefix": export.request.get("S3Prefix") or None,
        "s3SseAlgorithm": export.request.get("S3SseAlgorithm", "AES256"), "s3SseKmsKeyId": export.request.get("S3SseKmsKeyId"),
        "manifestFilesS3Key": f"{export.base_key}/manifest-files.json",
        "billedSizeBytes": export.billed_bytes, "itemCount": export.item_count, "outputFormat": "DYNAMODB_JSON",
        "exportType": "INCREMENTAL_EXPORT" if export.incremental else "FULL_EXPORT",
    }
    if export.incremental:
        summary.update(exportFromTime=_iso(export.since + shift), exportToTime=_iso(export.at + shift),
                       outputView=export.view_type)
    else:
        summary["exportTime"] = _iso(export.at + shift)
    _put_with_checksum(s3, bucket, f"{export.base_key}/manifest-summary", json.dumps(summary), export.sse)


def _put_with_checksum(s3: Any, bucket: str, stem: str, text: str, sse: dict[str, Any]) -> None:
    s3.put_object(bucket, f"{stem}.json", text.encode(), **sse)
    s3.put_object(bucket, f"{stem}.checksum", hashlib.md5(text.encode()).hexdigest().encode(), **sse)


class _Failed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def run(export: Export) -> None:
    """The export's worker: wait the lab's delay, then write, and say how it ended."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    time.sleep(float(settings.get(DELAY_SETTING)))
    owner = export.request.get("S3BucketOwner") or export.account_id
    s3 = s3_backends[owner][get_partition(export.table.region_name)]
    try:
        if export.request["S3Bucket"] not in s3.buckets:
            raise _Failed("S3NoSuchBucket", "The specified bucket does not exist")
        if export.request.get("S3SseKmsKeyId") and export.kms_key_arn is None:  # S3 cannot encrypt under a key that is not there
            raise _Failed("KMSAccessDenied", f"KMS key {export.request['S3SseKmsKeyId']} does not exist or cannot be used")
        write(export, s3)
        export.status = "COMPLETED"
    except _Failed as exc:
        export.failure, export.status = (exc.code, exc.message), "FAILED"
    except Exception as exc:  # the export's answer to any other fault: FAILED with what happened, never hung
        export.failure, export.status = ("UNKNOWN", f"{type(exc).__name__}: {exc}"), "FAILED"
    if export.ended is None:
        export.ended = time.time()


def _install_api() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, MockValidationException, PointInTimeRecoveryUnavailable
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    from ops.lab.aws.ddb_pitr import LAG_SETTING, _epoch, history

    def error(name: str, message: str) -> JsonRESTError:
        return JsonRESTError(ERROR_TYPE_PREFIX + name, message)

    def exports(backend: DynamoDBBackend) -> dict[str, Export]:
        if not hasattr(backend, "dbops_exports"):
            backend.dbops_exports = {}
            backend.dbops_export_tokens = {}
        return backend.dbops_exports

    def times(body: dict[str, Any], h: Any) -> tuple[float, float | None]:
        """(at, since) on the host's clock, checked against the restorable window."""
        earliest, latest = h.window(time.time(), float(settings.get(LAG_SETTING)))
        kind = body.get("ExportType") or "FULL_EXPORT"
        if kind not in ("FULL_EXPORT", "INCREMENTAL_EXPORT"):
            raise MockValidationException(f"ExportType must be FULL_EXPORT or INCREMENTAL_EXPORT, not {kind!r}")
        spec = body.get("IncrementalExportSpecification")
        if kind == "FULL_EXPORT":
            if spec:
                raise MockValidationException("IncrementalExportSpecification is only for ExportType INCREMENTAL_EXPORT")
            at = service_clock.to_host(_epoch(body["ExportTime"])) if body.get("ExportTime") is not None else latest
            if not earliest <= at <= latest:
                raise error("InvalidExportTimeException", "The specified ExportTime is outside of the point in time recovery window.")
            return at, None
        if body.get("ExportTime") is not None:
            raise MockValidationException("ExportTime is not used with ExportType INCREMENTAL_EXPORT; "
                                          "IncrementalExportSpecification gives the period")
        if not spec or spec.get("ExportFromTime") is None:
            raise MockValidationException("IncrementalExportSpecification.ExportFromTime is required for an incremental export")
        view = spec.get("ExportViewType") or "NEW_AND_OLD_IMAGES"
        if view not in VIEW_TYPES:
            raise MockValidationException(f"ExportViewType must be one of {', '.join(VIEW_TYPES)}, not {view!r}")
        since = service_clock.to_host(_epoch(spec["ExportFromTime"]))
        at = service_clock.to_host(_epoch(spec["ExportToTime"])) if spec.get("ExportToTime") is not None else latest
        if not (earliest <= since <= latest and earliest <= at <= latest):
            raise error("InvalidExportTimeException", "The specified ExportFromTime and ExportToTime must be inside "
                        "the point in time recovery window.")
        shortest = float(settings.get(MIN_INCREMENTAL_SETTING))
        if not shortest <= at - since <= MAX_INCREMENTAL_S or at <= since:
            raise error("InvalidExportTimeException", f"The export period must be from {shortest:g} seconds to 24 hours; "
                        f"ExportToTime - ExportFromTime is {at - since:g} seconds.")
        return at, since

    def export_table_to_point_in_time(self: DynamoHandler) -> ActionResult:
        body = dict(self.body)
        backend = self.dynamodb_backend
        known = exports(backend)
        token = body.get("ClientToken")
        earlier = known.get(backend.dbops_export_tokens.get(token, "")) if token else None
        if earlier is not None and time.time() - earlier.started < TOKEN_VALID_S:
            if earlier.request != body:
                raise error("ImportConflictException", "The ClientToken was used before with other parameters.")
            return ActionResult({"ExportDescription": earlier.describe()})
        # The API reference's S3SseAlgorithm values: AES256 (SSE-S3) and KMS (SSE-KMS, the key in S3SseKmsKeyId).
        if body.get("S3SseAlgorithm", "AES256") not in ("AES256", "KMS"):
            raise MockValidationException(f"S3SseAlgorithm must be AES256 or KMS, not {body['S3SseAlgorithm']!r}")
        if (body.get("ExportFormat") or "DYNAMODB_JSON") != "DYNAMODB_JSON":
            raise MockValidationException(f"ExportFormat {body['ExportFormat']} is not supported by the lab emulator "
                                          f"(it writes DYNAMODB_JSON only)")
        table = next((t for t in list(backend.tables.values()) if t.table_arn == body.get("TableArn")), None)
        if table is None:
            raise error("TableNotFoundException", f"Table not found: {body.get('TableArn')}")
        h = history(table)
        if h is None or table.continuous_backups["PointInTimeRecoveryDescription"].get("PointInTimeRecoveryStatus") != "ENABLED":
            raise PointInTimeRecoveryUnavailable(table.name)
        at, since = times(body, h)
        arn = f"{table.table_arn}/export/{int(time.time() * 1000):014d}-{secrets.token_hex(4)}"
        export = Export(arn, table, body, at, since, backend.account_id)
        known[arn] = export
        if token:
            backend.dbops_export_tokens[token] = arn
        threading.Thread(target=run, args=(export,), name=f"ddb-export-{export.export_id}", daemon=True).start()
        return ActionResult({"ExportDescription": export.describe()})

    def describe_export(self: DynamoHandler) -> ActionResult:
        export = exports(self.dynamodb_backend).get(self.body.get("ExportArn"))
        if export is None:
            raise error("ExportNotFoundException", f"Export not found: {self.body.get('ExportArn')}")
        return ActionResult({"ExportDescription": export.describe()})

    def list_exports(self: DynamoHandler) -> ActionResult:
        table_arn = self.body.get("TableArn")
        limit = int(self.body.get("MaxResults") or MAX_LIST_RESULTS)
        if not 1 <= limit <= MAX_LIST_RESULTS:
            raise MockValidationException(f"MaxResults must be from 1 to {MAX_LIST_RESULTS}, not {limit}")
        listed = [e for e in exports(self.dynamodb_backend).values() if table_arn in (None, e.table.table_arn)]
        arns = [e.arn for e in listed]
        start = arns.index(self.body["NextToken"]) + 1 if self.body.get("NextToken") in arns else 0
        page = listed[start : start + limit]
        out: dict[str, Any] = {"ExportSummaries": [
            {"ExportArn": e.arn, "ExportStatus": e.status, "ExportType": e.request.get("ExportType", "FULL_EXPORT")} for e in page]}
        if start + limit < len(listed):
            out["NextToken"] = page[-1].arn
        return ActionResult(out)

    DynamoHandler.export_table_to_point_in_time = export_table_to_point_in_time
    DynamoHandler.describe_export = describe_export
    DynamoHandler.list_exports = list_exports


def install() -> None:
    """Register the settings and replace moto's export (idempotent)."""
    global _installed
    if _installed:
        return
    settings.register(DELAY_SETTING, 3.0, "seconds an export stays IN_PROGRESS before its files are written "
                      "(DynamoDB: minutes)", minimum=0, maximum=3600)
    settings.register(ITEMS_PER_FILE_SETTING, 10_000, "items at most in one data file of an export (DynamoDB: "
                      "at least one file per partition)", minimum=1, maximum=10_000_000, integer=True)
    settings.register(MIN_INCREMENTAL_SETTING, float(SERVICE_MIN_INCREMENTAL_S), "seconds an incremental export's "
                      "period must span at least (DynamoDB: 15 minutes)", minimum=0, maximum=MAX_INCREMENTAL_S)
    _install_api()
    _installed = True
