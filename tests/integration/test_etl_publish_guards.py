"""What `etl run` checks before readers can see a batch, against the lab: a run whose lease `etl:PIPELINE` is lost
writes no manifest (lost before it) or switches no Glue table (lost after it), and its report is an error; a
manifest never lists a file that is not in the bucket; a Glue table partitioned otherwise than the pipeline now
partitions (partition_grain changed), or made by another pipeline, is refused before anything is extracted or
written. Each has its negative control: the same run with the lease held, every file there and the catalog as
the pipeline made it publishes."""

from __future__ import annotations

import json
import shutil
from typing import Any, Iterator

import psycopg
import pytest

from ops.aws import Aws
from ops.etl import lake
from ops.lab.pg import pgcluster
from ops.lease import FileLedger
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.integration.etl_support import replayed

BUCKET = "dbops-lab-lake-guards"
DB = "dbops_lab_guards"
SCHEMA = "etl_guards"
ROWS = 300


def pipeline(name: str = "guard", prefix: str = "guard", grain: str = "day") -> str:
    return f"""
[pipelines.{name}]
destination = {{ bucket = "{BUCKET}", prefix = "{prefix}", database = "{DB}" }}

[pipelines.{name}.tables.orders]
source = "localpg:lab-pg"
from = "{SCHEMA}.orders"
key = ["id"]
partition_by = "created_at"
partition_grain = "{grain}"
columns = {{ id = "bigint", created_at = "timestamp" }}
"""


def pg(cli: Cli, *statements: str) -> None:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    with psycopg.connect(cluster.writer().dsn(), autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def changed(cli: Cli, row: int, created_at: str) -> None:
    """A new row, replayed by every replica: the next run's T (the reader's last replayed commit) is a new batch."""
    pg(cli, f"INSERT INTO {SCHEMA}.orders VALUES ({row}, timestamptz '{created_at}')")
    replayed(cli)


@pytest.fixture(scope="module")
def guards(lab: Cli) -> Iterator[Cli]:
    root = traversable_tmpdir("dbops-etl-guards-")
    cli = Cli(write_config(root, extra=pipeline()), lab.lab_dir)
    aws = Aws.for_env(cli.config, cli.config.env("lab"))
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("glue").create_database(DatabaseInput={"Name": DB})
    pg(cli, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}",
       f"CREATE TABLE {SCHEMA}.orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL)",
       f"INSERT INTO {SCHEMA}.orders SELECT i, timestamptz '2026-01-01' + i * interval '7 hours' FROM generate_series(1, {ROWS}) i")
    yield cli
    pg(cli, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    shutil.rmtree(root, ignore_errors=True)


def other(cli: Cli, extra: str) -> Iterator[Cli]:
    root = traversable_tmpdir("dbops-etl-guards-other-")
    try:
        yield Cli(write_config(root, extra=extra), cli.lab_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def client(cli: Cli, service: str) -> Any:
    return Aws.for_env(cli.config, cli.config.env("lab")).client(service)


def keys(cli: Cli, prefix: str = "") -> list[str]:
    pages = client(cli, "s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def manifests(cli: Cli) -> list[str]:
    return [k for k in keys(cli, "guard/orders/_manifests/")]


def glue_batch(cli: Cli) -> str | None:
    glue = client(cli, "glue")
    try:
        return glue.get_table(DatabaseName=DB, Name="orders")["Table"]["Parameters"].get("dbops:batch")
    except glue.exceptions.EntityNotFoundException:
        return None


def run_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("etl", "run", *args, "--json")
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def leases(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every lease the lab's ledger gives out in the test, so that the test can take one over as a renewal thread
    does when another holder took it (Lease.taken)."""
    given: list[Any] = []
    acquire = FileLedger.acquire

    def recorded(self: FileLedger, target: str, drill_id: str, hours: float) -> Any:
        lease = acquire(self, target, drill_id, hours)
        given.append(lease)
        return lease

    monkeypatch.setattr(FileLedger, "acquire", recorded)
    return given


@pytest.mark.parametrize("step", ["upload", "write_manifest"])
def test_a_run_that_loses_its_lease_publishes_nothing_more_and_is_an_error(guards: Cli, leases: list[Any],
                                                                          monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Lost after the upload: no manifest is written. Lost after the manifest: Glue is not switched to it."""
    before_manifests, before_glue = manifests(guards), glue_batch(guards)
    original = getattr(lake, step)

    def then_lost(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        leases[-1].taken("another run holds it since its expiry (test)")
        return out

    monkeypatch.setattr(lake, step, then_lost)
    code, report = run_json(guards, "guard")
    assert code == 2 and report["status"] == "error", report["summary"]
    assert "lost its lease on etl:guard" in report["summary"], report["summary"]
    assert {c["id"]: c["status"] for c in report["checks"]}.get("LEASE") == "error", report["checks"]
    assert glue_batch(guards) == before_glue, "Glue is never switched by a run that lost its lease"
    if step == "upload":
        assert manifests(guards) == before_manifests, "no manifest after the lease is lost"
    else:
        assert len(manifests(guards)) == len(before_manifests) + 1  # written while the lease was held


def test_a_run_with_its_lease_held_publishes_and_glue_serves_it(guards: Cli, leases: list[Any]) -> None:
    """Negative control of the lease guard: the same run, its lease held throughout."""
    changed(guards, ROWS + 10, "2026-02-01")
    code, report = run_json(guards, "guard")
    assert code == 0, report["summary"]
    batch = report["details"]["published"]["orders"]["batch"]
    assert glue_batch(guards) == batch and leases and leases[-1].loss_reason() is None
    assert "LEASE" not in {c["id"] for c in report["checks"]}


def test_a_manifest_never_lists_a_file_missing_from_the_bucket(guards: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    before_manifests, before_glue = manifests(guards), glue_batch(guards)
    strays = lake.strays
    gone: list[str] = []

    def then_one_deleted(s3: Any, bucket: str, prefix: str, files: list[dict[str, Any]]) -> int:
        out = strays(s3, bucket, prefix, files)
        gone.append(files[0]["key"])
        s3.delete_object(Bucket=bucket, Key=gone[0])  # e.g. a lifecycle rule or another writer, between upload and manifest
        return out

    changed(guards, ROWS + 1, "2026-03-01")
    monkeypatch.setattr(lake, "strays", then_one_deleted)
    code, report = run_json(guards, "guard")
    assert code == 2 and report["status"] == "error", report["summary"]
    assert gone and gone[0] in report["summary"] and "no manifest is written" in report["summary"], report["summary"]
    assert manifests(guards) == before_manifests and glue_batch(guards) == before_glue

    monkeypatch.setattr(lake, "strays", strays)  # negative control: every file there, the batch is published
    code, report = run_json(guards, "guard")
    assert code == 0, report["summary"]
    manifest = lake.published(client(guards, "s3"), lake.Place(BUCKET, "guard", "orders"),
                              report["details"]["published"]["orders"]["batch"])
    assert manifest is not None and lake.missing_files(client(guards, "s3"), BUCKET, manifest) == []


def test_a_changed_partition_grain_is_refused_before_anything_is_written(guards: Cli) -> None:
    code, report = run_json(guards, "guard")  # the Glue table exists, partitioned by day
    assert code == 0, report["summary"]
    parts = [k["Name"] for k in client(guards, "glue").get_table(DatabaseName=DB, Name="orders")["Table"]["PartitionKeys"]]
    assert parts == ["created_at_date"]
    changed(guards, ROWS + 2, "2026-04-01")
    everything, served = keys(guards), glue_batch(guards)
    for monthly in other(guards, pipeline(grain="month")):
        result = monthly("etl", "run", "guard", "--json")
        answer = json.loads(result.stdout)
        assert result.exit_code == 2 and answer["status"] == "error", answer["summary"]
        line = answer["summary"]
        assert "partitioned by created_at_date" in line and "created_at_month" in line and "drop or rename" in line, line
        assert "\n" not in line and "Traceback" not in result.output
        assert keys(guards) == everything and glue_batch(guards) == served, "nothing is written, nothing switched"


def test_a_glue_table_of_another_pipeline_is_refused_before_anything_is_written(guards: Cli) -> None:
    code, report = run_json(guards, "guard")
    assert code == 0, report["summary"]
    everything, served = keys(guards), glue_batch(guards)
    for intruder in other(guards, pipeline(name="intruder", prefix="intruder")):
        result = intruder("etl", "run", "intruder", "--json")
        answer = json.loads(result.stdout)
        assert result.exit_code == 2 and answer["status"] == "error", answer["summary"]
        assert "is not pipeline intruder's (its dbops:pipeline is guard)" in answer["summary"], answer["summary"]
        assert keys(guards) == everything and glue_batch(guards) == served, "nothing is written, nothing switched"
