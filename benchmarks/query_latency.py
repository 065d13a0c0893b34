"""The latency drill on 1 M orders: p95 before and after the supporting index, and the drill's own
overhead against pgbench run by hand on the same script.

    .venv/bin/python benchmarks/query_latency.py [--rows 1000000] [--seconds 20] [--rate 4] [--runs 11]

On a throwaway lab (lab-pg, async): `dbops lab seed-orders --rows N --without-index`, then
`dbops drill latency localpg:lab-pg --workload workloads/orders.sql` (before), the index created,
the drill again with the first as --baseline (after), and `dbops query audit` each time. Then,
with the index, --runs pairs of the drill and of pgbench by hand (same script, rate, clients,
time and log; p95 from its log by the same nearest-rank rule), alternated so drift hits both:
the drill's overhead is the difference of the median (and mean) p95s and of the throughputs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ops.config import load
from ops.lab import lab as lab_core
from ops.lab.pg import pgcluster
from ops.percentiles import percentile
from ops.query import pgbench

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO / "workloads" / "orders.sql"


def dbops(env: dict[str, str], *args: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "dbops"), *args, "--json"], env=env, capture_output=True, text=True, cwd=REPO)
    elapsed = time.monotonic() - started
    try:
        return proc.returncode, json.loads(proc.stdout), elapsed
    except json.JSONDecodeError:
        raise SystemExit(f"dbops {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}") from None


def by_hand(dsn: str, rate: float, clients: int, seconds: int) -> tuple[float, float, float, float]:
    """pgbench as a user runs it: same script and load, --log; returns (p50 ms, p95 ms, tps, wall s)."""
    log_dir = Path(tempfile.mkdtemp(prefix="bench-pgbench-"))
    try:
        env = pgbench.environment(dsn, read_only=True)
        threads = max(1, min(clients, os.cpu_count() or 1))
        args = [str(pgbench.binary()), "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds), "-R", f"{rate:g}",
                "--log", f"--log-prefix={log_dir}/tx", "-f", f"{WORKLOAD}@1"]
        started = time.monotonic()
        proc = subprocess.run(args, env=env, capture_output=True, text=True, cwd=log_dir)
        wall = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"pgbench exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        latencies = [tx.latency_us / 1000 for tx in pgbench.read_logs(log_dir, "tx") if tx.latency_us is not None]
        tps = float(next(line.split()[2] for line in proc.stdout.splitlines() if line.startswith("tps = ")))
        return percentile(latencies, 0.50), percentile(latencies, 0.95), tps, wall
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=20, help="Seconds of load per run.")
    ap.add_argument("--rate", type=float, default=4.0, help="Transactions per second (all clients).")
    ap.add_argument("--overhead-rate", type=float, default=100.0, help="Rate of the overhead runs (with the index).")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--runs", type=int, default=11, help="Pairs of drill / pgbench-by-hand runs for the overhead.")
    ap.add_argument("--overhead-seconds", type=int, default=15, help="Seconds of load per overhead run.")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-query-"))
    root.chmod(0o755)
    (root / "dbops.toml").write_text(f'[defaults]\nenv = "lab"\nreport_dir = "{root}/reports"\n[envs.lab]\nendpoint = "embedded"\n'
                                     '[envs.lab.policy]\nstats_min_age_s = 5\n')
    env = {**os.environ, "DBOPS_CONFIG": str(root / "dbops.toml"), "DBOPS_LAB_DIR": str(root / ".lab")}
    env.pop("AWS_ENDPOINT_URL", None)
    cfg = load(root / "dbops.toml", environ=env)
    lab_core.up(cfg, lab_core.LabOptions(), lambda _: None)
    load_args = ["--workload", str(WORKLOAD), "--rate", f"{args.rate:g}", "--clients", str(args.clients), "--time", str(args.seconds)]
    try:
        started = time.monotonic()
        seed = subprocess.run([str(REPO / ".venv/bin/dbops"), "lab", "seed-orders", "--rows", str(args.rows), "--without-index"],
                              env=env, capture_output=True, text=True, check=True)
        print(f"seed: {seed.stdout.strip().splitlines()[-1]} ({time.monotonic() - started:.1f}s wall)")
        code, before, _ = dbops(env, "drill", "latency", "localpg:lab-pg", *load_args)
        _, audit_before, _ = dbops(env, "query", "audit", "localpg:lab-pg")
        subprocess.run([str(REPO / ".venv/bin/dbops"), "lab", "seed-orders", "--rows", str(args.rows)], env=env, check=True,
                       capture_output=True)
        code_after, after, _ = dbops(env, "drill", "latency", "localpg:lab-pg", *load_args, "--baseline", before["paths"]["json"])
        _, audit_after, _ = dbops(env, "query", "audit", "localpg:lab-pg")
        b, a = before["measurements"], after["measurements"]
        print(f"\n{args.rows} orders, workloads/orders.sql at {args.rate:g} tx/s, {args.clients} clients, {args.seconds}s per run")
        print(f"  without the index: p50 {b['p50_ms']:.2f} ms  p95 {b['p95_ms']:.2f} ms  p99 {b['p99_ms']:.2f} ms  "
              f"({b['transactions']} tx, exit {code} {before['status']})")
        print(f"  with the index:    p50 {a['p50_ms']:.2f} ms  p95 {a['p95_ms']:.2f} ms  p99 {a['p99_ms']:.2f} ms  "
              f"({a['transactions']} tx, exit {code_after} {after['status']})")
        print(f"  p95 lower by {100 * (1 - a['p95_ms'] / b['p95_ms']):.1f}% (objective >= 60%)")
        print(f"  query audit: before {audit_before['status']} (index utilization {100 * audit_before['measurements']['index_utilization']:.1f}%, "
              f"{audit_before['summary']})")
        print(f"               after {audit_after['status']} (index utilization {100 * audit_after['measurements']['index_utilization']:.1f}%)")

        cluster = pgcluster.get(cfg.lab_dir)
        assert cluster is not None
        dsn = cluster.multi_host_dsn()
        overhead_args = ["--workload", str(WORKLOAD), "--rate", f"{args.overhead_rate:g}", "--clients", str(args.clients),
                         "--time", str(args.overhead_seconds)]
        drill_p50, drill_p95, drill_tps, drill_wall, hand_p50, hand_p95, hand_tps, hand_wall = [], [], [], [], [], [], [], []
        for i in range(args.runs):
            _, report, wall = dbops(env, "drill", "latency", "localpg:lab-pg", *overhead_args)
            drill_p50.append(report["measurements"]["p50_ms"])
            drill_p95.append(report["measurements"]["p95_ms"])
            drill_tps.append(report["measurements"]["tps"])
            drill_wall.append(wall)
            p50, p95, tps, wall = by_hand(dsn, args.overhead_rate, args.clients, args.overhead_seconds)
            hand_p50.append(p50)
            hand_p95.append(p95)
            hand_tps.append(tps)
            hand_wall.append(wall)
            print(f"  run {i + 1}: drill p50 {drill_p50[-1]:.3f} p95 {drill_p95[-1]:.3f} ms {drill_tps[-1]:.1f} tx/s {drill_wall[-1]:.1f}s | "
                  f"pgbench by hand p50 {p50:.3f} p95 {p95:.3f} ms {tps:.1f} tx/s {wall:.1f}s")
        m50d, m50h = statistics.median(drill_p50), statistics.median(hand_p50)
        md, mh = statistics.median(drill_p95), statistics.median(hand_p95)
        td, th = statistics.median(drill_tps), statistics.median(hand_tps)
        wd, wh = statistics.median(drill_wall), statistics.median(hand_wall)
        print(f"\nOverhead, median of {args.runs} alternated runs at {args.overhead_rate:g} tx/s with the index:")
        print(f"  p50: drill {m50d:.3f} ms vs pgbench by hand {m50h:.3f} ms: {100 * (m50d - m50h) / m50h:+.1f}%")
        print(f"  p95: drill {md:.3f} ms vs pgbench by hand {mh:.3f} ms: {100 * (md - mh) / mh:+.1f}% (goal: under 5%); "
              f"run-to-run p95 spread {min(drill_p95 + hand_p95):.2f}–{max(drill_p95 + hand_p95):.2f} ms")
        ad, ah = statistics.fmean(drill_p95), statistics.fmean(hand_p95)
        print(f"  p95, mean of the runs: drill {ad:.3f} ms vs {ah:.3f} ms: {100 * (ad - ah) / ah:+.1f}%")
        print(f"  throughput: drill {td:.1f} vs {th:.1f} tx/s: {100 * (td - th) / th:+.1f}%")
        print(f"  wall time: drill {wd:.2f}s vs {wh:.2f}s: {wd - wh:+.2f}s (process start, target, probe, lease, report)")
    finally:
        lab_core.down(cfg, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
