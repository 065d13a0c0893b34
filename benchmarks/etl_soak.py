"""The analytics export under the lab's transient faults, run after run: does every run publish exactly the
source's rows?

    .venv/bin/python benchmarks/etl_soak.py [--runs 1000] [--rows 300] [--changes 30]
        [--error-every 11] [--throttle-every 97] [--reset-every 23]

Starts a lab of its own (emulator, lab-pg with one replica) and a pipeline of two tables: a DynamoDB
table with point-in-time recovery (exported at T) and a lab-pg table partitioned by day (read from the
replica's snapshot). The lab answers every Nth first attempt of an API request with a service fault
(HTTP 500, S3's 503 SlowDown), a throttle, or a reset connection (--error-every, --throttle-every,
--reset-every; one knob answers a request, the reset first, then the fault, then the throttle: by default
about 14 % of first attempts fail). Only first attempts fail: a client that retries gets every answer. Between runs, --changes rows of each source are updated, deleted or inserted.

Each run is `dbops etl run soak` (in-process, as from a shell). A run counts as a success when it exits 0
with ETL-PUBLISH passed. Then the published batch is checked against evidence the run did not produce:

- DynamoDB: the keys the table held at T (the run exports at the latest whole second: restorable lag 0),
  from the soak's own model of its writes and the times they were answered (Sources).
- lab-pg: the replica has replayed the writer's last write before the run starts, so the snapshot is the
  soak's model too; the manifest's count and fingerprint (the snapshot's own) are checked as well.

The published Parquet files (those the manifest lists, read back from S3) are compared key by key: lost
keys, duplicated keys and keys the source did not hold are counted. The Glue table must point at the
run's batch. Prints the success rate, failures by cause, lost/duplicated rows, runs/min and the fault
counts the lab served.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ops import config as config_mod  # noqa: E402
from ops.aws import Aws  # noqa: E402
from ops.cli import cli  # noqa: E402
from ops.etl import lake  # noqa: E402
from ops.lab import lab as lab_core  # noqa: E402
from ops.lab.aws import emulator, settings  # noqa: E402
from ops.lab.pg import pgcluster  # noqa: E402
from tests.conftest import traversable_tmpdir, write_config  # noqa: E402

BUCKET = "dbops-soak-lake"
DB = "dbops_soak"
DDB_TABLE = "soak_items"
SCHEMA = "soak"
QUICK = {"ddb_restorable_lag_s": 0, "ddb_heartbeat": False, "ddb_export_delay_s": 0}
CALM = {"api_error_every": 0, "api_reset_every": 0, "api_throttle_every": 0}
PIPELINE = f"""
[pipelines.soak]
destination = {{ bucket = "{BUCKET}", prefix = "soak", database = "{DB}" }}

[pipelines.soak.tables.items]
source = "dynamodb:{DDB_TABLE}"
key = ["pk"]
columns = {{ pk = "string", n = "bigint", note = "string" }}
rules = {{ not_null = ["n"], unique = ["pk"] }}

[pipelines.soak.tables.events]
source = "localpg:lab-pg"
from = "{SCHEMA}.events"
key = ["id"]
partition_by = "created_at"
columns = {{ id = "bigint", v = "bigint", created_at = "timestamp" }}
rules = {{ not_null = ["v", "created_at"], unique = ["id"] }}
"""
DAY0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Sources:
    """The two sources and the soak's own model of what each held when.

    DynamoDB writes go in BatchWriteItem requests; after each, the model of the table is kept with the time the
    answer came. The table at T is the model of the last request answered before T, provided no request was
    in flight across T: one that spans a whole second is followed by a sleep past the next one, so the run's T
    (a whole second after the run starts) is never inside a request."""

    def __init__(self, aws: Aws, cluster: Any, rng: random.Random) -> None:
        self.ddb = aws.client("dynamodb")
        self.cluster = cluster
        self.rng = rng
        self.items: dict[str, int] = {}  # pk -> n, now
        self.kept: list[tuple[float, frozenset[str]]] = [(0.0, frozenset())]  # (answered at, keys after)
        self.events: dict[int, int] = {}  # id -> v
        self.next_pk = self.next_id = 1

    def create(self, rows: int) -> None:
        self.ddb.create_table(TableName=DDB_TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        self.ddb.update_continuous_backups(TableName=DDB_TABLE,
                                           PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        self.pg([f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}",
                 f"CREATE TABLE {SCHEMA}.events (id bigint PRIMARY KEY, v bigint NOT NULL, created_at timestamptz NOT NULL)"])
        self.write(["insert"] * rows)

    def pg(self, statements: list[str | tuple[str, tuple]]) -> None:
        with psycopg.connect(self.cluster.writer().dsn(), autocommit=True) as conn:
            for s in statements:
                conn.execute(*((s,) if isinstance(s, str) else s))

    def change(self, changes: int) -> None:
        """A third of the rows changed are updated, a third deleted, a third inserted, in each source."""
        self.write([("update", "delete", "insert")[i % 3] for i in range(changes)])

    def write(self, kinds: list[str]) -> None:
        requests: list[dict[str, Any]] = []
        statements: list[str | tuple[str, tuple]] = []
        touched: set[str] = set()
        for kind in kinds:
            if kind == "insert":
                pk, self.next_pk = f"k{self.next_pk:06d}", self.next_pk + 1
                eid, self.next_id = self.next_id, self.next_id + 1
            else:
                # BatchWriteItem refuses two writes of one key in a request: a key is changed once a round.
                pk = self.rng.choice(sorted(set(self.items) - touched))
                eid = self.rng.choice(sorted(self.events))
            touched.add(pk)
            if kind == "delete":
                requests.append({"DeleteRequest": {"Key": {"pk": {"S": pk}}}})
                del self.events[eid]
                statements.append((f"DELETE FROM {SCHEMA}.events WHERE id = %s", (eid,)))
                continue
            n = self.rng.randrange(1_000_000)
            requests.append({"PutRequest": {"Item": {"pk": {"S": pk}, "n": {"N": str(n)}, "note": {"S": f"n={n}"}}}})
            self.events[eid] = self.rng.randrange(1_000_000)
            statements.append((f"INSERT INTO {SCHEMA}.events VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
                               (eid, self.events[eid], DAY0 + timedelta(hours=eid % 72))))
        straddled = False
        for i in range(0, len(requests), 25):
            chunk = requests[i:i + 25]
            sent = time.time()
            answer = self.ddb.batch_write_item(RequestItems={DDB_TABLE: chunk})
            answered = time.time()
            if answer.get("UnprocessedItems"):
                raise SystemExit(f"BatchWriteItem left items unprocessed: {answer['UnprocessedItems']}")
            for r in chunk:
                if "PutRequest" in r:
                    self.items[r["PutRequest"]["Item"]["pk"]["S"]] = int(r["PutRequest"]["Item"]["n"]["N"])
                else:
                    del self.items[r["DeleteRequest"]["Key"]["pk"]["S"]]
            self.kept.append((answered, frozenset(self.items)))
            straddled = straddled or int(sent) != int(answered)
        self.kept = self.kept[-50:]
        self.pg(statements)
        if straddled:
            next_second()

    def items_at(self, at: datetime) -> frozenset[str]:
        return [keys for answered, keys in self.kept if answered < at.timestamp()][-1]

    def replayed(self, timeout_s: float = 30.0) -> None:
        """Wait until every replica has replayed the writer's last write (the reader's snapshot is the model)."""
        lsn = self.cluster.query(self.cluster.writer(), "SELECT pg_current_wal_lsn()")[0][0]
        deadline = time.monotonic() + timeout_s
        for m in self.cluster.replicas():
            while not self.cluster.query(m, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0]:
                if time.monotonic() > deadline:
                    raise SystemExit(f"replica {m.name} did not replay {lsn} in {timeout_s:g} s")
                time.sleep(0.01)


def next_second() -> None:
    """Sleep past the next whole second."""
    time.sleep(int(time.time()) + 1.02 - time.time())


def published_keys(s3: Any, manifest: dict[str, Any], key: str) -> Counter:
    """Each key of the batch's files, as many times as the files hold it (read back from S3)."""
    keys: Counter = Counter()
    for f in manifest["files"]:
        body = s3.get_object(Bucket=BUCKET, Key=f["key"])["Body"].read()
        keys.update(pq.read_table(io.BytesIO(body), columns=[key]).column(key).to_pylist())
    return keys


def fingerprint(keys: Counter) -> int:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    con.register("k", pa.table({"id": pa.array(list(keys.elements()), pa.int64())}))
    return lake.fingerprint(con, "k", ("id",))[1]


def check(aws: Aws, report: dict[str, Any], src: Sources, now: bool = False) -> tuple[int, int, int, list[str]]:
    """Lost, duplicated and foreign rows of the run's published batch, and what else is wrong with it (with
    `now`: against the sources as they are now, not at T: the negative control)."""
    s3, glue = aws.client("s3"), aws.client("glue")
    lost = dup = foreign = 0
    wrong = []
    for table, key in (("items", "pk"), ("events", "id")):
        batch = report["details"]["published"][table]["batch"]
        manifest = lake.published(s3, lake.Place(BUCKET, "soak", table), batch)
        if manifest is None:
            wrong.append(f"{table}: batch {batch} has no manifest")
            continue
        if table == "events":
            expected = set(src.events)
        else:
            expected = set(src.items) if now else src.items_at(datetime.fromisoformat(manifest["at"]))
        got = published_keys(s3, manifest, key)
        lost += len(expected - set(got))
        dup += sum(c - 1 for c in got.values() if c > 1)
        foreign += len(set(got) - expected)
        if manifest["rows"] != sum(got.values()):
            wrong.append(f"{table}: manifest says {manifest['rows']} rows, its files hold {sum(got.values())}")
        if table == "events" and manifest["fingerprint"] != str(fingerprint(got)):
            wrong.append(f"{table}: the files' key fingerprint is not the snapshot's")
        pointed = glue.get_table(DatabaseName=DB, Name=table)["Table"]["Parameters"].get("dbops:batch")
        if pointed != batch:
            wrong.append(f"{table}: Glue points at batch {pointed}, not {batch}")
    return lost, dup, foreign, wrong


def cause(code: int, report: dict[str, Any]) -> str:
    failing = [f"{c['id']}: {c['detail']}" for c in report.get("checks", []) if c["status"] != "pass"]
    return f"exit {code}: " + (failing[0] if failing else report.get("summary", "no report"))[:160]


def fault_counts(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(endpoint + "/moto-api/dbops-lab/api-faults", timeout=10) as answer:
        return json.loads(answer.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=300, help="rows of each source at the start")
    ap.add_argument("--changes", type=int, default=30, help="rows of each source changed between runs")
    ap.add_argument("--error-every", type=int, default=11, help="every Nth first attempt: HTTP 500 / S3 503 SlowDown")
    ap.add_argument("--throttle-every", type=int, default=97,
                    help="every Nth first attempt: throttled (botocore waits up to 1 s before retrying a throttle, "
                         "up to 50 ms a 5xx)")
    ap.add_argument("--reset-every", type=int, default=23, help="every Nth first attempt: connection reset")
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args()
    if args.runs < 1 or args.rows < args.changes:
        raise SystemExit("--runs must be >= 1 and --rows >= --changes")

    root = traversable_tmpdir("dbops-etl-soak-")
    config_path = write_config(root, extra=PIPELINE)
    lab_dir = root / ".lab"
    cfg = config_mod.load(config_path, environ={"DBOPS_LAB_DIR": str(lab_dir)})
    lab_core.up(cfg, lab_core.LabOptions(replicas=1), lambda _: None)
    try:
        endpoint = emulator.endpoint(lab_dir)
        settings.remote(endpoint, {**QUICK, **CALM})
        aws = Aws.for_env(cfg, cfg.env("lab"))
        aws.client("s3").create_bucket(Bucket=BUCKET)
        aws.client("glue").create_database(DatabaseInput={"Name": DB})
        cluster = pgcluster.get(lab_dir)
        src = Sources(aws, cluster, random.Random(args.seed))
        src.create(args.rows)
        faults = {"api_error_every": args.error_every, "api_throttle_every": args.throttle_every,
                  "api_reset_every": args.reset_every}
        settings.remote(endpoint, faults)
        before = fault_counts(endpoint)
        print(f"soak: {args.runs} runs, {args.rows} rows a source, {args.changes} changed between runs; faults every "
              f"{args.error_every}th (5xx), {args.throttle_every}th (throttle), {args.reset_every}th (reset) first attempt",
              flush=True)
        runner = CliRunner()
        env = {"DBOPS_CONFIG": str(config_path), "DBOPS_LAB_DIR": str(lab_dir)}
        ok = lost = dup = foreign = 0
        last: dict[str, Any] | None = None
        failures: Counter = Counter()
        wrongs: Counter = Counter()
        started = time.monotonic()
        run_s = 0.0
        for i in range(args.runs):
            if i:
                src.change(args.changes)
            src.replayed()
            t0 = time.monotonic()
            result = runner.invoke(cli, ["etl", "run", "soak", "--json"], env=env, catch_exceptions=True)
            run_s += time.monotonic() - t0
            try:
                report = json.loads(result.stdout)
            except ValueError:
                failures[f"exit {result.exit_code}: no report: {(result.stderr or repr(result.exception))[:160]}"] += 1
                continue
            publish = next((c for c in report.get("checks", []) if c["id"] == "ETL-PUBLISH"), None)
            if result.exit_code != 0 or publish is None or publish["status"] != "pass":
                failures[cause(result.exit_code, report)] += 1
                continue
            ok += 1
            last = report
            lo, du, fo, wrong = check(aws, report, src)  # its reads ride through the faults on botocore's retries
            lost, dup, foreign = lost + lo, dup + du, foreign + fo
            wrongs.update(wrong)
            if (i + 1) % 50 == 0:
                print(f"  {i + 1} runs: {ok} succeeded, {lost} lost, {dup} duplicated, "
                      f"{(i + 1) / (time.monotonic() - started) * 60:.1f} runs/min", flush=True)
        elapsed = time.monotonic() - started
        control, control_found = "no run succeeded", False
        if last is not None:
            # The control: the last batch against the sources one round of changes later must show the change.
            src.change(args.changes)
            src.replayed()
            c_lost, _, c_foreign, _ = check(aws, last, src, now=True)
            control = f"{c_lost} lost and {c_foreign} foreign rows found (expected > 0)"
            control_found = c_lost > 0 and c_foreign > 0
        served = {k: v - before[k] for k, v in fault_counts(endpoint).items()}
    finally:
        lab_core.down(cfg, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)

    print(f"runs: {args.runs}, succeeded: {ok} ({ok / args.runs:.2%}; goal >= 99.9 %)")
    print(f"failures by cause: {dict(failures) or 'none'}")
    print(f"rows lost: {lost}, duplicated: {dup}, not at the source: {foreign} (goal 0 each)")
    print(f"batches wrong otherwise: {dict(wrongs) or 'none'}")
    print(f"lab faults served during the runs: {served}")
    print(f"negative control, the last batch against the sources after one more round of changes: {control}")
    print(f"{elapsed / 60:.1f} min, {args.runs / elapsed * 60:.1f} runs/min ({run_s / args.runs:.2f} s a run itself)")
    sys.exit(0 if ok == args.runs and not (lost or dup or foreign or wrongs) and control_found else 1)


if __name__ == "__main__":
    main()
