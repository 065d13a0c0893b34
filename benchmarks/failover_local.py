"""Failover drills on a throwaway local lab: client downtime and API failover time vs raw promote.

    .venv/bin/python benchmarks/failover_local.py [--drills N] [--hz 20]

Prints median and p95 of client_write_downtime_s and api_failover_s over N drills in
asynchronous and synchronous mode, the raw time to fence the primary and promote a
replica with nothing else running, and the lost writes in synchronous mode (goal: 0).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ops.config import parse
from ops.drills.common import new_drill_id
from ops.drills.failover import FailoverOptions, run_failover
from ops.lab import lab as lab_core
from ops.lab.pg import pgcluster
from ops.report import Journal
from ops.targets import parse_target
from ops.lab.pg.localpg import LocalPgTarget


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def raw_promotes(lab_dir: Path, n: int) -> list[float]:
    """Fence the primary and pg_promote the replica, nothing else, n times."""
    times = []
    for _ in range(n):
        cluster = pgcluster.get(lab_dir)
        assert cluster is not None
        old, new = cluster.writer(), cluster.replicas()[0]
        t0 = time.monotonic()
        cluster.stop_member(old, mode="fast")
        cluster.promote(new, timeout=60)
        times.append(time.monotonic() - t0)
        cluster.set_writer(new)
        cluster.rebuild(old, new)
        cluster.wait_streaming(old, 60)
    return times


def drills(lab_dir: Path, n: int, hz: float) -> tuple[list[float], list[float], int]:
    downtime, api, lost = [], [], 0
    target = LocalPgTarget(parse_target("localpg:lab-pg"), lab_dir)
    for i in range(n):
        report = run_failover(target, FailoverOptions(canary_hz=hz), Journal("failover", "localpg:lab-pg", "bench", echo=None),
                              new_drill_id("failover"))
        m = report.measurements
        if report.status != "pass":
            print(f"  drill {i + 1}: {report.summary}")
        if m.get("client_write_downtime_s") is not None:
            downtime.append(m["client_write_downtime_s"])
        if m.get("api_failover_s") is not None:
            api.append(m["api_failover_s"])
        lost += int(m.get("lost_writes") or 0)
    return downtime, api, lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--drills", type=int, default=10)
    ap.add_argument("--hz", type=float, default=20.0)
    args = ap.parse_args()
    interval = 1.0 / args.hz
    for sync in (False, True):
        root = Path(tempfile.mkdtemp(prefix="dbops-bench-"))
        root.chmod(0o755)
        cfg = parse({}, root, None, {"DBOPS_LAB_DIR": str(root / ".lab")})
        try:
            lab_core.up(cfg, lab_core.LabOptions(sync=sync), lambda _: None)
            mode = "sync" if sync else "async"
            raw = raw_promotes(cfg.lab_dir, args.drills)
            downtime, api, lost = drills(cfg.lab_dir, args.drills, args.hz)
            raw_med = statistics.median(raw)
            goal = 2 * (raw_med + interval)
            print(f"[{mode}] {args.drills} drills at {args.hz:g} Hz")
            print(f"  raw fence+promote      median {raw_med:.3f}s  p95 {p95(raw):.3f}s")
            print(f"  client_write_downtime  median {statistics.median(downtime):.3f}s  p95 {p95(downtime):.3f}s  (goal: median <= {goal:.3f}s)")
            print(f"  api_failover           median {statistics.median(api):.3f}s  p95 {p95(api):.3f}s")
            print(f"  lost writes in total   {lost}")
        finally:
            lab_core.down(cfg, lambda _: None)
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
