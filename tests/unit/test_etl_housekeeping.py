"""keep_batches is read and checked with the pipeline (a bad value is one line, exit 2, before anything runs); the
batches a prune keeps; a run's work directory is found dead once its process is killed, never while it runs."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ops.errors import UsageError
from ops.etl import workdir
from ops.etl.leftovers import s3_now
from ops.etl.config import parse
from ops.etl.prune import to_keep
from tests.conftest import REPO, Cli, traversable_tmpdir, write_config

TABLES = {"events": {"source": "localpg:lab-pg", "from": "s.events", "key": ["id"], "columns": {"id": "bigint"}}}
DEST = {"bucket": "dbops-lab-lake", "prefix": "p", "database": "d"}


def pipeline(**extra: object) -> dict:
    return {"destination": DEST, "tables": TABLES, **extra}


def test_keep_batches_defaults_to_seven_and_takes_an_integer_of_at_least_two() -> None:
    assert parse("p", pipeline(), "t").keep_batches == 7
    assert parse("p", pipeline(keep_batches=2), "t").keep_batches == 2


@pytest.mark.parametrize("bad", [1, 0, -3, "7", 2.5, True, None])
def test_a_bad_keep_batches_is_refused_naming_the_key(bad: object) -> None:
    with pytest.raises(UsageError) as caught:
        parse("p", pipeline(keep_batches=bad), "dbops.toml")
    said = str(caught.value)
    assert "pipelines.p.keep_batches must be an integer of at least 2" in said and "\n" not in said


def test_etl_run_with_a_bad_keep_batches_is_one_line_exit_2() -> None:
    root = traversable_tmpdir("dbops-etl-keep-")
    try:
        extra = """
[pipelines.p]
keep_batches = 1
destination = { bucket = "dbops-lab-lake", prefix = "p", database = "d" }
[pipelines.p.tables.events]
source = "localpg:lab-pg"
from = "s.events"
key = ["id"]
columns = { id = "bigint" }
"""
        cli = Cli(write_config(root, extra=extra), root / ".lab")
        result = cli("etl", "run", "p")
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "keep_batches must be an integer of at least 2, got 1" in lines[0], result.stderr
        assert "Traceback" not in result.output
        assert not (root / "reports").exists() or not any((root / "reports").rglob("*.json")), "nothing was run"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_s3_s_time_is_the_answer_s_date_header_and_without_one_it_is_not_known() -> None:
    """The janitor ages an etl batch prefix by S3's clock alone: no Date (or one it cannot read), no age."""
    from datetime import datetime, timezone

    answer = {"ResponseMetadata": {"HTTPHeaders": {"date": "Mon, 07 Dec 2026 04:50:24 GMT"}}}
    assert s3_now(answer) == datetime(2026, 12, 7, 4, 50, 24, tzinfo=timezone.utc)
    assert s3_now({"ResponseMetadata": {"HTTPHeaders": {}}}) is None and s3_now({}) is None
    assert s3_now({"ResponseMetadata": {"HTTPHeaders": {"date": "yesterday"}}}) is None


def test_a_prune_keeps_the_newest_the_one_glue_points_at_and_the_one_just_published() -> None:
    ids = [f"2026010{d}T000000000000Z" for d in range(1, 8)]
    assert to_keep(ids, 2, None, None) == set(ids[-2:])
    assert to_keep(ids, 2, ids[0], None) == {ids[0], *ids[-2:]}  # Glue still on an old batch: kept
    assert to_keep(ids, 3, ids[-1], ids[1]) == {ids[1], *ids[-3:]}  # a backfill just published: kept
    assert to_keep(ids[:1], 7, None, None) == {ids[0]}


MAKER = """
import sys, time
from pathlib import Path
from ops.etl import workdir
from ops.etl.leftovers import s3_now
print(workdir.make(Path(sys.argv[1])), flush=True)
time.sleep(60)
"""


def test_a_killed_runs_work_dir_is_found_dead_and_a_running_ones_is_not(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", MAKER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        made = Path(proc.stdout.readline().strip())
        (made / "events").mkdir()
        (made / "events" / "part-0.parquet").write_bytes(b"x" * 100)
        mine = workdir.make(tmp_path)  # this process's: alive
        stranger = tmp_path / f"{workdir.PREFIX}noowner"  # no owner.json: never taken for dead
        stranger.mkdir()
        assert workdir.dead(tmp_path) == [], "a running run's directory is never dead"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        dead = workdir.dead(tmp_path)
        assert [d.path for d in dead] == [made] and f":{proc.pid}:" in dead[0].owner
        assert workdir.remove(made) and not made.exists()
        assert mine.exists() and stranger.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_lake_bucket_that_does_not_exist_leaves_no_orphan_and_is_no_failed_read() -> None:
    """ListObjectsV2 answers NoSuchBucket (404) for a bucket that is not there (a lab that never applied the lake):
    nothing can be left in it. Another error is still raised: it is a read that failed."""
    import boto3
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    from ops import config as config_mod
    from ops.etl.leftovers import orphans, places

    cfg = config_mod.load(REPO / "dbops.toml")
    pipeline = parse("orders", cfg.pipelines["orders"], cfg.source)
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        for _ in places(pipeline):
            stub.add_client_error("list_objects_v2", service_error_code="NoSuchBucket", http_status_code=404,
                                  service_message="The specified bucket does not exist")
        assert orphans(s3, [pipeline], set()) == []
        stub.assert_no_pending_responses()
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ClientError, match="AccessDenied"):
            orphans(s3, [pipeline], set())
