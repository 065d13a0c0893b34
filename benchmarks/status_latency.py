"""How long `dbops status` takes on the lab (goal: under 2 s).

    .venv/bin/python benchmarks/status_latency.py [--runs 10]

Starts a throwaway lab (emulator + lab-pg), runs a failover drill so there is history,
then times `dbops status` end to end as a process, the way an engineer runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops.config import parse
from ops.lab import lab as lab_core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dbops-bench-"))
    root.chmod(0o755)
    env = {**os.environ, "DBOPS_LAB_DIR": str(root / ".lab"), "DBOPS_REPORT_DIR": str(root / "reports")}
    env.pop("AWS_ENDPOINT_URL", None)
    cfg = parse({"envs": {"lab": {"endpoint": "embedded", "terraform_dir": "terraform/envs/lab"}}},
                Path.cwd(), None, env)
    try:
        lab_core.up(cfg, lab_core.LabOptions(), lambda _: None)
        dbops = [sys.executable, "-m", "ops"]
        subprocess.run([*dbops, "drill", "failover", "localpg:lab-pg"], env=env, capture_output=True, check=True)
        times = []
        for _ in range(args.runs):
            t0 = time.monotonic()
            subprocess.run([*dbops, "status", "--env", "lab"], env=env, capture_output=True, check=True)
            times.append(time.monotonic() - t0)
        print(f"dbops status on the lab, {args.runs} runs: median {statistics.median(times):.2f}s, max {max(times):.2f}s (goal: under 2 s)")
    finally:
        lab_core.down(cfg, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
