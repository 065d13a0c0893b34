"""DynamoDB ExportTableToPointInTime in the lab's emulator and dbops's reader of it, through boto3: a
full export holds the items as of its time (not now), an incremental one exactly the changes of its
period, the manifests' counts and MD5s hold, each refusal of the API reference, and the reader stops on
a changed, missing or short data file and reports attributes no column declares."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import time
import tracemalloc
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterator

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from ops.aws import Aws
from ops.etl import contract, ddb_export
from ops.etl.ddb_export import CHANGE_COLUMN, Export, ExportFailed, ExportInvalid
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from tests.conftest import Cli, traversable_tmpdir, write_config

# A lab where a test's writes are restorable at once and exports complete at once.
QUICK = {"ddb_restorable_lag_s": 0, "ddb_heartbeat": False, "ddb_export_delay_s": 0,
         "ddb_export_items_per_file": 10, "ddb_export_min_incremental_s": 0}
COLUMNS = {"pk": "string", "n": "bigint", "price": "decimal(10,2)", "ok": "boolean"}
BUCKET = "lake-exports"


@pytest.fixture(scope="module")
def xlab() -> Iterator[Cli]:
    """An emulator of its own (no PostgreSQL): these tests turn its export settings."""
    root = traversable_tmpdir("dbops-ddbx-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    settings.remote(emulator.endpoint(cli.lab_dir), QUICK)
    aws(cli).client("s3").create_bucket(Bucket=BUCKET)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def lab_set(xlab: Cli) -> Iterator[Callable[..., None]]:
    endpoint = emulator.endpoint(xlab.lab_dir)

    def set_(**values: Any) -> None:
        settings.remote(endpoint, values)

    yield set_
    settings.remote(endpoint, QUICK)


def aws(cli: Cli) -> Aws:
    return Aws.for_env(cli.config, cli.config.env("lab"))


@pytest.fixture
def ddb(xlab: Cli) -> Any:
    return aws(xlab).client("dynamodb")


@pytest.fixture
def s3(xlab: Cli) -> Any:
    return aws(xlab).client("s3")


def make_table(ddb: Any, name: str, pitr: bool = True) -> str:
    described = ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")
    if pitr:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return described["TableDescription"]["TableArn"]


def item(i: int, n: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"pk": {"S": f"k{i:03d}"}, "n": {"N": str(i if n is None else n)}, "price": {"N": f"{i}.25"},
            "ok": {"BOOL": i % 2 == 0}, **extra}


def next_second() -> datetime:
    """A whole second after every write made so far (ExportTime travels as whole seconds), and the clock past it."""
    second = int(time.time()) + 1
    time.sleep(second + 0.05 - time.time())
    return datetime.fromtimestamp(second, timezone.utc)


def export_of(ddb: Any, table_arn: str, at: datetime, since: datetime | None = None, prefix: str = "t") -> Export:
    arn = ddb_export.start_export(ddb, table_arn, BUCKET, prefix, at, since)
    return ddb_export.wait(ddb, arn, 20, lambda _: None)


def rows_of(s3: Any, export: Export, columns: dict[str, str] = COLUMNS) -> list[dict[str, Any]]:
    table = pa.Table.from_batches(list(ddb_export.read(s3, export, columns)), schema=ddb_export.read(s3, export, columns).schema)
    return sorted(table.to_pylist(), key=lambda r: r["pk"])


def manifest_files(s3: Any, export: Export) -> list[dict[str, Any]]:
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key=export.manifest_key)["Body"].read())
    text = s3.get_object(Bucket=BUCKET, Key=summary["manifestFilesS3Key"])["Body"].read().decode()
    return [json.loads(line) for line in text.splitlines() if line]


def test_full_export_holds_the_items_as_of_its_time_not_now(ddb: Any, s3: Any) -> None:
    arn = make_table(ddb, "x-full")
    for i in range(25):
        ddb.put_item(TableName="x-full", Item=item(i))
    at = next_second()
    ddb.put_item(TableName="x-full", Item=item(0, n=999))
    ddb.delete_item(TableName="x-full", Key={"pk": {"S": "k001"}})
    ddb.put_item(TableName="x-full", Item=item(100))
    now = next_second()

    export = export_of(ddb, arn, at)
    rows = rows_of(s3, export)
    assert [r["pk"] for r in rows] == [f"k{i:03d}" for i in range(25)]
    assert rows[0] == {"pk": "k000", "n": 0, "price": Decimal("0.25"), "ok": True}, "item 0 as it was at T"
    described = ddb.describe_export(ExportArn=export.arn)["ExportDescription"]
    assert described["ExportTime"] == at and described["ItemCount"] == 25 and described["ExportType"] == "FULL_EXPORT"
    assert described["EndTime"] >= described["StartTime"]
    assert described["ExportManifest"].startswith(f"t/AWSDynamoDB/{export.arn.rsplit('/', 1)[1]}/")
    assert export.arn in [e["ExportArn"] for e in ddb.list_exports(TableArn=arn)["ExportSummaries"]]

    # Negative control: the same table exported at a later time shows the changes.
    later = rows_of(s3, export_of(ddb, arn, now))
    assert len(later) == 25 and "k001" not in [r["pk"] for r in later] and "k100" in [r["pk"] for r in later]
    assert next(r for r in later if r["pk"] == "k000")["n"] == 999


def test_manifests_list_every_data_file_with_its_count_and_md5(ddb: Any, s3: Any) -> None:
    arn = make_table(ddb, "x-manifest")
    for i in range(23):
        ddb.put_item(TableName="x-manifest", Item=item(i))
    export = export_of(ddb, arn, next_second())
    files = manifest_files(s3, export)
    assert sorted(f["itemCount"] for f in files) == [3, 10, 10], "bounded items per file"
    for f in files:
        body = s3.get_object(Bucket=BUCKET, Key=f["dataFileS3Key"])["Body"].read()
        assert f["md5Checksum"] == base64.b64encode(hashlib.md5(body).digest()).decode()
        assert f["etag"] == hashlib.md5(body).hexdigest()
        lines = gzip.decompress(body).decode().splitlines()
        assert len(lines) == f["itemCount"] and all(set(json.loads(line)) == {"Item"} for line in lines)
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key=export.manifest_key)["Body"].read())
    assert summary["itemCount"] == 23 and summary["exportArn"] == export.arn and summary["outputFormat"] == "DYNAMODB_JSON"
    checksum = s3.get_object(Bucket=BUCKET, Key=export.manifest_key.replace(".json", ".checksum"))["Body"].read().decode()
    raw = s3.get_object(Bucket=BUCKET, Key=export.manifest_key)["Body"].read()
    assert checksum == hashlib.md5(raw).hexdigest()
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=export.manifest_key.rsplit("/", 1)[0])["Contents"]}
    assert {f["dataFileS3Key"] for f in files} | {export.manifest_key} <= listed


def test_incremental_export_holds_exactly_the_changes_of_its_period(ddb: Any, s3: Any) -> None:
    arn = make_table(ddb, "x-incr")
    for i in range(6):
        ddb.put_item(TableName="x-incr", Item=item(i))
    since = next_second()
    ddb.put_item(TableName="x-incr", Item=item(0, n=50))  # updated
    ddb.delete_item(TableName="x-incr", Key={"pk": {"S": "k001"}})  # deleted
    ddb.put_item(TableName="x-incr", Item=item(7))  # created
    ddb.put_item(TableName="x-incr", Item=item(8))
    ddb.delete_item(TableName="x-incr", Key={"pk": {"S": "k008"}})  # created and deleted: no net change
    ddb.update_item(TableName="x-incr", Key={"pk": {"S": "k002"}}, UpdateExpression="SET n = :v",
                    ExpressionAttributeValues={":v": {"N": "20"}})
    ddb.update_item(TableName="x-incr", Key={"pk": {"S": "k002"}}, UpdateExpression="SET n = :v",
                    ExpressionAttributeValues={":v": {"N": "21"}})  # updated twice: its last image
    at = next_second()
    ddb.put_item(TableName="x-incr", Item=item(3, n=77))  # after the period

    export = export_of(ddb, arn, at, since)
    assert export.incremental
    rows = {r["pk"]: r for r in rows_of(s3, export)}
    assert sorted(rows) == ["k000", "k001", "k002", "k007"], "untouched k004/k005 and the later k003 are not changes"
    assert rows["k000"]["n"] == 50 and rows["k000"][CHANGE_COLUMN] == "put"
    assert rows["k001"][CHANGE_COLUMN] == "delete" and rows["k001"]["n"] is None
    assert rows["k002"]["n"] == 21 and rows["k007"]["n"] == 7
    assert all(since <= r["_written_at"] < at for r in rows.values())

    # The service's NEW_AND_OLD_IMAGES shape, read raw: OldImage is the item before the period.
    described = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=BUCKET, S3Prefix="raw", ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={"ExportFromTime": since, "ExportToTime": at, "ExportViewType": "NEW_AND_OLD_IMAGES"})
    done = ddb_export.wait(ddb, described["ExportDescription"]["ExportArn"], 20, lambda _: None)
    lines = {}
    for f in manifest_files(s3, done):
        body = s3.get_object(Bucket=BUCKET, Key=f["dataFileS3Key"])["Body"].read()
        for line in gzip.decompress(body).decode().splitlines():
            parsed = json.loads(line)
            lines[parsed["Keys"]["pk"]["S"]] = parsed
    assert set(lines["k000"]) == {"Metadata", "Keys", "NewImage", "OldImage"}
    assert lines["k000"]["OldImage"]["n"] == {"N": "0"} and lines["k000"]["NewImage"]["n"] == {"N": "50"}
    assert set(lines["k001"]) == {"Metadata", "Keys", "OldImage"}, "a delete has no new image"
    assert set(lines["k007"]) == {"Metadata", "Keys", "NewImage"}, "a creation has no old image"


def test_export_refusals_follow_the_api_reference(ddb: Any, lab_set: Callable[..., None]) -> None:
    plain = make_table(ddb, "x-nopitr", pitr=False)
    with pytest.raises(ClientError) as no_pitr:
        ddb.export_table_to_point_in_time(TableArn=plain, S3Bucket=BUCKET, ExportTime=next_second())
    assert no_pitr.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"

    arn = make_table(ddb, "x-refuse")
    for when in (datetime.fromtimestamp(time.time() - 3600, timezone.utc), datetime.fromtimestamp(time.time() + 3600, timezone.utc)):
        with pytest.raises(ClientError) as outside:
            ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ExportTime=when)
        assert outside.value.response["Error"]["Code"] == "InvalidExportTimeException", when

    with pytest.raises(ClientError) as ion:
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ExportFormat="ION")
    assert ion.value.response["Error"]["Code"] == "ValidationException" and "not supported by the lab" in str(ion.value)

    at = next_second()
    first = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ExportTime=at, ClientToken="tok-1")
    again = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ExportTime=at, ClientToken="tok-1")
    assert again["ExportDescription"]["ExportArn"] == first["ExportDescription"]["ExportArn"]
    with pytest.raises(ClientError) as conflict:
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, S3Prefix="other", ExportTime=at, ClientToken="tok-1")
    assert conflict.value.response["Error"]["Code"] == "ImportConflictException"

    with pytest.raises(ClientError) as unknown:
        ddb.describe_export(ExportArn=f"{arn}/export/00000000000000-deadbeef")
    assert unknown.value.response["Error"]["Code"] == "ExportNotFoundException"

    lab_set(ddb_export_min_incremental_s=900)
    with pytest.raises(ClientError) as short:
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ExportType="INCREMENTAL_EXPORT",
                                          IncrementalExportSpecification={"ExportFromTime": at, "ExportToTime": next_second()})
    assert short.value.response["Error"]["Code"] == "InvalidExportTimeException" and "900" in str(short.value)


def test_an_export_to_a_missing_bucket_fails_and_wait_says_why(ddb: Any) -> None:
    arn = make_table(ddb, "x-nobucket")
    started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="no-such-bucket-here", ExportTime=next_second())
    with pytest.raises(ExportFailed, match="FAILED: S3NoSuchBucket"):
        ddb_export.wait(ddb, started["ExportDescription"]["ExportArn"], 20, lambda _: None)


def test_wait_polls_an_export_in_progress_until_it_completes(ddb: Any, lab_set: Callable[..., None]) -> None:
    arn = make_table(ddb, "x-slow")
    ddb.put_item(TableName="x-slow", Item=item(1))
    lab_set(ddb_export_delay_s=2.5)
    export_arn = ddb_export.start_export(ddb, arn, BUCKET, "slow", next_second())
    assert ddb.describe_export(ExportArn=export_arn)["ExportDescription"]["ExportStatus"] == "IN_PROGRESS"
    said: list[str] = []
    started = time.monotonic()
    done = ddb_export.wait(ddb, export_arn, 20, said.append)
    assert done.item_count == 1 and 2.0 <= time.monotonic() - started < 10
    assert len(said) >= 2 and "IN_PROGRESS" in said[0] and "COMPLETED" in said[-1]
    # Negative control: a timeout shorter than the export is an error, not a completed export.
    lab_set(ddb_export_delay_s=30)
    late = ddb_export.start_export(ddb, arn, BUCKET, "late", next_second())
    with pytest.raises(ExportFailed, match="still IN_PROGRESS"):
        ddb_export.wait(ddb, late, 1.5, lambda _: None)


@pytest.fixture
def exported(ddb: Any, s3: Any) -> Export:
    name = f"x-read-{time.monotonic_ns()}"
    arn = make_table(ddb, name)
    for i in range(15):
        ddb.put_item(TableName=name, Item=item(i))
    return export_of(ddb, arn, next_second(), prefix=name)


def test_reader_stops_on_a_changed_data_file(s3: Any, exported: Export) -> None:
    assert len(rows_of(s3, exported)) == 15  # the control: read whole before the change
    victim = manifest_files(s3, exported)[1]["dataFileS3Key"]
    s3.put_object(Bucket=BUCKET, Key=victim, Body=gzip.compress(b'{"Item":{"pk":{"S":"forged"}}}\n'))
    with pytest.raises(ExportInvalid, match="has MD5 .* the manifest says"):
        rows_of(s3, exported)


def test_reader_stops_on_a_missing_data_file(s3: Any, exported: Export) -> None:
    s3.delete_object(Bucket=BUCKET, Key=manifest_files(s3, exported)[0]["dataFileS3Key"])
    with pytest.raises(ExportInvalid, match="named in the manifest cannot be read: NoSuchKey"):
        rows_of(s3, exported)


def test_reader_stops_on_a_file_shorter_than_its_manifest_says(s3: Any, exported: Export) -> None:
    files = manifest_files(s3, exported)
    files[0]["itemCount"] += 1  # the total still agrees with the summary: only the file's own count shows it
    files[1]["itemCount"] -= 1
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key=exported.manifest_key)["Body"].read())
    s3.put_object(Bucket=BUCKET, Key=summary["manifestFilesS3Key"], Body="\n".join(json.dumps(f) for f in files).encode())
    with pytest.raises(ExportInvalid, match="holds 10 items, the manifest says 11"):
        rows_of(s3, exported)


def test_reader_reports_undeclared_attributes_and_values_that_do_not_fit(ddb: Any, s3: Any) -> None:
    arn = make_table(ddb, "x-schema")
    ddb.put_item(TableName="x-schema", Item=item(1, note={"S": "new column"}))
    ddb.put_item(TableName="x-schema", Item=item(2))
    ddb.put_item(TableName="x-schema", Item={"pk": {"S": "k003"}, "n": {"NULL": True}})
    export = export_of(ddb, arn, next_second())
    reader = ddb_export.read(s3, export, COLUMNS)
    table = pa.Table.from_batches(list(reader), schema=reader.schema)
    assert reader.undeclared == {"note": 1} and reader.items_read == 3 and reader.files_read == 1
    absent = next(r for r in table.to_pylist() if r["pk"] == "k003")
    assert absent == {"pk": "k003", "n": None, "price": None, "ok": None}, "absent and NULL attributes are nulls"
    # Negative control: the declared schema is checked, not assumed: n is no string (the items are counted as
    # retyped, for the contract), price no int (a value that does not fit: counted too, with its item's key,
    # never a read that stops on one item).
    retyped = ddb_export.read(s3, export, {"pk": "string", "n": "string"}, key=("pk",))
    assert pa.Table.from_batches(list(retyped), schema=retyped.schema).column("n").null_count == 3
    assert retyped.misfits == {"n": {"N": 2}} and retyped.misfit_keys == {"n": ["k001", "k002"]}
    unfit = ddb_export.read(s3, export, {"pk": "string", "price": "int"}, key=("pk",))
    assert pa.Table.from_batches(list(unfit), schema=unfit.schema).column("price").null_count == 3
    assert unfit.misfits == {"price": {"N that does not fit": 2}} and unfit.misfit_keys == {"price": ["k001", "k002"]}


def test_reader_batches_are_bounded(s3: Any, exported: Export) -> None:
    batches = list(ddb_export.read(s3, exported, COLUMNS, batch_rows=4))
    assert [b.num_rows for b in batches] == [4, 4, 4, 3]


def test_list_exports_pages_through_a_tables_exports(ddb: Any) -> None:
    arn = make_table(ddb, "x-list")
    at = next_second()
    started = [ddb_export.start_export(ddb, arn, BUCKET, f"list-{i}", at) for i in range(3)]
    seen, token = [], None
    while True:
        page = ddb.list_exports(TableArn=arn, MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["ExportSummaries"]) <= 2
        seen += [(e["ExportArn"], e["ExportType"]) for e in page["ExportSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == [(a, "FULL_EXPORT") for a in started]


def test_reader_memory_does_not_grow_with_the_table(ddb: Any, s3: Any, lab_set: Callable[..., None]) -> None:
    """Peak Python memory while reading 200 and 2,000 items in files of 100 and batches of 50: about the same."""
    lab_set(ddb_export_items_per_file=100)
    peaks, kept = {}, {}
    for count in (200, 2000):
        name = f"x-mem-{count}"
        arn = make_table(ddb, name)
        for start in range(0, count, 25):
            ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": item(i, pad={"S": "x" * 200})}}
                                                      for i in range(start, min(start + 25, count))]})
        export = export_of(ddb, arn, next_second(), prefix=name)
        tracemalloc.start()
        rows = sum(batch.num_rows for batch in ddb_export.read(s3, export, COLUMNS, batch_rows=50))
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert rows == count
        # Negative control: the same measure on a consumer that keeps every row grows with the table.
        tracemalloc.start()
        held = [batch.to_pylist() for batch in ddb_export.read(s3, export, COLUMNS, batch_rows=50)]
        kept[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del held
    print(f"peak traced memory, streamed: 200 items {peaks[200]} B, 2,000 items {peaks[2000]} B; "
          f"rows kept: {kept[200]} B, {kept[2000]} B")
    assert peaks[2000] < 1.5 * peaks[200], peaks
    assert kept[2000] > 3 * kept[200], kept


def test_an_export_under_a_kms_key_asks_for_sse_kms_and_its_files_are_stored_so(xlab: Cli, ddb: Any, s3: Any) -> None:
    key = aws(xlab).client("kms").create_key(Description="lake exports")["KeyMetadata"]
    key_id = key["KeyId"]
    arn = make_table(ddb, "x-kms")
    for i in range(12):
        ddb.put_item(TableName="x-kms", Item=item(i))
    at = next_second()
    export = ddb_export.wait(ddb, ddb_export.start_export(ddb, arn, BUCKET, "kms", at, kms_key=key_id), 20, lambda _: None)
    described = ddb.describe_export(ExportArn=export.arn)["ExportDescription"]
    # Asked under the key's id, the export is described under the key's ARN (another form of the same key).
    assert (described["S3SseAlgorithm"], described["S3SseKmsKeyId"]) == ("KMS", key["Arn"]) == export.sse
    head = s3.head_object(Bucket=BUCKET, Key=manifest_files(s3, export)[0]["dataFileS3Key"])
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"].endswith(key_id), head
    assert len(rows_of(s3, export)) == 12

    # Negative control: the same export without a key is SSE-S3 (the service's default), and is another export.
    plain = export_of(ddb, arn, at, prefix="kms")
    assert plain.arn != export.arn and plain.sse == ("AES256", None)
    assert "S3SseKmsKeyId" not in ddb.describe_export(ExportArn=plain.arn)["ExportDescription"]
    head = s3.head_object(Bucket=BUCKET, Key=manifest_files(s3, plain)[0]["dataFileS3Key"])
    assert head["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in head
    # An algorithm the API reference does not list is refused.
    with pytest.raises(ClientError, match="S3SseAlgorithm must be AES256 or KMS"):
        ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ExportTime=at, S3SseAlgorithm="aws:kms")
    # A key that does not exist encrypts nothing: the export fails, as S3 cannot use the key.
    started = ddb_export.start_export(ddb, arn, BUCKET, "kms-missing", at, kms_key="alias/does-not-exist")
    deadline = time.monotonic() + 20
    while (described := ddb.describe_export(ExportArn=started)["ExportDescription"])["ExportStatus"] == "IN_PROGRESS":
        assert time.monotonic() < deadline, described
        time.sleep(0.2)
    assert (described["ExportStatus"], described.get("FailureCode")) == ("FAILED", "KMSAccessDenied"), described


def judged(s3: Any, export: Export, mode: str, columns: dict[str, str] = COLUMNS,
           before: dict[str, list[str]] | None = None) -> contract.ContractResult:
    """The contract's verdict on an export, as a run judges it: the items read whole, then their types."""
    reader = ddb_export.read(s3, export, columns, key=("pk",))
    for _ in reader:
        pass
    return contract.check_items(columns, list(reader.undeclared), reader.types(), mode, before)


def test_an_attribute_dropped_or_retyped_at_the_source_fails_the_contract_naming_the_items(ddb: Any, s3: Any) -> None:
    arn = make_table(ddb, "x-drift")
    for i in range(12):
        ddb.put_item(TableName="x-drift", Item=item(i))
    unchanged = export_of(ddb, arn, next_second(), prefix="drift")
    # Two items now carry n as text, and no item carries ok any more.
    for i in range(12):
        changed = {k: v for k, v in item(i).items() if k != "ok"}
        if i in (3, 7):
            changed["n"] = {"S": f"{i}"}
        ddb.put_item(TableName="x-drift", Item=changed)
    drifted = export_of(ddb, arn, next_second(), prefix="drift")

    for mode in contract.MODES:
        control = judged(s3, unchanged, mode)
        assert control.passed and control.dropped == () and control.retyped == (), control.message
        result = judged(s3, drifted, mode)
        assert not result.passed and result.schema_to_publish is None, (mode, result.message)
        assert result.dropped == ("ok",), result.message
        assert [(n, w) for n, w, _ in result.retyped] == [("n", "bigint")], result.message
        assert "DynamoDB S in 2 item(s), keys k003, k007" in result.message, result.message
    # NULL is an attribute written as null, not one gone: an item carrying ok as NULL keeps it declared.
    ddb.put_item(TableName="x-drift", Item={"pk": {"S": "k100"}, "ok": {"NULL": True}})
    assert judged(s3, export_of(ddb, arn, next_second(), prefix="drift"), "evolve").dropped == ()


def test_a_type_changed_since_the_previous_batch_fails_freeze_and_is_reported_under_evolve(ddb: Any, s3: Any) -> None:
    columns = {"pk": "string", "seen_at": "timestamp"}
    arn = make_table(ddb, "x-since")
    for i in range(6):
        ddb.put_item(TableName="x-since", Item={"pk": {"S": f"k{i:03d}"}, "seen_at": {"N": str(1_700_000_000 + i)}})
    first = export_of(ddb, arn, next_second(), prefix="since")
    reader = ddb_export.read(s3, first, columns, key=("pk",))
    list(reader)
    before = reader.types().published()
    assert before == {"pk": ["S"], "seen_at": ["N"]}
    # Negative control: the same types again pass every mode.
    assert all(judged(s3, first, mode, columns, before).passed for mode in contract.MODES)

    ddb.put_item(TableName="x-since", Item={"pk": {"S": "k002"}, "seen_at": {"S": "2026-01-01T00:00:00Z"}})
    second = export_of(ddb, arn, next_second(), prefix="since")
    frozen = judged(s3, second, "freeze", columns, before)
    assert not frozen.passed and "seen_at DynamoDB N -> DynamoDB N/S" in frozen.message, frozen.message
    evolved = judged(s3, second, "evolve", columns, before)
    assert evolved.passed and "also written as another type" in evolved.message, evolved.message
    # Without a previous batch there is nothing to compare with: a timestamp takes both.
    assert judged(s3, second, "freeze", columns).passed
