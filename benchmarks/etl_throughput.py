"""`dbops etl run` over the lab's orders: rows/s and peak memory, against `psql \\copy` of the same rows.

    .venv/bin/python benchmarks/etl_throughput.py [--rows 1000000 --rows 10000000]

On a throwaway lab (lab-pg with one reader, the emulator's S3 and Glue): for each size,
`dbops lab seed-orders --rows N`, then `dbops etl run` of a pipeline over orders.orders
(partitioned by month, keyed by id, five rules) and orders.customers, as a child process, and
`psql \\copy (SELECT ...) TO file.csv` of the same columns from the same reader: the floor, what
reading the rows out of PostgreSQL costs with nothing done to them. Peak RSS of each child is its
ru_maxrss from wait4(). The criterion: the etl run's peak RSS at the largest size at most 1.5x the
smallest size's (memory must not grow with the table).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUCKET = "dbops-bench-lake"
DATABASE = "dbops_bench"
SIZES = (1_000_000, 10_000_000)
RSS_RATIO_MAX = 1.5
ORDER_COLUMNS = {"id": "bigint", "customer_id": "bigint", "status": "string", "total_cents": "bigint",
                 "currency": "string", "created_at": "timestamp"}
PIPELINE = f"""
[pipelines.orders]
destination = {{ bucket = "{BUCKET}", prefix = "orders", database = "{DATABASE}" }}

[pipelines.orders.tables.customers]
source = "localpg:lab-pg"
from = "orders.customers"
key = ["id"]
columns = {{ id = "bigint", email = "string", region = "string", created_at = "timestamp" }}
rules = {{ not_null = ["email"], unique = ["id"] }}

[pipelines.orders.tables.orders]
source = "localpg:lab-pg"
from = "orders.orders"
key = ["id"]
partition_by = "created_at"
partition_grain = "month"
columns = {{ {", ".join(f'{c} = "{t}"' for c, t in ORDER_COLUMNS.items())} }}
rules = {{ not_null = ["customer_id", "created_at"], unique = ["id"], accepted_values = {{ status = ["delivered", "shipped", "pending", "cancelled"] }}, ranges = {{ total_cents = [0, 10000000] }}, references = {{ customer_id = "customers.id" }} }}
"""
# The same text the extract asks PostgreSQL for (ops.etl.extract_pg: timestamps as UTC text).
COPY_SELECT = ("SELECT id, customer_id, status, total_cents, currency, (created_at::timestamptz AT TIME ZONE 'UTC') "
               "FROM orders.orders")


@dataclass(frozen=True)
class Child:
    """A finished child process: exit code, output, wall seconds, peak RSS in MiB."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mib: float


def child(args: list[str], env: dict[str, str], cwd: Path = REPO) -> Child:
    """Run args to its end; its own peak RSS from wait4 (not the max over every child, as RUSAGE_CHILDREN is)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(proc.returncode, out.read().decode(), err.read().decode(), seconds, usage.ru_maxrss / 1024)


class Lab:
    """A throwaway lab with the bench's pipeline declared and its bucket and Glue database created."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-etl-"))
        self.root.chmod(0o755)
        (self.root / "dbops.toml").write_text(
            f'[defaults]\nenv = "lab"\nreport_dir = "{self.root}/reports"\n[envs.lab]\nendpoint = "embedded"\n' + PIPELINE)
        self.env = {**os.environ, "DBOPS_CONFIG": str(self.root / "dbops.toml"), "DBOPS_LAB_DIR": str(self.root / ".lab")}
        self.env.pop("AWS_ENDPOINT_URL", None)

    def __enter__(self) -> "Lab":
        from ops.config import load
        from ops.lab import lab as lab_core

        self.cfg = load(self.root / "dbops.toml", environ=self.env)
        lab_core.up(self.cfg, lab_core.LabOptions(), lambda _: None)
        self.client("s3").create_bucket(Bucket=BUCKET)
        self.client("glue").create_database(DatabaseInput={"Name": DATABASE})
        return self

    def __exit__(self, *_: Any) -> None:
        from ops.lab import lab as lab_core

        lab_core.down(self.cfg, lambda _: None)
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self, service: str) -> Any:
        from ops.aws import Aws

        return Aws.for_env(self.cfg, self.cfg.env("lab")).client(service)

    def dbops(self, *args: str) -> Child:
        return child([str(REPO / ".venv" / "bin" / "dbops"), *args], self.env)

    def seed(self, rows: int) -> str:
        done = self.dbops("lab", "seed-orders", "--rows", str(rows))
        if done.code != 0:
            raise SystemExit(f"seed-orders exited {done.code}: {done.stderr.strip()[-500:]}")
        return f"{done.stdout.strip().splitlines()[-1]} ({done.seconds:.1f} s wall)"

    def reader_dsn(self) -> str:
        from ops.query.endpoints import endpoint_of
        from ops.targets.registry import open_cluster

        return endpoint_of(open_cluster(self.cfg, self.cfg.env("lab"), "localpg:lab-pg"), "reader").dsn

    def etl_run(self) -> tuple[Child, dict[str, Any]]:
        done = self.dbops("etl", "run", "orders", "--json")
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise SystemExit(f"dbops etl run exited {done.code}: {done.stderr.strip()[-800:]}") from None
        if done.code != 0:
            raise SystemExit(f"dbops etl run exited {done.code}: {report['summary']}\n{json.dumps(report['checks'], indent=1)}")
        return done, report


def psql_copy(dsn: str, target: Path, env: dict[str, str]) -> Child:
    done = child(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c",
                  f"\\copy ({COPY_SELECT}) TO '{target}' (FORMAT csv)"], env)
    if done.code != 0:
        raise SystemExit(f"psql \\copy exited {done.code}: {done.stderr.strip()[-500:]}")
    return done


def measure(lab: Lab, rows: int) -> dict[str, float]:
    print(f"\n{rows:,} orders: seeding ...", flush=True)
    print(f"  seed: {lab.seed(rows)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-etl-copy-") as scratch:
        copy = psql_copy(lab.reader_dsn(), Path(scratch) / "orders.csv", lab.env)
        csv_bytes = (Path(scratch) / "orders.csv").stat().st_size
    print(f"  psql \\copy: {copy.seconds:.1f} s, {rows / copy.seconds:,.0f} rows/s, {csv_bytes / 2**20:,.0f} MiB of CSV, "
          f"peak RSS {copy.max_rss_mib:,.0f} MiB", flush=True)
    print("  dbops etl run ...", flush=True)
    run, report = lab.etl_run()
    m = report["measurements"]
    published = report["details"]["published"]["orders"]
    extract = m["extract_s"]
    print(f"  etl run: {run.seconds:.1f} s wall ({m['duration_s']:.1f} s in the run: extract and spool {extract:.1f} s, "
          f"judge and publish {m['duration_s'] - extract:.1f} s); {published['files']} files, "
          f"{published['bytes'] / 2**20:,.0f} MiB of Parquet; peak RSS {run.max_rss_mib:,.0f} MiB", flush=True)
    return {"rows": rows, "copy_s": copy.seconds, "copy_rss": copy.max_rss_mib, "extract_s": extract,
            "run_s": m["duration_s"], "wall_s": run.seconds, "rss": run.max_rss_mib, "parquet_mib": published["bytes"] / 2**20,
            "orders_rows": m["rows.orders"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append", help=f"Orders to seed and export (repeatable; default {SIZES}).")
    args = ap.parse_args()
    sizes = sorted(args.rows or SIZES)
    results = []
    with Lab() as lab:
        for rows in sizes:
            results.append(measure(lab, rows))
    heads = ("orders", "psql \\copy rows/s", "etl extract rows/s", "etl run rows/s", "extract / floor", "etl peak RSS",
             "psql peak RSS")
    print("\n" + " | ".join(f"{h:>{w}}" for h, w in zip(heads, (12, 18, 18, 14, 15, 12, 13))))
    for r in results:
        assert r["orders_rows"] == r["rows"], r
        floor = r["rows"] / r["copy_s"]
        extract = r["rows"] / r["extract_s"]
        print(f"{r['rows']:>12,} | {floor:>18,.0f} | {extract:>18,.0f} | {r['rows'] / r['run_s']:>14,.0f} | "
              f"{extract / floor:>14.0%} | {r['rss']:>8,.0f} MiB | {r['copy_rss']:>9,.0f} MiB")
    if len(results) > 1:
        ratio = results[-1]["rss"] / results[0]["rss"]
        verdict = "PASS" if ratio <= RSS_RATIO_MAX else "FAIL"
        print(f"\npeak RSS at {results[-1]['rows']:,} / at {results[0]['rows']:,}: {ratio:.2f}x "
              f"(criterion <= {RSS_RATIO_MAX}x): {verdict}")


if __name__ == "__main__":
    main()
