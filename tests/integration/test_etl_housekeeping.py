"""What the analytics export leaves behind, found and removed against the lab: an `etl run` killed with -9 after
its files and before its manifest leaves files no reader sees and its local work directory; `dbops janitor` lists
both, deletes them, and the next run publishes a whole batch. While a run holds the pipeline's lease, nothing of
it is listed (negative control); nor is a batch prefix whose newest file is younger than a run's lease on S3's
clock, whoever holds the lease (the lab's service clock is moved forward to age the lake, `aged`). A pipeline keeps its newest keep_batches batches: after N+2 runs N remain,
another pipeline's batch under the same table is left alone, and the lake still answers."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from ops.aws import Aws
from ops.etl import lake
from ops.etl.athena import run_query
from ops.etl.leftovers import RUN_LEASE_HOURS
from ops.lab.aws import emulator, settings
from ops.lab.pg import pgcluster
from ops.lease import lab_ledger
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.integration.etl_support import replayed, start_paused

BUCKET = "dbops-lab-lake-housekeeping"
DB = "dbops_lab_housekeeping"
KEEP_DB = "dbops_lab_housekeeping_keep"  # one Glue table per pipeline: both name theirs "events"
SCHEMA = "etl_housekeeping"
ROWS = 200
PIPELINES = f"""
[pipelines.jan]
destination = {{ bucket = "{BUCKET}", prefix = "jan", database = "{DB}" }}

[pipelines.jan.tables.events]
source = "localpg:lab-pg"
from = "{SCHEMA}.events"
key = ["id"]
columns = {{ id = "bigint", v = "bigint" }}

[pipelines.keep2]
keep_batches = 2
destination = {{ bucket = "{BUCKET}", prefix = "keep2", database = "{KEEP_DB}" }}

[pipelines.keep2.tables.events]
source = "localpg:lab-pg"
from = "{SCHEMA}.events"
key = ["id"]
columns = {{ id = "bigint", v = "bigint" }}
"""


@pytest.fixture(scope="module")
def hk(lab: Cli) -> Iterator[Cli]:
    root = traversable_tmpdir("dbops-etl-hk-")
    cli = Cli(write_config(root, extra=PIPELINES), lab.lab_dir)
    aws = Aws.for_env(cli.config, cli.config.env("lab"))
    aws.client("s3").create_bucket(Bucket=BUCKET)
    for database in (DB, KEEP_DB):
        aws.client("glue").create_database(DatabaseInput={"Name": database})
    pg(cli, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}",
       f"CREATE TABLE {SCHEMA}.events (id bigint PRIMARY KEY, v bigint NOT NULL)",
       f"INSERT INTO {SCHEMA}.events SELECT i, i * 7 FROM generate_series(1, {ROWS}) i")
    yield cli
    pg(cli, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def run_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary directory of the test's own for runs' work directories (the subprocess's TMPDIR and this
    process's, where the janitor looks): the janitor never sees another engineer's runs."""
    path = Path(tempfile.mkdtemp(prefix="dbops-etl-hk-tmp-"))
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def aged(cli: Cli, seconds: float = RUN_LEASE_HOURS * 3600 + 120) -> Iterator[None]:
    """The service's clock moved `seconds` ahead: everything already in the lab's S3 is that much older by the Date
    of S3's answers (its LastModified stays as written). Moved back on the way out."""
    endpoint = emulator.endpoint(cli.lab_dir)
    assert endpoint is not None
    settings.remote(endpoint, {"service_clock_offset_s": seconds})
    try:
        yield
    finally:
        settings.remote(endpoint, {"service_clock_offset_s": 0})


def pg(cli: Cli, *statements: str) -> None:
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    with psycopg.connect(cluster.writer().dsn(), autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def s3(cli: Cli) -> Any:
    return Aws.for_env(cli.config, cli.config.env("lab")).client("s3")


def keys(cli: Cli, prefix: str) -> list[str]:
    pages = s3(cli).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def janitor(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("janitor", *args, "--json")
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def etl_leftovers(report: dict[str, Any]) -> list[dict[str, str]]:
    return [x for x in report["leftovers"] if x["kind"].startswith("etl-")]


def run_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("etl", "run", *args, "--json")
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_a_killed_runs_files_and_work_dir_are_listed_only_once_it_is_dead_then_deleted(hk: Cli, run_tmp: Path) -> None:
    proc, work = start_paused(hk, "uploaded", "jan", tmp=run_tmp)
    try:
        uploaded = [k for k in keys(hk, "jan/events/data/") if "/batch=" in k]
        assert uploaded and not keys(hk, "jan/events/_manifests/"), "the run is paused with its files up and no manifest"
        assert work.parent == run_tmp and (work / "owner.json").exists()
        # Negative control: the run is alive and holds etl:jan; its files and its directory are not leftovers.
        code, listed = janitor(hk, "--dry-run")
        assert etl_leftovers(listed) == [], listed
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    batch = uploaded[0].split("batch=", 1)[1].split("/", 1)[0]
    code, listed = janitor(hk, "--dry-run")
    # Its process is gone, its lease free: its work directory is a leftover, its files not yet (younger than a lease).
    assert {(x["kind"], x["name"]) for x in etl_leftovers(listed)} == {("etl-work-dir", str(work))}, listed
    with aged(hk):
        code, listed = janitor(hk, "--dry-run")
        found = {(x["kind"], x["name"]) for x in etl_leftovers(listed)}
        assert found == {("etl-batch-files", f"s3://{BUCKET}/jan/events/data/batch={batch}/"), ("etl-work-dir", str(work))}, listed
        assert keys(hk, "jan/events/data/") == uploaded and work.exists(), "a dry run deletes nothing"

        code, swept = janitor(hk)
        assert code == 0 and not swept["not_deleted"], swept
        assert keys(hk, "jan/events/data/") == [] and not work.exists()
        code, again = janitor(hk, "--dry-run")
        assert etl_leftovers(again) == []

    pg(hk, f"INSERT INTO {SCHEMA}.events VALUES ({ROWS + 1000}, 1)")
    replayed(hk)
    code, report = run_json(hk, "jan")
    assert code == 0, report["summary"]
    published = report["details"]["published"]["events"]
    manifest = lake.published(s3(hk), lake.Place(BUCKET, "jan", "events"), published["batch"])
    assert manifest is not None and manifest["rows"] == ROWS + 1
    assert keys(hk, "jan/events/data/") == sorted(f["key"] for f in manifest["files"]), "a whole batch, nothing else"
    assert not list(run_tmp.iterdir()), "a run that ends removes its work directory"


def test_a_held_lease_hides_a_pipelines_files_without_manifest(hk: Cli, run_tmp: Path) -> None:
    """Leftovers exactly as a killed run leaves them (a file under a batch prefix, no manifest): with the pipeline's
    lease held they are not listed, nor deleted; released, they are."""
    key = "jan/events/data/batch=20260101T000000000000Z/part-0.parquet"
    s3(hk).put_object(Bucket=BUCKET, Key=key, Body=b"not yet published")
    ledger = lab_ledger(hk.lab_dir)
    with aged(hk):
        with ledger.acquire("etl:jan", "etl-20260101T000000Z-abcdef", hours=1):
            code, listed = janitor(hk, "--dry-run")
            assert etl_leftovers(listed) == [], listed
            code, swept = janitor(hk)
            assert etl_leftovers(swept) == [] and key in keys(hk, "jan/"), "nothing of a running pipeline is deleted"
        code, listed = janitor(hk, "--dry-run")
        assert [x["name"] for x in etl_leftovers(listed)] == [f"s3://{BUCKET}/jan/events/data/batch=20260101T000000000000Z/"]
        code, swept = janitor(hk)
        assert code == 0 and key not in keys(hk, "jan/")


def test_a_batch_prefix_younger_than_a_runs_lease_is_not_a_leftover_though_no_lease_is_held(hk: Cli, run_tmp: Path) -> None:
    """A run that lost its lease (or never took one) may still be writing: its files are left alone until the
    newest of them is older than a run's lease by S3's clock, whatever this host's clock says."""
    key = "jan/events/data/batch=20260103T000000000000Z/part-0.parquet"
    s3(hk).put_object(Bucket=BUCKET, Key=key, Body=b"a run without its lease")
    wanted = [f"s3://{BUCKET}/jan/events/data/batch=20260103T000000000000Z/"]
    for seconds in (0, RUN_LEASE_HOURS * 3600 - 120):
        with aged(hk, seconds):
            code, listed = janitor(hk, "--dry-run")
            assert etl_leftovers(listed) == [], (seconds, listed)
            code, swept = janitor(hk)
            assert etl_leftovers(swept) == [] and key in keys(hk, "jan/"), seconds
    with aged(hk):
        # A file written now (on S3's clock) makes the prefix young again: its newest file decides.
        s3(hk).put_object(Bucket=BUCKET, Key=key.replace("part-0", "part-1"), Body=b"written just now")
        code, listed = janitor(hk, "--dry-run")
        assert etl_leftovers(listed) == [], listed
    with aged(hk, 2 * RUN_LEASE_HOURS * 3600 + 240):  # both files past a lease
        code, listed = janitor(hk, "--dry-run")
        assert [x["name"] for x in etl_leftovers(listed)] == wanted, listed
        assert "6 h (S3's clock)" in etl_leftovers(listed)[0]["why"], etl_leftovers(listed)
        code, swept = janitor(hk)
        assert code == 0 and not keys(hk, "jan/events/data/batch=20260103T000000000000Z/")


def test_after_n_plus_2_runs_n_batches_remain_and_the_lake_still_answers(hk: Cli) -> None:
    place = lake.Place(BUCKET, "keep2", "events")
    # Another pipeline's batch under the same table's prefixes, older than any: never this pipeline's to delete.
    foreign = "20250101T000000000000Z"
    s3(hk).put_object(Bucket=BUCKET, Key=place.manifest(foreign),
                      Body=json.dumps({"pipeline": "other", "table": "events", "batch": foreign, "files": []}).encode())
    s3(hk).put_object(Bucket=BUCKET, Key=place.data(foreign) + "part-0.parquet", Body=b"other's")
    outside = "keep2/events_archive/data/batch=20250101T000000000000Z/part-0.parquet"
    s3(hk).put_object(Bucket=BUCKET, Key=outside, Body=b"outside the table's prefix")
    batches = []
    for i in range(4):
        pg(hk, f"INSERT INTO {SCHEMA}.events VALUES ({ROWS + 2000 + i}, {i})")
        replayed(hk)
        code, report = run_json(hk, "keep2")
        assert code == 0, report["summary"]
        batches.append(report["details"]["published"]["events"]["batch"])
        pruned = report["details"]["pruned"]["events"]
        assert pruned["deleted"] == (batches[:-2][-1:] if i >= 2 else []), pruned
    assert len(set(batches)) == 4
    manifests = [k.rsplit("/", 1)[1][:-5] for k in keys(hk, "keep2/events/_manifests/")]
    assert manifests == sorted([foreign, *batches[-2:]]), manifests
    data = {k.split("batch=", 1)[1].split("/", 1)[0] for k in keys(hk, "keep2/events/data/")}
    assert data == {foreign, *batches[-2:]}, data
    assert outside in keys(hk, "keep2/")
    glue = Aws.for_env(hk.config, hk.config.env("lab")).client("glue")
    assert glue.get_table(DatabaseName=KEEP_DB, Name="events")["Table"]["Parameters"]["dbops:batch"] == batches[-1]
    with psycopg.connect(pgcluster.get(hk.lab_dir).writer().dsn()) as conn:  # type: ignore[union-attr]
        source = sorted(r[0] for r in conn.execute(f"SELECT id FROM {SCHEMA}.events"))
    result = hk("etl", "query", "keep2", "SELECT id FROM events", "--engine", "duckdb", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(r["id"] for r in json.loads(result.stdout)["rows"]) == source, "the newest batch's rows, read back"
    athena = run_query(Aws.for_env(hk.config, hk.config.env("lab")).client("athena"), f"SELECT count(*) FROM {KEEP_DB}.events",
                       KEEP_DB, "primary", f"s3://{BUCKET}/athena-results/", 60, None, progress=lambda _: None)
    assert int(athena.rows[0][0]) == len(source), "Glue's locations still hold the newest batch's files"
    checked = hk("etl", "check", "keep2", "--json")
    assert checked.exit_code == 0, checked.output


def test_a_pipeline_declared_wrongly_is_named_unread_and_the_others_are_still_swept(hk: Cli, run_tmp: Path) -> None:
    bad = PIPELINES + f"""
[pipelines.broken]
keep_batches = 1
destination = {{ bucket = "{BUCKET}", prefix = "broken", database = "{DB}" }}

[pipelines.broken.tables.events]
source = "localpg:lab-pg"
from = "{SCHEMA}.events"
key = ["id"]
columns = {{ id = "bigint" }}
"""
    root = traversable_tmpdir("dbops-etl-hk-bad-")
    try:
        cli = Cli(write_config(root, extra=bad), hk.lab_dir)
        key = "jan/events/data/batch=20260102T000000000000Z/part-0.parquet"
        s3(hk).put_object(Bucket=BUCKET, Key=key, Body=b"a killed run's")
        with aged(hk):
            code, listed = janitor(cli, "--dry-run")
            assert code == 4, listed  # cannot tell what the broken pipeline left
            assert any("etl pipeline broken" in u and "keep_batches" in u for u in listed["unread"]), listed["unread"]
            assert [x["name"] for x in etl_leftovers(listed)] == [f"s3://{BUCKET}/jan/events/data/batch=20260102T000000000000Z/"]
            code, swept = janitor(cli)
            assert key not in keys(hk, "jan/")
    finally:
        shutil.rmtree(root, ignore_errors=True)
