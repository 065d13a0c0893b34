"""Aurora failover drills on a throwaway lab: client downtime with the endpoint delay at 0 and at
its default (Aurora's 5 s DNS TTL), beside the raw promote of the servers behind the cluster.

    .venv/bin/python benchmarks/failover_aurora_lab.py [--drills N] [--hz 20]

Prints, per delay, median and p95 of client_write_downtime_s, api_failover_s and
writes_refused_read_only over N drills, and the median of a raw fence + pg_promote of the
backing servers with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ops.aws import Aws
from ops.config import parse
from ops.drills.common import new_drill_id
from ops.drills.failover import FailoverOptions, run_failover
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from ops.lab.aws.aurora import DNS_TTL_S
from ops.lab.pg import pgservers
from ops.report import Journal
from ops.targets import parse_target
from ops.targets.aurora import AuroraTarget

CLUSTER = "bench-aurora"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def backing(lab_dir: Path) -> pgservers.Cluster:
    return pgservers.Cluster(lab_dir, json.loads((lab_dir / "aurora" / CLUSTER / "cluster.json").read_text()))


def raw_promotes(lab_dir: Path, n: int) -> list[float]:
    """Fence the writer and pg_promote the reader of the backing servers, nothing else."""
    times = []
    for _ in range(n):
        c = backing(lab_dir)
        old, new = c.writer(), c.replicas()[0]
        t0 = time.monotonic()
        c.stop_member(old, mode="fast")
        c.promote(new, timeout=60)
        times.append(time.monotonic() - t0)
        c.set_writer(new)
        c.rebuild(old, new)
        c.wait_streaming(old, 60)
        # Put the writer back where the control plane believes it is.
        c.stop_member(new, mode="fast")
        c.promote(old, timeout=60)
        c.set_writer(old)
        c.rebuild(new, old)
        c.wait_streaming(new, 60)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drills", type=int, default=5)
    parser.add_argument("--hz", type=float, default=20.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dbops-bench-aurora-"))
    root.chmod(0o755)
    cfg = parse({"envs": {"lab": {"endpoint": "embedded"}}}, root, None, {"DBOPS_LAB_DIR": str(root / ".lab")})
    try:
        lab_core.up(cfg, lab_core.LabOptions(with_postgres=False), lambda _: None)
        aws = Aws.for_env(cfg, cfg.env("lab"))
        rds = aws.client("rds")
        rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", MasterUsername="bench",
                              ManageMasterUserPassword=True)
        for i in (1, 2):
            rds.create_db_instance(DBInstanceIdentifier=f"{CLUSTER}-{i}", DBClusterIdentifier=CLUSTER,
                                   Engine="aurora-postgresql", DBInstanceClass="db.t3.medium")
        raw = raw_promotes(cfg.lab_dir, args.drills)
        print(f"raw fence + promote of the backing servers: median {statistics.median(raw):.3f}s, p95 {p95(raw):.3f}s")
        target = AuroraTarget(parse_target(f"aurora:{CLUSTER}"), aws)
        for delay in (0.0, DNS_TTL_S):
            settings.remote(emulator.endpoint(cfg.lab_dir) or "", {"aurora_endpoint_delay_s": delay})
            down, api, refused, lost = [], [], [], 0
            for i in range(args.drills):
                report = run_failover(target, FailoverOptions(canary_hz=args.hz), Journal("failover", CLUSTER, "bench", echo=None),
                                      new_drill_id("failover"))
                m = report.measurements
                if report.status != "pass":
                    print(f"  drill {i + 1}: {report.summary}")
                down.append(m["client_write_downtime_s"])
                api.append(m["api_failover_s"])
                refused.append(m["writes_refused_read_only"])
                lost += m["lost_writes"] or 0
            print(f"endpoint delay {delay:g}s, {args.drills} drills at {args.hz:g} Hz: "
                  f"client downtime median {statistics.median(down):.3f}s p95 {p95(down):.3f}s; "
                  f"api failover median {statistics.median(api):.3f}s; "
                  f"writes refused read-only median {statistics.median(refused):.0f}; lost writes {lost}")
    finally:
        lab_core.down(cfg, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
