"""dbops etl run when things go wrong: the lab's transient faults (5xx, throttling, reset connections) are ridden
through and the lake gets exactly the source's rows (negative control: the same faults without retries fail the
run in one line); a run killed in each phase (in the extract, after the files before the manifest, after the
manifest before Glue) and run again leaves the lake with exactly the source's rows at T and Glue pointing at
that batch; a rerun of a published T writes nothing; Ctrl-C in the extract aborts (exit 3) and removes the spool.

A run is stopped at a phase by a wrapper of the test's own (WRAPPER): a subprocess that patches the lake's next
step to say where it is and wait, so the test sends its signal at exactly that point."""

from __future__ import annotations

import io
import json
import shutil
import signal
import time
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterator

import psycopg
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from ops.aws import Aws
from ops.etl import lake, run as etl_run
from ops.lab.aws import emulator, settings
from ops.lab.pg import pgcluster
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.integration.etl_support import replayed, start_paused

BUCKET = "dbops-lab-lake-faults"
DB = "dbops_lab_faults"
KILL_DB = "dbops_lab_faults_kill"
DDB_TABLE = "etl_faults_items"
SCHEMA = "etl_faults"
QUICK = {"ddb_restorable_lag_s": 0, "ddb_heartbeat": False, "ddb_export_delay_s": 0}
CALM = {"api_error_every": 0, "api_reset_every": 0, "api_throttle_every": 0}
FAULTS = {"api_error_every": 5, "api_reset_every": 7, "api_throttle_every": 11}
ITEMS = ("items", "pk")
PIPELINES = f"""
[pipelines.both]
destination = {{ bucket = "{BUCKET}", prefix = "both", database = "{DB}" }}

[pipelines.both.tables.items]
source = "dynamodb:{DDB_TABLE}"
key = ["pk"]
partition_by = "region"
columns = {{ pk = "string", n = "bigint", region = "string" }}
rules = {{ not_null = ["n"], unique = ["pk"] }}

[pipelines.both.tables.events]
source = "localpg:lab-pg"
from = "{SCHEMA}.events"
key = ["id"]
columns = {{ id = "bigint", v = "bigint" }}
rules = {{ unique = ["id"] }}

[pipelines.nobucket]
destination = {{ bucket = "dbops-lab-lake-never-made", prefix = "x", database = "{DB}" }}

[pipelines.nobucket.tables.lost_events]  # not pipeline both's Glue table "events": that is refused before S3 is asked
source = "localpg:lab-pg"
from = "{SCHEMA}.events"
key = ["id"]
columns = {{ id = "bigint", v = "bigint" }}

[pipelines.kill]
destination = {{ bucket = "{BUCKET}", prefix = "kill", database = "{KILL_DB}" }}

[pipelines.kill.tables.items]
source = "dynamodb:{DDB_TABLE}"
key = ["pk"]
partition_by = "region"
columns = {{ pk = "string", n = "bigint", region = "string" }}
rules = {{ not_null = ["n"], unique = ["pk"] }}
"""


@pytest.fixture(scope="module")
def flt(lab: Cli) -> Iterator[Cli]:
    root = traversable_tmpdir("dbops-etl-faults-")
    cli = Cli(write_config(root, extra=PIPELINES), lab.lab_dir)
    endpoint = emulator.endpoint(cli.lab_dir)
    before = {k: v["value"] for k, v in settings.remote(endpoint).items() if k in {**QUICK, **CALM}}
    settings.remote(endpoint, {**QUICK, **CALM})
    aws = Aws.for_env(cli.config, cli.config.env("lab"))
    aws.client("s3").create_bucket(Bucket=BUCKET)
    for database in (DB, KILL_DB):
        aws.client("glue").create_database(DatabaseInput={"Name": database})
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName=DDB_TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.update_continuous_backups(TableName=DDB_TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    pg(cli, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}",
       f"CREATE TABLE {SCHEMA}.events (id bigint PRIMARY KEY, v bigint NOT NULL)",
       f"INSERT INTO {SCHEMA}.events SELECT i, i * 7 FROM generate_series(1, 200) i")
    put_items(cli, range(0, 120))
    yield cli
    settings.remote(endpoint, before)
    pg(cli, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    shutil.rmtree(root, ignore_errors=True)


def client(cli: Cli, service: str) -> Any:
    return Aws.for_env(cli.config, cli.config.env("lab")).client(service)


def pg(cli: Cli, *statements: str) -> None:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    with psycopg.connect(cluster.writer().dsn(), autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def pg_keys(cli: Cli) -> set[int]:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    return {r[0] for r in cluster.query(cluster.writer(), f"SELECT id FROM {SCHEMA}.events")}


def put_items(cli: Cli, numbers: Any) -> None:
    ddb = client(cli, "dynamodb")
    for i in numbers:
        ddb.put_item(TableName=DDB_TABLE, Item={"pk": {"S": f"k{i:04d}"}, "n": {"N": str(i)},
                                                "region": {"S": ("eu", "us", "ap")[i % 3]}})


def ddb_keys(cli: Cli) -> set[str]:
    pages = client(cli, "dynamodb").get_paginator("scan").paginate(TableName=DDB_TABLE, ProjectionExpression="pk")
    return {item["pk"]["S"] for page in pages for item in page["Items"]}


def a_second_from_now() -> str:
    """A whole second after every write so far: the table at that T is the table now."""
    second = int(time.time()) + 1
    time.sleep(second + 0.05 - time.time())
    return datetime.fromtimestamp(second, timezone.utc).isoformat()


def faults(cli: Cli, **values: int) -> dict[str, int]:
    endpoint = emulator.endpoint(cli.lab_dir)
    if values:
        settings.remote(endpoint, values)
    with urllib.request.urlopen(endpoint + "/moto-api/dbops-lab/api-faults", timeout=10) as answer:
        return json.loads(answer.read())


def run_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("etl", "run", *args, "--json")
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def in_lake(cli: Cli, pipeline: str, table: str, key: str) -> tuple[str, Counter]:
    """The batch Glue points at, and every key of the files under Glue's partitions (read back from S3); the
    files there must be exactly those its manifest lists."""
    s3, glue = client(cli, "s3"), client(cli, "glue")
    database = KILL_DB if pipeline == "kill" else DB
    described = glue.get_table(DatabaseName=database, Name=table)["Table"]
    batch = described["Parameters"]["dbops:batch"]
    manifest = lake.published(s3, lake.Place(BUCKET, pipeline, table), batch)
    assert manifest is not None, f"Glue points at {batch}, which has no manifest"
    locations = [p["StorageDescriptor"]["Location"] for p in glue.get_partitions(
        DatabaseName=database, TableName=table)["Partitions"]] if manifest["partition"] else [described["StorageDescriptor"]["Location"]]
    prefixes = [loc.split(f"s3://{BUCKET}/", 1)[1] for loc in locations]
    assert prefixes and all(f"/batch={batch}/" in p for p in prefixes), prefixes
    files = sorted(o["Key"] for p in prefixes for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=p).get("Contents", []))
    assert files == sorted(f["key"] for f in manifest["files"]), "the batch's prefix holds files its manifest does not list"
    keys: Counter = Counter()
    for f in files:
        body = s3.get_object(Bucket=BUCKET, Key=f)["Body"].read()
        keys.update(pq.read_table(io.BytesIO(body), columns=[key]).column(key).to_pylist())
    return batch, keys


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


# --- transient faults ------------------------------------------------------------------------------------------


def test_a_run_under_transient_faults_publishes_exactly_the_source_rows(flt: Cli) -> None:
    replayed(flt)
    a_second_from_now()
    before = faults(flt, **FAULTS)
    try:
        code, report = run_json(flt, "both")
    finally:
        after = faults(flt, **CALM)
    assert code == 0, report["summary"] + json.dumps(report["checks"], indent=1)
    met = {k: after[k] - before[k] for k in ("errors", "resets", "throttled")}
    assert all(v > 0 for v in met.values()), f"every kind of fault was met: {met}"
    _, items = in_lake(flt, "both", "items", "pk")
    assert set(items) == ddb_keys(flt) and max(items.values()) == 1
    _, events = in_lake(flt, "both", "events", "id")
    assert set(events) == pg_keys(flt) and max(events.values()) == 1


def test_the_same_faults_without_retries_fail_the_run_in_one_line(flt: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The negative control of the test above: one attempt per AWS call and per step."""
    monkeypatch.setattr(etl_run, "AWS_ATTEMPTS", 1)
    monkeypatch.setattr(etl_run, "RETRIES", 1)
    a_second_from_now()
    faults(flt, **FAULTS)
    try:
        result = flt("etl", "run", "both", "--json")
    finally:
        faults(flt, **CALM)
    report = json.loads(result.stdout)
    assert result.exit_code == 2, report["summary"]
    assert report["status"] == "error" and "\n" not in report["summary"], report["summary"]
    assert any(word in report["summary"] for word in ("SlowDown", "InternalServerError", "InternalFailure",
                                                      "Throttl", "onnection")), report["summary"]
    assert "Traceback" not in result.stderr


def test_a_permanent_refusal_is_not_retried_and_said_in_one_line(flt: Cli) -> None:
    """The bucket does not exist: S3 answers NoSuchBucket, which no retry can change."""
    started = time.monotonic()
    result = flt("etl", "run", "nobucket", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 2 and report["status"] == "error", report["summary"]
    assert "NoSuchBucket" in report["summary"] and "\n" not in report["summary"], report["summary"]
    assert not [e for e in report["events"] if "retrying" in e["message"]], "not retried"
    assert time.monotonic() - started < 10


def test_transient_failures_are_told_from_permanent_ones() -> None:
    def error(status: int, code: str) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")

    assert all(etl_run.transient(error(s, c)) for s, c in ((503, "SlowDown"), (500, "InternalServerError"),
                                                            (400, "ThrottlingException"), (400, "Throttling")))
    assert not any(etl_run.transient(error(s, c)) for s, c in ((403, "AccessDenied"), (404, "NoSuchBucket"),
                                                               (400, "ValidationException")))
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise error(403, "AccessDenied")

    with pytest.raises(ClientError):
        etl_run.retrying("s3", refused, lambda _: None, sleep=lambda _: None)
    assert calls == [1], "a permanent error is not retried"

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise error(503, "SlowDown")
        return "ok"

    assert etl_run.retrying("s3", flaky, lambda _: None, sleep=lambda _: None) == "ok" and len(calls) == 4


# --- a run killed in each phase, then run again --------------------------------------------------------------


@pytest.mark.parametrize("phase", ["extract", "uploaded", "manifest"])
def test_a_run_killed_in_a_phase_and_run_again_publishes_exactly_the_source_rows(flt: Cli, phase: str) -> None:
    a_second_from_now()
    code, first = run_json(flt, "kill")  # a batch published before: Glue points at it
    assert code == 0, first["summary"]
    first_batch = first["details"]["published"]["items"]["batch"]
    n = {"extract": 200, "uploaded": 300, "manifest": 400}[phase]
    put_items(flt, range(n, n + 30))  # the table changes
    at = a_second_from_now()
    expected = ddb_keys(flt)

    proc, work = start_paused(flt, phase, "kill", "--at", at, wait_s=25)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    shutil.rmtree(work, ignore_errors=True)  # a killed run cannot clean up: what it left is not the lake's
    batch, _ = in_lake(flt, "kill", "items", "pk")
    assert batch == first_batch, "a killed run never moved Glue"

    code, again = run_json(flt, "kill", "--at", at)
    assert code == 0, again["summary"]
    published = again["details"]["published"]["items"]
    assert published["already_published"] is (phase == "manifest"), published
    batch, keys = in_lake(flt, "kill", "items", "pk")
    assert batch == published["batch"] != first_batch, "Glue points at the batch at T, not the one before"
    assert set(keys) == expected and max(keys.values()) == 1, "exactly the source's rows at T, none twice"


def test_a_rerun_of_a_published_time_writes_nothing(flt: Cli) -> None:
    at = a_second_from_now()
    code, first = run_json(flt, "kill", "--at", at)
    assert code == 0 and not first["details"]["published"]["items"]["already_published"], first["summary"]
    s3 = client(flt, "s3")

    def objects() -> dict[str, Any]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="kill/items/")
        return {o["Key"]: (o["ETag"], o["LastModified"]) for page in pages for o in page.get("Contents", [])}

    before = objects()
    put_items(flt, range(500, 510))  # the table changes after T: T's batch is what it was
    code, again = run_json(flt, "kill", "--at", at)
    assert code == 0, again["summary"]
    assert again["details"]["published"]["items"]["already_published"] is True
    assert "already published" in checks(again)["ETL-PUBLISH"]["detail"]
    assert objects() == before, "nothing written"


def test_ctrl_c_in_the_extract_aborts_and_removes_the_spool(flt: Cli) -> None:
    at = a_second_from_now()
    proc, work = start_paused(flt, "extract", "kill", "--at", at, wait_s=25)
    assert any(work.rglob("*.parquet")), "the spool holds the extracted rows when the signal comes"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 3, (out, err)
    report = json.loads(out)
    assert report["status"] == "aborted", report["summary"]
    assert not work.exists(), "the spool directory is removed"
    assert "Traceback" not in err
