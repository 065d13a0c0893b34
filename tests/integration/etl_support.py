"""What the etl integration tests share: a run stopped at a phase, and a lab whose replicas have replayed the
writer's last write."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ops.lab.pg import pgcluster
from tests.conftest import REPO, Cli

# Stops `dbops etl run` at a phase: says "PAUSED <phase> <spool dir>" on stderr and waits for the test's signal.
WRAPPER = """
import sys, time
from ops.cli import main
from ops.etl import lake, run

phase, work = sys.argv[1], []
made = run.work_dir
run.work_dir = lambda: work.append(made()) or work[0]

def pause():
    sys.stderr.write(f"PAUSED {phase} {work[0]}\\n")
    sys.stderr.flush()
    time.sleep(60)
    raise SystemExit("the test sent no signal")

def pause_after(step):
    return lambda *args, **kwargs: (step(*args, **kwargs), pause())

def pause_before(step):
    return lambda *args, **kwargs: pause()

if phase == "extract":
    lake.spool = pause_after(lake.spool)  # the spool written, the extract not returned
elif phase == "uploaded":
    lake.write_manifest = pause_before(lake.write_manifest)  # every file uploaded, no manifest
elif phase == "manifest":
    lake.register = pause_before(lake.register)  # the manifest written, Glue not touched
main(sys.argv[2:])
"""


def replayed(cli: Cli) -> None:
    """Every replica has replayed the writer's last write: the reader's snapshot holds it."""
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    lsn = cluster.query(cluster.writer(), "SELECT pg_current_wal_lsn()")[0][0]
    deadline = time.monotonic() + 20
    for m in cluster.replicas():
        while not cluster.query(m, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0]:
            assert time.monotonic() < deadline, f"{m.name} did not replay {lsn}"
            time.sleep(0.02)


def start_paused(cli: Cli, phase: str, *args: str, tmp: Path | None = None, wait_s: float = 60) -> tuple[subprocess.Popen, Path]:
    """`dbops etl run ARGS` in a subprocess stopped at `phase` (WRAPPER), with its work directory; under `tmp` as
    TMPDIR when given."""
    env = {**os.environ, **{k: v for k, v in cli.env().items() if v}, **({"TMPDIR": str(tmp)} if tmp else {})}
    env.pop("AWS_ENDPOINT_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, phase, "etl", "run", *args, "--json"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + wait_s
    for line in proc.stderr:
        if line.startswith(f"PAUSED {phase} "):
            return proc, Path(line.split(" ", 2)[2].strip())
        assert time.monotonic() < deadline, "the run did not reach its pause"
    proc.kill()
    raise AssertionError(f"the run ended before {phase}: exit {proc.wait()}: {proc.stdout.read() if proc.stdout else ''}")
