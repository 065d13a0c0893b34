"""`backup verify` over a fleet of 1,000 resources: concurrent against a sequential loop over the same
resources (goal: at least 8x faster, the same findings).

    .venv/bin/python benchmarks/fleet_verify.py [--clusters 500] [--tables 500] [--latency-ms 50] [--concurrency 16]

Starts a throwaway lab (the emulator only) and creates the resources in it: Aurora clusters and
DynamoDB tables with varied backup settings, so the findings differ from one resource to the next.
The clusters are moto's Aurora with engine aurora-mysql: the lab backs aurora-postgresql clusters with
real PostgreSQL servers, and 500 of them do not fit a laptop; the backup checks read only the control
plane (cluster, snapshots, AWS Backup jobs and recovery points), which moto answers alike for both.

The emulator answers in microseconds where an AWS API call takes 30-100 ms: the lab setting
api_latency_ms delays every answer (in a sleep that holds no lock, so concurrent calls wait together,
as on AWS) and the output says which value was used. Bounded: at most 2,000 resources, and a run whose
sequential loop is estimated above --max-seconds is refused before it starts.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ops.aws import Aws
from ops.checks.verify import verify
from ops.config import parse
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from ops.report import Journal

MAX_RESOURCES = 2000
CALLS_PER_TARGET = 5  # DescribeTable, DescribeContinuousBackups, ListTagsOfResource, ListBackupJobs, ListRecoveryPoints


def create(aws: Aws, clusters: int, tables: int) -> list[str]:
    rds, ddb = aws.client("rds"), aws.client("dynamodb")

    def cluster(i: int) -> str:
        name = f"fleet-db-{i:04d}"
        rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-mysql", MasterUsername="admin",
                              MasterUserPassword="fleet-Pa55word", BackupRetentionPeriod=7 if i % 3 else 1,
                              StorageEncrypted=bool(i % 4), CopyTagsToSnapshot=bool(i % 2))
        if i % 5 == 0:
            rds.create_db_cluster_snapshot(DBClusterIdentifier=name, DBClusterSnapshotIdentifier=f"{name}-manual")
        return f"aurora:{name}"

    def table(i: int) -> str:
        name = f"fleet-table-{i:04d}"
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                         DeletionProtectionEnabled=bool(i % 3 == 0))
        if i % 2:
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        if i % 7 == 0:
            ddb.create_backup(TableName=name, BackupName=f"{name}-1")
        return f"dynamodb:{name}"

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(cluster, range(clusters))) + list(pool.map(table, range(tables)))
    return made


def run(cfg: Any, targets: list[str], concurrency: int) -> tuple[float, list[tuple[str, str, str]]]:
    env = cfg.env("fleet")
    started = time.monotonic()
    report = verify(cfg, env, targets, Journal("backup", "estate:fleet", "fleet", echo=None), concurrency=concurrency)
    return time.monotonic() - started, [(c.id, c.status, c.detail) for c in report.checks]


def masked(found: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Ages and lags in the details move between the two runs; ids, statuses and the rest of the details must not."""
    return [(i, s, re.sub(r"\d+(\.\d+)?", "#", d)) for i, s, d in found]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clusters", type=int, default=500)
    ap.add_argument("--tables", type=int, default=500)
    ap.add_argument("--latency-ms", type=float, default=50.0, help="the lab's api_latency_ms during the runs (0 to 1000)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="refuse a run whose sequential loop is estimated longer")
    args = ap.parse_args()
    total = args.clusters + args.tables
    if not (0 < total <= MAX_RESOURCES and args.clusters >= 0 and args.tables >= 0 and 0 <= args.latency_ms <= 1000
            and 1 <= args.concurrency <= 256):
        sys.exit(f"fleet_verify: 1 to {MAX_RESOURCES} resources, --latency-ms 0 to 1000, --concurrency 1 to 256")
    estimate = total * CALLS_PER_TARGET * (args.latency_ms / 1000 + 0.005)
    if estimate > args.max_seconds:
        sys.exit(f"fleet_verify: the sequential loop would take about {estimate:.0f} s, above --max-seconds {args.max_seconds:g}")

    root = Path(tempfile.mkdtemp(prefix="dbops-fleet-bench-"))
    root.chmod(0o755)
    cfg = parse({"envs": {"fleet": {"endpoint": "embedded", "region": "us-east-1", "account_id": "123456789012"}}},
                root, None, {"DBOPS_LAB_DIR": str(root / ".lab")})
    try:
        lab_core.up(cfg, lab_core.LabOptions(with_postgres=False), lambda _: None)
        url = emulator.endpoint(cfg.lab_dir)
        # Nothing else runs in the emulator while it is measured: no heartbeat items, no capacity metering.
        settings.remote(url, {"ddb_heartbeat": False, "ddb_throttling": False})  # type: ignore[arg-type]
        t0 = time.monotonic()
        targets = create(Aws.for_env(cfg, cfg.env("fleet")), args.clusters, args.tables)
        print(f"created {args.clusters} Aurora clusters (moto's, engine aurora-mysql) and {args.tables} DynamoDB tables "
              f"in the lab emulator in {time.monotonic() - t0:.1f} s", flush=True)
        settings.remote(url, {"api_latency_ms": args.latency_ms})  # type: ignore[arg-type]
        print(f"api_latency_ms = {args.latency_ms:g}: every emulated API answer is delayed that long "
              "(an AWS API call's round trip is 30-100 ms)", flush=True)
        seq_s, seq = run(cfg, targets, 1)
        print(f"sequential loop done in {seq_s:.1f} s", flush=True)
        con_s, con = run(cfg, targets, args.concurrency)
        same = masked(seq) == masked(con)
        differ = sum(a != b for a, b in zip(masked(seq), masked(con))) + abs(len(seq) - len(con))
        statuses = {s: sum(x[1] == s for x in con) for s in ("pass", "warn", "fail", "unknown", "error")}
        rows = [("resources", total, total), ("findings", len(seq), len(con)),
                ("seconds", f"{seq_s:.1f}", f"{con_s:.1f}"), ("targets a second", f"{total / seq_s:.1f}", f"{total / con_s:.1f}")]
        print(f"\n{'':<18}{'sequential':>12}{f'concurrent ({args.concurrency})':>18}")
        for name, a, b in rows:
            print(f"{name:<18}{a!s:>12}{b!s:>18}")
        print(f"\nspeed-up: {seq_s / con_s:.1f}x (goal: at least 8x); findings the same: {'yes' if same else f'NO, {differ} differ'}")
        print("findings by status: " + ", ".join(f"{n} {s}" for s, n in statuses.items() if n))
        if not same:
            sys.exit(1)
    finally:
        lab_core.down(cfg, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
