"""A batch's files go to the lab's S3 by boto3's managed transfer: a file above the part size in parts, each part
with its SHA-256 that S3 checks, read back identical through the manifest; a part changed on its way is refused
(BadDigest) and nothing is stored."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from ops.aws import Aws
from ops.errors import CannotRun
from ops.etl import lake
from ops.lab import lab as lab_core
from tests.conftest import Cli, traversable_tmpdir, write_config

BUCKET = "lake-upload"
PART = 5 * 1024 * 1024  # S3's smallest part


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """An emulator of its own (no PostgreSQL)."""
    root = traversable_tmpdir("dbops-upload-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    client = Aws.for_env(cli.config, cli.config.env("lab")).client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def spool(tmp_path: Path) -> lake.Spool:
    """One uncompressed Parquet file of random text, a little over two parts."""
    path = tmp_path / "spool" / "part-0.parquet"
    path.parent.mkdir()
    rows = 200
    blobs = [os.urandom(2 * PART // (2 * rows) + 2 * 1024).hex() for _ in range(rows)]
    pq.write_table(pa.table({"pk": [f"k{i:04d}" for i in range(rows)], "blob": blobs}), path, compression="none")
    assert 2 * PART < path.stat().st_size < 3 * PART
    return lake.Spool(path.parent, {"pk": "string", "blob": "string"}, None, rows, [path])


def manifest_of(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch": "20260101T000000000000Z", "table": "t", "files": files}


def test_a_file_above_the_part_size_goes_in_parts_and_reads_back_identical(s3: Any, spool: lake.Spool, tmp_path: Path) -> None:
    parts: list[str] = []
    s3.meta.events.register("before-send.s3.UploadPart", lambda request, **_: parts.append(request.headers.get("x-amz-checksum-sha256")))
    try:
        files = lake.upload(s3, spool, BUCKET, "multi/data/batch=20260101T000000000000Z/", part_bytes=PART)
    finally:
        s3.meta.events.unregister("before-send.s3.UploadPart")
    assert len(parts) == 3 and all(parts), parts  # each part sent with its SHA-256
    key = files[0]["key"]
    assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"').endswith("-3"), "a multipart object"
    assert files[0]["sha256"] == lake.sha256_of(spool.files[0]) and files[0]["bytes"] == spool.files[0].stat().st_size
    assert "md5" not in files[0]
    root = lake.download(s3, BUCKET, manifest_of(files), tmp_path / "back")
    assert (root / "part-0.parquet").read_bytes() == spool.files[0].read_bytes()

    # Negative control: below the part size the same file is one PutObject (no parts), still read back whole.
    whole = lake.upload(s3, spool, BUCKET, "single/data/batch=20260101T000000000000Z/", part_bytes=4 * PART)
    assert "-" not in s3.head_object(Bucket=BUCKET, Key=whole[0]["key"])["ETag"]
    assert whole[0]["sha256"] == files[0]["sha256"]
    # A batch published before the SHA-256 was kept is checked by its manifest's MD5.
    older = [dict({k: v for k, v in files[0].items() if k != "sha256"}, md5=hashlib.md5(spool.files[0].read_bytes()).hexdigest())]
    assert (lake.download(s3, BUCKET, manifest_of(older), tmp_path / "older") / "part-0.parquet").stat().st_size == files[0]["bytes"]
    # A published file changed behind its manifest (same size) is refused on the way back, by either digest.
    body = spool.files[0].read_bytes()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(CannotRun, match="differs from its manifest's SHA-256"):
        lake.download(s3, BUCKET, manifest_of(files), tmp_path / "again")
    with pytest.raises(CannotRun, match="differs from its manifest's MD5"):
        lake.download(s3, BUCKET, manifest_of(older), tmp_path / "again-older")


def test_a_part_changed_on_its_way_is_refused_and_nothing_is_stored(s3: Any, spool: lake.Spool) -> None:
    def corrupt(request: Any, **_: Any) -> None:
        if "partNumber=2" in request.url:
            body = request.body.read() if hasattr(request.body, "read") else bytes(request.body)
            request.body = bytes([body[0] ^ 0xFF]) + body[1:]  # same length, one byte changed after its SHA-256

    prefix = "corrupt/data/batch=20260101T000000000000Z/"
    s3.meta.events.register("before-send.s3.UploadPart", corrupt)
    try:
        with pytest.raises(ClientError) as refused:
            lake.upload(s3, spool, BUCKET, prefix, part_bytes=PART)
    finally:
        s3.meta.events.unregister("before-send.s3.UploadPart", corrupt)
    assert refused.value.response["Error"]["Code"] == "BadDigest", refused.value.response
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    assert not [u for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) if u["Key"].startswith(prefix)]
    # Negative control: the same upload unchanged is stored.
    lake.upload(s3, spool, BUCKET, prefix, part_bytes=PART)
    assert len(s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]) == 1
